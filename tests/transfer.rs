//! Zone transfer (issue 7): AXFR and IXFR checked record by record against
//! the snapshot they were rendered from, the ACL, multi-message transfers of
//! a large zone, one snapshot per transfer while the zone changes, IXFR's
//! fallback to the full zone, NOTIFY with retries, and the master-file
//! export. First without sockets (index → snapshot → query bytes →
//! [`Transfer`] → messages), then against the real binary over TCP and UDP.

mod support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::config::Config;
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::handle_bytes;
use headless_dns::snapshot::{Snapshot, ZoneSettings};
use headless_dns::transfer::export::record_line;
use headless_dns::transfer::message::MAX_MESSAGE;
use headless_dns::transfer::{Auth, Outcome, Transfer, serial_lt};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::net::xfer::Protocol as Transport;
use support::server::{BIN, Server, eventually, http};
use support::xfr::{apply_ixfr, axfr, bytes, ixfr, soa_serial, xfr};

const GRACE: Duration = Duration::from_secs(30);
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const FORWARD: &str = "cluster.local.";
const IN_ADDR: &str = "in-addr.arpa.";
const IP6: &str = "ip6.arpa.";

// ---- building zones without sockets -------------------------------------

fn settings() -> Arc<ZoneSettings> {
    let config = Config::from_str(
        "source: {embedded: {manifests: [x]}}\n",
        Path::new("test.yaml"),
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

fn endpoint(ip: IpAddr, hostname: Option<String>) -> Endpoint {
    Endpoint {
        addresses: vec![ip],
        target: hostname.as_deref().map(Into::into),
        hostname: hostname.map(Into::into),
        ready: true,
    }
}

fn slice(ns: &str, name: &str, svc: &str, endpoints: Vec<Endpoint>) -> EndpointGroup {
    EndpointGroup {
        key: ObjectKey::new(ns, name),
        service: ObjectKey::new(ns, svc),
        ports: vec![Port {
            name: "web".into(),
            protocol: Protocol::Tcp,
            port: 80,
        }],
        endpoints,
    }
}

/// `count` endpoints `pod-N`, IPv4 from `10.<base>.0.1` on.
fn pods(base: u8, count: u32) -> Vec<Endpoint> {
    (0..count)
        .map(|i| {
            let ip = Ipv4Addr::new(10, base, (i / 250) as u8, (i % 250) as u8 + 1);
            endpoint(IpAddr::V4(ip), Some(format!("pod-{i}")))
        })
        .collect()
}

/// An index, the store the server would read, and a transfer responder.
struct Fixture {
    index: ClusterIndex,
    store: Arc<ArcSwap<Snapshot>>,
    transfer: Arc<Transfer>,
}

impl Fixture {
    fn new(allow: &[&str], journal_size: usize) -> Self {
        let mut index = ClusterIndex::new(settings(), GRACE);
        index.set_synced(true);
        let first = index.publish(Instant::now()).unwrap();
        let store = Arc::new(ArcSwap::from_pointee(first));
        let allow = allow.iter().map(|n| n.parse().unwrap()).collect();
        let transfer = Arc::new(Transfer::new(
            store.clone(),
            Auth::from_networks(allow),
            journal_size,
            Arc::new(Metrics::default()),
        ));
        Self {
            index,
            store,
            transfer,
        }
    }

    /// The walkthrough's two pods, dual-stack, plus an endpoint without a
    /// hostname, in a second service too (PTR from two services).
    fn demo(allow: &[&str]) -> Self {
        let mut f = Self::new(allow, 64);
        f.index.apply_service(service("demo", "nginx-demo"));
        f.index.apply_service(service("demo", "other"));
        let mut endpoints = pods(244, 2);
        endpoints.push(endpoint("fd00::7".parse().unwrap(), Some("pod-0".into())));
        endpoints.push(endpoint("10.244.9.9".parse().unwrap(), None));
        f.index
            .apply_slice(slice("demo", "nginx-abc", "nginx-demo", endpoints));
        f.index.apply_slice(slice(
            "demo",
            "other-abc",
            "other",
            vec![endpoint("10.244.0.1".parse().unwrap(), None)],
        ));
        f.publish();
        f
    }

    /// Publishes what the index has now, as the driver would.
    fn publish(&mut self) -> Arc<Snapshot> {
        if let Some(next) = self.index.publish(Instant::now()) {
            self.store.store(Arc::new(next));
        }
        self.store.load_full()
    }

    fn snap(&self) -> Arc<Snapshot> {
        self.store.load_full()
    }

    fn ask(&self, raw: &[u8], peer: IpAddr) -> (Outcome, Vec<Vec<u8>>) {
        self.transfer.answer(raw, peer)
    }
}

// ---- queries and replies --------------------------------------------------

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

/// Checks every message of a reply as RFC 5936 §2.2 wants it — the query's
/// ID, QR, opcode QUERY, AA, the rcode, the question echoed, at most
/// [`MAX_MESSAGE`] bytes — and returns the answer records in order.
fn check_messages(
    query: &Message,
    raw: &[Vec<u8>],
    rcode: ResponseCode,
) -> (Vec<Message>, Vec<Record>) {
    assert!(!raw.is_empty(), "no message at all");
    let mut messages = Vec::new();
    let mut records = Vec::new();
    for (i, bytes) in raw.iter().enumerate() {
        assert!(
            bytes.len() <= usize::from(MAX_MESSAGE),
            "message {i} is {} bytes",
            bytes.len()
        );
        let m = Message::from_vec(bytes).unwrap();
        assert_eq!(m.metadata.id, query.metadata.id, "message {i}: ID");
        assert_eq!(m.metadata.message_type, MessageType::Response);
        assert_eq!(m.metadata.op_code, OpCode::Query);
        assert_eq!(m.metadata.response_code, rcode, "message {i}: rcode");
        assert_eq!(
            m.metadata.authoritative,
            rcode == ResponseCode::NoError,
            "message {i}: AA"
        );
        assert_eq!(m.queries, query.queries, "message {i}: question");
        assert!(m.authorities.is_empty());
        records.extend(m.answers.iter().cloned());
        messages.push(m);
    }
    (messages, records)
}

fn lines<'a>(records: impl IntoIterator<Item = &'a Record>) -> BTreeSet<String> {
    records.into_iter().map(record_line).collect()
}

/// The zone at `origin` in the snapshot, SOA left out, as lines.
fn zone_lines(snap: &Snapshot, origin: &str) -> BTreeSet<String> {
    let mut records = snap.zone_records(&name(origin)).unwrap().into_iter();
    let soa = records.next().unwrap();
    assert_eq!(
        soa.record_type(),
        RecordType::SOA,
        "zone_records starts with the SOA"
    );
    lines(&records.collect::<Vec<_>>())
}

/// An AXFR-style body: SOA(serial), the zone without SOA (each record
/// once), SOA(serial). Returns the records between the SOAs.
fn check_full_zone<'r>(records: &'r [Record], snap: &Snapshot, origin: &str) -> &'r [Record] {
    assert!(records.len() >= 3, "{records:?}");
    let (first, last) = (&records[0], &records[records.len() - 1]);
    assert_eq!(soa_serial(first), Some(snap.serial), "first record: SOA");
    assert_eq!(soa_serial(last), Some(snap.serial), "last record: SOA");
    assert_eq!(first.name, name(origin));
    let body = &records[1..records.len() - 1];
    assert!(
        body.iter().all(|r| r.record_type() != RecordType::SOA),
        "an SOA inside the zone"
    );
    let body_lines = lines(body);
    assert_eq!(body_lines.len(), body.len(), "a record sent twice");
    assert_eq!(body_lines, zone_lines(snap, origin));
    body
}

