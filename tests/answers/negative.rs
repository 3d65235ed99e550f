//! Negative and not-yet answers: NXDOMAIN and NODATA with the SOA and its
//! negative TTL, REFUSED outside the zone, the query's case echoed,
//! not-ready endpoints, legacy Endpoints, services without endpoints or no
//! longer headless, stable names while declared or in grace, and SERVFAIL
//! until the sources synced.

use super::*;
use std::time::Duration;

use crate::support::dns::addresses;
use crate::support::settings::settings_with;
use crate::support::zone::{Zone, assert_negative, fq};
use headless_dns::index::ClusterIndex;
use headless_dns::model::{EndpointGroup, ObjectKey, OrdinalSet, ServiceKind};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

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
    let mut index = ClusterIndex::new(settings_with("ttl: 30, negative_ttl: 7"), GRACE);
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
