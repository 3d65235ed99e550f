//! The zone snapshot: an immutable view of every name served, and the pure
//! function that answers a question from it.
//!
//! The index (`index.rs`) renders each headless service into a
//! [`ServiceNode`] once per change and assembles a new [`Snapshot`] around
//! it; the maps are persistent (`imbl`), so a new snapshot shares every
//! untouched service with the old one and a change costs O(log n), not a copy
//! of the zone. The server loads the current snapshot without a lock
//! (`arc-swap`) and calls [`answer`]: a lookup that borrows records from the
//! snapshot and allocates nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

pub use crate::model::PodRecords;
use crate::names::{self, ReverseQuery};

mod node;
pub use node::{Alias, NameNode, Names, NodeRecords, Rrset, RrsetRef, WireSet, decode};

/// The version of the Kubernetes DNS specification served in `dns-version`.
pub const SPEC_VERSION: &str = "1.1.0";

/// A negative answer for a name that is expected back (a restarting pod) is
/// cached for at most this long.
pub const STABLE_NEGATIVE_TTL: u32 = 1;

/// The longest CNAME chain followed inside the zone for one answer.
pub const MAX_CHAIN: usize = 8;

/// What the configuration says about the zone, fixed for a server's life.
#[derive(Debug, Clone)]
pub struct ZoneSettings {
    /// The forward zone, lowercase and fully qualified.
    pub zone: Name,
    pub reverse_zones: Vec<Name>,
    pub ttl: u32,
    pub negative_ttl: u32,
    /// NS target and SOA MNAME.
    pub nameserver: Name,
    /// Glue for the nameserver name when it lies inside the zone.
    pub nameserver_addresses: Vec<IpAddr>,
    pub pod_records: PodRecords,
}

impl ZoneSettings {
    /// `text` as an absolute name (`db.example.com` → `db.example.com.`),
    /// lowercase; `None` when it is not a valid name.
    pub fn absolute_name(&self, text: &str) -> Option<Name> {
        let mut name = Name::from_ascii(text).ok()?;
        name.set_fqdn(true);
        Some(name.to_lowercase())
    }

    /// `<relative>.<zone>` as a name; `None` when the text is not a valid name
    /// or too long (a malformed object then simply gets no record).
    pub fn name_in_zone(&self, relative: &str) -> Option<Name> {
        Name::from_ascii(relative)
            .ok()?
            .append_domain(&self.zone)
            .ok()
    }
}

/// Every name under one headless service `S.N.svc.Z`, keyed by the labels
/// left of the service name joined with dots (`""` is the service name
/// itself, `web-0`, `_tcp`, `_web._tcp`).
///
/// Pod names that a StatefulSet declares are not listed: they are
/// [`DeclaredOrdinals`] rules, checked when a question arrives, so a set
/// with `replicas: 2147483647` costs one rule, not two billion names.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ServiceNode {
    pub names: Names,
    /// The StatefulSets governed by this service, by rule.
    pub ordinals: Box<[DeclaredOrdinals]>,
}

impl ServiceNode {
    pub fn record_count(&self) -> usize {
        self.names.values().map(NameNode::record_count).sum()
    }

    /// Neither names nor declared pods: the service is not in the zone.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && !self.ordinals.iter().any(|o| o.replicas > 0)
    }

    /// Whether `host` (lowercase) is a pod name some set declares.
    pub fn declares(&self, host: &str) -> bool {
        self.ordinals.iter().any(|o| o.declares(host))
    }
}

/// The pod names `<set>-<ordinal>` of one StatefulSet, for ordinals
/// `start .. start + replicas`, as a rule: O(1) memory whatever `replicas`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeclaredOrdinals {
    /// The set's name, lowercase.
    pub set: Box<str>,
    /// `spec.ordinals.start`.
    pub start: u32,
    /// `spec.replicas`.
    pub replicas: u32,
}

