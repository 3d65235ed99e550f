//! A whole zone, one owner name at a time, in canonical order (RFC 4034
//! §6.1), for zone transfer and `export-zone`.
//!
//! [`Snapshot::walk`] yields each owner name's records, decoded from the
//! wire form, sorted and deduplicated: the apex NS first, then every other
//! name. The SOA is left to the caller (a master file opens with it, an
//! AXFR opens and closes with it). Nothing is collected for the whole
//! zone: the forward zone is walked namespace by namespace and service by
//! service (one service's names sorted at a time), and a reverse zone walks
//! the PTR map by range queries, so a transfer holds one name's records at
//! a time, not the zone's.
//!
//! Canonical order compares labels from the right as lowercase octet
//! strings. Under `svc.Z` that is every namespace's subtree in label order,
//! each service's subtree whole in label order; the fixed names
//! (`dns-version`, the nameserver) are merged in where they fall. In
//! `in-addr.arpa.` the octets compare as decimal strings (`10` before `9`);
//! in `ip6.arpa.` nibble labels compare as numbers, so addresses go in
//! numeric order.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hickory_proto::rr::{Name, Record};

use super::node::{NodeRef, RrsetRef};
use super::ptr::PtrTable;
use super::zone::{NamespaceNode, ServiceNode, Snapshot};
use crate::names;

/// Label order in canonical form: lowercase octets, a prefix first.
fn label_cmp(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Sorts and deduplicates one name's records, as a master file lists them.
fn tidy(mut records: Vec<Record>) -> Vec<Record> {
    records.sort();
    records.dedup();
    records
}

/// The owner names of a zone in canonical order, each with its records
/// (never empty), the SOA excepted. See the module documentation.
pub struct ZoneWalk<'s> {
    snap: &'s Snapshot,
    /// The apex NS, not yet yielded.
    apex: Option<Vec<Record>>,
    inner: Inner<'s>,
}

enum Inner<'s> {
    Forward(Forward<'s>),
    Reverse(Reverse<'s>),
}

impl Snapshot {
    /// The zone whose apex is `origin`, name by name in canonical order
    /// ([`ZoneWalk`]); `None` when it is not a zone served.
    pub fn walk(&self, origin: &Name) -> Option<ZoneWalk<'_>> {
        let (apex, inner) = if self.forward.origin == *origin {
            (&self.forward, Inner::Forward(Forward::new(self)))
        } else {
            let i = self.reverse.iter().position(|a| a.origin == *origin)?;
            (&self.reverse[i], Inner::Reverse(Reverse::new(i)))
        };
        Some(ZoneWalk {
            snap: self,
            apex: Some(apex.ns.records.clone()),
            inner,
        })
    }
}

impl Iterator for ZoneWalk<'_> {
    type Item = Vec<Record>;

    fn next(&mut self) -> Option<Vec<Record>> {
        if let Some(apex) = self.apex.take().filter(|r| !r.is_empty()) {
            return Some(tidy(apex));
        }
        loop {
            let records = match &mut self.inner {
                Inner::Forward(walk) => walk.next()?,
                Inner::Reverse(walk) => walk.next(self.snap)?,
            };
            if !records.is_empty() {
                return Some(tidy(records));
            }
        }
    }
}

