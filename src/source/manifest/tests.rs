//! Tests of reading manifests: documents, JSON and YAML, lists, errors
//! with their positions, folders.

use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;

use super::*;
use crate::model::{
    Endpoint, EndpointGroup, ObjectKey, OrdinalSet, Port, Protocol, Service, ServiceKind,
};
use documents::PARALLEL_FROM;

fn load_state(paths: &[PathBuf]) -> Result<ClusterState, ManifestError> {
    Ok(state_from_objects(&load_objects(paths)?))
}

fn parse(text: &str) -> Result<ClusterState, ManifestError> {
    parse_objects(text, Path::new("m.yaml")).map(|objects| state_from_objects(&objects))
}

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(state) => panic!("expected an error, got {state:?}"),
        Err(e) => e.to_string(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn port(name: &str, protocol: Protocol, port: u16) -> Port {
    Port {
        name: name.into(),
        protocol,
        port,
    }
}

fn endpoint(
    addresses: &[&str],
    hostname: Option<&str>,
    ready: bool,
    target: Option<&str>,
) -> Endpoint {
    Endpoint {
        addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
        hostname: hostname.map(Arc::from),
        ready,
        target: target.map(Arc::from),
    }
}

fn service_doc(namespace: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  clusterIP: None\n"
    )
}

const MIXED: &str = r#"# demo objects
---
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  clusterIP: None
  ports:
  - name: http
    port: 80
  - name: dns
    port: 53
    protocol: UDP
  - port: 9090
  - name: odd
    port: 7
    protocol: QUIC
---   # a comment-only document follows
# nothing here
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abcde
  namespace: demo
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- name: http
  port: 80
  protocol: TCP
- name: no-number
- port: 81
endpoints:
- addresses: ["10.0.0.1"]
  hostname: web-1
  conditions: {ready: true}
  targetRef: {kind: Pod, name: web-1}
- addresses: ["10.0.0.2", "not-an-ip"]
  conditions: {ready: false}
- addresses: ["fd00::3"]
---
apiVersion: v1
kind: Endpoints
metadata:
  name: legacy
subsets:
- addresses:
  - ip: 10.1.0.1
    hostname: legacy-0
    targetRef: {kind: Pod, name: legacy-0}
  notReadyAddresses:
  - ip: 10.1.0.2
  ports:
  - name: http
    port: 8080
- addresses:
  - ip: 10.1.0.3
  ports:
  - name: http
    port: 8080
  - name: metrics
    port: 9100
    protocol: TCP
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: demo
spec:
  serviceName: web
  replicas: 3
  ordinals:
    start: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
      volumes:
      - name: conf
        configMap: {name: web, defaultMode: 0644}
"#;

#[test]
fn multi_document_file_yields_model_values() {
    let state = parse(MIXED).unwrap();
    let expected = ClusterState {
        services: vec![Service {
            key: ObjectKey::new("demo", "web"),
            kind: ServiceKind::Headless,
            publish_not_ready: false,
            ports: vec![
                port("http", Protocol::Tcp, 80),
                port("dns", Protocol::Udp, 53),
            ],
        }],
        slices: vec![EndpointGroup {
            key: ObjectKey::new("demo", "web-abcde"),
            service: ObjectKey::new("demo", "web"),
            ports: vec![port("http", Protocol::Tcp, 80)],
            endpoints: vec![
                endpoint(&["10.0.0.1"], Some("web-1"), true, Some("web-1")),
                endpoint(&["10.0.0.2"], None, false, None),
                endpoint(&["fd00::3"], None, true, None),
            ],
        }],
        endpoints: vec![EndpointGroup {
            key: ObjectKey::new("default", "legacy"),
            service: ObjectKey::new("default", "legacy"),
            ports: vec![
                port("http", Protocol::Tcp, 8080),
                port("metrics", Protocol::Tcp, 9100),
            ],
            endpoints: vec![
                endpoint(&["10.1.0.1"], Some("legacy-0"), true, Some("legacy-0")),
                endpoint(&["10.1.0.2"], None, false, None),
                endpoint(&["10.1.0.3"], None, true, None),
            ],
        }],
        sets: vec![OrdinalSet {
            key: ObjectKey::new("demo", "web"),
            service_name: "web".into(),
            replicas: 3,
            start: 1,
        }],
    };
    assert_eq!(state, expected);
}

