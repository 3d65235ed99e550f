//! Packet peeks: what the server, zone transfer and response rate limiting
//! read from raw DNS messages before (or instead of) a full parse: the
//! [`Peek`], the one walk over a query's header and questions (and, when it
//! has additional records, on through every record to the last, where a
//! TSIG would be) that the fast path makes and hands to the slow path when
//! it declines; a walk over the records of any section (RRL reads a
//! response's OPT with it); and the FORMERR reply to a packet whose body
//! does not parse. Also the payload sizes that every part agrees on.
//! Nothing here allocates but the FORMERR reply; nothing here panics on any
//! input (the fuzz targets feed it arbitrary bytes).

use hickory_proto::op::{Header, HeaderCounts, MessageType, Metadata, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable};

/// Length of the fixed DNS header (RFC 1035 §4.1.1).
pub const HEADER: usize = 12;

/// The smallest UDP payload every client accepts (RFC 1035 §4.2.1).
pub const MIN_UDP_PAYLOAD: u16 = 512;

/// The EDNS payload size of DNS Flag Day 2020: our default UDP limit, and
/// what an OPT says over TCP, where the size means nothing but must be
/// there.
pub const EDNS_PAYLOAD: u16 = 1232;

/// Type code of OPT (RFC 6891).
pub const OPT: u16 = 41;

/// Length of an OPT record without options: root owner, type, class,
/// TTL, RDLENGTH.
pub const OPT_LEN: usize = 11;

/// The largest UDP response a client takes: what its OPT offers (at least
/// [`MIN_UDP_PAYLOAD`], at most `ours`), or [`MIN_UDP_PAYLOAD`] without
/// OPT (RFC 6891 §6.2.5). Both paths and the TSIG signer cut by it.
pub fn udp_limit(theirs: Option<u16>, ours: u16) -> u16 {
    theirs.map_or(MIN_UDP_PAYLOAD, |theirs| {
        theirs.clamp(MIN_UDP_PAYLOAD, ours.max(MIN_UDP_PAYLOAD))
    })
}

/// The header's count at byte `offset` (4 QD, 6 AN, 8 NS, 10 AR); the
/// caller has checked that the header is there.
fn count(packet: &[u8], offset: usize) -> usize {
    usize::from(u16::from_be_bytes([packet[offset], packet[offset + 1]]))
}

/// Skips a (possibly compressed) name at `pos`; returns the offset after
/// it, or `None` for a reserved label type or a name that runs off the end.
pub fn skip_name(packet: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *packet.get(pos)?;
        match len {
            0 => return Some(pos + 1),
            1..=63 => pos += 1 + usize::from(len),
            0xc0..=0xff => return Some(pos + 2).filter(|end| *end <= packet.len()),
            _ => return None,
        }
    }
}

/// Walks every question and record of `packet`. Calls `record(i, start,
/// rtype, end)` for the i-th record of the answer, authority and additional
/// sections in order (byte range `start..end`), and returns the offset where
/// the question section ends; `None` when the packet cannot be walked.
pub fn walk(packet: &[u8], record: impl FnMut(usize, usize, u16, usize)) -> Option<usize> {
    packet.get(..HEADER)?;
    let mut pos = HEADER;
    for _ in 0..count(packet, 4) {
        pos = skip_name(packet, pos)? + 4;
    }
    if pos > packet.len() {
        return None;
    }
    let records = count(packet, 6) + count(packet, 8) + count(packet, 10);
    walk_records(packet, pos, records, record)?;
    Some(pos)
}

