//! The zone's records in wire form: one owner name's RRsets as one block of
//! bytes, and the decoding back to hickory `Record`s where they are needed.
//!
//! The index renders a name's records into a [`NodeRecords`] (plain hickory
//! records, short-lived) and seals it into a [`NameNode`]: every RRset
//! pre-rendered once, back to back in one allocation, owners written as a
//! compression pointer to the question (offset 12), so the fast path copies
//! bytes and the snapshot holds no `Name` or `Record` per record. The slow
//! path, zone transfer and `export-zone` get `Record`s by decoding these
//! bytes behind the owner name ([`decode`]), so the wire form is the one
//! source of truth and every path answers the same.

use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

/// An RRset: its records, and the same records pre-rendered in wire
/// format for the fast path (`server/fast.rs`), which copies them into a
/// response instead of encoding per query.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rrset {
    pub records: Vec<Record>,
    /// The records on the wire. In the answer form every owner is a
    /// compression pointer to the question (offset 12), so the answer echoes
    /// the question's case; in the extra form (authority, additional) owners
    /// are spelled out. Names inside RDATA are never compressed, so the
    /// bytes can be copied into any message.
    pub wire: Box<[u8]>,
}

impl Rrset {
    /// An RRset whose owner is the question name.
    pub fn answer(records: Vec<Record>) -> Self {
        let (wire, _) = render(&records, Owner::Question);
        Self {
            records,
            wire: wire.into_boxed_slice(),
        }
    }

    /// An RRset for the authority or additional section.
    pub fn extra(records: Vec<Record>) -> Self {
        let (wire, _) = render(&records, Owner::Spelled);
        Self {
            records,
            wire: wire.into_boxed_slice(),
        }
    }

