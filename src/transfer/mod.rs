//! Zone transfer to secondaries: AXFR (RFC 5936) and IXFR (RFC 1995) over
//! TCP, NOTIFY (RFC 1996), and the zone as a master file.
//!
//! Data enters as the snapshots the driver publishes into the shared
//! `ArcSwap<Snapshot>`; nothing here writes to it. A transfer over TCP is
//! handed the snapshot the server's packet entry loaded for the query
//! (`server/packet.rs`: one load per packet) and renders every message from
//! that one `Arc`, so a zone that changes meanwhile never mixes into it;
//! the socketless [`Transfer::answer`] loads the current one itself. The
//! [`Journal`] keeps recent snapshots by serial — they share structure, so
//! each costs only what changed — and IXFR compares the client's snapshot
//! with the current one ([`diff`]). [`notify::watch`] polls the store, feeds
//! the journal and sends NOTIFY. Bytes leave through the TCP connection's
//! answer queue (the packet entry hands AXFR and IXFR queries on a
//! connection to [`Transfer::respond`], with where its one walk over the
//! query found the last record, for the TSIG check), and as text through
//! [`export`].
//!
//! Over UDP the query handler keeps the rules: AXFR is REFUSED, IXFR from an
//! allowed source gets the current SOA alone ("ask again over TCP", RFC 1995
//! §2), one whose entry needs a key it lacks NOTAUTH, anything from
//! elsewhere is REFUSED.
//!
//! Who is allowed is [`auth`]'s business: address ranges and TSIG keys
//! ([`keys`]). A signed request is checked by [`tsig`] before anything else,
//! and every message of the answer to it is signed, each MAC chained to the
//! one before (RFC 8945 §5.3.1).

pub mod auth;
pub mod diff;
pub mod export;
pub mod journal;
pub mod keys;
pub mod message;
pub mod notify;
pub mod tsig;

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Message, MessageType, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};
use tokio::sync::mpsc;

pub use auth::{Access, Auth};
pub use diff::serial_lt;
pub use journal::Journal;

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;
use crate::wire::{self, LastRecord};

/// The connection went away before the transfer was sent.
#[derive(Debug, thiserror::Error)]
#[error("the connection closed during the transfer")]
pub struct Closed;

/// What a transfer query got, for the log and the tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An error rcode (REFUSED, NOTAUTH, FORMERR, SERVFAIL, ...).
    Error(ResponseCode),
    /// The whole zone, to an AXFR.
    Axfr { serial: u32 },
    /// The client holds the current serial (or a newer one): the SOA alone.
    UpToDate { serial: u32 },
    /// The condensed difference from the client's serial.
    Incremental { from: u32, to: u32 },
    /// The client's serial is not in the journal: the whole zone, AXFR-style.
    Full { from: u32, to: u32 },
}

/// The AXFR/IXFR responder: the snapshot store, the ACL and the journal.
pub struct Transfer {
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// Who may transfer (ranges and keys) and whom to NOTIFY; empty refuses
    /// everyone. Swapped whole on SIGHUP (a rotated key file, a new entry).
    auth: ArcSwap<Auth>,
    journal: Journal,
    metrics: Arc<Metrics>,
}

/// A transfer request after its TSIG check: what to parse and how to sign.
enum Checked {
    /// Answer with these bytes, unsigned, and stop (FORMERR, NOTAUTH).
    Answered(Outcome, Option<Vec<u8>>),
    /// Go on with the request (TSIG removed), the signer if signed, and
    /// whether the ACL allows it (if not, the answer is REFUSED).
    Go(Vec<u8>, Option<tsig::Verified>, bool),
}

/// A reply before encoding: header, question, records. Records borrow the
/// snapshot being transferred; IXFR deletions come from an older snapshot
/// and are owned. A whole zone is not collected: its records are pulled
/// name by name as the messages are encoded.
struct Reply<'s> {
    metadata: Metadata,
    query: Option<Query>,
    edns: Option<Edns>,
    records: message::Records<'s>,
    outcome: Outcome,
}

