//! The initial sync: answers, a changed IP served promptly with its
//! programming latency measured, a deleted Service gone at once (the real
//! binary, because "synced" must be logged exactly once); and before the
//! first list, SERVFAIL and not ready (in-process).

use std::time::Duration;

use super::*;
use crate::ips;
use crate::support::kube_api::{KubeApi, Resource, objects};
use crate::support::server::eventually;
use hickory_proto::op::ResponseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_answers_and_an_ip_change_is_served_promptly() {
    let api = KubeApi::start().await;
    populate(&api, "demo");
    api.apply(objects::endpoints(
        "demo",
        "legacy",
        &[("10.1.5.5", None, true)],
    ));
    api.apply(objects::service("demo", "legacy", true));
    let (_dir, server) = serve(&api, "").await;

    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    assert_eq!(server.http_get("/readyz").0, 200);
    assert_eq!(a(&server, "web-0.web.demo").await.1, ips(&["10.1.0.1"]));
    let declared = a(&server, "web-2.web.demo").await;
    assert_eq!(
        declared,
        (ResponseCode::NoError, vec![]),
        "declared ordinal"
    );
    // ClusterIP: the cluster IP, not the slice's endpoint.
    assert_eq!(a(&server, "api.demo").await.1, ips(&["10.96.0.10"]));
    assert_eq!(
        a(&server, "legacy.demo").await.0,
        ResponseCode::NXDomain,
        "v1 Endpoints are read only when legacy_endpoints is on"
    );
    assert!(count_log(&server, "kubernetes source synced") == 1);
    // Default settings: cluster-wide paths, pages, no Endpoints watch.
    let served = api.served();
    assert!(
        served
            .iter()
            .any(|s| s.path == "/api/v1/services" && s.watch)
    );
    // Pages of 500, and one list of a single Service at the start: the API
    // server's revision, where the SOA serial starts.
    let limit = |s: &&crate::support::kube_api::Served| s.query.get("limit").cloned();
    let lists: Vec<_> = served.iter().filter(|s| !s.watch).collect();
    assert!(
        lists
            .iter()
            .all(|s| matches!(limit(s).as_deref(), Some("500" | "1")))
    );
    assert_eq!(
        lists
            .iter()
            .filter(|s| limit(s).as_deref() == Some("1"))
            .count(),
        1,
        "{lists:?}"
    );
    assert!(!served.iter().any(|s| s.path.ends_with("/endpoints")));

    // web-0 restarts with a new IP.
    let before = metric(&server, "headless_dns_programming_latency_seconds_count");
    api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[
            ("10.1.0.7", Some("web-0"), true),
            ("10.1.0.2", Some("web-1"), true),
        ],
    ));
    until_a(
        &server,
        "web-0.web.demo",
        &["10.1.0.7"],
        Duration::from_secs(5),
    )
    .await;
    // Programming latency (watch event in → answer visible) is measured by
    // the server; every change so far took under a second.
    let count = metric(&server, "headless_dns_programming_latency_seconds_count");
    assert!(count > before, "{before} → {count}");
    let (_, text) = server.http_get("/metrics");
    let under_1s = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"headless_dns_programming_latency_seconds_bucket{le="1.0"} "#)
        })
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no 1 s bucket in:\n{text}"));
    assert_eq!(under_1s, count, "{text}");

    // A deleted service goes at once.
    api.delete(Resource::Services, "demo", "web");
    until_rcode(
        &server,
        "web-0.web.demo",
        ResponseCode::NXDomain,
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_first_list_it_answers_servfail_and_is_not_ready() {
    let api = KubeApi::start().await;
    populate(&api, "demo");
    api.hold_lists();
    let (_dir, server) = serve_in_process(&api, "").await;
    // Whatever the server is doing, it must not claim a name is missing.
    for _ in 0..5 {
        assert_eq!(a(&server, "web.demo").await.0, ResponseCode::ServFail);
        assert_eq!(a(&server, "nope.demo").await.0, ResponseCode::ServFail);
        assert_eq!(server.http_get("/readyz").0, 503);
        assert_eq!(server.http_get("/healthz").0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It did ask, and is waiting for the answer.
    let asked = eventually(SYNC, || async { (api.lists_received() >= 3).then_some(()) }).await;
    assert!(asked.is_some(), "the source never listed");
    assert!(api.served().is_empty(), "a list was answered while held");
    assert_eq!(a(&server, "web.demo").await.0, ResponseCode::ServFail);
    api.release_lists();
    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    assert_eq!(server.http_get("/readyz").0, 200);
    assert_eq!(a(&server, "nope.demo").await.0, ResponseCode::NXDomain);
}