    /// The wire form, as answers borrow it.
    pub fn view(&self) -> RrsetRef<'_> {
        RrsetRef::new(&self.wire, self.records.len())
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Writes `name` compressed against the question `question` (which sits at
/// offset 12 of every response): the labels it does not share with the
/// question, then a pointer to the shared suffix. A name sharing nothing
/// but the root is spelled out.
pub(super) fn write_name_near(name: &Name, question: &Name, out: &mut Vec<u8>) {
    // Labels are compared from the root; a name has at most 127, so the
    // question's offsets fit on the stack (a render writes this per SRV
    // target and additional, and allocated three vectors each time).
    // Counted, not `num_labels`, which leaves out a leading `*`.
    let ours = name.iter().count();
    let theirs = question.iter().count();
    let mut offsets = [0usize; 128];
    let mut at = 12usize;
    for (i, label) in question.iter().enumerate().take(128) {
        offsets[i] = at;
        at += 1 + label.len();
    }
    let shared = name
        .iter()
        .rev()
        .zip(question.iter().rev())
        .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
        .count();
    let keep = ours - shared;
    for label in name.iter().take(keep) {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    match offsets.get(theirs - shared) {
        Some(&offset) if shared > 0 && offset < 0x3fff => {
            out.extend_from_slice(&(0xc000 | offset as u16).to_be_bytes());
        }
        _ => {
            for label in name.iter().skip(keep) {
                out.push(label.len() as u8);
                out.extend_from_slice(label);
            }
            out.push(0);
        }
    }
}

/// Where an RRset's owner names go.
#[derive(Clone, Copy)]
pub(super) enum Owner<'n> {
    /// The owner is the question: a pointer to offset 12; SRV targets are
    /// compressed against it.
    Question,
    /// Authority records: spelled out.
    Spelled,
    /// Additional records: compressed against this question.
    Near(&'n Name),
}

/// Encodes records for copying into a response (see [`Rrset::wire`]);
/// returns the bytes and how many records they hold.
pub(super) fn render(records: &[Record], owner: Owner<'_>) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let count = render_into(records, owner, &mut out, &mut Vec::new());
    (out, count)
}

/// Appends `name` uncompressed and lowercase (the canonical form).
fn push_name(name: &Name, out: &mut Vec<u8>) {
    push_labels(name, out, u8::to_ascii_lowercase);
}

/// Appends `name` uncompressed, each octet through `octet`.
fn push_labels(name: &Name, out: &mut Vec<u8>, octet: fn(&u8) -> u8) {
    for label in name.iter() {
        out.push(label.len() as u8);
        out.extend(label.iter().map(octet));
    }
    out.push(0);
}

/// [`render`] appending to `out`, with `scratch` for RDATA that hickory
/// encodes (kept across calls: an encoder reserves 512 octets in its
/// buffer, and a fresh one per record is churn the heap keeps).
fn render_into(
    records: &[Record],
    owner: Owner<'_>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> usize {
    let mut count = 0;
    for record in records {
        let start = out.len();
        match owner {
            Owner::Question => out.extend_from_slice(&[0xc0, 0x0c]),
            Owner::Near(question) => write_name_near(&record.name, question, out),
            Owner::Spelled => push_name(&record.name, out),
        }
        out.extend_from_slice(&u16::from(record.record_type()).to_be_bytes());
        out.extend_from_slice(&u16::from(record.dns_class).to_be_bytes());
        out.extend_from_slice(&record.ttl.to_be_bytes());
        scratch.clear();
        match (&record.data, owner) {
            (RData::A(a), _) => scratch.extend_from_slice(&a.0.octets()),
            (RData::AAAA(aaaa), _) => scratch.extend_from_slice(&aaaa.0.octets()),
            (RData::SRV(srv), Owner::Question) => {
                scratch.extend_from_slice(&srv.priority.to_be_bytes());
                scratch.extend_from_slice(&srv.weight.to_be_bytes());
                scratch.extend_from_slice(&srv.port.to_be_bytes());
                write_name_near(&srv.target, &record.name, scratch);
            }
            (data, _) => {
                let mut encoder = BinEncoder::new(scratch);
                encoder.set_canonical_form(true);
                if data.emit(&mut encoder).is_err() {
                    // Unencodable data cannot be served; never seen for our types.
                    out.truncate(start);
                    continue;
                }
            }
        }
        out.extend_from_slice(&(scratch.len() as u16).to_be_bytes());
        out.extend_from_slice(scratch);
        count += 1;
    }
    count
}

/// A CNAME, and the chase of its target inside the zone, rendered once per
/// publish so that answering stays a lookup.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Alias {
    /// The CNAME record; its owner is the question.
    pub cname: Rrset,
    /// For A questions: the CNAMEs after the first, then the target's A
    /// records, owners spelled out. Empty when the target lies outside the
    /// zone, does not exist, or the chain loops or passes [`super::MAX_CHAIN`].
    pub chase_a: Rrset,
    /// The same for AAAA.
    pub chase_aaaa: Rrset,
}

impl Alias {
    /// The CNAME's target.
    pub fn target(&self) -> Option<&Name> {
        match self.cname.records.first().map(|r| &r.data) {
            Some(RData::CNAME(target)) => Some(&target.0),
            _ => None,
        }
    }
}

/// An RRset's wire bytes and how many records they hold, borrowed from a
/// snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RrsetRef<'a> {
    /// Owners are a pointer to the question or spelled out; see
    /// [`Rrset::wire`].
    pub wire: &'a [u8],
    count: u32,
}

impl<'a> RrsetRef<'a> {
    pub fn new(wire: &'a [u8], count: usize) -> Self {
        Self {
            wire,
            count: count as u32,
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The records, with the question `question` as the owner of every
    /// record written as a pointer to it.
    pub fn records(&self, question: &Name) -> Vec<Record> {
        decode(self.wire, self.len(), question)
    }
}

/// An owned RRset in wire form alone: the PTR records of one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WireSet {
    wire: Box<[u8]>,
    count: u32,
}

impl WireSet {
    pub fn new(wire: Vec<u8>, count: usize) -> Self {
        Self {
            wire: wire.into_boxed_slice(),
            count: count as u32,
        }
    }

    pub fn view(&self) -> RrsetRef<'_> {
        RrsetRef {
            wire: &self.wire,
            count: self.count,
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Decodes `count` records from `wire`, placed behind a message header and
/// the question `question`, so the pointers in it resolve as they do in a
/// response. Bytes that do not decode end the list (never seen: the bytes
/// were encoded from records by this module).
pub fn decode(wire: &[u8], count: usize, question: &Name) -> Vec<Record> {
    let mut buf = vec![0u8; 12];
    // As asked: owners that point at the question keep the asker's case,
    // as the fast path's copied bytes do.
    push_labels(question, &mut buf, |b| *b);
    let start = buf.len();
    buf.extend_from_slice(wire);
    let mut decoder = BinDecoder::new(&buf);
    if decoder.read_slice(start).is_err() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        match Record::read(&mut decoder) {
            Ok(record) => out.push(record),
            Err(error) => {
                tracing::error!(%error, %question, "stored records do not decode");
                break;
            }
        }
    }
    out
}

/// The RRsets a name may hold, in the order they sit in [`NameNode`].
#[derive(Clone, Copy)]
enum Slot {
    A,
    Aaaa,
    Srv,
    /// Address records of the SRV targets, for the additional section.
    SrvAdditional,
    Txt,
}

const SLOTS: usize = 5;

/// The most a sealing thread keeps of its buffers between seals.
const KEPT_BUFFER: usize = 64 * 1024;

/// The records of one owner name, sealed: a header, its key in a
/// service's [`Names`](super::names::Names), then every RRset's wire form back to back, in one
/// block. No `Name` and no `Record` inside. Read through [`NodeRef`].
///
/// The header is the key's length, a flags octet (bit 0: stable; bits 1
/// to 5: which slots hold records), and for each slot that does, where its
/// bytes end in the block and how many records it holds (two `u32`, little
/// endian). A name with one address pays ten octets of header, not the 40
/// of a fixed table per node. A service's names share one block
/// ([`Names`](super::names::Names)); a fixed name (an apex's, `dns-version`) owns its own.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NameNode {
    /// Header, key, RRsets (empty for a default node).
    wire: Box<[u8]>,
    /// An ExternalName service's name: a CNAME and no other data.
    pub alias: Option<Box<Alias>>,
}

impl NameNode {
    pub fn view(&self) -> NodeRef<'_> {
        NodeRef {
            wire: &self.wire,
            alias: self.alias.as_deref(),
        }
    }
}

/// One name's records, borrowed from a snapshot: a sealed block (see
/// [`NameNode`]) and the alias, if the name is one.
#[derive(Debug, Default, Clone, Copy)]
pub struct NodeRef<'a> {
    wire: &'a [u8],
    pub alias: Option<&'a Alias>,
}