/// Walks `records` records from `pos`, calling `record(i, start, rtype,
/// end)` for each; the offset after the last, or `None` when one runs off
/// the end or its owner cannot be skipped.
fn walk_records(
    packet: &[u8],
    mut pos: usize,
    records: usize,
    mut record: impl FnMut(usize, usize, u16, usize),
) -> Option<usize> {
    for i in 0..records {
        let start = pos;
        pos = skip_name(packet, pos)?;
        let fixed = packet.get(pos..pos + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        pos += 10 + rdlen;
        if pos > packet.len() {
            return None;
        }
        record(i, start, rtype, pos);
    }
    Some(pos)
}

/// The end of the question section and the OPT record's byte range, if
/// the additional section has one.
pub fn layout(packet: &[u8]) -> Option<(usize, Option<(usize, usize)>)> {
    let additional_from = packet
        .get(..HEADER)
        .map(|_| count(packet, 6) + count(packet, 8))?;
    let mut opt = None;
    let question_end = walk(packet, |i, start, rtype, end| {
        if rtype == OPT && i >= additional_from {
            opt = Some((start, end));
        }
    })?;
    Some((question_end, opt))
}

/// The upper eight bits of a response's RCODE, from its OPT (0 without one).
pub fn extended_rcode(packet: &[u8]) -> u8 {
    match layout(packet) {
        // OPT: name (root, 1 byte), type, class, then TTL's first byte.
        Some((_, Some((start, _)))) => packet.get(start + 5).copied().unwrap_or(0),
        _ => 0,
    }
}

/// The transfer type of a raw query, from its header and question alone:
/// `Some(AXFR | IXFR)` for a well-formed-looking QUERY with one question of
/// that type, `None` for everything else (which the query handler answers).
/// [`Peek::transfer_type`] of the packet; the server asks the peek it
/// already has.
pub fn transfer_type(raw: &[u8]) -> Option<RecordType> {
    Peek::read(raw, |_| ())?.transfer_type()
}

/// [`Peek::last_additional`] of a raw message, for callers that hold the
/// bytes alone (the socketless transfer entry, tests); the server asks the
/// peek it already has.
pub fn last_additional(raw: &[u8]) -> Option<LastRecord> {
    Peek::read(raw, |_| ())?.last_additional()
}

/// The first question of a [`Peek`]: its name is uncompressed, made of
/// ordinary labels and ends at the root, and its type and class are there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Question {
    pub qtype: u16,
    pub qclass: u16,
    /// Offset just after QCLASS.
    pub end: usize,
}

/// The last record of a message: where it starts, its type, and whether
/// a TSIG came before it. A TSIG must be that record and the only one
/// (RFC 8945 §5.1: any other is FORMERR).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LastRecord {
    pub start: usize,
    pub rtype: u16,
    /// A record before the last one is a TSIG (type 250).
    pub tsig_before: bool,
}

/// TSIG's record type (RFC 8945).
const TSIG: u16 = 250;

/// What one walk over a message's header and question section (and, when
/// ARCOUNT is not 0, over its records to the last) learns: enough for the fast path to answer a plain query and for the slow path
/// to screen any other (counts that cannot fit, compression pointers that
/// do not point back, a response, a zone transfer, and where a TSIG would
/// be) without reading the packet again. The fast path makes it and hands
/// it on when it declines (`server/packet.rs`), so a query is walked once,
/// and hickory's parse in the slow path is the only other read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peek {
    len: usize,
    flags: u16,
    /// QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    counts: [u16; 4],
    first: Option<Question>,
    bad_pointer: bool,
    last: Option<LastRecord>,
}

