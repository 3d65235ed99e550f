//! One watch, synchronously: kube-runtime watcher events in, driver
//! [`Change`]s out.
//!
//! A [`Watch`] is one (kind, namespace) watch. It converts each object with
//! the same functions the manifest source uses, and remembers the keys it has
//! handed to the index, which is what makes a relist safe: the watcher's
//! `Init`, `InitApply`… and `InitDone` are buffered, and on `InitDone` the
//! watch sends one [`Change::Batch`] that deletes what it had sent before and
//! is no longer listed, and applies what is listed. The driver applies a
//! batch before it publishes, so a relist never shows a half-empty zone; and
//! because the diff is against this watch's own keys, a relist of namespace
//! `a` never touches what the watch of namespace `b` sent.
//!
//! The first list is the exception: until the watch has listed once, its
//! objects go out in batches of [`FIRST_LIST_CHUNK`] as they arrive, so the
//! index renders them while the next pages are fetched. Nothing is served
//! before every watch has listed (SERVFAIL until `Synced`), so no one sees
//! the zone half built; and the keys sent so far are known, so a first
//! list that fails and starts over still deletes what it no longer lists.
//!
//! A relist (after 410 Gone) lists every object again, nearly all of them
//! unchanged. The watch remembers the `resourceVersion` of what it applied,
//! and a listed object at the same version is the same object: it is
//! neither converted nor buffered, so a relist holds only what changed,
//! not a second copy of the cluster.
//!
//! No IO and no clock: tests feed it synthetic objects.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::watcher::Event;

use crate::api_resource::ApiResource;
use crate::driver::Change;
use crate::model::ObjectKey;
use crate::source::convert::{endpoints_from_k8s, service_from_k8s, set_from_k8s, slice_from_k8s};

/// The kinds the server watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Service,
    EndpointSlice,
    /// Legacy v1 Endpoints.
    Endpoints,
    StatefulSet,
}

impl Kind {
    /// The k8s-openapi type watched, whose constants give its coordinates.
    pub const fn api(self) -> ApiResource {
        match self {
            Kind::Service => ApiResource::of::<core::Service>(),
            Kind::EndpointSlice => ApiResource::of::<discovery::EndpointSlice>(),
            Kind::Endpoints => ApiResource::of::<core::Endpoints>(),
            Kind::StatefulSet => ApiResource::of::<apps::StatefulSet>(),
        }
    }

    /// The plural, as in `kubectl get` and RBAC rules.
    pub fn plural(self) -> &'static str {
        self.api().plural
    }
}

/// An object of one of the watched kinds, as the watcher delivers it.
///
/// Not boxed: each object is decoded, moved here once and converted at once;
/// a box would add an allocation per event to save a copy.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Watched {
    Service(core::Service),
    EndpointSlice(discovery::EndpointSlice),
    Endpoints(core::Endpoints),
    StatefulSet(apps::StatefulSet),
}

impl Watched {
    fn metadata(&self) -> &ObjectMeta {
        match self {
            Watched::Service(o) => &o.metadata,
            Watched::EndpointSlice(o) => &o.metadata,
            Watched::Endpoints(o) => &o.metadata,
            Watched::StatefulSet(o) => &o.metadata,
        }
    }

    /// `namespace/name`; `None` for an object without a name, which the API
    /// server never sends.
    fn key(&self) -> Option<ObjectKey> {
        let metadata = self.metadata();
        let name = metadata.name.as_deref().filter(|n| !n.is_empty())?;
        let namespace = metadata
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        Some(ObjectKey::new(namespace, name))
    }

    /// The change that puts this object into the index, or `None` when the
    /// index should not hold it: an EndpointSlice without the
    /// `kubernetes.io/service-name` label, a StatefulSet without
    /// `spec.serviceName`.
    fn apply(&self) -> Option<Change> {
        match self {
            Watched::Service(o) => service_from_k8s(o).map(Change::ApplyService),
            Watched::EndpointSlice(o) => slice_from_k8s(o).map(Change::ApplySlice),
            Watched::Endpoints(o) => endpoints_from_k8s(o).map(Change::ApplyEndpoints),
            Watched::StatefulSet(o) => set_from_k8s(o).map(Change::ApplySet),
        }
    }
}

/// The `resourceVersion` an event carries: its object's, for `Apply`,
/// `InitApply` and `Delete` (a deleted object carries the version of its
/// deletion); `None` for `Init` and `InitDone`.
pub fn resource_version(event: &Event<Watched>) -> Option<&str> {
    match event {
        Event::Apply(o) | Event::InitApply(o) | Event::Delete(o) => {
            o.metadata().resource_version.as_deref()
        }
        Event::Init | Event::InitDone => None,
    }
}

/// Lifts a typed watcher event into one over [`Watched`].
pub fn lift<K>(event: Event<K>, wrap: fn(K) -> Watched) -> Event<Watched> {
    match event {
        Event::Apply(o) => Event::Apply(wrap(o)),
        Event::Delete(o) => Event::Delete(wrap(o)),
        Event::Init => Event::Init,
        Event::InitApply(o) => Event::InitApply(wrap(o)),
        Event::InitDone => Event::InitDone,
    }
}

