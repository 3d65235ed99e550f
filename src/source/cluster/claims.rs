//! Claims meet volumes: binding a new claim to a provisioned volume (or
//! leaving it Pending with an event), releasing or deleting the volume when
//! the claim goes, and listing volumes and classes as the API serves them.
//! The volume store and the provisioner's constants are `volumes.rs`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::spec::now_time;
use super::volumes::{DEFAULT_CLASS, PROVISIONER, uid};
use super::{ApiError, Cluster, Key};

impl Cluster {
    /// Binds a new claim: the default class if it names none, then a new
    /// volume of its class, or Pending with an event if the class is
    /// unknown.
    pub(super) fn bind_claim(&mut self, claim: &mut core::PersistentVolumeClaim) {
        let namespace = claim.metadata.namespace.clone().unwrap_or_default();
        let name = claim.metadata.name.clone().unwrap_or_default();
        self.volumes.seq += 1;
        let claim_uid = uid(&format!("pvc/{namespace}/{name}/{}", self.volumes.seq));
        claim.metadata.uid = Some(claim_uid.clone());
        claim
            .metadata
            .finalizers
            .get_or_insert_with(|| vec!["kubernetes.io/pvc-protection".to_owned()]);
        let spec = claim.spec.get_or_insert_with(Default::default);
        let class = spec
            .storage_class_name
            .get_or_insert_with(|| DEFAULT_CLASS.to_owned())
            .clone();
        spec.volume_mode
            .get_or_insert_with(|| "Filesystem".to_owned());
        let Some(storage_class) = self.volumes.classes.get(&class).cloned() else {
            spec.volume_name = None;
            claim.status = Some(core::PersistentVolumeClaimStatus {
                phase: Some("Pending".to_owned()),
                ..Default::default()
            });
            self.event(
                ("PersistentVolumeClaim", &namespace, &name),
                "Warning",
                "ProvisioningFailed",
                format!("storageclass.storage.k8s.io \"{class}\" not found"),
            );
            return;
        };
        let volume_name = format!("pvc-{claim_uid}");
        spec.volume_name = Some(volume_name.clone());
        let access_modes = spec.access_modes.clone();
        let capacity = spec.resources.as_ref().and_then(|r| r.requests.clone());
        let volume_mode = spec.volume_mode.clone();
        let annotations = claim.metadata.annotations.get_or_insert_with(BTreeMap::new);
        for (k, v) in [
            ("pv.kubernetes.io/bind-completed", "yes"),
            ("pv.kubernetes.io/bound-by-controller", "yes"),
            ("volume.beta.kubernetes.io/storage-provisioner", PROVISIONER),
            ("volume.kubernetes.io/storage-provisioner", PROVISIONER),
        ] {
            annotations.insert(k.to_owned(), v.to_owned());
        }
        claim.status = Some(core::PersistentVolumeClaimStatus {
            phase: Some("Bound".to_owned()),
            access_modes: access_modes.clone(),
            capacity: capacity.clone(),
            ..Default::default()
        });
        let mut pv_annotations = BTreeMap::new();
        pv_annotations.insert(
            "pv.kubernetes.io/provisioned-by".to_owned(),
            PROVISIONER.to_owned(),
        );
        let volume = core::PersistentVolume {
            metadata: ObjectMeta {
                name: Some(volume_name.clone()),
                annotations: Some(pv_annotations),
                creation_timestamp: Some(now_time()),
                finalizers: Some(vec!["kubernetes.io/pv-protection".to_owned()]),
                ..ObjectMeta::default()
            },
            spec: Some(core::PersistentVolumeSpec {
                access_modes,
                capacity,
                claim_ref: Some(core::ObjectReference {
                    api_version: Some("v1".to_owned()),
                    kind: Some("PersistentVolumeClaim".to_owned()),
                    name: Some(name.clone()),
                    namespace: Some(namespace.clone()),
                    uid: Some(claim_uid),
                    ..Default::default()
                }),
                host_path: Some(core::HostPathVolumeSource {
                    path: format!("/var/lib/headless-dns/volumes/{volume_name}"),
                    type_: Some("DirectoryOrCreate".to_owned()),
                }),
                persistent_volume_reclaim_policy: storage_class.reclaim_policy.clone(),
                storage_class_name: Some(class),
                volume_mode,
                ..Default::default()
            }),
            status: Some(core::PersistentVolumeStatus {
                phase: Some("Bound".to_owned()),
                ..Default::default()
            }),
        };
        self.volumes.volumes.insert(volume_name.clone(), volume);
        self.event(
            ("PersistentVolumeClaim", &namespace, &name),
            "Normal",
            "ProvisioningSucceeded",
            format!("Successfully provisioned volume {volume_name}"),
        );
    }

