//! TSIG (RFC 8945) on zone transfer, queries and NOTIFY (issue 14).
//!
//! Requests are signed with hickory-proto's client side (`Message::finalize`
//! and the `TSigVerifier` it returns), which is independent of the server's
//! signer: every answer message must verify there, each chained to the one
//! before. Each §5.2 error case has its own test, as does a request that
//! needs a key and has none. Then the real binary: a signed NOTIFY whose
//! signed answer acknowledges it, and whose unsigned one does not.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
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
use headless_dns::transfer::message::MAX_MESSAGE;
use headless_dns::transfer::tsig::{self, Checked};
use headless_dns::transfer::{Auth, Outcome, Transfer};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::{Name, RData, Record, RecordType, TSigVerifier, TSigner};
use hickory_server::net::xfer::Protocol as Transport;
use support::server::Server;

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
    let settings = Config::from_str(
        "source: {embedded: {manifests: [x]}}\n",
        Path::new("test.yaml"),
    )
    .unwrap();
    let mut index = ClusterIndex::new(
        Arc::new(headless_dns::app::settings::zone_settings(&settings)),
        Duration::from_secs(30),
    );
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

// ---- the RFC 8945 §5.2 error cases ------------------------------------------

/// An `allow` entry that needs a key, and an unsigned request: NOTAUTH, no
/// TSIG (there is no key to sign with), counted as `unsigned`.
#[test]
fn unsigned_where_a_key_is_required_is_notauth() {
    let f = fixture(3);
    let (outcome, raw) = f.transfer.answer(&axfr().to_vec().unwrap(), LOCAL);
    assert_eq!(outcome, Outcome::Error(ResponseCode::NotAuth));
    let m = notauth(&raw);
    assert!(m.signature().is_none());
    assert_eq!(m.queries, axfr().queries, "the question is echoed");
    assert_eq!(f.metrics.tsig_rejected("unsigned"), 1);
    // The same from ::1, whose entry needs no key, is a transfer.
    let (outcome, _) = f.transfer.answer(&axfr().to_vec().unwrap(), LOCAL6);
    assert!(matches!(outcome, Outcome::Axfr { .. }), "{outcome:?}");
}

/// §5.2.1: a key we do not have, or our key's name with another algorithm:
/// NOTAUTH, BADKEY, unsigned (empty MAC).
#[test]
fn an_unknown_key_is_badkey() {
    let f = fixture(3);
    for (i, signer) in [
        signer("nope.", TsigAlgorithm::HmacSha256, secret()),
        signer(KEY, TsigAlgorithm::HmacSha512, secret()),
    ]
    .iter()
    .enumerate()
    {
        let (bytes, _) = signed(axfr(), signer, now());
        let (outcome, raw) = f.transfer.answer(&bytes, LOCAL);
        assert_eq!(outcome, Outcome::Error(ResponseCode::NotAuth));
        let m = notauth(&raw);
        assert_eq!(tsig_error(&m), Some(TsigError::BadKey));
        let tsig = m.signature().unwrap();
        assert!(tsig.data.mac.is_empty(), "BADKEY is unsigned");
        assert_eq!(tsig.name, *signer.signer_name());
        assert_eq!(f.metrics.tsig_rejected("badkey"), i as u64 + 1);
    }
}

/// A key we have, but not the one the entry for this source accepts:
/// NOTAUTH, BADKEY.
#[test]
fn a_key_the_entry_does_not_accept_is_badkey() {
    let f = fixture(3);
    let other = signer(OTHER, TsigAlgorithm::HmacSha512, b"other-secret".to_vec());
    let (bytes, _) = signed(axfr(), &other, now());
    let (outcome, raw) = f.transfer.answer(&bytes, LOCAL);
    assert_eq!(outcome, Outcome::Error(ResponseCode::NotAuth));
    let m = notauth(&raw);
    assert_eq!(tsig_error(&m), Some(TsigError::BadKey));
    assert_eq!(f.metrics.tsig_rejected("badkey"), 1);
}