// ---- AXFR -----------------------------------------------------------------

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
    let sending = tokio::spawn(async move { transfer.respond(&q, peer, &tx).await });
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

// ---- IXFR -----------------------------------------------------------------

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

// ---- the real binary ------------------------------------------------------

fn manifests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo")
}

/// A config serving `manifests` with fast simulated pods, plus `extra`.
fn write_config(dir: &Path, manifests: &[PathBuf], extra: &str) -> PathBuf {
    let list: Vec<String> = manifests
        .iter()
        .map(|m| format!("{:?}", m.display().to_string()))
        .collect();
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "source:\n  embedded:\n    manifests: [{}]\n    watch: false\n    start_delay: 20ms\n    ready_delay: 20ms\n    terminate_delay: 20ms\n{extra}",
            list.join(", ")
        ),
    )
    .unwrap();
    config
}

/// The served zone from `GET /zone`, SOA serial and body lines.
fn live_zone(server: &Server, which: &str) -> (u32, BTreeSet<String>) {
    let (status, body) = http(server.admin, "GET", &format!("/zone?zone={which}"), "");
    assert_eq!(status, 200, "{body}");
    let mut lines = body.lines();
    let soa = lines.next().unwrap();
    assert!(soa.contains("\tSOA\t"), "{soa}");
    let serial = soa.split_whitespace().nth(6).unwrap().parse().unwrap();
    (serial, lines.map(str::to_owned).collect())
}

