//! The slow path's answer: DESIGN §1's wire rules around
//! [`snapshot::answer`] for a query hickory has parsed.
//!
//! `packet.rs` screens the packet (with the fast path's walk), checks a
//! TSIG, has hickory parse the [`Request`], and calls
//! `DnsHandler::respond` with the snapshot the fast path loaded; this
//! file applies the header, opcode, class and EDNS rules, asks the snapshot
//! for the answer, decides truncation for UDP on the pre-rendered sizes
//! exactly as the fast path does, and encodes the response with hickory.
//! It owns [`DnsHandler`], which everything that answers queries shares.
//!
//! EDNS options are handled here only (the fast path declines any query that
//! carries one): DNS Cookies (RFC 7873, server cookies per RFC 9018, see
//! `cookie.rs`) and NSID (RFC 5001) when `dns.nsid` is set. The handler also
//! carries the UDP workers' response rate limiter (`rrl.rs`), which they
//! apply to every answer, whichever path made it. Cookie secret, NSID and
//! RRL are [`Live`] settings, swapped on SIGHUP while queries flow.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinEncoder;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use hickory_server::zone_handler::{MessageResponse, MessageResponseBuilder};

use super::cookie;
use super::live::Live;
use super::rrl::Rrl;
use crate::metrics::Metrics;
use crate::snapshot::{self, Answer, Section, Snapshot};
use crate::transfer::keys::Key;
use crate::wire::{self, HEADER, MIN_UDP_PAYLOAD, OPT_LEN};

/// Answers queries from the snapshot currently in `snapshot`. Cheap to
/// clone: everything is shared.
#[derive(Clone)]
pub struct DnsHandler {
    snapshot: Arc<ArcSwap<Snapshot>>,
    /// The largest UDP answer we send and the size we advertise in OPT.
    max_udp_payload: u16,
    pub(super) metrics: Arc<Metrics>,
    /// Zone transfer: its ACL decides IXFR over UDP here; over a TCP
    /// connection `packet.rs` hands AXFR and IXFR to it. `None`: all
    /// REFUSED.
    pub(super) transfer: Option<Arc<crate::transfer::Transfer>>,
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
        let limit = wire::udp_limit(
            request.edns.as_ref().map(Edns::max_payload),
            self.max_udp_payload,
        );
        let opt = plan.edns.as_ref().map_or(0, |edns| {
            OPT_LEN
                + edns
                    .options()
                    .options
                    .iter()
                    .map(|(_, o)| 4 + usize::from(o.len()))
                    .sum::<usize>()
        });
        fit(
            usize::from(limit),
            HEADER + request.queries.as_bytes().len() + opt,
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

/// What answering one parsed request did: for the query accounting and
/// the rate limiting that `packet.rs` does for both paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Served {
    pub qtype: Option<RecordType>,
    pub rcode: ResponseCode,
    pub truncated: bool,
    /// Records in the answer section as encoded (none once truncated).
    pub answers: u16,
}

impl DnsHandler {
    /// Answers `request` from `snap`: the request was signed with `key`
    /// (verified, its TSIG already removed) or not signed. The encoded
    /// response, `None` if hickory cannot encode it (it then answers
    /// nothing, as its own server would).
    pub(super) fn respond(
        &self,
        snap: &Snapshot,
        request: &Request,
        key: Option<&Key>,
    ) -> (Served, Option<Vec<u8>>) {
        let plan = self.plan(snap, request, key);
        let fit = if request.protocol() == Protocol::Udp {
            self.fit(request, &plan)
        } else {
            Fit::Whole
        };
        let response = build(request, &plan, fit);
        let mut bytes = Vec::with_capacity(usize::from(MIN_UDP_PAYLOAD));
        let mut encoder = BinEncoder::new(&mut bytes);
        encoder.set_max_size(u16::MAX);
        let emitted = response.destructive_emit(&mut encoder);
        let served = |answers| Served {
            qtype: plan.qtype,
            rcode: plan.metadata.response_code,
            truncated: fit == Fit::Truncated,
            answers,
        };
        match emitted {
            Ok(info) => (served(info.counts().answers), Some(bytes)),
            Err(error) => {
                tracing::debug!(%error, src = %request.src(), "could not encode a response");
                (served(0), None)
            }
        }
    }
}
