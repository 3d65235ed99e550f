//! Every manifest under `deploy/`, parsed into typed objects and checked
//! against each other.

use std::path::{Path, PathBuf};

use headless_dns::config::{Config, SourceConfig};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
}

/// Every object in the kustomization's resources, typed.
#[derive(Default)]
struct Objects {
    namespaces: Vec<Namespace>,
    accounts: Vec<ServiceAccount>,
    roles: Vec<ClusterRole>,
    bindings: Vec<ClusterRoleBinding>,
    config_maps: Vec<ConfigMap>,
    deployments: Vec<Deployment>,
    services: Vec<Service>,
    budgets: Vec<PodDisruptionBudget>,
}

/// Parses `value` as `T` and proves nothing was dropped on the way: a
/// misspelt field would be ignored by the typed parse, so the typed
/// object is written back and compared with what the file says.
fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(value: &Value, at: &str) -> T {
    let object: T = serde_path_to_error::deserialize(value)
        .unwrap_or_else(|e| panic!("{at}: {}: {}", e.path(), e.inner()));
    let back = serde_json::to_value(&object).unwrap();
    if let Some(path) = first_difference(value, &back, "") {
        panic!("{at}: {path} is not a field of this kind (misspelt or misplaced?)");
    }
    object
}

/// The first path present in `written` but lost or changed in `typed`.
fn first_difference(written: &Value, typed: &Value, path: &str) -> Option<String> {
    match (written, typed) {
        (Value::Object(w), Value::Object(t)) => w.iter().find_map(|(k, v)| {
            let here = format!("{path}.{k}");
            match t.get(k) {
                Some(tv) => first_difference(v, tv, &here),
                // Empty values may be dropped by the typed writer.
                None if is_empty(v) => None,
                None => Some(here),
            }
        }),
        (Value::Array(w), Value::Array(t)) if w.len() == t.len() => w
            .iter()
            .zip(t)
            .enumerate()
            .find_map(|(i, (w, t))| first_difference(w, t, &format!("{path}[{i}]"))),
        (Value::Number(w), Value::Number(t)) => (w.as_f64() != t.as_f64()).then(|| path.to_owned()),
        (w, t) => (w != t).then(|| path.to_owned()),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn documents(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in text.lines().chain(std::iter::once("---")) {
        if line.starts_with("---") {
            if current
                .lines()
                .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
            {
                let value: Value = serde_saphyr::from_str(&current)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                docs.push(value);
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

fn load() -> Objects {
    let dir = deploy_dir();
    let kustomization = documents(&dir.join("kustomization.yaml"));
    let resources: Vec<String> = kustomization[0]["resources"]
        .as_array()
        .expect("kustomization resources")
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    // Every manifest is listed, and every listed file exists.
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    on_disk.sort();
    let mut listed = resources.clone();
    listed.sort();
    assert_eq!(
        listed, on_disk,
        "kustomization.yaml resources vs deploy/*.yaml"
    );

    let mut objects = Objects::default();
    for file in &resources {
        for (i, doc) in documents(&dir.join(file)).iter().enumerate() {
            let kind = doc["kind"].as_str().unwrap_or_default();
            let at = format!("deploy/{file}: document {}: {kind}", i + 1);
            match kind {
                "Namespace" => objects.namespaces.push(typed(doc, &at)),
                "ServiceAccount" => objects.accounts.push(typed(doc, &at)),
                "ClusterRole" => objects.roles.push(typed(doc, &at)),
                "ClusterRoleBinding" => objects.bindings.push(typed(doc, &at)),
                "ConfigMap" => objects.config_maps.push(typed(doc, &at)),
                "Deployment" => objects.deployments.push(typed(doc, &at)),
                "Service" => objects.services.push(typed(doc, &at)),
                "PodDisruptionBudget" => objects.budgets.push(typed(doc, &at)),
                other => panic!("{at}: unexpected kind {other:?}"),
            }
        }
    }
    objects
}

fn one<'a, T>(list: &'a [T], what: &str) -> &'a T {
    assert_eq!(list.len(), 1, "expected one {what}");
    &list[0]
}

#[test]
fn every_manifest_is_typed_and_they_agree() {
    let o = load();
    let namespace = one(&o.namespaces, "Namespace")
        .metadata
        .name
        .clone()
        .unwrap();
    let account = one(&o.accounts, "ServiceAccount");
    let role = one(&o.roles, "ClusterRole");
    let binding = one(&o.bindings, "ClusterRoleBinding");
    let config_map = one(&o.config_maps, "ConfigMap");
    let deployment = one(&o.deployments, "Deployment");
    let service = one(&o.services, "Service");
    let budget = one(&o.budgets, "PodDisruptionBudget");
    for ns in [
        &account.metadata.namespace,
        &config_map.metadata.namespace,
        &deployment.metadata.namespace,
        &service.metadata.namespace,
        &budget.metadata.namespace,
    ] {
        assert_eq!(ns.as_deref(), Some(namespace.as_str()));
    }

    // RBAC: read-only, on exactly the kinds watched.
    let mut granted: Vec<(String, String)> = Vec::new();
    for rule in role.rules.as_deref().unwrap_or_default() {
        let mut verbs = rule.verbs.clone();
        verbs.sort();
        assert_eq!(verbs, ["get", "list", "watch"], "{rule:?}");
        for group in rule.api_groups.as_deref().unwrap_or_default() {
            for resource in rule.resources.as_deref().unwrap_or_default() {
                granted.push((group.clone(), resource.clone()));
            }
        }
    }
    granted.sort();
    let want: Vec<(String, String)> = [
        ("", "endpoints"),
        ("", "services"),
        ("apps", "statefulsets"),
        ("discovery.k8s.io", "endpointslices"),
    ]
    .iter()
    .map(|(g, r)| ((*g).to_owned(), (*r).to_owned()))
    .collect();
    assert_eq!(granted, want);
    assert_eq!(binding.role_ref.kind, "ClusterRole");
    assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
    let subject = one(binding.subjects.as_deref().unwrap_or_default(), "subject");
    assert_eq!(subject.kind, "ServiceAccount");
    assert_eq!(Some(&subject.name), account.metadata.name.as_ref());
    assert_eq!(subject.namespace.as_deref(), Some(namespace.as_str()));

    // The config in the ConfigMap loads, and is what the pod listens on.
    let data = config_map.data.as_ref().expect("ConfigMap data");
    let text = data.get("config.yaml").expect("ConfigMap key config.yaml");
    let config = Config::from_str(text, Path::new("deploy/configmap.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(config.source, SourceConfig::Kubernetes(_)));
    let dns_port = one(&config.dns.listen, "dns.listen").port();
    assert!(config.dns.listen[0].ip().is_unspecified());
    assert_eq!(config.admin.listen, "0.0.0.0:9153".parse().unwrap());

    // The Deployment.
    let spec = deployment.spec.as_ref().unwrap();
    assert_eq!(spec.replicas, Some(2));
    let template = &spec.template;
    let pod_labels = template.metadata.as_ref().unwrap().labels.clone().unwrap();
    let selector = spec.selector.match_labels.clone().unwrap();
    assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    let pod = template.spec.as_ref().unwrap();
    assert_eq!(pod.service_account_name, account.metadata.name);
    let anti = pod
        .affinity
        .as_ref()
        .and_then(|a| a.pod_anti_affinity.as_ref())
        .expect("pod anti-affinity");
    let terms = anti
        .preferred_during_scheduling_ignored_during_execution
        .as_deref()
        .unwrap_or_default();
    assert!(
        terms
            .iter()
            .any(|t| t.pod_affinity_term.topology_key == "kubernetes.io/hostname"),
        "spread over nodes"
    );
    let container = one(&pod.containers, "container");
    let ports: Vec<(i32, String)> = container
        .ports
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|p| (p.container_port, p.protocol.clone().unwrap_or("TCP".into())))
        .collect();
    for want in [
        (i32::from(dns_port), "UDP".to_owned()),
        (i32::from(dns_port), "TCP".to_owned()),
        (9153, "TCP".to_owned()),
    ] {
        assert!(ports.contains(&want), "{want:?} not in {ports:?}");
    }
    for (probe, path) in [
        (&container.readiness_probe, "/readyz"),
        (&container.liveness_probe, "/healthz"),
    ] {
        let get = probe
            .as_ref()
            .and_then(|p| p.http_get.as_ref())
            .expect(path);
        assert_eq!(get.path.as_deref(), Some(path));
        let port = match get.port.clone() {
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => p,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name) => {
                container
                    .ports
                    .as_deref()
                    .unwrap_or_default()
                    .iter()
                    .find(|p| p.name.as_deref() == Some(name.as_str()))
                    .unwrap_or_else(|| panic!("probe port {name} not declared"))
                    .container_port
            }
        };
        assert_eq!(port, 9153, "{path}");
    }
    let resources = container.resources.as_ref().expect("resources");
    for key in ["cpu", "memory"] {
        assert!(
            resources
                .requests
                .as_ref()
                .is_some_and(|r| r.contains_key(key))
        );
    }
    assert!(
        resources
            .limits
            .as_ref()
            .is_some_and(|r| r.contains_key("memory"))
    );
    let security = container
        .security_context
        .as_ref()
        .expect("securityContext");
    assert_eq!(security.run_as_non_root, Some(true));
    assert_eq!(security.read_only_root_filesystem, Some(true));
    assert_eq!(security.allow_privilege_escalation, Some(false));
    let caps = security.capabilities.as_ref().expect("capabilities");
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
    if dns_port < 1024 {
        assert_eq!(
            caps.add.as_deref(),
            Some(&["NET_BIND_SERVICE".to_owned()][..])
        );
    } else {
        assert!(
            caps.add.is_none(),
            "an unprivileged port needs no capability"
        );
    }
    // The config is mounted where the arguments say.
    let args = container.args.clone().unwrap_or_default().join(" ");
    let mount = container
        .volume_mounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|m| args.contains(&m.mount_path))
        .unwrap_or_else(|| panic!("no mount holds the config in {args:?}"));
    let volume = pod
        .volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|v| v.name == mount.name)
        .expect("the mounted volume");
    assert_eq!(
        volume.config_map.as_ref().map(|c| &c.name),
        config_map.metadata.name.as_ref()
    );
    // The cookie secret is a file from the Secret every replica mounts
    // (optional: without it each replica makes its own).
    let secret_file = config
        .dns
        .cookie_secret_file
        .as_ref()
        .expect("dns.cookie_secret_file");
    let mount = container
        .volume_mounts
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|m| secret_file.starts_with(&m.mount_path))
        .unwrap_or_else(|| panic!("no mount holds {}", secret_file.display()));
    assert_eq!(mount.read_only, Some(true));
    let secret = pod
        .volumes
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|v| v.name == mount.name)
        .and_then(|v| v.secret.as_ref())
        .expect("a Secret volume for the cookie secret");
    assert_eq!(secret.secret_name.as_deref(), Some("headless-dns-cookie"));
    assert_eq!(secret.optional, Some(true));
    let key = secret_file.file_name().unwrap().to_str().unwrap();
    assert!(
        secret
            .items
            .as_deref()
            .is_none_or(|items| items.iter().any(|i| i.path == key)),
        "the Secret's items do not give {key}"
    );

    // The Service: 53 over UDP and TCP to the pod's DNS port, plus metrics.
    let service_spec = service.spec.as_ref().unwrap();
    assert!(
        service_spec
            .selector
            .as_ref()
            .unwrap()
            .iter()
            .all(|(k, v)| pod_labels.get(k) == Some(v))
    );
    let service_ports = service_spec.ports.as_deref().unwrap_or_default();
    for protocol in ["UDP", "TCP"] {
        let port = service_ports
            .iter()
            .find(|p| p.port == 53 && p.protocol.as_deref() == Some(protocol))
            .unwrap_or_else(|| panic!("no 53/{protocol}"));
        let target = match port.target_port.clone() {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p)) => p,
            other => panic!("53/{protocol}: targetPort {other:?}: give the number"),
        };
        assert_eq!(target, i32::from(dns_port), "53/{protocol}");
    }
    assert!(service_ports.iter().any(|p| p.port == 9153));

    // The budget keeps one replica through voluntary disruptions.
    let budget_spec = budget.spec.as_ref().unwrap();
    assert_eq!(
        budget_spec.selector.as_ref().unwrap().match_labels,
        Some(selector)
    );

    // The CoreDNS snippet forwards the configured zone and the reverse
    // zones of every configured CIDR, in one server block.
    let corefile =
        std::fs::read_to_string(deploy_dir().join("coredns-stub-zone.Corefile")).unwrap();
    let zone = config.zone.trim_end_matches('.');
    let block = corefile
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{zone}:53 ")) && l.ends_with('{'))
        .unwrap_or_else(|| {
            panic!("the Corefile snippet has no server block for {zone}:\n{corefile}")
        });
    assert!(
        !config.dns.reverse_cidrs.is_empty(),
        "deploy sets reverse_cidrs"
    );
    for cidr in &config.dns.reverse_cidrs {
        assert!(
            block.split_whitespace().any(|z| z == format!("{cidr}:53")),
            "{cidr} is not forwarded: {block}"
        );
    }
    assert!(corefile.contains("forward ."), "{corefile}");

    // The image runs what the Deployment asks for.
    let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage");
    assert!(dockerfile.contains("nonroot") || dockerfile.contains("USER 65532"));
}
