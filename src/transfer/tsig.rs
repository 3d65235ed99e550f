//! TSIG (RFC 8945) on the wire: checking a signed request, signing our
//! answers (every message of a transfer, chained), and the error answers of
//! §5.2.
//!
//! hickory-proto's TSIG support does the cryptography and the record
//! formats: its [`TSIG`] record, the MAC input of a signed message
//! (`signed_bitmessage_to_buf`), the TSIG variables
//! ([`TSIG::emit_tsig_for_mac`]) and the HMACs (ring, constant-time checks)
//! behind [`hickory_proto::rr::TSigner`]. What it lacks for a primary is
//! here: it signs only whole [`hickory_proto::op::Message`]s and only as a
//! first message, while our answers leave the encoder as raw bytes and a
//! transfer's later messages carry only the timers (§5.3.1); and it leaves
//! key lookup, the time window and the error answers to the caller.
//!
//! Bytes enter as a raw request with where the server's one walk over it
//! ([`Peek`](crate::wire::Peek)) found its last record: [`check`] takes a
//! TSIG there (a TSIG is the last additional record), without walking the
//! packet again, verifies it against the [`KeyRing`] and hands back the
//! request without it, so the rest of the server parses what it always
//! parsed. Bytes leave through a [`Signer`], which appends a TSIG to each
//! encoded answer in turn, or through [`Rejected::answer`].

use std::sync::Arc;

use hickory_proto::ProtoError;
use hickory_proto::op::{Message, MessageType, Metadata, ResponseCode};
use hickory_proto::rr::rdata::TSIG;
use hickory_proto::rr::rdata::tsig::{TsigError, make_tsig_record, signed_bitmessage_to_buf};
use hickory_proto::rr::{RData, Record};
use hickory_proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder, NameEncoding,
};

use super::keys::{FUDGE, Key, KeyRing};
use crate::wire::LastRecord;

/// RR type of TSIG.
const TSIG_TYPE: u16 = 250;

/// Room a TSIG record takes at most: owner (a name, up to 255), type, class,
/// TTL, length (10), algorithm name (13), time, fudge, MAC length and a
/// 64-byte MAC, original ID, error, other length and 6 bytes of other data.
pub const MAX_TSIG_LEN: u16 = 255 + 10 + 13 + 6 + 2 + 2 + 64 + 2 + 2 + 2 + 6;

/// Why a request that needed TSIG was refused: the metric label, and the
/// TSIG error of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No TSIG where an `allow` entry requires a key: NOTAUTH.
    Unsigned,
    /// An unknown key or algorithm, or a key the entry does not accept:
    /// NOTAUTH with BADKEY, unsigned (§5.2.1).
    BadKey,
    /// The MAC does not verify: NOTAUTH with BADSIG, unsigned (§5.2.2).
    BadSig,
    /// Signed outside our clock ± fudge: NOTAUTH with BADTIME, signed, our
    /// time in Other Data (§5.2.3).
    BadTime,
    /// A truncated MAC (we accept only full ones): NOTAUTH with BADTRUNC,
    /// signed (§5.2.2.1).
    BadTrunc,
}

impl Reason {
    pub const ALL: [Reason; 5] = [
        Reason::Unsigned,
        Reason::BadKey,
        Reason::BadSig,
        Reason::BadTime,
        Reason::BadTrunc,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Unsigned => "unsigned",
            Reason::BadKey => "badkey",
            Reason::BadSig => "badsig",
            Reason::BadTime => "badtime",
            Reason::BadTrunc => "badtrunc",
        }
    }

    fn error(self) -> Option<TsigError> {
        match self {
            Reason::Unsigned => None,
            Reason::BadKey => Some(TsigError::BadKey),
            Reason::BadSig => Some(TsigError::BadSig),
            Reason::BadTime => Some(TsigError::BadTime),
            Reason::BadTrunc => Some(TsigError::BadTrunc),
        }
    }
}

