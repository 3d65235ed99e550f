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
    let ours: Vec<&[u8]> = name.iter().collect();
    let theirs: Vec<&[u8]> = question.iter().collect();
    // Offsets of the question's labels in the message.
    let mut offsets = Vec::with_capacity(theirs.len());
    let mut at = 12usize;
    for label in &theirs {
        offsets.push(at);
        at += 1 + label.len();
    }
    let mut shared = 0;
    while shared < ours.len()
        && shared < theirs.len()
        && ours[ours.len() - 1 - shared].eq_ignore_ascii_case(theirs[theirs.len() - 1 - shared])
    {
        shared += 1;
    }
    let keep = ours.len() - shared;
    for label in &ours[..keep] {
        out.push(label.len() as u8);
        out.extend_from_slice(label);
    }
    match offsets.get(theirs.len() - shared) {
        Some(&offset) if shared > 0 && offset < 0x3fff => {
            out.extend_from_slice(&(0xc000 | offset as u16).to_be_bytes());
        }
        _ => {
            for label in &ours[keep..] {
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
#[derive(Debug, Clone, Copy, Default)]
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

/// The records of one owner name, sealed: its key in a service's
/// [`Names`], then every RRset's wire form back to back, in one block. No
/// `Name` and no `Record` inside.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NameNode {
    /// The key (`key_len` octets), then the RRsets.
    wire: Box<[u8]>,
    key_len: u16,
    /// Where each slot's bytes end in `wire`.
    ends: [u32; SLOTS],
    /// How many records each slot holds.
    counts: [u32; SLOTS],
    /// A declared pod name with no address right now: NODATA with a
    /// negative TTL of at most [`super::STABLE_NEGATIVE_TTL`].
    pub stable: bool,
    /// An ExternalName service's name: a CNAME and no other data. Boxed:
    /// most names are not aliases, and each pays one pointer.
    pub alias: Option<Box<Alias>>,
}

impl NameNode {
    fn slot(&self, slot: Slot) -> RrsetRef<'_> {
        let i = slot as usize;
        let start = if i == 0 {
            usize::from(self.key_len)
        } else {
            self.ends[i - 1] as usize
        };
        RrsetRef {
            wire: &self.wire[start..self.ends[i] as usize],
            count: self.counts[i],
        }
    }

    /// The RRset of `qtype` (A, AAAA, SRV, TXT, or the CNAME of an alias).
    pub fn rrset(&self, qtype: RecordType) -> Option<RrsetRef<'_>> {
        match qtype {
            RecordType::A => Some(self.slot(Slot::A)),
            RecordType::AAAA => Some(self.slot(Slot::Aaaa)),
            RecordType::SRV => Some(self.slot(Slot::Srv)),
            RecordType::TXT => Some(self.slot(Slot::Txt)),
            RecordType::CNAME => self.alias.as_ref().map(|a| a.cname.view()),
            _ => None,
        }
    }

    pub fn a(&self) -> RrsetRef<'_> {
        self.slot(Slot::A)
    }

    pub fn aaaa(&self) -> RrsetRef<'_> {
        self.slot(Slot::Aaaa)
    }

    pub fn srv(&self) -> RrsetRef<'_> {
        self.slot(Slot::Srv)
    }

    /// The SRV targets' addresses, compressed against the SRV name.
    pub fn srv_additional(&self) -> RrsetRef<'_> {
        self.slot(Slot::SrvAdditional)
    }

    pub fn txt(&self) -> RrsetRef<'_> {
        self.slot(Slot::Txt)
    }

    /// Whether the name holds any record at all.
    pub fn is_empty(&self) -> bool {
        self.record_count() == 0
    }

    /// The key it was sealed under ([`NodeRecords::seal_as`]).
    pub fn key(&self) -> &str {
        std::str::from_utf8(self.key_bytes()).unwrap_or_default()
    }

    fn key_bytes(&self) -> &[u8] {
        &self.wire[..usize::from(self.key_len)]
    }

    /// How many records the name holds (for the records-served metric);
    /// the SRV additionals are copies and do not count.
    pub fn record_count(&self) -> usize {
        let own: u32 = self.counts.iter().sum::<u32>() - self.counts[Slot::SrvAdditional as usize];
        own as usize + self.alias.as_ref().map_or(0, |a| a.cname.len())
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
        if let Some(alias) = &self.alias {
            out.extend(alias.cname.records.iter().cloned());
        }
        out
    }
}

