//! Headless Services served from EndpointSlices: slices written by hand (as
//! any other endpoint manager would), and slices the real EndpointSlice
//! controller publishes from pods whose status the suite writes as the
//! kubelet.

use std::time::Instant;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::fixture::{apply_value, shared_test};
use crate::objects::{delete_value, ensure_node, headless, pod, set_pod_status, slice};
use crate::*;

/// What the API server's EndpointSlices of `ns/service` hold: each
/// address with its readiness, or the error of the list.
async fn published(client: &Client, ns: &str, service: &str) -> String {
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let listed = ListParams::default().labels(&format!("kubernetes.io/service-name={service}"));
    match slices.list(&listed).await {
        Ok(list) => {
            let endpoints: Vec<String> = list
                .items
                .iter()
                .flat_map(|s| &s.endpoints)
                .map(|e| {
                    let ready = e.conditions.as_ref().and_then(|c| c.ready);
                    format!("{} ready {ready:?}", e.addresses.join(","))
                })
                .collect();
            format!("{} slices, endpoints {endpoints:?}", list.items.len())
        }
        Err(e) => format!("cannot list: {e}"),
    }
}

/// Polls until `svc(host)` answers exactly `want`, as [`until_addresses`]
/// does, for addresses that the EndpointSlice controller publishes. On
/// timeout the panic also says what the API server's slices of `service`
/// hold, which tells a controller that did not publish from a server that
/// did not serve.
async fn until_published(
    server: &Server,
    client: &Client,
    (ns, service): (&str, &str),
    host: &str,
    want: &[&str],
) {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    let deadline = Instant::now() + CHANGE;
    loop {
        let reply = a(server, host).await;
        if reply.rcode == ResponseCode::NoError && reply.addresses == want {
            return;
        }
        if Instant::now() >= deadline {
            panic!(
                "{host}: answers {want:?}: not within {CHANGE:?}; last: {reply:?}; the API server's slices of {ns}/{service}: {}",
                published(client, ns, service).await
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_written_slices_answer_a_srv_and_ptr() {
    let Some((fx, client, ns, _shared)) =
        shared_test("hand_written_slices_answer_a_srv_and_ptr", "slices").await
    else {
        return;
    };
    apply_value(&client, &headless(&ns, "web", None, json!({}))).await;
    let a_side = slice(
        &ns,
        "web-a",
        "web",
        &[
            ("10.250.1.1", Some("web-0"), true),
            ("10.250.1.2", Some("web-1"), true),
        ],
    );
    apply_value(&client, &a_side).await;
    let b_side = slice(
        &ns,
        "web-b",
        "web",
        &[
            ("10.250.1.3", None, true),
            ("10.250.1.2", Some("web-1"), true),
            ("10.250.1.4", Some("web-4"), false),
        ],
    );
    apply_value(&client, &b_side).await;
    let server = serve(fx, &format!("    namespaces: [{ns}]\n")).await;

    let web = format!("web.{ns}");
    // Deduplicated across slices; the not-ready endpoint is left out.
    until_addresses(&server, &web, &["10.250.1.1", "10.250.1.2", "10.250.1.3"]).await;
    assert_eq!(
        a(&server, &format!("web-0.{web}")).await.addresses,
        ["10.250.1.1"]
    );
    assert_eq!(
        a(&server, &format!("10-250-1-3.{web}")).await.addresses,
        ["10.250.1.3"]
    );
    let srv = ask(&server, &svc(&format!("_http._tcp.{web}")), RecordType::SRV).await;
    assert_eq!(srv.rcode, ResponseCode::NoError, "{srv:?}");
    let targets: Vec<String> = srv
        .data
        .iter()
        .map(|d| d.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        targets,
        [
            format!("8080 10-250-1-3.{web}.svc.cluster.local."),
            format!("8080 web-0.{web}.svc.cluster.local."),
            format!("8080 web-1.{web}.svc.cluster.local."),
        ],
        "{srv:?}"
    );
    assert_eq!(srv.additional, ["10.250.1.1", "10.250.1.2", "10.250.1.3"]);
    let ptr = ask(&server, "1.1.250.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(ptr.data, [format!("web-0.{web}.svc.cluster.local.")]);

    // web-0 comes back with a new IP; its old reverse name goes.
    let a_side = slice(
        &ns,
        "web-a",
        "web",
        &[
            ("10.250.1.9", Some("web-0"), true),
            ("10.250.1.2", Some("web-1"), true),
        ],
    );
    apply_value(&client, &a_side).await;
    until_addresses(&server, &format!("web-0.{web}"), &["10.250.1.9"]).await;
    let old = ask(&server, "1.1.250.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(old.rcode, ResponseCode::NXDomain, "{old:?}");
    // One slice deleted: what it alone held goes, what both held stays.
    delete_value(&client, &b_side).await;
    until_addresses(&server, &web, &["10.250.1.2", "10.250.1.9"]).await;
    assert_eq!(
        a(&server, &format!("10-250-1-3.{web}")).await.rcode,
        ResponseCode::NXDomain
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_slices_follow_pod_status_and_readiness() {
    let Some((fx, client, ns, _shared)) =
        shared_test("controller_slices_follow_pod_status_and_readiness", "pods").await
    else {
        return;
    };
    ensure_node(&client).await;
    let selector = json!({"app": "app"});
    apply_value(&client, &headless(&ns, "app", Some(selector), json!({}))).await;
    // Two pods with hostname and subdomain (as a StatefulSet makes them),
    // one without (named by its address).
    for (name, subdomain) in [
        ("app-0", Some("app")),
        ("app-1", Some("app")),
        ("loose", None),
    ] {
        apply_value(&client, &pod(&ns, name, json!({"app": "app"}), subdomain)).await;
    }
    let server = serve(fx, &format!("    namespaces: [{ns}]\n")).await;
    let app = format!("app.{ns}");
    // Pending pods without an IP: the Service exists, with no address.
    assert!(a(&server, &app).await.addresses.is_empty());

    set_pod_status(&client, &ns, "app-0", "10.250.2.1", true).await;
    set_pod_status(&client, &ns, "app-1", "10.250.2.2", true).await;
    set_pod_status(&client, &ns, "loose", "10.250.2.9", true).await;
    let published = (ns.as_str(), "app");
    let all = ["10.250.2.1", "10.250.2.2", "10.250.2.9"];
    until_published(&server, &client, published, &app, &all).await;
    assert_eq!(
        a(&server, &format!("app-1.{app}")).await.addresses,
        ["10.250.2.2"]
    );
    assert_eq!(
        a(&server, &format!("10-250-2-9.{app}")).await.addresses,
        ["10.250.2.9"]
    );
    let ptr = ask(&server, "2.2.250.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(ptr.data, [format!("app-1.{app}.svc.cluster.local.")]);

    // app-1 stops being ready: out of the Service's answer, and its own
    // name answers NODATA (a name that will come back), not NXDOMAIN.
    set_pod_status(&client, &ns, "app-1", "10.250.2.2", false).await;
    until_published(
        &server,
        &client,
        published,
        &app,
        &["10.250.2.1", "10.250.2.9"],
    )
    .await;
    let name = a(&server, &format!("app-1.{app}")).await;
    assert!(name.is_nodata(), "not-ready app-1: {name:?}");

    // app-0 restarts elsewhere: the new address is served.
    set_pod_status(&client, &ns, "app-0", "10.250.2.7", true).await;
    let app_0 = format!("app-0.{app}");
    until_published(&server, &client, published, &app_0, &["10.250.2.7"]).await;
    // Ready again.
    set_pod_status(&client, &ns, "app-1", "10.250.2.2", true).await;
    let all = ["10.250.2.2", "10.250.2.7", "10.250.2.9"];
    until_published(&server, &client, published, &app, &all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_ready_hostname_is_nodata_without_the_grace_window() {
    let Some((fx, client, ns, _shared)) = shared_test(
        "a_never_ready_hostname_is_nodata_without_the_grace_window",
        "notready",
    )
    .await
    else {
        return;
    };
    ensure_node(&client).await;
    apply_value(
        &client,
        &headless(&ns, "db", Some(json!({"app": "db"})), json!({})),
    )
    .await;
    apply_value(&client, &pod(&ns, "db-0", json!({"app": "db"}), Some("db"))).await;
    apply_value(&client, &pod(&ns, "db-1", json!({"app": "db"}), Some("db"))).await;
    let server = start(
        &fx.account,
        &format!("    namespaces: [{ns}]\n"),
        "  stable_name_grace: 0s\n",
    )
    .await;
    wait_ready(&server).await;
    set_pod_status(&client, &ns, "db-0", "10.250.3.1", true).await;
    // db-1 has an IP but was never ready: listed, not ready.
    set_pod_status(&client, &ns, "db-1", "10.250.3.2", false).await;
    until_addresses(&server, &format!("db.{ns}"), &["10.250.3.1"]).await;
    // NXDOMAIN until the controller lists db-1 (not ready), NODATA after.
    until_nodata(&server, &format!("db-1.db.{ns}")).await;
}
