//! The object store: objects in (`kubectl apply`, replace, merge patch,
//! the manifest files with prune), objects out (list, get), and delete with
//! kubectl's cascade rules and result lines.

use super::*;

/// Inserts or replaces `value` under `key`; `same` decides "unchanged".
pub(super) fn replace<T>(
    map: &mut BTreeMap<Key, T>,
    key: Key,
    value: T,
    same: impl Fn(&T, &T) -> bool,
) -> &'static str {
    match map.get(&key) {
        Some(old) if same(old, &value) => "unchanged",
        Some(_) => {
            map.insert(key, value);
            "configured"
        }
        None => {
            map.insert(key, value);
            "created"
        }
    }
}
impl Cluster {
    /// Applies objects (from `ctl apply` or the manifest files). Returns
    /// kubectl's result lines (`statefulset.apps/web created`).
    pub fn apply(&mut self, objects: Vec<Object>, now: Instant) -> Result<Vec<String>, ApiError> {
        let mut results = Vec::new();
        for object in objects {
            results.push(self.apply_one(object, now)?);
        }
        Ok(results)
    }

    pub(super) fn apply_one(&mut self, object: Object, now: Instant) -> Result<String, ApiError> {
        let _ = now;
        let (resource, key) = object_id(&object);
        let label = format!("{}/{}", resource.kubectl_name(), key.1);
        if resource.namespaced() {
            self.ensure_namespace(&key.0);
        }
        let outcome = match object {
            Object::Namespace(mut ns) => {
                let existed = self.namespaces.contains_key(&key.1);
                ns.metadata.creation_timestamp.get_or_insert_with(now_time);
                ns.status.get_or_insert_with(|| core::NamespaceStatus {
                    phase: Some("Active".to_owned()),
                    ..Default::default()
                });
                if existed {
                    "unchanged"
                } else {
                    self.namespaces.insert(key.1.clone(), *ns);
                    "created"
                }
            }
            Object::Service(mut svc) => {
                svc.metadata.namespace = Some(key.0.clone());
                self.allocate_cluster_ip(&key, &mut svc)?;
                svc.metadata.creation_timestamp = self
                    .services
                    .get(&key)
                    .and_then(|old| old.metadata.creation_timestamp.clone())
                    .or_else(|| Some(now_time()));
                replace(&mut self.services, key.clone(), *svc, |old, new| {
                    old.spec == new.spec && old.metadata.labels == new.metadata.labels
                })
            }
            Object::EndpointSlice(mut slice) => {
                slice.metadata.namespace = Some(key.0.clone());
                let same = self
                    .static_slices
                    .get(&key)
                    .and_then(Compact::get)
                    .is_some_and(|old| {
                        old.endpoints == slice.endpoints
                            && old.ports == slice.ports
                            && old.metadata.labels == slice.metadata.labels
                            && old.address_type == slice.address_type
                    });
                let stored = Compact::new(&*slice);
                replace(&mut self.static_slices, key.clone(), stored, |_, _| same)
            }
            Object::Endpoints(mut ep) => {
                ep.metadata.namespace = Some(key.0.clone());
                let same = self
                    .static_endpoints
                    .get(&key)
                    .and_then(Compact::get)
                    .is_some_and(|old| old.subsets == ep.subsets);
                let stored = Compact::new(&*ep);
                replace(&mut self.static_endpoints, key.clone(), stored, |_, _| same)
            }
            Object::StatefulSet(sts) => self.apply_set(key.clone(), *sts)?,
        };
        Ok(format!("{label} {outcome}"))
    }

