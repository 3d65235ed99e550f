//! One packet in, one answer out: the single entry through which UDP, TCP
//! and the socketless tests hand a query to the server.
//!
//! [`DnsHandler::answer`] takes the raw bytes and the snapshot the caller
//! loaded (one `ArcSwap` load; a UDP worker makes it once per batch) and
//! runs the fast path (`fast.rs`), whose one walk over the header and
//! questions ([`Peek`]) is all the packet reading a plain query gets. When
//! the fast path declines, the slow path here is handed that walk and the
//! same snapshot: it screens the packet with the walk's facts (counts that
//! cannot fit, pointers that do not point back, a response, a zone transfer
//! over TCP), checks a TSIG (`transfer/tsig.rs`) where the walk found the
//! last record, has hickory parse the request (the one full parse), and
//! answers through `handler.rs`. The answer is written into the caller's
//! buffer, and the query is counted in the metrics here and only here,
//! whichever path answered.
//!
//! What comes back ([`Handled`]) says whether to send, with the answer's
//! class for response rate limiting (from the path that made it, never
//! read back from the bytes), or, on a TCP connection, a zone transfer to
//! stream ([`Streaming`]) into the connection's answer queue, which takes
//! the same snapshot and the walk's last record along.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Edns, MessageType, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use tokio::sync::mpsc;

use super::fast::{self, Outcome};
use super::handler::DnsHandler;
use super::rrl::{self, ResponseClass};
use crate::snapshot::Snapshot;
use crate::transfer::keys::KeyRing;
use crate::transfer::{self, Transfer, tsig};
use crate::wire::{self, HEADER, LastRecord, Peek, format_error};

/// Where a query came from, and so how its answer leaves.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    /// A datagram: answers are cut to fit the client's payload size.
    Udp,
    /// A TCP message. With the connection's answer queue, an AXFR or IXFR
    /// is a zone transfer streamed into it; without one (tests), it is
    /// answered like any other query (REFUSED).
    Tcp(Option<&'a mpsc::Sender<Vec<u8>>>),
}

impl Transport<'_> {
    fn protocol(self) -> Protocol {
        match self {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp(_) => Protocol::Tcp,
        }
    }
}

/// What became of one query.
#[derive(Debug)]
pub enum Handled<'a> {
    /// The answer is in the output buffer; its class, for RRL.
    Reply(ResponseClass),
    /// Nothing to send (a response, a runt, an answer that could not be
    /// encoded).
    Silent,
    /// A zone transfer on a TCP connection: run it to send its messages.
    Transfer(Streaming<'a>),
}

/// A zone transfer, ready to stream into its connection's answer queue:
/// the query, the snapshot the entry loaded for it, and where the entry's
/// walk found the query's last record (for the TSIG check).
pub struct Streaming<'a> {
    transfer: &'a Transfer,
    snap: Arc<Snapshot>,
    raw: &'a [u8],
    last: Option<LastRecord>,
    peer: SocketAddr,
    stream: &'a mpsc::Sender<Vec<u8>>,
}

impl std::fmt::Debug for Streaming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Streaming<'_> {
    /// Sends every message of the transfer, in order; `Err` when the
    /// connection's writer has gone (close the connection).
    pub async fn run(self) -> Result<(), transfer::Closed> {
        self.transfer
            .respond(self.snap, self.raw, self.last, self.peer, self.stream)
            .await
            .map(|_| ())
    }
}

/// One query as it arrived.
struct Query<'a> {
    raw: &'a [u8],
    src: SocketAddr,
    transport: Transport<'a>,
    /// When it reached the entry; the accounting times the answer from here.
    started: Instant,
}

