//! ControllerRevisions, as the StatefulSet controller keeps them: one per
//! pod template a set has had, named `<set>-<hash>`, numbered in the order
//! the templates were last used, pruned to `revisionHistoryLimit`.
//!
//! A set's [`History`] is recorded by `apply_set` (every template it is
//! given), read by pod creation (the template of a pod's revision), pruned
//! by the status update (revisions that are current, updating or worn by a
//! pod are never pruned), and served as `apps/v1` ControllerRevision
//! objects by [`Cluster::revision_objects`]. Rolling back to a template the
//! set had before reuses its revision and gives it the next number, as
//! Kubernetes does.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::Value;

use super::Resource;
use super::spec::now_time;

/// The history the API server keeps when the set does not say.
pub const DEFAULT_HISTORY_LIMIT: usize = 10;

/// One revision of a set's pod template.
#[derive(Clone, Debug)]
pub(super) struct Revision {
    /// `<set>-<hash>`, the pods' `controller-revision-hash` label.
    pub name: String,
    /// Grows each time a template is (re)used.
    pub number: i64,
    pub template: core::PodTemplateSpec,
    pub created: Time,
}

/// A set's revisions, oldest number first.
#[derive(Clone, Debug, Default)]
pub(super) struct History {
    revisions: Vec<Revision>,
}

impl History {
    /// The template of revision `name`.
    pub fn get(&self, name: &str) -> Option<&core::PodTemplateSpec> {
        self.revisions
            .iter()
            .find(|r| r.name == name)
            .map(|r| &r.template)
    }

    /// Records that the set's template is now `template` (revision
    /// `name`): a new revision with the next number, or, for a template the
    /// set had before, that revision renumbered to the next number. The
    /// latest revision recorded again keeps its number.
    pub fn record(&mut self, name: String, template: core::PodTemplateSpec) {
        let latest = self.revisions.last().map_or(0, |r| r.number);
        if self.revisions.last().is_some_and(|r| r.name == name) {
            return;
        }
        match self.revisions.iter().position(|r| r.name == name) {
            Some(i) => {
                let mut revision = self.revisions.remove(i);
                revision.number = latest + 1;
                self.revisions.push(revision);
            }
            None => self.revisions.push(Revision {
                name,
                number: latest + 1,
                template,
                created: now_time(),
            }),
        }
    }

    /// Drops the oldest revisions beyond `limit` that are not `live`.
    pub fn prune(&mut self, live: &BTreeSet<String>, limit: usize) {
        let dead = self
            .revisions
            .iter()
            .filter(|r| !live.contains(&r.name))
            .count();
        let mut excess = dead.saturating_sub(limit);
        self.revisions.retain(|r| {
            if excess > 0 && !live.contains(&r.name) {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Revision> {
        self.revisions.iter()
    }
}

/// The ControllerRevision object of one revision of `sts`.
pub(super) fn object(sts: &apps::StatefulSet, revision: &Revision) -> apps::ControllerRevision {
    let set = sts.metadata.name.clone().unwrap_or_default();
    let mut labels: BTreeMap<String, String> = sts
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let hash = revision
        .name
        .strip_prefix(&format!("{set}-"))
        .unwrap_or(&revision.name)
        .to_owned();
    labels.insert("controller.kubernetes.io/hash".to_owned(), hash);
    // What `kubectl rollout undo` patches back in: the whole template.
    let mut template = serde_json::to_value(&revision.template).unwrap_or(Value::Null);
    if let Some(map) = template.as_object_mut() {
        map.insert("$patch".to_owned(), Value::from("replace"));
    }
    apps::ControllerRevision {
        metadata: ObjectMeta {
            name: Some(revision.name.clone()),
            namespace: sts.metadata.namespace.clone(),
            labels: Some(labels),
            creation_timestamp: Some(revision.created.clone()),
            owner_references: Some(vec![OwnerReference {
                api_version: Resource::StatefulSets.api_version().to_owned(),
                kind: Resource::StatefulSets.kind().to_owned(),
                name: set,
                uid: sts.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]),
            ..ObjectMeta::default()
        },
        data: Some(RawExtension(
            serde_json::json!({"spec": {"template": template}}),
        )),
        revision: revision.number,
    }
}

/// How many old revisions a set keeps.
pub(super) fn history_limit(sts: &apps::StatefulSet) -> usize {
    sts.spec
        .as_ref()
        .and_then(|s| s.revision_history_limit)
        .map_or(DEFAULT_HISTORY_LIMIT, |n| usize::try_from(n).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(image: &str) -> core::PodTemplateSpec {
        serde_json::from_value(serde_json::json!({
            "spec": {"containers": [{"name": "nginx", "image": image}]}
        }))
        .unwrap()
    }

    fn numbers(history: &History) -> Vec<(String, i64)> {
        history.iter().map(|r| (r.name.clone(), r.number)).collect()
    }

    #[test]
    fn reuse_renumbers_and_prune_keeps_live_ones() {
        let mut h = History::default();
        h.record("web-a".into(), template("a"));
        h.record("web-a".into(), template("a"));
        h.record("web-b".into(), template("b"));
        h.record("web-c".into(), template("c"));
        assert_eq!(
            numbers(&h),
            [
                ("web-a".into(), 1),
                ("web-b".into(), 2),
                ("web-c".into(), 3)
            ]
        );
        // Back to a: it becomes revision 4, nothing new is made.
        h.record("web-a".into(), template("a"));
        assert_eq!(
            numbers(&h),
            [
                ("web-b".into(), 2),
                ("web-c".into(), 3),
                ("web-a".into(), 4)
            ]
        );
        assert_eq!(
            h.get("web-b").unwrap().spec.as_ref().unwrap().containers[0]
                .image
                .as_deref(),
            Some("b")
        );
        let live: BTreeSet<String> = ["web-a".to_owned()].into();
        h.prune(&live, 1);
        assert_eq!(numbers(&h), [("web-c".into(), 3), ("web-a".into(), 4)]);
        h.prune(&live, 0);
        assert_eq!(numbers(&h), [("web-a".into(), 4)]);
    }
}
