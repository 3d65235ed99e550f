//! The tables of PersistentVolumes (`printPersistentVolume`) and
//! StorageClasses (`printStorageClass`).

use k8s_openapi::api::core::v1::PersistentVolume;
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::jiff::Timestamp;

use super::{Printable, access_modes_string, age, name_of};

impl Printable for PersistentVolume {
    fn columns(wide: bool) -> &'static [&'static str] {
        const NARROW: &[&str] = &[
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE",
        ];
        const WIDE: &[&str] = &[
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE",
            "VOLUMEMODE",
        ];
        if wide { WIDE } else { NARROW }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let claim = spec
            .claim_ref
            .as_ref()
            .map(|c| {
                format!(
                    "{}/{}",
                    c.namespace.as_deref().unwrap_or(""),
                    c.name.as_deref().unwrap_or("")
                )
            })
            .unwrap_or_default();
        let phase = if self.metadata.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.phase.clone().unwrap_or_default()
        };
        // `GetPersistentVolumeClass`: the beta annotation wins.
        let class = self
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
            .or(spec.storage_class_name.clone())
            .unwrap_or_default();
        let mut cells = vec![
            name_of(&self.metadata),
            spec.capacity
                .as_ref()
                .and_then(|c| c.get("storage"))
                .map(|q| q.0.clone())
                .unwrap_or_else(|| "0".into()),
            access_modes_string(spec.access_modes.as_deref().unwrap_or_default()),
            spec.persistent_volume_reclaim_policy
                .clone()
                .unwrap_or_default(),
            phase,
            claim,
            class,
            spec.volume_attributes_class_name
                .clone()
                .unwrap_or_else(|| "<unset>".into()),
            status.reason.clone().unwrap_or_default(),
            age(&self.metadata, now),
        ];
        if wide {
            cells.push(spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into()));
        }
        cells
    }
}

impl Printable for StorageClass {
    fn columns(_wide: bool) -> &'static [&'static str] {
        &[
            "NAME",
            "PROVISIONER",
            "RECLAIMPOLICY",
            "VOLUMEBINDINGMODE",
            "ALLOWVOLUMEEXPANSION",
            "AGE",
        ]
    }

    fn cells(&self, _wide: bool, now: Timestamp) -> Vec<String> {
        let default = self.metadata.annotations.as_ref().is_some_and(|a| {
            a.get("storageclass.kubernetes.io/is-default-class")
                .or_else(|| a.get("storageclass.beta.kubernetes.io/is-default-class"))
                .is_some_and(|v| v == "true")
        });
        let name = if default {
            format!("{} (default)", name_of(&self.metadata))
        } else {
            name_of(&self.metadata)
        };
        vec![
            name,
            self.provisioner.clone(),
            self.reclaim_policy
                .clone()
                .unwrap_or_else(|| "Delete".into()),
            self.volume_binding_mode
                .clone()
                .unwrap_or_else(|| "Immediate".into()),
            self.allow_volume_expansion.unwrap_or(false).to_string(),
            age(&self.metadata, now),
        ]
    }
}
