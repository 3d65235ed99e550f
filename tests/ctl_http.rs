//! `ctl` against a mock admin API: a tiny axum server on 127.0.0.1:0 that
//! records every request and answers as the test says, so each test checks
//! both what `ctl` sent and what it printed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use headless_dns::cli::{Cli, Command};
use serde_json::{Value, json};

/// One request the mock received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query, e.g. `/api/v1/namespaces/demo/pods?watch=true`.
    target: String,
    content_type: String,
    body: String,
}

type Responder = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

struct Mock {
    log: Mutex<Vec<Seen>>,
    respond: Box<Responder>,
}

async fn handle(
    State(mock): State<Arc<Mock>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let seen = Seen {
        method: method.to_string(),
        target: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        content_type: headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body,
    };
    mock.log.lock().unwrap().push(seen.clone());
    let (status, body) = (mock.respond)(&seen);
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

/// Starts a mock admin API; returns its address and its request log.
fn mock(respond: impl Fn(&Seen) -> (u16, String) + Send + Sync + 'static) -> (String, Arc<Mock>) {
    let state = Arc::new(Mock {
        log: Mutex::new(Vec::new()),
        respond: Box::new(respond),
    });
    let router = Router::new().fallback(handle).with_state(state.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, router).await.unwrap();
        });
    });
    (addr.to_string(), state)
}

impl Mock {
    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    fn requests(&self) -> Vec<String> {
        self.seen()
            .iter()
            .map(|s| format!("{} {}", s.method, s.target))
            .collect()
    }
}

/// Runs `headless-dns ctl --admin ADDR ARGS...` in-process, through the real
/// command-line parser; returns (exit code, stdout, stderr).
fn ctl(admin: &str, args: &[&str]) -> (u8, String, String) {
    let mut argv = vec!["headless-dns", "ctl", "--admin", admin];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(argv).expect("arguments parse");
    let Command::Ctl(args) = cli.command else {
        panic!("not a ctl command")
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = headless_dns::ctl::execute(args, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn ok(value: Value) -> (u16, String) {
    (200, value.to_string())
}

fn not_found(resource: &str, name: &str) -> (u16, String) {
    (
        404,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": format!("{resource} \"{name}\" not found"), "reason": "NotFound", "code": 404
        })
        .to_string(),
    )
}

fn pod(name: &str, ready: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "demo", "resourceVersion": "1"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [{
                "name": "nginx", "image": "nginx:1.27", "imageID": "", "ready": ready,
                "restartCount": 0, "state": {"running": {}}
            }]
        }
    })
}

fn pod_list(items: Vec<Value>) -> Value {
    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items})
}

fn statefulset(replicas: i32, ready: i32, revision: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "web-demo", "namespace": "demo", "generation": 2, "resourceVersion": "10",
                     "labels": {"app": "nginx"}},
        "spec": {
            "replicas": replicas,
            "serviceName": "nginx-demo",
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"metadata": {"labels": {"app": "nginx"}},
                         "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}
        },
        "status": {
            "observedGeneration": 2, "replicas": replicas, "readyReplicas": ready,
            "currentReplicas": replicas, "updatedReplicas": replicas,
            "currentRevision": revision, "updateRevision": revision
        }
    })
}

