//! Zone-transfer requests under libFuzzer, TSIG records included: bytes in,
//! the messages of the answer out, through `Transfer::answer` (what the TCP
//! loop sends for AXFR and IXFR) and through the query handler over UDP and
//! TCP (SOA queries and IXFR over UDP, signed or not).
//!
//! Input layout: `flags(1) flip(2, big-endian) packet`.
//! `flags`: bits 0..1 pick the source (127.0.0.1, whose `allow` entry needs
//! the key; ::1, allowed unsigned; 192.0.2.1, allowed nothing), bit 2 signs
//! the packet with the key first when it parses as a message (so the fuzzer
//! reaches the signed paths), bit 3 then flips the byte at `flip` (mod the
//! length) of the signed packet.
//!
//! What must hold, or the target panics:
//! - every message of an answer parses and has QR set;
//! - a transfer (AXFR, IXFR, or the SOA of an up-to-date IXFR) is only sent
//!   to ::1 or for a request `tsig::check` finds validly signed with the key;
//! - when the packet was signed here and not flipped, every message of the
//!   answer verifies with hickory's verifier, in order (RFC 8945 §5.3.1).

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::config::{AllowEntry, Config, TransferConfig};
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::handle_bytes;
use headless_dns::snapshot::Snapshot;
use headless_dns::transfer::keys::{Algorithm, Key, KeyRing};
use headless_dns::transfer::tsig::{self, Checked};
use headless_dns::transfer::{Auth, Outcome, Transfer};
use headless_dns::wire::last_additional;
use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};
use hickory_server::net::xfer::Protocol as Transport;
use libfuzzer_sys::fuzz_target;

const KEY: &str = "xfr.cluster.local.";
const SECRET: &[u8] = b"the fuzz target's own TSIG secret";
const SOURCES: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
    IpAddr::V4(Ipv4Addr::new(127, 9, 9, 9)),
];

struct World {
    transfer: Arc<Transfer>,
    handler: DnsHandler,
    ring: KeyRing,
    runtime: tokio::runtime::Runtime,
}

fn world() -> World {
    let dir = std::env::temp_dir().join(format!("headless-dns-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp folder");
    let keys = dir.join("keys.conf");
    let secret = data_encoding::BASE64.encode(SECRET);
    std::fs::write(
        &keys,
        format!("key \"{KEY}\" {{ algorithm hmac-sha256; secret \"{secret}\"; }};\n"),
    )
    .expect("the key file");
    let config = TransferConfig {
        keys_file: Some(keys),
        allow: vec![
            AllowEntry {
                from: Some("127.0.0.0/8".parse().expect("a network")),
                key: Some(KEY.to_owned()),
            },
            AllowEntry::from("::1/128".parse::<ipnet::IpNet>().expect("a network")),
        ],
        ..TransferConfig::default()
    };
    let auth = Auth::from_config(&config, Path::new("fuzz.yaml")).expect("the keys resolve");
    let _ = std::fs::remove_dir_all(&dir);
    let settings = Config::from_str(
        "source: {embedded: {manifests: [x]}}\n",
        Path::new("fuzz.yaml"),
    )
    .expect("a config");
    let mut index = ClusterIndex::new(
        Arc::new(headless_dns::app::settings::zone_settings(&settings)),
        Duration::from_secs(30),
    );
    index.set_synced(true);
    index.apply_service(Service {
        key: ObjectKey::new("demo", "web"),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    });
    let endpoint = |i: u8| Endpoint {
        addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 244, 0, i))],
        target: Some(format!("web-{i}").as_str().into()),
        hostname: Some(format!("web-{i}").as_str().into()),
        ready: true,
    };
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "web-1"),
        service: ObjectKey::new("demo", "web"),
        ports: vec![Port {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port: 80,
        }],
        endpoints: (1..=3).map(endpoint).collect(),
    });
    let first = index.publish(Instant::now()).expect("a first snapshot");
    let store: Arc<ArcSwap<Snapshot>> = Arc::new(ArcSwap::from_pointee(first));
    let metrics = Arc::new(Metrics::default());
    let transfer = Arc::new(Transfer::new(store.clone(), auth, 8, metrics.clone()));
    // An older serial in the journal, so IXFR can be incremental.
    transfer.journal().record(store.load_full());
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "web-1"),
        service: ObjectKey::new("demo", "web"),
        ports: vec![],
        endpoints: (1..=4).map(endpoint).collect(),
    });
    if let Some(next) = index.publish(Instant::now()) {
        store.store(Arc::new(next));
    }
    let handler = DnsHandler::new(store, 1232, metrics).with_transfer(transfer.clone());
    let ring = KeyRing::new(vec![
        Key::new(KEY, Algorithm::HmacSha256, SECRET.to_vec()).expect("a key"),
    ]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    World {
        transfer,
        handler,
        ring,
        runtime,
    }
}

thread_local! {
    static WORLD: World = world();
}

fn is_transfer(outcome: Outcome) -> bool {
    !matches!(outcome, Outcome::Error(_))
}

fuzz_target!(|data: &[u8]| {
    let [flags, flip_hi, flip_lo, packet @ ..] = data else {
        return;
    };
    let source = SOURCES[usize::from(flags & 0x03)];
    let now = tsig::now();
    let mut raw = packet.to_vec();
    let mut verifier = None;
    if flags & 0x04 != 0
        && let Ok(mut message) = Message::from_vec(packet)
        && message.metadata.message_type == MessageType::Query
        && message.signature.is_none()
    {
        let signer = TSigner::new(
            SECRET.to_vec(),
            TsigAlgorithm::HmacSha256,
            Name::from_ascii(KEY).expect("a name"),
            300,
        )
        .expect("a signer");
        if let Ok(Some(v)) = message.finalize(&signer, now)
            && let Ok(bytes) = message.to_vec()
        {
            raw = bytes;
            verifier = Some(v);
        }
    }
    if flags & 0x08 != 0 && !raw.is_empty() {
        let at = usize::from(u16::from_be_bytes([*flip_hi, *flip_lo])) % raw.len();
        raw[at] ^= 0xff;
        verifier = None;
    }
    WORLD.with(|world| {
        let validly_signed = || {
            matches!(
                tsig::check(&world.ring, &raw, last_additional(&raw), tsig::now()),
                Checked::Signed { .. }
            )
        };
        let (outcome, messages) = world.transfer.answer(&raw, source);
        for message in &messages {
            let parsed = Message::from_vec(message).expect("an answer message parses");
            assert_eq!(parsed.metadata.message_type, MessageType::Response);
        }
        if is_transfer(outcome) {
            assert!(
                source == SOURCES[1] || validly_signed(),
                "{outcome:?} sent to {source} for a request not validly signed"
            );
        }
        if let (Some(mut verifier), true) = (verifier, is_transfer(outcome)) {
            for (i, message) in messages.iter().enumerate() {
                if let Err(error) = verifier.verify(message) {
                    panic!("message {i} of {} does not verify: {error}", messages.len());
                }
            }
        }
        for transport in [Transport::Udp, Transport::Tcp] {
            let answer = world.runtime.block_on(handle_bytes(
                &world.handler,
                raw.clone(),
                SocketAddr::new(source, 5353),
                transport,
            ));
            if let Some(answer) = answer {
                let parsed = Message::from_vec(&answer).expect("a handler answer parses");
                assert_eq!(parsed.metadata.message_type, MessageType::Response);
                if transport == Transport::Udp {
                    assert!(answer.len() <= 65535);
                }
            }
        }
    });
});
