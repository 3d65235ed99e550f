//! The whole of `cluster.local` (Kubernetes DNS specification 1.1.0), not
//! only headless Services: ClusterIP (NodePort, LoadBalancer) Services,
//! ExternalName CNAMEs chased inside the zone, pod records in CoreDNS's three
//! modes, not-ready endpoints that keep their names, and reverse zones
//! derived from the cluster's CIDRs with REFUSED outside them.
//!
//! Every question goes through [`Zone::agree`], which also proves that the
//! fast path and hickory's path give the same answer.

mod support;

use std::net::IpAddr;
use std::time::Duration;

use headless_dns::index::ClusterIndex;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use support::dns::addresses;
use support::settings::settings_with;
use support::zone::{Zone, assert_negative, fq};

fn index_with(dns: &str) -> ClusterIndex {
    let mut index = ClusterIndex::new(settings_with(dns), Duration::from_secs(30));
    index.set_synced(true);
    index
}

fn port(name: &str, protocol: Protocol, number: u16) -> Port {
    Port {
        name: name.into(),
        protocol,
        port: number,
    }
}

fn service(name: &str, kind: ServiceKind, ports: Vec<Port>) -> Service {
    Service {
        key: ObjectKey::new("demo", name),
        kind,
        publish_not_ready: false,
        ports,
    }
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|ip| ip.parse().unwrap()).collect()
}

fn endpoint(ip: &str, hostname: Option<&str>, ready: bool) -> Endpoint {
    Endpoint {
        addresses: ips(&[ip]),
        hostname: hostname.map(Into::into),
        ready,
        target: None,
    }
}

fn slice(name: &str, service: &str, endpoints: Vec<Endpoint>) -> EndpointGroup {
    EndpointGroup {
        key: ObjectKey::new("demo", name),
        service: ObjectKey::new("demo", service),
        ports: vec![port("web", Protocol::Tcp, 8080)],
        endpoints,
    }
}

/// The headless `nginx` (web-0 ready, web-1 listed but not ready), the
/// dual-stack ClusterIP `api` with a slice of its own, and ExternalNames.
fn cluster(dns: &str) -> ClusterIndex {
    let mut index = index_with(dns);
    index.apply_service(service(
        "nginx",
        ServiceKind::Headless,
        vec![port("web", Protocol::Tcp, 80)],
    ));
    index.apply_slice(slice(
        "nginx-1",
        "nginx",
        vec![
            endpoint("10.244.0.10", Some("web-0"), true),
            endpoint("10.244.0.11", Some("web-1"), false),
            endpoint("10.244.0.12", None, false),
        ],
    ));
    index.apply_service(service(
        "api",
        ServiceKind::ClusterIp(ips(&["10.96.0.20", "fd00:96::20"])),
        vec![
            port("http", Protocol::Tcp, 80),
            port("dns", Protocol::Udp, 53),
            port("sig", Protocol::Sctp, 9000),
        ],
    ));
    index.apply_slice(slice(
        "api-1",
        "api",
        vec![endpoint("10.244.0.30", Some("api-0"), true)],
    ));
    let alias =
        |name: &str, target: &str| service(name, ServiceKind::ExternalName(target.into()), vec![]);
    index.apply_service(alias("ext", "db.example.com"));
    index.apply_service(alias("to-api", "api.demo.svc.cluster.local"));
    index.apply_service(alias("to-pod", "web-0.nginx.demo.svc.cluster.local"));
    index.apply_service(alias("hop", "to-api.demo.svc.cluster.local"));
    index.apply_service(alias("loop-a", "loop-b.demo.svc.cluster.local"));
    index.apply_service(alias("loop-b", "loop-a.demo.svc.cluster.local"));
    index.apply_service(alias("self", "self.demo.svc.cluster.local"));
    // A chain of ten: c0 → c1 → … → c9 → api.
    for i in 0..10 {
        let next = if i == 9 {
            "api.demo.svc.cluster.local".to_owned()
        } else {
            format!("c{}.demo.svc.cluster.local", i + 1)
        };
        index.apply_service(alias(&format!("c{i}"), &next));
    }
    index
}

