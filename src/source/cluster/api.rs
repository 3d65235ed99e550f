//! The embedded cluster's API vocabulary: the resources it serves (paths,
//! kinds, kubectl names), its errors as `metav1.Status`, and the JSON form
//! of stored objects (`apiVersion`/`kind` stamped, identity by resource and
//! key).

use std::hash::Hasher as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::api_resource::ApiResource;
use crate::source::manifest::Object;

/// Objects are keyed by (namespace, name).
pub type Key = (String, String);

/// A change to one object, for watchers (`ctl get -w`).
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub resource: Resource,
    /// `ADDED`, `MODIFIED`, `DELETED`.
    pub kind: &'static str,
    pub namespace: String,
    pub object: Value,
}

/// Puts a namespaced object that names no namespace in `namespace`, as
/// kubectl does with `-n`.
pub fn default_namespace(object: &mut Object, namespace: &str) {
    let meta = match object {
        Object::Namespace(_) => None,
        Object::Service(o) => Some(&mut o.metadata),
        Object::EndpointSlice(o) => Some(&mut o.metadata),
        Object::Endpoints(o) => Some(&mut o.metadata),
        Object::StatefulSet(o) => Some(&mut o.metadata),
    };
    if let Some(meta) = meta {
        meta.namespace.get_or_insert_with(|| namespace.to_owned());
    }
}

/// An error from a cluster operation, in the shape of a Kubernetes Status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    /// `NotFound`, `BadRequest`, `Conflict`, `Invalid`.
    pub reason: &'static str,
    pub message: String,
}
impl ApiError {
    pub fn not_found(resource: &str, name: &str) -> Self {
        Self {
            code: 404,
            reason: "NotFound",
            message: format!("{resource} \"{name}\" not found"),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: 400,
            reason: "BadRequest",
            message: message.into(),
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: 422,
            reason: "Invalid",
            message: message.into(),
        }
    }

    /// The Kubernetes `Status` object for this error.
    pub fn status(&self) -> Value {
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        })
    }
}
/// The resources the cluster serves, with their API coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Namespaces,
    Pods,
    Services,
    StatefulSets,
    EndpointSlices,
    Endpoints,
    PersistentVolumeClaims,
    Events,
    ControllerRevisions,
    PersistentVolumes,
    StorageClasses,
}
impl Resource {
    pub const ALL: [Resource; 11] = [
        Resource::Namespaces,
        Resource::Pods,
        Resource::Services,
        Resource::StatefulSets,
        Resource::EndpointSlices,
        Resource::Endpoints,
        Resource::PersistentVolumeClaims,
        Resource::Events,
        Resource::ControllerRevisions,
        Resource::PersistentVolumes,
        Resource::StorageClasses,
    ];

    /// From the URL: API group (empty for core) and plural.
    pub fn from_path(group: &str, plural: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.group() == group && r.plural() == plural)
    }

    /// The k8s-openapi type behind the resource, whose constants give its
    /// apiVersion, kind, plural and scope.
    pub const fn api(self) -> ApiResource {
        use k8s_openapi::api::apps::v1 as apps;
        use k8s_openapi::api::core::v1 as core;
        use k8s_openapi::api::discovery::v1 as discovery;
        use k8s_openapi::api::storage::v1 as storage;
        match self {
            Resource::Namespaces => ApiResource::of::<core::Namespace>(),
            Resource::Pods => ApiResource::of::<core::Pod>(),
            Resource::Services => ApiResource::of::<core::Service>(),
            Resource::StatefulSets => ApiResource::of::<apps::StatefulSet>(),
            Resource::EndpointSlices => ApiResource::of::<discovery::EndpointSlice>(),
            Resource::Endpoints => ApiResource::of::<core::Endpoints>(),
            Resource::PersistentVolumeClaims => ApiResource::of::<core::PersistentVolumeClaim>(),
            Resource::Events => ApiResource::of::<core::Event>(),
            Resource::ControllerRevisions => ApiResource::of::<apps::ControllerRevision>(),
            Resource::PersistentVolumes => ApiResource::of::<core::PersistentVolume>(),
            Resource::StorageClasses => ApiResource::of::<storage::StorageClass>(),
        }
    }

    pub fn plural(self) -> &'static str {
        self.api().plural
    }

    pub fn group(self) -> &'static str {
        self.api().group
    }

    pub fn api_version(self) -> &'static str {
        self.api().api_version
    }

    pub fn kind(self) -> &'static str {
        self.api().kind
    }

    /// `kubectl`'s name of the type in messages: `statefulset.apps`.
    pub fn kubectl_name(self) -> String {
        let kind = self.kind().to_ascii_lowercase();
        match self.group() {
            "" => kind,
            group => format!("{kind}.{group}"),
        }
    }

    /// The plural with its group, as API errors name types:
    /// `pods`, `statefulsets.apps`.
    pub fn plural_name(self) -> String {
        match self.group() {
            "" => self.plural().to_owned(),
            group => format!("{}.{group}", self.plural()),
        }
    }

    pub(super) fn namespaced(self) -> bool {
        self.api().namespaced
    }
}
/// Sets `apiVersion` and `kind` (k8s-openapi writes them, but be sure).
pub(super) fn stamp(object: &mut Value, resource: Resource) {
    if let Some(map) = object.as_object_mut() {
        map.entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version().to_owned()));
        map.entry("kind")
            .or_insert_with(|| Value::String(resource.kind().to_owned()));
    }
}
pub(super) fn to_json<T: serde::Serialize>(object: T) -> Result<Value, ApiError> {
    json_of(serde_json::to_value(object))
}
/// A JSON form, or the API error for a form that could not be made.
pub(super) fn json_of(value: Result<Value, serde_json::Error>) -> Result<Value, ApiError> {
    value.map_err(|e| ApiError::bad_request(e.to_string()))
}
pub fn object_id(object: &Object) -> (Resource, Key) {
    match object {
        Object::Namespace(o) => (
            Resource::Namespaces,
            (String::new(), o.metadata.name.clone().unwrap_or_default()),
        ),
        Object::Service(o) => (Resource::Services, key_of(&o.metadata)),
        Object::EndpointSlice(o) => (Resource::EndpointSlices, key_of(&o.metadata)),
        Object::Endpoints(o) => (Resource::Endpoints, key_of(&o.metadata)),
        Object::StatefulSet(o) => (Resource::StatefulSets, key_of(&o.metadata)),
    }
}
/// What the cluster keeps of a value to tell "unchanged" from "changed"
/// without keeping the value: 128 bits of SipHash over its form, under a
/// key drawn once per process ([`hasher`]), so nobody who writes objects
/// can craft two that collide.
pub(super) type Fingerprint = u128;

