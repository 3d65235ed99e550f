//! `POST` semantics for the embedded cluster: creating an object that must
//! not exist yet (`ctl create ns`, `ctl create -f`), and creating a bare pod
//! that no controller owns (`ctl run`).
//!
//! Objects arrive as parsed manifest [`Object`]s or a k8s-openapi `Pod`;
//! an object that is already there is the API server's 409 `AlreadyExists`,
//! a bad name its 422 `Invalid`. What is created goes through the same paths
//! as `apply`, so the simulation treats it like any other object.

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;
use tokio::time::Instant;

use super::{
    ApiError, Cluster, Key, NODE, Resource, SimPod, default_namespace, now_time, object_id,
};
use crate::source::manifest::Object;

impl ApiError {
    /// The API server's 409 for a create of something that exists.
    pub fn already_exists(resource: &str, name: &str) -> Self {
        Self {
            code: 409,
            reason: "AlreadyExists",
            message: format!("{resource} \"{name}\" already exists"),
        }
    }
}

/// apimachinery's `IsDNS1123Label` message for a name that is not one.
fn check_label_name(kind: &str, name: &str) -> Result<(), ApiError> {
    if crate::names::is_dns_label(name) {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "{kind} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    )))
}

impl Cluster {
    /// Whether an object of `resource` is stored under `key`.
    fn exists(&self, resource: Resource, key: &Key) -> bool {
        self.get(resource, &key.0, &key.1).is_ok()
    }

    /// Creates one object; it must not exist. Objects without a namespace
    /// go in `namespace`. Returns kubectl's line (`service/nginx created`).
    pub fn create(
        &mut self,
        mut object: Object,
        namespace: &str,
        now: Instant,
    ) -> Result<String, ApiError> {
        default_namespace(&mut object, namespace);
        let (resource, key) = object_id(&object);
        if key.1.is_empty() {
            return Err(ApiError::invalid(format!(
                "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                resource.kind()
            )));
        }
        if resource == Resource::Namespaces {
            check_label_name("Namespace", &key.1)?;
        }
        if self.exists(resource, &key) {
            return Err(ApiError::already_exists(&resource.plural_name(), &key.1));
        }
        self.apply_one(object, now)
    }

    /// Creates a pod no controller owns (`ctl run`). It starts, turns
    /// Ready and gets an IP like a StatefulSet's pod, and nothing replaces
    /// it when it is deleted.
    pub fn create_pod(
        &mut self,
        namespace: &str,
        mut pod: core::Pod,
        now: Instant,
    ) -> Result<Value, ApiError> {
        let name = pod.metadata.name.clone().unwrap_or_default();
        check_label_name("Pod", &name)?;
        let key = (namespace.to_owned(), name.clone());
        if self.pods.contains_key(&key) {
            return Err(ApiError::already_exists(Resource::Pods.plural(), &name));
        }
        let Some(spec) = pod.spec.as_mut().filter(|s| !s.containers.is_empty()) else {
            return Err(ApiError::invalid(format!(
                "Pod \"{name}\" is invalid: spec.containers: Required value"
            )));
        };
        spec.node_name = Some(NODE.to_owned());
        pod.metadata = ObjectMeta {
            namespace: Some(namespace.to_owned()),
            creation_timestamp: Some(now_time()),
            uid: Some(format!(
                "{:016x}",
                super::fnv(&format!("pod/{namespace}/{name}/{}", self.event_seq))
            )),
            ..pod.metadata
        };
        pod.status = None;
        self.ensure_namespace(namespace);
        self.pods.insert(
            key.clone(),
            SimPod {
                pod,
                ordinal: None,
                revision: String::new(),
                set: None,
                created: now,
                started: None,
                ready_since: None,
                deleting: None,
                failed: false,
                unready: false,
                fail_start: false,
                unschedulable: false,
                ip: None,
            },
        );
        self.render_pod_status(&key);
        self.event(
            ("Pod", namespace, &name),
            "Normal",
            "Scheduled",
            format!("Successfully assigned {namespace}/{name} to {NODE}"),
        );
        self.get(Resource::Pods, namespace, &name)
    }
}
