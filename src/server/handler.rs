//! The request handler: DESIGN §1's wire rules around [`snapshot::answer`].
//!
//! hickory-server parses the packet into a [`Request`] and calls
//! [`DnsHandler::handle_request`]; the handler loads the current snapshot
//! (lock-free), applies the header, opcode, class and EDNS rules, asks the
//! snapshot for the answer, decides truncation for UDP, and sends the answer
//! through whatever [`ResponseHandler`] the transport gave it. The same
//! handler serves UDP (through hickory's `Server`), our TCP loop, and tests
//! (through [`handle_bytes`], with no socket at all).
//!
//! EDNS options are handled here only (the fast path declines any query that
//! carries one): DNS Cookies (RFC 7873, server cookies per RFC 9018, see
//! `cookie.rs`) and NSID (RFC 5001) when `dns.nsid` is set. The handler also
//! carries the UDP workers' response rate limiter (`rrl.rs`), which they
//! apply to every answer, whichever path made it. Cookie secret, NSID and
//! RRL are [`Live`] settings, swapped on SIGHUP while queries flow.
//!
//! A TSIG-signed query (a secondary's SOA query, or IXFR over UDP) is checked
//! before hickory parses it (`transfer/tsig.rs`): a bad signature gets the
//! RFC 8945 §5.2 answer; a good one is answered as usual and the answer is
//! signed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use tokio::sync::mpsc;

use super::cookie::{self, Cookies};
use super::live::Live;
use super::rrl::Rrl;
use crate::metrics::Metrics;
use crate::snapshot::{self, Answer, Section, Snapshot};
use crate::transfer::keys::{Key, KeyRing};
use crate::transfer::tsig;
use crate::wire::{self, MIN_UDP_PAYLOAD, counts_fit, format_error, question_points_back};

/// Answers queries from the snapshot currently in `snapshot`. Cheap to
/// clone: everything is shared.
#[derive(Clone)]
pub struct DnsHandler {
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// The largest UDP answer we send and the size we advertise in OPT.
    max_udp_payload: u16,
    metrics: Arc<Metrics>,
    /// Zone transfer: its ACL decides IXFR over UDP here; over TCP the
    /// connection hands AXFR and IXFR to it directly. `None`: all REFUSED.
    transfer: Option<Arc<crate::transfer::Transfer>>,
    /// What SIGHUP changes: the cookie secret, `dns.nsid` (sent to clients
    /// that ask with an empty NSID option) and `dns.rrl` (applied by the
    /// UDP workers, not here: TCP is exempt).
    live: Arc<Live>,
}

impl DnsHandler {
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        max_udp_payload: u16,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            snapshot,
            max_udp_payload: max_udp_payload.max(MIN_UDP_PAYLOAD),
            metrics,
            transfer: None,
            live: Arc::new(Live::default()),
        }
    }

    /// The same handler, answering NSID requests with `nsid`.
    pub fn with_nsid(self, nsid: Option<&str>) -> Self {
        self.live.set_nsid(nsid);
        self
    }

    /// The same handler, with fixed cookie rules (a shared secret, tests).
    pub fn with_cookies(self, cookies: Cookies) -> Self {
        self.live.set_cookies(cookies);
        self
    }

    /// The same handler, carrying a response rate limiter for UDP.
    pub fn with_rrl(self, rrl: Option<Arc<Rrl>>) -> Self {
        self.live.set_rrl_limiter(rrl, &self.metrics);
        self
    }

    /// The settings SIGHUP changes (shared by every clone).
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// The same handler, with zone transfer.
    pub fn with_transfer(mut self, transfer: Arc<crate::transfer::Transfer>) -> Self {
        self.transfer = Some(transfer);
        self
    }

    /// The zone-transfer responder, if transfers are configured.
    pub fn transfer(&self) -> Option<&Arc<crate::transfer::Transfer>> {
        self.transfer.as_ref()
    }

    /// Where the current snapshot is published.
    pub fn snapshot(&self) -> &Arc<ArcSwap<Snapshot>> {
        &self.snapshot
    }

    /// The largest UDP answer sent (and advertised in OPT).
    pub fn max_udp_payload(&self) -> u16 {
        self.max_udp_payload
    }
}

/// The response to send, before encoding.
struct Plan<'a> {
    metadata: Metadata,
    answer: Option<Answer<'a>>,
    /// The answer's synthesized pod record as a record (the fast path
    /// writes it from bytes; hickory's encoder needs a `Record`).
    synthesized: Option<Record>,
    /// The answer, authority and additional sections decoded from the
    /// snapshot's wire form, for hickory's encoder.
    sections: [Vec<Record>; 3],
    edns: Option<Edns>,
    qtype: Option<RecordType>,
}

