//! `deploy/` as the README tells a user to apply it: `kubectl apply -k
//! deploy/`, first as a server-side dry run, then for real. The objects the
//! API server then holds are checked against what the README promises, and
//! the ConfigMap's config against `check-config`.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams};

use crate::fixture::{DEPLOY_NAMESPACE, create_namespace, fixture, shared, skip, until};
use crate::support::server::BIN;
use crate::*;

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("kubectl: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "kubectl {args:?} failed:\n{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kustomization_applies_as_the_readme_says() {
    let test = "the_kustomization_applies_as_the_readme_says";
    let Some(fx) = fixture(test) else {
        return;
    };
    if Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        skip(test, "kubectl is not installed");
        return;
    }
    let _shared = shared().await;
    let client = fx.client().await;
    // A dry-run namespace does not exist for the objects inside it.
    create_namespace(&client, DEPLOY_NAMESPACE).await;
    let dry = kubectl(&fx.admin, &["apply", "--dry-run=server", "-k", "deploy/"]);
    for object in [
        "namespace/headless-dns",
        "serviceaccount/headless-dns",
        "clusterrole.rbac.authorization.k8s.io/headless-dns",
        "clusterrolebinding.rbac.authorization.k8s.io/headless-dns",
        "configmap/headless-dns",
        "service/headless-dns",
        "deployment.apps/headless-dns",
        "poddisruptionbudget.policy/headless-dns",
    ] {
        assert!(
            dry.lines()
                .any(|l| l.starts_with(object) && l.contains("(server dry run)")),
            "{object} not in the dry run:\n{dry}"
        );
    }
    kubectl(&fx.admin, &["apply", "-k", "deploy/"]);

    let ns = DEPLOY_NAMESPACE;
    // The Deployment: 2 replicas of the pinned image as the ServiceAccount,
    // probes on the admin port, DNS unprivileged on 5353, locked down.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let deployment = deployments.get("headless-dns").await.unwrap();
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod_spec = spec.template.spec.as_ref().unwrap();
    assert_eq!(
        pod_spec.service_account_name.as_deref(),
        Some("headless-dns")
    );
    let container = &pod_spec.containers[0];
    assert_eq!(container.image.as_deref(), Some("headless-dns:0.1.0"));
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        let get = p.as_ref().and_then(|p| p.http_get.as_ref()).unwrap();
        (
            get.path.clone().unwrap_or_default(),
            format!("{:?}", get.port),
        )
    };
    assert_eq!(probe_path(&container.readiness_probe).0, "/readyz");
    assert_eq!(probe_path(&container.liveness_probe).0, "/healthz");
    assert!(probe_path(&container.readiness_probe).1.contains("admin"));
    let ports: Vec<(i32, String)> = container
        .ports
        .iter()
        .flatten()
        .map(|p| (p.container_port, p.protocol.clone().unwrap_or_default()))
        .collect();
    for want in [(5353, "UDP"), (5353, "TCP"), (9153, "TCP")] {
        assert!(ports.contains(&(want.0, want.1.to_owned())), "{ports:?}");
    }
    let security = container.security_context.as_ref().unwrap();
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(
        security.capabilities.as_ref().and_then(|c| c.drop.clone()),
        Some(vec!["ALL".to_owned()])
    );
    let resources = container.resources.as_ref().unwrap();
    assert!(
        resources
            .requests
            .as_ref()
            .is_some_and(|r| r.contains_key("memory"))
    );
    assert!(
        resources
            .limits
            .as_ref()
            .is_some_and(|r| r.contains_key("memory"))
    );
    // No nodes: the pods are made, and stay Pending.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pending = until(CHANGE, "the Deployment's 2 pods", || async {
        let list = pods
            .list(&ListParams::default().labels("app.kubernetes.io/name=headless-dns"))
            .await
            .map_err(|e| e.to_string())?;
        if list.items.len() == 2 {
            Ok(list.items)
        } else {
            Err(format!("{} pods", list.items.len()))
        }
    })
    .await;
    for pod in pending {
        let phase = pod.status.and_then(|s| s.phase);
        assert_eq!(phase.as_deref(), Some("Pending"));
    }

    // The ClusterRole: only get, list, watch, on exactly what is watched.
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let role = roles.get("headless-dns").await.unwrap();
    let mut resources: Vec<String> = Vec::new();
    for rule in role.rules.iter().flatten() {
        assert_eq!(rule.verbs, ["get", "list", "watch"], "{rule:?}");
        resources.extend(rule.resources.iter().flatten().cloned());
    }
    resources.sort();
    assert_eq!(
        resources,
        ["endpoints", "endpointslices", "services", "statefulsets"]
    );
    // The Service: DNS on 53 over both protocols to 5353, metrics on 9153,
    // and a cluster IP from the real allocator.
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service = services.get("headless-dns").await.unwrap();
    let spec = service.spec.unwrap();
    let cluster_ip = spec.cluster_ip.unwrap_or_default();
    assert!(cluster_ip.starts_with("10.96."), "cluster IP {cluster_ip}");
    let ports: Vec<(i32, String)> = spec
        .ports
        .iter()
        .flatten()
        .map(|p| (p.port, p.protocol.clone().unwrap_or_default()))
        .collect();
    assert_eq!(
        ports,
        [
            (53, "UDP".to_owned()),
            (53, "TCP".to_owned()),
            (9153, "TCP".to_owned())
        ]
    );
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
    let budget = budgets.get("headless-dns").await.unwrap();
    assert_eq!(
        budget.spec.and_then(|s| s.min_available),
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(1))
    );

    // The config the pods would run passes check-config.
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let map = maps.get("headless-dns").await.unwrap();
    let config = map.data.unwrap_or_default().remove("config.yaml").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&path)
        .env("KUBECONFIG", &fx.account)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check-config on the deployed ConfigMap: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
