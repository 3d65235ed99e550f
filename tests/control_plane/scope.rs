//! What the server is allowed and configured to see: the namespaces and
//! label selector of `config/kubernetes.yaml`'s shape, against the real
//! endpoint controllers (which copy a Service's labels onto its slices),
//! and a ServiceAccount the RBAC does not bind.

use std::time::Duration;

use hickory_proto::op::ResponseCode;
use serde_json::json;

use crate::fixture::{apply_value, shared_test, test_namespace, token, until, write_kubeconfig};
use crate::objects::{ensure_node, headless, pod, set_pod_status, stateful_set};
use crate::*;

/// A headless Service `name` selecting one ready pod `NAME-p` at `ip`.
async fn served_by_a_pod(
    client: &kube::Client,
    ns: &str,
    name: &str,
    labels: serde_json::Value,
    ip: &str,
) {
    let selector = json!({"app": name});
    apply_value(client, &headless(ns, name, Some(selector.clone()), labels)).await;
    let pod_name = format!("{name}-p");
    apply_value(client, &pod(ns, &pod_name, selector, None)).await;
    set_pod_status(client, ns, &pod_name, ip, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_label_selector_decide_what_is_served() {
    let Some((fx, client, a_ns, _shared)) = shared_test(
        "namespaces_and_label_selector_decide_what_is_served",
        "scope-a",
    )
    .await
    else {
        return;
    };
    ensure_node(&client).await;
    let b_ns = test_namespace(&client, "scope-b").await;
    let c_ns = test_namespace(&client, "scope-c").await;
    let on = json!({"dns": "on"});
    served_by_a_pod(&client, &a_ns, "picked", on.clone(), "10.250.8.1").await;
    served_by_a_pod(&client, &a_ns, "plain", json!({}), "10.250.8.2").await;
    served_by_a_pod(&client, &b_ns, "picked", on.clone(), "10.250.8.3").await;
    served_by_a_pod(&client, &c_ns, "picked", on.clone(), "10.250.8.4").await;
    // Sets are not filtered by the selector: they only add names under a
    // Service that is served.
    apply_value(&client, &stateful_set(&a_ns, "member", "picked", 2)).await;
    let server = serve(
        fx,
        &format!(
            "    namespaces: [{a_ns}, {b_ns}]\n    label_selector: dns=on\n    legacy_endpoints: true\n"
        ),
    )
    .await;
    until_addresses(&server, &format!("picked.{a_ns}"), &["10.250.8.1"]).await;
    until_addresses(&server, &format!("picked.{b_ns}"), &["10.250.8.3"]).await;
    until_nodata(&server, &format!("member-1.picked.{a_ns}")).await;
    // Unlabelled, or outside the namespaces: not served. The endpoints do
    // exist (the same controllers serve them to the picked ones).
    assert_eq!(
        a(&server, &format!("plain.{a_ns}")).await.rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        a(&server, &format!("picked.{c_ns}")).await.rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        a(&server, &format!("member-2.picked.{a_ns}")).await.rcode,
        ResponseCode::NXDomain
    );

    // The label taken off: the API server ends it in the selected watch
    // (a DELETED event), and the service goes.
    apply_value(
        &client,
        &headless(&a_ns, "picked", Some(json!({"app": "picked"})), json!({})),
    )
    .await;
    until_rcode(&server, &format!("picked.{a_ns}"), ResponseCode::NXDomain).await;
    // Labelled: served, with the controller's slice (which now carries it).
    apply_value(
        &client,
        &headless(&a_ns, "plain", Some(json!({"app": "plain"})), on),
    )
    .await;
    until_addresses(&server, &format!("plain.{a_ns}"), &["10.250.8.2"]).await;
    assert_eq!(count_log(&server, "cannot list"), 0, "{:?}", server.log());
}

/// The server's own log lines (kube's client logs its errors too).
const OWN: &str = "headless_dns::source::kubernetes";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_the_rbac_forbids_is_a_clear_error_and_not_ready() {
    let Some((fx, client, ns, _shared)) = shared_test(
        "a_watch_the_rbac_forbids_is_a_clear_error_and_not_ready",
        "unbound",
    )
    .await
    else {
        return;
    };
    // A ServiceAccount that no role is bound to.
    apply_value(
        &client,
        &json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "unbound", "namespace": ns}}),
    )
    .await;
    let kubeconfig = fx.work.join(format!("{ns}.kubeconfig"));
    write_kubeconfig(
        &fx.admin,
        &token(&client, &ns, "unbound").await,
        &kubeconfig,
    );
    let server = start(&kubeconfig, &format!("    namespaces: [{ns}]\n"), "").await;
    let line = until(SYNC, "the forbidden list logged", || async {
        server
            .log()
            .into_iter()
            .find(|l| l.contains(OWN) && l.contains("cannot list: "))
            .ok_or_else(|| server.log().join("\n"))
    })
    .await;
    assert!(line.contains("forbidden"), "{line}");
    assert!(
        line.contains("deploy/rbac.yaml"),
        "no hint at the fix: {line}"
    );
    assert!(
        line.contains(&format!("system:serviceaccount:{ns}:unbound")),
        "{line}"
    );
    // Not ready, and no false answers, for as long as it is forbidden.
    for _ in 0..10 {
        assert_eq!(server.http_get("/readyz").0, 503);
        assert_eq!(
            a(&server, &format!("web.{ns}")).await.rcode,
            ResponseCode::ServFail
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.http_get("/healthz").0, 200);
    // One warning per watch, not one per retry. (The starting-revision
    // read warns once too; its API error also says "cannot list resource",
    // so the watches' own wording is matched: "cannot list: ".)
    let warned = server
        .log()
        .iter()
        .filter(|l| l.contains(OWN) && l.contains("cannot list: "))
        .count();
    assert!(
        (1..=3).contains(&warned),
        "{warned} warnings:\n{}",
        server
            .log()
            .iter()
            .filter(|l| l.contains(OWN))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