impl DnsHandler {
    /// Applies the header rules and asks the snapshot. Pure apart from the
    /// snapshot it is given.
    fn plan<'a>(&self, snap: &'a Snapshot, request: &Request, key: Option<&Key>) -> Plan<'a> {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        // RFC 7873 §5.2: only the first COOKIE option counts.
        let cookie = request.edns.as_ref().and_then(|e| {
            e.options()
                .options
                .iter()
                .find_map(|(_, option)| match option {
                    EdnsOption::Unknown(cookie::OPTION_CODE, data) => Some(data.as_slice()),
                    _ => None,
                })
        });
        let cookie = cookie.map(|c| {
            self.live
                .cookies()
                .respond(c, request.src().ip(), cookie::unix_now())
        });
        if let Some(Ok((presented, _))) = &cookie {
            self.metrics.count_cookie(presented.label());
        }
        let nsid = self.live.nsid();
        let edns = request.edns.as_ref().map(|theirs| {
            let mut ours = Edns::new();
            ours.set_max_payload(self.max_udp_payload);
            ours.set_version(0);
            ours.set_dnssec_ok(theirs.flags().dnssec_ok);
            if let Some(Ok((_, reply))) = &cookie {
                ours.options_mut()
                    .insert(EdnsOption::Unknown(cookie::OPTION_CODE, reply.to_vec()));
            }
            if let Some(nsid) = &nsid
                && theirs.option(EdnsCode::NSID).is_some()
            {
                ours.options_mut()
                    .insert(EdnsOption::NSID(NSIDPayload::clone(nsid)));
            }
            ours
        });
        let qtype = request.queries.queries().first().map(|q| q.query_type());
        let owner = request
            .queries
            .queries()
            .first()
            .map(|q| Name::from(q.name()));
        let mut plan = |rcode: ResponseCode, answer: Option<Answer<'a>>| {
            metadata.response_code = rcode;
            if let Some(answer) = &answer {
                metadata.authoritative = answer.authoritative;
            }
            let synthesized = answer
                .as_ref()
                .and_then(|a| a.synthesized)
                .zip(owner.clone())
                .map(|((ip, ttl), owner)| {
                    let data = match ip {
                        IpAddr::V4(v4) => RData::A(A(v4)),
                        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
                    };
                    Record::from_rdata(owner, ttl, data)
                });
            let sections = match (&answer, &owner) {
                (Some(a), Some(owner)) => [
                    a.answers.records(owner),
                    a.authority.records(owner),
                    a.additional.records(owner),
                ],
                _ => Default::default(),
            };
            Plan {
                metadata,
                answer,
                synthesized,
                sections,
                edns: edns.clone(),
                qtype,
            }
        };
        // RFC 6891 §6.1.3: a version we do not speak gets BADVERS.
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return plan(ResponseCode::BADVERS, None);
        }
        // RFC 7873 §5.2.2: a COOKIE option of a length no cookie has.
        if let Some(Err(cookie::Malformed)) = cookie {
            return plan(ResponseCode::FormErr, None);
        }
        if request.metadata.op_code != OpCode::Query {
            return plan(ResponseCode::NotImp, None);
        }
        let [query] = request.queries.queries() else {
            // RFC 7873 §5.4: no question and a cookie is how a client
            // learns our server cookie; the answer is the cookie alone.
            if request.queries.queries().is_empty() && matches!(cookie, Some(Ok(_))) {
                return plan(ResponseCode::NoError, None);
            }
            return plan(ResponseCode::FormErr, None);
        };
        if query.query_class() != DNSClass::IN {
            return plan(ResponseCode::Refused, None);
        }
        match query.query_type() {
            // Meta types that never appear in a question (RFC 6891 §6.1.1).
            RecordType::OPT => return plan(ResponseCode::FormErr, None),
            // Zone transfers run over TCP (`transfer/`); AXFR never over
            // UDP (RFC 5936 §4.2).
            RecordType::AXFR => return plan(ResponseCode::Refused, None),
            // IXFR over UDP from an allowed source: the current SOA alone,
            // which says "up to date" or "ask again over TCP" (RFC 1995 §2).
            RecordType::IXFR => {
                let allowed = request.protocol() == Protocol::Udp
                    && self.transfer.as_ref().is_some_and(|t| {
                        t.access(request.src().ip(), key) == crate::transfer::Access::Allowed
                    });
                if !allowed || snap.apex(query.name()).is_none() {
                    return plan(ResponseCode::Refused, None);
                }
                let answer = snapshot::answer(snap, query.name(), RecordType::SOA);
                return plan(answer.rcode, Some(answer));
            }
            _ => {}
        }
        let answer = snapshot::answer(snap, query.name(), query.query_type());
        plan(answer.rcode, Some(answer))
    }
}

/// Whether an answer goes into a UDP response whole, or does not fit and
/// is replaced by TC (as Knot DNS and BIND do; see `fast.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    Whole,
    Truncated,
}

