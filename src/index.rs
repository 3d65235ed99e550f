//! The cluster index: every object the sources reported, and the snapshot
//! rendered from them.
//!
//! Synchronous and free of IO, so it is tested with plain values: sources call
//! `apply_*`, `delete_*` and `reset_*` per kind (a reset replaces a whole kind
//! after a relist or a manifest reload, and touches only what differs), then
//! [`ClusterIndex::publish`] re-renders just the services marked dirty and
//! returns the next [`Snapshot`]. The async driver (`driver.rs`) owns one
//! index and feeds it. `render.rs` turns one service into names and wire
//! records; `links.rs` carries what a render changes elsewhere (pod
//! addresses, ExternalName chases); `stored.rs` is what the index keeps of
//! an endpoint group.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::model::{
    ClusterState, EndpointGroup, ObjectKey, OrdinalSet, PodRecords, Service, ServiceKind,
};
use crate::snapshot::{DeclaredOrdinals, PtrEdits, ServiceNode, Snapshot, ZoneSettings};

mod links;
mod render;
mod stored;

use render::{Hosts, name_wire, ptr_merge, render_service};
use stored::{Addresses, Group};

/// Which map an endpoint group came from.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
enum GroupKind {
    Slice,
    Endpoints,
}

/// A publish applies the PTR changes it gathered once they pass this many
/// addresses (checked after each service, so a round may exceed it by one
/// service's addresses).
const PTR_ROUND: usize = 4096;

pub struct ClusterIndex {
    settings: Arc<ZoneSettings>,
    /// How long a hostname that lost its endpoint still answers NODATA.
    grace: Duration,
    services: HashMap<ObjectKey, Service>,
    slices: HashMap<ObjectKey, Group>,
    endpoints: HashMap<ObjectKey, Group>,
    sets: HashMap<ObjectKey, OrdinalSet>,
    /// Service → the groups (slices, Endpoints) that feed it.
    /// Sorted, no spare capacity: nearly every service has one or two, and
    /// a `BTreeSet` would cost a whole node each.
    groups_by_service: HashMap<ObjectKey, Vec<(GroupKind, ObjectKey)>>,
    /// Service → the StatefulSets naming it (`serviceName`), sorted.
    sets_by_service: HashMap<ObjectKey, Vec<ObjectKey>>,
    /// Per service, hostnames that had an address: `None` while they still
    /// do, `Some(t)` once they lost it at `t` (the stable-name window).
    hosts: HashMap<ObjectKey, Hosts>,
    /// When stable-name windows close, by service: the next publish after
    /// the instant re-renders the service. Ordered, so finding what is due
    /// does not scan every service. Entries for hosts that came back early
    /// stay until due; re-rendering then changes nothing.
    deadlines: BTreeSet<(Instant, ObjectKey)>,
    /// Per service, the addresses it put PTR names at. Which service put
    /// which name at an address is read from the names themselves
    /// (`<host>.<service>.<namespace>.svc.<zone>`), so no map per address.
    ptr_by_service: HashMap<ObjectKey, Addresses>,
    /// ExternalName services whose target lies in the zone: their chase
    /// is rendered again whenever anything changed.
    aliases: BTreeSet<ObjectKey>,
    /// Verified pod records only: per service, the endpoint addresses it
    /// holds, and per (namespace, address) how many services hold it.
    pod_addresses_by_service: HashMap<ObjectKey, Vec<IpAddr>>,
    pod_address_refs: HashMap<(Arc<str>, IpAddr), u32>,
    dirty: BTreeSet<ObjectKey>,
    snapshot: Snapshot,
    /// Something changed that is not yet in a published snapshot.
    pending: bool,
    /// The highest state version the sources reported (`serial.rs`).
    version: Option<u64>,
    /// A synced snapshot has been published: its serial may have been
    /// served, so serials only move forward from here.
    served: bool,
}

impl ClusterIndex {
    pub fn new(settings: Arc<ZoneSettings>, grace: Duration) -> Self {
        let serial = wall_serial();
        Self {
            snapshot: Snapshot::empty(settings.clone(), serial),
            settings,
            grace,
            services: HashMap::new(),
            slices: HashMap::new(),
            endpoints: HashMap::new(),
            sets: HashMap::new(),
            groups_by_service: HashMap::new(),
            sets_by_service: HashMap::new(),
            hosts: HashMap::new(),
            deadlines: BTreeSet::new(),
            ptr_by_service: HashMap::new(),
            aliases: BTreeSet::new(),
            pod_addresses_by_service: HashMap::new(),
            pod_address_refs: HashMap::new(),
            dirty: BTreeSet::new(),
            pending: false,
            version: None,
            served: false,
        }
    }

