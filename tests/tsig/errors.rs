//! The RFC 8945 §5.2 error cases, without sockets: unsigned where a key is
//! required (NOTAUTH), an unknown key or one the entry does not accept
//! (BADKEY), a wrong MAC (BADSIG), a time outside the fudge (BADTIME,
//! signed), a truncated MAC (BADTRUNC).

use super::*;

use headless_dns::transfer::Outcome;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};

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