impl DeclaredOrdinals {
    /// Whether `host` (lowercase) is `<set>-<n>` with `n` declared. The
    /// ordinal is written as the controller writes it: decimal, no sign, no
    /// leading zero.
    pub fn declares(&self, host: &str) -> bool {
        let Some(digits) = host
            .strip_prefix(&*self.set)
            .and_then(|rest| rest.strip_prefix('-'))
        else {
            return false;
        };
        let canonical = !digits.is_empty()
            && digits.len() <= 10
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical {
            return false;
        }
        let Ok(ordinal) = digits.parse::<u64>() else {
            return false;
        };
        let start = u64::from(self.start);
        ordinal >= start && ordinal - start < u64::from(self.replicas)
    }
}

/// Services of one namespace.
#[derive(Debug, Default, Clone)]
pub struct NamespaceNode {
    pub services: imbl::HashMap<Arc<str>, Arc<ServiceNode>>,
    /// Addresses that endpoints in this namespace hold, for verified pod
    /// records; kept only with `dns.pod_records: verified`.
    pub pod_addresses: imbl::HashSet<IpAddr>,
}

/// One served zone's apex: SOA in three TTL flavours and NS.
#[derive(Debug, Clone)]
pub struct Apex {
    pub origin: Name,
    /// The SOA record as answered for `SOA` queries.
    pub soa: Rrset,
    /// The SOA for negative answers: TTL = min(SOA TTL, MINIMUM) (RFC 2308).
    pub negative_soa: Rrset,
    /// The SOA for NODATA of a name expected back: TTL and MINIMUM ≤ 1 s.
    pub stable_soa: Rrset,
    pub ns: Rrset,
}

impl Apex {
    pub fn new(settings: &ZoneSettings, origin: Name, serial: u32) -> Self {
        let soa_record = |ttl: u32, minimum: u32| {
            let rname = Name::from_ascii("hostmaster")
                .and_then(|n| n.append_domain(&settings.zone))
                .unwrap_or_else(|_| settings.zone.clone());
            Record::from_rdata(
                origin.clone(),
                ttl,
                RData::SOA(SOA::new(
                    settings.nameserver.clone(),
                    rname,
                    serial,
                    7200,
                    1800,
                    86400,
                    minimum,
                )),
            )
        };
        let negative = settings.negative_ttl.min(settings.ttl);
        let stable = STABLE_NEGATIVE_TTL.min(negative);
        Self {
            soa: Rrset::answer(vec![soa_record(settings.ttl, settings.negative_ttl)]),
            negative_soa: Rrset::extra(vec![soa_record(negative, settings.negative_ttl)]),
            stable_soa: Rrset::extra(vec![soa_record(stable, stable)]),
            ns: Rrset::answer(vec![Record::from_rdata(
                origin.clone(),
                settings.ttl,
                RData::NS(NS(settings.nameserver.clone())),
            )]),
            origin,
        }
    }
}

/// An immutable view of the zone. Cloning is cheap (persistent maps and
/// `Arc`s); the index builds the next one from the last.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub settings: Arc<ZoneSettings>,
    /// SOA serial; grows with every published change.
    pub serial: u32,
    /// False until every source has delivered its first full state; until
    /// then in-zone questions get SERVFAIL, never a false NXDOMAIN.
    pub synced: bool,
    pub forward: Apex,
    pub reverse: Vec<Apex>,
    /// Fixed names of the forward zone outside `svc`: `dns-version`, the
    /// nameserver name with its glue, and their empty non-terminals. Keyed
    /// like [`ServiceNode::names`], relative to the zone.
    pub fixed: Arc<HashMap<Box<str>, NameNode>>,
    /// The nameserver's addresses for the additional section of NS answers.
    pub glue: Arc<Rrset>,
    pub namespaces: imbl::HashMap<Arc<str>, NamespaceNode>,
    /// PTR records by address, ordered so a reverse prefix (an empty
    /// non-terminal) is a range query. Wire form only: the owner is the
    /// question (the address's reverse name).
    pub ptr: imbl::OrdMap<IpAddr, WireSet>,
    /// Records served, for the metric.
    pub record_count: usize,
}

