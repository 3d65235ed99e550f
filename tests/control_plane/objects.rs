//! The Kubernetes objects the suite writes, as JSON, and the kubelet's part
//! played through the API: a Node object for pods to be bound to (the real
//! EndpointSlice controller skips a pod whose node does not exist, and there
//! is no kubelet to register one), and pod status written through the
//! `status` subresource (IP, phase `Running`, the `Ready` condition).

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::fixture::{apply_value, dynamic_api};

/// The node every test pod is bound to. No kubelet runs it, so nothing but
/// the suite writes its pods' status.
pub const NODE: &str = "headless-dns-tests-node";

/// Labels of a hand-written slice: its service, and a manager that is not
/// the EndpointSlice controller (which would otherwise delete it).
pub fn slice(
    ns: &str,
    name: &str,
    service: &str,
    endpoints: &[(&str, Option<&str>, bool)],
) -> Value {
    let endpoints: Vec<Value> = endpoints
        .iter()
        .map(|(ip, hostname, ready)| {
            let mut e = json!({"addresses": [ip], "conditions": {"ready": ready}});
            if let Some(h) = hostname {
                e["hostname"] = json!(h);
            }
            e
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": ns, "labels": {
            "kubernetes.io/service-name": service,
            "endpointslice.kubernetes.io/managed-by": "test",
        }},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    })
}

/// A headless Service with a named port `http`; `selector` makes the
/// controllers manage its endpoints.
pub fn headless(ns: &str, name: &str, selector: Option<Value>, labels: Value) -> Value {
    let mut service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
    });
    if let Some(selector) = selector {
        service["spec"]["selector"] = selector;
    }
    service
}

/// A pod on [`NODE`] with `labels`, and `hostname`/`subdomain` as a
/// StatefulSet's pods have them.
pub fn pod(ns: &str, name: &str, labels: Value, subdomain: Option<&str>) -> Value {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "nodeName": NODE,
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}],
        },
    });
    if let Some(subdomain) = subdomain {
        pod["spec"]["hostname"] = json!(name);
        pod["spec"]["subdomain"] = json!(subdomain);
    }
    pod
}

/// A StatefulSet of pause containers on [`NODE`], `Parallel` (all pods at
/// once, so scaling is quick; the ordinals declared are the same).
pub fn stateful_set(ns: &str, name: &str, service: &str, replicas: i32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "serviceName": service,
            "replicas": replicas,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "nodeName": NODE,
                    "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9"}],
                },
            },
        },
    })
}

/// Makes sure [`NODE`] exists.
pub async fn ensure_node(client: &Client) {
    apply_value(
        client,
        &json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}}),
    )
    .await;
}

/// Writes a pod's status as its kubelet would: `Running` at `ip`, with
/// `Ready` as given.
pub async fn set_pod_status(client: &Client, ns: &str, name: &str, ip: &str, ready: bool) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let ready = if ready { "True" } else { "False" };
    let status = json!({"status": {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Initialized", "status": "True"},
            {"type": "ContainersReady", "status": ready},
            {"type": "Ready", "status": ready},
        ],
    }});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("pod {ns}/{name} status: {e}"));
}

/// Deletes an object written as JSON; a missing one is fine.
pub async fn delete_value(client: &Client, object: &Value) {
    let name = object["metadata"]["name"].as_str().unwrap();
    match dynamic_api(client, object)
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => panic!("delete {} {name}: {e}", object["kind"]),
    }
}
