//! The API server going away and coming back, against the real binary: an
//! outage keeps the last state served (one warning per watch, not one per
//! retry, counted in the log), an expired watch relists without failing a
//! query (410 is routine: no warning), and a malformed watch event loses no
//! answer (a warning, then the watch restored).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::ips;
use crate::support::kube_api::{KubeApi, Resource, objects};
use crate::support::server::eventually;
use hickory_proto::op::ResponseCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_the_api_server_keeps_the_last_state_served() {
    let outage: u64 = std::env::var("HEADLESS_DNS_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let api = KubeApi::start().await;
    // No bookmarks to speak of: a quiet watch must count as current because
    // it is open, not because bytes keep arriving.
    api.set_bookmark_interval(Duration::from_secs(3600));
    populate(&api, "demo");
    let (_dir, server) = serve(&api, "").await;
    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stale = metric(&server, "headless_dns_source_stale_seconds");
    assert!(stale <= 1.0, "stale {stale} s while every watch streams");

    api.stop().await;
    let down = Instant::now();
    let mut checks = 0;
    let mut stale = 0.0;
    while down.elapsed() < Duration::from_secs(outage) {
        assert_eq!(
            a(&server, "web.demo").await,
            (ResponseCode::NoError, ips(&["10.1.0.1", "10.1.0.2"]))
        );
        assert_eq!(a(&server, "web-1.web.demo").await.1, ips(&["10.1.0.2"]));
        assert_eq!(server.http_get("/readyz").0, 200, "still ready");
        stale = metric(&server, "headless_dns_source_stale_seconds");
        checks += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(checks >= 8, "only {checks} checks in {outage} s");
    // Whole seconds: after `outage` s down, at least outage - 2.
    assert!(
        stale >= (outage as f64 - 2.0).max(1.0),
        "staleness {stale} after {outage} s down"
    );
    // One warning per watch, not one per retry.
    let warned = count_log(&server, "watch failed");
    assert!(
        (1..=3).contains(&warned),
        "{warned} warnings; log:\n{}",
        server.log().join("\n")
    );

    // A change made while the server was unreachable arrives after it.
    api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[("10.1.0.8", Some("web-0"), true)],
    ));
    api.restart().await;
    // The watcher's backoff grows to 30 s at most.
    until_a(&server, "web.demo", &["10.1.0.8"], Duration::from_secs(60)).await;
    let fresh = eventually(Duration::from_secs(10), || async {
        (metric(&server, "headless_dns_source_stale_seconds") <= 1.0).then_some(())
    })
    .await;
    assert!(fresh.is_some(), "still stale after reconnecting");
    let restored = eventually(Duration::from_secs(10), || async {
        (count_log(&server, "watch restored") >= warned).then_some(())
    })
    .await;
    assert!(restored.is_some(), "log:\n{}", server.log().join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_watch_relists_without_failing_a_query() {
    let api = KubeApi::start().await;
    populate(&api, "demo");
    api.apply(objects::service("demo", "old", true));
    api.apply(objects::slice(
        "demo",
        "old-1",
        "old",
        &[("10.1.3.1", None, true)],
    ));
    let (_dir, server) = serve(&api, "").await;
    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    until_a(&server, "old.demo", &["10.1.3.1"], SYNC).await;
    let lists_before = api.served().iter().filter(|s| !s.watch).count();

    // Ask continuously while the source relists.
    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicUsize::new(0));
    let dns = server.dns;
    let querier = {
        let (stop, asked) = (stop.clone(), asked.clone());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for (host, want) in [
                    ("web.demo", ips(&["10.1.0.1", "10.1.0.2"])),
                    ("web-0.web.demo", ips(&["10.1.0.1"])),
                ] {
                    let got = try_a(dns, host).await;
                    if got != Some((ResponseCode::NoError, want.clone())) {
                        failures.push(format!("{host}: {got:?}"));
                    }
                    asked.fetch_add(1, Ordering::Relaxed);
                }
            }
            failures
        })
    };

    // While no watch can start: end the open ones, change things, and
    // compact history so that resuming from the old version is 410 Gone.
    api.hold_watches();
    api.drop_watches();
    api.delete(Resource::EndpointSlices, "demo", "old-1");
    api.apply(objects::service("demo", "new", true));
    api.apply(objects::slice(
        "demo",
        "new-1",
        "new",
        &[("10.1.4.1", None, true)],
    ));
    api.compact();
    api.release_watches();

    until_a(&server, "new.demo", &["10.1.4.1"], SYNC).await;
    until_rcode(&server, "old.demo", ResponseCode::NXDomain, SYNC).await;
    // Keep asking a little past the relist.
    let target = asked.load(Ordering::Relaxed) + 20;
    let enough = eventually(Duration::from_secs(10), || async {
        (asked.load(Ordering::Relaxed) >= target).then_some(())
    })
    .await;
    assert!(enough.is_some());
    stop.store(true, Ordering::Relaxed);
    let failures = querier.await.unwrap();
    assert!(failures.is_empty(), "failed queries: {failures:?}");
    assert!(asked.load(Ordering::Relaxed) >= 40);
    assert!(api.gone_served() >= 1, "no watch was answered 410");
    let lists_after = api.served().iter().filter(|s| !s.watch).count();
    assert!(lists_after > lists_before, "no relist");
    assert_eq!(server.http_get("/readyz").0, 200);
    assert_eq!(count_log(&server, "watch failed"), 0, "410 is routine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_watch_event_loses_no_answer_and_the_watch_resumes() {
    let api = KubeApi::start().await;
    populate(&api, "demo");
    let (_dir, server) = serve(&api, "").await;
    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    let watching = eventually(SYNC, || async { (api.open_watches() >= 3).then_some(()) }).await;
    assert!(watching.is_some(), "the watches never opened");
    // Not JSON at all, then JSON of the wrong shape (a port that is text).
    for (i, line) in [
        "<html>502 Bad Gateway</html>",
        r#"{"type":"MODIFIED","object":{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-abc","namespace":"demo"},"addressType":"IPv4","endpoints":[],"ports":[{"port":"eighty"}]}}"#,
    ]
    .into_iter()
    .enumerate()
    {
        assert!(api.send_raw(Resource::EndpointSlices, line) >= 1, "no watch got {line}");
        // Each is a watch failure, logged once, and the watch comes back;
        // the last good state keeps being served, all of it, meanwhile.
        let back = eventually(SYNC, || async {
            assert_eq!(
                a(&server, "web.demo").await,
                (ResponseCode::NoError, ips(&["10.1.0.1", "10.1.0.2"]))
            );
            assert_eq!(server.http_get("/readyz").0, 200);
            let failed = count_log(&server, "watch failed");
            let restored = count_log(&server, "watch restored");
            (failed == i + 1 && restored == i + 1 && api.open_watches() >= 3).then_some(())
        })
        .await;
        assert!(back.is_some(), "after {line}:\n{}", server.log().join("\n"));
    }
    // The watch resumes: the next real change is served.
    api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[("10.1.0.9", Some("web-0"), true)],
    ));
    until_a(&server, "web.demo", &["10.1.0.9"], Duration::from_secs(60)).await;
    assert_eq!(server.http_get("/healthz").0, 200);
}
