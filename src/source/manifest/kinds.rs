//! One document's object dispatched on `apiVersion`/`kind` (a `kind: List`
//! expands to its items) and parsed into its k8s-openapi type: the
//! [`Object`]s the embedded cluster applies. Kinds the DNS side does not
//! use are skipped; errors name the object and the field.

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use serde_json::Value;

use super::error::{ManifestError, ObjectAt};
use crate::api_resource::ApiResource;
use crate::source::convert::DEFAULT_NAMESPACE;

/// A Kubernetes object of a kind the server reads.
// Boxed: a StatefulSet is some 2 KiB, and a load of 100,000 objects
// holds them in a list; unboxed, every entry would take the largest size.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Namespace(Box<core::Namespace>),
    Service(Box<core::Service>),
    EndpointSlice(Box<discovery::EndpointSlice>),
    Endpoints(Box<core::Endpoints>),
    StatefulSet(Box<apps::StatefulSet>),
}

/// The kinds the DNS side uses, and the apiVersion each must have.
#[derive(Clone, Copy, Debug)]
pub(super) enum KnownKind {
    Namespace,
    Service,
    EndpointSlice,
    Endpoints,
    StatefulSet,
}

impl KnownKind {
    const ALL: [KnownKind; 5] = [
        KnownKind::Namespace,
        KnownKind::Service,
        KnownKind::EndpointSlice,
        KnownKind::Endpoints,
        KnownKind::StatefulSet,
    ];

    /// The k8s-openapi type parsed, whose constants give kind and apiVersion.
    const fn api(self) -> ApiResource {
        match self {
            KnownKind::Namespace => ApiResource::of::<core::Namespace>(),
            KnownKind::Service => ApiResource::of::<core::Service>(),
            KnownKind::EndpointSlice => ApiResource::of::<discovery::EndpointSlice>(),
            KnownKind::Endpoints => ApiResource::of::<core::Endpoints>(),
            KnownKind::StatefulSet => ApiResource::of::<apps::StatefulSet>(),
        }
    }

    pub(super) fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.api().kind == kind)
    }

    pub(super) fn api_version(self) -> &'static str {
        self.api().api_version
    }
}

/// The API group of an apiVersion: `apps` for `apps/v1`, empty for `v1`.
pub(super) fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Dispatches one object on apiVersion and kind. `inherited` is the
/// apiVersion and kind of the items of a typed list (`ServiceList`), whose
/// items often carry none of their own.
pub(super) fn add_object(
    value: &Value,
    at: &ObjectAt<'_>,
    inherited: Option<(&str, &str)>,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let Value::Object(object) = value else {
        return Err(ManifestError::NotAnObject {
            at: at.position(None),
            found: json_type(value),
        });
    };
    let api_version = type_meta(object, "apiVersion", inherited.map(|i| i.0), at)?;
    let kind = type_meta(object, "kind", inherited.map(|i| i.1), at)?;

    let typed_list = kind.ends_with("List") && object.get("items").is_some_and(Value::is_array);
    if kind == "List" || typed_list {
        return add_list(object, kind, api_version, at, state);
    }

    let Some(known) = KnownKind::from_kind(kind) else {
        tracing::debug!(
            path = %at.document.path.display(),
            document = at.document.document,
            api_version,
            kind,
            "skipping an object of a kind the DNS server does not use"
        );
        return Ok(());
    };
    let expected = known.api_version();
    if api_version != expected {
        // Same group, other version (`discovery.k8s.io/v1beta1`): the object
        // is meant as this kind but in a shape not read here. Another group
        // (`serving.knative.dev/v1` Service) is another kind that happens to
        // share the name.
        if api_group(api_version) == api_group(expected) {
            return Err(ManifestError::WrongApiVersion {
                at: at.position(Some(object_label(kind, object))),
                kind: kind.to_owned(),
                expected,
                found: api_version.to_owned(),
            });
        }
        tracing::debug!(
            path = %at.document.path.display(),
            document = at.document.document,
            api_version,
            kind,
            "skipping an object of another API group"
        );
        return Ok(());
    }

    let has_name = object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    match known {
        KnownKind::Namespace => {
            let ns: core::Namespace = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::Namespace(Box::new(ns)));
        }
        KnownKind::Service => {
            let svc: core::Service = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::Service(Box::new(svc)));
        }
        KnownKind::EndpointSlice => {
            let slice: discovery::EndpointSlice = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::EndpointSlice(Box::new(slice)));
        }
        KnownKind::Endpoints => {
            let ep: core::Endpoints = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::Endpoints(Box::new(ep)));
        }
        KnownKind::StatefulSet => {
            let sts: apps::StatefulSet = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::StatefulSet(Box::new(sts)));
        }
    }
    Ok(())
}

