//! The fast path: answer the common query straight from packet bytes.
//!
//! A plain query (one question, class IN, opcode QUERY, at most an OPT
//! record without options) is read here without hickory, in one walk
//! ([`Peek::read`]) that lowercases the name into a stack buffer as it
//! goes; [`snapshot::answer_labels`] finds the
//! answer, and the response is assembled by copying the RRsets' pre-rendered
//! wire bytes (`Rrset::wire`) behind the echoed question: no allocation once
//! the output buffer has grown, no lock, no task. Anything else — other
//! opcodes, EDNS options (cookies, NSID), ANY, transfers, malformed input —
//! is [`Outcome::Slow`], which carries the walk's [`Peek`] to the slow path
//! (`packet.rs`, then hickory through [`super::handler`]), which applies the
//! same DESIGN §1 rules without walking the packet again; tests run both
//! paths on the same questions and expect the same answers.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::rrl::ResponseClass;
use crate::snapshot::{self, Answer, MAX_LABELS, Snapshot};
use crate::wire::{self, EDNS_PAYLOAD, HEADER, MIN_UDP_PAYLOAD, OPT, OPT_LEN, Peek};

/// What the fast path made of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A response is in the output buffer.
    Reply {
        qtype: RecordType,
        rcode: ResponseCode,
        truncated: bool,
        /// Its class for response rate limiting (from the RCODE and the
        /// answer count as written).
        class: ResponseClass,
    },
    /// Not a plain query: hand the packet to the full handler, with what
    /// the one walk over it learned.
    Slow(Peek),
    /// Not to be answered at all (a response, or shorter than a header).
    Drop,
}

/// The parsed parts of a plain query.
struct Query {
    /// End of the question (offset of what follows it).
    question_end: usize,
    qtype: RecordType,
    /// Client's EDNS payload and DO bit, if it sent OPT.
    edns: Option<(u16, bool)>,
}

/// The first question's name, lowercased into a stack buffer as the walk
/// hands it over, with its label boundaries.
struct LowerName {
    bytes: [u8; 256],
    spans: [(u8, u8); MAX_LABELS],
    labels: usize,
    used: usize,
    /// Within the fast path's limits: at most [`MAX_LABELS`] labels and 255
    /// octets on the wire (label data, a length octet per label and the
    /// root's; the fuzzer found 256 accepted when only the data was
    /// counted). A longer name goes the slow way, which says FORMERR.
    fits: bool,
}

impl LowerName {
    fn new() -> Self {
        Self {
            bytes: [0; 256],
            spans: [(0, 0); MAX_LABELS],
            labels: 0,
            used: 0,
            fits: true,
        }
    }

    fn push(&mut self, label: &[u8]) {
        let len = label.len();
        if !self.fits || self.labels == MAX_LABELS || self.used + len + self.labels + 2 > 255 {
            self.fits = false;
            return;
        }
        for (dst, src) in self.bytes[self.used..self.used + len].iter_mut().zip(label) {
            *dst = src.to_ascii_lowercase();
        }
        self.spans[self.labels] = (self.used as u8, len as u8);
        self.labels += 1;
        self.used += len;
    }
}

/// Reads a plain query from one walk over `packet`, lowercasing its name
/// into `name`. A packet it declines comes back as the [`Outcome`] to give,
/// [`Outcome::Slow`] carrying the walk's [`Peek`].
fn parse(packet: &[u8], name: &mut LowerName) -> Result<Query, Outcome> {
    let Some(peek) = Peek::read(packet, |label| name.push(label)) else {
        return Err(Outcome::Drop);
    };
    if peek.is_response() {
        return Err(Outcome::Drop);
    }
    let slow = Err(Outcome::Slow(peek));
    let [qd, an, ns, ar] = peek.counts();
    if peek.opcode() != 0 || qd != 1 || an != 0 || ns != 0 || ar > 1 || !name.fits {
        return slow;
    }
    // Compression in a question or a reserved label type: slow path.
    let Some(question) = peek.first() else {
        return slow;
    };
    // IN only; meta and transfer types go to the full handler.
    if question.qclass != 1 || matches!(question.qtype, 0 | OPT | 251 | 252 | 255) {
        return slow;
    }
    let mut pos = question.end;
    let edns = if ar == 1 {
        // OPT: root owner, type 41, class = payload, TTL = ext-rcode,
        // version, flags; no options (those go the slow way).
        let Some(opt) = packet.get(pos..pos + OPT_LEN) else {
            return slow;
        };
        let rdlen = u16::from_be_bytes([opt[9], opt[10]]);
        if opt[0] != 0 || opt[1..3] != OPT.to_be_bytes() || opt[6] != 0 || rdlen != 0 {
            return slow;
        }
        pos += OPT_LEN;
        Some((u16::from_be_bytes([opt[3], opt[4]]), opt[7] & 0x80 != 0))
    } else {
        None
    };
    if pos != packet.len() {
        return slow;
    }
    Ok(Query {
        question_end: question.end,
        qtype: RecordType::from(question.qtype),
        edns,
    })
}