/// A request whose TSIG verified.
#[derive(Debug, Clone)]
pub struct Verified {
    pub key: Arc<Key>,
    /// The request's MAC: the first answer's MAC covers it.
    mac: Vec<u8>,
    /// The request's Original ID.
    original_id: u16,
}

impl Verified {
    /// The signer for the answers to this request.
    pub fn signer(&self) -> Signer {
        Signer {
            key: self.key.clone(),
            prior: Some(self.mac.clone()),
            original_id: self.original_id,
            first: true,
        }
    }
}

/// A signed request that did not verify, with what to answer it.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub reason: Reason,
    /// The request's TSIG record: its key name, algorithm, time and MAC.
    tsig: Record<TSIG>,
    /// The key, when we know it (BADTIME, BADTRUNC answers are signed).
    key: Option<Arc<Key>>,
}

/// What [`check`] found.
#[derive(Debug)]
pub enum Checked {
    /// No TSIG record.
    Unsigned,
    /// A valid TSIG; `unsigned` is the request without it.
    Signed {
        verified: Verified,
        unsigned: Vec<u8>,
    },
    Rejected(Rejected),
    /// A TSIG record that does not parse, or is not the last record: FORMERR.
    Malformed,
}

/// Finds and verifies a request's TSIG at `now` (seconds since the epoch).
/// `last` is where the walk over `raw` found its last record
/// ([`Peek::last_additional`](crate::wire::Peek::last_additional)): a
/// request whose last record is not a TSIG, or that has none, is unsigned.
pub fn check(keys: &KeyRing, raw: &[u8], last: Option<LastRecord>, now: u64) -> Checked {
    // A TSIG anywhere but last, or a second one: FORMERR (RFC 8945 §5.1).
    if last.is_some_and(|l| l.tsig_before) {
        return Checked::Malformed;
    }
    let Some(LastRecord {
        start: offset,
        rtype: TSIG_TYPE,
        ..
    }) = last
    else {
        return Checked::Unsigned;
    };
    // A record found after the header, inside the packet; anything else is
    // a walk of other bytes, and nothing to read.
    let Some(head) = raw.get(..offset).filter(|head| head.len() >= 12) else {
        return Checked::Malformed;
    };
    let mut decoder = BinDecoder::new(raw);
    if decoder.read_slice(offset).is_err() {
        return Checked::Malformed;
    }
    let Ok(record) = Record::<RData>::read(&mut decoder) else {
        return Checked::Malformed;
    };
    let Some(record) = record.map(|data| match data {
        RData::TSIG(tsig) => Some(tsig),
        _ => None,
    }) else {
        return Checked::Malformed;
    };
    // The MAC input, as hickory computes it for any signed message (it also
    // insists the TSIG is the last record and the only one).
    let Ok((tbv, _)) = signed_bitmessage_to_buf(raw, None, true) else {
        return Checked::Malformed;
    };
    let tsig = &record.data;
    let reject = |reason: Reason, key: Option<&Arc<Key>>| {
        Checked::Rejected(Rejected {
            reason,
            tsig: record.clone(),
            key: key.cloned(),
        })
    };
    // §5.2.1: the key and its algorithm.
    let Some(key) = keys
        .get(&record.name)
        .filter(|k| k.algorithm().hickory() == tsig.algorithm)
    else {
        return reject(Reason::BadKey, None);
    };
    // §5.2.2.1: a MAC longer than the hash, or shorter than half of it (or
    // 10 bytes), is FORMERR; a truncated one we do not accept.
    let full = key.algorithm().mac_len();
    if tsig.mac.len() > full || tsig.mac.len() < (full / 2).max(10) {
        return Checked::Malformed;
    }
    if tsig.mac.len() < full {
        return reject(Reason::BadTrunc, Some(key));
    }
    // §5.2.2: the MAC, compared in constant time.
    if key.signer().verify(&tbv, &tsig.mac).is_err() {
        return reject(Reason::BadSig, None);
    }
    // §5.2.3: the time window.
    if now.abs_diff(tsig.time) > u64::from(tsig.fudge) {
        return reject(Reason::BadTime, Some(key));
    }
    let mut unsigned = head.to_vec();
    let arcount = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
    unsigned[10..12].copy_from_slice(&arcount.to_be_bytes());
    Checked::Signed {
        verified: Verified {
            key: key.clone(),
            mac: tsig.mac.clone(),
            original_id: tsig.oid,
        },
        unsigned,
    }
}

