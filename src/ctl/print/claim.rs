//! The table of PersistentVolumeClaims (`printPersistentVolumeClaim`).

use super::*;

impl Printable for PersistentVolumeClaim {
    fn columns(wide: bool) -> &'static [&'static str] {
        if wide {
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
                "VOLUMEMODE",
            ]
        } else {
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
            ]
        }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let phase = if self.metadata.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.phase.clone().unwrap_or_default()
        };
        let volume = spec.volume_name.clone().unwrap_or_default();
        let (capacity, access_modes) = if volume.is_empty() {
            (String::new(), String::new())
        } else {
            (
                status
                    .capacity
                    .as_ref()
                    .and_then(|c| c.get("storage"))
                    .map(|q| q.0.clone())
                    .unwrap_or_default(),
                access_modes_string(status.access_modes.as_deref().unwrap_or_default()),
            )
        };
        // `GetPersistentVolumeClaimClass`: the beta annotation wins.
        let class = self
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
            .or_else(|| spec.storage_class_name.clone())
            .unwrap_or_default();
        let mut cells = vec![
            name_of(&self.metadata),
            phase,
            volume,
            capacity,
            access_modes,
            class,
            spec.volume_attributes_class_name
                .clone()
                .unwrap_or_else(|| "<unset>".into()),
            age(&self.metadata, now),
        ];
        if wide {
            cells.push(spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into()));
        }
        cells
    }
}