    /// Notes the version of the state the sources have reached; the next
    /// published snapshot derives its serial from the highest one seen.
    pub fn observe_version(&mut self, version: u64) {
        self.version = Some(self.version.map_or(version, |v| v.max(version)));
    }

    /// The last published snapshot.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Marks whether every source has delivered its first full state.
    pub fn set_synced(&mut self, synced: bool) {
        if self.snapshot.synced != synced {
            self.snapshot.synced = synced;
            self.pending = true;
        }
    }

    pub fn apply_service(&mut self, service: Service) {
        if self.services.get(&service.key) == Some(&service) {
            return;
        }
        // Its own allocations, not the decoded list's (`ObjectKey::rehomed`).
        let service = service.rehomed();
        self.dirty.insert(service.key.clone());
        self.services.insert(service.key.clone(), service);
    }

    pub fn delete_service(&mut self, key: &ObjectKey) {
        if self.services.remove(key).is_some() {
            self.dirty.insert(key.clone());
        }
    }

    pub fn apply_slice(&mut self, group: EndpointGroup) {
        self.apply_group(GroupKind::Slice, group);
    }

    pub fn delete_slice(&mut self, key: &ObjectKey) {
        self.delete_group(GroupKind::Slice, key);
    }

    pub fn apply_endpoints(&mut self, group: EndpointGroup) {
        self.apply_group(GroupKind::Endpoints, group);
    }

    pub fn delete_endpoints(&mut self, key: &ObjectKey) {
        self.delete_group(GroupKind::Endpoints, key);
    }

    pub fn apply_set(&mut self, set: OrdinalSet) {
        if self.sets.get(&set.key) == Some(&set) {
            return;
        }
        // Its own allocations, not the decoded list's (`ObjectKey::rehomed`).
        let set = OrdinalSet {
            key: set.key.rehomed(),
            service_name: Arc::from(&*set.service_name),
            ..set
        };
        self.delete_set(&set.key.clone());
        let service = set.service();
        insert_sorted(
            self.sets_by_service.entry(service.clone()).or_default(),
            set.key.clone(),
        );
        self.dirty.insert(service);
        self.sets.insert(set.key.clone(), set);
    }

    pub fn delete_set(&mut self, key: &ObjectKey) {
        if let Some(old) = self.sets.remove(key) {
            let service = old.service();
            if let Some(sets) = self.sets_by_service.get_mut(&service) {
                remove_sorted(sets, key);
                if sets.is_empty() {
                    self.sets_by_service.remove(&service);
                }
            }
            self.dirty.insert(service);
        }
    }