impl Rejected {
    /// The §5.2 answer to `request` (its raw bytes, TSIG included): NOTAUTH
    /// with the question echoed and a TSIG bearing the error; signed for
    /// BADTIME and BADTRUNC, unsigned (empty MAC) for BADKEY and BADSIG.
    pub fn answer(&self, request: &[u8], now: u64) -> Option<Vec<u8>> {
        let mut bytes = not_auth(request)?;
        let theirs = &self.tsig.data;
        match (&self.key, self.reason) {
            (Some(key), Reason::BadTime | Reason::BadTrunc) => {
                let mut signer = Signer {
                    key: key.clone(),
                    prior: Some(theirs.mac.clone()),
                    original_id: theirs.oid,
                    first: true,
                };
                // BADTIME: the request's Time Signed, our clock in Other
                // Data, so the client can see how far apart we are.
                let (time, other) = if self.reason == Reason::BadTime {
                    (theirs.time, now.to_be_bytes()[2..].to_vec())
                } else {
                    (now, Vec::new())
                };
                signer
                    .sign_at(&mut bytes, time, self.reason.error(), other)
                    .ok()?;
            }
            _ => {
                let tsig = TSIG::new(
                    theirs.algorithm.clone(),
                    now,
                    FUDGE,
                    Vec::new(),
                    theirs.oid,
                    self.reason.error(),
                    Vec::new(),
                );
                append(&mut bytes, &make_tsig_record(self.tsig.name.clone(), tsig)).ok()?;
            }
        }
        Some(bytes)
    }
}

/// The answer to a signed request whose key the `allow` entry does not
/// accept: NOTAUTH with BADKEY, unsigned (what Knot answers).
pub fn refuse_key(verified: &Verified, request_unsigned: &[u8], now: u64) -> Option<Vec<u8>> {
    let mut bytes = not_auth(request_unsigned)?;
    let tsig = TSIG::new(
        verified.key.algorithm().hickory(),
        now,
        FUDGE,
        Vec::new(),
        verified.original_id,
        Some(TsigError::BadKey),
        Vec::new(),
    );
    append(
        &mut bytes,
        &make_tsig_record(verified.key.name().clone(), tsig),
    )
    .ok()?;
    Some(bytes)
}

/// NOTAUTH to `request`, its question echoed, no other record; `None` when
/// the request does not parse.
pub fn not_auth(request: &[u8]) -> Option<Vec<u8>> {
    let parsed = Message::from_vec(request).ok()?;
    let mut metadata = Metadata::response_from_request(&parsed.metadata);
    metadata.response_code = ResponseCode::NotAuth;
    metadata.authoritative = false;
    let mut reply = Message::new(metadata.id, MessageType::Response, metadata.op_code);
    reply.metadata = metadata;
    reply.add_queries(parsed.queries.iter().cloned());
    reply.to_vec().ok()
}

/// Appends a TSIG record to an encoded message and counts it in ARCOUNT.
/// The record's names are written uncompressed: it is encoded on its own.
fn append(message: &mut Vec<u8>, record: &Record<TSIG>) -> Result<(), ProtoError> {
    if message.len() < 12 {
        return Err(ProtoError::from("message shorter than a header"));
    }
    let mut rr = Vec::with_capacity(usize::from(MAX_TSIG_LEN));
    {
        let mut encoder = BinEncoder::new(&mut rr);
        encoder.set_name_encoding(NameEncoding::Uncompressed);
        record.emit(&mut encoder)?;
    }
    let arcount = u16::from_be_bytes([message[10], message[11]])
        .checked_add(1)
        .ok_or_else(|| ProtoError::from("too many additional records"))?;
    message[10..12].copy_from_slice(&arcount.to_be_bytes());
    message.extend_from_slice(&rr);
    Ok(())
}

