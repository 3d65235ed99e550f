//! The answer function and the wire rules, without sockets: model values →
//! index → snapshot → query bytes → handler → response bytes → assertions.
//! Each test names the DESIGN §1 row or rule it covers.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use headless_dns::config::Config;
use headless_dns::index::ClusterIndex;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, OrdinalSet, Port, Protocol, Service, ServiceKind,
};
use headless_dns::server::packet::{handle_bytes, handle_bytes_slow};
use headless_dns::snapshot::ZoneSettings;
use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, RecordType};
use hickory_server::net::xfer::Protocol as Transport;
use support::dns::{addresses, bytes, parse, query, query_edns};
use support::zone::{Zone, assert_negative, fq, sorted};

const GRACE: Duration = Duration::from_secs(30);

fn settings() -> Arc<ZoneSettings> {
    let config = Config::from_str(
        "source: {embedded: {manifests: [x]}}\n",
        std::path::Path::new("test.yaml"),
    )
    .unwrap();
    Arc::new(headless_dns::app::settings::zone_settings(&config))
}

fn service(ns: &str, name: &str) -> Service {
    Service {
        key: ObjectKey::new(ns, name),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    }
}

fn web_port() -> Port {
    Port {
        name: "web".into(),
        protocol: Protocol::Tcp,
        port: 80,
    }
}

fn ep(ip: &str, hostname: Option<&str>, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![ip.parse().unwrap()],
        hostname: hostname.map(Into::into),
        ready,
        target: hostname.map(Into::into),
    }
}

fn slice(ns: &str, name: &str, svc: &str, endpoints: Vec<Endpoint>) -> EndpointGroup {
    EndpointGroup {
        key: ObjectKey::new(ns, name),
        service: ObjectKey::new(ns, svc),
        ports: vec![web_port()],
        endpoints,
    }
}

