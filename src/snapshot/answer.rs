//! The pure function that answers a question from a [`Snapshot`]: the
//! [`Answer`] and its [`Section`]s, forward names, pod records, reverse
//! names, glue, and the synthesized A/AAAA of pod records. Borrows from the
//! snapshot, allocates nothing.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};

use crate::model::PodRecords;
use crate::names::{self, ReverseQuery};

use super::node::{NodeRef, RrsetRef};
use super::zone::{Apex, Snapshot, join, strip_zone};

/// Up to four record slices, chained. The answer borrows slices of the
/// snapshot instead of collecting records, so answering allocates nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Section<'a> {
    parts: [Option<RrsetRef<'a>>; 4],
    used: usize,
}

impl<'a> Section<'a> {
    fn one(rrset: RrsetRef<'a>) -> Self {
        let mut s = Self::default();
        s.push(rrset);
        s
    }

    fn push(&mut self, rrset: RrsetRef<'a>) {
        if !rrset.is_empty() && self.used < self.parts.len() {
            self.parts[self.used] = Some(rrset);
            self.used += 1;
        }
    }

    /// The records, decoded for hickory's encoder, with `question` (the
    /// question's name) as the owner written as a pointer to it.
    pub fn records(self, question: &Name) -> Vec<Record> {
        self.rrsets().flat_map(|r| r.records(question)).collect()
    }

    /// The RRsets, for the fast path's pre-rendered bytes.
    pub fn rrsets(self) -> impl Iterator<Item = RrsetRef<'a>> + Send + 'a {
        self.parts.into_iter().take(self.used).flatten()
    }

    pub fn len(&self) -> usize {
        self.rrsets().map(|r| r.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }
}

/// What to answer, before the wire layer adds header bits, EDNS and
/// truncation.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub rcode: ResponseCode,
    /// AA: set for every answer from a zone we serve.
    pub authoritative: bool,
    /// A pod record (`a-b-c-d.N.pod.Z`): one A or AAAA record for this
    /// address, owned by the question, with the zone TTL. Made from the
    /// question itself, so it is stored nowhere; the wire layers write it
    /// after `answers`.
    pub synthesized: Option<(IpAddr, u32)>,
    pub answers: Section<'a>,
    pub authority: Section<'a>,
    pub additional: Section<'a>,
}

impl<'a> Answer<'a> {
    fn refused() -> Self {
        Self {
            rcode: ResponseCode::Refused,
            authoritative: false,
            synthesized: None,
            answers: Section::default(),
            authority: Section::default(),
            additional: Section::default(),
        }
    }

    fn servfail() -> Self {
        Self {
            rcode: ResponseCode::ServFail,
            ..Self::refused()
        }
    }

    fn nxdomain(apex: &'a Apex) -> Self {
        Self {
            rcode: ResponseCode::NXDomain,
            authoritative: true,
            authority: Section::one(apex.negative_soa.view()),
            ..Self::refused()
        }
    }

    fn nodata(apex: &'a Apex, stable: bool) -> Self {
        let soa = if stable {
            apex.stable_soa.view()
        } else {
            apex.negative_soa.view()
        };
        Self {
            rcode: ResponseCode::NoError,
            authoritative: true,
            authority: Section::one(soa),
            ..Self::refused()
        }
    }

    fn from_node(apex: &'a Apex, node: NodeRef<'a>, qtype: RecordType) -> Self {
        let mut answers = Section::default();
        let mut additional = Section::default();
        if let Some(alias) = node.alias {
            // A CNAME owns its name alone: whatever the type, the CNAME,
            // then the chase when the type is an address (RFC 1034 §4.3.2).
            answers.push(alias.cname.view());
            match qtype {
                RecordType::A => answers.push(alias.chase_a.view()),
                RecordType::AAAA => answers.push(alias.chase_aaaa.view()),
                _ => {}
            }
        } else if qtype == RecordType::ANY {
            // At most four slices: a name below the apex holds no SOA, NS
            // or PTR, so these are all it can have.
            for rrset in [node.a(), node.aaaa(), node.srv(), node.txt()] {
                answers.push(rrset);
            }
        } else {
            if let Some(rrset) = node.rrset(qtype) {
                answers.push(rrset);
            }
            if qtype == RecordType::SRV {
                additional.push(node.srv_additional());
            }
        }
        if answers.is_empty() {
            return Self::nodata(apex, node.stable() && node.is_empty());
        }
        Self {
            rcode: ResponseCode::NoError,
            authoritative: true,
            synthesized: None,
            answers,
            authority: Section::default(),
            additional,
        }
    }

