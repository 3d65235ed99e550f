//! The API coordinates of a Kubernetes type (apiVersion, group, version,
//! kind, plural, scope), read from k8s-openapi's `Resource` constants rather
//! than written out by hand. The embedded cluster's resource table, `ctl`'s
//! kinds, the manifest parser and the Kubernetes source's watches each map
//! their own enum to a k8s-openapi type once, through [`ApiResource::of`],
//! and read every string from here. A leaf: it imports nothing of the crate.

use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope, Resource};

/// What the API calls one resource type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiResource {
    /// `apps/v1`, or `v1` for the core group.
    pub api_version: &'static str,
    /// `apps`; empty for the core group.
    pub group: &'static str,
    /// `v1`.
    pub version: &'static str,
    /// `StatefulSet`.
    pub kind: &'static str,
    /// `statefulsets`: the URL path segment.
    pub plural: &'static str,
    /// Whether objects of the type live in a namespace.
    pub namespaced: bool,
}

/// Namespace- or cluster-scoped, as a constant (k8s-openapi gives the scope
/// as a type). Subresources are not resource types here, so they have none.
pub trait Scope {
    const NAMESPACED: bool;
}
impl Scope for NamespaceResourceScope {
    const NAMESPACED: bool = true;
}
impl Scope for ClusterResourceScope {
    const NAMESPACED: bool = false;
}

impl ApiResource {
    /// The coordinates of k8s-openapi type `T`.
    pub const fn of<T>() -> Self
    where
        T: Resource,
        T::Scope: Scope,
    {
        Self {
            api_version: T::API_VERSION,
            group: T::GROUP,
            version: T::VERSION,
            kind: T::KIND,
            plural: T::URL_PATH_SEGMENT,
            namespaced: <T::Scope as Scope>::NAMESPACED,
        }
    }

    /// The path prefix the group and version live under: `/api/v1` for the
    /// core group, `/apis/apps/v1` for the others.
    pub fn path_prefix(self) -> String {
        match self.group {
            "" => format!("/api/{}", self.version),
            _ => format!("/apis/{}", self.api_version),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1 as apps;
    use k8s_openapi::api::core::v1 as core;

    #[test]
    fn coordinates_come_from_the_type() {
        let sts = ApiResource::of::<apps::StatefulSet>();
        assert_eq!(
            sts,
            ApiResource {
                api_version: "apps/v1",
                group: "apps",
                version: "v1",
                kind: "StatefulSet",
                plural: "statefulsets",
                namespaced: true,
            }
        );
        assert_eq!(sts.path_prefix(), "/apis/apps/v1");
        let ns = ApiResource::of::<core::Namespace>();
        assert!(!ns.namespaced);
        assert_eq!(ns.path_prefix(), "/api/v1");
        assert_eq!(ns.group, "");
    }
}