/// §5.2.2: the right key name and algorithm, the wrong secret (or a message
/// changed after signing): NOTAUTH, BADSIG, unsigned.
#[test]
fn a_wrong_mac_is_badsig() {
    let f = fixture(3);
    let forged = signer(KEY, TsigAlgorithm::HmacSha256, b"not the secret".to_vec());
    let (bytes, _) = signed(axfr(), &forged, now());
    let (outcome, raw) = f.transfer.answer(&bytes, LOCAL);
    assert_eq!(outcome, Outcome::Error(ResponseCode::NotAuth));
    let m = notauth(&raw);
    assert_eq!(tsig_error(&m), Some(TsigError::BadSig));
    assert!(
        m.signature().unwrap().data.mac.is_empty(),
        "BADSIG is unsigned"
    );
    // A good signature over a changed message (the RD flag).
    let (mut bytes, _) = signed(axfr(), &good_signer(), now());
    bytes[2] ^= 1;
    let (_, raw) = f.transfer.answer(&bytes, LOCAL);
    assert_eq!(tsig_error(&notauth(&raw)), Some(TsigError::BadSig));
    assert_eq!(f.metrics.tsig_rejected("badsig"), 2);
}

/// §5.2.3: signed with the right key, 20 minutes off our clock (the fudge
/// is 5): NOTAUTH, BADTIME, and this answer is signed (it verifies with the
/// client's verifier) and carries our time in Other Data.
#[test]
fn a_time_outside_the_fudge_is_badtime_and_signed() {
    let f = fixture(3);
    let before = now();
    let (bytes, mut verifier) = signed(axfr(), &good_signer(), before - 1200);
    let (outcome, raw) = f.transfer.answer(&bytes, LOCAL);
    assert_eq!(outcome, Outcome::Error(ResponseCode::NotAuth));
    let m = notauth(&raw);
    assert_eq!(tsig_error(&m), Some(TsigError::BadTime));
    let tsig = &m.signature().unwrap().data;
    assert_eq!(tsig.time, before - 1200, "Time Signed is the request's");
    assert_eq!(tsig.other.len(), 6, "our time, 48 bits");
    let mut ours = [0u8; 8];
    ours[2..].copy_from_slice(&tsig.other);
    let ours = u64::from_be_bytes(ours);
    assert!(
        (before..=now()).contains(&ours),
        "{ours} not in {before}..={}",
        now()
    );
    verifier
        .verify(&raw[0])
        .expect("the BADTIME answer is signed with the key");
    assert_eq!(f.metrics.tsig_rejected("badtime"), 1);
    // Just inside the window is fine.
    let (bytes, _) = signed(axfr(), &good_signer(), now() - 250);
    let (outcome, _) = f.transfer.answer(&bytes, LOCAL);
    assert!(matches!(outcome, Outcome::Axfr { .. }), "{outcome:?}");
}

/// §5.2.2.1: a MAC cut to 16 of its 32 bytes (allowed by the RFC, not by
/// our policy): NOTAUTH, BADTRUNC, signed; below 10 bytes, FORMERR.
#[test]
fn a_truncated_mac_is_badtrunc() {
    let f = fixture(3);
    let mut request = axfr();
    request.finalize(&good_signer(), now()).unwrap();
    let mut tsig = request.take_signature().unwrap();
    tsig.data.mac.truncate(16);
    request.set_signature(tsig.clone());
    let (outcome, raw) = f.transfer.answer(&request.to_vec().unwrap(), LOCAL);
    assert_eq!(outcome, Outcome::Error(ResponseCode::NotAuth));
    let m = notauth(&raw);
    assert_eq!(tsig_error(&m), Some(TsigError::BadTrunc));
    assert_eq!(m.signature().unwrap().data.mac.len(), 32, "signed");
    assert_eq!(f.metrics.tsig_rejected("badtrunc"), 1);
    tsig.data.mac.truncate(8);
    request.set_signature(tsig);
    let (outcome, _) = f.transfer.answer(&request.to_vec().unwrap(), LOCAL);
    assert_eq!(outcome, Outcome::Error(ResponseCode::FormErr));
}

// ---- signed transfers ---------------------------------------------------------