    /// A pod record's answer: the address itself for its own type, NODATA
    /// for the other types.
    fn pod(apex: &'a Apex, ip: IpAddr, qtype: RecordType, ttl: u32) -> Self {
        let matches = matches!(
            (ip, qtype),
            (IpAddr::V4(_), RecordType::A | RecordType::ANY)
                | (IpAddr::V6(_), RecordType::AAAA | RecordType::ANY)
        );
        if !matches {
            return Self::nodata(apex, false);
        }
        Self {
            rcode: ResponseCode::NoError,
            authoritative: true,
            synthesized: Some((ip, ttl)),
            ..Self::refused()
        }
    }
}

/// The wire form of a synthesized address record: owner a pointer to the
/// question, class IN. At most 28 octets; written into `out`.
pub fn synthesized_wire(ip: IpAddr, ttl: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xc0, 0x0c]);
    match ip {
        IpAddr::V4(v4) => {
            out.extend_from_slice(&[0, 1, 0, 1]);
            out.extend_from_slice(&ttl.to_be_bytes());
            out.extend_from_slice(&[0, 4]);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.extend_from_slice(&[0, 28, 0, 1]);
            out.extend_from_slice(&ttl.to_be_bytes());
            out.extend_from_slice(&[0, 16]);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// The size of [`synthesized_wire`]'s output.
pub fn synthesized_len(ip: IpAddr) -> usize {
    match ip {
        IpAddr::V4(_) => 16,
        IpAddr::V6(_) => 28,
    }
}

/// The most labels a DNS name can have (255 octets, one-octet labels).
pub const MAX_LABELS: usize = 128;

/// Answers one question from a snapshot. Pure: the same snapshot and
/// question always give the same answer, and nothing is allocated.
///
/// `name` must be lowercase (hickory's `LowerName` is); the wire layer echoes
/// the question's original case.
pub fn answer<'a>(snap: &'a Snapshot, name: &Name, qtype: RecordType) -> Answer<'a> {
    let mut labels: [&[u8]; MAX_LABELS] = [&[]; MAX_LABELS];
    let mut count = 0;
    for label in name.iter() {
        if count == MAX_LABELS {
            return Answer::refused();
        }
        labels[count] = label;
        count += 1;
    }
    answer_labels(snap, &labels[..count], qtype)
}

/// [`answer`] for a name already split into labels (leftmost first,
/// lowercase), as the fast path parses it straight from the packet.
pub fn answer_labels<'a>(snap: &'a Snapshot, labels: &[&[u8]], qtype: RecordType) -> Answer<'a> {
    if let Some(relative) = strip_zone(labels, &snap.forward.origin) {
        if !snap.synced {
            return Answer::servfail();
        }
        return answer_forward(snap, relative, qtype);
    }
    // The most specific reverse zone wins.
    let mut best: Option<(&Apex, &[&[u8]])> = None;
    for apex in &snap.reverse {
        if let Some(relative) = strip_zone(labels, &apex.origin)
            && best.is_none_or(|(b, _)| apex.origin.num_labels() > b.origin.num_labels())
        {
            best = Some((apex, relative));
        }
    }
    match best {
        Some(_) if !snap.synced => Answer::servfail(),
        Some((apex, relative)) => answer_reverse(snap, apex, labels, relative, qtype),
        None => Answer::refused(),
    }
}

pub(super) fn answer_forward<'a>(
    snap: &'a Snapshot,
    relative: &[&[u8]],
    qtype: RecordType,
) -> Answer<'a> {
    let apex = &snap.forward;
    let m = relative.len();
    if m == 0 {
        return match qtype {
            RecordType::SOA => Answer {
                answers: Section::one(apex.soa.view()),
                ..Answer::nodata(apex, false)
            },
            RecordType::NS => Answer {
                answers: Section::one(apex.ns.view()),
                authority: Section::default(),
                additional: glue(snap),
                ..Answer::nodata(apex, false)
            },
            RecordType::ANY => Answer {
                answers: {
                    let mut s = Section::one(apex.soa.view());
                    s.push(apex.ns.view());
                    s
                },
                authority: Section::default(),
                ..Answer::nodata(apex, false)
            },
            _ => Answer::nodata(apex, false),
        };
    }
    if relative[m - 1] == b"pod" && snap.settings.pod_records != PodRecords::Disabled {
        return answer_pod(snap, &relative[..m - 1], qtype);
    }
    let mut buf = [0u8; 256];
    if relative[m - 1] == b"svc" && m >= 2 {
        let Ok(namespace) = std::str::from_utf8(relative[m - 2]) else {
            return Answer::nxdomain(apex);
        };
        let Some(ns_node) = snap.namespaces.get(namespace) else {
            return Answer::nxdomain(apex);
        };
        if m == 2 {
            return Answer::nodata(apex, false);
        }
        let Ok(service) = std::str::from_utf8(relative[m - 3]) else {
            return Answer::nxdomain(apex);
        };
        let Some(svc_node) = ns_node.services.get(service) else {
            return Answer::nxdomain(apex);
        };
        let Some(key) = join(&relative[..m - 3], &mut buf) else {
            return Answer::nxdomain(apex);
        };
        return match svc_node.names.get(key) {
            Some(node) => Answer::from_node(apex, node, qtype),
            // A declared pod that has no address now: expected back.
            None if svc_node.declares(key) => Answer::nodata(apex, true),
            None => Answer::nxdomain(apex),
        };
    }
    let Some(key) = join(relative, &mut buf) else {
        return Answer::nxdomain(apex);
    };
    match snap.fixed.get(key) {
        Some(node) => Answer::from_node(apex, node.view(), qtype),
        None => Answer::nxdomain(apex),
    }
}