impl Transfer {
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        auth: Auth,
        journal_size: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            snapshot,
            auth: ArcSwap::from_pointee(auth),
            journal: Journal::new(journal_size),
            metrics,
        }
    }

    /// The ACL's verdict on `ip`, signed with `key` or not (for IXFR over
    /// UDP, which the query handler answers).
    pub fn access(&self, ip: IpAddr, key: Option<&keys::Key>) -> Access {
        self.auth.load().check(ip, key)
    }

    /// The keys, ACL and NOTIFY targets in force.
    pub fn auth(&self) -> Arc<Auth> {
        self.auth.load_full()
    }

    /// Puts new keys, ACL and NOTIFY targets in force (SIGHUP); transfers
    /// already running finish under the old ones.
    pub fn set_auth(&self, auth: Auth) {
        self.auth.store(Arc::new(auth));
    }

    /// Checks a request's TSIG (at `last`, where the walk over `raw` found
    /// its last record): a rejection is counted by reason and answered
    /// (RFC 8945 §5.2); a request that needs a key is answered NOTAUTH; one
    /// from outside every range REFUSED. Otherwise the request without its
    /// TSIG, and how to sign the answer.
    fn check(&self, raw: &[u8], last: Option<LastRecord>, peer: IpAddr) -> Checked {
        let now = tsig::now();
        // One load: the TSIG check and the ACL see the same keys.
        let auth = self.auth.load();
        let (request, verified) = match tsig::check(auth.keys(), raw, last, now) {
            tsig::Checked::Unsigned => (raw.to_vec(), None),
            tsig::Checked::Signed { verified, unsigned } => (unsigned, Some(verified)),
            tsig::Checked::Malformed => {
                return Checked::Answered(
                    Outcome::Error(ResponseCode::FormErr),
                    wire::format_error(raw),
                );
            }
            tsig::Checked::Rejected(rejected) => {
                self.metrics.count_tsig_rejected(rejected.reason.label());
                tracing::info!(%peer, reason = rejected.reason.label(), "zone transfer: TSIG rejected");
                return Checked::Answered(
                    Outcome::Error(ResponseCode::NotAuth),
                    rejected.answer(raw, now),
                );
            }
        };
        match auth.check(peer, verified.as_ref().map(|v| &*v.key)) {
            Access::Allowed => Checked::Go(request, verified, true),
            // Refused below, signed if the request was.
            Access::Refused => Checked::Go(request, verified, false),
            Access::KeyRequired => {
                self.metrics
                    .count_tsig_rejected(tsig::Reason::Unsigned.label());
                tracing::info!(%peer, "zone transfer: unsigned, but the allow entry needs a key");
                Checked::Answered(Outcome::Error(ResponseCode::NotAuth), tsig::not_auth(raw))
            }
            Access::WrongKey => {
                self.metrics
                    .count_tsig_rejected(tsig::Reason::BadKey.label());
                tracing::info!(%peer, "zone transfer: signed with a key no allow entry accepts");
                let answer = verified
                    .as_ref()
                    .and_then(|v| tsig::refuse_key(v, &request, now));
                Checked::Answered(Outcome::Error(ResponseCode::NotAuth), answer)
            }
        }
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    pub fn snapshots(&self) -> &Arc<ArcSwap<Snapshot>> {
        &self.snapshot
    }

    /// Answers one AXFR or IXFR query received over TCP from `peer`, from
    /// `snap`, the snapshot loaded for it: every message of the reply, in
    /// order, into `out` (the connection's answer queue, whose bound paces
    /// us to the client's reading). `last` is where the walk over `raw`
    /// found its last record ([`wire::Peek::last_additional`]), for the TSIG
    /// check.
    pub async fn respond(
        &self,
        snap: Arc<Snapshot>,
        raw: &[u8],
        last: Option<LastRecord>,
        peer: SocketAddr,
        out: &mpsc::Sender<Vec<u8>>,
    ) -> Result<Outcome, Closed> {
        let started = Instant::now();
        let (raw, verified, allowed) = match self.check(raw, last, peer.ip()) {
            Checked::Go(raw, verified, allowed) => (raw, verified, allowed),
            Checked::Answered(outcome, answer) => {
                if let Some(answer) = answer {
                    out.send(answer).await.map_err(|_| Closed)?;
                }
                return Ok(outcome);
            }
        };
        // Every message of this transfer comes from `snap`.
        let Some(mut reply) = self.reply(&snap, &raw, allowed) else {
            // Unparseable: a FORMERR when the header could be read.
            if let Some(formerr) = wire::format_error(&raw) {
                out.send(formerr).await.map_err(|_| Closed)?;
            }
            return Ok(Outcome::Error(ResponseCode::FormErr));
        };
        let mut signer = verified.as_ref().map(tsig::Verified::signer);
        let mut messages = 0usize;
        let mut encoded = reply.messages(signer.is_some());
        for mut bytes in encoded.by_ref() {
            if let Some(signer) = &mut signer
                && let Err(error) = signer.sign(&mut bytes, tsig::now())
            {
                tracing::error!(%error, "cannot sign a transfer message");
                break;
            }
            out.send(bytes).await.map_err(|_| Closed)?;
            messages += 1;
        }
        let sent = (messages, encoded.sent());
        self.finish(&snap, &reply, peer, sent, started);
        Ok(reply.outcome)
    }

    /// The whole reply to a transfer query as raw messages, rendered from
    /// the current snapshot: [`respond`](Self::respond) without a socket,
    /// for tests and fuzz targets, which hand it bytes alone (it walks them
    /// as the server's entry would).
    pub fn answer(&self, raw: &[u8], peer: IpAddr) -> (Outcome, Vec<Vec<u8>>) {
        let started = Instant::now();
        let last = wire::last_additional(raw);
        let (raw, verified, allowed) = match self.check(raw, last, peer) {
            Checked::Go(raw, verified, allowed) => (raw, verified, allowed),
            Checked::Answered(outcome, answer) => return (outcome, answer.into_iter().collect()),
        };
        let raw = &raw[..];
        let snap = self.snapshot.load_full();
        match self.reply(&snap, raw, allowed) {
            Some(mut reply) => {
                let mut signer = verified.as_ref().map(tsig::Verified::signer);
                let mut encoded = reply.messages(signer.is_some());
                let messages: Vec<Vec<u8>> = encoded
                    .by_ref()
                    .map_while(|mut bytes| match &mut signer {
                        Some(signer) => signer.sign(&mut bytes, tsig::now()).ok().map(|()| bytes),
                        None => Some(bytes),
                    })
                    .collect();
                let addr = SocketAddr::new(peer, 0);
                let sent = (messages.len(), encoded.sent());
                self.finish(&snap, &reply, addr, sent, started);
                (reply.outcome, messages)
            }
            None => (
                Outcome::Error(ResponseCode::FormErr),
                wire::format_error(raw).into_iter().collect(),
            ),
        }
    }

    /// Logs and counts a transfer sent (`sent`: how many messages and
    /// records); a served serial goes into the journal, so the secondary's
    /// next IXFR finds it.
    fn finish(
        &self,
        snap: &Arc<Snapshot>,
        reply: &Reply<'_>,
        peer: SocketAddr,
        (messages, records): (usize, usize),
        started: Instant,
    ) {
        let qtype = reply.query.as_ref().map(Query::query_type);
        self.metrics
            .count_query(qtype, reply.metadata.response_code, started.elapsed());
        let zone = reply
            .query
            .as_ref()
            .map_or_else(String::new, |q| q.name().to_ascii());
        match reply.outcome {
            Outcome::Error(rcode) => {
                tracing::info!(%peer, %zone, ?qtype, %rcode, "zone transfer not served");
                return;
            }
            Outcome::Axfr { serial } => {
                tracing::info!(%peer, %zone, serial, messages, records, "AXFR sent");
            }
            Outcome::UpToDate { serial } => {
                tracing::debug!(%peer, %zone, serial, "IXFR: client is up to date");
            }
            Outcome::Incremental { from, to } => {
                tracing::info!(%peer, %zone, from, to, messages, records, "IXFR sent (incremental)");
            }
            Outcome::Full { from, to } => {
                tracing::info!(%peer, %zone, from, to, messages, records,
                    "IXFR sent as the full zone: serial {from} is not in the journal");
            }
        }
        self.journal.record(snap.clone());
    }

    /// Decides the reply. `None` when the query does not parse.
    /// `allowed`: the ACL's verdict on the request (else REFUSED).
    fn reply<'s>(&self, snap: &'s Snapshot, raw: &[u8], allowed: bool) -> Option<Reply<'s>> {
        let request = Message::from_vec(raw).ok()?;
        if request.metadata.message_type == MessageType::Response {
            return None;
        }
        let mut reply = Reply {
            metadata: Metadata::response_from_request(&request.metadata),
            query: request.queries.first().cloned(),
            edns: request.edns.as_ref().map(|_| {
                let mut edns = Edns::new();
                edns.set_max_payload(wire::EDNS_PAYLOAD);
                edns.set_version(0);
                edns
            }),
            records: Box::new(std::iter::empty()),
            // Every path below sets its own.
            outcome: Outcome::Error(ResponseCode::ServFail),
        };
        let error = |mut reply: Reply<'s>, rcode: ResponseCode| {
            reply.metadata.response_code = rcode;
            reply.metadata.authoritative = false;
            reply.outcome = Outcome::Error(rcode);
            Some(reply)
        };
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return error(reply, ResponseCode::BADVERS);
        }
        if request.metadata.op_code != OpCode::Query {
            return error(reply, ResponseCode::NotImp);
        }
        let [query] = request.queries.as_slice() else {
            return error(reply, ResponseCode::FormErr);
        };
        if query.query_class() != DNSClass::IN {
            return error(reply, ResponseCode::Refused);
        }
        if !allowed {
            return error(reply, ResponseCode::Refused);
        }
        // RFC 5936 §2.2.1: not a zone we serve → NOTAUTH.
        let Some(apex) = snap.apex(query.name()) else {
            return error(reply, ResponseCode::NotAuth);
        };
        // Never transfer a zone that is not fully loaded.
        if !snap.synced {
            return error(reply, ResponseCode::ServFail);
        }
        let soa = apex.soa.records.first()?;
        reply.metadata.authoritative = true;
        let current = snap.serial;
        match query.query_type() {
            RecordType::AXFR => {
                reply.records = full_zone(snap, &apex.origin, soa);
                reply.outcome = Outcome::Axfr { serial: current };
            }
            RecordType::IXFR => {
                // The client's version rides in the authority section.
                let Some(from) = request.authorities.iter().find_map(|r| match &r.data {
                    RData::SOA(theirs) if r.name == apex.origin => Some(theirs.serial),
                    _ => None,
                }) else {
                    return error(reply, ResponseCode::FormErr);
                };
                if from == current || serial_lt(current, from) {
                    reply.records = Box::new(std::iter::once(Cow::Borrowed(soa)));
                    reply.outcome = Outcome::UpToDate { serial: current };
                } else if let Some(old) = self.journal.find(from) {
                    let difference = diff::difference(&old, snap, &apex.origin);
                    let old_soa = old.apex(&apex.origin)?.soa.records.first()?;
                    // RFC 1995 §4: new SOA, old SOA, deletions, new SOA,
                    // additions, new SOA.
                    let mut records =
                        Vec::with_capacity(difference.deleted.len() + difference.added.len() + 4);
                    records.push(Cow::Borrowed(soa));
                    records.push(Cow::Owned(old_soa.clone()));
                    records.extend(difference.deleted.into_iter().map(Cow::Owned));
                    records.push(Cow::Borrowed(soa));
                    records.extend(difference.added.into_iter().map(Cow::Owned));
                    records.push(Cow::Borrowed(soa));
                    reply.records = Box::new(records.into_iter());
                    reply.outcome = Outcome::Incremental { from, to: current };
                } else {
                    // RFC 1995 §4: the whole zone, AXFR-style, is a valid
                    // IXFR answer when the history is not at hand.
                    reply.records = full_zone(snap, &apex.origin, soa);
                    reply.outcome = Outcome::Full { from, to: current };
                }
            }
            _ => return error(reply, ResponseCode::FormErr),
        }
        Some(reply)
    }
}

/// The AXFR body: SOA, every other record name by name, SOA; pulled as
/// the messages are encoded.
fn full_zone<'s>(
    snap: &'s Snapshot,
    origin: &hickory_proto::rr::Name,
    soa: &'s Record,
) -> message::Records<'s> {
    let rest = snap
        .walk(origin)
        .into_iter()
        .flatten()
        .flatten()
        .map(Cow::Owned);
    Box::new(
        std::iter::once(Cow::Borrowed(soa))
            .chain(rest)
            .chain(std::iter::once(Cow::Borrowed(soa))),
    )
}

impl<'s> Reply<'s> {
    /// The reply as wire messages, each within [`message::MAX_MESSAGE`],
    /// with room for a TSIG when `signed`. Takes the records: call once.
    fn messages(&mut self, signed: bool) -> message::Messages<'s> {
        let records = std::mem::replace(&mut self.records, Box::new(std::iter::empty()));
        message::Messages::new(
            self.metadata,
            self.query.clone(),
            self.edns.clone(),
            records,
        )
        .reserve(if signed { tsig::MAX_TSIG_LEN } else { 0 })
    }
}
