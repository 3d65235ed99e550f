//! Tests of the single entry (`packet.rs`): the slow path from the fast path's walk, the class reported to RRL, accounting once, transfers from the entry's snapshot.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;

use super::*;
use crate::index::ClusterIndex;
use crate::metrics::Metrics;
use crate::model::{
    Endpoint, EndpointGroup, ObjectKey, PodRecords, Port, Protocol as PortProtocol, Service,
    ServiceKind,
};
use crate::snapshot::ZoneSettings;

/// A handler on a zone with one headless service of 60 pods, so an
/// answer for the service name does not fit 512 bytes.
fn handler() -> DnsHandler {
    let settings = ZoneSettings {
        zone: Name::from_ascii("cluster.local.").unwrap(),
        reverse_zones: vec![Name::from_ascii("10.in-addr.arpa.").unwrap()],
        ttl: 5,
        negative_ttl: 5,
        nameserver: Name::from_ascii("ns.dns.cluster.local.").unwrap(),
        nameserver_addresses: vec![],
        pod_records: PodRecords::Insecure,
    };
    let mut index = ClusterIndex::new(Arc::new(settings), Duration::from_secs(30));
    index.apply_service(Service {
        key: ObjectKey::new("demo", "web"),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    });
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "web-abc"),
        service: ObjectKey::new("demo", "web"),
        ports: vec![Port {
            name: "http".into(),
            protocol: PortProtocol::Tcp,
            port: 80,
        }],
        endpoints: (0..60u8)
            .map(|i| Endpoint {
                addresses: vec![IpAddr::from([10, 244, 0, i])],
                hostname: Some(format!("web-{i}").into()),
                ready: true,
                target: None,
            })
            .collect(),
    });
    index.set_synced(true);
    let snap = index
        .publish(Instant::now())
        .unwrap_or_else(|| index.snapshot().clone());
    DnsHandler::new(
        Arc::new(ArcSwap::from_pointee(snap)),
        1232,
        Arc::new(Metrics::default()),
    )
    .with_nsid(Some("ns-1"))
}

/// A query by hand: `flags`, one question per name, and an OPT with
/// `opt` (payload, version, rdata) when given.
fn query(flags: u16, names: &[&str], qtype: u16, opt: Option<(u16, u8, &[u8])>) -> Vec<u8> {
    let mut q = vec![0x12, 0x34];
    q.extend_from_slice(&flags.to_be_bytes());
    q.extend_from_slice(&(names.len() as u16).to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, u8::from(opt.is_some())]);
    for name in names {
        for label in name.split('.').filter(|l| !l.is_empty()) {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
    }
    if let Some((payload, version, rdata)) = opt {
        q.extend_from_slice(&[0, 0, 41]);
        q.extend_from_slice(&payload.to_be_bytes());
        q.extend_from_slice(&[0, version, 0, 0]);
        q.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        q.extend_from_slice(rdata);
    }
    q
}

