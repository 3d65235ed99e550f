//! TSIG (RFC 8945) on zone transfer, queries and NOTIFY (issue 14).
//!
//! Requests are signed with hickory-proto's client side (`Message::finalize`
//! and the `TSigVerifier` it returns), which is independent of the server's
//! signer: every answer message must verify there, each chained to the one
//! before. Each §5.2 error case has its own test (`errors.rs`), as does a
//! request that needs a key and has none; then signed transfers and queries
//! (`signed.rs`), the real binary (`binary.rs`: a signed NOTIFY whose signed
//! answer acknowledges it, and whose unsigned one does not; SIGHUP rotating
//! the key), and damaged signed requests (`robustness.rs`). This file holds
//! the keys, the zone without sockets and the request builders.

#[path = "../support/mod.rs"]
mod support;

mod binary;
mod errors;
mod robustness;
mod signed;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::config::{AllowEntry, TransferConfig};
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use headless_dns::snapshot::Snapshot;
use headless_dns::transfer::tsig::{self};
use headless_dns::transfer::{Auth, Transfer};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::{Name, RData, Record, RecordType, TSigVerifier, TSigner};
use support::settings::settings;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const LOCAL6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
const FORWARD: &str = "cluster.local.";
const KEY: &str = "xfr.cluster.local.";
const OTHER: &str = "other.";
/// The test key's secret, base64 as in the key file.
const SECRET_B64: &str = "ZySNZy80gYnZexDBT48/fvDV7kFyEjwVn8NyKLyO7GA=";
const KEYS_FILE: &str = "key \"xfr.cluster.local\" {\n algorithm hmac-sha256;\n secret \"ZySNZy80gYnZexDBT48/fvDV7kFyEjwVn8NyKLyO7GA=\";\n};\nkey other. { algorithm hmac-sha512; secret \"b3RoZXItc2VjcmV0\"; };\n";

fn secret() -> Vec<u8> {
    data_encoding::BASE64.decode(SECRET_B64.as_bytes()).unwrap()
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn now() -> u64 {
    tsig::now()
}

fn signer(key: &str, algorithm: TsigAlgorithm, secret: Vec<u8>) -> TSigner {
    TSigner::new(secret, algorithm, name(key), 300).unwrap()
}

fn good_signer() -> TSigner {
    signer(KEY, TsigAlgorithm::HmacSha256, secret())
}

// ---- a zone without sockets -----------------------------------------------

fn endpoint(i: u32) -> Endpoint {
    let ip = Ipv4Addr::new(10, 20, (i / 250) as u8, (i % 250) as u8 + 1);
    Endpoint {
        addresses: vec![IpAddr::V4(ip)],
        target: Some(format!("pod-{i}").as_str().into()),
        hostname: Some(format!("pod-{i}").as_str().into()),
        ready: true,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    index: ClusterIndex,
    store: Arc<ArcSwap<Snapshot>>,
    transfer: Arc<Transfer>,
    metrics: Arc<Metrics>,
}

/// A zone of `pods` endpoints; transfers allowed to 127.0.0.0/8 signed with
/// KEY, to ::1 unsigned.
fn fixture(pods: u32) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.conf");
    std::fs::write(&keys, KEYS_FILE).unwrap();
    let config = TransferConfig {
        keys_file: Some(keys),
        allow: vec![
            AllowEntry {
                from: Some("127.0.0.0/8".parse().unwrap()),
                key: Some(KEY.to_owned()),
            },
            AllowEntry::from("::1/128".parse::<ipnet::IpNet>().unwrap()),
        ],
        ..TransferConfig::default()
    };
    let auth = Auth::from_config(&config, Path::new("test.yaml")).unwrap();
    let mut index = ClusterIndex::new(settings(), Duration::from_secs(30));
    index.set_synced(true);
    index.apply_service(Service {
        key: ObjectKey::new("big", "web"),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    });
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("big", "web-1"),
        service: ObjectKey::new("big", "web"),
        ports: vec![Port {
            name: "web".into(),
            protocol: Protocol::Tcp,
            port: 80,
        }],
        endpoints: (0..pods).map(endpoint).collect(),
    });
    let first = index.publish(Instant::now()).unwrap();
    let store = Arc::new(ArcSwap::from_pointee(first));
    let metrics = Arc::new(Metrics::default());
    let transfer = Arc::new(Transfer::new(store.clone(), auth, 64, metrics.clone()));
    Fixture {
        _dir: dir,
        index,
        store,
        transfer,
        metrics,
    }
}

fn axfr() -> Message {
    let mut m = Message::new(0x5a5a, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(name(FORWARD), RecordType::AXFR));
    m
}

fn ixfr(serial: u32) -> Message {
    let mut m = Message::new(0x1a1a, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(name(FORWARD), RecordType::IXFR));
    m.add_authority(Record::from_rdata(
        name(FORWARD),
        0,
        RData::SOA(SOA::new(
            name("ns.example."),
            name("hostmaster.example."),
            serial,
            0,
            0,
            0,
            0,
        )),
    ));
    m
}

fn soa_query() -> Message {
    let mut m = Message::new(0x2b2b, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(name(FORWARD), RecordType::SOA));
    m
}

/// `message` signed by `signer` at `time`: its bytes and the verifier for
/// the answer.
fn signed(mut message: Message, signer: &TSigner, time: u64) -> (Vec<u8>, TSigVerifier) {
    let verifier = message.finalize(signer, time).unwrap().unwrap();
    (message.to_vec().unwrap(), verifier)
}

/// The one message of an error answer: NOTAUTH, with its TSIG (if any).
fn notauth(raw: &[Vec<u8>]) -> Message {
    assert_eq!(raw.len(), 1, "one message");
    let m = Message::from_vec(&raw[0]).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert!(m.answers.is_empty());
    m
}

fn tsig_error(m: &Message) -> Option<TsigError> {
    m.signature().and_then(|s| s.data.error)
}
