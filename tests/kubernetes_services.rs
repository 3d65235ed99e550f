//! Every Service type through the Kubernetes source, with the server run
//! in-process (`support::app`) against the test API server
//! (`support::kube_api`): a ClusterIP Service, an ExternalName and a
//! headless StatefulSet Service in one namespace, and each change seen over
//! real DNS: the ExternalName edited, a Service switched from ClusterIP to
//! headless and back.

mod support;

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use k8s_openapi::api::core::v1 as core;
use support::app::Running;
use support::dns::{addresses, query, udp};
use support::kube_api::{KubeApi, objects};
use support::server::eventually;

const LIMIT: Duration = Duration::from_secs(30);

fn external_name(name: &str, target: &str) -> core::Service {
    let mut svc = objects::service("demo", name, false);
    let spec = svc.spec.as_mut().unwrap();
    spec.type_ = Some("ExternalName".to_owned());
    spec.external_name = Some(target.to_owned());
    spec.cluster_ip = None;
    spec.ports = None;
    svc
}

/// A ClusterIP Service with its own address and a named port.
fn cluster_ip(name: &str, ip: &str) -> core::Service {
    let mut svc = objects::service("demo", name, false);
    let spec = svc.spec.as_mut().unwrap();
    spec.cluster_ip = Some(ip.to_owned());
    spec.cluster_ips = Some(vec![ip.to_owned()]);
    svc
}

async fn ask(server: &Running, name: &str, qtype: RecordType) -> Message {
    udp(
        server.dns,
        &query(&format!("{name}.svc.cluster.local."), qtype),
    )
    .await
}

fn answer_text(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

/// Polls until `probe` holds for the answer to `name`/`qtype`.
async fn until(
    server: &Running,
    name: &str,
    qtype: RecordType,
    what: &str,
    probe: impl Fn(&Message) -> bool,
) -> Message {
    let got = eventually(LIMIT, || async {
        let m = ask(server, name, qtype).await;
        probe(&m).then_some(m)
    })
    .await;
    match got {
        Some(m) => m,
        None => panic!(
            "{name} {qtype} never answered {what}; last:\n{}",
            ask(server, name, qtype).await,
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusterip_externalname_and_headless_side_by_side_follow_every_change() {
    let api = KubeApi::start().await;
    api.apply(cluster_ip("api", "10.96.0.20"));
    api.apply(objects::slice(
        "demo",
        "api-abc",
        "api",
        &[("10.244.9.9", None, true)],
    ));
    api.apply(external_name("ext", "db.example.com"));
    api.apply(external_name("alias", "api.demo.svc.cluster.local"));
    api.apply(objects::service("demo", "web", true));
    api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[
            ("10.244.0.10", Some("web-0"), true),
            ("10.244.0.11", Some("web-1"), false),
        ],
    ));
    api.apply(objects::stateful_set("demo", "web", "web", 3));
    let dir = tempfile::tempdir().unwrap();
    let config = api.write_config(dir.path(), "");
    let server = tokio::task::spawn_blocking(move || Running::start(&config))
        .await
        .unwrap();

    // ClusterIP: the cluster IP, SRV to the service, PTR of the cluster IP.
    until(&server, "api.demo", RecordType::A, "the cluster IP", |m| {
        addresses(&m.answers) == ["10.96.0.20"]
    })
    .await;
    let m = ask(&server, "_web._tcp.api.demo", RecordType::SRV).await;
    assert!(
        matches!(&m.answers[..], [r] if matches!(&r.data, RData::SRV(s) if s.target.to_ascii() == "api.demo.svc.cluster.local.")),
        "{m}"
    );
    let m = udp(
        server.dns,
        &query("20.0.96.10.in-addr.arpa.", RecordType::PTR),
    )
    .await;
    assert_eq!(answer_text(&m), ["api.demo.svc.cluster.local."], "{m}");
    // ExternalName: out of zone a CNAME alone; in zone, chased.
    let m = ask(&server, "ext.demo", RecordType::A).await;
    assert_eq!(answer_text(&m), ["db.example.com."], "{m}");
    let m = ask(&server, "alias.demo", RecordType::A).await;
    assert_eq!(
        answer_text(&m),
        ["api.demo.svc.cluster.local.", "10.96.0.20"],
        "{m}"
    );
    // Headless with a StatefulSet: pods, a not-ready pod and a declared one.
    let m = ask(&server, "web-0.web.demo", RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.10"], "{m}");
    for stable in ["web-1.web.demo", "web-2.web.demo"] {
        let m = ask(&server, stable, RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m}");
        assert!(m.answers.is_empty() && m.authorities[0].ttl <= 1, "{m}");
    }

    // The ExternalName edited.
    api.apply(external_name("ext", "db2.example.com"));
    until(&server, "ext.demo", RecordType::A, "the new target", |m| {
        answer_text(m) == ["db2.example.com."]
    })
    .await;
    // The ClusterIP Service switched to headless: its endpoints, and names.
    api.apply(objects::service("demo", "api", true));
    until(&server, "api.demo", RecordType::A, "the endpoints", |m| {
        addresses(&m.answers) == ["10.244.9.9"]
    })
    .await;
    let m = ask(&server, "10-244-9-9.api.demo", RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.244.9.9"], "{m}");
    // The chase follows its target.
    until(&server, "alias.demo", RecordType::A, "the chase", |m| {
        addresses(&m.answers) == ["10.244.9.9"]
    })
    .await;
    // And back to ClusterIP: the names below it are gone.
    api.apply(cluster_ip("api", "10.96.0.21"));
    until(
        &server,
        "api.demo",
        RecordType::A,
        "the new cluster IP",
        |m| addresses(&m.answers) == ["10.96.0.21"],
    )
    .await;
    let m = ask(&server, "10-244-9-9.api.demo", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{m}");
}
