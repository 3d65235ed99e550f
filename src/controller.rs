//! The ordinal controller's reconcile core: StatefulSet semantics as a pure
//! function.
//!
//! (set spec, observed pods, observed claims) → the next actions. No clock,
//! no IO, no Kubernetes types: the embedded cluster (`source/cluster.rs`)
//! converts its objects into [`SetSpec`] and [`PodView`], calls
//! [`reconcile`], carries the actions out and calls again; the rules follow
//! the Kubernetes StatefulSet controller (`stateful_set_control.go`):
//!
//! - replicas are ordinals `start .. start+replicas`; pods outside are
//!   condemned;
//! - `OrderedReady`: one pod created at a time, lowest ordinal first, each
//!   after every lower ordinal is Running and Ready; condemned pods deleted
//!   highest first, one at a time, each after the previous has gone;
//!   `Parallel`: no waiting;
//! - a Failed pod is deleted so that it is created again;
//! - `RollingUpdate`: pods at index ≥ `partition` whose revision is not the
//!   update revision are deleted highest first, at most `maxUnavailable` at
//!   a time, each wave waiting for Ready; `OnDelete`: never deleted for an
//!   update, but recreated pods take the update revision;
//! - claims `<template>-<set>-<ordinal>` are created before their pod and
//!   kept, unless `persistentVolumeClaimRetentionPolicy.whenScaled: Delete`
//!   removes those of condemned ordinals once their pod is gone.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodManagement {
    OrderedReady,
    Parallel,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateStrategy {
    RollingUpdate {
        /// Pods at index below this keep the current revision.
        partition: u32,
        /// How many pods may be unavailable during an update (≥ 1).
        max_unavailable: u32,
    },
    OnDelete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    Retain,
    Delete,
}

/// What the controller needs of a StatefulSet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetSpec {
    pub name: String,
    pub replicas: u32,
    /// `spec.ordinals.start`.
    pub start: u32,
    pub pod_management: PodManagement,
    pub update_strategy: UpdateStrategy,
    /// `volumeClaimTemplates[].metadata.name`.
    pub claim_templates: Vec<String>,
    /// `persistentVolumeClaimRetentionPolicy.whenScaled`.
    pub when_scaled: Retention,
    /// The revision pods below the partition keep.
    pub current_revision: String,
    /// The revision of the set's template now.
    pub update_revision: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// An observed pod of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodView {
    pub ordinal: u32,
    pub revision: String,
    pub phase: Phase,
    pub ready: bool,
    /// Deletion requested (deletionTimestamp set), not yet gone.
    pub terminating: bool,
}

impl PodView {
    /// Running, Ready and not on its way out.
    pub fn healthy(&self) -> bool {
        self.phase == Phase::Running && self.ready && !self.terminating
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// Its ordinal is no longer declared.
    ScaleDown,
    /// Its revision is not the update revision.
    Update,
    /// Its phase is Failed (or Succeeded): it is replaced.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    CreateClaim {
        ordinal: u32,
        name: String,
    },
    CreatePod {
        ordinal: u32,
        revision: String,
    },
    DeletePod {
        ordinal: u32,
        reason: DeleteReason,
    },
    DeleteClaim {
        ordinal: u32,
        name: String,
    },
    /// The pod at `ordinal` is due but the cluster has no room for another
    /// pod (its pod cap): nothing is created, and the cluster says so with
    /// an event, as a real cluster refuses a pod over its quota.
    NoCapacity {
        ordinal: u32,
    },
}

/// The set's status, as `status` of a StatefulSet reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetStatus {
    pub replicas: u32,
    pub ready_replicas: u32,
    pub current_replicas: u32,
    pub updated_replicas: u32,
    pub current_revision: String,
    pub update_revision: String,
}

/// `<set>-<ordinal>`.
pub fn pod_name(set: &str, ordinal: u32) -> String {
    format!("{set}-{ordinal}")
}

/// `<template>-<set>-<ordinal>`.
pub fn claim_name(template: &str, set: &str, ordinal: u32) -> String {
    format!("{template}-{set}-{ordinal}")
}

impl SetSpec {
    fn declared(&self, ordinal: u32) -> bool {
        ordinal >= self.start && ordinal - self.start < self.replicas
    }

    /// The revision a pod created now at `ordinal` gets.
    fn revision_for(&self, ordinal: u32) -> &str {
        match self.update_strategy {
            UpdateStrategy::RollingUpdate { partition, .. } if ordinal - self.start < partition => {
                &self.current_revision
            }
            _ => &self.update_revision,
        }
    }
}

