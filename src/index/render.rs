//! Rendering one service into its snapshot node: the names of a headless
//! service's endpoints with their A/AAAA, SRV per named port, empty
//! non-terminals and stable names; a ClusterIP service's own name; an
//! ExternalName's CNAME; and the PTR names of its addresses in wire form.
//! Names that cannot be built are refused (`crate::refused`), the rest
//! serves. `owners.rs` builds and ranks the names endpoints put addresses
//! at, and renders the SRV records from them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use hickory_proto::rr::rdata::CNAME;
use hickory_proto::rr::{Name, RData, Record};

use super::stored::Group;
use crate::model::{ObjectKey, Service, ServiceKind};
use crate::names::{self, quoted};
use crate::refused::{Reason, Refusals};
use crate::snapshot::{
    Alias, DeclaredOrdinals, Names, NodeRecords, Rrset, RrsetRef, ServiceNode, WireSet,
    ZoneSettings,
};

mod hosts;
mod owners;
mod records;

pub(super) use hosts::Hosts;
use owners::{Owner, name_below, plain_labels, render_srv};
use records::{SrvKey, address_data, address_record, refuse_name};

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
fn ptr_names(rrset: RrsetRef<'_>) -> impl Iterator<Item = &[u8]> {
    let wire = rrset.wire;
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
    old: Option<RrsetRef<'_>>,
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

/// Adds the address record of `ip` at `name` to `node` unless it holds
/// that address already (every record of a node has the same owner and
/// TTL, so the address decides).
fn push_address(node: &mut NodeRecords, name: &Name, ip: IpAddr, ttl: u32) {
    let data = address_data(ip);
    let list = match ip {
        IpAddr::V4(_) => &mut node.a,
        IpAddr::V6(_) => &mut node.aaaa,
    };
    if !list.iter().any(|r| r.data == data) {
        list.push(Record::from_rdata(name.clone(), ttl, data));
    }
}

/// Renders one service. Headless: its own name with every ready endpoint,
/// one name per endpoint, SRV per named port, empty non-terminals, and
/// stable names. ClusterIP (and NodePort, LoadBalancer): its own name with
/// the cluster IPs and SRV to it, nothing below. ExternalName: a CNAME.
/// Returns the node and the (address, name) pairs for PTR records.
///
/// Each owner name is built once and ordered by rank, so nothing here
/// parses or compares a `Name` per endpoint.
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
    let mut ptrs: Vec<(IpAddr, Name)> = Vec::new();
    // Hostnames (as written) with an address; sorted at the end.
    let mut present: Vec<&str> = Vec::new();
    // Addresses of the service name itself (headless); sorted at the end.
    let mut service_ips: Vec<IpAddr> = Vec::new();
    // Names of endpoints listed but not ready: NODATA, expected back.
    let mut not_ready: Vec<String> = Vec::new();
    // Every address below, decoded from the groups once; `owned` holds
    // ranges of it.
    let mut ips: Vec<IpAddr> = Vec::new();

    // (relative label, its addresses in `ips` or the cluster IPs, the
    // ports it serves); "" is the service name itself.
    let mut owned: Vec<(Cow<'_, str>, Range<usize>, &[crate::model::Port])> = Vec::new();
    match &service.kind {
        ServiceKind::ExternalName(target) => {
            hosts.clear();
            let mut node = render_alias(settings, &service_name, target, &mut refusals);
            refusals.report();
            node.ordinals = ordinals;
            return (node, ptrs);
        }
        ServiceKind::ClusterIp(cluster_ips) => {
            hosts.clear();
            // No IP allocated (yet): no records at all.
            if !cluster_ips.is_empty() {
                ips.extend_from_slice(cluster_ips);
                owned.push((Cow::Borrowed(""), 0..ips.len(), &service.ports));
            }
        }
        ServiceKind::Headless => {
            let endpoints = groups.iter().map(|g| g.len()).sum();
            owned.reserve(endpoints);
            ptrs.reserve(endpoints);
            service_ips.reserve(endpoints);
            ips.reserve(endpoints);
            for group in groups {
                for endpoint in group.members() {
                    let ready = endpoint.ready || service.publish_not_ready;
                    match endpoint.hostname {
                        Some(host) if !ready => {
                            not_ready.push(host.to_ascii_lowercase());
                        }
                        None if !ready => {
                            not_ready.extend(endpoint.addresses().map(names::dashed));
                        }
                        Some(host) => {
                            if endpoint.has_addresses() {
                                present.push(host);
                            }
                            let start = ips.len();
                            ips.extend(endpoint.addresses());
                            owned.push((lowercase(host), start..ips.len(), &group.ports));
                        }
                        None => {
                            for ip in endpoint.addresses() {
                                ips.push(ip);
                                owned.push((
                                    Cow::Owned(names::dashed(ip)),
                                    ips.len() - 1..ips.len(),
                                    &group.ports,
                                ));
                            }
                        }
                    }
                }
            }
        }
    }

    // Owner names by label (`None`: refused), and per (port name,
    // protocol) the SRV targets as (owner, port) in the order listed.
    let mut owners: Vec<Owner<'_>> = Vec::with_capacity(owned.len());
    let mut owner_of: HashMap<&str, Option<usize>> = HashMap::with_capacity(owned.len());
    let mut srv: BTreeMap<SrvKey, Vec<(usize, u16)>> = BTreeMap::new();
    for (label, range, ports) in &owned {
        let label: &str = label;
        let ips = &ips[range.clone()];
        let headless_endpoint = !label.is_empty();
        let found = *owner_of.entry(label).or_insert_with(|| {
            let name = if label.is_empty() {
                Some(service_name.clone())
            } else {
                name_below(settings, &service_name, &base, label)
            };
            name.map(|name| {
                owners.push(Owner {
                    label,
                    name,
                    plain: headless_endpoint && plain_labels(label) && !label.contains('.'),
                    node: NodeRecords::default(),
                });
                owners.len() - 1
            })
        });
        let Some(at) = found else {
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
        let owner = &mut owners[at];
        for ip in ips {
            push_address(&mut owner.node, &owner.name, *ip, ttl);
            if headless_endpoint {
                service_ips.push(*ip);
            }
            ptrs.push((*ip, owner.name.clone()));
        }
        if ips.is_empty() {
            continue;
        }
        for port in *ports {
            srv.entry((port.name.clone(), port.protocol))
                .or_default()
                .push((at, port.port));
        }
    }

    let srv_nodes = render_srv(settings, &service_name, &base, &owners, srv, &mut refusals);

    let mut names: HashMap<Cow<'_, str>, NodeRecords> =
        HashMap::with_capacity(owners.len() + 2 * srv_nodes.len() + 2);
    for owner in owners {
        names.insert(Cow::Borrowed(owner.label), owner.node);
    }
    if !service_ips.is_empty() {
        service_ips.sort_unstable();
        service_ips.dedup();
        let own = names.entry(Cow::Borrowed("")).or_default();
        if own.a.is_empty() && own.aaaa.is_empty() {
            // Sorted and distinct: nothing to compare.
            for ip in &service_ips {
                let list = if ip.is_ipv4() {
                    &mut own.a
                } else {
                    &mut own.aaaa
                };
                list.push(address_record(&service_name, *ip, ttl));
            }
        } else {
            for ip in &service_ips {
                push_address(own, &service_name, *ip, ttl);
            }
        }
    }
    for (relative, protocol, node) in srv_nodes {
        names.insert(Cow::Owned(relative), node);
        names.entry(Cow::Borrowed(protocol)).or_default();
    }

    // The stable-name window: note when hostnames lose their addresses.
    present.sort_unstable();
    present.dedup();
    hosts.update(&present, now, grace);
    // Hostnames inside their grace window, and endpoints listed but not
    // ready. Declared pods need no entry: the answer checks
    // `node.ordinals` when a name is not listed.
    not_ready.sort_unstable();
    not_ready.dedup();
    let expected = hosts
        .names()
        .map(lowercase)
        .chain(not_ready.into_iter().map(Cow::Owned));
    for host in expected {
        let named = match owner_of.get(&*host) {
            Some(found) => found.is_some(),
            None => name_below(settings, &service_name, &base, &host).is_some(),
        };
        if !named {
            continue;
        }
        match names.get_mut(&*host) {
            Some(entry) => entry.stable |= entry.is_empty(),
            None => {
                let host = Cow::Owned(host.into_owned());
                let stable = NodeRecords {
                    stable: true,
                    ..NodeRecords::default()
                };
                names.insert(host, stable);
            }
        }
    }
    // The service name is an empty non-terminal when only stable names exist.
    if !names.is_empty() || ordinals.iter().any(|o| o.replicas > 0) {
        names.entry(Cow::Borrowed("")).or_default();
    }
    let node = ServiceNode {
        names: Names::seal(names),
        ordinals,
    };
    ptrs.sort();
    ptrs.dedup();
    refusals.report();
    (node, ptrs)
}

/// `host` lowercase, borrowed when it already is (nearly always).
fn lowercase(host: &str) -> Cow<'_, str> {
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
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
    };
    ServiceNode {
        names: Names::seal([(Cow::Borrowed(""), node)]),
        ordinals: Box::default(),
    }
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
        ptr_names(set.view())
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
        let set = ptr_merge(Some(set.view()), &key("demo", "a"), Some(&a), zone, 5);
        let b = names(&["x.b.demo.svc.cluster.local."]);
        let set = ptr_merge(Some(set.view()), &key("demo", "b"), Some(&b), zone, 5);
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
        let set = ptr_merge(Some(set.view()), &key("demo", "a"), Some(&a), zone, 5);
        let set = ptr_merge(Some(set.view()), &key("demo", "c"), None, zone, 5);
        assert_eq!(
            targets(&set),
            ["q.a.demo.svc.cluster.local", "x.b.demo.svc.cluster.local"]
        );
        // A service of another namespace sorts by namespace first.
        let z = names(&["svc.z.a.svc.cluster.local."]);
        let set = ptr_merge(Some(set.view()), &key("a", "z"), Some(&z), zone, 5);
        assert_eq!(targets(&set)[0], "svc.z.a.svc.cluster.local");
        let set = ptr_merge(Some(set.view()), &key("demo", "b"), None, zone, 5);
        let set = ptr_merge(Some(set.view()), &key("demo", "a"), None, zone, 5);
        let set = ptr_merge(Some(set.view()), &key("a", "z"), None, zone, 5);
        assert!(set.is_empty());
    }
}