/// A signed AXFR of a zone of many messages: every message carries a TSIG,
/// and the client's verifier accepts them in order, each chained to the
/// one before (RFC 8945 §5.3.1). The records are those of the unsigned
/// transfer. A later message does not verify on its own (so the chain is
/// real), nor once a byte of it changed.
#[test]
fn every_message_of_a_signed_axfr_verifies_in_a_chain() {
    let f = fixture(2000);
    let (bytes, mut verifier) = signed(axfr(), &good_signer(), now());
    let (outcome, raw) = f.transfer.answer(&bytes, LOCAL);
    assert!(matches!(outcome, Outcome::Axfr { .. }), "{outcome:?}");
    assert!(raw.len() > 3, "{} messages", raw.len());
    let mut records = Vec::new();
    for (i, message) in raw.iter().enumerate() {
        assert!(message.len() <= usize::from(MAX_MESSAGE), "message {i}");
        let m = Message::from_vec(message).unwrap();
        assert_eq!(m.metadata.id, 0x5a5a);
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        let tsig = m
            .signature()
            .unwrap_or_else(|| panic!("message {i} is unsigned"));
        assert_eq!(tsig.name, name(KEY));
        assert_eq!(tsig.data.mac.len(), 32);
        verifier
            .verify(message)
            .unwrap_or_else(|e| panic!("message {i} of {}: {e}", raw.len()));
        records.extend(m.answers.iter().map(|r| r.to_string()));
    }
    let (_, plain) = f.transfer.answer(&axfr().to_vec().unwrap(), LOCAL6);
    let plain: Vec<String> = plain
        .iter()
        .flat_map(|m| Message::from_vec(m).unwrap().answers)
        .map(|r| r.to_string())
        .collect();
    assert_eq!(records, plain);

    // Message 2 checked as if it came first: no.
    let (bytes, mut fresh) = signed(axfr(), &good_signer(), now());
    let (_, raw) = f.transfer.answer(&bytes, LOCAL);
    assert!(fresh.verify(&raw[1]).is_err(), "a later message is chained");
    // A changed byte in message 2 breaks the chain there.
    let (bytes, mut verifier) = signed(axfr(), &good_signer(), now());
    let (_, mut raw) = f.transfer.answer(&bytes, LOCAL);
    verifier.verify(&raw[0]).unwrap();
    let last = raw[1].len() / 2;
    raw[1][last] ^= 0x20;
    assert!(verifier.verify(&raw[1]).is_err());
}

/// A signed IXFR (incremental, after a change) is signed the same way.
#[test]
fn a_signed_ixfr_verifies() {
    let mut f = fixture(3);
    let old = f.store.load_full().serial;
    f.transfer.journal().record(f.store.load_full());
    f.index.apply_slice(EndpointGroup {
        key: ObjectKey::new("big", "web-1"),
        service: ObjectKey::new("big", "web"),
        ports: vec![],
        endpoints: (0..5).map(endpoint).collect(),
    });
    let next = f.index.publish(Instant::now()).unwrap();
    f.store.store(Arc::new(next));
    let (bytes, mut verifier) = signed(ixfr(old), &good_signer(), now());
    let (outcome, raw) = f.transfer.answer(&bytes, LOCAL);
    assert!(
        matches!(outcome, Outcome::Incremental { from, .. } if from == old),
        "{outcome:?}"
    );
    for message in &raw {
        verifier.verify(message).unwrap();
    }
}

// ---- signed queries (SOA, IXFR over UDP) ----------------------------------------