/// Builds hickory's borrowed response from a plan.
fn build<'q, 'a: 'q>(
    request: &'q Request,
    plan: &'q Plan<'a>,
    fit: Fit,
) -> MessageResponse<
    'q,
    'q,
    impl Iterator<Item = &'q Record> + Send + 'q,
    impl Iterator<Item = &'q Record> + Send + 'q,
    impl Iterator<Item = &'q Record> + Send + 'q,
    impl Iterator<Item = &'q Record> + Send + 'q,
> {
    let mut builder = MessageResponseBuilder::new(&request.queries, None);
    if let Some(edns) = &plan.edns {
        builder.edns(edns);
    }
    let mut metadata = plan.metadata;
    let [answers, authority, additional] = match (&plan.answer, fit) {
        (Some(_), Fit::Whole) => plan.sections.each_ref().map(|s| &s[..]),
        _ => [&[][..]; 3],
    };
    let synthesized = plan.synthesized.iter().filter(move |_| fit == Fit::Whole);
    metadata.truncation = fit == Fit::Truncated;
    builder.build(
        metadata,
        answers
            .iter()
            .map(|record| -> &'q Record { record })
            .chain(synthesized),
        authority.iter(),
        std::iter::empty(),
        additional.iter(),
    )
}

impl DnsHandler {
    /// How much of the answer fits what this UDP client accepts, decided
    /// on the size of the pre-rendered records exactly as the fast path
    /// decides it, so both paths cut the same answers the same way.
    fn fit(&self, request: &Request, plan: &Plan<'_>) -> Fit {
        let Some(answer) = &plan.answer else {
            return Fit::Whole;
        };
        let limit = match &request.edns {
            Some(edns) => edns
                .max_payload()
                .clamp(MIN_UDP_PAYLOAD, self.max_udp_payload),
            None => MIN_UDP_PAYLOAD,
        };
        let opt = plan.edns.as_ref().map_or(0, |edns| {
            11 + edns
                .options()
                .options
                .iter()
                .map(|(_, o)| 4 + usize::from(o.len()))
                .sum::<usize>()
        });
        fit(
            usize::from(limit),
            12 + request.queries.as_bytes().len() + opt,
            answer,
        )
    }
}

/// The shared rule: the whole answer fits, or the response is truncated.
/// Sizes are those of the pre-rendered records, exactly what the fast path
/// sends.
fn fit(limit: usize, fixed: usize, answer: &Answer<'_>) -> Fit {
    let size = |section: Section<'_>| section.rrsets().map(|r| r.wire.len()).sum::<usize>();
    let synthesized = answer
        .synthesized
        .map_or(0, |(ip, _)| snapshot::synthesized_len(ip));
    if fixed + size(answer.answers) + synthesized + size(answer.authority) + size(answer.additional)
        > limit
    {
        Fit::Truncated
    } else {
        Fit::Whole
    }
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.respond(request, None, response_handle).await
    }
}