#[test]
fn get_lists_pods_as_a_kubectl_table() {
    let (admin, mock) = mock(|seen| match seen.target.as_str() {
        "/api/v1/namespaces/demo/pods" => ok(pod_list(vec![
            pod("web-demo-0", true),
            pod("web-demo-1", false),
        ])),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["get", "pods", "-n", "demo"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "\
NAME         READY   STATUS    RESTARTS   AGE
web-demo-0   1/1     Running   0          <unknown>
web-demo-1   0/1     Running   0          <unknown>
"
    );
    assert_eq!(mock.requests(), ["GET /api/v1/namespaces/demo/pods"]);
}

#[test]
fn get_all_namespaces_and_output_forms() {
    let (admin, mock) = mock(|seen| match seen.target.as_str() {
        "/api/v1/pods" => ok(pod_list(vec![pod("web-demo-0", true)])),
        "/api/v1/namespaces/demo/pods/web-demo-0" => ok(pod("web-demo-0", true)),
        "/api/v1/namespaces/empty/pods" => ok(pod_list(vec![])),
        _ => (500, "unexpected".into()),
    });
    let (code, out, _) = ctl(&admin, &["get", "po", "-A"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "NAMESPACE   NAME         READY   STATUS    RESTARTS   AGE\ndemo        web-demo-0   1/1     Running   0          <unknown>\n"
    );

    let (_, out, _) = ctl(&admin, &["get", "pods", "-A", "-o", "name"]);
    assert_eq!(out, "pod/web-demo-0\n");

    // A list is a v1 List even with one item; one named object is itself.
    let (_, out, _) = ctl(&admin, &["get", "pods", "-A", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (list["kind"].as_str(), list["items"][0]["kind"].as_str()),
        (Some("List"), Some("Pod"))
    );
    let (_, out, _) = ctl(
        &admin,
        &["get", "pod", "web-demo-0", "-n", "demo", "-o", "json"],
    );
    let single: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(single["kind"], "Pod");
    assert_eq!(single["metadata"]["name"], "web-demo-0");
    assert!(out.starts_with("{\n    \"apiVersion\": \"v1\",\n"), "{out}");

    let (code, out, err) = ctl(&admin, &["get", "pods", "-n", "empty"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(err, "No resources found in empty namespace.\n");

    assert_eq!(
        mock.requests(),
        [
            "GET /api/v1/pods",
            "GET /api/v1/pods",
            "GET /api/v1/pods",
            "GET /api/v1/namespaces/demo/pods/web-demo-0",
            "GET /api/v1/namespaces/empty/pods",
        ]
    );
}

#[test]
fn a_404_status_prints_kubectls_error_and_exits_1() {
    let (admin, _mock) = mock(|seen| match seen.target.as_str() {
        "/api/v1/namespaces/demo/pods/web-demo-0" => ok(pod("web-demo-0", true)),
        "/api/v1/namespaces/demo/pods/x" => not_found("pods", "x"),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["get", "pod", "x", "-n", "demo"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(err, "Error from server (NotFound): pods \"x\" not found\n");

    // The found one is still printed.
    let (code, out, err) = ctl(
        &admin,
        &["get", "pods", "web-demo-0", "x", "-n", "demo", "-o", "name"],
    );
    assert_eq!(code, 1);
    assert_eq!(out, "pod/web-demo-0\n");
    assert_eq!(err, "Error from server (NotFound): pods \"x\" not found\n");
}

#[test]
fn delete_by_name_goes_on_past_a_missing_object() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("DELETE", "/api/v1/namespaces/demo/pods/web-demo-0") => ok(pod("web-demo-0", true)),
        ("DELETE", "/apis/apps/v1/namespaces/demo/statefulsets/web-demo") => {
            ok(statefulset(2, 2, "r1"))
        }
        ("DELETE", "/api/v1/namespaces/demo/pods/nope") => not_found("pods", "nope"),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(
        &admin,
        &["delete", "pod", "nope", "web-demo-0", "-n", "demo"],
    );
    assert_eq!(code, 1);
    assert_eq!(out, "pod \"web-demo-0\" deleted\n");
    assert_eq!(
        err,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );

    let (code, out, _) = ctl(&admin, &["delete", "sts/web-demo", "-n", "demo"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "statefulset.apps \"web-demo\" deleted\n")
    );
    assert_eq!(mock.requests().len(), 3);
}

#[test]
fn apply_sends_the_manifests_and_prints_each_result() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("POST", "/apply") if seen.body.contains("kind: Broken") => (
            400,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 400,
                   "reason": "BadRequest",
                   "message": "document 1 (broken.yaml): unknown kind \"Broken\""})
            .to_string(),
        ),
        ("POST", "/apply") => ok(json!({"results": [
            "statefulset.apps/web-demo configured",
            "service/nginx-demo unchanged"
        ]})),
        _ => (500, "unexpected".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b-service.yaml"), "kind: Service\n").unwrap();
    std::fs::write(dir.path().join("a-sts.yaml"), "kind: StatefulSet\n").unwrap();
    let folder = dir.path().to_str().unwrap();

    let (code, out, err) = ctl(&admin, &["apply", "-f", folder]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "statefulset.apps/web-demo configured\nservice/nginx-demo unchanged\n"
    );
    let seen = mock.seen();
    assert_eq!(seen[0].body, "kind: StatefulSet\n---\nkind: Service\n");
    assert_eq!(seen[0].content_type, "application/yaml");

    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: Broken\n").unwrap();
    let (code, out, err) = ctl(&admin, &["apply", "-f", broken.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "Error from server (BadRequest): document 1 (broken.yaml): unknown kind \"Broken\"\n"
    );
}

#[test]
fn scale_gets_then_puts_the_object_with_new_replicas() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("GET", "/apis/apps/v1/namespaces/demo/statefulsets/web-demo") => {
            ok(statefulset(2, 2, "r1"))
        }
        ("PUT", "/apis/apps/v1/namespaces/demo/statefulsets/web-demo") => (200, seen.body.clone()),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(
        &admin,
        &["scale", "sts", "web-demo", "--replicas=5", "-n", "demo"],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "statefulset.apps/web-demo scaled\n");
    assert_eq!(
        mock.requests(),
        [
            "GET /apis/apps/v1/namespaces/demo/statefulsets/web-demo",
            "PUT /apis/apps/v1/namespaces/demo/statefulsets/web-demo",
        ]
    );
    let put = &mock.seen()[1];
    assert_eq!(put.content_type, "application/json");
    let sent: Value = serde_json::from_str(&put.body).unwrap();
    let mut expected = statefulset(2, 2, "r1");
    expected["spec"]["replicas"] = json!(5);
    // Only spec.replicas changed; everything else went back as it came.
    assert_eq!(sent, expected);

    // The TYPE/NAME forms address the same object.
    let (code, out, _) = ctl(
        &admin,
        &[
            "scale",
            "statefulset/web-demo",
            "--replicas",
            "0",
            "-n",
            "demo",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "statefulset.apps/web-demo scaled\n")
    );
    let sent: Value = serde_json::from_str(&mock.seen()[3].body).unwrap();
    assert_eq!(sent["spec"]["replicas"], 0);
}

#[test]
fn set_image_and_patch() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("GET", "/apis/apps/v1/namespaces/demo/statefulsets/web-demo") => {
            ok(statefulset(2, 2, "r1"))
        }
        ("PUT", _) => (200, seen.body.clone()),
        ("PATCH", _) if seen.body.contains("\"replicas\":2") => ok(statefulset(2, 2, "r1")),
        ("PATCH", _) => ok(statefulset(4, 2, "r1")),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(
        &admin,
        &[
            "set",
            "image",
            "sts/web-demo",
            "nginx=nginx:1.28",
            "-n",
            "demo",
        ],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "statefulset.apps/web-demo image updated\n");
    let sent: Value = serde_json::from_str(&mock.seen()[1].body).unwrap();
    assert_eq!(
        sent["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );

    let before = mock.seen().len();
    let (code, out, err) = ctl(
        &admin,
        &["set", "image", "sts/web-demo", "php=php:8", "-n", "demo"],
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "error: unable to find container named \"php\"\n");
    assert_eq!(
        mock.seen().len(),
        before + 1,
        "no PUT after a failed lookup"
    );

    let (code, out, _) = ctl(
        &admin,
        &[
            "patch",
            "sts",
            "web-demo",
            "-p",
            r#"{"spec":{"replicas":4}}"#,
            "-n",
            "demo",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "statefulset.apps/web-demo patched\n")
    );
    let patch = mock.seen().last().unwrap().clone();
    assert_eq!(
        (patch.method.as_str(), patch.content_type.as_str()),
        ("PATCH", "application/merge-patch+json")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&patch.body).unwrap(),
        json!({"spec": {"replicas": 4}})
    );

    let (code, out, _) = ctl(
        &admin,
        &[
            "patch",
            "sts/web-demo",
            "-p",
            r#"{"spec":{"replicas":2}}"#,
            "-n",
            "demo",
            "--type",
            "merge",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "statefulset.apps/web-demo patched (no change)\n")
    );
}

#[test]
fn rollout_status_follows_the_watch_until_complete() {
    let (admin, mock) = mock(|seen| match seen.target.as_str() {
        "/apis/apps/v1/namespaces/demo/statefulsets/web-demo" => ok(statefulset(3, 1, "r1")),
        "/apis/apps/v1/namespaces/demo/statefulsets?watch=true" => {
            let mut other = statefulset(3, 0, "r1");
            other["metadata"]["name"] = json!("other");
            let events = [
                json!({"type": "ADDED", "object": statefulset(3, 1, "r1")}),
                json!({"type": "ADDED", "object": other}),
                json!({"type": "MODIFIED", "object": statefulset(3, 2, "r1")}),
                json!({"type": "MODIFIED", "object": statefulset(3, 3, "web-demo-6d4cf56db6")}),
                json!({"type": "MODIFIED", "object": statefulset(3, 0, "r1")}),
            ];
            let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
            (200, lines.join("\n") + "\n")
        }
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["rollout", "status", "sts/web-demo", "-n", "demo"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "\
Waiting for 2 pods to be ready...
Waiting for 1 pods to be ready...
statefulset rolling update complete 3 pods at revision web-demo-6d4cf56db6...
"
    );
    assert_eq!(
        mock.requests(),
        [
            "GET /apis/apps/v1/namespaces/demo/statefulsets/web-demo",
            "GET /apis/apps/v1/namespaces/demo/statefulsets?watch=true",
        ]
    );

    // --watch=false prints once and stops.
    let (code, out, _) = ctl(
        &admin,
        &[
            "rollout",
            "status",
            "statefulset",
            "web-demo",
            "-n",
            "demo",
            "--watch=false",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "Waiting for 2 pods to be ready...\n")
    );
}

#[test]
fn rollout_status_times_out_like_kubectl() {
    let watches = Arc::new(AtomicUsize::new(0));
    let counter = watches.clone();
    let (admin, _mock) = mock(move |seen| {
        if seen.target.ends_with("?watch=true") {
            counter.fetch_add(1, Ordering::SeqCst);
            let event = json!({"type": "ADDED", "object": statefulset(3, 1, "r1")});
            (200, format!("{event}\n"))
        } else {
            ok(statefulset(3, 1, "r1"))
        }
    });
    let (code, out, err) = ctl(
        &admin,
        &[
            "rollout",
            "status",
            "sts/web-demo",
            "-n",
            "demo",
            "--timeout=1s",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(out, "Waiting for 2 pods to be ready...\n");
    assert_eq!(err, "error: timed out waiting for the condition\n");
    assert!(
        watches.load(Ordering::SeqCst) >= 1,
        "it watched before giving up"
    );
}

#[test]
fn get_watch_prints_changes_after_the_listing() {
    let (admin, _mock) = mock(|seen| match seen.target.as_str() {
        "/api/v1/namespaces/demo/pods" => ok(pod_list(vec![pod("web-demo-0", true)])),
        "/api/v1/namespaces/demo/pods?watch=true" => {
            let mut changed = pod("web-demo-0", false);
            changed["metadata"]["resourceVersion"] = json!("2");
            let events = [
                // The opening ADDED for what the listing showed is not repeated.
                json!({"type": "ADDED", "object": pod("web-demo-0", true)}),
                json!({"type": "ADDED", "object": pod("web-demo-1", false)}),
                json!({"type": "MODIFIED", "object": changed}),
            ];
            let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
            (200, lines.join("\n") + "\n")
        }
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["get", "pods", "-w", "-n", "demo"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "\
NAME         READY   STATUS    RESTARTS   AGE
web-demo-0   1/1     Running   0          <unknown>
web-demo-1   0/1     Running   0          <unknown>
web-demo-0   0/1     Running   0          <unknown>
"
    );
}

#[test]
fn fault_posts_to_the_sim_endpoint() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("POST", "/sim/v1/namespaces/demo/pods/web-demo-1/fault") => {
            ok(json!({"results": ["pod/web-demo-1 killed"]}))
        }
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["fault", "kill", "pod/web-demo-1", "-n", "demo"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "pod/web-demo-1 killed\n");
    let sent: Value = serde_json::from_str(&mock.seen()[0].body).unwrap();
    assert_eq!(sent, json!({"fault": "kill"}));
}

#[test]
fn unreachable_admin_and_unknown_types_are_clear_errors() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = format!("127.0.0.1:{port}");
    let (code, out, err) = ctl(&admin, &["get", "pods"]);
    assert_eq!((code, out.as_str()), (1, ""));
    let prefix = format!("error: cannot reach the headless-dns admin API at http://{admin}: ");
    assert!(err.starts_with(&prefix), "{err}");
    assert!(
        err.ends_with(" (is 'headless-dns serve' running? use --admin ADDR)\n"),
        "{err}"
    );

    let (code, _, err) = ctl(&admin, &["get", "pod", "web-demo-0", "-A"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: a resource cannot be retrieved by name across all namespaces\n"
    );

    let (code, _, err) = ctl(&admin, &["get", "widgets"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "error: the server doesn't have a resource type \"widgets\"\n"
    );
}

#[test]
fn bad_flags_are_clap_usage_errors() {
    let error = Cli::try_parse_from(["headless-dns", "ctl", "get", "pods", "--bogus"]).unwrap_err();
    assert_eq!(error.kind(), clap::error::ErrorKind::UnknownArgument);
    let error = Cli::try_parse_from(["headless-dns", "ctl", "scale", "sts", "web"]).unwrap_err();
    assert_eq!(
        error.kind(),
        clap::error::ErrorKind::MissingRequiredArgument
    );
}
