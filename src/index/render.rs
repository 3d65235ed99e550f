//! Rendering one service into its snapshot node: the names of a headless
//! service's endpoints with their A/AAAA, SRV per named port, empty
//! non-terminals and stable names; a ClusterIP service's own name; an
//! ExternalName's CNAME; and the PTR names of its addresses in wire form.
//! Names that cannot be built are refused (`crate::refused`), the rest
//! serves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::rdata::{A, AAAA, CNAME, SRV};
use hickory_proto::rr::{Name, RData, Record};

use super::stored::Group;
use crate::model::{ObjectKey, Service, ServiceKind};
use crate::names::{self, quoted};
use crate::refused::{Reason, Refusals};
use crate::snapshot::{
    Alias, DeclaredOrdinals, NodeRecords, Rrset, ServiceNode, WireSet, ZoneSettings,
};

/// One service's hostnames that had an address: `None` while they still
/// do, `Some(t)` once they lost it at `t`. Sorted by hostname, no spare
/// capacity: a hash table per service cost more than the names.
pub(super) type Hosts = Vec<(Arc<str>, Option<Instant>)>;

/// Appends `name` in wire form, uncompressed and lowercase. Written by
/// hand: a `BinEncoder` writes from offset 0 of its buffer (a second name
/// would overwrite the first) and reserves 512 octets in it.
pub(super) fn name_wire(name: &Name, out: &mut Vec<u8>) {
    for label in name.iter() {
        // A name the index built from valid labels: each at most 63 octets.
        out.push(label.len() as u8);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
}

/// The target names of a PTR RRset (owners a pointer to the question,
/// targets uncompressed, as [`ptr_merge`] writes them), one by one.
fn ptr_names(rrset: &WireSet) -> impl Iterator<Item = &[u8]> + '_ {
    let wire = rrset.view().wire;
    let mut at = 0;
    // Each record: a 2-octet pointer, type, class, TTL, RDLENGTH, RDATA.
    std::iter::from_fn(move || {
        if at + 12 > wire.len() {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([wire[at + 10], wire[at + 11]]));
        let end = (at + 12 + len).min(wire.len());
        let name = &wire[at + 12..end];
        at = end;
        Some(name)
    })
}

/// The labels of an uncompressed name in wire form, root left out.
fn labels(mut name: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        let (&len, rest) = name.split_first()?;
        let len = usize::from(len);
        if len == 0 || len > rest.len() {
            return None;
        }
        let (label, tail) = rest.split_at(len);
        name = tail;
        Some(label)
    })
}

/// The service whose render put the PTR target `name` (wire form) at its
/// address: `(namespace, service)` from `…<service>.<namespace>.svc.<zone>`,
/// where the zone has `zone_labels` labels.
fn ptr_service(name: &[u8], zone_labels: usize) -> Option<(&[u8], &[u8])> {
    let labels: Vec<&[u8]> = labels(name).collect();
    let m = labels.len().checked_sub(zone_labels)?;
    if m < 3 || !labels[m - 1].eq_ignore_ascii_case(b"svc") {
        return None;
    }
    Some((labels[m - 2], labels[m - 3]))
}

/// Lowercase byte order, as the names in wire form are written.
fn lower_cmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    a.iter()
        .map(u8::to_ascii_lowercase)
        .cmp(b.iter().map(u8::to_ascii_lowercase))
}

/// The PTR RRset of one address after service `key` re-rendered: the names
/// other services put there (from `old`, the RRset until now), with `ours`
/// (this service's names at the address, in wire form, back to back; `None`
/// when it puts none there any more) in their place, sorted by service.
/// Owners are a pointer to the question.
pub(super) fn ptr_merge(
    old: Option<&WireSet>,
    key: &ObjectKey,
    ours: Option<&[u8]>,
    zone_labels: usize,
    ttl: u32,
) -> WireSet {
    let mine = (key.namespace.as_bytes(), key.name.as_bytes());
    let order = |(ns, svc): (&[u8], &[u8])| lower_cmp(ns, mine.0).then(lower_cmp(svc, mine.1));
    let mut wire = Vec::new();
    let mut count = 0;
    let mut push = |name: &[u8]| {
        wire.extend_from_slice(&[0xc0, 0x0c, 0, 12, 0, 1]);
        wire.extend_from_slice(&ttl.to_be_bytes());
        wire.extend_from_slice(&(name.len() as u16).to_be_bytes());
        wire.extend_from_slice(name);
        count += 1;
    };
    let mut ours = ours;
    for name in old.into_iter().flat_map(ptr_names) {
        // A name no service could have put is kept where it is.
        let owner = ptr_service(name, zone_labels).map(order);
        if owner == Some(std::cmp::Ordering::Equal) {
            continue;
        }
        if owner == Some(std::cmp::Ordering::Greater)
            && let Some(names) = ours.take()
        {
            split_names(names).for_each(&mut push);
        }
        push(name);
    }
    if let Some(names) = ours {
        split_names(names).for_each(&mut push);
    }
    WireSet::new(wire, count)
}