/// Queries of every kind: plain ones the fast path answers (positive,
/// truncated, NODATA, NXDOMAIN, REFUSED) and ones it declines (EDNS
/// options, NSID, BADVERS, ANY, two questions, a bad pointer, counts
/// that cannot fit, NOTIFY, class CH, transfers, a cut body).
fn queries() -> Vec<Vec<u8>> {
    let pod = "web-3.web.demo.svc.cluster.local.";
    let service = "web.demo.svc.cluster.local.";
    let mut out = vec![
        query(0x0100, &[pod], 1, None),
        query(
            0x0100,
            &["WEB-3.Web.demo.svc.cluster.local."],
            1,
            Some((1232, 0, &[])),
        ),
        query(0x0100, &[service], 1, None),
        query(0x0100, &[service], 1, Some((4096, 0, &[]))),
        query(0, &[pod], 28, None),
        query(0, &["nope.demo.svc.cluster.local."], 1, None),
        query(0, &["example.com."], 1, None),
        query(0, &[pod], 1, Some((1232, 0, &[0, 3, 0, 0]))),
        query(0, &[service], 1, Some((512, 0, &[0xfd, 0xe9, 0, 1, 7]))),
        query(0, &[pod], 1, Some((1232, 1, &[]))),
        query(0, &[pod], 255, None),
        query(0, &[pod, service], 1, None),
        query(0x2000, &["cluster.local."], 6, None),
        query(0, &["cluster.local."], 252, None),
        query(0, &["cluster.local."], 251, None),
        query(0, &["cluster.local."], 41, None),
    ];
    let mut chaos = query(0, &["version.bind."], 16, None);
    let at = chaos.len() - 1;
    chaos[at] = 3;
    out.push(chaos);
    let mut pointer = query(0, &[pod], 1, None);
    pointer.truncate(12);
    pointer.extend_from_slice(&[0xc0, 4, 0, 1, 0, 1]);
    out.push(pointer);
    let mut counts = query(0, &[pod], 1, None);
    counts[4..6].copy_from_slice(&[0xff, 0xff]);
    out.push(counts);
    let cut = query(0, &[pod], 1, Some((1232, 0, &[0, 3, 0, 0])));
    out.push(cut[..cut.len() - 3].to_vec());
    let mut response = query(0, &[pod], 1, None);
    response[2] |= 0x80;
    out.push(response);
    out
}

fn src() -> SocketAddr {
    "192.0.2.1:5353".parse().unwrap()
}

/// The slow path, handed the fast path's walk, answers byte for byte
/// what it answers from the raw bytes with a walk of its own; and the
/// walk handed over is the walk of the raw bytes.
#[tokio::test]
async fn the_slow_path_from_the_fast_paths_walk_answers_as_from_raw() {
    let handler = handler();
    let snap = handler.snapshot().load_full();
    let mut declined = 0;
    for raw in queries() {
        for (transport, protocol) in [
            (Transport::Udp, Protocol::Udp),
            (Transport::Tcp(None), Protocol::Tcp),
        ] {
            let mut out = Vec::new();
            let limit = matches!(transport, Transport::Udp).then_some(1232);
            let Outcome::Slow(peek) = fast::respond_advertising(&snap, &raw, &mut out, limit, 1232)
            else {
                continue;
            };
            declined += 1;
            assert_eq!(Some(peek), Peek::read(&raw, |_| ()), "{raw:?}");
            let handed = match handler.answer(&snap, &raw, src(), transport, &mut out) {
                Handled::Reply(_) => Some(out),
                Handled::Silent => None,
                Handled::Transfer(_) => panic!("no stream, no transfer"),
            };
            let from_raw = handle_bytes_slow(&handler, raw.clone(), src(), protocol).await;
            assert_eq!(handed, from_raw, "{raw:?} over {protocol:?}");
        }
    }
    assert!(declined >= 20, "only {declined} declined");
}

