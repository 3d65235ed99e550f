//! The request handler: DESIGN §1's wire rules around [`snapshot::answer`].
//!
//! hickory-server parses the packet into a [`Request`] and calls
//! [`DnsHandler::handle_request`]; the handler loads the current snapshot
//! (lock-free), applies the header, opcode, class and EDNS rules, asks the
//! snapshot for the answer, decides truncation for UDP, and sends the answer
//! through whatever [`ResponseHandler`] the transport gave it. The same
//! handler serves UDP (through hickory's `Server`), our TCP loop, and tests
//! (through [`handle_bytes`], with no socket at all).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Header, HeaderCounts, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::{DNSClass, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};
use hickory_server::net::NetError;
use hickory_server::net::runtime::Time;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};
use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::snapshot::{self, Answer, Section, Snapshot};

/// The smallest UDP payload every client accepts (RFC 1035).
const MIN_UDP_PAYLOAD: u16 = 512;

/// Answers queries from the snapshot currently in `snapshot`. Cheap to
/// clone: everything is shared.
#[derive(Clone)]
pub struct DnsHandler {
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// The largest UDP answer we send and the size we advertise in OPT.
    max_udp_payload: u16,
    metrics: Arc<Metrics>,
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
        }
    }
}

/// The response to send, before encoding.
struct Plan<'a> {
    metadata: Metadata,
    answer: Option<Answer<'a>>,
    edns: Option<Edns>,
    qtype: Option<RecordType>,
}

impl DnsHandler {
    /// Applies the header rules and asks the snapshot. Pure apart from the
    /// snapshot it is given.
    fn plan<'a>(&self, snap: &'a Snapshot, request: &Request) -> Plan<'a> {
        let mut metadata = Metadata::response_from_request(&request.metadata);
        let edns = request.edns.as_ref().map(|theirs| {
            let mut ours = Edns::new();
            ours.set_max_payload(self.max_udp_payload);
            ours.set_version(0);
            ours.set_dnssec_ok(theirs.flags().dnssec_ok);
            ours
        });
        let qtype = request.queries.queries().first().map(|q| q.query_type());
        let mut plan = |rcode: ResponseCode, answer: Option<Answer<'a>>| {
            metadata.response_code = rcode;
            if let Some(answer) = &answer {
                metadata.authoritative = answer.authoritative;
            }
            Plan {
                metadata,
                answer,
                edns: edns.clone(),
                qtype,
            }
        };
        // RFC 6891 §6.1.3: a version we do not speak gets BADVERS.
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return plan(ResponseCode::BADVERS, None);
        }
        if request.metadata.op_code != OpCode::Query {
            return plan(ResponseCode::NotImp, None);
        }
        let [query] = request.queries.queries() else {
            return plan(ResponseCode::FormErr, None);
        };
        if query.query_class() != DNSClass::IN {
            return plan(ResponseCode::Refused, None);
        }
        match query.query_type() {
            // Meta types that never appear in a question (RFC 6891 §6.1.1).
            RecordType::OPT => return plan(ResponseCode::FormErr, None),
            // Zone transfers are not offered.
            RecordType::AXFR | RecordType::IXFR => return plan(ResponseCode::Refused, None),
            _ => {}
        }
        let answer = snapshot::answer(snap, query.name(), query.query_type());
        plan(answer.rcode, Some(answer))
    }
}

/// An upper bound of a record's size on the wire (no compression).
fn record_wire_bound(record: &Record) -> usize {
    use hickory_proto::rr::RData;
    let rdata = match &record.data {
        RData::A(_) => 4,
        RData::AAAA(_) => 16,
        RData::SRV(srv) => 6 + srv.target.len() + 1,
        RData::PTR(ptr) => ptr.0.len() + 1,
        RData::NS(ns) => ns.0.len() + 1,
        RData::SOA(soa) => soa.mname.len() + soa.rname.len() + 2 + 20,
        RData::TXT(txt) => txt.txt_data.iter().map(|s| s.len() + 1).sum(),
        // Anything else: a safe, large bound forces an exact check.
        _ => usize::from(u16::MAX),
    };
    record.name.len() + 1 + 10 + rdata
}

fn section_bound(section: &Section<'_>) -> usize {
    section.iter().map(record_wire_bound).sum::<usize>()
}

