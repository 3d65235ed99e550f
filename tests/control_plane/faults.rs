//! The API server taken away: held with SIGSTOP for 30 s (connections stay
//! open, nothing answers), restarted, and restarted after an etcd
//! compaction so that every watch has to relist. A client asks throughout
//! and every answer is checked against the whole expected zone. And the
//! fixture's own recovery: a namespace made while the controller-manager
//! was down takes pods once [`pods_admitted`] says so.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::fixture::{
    MANAGER, apply_value, create_namespace, dynamic_api, exclusive, fixture, pods_admitted,
    test_namespace, until,
};
use crate::objects::{ensure_node, headless, pod, slice, stateful_set};
use crate::processes::{Down, Stopped, etcd_compact, etcd_revision, restart_api_server, settle};
use crate::*;

/// Asks every (name, expected reply) pair over and over until stopped;
/// returns each answer that differed (or never came).
fn querier(
    dns: std::net::SocketAddr,
    expected: Vec<(String, Reply)>,
    stop: Arc<AtomicBool>,
    asked: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Vec<String>> {
    tokio::spawn(async move {
        let mut wrong = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            for (name, want) in &expected {
                let got = try_ask(dns, name, RecordType::A).await;
                if got.as_ref() != Some(want) {
                    wrong.push(format!("{name}: {got:?}"));
                }
                asked.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        wrong
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_stopped_for_30s_loses_no_answer() {
    let test = "an_api_server_stopped_for_30s_loses_no_answer";
    let Some(fx) = fixture(test) else {
        return;
    };
    let Some(dir) = fx.local(test) else {
        return;
    };
    let _exclusive = exclusive().await;
    let outage = Duration::from_secs(
        std::env::var("HEADLESS_DNS_OUTAGE_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    let client = fx.client().await;
    let ns = test_namespace(&client, "outage").await;
    apply_value(&client, &headless(&ns, "web", None, json!({}))).await;
    let endpoints = [
        ("10.250.6.1", Some("web-0"), true),
        ("10.250.6.2", Some("web-1"), true),
    ];
    apply_value(&client, &slice(&ns, "web-a", "web", &endpoints)).await;
    let server = serve(fx, &format!("    namespaces: [{ns}]\n")).await;
    let web = format!("web.{ns}");
    let whole = until_addresses(&server, &web, &["10.250.6.1", "10.250.6.2"]).await;
    let one = until_addresses(&server, &format!("web-0.{web}"), &["10.250.6.1"]).await;
    until(CHANGE, "staleness 0 while every watch streams", || async {
        let stale = metric(&server, "headless_dns_source_stale_seconds");
        if stale <= 1.0 {
            Ok(())
        } else {
            Err(format!("{stale}"))
        }
    })
    .await;

    let held = Stopped::new(dir, "kube-apiserver");
    let down = Instant::now();
    let (mut checks, mut wrong, mut stale) = (0, Vec::new(), Vec::new());
    while down.elapsed() < outage {
        for (name, want) in [(&web, &whole), (&format!("web-0.{web}"), &one)] {
            let got = try_ask(server.dns, &svc(name), RecordType::A).await;
            if got.as_ref() != Some(want) {
                wrong.push(format!("{:?} in: {name}: {got:?}", down.elapsed()));
            }
        }
        let ready = server.http_get("/readyz").0;
        if ready != 200 {
            wrong.push(format!("{:?} in: /readyz {ready}", down.elapsed()));
        }
        stale.push(metric(&server, "headless_dns_source_stale_seconds"));
        checks += 1;
        // Pacing, not waiting for anything: about ten rounds a second.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(held);
    assert!(
        wrong.is_empty(),
        "while the API server was stopped: {wrong:?}"
    );
    assert!(
        checks as f64 >= outage.as_secs_f64() * 2.0,
        "only {checks} checks"
    );
    eprintln!(
        "staleness over a {outage:?} SIGSTOP, sampled: first {:?}, last {:?}",
        stale.first(),
        stale.last()
    );
    let last = *stale.last().unwrap();
    assert!(
        last >= outage.as_secs_f64() - 10.0,
        "headless_dns_source_stale_seconds was {last} after {outage:?} with the API server stopped \
         (it must grow while the API server does not answer, even with the watch connections open); \
         samples: {stale:?}"
    );

    // Resumed: a change made now is served.
    let endpoints = [
        ("10.250.6.9", Some("web-0"), true),
        ("10.250.6.2", Some("web-1"), true),
    ];
    apply_value(&client, &slice(&ns, "web-a", "web", &endpoints)).await;
    until_a(
        &server,
        &format!("web-0.{web}"),
        Duration::from_secs(90),
        "the change after the outage",
        |r| r.addresses == ["10.250.6.9"],
    )
    .await;
    until(CHANGE, "staleness back to 0", || async {
        let stale = metric(&server, "headless_dns_source_stale_seconds");
        if stale <= 1.0 {
            Ok(())
        } else {
            Err(format!("{stale}"))
        }
    })
    .await;
    assert_eq!(server.http_get("/readyz").0, 200);
    settle(dir, &client).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_and_a_relist_after_compaction_never_show_a_half_empty_zone() {
    let test = "restarts_and_a_relist_after_compaction_never_show_a_half_empty_zone";
    let Some(fx) = fixture(test) else {
        return;
    };
    let Some(dir) = fx.local(test) else {
        return;
    };
    let _exclusive = exclusive().await;
    let client = fx.client().await;
    let ns = test_namespace(&client, "relist").await;
    let other = test_namespace(&client, "elsewhere").await;
    let mut expected = Vec::new();
    for (service, base) in [("web", 10), ("api", 20), ("cache", 30)] {
        apply_value(&client, &headless(&ns, service, None, json!({}))).await;
        let ips: Vec<String> = (1..=3).map(|i| format!("10.250.7.{}", base + i)).collect();
        let eps: Vec<(&str, Option<&str>, bool)> =
            ips.iter().map(|ip| (ip.as_str(), None, true)).collect();
        apply_value(&client, &slice(&ns, &format!("{service}-a"), service, &eps)).await;
        expected.push((svc(&format!("{service}.{ns}")), ips));
    }
    apply_value(&client, &stateful_set(&ns, "web", "web", 2)).await;
    let server = serve(fx, &format!("    namespaces: [{ns}]\n")).await;
    let mut expected: Vec<(String, Reply)> = {
        let mut out = Vec::new();
        for (name, ips) in expected {
            let host = name.trim_end_matches(".svc.cluster.local.").to_owned();
            let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
            out.push((name, until_addresses(&server, &host, &ips).await));
        }
        out
    };
    // A declared ordinal without a pod address: NODATA, never NXDOMAIN.
    let declared = until_nodata(&server, &format!("web-1.web.{ns}")).await;
    expected.push((svc(&format!("web-1.web.{ns}")), declared));
    let missing = a(&server, &format!("nope.{ns}")).await;
    assert_eq!(missing.rcode, ResponseCode::NXDomain);
    expected.push((svc(&format!("nope.{ns}")), missing));

    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicUsize::new(0));
    let asking = querier(server.dns, expected, stop.clone(), asked.clone());

    // 1. A plain restart; then a change proves the watches are back.
    let away = restart_api_server(dir, &client).await;
    eprintln!("API server away for {away:?}");
    apply_value(&client, &headless(&ns, "probe1", None, json!({}))).await;
    apply_value(
        &client,
        &slice(&ns, "probe1-a", "probe1", &[("10.250.7.91", None, true)]),
    )
    .await;
    until_addresses(&server, &format!("probe1.{ns}"), &["10.250.7.91"]).await;

    // 2. Writes the server's watches do not see (another namespace) move
    // etcd past their resource versions; compacting there and restarting
    // the API server (its watch cache starts afresh at the compacted
    // revision) leaves every watch resuming from history that is gone:
    // 410, and a relist.
    let expired_before = count_log(&server, "410 Gone");
    for i in 0..5 {
        apply_value(
            &client,
            &headless(&other, &format!("noise{i}"), None, json!({})),
        )
        .await;
    }
    let revision = etcd_revision(dir);
    etcd_compact(dir, revision);
    let away = restart_api_server(dir, &client).await;
    eprintln!("compacted at revision {revision}; API server away for {away:?}");
    apply_value(&client, &headless(&ns, "probe2", None, json!({}))).await;
    apply_value(
        &client,
        &slice(&ns, "probe2-a", "probe2", &[("10.250.7.92", None, true)]),
    )
    .await;
    until_addresses(&server, &format!("probe2.{ns}"), &["10.250.7.92"]).await;
    let relisted = until(
        CHANGE,
        "a 410 Gone and a relist after the compaction",
        || async {
            let n = count_log(&server, "410 Gone");
            if n > expired_before {
                Ok(n - expired_before)
            } else {
                Err(format!("{n} 410s in all"))
            }
        },
    )
    .await;
    eprintln!("{relisted} watches relisted after 410 Gone");

    // Keep asking a little past the relist.
    let target = asked.load(Ordering::Relaxed) + 50;
    until(CHANGE, "50 more answers", || async {
        let n = asked.load(Ordering::Relaxed);
        if n >= target {
            Ok(())
        } else {
            Err(format!("{n}"))
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let wrong = asking.await.unwrap();
    let total = asked.load(Ordering::Relaxed);
    assert!(
        wrong.is_empty(),
        "{} of {total} answers wrong: {wrong:?}",
        wrong.len()
    );
    assert!(total >= 200, "only {total} answers checked");
    assert_eq!(server.http_get("/readyz").0, 200);
    settle(dir, &client).await;
}

/// A namespace made while the controller-manager is down refuses pods
/// until its `default` ServiceAccount exists, and takes one once
/// [`pods_admitted`] returns, asked as soon as the controller-manager is
/// started again: what [`settle`] does after a fault test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_takes_a_pod_once_admitted_after_a_controller_manager_restart() {
    let test = "a_namespace_takes_a_pod_once_admitted_after_a_controller_manager_restart";
    let Some(fx) = fixture(test) else {
        return;
    };
    let Some(dir) = fx.local(test) else {
        return;
    };
    let _exclusive = exclusive().await;
    let client = fx.client().await;
    let ns = "hdt-admitted";
    ensure_node(&client).await;
    let first = pod(ns, "first-0", json!({"app": "first"}), None);
    let controller = Down::new(dir, "kube-controller-manager");
    create_namespace(&client, ns).await;
    let refused = dynamic_api(&client, &first)
        .patch(
            "first-0",
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&first),
        )
        .await;
    match refused {
        Err(kube::Error::Api(status)) => assert!(
            status.code == 403 && status.message.contains("service account"),
            "refused for another reason: {status:?}"
        ),
        other => panic!("a pod admitted without its ServiceAccount: {other:?}"),
    }
    drop(controller);
    pods_admitted(&client, ns).await;
    apply_value(&client, &first).await;
}