    /// Replaces every service with `services`; only differences are rebuilt.
    pub fn reset_services(&mut self, services: Vec<Service>) {
        let keep: BTreeSet<ObjectKey> = services.iter().map(|s| s.key.clone()).collect();
        let gone: Vec<ObjectKey> = self
            .services
            .keys()
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.delete_service(&key);
        }
        for service in services {
            self.apply_service(service);
        }
    }

    pub fn reset_slices(&mut self, groups: Vec<EndpointGroup>) {
        self.reset_groups(GroupKind::Slice, groups);
    }

    pub fn reset_endpoints(&mut self, groups: Vec<EndpointGroup>) {
        self.reset_groups(GroupKind::Endpoints, groups);
    }

    pub fn reset_sets(&mut self, sets: Vec<OrdinalSet>) {
        let keep: BTreeSet<ObjectKey> = sets.iter().map(|s| s.key.clone()).collect();
        let gone: Vec<ObjectKey> = self
            .sets
            .keys()
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.delete_set(&key);
        }
        for set in sets {
            self.apply_set(set);
        }
    }

    /// Replaces every kind at once (a manifest reload).
    pub fn reset_all(&mut self, state: ClusterState) {
        self.reset_services(state.services);
        self.reset_slices(state.slices);
        self.reset_endpoints(state.endpoints);
        self.reset_sets(state.sets);
    }

    fn groups(&mut self, kind: GroupKind) -> &mut HashMap<ObjectKey, Group> {
        match kind {
            GroupKind::Slice => &mut self.slices,
            GroupKind::Endpoints => &mut self.endpoints,
        }
    }

    fn apply_group(&mut self, kind: GroupKind, group: EndpointGroup) {
        let key = group.key.clone();
        // Keep only what answers need (`stored.rs`).
        let group = Group::from(group);
        let service = group.service.clone();
        // Unchanged (a relist lists everything again): keep the old
        // allocations, which sit among the zone's, and free the new ones,
        // which sit among the decoded lists'.
        if self.groups(kind).get(&key) == Some(&group) {
            return;
        }
        let key = key.rehomed();
        let old = self.groups(kind).insert(key.clone(), group);
        if let Some(old) = &old
            && old.service != service
        {
            self.unlink_group(kind, &key, &old.service.clone());
        }
        insert_sorted(
            self.groups_by_service.entry(service.clone()).or_default(),
            (kind, key),
        );
        self.dirty.insert(service);
    }

    fn delete_group(&mut self, kind: GroupKind, key: &ObjectKey) {
        if let Some(old) = self.groups(kind).remove(key) {
            self.unlink_group(kind, key, &old.service);
        }
    }

    fn unlink_group(&mut self, kind: GroupKind, key: &ObjectKey, service: &ObjectKey) {
        if let Some(set) = self.groups_by_service.get_mut(service) {
            remove_sorted(set, &(kind, key.clone()));
            if set.is_empty() {
                self.groups_by_service.remove(service);
            }
        }
        self.dirty.insert(service.clone());
    }

    fn reset_groups(&mut self, kind: GroupKind, groups: Vec<EndpointGroup>) {
        let keep: BTreeSet<ObjectKey> = groups.iter().map(|g| g.key.clone()).collect();
        let gone: Vec<ObjectKey> = self
            .groups(kind)
            .keys()
            .filter(|k| !keep.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.delete_group(kind, &key);
        }
        for group in groups {
            self.apply_group(kind, group);
        }
    }

    /// When the next stable-name window closes, so the driver can publish
    /// then and turn that name's NODATA into NXDOMAIN.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Re-renders what changed and returns the new snapshot, or `None` when
    /// nothing did. `now` drives the stable-name window.
    pub fn publish(&mut self, now: Instant) -> Option<Snapshot> {
        // Before the windows below add theirs: what the sources changed.
        let from_sources = self.pending || !self.dirty.is_empty();
        // Services whose stable-name window closed.
        while let Some((at, _)) = self.deadlines.first() {
            if *at > now {
                break;
            }
            if let Some((_, key)) = self.deadlines.pop_first() {
                self.dirty.insert(key);
            }
        }
        if self.dirty.is_empty() && !self.pending {
            return None;
        }
        let mut next = self.snapshot.clone();
        let dirty = std::mem::take(&mut self.dirty);
        let mut changed = self.pending;
        // PTR changes gather, then rebuild each address bucket they touch
        // once; a round ends once it passes PTR_ROUND addresses, so a sync
        // does not hold every address's change at once.
        let mut ptr = PtrEdits::default();
        for key in &dirty {
            changed |= self.render(&mut next, &mut ptr, key, now);
            if ptr.len() >= PTR_ROUND {
                next.ptr.apply(std::mem::take(&mut ptr));
            }
        }
        next.ptr.apply(ptr);
        if changed {
            changed |= self.chase_aliases(&mut next);
        }
        if !changed {
            // Re-rendered, found identical: no new serial.
            return None;
        }
        let serial = crate::serial::next(crate::serial::Publish {
            current: self.snapshot.serial,
            current_synced: self.served,
            version: self.version,
            from_sources,
            wall: wall_serial(),
        });
        if serial != next.serial {
            next.set_serial(serial);
        }
        self.pending = false;
        self.served |= next.synced;
        self.snapshot = next.clone();
        Some(next)
    }

    /// Rebuilds one service's names and PTR records in `next`; returns
    /// whether anything served changed.
    fn render(
        &mut self,
        next: &mut Snapshot,
        ptr: &mut PtrEdits,
        key: &ObjectKey,
        now: Instant,
    ) -> bool {
        let mut changed = false;
        let mut pod_addresses: Vec<IpAddr> = Vec::new();
        let node = match self.services.get(key) {
            Some(service) => {
                let groups: Vec<&Group> = self
                    .groups_by_service
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter_map(|(kind, k)| match kind {
                        GroupKind::Slice => self.slices.get(k),
                        GroupKind::Endpoints => self.endpoints.get(k),
                    })
                    .collect();
                // By rule, never by list: `replicas` is anyone's number.
                let mut declared: Vec<DeclaredOrdinals> = self
                    .sets_by_service
                    .get(key)
                    .into_iter()
                    .flatten()
                    .filter_map(|set| self.sets.get(set))
                    .map(|s| DeclaredOrdinals {
                        set: s.key.name.to_ascii_lowercase().into(),
                        start: s.start,
                        replicas: s.replicas,
                    })
                    .collect();
                declared.sort();
                if !service.is_headless() {
                    // Pods have names under a headless service only.
                    declared.clear();
                }
                if self.settings.pod_records == PodRecords::Verified {
                    pod_addresses = groups
                        .iter()
                        .flat_map(|g| g.members())
                        .flat_map(|e| e.addresses())
                        .collect();
                    pod_addresses.sort();
                    pod_addresses.dedup();
                }
                match &service.kind {
                    ServiceKind::ExternalName(target)
                        if self
                            .settings
                            .absolute_name(target)
                            .is_some_and(|t| self.settings.zone.zone_of(&t)) =>
                    {
                        self.aliases.insert(key.clone());
                    }
                    _ => {
                        self.aliases.remove(key);
                    }
                }
                let hosts = self.hosts.entry(key.clone()).or_default();
                let rendered = render_service(
                    &self.settings,
                    service,
                    &groups,
                    declared,
                    hosts,
                    now,
                    self.grace,
                );
                for gone in hosts.lost_at() {
                    self.deadlines.insert((gone + self.grace, key.clone()));
                }
                Some(rendered)
            }
            None => {
                self.hosts.remove(key);
                self.aliases.remove(key);
                None
            }
        };
        changed |= self.swap_pod_addresses(next, key, pod_addresses);

        // Swap this service's PTR contributions.
        let old_ips = self.ptr_by_service.remove(key).unwrap_or_default();
        let mut mine: BTreeMap<IpAddr, Box<[u8]>> = BTreeMap::new();
        let rendered = match node {
            Some((node, ptrs)) => {
                // `ptrs` is sorted by address and deduplicated: each
                // address's names are adjacent, in order.
                let mut at = 0;
                while at < ptrs.len() {
                    let ip = ptrs[at].0;
                    let mut wire = Vec::new();
                    while at < ptrs.len() && ptrs[at].0 == ip {
                        name_wire(&ptrs[at].1, &mut wire);
                        at += 1;
                    }
                    mine.insert(ip, wire.into_boxed_slice());
                }
                if !mine.is_empty() {
                    self.ptr_by_service
                        .insert(key.clone(), mine.keys().copied().collect());
                }
                node
            }
            None => ServiceNode::default(),
        };
        let touched: BTreeSet<IpAddr> = old_ips.iter().chain(mine.keys().copied()).collect();
        let zone_labels = usize::from(self.settings.zone.num_labels());
        for ip in touched {
            // The other services' names at this address, with ours (if
            // any) in their place.
            let old = ptr.get(&next.ptr, &ip);
            let ours = mine.remove(&ip);
            let rrset = ptr_merge(old, key, ours.as_deref(), zone_labels, self.settings.ttl);
            if old.map_or(rrset.is_empty(), |old| old == rrset.view()) {
                continue;
            }
            changed = true;
            next.record_count = next.record_count - old.map_or(0, |o| o.len()) + rrset.len();
            ptr.set(ip, rrset);
        }

        // Swap the service node.
        let old = next.service(&key.namespace, &key.name);
        if old.map_or(rendered.is_empty(), |old| **old == rendered) {
            return changed;
        }
        let old_count = old.map_or(0, |n| n.record_count());
        let new_count = rendered.record_count();
        next.record_count = next.record_count - old_count + new_count;
        let namespace = next.namespaces.entry(key.namespace.clone()).or_default();
        if rendered.is_empty() {
            namespace.services.remove(&*key.name);
            if namespace.services.is_empty() && namespace.pod_addresses.is_empty() {
                next.namespaces.remove(&*key.namespace);
            }
        } else {
            namespace
                .services
                .insert(key.name.clone(), Arc::new(rendered));
        }
        true
    }
}

/// Inserts `item` into the sorted `list` unless it is there; no spare
/// capacity is kept.
fn insert_sorted<T: Ord>(list: &mut Vec<T>, item: T) {
    if let Err(at) = list.binary_search(&item) {
        list.insert(at, item);
        list.shrink_to_fit();
    }
}

/// Removes `item` from the sorted `list`.
fn remove_sorted<T: Ord>(list: &mut Vec<T>, item: &T) {
    if let Ok(at) = list.binary_search(item) {
        list.remove(at);
        list.shrink_to_fit();
    }
}

/// Seconds since the epoch, the usual start for a serial that must not go
/// backwards across restarts.
fn wall_serial() -> u32 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(1, |d| d.as_secs() as u32)
}