fn ctl(server: &Server, args: &[&str]) {
    let admin = server.admin.to_string();
    let out = std::process::Command::new(BIN)
        .args(["ctl", "--admin", &admin])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ctl {args:?}: {out:?}");
}

/// Invariants of one forward-zone AXFR of the walkthrough: the service's
/// addresses are exactly its pods' addresses and every SRV target has an
/// address — a transfer that mixed two snapshots breaks them.
fn check_consistent(records: &[Record]) {
    let mut service = BTreeSet::new();
    let mut pods = BTreeSet::new();
    let mut targets = BTreeSet::new();
    let mut pod_names = BTreeSet::new();
    for r in records {
        let owner = r.name.to_ascii();
        match &r.data {
            RData::A(a) if owner == "nginx-demo.demo.svc.cluster.local." => {
                service.insert(a.0);
            }
            RData::A(a) if owner.ends_with(".nginx-demo.demo.svc.cluster.local.") => {
                pods.insert(a.0);
                pod_names.insert(owner);
            }
            RData::SRV(srv) if owner.ends_with(".nginx-demo.demo.svc.cluster.local.") => {
                targets.insert(srv.target.to_ascii());
            }
            _ => {}
        }
    }
    assert_eq!(service, pods, "service addresses ≠ pod addresses");
    assert_eq!(
        targets, pod_names,
        "SRV targets ≠ pod names with an address"
    );
}

#[tokio::test]
async fn binary_axfr_and_ixfr_follow_the_live_zone_through_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &[manifests_dir()],
        "transfer:\n  allow: [127.0.0.0/8]\n",
    );
    let server = Server::start(&config);
    // Wait for both pods, then transfer: the secondary's starting point.
    let (first, first_zone) = eventually(Duration::from_secs(20), || async {
        let (serial, zone) = live_zone(&server, "forward");
        let pods = zone.iter().filter(|l| l.starts_with("web-demo-")).count();
        (pods == 2).then_some((serial, zone))
    })
    .await
    .expect("two pods within 20 s");
    let q = axfr(FORWARD);
    let raw = xfr(server.dns, &q).await;
    let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
    let serial = soa_serial(&records[0]).unwrap();
    assert_eq!(serial, first, "the zone changed while nothing happened");
    let body = &records[1..records.len() - 1];
    assert_eq!(lines(body), first_zone, "AXFR ≠ GET /zone");
    check_consistent(body);

    // Scale up and delete a pod while transferring over and over: every
    // transfer is one consistent snapshot.
    ctl(
        &server,
        &["scale", "sts", "web-demo", "-n", "demo", "--replicas=5"],
    );
    ctl(&server, &["delete", "pod", "web-demo-0", "-n", "demo"]);
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let raw = xfr(server.dns, &q).await;
        let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
        let serial = soa_serial(&records[0]).unwrap();
        assert_eq!(soa_serial(records.last().unwrap()), Some(serial));
        check_consistent(&records[1..records.len() - 1]);
        seen.insert(serial);
        let pods = records
            .iter()
            .filter(|r| {
                r.name.to_ascii().starts_with("web-demo-") && r.record_type() == RecordType::A
            })
            .count();
        if pods == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "five pods within 20 s");
    }
    println!(
        "consistent AXFRs at {} serials during the change",
        seen.len()
    );

    // IXFR from the first serial, applied to the first zone, is the zone
    // now (retried until the zone holds still long enough to compare).
    let settled = eventually(Duration::from_secs(20), || async {
        let q = ixfr(FORWARD, first);
        let raw = xfr(server.dns, &q).await;
        let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
        let to = soa_serial(&records[0]).unwrap();
        let mut zone = first_zone.clone();
        apply_ixfr(&mut zone, &records, first, to);
        let (now, live) = live_zone(&server, "forward");
        (now == to).then(|| assert_eq!(zone, live, "IXFR-applied zone ≠ GET /zone"))
    })
    .await;
    assert!(settled.is_some(), "the zone did not hold still for 20 s");

    // The reverse zone too, by AXFR against GET /zone.
    let q = axfr(IN_ADDR);
    let raw = xfr(server.dns, &q).await;
    let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
    let (serial, live) = live_zone(&server, "reverse");
    if soa_serial(&records[0]) == Some(serial) {
        // `reverse` lists in-addr.arpa. first, then ip6.arpa.
        let ours = lines(&records[1..records.len() - 1]);
        assert!(ours.is_subset(&live), "{ours:#?} ⊄ {live:#?}");
        assert_eq!(
            // Five pods, and the ClusterIP Service `web`.
            ours.iter().filter(|l| l.contains("\tPTR\t")).count(),
            6,
            "{ours:#?}"
        );
    }
}

