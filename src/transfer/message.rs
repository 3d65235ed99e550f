//! A transfer's records cut into DNS messages.
//!
//! Each message carries the header (the query's ID, QR, AA, the rcode), the
//! question echoed as asked, as many records as fit in [`MAX_MESSAGE`]
//! bytes (names compressed within the message), and an OPT when the query
//! had one. Messages are encoded one at a time as the connection takes
//! them, from records pulled as they are needed (a whole zone comes name
//! by name from [`crate::snapshot::ZoneWalk`]), so a transfer holds about
//! one message's records, never the zone's.

use std::borrow::Cow;
use std::collections::VecDeque;

use hickory_proto::ProtoError;
use hickory_proto::op::{Edns, Header, HeaderCounts, Metadata, Query};
use hickory_proto::rr::Record;
use hickory_proto::serialize::binary::{BinEncodable, BinEncoder};

/// The largest message we send. 16 KiB keeps a message in a few TCP
/// segments and is what BIND and Knot use; the protocol allows 64 KiB.
pub const MAX_MESSAGE: u16 = 16 * 1024;

/// The bytes an OPT record takes with no options: kept free in every message
/// so the OPT always fits after the records.
const OPT_SIZE: u16 = crate::wire::OPT_LEN as u16;

/// The records of a reply, pulled as messages are encoded.
pub type Records<'r> = Box<dyn Iterator<Item = Cow<'r, Record>> + Send + 'r>;

/// The most records one message can hold: each takes at least 12 octets
/// (a compressed owner, type, class, TTL, RDLENGTH).
const MAX_PER_MESSAGE: usize = MAX_MESSAGE as usize / 12 + 1;

/// The messages of one reply, encoded lazily, in order. At least one: a
/// reply with no records (an error) is a single message.
pub struct Messages<'r> {
    metadata: Metadata,
    query: Option<Query>,
    edns: Option<Edns>,
    records: Records<'r>,
    /// Records pulled and not yet sent: at most one message's worth.
    pending: VecDeque<Cow<'r, Record>>,
    /// How many records went out.
    sent: usize,
    /// `records` has no more.
    drained: bool,
    done: bool,
    /// Bytes kept free at the end of each message (for a TSIG).
    reserve: u16,
}

impl<'r> Messages<'r> {
    pub fn new(
        metadata: Metadata,
        query: Option<Query>,
        edns: Option<Edns>,
        records: Records<'r>,
    ) -> Self {
        Self {
            metadata,
            query,
            edns,
            records,
            pending: VecDeque::new(),
            sent: 0,
            drained: false,
            done: false,
            reserve: 0,
        }
    }

    /// How many records the messages so far carried.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// Keeps `bytes` free at the end of every message, for a record added
    /// after encoding (a TSIG).
    pub fn reserve(mut self, bytes: u16) -> Self {
        self.reserve = bytes;
        self
    }

    /// Encodes the next message; how many records it holds.
    fn encode(&self, buffer: &mut Vec<u8>) -> Result<usize, ProtoError> {
        let mut encoder = BinEncoder::new(buffer);
        encoder.set_max_size(MAX_MESSAGE - OPT_SIZE - self.reserve);
        let place = encoder.place::<Header>()?;
        if let Some(query) = &self.query {
            query.emit(&mut encoder)?;
        }
        let rest = self.pending.iter().map(|r| r.as_ref());
        let answers = match encoder.emit_all(rest) {
            Ok(count) => count,
            Err(ProtoError::NotAllRecordsWritten { count, .. }) => count,
            Err(error) => return Err(error),
        };
        // The record that did not fit was rolled back, but its bytes stay
        // in the buffer past the offset: cut them, so nothing follows the
        // last record (a TSIG appended later must be the last thing).
        encoder.trim();
        let mut additionals = 0;
        if let Some(edns) = &self.edns {
            encoder.set_max_size(MAX_MESSAGE - self.reserve);
            let mut edns = edns.clone();
            edns.set_rcode_high(self.metadata.response_code.high());
            Record::from(&edns).emit(&mut encoder)?;
            additionals = 1;
        }
        let header = Header {
            metadata: self.metadata,
            counts: HeaderCounts {
                queries: u16::from(self.query.is_some()),
                answers: u16::try_from(answers)
                    .map_err(|_| ProtoError::from("too many records for one message"))?,
                authorities: 0,
                additionals,
            },
        };
        place.replace(&mut encoder, header)?;
        Ok(answers)
    }
}

impl Iterator for Messages<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        while !self.drained && self.pending.len() < MAX_PER_MESSAGE {
            match self.records.next() {
                Some(record) => self.pending.push_back(record),
                None => self.drained = true,
            }
        }
        let mut buffer = Vec::with_capacity(4096);
        match self.encode(&mut buffer) {
            // A record larger than a message cannot be sent at all; stop
            // rather than loop (never seen for the types we serve).
            Ok(0) if !self.pending.is_empty() => {
                tracing::error!(record = %self.pending[0], "record too large for a transfer message");
                self.done = true;
                None
            }
            Ok(count) => {
                self.pending.drain(..count.min(self.pending.len()));
                self.sent += count;
                self.done = self.drained && self.pending.is_empty();
                Some(buffer)
            }
            Err(error) => {
                tracing::error!(%error, "cannot encode a transfer message");
                self.done = true;
                None
            }
        }
    }
}
