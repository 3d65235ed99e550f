//! Watch fan-out: every change to the stored objects goes to the
//! subscribers (`ctl get -w`, the admin API's `?watch=1`) as a
//! [`WatchEvent`] carrying the object and its resourceVersion.

use super::*;

impl Cluster {
    /// Subscribes to object changes.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.watch.subscribe()
    }

    /// Sends watchers the differences since the last call.
    pub(super) fn notify_watchers(&mut self) {
        let mut now: BTreeMap<(Resource, Key), Value> = BTreeMap::new();
        for resource in Resource::ALL {
            if resource == Resource::Events {
                continue;
            }
            for object in self.list(resource, None) {
                let ns = object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                let name = object
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                now.insert((resource, (ns, name)), object);
            }
        }
        let mut changes = Vec::new();
        for (id, object) in &now {
            match self.seen.get(id) {
                None => changes.push(("ADDED", id.clone(), object.clone())),
                Some(old) if old != object => {
                    changes.push(("MODIFIED", id.clone(), object.clone()))
                }
                _ => {}
            }
        }
        for (id, object) in &self.seen {
            if !now.contains_key(id) {
                changes.push(("DELETED", id.clone(), object.clone()));
            }
        }
        if changes.is_empty() {
            return;
        }
        self.resource_version += 1;
        for (kind, (resource, (namespace, _)), mut object) in changes {
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
        self.seen = now;
    }
}