impl Peek {
    /// Walks the header and the questions of `packet` once, calling
    /// `label` with each ordinary label (1 to 63 octets, as on the wire) of
    /// the first question's name in order; when ARCOUNT is not 0, the walk
    /// goes on over every record to find the last. `None` for a packet
    /// shorter than a header. Never panics, never allocates; the walk ends
    /// at the packet's end or at the first pointer that does not point
    /// back.
    pub fn read(packet: &[u8], mut label: impl FnMut(&[u8])) -> Option<Peek> {
        let header = packet.get(..HEADER)?;
        let word = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
        let counts = [word(4), word(6), word(8), word(10)];
        let mut peek = Peek {
            len: packet.len(),
            flags: word(2),
            counts,
            first: None,
            bad_pointer: false,
            last: None,
        };
        let mut pos = HEADER;
        // Whether the questions were walked to their end, with no reserved
        // label type (which [`skip_name`] does not pass either), so that
        // the records can be walked from there.
        let mut whole = true;
        'questions: for index in 0..counts[0] {
            let mut plain = true;
            loop {
                let Some(&len) = packet.get(pos) else {
                    whole = false;
                    break 'questions;
                };
                match len {
                    0 => {
                        pos += 1;
                        break;
                    }
                    0xc0..=0xff => {
                        let Some(&low) = packet.get(pos + 1) else {
                            whole = false;
                            break 'questions;
                        };
                        // A pointer into the header, at itself or forward:
                        // hickory would echo it and the echo would then
                        // read the *response's* bytes (the fuzzer found
                        // this), so such a query is FORMERR.
                        let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                        if target < HEADER || target >= pos {
                            peek.bad_pointer = true;
                            whole = false;
                            break 'questions;
                        }
                        plain = false;
                        pos += 2;
                        break;
                    }
                    // An ordinary label, or a reserved label type (64 to
                    // 191), which is skipped by its length alike but makes
                    // the name not plain.
                    _ => {
                        let end = pos + 1 + usize::from(len);
                        if len > 63 {
                            plain = false;
                            whole = false;
                        } else if index == 0
                            && let Some(bytes) = packet.get(pos + 1..end)
                        {
                            label(bytes);
                        }
                        pos = end;
                    }
                }
            }
            if index == 0
                && plain
                && let Some(fixed) = packet.get(pos..pos + 4)
            {
                peek.first = Some(Question {
                    qtype: u16::from_be_bytes([fixed[0], fixed[1]]),
                    qclass: u16::from_be_bytes([fixed[2], fixed[3]]),
                    end: pos + 4,
                });
            }
            // QTYPE and QCLASS.
            pos += 4;
        }
        if whole && counts[3] > 0 && pos <= packet.len() {
            peek.last = walk_to_last(packet, pos, counts);
        }
        Some(peek)
    }

    /// The header's flags word (QR, opcode, AA, TC, RD, RA, Z, RCODE).
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// QR: the message is a response (never answered).
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }

    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }

    /// QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT.
    pub fn counts(&self) -> [u16; 4] {
        self.counts
    }

    /// The first question, when it is plain (see [`Question`]).
    pub fn first(&self) -> Option<Question> {
        self.first
    }

    /// Whether the header's section counts could fit in the packet at all
    /// (a question takes at least 5 bytes, a record 11). hickory reserves
    /// room for QDCOUNT questions before reading them, so a 12-byte
    /// datagram claiming 65,535 questions would cost a multi-megabyte
    /// allocation each; such a packet is FORMERR before hickory sees it.
    pub fn counts_fit(&self) -> bool {
        let [qd, an, ns, ar] = self.counts.map(usize::from);
        qd * 5 + (an + ns + ar) * 11 <= self.len - HEADER
    }

    /// Whether a question's name holds a compression pointer that does not
    /// point back at an earlier question: into the header, at itself, or
    /// forward. hickory would accept one into the header and echo the
    /// questions' raw bytes (in a FORMERR too), whose pointer then reads
    /// the response's header: the client gets a different question back,
    /// or one that does not parse (the fuzzer found this for the first
    /// question, and the transfer target for the second of two). Such a
    /// packet is FORMERR.
    pub fn bad_pointer(&self) -> bool {
        self.bad_pointer
    }

    /// The last record, when ARCOUNT is not 0 and every section could be
    /// walked: where a TSIG must be (`transfer/tsig.rs` checks it there).
    /// `None` for a message without additional records, or one cut short,
    /// with a reserved label type, or with a question pointer that does not
    /// point back.
    pub fn last_additional(&self) -> Option<LastRecord> {
        self.last
    }

    /// `Some(AXFR | IXFR)` for a QUERY with one plain question of that
    /// type; the TCP connection hands those to zone transfer.
    pub fn transfer_type(&self) -> Option<RecordType> {
        if self.is_response() || self.opcode() != 0 || self.counts[0] != 1 {
            return None;
        }
        match self.first?.qtype {
            251 => Some(RecordType::IXFR),
            252 => Some(RecordType::AXFR),
            _ => None,
        }
    }
}

/// The last of the answer, authority and additional records of `packet`,
/// which start at `pos` (where its questions end); `None` when one of them
/// runs off the end or its owner cannot be skipped.
fn walk_to_last(packet: &[u8], pos: usize, counts: [u16; 4]) -> Option<LastRecord> {
    let records = counts[1..].iter().map(|&n| usize::from(n)).sum();
    let mut last: Option<LastRecord> = None;
    walk_records(packet, pos, records, |_, start, rtype, _| {
        let tsig_before = last.is_some_and(|l| l.tsig_before || l.rtype == TSIG);
        last = Some(LastRecord {
            start,
            rtype,
            tsig_before,
        });
    })?;
    last
}

/// A FORMERR for a packet whose header parsed but whose body did not.
/// `None` for a response (never answered) or a packet shorter than a header.
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

#[cfg(test)]
mod tests;
