//! The resource types `ctl` knows: the names and short names kubectl accepts
//! for them, the admin API paths they live under, and the qualified names
//! kubectl prints (`statefulset.apps/web-demo`).

use std::fmt;

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
        let kind = match name {
            "pods" | "pod" | "po" => Kind::Pod,
            "services" | "service" | "svc" => Kind::Service,
            "statefulsets" | "statefulset" | "sts" => Kind::StatefulSet,
            "endpointslices" | "endpointslice" => Kind::EndpointSlice,
            "persistentvolumeclaims" | "persistentvolumeclaim" | "pvc" => {
                Kind::PersistentVolumeClaim
            }
            "events" | "event" | "ev" => Kind::Event,
            "namespaces" | "namespace" | "ns" => Kind::Namespace,
            "controllerrevisions" | "controllerrevision" => Kind::ControllerRevision,
            "persistentvolumes" | "persistentvolume" | "pv" => Kind::PersistentVolume,
            "storageclasses" | "storageclass" | "sc" => Kind::StorageClass,
            _ => return None,
        };
        match group {
            None => Some(kind),
            Some(group) if group == kind.group() => Some(kind),
            Some(_) => None,
        }
    }

    /// The plural resource name used in paths and in server messages.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Pod => "pods",
            Kind::Service => "services",
            Kind::StatefulSet => "statefulsets",
            Kind::EndpointSlice => "endpointslices",
            Kind::PersistentVolumeClaim => "persistentvolumeclaims",
            Kind::Event => "events",
            Kind::Namespace => "namespaces",
            Kind::ControllerRevision => "controllerrevisions",
            Kind::PersistentVolume => "persistentvolumes",
            Kind::StorageClass => "storageclasses",
        }
    }

    /// The API group; empty for the core group.
    pub fn group(self) -> &'static str {
        match self {
            Kind::StatefulSet | Kind::ControllerRevision => "apps",
            Kind::EndpointSlice => "discovery.k8s.io",
            Kind::StorageClass => "storage.k8s.io",
            _ => "",
        }
    }

    /// The path prefix of the group and version the admin API serves.
    fn api_prefix(self) -> &'static str {
        match self {
            Kind::StatefulSet | Kind::ControllerRevision => "/apis/apps/v1",
            Kind::EndpointSlice => "/apis/discovery.k8s.io/v1",
            Kind::StorageClass => "/apis/storage.k8s.io/v1",
            _ => "/api/v1",
        }
    }

    /// Whether objects of this kind live in a namespace.
    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Kind::Namespace | Kind::PersistentVolume | Kind::StorageClass
        )
    }

    /// What kubectl prints before a name: `pod`, `statefulset.apps`,
    /// `endpointslice.discovery.k8s.io`.
    pub fn qualified(self) -> String {
        let singular = match self {
            Kind::StorageClass => "storageclass",
            _ => self.plural().trim_end_matches('s'),
        };
        match self.group() {
            "" => singular.to_string(),
            group => format!("{singular}.{group}"),
        }
    }

    /// The list path; `namespace` None lists across all namespaces (and is
    /// what cluster-scoped kinds always use).
    pub fn list_path(self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced() => {
                format!("{}/namespaces/{ns}/{}", self.api_prefix(), self.plural())
            }
            _ => format!("{}/{}", self.api_prefix(), self.plural()),
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
