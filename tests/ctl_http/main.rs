//! `ctl` against a mock admin API: a tiny axum server on 127.0.0.1:0 that
//! records every request and answers as the test says, so each test checks
//! both what `ctl` sent and what it printed. Reading (`get.rs`), writing
//! (`write.rs`), following watches (`watch.rs`), and faults and errors
//! (`errors.rs`); this file holds the mock and the objects it answers with.

mod errors;
mod get;
mod watch;
mod write;

use std::net::SocketAddr;
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
