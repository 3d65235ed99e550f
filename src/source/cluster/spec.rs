//! The pure readings of stored objects that the cluster's rooms share: a
//! StatefulSet as the reconcile core's [`SetSpec`], label selection, the
//! revision name of a pod template, and the stable hash and clock stamps
//! that names and metadata use. Nothing here holds state.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::controller::{self, SetSpec};

/// The revision name of a pod template: `<set>-<hash>`, as
/// `controller-revision-hash` labels show it.
pub fn revision_name(set: &str, template: &core::PodTemplateSpec) -> String {
    let text = serde_json::to_string(template).unwrap_or_default();
    format!("{set}-{:010x}", fnv(&text) & 0xff_ffff_ffff)
}
/// Whether `labels` has every pair of `selector`.
pub fn selects(
    selector: &BTreeMap<String, String>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    !selector.is_empty()
        && labels.is_some_and(|labels| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
}
/// The SetSpec the controller works on, from a StatefulSet.
pub fn set_spec(sts: &apps::StatefulSet) -> SetSpec {
    let spec = sts.spec.clone().unwrap_or_default();
    let name = sts.metadata.name.clone().unwrap_or_default();
    let update_revision = revision_name(&name, &spec.template);
    let status = sts.status.clone().unwrap_or_default();
    let strategy = spec.update_strategy.unwrap_or_default();
    let update_strategy = if strategy.type_.as_deref() == Some("OnDelete") {
        controller::UpdateStrategy::OnDelete
    } else {
        let rolling = strategy.rolling_update.unwrap_or_default();
        let max_unavailable = match rolling.max_unavailable {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                n.max(1) as u32
            }
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(p)) => {
                let replicas = u64::from(spec.replicas.unwrap_or(1).max(0) as u32);
                let percent: u64 = p.trim_end_matches('%').parse().unwrap_or(0);
                u32::try_from(replicas.saturating_mul(percent) / 100)
                    .unwrap_or(u32::MAX)
                    .max(1)
            }
            None => 1,
        };
        controller::UpdateStrategy::RollingUpdate {
            partition: rolling.partition.unwrap_or(0).max(0) as u32,
            max_unavailable,
        }
    };
    let retention = spec
        .persistent_volume_claim_retention_policy
        .unwrap_or_default();
    SetSpec {
        replicas: spec.replicas.unwrap_or(1).max(0) as u32,
        start: spec.ordinals.and_then(|o| o.start).unwrap_or(0).max(0) as u32,
        pod_management: if spec.pod_management_policy.as_deref() == Some("Parallel") {
            controller::PodManagement::Parallel
        } else {
            controller::PodManagement::OrderedReady
        },
        update_strategy,
        claim_templates: spec
            .volume_claim_templates
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.metadata.name.clone())
            .collect(),
        when_scaled: if retention.when_scaled.as_deref() == Some("Delete") {
            controller::Retention::Delete
        } else {
            controller::Retention::Retain
        },
        current_revision: status
            .current_revision
            .unwrap_or_else(|| update_revision.clone()),
        update_revision,
        name,
    }
}
pub fn first_container(pod: &core::Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .map(|c| c.name.clone())
        .unwrap_or_default()
}

/// Now, as a metadata timestamp (whole seconds, as the API server writes).
pub fn now_time() -> Time {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = i64::try_from(since.as_secs()).unwrap_or(0);
    Time(Timestamp::new(secs, 0).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// A stable short hash (FNV-1a, 64 bit) of some text: revision names and
/// slice names must not change between runs.
pub fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
