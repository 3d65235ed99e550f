//! AXFR without sockets: every record of each zone, the ACL, NOTAUTH
//! outside a zone apex, nothing before the sources synced, many messages
//! for a large zone, and one snapshot per transfer while the zone changes.

use super::*;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use headless_dns::metrics::Metrics;
use headless_dns::snapshot::Snapshot;
use headless_dns::transfer::message::MAX_MESSAGE;
use headless_dns::transfer::{Auth, Outcome, Transfer};
use headless_dns::wire::last_additional;
use hickory_proto::op::ResponseCode;
use support::xfr::{axfr, bytes, ixfr};

#[test]
fn axfr_sends_every_record_of_each_zone() {
    let f = Fixture::demo(&["127.0.0.0/8"]);
    let snap = f.snap();
    for origin in [FORWARD, IN_ADDR, IP6] {
        let q = axfr(origin);
        let (outcome, raw) = f.ask(&bytes(&q), LOCAL);
        assert_eq!(
            outcome,
            Outcome::Axfr {
                serial: snap.serial
            }
        );
        let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
        check_full_zone(&records, &snap, origin);
    }
    // What the zone holds, spelled out once for the forward zone.
    let zone = zone_lines(&snap, FORWARD);
    for line in [
        "cluster.local.\t5\tIN\tNS\tns.dns.cluster.local.",
        "ns.dns.cluster.local.\t5\tIN\tA\t127.0.0.1",
        "dns-version.cluster.local.\t5\tIN\tTXT\t\"1.1.0\"",
        "nginx-demo.demo.svc.cluster.local.\t5\tIN\tA\t10.244.0.1",
        "pod-0.nginx-demo.demo.svc.cluster.local.\t5\tIN\tAAAA\tfd00::7",
        "10-244-9-9.nginx-demo.demo.svc.cluster.local.\t5\tIN\tA\t10.244.9.9",
        "_web._tcp.nginx-demo.demo.svc.cluster.local.\t5\tIN\tSRV\t0 3333 80 pod-1.nginx-demo.demo.svc.cluster.local.",
        "10-244-0-1.other.demo.svc.cluster.local.\t5\tIN\tA\t10.244.0.1",
    ] {
        assert!(zone.contains(line), "{line} missing from {zone:#?}");
    }
    // 10.244.0.1 is selected by two services: two PTRs.
    let reverse = zone_lines(&snap, IN_ADDR);
    let ptrs: Vec<&String> = reverse
        .iter()
        .filter(|l| l.starts_with("1.0.244.10.in-addr.arpa."))
        .collect();
    assert_eq!(ptrs.len(), 2, "{reverse:#?}");
    assert!(
        zone_lines(&snap, IP6)
            .iter()
            .any(|l| l.ends_with("PTR\tpod-0.nginx-demo.demo.svc.cluster.local."))
    );
}

#[test]
fn axfr_is_refused_outside_the_acl() {
    let f = Fixture::demo(&["127.0.0.0/8", "::1/128"]);
    for peer in ["10.0.0.1", "192.168.1.1", "::2", "::ffff:10.0.0.1"] {
        let q = axfr(FORWARD);
        let (outcome, raw) = f.ask(&bytes(&q), peer.parse().unwrap());
        assert_eq!(outcome, Outcome::Error(ResponseCode::Refused), "{peer}");
        let (messages, records) = check_messages(&q, &raw, ResponseCode::Refused);
        assert_eq!(messages.len(), 1);
        assert!(records.is_empty());
    }
    // Allowed, including IPv4 written as IPv6.
    for peer in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
        let (outcome, _) = f.ask(&bytes(&axfr(FORWARD)), peer.parse().unwrap());
        assert!(
            matches!(outcome, Outcome::Axfr { .. }),
            "{peer}: {outcome:?}"
        );
    }
    // No `allow` at all (the default): refused for everyone, IXFR too.
    let closed = Fixture::new(&[], 64);
    for q in [axfr(FORWARD), ixfr(FORWARD, 1)] {
        let (outcome, raw) = closed.ask(&bytes(&q), LOCAL);
        assert_eq!(outcome, Outcome::Error(ResponseCode::Refused));
        check_messages(&q, &raw, ResponseCode::Refused);
    }
}

