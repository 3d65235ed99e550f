//! The reverse zones' records: every address's PTR RRset in wire form, in
//! buckets of one /24 (IPv4) or one /120 (IPv6).
//!
//! A map entry per address cost about 90 octets of tree node and an
//! allocation for its bytes. Here a bucket holds up to 256 addresses as
//! their last octet, with their RRsets back to back in one block, so an
//! address costs nine octets beside its records; pod addresses are dense
//! (a node's pods share a /24), so buckets are full in practice. The
//! buckets sit in a persistent map, so a new snapshot shares every bucket
//! a change did not touch, and a change rebuilds only its buckets:
//! [`PtrEdits`] gathers a publish's changes and [`PtrTable::apply`]
//! rebuilds each touched bucket once. An address's lookup is two exact
//! searches and allocates nothing.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Bound;
use std::sync::Arc;

use super::node::{RrsetRef, WireSet};

/// The PTR RRsets of every address, by address.
#[derive(Debug, Clone, Default)]
pub struct PtrTable {
    /// By the bucket's address with its last octet zero.
    buckets: imbl::OrdMap<IpAddr, Arc<Bucket>>,
}

/// The addresses of one /24 or /120 and their RRsets.
#[derive(Debug, Default, PartialEq, Eq)]
struct Bucket {
    /// Each address's last octet, ascending.
    low: Box<[u8]>,
    /// Per address: where its records end in `wire`, and how many.
    ends: Box<[(u32, u32)]>,
    wire: Box<[u8]>,
}

/// An address's bucket key and last octet.
fn split(ip: IpAddr) -> (IpAddr, u8) {
    match ip {
        IpAddr::V4(v4) => {
            let mut o = v4.octets();
            let low = o[3];
            o[3] = 0;
            (IpAddr::V4(Ipv4Addr::from(o)), low)
        }
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            let low = o[15];
            o[15] = 0;
            (IpAddr::V6(Ipv6Addr::from(o)), low)
        }
    }
}

/// The address `low` in bucket `base`.
fn join(base: IpAddr, low: u8) -> IpAddr {
    match base {
        IpAddr::V4(v4) => {
            let mut o = v4.octets();
            o[3] = low;
            IpAddr::V4(Ipv4Addr::from(o))
        }
        IpAddr::V6(v6) => {
            let mut o = v6.octets();
            o[15] = low;
            IpAddr::V6(Ipv6Addr::from(o))
        }
    }
}

impl Bucket {
    fn rrset(&self, i: usize) -> RrsetRef<'_> {
        let start = if i == 0 {
            0
        } else {
            self.ends[i - 1].0 as usize
        };
        let (end, count) = self.ends[i];
        RrsetRef::new(&self.wire[start..end as usize], count as usize)
    }

    fn find(&self, low: u8) -> Option<usize> {
        self.low.binary_search(&low).ok()
    }

    fn entries(&self) -> impl Iterator<Item = (u8, RrsetRef<'_>)> + '_ {
        (0..self.low.len()).map(|i| (self.low[i], self.rrset(i)))
    }

    /// This bucket with `edits` (by last octet; `None` removes) in place.
    fn edited(&self, edits: &[(u8, Option<&WireSet>)]) -> Bucket {
        let mut low = Vec::with_capacity(self.low.len() + edits.len());
        let mut ends = Vec::with_capacity(low.capacity());
        let mut wire = Vec::with_capacity(self.wire.len());
        let mut push = |l: u8, rrset: RrsetRef<'_>| {
            if rrset.is_empty() {
                return;
            }
            wire.extend_from_slice(rrset.wire);
            low.push(l);
            ends.push((wire.len() as u32, rrset.len() as u32));
        };
        let mut old = self.entries().peekable();
        for &(l, new) in edits {
            while let Some((o, rrset)) = old.next_if(|(o, _)| *o < l) {
                push(o, rrset);
            }
            old.next_if(|(o, _)| *o == l);
            if let Some(set) = new {
                push(l, set.view());
            }
        }
        for (o, rrset) in old {
            push(o, rrset);
        }
        Bucket {
            low: low.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
            wire: wire.into_boxed_slice(),
        }
    }
}