#[test]
fn kind_list_expands_items() {
    let text = r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: ns}
  spec: {clusterIP: None}
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: s, namespace: ns}
  spec: {serviceName: a}
- apiVersion: v1
  kind: ServiceList
  items:
  - metadata: {name: b, namespace: ns}
    spec: {clusterIP: 10.96.0.10}
"#;
    let state = parse(text).unwrap();
    let services: Vec<(String, bool)> = state
        .services
        .iter()
        .map(|s| (s.key.to_string(), s.is_headless()))
        .collect();
    assert_eq!(
        services,
        [("ns/a".to_owned(), true), ("ns/b".to_owned(), false)]
    );
    assert_eq!(state.sets.len(), 1);
    assert_eq!(state.sets[0].key, ObjectKey::new("ns", "s"));
    assert_eq!(state.sets[0].replicas, 1);

    let bad = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a, namespace: ns}\n  spec:\n    ports: [{name: http, port: x}]\n";
    assert_eq!(
        parse_err(bad),
        "m.yaml: document 1 (line 1), items[1], Service ns/a: spec.ports[0].port: invalid type: string \"x\", expected i32"
    );
    let not_a_list = parse_err("apiVersion: v1\nkind: List\nitems: {a: 1}\n");
    assert!(
        not_a_list.contains("items: expected a list"),
        "{not_a_list}"
    );
    let item_without_kind =
        parse_err("apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n");
    assert!(
        item_without_kind.contains("items[0]: apiVersion is missing"),
        "{item_without_kind}"
    );
}

#[test]
fn folder_is_read_non_recursively_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "b.yaml", &service_doc("ns", "b"));
    write(dir.path(), "a.yml", &service_doc("ns", "a"));
    write(
        dir.path(),
        "c.json",
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c", "namespace": "ns"}}"#,
    );
    write(dir.path(), "notes.txt", "not: [yaml");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(&dir.path().join("sub"), "d.yaml", &service_doc("ns", "d"));
    std::fs::create_dir(dir.path().join("folder.yaml")).unwrap();
    // A file given by name is read whatever its extension.
    let other = tempfile::tempdir().unwrap();
    let explicit = write(other.path(), "e.txt", &service_doc("ns", "e"));

    let state = load_state(&[dir.path().to_owned(), explicit]).unwrap();
    let names: Vec<&str> = state.services.iter().map(|s| &*s.key.name).collect();
    assert_eq!(names, ["a", "b", "c", "e"]);
}

#[test]
fn type_error_names_file_document_line_object_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n\n# the service\napiVersion: v1\nkind: Service\nmetadata:\n  name: nginx-demo\n  namespace: demo\nspec:\n  clusterIP: None\n  ports:\n  - name: http\n    port: x\n";
    let path = write(dir.path(), "svc.yaml", text);
    let err = load_state(std::slice::from_ref(&path)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: document 2 (line 7), Service demo/nginx-demo: spec.ports[0].port: invalid type: string \"x\", expected i32",
            path.display()
        )
    );
    assert!(
        matches!(err, ManifestError::InvalidField { ref field, .. } if field == "spec.ports[0].port")
    );
}