/// The forward zone: the fixed names merged into the `svc` tree.
struct Forward<'s> {
    /// The fixed names, sorted, and the next one to yield.
    fixed: Vec<(Name, NodeRef<'s>)>,
    fixed_at: usize,
    /// Namespaces in label order, and the next one to open.
    namespaces: Vec<(&'s Arc<str>, &'s NamespaceNode)>,
    namespace_at: usize,
    /// The open namespace's services in label order, and the next one.
    services: Vec<(&'s Arc<str>, &'s Arc<ServiceNode>)>,
    service_at: usize,
    /// The open namespace's name.
    namespace: Option<&'s str>,
    /// The open service's names, sorted, reversed: the next is last.
    names: Vec<(Name, NodeRef<'s>)>,
    snap: &'s Snapshot,
}

impl<'s> Forward<'s> {
    fn new(snap: &'s Snapshot) -> Self {
        let mut fixed: Vec<(Name, NodeRef<'_>)> = snap
            .fixed
            .iter()
            .filter_map(|(key, node)| Some((snap.fixed_owner(key)?, node.view())))
            .collect();
        fixed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut namespaces: Vec<_> = snap.namespaces.iter().collect();
        namespaces.sort_unstable_by(|a, b| label_cmp(a.0, b.0));
        Self {
            fixed,
            fixed_at: 0,
            namespaces,
            namespace_at: 0,
            services: Vec::new(),
            service_at: 0,
            namespace: None,
            names: Vec::new(),
            snap,
        }
    }

    /// Makes the next name of the `svc` tree the last of `names`; leaves
    /// `names` empty when the tree is done.
    fn fill(&mut self) {
        while self.names.is_empty() {
            if self.service_at < self.services.len() {
                let (name, service) = self.services[self.service_at];
                self.service_at += 1;
                let namespace = self.namespace.unwrap_or_default();
                self.names = service
                    .names
                    .iter()
                    .filter_map(|(key, node)| {
                        Some((self.snap.service_owner(namespace, name, key)?, node))
                    })
                    .collect();
                self.names.sort_by(|a, b| b.0.cmp(&a.0));
                continue;
            }
            let Some(&(namespace, node)) = self.namespaces.get(self.namespace_at) else {
                return;
            };
            self.namespace_at += 1;
            self.namespace = Some(namespace);
            self.services = node.services.iter().collect();
            self.services.sort_unstable_by(|a, b| label_cmp(a.0, b.0));
            self.service_at = 0;
        }
    }

    fn next(&mut self) -> Option<Vec<Record>> {
        self.fill();
        let fixed = self.fixed.get(self.fixed_at);
        let order = match (fixed, self.names.last()) {
            (None, None) => return None,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((f, _)), Some((t, _))) => f.cmp(t),
        };
        let mut out = Vec::new();
        if order != Ordering::Greater {
            let (owner, node) = &self.fixed[self.fixed_at];
            self.fixed_at += 1;
            out.extend(node.records(owner));
        }
        if order != Ordering::Less
            && let Some((owner, node)) = self.names.pop()
        {
            out.extend(node.records(&owner));
        }
        Some(out)
    }
}

/// A reverse zone: the PTR map's IPv4 addresses in canonical order (by
/// range queries, octet by octet), then its IPv6 addresses in numeric
/// order, each kept when this zone is the most specific one served that
/// holds it.
struct Reverse<'s> {
    /// Which of the snapshot's reverse zones.
    zone: usize,
    v4: V4Walk,
    /// The last IPv6 address yielded; `None` before the first.
    v6: Option<Ipv6Addr>,
    v6_done: bool,
    _snap: std::marker::PhantomData<&'s ()>,
}

impl<'s> Reverse<'s> {
    fn new(zone: usize) -> Self {
        Self {
            zone,
            v4: V4Walk::default(),
            v6: None,
            v6_done: false,
            _snap: std::marker::PhantomData,
        }
    }

    /// The next address of the map in canonical order, with its records.
    fn next_entry(&mut self, snap: &'s Snapshot) -> Option<(IpAddr, RrsetRef<'s>)> {
        if let Some(v4) = self.v4.next(&snap.ptr) {
            let ip = IpAddr::V4(v4);
            return snap.ptr.get(&ip).map(|set| (ip, set));
        }
        if self.v6_done {
            return None;
        }
        let from = match self.v6 {
            None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            Some(last) if last == Ipv6Addr::from(u128::MAX) => {
                self.v6_done = true;
                return None;
            }
            Some(last) => IpAddr::V6(Ipv6Addr::from(u128::from(last) + 1)),
        };
        match snap.ptr.next_from(from) {
            Some((IpAddr::V6(v6), set)) => {
                self.v6 = Some(v6);
                Some((IpAddr::V6(v6), set))
            }
            _ => {
                self.v6_done = true;
                None
            }
        }
    }