impl DnsHandler {
    /// Answers `raw` from `snap` into `out` (overwritten): the fast path,
    /// then for what it declines the slow path with the fast path's walk.
    /// Never panics, whatever the bytes. Queries are counted here.
    pub fn answer<'a>(
        &'a self,
        snap: &Arc<Snapshot>,
        raw: &'a [u8],
        src: SocketAddr,
        transport: Transport<'a>,
        out: &mut Vec<u8>,
    ) -> Handled<'a> {
        let query = Query {
            raw,
            src,
            transport,
            started: Instant::now(),
        };
        let limit = matches!(transport, Transport::Udp).then_some(self.max_udp_payload());
        match fast::respond_advertising(snap, raw, out, limit, self.max_udp_payload()) {
            Outcome::Reply {
                qtype,
                rcode,
                truncated,
                class,
            } => {
                self.account(Some(qtype), rcode, truncated, query.started);
                Handled::Reply(class)
            }
            Outcome::Drop => Handled::Silent,
            Outcome::Slow(peek) => self.slow(snap, query, &peek, out),
        }
    }

    /// The query accounting, for both paths.
    fn account(
        &self,
        qtype: Option<RecordType>,
        rcode: ResponseCode,
        truncated: bool,
        started: Instant,
    ) {
        if truncated {
            self.metrics.truncated.inc();
        }
        self.metrics.count_query(qtype, rcode, started.elapsed());
    }

    /// The slow path: `peek` is the walk over the query that the fast path
    /// made (or that [`handle_bytes_slow`] made in its place).
    fn slow<'a>(
        &'a self,
        snap: &Arc<Snapshot>,
        query: Query<'a>,
        peek: &Peek,
        out: &mut Vec<u8>,
    ) -> Handled<'a> {
        let Query {
            raw,
            src,
            transport,
            started,
        } = query;
        // AXFR and IXFR over a connection answer with a stream of messages
        // (`transfer/`), which checks and signs them itself.
        if let Transport::Tcp(Some(stream)) = transport
            && let Some(transfer) = &self.transfer
            && peek.transfer_type().is_some()
        {
            return Handled::Transfer(Streaming {
                transfer,
                snap: snap.clone(),
                raw,
                last: peek.last_additional(),
                peer: src,
                stream,
            });
        }
        self.metrics.slow_path.inc();
        // The walk exists, so the header is there: a body that fails to
        // parse still gets a FORMERR.
        let head = &raw[..HEADER];
        let error = |out: &mut Vec<u8>, reply: Option<Vec<u8>>| match reply {
            Some(reply) => put(out, &reply, ResponseClass::Error),
            None => Handled::Silent,
        };
        if !peek.counts_fit() || peek.bad_pointer() {
            return error(out, format_error(head));
        }
        // A response is never answered, signed or not (before the TSIG check,
        // which would answer a bad signature).
        if peek.is_response() {
            return Handled::Silent;
        }
        let now = tsig::now();
        let no_keys = KeyRing::default();
        let auth = self.transfer.as_ref().map(|t| t.auth());
        let keys = auth.as_ref().map_or(&no_keys, |a| a.keys());
        let (unsigned, verified) = match tsig::check(keys, raw, peek.last_additional(), now) {
            tsig::Checked::Unsigned => (None, None),
            tsig::Checked::Signed { verified, unsigned } => (Some(unsigned), Some(verified)),
            tsig::Checked::Malformed => return error(out, format_error(head)),
            tsig::Checked::Rejected(rejected) => {
                self.metrics.count_tsig_rejected(rejected.reason.label());
                tracing::debug!(%src, reason = rejected.reason.label(), "TSIG rejected");
                let reply = rejected.answer(raw, now).or_else(|| format_error(head));
                return error(out, reply);
            }
        };
        let request_bytes = unsigned.as_deref().unwrap_or(raw);
        // IXFR over UDP from a range whose `allow` entry needs a key, unsigned
        // or with another key: NOTAUTH as over TCP (`transfer/mod.rs`). The
        // TSIG's removal left the header's flags and the question alone, so
        // the walk still says what the request asks.
        if let Some(auth) = &auth
            && peek.transfer_type() == Some(RecordType::IXFR)
        {
            let key = verified.as_ref().map(|v| &*v.key);
            match auth.check(src.ip(), key) {
                transfer::Access::KeyRequired => {
                    self.metrics
                        .count_tsig_rejected(tsig::Reason::Unsigned.label());
                    return error(out, tsig::not_auth(request_bytes));
                }
                transfer::Access::WrongKey => {
                    self.metrics
                        .count_tsig_rejected(tsig::Reason::BadKey.label());
                    let reply = verified.and_then(|v| tsig::refuse_key(&v, request_bytes, now));
                    return error(out, reply);
                }
                transfer::Access::Allowed | transfer::Access::Refused => {}
            }
        }
        let protocol = transport.protocol();
        let owned = unsigned.unwrap_or_else(|| raw.to_vec());
        let request = match Request::from_bytes(owned, src, protocol) {
            Ok(request) => request,
            // Header readable → FORMERR, as hickory's UDP path does.
            Err(_) => return error(out, format_error(head)),
        };
        if request.metadata.message_type == MessageType::Response {
            return Handled::Silent;
        }
        let key = verified.as_ref().map(|v| &*v.key);
        let (served, answer) = self.respond(snap, &request, key);
        self.account(served.qtype, served.rcode, served.truncated, started);
        let Some(answer) = answer else {
            return Handled::Silent;
        };
        let class = ResponseClass::of(served.rcode, served.answers);
        let Some(verified) = verified else {
            return put(out, &answer, class);
        };
        // Signed like the request; over UDP, an answer the TSIG makes too big
        // for the client goes out empty with TC, signed.
        let limit = wire::udp_limit(
            request.edns.as_ref().map(Edns::max_payload),
            self.max_udp_payload(),
        );
        let mut signed = answer.clone();
        if verified.signer().sign(&mut signed, now).is_err() {
            return Handled::Silent;
        }
        if protocol == Protocol::Udp && signed.len() > usize::from(limit) {
            signed = answer;
            rrl::slip(&mut signed);
            if verified.signer().sign(&mut signed, now).is_err() {
                return Handled::Silent;
            }
            return put(out, &signed, ResponseClass::of(served.rcode, 0));
        }
        put(out, &signed, class)
    }
}

