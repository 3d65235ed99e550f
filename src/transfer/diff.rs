//! What changed in a zone between two snapshots, and serial arithmetic.
//!
//! IXFR (RFC 1995) sends the condensed difference between the client's
//! version and ours: the records to delete and the records to add, each
//! record at most once. Both snapshots are at hand (the journal keeps the
//! old one), so the difference is computed from them directly. Snapshots
//! share every service that did not change (`Arc`s in persistent maps), so
//! those are skipped by pointer comparison and the cost follows the size of
//! the change, not of the zone.

use std::collections::BTreeSet;
use std::sync::Arc;

use hickory_proto::rr::{Name, Record};
use imbl::ordmap::DiffItem;

use crate::snapshot::{NameNode, ServiceNode, Snapshot};

/// RFC 1982 serial number arithmetic (it lives with the serial rule).
pub use crate::serial::serial_lt;

/// The records to delete and to add to turn one version of a zone into
/// another. The apex SOA is left out: IXFR frames the difference with it.
#[derive(Debug, Default)]
pub struct Difference<'a> {
    pub deleted: Vec<&'a Record>,
    pub added: Vec<&'a Record>,
}

impl<'a> Difference<'a> {
    /// Adds the difference between two record sets.
    fn compare(
        &mut self,
        old: impl Iterator<Item = &'a Record>,
        new: impl Iterator<Item = &'a Record>,
    ) {
        let old: BTreeSet<&Record> = old.collect();
        let new: BTreeSet<&Record> = new.collect();
        self.deleted.extend(old.difference(&new));
        self.added.extend(new.difference(&old));
    }
}

fn service_records(service: &ServiceNode) -> impl Iterator<Item = &Record> {
    service.names.values().flat_map(NameNode::records)
}

/// The difference in the zone at `origin` from `old` to `new` (two
/// snapshots of one server: same zones). Empty when `origin` is not served.
pub fn difference<'a>(old: &'a Snapshot, new: &'a Snapshot, origin: &Name) -> Difference<'a> {
    let mut d = Difference::default();
    if new.forward.origin == *origin {
        forward(old, new, &mut d);
    } else if let Some(zone) = new.reverse.iter().position(|a| a.origin == *origin) {
        d.compare(
            old.reverse
                .get(zone)
                .into_iter()
                .flat_map(|a| &a.ns.records),
            new.reverse[zone].ns.records.iter(),
        );
        reverse(old, new, zone, &mut d);
    }
    // In record order, not map order: two replicas holding the same two
    // versions send byte-identical IXFRs.
    d.deleted.sort();
    d.added.sort();
    d
}

fn forward<'a>(old: &'a Snapshot, new: &'a Snapshot, d: &mut Difference<'a>) {
    d.compare(old.forward.ns.records.iter(), new.forward.ns.records.iter());
    if !Arc::ptr_eq(&old.fixed, &new.fixed) {
        d.compare(
            old.fixed.values().flat_map(NameNode::records),
            new.fixed.values().flat_map(NameNode::records),
        );
    }
    for (namespace, new_ns) in new.namespaces.iter() {
        let old_ns = old.namespaces.get(namespace);
        for (name, new_service) in new_ns.services.iter() {
            match old_ns.and_then(|o| o.services.get(name)) {
                Some(old_service) if Arc::ptr_eq(old_service, new_service) => {}
                Some(old_service) => {
                    d.compare(service_records(old_service), service_records(new_service));
                }
                None => d.added.extend(service_records(new_service)),
            }
        }
    }
    for (namespace, old_ns) in old.namespaces.iter() {
        let new_ns = new.namespaces.get(namespace);
        for (name, old_service) in old_ns.services.iter() {
            if new_ns.is_none_or(|n| !n.services.contains_key(name)) {
                d.deleted.extend(service_records(old_service));
            }
        }
    }
}

/// PTR records of reverse zone `zone`: the address map's own difference
/// (which skips shared subtrees), kept to the names in that zone.
fn reverse<'a>(old: &'a Snapshot, new: &'a Snapshot, zone: usize, d: &mut Difference<'a>) {
    let in_zone = |snap: &'a Snapshot, records: &'a [Record]| {
        records
            .iter()
            .filter(move |r| snap.reverse_zone_of(&r.name) == Some(zone))
    };
    for item in old.ptr.diff(&new.ptr) {
        match item {
            DiffItem::Add(_, rrset) => d.added.extend(in_zone(new, &rrset.records)),
            DiffItem::Remove(_, rrset) => d.deleted.extend(in_zone(old, &rrset.records)),
            DiffItem::Update {
                old: (_, before),
                new: (_, after),
            } => d.compare(in_zone(old, &before.records), in_zone(new, &after.records)),
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
