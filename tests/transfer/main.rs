//! Zone transfer (issue 7): AXFR and IXFR checked record by record against
//! the snapshot they were rendered from, the ACL, multi-message transfers of
//! a large zone, one snapshot per transfer while the zone changes, IXFR's
//! fallback to the full zone, NOTIFY with retries, and the master-file
//! export. First without sockets (index → snapshot → query bytes →
//! [`Transfer`] → messages: `axfr.rs`, `ixfr.rs`), then over TCP and UDP
//! against the server run in-process (`sockets.rs`), and against the real
//! binary where the process itself is what is checked (`notify.rs`,
//! `export.rs`). This file holds the fixtures they share.

#[path = "../support/mod.rs"]
mod support;

mod axfr;
mod export;
mod ixfr;
mod notify;
mod sockets;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use headless_dns::snapshot::Snapshot;
use headless_dns::transfer::export::record_line;
use headless_dns::transfer::message::MAX_MESSAGE;
use headless_dns::transfer::{Auth, Outcome, Transfer};
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, Record, RecordType};
use support::config::Embedded;
use support::server::http;
use support::settings::settings;
use support::xfr::soa_serial;

const GRACE: Duration = Duration::from_secs(30);
const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const FORWARD: &str = "cluster.local.";
const IN_ADDR: &str = "in-addr.arpa.";
const IP6: &str = "ip6.arpa.";

// ---- building zones without sockets -------------------------------------

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

// ---- a served zone (in-process or the binary) -----------------------------

fn manifests_dir() -> PathBuf {
    support::config::demo()
}

/// A config serving `manifests` with fast simulated pods, plus `extra`.
fn write_config(dir: &Path, manifests: &[PathBuf], extra: &str) -> PathBuf {
    Embedded::new(manifests)
        .no_watch()
        .pod_delays("20ms")
        .and(extra)
        .write(&dir.join("config.yaml"))
}

/// The served zone from `GET /zone`, SOA serial and body lines.
fn live_zone(admin: SocketAddr, which: &str) -> (u32, BTreeSet<String>) {
    let (status, body) = http(admin, "GET", &format!("/zone?zone={which}"), "");
    assert_eq!(status, 200, "{body}");
    let mut lines = body.lines();
    let soa = lines.next().unwrap();
    assert!(soa.contains("\tSOA\t"), "{soa}");
    let serial = soa.split_whitespace().nth(6).unwrap().parse().unwrap();
    (serial, lines.map(str::to_owned).collect())
}