    fn next(&mut self, snap: &'s Snapshot) -> Option<Vec<Record>> {
        loop {
            let (ip, set) = self.next_entry(snap)?;
            let owner = names::reverse_name(ip);
            if snap.reverse_zone_of(&owner) == Some(self.zone) {
                return Some(set.records(&owner));
            }
        }
    }
}

/// The IPv4 keys of a map in canonical order of their reverse names: the
/// first octet is the most significant label, and labels compare as
/// decimal strings. A stack of levels, each the octets present under the
/// prefix above it, in that order: at most 4 × 256 octets held.
#[derive(Default)]
struct V4Walk {
    started: bool,
    /// Per level: the octets present under `prefix[..level]`, in label
    /// order, and the next one to take.
    levels: Vec<(Vec<u8>, usize)>,
    prefix: [u8; 4],
}

/// An octet's label order: its decimal digits as a string.
fn octet_cmp(a: u8, b: u8) -> Ordering {
    fn digits(o: u8) -> ([u8; 3], usize) {
        let mut out = [0u8; 3];
        let text = [o / 100, o / 10 % 10, o % 10];
        let skip = if o >= 100 {
            0
        } else if o >= 10 {
            1
        } else {
            2
        };
        let len = 3 - skip;
        for (i, d) in text[skip..].iter().enumerate() {
            out[i] = b'0' + d;
        }
        (out, len)
    }
    let (a, la) = digits(a);
    let (b, lb) = digits(b);
    a[..la].cmp(&b[..lb])
}

impl V4Walk {
    /// The octets present at position `level` under `prefix[..level]`.
    fn present(&self, map: &PtrTable, level: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut from: u16 = 0;
        while from <= 255 {
            let mut low = [0u8; 4];
            low[..level].copy_from_slice(&self.prefix[..level]);
            low[level] = from as u8;
            let key = IpAddr::V4(Ipv4Addr::from(low));
            let Some((IpAddr::V4(found), _)) = map.next_from(key) else {
                break;
            };
            let octets = found.octets();
            if octets[..level] != self.prefix[..level] {
                break;
            }
            out.push(octets[level]);
            from = u16::from(octets[level]) + 1;
        }
        out.sort_by(|a, b| octet_cmp(*a, *b));
        out
    }