impl Snapshot {
    /// An empty, unsynced snapshot.
    pub fn empty(settings: Arc<ZoneSettings>, serial: u32) -> Self {
        let forward = Apex::new(&settings, settings.zone.clone(), serial);
        let reverse = settings
            .reverse_zones
            .iter()
            .map(|z| Apex::new(&settings, z.clone(), serial))
            .collect();
        let (fixed, glue) = fixed_names(&settings);
        let glue = Arc::new(Rrset::extra(glue));
        let fixed = Arc::new(fixed);
        Self {
            glue,
            settings,
            serial,
            synced: false,
            forward,
            reverse,
            fixed,
            namespaces: imbl::HashMap::new(),
            ptr: imbl::OrdMap::new(),
            record_count: 0,
        }
    }

    /// The same content under a new serial (the apex records carry it).
    pub fn set_serial(&mut self, serial: u32) {
        self.serial = serial;
        self.forward = Apex::new(&self.settings, self.settings.zone.clone(), serial);
        self.reverse = self
            .settings
            .reverse_zones
            .iter()
            .map(|z| Apex::new(&self.settings, z.clone(), serial))
            .collect();
    }

    /// Looks a service up by namespace and name.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&Arc<ServiceNode>> {
        self.namespaces.get(namespace)?.services.get(name)
    }

    /// The node of a name in the forward zone, if it is listed.
    pub fn node(&self, name: &Name) -> Option<&NameNode> {
        if !self.forward.origin.zone_of(name) {
            return None;
        }
        let lower = name.to_lowercase();
        let labels: Vec<&[u8]> = lower.iter().collect();
        let relative = strip_zone(&labels, &self.forward.origin)?;
        let m = relative.len();
        let mut buf = [0u8; 256];
        if m >= 3 && relative[m - 1] == b"svc" {
            let namespace = std::str::from_utf8(relative[m - 2]).ok()?;
            let service = std::str::from_utf8(relative[m - 3]).ok()?;
            let key = join(&relative[..m - 3], &mut buf)?;
            return self.service(namespace, service)?.names.get(key);
        }
        self.fixed.get(join(relative, &mut buf)?)
    }

    /// Follows the CNAME `from` → `target` inside the forward zone, for `qtype` (A or
    /// AAAA): the CNAMEs met on the way, then the final name's records of
    /// that type. Stops cleanly, with what it has, at a name outside the
    /// zone, a name not listed, a loop, or after [`MAX_CHAIN`] links.
    /// Slow path only: the index calls it when it publishes.
    pub fn chase(&self, from: &Name, target: &Name, qtype: RecordType) -> Vec<Record> {
        let mut out = Vec::new();
        let mut seen: Vec<Name> = vec![from.to_lowercase()];
        let mut name = target.to_lowercase();
        for _ in 0..MAX_CHAIN {
            if seen.contains(&name) {
                break;
            }
            let Some(node) = self.node(&name) else {
                break;
            };
            seen.push(name.clone());
            match &node.alias {
                Some(alias) => {
                    out.extend(alias.cname.records.iter().cloned());
                    match alias.target() {
                        Some(next) => name = next.to_lowercase(),
                        None => break,
                    }
                }
                None => {
                    if let Some(rrset) = node.rrset(qtype) {
                        out.extend(rrset.records(&name));
                    }
                    break;
                }
            }
        }
        out
    }
}