    /// Removes a claim; its volume is deleted or released per its
    /// reclaim policy.
    pub(super) fn remove_claim(&mut self, key: &Key) -> Option<core::PersistentVolumeClaim> {
        let claim = self.claims.remove(key)?;
        let volume = claim.spec.as_ref().and_then(|s| s.volume_name.clone());
        if let Some(volume) = volume
            && let Some(pv) = self.volumes.volumes.get_mut(&volume)
        {
            let policy = pv
                .spec
                .as_ref()
                .and_then(|s| s.persistent_volume_reclaim_policy.clone());
            if policy.as_deref() == Some("Retain") {
                pv.status = Some(core::PersistentVolumeStatus {
                    phase: Some("Released".to_owned()),
                    ..Default::default()
                });
            } else {
                self.volumes.volumes.remove(&volume);
            }
        }
        Some(claim)
    }

    /// Removes every claim `which` picks.
    pub(super) fn remove_claims(&mut self, which: impl Fn(&Key) -> bool) {
        let keys: Vec<Key> = self.claims.keys().filter(|k| which(k)).cloned().collect();
        for key in keys {
            self.remove_claim(&key);
        }
    }

    pub(super) fn volume_objects(&self) -> Vec<Value> {
        self.volumes
            .volumes
            .values()
            .filter_map(|v| serde_json::to_value(v).ok())
            .collect()
    }

    pub(super) fn class_objects(&self) -> Vec<Value> {
        self.volumes
            .classes
            .values()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect()
    }

    /// Deletes a volume (`ctl delete pv`); a bound claim then points at
    /// nothing, and is `Lost`, as in Kubernetes.
    pub(super) fn delete_volume(&mut self, name: &str) -> Result<Value, ApiError> {
        let pv = self
            .volumes
            .volumes
            .remove(name)
            .ok_or_else(|| ApiError::not_found("persistentvolumes", name))?;
        for claim in self.claims.values_mut() {
            if claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()) == Some(name) {
                claim.status.get_or_insert_with(Default::default).phase = Some("Lost".to_owned());
            }
        }
        serde_json::to_value(pv).map_err(|e| ApiError::bad_request(e.to_string()))
    }

    /// Applies a JSON merge patch to a volume (`ctl patch pv`), e.g. to
    /// set its reclaim policy.
    pub fn patch_volume(&mut self, name: &str, patch: &Value) -> Result<Value, ApiError> {
        let pv = self
            .volumes
            .volumes
            .get(name)
            .ok_or_else(|| ApiError::not_found("persistentvolumes", name))?;
        let mut doc = serde_json::to_value(pv).map_err(|e| ApiError::bad_request(e.to_string()))?;
        json_patch::merge(&mut doc, patch);
        let mut patched: core::PersistentVolume =
            serde_path_to_error::deserialize(doc).map_err(|e| {
                ApiError::invalid(format!(
                    "PersistentVolume \"{name}\" is invalid: {}: {}",
                    e.path(),
                    e.inner()
                ))
            })?;
        patched.metadata.name = Some(name.to_owned());
        let policy = patched
            .spec
            .as_ref()
            .and_then(|s| s.persistent_volume_reclaim_policy.as_deref());
        if !matches!(policy, Some("Retain" | "Delete" | "Recycle")) {
            return Err(ApiError::invalid(format!(
                "PersistentVolume \"{name}\" is invalid: spec.persistentVolumeReclaimPolicy: Unsupported value: {policy:?}: supported values: \"Delete\", \"Recycle\", \"Retain\""
            )));
        }
        self.volumes
            .volumes
            .insert(name.to_owned(), patched.clone());
        serde_json::to_value(patched).map_err(|e| ApiError::bad_request(e.to_string()))
    }
}