fn rdata_text(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

fn cnames(m: &Message) -> usize {
    m.answers
        .iter()
        .filter(|r| matches!(r.data, RData::CNAME(_)))
        .count()
}

#[tokio::test]
async fn clusterip_services_answer_their_cluster_ips_never_endpoints() {
    let zone = Zone::new(cluster(""));
    let m = zone.agree(&fq("api.demo.svc"), RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.96.0.20"], "{m}");
    assert!(m.metadata.authoritative);
    let m = zone.agree(&fq("api.demo.svc"), RecordType::AAAA).await;
    assert_eq!(addresses(&m.answers), ["fd00:96::20"], "{m}");
    // No names below a ClusterIP service, endpoints or not.
    for below in ["api-0.api.demo.svc", "10-244-0-30.api.demo.svc"] {
        let m = zone.agree(&fq(below), RecordType::A).await;
        assert_negative(&m, ResponseCode::NXDomain, 5);
    }
}

#[tokio::test]
async fn clusterip_srv_per_protocol_targets_the_service_with_its_addresses() {
    let zone = Zone::new(cluster(""));
    for (owner, number) in [("_http._tcp", 80), ("_dns._udp", 53), ("_sig._sctp", 9000)] {
        let m = zone
            .agree(&fq(&format!("{owner}.api.demo.svc")), RecordType::SRV)
            .await;
        let [srv] = &m.answers[..] else {
            panic!("one SRV for {owner}: {m}")
        };
        let RData::SRV(data) = &srv.data else {
            panic!("{m}")
        };
        assert_eq!(data.port, number);
        assert_eq!(data.target.to_ascii(), "api.demo.svc.cluster.local.");
        let mut extra = addresses(&m.additionals);
        extra.sort();
        assert_eq!(extra, ["10.96.0.20", "fd00:96::20"], "{m}");
    }
    // The endpoint slice's port name is not the service's: no SRV from it.
    let m = zone
        .agree(&fq("_web._tcp.api.demo.svc"), RecordType::SRV)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
    let m = zone.agree(&fq("_udp.api.demo.svc"), RecordType::SRV).await;
    assert_negative(&m, ResponseCode::NoError, 5);
}

#[tokio::test]
async fn ptr_of_a_cluster_ip_names_the_service() {
    let zone = Zone::new(cluster(""));
    let m = zone
        .agree("20.0.96.10.in-addr.arpa.", RecordType::PTR)
        .await;
    assert_eq!(rdata_text(&m), ["api.demo.svc.cluster.local."], "{m}");
    let v6 = "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.0.d.f.ip6.arpa.";
    let m = zone.agree(v6, RecordType::PTR).await;
    assert_eq!(rdata_text(&m), ["api.demo.svc.cluster.local."], "{m}");
    // The ClusterIP service's endpoint has no PTR from it.
    let m = zone
        .agree("30.0.244.10.in-addr.arpa.", RecordType::PTR)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
}

#[tokio::test]
async fn externalname_outside_the_zone_is_a_cname_and_nothing_more() {
    let zone = Zone::new(cluster(""));
    for qtype in [
        RecordType::A,
        RecordType::AAAA,
        RecordType::CNAME,
        RecordType::TXT,
    ] {
        let m = zone.agree(&fq("ext.demo.svc"), qtype).await;
        assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m}");
        assert_eq!(rdata_text(&m), ["db.example.com."], "{qtype}: {m}");
        assert!(m.authorities.is_empty(), "{m}");
    }
    // Nothing below an ExternalName.
    let m = zone.agree(&fq("x.ext.demo.svc"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
}

#[tokio::test]
async fn externalname_inside_the_zone_is_chased_in_the_same_answer() {
    let zone = Zone::new(cluster(""));
    let m = zone.agree(&fq("to-api.demo.svc"), RecordType::A).await;
    assert_eq!(
        rdata_text(&m),
        ["api.demo.svc.cluster.local.", "10.96.0.20"],
        "{m}"
    );
    assert_eq!(m.answers[1].name.to_ascii(), "api.demo.svc.cluster.local.");
    let m = zone.agree(&fq("to-api.demo.svc"), RecordType::AAAA).await;
    assert_eq!(addresses(&m.answers), ["fd00:96::20"], "{m}");
    let m = zone.agree(&fq("to-pod.demo.svc"), RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.10"], "{m}");
    // Two links: hop → to-api → api.
    let m = zone.agree(&fq("hop.demo.svc"), RecordType::A).await;
    assert_eq!(cnames(&m), 2, "{m}");
    assert_eq!(addresses(&m.answers), ["10.96.0.20"], "{m}");
    // CNAME questions get the CNAME alone.
    let m = zone.agree(&fq("hop.demo.svc"), RecordType::CNAME).await;
    assert_eq!(rdata_text(&m), ["to-api.demo.svc.cluster.local."], "{m}");
}

#[tokio::test]
async fn a_chase_follows_changes_to_its_target() {
    let mut zone = Zone::new(cluster(""));
    zone.index.apply_service(service(
        "api",
        ServiceKind::ClusterIp(ips(&["10.96.0.99"])),
        vec![],
    ));
    zone.publish(Duration::ZERO);
    let m = zone.agree(&fq("hop.demo.svc"), RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.96.0.99"], "{m}");
    zone.index.delete_service(&ObjectKey::new("demo", "api"));
    zone.publish(Duration::ZERO);
    let m = zone.agree(&fq("hop.demo.svc"), RecordType::A).await;
    assert_eq!(cnames(&m), 2, "{m}");
    assert!(addresses(&m.answers).is_empty(), "{m}");
}

#[tokio::test]
async fn a_loop_or_a_long_chain_stops_cleanly() {
    let zone = Zone::new(cluster(""));
    // loop-a → loop-b → loop-a: each link once, then stop.
    let m = zone.agree(&fq("loop-a.demo.svc"), RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m}");
    assert_eq!(cnames(&m), 2, "{m}");
    // c0 → … → c9 → api: ten links, cut at eight.
    let m = zone.agree(&fq("c0.demo.svc"), RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError, "{m}");
    assert_eq!(cnames(&m), 1 + 8, "{m}");
    assert!(addresses(&m.answers).is_empty(), "{m}");
    // Pointing at itself: refused as an object, no records.
    let m = zone.agree(&fq("self.demo.svc"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
}

#[tokio::test]
async fn pod_records_follow_the_three_modes() {
    for (mode, pod_a, stranger_a) in [
        ("insecure", true, true),
        ("verified", true, false),
        ("disabled", false, false),
    ] {
        let zone = Zone::new(cluster(&format!("pod_records: {mode}")));
        // 10.244.0.10 is an endpoint in demo; 10.1.2.3 is not.
        let m = zone.agree(&fq("10-244-0-10.demo.pod"), RecordType::A).await;
        if pod_a {
            assert_eq!(addresses(&m.answers), ["10.244.0.10"], "{mode}: {m}");
            assert!(m.metadata.authoritative);
        } else {
            assert_negative(&m, ResponseCode::NXDomain, 5);
        }
        let m = zone.agree(&fq("10-1-2-3.demo.pod"), RecordType::A).await;
        if stranger_a {
            assert_eq!(addresses(&m.answers), ["10.1.2.3"], "{mode}: {m}");
        } else {
            assert_negative(&m, ResponseCode::NXDomain, 5);
        }
        // Verified: the address must be held in that namespace.
        let m = zone
            .agree(&fq("10-244-0-10.other.pod"), RecordType::A)
            .await;
        assert_eq!(
            m.metadata.response_code == ResponseCode::NoError,
            mode == "insecure",
            "{mode}: {m}"
        );
    }
    let zone = Zone::new(cluster(""));
    // The IPv6 dashed form; the other address type is NODATA.
    let m = zone.agree(&fq("fd00--1.demo.pod"), RecordType::AAAA).await;
    assert_eq!(addresses(&m.answers), ["fd00::1"], "{m}");
    let m = zone.agree(&fq("fd00--1.demo.pod"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NoError, 5);
    // Not a dashed address, or not its one spelling.
    for bad in [
        "web.demo.pod",
        "10-244-0-010.demo.pod",
        "1.10-244-0-10.demo.pod",
    ] {
        let m = zone.agree(&fq(bad), RecordType::A).await;
        assert_negative(&m, ResponseCode::NXDomain, 5);
    }
    let m = zone.agree(&fq("demo.pod"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NoError, 5);
}

#[tokio::test]
async fn a_listed_endpoint_that_is_not_ready_keeps_its_name() {
    let mut zone = Zone::new(cluster(""));
    for name in ["web-1.nginx.demo.svc", "10-244-0-12.nginx.demo.svc"] {
        let m = zone.agree(&fq(name), RecordType::A).await;
        assert_negative(&m, ResponseCode::NoError, 1);
    }
    // Left out of the service's own answers.
    let m = zone.agree(&fq("nginx.demo.svc"), RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.10"], "{m}");
    let m = zone
        .agree(&fq("_web._tcp.nginx.demo.svc"), RecordType::SRV)
        .await;
    assert_eq!(m.answers.len(), 1, "{m}");
    // publishNotReadyAddresses: every listed endpoint counts.
    let mut published = service(
        "nginx",
        ServiceKind::Headless,
        vec![port("web", Protocol::Tcp, 80)],
    );
    published.publish_not_ready = true;
    zone.index.apply_service(published);
    zone.publish(Duration::ZERO);
    let m = zone.agree(&fq("web-1.nginx.demo.svc"), RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.11"], "{m}");
    let m = zone.agree(&fq("nginx.demo.svc"), RecordType::A).await;
    assert_eq!(m.answers.len(), 3, "{m}");
}

#[tokio::test]
async fn reverse_zones_come_from_the_cluster_cidrs_and_the_rest_is_refused() {
    let zone = Zone::new(cluster(
        "reverse_cidrs: [10.96.0.0/12, 10.244.0.0/16, 'fd00:96::/64']",
    ));
    let m = zone
        .agree("10.0.244.10.in-addr.arpa.", RecordType::PTR)
        .await;
    assert_eq!(
        rdata_text(&m),
        ["web-0.nginx.demo.svc.cluster.local."],
        "{m}"
    );
    let m = zone
        .agree("20.0.96.10.in-addr.arpa.", RecordType::PTR)
        .await;
    assert_eq!(rdata_text(&m), ["api.demo.svc.cluster.local."], "{m}");
    // An address in a derived zone that nothing holds.
    let m = zone
        .agree("1.0.100.10.in-addr.arpa.", RecordType::PTR)
        .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{m}");
    assert_eq!(
        m.authorities[0].name.to_ascii(),
        "100.10.in-addr.arpa.",
        "the most specific derived zone's SOA: {m}"
    );
    // Outside them: REFUSED, so a forwarder keeps 8.8.8.8's PTR upstream.
    for outside in [
        "8.8.8.8.in-addr.arpa.",
        "1.0.0.10.in-addr.arpa.",
        "1.0.112.10.in-addr.arpa.",
        "in-addr.arpa.",
    ] {
        let m = zone.agree(outside, RecordType::PTR).await;
        assert_eq!(
            m.metadata.response_code,
            ResponseCode::Refused,
            "{outside}: {m}"
        );
        assert!(!m.metadata.authoritative, "{m}");
    }
    let m = zone.agree("96.10.in-addr.arpa.", RecordType::SOA).await;
    assert_eq!(m.answers.len(), 1, "a derived zone has its SOA: {m}");
}