/// `dns-version.Z` TXT, and the nameserver name with glue when it is inside
/// the zone (plus the empty non-terminals above both); and the glue records.
fn fixed_names(settings: &ZoneSettings) -> (HashMap<Box<str>, NameNode>, Vec<Record>) {
    let mut fixed: HashMap<Box<str>, NodeRecords> = HashMap::new();
    let mut glue = Vec::new();
    if let Some(name) = settings.name_in_zone("dns-version") {
        fixed.entry("dns-version".into()).or_default().txt = vec![Record::from_rdata(
            name,
            settings.ttl,
            RData::TXT(TXT::new(vec![SPEC_VERSION.to_owned()])),
        )];
    }
    // `svc.Z` always exists in a cluster, even with no headless service.
    fixed.entry("svc".into()).or_default();
    if settings.zone.zone_of(&settings.nameserver) && settings.zone != settings.nameserver {
        let relative = relative_text(&settings.nameserver, &settings.zone);
        let node = fixed.entry(relative.clone().into()).or_default();
        for ip in &settings.nameserver_addresses {
            let data = match ip {
                IpAddr::V4(v4) => RData::A(A(*v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
            };
            let record = Record::from_rdata(settings.nameserver.clone(), settings.ttl, data);
            match ip {
                IpAddr::V4(_) => node.a.push(record),
                IpAddr::V6(_) => node.aaaa.push(record),
            }
        }
        glue.extend(node.a.iter().chain(&node.aaaa).cloned());
        // Empty non-terminals between the nameserver and the apex.
        let mut rest = relative.as_str();
        while let Some((_, parent)) = rest.split_once('.') {
            fixed.entry(parent.into()).or_default();
            rest = parent;
        }
    }
    let fixed = fixed
        .into_iter()
        .map(|(name, node)| (name, node.seal()))
        .collect();
    (fixed, glue)
}

/// The labels of `name` left of `zone`, joined with dots, lowercase.
fn relative_text(name: &Name, zone: &Name) -> String {
    let keep = usize::from(name.num_labels() - zone.num_labels());
    let labels: Vec<String> = name
        .iter()
        .take(keep)
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect();
    labels.join(".")
}

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

    fn from_node(apex: &'a Apex, node: &'a NameNode, qtype: RecordType) -> Self {
        let mut answers = Section::default();
        let mut additional = Section::default();
        if let Some(alias) = &node.alias {
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
            return Self::nodata(apex, node.stable && node.is_empty());
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

    /// How many records the answer section holds.
    pub fn answer_count(&self) -> usize {
        self.answers.len() + usize::from(self.synthesized.is_some())
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

/// The labels left of `zone` when `labels` lies in it.
fn strip_zone<'l, 'b>(labels: &'l [&'b [u8]], zone: &Name) -> Option<&'l [&'b [u8]]> {
    let zone_labels = usize::from(zone.num_labels());
    if labels.len() < zone_labels {
        return None;
    }
    let split = labels.len() - zone_labels;
    for (ours, theirs) in labels[split..].iter().zip(zone.iter()) {
        if !ours.eq_ignore_ascii_case(theirs) {
            return None;
        }
    }
    Some(&labels[..split])
}

/// Joins labels with dots into `buf`; `None` if they are not UTF-8 (no name
/// we serve is). Labels arrive lowercase.
fn join<'b>(labels: &[&[u8]], buf: &'b mut [u8; 256]) -> Option<&'b str> {
    let mut len = 0;
    for (i, label) in labels.iter().enumerate() {
        if i > 0 {
            *buf.get_mut(len)? = b'.';
            len += 1;
        }
        buf.get_mut(len..len + label.len())?.copy_from_slice(label);
        len += label.len();
    }
    std::str::from_utf8(&buf[..len]).ok()
}

fn answer_forward<'a>(snap: &'a Snapshot, relative: &[&[u8]], qtype: RecordType) -> Answer<'a> {
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
        Some(node) => Answer::from_node(apex, node, qtype),
        None => Answer::nxdomain(apex),
    }
}

/// `pod.Z` and below: `a-b-c-d.N.pod.Z` answers the address, per the
/// configured [`PodRecords`] mode. `labels` are those left of `pod`.
fn answer_pod<'a>(snap: &'a Snapshot, labels: &[&[u8]], qtype: RecordType) -> Answer<'a> {
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
fn glue(snap: &Snapshot) -> Section<'_> {
    Section::one(snap.glue.view())
}

fn answer_reverse<'a>(
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
                answers: Section::one(records.view()),
                authority: Section::default(),
                additional: Section::default(),
            },
            Some(_) => Answer::nodata(apex, false),
            None => Answer::nxdomain(apex),
        },
        ReverseQuery::Prefix(lo, hi) => {
            if snap.ptr.range(lo..=hi).next().is_some() {
                Answer::nodata(apex, false)
            } else {
                Answer::nxdomain(apex)
            }
        }
        ReverseQuery::Invalid => Answer::nxdomain(apex),
    }
}

// ---- Zone contents, for zone transfer and export (`transfer/`) --------------