#[test]
fn axfr_of_a_name_that_is_no_zone_apex_is_notauth() {
    let f = Fixture::demo(&["0.0.0.0/0"]);
    for zone in [
        "svc.cluster.local.",
        "example.com.",
        "10.in-addr.arpa.",
        ".",
    ] {
        let q = axfr(zone);
        let (outcome, raw) = f.ask(&bytes(&q), LOCAL);
        assert_eq!(outcome, Outcome::Error(ResponseCode::NotAuth), "{zone}");
        check_messages(&q, &raw, ResponseCode::NotAuth);
    }
    // The apex in any case is the apex.
    let (outcome, _) = f.ask(&bytes(&axfr("Cluster.LOCAL.")), LOCAL);
    assert!(matches!(outcome, Outcome::Axfr { .. }));
}

#[test]
fn nothing_is_transferred_before_the_sources_synced() {
    let store = Arc::new(ArcSwap::from_pointee(Snapshot::empty(settings(), 7)));
    let transfer = Transfer::new(
        store,
        Auth::from_networks(vec!["127.0.0.0/8".parse().unwrap()]),
        4,
        Arc::new(Metrics::default()),
    );
    for q in [axfr(FORWARD), ixfr(FORWARD, 1)] {
        let (outcome, raw) = transfer.answer(&bytes(&q), LOCAL);
        assert_eq!(outcome, Outcome::Error(ResponseCode::ServFail));
        check_messages(&q, &raw, ResponseCode::ServFail);
    }
}

/// A zone of 2,000 endpoints: many messages, each within the limit, each
/// echoing ID and question, together exactly the zone.
#[test]
fn a_large_zone_takes_many_messages() {
    let mut f = Fixture::new(&["127.0.0.0/8"], 64);
    f.index.apply_service(service("big", "web"));
    let endpoints = pods(20, 2000);
    f.index
        .apply_slice(slice("big", "web-1", "web", endpoints[..1000].to_vec()));
    f.index
        .apply_slice(slice("big", "web-2", "web", endpoints[1000..].to_vec()));
    let snap = f.publish();
    for (origin, at_least) in [(FORWARD, 6000), (IN_ADDR, 2000)] {
        let q = axfr(origin);
        let (_, raw) = f.ask(&bytes(&q), LOCAL);
        let (messages, records) = check_messages(&q, &raw, ResponseCode::NoError);
        let body = check_full_zone(&records, &snap, origin);
        assert!(body.len() >= at_least, "{origin}: {} records", body.len());
        assert!(messages.len() > 1, "{origin}: one message");
        // Every message but the last is well filled (packing, not one
        // record per message).
        for bytes in &raw[..raw.len() - 1] {
            assert!(
                bytes.len() > usize::from(MAX_MESSAGE) / 2,
                "{}",
                bytes.len()
            );
        }
        println!(
            "{origin}: {} records in {} messages",
            records.len(),
            messages.len()
        );
    }
}

/// A transfer in progress keeps sending the snapshot it started with while
/// the zone changes under it; the next transfer sees the change.
#[tokio::test]
async fn a_transfer_is_one_snapshot_while_the_zone_changes() {
    let mut f = Fixture::new(&["127.0.0.0/8"], 64);
    f.index.apply_service(service("big", "web"));
    f.index
        .apply_slice(slice("big", "web-1", "web", pods(20, 2000)));
    let before = f.publish();
    let q = bytes(&axfr(FORWARD));
    // A queue of one: the responder waits for us after each message.
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let transfer = f.transfer.clone();
    let peer = SocketAddr::new(LOCAL, 5353);
    // The snapshot the server's packet entry would load for the query.
    let snap = f.snap();
    let last = last_additional(&q);
    let sending = tokio::spawn(async move { transfer.respond(snap, &q, last, peer, &tx).await });
    let mut raw = vec![rx.recv().await.unwrap()];
    // Every pod moves and a service appears, mid-transfer.
    f.index
        .apply_slice(slice("big", "web-1", "web", pods(30, 2000)));
    f.index.apply_service(service("big", "late"));
    f.index
        .apply_slice(slice("big", "late-1", "late", pods(40, 10)));
    let after = f.publish();
    assert_ne!(before.serial, after.serial);
    while let Some(message) = rx.recv().await {
        raw.push(message);
    }
    let outcome = sending.await.unwrap().unwrap();
    assert_eq!(
        outcome,
        Outcome::Axfr {
            serial: before.serial
        }
    );
    assert!(raw.len() > 3, "the change must land mid-transfer");
    let (_, records) = check_messages(&axfr(FORWARD), &raw, ResponseCode::NoError);
    check_full_zone(&records, &before, FORWARD);
    // The next one is all new.
    let (_, raw) = f.ask(&bytes(&axfr(FORWARD)), LOCAL);
    let (_, records) = check_messages(&axfr(FORWARD), &raw, ResponseCode::NoError);
    check_full_zone(&records, &after, FORWARD);
}