/// Copies a slow-path answer into the caller's buffer, which keeps its
/// capacity for the fast path's next answer.
fn put<'a>(out: &mut Vec<u8>, answer: &[u8], class: ResponseClass) -> Handled<'a> {
    out.clear();
    out.extend_from_slice(answer);
    Handled::Reply(class)
}

fn transport_of(protocol: Protocol) -> Transport<'static> {
    match protocol {
        Protocol::Udp => Transport::Udp,
        _ => Transport::Tcp(None),
    }
}

/// Handles one raw query as the server does, through
/// [`DnsHandler::answer`] on the snapshot now published, and returns the
/// raw response (`None` = silence; over TCP a transfer query is answered
/// as a plain query, there being no connection to stream to). For tests
/// and fuzz targets without sockets; async only for its callers' sake
/// (nothing in it waits).
pub async fn handle_bytes(
    handler: &DnsHandler,
    raw: Vec<u8>,
    src: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    let snap = handler.snapshot().load_full();
    let mut out = Vec::new();
    match handler.answer(&snap, &raw, src, transport_of(protocol), &mut out) {
        Handled::Reply(_) => Some(out),
        Handled::Silent | Handled::Transfer(_) => None,
    }
}

/// [`handle_bytes`] through the slow path only, never the fast path, given
/// a walk of its own; tests compare the two paths.
pub async fn handle_bytes_slow(
    handler: &DnsHandler,
    raw: Vec<u8>,
    src: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    let snap = handler.snapshot().load_full();
    // Shorter than a header: silence, as from the fast path's Drop.
    let peek = Peek::read(&raw, |_| ())?;
    let mut out = Vec::new();
    let query = Query {
        raw: &raw,
        src,
        transport: transport_of(protocol),
        started: Instant::now(),
    };
    match handler.slow(&snap, query, &peek, &mut out) {
        Handled::Reply(_) => Some(out),
        Handled::Silent | Handled::Transfer(_) => None,
    }
}

#[cfg(test)]
mod tests;
