//! PersistentVolumes and their simulated provisioner.
//!
//! The cluster has one StorageClass, `standard`, marked default, with
//! `reclaimPolicy: Delete` and immediate binding. A claim that names no
//! class gets `standard` (the DefaultStorageClass admission plugin); a
//! claim of a known class is bound at once to a new volume `pvc-<claim
//! uid>` with the capacity and access modes it asked for; a claim of an
//! unknown class stays Pending with a `ProvisioningFailed` event. When a
//! claim goes, its volume is deleted (`Delete`) or kept `Released` with its
//! claim reference (`Retain`), as the PV controller does. Claims enter
//! through `Cluster::bind_claim` and leave through
//! `Cluster::remove_claim` (`claims.rs`); volumes and classes are listed as
//! `v1 PersistentVolume` and `storage.k8s.io/v1 StorageClass`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::storage::v1 as storage;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::spec::{fnv, now_time};

/// The default class's name, as kind and minikube call theirs.
pub const DEFAULT_CLASS: &str = "standard";
/// What provisions the simulated volumes.
pub const PROVISIONER: &str = "headless-dns.io/simulated";

/// The volumes and classes of the cluster.
#[derive(Debug)]
pub(super) struct Volumes {
    pub(super) volumes: BTreeMap<String, core::PersistentVolume>,
    pub(super) classes: BTreeMap<String, storage::StorageClass>,
    /// Makes every claim uid different, even for a claim recreated under
    /// the same name.
    pub(super) seq: u64,
}

impl Default for Volumes {
    fn default() -> Self {
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "storageclass.kubernetes.io/is-default-class".to_owned(),
            "true".to_owned(),
        );
        let standard = storage::StorageClass {
            metadata: ObjectMeta {
                name: Some(DEFAULT_CLASS.to_owned()),
                annotations: Some(annotations),
                creation_timestamp: Some(now_time()),
                ..ObjectMeta::default()
            },
            provisioner: PROVISIONER.to_owned(),
            reclaim_policy: Some("Delete".to_owned()),
            volume_binding_mode: Some("Immediate".to_owned()),
            allow_volume_expansion: Some(false),
            ..Default::default()
        };
        let mut classes = BTreeMap::new();
        classes.insert(DEFAULT_CLASS.to_owned(), standard);
        Self {
            volumes: BTreeMap::new(),
            classes,
            seq: 0,
        }
    }
}

/// A uid in the form Kubernetes writes them (8-4-4-4-12 hex digits).
pub(super) fn uid(seed: &str) -> String {
    let a = fnv(seed);
    let b = fnv(&format!("{seed}/b"));
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
