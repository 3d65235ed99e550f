//! The Kubernetes mode against a real control plane: etcd, kube-apiserver
//! v1.24 with RBAC, and the real StatefulSet and EndpointSlice controllers
//! (`../shared/k8s`, started once for this binary by `fixture.rs`), or any
//! cluster named by `HEADLESS_DNS_TEST_KUBECONFIG`.
//!
//! Every test runs the real binary in Kubernetes mode, authenticated as the
//! ServiceAccount of `deploy/rbac.yaml` as shipped, writes objects through
//! the API server as a user or the kubelet would, and checks DNS answers,
//! `/readyz` and `/metrics`. Waits are bounded polls. `tests/kubernetes/`
//! keeps what only the test API server can do on demand (a 410 at a chosen
//! moment, a list held open, a malformed event). The binary, not the
//! in-process server, because this suite is the deploy as shipped, and
//! because its tests read the process's log (warnings counted) and its
//! resident memory (`/proc/PID`).
//!
//! Run: `cargo test --test control_plane` (add `-- --nocapture` for the
//! latency figures). Without a control plane each test prints `SKIPPED` and
//! why; `HEADLESS_DNS_REQUIRE_CONTROL_PLANE=1` makes that a failure.

#[path = "../support/mod.rs"]
mod support;

mod deploy;
mod faults;
mod fixture;
mod latency;
mod objects;
mod processes;
mod scope;
mod services;
mod slices;
mod statefulset;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use support::dns::{addresses, query};
use support::server::Server;

/// How long a server gets to list everything and turn ready.
pub const SYNC: Duration = Duration::from_secs(60);
/// How long a change written to the API server gets to be served: the
/// controllers and watches of a loaded 2-core machine.
pub const CHANGE: Duration = Duration::from_secs(30);

/// A running server with the folder holding its config.
pub struct Running {
    pub server: Server,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for Running {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

/// Starts the binary with `source.kubernetes` authenticated by `kubeconfig`
/// and `extra` lines under it (e.g. `namespaces: [a]`); `dns` lines go under
/// `dns:`. Does not wait for sync.
pub async fn start(kubeconfig: &Path, extra: &str, dns: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "zone: cluster.local\ndns:\n  ttl: 5\n{dns}source:\n  kubernetes:\n    kubeconfig: {}\n{extra}",
            kubeconfig.display()
        ),
    )
    .unwrap();
    let server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .unwrap();
    Running { server, _dir: dir }
}

/// [`start`] as the deploy's ServiceAccount, then waits for `/readyz` 200.
pub async fn serve(fixture: &fixture::Fixture, extra: &str) -> Running {
    let running = start(&fixture.account, extra, "").await;
    wait_ready(&running).await;
    running
}

pub async fn wait_ready(server: &Server) {
    fixture::until(SYNC, "/readyz 200", || async {
        match server.http_get("/readyz") {
            (200, _) => Ok(()),
            (status, body) => Err(format!(
                "{status} {body}; log:\n{}",
                server.log().join("\n")
            )),
        }
    })
    .await;
}

/// What a question got: rcode, answer addresses, other answer data as text,
/// and the additional section's addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub rcode: ResponseCode,
    pub addresses: Vec<String>,
    pub data: Vec<String>,
    pub additional: Vec<String>,
}

impl Reply {
    fn of(m: &Message) -> Self {
        let mut data: Vec<String> = m
            .answers
            .iter()
            .filter(|r| !matches!(r.data, RData::A(_) | RData::AAAA(_)))
            .map(|r| r.data.to_string())
            .collect();
        data.sort();
        Self {
            rcode: m.metadata.response_code,
            addresses: addresses(&m.answers),
            data,
            additional: addresses(&m.additionals),
        }
    }

    /// NOERROR with no answer: the name exists without the type.
    pub fn is_nodata(&self) -> bool {
        self.rcode == ResponseCode::NoError && self.addresses.is_empty() && self.data.is_empty()
    }
}

/// `name` under `svc.cluster.local.`.
pub fn svc(name: &str) -> String {
    format!("{name}.svc.cluster.local.")
}

/// One question over UDP; `None` when no answer came within 2 s.
pub async fn try_ask(dns: SocketAddr, name: &str, qtype: RecordType) -> Option<Reply> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let message = query(name, qtype);
    socket
        .send_to(&support::dns::bytes(&message), dns)
        .await
        .ok()?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some(Reply::of(&support::dns::parse(&buf[..n])))
}

pub async fn ask(server: &Server, name: &str, qtype: RecordType) -> Reply {
    match try_ask(server.dns, name, qtype).await {
        Some(reply) => reply,
        None => panic!("no answer to {name} {qtype} within 2 s"),
    }
}

/// The A answer of `svc(host)`.
pub async fn a(server: &Server, host: &str) -> Reply {
    ask(server, &svc(host), RecordType::A).await
}

/// Polls `svc(host)` A until `check` accepts the reply, for at most `limit`.
pub async fn until_a(
    server: &Server,
    host: &str,
    limit: Duration,
    what: &str,
    check: impl Fn(&Reply) -> bool,
) -> Reply {
    fixture::until(limit, &format!("{host}: {what}"), || async {
        let reply = a(server, host).await;
        if check(&reply) {
            Ok(reply)
        } else {
            Err(format!("{reply:?}"))
        }
    })
    .await
}

/// Polls until `svc(host)` answers exactly `want` (sorted addresses).
pub async fn until_addresses(server: &Server, host: &str, want: &[&str]) -> Reply {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    until_a(server, host, CHANGE, &format!("answers {want:?}"), |r| {
        r.rcode == ResponseCode::NoError && r.addresses == want
    })
    .await
}

pub async fn until_rcode(server: &Server, host: &str, want: ResponseCode) -> Reply {
    until_a(server, host, CHANGE, &format!("answers {want}"), |r| {
        r.rcode == want && r.addresses.is_empty()
    })
    .await
}

pub async fn until_nodata(server: &Server, host: &str) -> Reply {
    until_a(server, host, CHANGE, "answers NODATA", Reply::is_nodata).await
}

/// A metric's value from `/metrics` (the first sample of that name).
pub fn metric(server: &Server, name: &str) -> f64 {
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200, "/metrics: {text}");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

pub fn count_log(server: &Server, needle: &str) -> usize {
    server.log().iter().filter(|l| l.contains(needle)).count()
}