impl PtrTable {
    /// The PTR RRset at `ip`, owners a pointer to the question.
    pub fn get(&self, ip: &IpAddr) -> Option<RrsetRef<'_>> {
        let (base, low) = split(*ip);
        let bucket = self.buckets.get(&base)?;
        bucket.find(low).map(|i| bucket.rrset(i))
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Whether any address in `lo..=hi` holds records (a reverse name
    /// above addresses is an empty non-terminal).
    pub fn any_in(&self, lo: IpAddr, hi: IpAddr) -> bool {
        self.next_from(lo).is_some_and(|(ip, _)| ip <= hi)
    }

    /// The first address at or after `from`, with its records.
    pub fn next_from(&self, from: IpAddr) -> Option<(IpAddr, RrsetRef<'_>)> {
        let (base, low) = split(from);
        if let Some(bucket) = self.buckets.get(&base) {
            let i = bucket.low.partition_point(|l| *l < low);
            if i < bucket.low.len() {
                return Some((join(base, bucket.low[i]), bucket.rrset(i)));
            }
        }
        let (next, bucket) = self
            .buckets
            .range((Bound::Excluded(base), Bound::Unbounded))
            .next()?;
        Some((join(*next, bucket.low[0]), bucket.rrset(0)))
    }

    /// Every address and its records, in address order.
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, RrsetRef<'_>)> + '_ {
        self.buckets.iter().flat_map(|(base, bucket)| {
            bucket
                .entries()
                .map(move |(low, rrset)| (join(*base, low), rrset))
        })
    }

    /// Applies a publish's changes, rebuilding each bucket they touch once.
    pub fn apply(&mut self, edits: PtrEdits) {
        let mut edits = edits.0.iter().peekable();
        let mut group: Vec<(u8, Option<&WireSet>)> = Vec::new();
        while let Some((&ip, set)) = edits.next() {
            let (base, low) = split(ip);
            group.clear();
            group.push((low, set.as_ref()));
            while let Some((&next, set)) = edits.next_if(|(n, _)| split(**n).0 == base) {
                group.push((split(next).1, set.as_ref()));
            }
            let bucket = match self.buckets.get(&base) {
                Some(old) => old.edited(&group),
                None => Bucket::default().edited(&group),
            };
            if bucket.low.is_empty() {
                self.buckets.remove(&base);
            } else {
                self.buckets.insert(base, Arc::new(bucket));
            }
        }
    }

    /// What differs from `self` to `new`, address by address, in address
    /// order. Buckets both share are skipped without a look.
    pub fn diff<'a>(&'a self, new: &'a PtrTable) -> Vec<PtrChange<'a>> {
        let mut out = Vec::new();
        for item in self.buckets.diff(&new.buckets) {
            match item {
                imbl::ordmap::DiffItem::Add(base, bucket) => out.extend(
                    bucket
                        .entries()
                        .map(|(l, r)| PtrChange::Add(join(*base, l), r)),
                ),
                imbl::ordmap::DiffItem::Remove(base, bucket) => out.extend(
                    bucket
                        .entries()
                        .map(|(l, r)| PtrChange::Remove(join(*base, l), r)),
                ),
                imbl::ordmap::DiffItem::Update {
                    old: (base, before),
                    new: (_, after),
                } => {
                    let mut old = before.entries().peekable();
                    let mut new = after.entries().peekable();
                    loop {
                        match (old.peek().copied(), new.peek().copied()) {
                            (None, None) => break,
                            (Some((o, r)), n) if n.is_none_or(|(n, _)| o < n) => {
                                out.push(PtrChange::Remove(join(*base, o), r));
                                old.next();
                            }
                            (o, Some((n, r))) if o.is_none_or(|(o, _)| n < o) => {
                                out.push(PtrChange::Add(join(*base, n), r));
                                new.next();
                            }
                            (Some((l, a)), Some((_, b))) => {
                                if a.wire != b.wire || a.len() != b.len() {
                                    out.push(PtrChange::Update(join(*base, l), a, b));
                                }
                                old.next();
                                new.next();
                            }
                            // Both arms above cover every other case.
                            _ => break,
                        }
                    }
                }
            }
        }
        out
    }
}

/// One address's change between two tables ([`PtrTable::diff`]).
#[derive(Debug, Clone, Copy)]
pub enum PtrChange<'a> {
    Add(IpAddr, RrsetRef<'a>),
    Remove(IpAddr, RrsetRef<'a>),
    /// Address, before, after.
    Update(IpAddr, RrsetRef<'a>, RrsetRef<'a>),
}

/// A publish's PTR changes, gathered before they are applied, and read
/// through while they gather (two services can share an address).
#[derive(Debug, Default)]
pub struct PtrEdits(BTreeMap<IpAddr, Option<WireSet>>);

impl PtrEdits {
    /// The RRset at `ip` as it stands with these edits over `table`.
    pub fn get<'a>(&'a self, table: &'a PtrTable, ip: &IpAddr) -> Option<RrsetRef<'a>> {
        match self.0.get(ip) {
            Some(set) => set.as_ref().map(WireSet::view),
            None => table.get(ip),
        }
    }

    /// Sets the RRset at `ip`; an empty one removes the address.
    pub fn set(&mut self, ip: IpAddr, set: WireSet) {
        self.0.insert(ip, (!set.is_empty()).then_some(set));
    }

    /// Addresses changed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(tag: u8) -> WireSet {
        WireSet::new(vec![tag; 3], 1)
    }

    fn table(entries: &[(&str, u8)]) -> PtrTable {
        let mut edits = PtrEdits::default();
        for (ip, tag) in entries {
            edits.set(ip.parse().unwrap(), set(*tag));
        }
        let mut table = PtrTable::default();
        table.apply(edits);
        table
    }

    fn listed(table: &PtrTable) -> Vec<(String, u8)> {
        table
            .iter()
            .map(|(ip, r)| (ip.to_string(), r.wire[0]))
            .collect()
    }

    #[test]
    fn addresses_read_back_in_order_across_buckets_and_families() {
        let t = table(&[
            ("fd00::1:ff", 6),
            ("10.0.1.0", 3),
            ("10.0.0.255", 2),
            ("10.0.0.7", 1),
            ("fd00::1", 5),
            ("192.168.0.1", 4),
        ]);
        assert_eq!(t.iter().count(), 6);
        assert_eq!(
            listed(&t),
            [
                ("10.0.0.7".into(), 1),
                ("10.0.0.255".into(), 2),
                ("10.0.1.0".into(), 3),
                ("192.168.0.1".into(), 4),
                ("fd00::1".into(), 5),
                ("fd00::1:ff".into(), 6),
            ]
        );
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(t.get(&ip("10.0.0.255")).map(|r| r.wire[0]), Some(2));
        assert!(t.get(&ip("10.0.0.8")).is_none());
        assert!(t.get(&ip("10.0.2.7")).is_none());
        // The first address at or after, within a bucket and past one.
        assert_eq!(
            t.next_from(ip("10.0.0.8")).map(|(a, _)| a),
            Some(ip("10.0.0.255"))
        );
        assert_eq!(
            t.next_from(ip("10.0.1.1")).map(|(a, _)| a),
            Some(ip("192.168.0.1"))
        );
        assert_eq!(
            t.next_from(ip("192.168.0.2")).map(|(a, _)| a),
            Some(ip("fd00::1"))
        );
        assert!(t.next_from(ip("fd00::2:0")).is_none());
        assert!(t.any_in(ip("10.0.0.0"), ip("10.0.0.255")));
        assert!(!t.any_in(ip("10.0.2.0"), ip("10.0.255.255")));
    }

    #[test]
    fn edits_replace_remove_and_read_through_before_they_apply() {
        let mut t = table(&[("10.0.0.1", 1), ("10.0.0.2", 2), ("10.0.0.3", 3)]);
        let old = t.clone();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut edits = PtrEdits::default();
        edits.set(ip("10.0.0.2"), WireSet::default());
        edits.set(ip("10.0.0.3"), set(9));
        edits.set(ip("10.0.0.4"), set(4));
        // Read through: the edits over the table.
        assert!(edits.get(&t, &ip("10.0.0.2")).is_none());
        assert_eq!(edits.get(&t, &ip("10.0.0.3")).map(|r| r.wire[0]), Some(9));
        assert_eq!(edits.get(&t, &ip("10.0.0.1")).map(|r| r.wire[0]), Some(1));
        t.apply(edits);
        assert_eq!(
            listed(&t),
            [
                ("10.0.0.1".into(), 1),
                ("10.0.0.3".into(), 9),
                ("10.0.0.4".into(), 4)
            ]
        );
        assert_eq!(t.iter().count(), 3);
        // The snapshot before is untouched.
        assert_eq!(listed(&old).len(), 3);
        assert_eq!(old.get(&ip("10.0.0.2")).map(|r| r.wire[0]), Some(2));

        let changes: Vec<String> = old
            .diff(&t)
            .iter()
            .map(|c| match c {
                PtrChange::Add(ip, r) => format!("+{ip}={}", r.wire[0]),
                PtrChange::Remove(ip, r) => format!("-{ip}={}", r.wire[0]),
                PtrChange::Update(ip, a, b) => format!("~{ip}={}>{}", a.wire[0], b.wire[0]),
            })
            .collect();
        assert_eq!(changes, ["-10.0.0.2=2", "~10.0.0.3=3>9", "+10.0.0.4=4"]);

        // Removing the last address of a bucket removes the bucket.
        let mut edits = PtrEdits::default();
        for a in ["10.0.0.1", "10.0.0.3", "10.0.0.4"] {
            edits.set(ip(a), WireSet::default());
        }
        t.apply(edits);
        assert!(t.is_empty());
        assert_eq!(t.iter().count(), 0);
    }
}