/// The header's flags: a declared pod name with no address right now.
const STABLE: u8 = 1;

impl<'a> NodeRef<'a> {
    pub(super) fn new(wire: &'a [u8], alias: Option<&'a Alias>) -> Self {
        Self { wire, alias }
    }

    /// (key length, flags); zero for a default node.
    fn head(&self) -> (usize, u8) {
        match *self.wire {
            [key_len, flags, ..] => (usize::from(key_len), flags),
            _ => (0, 0),
        }
    }

    /// Where the key starts: after the header.
    fn key_start(flags: u8) -> usize {
        2 + 8 * (flags >> 1).count_ones() as usize
    }

    fn slot(&self, slot: Slot) -> RrsetRef<'a> {
        let (key_len, flags) = self.head();
        let present = flags >> 1;
        let bit = 1u8 << (slot as u8);
        if present & bit == 0 {
            return RrsetRef::default();
        }
        let wire = self.wire;
        let read = |at: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&wire[at..at + 4]);
            u32::from_le_bytes(word) as usize
        };
        let index = (present & (bit - 1)).count_ones() as usize;
        let at = 2 + 8 * index;
        let start = if index == 0 {
            Self::key_start(flags) + key_len
        } else {
            read(at - 8)
        };
        RrsetRef {
            wire: &wire[start..read(at)],
            count: read(at + 4) as u32,
        }
    }

    /// A declared pod name with no address right now: NODATA with a
    /// negative TTL of at most [`super::STABLE_NEGATIVE_TTL`].
    pub fn stable(&self) -> bool {
        self.head().1 & STABLE != 0
    }

    /// The RRset of `qtype` (A, AAAA, SRV, TXT, or the CNAME of an alias).
    pub fn rrset(&self, qtype: RecordType) -> Option<RrsetRef<'a>> {
        match qtype {
            RecordType::A => Some(self.slot(Slot::A)),
            RecordType::AAAA => Some(self.slot(Slot::Aaaa)),
            RecordType::SRV => Some(self.slot(Slot::Srv)),
            RecordType::TXT => Some(self.slot(Slot::Txt)),
            RecordType::CNAME => self.alias.map(|a| a.cname.view()),
            _ => None,
        }
    }

    pub fn a(&self) -> RrsetRef<'a> {
        self.slot(Slot::A)
    }

    pub fn aaaa(&self) -> RrsetRef<'a> {
        self.slot(Slot::Aaaa)
    }

    pub fn srv(&self) -> RrsetRef<'a> {
        self.slot(Slot::Srv)
    }

    /// The SRV targets' addresses, compressed against the SRV name.
    pub fn srv_additional(&self) -> RrsetRef<'a> {
        self.slot(Slot::SrvAdditional)
    }

    pub fn txt(&self) -> RrsetRef<'a> {
        self.slot(Slot::Txt)
    }

    /// Whether the name holds any record at all.
    pub fn is_empty(&self) -> bool {
        self.record_count() == 0
    }

    /// The key it was sealed under ([`NodeRecords::seal_as`]).
    pub fn key(&self) -> &'a str {
        std::str::from_utf8(self.key_bytes()).unwrap_or_default()
    }

    pub(super) fn key_bytes(&self) -> &'a [u8] {
        let (key_len, flags) = self.head();
        let start = Self::key_start(flags);
        self.wire.get(start..start + key_len).unwrap_or_default()
    }

    /// How many records the name holds (for the records-served metric);
    /// the SRV additionals are copies and do not count.
    pub fn record_count(&self) -> usize {
        let own: usize = [Slot::A, Slot::Aaaa, Slot::Srv, Slot::Txt]
            .into_iter()
            .map(|slot| self.slot(slot).len())
            .sum();
        own + self.alias.map_or(0, |a| a.cname.len())
    }

    /// The records this name holds in the zone, decoded, with `owner` (this
    /// node's name) as their owner. The SRV additionals are left out: they
    /// are copies of address records their own names hold.
    pub fn records(&self, owner: &Name) -> Vec<Record> {
        let mut out = Vec::new();
        for slot in [Slot::A, Slot::Aaaa, Slot::Srv, Slot::Txt] {
            let rrset = self.slot(slot);
            if !rrset.is_empty() {
                out.extend(rrset.records(owner));
            }
        }
        if let Some(alias) = self.alias {
            out.extend(alias.cname.records.iter().cloned());
        }
        out
    }
}

