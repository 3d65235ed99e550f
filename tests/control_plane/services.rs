//! ClusterIP, NodePort and ExternalName Services, with the addresses the
//! real allocator assigns: A, SRV and PTR of the cluster IP, and the CNAME.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use k8s_openapi::api::core::v1::Service;
use kube::api::Api;
use serde_json::json;

use crate::fixture::{apply_value, shared_test};
use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_ip_node_port_and_external_name_services_are_served() {
    let Some((fx, client, ns, _shared)) = shared_test(
        "cluster_ip_node_port_and_external_name_services_are_served",
        "types",
    )
    .await
    else {
        return;
    };
    let port = json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    for (name, kind) in [("plain", "ClusterIP"), ("exposed", "NodePort")] {
        apply_value(
            &client,
            &json!({"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"type": kind, "ports": port}}),
        )
        .await;
    }
    apply_value(
        &client,
        &json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "outside", "namespace": ns},
            "spec": {"type": "ExternalName", "externalName": "example.org"}}),
    )
    .await;
    let server = serve(fx, &format!("    namespaces: [{ns}]\n")).await;
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    for name in ["plain", "exposed"] {
        let allocated = services.get(name).await.unwrap();
        let ip = allocated.spec.unwrap().cluster_ip.unwrap();
        assert!(ip.starts_with("10.96."), "{name}: {ip}");
        until_addresses(&server, &format!("{name}.{ns}"), &[&ip]).await;
        let srv = ask(
            &server,
            &svc(&format!("_http._tcp.{name}.{ns}")),
            RecordType::SRV,
        )
        .await;
        assert_eq!(srv.rcode, ResponseCode::NoError, "{srv:?}");
        assert!(
            srv.data
                .iter()
                .any(|d| d.ends_with(&format!("{name}.{ns}.svc.cluster.local."))),
            "{srv:?}"
        );
        let reverse: Vec<&str> = ip.split('.').rev().collect();
        let ptr = ask(
            &server,
            &format!("{}.in-addr.arpa.", reverse.join(".")),
            RecordType::PTR,
        )
        .await;
        assert_eq!(ptr.data, [format!("{name}.{ns}.svc.cluster.local.")]);
    }
    let cname = ask(&server, &svc(&format!("outside.{ns}")), RecordType::CNAME).await;
    assert_eq!(cname.data, ["example.org."], "{cname:?}");
}