#[tokio::test]
async fn binary_refuses_transfers_outside_the_acl_and_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    for extra in ["", "transfer:\n  allow: [10.0.0.0/8, '::1/128']\n"] {
        let config = write_config(dir.path(), &[manifests_dir()], extra);
        let server = Server::start(&config);
        for q in [axfr(FORWARD), ixfr(FORWARD, 1), axfr(IN_ADDR)] {
            let raw = xfr(server.dns, &q).await;
            let (messages, records) = check_messages(&q, &raw, ResponseCode::Refused);
            assert_eq!(messages.len(), 1);
            assert!(records.is_empty());
            let m = support::dns::udp(server.dns, &q).await;
            assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{extra}");
        }
    }
    // Allowed: AXFR over UDP is still refused, IXFR over UDP is the SOA.
    let config = write_config(
        dir.path(),
        &[manifests_dir()],
        "transfer:\n  allow: [127.0.0.1]\n",
    );
    let server = Server::start(&config);
    let m = support::dns::udp(server.dns, &axfr(FORWARD)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = support::dns::udp(server.dns, &ixfr(FORWARD, 1)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
}

/// A manifest with 2,000 ready endpoints of one headless service (two
/// EndpointSlices of 1,000, the API's limit per slice).
fn large_manifest(dir: &Path) -> PathBuf {
    let mut text = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: big}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: big}\nspec:\n  clusterIP: None\n  ports: [{name: web, port: 80}]\n",
    );
    for part in 0..2u32 {
        text.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-{part}\n  namespace: big\n  labels: {{kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{{name: web, port: 80, protocol: TCP}}]\nendpoints:\n"
        ));
        for i in part * 1000..(part + 1) * 1000 {
            text.push_str(&format!(
                "  - {{addresses: [\"10.20.{}.{}\"], hostname: pod-{i}, conditions: {{ready: true}}}}\n",
                i / 250,
                i % 250 + 1
            ));
        }
    }
    let path = dir.join("large.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn binary_transfers_a_large_zone_in_many_messages() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = large_manifest(dir.path());
    let config = write_config(
        dir.path(),
        &[manifest],
        "transfer:\n  allow: [127.0.0.0/8]\n",
    );
    let server = Server::start(&config);
    let (serial, live) = live_zone(&server, "forward");
    let q = axfr(FORWARD);
    let started = Instant::now();
    let raw = xfr(server.dns, &q).await;
    let elapsed = started.elapsed();
    let (messages, records) = check_messages(&q, &raw, ResponseCode::NoError);
    assert!(messages.len() > 1);
    assert_eq!(soa_serial(&records[0]), Some(serial));
    let body = &records[1..records.len() - 1];
    assert_eq!(lines(body).len(), body.len(), "a record sent twice");
    assert_eq!(lines(body), live);
    // 2,000 pod names, 2,000 service addresses, 2,000 SRV records.
    assert!(body.len() >= 6000, "{}", body.len());
    println!(
        "AXFR of {} records: {} messages, {} bytes, {elapsed:?}",
        records.len(),
        messages.len(),
        raw.iter().map(Vec::len).sum::<usize>()
    );
    // IXFR from a serial the server never had: the full zone.
    let q = ixfr(FORWARD, serial.wrapping_sub(1000));
    let raw = xfr(server.dns, &q).await;
    let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
    assert_ne!(records[1].record_type(), RecordType::SOA, "AXFR-style");
    assert_eq!(lines(&records[1..records.len() - 1]), live);
    // IXFR from the current serial: one SOA.
    let q = ixfr(FORWARD, serial);
    let raw = xfr(server.dns, &q).await;
    let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
    assert_eq!(records.len(), 1);
}