/// Signs a sequence of messages with one key: a request (no prior MAC), or
/// the answers to a signed request, each MAC chained to the one before
/// (RFC 8945 §5.3.1: the first answer covers the request's MAC and all TSIG
/// variables; later ones the prior MAC and the timers only).
#[derive(Debug)]
pub struct Signer {
    key: Arc<Key>,
    /// The MAC the next one chains from; `None` for a request.
    prior: Option<Vec<u8>>,
    original_id: u16,
    first: bool,
}

impl Signer {
    /// For a request we send (NOTIFY) with message ID `id`.
    pub fn request(key: Arc<Key>, id: u16) -> Self {
        Self {
            key,
            prior: None,
            original_id: id,
            first: true,
        }
    }

    /// Appends a TSIG signed at `now` to the encoded `message`.
    pub fn sign(&mut self, message: &mut Vec<u8>, now: u64) -> Result<(), ProtoError> {
        self.sign_at(message, now, None, Vec::new())
    }

    fn sign_at(
        &mut self,
        message: &mut Vec<u8>,
        time: u64,
        error: Option<TsigError>,
        other: Vec<u8>,
    ) -> Result<(), ProtoError> {
        let stub = TSIG::new(
            self.key.algorithm().hickory(),
            time,
            FUDGE,
            Vec::new(),
            self.original_id,
            error,
            other,
        );
        let mut tbs = Vec::with_capacity(message.len() + 160);
        if let Some(prior) = &self.prior {
            let len = u16::try_from(prior.len()).map_err(|_| ProtoError::from("MAC too long"))?;
            tbs.extend_from_slice(&len.to_be_bytes());
            tbs.extend_from_slice(prior);
        }
        tbs.extend_from_slice(message);
        if self.first {
            let mut variables = Vec::with_capacity(128);
            stub.emit_tsig_for_mac(&mut BinEncoder::new(&mut variables), self.key.name())?;
            tbs.extend_from_slice(&variables);
        } else {
            // Time Signed (48 bits) and Fudge.
            tbs.extend_from_slice(&time.to_be_bytes()[2..]);
            tbs.extend_from_slice(&FUDGE.to_be_bytes());
        }
        let mac = self
            .key
            .signer()
            .sign(&tbs)
            .map_err(|e| ProtoError::from(e.to_string()))?;
        append(
            message,
            &make_tsig_record(self.key.name().clone(), stub.set_mac(mac.clone())),
        )?;
        self.prior = Some(mac);
        self.first = false;
        Ok(())
    }
}

