//! A service's names: every name under one service, sealed into one block
//! of octets and found by bisection on their keys.
//!
//! Each name's records are a sealed node (`node.rs`); a service's nodes
//! sit back to back in one allocation, after a table of where each ends.
//! A box per node cost a 24-octet handle plus the allocator's own header
//! and rounding, about 40 octets for every name in the zone; here a name
//! costs the four octets of its end. A render seals a whole service at
//! once, so nothing is ever edited in place but an alias's chase.

use std::borrow::Cow;

use super::node::{Alias, NodeRecords, NodeRef};

/// A service's names, keyed by the labels left of the service name joined
/// with dots (each node holds its key), sorted by key. No hash table: its
/// empty buckets would cost more than the names.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Names {
    /// How many nodes (`u32`, little endian), where each ends after the
    /// table (one `u32` each), then the nodes. Empty for no names.
    block: Box<[u8]>,
    /// The aliases of the nodes that are one (an ExternalName service's
    /// own name), by node index, ascending.
    aliases: Box<[(u32, Alias)]>,
}

/// Where one sealed node lies in [`Names::seal`]'s buffer, and the index
/// of its alias (`u32::MAX`: none).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
    alias: u32,
}

impl Span {
    fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl Names {
    /// Seals `nodes` under their keys; a later node wins over an earlier
    /// one with the same key.
    ///
    /// Each node is sealed as it comes, into a buffer kept per thread, and
    /// its records dropped at once; then only the (start, end) spans are
    /// sorted by the keys the sealed nodes open with, and the block is
    /// copied out at its exact size in that order.
    pub fn seal<'k>(nodes: impl IntoIterator<Item = (Cow<'k, str>, NodeRecords)>) -> Self {
        thread_local! {
            /// The nodes in the order given, and their spans in it.
            static BODY: std::cell::RefCell<(Vec<u8>, Vec<Span>)> =
                const { std::cell::RefCell::new((Vec::new(), Vec::new())) };
        }
        BODY.with_borrow_mut(|(body, spans)| {
            body.clear();
            spans.clear();
            let mut aliases = Vec::new();
            for (key, records) in nodes {
                let start = body.len() as u32;
                let alias = records.seal_into(&key, body).map(|alias| {
                    aliases.push(*alias);
                    aliases.len() as u32 - 1
                });
                spans.push(Span {
                    start,
                    end: body.len() as u32,
                    alias: alias.unwrap_or(u32::MAX),
                });
            }
            let key = |span: &Span| NodeRef::new(&body[span.range()], None).key_bytes();
            // Stable, from the last given: of equal keys, the first kept
            // is the latest.
            spans.reverse();
            spans.sort_by(|a, b| key(a).cmp(key(b)));
            spans.dedup_by(|a, b| key(a) == key(b));
            let names = if spans.is_empty() {
                Self::default()
            } else {
                let size: usize = spans.iter().map(|s| s.range().len()).sum();
                let mut block = Vec::with_capacity(4 + 4 * spans.len() + size);
                block.extend_from_slice(&(spans.len() as u32).to_le_bytes());
                let mut end = 0u32;
                for span in spans.iter() {
                    end += span.end - span.start;
                    block.extend_from_slice(&end.to_le_bytes());
                }
                let mut kept = Vec::new();
                let mut aliases: Vec<Option<Alias>> = aliases.into_iter().map(Some).collect();
                for (i, span) in spans.iter().enumerate() {
                    block.extend_from_slice(&body[span.range()]);
                    if let Some(alias) = aliases.get_mut(span.alias as usize).and_then(Option::take)
                    {
                        kept.push((i as u32, alias));
                    }
                }
                Self {
                    block: block.into_boxed_slice(),
                    aliases: kept.into_boxed_slice(),
                }
            };
            // Kept for the next seal, but not at the size of the largest
            // service ever sealed.
            if body.capacity() > 1 << 20 {
                *body = Vec::new();
                *spans = Vec::new();
            }
            names
        })
    }

    fn word(&self, at: usize) -> usize {
        let mut word = [0u8; 4];
        word.copy_from_slice(&self.block[at..at + 4]);
        u32::from_le_bytes(word) as usize
    }

    pub fn len(&self) -> usize {
        if self.block.is_empty() {
            0
        } else {
            self.word(0)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Node `i`'s sealed octets (below [`Self::len`]).
    fn wire(&self, i: usize) -> &[u8] {
        let nodes = 4 + 4 * self.len();
        let start = if i == 0 { 0 } else { self.word(4 * i) };
        let end = self.word(4 + 4 * i);
        &self.block[nodes + start..nodes + end]
    }

    /// Node `i` (below [`Self::len`]), with its alias if it has one.
    fn node(&self, i: usize) -> NodeRef<'_> {
        let alias = self
            .aliases
            .binary_search_by_key(&(i as u32), |(at, _)| *at)
            .ok()
            .map(|at| &self.aliases[at].1);
        NodeRef::new(self.wire(i), alias)
    }

    /// Bisection on the keys alone: a probe reads a key, never an alias.
    fn find(&self, key: &str) -> Result<usize, usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match NodeRef::new(self.wire(mid), None)
                .key_bytes()
                .cmp(key.as_bytes())
            {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(low)
    }

    pub fn get(&self, key: &str) -> Option<NodeRef<'_>> {
        self.find(key).ok().map(|i| self.node(i))
    }

    /// The alias at `key`, to re-render its chase.
    pub fn alias_mut(&mut self, key: &str) -> Option<&mut Alias> {
        let i = self.find(key).ok()? as u32;
        let at = self.aliases.binary_search_by_key(&i, |(at, _)| *at).ok()?;
        Some(&mut self.aliases[at].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, NodeRef<'_>)> + '_ {
        self.values().map(|n| (n.key(), n))
    }

    pub fn values(&self) -> impl Iterator<Item = NodeRef<'_>> + '_ {
        (0..self.len()).map(|i| self.node(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Rrset;
    use hickory_proto::rr::rdata::{A, CNAME};
    use hickory_proto::rr::{Name, RData, Record};

    fn a(owner: &str, last: u8) -> NodeRecords {
        let owner = Name::from_ascii(owner).unwrap();
        NodeRecords {
            a: vec![Record::from_rdata(
                owner,
                5,
                RData::A(A::new(10, 0, 0, last)),
            )],
            ..NodeRecords::default()
        }
    }

    #[test]
    fn sealed_names_are_found_by_key_and_the_later_of_two_wins() {
        let owner = Name::from_ascii("web-1.web.demo.svc.cluster.local.").unwrap();
        let names = Names::seal([
            (
                Cow::Borrowed("web-1"),
                a("web-1.web.demo.svc.cluster.local.", 1),
            ),
            (Cow::Borrowed(""), a("web.demo.svc.cluster.local.", 9)),
            (
                Cow::Borrowed("web-0"),
                a("web-0.web.demo.svc.cluster.local.", 0),
            ),
            (
                Cow::Borrowed("web-1"),
                a("web-1.web.demo.svc.cluster.local.", 2),
            ),
            (Cow::Owned("_tcp".to_owned()), NodeRecords::default()),
        ]);
        assert_eq!(names.len(), 4);
        let keys: Vec<&str> = names.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["", "_tcp", "web-0", "web-1"]);
        let web1 = names.get("web-1").unwrap();
        assert_eq!(web1.key(), "web-1");
        let RData::A(ip) = web1.a().records(&owner)[0].data else {
            panic!("not A");
        };
        assert_eq!(ip, A::new(10, 0, 0, 2));
        assert!(names.get("_tcp").unwrap().is_empty());
        assert!(names.get("web-2").is_none());
        assert!(names.get("web").is_none());
        assert!(names.values().all(|n| n.alias.is_none()));
    }

    #[test]
    fn an_alias_is_kept_beside_its_node_and_can_be_edited() {
        let owner = Name::from_ascii("db.demo.svc.cluster.local.").unwrap();
        let target = Name::from_ascii("db.example.org.").unwrap();
        let cname = Record::from_rdata(owner.clone(), 5, RData::CNAME(CNAME(target.clone())));
        let alias = NodeRecords {
            alias: Some(Box::new(Alias {
                cname: Rrset::answer(vec![cname]),
                ..Alias::default()
            })),
            ..NodeRecords::default()
        };
        let mut names = Names::seal([
            (Cow::Borrowed("x"), a("x.db.demo.svc.cluster.local.", 1)),
            (Cow::Borrowed(""), alias),
        ]);
        assert_eq!(
            names.get("").unwrap().alias.unwrap().target(),
            Some(&target)
        );
        assert!(names.get("x").unwrap().alias.is_none());
        assert!(names.alias_mut("x").is_none());
        let chase = a("db.example.org.", 7).a;
        names.alias_mut("").unwrap().chase_a = Rrset::extra(chase.clone());
        assert_eq!(names.get("").unwrap().alias.unwrap().chase_a.records, chase);
    }

    #[test]
    fn no_names_take_no_block() {
        let names = Names::seal(std::iter::empty());
        assert!(names.is_empty());
        assert_eq!(names.len(), 0);
        assert!(names.get("").is_none());
        assert_eq!(names.values().count(), 0);
    }
}