/// Builds hickory's borrowed response from a plan.
fn build<'q, 'a>(
    request: &'q Request,
    plan: &'q Plan<'a>,
    truncated: bool,
) -> MessageResponse<
    'q,
    'a,
    impl Iterator<Item = &'a Record> + Send + 'a,
    impl Iterator<Item = &'a Record> + Send + 'a,
    impl Iterator<Item = &'a Record> + Send + 'a,
    impl Iterator<Item = &'a Record> + Send + 'a,
> {
    let mut builder = MessageResponseBuilder::new(&request.queries, None);
    if let Some(edns) = &plan.edns {
        builder.edns(edns);
    }
    let mut metadata = plan.metadata;
    let (answers, authority, additional) = match (&plan.answer, truncated) {
        (Some(a), false) => (a.answers, a.authority, a.additional),
        _ => Default::default(),
    };
    metadata.truncation = truncated;
    builder.build(
        metadata,
        answers.iter(),
        authority.iter(),
        std::iter::empty(),
        additional.iter(),
    )
}

impl DnsHandler {
    /// Whether the answer exceeds what this UDP client accepts. A cheap
    /// bound settles nearly every answer; only large ones are encoded to
    /// find out exactly.
    fn must_truncate(&self, request: &Request, plan: &Plan<'_>) -> bool {
        let Some(answer) = &plan.answer else {
            return false;
        };
        let limit = match &request.edns {
            Some(edns) => edns
                .max_payload()
                .clamp(MIN_UDP_PAYLOAD, self.max_udp_payload),
            None => MIN_UDP_PAYLOAD,
        };
        let bound = 12
            + request.queries.as_bytes().len()
            + section_bound(&answer.answers)
            + section_bound(&answer.authority)
            + section_bound(&answer.additional)
            + if plan.edns.is_some() { 11 } else { 0 };
        if bound <= usize::from(limit) {
            return false;
        }
        let mut scratch = Vec::with_capacity(usize::from(limit));
        let mut encoder = BinEncoder::new(&mut scratch);
        encoder.set_max_size(limit);
        match build(request, plan, false).destructive_emit(&mut encoder) {
            Ok(info) => info.truncation,
            Err(_) => true,
        }
    }
}

#[async_trait::async_trait]
impl RequestHandler for DnsHandler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let started = Instant::now();
        // One atomic load; the snapshot stays alive while we answer even if
        // a newer one is published meanwhile.
        let snap = self.snapshot.load_full();
        let plan = self.plan(&snap, request);
        let truncated = request.protocol() == Protocol::Udp && self.must_truncate(request, &plan);
        if truncated {
            self.metrics
                .truncated
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let response = build(request, &plan, truncated);
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

/// A FORMERR for a packet whose header parsed but whose body did not.
pub fn format_error(raw: &[u8]) -> Option<Vec<u8>> {
    let header = Header::read(&mut BinDecoder::new(raw)).ok()?;
    if header.metadata.message_type == MessageType::Response {
        return None;
    }
    let mut metadata = Metadata::response_from_request(&header.metadata);
    metadata.response_code = ResponseCode::FormErr;
    let reply = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    reply.to_bytes().ok()
}

/// Handles one raw query the way the server does and returns the raw
/// response (`None` = silence). Used by our TCP loop and by tests that need
/// no socket.
pub async fn handle_bytes(
    handler: &DnsHandler,
    raw: Vec<u8>,
    src: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    // Keep the header: a body that fails to parse still gets a FORMERR.
    let mut head = [0u8; 12];
    let head_len = raw.len().min(12);
    head[..head_len].copy_from_slice(&raw[..head_len]);
    let request = match Request::from_bytes(raw, src, protocol) {
        Ok(request) => request,
        // Header readable → FORMERR, as hickory's UDP path does; else silence.
        Err(_) => return format_error(&head[..head_len]),
    };
    if request.metadata.message_type == MessageType::Response {
        return None;
    }
    let (tx, mut rx) = mpsc::channel(1);
    handler
        .handle_request::<_, hickory_server::net::runtime::TokioTime>(
            &request,
            ChannelResponse::new(tx),
        )
        .await;
    rx.recv().await
}