/// Objects of a first list sent to the index at a time (the watcher's
/// page size): large enough that the driver publishes a few dozen times per
/// sync, small enough that the render of one batch overlaps the fetching
/// of the next.
pub const FIRST_LIST_CHUNK: usize = 500;

/// The object an apply change puts into the index.
fn applied_key(change: &Change) -> Option<&ObjectKey> {
    match change {
        Change::ApplyService(s) => Some(&s.key),
        Change::ApplySlice(g) | Change::ApplyEndpoints(g) => Some(&g.key),
        Change::ApplySet(s) => Some(&s.key),
        _ => None,
    }
}

/// A relist in progress: what the pages listed so far.
#[derive(Default)]
struct Relist {
    /// The listed objects that changed since they were applied.
    applies: Vec<Change>,
    /// Every listed object the index holds, with its version.
    keys: HashMap<ObjectKey, Option<u64>>,
}

/// An object's `resourceVersion`, when it is a number (it is, from every
/// API server backed by etcd); `None` means "compare nothing".
fn version(object: &Watched) -> Option<u64> {
    crate::serial::parse_resource_version(object.metadata().resource_version.as_deref()?)
}

/// One watch's state.
pub struct Watch {
    kind: Kind,
    /// `None`: every namespace.
    namespace: Option<Arc<str>>,
    /// Keys this watch has applied to the index and not deleted since,
    /// with the version applied.
    known: HashMap<ObjectKey, Option<u64>>,
    /// `Some` between `Init` and `InitDone`.
    relist: Option<Relist>,
    /// Delivered its first full list.
    synced: bool,
}

