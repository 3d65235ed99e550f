//! What is read, against the server run in-process (`support::app`):
//! lists page by page to the end, only the configured namespaces and label
//! selector watched, and legacy v1 Endpoints when switched on.

use std::time::Duration;

use super::*;
use crate::ips;
use crate::support::kube_api::{KubeApi, objects};
use hickory_proto::op::ResponseCode;

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
    let (_dir, server) = serve_in_process(&api, "").await;
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
    let (_dir, server) = serve_in_process(
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
    // The zone answers once every resource has listed; a watch opens
    // after its list, so it may still be on its way: polled, bounded.
    let plurals = ["services", "endpointslices", "endpoints", "statefulsets"];
    let watching = |watches: &[crate::support::kube_api::Served], plural: &str| {
        watches
            .iter()
            .any(|s| s.path.ends_with(&format!("/{plural}")))
    };
    let deadline = std::time::Instant::now() + SYNC;
    let watches = loop {
        let watches: Vec<_> = api.served().into_iter().filter(|s| s.watch).collect();
        let missing: Vec<&str> = plurals
            .into_iter()
            .filter(|p| !watching(&watches, p))
            .collect();
        if missing.is_empty() {
            break watches;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no watch of {missing:?} within {SYNC:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(watches.iter().all(|s| s.path.contains("/namespaces/a/")));
    for plural in plurals {
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
    let (_dir, server) = serve_in_process(&api, "    legacy_endpoints: true\n").await;
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
