//! Orphaning and adoption, as the garbage collector and the StatefulSet
//! controller do them: `delete statefulset --cascade=orphan` removes the
//! set but leaves its pods running, without owner; a set created later
//! with a selector that matches them, and whose name they carry
//! (`<set>-<ordinal>`), adopts them instead of making new ones.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::Value;

use super::{ApiError, Cluster, Key, Resource, selects, to_json};

impl Cluster {
    /// Deletes a StatefulSet and orphans its pods (and claims).
    pub fn delete_set_orphaning(&mut self, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        let entry = self
            .sets
            .remove(&key)
            .ok_or_else(|| ApiError::not_found("statefulsets.apps", name))?;
        for (pod_key, pod) in &mut self.pods {
            if pod_key.0 == namespace && pod.set.as_deref() == Some(name) {
                pod.set = None;
                pod.pod.metadata.owner_references = None;
            }
        }
        to_json(entry.sts)
    }

    /// Gives the set at `key` the ownerless pods it selects whose names
    /// are its ordinals.
    pub(super) fn adopt_orphans(&mut self, key: &Key) {
        let Some(entry) = self.sets.get(key) else {
            return;
        };
        let selector = entry
            .sts
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .unwrap_or_default();
        let uid = entry.sts.metadata.uid.clone().unwrap_or_default();
        let prefix = format!("{}-", key.1);
        for (pod_key, pod) in &mut self.pods {
            if pod_key.0 != key.0 || pod.set.is_some() || pod.deleting.is_some() {
                continue;
            }
            let Some(ordinal) = pod_key
                .1
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if !selects(&selector, pod.pod.metadata.labels.as_ref()) {
                continue;
            }
            pod.set = Some(key.1.clone());
            pod.ordinal = Some(ordinal);
            pod.pod.metadata.owner_references = Some(vec![OwnerReference {
                api_version: Resource::StatefulSets.api_version().to_owned(),
                kind: Resource::StatefulSets.kind().to_owned(),
                name: key.1.clone(),
                uid: uid.clone(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]);
        }
    }
}
