//! The owner names of one service's render and its SRV records: each name
//! endpoints (or cluster IPs) put addresses at is built once per label,
//! without parsing the service's part again, and ranked once, so the SRV
//! targets are sorted and matched by rank, never by comparing `Name`s per
//! endpoint. `render.rs` collects the owners; [`render_srv`] turns the
//! targets per port into records.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::rr::rdata::SRV;
use hickory_proto::rr::{Name, RData, Record};

use super::records::{SrvKey, address_record, refuse_name, srv_weight};
use crate::refused::Refusals;
use crate::snapshot::{NodeRecords, ZoneSettings};

/// Whether `relative` is labels of `[a-z0-9_-]`, 1 to 63 octets each, not
/// opening with `-`, joined by dots: text that `Name::from_ascii` reads
/// label for label, byte for byte, with nothing to unescape.
pub(super) fn plain_labels(relative: &str) -> bool {
    relative.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0] != b'-'
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
    })
}

/// `<relative>.<service name>`, as `settings.name_in_zone` would read
/// `<relative>.<base>`, but without parsing the service's part again when
/// `relative` is plain (nearly always); `None` past 255 octets or when it
/// is not a name.
pub(super) fn name_below(
    settings: &ZoneSettings,
    service_name: &Name,
    base: &str,
    relative: &str,
) -> Option<Name> {
    if !plain_labels(relative) {
        return settings.name_in_zone(&format!("{relative}.{base}"));
    }
    let mut name = Name::new();
    for label in relative.split('.') {
        name = name.append_label(label.as_bytes()).ok()?;
    }
    name.append_domain(service_name).ok()
}

/// One name below (or at) the service that endpoints or cluster IPs put
/// addresses at, built once per label.
pub(super) struct Owner<'a> {
    /// The key in the service's names: lowercase.
    pub label: &'a str,
    pub name: Name,
    /// One plain label before the service name: such names order among
    /// themselves as their labels' bytes do (the shared suffix is equal),
    /// so sorting them compares no `Name`.
    pub plain: bool,
    /// Its A and AAAA records, each address once, in the order listed.
    pub node: NodeRecords,
}

impl Owner<'_> {
    /// `Name`'s order (canonical, case-insensitive), shortcut for plain labels.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.plain && other.plain {
            self.label.as_bytes().cmp(other.label.as_bytes())
        } else {
            self.name.cmp(&other.name)
        }
    }
}

/// The address an A or AAAA record holds.
fn record_ip(record: &Record) -> Option<IpAddr> {
    match &record.data {
        RData::A(a) => Some(IpAddr::V4(a.0)),
        RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
        _ => None,
    }
}

