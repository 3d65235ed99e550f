//! What changed in a zone between two snapshots, and serial arithmetic.
//!
//! IXFR (RFC 1995) sends the condensed difference between the client's
//! version and ours: the records to delete and the records to add, each
//! record at most once. Both snapshots are at hand (the journal keeps the
//! old one), so the difference is computed from them directly. Snapshots
//! share every service that did not change (`Arc`s in persistent maps), so
//! those are skipped by pointer comparison and the cost follows the size of
//! the change, not of the zone. The records compared are decoded from the
//! snapshots' wire form.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::{Name, Record};

use crate::snapshot::{PtrChange, RrsetRef, Snapshot};

/// RFC 1982 serial number arithmetic (it lives with the serial rule).
pub use crate::serial::serial_lt;

/// The records to delete and to add to turn one version of a zone into
/// another. The apex SOA is left out: IXFR frames the difference with it.
#[derive(Debug, Default)]
pub struct Difference {
    pub deleted: Vec<Record>,
    pub added: Vec<Record>,
}

impl Difference {
    /// Adds the difference between two record sets.
    fn compare(&mut self, old: Vec<Record>, new: Vec<Record>) {
        let old: BTreeSet<Record> = old.into_iter().collect();
        let new: BTreeSet<Record> = new.into_iter().collect();
        self.deleted.extend(old.difference(&new).cloned());
        self.added.extend(new.difference(&old).cloned());
    }
}

/// The fixed names' records (`dns-version`, the nameserver's glue).
fn fixed_records(snap: &Snapshot) -> Vec<Record> {
    snap.fixed
        .iter()
        .filter_map(|(key, node)| {
            let owner = if key.is_empty() {
                Some(snap.settings.zone.clone())
            } else {
                snap.settings.name_in_zone(key)
            };
            Some(node.view().records(&owner?))
        })
        .flatten()
        .collect()
}

/// The difference in the zone at `origin` from `old` to `new` (two
/// snapshots of one server: same zones). Empty when `origin` is not served.
pub fn difference(old: &Snapshot, new: &Snapshot, origin: &Name) -> Difference {
    let mut d = Difference::default();
    if new.forward.origin == *origin {
        forward(old, new, &mut d);
    } else if let Some(zone) = new.reverse.iter().position(|a| a.origin == *origin) {
        d.compare(
            old.reverse
                .get(zone)
                .map(|a| a.ns.records.clone())
                .unwrap_or_default(),
            new.reverse[zone].ns.records.clone(),
        );
        reverse(old, new, zone, &mut d);
    }
    // In record order, not map order: two replicas holding the same two
    // versions send byte-identical IXFRs.
    d.deleted.sort();
    d.added.sort();
    d
}

fn forward(old: &Snapshot, new: &Snapshot, d: &mut Difference) {
    d.compare(
        old.forward.ns.records.clone(),
        new.forward.ns.records.clone(),
    );
    if !Arc::ptr_eq(&old.fixed, &new.fixed) {
        d.compare(fixed_records(old), fixed_records(new));
    }
    for (namespace, new_ns) in new.namespaces.iter() {
        let old_ns = old.namespaces.get(namespace);
        for (name, new_service) in new_ns.services.iter() {
            match old_ns.and_then(|o| o.services.get(name)) {
                Some(old_service) if Arc::ptr_eq(old_service, new_service) => {}
                Some(old_service) => d.compare(
                    old.service_records(namespace, name, old_service),
                    new.service_records(namespace, name, new_service),
                ),
                None => d
                    .added
                    .extend(new.service_records(namespace, name, new_service)),
            }
        }
    }
    for (namespace, old_ns) in old.namespaces.iter() {
        let new_ns = new.namespaces.get(namespace);
        for (name, old_service) in old_ns.services.iter() {
            if new_ns.is_none_or(|n| !n.services.contains_key(name)) {
                d.deleted
                    .extend(old.service_records(namespace, name, old_service));
            }
        }
    }
}

/// PTR records of reverse zone `zone`: the address map's own difference
/// (which skips shared subtrees), kept to the names in that zone.
fn reverse(old: &Snapshot, new: &Snapshot, zone: usize, d: &mut Difference) {
    // Both snapshots serve the same zones: one owner test for both.
    let in_zone = |ip: IpAddr, rrset: RrsetRef<'_>| {
        let records = Snapshot::ptr_records(ip, rrset);
        match records.first() {
            Some(r) if new.reverse_zone_of(&r.name) == Some(zone) => records,
            _ => Vec::new(),
        }
    };
    for item in old.ptr.diff(&new.ptr) {
        match item {
            PtrChange::Add(ip, rrset) => d.added.extend(in_zone(ip, rrset)),
            PtrChange::Remove(ip, rrset) => d.deleted.extend(in_zone(ip, rrset)),
            PtrChange::Update(ip, before, after) => {
                d.compare(in_zone(ip, before), in_zone(ip, after))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_arithmetic_follows_rfc_1982() {
        assert!(serial_lt(1, 2));
        assert!(!serial_lt(2, 1));
        assert!(!serial_lt(5, 5));
        // Wrapping: 0 follows u32::MAX.
        assert!(serial_lt(u32::MAX, 0));
        assert!(!serial_lt(0, u32::MAX));
        assert!(serial_lt(u32::MAX - 10, 10));
        // The largest step forward is 2^31 - 1.
        assert!(serial_lt(0, (1 << 31) - 1));
        assert!(!serial_lt((1 << 31) - 1, 0));
        // Exactly 2^31 apart: undefined, neither before the other.
        assert!(!serial_lt(0, 1 << 31));
        assert!(!serial_lt(1 << 31, 0));
    }
}