/// A secondary's SOA query over UDP is answered signed when it is signed
/// and plain when it is not; a signed IXFR over UDP gets the SOA, signed;
/// a bad signature gets the §5.2 answer there too.
#[tokio::test]
async fn soa_queries_over_udp_work_signed_and_unsigned() {
    let f = fixture(3);
    let serial = f.store.load_full().serial;
    let handler =
        DnsHandler::new(f.store.clone(), 1232, f.metrics.clone()).with_transfer(f.transfer.clone());
    let src: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let ask = |bytes: Vec<u8>| {
        let handler = handler.clone();
        async move {
            handle_bytes(&handler, bytes, src, Transport::Udp)
                .await
                .unwrap()
        }
    };
    let soa_of = |m: &Message| match &m.answers[0].data {
        RData::SOA(soa) => soa.serial,
        other => panic!("{other:?}"),
    };

    let plain = Message::from_vec(&ask(soa_query().to_vec().unwrap()).await).unwrap();
    assert_eq!(plain.metadata.response_code, ResponseCode::NoError);
    assert_eq!(soa_of(&plain), serial);
    assert!(plain.signature().is_none());

    let (bytes, mut verifier) = signed(soa_query(), &good_signer(), now());
    let raw = ask(bytes).await;
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(soa_of(&m), serial);
    verifier.verify(&raw).expect("the SOA answer is signed");

    let (bytes, mut verifier) = signed(ixfr(1), &good_signer(), now());
    let raw = ask(bytes).await;
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(soa_of(&m), serial, "IXFR over UDP: the SOA alone");
    verifier.verify(&raw).unwrap();
    // Unsigned from 127.0.0.1, whose entry needs the key: NOTAUTH, as over
    // TCP; signed with a key the entry does not take: NOTAUTH, BADKEY.
    let m = Message::from_vec(&ask(ixfr(1).to_vec().unwrap()).await).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(f.metrics.tsig_rejected("unsigned"), 1);
    let other = signer(OTHER, TsigAlgorithm::HmacSha512, b"other-secret".to_vec());
    let (bytes, _) = signed(ixfr(1), &other, now());
    let m = Message::from_vec(&ask(bytes).await).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(tsig_error(&m), Some(TsigError::BadKey));
    // From outside every range: REFUSED.
    let far: SocketAddr = "192.0.2.1:53".parse().unwrap();
    let raw = handle_bytes(&handler, ixfr(1).to_vec().unwrap(), far, Transport::Udp)
        .await
        .unwrap();
    assert_eq!(
        Message::from_vec(&raw).unwrap().metadata.response_code,
        ResponseCode::Refused
    );

    let forged = signer(KEY, TsigAlgorithm::HmacSha256, b"wrong".to_vec());
    let (bytes, _) = signed(soa_query(), &forged, now());
    let m = Message::from_vec(&ask(bytes).await).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(tsig_error(&m), Some(TsigError::BadSig));
    assert_eq!(f.metrics.tsig_rejected("badsig"), 1);

    // A signed response (QR set), badly signed or not: silence.
    let mut response = soa_query();
    response.metadata.message_type = MessageType::Response;
    for signer in [good_signer(), forged.clone()] {
        let (bytes, _) = signed(response.clone(), &signer, now());
        assert_eq!(
            handle_bytes(&handler, bytes, src, Transport::Udp).await,
            None
        );
    }

    // A server with no keys at all knows no key: BADKEY.
    let bare = DnsHandler::new(f.store.clone(), 1232, Arc::new(Metrics::default()));
    let (bytes, _) = signed(soa_query(), &good_signer(), now());
    let raw = handle_bytes(&bare, bytes, src, Transport::Udp)
        .await
        .unwrap();
    let m = Message::from_vec(&raw).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(tsig_error(&m), Some(TsigError::BadKey));
}

/// The reasons are in /metrics by label; the secret never is.
#[test]
fn metrics_count_reasons_and_never_show_the_secret() {
    let f = fixture(3);
    let forged = signer(KEY, TsigAlgorithm::HmacSha256, b"wrong".to_vec());
    let (bytes, _) = signed(axfr(), &forged, now());
    f.transfer.answer(&bytes, LOCAL);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &f.metrics.registry()).unwrap();
    assert!(
        text.contains(r#"headless_dns_tsig_rejected_requests_total{reason="badsig"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"headless_dns_tsig_rejected_requests_total{reason="badtime"} 0"#),
        "{text}"
    );
    assert!(!text.contains(SECRET_B64));
    let debug = format!("{:?}", f.transfer.auth());
    assert!(debug.contains("xfr.cluster.local."), "{debug}");
    assert!(!debug.contains(SECRET_B64), "{debug}");
    assert!(!debug.contains(&format!("{:?}", secret())), "{debug}");
}

// ---- NOTIFY, signed, against the real binary -------------------------------------

fn write_config(dir: &Path, notify_to: SocketAddr) -> PathBuf {
    std::fs::write(dir.join("keys.conf"), KEYS_FILE).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    let config = dir.join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "source:\n  embedded:\n    manifests: [{:?}]\n    watch: false\n    start_delay: 20ms\n    ready_delay: 20ms\ntransfer:\n  keys_file: keys.conf\n  allow: [{{from: 127.0.0.0/8, key: {KEY}}}]\n  notify: [{{address: '{notify_to}', key: {KEY}}}]\n",
            demo.display().to_string()
        ),
    )
    .unwrap();
    config
}