/// The SRV names of a service, in port order: per (port name, protocol),
/// its key below the service, the protocol's label (an empty non-terminal)
/// and the records, with the targets' addresses as additionals. `srv`
/// holds the targets as (owner, port) in the order listed.
pub(super) fn render_srv(
    settings: &ZoneSettings,
    service_name: &Name,
    base: &str,
    owners: &[Owner<'_>],
    srv: BTreeMap<SrvKey, Vec<(usize, u16)>>,
    refusals: &mut Refusals,
) -> Vec<(String, &'static str, NodeRecords)> {
    if srv.is_empty() {
        return Vec::new();
    }
    let ttl = settings.ttl;
    // Rank owners by name: equal names (only ever from hand-made labels
    // that differ in case or escapes) share a rank, as they shared a key.
    let mut order: Vec<usize> = (0..owners.len()).collect();
    order.sort_by(|&a, &b| owners[a].cmp(&owners[b]));
    let mut rank = vec![0usize; owners.len()];
    // Per rank, every address its names hold, sorted, at `spans[rank]` in
    // `addresses`: the SRV additionals.
    let mut addresses: Vec<IpAddr> = Vec::new();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (i, &at) in order.iter().enumerate() {
        let next_rank =
            i == 0 || owners[order[i - 1]].cmp(&owners[at]) != std::cmp::Ordering::Equal;
        if next_rank {
            spans.push((addresses.len(), addresses.len()));
        }
        rank[at] = spans.len() - 1;
        let node = &owners[at].node;
        addresses.extend(node.a.iter().chain(&node.aaaa).filter_map(record_ip));
        if let Some(span) = spans.last_mut() {
            span.1 = addresses.len();
        }
    }
    for &(start, end) in &spans {
        addresses[start..end].sort_unstable();
    }
    // The SRV key each rank's additionals were last added for.
    let mut added = vec![usize::MAX; spans.len()];
    let mut out = Vec::with_capacity(srv.len());
    for (key, ((port, protocol), mut entries)) in srv.into_iter().enumerate() {
        let relative = format!("_{}.{}", port.to_ascii_lowercase(), protocol.label());
        let Some(owner) = name_below(settings, service_name, base, &relative) else {
            let owner_text = format!("{relative}.{base}");
            let outcome = "the port gets no SRV records";
            refuse_name(refusals, "the SRV name", &owner_text, settings, outcome);
            continue;
        };
        // By name, then port; of equal pairs the first listed stays.
        entries.sort_by_key(|&(at, number)| (rank[at], number));
        entries.dedup_by_key(|&mut (at, number)| (rank[at], number));
        let weight = srv_weight(entries.len());
        let mut node = NodeRecords::default();
        node.srv.reserve_exact(entries.len());
        for &(at, number) in &entries {
            let target = &owners[at].name;
            node.srv.push(Record::from_rdata(
                owner.clone(),
                ttl,
                RData::SRV(SRV::new(0, weight, number, target.clone())),
            ));
            if std::mem::replace(&mut added[rank[at]], key) != key {
                let (start, end) = spans[rank[at]];
                let mut last = None;
                for ip in &addresses[start..end] {
                    if last.replace(*ip) != Some(*ip) {
                        node.srv_additional.push(address_record(target, *ip, ttl));
                    }
                }
            }
        }
        out.push((relative, protocol.label(), node));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn settings(zone: &str) -> ZoneSettings {
        let text = format!("zone: {zone}\nsource: {{embedded: {{manifests: [a]}}}}\n");
        let config = Config::from_str(&text, std::path::Path::new("test.yaml")).unwrap();
        crate::app::settings::zone_settings(&config)
    }

    /// Relative names of every shape: plain ones, and ones `name_below`
    /// must leave to the parser (case, escapes, empty labels, bad bytes,
    /// a leading `-`, over 63 octets), and ones too long with the zone.
    const RELATIVE: &[&str] = &[
        "web-0",
        "a",
        "_web._tcp",
        "10-0-0-1",
        "x.y",
        "Web-0",
        "x\\065y",
        "a..b",
        "trail.",
        "-lead",
        "sp ace",
        "é",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.\
         bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.\
         ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
    ];

    #[test]
    fn names_below_are_the_parsed_names() {
        for zone in [
            "cluster.local",
            "a-very-long-zone-name-for-the-limit.example.org",
        ] {
            let settings = settings(zone);
            for base in [
                "web.demo.svc",
                "sssssssssssssssssssssssssssssssssssss.demo.svc",
            ] {
                let service = settings.name_in_zone(base).unwrap();
                for relative in RELATIVE {
                    let parsed = settings.name_in_zone(&format!("{relative}.{base}"));
                    let built = name_below(&settings, &service, base, relative);
                    assert_eq!(
                        built.as_ref().map(Name::to_ascii),
                        parsed.as_ref().map(Name::to_ascii),
                        "{relative}.{base} in {zone}"
                    );
                }
            }
        }
        // Some of them are refused, some are not.
        let settings = settings("cluster.local");
        let service = settings.name_in_zone("web.demo.svc").unwrap();
        let built = |r: &str| name_below(&settings, &service, "web.demo.svc", r);
        assert!(built("web-0").is_some());
        assert!(built("sp ace").is_none());
    }

    #[test]
    fn plain_owners_order_as_their_names() {
        let settings = settings("cluster.local");
        let base = "web.demo.svc";
        let service = settings.name_in_zone(base).unwrap();
        let labels = [
            "web-0", "web-1", "web-10", "web-2", "a", "ab", "a-b", "a_b", "_x", "9",
        ];
        let owner = |label: &'static str| Owner {
            label,
            name: name_below(&settings, &service, base, label).unwrap(),
            plain: true,
            node: NodeRecords::default(),
        };
        for a in labels {
            for b in labels {
                let (x, y) = (owner(a), owner(b));
                assert_eq!(x.cmp(&y), x.name.cmp(&y.name), "{a} against {b}");
            }
        }
    }
}
