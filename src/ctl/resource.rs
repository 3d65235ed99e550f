//! The resource types `ctl` knows: the names and short names kubectl accepts
//! for them, the admin API paths they live under, and the qualified names
//! kubectl prints (`statefulset.apps/web-demo`).

use std::fmt;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::storage::v1 as storage;

use crate::api_resource::ApiResource;

/// A resource type of the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Pod,
    Service,
    StatefulSet,
    EndpointSlice,
    PersistentVolumeClaim,
    Event,
    Namespace,
    ControllerRevision,
    PersistentVolume,
    StorageClass,
}

impl Kind {
    /// Every kind, in the order `ctl get --help` lists them.
    pub const ALL: [Kind; 10] = [
        Kind::Pod,
        Kind::StatefulSet,
        Kind::Service,
        Kind::EndpointSlice,
        Kind::PersistentVolumeClaim,
        Kind::Event,
        Kind::Namespace,
        Kind::ControllerRevision,
        Kind::PersistentVolume,
        Kind::StorageClass,
    ];

    /// Parses what a user types for a type, as kubectl does: the plural, the
    /// singular, the short name, or any of them qualified by the API group
    /// (`statefulsets.apps`). Case-insensitive.
    pub fn parse(text: &str) -> Option<Kind> {
        let text = text.to_ascii_lowercase();
        let (name, group) = match text.split_once('.') {
            Some((name, group)) => (name, Some(group)),
            None => (text.as_str(), None),
        };
        let short = |kind: Kind| match kind {
            Kind::Pod => Some("po"),
            Kind::Service => Some("svc"),
            Kind::StatefulSet => Some("sts"),
            Kind::PersistentVolumeClaim => Some("pvc"),
            Kind::Event => Some("ev"),
            Kind::Namespace => Some("ns"),
            Kind::PersistentVolume => Some("pv"),
            Kind::StorageClass => Some("sc"),
            Kind::EndpointSlice | Kind::ControllerRevision => None,
        };
        let kind = Kind::ALL.into_iter().find(|&kind| {
            name == kind.plural()
                || name.eq_ignore_ascii_case(kind.api().kind)
                || short(kind) == Some(name)
        })?;
        match group {
            None => Some(kind),
            Some(group) if group == kind.group() => Some(kind),
            Some(_) => None,
        }
    }

    /// The k8s-openapi type of the kind, whose constants give its plural,
    /// group, version and scope.
    pub const fn api(self) -> ApiResource {
        match self {
            Kind::Pod => ApiResource::of::<core::Pod>(),
            Kind::Service => ApiResource::of::<core::Service>(),
            Kind::StatefulSet => ApiResource::of::<apps::StatefulSet>(),
            Kind::EndpointSlice => ApiResource::of::<discovery::EndpointSlice>(),
            Kind::PersistentVolumeClaim => ApiResource::of::<core::PersistentVolumeClaim>(),
            Kind::Event => ApiResource::of::<core::Event>(),
            Kind::Namespace => ApiResource::of::<core::Namespace>(),
            Kind::ControllerRevision => ApiResource::of::<apps::ControllerRevision>(),
            Kind::PersistentVolume => ApiResource::of::<core::PersistentVolume>(),
            Kind::StorageClass => ApiResource::of::<storage::StorageClass>(),
        }
    }

    /// The plural resource name used in paths and in server messages.
    pub fn plural(self) -> &'static str {
        self.api().plural
    }

    /// The API group; empty for the core group.
    pub fn group(self) -> &'static str {
        self.api().group
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        self.api().namespaced
    }

    /// What kubectl prints before a name: `pod`, `statefulset.apps`,
    /// `endpointslice.discovery.k8s.io`.
    pub fn qualified(self) -> String {
        let singular = self.api().kind.to_ascii_lowercase();
        match self.group() {
            "" => singular,
            group => format!("{singular}.{group}"),
        }
    }

    /// The list path; `namespace` None lists across all namespaces (and is
    /// what cluster-scoped kinds always use).
    pub fn list_path(self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced() => {
                format!(
                    "{}/namespaces/{ns}/{}",
                    self.api().path_prefix(),
                    self.plural()
                )
            }
            _ => format!("{}/{}", self.api().path_prefix(), self.plural()),
        }
    }

    /// The path of one object.
    pub fn item_path(self, namespace: &str, name: &str) -> String {
        format!("{}/{name}", self.list_path(Some(namespace)))
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.plural())
    }
}

/// The error kubectl gives for a type it does not know.
pub fn unknown_type(text: &str) -> String {
    format!("the server doesn't have a resource type \"{text}\"")
}

/// Splits `TYPE/NAME` (`sts/web-demo`, `statefulset.apps/web-demo`).
pub fn split_type_name(text: &str) -> Option<(&str, &str)> {
    text.split_once('/')
        .filter(|(kind, name)| !kind.is_empty() && !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_spellings() {
        for (text, kind) in [
            ("po", Kind::Pod),
            ("Pods", Kind::Pod),
            ("sts", Kind::StatefulSet),
            ("statefulsets.apps", Kind::StatefulSet),
            ("svc", Kind::Service),
            ("endpointslice.discovery.k8s.io", Kind::EndpointSlice),
            ("pvc", Kind::PersistentVolumeClaim),
            ("ev", Kind::Event),
            ("ns", Kind::Namespace),
        ] {
            assert_eq!(Kind::parse(text), Some(kind), "{text}");
        }
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.plural()), Some(kind), "{kind}");
            assert_eq!(Kind::parse(&kind.qualified()), Some(kind), "{kind}");
        }
        assert_eq!(Kind::parse("sc"), Some(Kind::StorageClass));
        assert_eq!(Kind::parse("storageclass"), Some(Kind::StorageClass));
        assert_eq!(Kind::parse("deployments"), None);
        assert_eq!(Kind::parse("pods.apps"), None);
    }

    #[test]
    fn paths_and_names() {
        assert_eq!(
            Kind::StatefulSet.item_path("demo", "web"),
            "/apis/apps/v1/namespaces/demo/statefulsets/web"
        );
        assert_eq!(Kind::Pod.list_path(None), "/api/v1/pods");
        assert_eq!(
            Kind::Namespace.list_path(Some("demo")),
            "/api/v1/namespaces"
        );
        assert_eq!(
            Kind::EndpointSlice.list_path(Some("x")),
            "/apis/discovery.k8s.io/v1/namespaces/x/endpointslices"
        );
        assert_eq!(Kind::StatefulSet.qualified(), "statefulset.apps");
        assert_eq!(
            Kind::PersistentVolumeClaim.qualified(),
            "persistentvolumeclaim"
        );
        assert_eq!(Kind::Service.qualified(), "service");
        assert_eq!(split_type_name("sts/web"), Some(("sts", "web")));
        assert_eq!(split_type_name("web"), None);
    }
}
