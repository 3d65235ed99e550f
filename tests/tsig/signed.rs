//! Signed transfers and queries: every message of a signed AXFR verifies in
//! a chain, a signed IXFR verifies, SOA queries over UDP work signed and
//! unsigned, and the metrics count reasons and never show the secret.

use super::*;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use headless_dns::metrics::Metrics;
use headless_dns::model::{EndpointGroup, ObjectKey};
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::handle_bytes;
use headless_dns::transfer::Outcome;
use headless_dns::transfer::message::MAX_MESSAGE;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_server::net::xfer::Protocol as Transport;

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