#[test]
fn yaml_syntax_error_names_file_and_absolute_line() {
    let dir = tempfile::tempdir().unwrap();
    // Line 10 is the bad one: `b` is indented under a scalar.
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\nkind: Service\nmetadata: x\n  name: y\n";
    let path = write(dir.path(), "bad.yaml", text);
    let err = load_state(std::slice::from_ref(&path)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "{}: document 3 (line 9): invalid YAML: ",
            path.display()
        )),
        "{message}"
    );
    assert!(message.contains("line 11"), "{message}");
    assert!(
        matches!(err, ManifestError::Syntax { line: Some(11), .. }),
        "{err:?}"
    );

    // The same in the first document, where no offset applies.
    let err = parse("a: [1\n").unwrap_err();
    assert!(
        matches!(
            err,
            ManifestError::Syntax {
                line: Some(1),
                column: Some(4),
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn json_stream_is_read_and_its_errors_have_file_lines() {
    let text = "{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n \"metadata\": {\"name\": \"a\"}, \"spec\": {\"clusterIP\": \"None\"}}\n\n{\n\t\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"b\"}}\n";
    let state = parse(text).unwrap();
    let names: Vec<String> = state.services.iter().map(|s| s.key.to_string()).collect();
    assert_eq!(names, ["default/a", "default/b"]);

    let broken = "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}\n{\n  \"apiVersion\": \"v1\",\n  \"kind\" \"Service\"\n}\n";
    let err = parse(broken).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("m.yaml: document 2 (line 2): invalid JSON: "),
        "{message}"
    );
    assert!(
        matches!(err, ManifestError::Syntax { line: Some(4), .. }),
        "{err:?}"
    );

    let type_error = "\n{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\"}, \"spec\": {\"clusterIP\": 1}}";
    assert_eq!(
        parse_err(type_error),
        "m.yaml: document 1 (line 2), Service default/a: spec.clusterIP: invalid type: integer `1`, expected a string"
    );
}

#[test]
fn separators_follow_kubectl() {
    let text = format!(
        "---\n{}---   \n{}--- # next\n{}",
        service_doc("ns", "a"),
        service_doc("ns", "b"),
        service_doc("ns", "c")
    );
    assert_eq!(parse(&text).unwrap().services.len(), 3);

    let err = parse(&format!("{}--- {{a: 1}}\n", service_doc("ns", "a"))).unwrap_err();
    assert!(
        matches!(err, ManifestError::Separator { line: 8, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("m.yaml: line 8: invalid document separator"),
        "{err}"
    );
}

#[test]
fn missing_api_version_or_kind_is_an_error() {
    let err = parse_err("kind: Service\nmetadata: {name: a}\n");
    assert_eq!(
        err,
        "m.yaml: document 1 (line 1): apiVersion is missing; every Kubernetes object needs apiVersion and kind"
    );
    let err = parse_err("apiVersion: v1\nmetadata: {name: a}\n");
    assert!(err.contains("kind is missing"), "{err}");
    let err = parse_err("apiVersion: 1\nkind: Service\n");
    assert!(
        err.contains("apiVersion: expected a string, found a number"),
        "{err}"
    );
}

#[test]
fn wrong_api_version_of_a_known_kind_is_an_error() {
    let text = "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s, namespace: ns}\naddressType: IPv4\nendpoints: []\n";
    assert_eq!(
        parse_err(text),
        "m.yaml: document 1 (line 1), EndpointSlice ns/s: EndpointSlice must have apiVersion discovery.k8s.io/v1, found discovery.k8s.io/v1beta1; convert the object to discovery.k8s.io/v1"
    );
    let err = parse_err("apiVersion: apps/v1beta2\nkind: StatefulSet\nmetadata: {name: s}\n");
    assert!(err.contains("must have apiVersion apps/v1"), "{err}");
    // Another API group's kind of the same name is not ours.
    let knative = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: k}\n";
    assert_eq!(parse(knative).unwrap(), ClusterState::default());
}

#[test]
fn missing_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let err = load_state(std::slice::from_ref(&missing)).unwrap_err();
    assert!(
        matches!(err, ManifestError::NotFound { ref path } if *path == missing),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .starts_with(&format!("{}: no such file or folder", missing.display()))
    );
}

#[test]
fn fqdn_slices_have_no_endpoints() {
    let text = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ext-1\n  namespace: ns\n  labels: {kubernetes.io/service-name: ext}\naddressType: FQDN\nports: [{name: https, port: 443}]\nendpoints:\n- addresses: [example.com]\n";
    let state = parse(text).unwrap();
    assert_eq!(
        state.slices,
        [EndpointGroup {
            key: ObjectKey::new("ns", "ext-1"),
            service: ObjectKey::new("ns", "ext"),
            ports: vec![port("https", Protocol::Tcp, 443)],
            endpoints: Vec::new(),
        }]
    );
}

#[test]
fn publish_not_ready_and_not_ready_conditions() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns}\nspec: {clusterIP: None, publishNotReadyAddresses: true}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  namespace: ns\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: false, serving: true}\n- addresses: [10.0.0.2]\n  conditions: {}\n- addresses: [10.0.0.3]\n";
    let state = parse(text).unwrap();
    assert!(state.services[0].publish_not_ready);
    let ready: Vec<bool> = state.slices[0].endpoints.iter().map(|e| e.ready).collect();
    assert_eq!(ready, [false, true, true]);

    let plain = parse(&service_doc("ns", "web")).unwrap();
    assert!(!plain.services[0].publish_not_ready);
}

