//! Watch fan-out: every change to the stored objects goes to the
//! subscribers (`ctl get -w`, the admin API's `?watch=1`) as a
//! [`WatchEvent`] carrying the object and its resourceVersion.
//!
//! Changes are found by comparing each object's fingerprint with the one
//! seen at the last step, so the cluster keeps 16 bytes per object, not a
//! second copy of it. Only while someone watches does it also keep the
//! objects themselves, because a DELETED event carries the object's last
//! state.

use super::*;

/// The (namespace, name) of an object in its JSON form.
fn key_in(object: &Value) -> Key {
    let field = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    (field("/metadata/namespace"), field("/metadata/name"))
}

impl Cluster {
    /// Subscribes to object changes. The first watcher makes the cluster
    /// keep what it has seen of each object, for the DELETED events.
    pub fn subscribe(&mut self) -> broadcast::Receiver<WatchEvent> {
        if self.watch.receiver_count() == 0 {
            let mut seen = std::mem::take(&mut self.seen);
            for resource in Resource::ALL {
                if resource != Resource::Events {
                    self.each(resource, None, &mut |object| {
                        if let Some(entry) = seen.get_mut(&(resource, key_in(&object))) {
                            entry.last = Some(object);
                        }
                    });
                }
            }
            self.seen = seen;
        }
        self.watch.subscribe()
    }

    /// Sends watchers the differences since the last call, and moves the
    /// resource version when anything changed.
    pub(super) fn notify_watchers(&mut self) {
        let watched = self.watch.receiver_count() > 0;
        // What there is now; an object listed twice under one key (a
        // static slice named as a generated one) counts as the last.
        let mut now: BTreeMap<(Resource, Key), Seen> = BTreeMap::new();
        for resource in Resource::ALL {
            if resource == Resource::Events {
                continue;
            }
            self.each(resource, None, &mut |object| {
                let id = (resource, key_in(&object));
                let print = json_fingerprint(&object);
                let last = watched.then_some(object);
                now.insert(id, Seen { print, last });
            });
        }
        let mut changes: Vec<(&'static str, Resource, String, Value)> = Vec::new();
        let mut changed = false;
        for (id, entry) in &now {
            let kind = match self.seen.get(id) {
                None => "ADDED",
                Some(old) if old.print != entry.print => "MODIFIED",
                Some(_) => continue,
            };
            changed = true;
            if let Some(object) = &entry.last {
                changes.push((kind, id.0, id.1.0.clone(), object.clone()));
            }
        }
        for (id, old) in std::mem::take(&mut self.seen) {
            if now.contains_key(&id) {
                continue;
            }
            changed = true;
            if watched {
                let (resource, (namespace, name)) = id;
                // Seen before anyone watched: only its identity is known.
                let object = old.last.unwrap_or_else(|| {
                    let mut object = serde_json::json!({"metadata": {"name": name}});
                    if !namespace.is_empty() {
                        object["metadata"]["namespace"] = Value::String(namespace.clone());
                    }
                    stamp(&mut object, resource);
                    object
                });
                changes.push(("DELETED", resource, namespace, object));
            }
        }
        self.seen = now;
        if !changed {
            return;
        }
        self.resource_version += 1;
        for (kind, resource, namespace, mut object) in changes {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert(
                    "resourceVersion".to_owned(),
                    Value::String(self.resource_version.to_string()),
                );
            }
            let _ = self.watch.send(WatchEvent {
                resource,
                kind,
                namespace,
                object,
            });
        }
    }
}