/// Answers `packet` from `snap` into `out` (cleared first). `udp_limit` is
/// `Some(our maximum payload)` over UDP and `None` over TCP (where the OPT
/// then advertises [`EDNS_PAYLOAD`]; [`respond_advertising`] says what to advertise).
pub fn respond(
    snap: &Snapshot,
    packet: &[u8],
    out: &mut Vec<u8>,
    udp_limit: Option<u16>,
) -> Outcome {
    respond_advertising(
        snap,
        packet,
        out,
        udp_limit,
        udp_limit.unwrap_or(EDNS_PAYLOAD),
    )
}

/// [`respond`], with the UDP payload size our OPT advertises given
/// explicitly: over TCP it must still be the configured maximum, as the
/// full handler advertises it (tests/properties.rs found the two paths
/// disagreeing there).
pub fn respond_advertising(
    snap: &Snapshot,
    packet: &[u8],
    out: &mut Vec<u8>,
    udp_limit: Option<u16>,
    advertise: u16,
) -> Outcome {
    let mut name = LowerName::new();
    let query = match parse(packet, &mut name) {
        Ok(query) => query,
        Err(outcome) => return outcome,
    };
    let count = name.labels;
    let mut labels: [&[u8]; MAX_LABELS] = [&[]; MAX_LABELS];
    for (label, (start, len)) in labels.iter_mut().zip(&name.spans[..count]) {
        *label = &name.bytes[usize::from(*start)..usize::from(*start) + usize::from(*len)];
    }
    let answer = snapshot::answer_labels(snap, &labels[..count], query.qtype);
    let limit = udp_limit.map_or(usize::from(u16::MAX), |ours| {
        usize::from(wire::udp_limit(query.edns.map(|(theirs, _)| theirs), ours))
    });
    let advertised = advertise.max(MIN_UDP_PAYLOAD);
    let (truncated, answers) = write(packet, &query, &answer, out, limit, advertised);
    Outcome::Reply {
        qtype: query.qtype,
        rcode: answer.rcode,
        truncated,
        class: ResponseClass::of(answer.rcode, answers),
    }
}

/// Assembles the response; returns whether it was truncated to fit
/// `limit`, and the answer count written.
fn write(
    packet: &[u8],
    query: &Query,
    answer: &Answer<'_>,
    out: &mut Vec<u8>,
    limit: usize,
    advertised: u16,
) -> (bool, u16) {
    out.clear();
    let qflags = u16::from_be_bytes([packet[2], packet[3]]);
    // QR, AA as answered, RD and CD copied, RA never (no recursion).
    let mut flags: u16 = 0x8000 | (qflags & 0x0100) | (qflags & 0x0010);
    if answer.authoritative {
        flags |= 0x0400;
    }
    flags |= u16::from(answer.rcode.low());
    let mut truncated = false;
    out.extend_from_slice(&packet[0..2]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&packet[HEADER..query.question_end]);
    let mut counts = [0u16; 3];
    for (i, section) in [answer.answers, answer.authority, answer.additional]
        .into_iter()
        .enumerate()
    {
        for rrset in section.rrsets() {
            out.extend_from_slice(rrset.wire);
            counts[i] += rrset.len() as u16;
        }
        if i == 0
            && let Some((ip, ttl)) = answer.synthesized
        {
            snapshot::synthesized_wire(ip, ttl, out);
            counts[0] += 1;
        }
    }
    let opt_len = if query.edns.is_some() { OPT_LEN } else { 0 };
    if out.len() + opt_len > limit {
        // Does not fit: no records, the question, TC set, so the client
        // asks again over TCP. (Additional records could be dropped
        // instead (RFC 2181 §9); Knot DNS and BIND truncate, and so do we,
        // so a client gets the same answer from any of them.)
        out.truncate(query.question_end);
        counts = [0; 3];
        flags |= 0x0200;
        out[2..4].copy_from_slice(&flags.to_be_bytes());
        truncated = true;
    }
    if let Some((_, dnssec_ok)) = query.edns {
        out.extend_from_slice(&[0, 0, 41]);
        out.extend_from_slice(&advertised.to_be_bytes());
        out.extend_from_slice(&[
            answer.rcode.high(),
            0,
            if dnssec_ok { 0x80 } else { 0 },
            0,
            0,
            0,
        ]);
        counts[2] += 1;
    }
    out[6..8].copy_from_slice(&counts[0].to_be_bytes());
    out[8..10].copy_from_slice(&counts[1].to_be_bytes());
    out[10..12].copy_from_slice(&counts[2].to_be_bytes());
    (truncated, counts[0])
}