/// A zone transfer on a connection streams from the snapshot the entry
/// was handed, not from one it loads itself: before the stream runs,
/// the store moves on to an unsynced snapshot, from which a transfer is
/// SERVFAIL.
#[tokio::test]
async fn a_transfer_streams_from_the_snapshot_the_entry_was_handed() {
    let handler = handler();
    let store = handler.snapshot().clone();
    let allow = vec!["192.0.2.0/24".parse().unwrap()];
    let transfer = Arc::new(Transfer::new(
        store.clone(),
        transfer::Auth::from_networks(allow),
        4,
        handler.metrics.clone(),
    ));
    let handler = handler.with_transfer(transfer.clone());
    let snap = store.load_full();
    let mut unsynced = (*snap).clone();
    unsynced.synced = false;
    let raw = query(0, &["cluster.local."], 252, None);
    let (tx, mut rx) = mpsc::channel(64);
    let mut out = Vec::new();
    let transport = Transport::Tcp(Some(&tx));
    let Handled::Transfer(stream) = handler.answer(&snap, &raw, src(), transport, &mut out) else {
        panic!("an AXFR on a connection is a transfer");
    };
    store.store(Arc::new(unsynced));
    stream.run().await.expect("the queue is open");
    drop(tx);
    let mut messages = Vec::new();
    while let Some(message) = rx.recv().await {
        messages.push(hickory_proto::op::Message::from_vec(&message).unwrap());
    }
    let first = messages.first().expect("a message");
    assert_eq!(first.metadata.response_code, ResponseCode::NoError);
    let soa = match &first.answers.first().expect("the SOA").data {
        hickory_proto::rr::RData::SOA(soa) => soa.serial,
        other => panic!("{other:?}"),
    };
    assert_eq!(soa, snap.serial);
    let records: usize = messages.iter().map(|m| m.answers.len()).sum();
    assert!(records > 60, "{records} records");
    // What a transfer loading its own snapshot would have sent now.
    let (outcome, _) = transfer.answer(&raw, src().ip());
    assert_eq!(outcome, transfer::Outcome::Error(ResponseCode::ServFail));
}

/// RRL's class comes from the path that answered, and it is the class
/// the answer's bytes say, truncated answers included.
#[test]
fn the_class_reported_is_the_class_of_the_bytes() {
    let handler = handler();
    let snap = handler.snapshot().load_full();
    let mut seen = Vec::new();
    for raw in queries() {
        for transport in [Transport::Udp, Transport::Tcp(None)] {
            let mut out = Vec::new();
            if let Handled::Reply(class) = handler.answer(&snap, &raw, src(), transport, &mut out) {
                assert_eq!(class, rrl::class_of(&out), "{raw:?}");
                seen.push(class);
            }
        }
    }
    for class in [
        ResponseClass::Positive,
        ResponseClass::NoData,
        ResponseClass::NxDomain,
        ResponseClass::Error,
    ] {
        assert!(seen.contains(&class), "no {class:?} answer among {seen:?}");
    }
}

/// Every answered query is counted once, by whichever path answered;
/// the slow path is counted only when it ran.
#[test]
fn each_query_is_counted_once_whichever_path_answers() {
    let handler = handler();
    let snap = handler.snapshot().load_full();
    let metrics = handler.metrics.clone();
    let pod = "web-3.web.demo.svc.cluster.local.";
    let cases: [(Vec<u8>, &str, &str, u64); 4] = [
        (query(0, &[pod], 1, None), "A", "NOERROR", 0),
        (
            query(0, &[pod], 1, Some((1232, 0, &[0, 3, 0, 0]))),
            "A",
            "NOERROR",
            1,
        ),
        (query(0, &["example.com."], 28, None), "AAAA", "REFUSED", 0),
        (query(0, &[pod], 1, Some((1232, 1, &[]))), "A", "BADVERS", 1),
    ];
    for (raw, qtype, rcode, slow) in cases {
        let before = metrics.queries(qtype, rcode);
        let slow_before = metrics.slow_path.get();
        let mut out = Vec::new();
        let handled = handler.answer(&snap, &raw, src(), Transport::Udp, &mut out);
        assert!(matches!(handled, Handled::Reply(_)), "{raw:?}");
        assert_eq!(metrics.queries(qtype, rcode), before + 1, "{qtype} {rcode}");
        assert_eq!(
            metrics.slow_path.get(),
            slow_before + slow,
            "{qtype} {rcode}"
        );
    }
    // The 60-address answer does not fit 512 bytes: truncated, counted.
    let truncated = metrics.truncated.get();
    let mut out = Vec::new();
    let raw = query(0, &["web.demo.svc.cluster.local."], 1, None);
    handler.answer(&snap, &raw, src(), Transport::Udp, &mut out);
    assert_eq!(metrics.truncated.get(), truncated + 1);
}