impl Watch {
    pub fn new(kind: Kind, namespace: Option<&str>) -> Self {
        Self {
            kind,
            namespace: namespace.map(Arc::from),
            known: HashMap::new(),
            relist: None,
            synced: false,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// Whether the watch has delivered its first full list.
    pub fn synced(&self) -> bool {
        self.synced
    }

    /// How many objects this watch has in the index.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Translates one watcher event into the change to send, if any.
    pub fn handle(&mut self, event: Event<Watched>) -> Option<Change> {
        match event {
            Event::Init => {
                self.relist = Some(Relist::default());
                None
            }
            Event::InitApply(object) => {
                let relist = self.relist.get_or_insert_with(Relist::default);
                let key = object.key()?;
                let version = version(&object);
                if version.is_some() && self.known.get(&key) == Some(&version) {
                    // Applied at this very version: unchanged.
                    relist.keys.insert(key, version);
                } else if let Some(change) = object.apply() {
                    relist.applies.push(change);
                    relist.keys.insert(key, version);
                }
                if self.synced || relist.applies.len() < FIRST_LIST_CHUNK {
                    return None;
                }
                // A first list: send what it has so far, and know it sent.
                let chunk = std::mem::take(&mut relist.applies);
                for key in chunk.iter().filter_map(applied_key) {
                    let version = relist.keys.get(key).copied().flatten();
                    self.known.insert(key.clone(), version);
                }
                Some(Change::Batch(chunk))
            }
            Event::InitDone => {
                self.synced = true;
                let relist = self.relist.take().unwrap_or_default();
                let mut changes: Vec<Change> = self
                    .known
                    .keys()
                    .filter(|k| !relist.keys.contains_key(*k))
                    .map(|k| self.delete(k.clone()))
                    .collect();
                changes.extend(relist.applies);
                self.known = relist.keys;
                (!changes.is_empty()).then_some(Change::Batch(changes))
            }
            Event::Apply(object) => {
                let key = object.key()?;
                let version = version(&object);
                match object.apply() {
                    Some(change) => {
                        self.known.insert(key, version);
                        Some(change)
                    }
                    None => self.known.remove(&key).map(|_| self.delete(key)),
                }
            }
            Event::Delete(object) => {
                let key = object.key()?;
                self.known.remove(&key).map(|_| self.delete(key))
            }
        }
    }

    fn delete(&self, key: ObjectKey) -> Change {
        match self.kind {
            Kind::Service => Change::DeleteService(key),
            Kind::EndpointSlice => Change::DeleteSlice(key),
            Kind::Endpoints => Change::DeleteEndpoints(key),
            Kind::StatefulSet => Change::DeleteSet(key),
        }
    }
}

/// `EndpointSlices in namespace demo`, `Services in all namespaces`.
impl fmt::Display for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Service => "Services",
            Kind::EndpointSlice => "EndpointSlices",
            Kind::Endpoints => "Endpoints",
            Kind::StatefulSet => "StatefulSets",
        };
        match &self.namespace {
            Some(namespace) => write!(f, "{kind} in namespace {namespace}"),
            None => write!(f, "{kind} in all namespaces"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, rv: Option<&str>, port: i32) -> Watched {
        Watched::Service(core::Service {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("demo".into()),
                resource_version: rv.map(str::to_owned),
                ..Default::default()
            },
            spec: Some(core::ServiceSpec {
                cluster_ip: Some("None".into()),
                ports: Some(vec![core::ServicePort {
                    name: Some("web".into()),
                    port,
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    /// What a relist sends, as (applied, deleted) service names.
    fn relist(watch: &mut Watch, listed: Vec<Watched>) -> (Vec<String>, Vec<String>) {
        assert!(watch.handle(Event::Init).is_none());
        for object in listed {
            assert!(watch.handle(Event::InitApply(object)).is_none());
        }
        let (mut applied, mut deleted) = (Vec::new(), Vec::new());
        match watch.handle(Event::InitDone) {
            None => {}
            Some(Change::Batch(changes)) => {
                for change in changes {
                    match change {
                        Change::ApplyService(s) => applied.push(s.key.name.to_string()),
                        Change::DeleteService(k) => deleted.push(k.name.to_string()),
                        other => panic!("{other:?}"),
                    }
                }
            }
            Some(other) => panic!("{other:?}"),
        }
        applied.sort();
        (applied, deleted)
    }

    /// The services a change applies, and the ones it deletes.
    fn names(change: Option<Change>) -> (Vec<String>, Vec<String>) {
        let (mut applied, mut deleted) = (Vec::new(), Vec::new());
        let changes = match change {
            None => Vec::new(),
            Some(Change::Batch(changes)) => changes,
            Some(other) => panic!("{other:?}"),
        };
        for change in changes {
            match change {
                Change::ApplyService(s) => applied.push(s.key.name.to_string()),
                Change::DeleteService(k) => deleted.push(k.name.to_string()),
                other => panic!("{other:?}"),
            }
        }
        (applied, deleted)
    }

    #[test]
    fn a_first_list_goes_out_in_chunks_and_a_restart_deletes_what_it_lost() {
        let n = FIRST_LIST_CHUNK * 2 + 3;
        let listed = |skip: usize| {
            (0..n)
                .filter(move |i| *i != skip)
                .map(|i| service(&format!("s{i}"), Some("5"), 80))
        };
        let mut watch = Watch::new(Kind::Service, None);
        assert!(watch.handle(Event::Init).is_none());
        let mut sent = Vec::new();
        for (i, object) in listed(usize::MAX).take(FIRST_LIST_CHUNK + 1).enumerate() {
            let change = watch.handle(Event::InitApply(object));
            // A chunk exactly when one is full.
            assert_eq!(change.is_some(), i + 1 == FIRST_LIST_CHUNK, "object {i}");
            sent.extend(names(change).0);
        }
        assert_eq!(sent.len(), FIRST_LIST_CHUNK);
        assert_eq!(watch.len(), FIRST_LIST_CHUNK);
        assert!(!watch.synced());
        // The list fails and starts over; `s3` is gone meanwhile. What was
        // sent is not sent again, what was not is, `s3` is deleted.
        assert!(watch.handle(Event::Init).is_none());
        for object in listed(3) {
            sent.extend(names(watch.handle(Event::InitApply(object))).0);
        }
        let (applied, deleted) = names(watch.handle(Event::InitDone));
        sent.extend(applied);
        assert_eq!(deleted, ["s3"]);
        sent.sort();
        let mut want: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
        want.sort();
        assert_eq!(sent, want);
        assert!(watch.synced());
        assert_eq!(watch.len(), n - 1);
        // Once synced, a relist holds everything until InitDone.
        assert!(watch.handle(Event::Init).is_none());
        for object in listed(usize::MAX) {
            assert!(watch.handle(Event::InitApply(object)).is_none());
        }
        assert_eq!(
            names(watch.handle(Event::InitDone)),
            (vec!["s3".into()], vec![])
        );
    }

    #[test]
    fn a_relist_sends_only_what_changed_since_it_was_applied() {
        let mut watch = Watch::new(Kind::Service, None);
        let listed = vec![service("web", Some("5"), 80), service("api", Some("6"), 80)];
        assert_eq!(
            relist(&mut watch, listed),
            (vec!["api".into(), "web".into()], vec![])
        );
        // The same versions: nothing to send, and both still known.
        let listed = vec![service("web", Some("5"), 80), service("api", Some("6"), 80)];
        assert_eq!(relist(&mut watch, listed), (vec![], vec![]));
        assert_eq!(watch.len(), 2);
        // A watch event moves `web` on; a relist at that version sends nothing.
        assert!(
            watch
                .handle(Event::Apply(service("web", Some("9"), 81)))
                .is_some()
        );
        let listed = vec![service("web", Some("9"), 81), service("api", Some("6"), 80)];
        assert_eq!(relist(&mut watch, listed), (vec![], vec![]));
        // A newer version is sent, a vanished object deleted.
        let listed = vec![service("web", Some("12"), 82)];
        assert_eq!(
            relist(&mut watch, listed),
            (vec!["web".into()], vec!["api".into()])
        );
        // Without a version nothing can be compared: always sent.
        let listed = vec![service("web", None, 82)];
        assert_eq!(
            relist(&mut watch, listed.clone()),
            (vec!["web".into()], vec![])
        );
        assert_eq!(relist(&mut watch, listed), (vec!["web".into()], vec![]));
    }
}