/// Names in wire form, back to back, one by one.
fn split_names(mut rest: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        // One name: labels up to the root's zero octet.
        let mut len = 0;
        while len < rest.len() && rest[len] != 0 {
            len += 1 + usize::from(rest[len]);
        }
        let end = (len + 1).min(rest.len());
        let (name, tail) = rest.split_at(end);
        rest = tail;
        Some(name)
    })
}

pub(super) fn address_record(name: &Name, ip: IpAddr, ttl: u32) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(name.clone(), ttl, data)
}

pub(super) fn push_address(node: &mut NodeRecords, name: &Name, ip: IpAddr, ttl: u32) {
    let record = address_record(name, ip, ttl);
    let list = match ip {
        IpAddr::V4(_) => &mut node.a,
        IpAddr::V6(_) => &mut node.aaaa,
    };
    if !list.contains(&record) {
        list.push(record);
    }
}

/// A named port and its protocol: one SRV owner name.
pub(super) type SrvKey = (Arc<str>, crate::model::Protocol);

/// Renders one service. Headless: its own name with every ready endpoint,
/// one name per endpoint, SRV per named port, empty non-terminals, and
/// stable names. ClusterIP (and NodePort, LoadBalancer): its own name with
/// the cluster IPs and SRV to it, nothing below. ExternalName: a CNAME.
/// Returns the node and the (address, name) pairs for PTR records.
pub(super) fn render_service(
    settings: &ZoneSettings,
    service: &Service,
    groups: &[&Group],
    declared: Vec<DeclaredOrdinals>,
    hosts: &mut Hosts,
    now: Instant,
    grace: Duration,
) -> (ServiceNode, Vec<(IpAddr, Name)>) {
    let ttl = settings.ttl;
    // What cannot become a name (over 255 octets with the zone): warned
    // about once per content, by `crate::refused`.
    let mut refusals = Refusals::rendered("Service", &service.key);
    let base = format!("{}.{}.svc", service.key.name, service.key.namespace);
    let Some(service_name) = settings.name_in_zone(&base) else {
        let outcome = "the service gets no records";
        refuse_name(&mut refusals, "its name", &base, settings, outcome);
        refusals.report();
        return (ServiceNode::default(), Vec::new());
    };
    let ordinals = declared.into_boxed_slice();
    let mut names: HashMap<Box<str>, NodeRecords> = HashMap::new();
    let mut ptrs: Vec<(IpAddr, Name)> = Vec::new();
    // (port name, protocol) → SRV targets as (endpoint name, port).
    let mut srv: BTreeMap<SrvKey, BTreeSet<(Name, u16)>> = BTreeMap::new();
    // Endpoint name → its addresses, for SRV additionals.
    let mut targets: BTreeMap<Name, BTreeSet<IpAddr>> = BTreeMap::new();
    let mut present: BTreeSet<Arc<str>> = BTreeSet::new();
    let mut service_ips: BTreeSet<IpAddr> = BTreeSet::new();
    // Names of endpoints listed but not ready: NODATA, expected back.
    let mut not_ready: BTreeSet<String> = BTreeSet::new();

    // (relative label, addresses under it, the ports it serves); "" is the
    // service name itself.
    let mut owned: Vec<(String, &[IpAddr], &[crate::model::Port])> = Vec::new();
    match &service.kind {
        ServiceKind::ExternalName(target) => {
            hosts.clear();
            let mut node = render_alias(settings, &service_name, target, &mut refusals);
            refusals.report();
            node.ordinals = ordinals;
            return (node, ptrs);
        }
        ServiceKind::ClusterIp(ips) => {
            hosts.clear();
            // No IP allocated (yet): no records at all.
            if !ips.is_empty() {
                owned.push((String::new(), ips, &service.ports));
            }
        }
        ServiceKind::Headless => {
            for group in groups {
                for endpoint in &group.endpoints {
                    let ready = endpoint.ready || service.publish_not_ready;
                    match endpoint.hostname.as_ref().filter(|h| !h.is_empty()) {
                        Some(host) if !ready => {
                            not_ready.insert(host.to_ascii_lowercase());
                        }
                        None if !ready => {
                            not_ready
                                .extend(endpoint.addresses().iter().map(|ip| names::dashed(*ip)));
                        }
                        Some(host) => {
                            if !endpoint.addresses().is_empty() {
                                present.insert(host.clone());
                            }
                            owned.push((
                                host.to_ascii_lowercase(),
                                endpoint.addresses(),
                                &group.ports,
                            ));
                        }
                        None => {
                            for ip in endpoint.addresses() {
                                owned.push((
                                    names::dashed(*ip),
                                    std::slice::from_ref(ip),
                                    &group.ports,
                                ));
                            }
                        }
                    }
                }
            }
        }
    }

    for (label, ips, ports) in owned {
        let name = if label.is_empty() {
            Some(service_name.clone())
        } else {
            settings.name_in_zone(&format!("{label}.{base}"))
        };
        let headless_endpoint = !label.is_empty();
        let Some(name) = name else {
            // As for a hostname that is not a label: the name goes, the
            // addresses still serve under the service's name.
            let outcome = "the endpoint gets no name of its own, its addresses still serve";
            let relative = format!("{label}.{base}");
            refuse_name(
                &mut refusals,
                "the endpoint name",
                &relative,
                settings,
                outcome,
            );
            if headless_endpoint {
                service_ips.extend(ips.iter().copied());
            }
            continue;
        };
        let entry = names.entry(label.into()).or_default();
        for ip in ips {
            push_address(entry, &name, *ip, ttl);
            if headless_endpoint {
                service_ips.insert(*ip);
            }
            ptrs.push((*ip, name.clone()));
            targets.entry(name.clone()).or_default().insert(*ip);
        }
        if ips.is_empty() {
            continue;
        }
        for port in ports {
            srv.entry((port.name.clone(), port.protocol))
                .or_default()
                .insert((name.clone(), port.port));
        }
    }

    if !service_ips.is_empty() {
        let own = names.entry("".into()).or_default();
        for ip in &service_ips {
            push_address(own, &service_name, *ip, ttl);
        }
    }

    for ((port, protocol), entries) in &srv {
        let relative = format!("_{}.{}", port.to_ascii_lowercase(), protocol.label());
        let owner_text = format!("{relative}.{base}");
        let Some(owner) = settings.name_in_zone(&owner_text) else {
            let outcome = "the port gets no SRV records";
            refuse_name(
                &mut refusals,
                "the SRV name",
                &owner_text,
                settings,
                outcome,
            );
            continue;
        };
        let weight = srv_weight(entries.len());
        let mut srv_node = NodeRecords::default();
        let mut added: BTreeSet<&Name> = BTreeSet::new();
        for (target, number) in entries {
            srv_node.srv.push(Record::from_rdata(
                owner.clone(),
                ttl,
                RData::SRV(SRV::new(0, weight, *number, target.clone())),
            ));
            if added.insert(target) {
                for ip in targets.get(target).into_iter().flatten() {
                    srv_node
                        .srv_additional
                        .push(address_record(target, *ip, ttl));
                }
            }
        }
        names.insert(relative.into(), srv_node);
        names.entry(protocol.label().into()).or_default();
    }

    // The stable-name window: note when hostnames lose their addresses.
    let mut merged: Hosts = present.iter().map(|h| (h.clone(), None)).collect();
    for (host, gone) in std::mem::take(hosts) {
        if present.contains(&host) {
            continue;
        }
        let since = gone.unwrap_or(now);
        if since + grace > now {
            merged.push((host, Some(since)));
        }
    }
    merged.sort_by(|a, b| a.0.cmp(&b.0));
    merged.shrink_to_fit();
    *hosts = merged;
    // Hostnames inside their grace window, and endpoints listed but not
    // ready. Declared pods need no entry: the answer checks
    // `node.ordinals` when a name is not listed.
    let expected = hosts
        .iter()
        .map(|(h, _)| h.to_ascii_lowercase())
        .chain(not_ready);
    for host in expected {
        if settings.name_in_zone(&format!("{host}.{base}")).is_none() {
            continue;
        }
        let entry = names.entry(host.into()).or_default();
        if entry.is_empty() {
            entry.stable = true;
        }
    }
    // The service name is an empty non-terminal when only stable names exist.
    if !names.is_empty() || ordinals.iter().any(|o| o.replicas > 0) {
        names.entry("".into()).or_default();
    }
    let node = ServiceNode {
        names: names
            .into_iter()
            .map(|(label, records)| records.seal_as(&label))
            .collect(),
        ordinals,
    };
    ptrs.sort();
    ptrs.dedup();
    refusals.report();
    (node, ptrs)
}