    /// Creates or updates a StatefulSet, keeping its status and bumping
    /// `metadata.generation` when the spec changes.
    pub(super) fn apply_set(
        &mut self,
        key: Key,
        mut sts: apps::StatefulSet,
    ) -> Result<&'static str, ApiError> {
        let Some(spec) = sts.spec.as_ref() else {
            return Err(ApiError::invalid(format!(
                "StatefulSet.apps \"{}\" is invalid: spec: Required value",
                key.1
            )));
        };
        if spec.service_name.as_deref().unwrap_or("").is_empty() {
            tracing::debug!(set = %key.1, "StatefulSet without serviceName: its pods get no DNS names");
        }
        if spec.replicas.is_some_and(|r| r < 0) {
            return Err(ApiError::invalid(format!(
                "StatefulSet.apps \"{}\" is invalid: spec.replicas: Invalid value: {}: must be greater than or equal to 0",
                key.1,
                spec.replicas.unwrap_or_default()
            )));
        }
        let selector = spec.selector.match_labels.clone().unwrap_or_default();
        let labels = spec
            .template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return Err(ApiError::invalid(format!(
                "StatefulSet.apps \"{}\" is invalid: spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
                key.1
            )));
        }
        sts.metadata.namespace = Some(key.0.clone());
        let revision = revision_name(&key.1, &spec.template);
        let template = spec.template.clone();
        match self.sets.get_mut(&key) {
            Some(entry) => {
                if entry.sts.spec == sts.spec && entry.sts.metadata.labels == sts.metadata.labels {
                    return Ok("unchanged");
                }
                let generation = entry.sts.metadata.generation.unwrap_or(1) + 1;
                sts.metadata.generation = Some(generation);
                sts.metadata.creation_timestamp = entry.sts.metadata.creation_timestamp.clone();
                sts.metadata.uid = entry.sts.metadata.uid.clone();
                sts.status = entry.sts.status.clone();
                entry.revisions.record(revision, template);
                entry.sts = sts;
                Ok("configured")
            }
            None => {
                sts.metadata.generation = Some(1);
                sts.metadata.creation_timestamp = Some(now_time());
                sts.metadata.uid = Some(format!("{:016x}", fnv(&format!("{}/{}", key.0, key.1))));
                sts.status = Some(apps::StatefulSetStatus {
                    current_revision: Some(revision.clone()),
                    update_revision: Some(revision.clone()),
                    ..Default::default()
                });
                let mut revisions = revisions::History::default();
                revisions.record(revision, template);
                self.sets.insert(key, SetEntry { sts, revisions });
                Ok("created")
            }
        }
    }

    /// Replaces a StatefulSet wholesale (`PUT`); it must exist.
    pub fn replace_set(
        &mut self,
        namespace: &str,
        name: &str,
        mut sts: apps::StatefulSet,
    ) -> Result<apps::StatefulSet, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        if !self.sets.contains_key(&key) {
            return Err(ApiError::not_found("statefulsets.apps", name));
        }
        if sts.metadata.name.as_deref().is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                sts.metadata.name.as_deref().unwrap_or_default()
            )));
        }
        sts.metadata.name = Some(name.to_owned());
        self.apply_set(key.clone(), sts)?;
        Ok(self.sets[&key].sts.clone())
    }

    /// Applies a JSON merge patch (RFC 7386) to a StatefulSet.
    pub fn patch_set(
        &mut self,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Result<apps::StatefulSet, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        let Some(entry) = self.sets.get(&key) else {
            return Err(ApiError::not_found("statefulsets.apps", name));
        };
        let mut doc =
            serde_json::to_value(&entry.sts).map_err(|e| ApiError::bad_request(e.to_string()))?;
        json_patch::merge(&mut doc, patch);
        let sts: apps::StatefulSet = serde_path_to_error::deserialize(doc).map_err(|e| {
            ApiError::invalid(format!(
                "StatefulSet.apps \"{name}\" is invalid: {}: {}",
                e.path(),
                e.inner()
            ))
        })?;
        self.replace_set(namespace, name, sts)
    }

    /// Applies the manifest files' objects: what changed since the last
    /// load is applied, what left the files is deleted (kubectl apply
    /// --prune), what is unchanged is left alone, so a `ctl scale` of an
    /// object whose file did not change survives a reload of another file.
    pub fn apply_manifests(
        &mut self,
        objects: Vec<Object>,
        now: Instant,
    ) -> Result<Vec<String>, ApiError> {
        let mut next: BTreeMap<(Resource, Key), Fingerprint> = BTreeMap::new();
        let mut changed = Vec::new();
        for object in objects {
            let id = object_id(&object);
            let print = object_fingerprint(&object);
            if self.from_files.get(&id) != Some(&print) {
                changed.push(object);
            }
            next.insert(id, print);
        }
        let mut results = self.apply(changed, now)?;
        let gone: Vec<(Resource, Key)> = self
            .from_files
            .keys()
            .filter(|id| !next.contains_key(*id))
            .cloned()
            .collect();
        for (resource, (namespace, name)) in gone {
            if self.delete(resource, &namespace, &name, now).is_ok() {
                results.push(format!("{} \"{name}\" deleted", resource.kubectl_name()));
            }
        }
        self.from_files = next;
        Ok(results)
    }

    /// Deletes one object. Pods go Terminating; a StatefulSet takes its pods
    /// with it (claims stay unless its retention policy says otherwise).
    pub fn delete(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
        now: Instant,
    ) -> Result<Value, ApiError> {
        let key = (namespace.to_owned(), name.to_owned());
        let not_found = || ApiError::not_found(&resource.plural_name(), name);
        match resource {
            Resource::Pods => {
                let pod = self.pods.get_mut(&key).ok_or_else(not_found)?;
                if pod.deleting.is_none() {
                    pod.deleting = Some(now);
                    pod.pod.metadata.deletion_timestamp = Some(now_time());
                    let container = first_container(&pod.pod);
                    self.event(
                        ("Pod", namespace, name),
                        "Normal",
                        "Killing",
                        format!("Stopping container {container}"),
                    );
                }
                let obj = serde_json::to_value(&self.pods[&key].pod).unwrap_or(Value::Null);
                Ok(obj)
            }
            Resource::Services => to_json(self.services.remove(&key).ok_or_else(not_found)?),
            Resource::EndpointSlices => json_of(
                self.static_slices
                    .remove(&key)
                    .ok_or_else(not_found)?
                    .value(),
            ),
            Resource::Endpoints => json_of(
                self.static_endpoints
                    .remove(&key)
                    .ok_or_else(not_found)?
                    .value(),
            ),
            Resource::PersistentVolumeClaims => {
                to_json(self.remove_claim(&key).ok_or_else(not_found)?)
            }
            Resource::StatefulSets => {
                let entry = self.sets.remove(&key).ok_or_else(not_found)?;
                let pods: Vec<Key> = self
                    .pods
                    .iter()
                    .filter(|(k, p)| k.0 == namespace && p.set.as_deref() == Some(name))
                    .map(|(k, _)| k.clone())
                    .collect();
                for pod in pods {
                    let _ = self.delete(Resource::Pods, &pod.0, &pod.1, now);
                }
                let when_deleted = entry
                    .sts
                    .spec
                    .as_ref()
                    .and_then(|s| s.persistent_volume_claim_retention_policy.as_ref())
                    .and_then(|p| p.when_deleted.clone());
                if when_deleted.as_deref() == Some("Delete") {
                    let templates = set_spec(&entry.sts).claim_templates;
                    self.remove_claims(|(ns, claim)| {
                        ns == namespace
                            && templates
                                .iter()
                                .any(|t| claim.starts_with(&format!("{t}-{name}-")))
                    });
                }
                to_json(entry.sts)
            }
            Resource::Namespaces => {
                if name == "default" || name.starts_with("kube-") {
                    return Err(ApiError {
                        code: 403,
                        reason: "Forbidden",
                        message: format!(
                            "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                        ),
                    });
                }
                let ns = self.namespaces.remove(name).ok_or_else(not_found)?;
                self.services.retain(|k, _| k.0 != name);
                self.static_slices.retain(|k, _| k.0 != name);
                self.static_endpoints.retain(|k, _| k.0 != name);
                let sets: Vec<Key> = self.sets.keys().filter(|k| k.0 == name).cloned().collect();
                for set in sets {
                    let _ = self.delete(Resource::StatefulSets, &set.0, &set.1, now);
                }
                // Everything else in it goes too: pods no set owns, and
                // every claim whatever its set's retention policy said.
                let pods: Vec<Key> = self.pods.keys().filter(|k| k.0 == name).cloned().collect();
                for pod in pods {
                    let _ = self.delete(Resource::Pods, &pod.0, &pod.1, now);
                }
                self.remove_claims(|k| k.0 == name);
                self.events
                    .retain(|e| e.metadata.namespace.as_deref() != Some(name));
                to_json(ns)
            }
            Resource::Events => Err(ApiError::bad_request("events cannot be deleted here")),
            Resource::ControllerRevisions => Err(ApiError::bad_request(
                "controllerrevisions belong to their StatefulSet's controller and cannot be deleted here",
            )),
            Resource::PersistentVolumes => self.delete_volume(name),
            Resource::StorageClasses => Err(ApiError::bad_request(
                "the embedded cluster's storage class cannot be deleted",
            )),
        }
    }

    /// Every object of a resource, as JSON, in `namespace` or all.
    pub fn list(&self, resource: Resource, namespace: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        self.each(resource, namespace, &mut |object| out.push(object));
        out
    }

    /// Hands every object of a resource, as JSON, in `namespace` or all, to
    /// `f`, one at a time: a caller that only looks at each (the watch
    /// fan-out) never holds the whole list.
    pub(super) fn each(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        f: &mut dyn FnMut(Value),
    ) {
        let in_ns = |k: &Key| namespace.is_none_or(|ns| k.0 == ns);
        let mut emit = |object: Result<Value, serde_json::Error>| {
            if let Ok(mut object) = object {
                stamp(&mut object, resource);
                f(object);
            }
        };
        match resource {
            Resource::Namespaces => self
                .namespaces
                .values()
                .for_each(|o| emit(serde_json::to_value(o))),
            Resource::Pods => self
                .pods
                .iter()
                .filter(|(k, _)| in_ns(k))
                .for_each(|(_, p)| emit(serde_json::to_value(&p.pod))),
            Resource::Services => self
                .services
                .iter()
                .filter(|(k, _)| in_ns(k))
                .for_each(|(_, o)| emit(serde_json::to_value(o))),
            Resource::StatefulSets => self
                .sets
                .iter()
                .filter(|(k, _)| in_ns(k))
                .for_each(|(_, e)| emit(serde_json::to_value(&e.sts))),
            Resource::EndpointSlices => {
                self.static_slices
                    .iter()
                    .filter(|(k, _)| in_ns(k))
                    .for_each(|(_, o)| emit(o.value()));
                self.generated
                    .iter()
                    .filter(|(k, _)| in_ns(k))
                    .for_each(|(_, o)| emit(serde_json::to_value(o)));
            }
            Resource::Endpoints => self
                .static_endpoints
                .iter()
                .filter(|(k, _)| in_ns(k))
                .for_each(|(_, o)| emit(o.value())),
            Resource::PersistentVolumeClaims => self
                .claims
                .iter()
                .filter(|(k, _)| in_ns(k))
                .for_each(|(_, o)| emit(serde_json::to_value(o))),
            Resource::Events => self
                .events
                .iter()
                .filter(|e| namespace.is_none_or(|ns| e.metadata.namespace.as_deref() == Some(ns)))
                .for_each(|o| emit(serde_json::to_value(o))),
            Resource::ControllerRevisions => self
                .revision_objects(namespace)
                .into_iter()
                .for_each(|o| emit(Ok(o))),
            Resource::PersistentVolumes => {
                self.volume_objects().into_iter().for_each(|o| emit(Ok(o)))
            }
            Resource::StorageClasses => self.class_objects().into_iter().for_each(|o| emit(Ok(o))),
        }
    }

    /// One object as JSON.
    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Result<Value, ApiError> {
        let found = self
            .list(
                resource,
                if resource.namespaced() {
                    Some(namespace)
                } else {
                    None
                },
            )
            .into_iter()
            .find(|o| o.pointer("/metadata/name").and_then(Value::as_str) == Some(name));
        found.ok_or_else(|| ApiError::not_found(&resource.plural_name(), name))
    }

    /// The current resource version (grows with every change).
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }
}