/// Removes ANSI colour sequences from a log line.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One headless service with one endpoint at `ip`.
fn small_manifest(ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: db, namespace: shop}}\nspec:\n  clusterIP: None\n  ports: [{{name: pg, port: 5432}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: db-1\n  namespace: shop\n  labels: {{kubernetes.io/service-name: db}}\naddressType: IPv4\nports: [{{name: pg, port: 5432, protocol: TCP}}]\nendpoints:\n  - {{addresses: [\"{ip}\"], hostname: db-0, conditions: {{ready: true}}}}\n"
    )
}

/// Receives one NOTIFY (bounded wait); returns it and where it came from.
async fn receive_notify(socket: &tokio::net::UdpSocket, within: Duration) -> (Message, SocketAddr) {
    let mut buf = vec![0u8; 4096];
    let (n, from) = tokio::time::timeout(within, socket.recv_from(&mut buf))
        .await
        .expect("no NOTIFY in time")
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.metadata.op_code, OpCode::Notify);
    assert_eq!(m.metadata.message_type, MessageType::Query);
    assert!(m.metadata.authoritative, "NOTIFY sets AA");
    assert_eq!(m.queries.len(), 1);
    assert_eq!(m.queries[0].query_type(), RecordType::SOA);
    (m, from)
}

fn ack(notify: &Message) -> Vec<u8> {
    let mut reply = Message::new(notify.metadata.id, MessageType::Response, OpCode::Notify);
    reply.metadata.authoritative = true;
    reply.add_queries(notify.queries.iter().cloned());
    reply.to_vec().unwrap()
}

/// The server NOTIFYs a secondary (played by a UDP socket here) at start
/// and after a change; an unanswered NOTIFY is sent again with the same ID
/// until answered. This secondary answers only the second one per zone.
#[tokio::test]
async fn binary_notifies_and_retries_until_acknowledged() {
    let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("db.yaml");
    std::fs::write(&manifest, small_manifest("10.1.0.10")).unwrap();
    let config = write_config(
        dir.path(),
        &[manifest],
        &format!(
            "transfer:\n  allow: [127.0.0.0/8]\n  notify: ['{}']\n  notify_interval: 200ms\n",
            secondary.local_addr().unwrap()
        ),
    );
    let mut server = Server::start(&config);
    let serial = live_zone(&server, "forward").0;

    // Each served zone gets a NOTIFY; none answered, so each comes again.
    let zones: BTreeSet<Name> = [FORWARD, IN_ADDR, IP6].into_iter().map(name).collect();
    let mut first: std::collections::BTreeMap<Name, (u16, Instant)> = Default::default();
    let mut acked = BTreeSet::new();
    while acked.len() < zones.len() {
        let (m, from) = receive_notify(&secondary, Duration::from_secs(10)).await;
        let zone = m.queries[0].name().clone();
        assert!(zones.contains(&zone), "{zone}");
        assert_eq!(m.answers.len(), 1, "the new SOA rides along");
        assert_eq!(soa_serial(&m.answers[0]), Some(serial), "{zone}");
        match first.get(&zone) {
            None => {
                first.insert(zone, (m.metadata.id, Instant::now()));
            }
            Some((id, at)) => {
                assert_eq!(m.metadata.id, *id, "a resend keeps its ID");
                assert!(
                    !acked.contains(&zone),
                    "{zone}: NOTIFY after it was answered"
                );
                println!("{zone}: resent after {:?}", at.elapsed());
                secondary.send_to(&ack(&m), from).await.unwrap();
                acked.insert(zone);
            }
        }
    }
    // The server saw the acknowledgement of the second send, per zone.
    for zone in [FORWARD, IN_ADDR, IP6] {
        let found = eventually(Duration::from_secs(10), || async {
            server.log().iter().map(|l| plain(l)).find(|l| {
                l.contains("NOTIFY acknowledged")
                    && l.contains(&format!("zone={zone} "))
                    && l.contains("attempt=2")
            })
        })
        .await;
        assert!(
            found.is_some(),
            "{zone}: no acknowledgement logged:\n{}",
            server.log().join("\n")
        );
    }

    // A change: a NOTIFY with the new serial, answered at once.
    let (status, body) = http(server.admin, "POST", "/apply", &small_manifest("10.1.0.99"));
    assert_eq!(status, 200, "{body}");
    let changed = eventually(Duration::from_secs(10), || async {
        let (m, from) = receive_notify(&secondary, Duration::from_secs(10)).await;
        secondary.send_to(&ack(&m), from).await.unwrap();
        let new = soa_serial(&m.answers[0]).unwrap();
        (m.queries[0].name() == &name(FORWARD) && new != serial).then_some(new)
    })
    .await
    .expect("a NOTIFY for the change");
    assert!(serial_lt(serial, changed));
    let (live, zone) = live_zone(&server, "forward");
    assert_eq!(live, changed);
    assert!(
        zone.iter().any(|l| l.ends_with("\tA\t10.1.0.99")),
        "{zone:#?}"
    );
    assert_eq!(server.terminate(), Some(0));
}

// ---- the master file --------------------------------------------------------

/// `export-zone` builds the zone `serve` serves once its pods are Ready:
/// the same lines as the live `GET /zone`, serial aside.
#[test]
fn export_zone_prints_what_serve_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[manifests_dir()], "");
    let export = |which: &str| {
        let out = std::process::Command::new(BIN)
            .args(["export-zone", "--config"])
            .arg(&config)
            .args(["--zone", which])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let forward = export("forward");
    let mut lines = forward.lines();
    let soa = lines.next().unwrap();
    assert!(
        soa.starts_with("cluster.local.\t5\tIN\tSOA\tns.dns.cluster.local. "),
        "{soa}"
    );
    let body: BTreeSet<String> = lines.map(str::to_owned).collect();
    for line in &body {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert!(
            fields[0].ends_with("cluster.local."),
            "absolute names: {line}"
        );
        assert_ne!(fields[3], "SOA", "one SOA, first");
    }
    let pods: Vec<&String> = body
        .iter()
        .filter(|l| l.starts_with("web-demo-") && l.contains("\tA\t"))
        .collect();
    assert_eq!(pods.len(), 2, "both pods Ready: {body:#?}");

    let server = Server::start(&config);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let live = runtime
        .block_on(eventually(Duration::from_secs(20), || async {
            let (_, live) = live_zone(&server, "forward");
            (live == body).then_some(live)
        }))
        .is_some();
    assert!(live, "GET /zone never matched export-zone:\n{forward}");
    let reverse = export("reverse");
    assert!(
        reverse.starts_with("in-addr.arpa.\t5\tIN\tSOA\t"),
        "{reverse}"
    );
    assert_eq!(
        reverse.matches("\tSOA\t").count(),
        2,
        "in-addr.arpa. and ip6.arpa."
    );
    // The two pods, and the ClusterIP Service `web`'s cluster IP.
    assert_eq!(reverse.matches("\tPTR\t").count(), 3, "{reverse}");
    assert!(
        reverse.contains("\tPTR\tweb.demo.svc.cluster.local."),
        "{reverse}"
    );

    // The Kubernetes source says clearly that it is not supported.
    let k8s = dir.path().join("k8s.yaml");
    std::fs::write(&k8s, "source:\n  kubernetes: {}\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["export-zone", "--config"])
        .arg(&k8s)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not support the Kubernetes source"),
        "{err}"
    );
}