impl DnsHandler {
    /// Answers `request`, which was signed with `key` (verified, its TSIG
    /// already removed) or not signed.
    async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        key: Option<&Key>,
        mut response_handle: R,
    ) -> ResponseInfo {
        let started = Instant::now();
        // One atomic load; the snapshot stays alive while we answer even if
        // a newer one is published meanwhile.
        let snap = self.snapshot.load_full();
        let plan = self.plan(&snap, request, key);
        let fit = if request.protocol() == Protocol::Udp {
            self.fit(request, &plan)
        } else {
            Fit::Whole
        };
        if fit == Fit::Truncated {
            self.metrics
                .truncated
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let response = build(request, &plan, fit);
        let result = response_handle.send_response(response).await;
        self.metrics
            .count_query(plan.qtype, plan.metadata.response_code, started.elapsed());
        match result {
            Ok(info) => info,
            Err(error) => {
                tracing::debug!(%error, src = %request.src(), "could not send a response");
                let mut metadata = plan.metadata;
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// A [`ResponseHandler`] that encodes the response and hands the bytes to a
/// channel: our TCP connections write them out, tests read them.
#[derive(Clone)]
pub struct ChannelResponse {
    tx: mpsc::Sender<Vec<u8>>,
}

impl ChannelResponse {
    pub fn new(tx: mpsc::Sender<Vec<u8>>) -> Self {
        Self { tx }
    }
}

#[async_trait::async_trait]
impl ResponseHandler for ChannelResponse {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let mut bytes = Vec::with_capacity(512);
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(u16::MAX);
        let info = response.destructive_emit(&mut encoder)?;
        self.tx
            .send(bytes)
            .await
            .map_err(|_| NetError::from("response channel closed"))?;
        Ok(info)
    }
}

/// Handles one raw query the way the server does — the fast path first,
/// the full handler for what it declines — and returns the raw response
/// (`None` = silence). Used by our TCP loop and by tests that need no
/// socket.
pub async fn handle_bytes(
    handler: &DnsHandler,
    raw: Vec<u8>,
    src: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    let started = Instant::now();
    let mut out = Vec::new();
    let limit = (protocol == Protocol::Udp).then_some(handler.max_udp_payload);
    let outcome = super::fast::respond_advertising(
        &handler.snapshot.load(),
        &raw,
        &mut out,
        limit,
        handler.max_udp_payload,
    );
    match outcome {
        super::fast::Outcome::Reply {
            qtype,
            rcode,
            truncated,
        } => {
            if truncated {
                handler
                    .metrics
                    .truncated
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            handler
                .metrics
                .count_query(Some(qtype), rcode, started.elapsed());
            Some(out)
        }
        super::fast::Outcome::Drop => None,
        super::fast::Outcome::Slow => handle_bytes_slow(handler, raw, src, protocol).await,
    }
}

/// [`handle_bytes`] through hickory and the full handler only, never the
/// fast path; tests compare the two.
pub async fn handle_bytes_slow(
    handler: &DnsHandler,
    raw: Vec<u8>,
    src: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    handler
        .metrics
        .slow_path
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // Keep the header: a body that fails to parse still gets a FORMERR.
    let mut head = [0u8; 12];
    let head_len = raw.len().min(12);
    head[..head_len].copy_from_slice(&raw[..head_len]);
    if !counts_fit(&raw) || question_points_back(&raw) {
        return format_error(&head[..head_len]);
    }
    // A response is never answered, signed or not (before the TSIG check,
    // which would answer a bad signature).
    if raw.get(2).is_some_and(|flags| flags & 0x80 != 0) {
        return None;
    }
    let now = tsig::now();
    let no_keys = KeyRing::default();
    let auth = handler.transfer.as_ref().map(|t| t.auth());
    let keys = auth.as_ref().map_or(&no_keys, |a| a.keys());
    let (raw, verified) = match tsig::check(keys, &raw, now) {
        tsig::Checked::Unsigned => (raw, None),
        tsig::Checked::Signed { verified, unsigned } => (unsigned, Some(verified)),
        tsig::Checked::Malformed => return format_error(&head[..head_len]),
        tsig::Checked::Rejected(rejected) => {
            handler.metrics.count_tsig_rejected(rejected.reason.label());
            tracing::debug!(%src, reason = rejected.reason.label(), "TSIG rejected");
            return rejected
                .answer(&raw, now)
                .or_else(|| format_error(&head[..head_len]));
        }
    };
    // IXFR over UDP from a range whose `allow` entry needs a key, unsigned
    // or with another key: NOTAUTH as over TCP (`transfer/mod.rs`).
    if let Some(auth) = &auth
        && wire::transfer_type(&raw) == Some(RecordType::IXFR)
    {
        let key = verified.as_ref().map(|v| &*v.key);
        match auth.check(src.ip(), key) {
            crate::transfer::Access::KeyRequired => {
                handler
                    .metrics
                    .count_tsig_rejected(tsig::Reason::Unsigned.label());
                return tsig::not_auth(&raw);
            }
            crate::transfer::Access::WrongKey => {
                handler
                    .metrics
                    .count_tsig_rejected(tsig::Reason::BadKey.label());
                return verified.and_then(|v| tsig::refuse_key(&v, &raw, now));
            }
            crate::transfer::Access::Allowed | crate::transfer::Access::Refused => {}
        }
    }
    let request = match Request::from_bytes(raw, src, protocol) {
        Ok(request) => request,
        // Header readable → FORMERR, as hickory's UDP path does; else silence.
        Err(_) => return format_error(&head[..head_len]),
    };
    if request.metadata.message_type == MessageType::Response {
        return None;
    }
    let (tx, mut rx) = mpsc::channel(1);
    let key = verified.as_ref().map(|v| &*v.key);
    handler
        .respond(&request, key, ChannelResponse::new(tx))
        .await;
    let answer = rx.recv().await?;
    let Some(verified) = verified else {
        return Some(answer);
    };
    // Signed like the request; over UDP, an answer the TSIG makes too big
    // for the client goes out empty with TC, signed.
    let limit = match &request.edns {
        Some(edns) => edns
            .max_payload()
            .clamp(MIN_UDP_PAYLOAD, handler.max_udp_payload),
        None => MIN_UDP_PAYLOAD,
    };
    let mut signed = answer.clone();
    verified.signer().sign(&mut signed, now).ok()?;
    if protocol == Protocol::Udp && signed.len() > usize::from(limit) {
        signed = answer;
        super::rrl::slip(&mut signed);
        verified.signer().sign(&mut signed, now).ok()?;
    }
    Some(signed)
}