/// The answer to `notify`, signed like it when `verified` is given.
fn notify_reply(notify: &Message, verified: Option<&tsig::Verified>) -> Vec<u8> {
    let mut reply = Message::new(notify.metadata.id, MessageType::Response, OpCode::Notify);
    reply.metadata.authoritative = true;
    reply.add_queries(notify.queries.iter().cloned());
    let mut bytes = reply.to_vec().unwrap();
    if let Some(verified) = verified {
        verified.signer().sign(&mut bytes, now()).unwrap();
    }
    bytes
}

async fn receive(socket: &tokio::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buffer = vec![0u8; 4096];
    let (len, from) = tokio::time::timeout(Duration::from_secs(20), socket.recv_from(&mut buffer))
        .await
        .expect("no NOTIFY within 20 s")
        .unwrap();
    buffer.truncate(len);
    (buffer, from)
}

/// The binary signs its NOTIFY with the secondary's key; an unsigned answer
/// does not acknowledge it (the NOTIFY is sent again, same ID), a signed
/// answer that verifies does. The secondary's side of TSIG is our own
/// checker (`tsig::check` and the answer signer), against the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_signs_notify_and_accepts_only_a_signed_answer() {
    let dir = tempfile::tempdir().unwrap();
    let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = write_config(dir.path(), secondary.local_addr().unwrap());
    let mut server = Server::start(&config);
    let ring = headless_dns::transfer::keys::parse(KEYS_FILE, Path::new("keys.conf")).unwrap();

    // Each NOTIFY for cluster.local: checked, and answered unsigned, which
    // must not acknowledge it: proof is the same NOTIFY (same ID) sent
    // again. A newer round (a change meanwhile) replaces the one in flight,
    // so the experiment repeats with it until a resend comes.
    let mut answered_unsigned: Option<u16> = None;
    let (notify, verified, from) = loop {
        let (bytes, from) = receive(&secondary).await;
        let (verified, unsigned) = match tsig::check(&ring, &bytes, now()) {
            Checked::Signed { verified, unsigned } => (verified, unsigned),
            other => panic!("the NOTIFY is not validly signed: {other:?}"),
        };
        let notify = Message::from_vec(&unsigned).unwrap();
        assert_eq!(notify.metadata.op_code, OpCode::Notify);
        assert_eq!(verified.key.name(), &name(KEY));
        if notify.queries[0].name() != &name(FORWARD) {
            continue; // another zone's, left unanswered
        }
        if answered_unsigned == Some(notify.metadata.id) {
            break (notify, verified, from);
        }
        answered_unsigned = Some(notify.metadata.id);
        secondary
            .send_to(&notify_reply(&notify, None), from)
            .await
            .unwrap();
    };
    // Signed: acknowledged. (Should a newer round replace this NOTIFY
    // meanwhile, its NOTIFY is answered signed too.)
    secondary
        .send_to(&notify_reply(&notify, Some(&verified)), from)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let acknowledged = |log: Vec<String>| {
        log.iter()
            .any(|l| l.contains("NOTIFY acknowledged") && l.contains("zone=cluster.local."))
    };
    while !acknowledged(server.log()) {
        assert!(
            Instant::now() < deadline,
            "a signed answer did not acknowledge the NOTIFY; log:\n{}",
            server.log().join("\n")
        );
        let mut buffer = vec![0u8; 4096];
        let received =
            tokio::time::timeout(Duration::from_millis(100), secondary.recv_from(&mut buffer))
                .await;
        if let Ok(Ok((len, from))) = received
            && let Checked::Signed { verified, unsigned } =
                tsig::check(&ring, &buffer[..len], now())
        {
            let newer = Message::from_vec(&unsigned).unwrap();
            if newer.queries[0].name() == &name(FORWARD) {
                secondary
                    .send_to(&notify_reply(&newer, Some(&verified)), from)
                    .await
                    .unwrap();
            }
        }
    }

    // And the binary's signed AXFR over TCP verifies, message by message.
    assert!(transfer_over_tcp(server.dns, &good_signer()).await.is_ok());
    // Unsigned from 127.0.0.1 (the entry needs the key): NOTAUTH.
    let m = support::dns::tcp(server.dns, &axfr()).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(server.terminate(), Some(0));
}