/// The next actions for `spec`, given its pods, the claim names that exist
/// and how many more pods the cluster has room for (`capacity`). Calling
/// again after carrying them out makes progress; an empty answer means
/// "wait" (for a pod to become Ready or to go, or for room) or "done".
///
/// The work is bounded by the pods observed and `capacity`, never by
/// `spec.replicas`: a set may declare 2^31-1 replicas.
pub fn reconcile(
    spec: &SetSpec,
    pods: &[PodView],
    claims: &BTreeSet<String>,
    capacity: usize,
) -> Vec<Action> {
    let monotonic = spec.pod_management == PodManagement::OrderedReady;
    let by_ordinal: BTreeMap<u32, &PodView> = pods.iter().map(|p| (p.ordinal, p)).collect();
    let highest_observed = by_ordinal.keys().next_back().copied();
    let mut room = capacity;
    let mut actions = Vec::new();
    let ensure_claims = |ordinal: u32, actions: &mut Vec<Action>| {
        for template in &spec.claim_templates {
            let name = claim_name(template, &spec.name, ordinal);
            if !claims.contains(&name) {
                actions.push(Action::CreateClaim { ordinal, name });
            }
        }
    };

    // 1. Declared ordinals, lowest first: create what is missing, replace
    //    what failed; under OrderedReady stop at the first pod not healthy.
    for index in 0..spec.replicas {
        let Some(ordinal) = spec.start.checked_add(index) else {
            break;
        };
        match by_ordinal.get(&ordinal) {
            None if room == 0 => {
                if !actions
                    .iter()
                    .any(|a| matches!(a, Action::NoCapacity { .. }))
                {
                    actions.push(Action::NoCapacity { ordinal });
                }
                // Past every observed pod only creations are left, and
                // there is no room for them.
                if monotonic || highest_observed.is_none_or(|h| ordinal > h) {
                    break;
                }
            }
            None => {
                room -= 1;
                ensure_claims(ordinal, &mut actions);
                actions.push(Action::CreatePod {
                    ordinal,
                    revision: spec.revision_for(ordinal).to_owned(),
                });
                if monotonic {
                    return actions;
                }
            }
            Some(pod)
                if matches!(pod.phase, Phase::Failed | Phase::Succeeded) && !pod.terminating =>
            {
                actions.push(Action::DeletePod {
                    ordinal,
                    reason: DeleteReason::Failed,
                });
                if monotonic {
                    return actions;
                }
            }
            Some(pod) => {
                ensure_claims(ordinal, &mut actions);
                if monotonic && !pod.healthy() {
                    return actions;
                }
            }
        }
    }

    // 2. Condemned pods, highest first.
    let condemned: Vec<&PodView> = by_ordinal
        .values()
        .rev()
        .copied()
        .filter(|p| !spec.declared(p.ordinal))
        .collect();
    for pod in &condemned {
        if pod.terminating {
            if monotonic {
                return actions;
            }
            continue;
        }
        // Under OrderedReady, an unhealthy pod elsewhere blocks scale-down
        // (the upstream controller waits for it too).
        if monotonic
            && by_ordinal
                .values()
                .any(|p| p.ordinal != pod.ordinal && !p.healthy())
        {
            return actions;
        }
        actions.push(Action::DeletePod {
            ordinal: pod.ordinal,
            reason: DeleteReason::ScaleDown,
        });
        if monotonic {
            return actions;
        }
    }
    if spec.when_scaled == Retention::Delete {
        for claim in claims {
            for template in &spec.claim_templates {
                let prefix = format!("{template}-{}-", spec.name);
                let Some(ordinal) = claim
                    .strip_prefix(&prefix)
                    .and_then(|o| o.parse::<u32>().ok())
                else {
                    continue;
                };
                if !spec.declared(ordinal) && !by_ordinal.contains_key(&ordinal) {
                    actions.push(Action::DeleteClaim {
                        ordinal,
                        name: claim.clone(),
                    });
                }
            }
        }
    }

    // 3. Rolling update, highest index first down to the partition.
    let UpdateStrategy::RollingUpdate {
        partition,
        max_unavailable,
    } = spec.update_strategy
    else {
        return actions;
    };
    if !condemned.is_empty()
        || actions
            .iter()
            .any(|a| matches!(a, Action::CreatePod { .. }))
    {
        // Finish scaling first.
        return actions;
    }
    let max_unavailable = max_unavailable.max(1);
    let mut unavailable = by_ordinal
        .values()
        .filter(|p| spec.declared(p.ordinal) && !p.healthy())
        .count() as u32;
    for index in (partition.min(spec.replicas)..spec.replicas).rev() {
        let ordinal = spec.start + index;
        let Some(pod) = by_ordinal.get(&ordinal) else {
            return actions;
        };
        if pod.revision != spec.update_revision && !pod.terminating {
            if pod.healthy() {
                if unavailable >= max_unavailable {
                    return actions;
                }
                unavailable += 1;
            }
            actions.push(Action::DeletePod {
                ordinal,
                reason: DeleteReason::Update,
            });
            if max_unavailable == 1 {
                return actions;
            }
            continue;
        }
        if !pod.healthy() && max_unavailable == 1 {
            return actions;
        }
    }
    actions
}

/// The status the set reports for these pods. `current_revision` advances
/// to the update revision once a rolling update has replaced every pod.
pub fn status(spec: &SetSpec, pods: &[PodView]) -> SetStatus {
    let mut status = SetStatus {
        current_revision: spec.current_revision.clone(),
        update_revision: spec.update_revision.clone(),
        ..SetStatus::default()
    };
    for pod in pods {
        status.replicas += 1;
        if pod.healthy() {
            status.ready_replicas += 1;
        }
        if !pod.terminating {
            if pod.revision == spec.current_revision {
                status.current_replicas += 1;
            }
            if pod.revision == spec.update_revision {
                status.updated_replicas += 1;
            }
        }
    }
    let rolling = matches!(spec.update_strategy, UpdateStrategy::RollingUpdate { .. });
    if rolling
        && status.updated_replicas == spec.replicas
        && status.ready_replicas == spec.replicas
        && status.replicas == spec.replicas
    {
        status.current_revision = spec.update_revision.clone();
        status.current_replicas = status.updated_replicas;
    }
    status
}

#[cfg(test)]
mod tests;