impl Snapshot {
    /// The apex of every zone served: the forward zone, then the reverse
    /// zones in configuration order.
    pub fn apexes(&self) -> impl Iterator<Item = &Apex> + '_ {
        std::iter::once(&self.forward).chain(&self.reverse)
    }

    /// The served zone whose apex is exactly `origin`.
    pub fn apex(&self, origin: &Name) -> Option<&Apex> {
        self.apexes().find(|apex| apex.origin == *origin)
    }

    /// The index in `reverse` of the reverse zone that holds `name`: the
    /// most specific one, as [`answer`] picks it.
    pub fn reverse_zone_of(&self, name: &Name) -> Option<usize> {
        self.reverse
            .iter()
            .enumerate()
            .filter(|(_, apex)| apex.origin.zone_of(name))
            .max_by_key(|(_, apex)| apex.origin.num_labels())
            .map(|(i, _)| i)
    }

    /// The name of a fixed name's node (keyed relative to the zone).
    fn fixed_owner(&self, key: &str) -> Option<Name> {
        if key.is_empty() {
            return Some(self.settings.zone.clone());
        }
        self.settings.name_in_zone(key)
    }

    /// The name of a service's node `key` (`""` is the service itself).
    pub fn service_owner(&self, namespace: &str, service: &str, key: &str) -> Option<Name> {
        let base = format!("{service}.{namespace}.svc");
        if key.is_empty() {
            self.settings.name_in_zone(&base)
        } else {
            self.settings.name_in_zone(&format!("{key}.{base}"))
        }
    }

    /// Every record of one service, decoded from the wire form.
    pub fn service_records(
        &self,
        namespace: &str,
        name: &str,
        service: &ServiceNode,
    ) -> Vec<Record> {
        service
            .names
            .iter()
            .filter_map(|(key, node)| Some((self.service_owner(namespace, name, key)?, node)))
            .flat_map(|(owner, node)| node.records(&owner))
            .collect()
    }

    /// The PTR records of one address, decoded from the wire form.
    pub fn ptr_records(ip: IpAddr, rrset: &WireSet) -> Vec<Record> {
        rrset.view().records(&names::reverse_name(ip))
    }

    /// Every record of the zone whose apex is `origin`, decoded from the
    /// wire form: the apex SOA first, then the apex NS, then the rest in no
    /// particular order. The forward zone holds the fixed names
    /// (`dns-version`, the nameserver's glue) and every service's names; a
    /// reverse zone holds the PTR records whose owner lies in it and in no
    /// more specific reverse zone served. `None` when `origin` is not the
    /// apex of a zone served.
    pub fn zone_records(&self, origin: &Name) -> Option<Vec<Record>> {
        let (apex, reverse) = if self.forward.origin == *origin {
            (&self.forward, None)
        } else {
            let i = self.reverse.iter().position(|a| a.origin == *origin)?;
            (&self.reverse[i], Some(i))
        };
        // In name order, not hash-map order (which differs from process to
        // process): replicas holding the same zone send the same AXFR.
        let mut out: Vec<Record> = apex
            .soa
            .records
            .iter()
            .chain(&apex.ns.records)
            .cloned()
            .collect();
        match reverse {
            None => {
                let mut fixed: Vec<&Box<str>> = self.fixed.keys().collect();
                fixed.sort_unstable();
                for key in fixed {
                    if let Some(owner) = self.fixed_owner(key) {
                        out.extend(self.fixed[key].records(&owner));
                    }
                }
                let mut namespaces: Vec<(&Arc<str>, &NamespaceNode)> =
                    self.namespaces.iter().collect();
                namespaces.sort_unstable_by_key(|(k, _)| *k);
                for (namespace, ns) in namespaces {
                    let mut services: Vec<_> = ns.services.iter().collect();
                    services.sort_unstable_by_key(|(k, _)| *k);
                    for (name, service) in services {
                        out.extend(self.service_records(namespace, name, service));
                    }
                }
            }
            Some(i) => {
                for (ip, rrset) in self.ptr.iter() {
                    let owner = names::reverse_name(*ip);
                    if self.reverse_zone_of(&owner) == Some(i) {
                        out.extend(rrset.view().records(&owner));
                    }
                }
            }
        }
        Some(out)
    }
}