/// One name's records while it is being rendered; [`NodeRecords::seal`]
/// turns it into the [`NameNode`] a snapshot keeps.
#[derive(Debug, Default)]
pub struct NodeRecords {
    pub a: Vec<Record>,
    pub aaaa: Vec<Record>,
    pub srv: Vec<Record>,
    pub srv_additional: Vec<Record>,
    pub txt: Vec<Record>,
    pub stable: bool,
    pub alias: Option<Box<Alias>>,
}

impl NodeRecords {
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
            && self.aaaa.is_empty()
            && self.srv.is_empty()
            && self.txt.is_empty()
            && self.alias.is_none()
    }

    /// Renders every RRset once, into one block, under no key (a fixed
    /// name, an apex).
    pub fn seal(self) -> NameNode {
        self.seal_as("")
    }

    /// Renders every RRset once, into one block that opens with `key`, the
    /// node's key in a service's [`Names`](super::names::Names) (at most 255 octets: it is part
    /// of a name).
    pub fn seal_as(self, key: &str) -> NameNode {
        let mut wire = Vec::new();
        let alias = self.seal_into(key, &mut wire);
        NameNode {
            wire: wire.into_boxed_slice(),
            alias,
        }
    }

    /// [`Self::seal_as`] appending the block to `out` (a service's names
    /// share one, [`Names`](super::names::Names)); returns the alias, which is kept beside it.
    pub(super) fn seal_into(self, key: &str, out: &mut Vec<u8>) -> Option<Box<Alias>> {
        thread_local! {
            /// The body and an RDATA buffer, kept per thread across seals:
            /// a sync seals every name, and each took two fresh vectors.
            static BUFFERS: std::cell::RefCell<(Vec<u8>, Vec<u8>)> =
                const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
        }
        let key = truncated(key);
        BUFFERS.with_borrow_mut(|(body, scratch)| {
            body.clear();
            let mut slots = [(0u32, 0u32); SLOTS];
            let mut used = 0;
            let mut present = 0u8;
            // SRV targets' addresses: their owners share the service's
            // suffix with the question, the SRV name.
            let additional_owner = match self.srv.first() {
                Some(srv) => Owner::Near(&srv.name),
                None => Owner::Spelled,
            };
            for (i, (records, owner)) in [
                (&self.a, Owner::Question),
                (&self.aaaa, Owner::Question),
                (&self.srv, Owner::Question),
                (&self.srv_additional, additional_owner),
                (&self.txt, Owner::Question),
            ]
            .into_iter()
            .enumerate()
            {
                let count = render_into(records, owner, body, scratch) as u32;
                if count > 0 {
                    present |= 1 << i;
                    slots[used] = (body.len() as u32, count);
                    used += 1;
                }
            }
            let start = 2 + 8 * used + key.len();
            out.reserve(start + body.len());
            out.push(key.len() as u8);
            out.push(present << 1 | if self.stable { STABLE } else { 0 });
            for (end, count) in &slots[..used] {
                out.extend_from_slice(&(end + start as u32).to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
            out.extend_from_slice(key);
            out.extend_from_slice(body);
            // Kept for the next seal, but not at the size of the largest
            // name ever sealed.
            if body.capacity() > KEPT_BUFFER {
                *body = Vec::new();
            }
            if scratch.capacity() > KEPT_BUFFER {
                *scratch = Vec::new();
            }
        });
        self.alias
    }
}

/// A key as a node stores it: at most 255 octets.
fn truncated(key: &str) -> &[u8] {
    &key.as_bytes()[..key.len().min(255)]
}

#[cfg(test)]
mod tests;
