//! IXFR without sockets: the condensed difference, one SOA from the
//! current serial, the full zone from an unknown serial, FORMERR without
//! the client's SOA, and over UDP the SOA alone (AXFR refused).

use super::*;
use std::net::SocketAddr;
use std::sync::Arc;

use headless_dns::metrics::Metrics;
use headless_dns::model::ObjectKey;
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::handle_bytes;
use headless_dns::transfer::export::record_line;
use headless_dns::transfer::{Outcome, serial_lt};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_server::net::xfer::Protocol as Transport;
use support::xfr::{apply_ixfr, axfr, bytes, ixfr, soa_serial};

#[test]
fn ixfr_sends_the_condensed_difference() {
    let mut f = Fixture::demo(&["127.0.0.0/8"]);
    // The secondary transfers serial `from` (which files it in the journal).
    let old = f.snap();
    let (_, raw) = f.ask(&bytes(&axfr(FORWARD)), LOCAL);
    check_messages(&axfr(FORWARD), &raw, ResponseCode::NoError);
    // Changes: pod-1 moves, pod-2 appears, the other service goes, a new
    // namespace appears; then pod-1 moves again (condensed: one change).
    let mut endpoints = pods(244, 3);
    endpoints.push(endpoint("fd00::7".parse().unwrap(), Some("pod-0".into())));
    endpoints.push(endpoint("10.244.9.9".parse().unwrap(), None));
    endpoints[1] = endpoint("10.244.7.7".parse().unwrap(), Some("pod-1".into()));
    f.index
        .apply_slice(slice("demo", "nginx-abc", "nginx-demo", endpoints.clone()));
    f.index.delete_service(&ObjectKey::new("demo", "other"));
    f.index.apply_service(service("shop", "db"));
    f.index
        .apply_slice(slice("shop", "db-1", "db", pods(50, 2)));
    f.publish();
    endpoints[1] = endpoint("10.244.8.8".parse().unwrap(), Some("pod-1".into()));
    f.index
        .apply_slice(slice("demo", "nginx-abc", "nginx-demo", endpoints));
    let new = f.publish();
    assert!(serial_lt(old.serial, new.serial));

    for origin in [FORWARD, IN_ADDR, IP6] {
        let q = ixfr(origin, old.serial);
        let (outcome, raw) = f.ask(&bytes(&q), LOCAL);
        assert_eq!(
            outcome,
            Outcome::Incremental {
                from: old.serial,
                to: new.serial
            },
            "{origin}"
        );
        let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
        let mut zone = zone_lines(&old, origin);
        apply_ixfr(&mut zone, &records, old.serial, new.serial);
        assert_eq!(zone, zone_lines(&new, origin), "{origin}");
        if origin == FORWARD {
            // Condensed: the intermediate address never appears.
            let text: Vec<String> = records.iter().map(record_line).collect();
            assert!(!text.iter().any(|l| l.contains("10.244.7.7")), "{text:#?}");
            assert!(text.iter().any(|l| l.contains("10.244.8.8")));
            // Unchanged records are not sent.
            assert!(!text.iter().any(|l| l.contains("dns-version")));
        }
    }
    // ip6.arpa did not change beyond its serial: deletions and additions
    // are empty.
    let (_, raw) = f.ask(&bytes(&ixfr(IP6, old.serial)), LOCAL);
    let (_, records) = check_messages(&ixfr(IP6, old.serial), &raw, ResponseCode::NoError);
    assert_eq!(records.len(), 4, "{records:?}");
}

#[test]
fn ixfr_from_the_current_serial_is_one_soa() {
    let f = Fixture::demo(&["127.0.0.0/8"]);
    let snap = f.snap();
    // Current, and "newer than ours" in serial arithmetic.
    for from in [snap.serial, snap.serial.wrapping_add(5)] {
        let q = ixfr(FORWARD, from);
        let (outcome, raw) = f.ask(&bytes(&q), LOCAL);
        assert_eq!(
            outcome,
            Outcome::UpToDate {
                serial: snap.serial
            }
        );
        let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
        assert_eq!(records.len(), 1);
        assert_eq!(soa_serial(&records[0]), Some(snap.serial));
    }
}