/// A SipHash-1-3 hasher under this process's key: random (getrandom, as
/// the cookie secret), drawn on first use. Fingerprints are compared only
/// within one process, so the key never needs to be the same twice.
fn hasher() -> SipHasher13 {
    static KEY: std::sync::OnceLock<[u8; 16]> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut key = [0u8; 16];
        if let Err(error) = getrandom::fill(&mut key) {
            // Without the OS's randomness the clock still keys it: not
            // secret, but not the same zero key for everyone.
            tracing::warn!(%error, "no random key for object fingerprints; keyed by the clock");
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            key = now.to_le_bytes();
        }
        key
    });
    SipHasher13::new_with_key(key)
}

/// Feeds what is written into a hasher, so a value's JSON form is hashed
/// as it is produced, never held.
struct HashWriter(SipHasher13);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the last step saw of one object, for the watch fan-out.
pub(super) struct Seen {
    pub(super) print: Fingerprint,
    /// The object, while anyone watches: a DELETED event carries it.
    pub(super) last: Option<Value>,
}

/// The fingerprint of a value's JSON form.
pub(super) fn json_fingerprint<T: serde::Serialize + ?Sized>(value: &T) -> Fingerprint {
    let mut writer = HashWriter(hasher());
    // Writing into a hasher cannot fail, and the stored objects always
    // serialize: a failure would leave a fingerprint of the prefix, which
    // still tells this value from others.
    let _ = serde_json::to_writer(&mut writer, value);
    writer.0.finish128().as_u128()
}

/// The fingerprint of a value by its `Hash`.
pub(super) fn hash_fingerprint<T: std::hash::Hash + ?Sized>(value: &T) -> Fingerprint {
    let mut hasher = hasher();
    value.hash(&mut hasher);
    hasher.finish128().as_u128()
}

/// The fingerprint of a manifest object.
pub(super) fn object_fingerprint(object: &Object) -> Fingerprint {
    match object {
        Object::Namespace(o) => json_fingerprint(o),
        Object::Service(o) => json_fingerprint(o),
        Object::EndpointSlice(o) => json_fingerprint(o),
        Object::Endpoints(o) => json_fingerprint(o),
        Object::StatefulSet(o) => json_fingerprint(o),
    }
}

pub(super) fn key_of(meta: &ObjectMeta) -> Key {
    (
        meta.namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_keyed_per_process_and_tell_values_apart() {
        let a = serde_json::json!({"metadata": {"name": "web-0"}});
        let b = serde_json::json!({"metadata": {"name": "web-1"}});
        assert_eq!(json_fingerprint(&a), json_fingerprint(&a.clone()));
        assert_ne!(json_fingerprint(&a), json_fingerprint(&b));
        // Not SipHash's public zero key: anyone could compute those, and
        // craft two objects that collide.
        let mut zero = HashWriter(SipHasher13::new());
        serde_json::to_writer(&mut zero, &a).unwrap();
        assert_ne!(json_fingerprint(&a), zero.0.finish128().as_u128());
        let mut zero = SipHasher13::new();
        std::hash::Hash::hash("web-0", &mut zero);
        assert_ne!(hash_fingerprint("web-0"), zero.finish128().as_u128());
    }
}
