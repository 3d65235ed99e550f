//! The record forms: a pod name's address, a service's merged and
//! deduplicated set, dual stack, the dashed name of an endpoint without a
//! hostname, SRV per named port with additionals, PTR for every selecting
//! service, the apex (SOA, NS, glue, `dns-version`), and the serial growing
//! on every change.

use super::*;
use std::net::IpAddr;
use std::time::Duration;

use crate::support::dns::addresses;
use crate::support::zone::{Zone, assert_negative, fq};
use headless_dns::index::ClusterIndex;
use headless_dns::model::{EndpointGroup, ObjectKey, Port, Protocol};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};

#[tokio::test]
async fn pod_name_answers_its_address_authoritatively() {
    let zone = Zone::new(demo_index());
    let m = zone
        .q(&fq("web-demo-0.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert!(
        !m.metadata.recursion_available,
        "no recursion: RA must be 0"
    );
    assert!(m.metadata.recursion_desired, "RD is copied");
    assert_eq!(m.metadata.id, 0x4242);
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    assert_eq!(m.answers[0].ttl, 5);
}

#[tokio::test]
async fn service_name_merges_slices_and_deduplicates() {
    let mut index = demo_index();
    // A second slice repeats web-demo-1 and adds a third pod.
    index.apply_slice(slice(
        "demo",
        "nginx-demo-def",
        "nginx-demo",
        vec![
            ep("10.244.0.40", Some("web-demo-1"), true),
            ep("10.244.0.41", Some("web-demo-2"), true),
        ],
    ));
    let zone = Zone::new(index);
    let m = zone.q(&fq("nginx-demo.demo.svc"), RecordType::A).await;
    assert_eq!(
        addresses(&m.answers),
        ["10.244.0.39", "10.244.0.40", "10.244.0.41"]
    );
    let m = zone
        .q(&fq("web-demo-1.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_eq!(addresses(&m.answers), ["10.244.0.40"]);
}

#[tokio::test]
async fn dual_stack_service_and_pod() {
    let mut index = demo_index();
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "nginx-demo-v6"),
        service: ObjectKey::new("demo", "nginx-demo"),
        ports: vec![web_port()],
        endpoints: vec![ep("fd00::27", Some("web-demo-0"), true)],
    });
    let zone = Zone::new(index);
    let m = zone.q(&fq("nginx-demo.demo.svc"), RecordType::AAAA).await;
    assert_eq!(addresses(&m.answers), ["fd00::27"]);
    let m = zone
        .q(&fq("web-demo-0.nginx-demo.demo.svc"), RecordType::AAAA)
        .await;
    assert_eq!(addresses(&m.answers), ["fd00::27"]);
    let m = zone
        .q(&fq("web-demo-0.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    // web-demo-1 has no IPv6 address: NODATA, not NXDOMAIN.
    let m = zone
        .q(&fq("web-demo-1.nginx-demo.demo.svc"), RecordType::AAAA)
        .await;
    assert_negative(&m, ResponseCode::NoError, 5);
}

#[tokio::test]
async fn endpoint_without_hostname_is_named_by_dashed_address() {
    let mut index = ClusterIndex::new(settings(), GRACE);
    index.apply_service(service("default", "db"));
    index.apply_slice(slice(
        "default",
        "db-1",
        "db",
        vec![ep("10.244.0.39", None, true), ep("fd00::1", None, true)],
    ));
    index.set_synced(true);
    let zone = Zone::new(index);
    let m = zone
        .q(&fq("10-244-0-39.db.default.svc"), RecordType::A)
        .await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    let m = zone
        .q(&fq("fd00--1.db.default.svc"), RecordType::AAAA)
        .await;
    assert_eq!(addresses(&m.answers), ["fd00::1"]);
}

#[tokio::test]
async fn srv_per_named_port_with_address_additionals() {
    let mut index = demo_index();
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "nginx-demo-x"),
        service: ObjectKey::new("demo", "nginx-demo"),
        ports: vec![
            web_port(),
            Port {
                name: "dns".into(),
                protocol: Protocol::Udp,
                port: 53,
            },
        ],
        endpoints: vec![ep("10.244.0.50", None, true)],
    });
    let zone = Zone::new(index);
    let m = zone
        .q(&fq("_web._tcp.nginx-demo.demo.svc"), RecordType::SRV)
        .await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    let mut targets: Vec<(String, u16)> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::SRV(srv) => (srv.target.to_ascii(), srv.port),
            other => panic!("not SRV: {other:?}"),
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        [
            (fq("10-244-0-50.nginx-demo.demo.svc"), 80),
            (fq("web-demo-0.nginx-demo.demo.svc"), 80),
            (fq("web-demo-1.nginx-demo.demo.svc"), 80),
        ]
    );
    assert_eq!(
        addresses(&m.additionals),
        ["10.244.0.39", "10.244.0.40", "10.244.0.50"]
    );
    let m = zone
        .q(&fq("_dns._udp.nginx-demo.demo.svc"), RecordType::SRV)
        .await;
    assert_eq!(m.answers.len(), 1);
    // Unknown port name: NXDOMAIN. The _tcp empty non-terminal: NODATA.
    let m = zone
        .q(&fq("_http._tcp.nginx-demo.demo.svc"), RecordType::SRV)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
    let m = zone
        .q(&fq("_tcp.nginx-demo.demo.svc"), RecordType::SRV)
        .await;
    assert_negative(&m, ResponseCode::NoError, 5);
}

