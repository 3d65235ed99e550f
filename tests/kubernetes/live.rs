//! The real binary against the test API server (`crate::support::kube_api`),
//! asserting on DNS answers, `/readyz` and `/metrics`: initial sync, an
//! outage, expired watches, malformed events, paging, scope, legacy
//! Endpoints, startup errors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::dns::{addresses, query, udp};
use crate::support::kube_api::{KubeApi, Resource, objects};
use crate::support::server::{BIN, Server, eventually};
use crate::{fqdn, ips};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

/// Writes a config for `api` (with `extra` lines under `source.kubernetes`)
/// and starts the binary on it.
async fn serve(api: &KubeApi, extra: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    api.write_kubeconfig(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("source:\n  kubernetes:\n    kubeconfig: kubeconfig.yaml\n{extra}"),
    )
    .unwrap();
    let server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .unwrap();
    (dir, server)
}

/// One A question over UDP; `None` if no answer came within 2 s.
async fn try_a(dns: SocketAddr, host: &str) -> Option<(ResponseCode, Vec<String>)> {
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

async fn a(server: &Server, host: &str) -> (ResponseCode, Vec<String>) {
    let m = udp(server.dns, &query(&fqdn(host), RecordType::A)).await;
    (m.metadata.response_code, addresses(&m.answers))
}

/// Polls until `host` answers exactly `want`, for at most `limit`.
async fn until_a(server: &Server, host: &str, want: &[&str], limit: Duration) {
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
            server.log().join("\n")
        );
    }
}

async fn until_rcode(server: &Server, host: &str, want: ResponseCode, limit: Duration) {
    let got = eventually(limit, || async {
        (a(server, host).await.0 == want).then_some(())
    })
    .await;
    assert!(
        got.is_some(),
        "{host} never answered {want:?} within {limit:?}; log:\n{}",
        server.log().join("\n")
    );
}

/// A metric's value from `/metrics` (the first sample of that name).
fn metric(server: &Server, name: &str) -> f64 {
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

fn count_log(server: &Server, needle: &str) -> usize {
    server.log().iter().filter(|l| l.contains(needle)).count()
}

/// svc `web` (pods web-0, web-1), a ClusterIP service `api`, a set `web`.
fn populate(api: &KubeApi, ns: &str) {
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

const SYNC: Duration = Duration::from_secs(20);

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
    let (_dir, server) = serve(&api, "").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_read_page_by_page_to_the_end() {
    let api = KubeApi::start().await;
    // More than the watcher's page of 500.
    for i in 0..620 {
        let name = format!("s{i}");
        api.apply(objects::service("bulk", &name, true));
        let ip = format!("10.2.{}.{}", i / 250, i % 250 + 1);
        api.apply(objects::slice(
            "bulk",
            &format!("{name}-1"),
            &name,
            &[(ip.as_str(), None, true)],
        ));
    }
    let (_dir, server) = serve(&api, "").await;
    until_a(&server, "s0.bulk", &["10.2.0.1"], SYNC).await;
    assert_eq!(a(&server, "s619.bulk").await.1, ips(&["10.2.2.120"]));
    assert!(
        api.served()
            .iter()
            .any(|s| s.path == "/api/v1/services" && s.query.contains_key("continue")),
        "no second page was asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_label_selector_limit_what_is_watched() {
    let api = KubeApi::start().await;
    let on = [("dns", "on")];
    for ns in ["a", "b"] {
        api.apply(objects::service_with_labels(ns, "picked", true, &on));
        api.apply(objects::slice_with_labels(
            ns,
            "picked-1",
            "picked",
            &[("10.3.0.1", None, true)],
            &on,
        ));
        api.apply(objects::service(ns, "unlabelled", true));
        api.apply(objects::slice(
            ns,
            "unlabelled-1",
            "unlabelled",
            &[("10.3.0.2", None, true)],
        ));
    }
    api.apply(objects::stateful_set("a", "picked", "picked", 2));
    let (_dir, server) = serve(
        &api,
        "    namespaces: [a]\n    label_selector: dns=on\n    legacy_endpoints: true\n",
    )
    .await;
    until_a(&server, "picked.a", &["10.3.0.1"], SYNC).await;
    assert_eq!(a(&server, "unlabelled.a").await.0, ResponseCode::NXDomain);
    assert_eq!(a(&server, "picked.b").await.0, ResponseCode::NXDomain);
    // StatefulSets are not filtered by the selector.
    assert_eq!(
        a(&server, "picked-1.picked.a").await,
        (ResponseCode::NoError, vec![])
    );
    let watches: Vec<_> = api.served().into_iter().filter(|s| s.watch).collect();
    assert!(watches.iter().all(|s| s.path.contains("/namespaces/a/")));
    for plural in ["services", "endpointslices", "endpoints", "statefulsets"] {
        let w = watches
            .iter()
            .find(|s| s.path.ends_with(&format!("/{plural}")))
            .unwrap_or_else(|| panic!("no watch of {plural}"));
        let selector = w.query.get("labelSelector").map(String::as_str);
        let want = (plural != "statefulsets").then_some("dns=on");
        assert_eq!(selector, want, "{plural}");
    }

    // Removing the label takes the service out (the API server sends the
    // watch a DELETED).
    api.apply(objects::service("a", "picked", true));
    until_rcode(
        &server,
        "picked.a",
        ResponseCode::NXDomain,
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_endpoints_are_served_when_switched_on() {
    let api = KubeApi::start().await;
    api.apply(objects::service("demo", "legacy", true));
    api.apply(objects::endpoints(
        "demo",
        "legacy",
        &[("10.4.0.1", Some("legacy-0"), true)],
    ));
    let (_dir, server) = serve(&api, "    legacy_endpoints: true\n").await;
    until_a(&server, "legacy-0.legacy.demo", &["10.4.0.1"], SYNC).await;
    api.apply(objects::endpoints(
        "demo",
        "legacy",
        &[("10.4.0.2", Some("legacy-0"), true)],
    ));
    until_a(
        &server,
        "legacy-0.legacy.demo",
        &["10.4.0.2"],
        Duration::from_secs(5),
    )
    .await;
}

#[test]
fn a_missing_kubeconfig_is_a_startup_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "source:\n  kubernetes:\n    kubeconfig: nowhere/kubeconfig.yaml\n",
    )
    .unwrap();
    for args in [
        vec!["check-config".to_owned(), config.display().to_string()],
        vec![
            "serve".to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--admin".to_owned(),
            "127.0.0.1:0".to_owned(),
        ],
    ] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("nowhere/kubeconfig.yaml"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_summarises_a_kubernetes_source() {
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    api.write_kubeconfig(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "source:\n  kubernetes:\n    kubeconfig: kubeconfig.yaml\n    namespaces: [a, b]\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("services, endpointslices, statefulsets"),
        "{stdout}"
    );
    assert!(stdout.contains("namespaces a, b"), "{stdout}");
    assert!(
        api.served().is_empty(),
        "check-config must not call the API server"
    );
}