/// Notes that `relative` (below the zone) cannot be made a name: over 255
/// octets with the zone, or (for hand-made values the sources never send)
/// not a name at all.
pub(super) fn refuse_name(
    refusals: &mut Refusals,
    what: &str,
    relative: &str,
    settings: &ZoneSettings,
    outcome: &str,
) {
    let why = names::check_fits(relative, &settings.zone)
        .err()
        .unwrap_or_else(|| "is not a valid DNS name".to_owned());
    // Made of checked labels, the relative name is short enough to show
    // whole; the zone is the configured one.
    let shown = if relative.len() <= names::MAX_NAME_OCTETS {
        format!("{relative:?}")
    } else {
        quoted(relative)
    };
    refusals.refuse(
        Reason::NameTooLong,
        format_args!("{what} {shown} in the zone {why}; {outcome}"),
    );
}

/// An ExternalName service: its name is a CNAME to the target, and nothing
/// is below it. The in-zone chase is added when the index publishes.
pub(super) fn render_alias(
    settings: &ZoneSettings,
    service_name: &Name,
    target: &str,
    refusals: &mut Refusals,
) -> ServiceNode {
    let Some(target_name) = settings.absolute_name(target) else {
        refusals.refuse(
            Reason::ExternalName,
            format_args!(
                "spec.externalName {} is not a valid DNS name; the service gets no records",
                quoted(target)
            ),
        );
        return ServiceNode::default();
    };
    if target_name == *service_name {
        refusals.refuse(
            Reason::ExternalName,
            format_args!(
                "spec.externalName {} points at the service itself; the service gets no records",
                quoted(target)
            ),
        );
        return ServiceNode::default();
    }
    let cname = Record::from_rdata(
        service_name.clone(),
        settings.ttl,
        RData::CNAME(CNAME(target_name)),
    );
    let node = NodeRecords {
        alias: Some(Box::new(Alias {
            cname: Rrset::answer(vec![cname]),
            ..Alias::default()
        })),
        ..NodeRecords::default()
    }
    .seal();
    ServiceNode {
        names: std::iter::once(node).collect(),
        ordinals: Box::default(),
    }
}