/// A signed AXFR over TCP: `Ok(messages)` when every message verified and
/// the zone ended (second SOA), else the error rcode and TSIG error.
async fn transfer_over_tcp(
    server: SocketAddr,
    signer: &TSigner,
) -> Result<usize, (ResponseCode, Option<TsigError>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (bytes, mut verifier) = signed(axfr(), signer, now());
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&bytes);
    stream.write_all(&frame).await.unwrap();
    let (mut soas, mut messages) = (0, 0);
    while soas < 2 {
        let mut len = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut len))
            .await
            .expect("transfer stalled")
            .unwrap();
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut message).await.unwrap();
        let m = Message::from_vec(&message).unwrap();
        if m.metadata.response_code != ResponseCode::NoError {
            return Err((m.metadata.response_code, tsig_error(&m)));
        }
        verifier.verify(&message).unwrap();
        messages += 1;
        soas += m
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
    }
    Ok(messages)
}

/// SIGHUP re-reads the key file: after a rotation the old secret gets
/// BADSIG and the new one transfers, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rotates_the_tsig_key() {
    let dir = tempfile::tempdir().unwrap();
    let unused = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = write_config(dir.path(), unused.local_addr().unwrap());
    let mut server = Server::start(&config);
    assert!(transfer_over_tcp(server.dns, &good_signer()).await.is_ok());

    let new_secret = b"a brand new secret, 32 bytes ok!".to_vec();
    let new_b64 = data_encoding::BASE64.encode(&new_secret);
    std::fs::write(
        dir.path().join("keys.conf"),
        KEYS_FILE.replace(SECRET_B64, &new_b64),
    )
    .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let line = server.wait_for_log("config reloaded");
    assert!(line.contains("2 TSIG keys"), "{line}");
    assert!(
        !line.contains(&new_b64) && !line.contains(SECRET_B64),
        "{line}"
    );
    assert_eq!(
        transfer_over_tcp(server.dns, &good_signer()).await,
        Err((ResponseCode::NotAuth, Some(TsigError::BadSig)))
    );
    let rotated = signer(KEY, TsigAlgorithm::HmacSha256, new_secret);
    assert!(transfer_over_tcp(server.dns, &rotated).await.is_ok());
    // A key file that no longer parses: the reload fails naming its line,
    // and the rotated key stays in force.
    std::fs::write(dir.path().join("keys.conf"), "key broken {\n").unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let line = server.wait_for_log("config reload failed");
    assert!(line.contains("keys.conf:"), "{line}");
    assert!(transfer_over_tcp(server.dns, &rotated).await.is_ok());
    assert_eq!(server.terminate(), Some(0));
}

// ---- robustness -------------------------------------------------------------------

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

    /// A signed request with bytes flipped or cut off: never a panic, every
    /// answer message parses, and a transfer goes out only for a request
    /// the checker still finds validly signed (so only to the key holder).
    #[test]
    fn damaged_signed_requests_are_answered_safely(
        flips in proptest::collection::vec((0usize..4096, 1u8..=255), 0..4),
        cut in proptest::option::of(0usize..4096),
        ixfr_query in proptest::bool::ANY,
    ) {
        let f = fixture(3);
        let request = if ixfr_query { ixfr(1) } else { axfr() };
        let (mut bytes, _) = signed(request, &good_signer(), now());
        for (at, x) in flips {
            let i = at % bytes.len();
            bytes[i] ^= x;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        let (outcome, raw) = f.transfer.answer(&bytes, LOCAL);
        for message in &raw {
            proptest::prop_assert!(Message::from_vec(message).is_ok(), "{outcome:?}");
        }
        let ring = headless_dns::transfer::keys::parse(KEYS_FILE, Path::new("k")).unwrap();
        if matches!(outcome, Outcome::Axfr { .. } | Outcome::Full { .. } | Outcome::Incremental { .. } | Outcome::UpToDate { .. }) {
            let checked = tsig::check(&ring, &bytes, now());
            proptest::prop_assert!(matches!(checked, Checked::Signed { .. }), "{checked:?}");
        }
    }
}