/// The walkthrough: nginx-demo with web-demo-0 and -1.
fn demo_index() -> ClusterIndex {
    let mut index = ClusterIndex::new(settings(), GRACE);
    index.apply_service(service("demo", "nginx-demo"));
    index.apply_slice(slice(
        "demo",
        "nginx-demo-abc",
        "nginx-demo",
        vec![
            ep("10.244.0.39", Some("web-demo-0"), true),
            ep("10.244.0.40", Some("web-demo-1"), true),
        ],
    ));
    index.set_synced(true);
    index
}

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
    let mut targets: Vec<String> = m
        .answers
        .iter()
        .map(|r| match &r.data {
            RData::PTR(p) => p.0.to_ascii(),
            other => panic!("not PTR: {other:?}"),
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
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

#[tokio::test]
async fn nxdomain_and_nodata_carry_the_soa() {
    let zone = Zone::new(demo_index());
    let m = zone.q(&fq("nope.nginx-demo.demo.svc"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
    let m = zone.q(&fq("nginx-demo.nope.svc"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
    let m = zone
        .q(&fq("web-demo-0.nginx-demo.demo.svc"), RecordType::MX)
        .await;
    assert_negative(&m, ResponseCode::NoError, 5);
    // Empty non-terminals are NODATA (`pod.Z` with pod records on).
    for ent in ["svc", "demo.svc", "pod"] {
        let m = zone.q(&fq(ent), RecordType::A).await;
        assert_negative(&m, ResponseCode::NoError, 5);
    }
}

#[tokio::test]
async fn negative_ttl_is_min_of_soa_ttl_and_minimum() {
    let config = Config::from_str(
        "dns: {ttl: 30, negative_ttl: 7}\nsource: {embedded: {manifests: [x]}}\n",
        std::path::Path::new("t.yaml"),
    )
    .unwrap();
    let mut index = ClusterIndex::new(
        Arc::new(headless_dns::app::settings::zone_settings(&config)),
        GRACE,
    );
    index.set_synced(true);
    let zone = Zone::new(index);
    let m = zone.q(&fq("x.svc"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, 7);
    let m = zone.q("cluster.local.", RecordType::SOA).await;
    assert_eq!(m.answers[0].ttl, 30);
}

#[tokio::test]
async fn outside_the_zone_is_refused_without_aa() {
    let zone = Zone::new(demo_index());
    for name in ["example.com.", "local.", "."] {
        let m = zone.q(name, RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{name}");
        assert!(!m.metadata.authoritative, "{name}");
    }
}

#[tokio::test]
async fn query_case_is_echoed() {
    let zone = Zone::new(demo_index());
    let name = "Web-Demo-0.NGINX-demo.Demo.SVC.Cluster.Local.";
    let m = zone.q(name, RecordType::A).await;
    assert_eq!(m.queries[0].name().to_ascii(), name);
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
}

#[tokio::test]
async fn not_ready_endpoints_are_left_out_unless_published() {
    let mut zone = Zone::new(demo_index());
    zone.index.apply_slice(slice(
        "demo",
        "nginx-demo-abc",
        "nginx-demo",
        vec![
            ep("10.244.0.39", Some("web-demo-0"), true),
            ep("10.244.0.40", Some("web-demo-1"), false),
        ],
    ));
    zone.publish(Duration::ZERO);
    let m = zone.q(&fq("nginx-demo.demo.svc"), RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    // web-demo-1 had an address a moment ago: a stable name, NODATA ≤ 1 s.
    let m = zone
        .q(&fq("web-demo-1.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NoError, 1);

    let mut svc = service("demo", "nginx-demo");
    svc.publish_not_ready = true;
    zone.index.apply_service(svc);
    zone.publish(Duration::ZERO);
    let m = zone.q(&fq("nginx-demo.demo.svc"), RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39", "10.244.0.40"]);
    let m = zone
        .q(&fq("web-demo-1.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_eq!(addresses(&m.answers), ["10.244.0.40"]);
}

#[tokio::test]
async fn legacy_endpoints_are_a_source_too() {
    let mut index = ClusterIndex::new(settings(), GRACE);
    index.apply_service(service("legacy", "cache"));
    index.apply_endpoints(EndpointGroup {
        key: ObjectKey::new("legacy", "cache"),
        service: ObjectKey::new("legacy", "cache"),
        ports: vec![web_port()],
        endpoints: vec![
            ep("10.1.0.1", Some("cache-0"), true),
            ep("10.1.0.2", Some("cache-1"), false),
        ],
    });
    index.set_synced(true);
    let zone = Zone::new(index);
    let m = zone.q(&fq("cache.legacy.svc"), RecordType::A).await;
    assert_eq!(addresses(&m.answers), ["10.1.0.1"]);
    let m = zone
        .q(&fq("_web._tcp.cache.legacy.svc"), RecordType::SRV)
        .await;
    assert_eq!(m.answers.len(), 1);
}

#[tokio::test]
async fn service_without_ready_endpoints_or_not_headless_is_nxdomain() {
    let mut index = demo_index();
    index.apply_service(service("demo", "empty"));
    index.apply_slice(slice(
        "demo",
        "empty-1",
        "empty",
        vec![ep("10.9.9.9", Some("e-0"), false)],
    ));
    let mut clustered = service("demo", "clustered");
    clustered.kind = ServiceKind::ClusterIp(vec![]);
    index.apply_service(clustered);
    index.apply_slice(slice(
        "demo",
        "clustered-1",
        "clustered",
        vec![ep("10.9.9.8", None, true)],
    ));
    let zone = Zone::new(index);
    for name in ["clustered.demo.svc", "10-9-9-8.clustered.demo.svc"] {
        let m = zone.q(&fq(name), RecordType::A).await;
        assert_negative(&m, ResponseCode::NXDomain, 5);
    }
    // `empty` has one endpoint, listed but not ready: its name is NODATA
    // with the short TTL (the pod exists, kubernetes/kubernetes#92559), and
    // so the service name is an empty non-terminal.
    let m = zone.q(&fq("e-0.empty.demo.svc"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NoError, 1);
    let m = zone.q(&fq("empty.demo.svc"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NoError, 5);
    assert_negative(
        &zone.q(&fq("e-1.empty.demo.svc"), RecordType::A).await,
        ResponseCode::NXDomain,
        5,
    );
}

#[tokio::test]
async fn a_service_without_endpoints_is_nxdomain() {
    let mut index = demo_index();
    index.apply_service(service("demo", "bare"));
    let zone = Zone::new(index);
    let m = zone.q(&fq("bare.demo.svc"), RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
}

#[tokio::test]
async fn service_that_stops_being_headless_loses_its_names() {
    let mut zone = Zone::new(demo_index());
    let mut svc = service("demo", "nginx-demo");
    svc.kind = ServiceKind::ClusterIp(vec![]);
    zone.index.apply_service(svc);
    zone.publish(Duration::ZERO);
    let m = zone
        .q(&fq("web-demo-0.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
    let m = zone.q("39.0.244.10.in-addr.arpa.", RecordType::PTR).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
}

#[tokio::test]
async fn stable_names_answer_nodata_while_declared_or_in_grace() {
    let mut index = demo_index();
    index.apply_set(OrdinalSet {
        key: ObjectKey::new("demo", "web-demo"),
        service_name: "nginx-demo".into(),
        replicas: 3,
        start: 0,
    });
    let mut zone = Zone::new(index);
    // Declared but not yet running: NODATA with a 1 s negative TTL.
    let m = zone
        .q(&fq("web-demo-2.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NoError, 1);
    // Beyond the declared ordinals: NXDOMAIN.
    let m = zone
        .q(&fq("web-demo-3.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, 5);

    // Scale to 1 and remove web-demo-1's endpoint: within the grace window
    // the name is NODATA, after it NXDOMAIN.
    zone.index.apply_set(OrdinalSet {
        key: ObjectKey::new("demo", "web-demo"),
        service_name: "nginx-demo".into(),
        replicas: 1,
        start: 0,
    });
    zone.index.apply_slice(slice(
        "demo",
        "nginx-demo-abc",
        "nginx-demo",
        vec![ep("10.244.0.39", Some("web-demo-0"), true)],
    ));
    zone.publish(Duration::from_secs(1));
    let name = fq("web-demo-1.nginx-demo.demo.svc");
    let m = zone.q(&name, RecordType::A).await;
    assert_negative(&m, ResponseCode::NoError, 1);
    assert_eq!(
        zone.index.next_deadline(),
        Some(zone.now + Duration::from_secs(1) + GRACE)
    );
    zone.publish(Duration::from_secs(1) + GRACE);
    let m = zone.q(&name, RecordType::A).await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
    // web-demo-2 was never running and is no longer declared.
    let m = zone
        .q(&fq("web-demo-2.nginx-demo.demo.svc"), RecordType::A)
        .await;
    assert_negative(&m, ResponseCode::NXDomain, 5);
}

#[tokio::test]
async fn servfail_until_synced() {
    let mut index = ClusterIndex::new(settings(), GRACE);
    index.apply_service(service("demo", "nginx-demo"));
    let zone = Zone::new(index);
    let m = zone.q(&fq("nginx-demo.demo.svc"), RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    let m = zone.q("1.0.0.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    // Outside the zone is still REFUSED.
    let m = zone.q("example.com.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
}

fn big_index(n: usize) -> ClusterIndex {
    let mut index = ClusterIndex::new(settings(), GRACE);
    index.apply_service(service("big", "many"));
    let endpoints = (0..n)
        .map(|i| ep(&format!("10.100.{}.{}", i / 250, i % 250 + 1), None, true))
        .collect();
    index.apply_slice(slice("big", "many-1", "many", endpoints));
    index.set_synced(true);
    index
}

#[tokio::test]
async fn large_answer_truncates_over_udp_and_is_whole_over_tcp() {
    let zone = Zone::new(big_index(300));
    let name = fq("many.big.svc");
    // A 512-byte client (no EDNS).
    let m = zone.ask(&query(&name, RecordType::A)).await;
    assert!(m.metadata.truncation, "TC must be set: {m}");
    assert!(m.answers.is_empty());
    assert_eq!(m.queries.len(), 1, "question is echoed");
    assert!(
        zone.raw(bytes(&query(&name, RecordType::A)), Transport::Udp)
            .await
            .unwrap()
            .len()
            <= 512
    );
    // EDNS client with 4096: capped at our 1232, still truncated, OPT kept.
    let raw = zone
        .raw(
            bytes(&query_edns(&name, RecordType::A, 4096)),
            Transport::Udp,
        )
        .await
        .unwrap();
    assert!(raw.len() <= 1232);
    let m = parse(&raw);
    assert!(m.metadata.truncation);
    assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), Some(1232));
    // TCP: everything.
    let m = zone.ask_tcp(&query(&name, RecordType::A)).await;
    assert!(!m.metadata.truncation);
    assert_eq!(m.answers.len(), 300);
}

#[tokio::test]
async fn edns_payload_decides_what_fits() {
    // 60 A records ≈ 60×16 + header: too big for 512, fits in 1232.
    let zone = Zone::new(big_index(60));
    let name = fq("many.big.svc");
    let m = zone.ask(&query(&name, RecordType::A)).await;
    assert!(m.metadata.truncation);
    let m = zone.ask(&query_edns(&name, RecordType::A, 1232)).await;
    assert!(!m.metadata.truncation, "{m}");
    assert_eq!(m.answers.len(), 60);
    // A client offering less than 512 is treated as 512.
    let m = zone.ask(&query_edns(&name, RecordType::A, 100)).await;
    assert!(m.metadata.truncation);
}

#[tokio::test]
async fn edns_is_answered_with_opt_and_badvers_for_newer_versions() {
    let zone = Zone::new(demo_index());
    let name = fq("web-demo-0.nginx-demo.demo.svc");
    let m = zone.ask(&query_edns(&name, RecordType::A, 4096)).await;
    let edns = m.edns.as_ref().expect("OPT in answer");
    assert_eq!(edns.max_payload(), 1232);
    assert_eq!(edns.version(), 0);
    let m = zone.ask(&query(&name, RecordType::A)).await;
    assert!(m.edns.is_none(), "no OPT without one in the query");

    let mut q = query_edns(&name, RecordType::A, 1232);
    q.edns.as_mut().unwrap().set_version(1);
    let m = zone.ask(&q).await;
    // BADVERS is extended rcode 16 (hickory decodes 16 as BADSIG, its twin).
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert_eq!(m.edns.as_ref().map(|e| e.version()), Some(0));
    assert!(m.answers.is_empty());
}

#[tokio::test]
async fn header_rules_formerr_notimp_refused() {
    let zone = Zone::new(demo_index());
    let name = fq("web-demo-0.nginx-demo.demo.svc");
    // QDCOUNT 0 and 2.
    let mut none = query(&name, RecordType::A);
    none.queries.clear();
    assert_eq!(
        zone.ask(&none).await.metadata.response_code,
        ResponseCode::FormErr
    );
    let mut two = query(&name, RecordType::A);
    two.add_query(hickory_proto::op::Query::query(
        hickory_proto::rr::Name::from_ascii(&name).unwrap(),
        RecordType::AAAA,
    ));
    assert_eq!(
        zone.ask(&two).await.metadata.response_code,
        ResponseCode::FormErr
    );
    // Opcodes other than QUERY.
    for op in [OpCode::Status, OpCode::Notify, OpCode::Update] {
        let mut m = query(&name, RecordType::SOA);
        m.metadata.op_code = op;
        let r = zone.ask(&m).await;
        assert_eq!(r.metadata.response_code, ResponseCode::NotImp, "{op:?}");
    }
    // Classes other than IN.
    let mut ch = query(&name, RecordType::A);
    ch.queries[0].set_query_class(DNSClass::CH);
    assert_eq!(
        zone.ask(&ch).await.metadata.response_code,
        ResponseCode::Refused
    );
    // Zone transfers are refused.
    let axfr = query("cluster.local.", RecordType::AXFR);
    assert_eq!(
        zone.ask_tcp(&axfr).await.metadata.response_code,
        ResponseCode::Refused
    );
}

#[tokio::test]
async fn malformed_packets_get_formerr_or_silence() {
    let zone = Zone::new(demo_index());
    // Shorter than a header: silence.
    assert!(zone.raw(vec![], Transport::Udp).await.is_none());
    assert!(
        zone.raw(vec![0x12, 0x34, 0x01], Transport::Udp)
            .await
            .is_none()
    );
    // A header claiming a question that is not there: FORMERR, id kept.
    let raw = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0];
    let m = parse(&zone.raw(raw, Transport::Udp).await.expect("FORMERR"));
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(m.metadata.id, 0x1234);
    // A response (QR set) is never answered.
    let mut r = query(&fq("x"), RecordType::A);
    r.metadata.message_type = hickory_proto::op::MessageType::Response;
    assert!(zone.raw(bytes(&r), Transport::Udp).await.is_none());
}

/// The fast path and the full hickory handler give the same answer to every
/// plain query: same header bits, rcode, sections (order aside) and OPT.
#[tokio::test]
async fn fast_and_full_paths_agree() {
    let mut index = demo_index();
    index.apply_set(OrdinalSet {
        key: ObjectKey::new("demo", "web-demo"),
        service_name: "nginx-demo".into(),
        replicas: 3,
        start: 0,
    });
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "nginx-demo-v6"),
        service: ObjectKey::new("demo", "nginx-demo"),
        ports: vec![web_port()],
        endpoints: vec![
            ep("fd00::27", Some("web-demo-0"), true),
            ep("fd00::28", None, true),
        ],
    });
    let zone = Zone::new(index);
    let big = Zone::new(big_index(300));
    let names = [
        "web-demo-0.nginx-demo.demo.svc.cluster.local.",
        "WEB-demo-1.Nginx-Demo.demo.svc.cluster.local.",
        "web-demo-2.nginx-demo.demo.svc.cluster.local.",
        "web-demo-9.nginx-demo.demo.svc.cluster.local.",
        "fd00--28.nginx-demo.demo.svc.cluster.local.",
        "nginx-demo.demo.svc.cluster.local.",
        "_web._tcp.nginx-demo.demo.svc.cluster.local.",
        "_tcp.nginx-demo.demo.svc.cluster.local.",
        "demo.svc.cluster.local.",
        "svc.cluster.local.",
        "cluster.local.",
        "ns.dns.cluster.local.",
        "dns-version.cluster.local.",
        "nothing.cluster.local.",
        "39.0.244.10.in-addr.arpa.",
        "0.244.10.in-addr.arpa.",
        "7.7.7.7.in-addr.arpa.",
        "in-addr.arpa.",
        "example.com.",
    ];
    let types = [
        RecordType::A,
        RecordType::AAAA,
        RecordType::SRV,
        RecordType::PTR,
        RecordType::SOA,
        RecordType::NS,
        RecordType::TXT,
        RecordType::MX,
    ];
    let mut compared = 0;
    for (zone, names) in [
        (&zone, &names[..]),
        (&big, &["many.big.svc.cluster.local."][..]),
    ] {
        for name in names {
            for qtype in types {
                for edns in [None, Some(512u16), Some(1232), Some(4096)] {
                    for transport in [Transport::Udp, Transport::Tcp] {
                        let q = match edns {
                            None => query(name, qtype),
                            Some(p) => query_edns(name, qtype, p),
                        };
                        let src: SocketAddr = "127.0.0.1:5353".parse().unwrap();
                        let fast = handle_bytes(&zone.handler, bytes(&q), src, transport)
                            .await
                            .unwrap();
                        let slow = handle_bytes_slow(&zone.handler, bytes(&q), src, transport)
                            .await
                            .unwrap();
                        let (f, s) = (parse(&fast), parse(&slow));
                        let what = format!("{name} {qtype} edns={edns:?} {transport:?}");
                        assert_eq!(f.metadata, s.metadata, "{what}");
                        assert_eq!(f.queries, s.queries, "{what}");
                        assert_eq!(sorted(&f.answers), sorted(&s.answers), "{what}");
                        assert_eq!(sorted(&f.authorities), sorted(&s.authorities), "{what}");
                        assert_eq!(sorted(&f.additionals), sorted(&s.additionals), "{what}");
                        assert_eq!(f.edns, s.edns, "{what}");
                        if transport == Transport::Udp {
                            let limit = edns.map_or(512, |p| p.clamp(512, 1232)) as usize;
                            assert!(fast.len() <= limit, "{what}: {} > {limit}", fast.len());
                        }
                        compared += 1;
                    }
                }
            }
        }
    }
    assert_eq!(compared, (names.len() + 1) * types.len() * 4 * 2);
}