#[test]
fn ixfr_from_an_unknown_serial_is_the_full_zone() {
    let mut f = Fixture::new(&["127.0.0.0/8"], 2);
    f.index.apply_service(service("demo", "web"));
    let mut serials = Vec::new();
    for round in 0..4u8 {
        f.index
            .apply_slice(slice("demo", "web-1", "web", pods(100 + round, 3)));
        let snap = f.publish();
        f.transfer.journal().record(snap.clone());
        serials.push(snap.serial);
    }
    let snap = f.snap();
    // Journal of 2: the last two serials.
    assert_eq!(f.transfer.journal().serials(), serials[2..]);
    let unknown = [
        serials[0],                        // aged out of the journal
        serials[0].wrapping_sub(99),       // never published
        snap.serial.wrapping_add(1 << 31), // 2^31 away: not comparable
    ];
    for from in unknown {
        let q = ixfr(FORWARD, from);
        let (outcome, raw) = f.ask(&bytes(&q), LOCAL);
        assert_eq!(
            outcome,
            Outcome::Full {
                from,
                to: snap.serial
            }
        );
        let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
        // AXFR-style: the second record is not an SOA.
        check_full_zone(&records, &snap, FORWARD);
    }
    // Still in the journal: incremental.
    let (outcome, _) = f.ask(&bytes(&ixfr(FORWARD, serials[2])), LOCAL);
    assert!(
        matches!(outcome, Outcome::Incremental { .. }),
        "{outcome:?}"
    );
}

#[test]
fn ixfr_without_the_clients_soa_is_formerr() {
    let f = Fixture::demo(&["127.0.0.0/8"]);
    let mut q = Message::new(9, MessageType::Query, OpCode::Query);
    q.add_query(Query::query(name(FORWARD), RecordType::IXFR));
    let (outcome, raw) = f.ask(&bytes(&q), LOCAL);
    assert_eq!(outcome, Outcome::Error(ResponseCode::FormErr));
    check_messages(&q, &raw, ResponseCode::FormErr);
}

/// Over UDP: AXFR is refused; IXFR from an allowed source gets the SOA
/// alone (RFC 1995 §2), from anywhere else REFUSED.
#[tokio::test]
async fn over_udp_ixfr_gets_the_soa_and_axfr_is_refused() {
    let f = Fixture::demo(&["127.0.0.0/8"]);
    let snap = f.snap();
    let handler = DnsHandler::new(f.store.clone(), 1232, Arc::new(Metrics::default()))
        .with_transfer(f.transfer.clone());
    let ask = |q: Message, src: &str| {
        let handler = handler.clone();
        let src: SocketAddr = src.parse().unwrap();
        async move {
            let raw = handle_bytes(&handler, bytes(&q), src, Transport::Udp)
                .await
                .unwrap();
            Message::from_vec(&raw).unwrap()
        }
    };
    let m = ask(ixfr(FORWARD, 1), "127.0.0.1:5353").await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(soa_serial(&m.answers[0]), Some(snap.serial));
    let m = ask(ixfr(IN_ADDR, 1), "127.0.0.1:5353").await;
    assert_eq!(soa_serial(&m.answers[0]), Some(snap.serial));
    for (q, src) in [
        (ixfr(FORWARD, 1), "10.0.0.1:5353"),
        (ixfr("svc.cluster.local.", 1), "127.0.0.1:5353"),
        (axfr(FORWARD), "127.0.0.1:5353"),
    ] {
        let m = ask(q, src).await;
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
        assert!(m.answers.is_empty());
    }
    // Without a transfer responder at all, IXFR over UDP is refused too.
    let bare = DnsHandler::new(f.store.clone(), 1232, Arc::new(Metrics::default()));
    let raw = handle_bytes(
        &bare,
        bytes(&ixfr(FORWARD, 1)),
        "127.0.0.1:5353".parse().unwrap(),
        Transport::Udp,
    )
    .await
    .unwrap();
    assert_eq!(
        Message::from_vec(&raw).unwrap().metadata.response_code,
        ResponseCode::Refused
    );
}