#[test]
fn objects_need_a_name_and_documents_a_mapping() {
    let err = parse_err("apiVersion: v1\nkind: Service\nmetadata: {namespace: ns}\n");
    assert_eq!(
        err,
        "m.yaml: document 1 (line 1), Service: metadata.name is missing or empty; every object needs a name"
    );
    let err = parse_err("apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: no}\n");
    assert!(
        err.contains(
            "Service false/a: metadata.namespace: invalid type: boolean `false`, expected a string"
        ),
        "{err}"
    );
    let err = parse_err("- a\n- b\n");
    assert!(err.ends_with("found a list"), "{err}");
    // A null document is skipped, as kubectl does.
    assert_eq!(parse("~\n---\nnull\n").unwrap(), ClusterState::default());
    assert_eq!(parse("").unwrap(), ClusterState::default());
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n");
    for depth in 1..200 {
        text.push_str(&"  ".repeat(depth));
        text.push_str("a:\n");
    }
    let err = parse(&text).unwrap_err();
    assert!(matches!(err, ManifestError::Syntax { .. }), "{err:?}");
    let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(parse(&flow), Err(ManifestError::Syntax { .. })));
    let json = format!("{{\"a\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(
        parse(&json),
        Err(ManifestError::Syntax { syntax: "JSON", .. })
    ));
}

#[test]
fn slices_without_service_label_and_sets_without_service_are_skipped() {
    let text = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec: {replicas: 2}\n";
    assert_eq!(parse(text).unwrap(), ClusterState::default());
}

#[test]
fn conversions_handle_odd_values() {
    let mut sts = apps::StatefulSet::default();
    sts.metadata.name = Some("db".into());
    let mut spec = apps::StatefulSetSpec {
        service_name: Some("db".into()),
        replicas: Some(-2),
        ordinals: Some(apps::StatefulSetOrdinals { start: Some(-1) }),
        ..Default::default()
    };
    sts.spec = Some(spec.clone());
    let set = set_from_k8s(&sts).unwrap();
    assert_eq!((set.replicas, set.start), (0, 0));
    assert_eq!(set.key, ObjectKey::new("default", "db"));
    spec.service_name = Some(String::new());
    sts.spec = Some(spec);
    assert_eq!(set_from_k8s(&sts), None);

    let mut svc = core::Service::default();
    assert_eq!(service_from_k8s(&svc), None);
    svc.metadata.name = Some("a".into());
    svc.spec = Some(core::ServiceSpec {
        cluster_ips: Some(vec!["None".into()]),
        ports: Some(vec![core::ServicePort {
            name: Some("big".into()),
            port: 70000,
            ..Default::default()
        }]),
        ..Default::default()
    });
    let service = service_from_k8s(&svc).unwrap();
    assert!(service.is_headless());
    assert!(service.ports.is_empty());

    let slice = discovery::EndpointSlice::default();
    assert_eq!(slice_from_k8s(&slice), None);
    assert_eq!(endpoints_from_k8s(&core::Endpoints::default()), None);
}

/// `n` Services, one per document, with an empty document before each.
fn many_services(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: demo}}\nspec: {{clusterIP: None}}\n"
            )
        })
        .collect()
}

#[test]
fn a_long_file_parsed_in_parts_keeps_file_order_and_the_first_error() {
    // Long enough to be parsed on several threads where there are cores.
    let n = 2 * PARALLEL_FROM + 7;
    let objects = parse_objects(&many_services(n), Path::new("m.yaml")).unwrap();
    let names: Vec<String> = objects
        .iter()
        .map(|o| match o {
            Object::Service(s) => s.metadata.name.clone().unwrap_or_default(),
            other => panic!("not a service: {other:?}"),
        })
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    assert_eq!(names, want);

    // Two broken documents, one in the last part and an earlier one: the
    // earlier is reported, with its number among the documents that are
    // not empty and its line in the file.
    let text = many_services(n)
        .replacen("name: s300,", "name: [s300],", 1)
        .replacen("name: s500,", "name: [s500],", 1);
    let err = parse_objects(&text, Path::new("m.yaml")).unwrap_err();
    // Each service takes 6 lines; s300's `metadata` line is its fifth.
    let line = 300 * 6 + 3;
    assert_eq!(
        err.to_string(),
        format!(
            "m.yaml: document 301 (line {line}), Service demo/[\"s300\"]: metadata.name: invalid type: sequence, expected a string"
        )
    );
}
