//! What one service's render changes beyond its own names: the namespace's
//! verified pod addresses, reference-counted because two services may
//! select one pod, and the in-zone chase of ExternalName aliases, which
//! follows its target wherever that was re-rendered. Methods of
//! [`ClusterIndex`], called by its publish.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::rr::RecordType;

use super::ClusterIndex;
use crate::model::ObjectKey;
use crate::snapshot::{Rrset, Snapshot};

impl ClusterIndex {
    /// Swaps one service's contribution to its namespace's endpoint
    /// addresses (verified pod records); returns whether the served set
    /// changed. Reference counts: two services may select one pod.
    pub(super) fn swap_pod_addresses(
        &mut self,
        next: &mut Snapshot,
        key: &ObjectKey,
        new: Vec<IpAddr>,
    ) -> bool {
        let old = self
            .pod_addresses_by_service
            .remove(key)
            .unwrap_or_default();
        if old == new {
            if !new.is_empty() {
                self.pod_addresses_by_service.insert(key.clone(), new);
            }
            return false;
        }
        let namespace = next.namespaces.entry(key.namespace.clone()).or_default();
        for ip in &old {
            let refs = (key.namespace.clone(), *ip);
            if let Some(count) = self.pod_address_refs.get_mut(&refs) {
                *count -= 1;
                if *count == 0 {
                    self.pod_address_refs.remove(&refs);
                    namespace.pod_addresses.remove(ip);
                }
            }
        }
        for ip in &new {
            let count = self
                .pod_address_refs
                .entry((key.namespace.clone(), *ip))
                .or_insert(0);
            *count += 1;
            if *count == 1 {
                namespace.pod_addresses.insert(*ip);
            }
        }
        if namespace.services.is_empty() && namespace.pod_addresses.is_empty() {
            next.namespaces.remove(&*key.namespace);
        }
        if !new.is_empty() {
            self.pod_addresses_by_service.insert(key.clone(), new);
        }
        true
    }

    /// Re-renders the in-zone chase of every ExternalName service whose
    /// target lies in the zone, against `next` as it now stands (a target
    /// may have changed in this publish); returns whether any changed.
    pub(super) fn chase_aliases(&mut self, next: &mut Snapshot) -> bool {
        let mut changed = false;
        for key in &self.aliases {
            let Some(service) = next.service(&key.namespace, &key.name) else {
                continue;
            };
            let Some(alias) = service.names.get("").and_then(|n| n.alias) else {
                continue;
            };
            let (Some(owner), Some(target)) = (
                alias.cname.records.first().map(|r| r.name.clone()),
                alias.target().cloned(),
            ) else {
                continue;
            };
            let chase_a = next.chase(&owner, &target, RecordType::A);
            let chase_aaaa = next.chase(&owner, &target, RecordType::AAAA);
            if alias.chase_a.records == chase_a && alias.chase_aaaa.records == chase_aaaa {
                continue;
            }
            let mut updated = (**service).clone();
            if let Some(alias) = updated.names.alias_mut("") {
                alias.chase_a = Rrset::extra(chase_a);
                alias.chase_aaaa = Rrset::extra(chase_aaaa);
            }
            if let Some(namespace) = next.namespaces.get_mut(&*key.namespace) {
                namespace
                    .services
                    .insert(key.name.clone(), Arc::new(updated));
                changed = true;
            }
        }
        changed
    }
}