/// Expands `kind: List` (what `kubectl get -o yaml` prints) or a typed list
/// such as `ServiceList` into its items.
pub(super) fn add_list(
    object: &serde_json::Map<String, Value>,
    kind: &str,
    api_version: &str,
    at: &ObjectAt<'_>,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let items = match object.get("items") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ManifestError::InvalidField {
                at: at.position(Some(kind.to_owned())),
                field: "items".to_owned(),
                message: format!("expected a list of objects, found {}", json_type(other)),
            });
        }
    };
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
    let inherited = item_kind.map(|k| (api_version, k));
    for (index, item) in items.iter().enumerate() {
        let path = if at.item.is_empty() {
            format!("items[{index}]")
        } else {
            format!("{}.items[{index}]", at.item)
        };
        let item_at = ObjectAt {
            document: at.document,
            item: &path,
        };
        add_object(item, &item_at, inherited, state)?;
    }
    Ok(())
}

/// Reads `apiVersion` or `kind`: a non-empty string, or what the enclosing
/// list implies.
pub(super) fn type_meta<'v>(
    object: &'v serde_json::Map<String, Value>,
    field: &'static str,
    inherited: Option<&'v str>,
    at: &ObjectAt<'_>,
) -> Result<&'v str, ManifestError> {
    match object.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None | Some(Value::Null | Value::String(_)) => {
            inherited.ok_or_else(|| ManifestError::MissingTypeMeta {
                at: at.position(None),
                field,
            })
        }
        Some(other) => Err(ManifestError::InvalidField {
            at: at.position(None),
            field: field.to_owned(),
            message: format!("expected a string, found {}", json_type(other)),
        }),
    }
}

/// Parses `value` into its k8s-openapi type; an error names the field path.
pub(super) fn typed<T: serde::de::DeserializeOwned>(
    value: &Value,
    kind: &str,
    object: &serde_json::Map<String, Value>,
    at: &ObjectAt<'_>,
) -> Result<T, ManifestError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ManifestError::InvalidField {
            at: at.position(Some(object_label(kind, object))),
            // serde_path_to_error writes the root as `.`.
            field: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

pub(super) fn require_name(
    has_name: bool,
    kind: &str,
    at: &ObjectAt<'_>,
) -> Result<(), ManifestError> {
    if has_name {
        Ok(())
    } else {
        Err(ManifestError::MissingName {
            at: at.position(Some(kind.to_owned())),
        })
    }
}

/// `Kind namespace/name` from the raw object, for messages about an object
/// that may not parse.
pub(super) fn object_label(kind: &str, object: &serde_json::Map<String, Value>) -> String {
    let metadata = object.get("metadata");
    // A value of the wrong type is shown as written (`false/web` for
    // `namespace: no`), since that may be the very error being reported.
    let field = |name: &str| match metadata.and_then(|m| m.get(name)) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    match field("name") {
        Some(name) => {
            let namespace = field("namespace");
            let namespace = namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
            format!("{kind} {namespace}/{name}")
        }
        None => kind.to_owned(),
    }
}

pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