/// Equal weights summing to about 10000, as CoreDNS spreads them.
pub(super) fn srv_weight(count: usize) -> u16 {
    (10000 / count.max(1)).clamp(1, usize::from(u16::MAX)) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(texts: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        for text in texts {
            name_wire(&Name::from_ascii(text).unwrap(), &mut out);
        }
        out
    }

    fn targets(set: &WireSet) -> Vec<String> {
        ptr_names(set)
            .map(|wire| {
                let labels: Vec<String> = labels(wire)
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .collect();
                labels.join(".")
            })
            .collect()
    }

    #[test]
    fn ptr_names_are_swapped_per_service_in_service_order() {
        let zone = 2; // cluster.local.
        let key = |ns: &str, name: &str| ObjectKey::new(ns, name);
        let a = names(&[
            "p-0.a.demo.svc.cluster.local.",
            "p-1.a.demo.svc.cluster.local.",
        ]);
        let c = names(&["p-0.c.demo.svc.cluster.local."]);
        let set = ptr_merge(None, &key("demo", "c"), Some(&c), zone, 5);
        let set = ptr_merge(Some(&set), &key("demo", "a"), Some(&a), zone, 5);
        let b = names(&["x.b.demo.svc.cluster.local."]);
        let set = ptr_merge(Some(&set), &key("demo", "b"), Some(&b), zone, 5);
        assert_eq!(
            targets(&set),
            [
                "p-0.a.demo.svc.cluster.local",
                "p-1.a.demo.svc.cluster.local",
                "x.b.demo.svc.cluster.local",
                "p-0.c.demo.svc.cluster.local"
            ]
        );
        assert_eq!(set.len(), 4);
        // `a` re-renders with another name, `c` with none: only theirs change.
        let a = names(&["q.a.demo.svc.cluster.local."]);
        let set = ptr_merge(Some(&set), &key("demo", "a"), Some(&a), zone, 5);
        let set = ptr_merge(Some(&set), &key("demo", "c"), None, zone, 5);
        assert_eq!(
            targets(&set),
            ["q.a.demo.svc.cluster.local", "x.b.demo.svc.cluster.local"]
        );
        // A service of another namespace sorts by namespace first.
        let z = names(&["svc.z.a.svc.cluster.local."]);
        let set = ptr_merge(Some(&set), &key("a", "z"), Some(&z), zone, 5);
        assert_eq!(targets(&set)[0], "svc.z.a.svc.cluster.local");
        let set = ptr_merge(Some(&set), &key("demo", "b"), None, zone, 5);
        let set = ptr_merge(Some(&set), &key("demo", "a"), None, zone, 5);
        let set = ptr_merge(Some(&set), &key("a", "z"), None, zone, 5);
        assert!(set.is_empty());
    }
}
