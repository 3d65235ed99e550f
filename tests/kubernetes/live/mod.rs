//! The Kubernetes source against the test API server
//! (`crate::support::kube_api`), asserting on DNS answers, `/readyz` and
//! `/metrics`: the initial sync (`sync.rs`), an outage, expired watches and
//! malformed events (`outage.rs`), paging, scope and legacy Endpoints
//! (`scope.rs`), and the command line's startup errors (`cli.rs`). Tests that
//! count log lines (one warning per watch, not per retry; one "synced")
//! or run a subcommand use the real binary (`serve`); the rest run the
//! server in-process (`serve_in_process`). This file holds the helpers they
//! share, which take either (`Serving`).

mod cli;
mod outage;
mod scope;
mod sync;

use std::net::SocketAddr;
use std::time::Duration;

use crate::support::app::{Running, Serving};
use crate::support::dns::{addresses, query, udp};
use crate::support::kube_api::{KubeApi, objects};
use crate::support::server::{Server, eventually};
use crate::{fqdn, ips};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// Writes a config for `api` (with `extra` lines under `source.kubernetes`)
/// and starts the binary on it.
pub(super) async fn serve(api: &KubeApi, extra: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let config = api.write_config(dir.path(), extra);
    let server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .unwrap();
    (dir, server)
}

/// The same, with the server run in-process (`support::app`).
pub(super) async fn serve_in_process(api: &KubeApi, extra: &str) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().unwrap();
    let config = api.write_config(dir.path(), extra);
    let server = tokio::task::spawn_blocking(move || Running::start(&config))
        .await
        .unwrap();
    (dir, server)
}

/// One A question over UDP; `None` if no answer came within 2 s.
pub(super) async fn try_a(dns: SocketAddr, host: &str) -> Option<(ResponseCode, Vec<String>)> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let message = query(&fqdn(host), RecordType::A);
    socket
        .send_to(&crate::support::dns::bytes(&message), dns)
        .await
        .ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    let m = crate::support::dns::parse(&buf[..n]);
    Some((m.metadata.response_code, addresses(&m.answers)))
}

pub(super) async fn a(server: &impl Serving, host: &str) -> (ResponseCode, Vec<String>) {
    let m = udp(server.dns(), &query(&fqdn(host), RecordType::A)).await;
    (m.metadata.response_code, addresses(&m.answers))
}

/// Polls until `host` answers exactly `want`, for at most `limit`.
pub(super) async fn until_a(server: &impl Serving, host: &str, want: &[&str], limit: Duration) {
    let want = ips(want);
    let got = eventually(limit, || async {
        let (rcode, got) = a(server, host).await;
        (rcode == ResponseCode::NoError && got == want).then_some(())
    })
    .await;
    if got.is_none() {
        let last = a(server, host).await;
        panic!(
            "{host} never answered {want:?} within {limit:?}; last {last:?}; log:\n{}",
            server.log_text()
        );
    }
}

pub(super) async fn until_rcode(
    server: &impl Serving,
    host: &str,
    want: ResponseCode,
    limit: Duration,
) {
    let got = eventually(limit, || async {
        (a(server, host).await.0 == want).then_some(())
    })
    .await;
    assert!(
        got.is_some(),
        "{host} never answered {want:?} within {limit:?}; log:\n{}",
        server.log_text()
    );
}

/// A metric's value from `/metrics` (the first sample of that name).
pub(super) fn metric(server: &impl Serving, name: &str) -> f64 {
    let (status, text) = server.get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

pub(super) fn count_log(server: &Server, needle: &str) -> usize {
    server.log().iter().filter(|l| l.contains(needle)).count()
}

/// svc `web` (pods web-0, web-1), a ClusterIP service `api`, a set `web`.
pub(super) fn populate(api: &KubeApi, ns: &str) {
    api.apply(objects::service(ns, "web", true));
    api.apply(objects::service(ns, "api", false));
    api.apply(objects::slice(
        ns,
        "web-abc",
        "web",
        &[
            ("10.1.0.1", Some("web-0"), true),
            ("10.1.0.2", Some("web-1"), true),
        ],
    ));
    api.apply(objects::slice(
        ns,
        "api-abc",
        "api",
        &[("10.1.9.9", None, true)],
    ));
    api.apply(objects::stateful_set(ns, "web", "web", 3));
}

pub(super) const SYNC: Duration = Duration::from_secs(20);