    fn next(&mut self, map: &PtrTable) -> Option<Ipv4Addr> {
        if !self.started {
            self.started = true;
            let first = self.present(map, 0);
            self.levels.push((first, 0));
        }
        loop {
            let level = self.levels.len().checked_sub(1)?;
            let (octets, at) = self.levels.last_mut()?;
            let Some(&octet) = octets.get(*at) else {
                self.levels.pop();
                continue;
            };
            *at += 1;
            self.prefix[level] = octet;
            if level == 3 {
                return Some(Ipv4Addr::from(self.prefix));
            }
            let below = self.present(map, level + 1);
            self.levels.push((below, 0));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use hickory_proto::rr::RData;
    use hickory_proto::rr::rdata::A;

    use super::*;
    use crate::index::ClusterIndex;
    use crate::model::{Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind};
    use crate::snapshot::ZoneSettings;

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    /// Namespaces and services whose labels are prefixes of one another,
    /// addresses whose octets sort differently as text and as numbers, a
    /// more specific reverse zone, and a nameserver whose name is also a
    /// service's.
    fn snapshot() -> Snapshot {
        let settings = ZoneSettings {
            zone: name("cluster.local."),
            reverse_zones: ["in-addr.arpa.", "10.in-addr.arpa.", "ip6.arpa."]
                .into_iter()
                .map(name)
                .collect(),
            ttl: 5,
            negative_ttl: 5,
            nameserver: name("ns.b.svc.cluster.local."),
            nameserver_addresses: vec!["10.0.0.53".parse().unwrap()],
            pod_records: crate::model::PodRecords::Insecure,
        };
        let mut index = ClusterIndex::new(Arc::new(settings), Duration::from_secs(30));
        let addresses = [
            "9.1.1.1",
            "10.0.0.9",
            "10.0.0.10",
            "10.0.0.100",
            "10.0.1.10",
            "10.2.0.1",
            "100.0.0.1",
            "1.0.0.1",
            "fd00::1",
            "fd00::10",
            "2001:db8::1",
        ];
        let mut n = 0;
        for ns in ["a", "a-b", "ab", "b"] {
            for svc in ["x", "x-y", "xy", "ns"] {
                index.apply_service(Service {
                    key: ObjectKey::new(ns, svc),
                    kind: ServiceKind::Headless,
                    publish_not_ready: false,
                    ports: vec![],
                });
                let endpoints = ["p", "p-1", "p1", "q"]
                    .iter()
                    .map(|host| {
                        n += 1;
                        Endpoint {
                            addresses: vec![addresses[n % addresses.len()].parse().unwrap()],
                            hostname: Some((*host).into()),
                            ready: true,
                            target: None,
                        }
                    })
                    .collect();
                index.apply_slice(EndpointGroup {
                    key: ObjectKey::new(ns, &format!("{svc}-abc")),
                    service: ObjectKey::new(ns, svc),
                    ports: vec![Port {
                        name: "web".into(),
                        protocol: Protocol::Tcp,
                        port: 80,
                    }],
                    endpoints,
                });
            }
        }
        index.set_synced(true);
        index.publish(Instant::now()).unwrap()
    }

    /// Every record of a zone but the SOA, found without the walk.
    fn expected(snap: &Snapshot, zone: Option<usize>) -> Vec<Record> {
        let apex = zone.map_or(&snap.forward, |i| &snap.reverse[i]);
        let mut out = apex.ns.records.clone();
        match zone {
            None => {
                for (key, node) in snap.fixed.iter() {
                    out.extend(node.view().records(&snap.fixed_owner(key).unwrap()));
                }
                for (namespace, ns) in snap.namespaces.iter() {
                    for (name, service) in ns.services.iter() {
                        out.extend(snap.service_records(namespace, name, service));
                    }
                }
            }
            Some(i) => {
                for (ip, set) in snap.ptr.iter() {
                    let owner = names::reverse_name(ip);
                    if snap.reverse_zone_of(&owner) == Some(i) {
                        out.extend(set.records(&owner));
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn a_walk_is_every_record_in_canonical_order() {
        let snap = snapshot();
        let zones = std::iter::once((snap.forward.origin.clone(), None)).chain(
            snap.reverse
                .iter()
                .enumerate()
                .map(|(i, apex)| (apex.origin.clone(), Some(i))),
        );
        for (origin, zone) in zones {
            let walked: Vec<Record> = snap.walk(&origin).unwrap().flatten().collect();
            let want = expected(&snap, zone);
            assert!(want.len() > 1, "{origin}: the fixture has records");
            // The same records, and already sorted: the walk's order is
            // the canonical order a sort of the whole zone gives.
            assert_eq!(walked, want, "{origin}");
        }
        // One group per name, each name once, in order: the nameserver's
        // glue and the service `ns.b`, which share a name, come together.
        let groups: Vec<Vec<Record>> = snap.walk(&snap.forward.origin).unwrap().collect();
        for group in &groups {
            assert!(group.iter().all(|r| r.name == group[0].name), "{group:?}");
        }
        assert!(groups.windows(2).all(|w| w[0][0].name < w[1][0].name));
        let shared = groups
            .iter()
            .find(|records| records[0].name == name("ns.b.svc.cluster.local."))
            .unwrap();
        let glue = "10.0.0.53".parse::<Ipv4Addr>().unwrap();
        assert!(
            shared.iter().any(|r| r.data == RData::A(A(glue))) && shared.len() > 1,
            "{shared:?}"
        );
        assert!(snap.walk(&name("example.com.")).is_none());
    }

    #[test]
    fn octets_compare_as_their_decimal_labels() {
        let mut octets: Vec<u8> = (0..=255).collect();
        octets.sort_by(|a, b| octet_cmp(*a, *b));
        let mut text: Vec<String> = (0..=255u8).map(|o| o.to_string()).collect();
        text.sort();
        let as_text: Vec<String> = octets.iter().map(|o| o.to_string()).collect();
        assert_eq!(as_text, text);
    }
}
