//! The wire rules: a large answer truncated over UDP and whole over TCP,
//! the EDNS payload deciding what fits, OPT and BADVERS, FORMERR, NOTIMP
//! and REFUSED by header, malformed packets, and the fast path agreeing
//! with the full one.

use super::*;
use std::net::SocketAddr;

use crate::support::dns::{bytes, parse, query, query_edns};
use crate::support::zone::{Zone, fq, sorted};
use headless_dns::index::ClusterIndex;
use headless_dns::model::{EndpointGroup, ObjectKey, OrdinalSet};
use headless_dns::server::packet::{handle_bytes, handle_bytes_slow};
use hickory_proto::op::{OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, RecordType};
use hickory_server::net::xfer::Protocol as Transport;

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