/// A service's names, keyed by the labels left of the service name joined
/// with dots (each node holds its key): a sorted slice, searched by
/// bisection. No hash table: its empty buckets would cost more than the
/// names.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Names(Box<[NameNode]>);

impl Names {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|n| n.key_bytes().cmp(key.as_bytes()))
    }

    pub fn get(&self, key: &str) -> Option<&NameNode> {
        self.find(key).ok().map(|i| &self.0[i])
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut NameNode> {
        self.find(key).ok().map(|i| &mut self.0[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &NameNode)> + '_ {
        self.0.iter().map(|n| (n.key(), n))
    }

    pub fn values(&self) -> impl Iterator<Item = &NameNode> + '_ {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<NameNode> for Names {
    /// Nodes sealed under their keys; later ones win over earlier ones
    /// with the same key.
    fn from_iter<I: IntoIterator<Item = NameNode>>(iter: I) -> Self {
        let mut names: Vec<NameNode> = iter.into_iter().collect();
        names.reverse();
        names.sort_by(|a, b| a.key_bytes().cmp(b.key_bytes()));
        names.dedup_by(|a, b| a.key_bytes() == b.key_bytes());
        Self(names.into_boxed_slice())
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
    /// node's key in a service's [`Names`] (at most 255 octets: it is part
    /// of a name).
    pub fn seal_as(self, key: &str) -> NameNode {
        let key = &key.as_bytes()[..key.len().min(255)];
        let mut wire = key.to_vec();
        let mut scratch = Vec::new();
        let mut ends = [0u32; SLOTS];
        let mut counts = [0u32; SLOTS];
        // SRV targets' addresses: their owners share the service's suffix
        // with the question, the SRV name.
        let srv_owner = self.srv.first().map(|r| r.name.clone());
        let additional_owner = match &srv_owner {
            Some(question) => Owner::Near(question),
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
            counts[i] = render_into(records, owner, &mut wire, &mut scratch) as u32;
            ends[i] = wire.len() as u32;
        }
        NameNode {
            // An exact allocation: the block lives as long as the snapshot.
            wire: Box::from(wire.as_slice()),
            key_len: key.len() as u16,
            ends,
            counts,
            stable: self.stable,
            alias: self.alias,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::{A, SRV};

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    #[test]
    fn sealed_records_decode_to_what_went_in() {
        let owner = name("_web._tcp.db.demo.svc.cluster.local.");
        let target = name("db-0.db.demo.svc.cluster.local.");
        let srv = Record::from_rdata(
            owner.clone(),
            5,
            RData::SRV(SRV::new(0, 100, 80, target.clone())),
        );
        let address = Record::from_rdata(target.clone(), 5, RData::A(A::new(10, 0, 0, 1)));
        let node = NodeRecords {
            srv: vec![srv.clone()],
            srv_additional: vec![address.clone()],
            ..NodeRecords::default()
        }
        .seal();
        assert_eq!(node.records(&owner), vec![srv]);
        assert_eq!(node.srv_additional().records(&owner), vec![address]);
        assert!(node.a().is_empty());
        assert_eq!(node.record_count(), 1);
    }

    #[test]
    fn owners_at_the_question_keep_the_askers_case() {
        // Decoded for the slow path, an owner stored as a pointer to the
        // question is the question as asked, byte for byte, as the fast
        // path's copied answer is; so is an SRV target compressed into it.
        let owner = name("_web._tcp.db.demo.svc.cluster.local.");
        let srv = Record::from_rdata(
            owner.clone(),
            5,
            RData::SRV(SRV::new(
                0,
                100,
                80,
                name("db-0.db.demo.svc.cluster.local."),
            )),
        );
        let node = NodeRecords {
            srv: vec![srv],
            ..NodeRecords::default()
        }
        .seal();
        let asked = name("_WeB._tcp.Db.demo.SVC.cluster.local.");
        let records = node.records(&asked);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].name.to_ascii(), asked.to_ascii());
        let RData::SRV(srv) = &records[0].data else {
            panic!("not SRV: {:?}", records[0]);
        };
        assert_eq!(srv.target.to_ascii(), "db-0.Db.demo.SVC.cluster.local.");
    }

    #[test]
    fn an_empty_node_is_empty() {
        let node = NodeRecords::default().seal();
        assert!(node.is_empty());
        assert!(node.records(&name("x.cluster.local.")).is_empty());
    }
}
