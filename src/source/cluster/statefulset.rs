//! The StatefulSet glue: each set's pods as the pure reconcile core
//! ([`controller::reconcile`]) sees them, its actions carried out (pods
//! created from the template with their claims, deleted, updated), and the
//! set's status.

use super::*;

impl Cluster {
    /// The controller's view of a set's pods.
    pub(super) fn pod_views(&self, set: &Key) -> Vec<PodView> {
        self.pods
            .values()
            .filter(|p| {
                p.pod.metadata.namespace.as_deref() == Some(&set.0)
                    && p.set.as_deref() == Some(&set.1)
            })
            .filter_map(|p| {
                Some(PodView {
                    ordinal: p.ordinal?,
                    revision: p.revision.clone(),
                    phase: p.phase(),
                    ready: p.ready(),
                    terminating: p.deleting.is_some(),
                })
            })
            .collect()
    }

    /// Runs the controller once for every set and carries out its actions.
    /// Returns whether anything was done.
    pub(super) fn reconcile_sets(&mut self, now: Instant) -> bool {
        let mut acted = false;
        let keys: Vec<Key> = self.sets.keys().cloned().collect();
        for key in keys {
            self.adopt_orphans(&key);
            let spec = set_spec(&self.sets[&key].sts);
            let pods = self.pod_views(&key);
            let claims: BTreeSet<String> = self
                .claims
                .keys()
                .filter(|(ns, _)| *ns == key.0)
                .map(|(_, n)| n.clone())
                .collect();
            let room = self.settings.max_pods.saturating_sub(self.pods.len());
            let mut refused = None;
            for action in controller::reconcile(&spec, &pods, &claims, room) {
                if let Action::NoCapacity { ordinal } = action {
                    refused = Some(ordinal);
                    continue;
                }
                acted = true;
                self.carry_out(&key, &spec, action, now);
            }
            match refused {
                Some(ordinal) if self.at_capacity.insert(key.clone()) => {
                    let (namespace, set) = (key.0.clone(), key.1.clone());
                    let pod = controller::pod_name(&set, ordinal);
                    let cap = self.settings.max_pods;
                    tracing::warn!(statefulset = %format!("{namespace}/{set}"), max_pods = cap,
                        "the simulated cluster's pod cap is reached; pods past it are not created");
                    self.event(
                        (Resource::StatefulSets.kind(), &namespace, &set),
                        "Warning",
                        "FailedCreate",
                        format!(
                            "create Pod {pod} in StatefulSet {set} failed error: pods \"{pod}\" is forbidden: exceeded the simulated cluster's pod cap: max_pods={cap} (source.embedded.max_pods)"
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    self.at_capacity.remove(&key);
                }
            }
        }
        acted
    }

    pub(super) fn carry_out(&mut self, set: &Key, spec: &SetSpec, action: Action, now: Instant) {
        let (namespace, set_name) = (set.0.as_str(), set.1.as_str());
        match action {
            Action::CreateClaim { ordinal, name } => {
                let template = self.sets[set]
                    .sts
                    .spec
                    .as_ref()
                    .and_then(|s| s.volume_claim_templates.as_ref())
                    .and_then(|t| {
                        t.iter().find(|c| {
                            name.starts_with(&format!(
                                "{}-",
                                c.metadata.name.as_deref().unwrap_or("")
                            ))
                        })
                    })
                    .cloned()
                    .unwrap_or_default();
                let mut labels = template.metadata.labels.clone().unwrap_or_default();
                labels.extend(self.selector_labels(set));
                let mut claim = core::PersistentVolumeClaim {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(namespace.to_owned()),
                        labels: Some(labels),
                        creation_timestamp: Some(now_time()),
                        ..ObjectMeta::default()
                    },
                    // The provisioner binds it (volumes.rs).
                    spec: template.spec.clone(),
                    status: None,
                };
                self.bind_claim(&mut claim);
                self.claims
                    .insert((namespace.to_owned(), name.clone()), claim);
                let pod = controller::pod_name(set_name, ordinal);
                self.event(
                    (Resource::StatefulSets.kind(), namespace, set_name),
                    "Normal",
                    "SuccessfulCreate",
                    format!("create Claim {name} Pod {pod} in StatefulSet {set_name} success"),
                );
            }
            Action::DeleteClaim { name, .. } => {
                self.remove_claim(&(namespace.to_owned(), name.clone()));
                self.event(
                    (Resource::StatefulSets.kind(), namespace, set_name),
                    "Normal",
                    "SuccessfulDelete",
                    format!("delete Claim {name} in StatefulSet {set_name} successful"),
                );
            }
            Action::CreatePod { ordinal, revision } => {
                let pod = self.new_pod(set, spec, ordinal, &revision, now);
                let name = controller::pod_name(set_name, ordinal);
                self.pods.insert((namespace.to_owned(), name.clone()), pod);
                self.render_pod_status(&(namespace.to_owned(), name.clone()));
                self.event(
                    (Resource::StatefulSets.kind(), namespace, set_name),
                    "Normal",
                    "SuccessfulCreate",
                    format!("create Pod {name} in StatefulSet {set_name} successful"),
                );
                self.event(
                    ("Pod", namespace, &name),
                    "Normal",
                    "Scheduled",
                    format!("Successfully assigned {namespace}/{name} to {NODE}"),
                );
            }
            // Handled by the caller, which says it once per episode.
            Action::NoCapacity { .. } => {}
            Action::DeletePod { ordinal, reason } => {
                let name = controller::pod_name(set_name, ordinal);
                let key = (namespace.to_owned(), name.clone());
                if reason == DeleteReason::Failed {
                    // A failed pod is removed at once (no graceful stop).
                    if let Some(pod) = self.pods.remove(&key)
                        && let Some(ip) = pod.ip
                    {
                        self.ips.release(ip);
                    }
                    self.event(
                        (Resource::StatefulSets.kind(), namespace, set_name),
                        "Warning",
                        "RecreatingFailedPod",
                        format!(
                            "StatefulSet {namespace}/{set_name} is recreating failed Pod {name}"
                        ),
                    );
                } else {
                    let _ = self.delete(Resource::Pods, namespace, &name, now);
                }
                self.event(
                    (Resource::StatefulSets.kind(), namespace, set_name),
                    "Normal",
                    "SuccessfulDelete",
                    format!("delete Pod {name} in StatefulSet {set_name} successful"),
                );
            }
        }
    }

    pub(super) fn selector_labels(&self, set: &Key) -> BTreeMap<String, String> {
        self.sets[set]
            .sts
            .spec
            .as_ref()
            .and_then(|s| s.selector.match_labels.clone())
            .unwrap_or_default()
    }

    /// A new pod of a set at `ordinal`, from the template of `revision`.
    pub(super) fn new_pod(
        &self,
        set: &Key,
        spec: &SetSpec,
        ordinal: u32,
        revision: &str,
        now: Instant,
    ) -> SimPod {
        let entry = &self.sets[set];
        let template = entry
            .revisions
            .get(revision)
            .cloned()
            .or_else(|| entry.sts.spec.as_ref().map(|s| s.template.clone()))
            .unwrap_or_default();
        let name = controller::pod_name(&spec.name, ordinal);
        let mut meta = template.metadata.clone().unwrap_or_default();
        let mut labels = meta.labels.take().unwrap_or_default();
        labels.insert(
            "statefulset.kubernetes.io/pod-name".to_owned(),
            name.clone(),
        );
        labels.insert("controller-revision-hash".to_owned(), revision.to_owned());
        labels.insert(
            "apps.kubernetes.io/pod-index".to_owned(),
            ordinal.to_string(),
        );
        let mut pod_spec = template.spec.clone().unwrap_or_default();
        pod_spec.hostname = Some(name.clone());
        pod_spec.subdomain = entry.sts.spec.as_ref().and_then(|s| s.service_name.clone());
        pod_spec.node_name = Some(NODE.to_owned());
        let claim_templates = &spec.claim_templates;
        if !claim_templates.is_empty() {
            let volumes = pod_spec.volumes.get_or_insert_with(Vec::new);
            for t in claim_templates {
                volumes.retain(|v| &v.name != t);
                volumes.push(core::Volume {
                    name: t.clone(),
                    persistent_volume_claim: Some(core::PersistentVolumeClaimVolumeSource {
                        claim_name: controller::claim_name(t, &spec.name, ordinal),
                        read_only: None,
                    }),
                    ..Default::default()
                });
            }
        }
        let pod = core::Pod {
            metadata: ObjectMeta {
                name: Some(name),
                namespace: Some(set.0.clone()),
                labels: Some(labels),
                annotations: meta.annotations.take(),
                creation_timestamp: Some(now_time()),
                owner_references: Some(vec![OwnerReference {
                    api_version: Resource::StatefulSets.api_version().to_owned(),
                    kind: Resource::StatefulSets.kind().to_owned(),
                    name: spec.name.clone(),
                    uid: entry.sts.metadata.uid.clone().unwrap_or_default(),
                    controller: Some(true),
                    block_owner_deletion: Some(true),
                }]),
                ..ObjectMeta::default()
            },
            spec: Some(pod_spec),
            status: None,
        };
        SimPod {
            pod,
            ordinal: Some(ordinal),
            revision: revision.to_owned(),
            set: Some(spec.name.clone()),
            created: now,
            started: None,
            ready_since: None,
            deleting: None,
            failed: false,
            unready: false,
            fail_start: false,
            ip: None,
            unschedulable: false,
        }
    }

    pub(super) fn update_set_status(&mut self) {
        let keys: Vec<Key> = self.sets.keys().cloned().collect();
        for key in keys {
            let spec = set_spec(&self.sets[&key].sts);
            let pods = self.pod_views(&key);
            let st = controller::status(&spec, &pods);
            let entry = self.sets.get_mut(&key).expect("key from the map");
            let generation = entry.sts.metadata.generation;
            let status = entry.sts.status.get_or_insert_with(Default::default);
            status.replicas = st.replicas as i32;
            status.ready_replicas = Some(st.ready_replicas as i32);
            status.available_replicas = Some(st.ready_replicas as i32);
            status.current_replicas = Some(st.current_replicas as i32);
            status.updated_replicas = Some(st.updated_replicas as i32);
            status.current_revision = Some(st.current_revision.clone());
            status.update_revision = Some(st.update_revision);
            status.observed_generation = generation;
            // Revisions no pod uses and that are neither current nor update
            // are history, kept up to revisionHistoryLimit.
            let mut live: BTreeSet<String> = pods.iter().map(|p| p.revision.clone()).collect();
            live.insert(st.current_revision);
            live.insert(spec.update_revision);
            let limit = revisions::history_limit(&entry.sts);
            entry.revisions.prune(&live, limit);
        }
    }
}

impl Cluster {
    /// Every set's ControllerRevisions in `namespace` (or all), as JSON,
    /// in name order as the API server lists them.
    pub(super) fn revision_objects(&self, namespace: Option<&str>) -> Vec<Value> {
        let mut objects: Vec<(String, String, Value)> = self
            .sets
            .iter()
            .filter(|(k, _)| namespace.is_none_or(|ns| k.0 == ns))
            .flat_map(|(key, entry)| {
                entry.revisions.iter().filter_map(|r| {
                    let value =
                        serde_json::to_value(super::revisions::object(&entry.sts, r)).ok()?;
                    Some((key.0.clone(), r.name.clone(), value))
                })
            })
            .collect();
        objects.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        objects.into_iter().map(|(_, _, v)| v).collect()
    }
}