/// `pod.Z` and below: `a-b-c-d.N.pod.Z` answers the address, per the
/// configured [`PodRecords`] mode. `labels` are those left of `pod`.
pub(super) fn answer_pod<'a>(
    snap: &'a Snapshot,
    labels: &[&[u8]],
    qtype: RecordType,
) -> Answer<'a> {
    let apex = &snap.forward;
    let verified = snap.settings.pod_records == PodRecords::Verified;
    let namespace = |label: &[u8]| {
        std::str::from_utf8(label)
            .ok()
            .and_then(|ns| snap.namespaces.get(ns))
    };
    match labels {
        // `pod.Z` is an empty non-terminal.
        [] => Answer::nodata(apex, false),
        [ns] if !verified || namespace(ns).is_some() => Answer::nodata(apex, false),
        [dashed, ns] => match names::parse_dashed(dashed) {
            Some(ip)
                if !verified || namespace(ns).is_some_and(|n| n.pod_addresses.contains(&ip)) =>
            {
                Answer::pod(apex, ip, qtype, snap.settings.ttl)
            }
            _ => Answer::nxdomain(apex),
        },
        _ => Answer::nxdomain(apex),
    }
}

/// The nameserver's glue, when it lives in the forward zone.
pub(super) fn glue(snap: &Snapshot) -> Section<'_> {
    Section::one(snap.glue.view())
}

pub(super) fn answer_reverse<'a>(
    snap: &'a Snapshot,
    apex: &'a Apex,
    labels: &[&[u8]],
    relative: &[&[u8]],
    qtype: RecordType,
) -> Answer<'a> {
    if relative.is_empty() {
        return match qtype {
            RecordType::SOA => Answer {
                answers: Section::one(apex.soa.view()),
                ..Answer::nodata(apex, false)
            },
            RecordType::NS => Answer {
                answers: Section::one(apex.ns.view()),
                authority: Section::default(),
                ..Answer::nodata(apex, false)
            },
            _ => Answer::nodata(apex, false),
        };
    }
    // Parse against the whole arpa tree, not the configured sub-zone, so
    // `10.in-addr.arpa.` and `in-addr.arpa.` read addresses alike.
    let n = labels.len();
    let parsed = if n >= 2 && labels[n - 1] == b"arpa" && labels[n - 2] == b"in-addr" {
        names::parse_reverse_v4(&labels[..n - 2])
    } else if n >= 2 && labels[n - 1] == b"arpa" && labels[n - 2] == b"ip6" {
        names::parse_reverse_v6(&labels[..n - 2])
    } else {
        ReverseQuery::Invalid
    };
    match parsed {
        ReverseQuery::Address(ip) => match snap.ptr.get(&ip) {
            Some(records) if matches!(qtype, RecordType::PTR | RecordType::ANY) => Answer {
                rcode: ResponseCode::NoError,
                authoritative: true,
                synthesized: None,
                answers: Section::one(records),
                authority: Section::default(),
                additional: Section::default(),
            },
            Some(_) => Answer::nodata(apex, false),
            None => Answer::nxdomain(apex),
        },
        ReverseQuery::Prefix(lo, hi) => {
            if snap.ptr.any_in(lo, hi) {
                Answer::nodata(apex, false)
            } else {
                Answer::nxdomain(apex)
            }
        }
        ReverseQuery::Invalid => Answer::nxdomain(apex),
    }
}
