//! The zone's shape: its fixed settings, the tree of namespaces, services
//! and names, the apexes (SOA, NS), and the [`Snapshot`] that holds them, with
//! the iteration over a whole zone that transfer and `export-zone` read.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::rdata::{A, AAAA, NS, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::model::PodRecords;
use crate::names::{self};

use super::names::Names;
use super::node::{NameNode, NodeRecords, NodeRef, Rrset, RrsetRef};
use super::ptr::PtrTable;

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
        self.names.values().map(|n| n.record_count()).sum()
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
    pub ptr: PtrTable,
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
            ptr: PtrTable::default(),
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
    pub fn node(&self, name: &Name) -> Option<NodeRef<'_>> {
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
        self.fixed
            .get(join(relative, &mut buf)?)
            .map(NameNode::view)
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
            match node.alias {
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
pub(super) fn fixed_names(settings: &ZoneSettings) -> (HashMap<Box<str>, NameNode>, Vec<Record>) {
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
pub(super) fn relative_text(name: &Name, zone: &Name) -> String {
    let keep = usize::from(name.num_labels() - zone.num_labels());
    let labels: Vec<String> = name
        .iter()
        .take(keep)
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect();
    labels.join(".")
}

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
    pub(super) fn fixed_owner(&self, key: &str) -> Option<Name> {
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
    pub fn ptr_records(ip: IpAddr, rrset: RrsetRef<'_>) -> Vec<Record> {
        rrset.records(&names::reverse_name(ip))
    }

    /// Every record of the zone whose apex is `origin`, decoded from the
    /// wire form: the apex SOA first, then the rest in canonical order
    /// ([`Snapshot::walk`]), each record once. The forward zone holds the
    /// fixed names (`dns-version`, the nameserver's glue) and every
    /// service's names; a reverse zone holds the PTR records whose owner
    /// lies in it and in no more specific reverse zone served. `None` when
    /// `origin` is not the apex of a zone served. Collects the zone: a
    /// transfer walks it instead.
    pub fn zone_records(&self, origin: &Name) -> Option<Vec<Record>> {
        let soa = self.apex(origin)?.soa.records.clone();
        let walk = self.walk(origin)?;
        Some(soa.into_iter().chain(walk.flatten()).collect())
    }
}

/// The labels left of `zone` when `labels` lies in it.
pub(super) fn strip_zone<'l, 'b>(labels: &'l [&'b [u8]], zone: &Name) -> Option<&'l [&'b [u8]]> {
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
pub(super) fn join<'b>(labels: &[&[u8]], buf: &'b mut [u8; 256]) -> Option<&'b str> {
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