/// Seconds since the epoch, the TSIG clock.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::keys::Algorithm;
    use crate::wire::last_additional as last;
    use hickory_proto::op::{OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};

    fn ring() -> KeyRing {
        KeyRing::new(vec![
            Key::new("xfr.", Algorithm::HmacSha256, b"0123456789abcdef".to_vec()).unwrap(),
        ])
    }

    fn query(id: u16) -> Message {
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.add_query(Query::query(
            Name::from_ascii("cluster.local.").unwrap(),
            RecordType::SOA,
        ));
        m
    }

    #[test]
    fn a_request_signed_by_hickory_verifies_and_loses_its_tsig() {
        let ring = ring();
        let mut m = query(9);
        let plain = m.to_vec().unwrap();
        m.finalize(ring.by_text("xfr").unwrap().signer(), 1_000_000)
            .unwrap();
        let signed = m.to_vec().unwrap();
        match check(&ring, &signed, last(&signed), 1_000_100) {
            Checked::Signed { verified, unsigned } => {
                assert_eq!(unsigned, plain);
                assert_eq!(verified.key.name().to_ascii(), "xfr.");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check(&ring, &plain, last(&plain), 0),
            Checked::Unsigned
        ));
    }

    #[test]
    fn our_request_signature_verifies_in_hickory() {
        let ring = ring();
        let key = ring.by_text("xfr").unwrap().clone();
        let mut bytes = query(3).to_vec().unwrap();
        Signer::request(key.clone(), 3)
            .sign(&mut bytes, 5000)
            .unwrap();
        let (_, time, window) = key
            .signer()
            .verify_message_byte(&bytes, None, true)
            .unwrap();
        assert_eq!(time, 5000);
        assert!(window.contains(&5000));
        // And our own check agrees, then not an hour later.
        assert!(matches!(
            check(&ring, &bytes, last(&bytes), 5000),
            Checked::Signed { .. }
        ));
        assert!(matches!(
            check(&ring, &bytes, last(&bytes), 8600),
            Checked::Rejected(Rejected {
                reason: Reason::BadTime,
                ..
            })
        ));
    }

    #[test]
    fn every_reason_has_its_metric_label() {
        let metrics = crate::metrics::Metrics::default();
        for (i, reason) in Reason::ALL.iter().enumerate() {
            metrics.count_tsig_rejected(reason.label());
            assert_eq!(metrics.tsig_rejected(reason.label()), 1, "{reason:?}");
            assert_eq!(
                Reason::ALL[..i]
                    .iter()
                    .map(|r| r.label())
                    .find(|l| *l == reason.label()),
                None,
                "a label used twice"
            );
        }
    }

    #[test]
    fn walking_to_the_last_record_survives_any_cut() {
        let ring = ring();
        let mut bytes = query(3).to_vec().unwrap();
        Signer::request(ring.by_text("xfr").unwrap().clone(), 3)
            .sign(&mut bytes, 5000)
            .unwrap();
        for cut in 0..bytes.len() {
            // Never a panic; a cut message is unsigned or malformed.
            let checked = check(&ring, &bytes[..cut], last(&bytes[..cut]), 5000);
            assert!(
                matches!(checked, Checked::Unsigned | Checked::Malformed),
                "cut at {cut}: {checked:?}"
            );
            // Nor when handed the walk of the whole message, its TSIG
            // beyond the cut.
            let checked = check(&ring, &bytes[..cut], last(&bytes), 5000);
            assert!(
                matches!(checked, Checked::Malformed),
                "cut at {cut}, the whole message's walk: {checked:?}"
            );
        }
    }

    #[test]
    fn a_tsig_that_is_not_last_or_not_alone_is_formerr() {
        let ring = ring();
        let mut signed = query(3).to_vec().unwrap();
        Signer::request(ring.by_text("xfr").unwrap().clone(), 3)
            .sign(&mut signed, 5000)
            .unwrap();
        let tsig_at = last(&signed).unwrap().start;
        assert!(matches!(
            check(&ring, &signed, last(&signed), 5000),
            Checked::Signed { .. }
        ));
        let with_one_more = |record: &[u8]| {
            let mut bytes = signed.clone();
            bytes.extend_from_slice(record);
            let arcount = u16::from_be_bytes([bytes[10], bytes[11]]) + 1;
            bytes[10..12].copy_from_slice(&arcount.to_be_bytes());
            bytes
        };
        // The TSIG twice, and the TSIG followed by an OPT.
        let twice = with_one_more(&signed[tsig_at..]);
        let opt_after = with_one_more(&[0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0]);
        for (what, bytes) in [("two TSIGs", twice), ("a TSIG before an OPT", opt_after)] {
            let walked = last(&bytes).unwrap();
            assert!(walked.tsig_before, "{what}: {walked:?}");
            assert!(
                matches!(check(&ring, &bytes, Some(walked), 5000), Checked::Malformed),
                "{what}"
            );
        }
    }
}