/// The PTR targets of an answer, sorted.
fn ptr_targets(m: &hickory_proto::op::Message) -> Vec<String> {
    let mut out: Vec<String> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::PTR(p) => p.0.to_ascii(),
            other => panic!("not PTR: {other:?}"),
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn ptr_for_every_selecting_service() {
    let mut index = demo_index();
    index.apply_service(service("demo", "other"));
    index.apply_slice(slice(
        "demo",
        "other-1",
        "other",
        vec![ep("10.244.0.39", Some("web-demo-0"), true)],
    ));
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "nginx-demo-v6"),
        service: ObjectKey::new("demo", "nginx-demo"),
        ports: vec![],
        endpoints: vec![ep("fd00::27", Some("web-demo-0"), true)],
    });
    let zone = Zone::new(index);
    let m = zone.q("39.0.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert!(m.metadata.authoritative);
    assert_eq!(
        ptr_targets(&m),
        [
            fq("web-demo-0.nginx-demo.demo.svc"),
            fq("web-demo-0.other.demo.svc")
        ]
    );
    let v6 = headless_dns::names::reverse_name("fd00::27".parse::<IpAddr>().unwrap());
    let m = zone.q(&v6.to_ascii(), RecordType::PTR).await;
    assert_eq!(m.answers.len(), 1);
    // An address with no endpoint: NXDOMAIN with the reverse zone's SOA.
    let m = zone.q("99.0.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
    assert_eq!(m.authorities[0].name.to_ascii(), "in-addr.arpa.");
    // A prefix of a served address is an empty non-terminal.
    let m = zone.q("0.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert_negative(&m, ResponseCode::NoError, 5);
}

/// One publish of more addresses than the index gathers before it applies
/// them (4,096): two services, rendered first and last, share an address,
/// and both names are at it; every other address has its one name.
#[tokio::test]
async fn ptr_of_a_publish_applied_in_rounds_keeps_every_service() {
    let mut index = ClusterIndex::new(settings(), GRACE);
    let ip = |n: usize| format!("10.{}.{}.{}", 100 + n / 65536, n / 256 % 256, n % 256);
    let services = 2500;
    for s in 0..services {
        let name = format!("s{s:04}");
        index.apply_service(service("demo", &name));
        let mut endpoints = vec![
            ep(&ip(2 * s), Some("a"), true),
            ep(&ip(2 * s + 1), Some("b"), true),
        ];
        if s == services - 1 {
            endpoints.push(ep(&ip(0), Some("c"), true));
        }
        index.apply_slice(slice("demo", &format!("{name}-1"), &name, endpoints));
    }
    index.set_synced(true);
    let zone = Zone::new(index);
    let reverse =
        |n: usize| headless_dns::names::reverse_name(ip(n).parse::<IpAddr>().unwrap()).to_ascii();
    let m = zone.q(&reverse(0), RecordType::PTR).await;
    assert_eq!(
        ptr_targets(&m),
        [
            fq("a.s0000.demo.svc"),
            fq(&format!("c.s{:04}.demo.svc", services - 1))
        ]
    );
    for n in [1, 4095, 4096, 4097, 2 * services - 1] {
        let m = zone.q(&reverse(n), RecordType::PTR).await;
        let host = if n % 2 == 0 { "a" } else { "b" };
        assert_eq!(
            ptr_targets(&m),
            [fq(&format!("{host}.s{:04}.demo.svc", n / 2))],
            "{n}"
        );
    }
    let m = zone.q(&reverse(2 * services), RecordType::PTR).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
}

#[tokio::test]
async fn apex_soa_ns_glue_and_dns_version() {
    let zone = Zone::new(demo_index());
    let m = zone.q(&fq("dns-version"), RecordType::TXT).await;
    let RData::TXT(txt) = &m.answers[0].data else {
        panic!("{m}")
    };
    assert_eq!(&*txt.txt_data[0], b"1.1.0");
    let m = zone.q("cluster.local.", RecordType::SOA).await;
    assert!(m.metadata.authoritative);
    assert!(matches!(m.answers[0].data, RData::SOA(_)), "{m}");
    let m = zone.q("cluster.local.", RecordType::NS).await;
    let RData::NS(ns) = &m.answers[0].data else {
        panic!("{m}")
    };
    assert_eq!(ns.0.to_ascii(), "ns.dns.cluster.local.");
    assert_eq!(addresses(&m.additionals), ["127.0.0.1"], "glue: {m}");
    let m = zone.q("ns.dns.cluster.local.", RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["127.0.0.1"]);
}

#[tokio::test]
async fn serial_grows_on_every_change() {
    let mut zone = Zone::new(demo_index());
    let serial = |m: &Message| match &m.answers[0].data {
        RData::SOA(soa) => soa.serial,
        _ => panic!("{m}"),
    };
    let first = serial(&zone.q("cluster.local.", RecordType::SOA).await);
    zone.index.apply_slice(slice(
        "demo",
        "nginx-demo-abc",
        "nginx-demo",
        vec![ep("10.244.0.77", Some("web-demo-0"), true)],
    ));
    zone.publish(Duration::ZERO);
    let second = serial(&zone.q("cluster.local.", RecordType::SOA).await);
    assert!(second > first, "{second} !> {first}");
    // No change, no new serial.
    zone.publish(Duration::ZERO);
    assert_eq!(
        serial(&zone.q("cluster.local.", RecordType::SOA).await),
        second
    );
}
