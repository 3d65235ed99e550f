//! The admin API's writes to single objects: delete (with
//! `propagationPolicy`, `Orphan` keeping a StatefulSet's pods), replace and
//! merge-patch a StatefulSet, merge-patch a PersistentVolume, and create a
//! Namespace or a bare Pod. Each wakes the simulation loop after it.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::apps::v1 as apps;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::handle::{ClusterHandle, error, resource};
use crate::source::cluster::{ApiError, Resource};

pub(super) async fn delete_namespace(
    State(h): State<ClusterHandle>,
    Path(name): Path<String>,
) -> Response {
    let result = h
        .lock()
        .delete(Resource::Namespaces, "", &name, Instant::now());
    h.wake.notify_one();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

pub(super) async fn delete_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path((plural, name)): Path<(String, String)>,
) -> Response {
    delete_one(h, "", &plural, "", &name)
}

/// `PATCH /api/v1/persistentvolumes/NAME`: a JSON merge patch.
pub(super) async fn patch_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path((plural, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if plural != Resource::PersistentVolumes.plural() {
        return error(method_not_allowed(format!(
            "only {} can be patched here, not {plural}",
            Resource::PersistentVolumes.plural()
        )));
    }
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(ApiError::bad_request(format!("the patch is not JSON: {e}"))),
    };
    let result = h.lock().patch_volume(&name, &patch);
    h.wake.notify_one();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

pub(super) async fn delete_core(
    State(h): State<ClusterHandle>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    delete_one(h, "", &plural, &ns, &name)
}

#[derive(Deserialize, Default)]
pub(super) struct DeleteQuery {
    #[serde(rename = "propagationPolicy")]
    propagation_policy: Option<String>,
}

pub(super) async fn delete_group(
    State(h): State<ClusterHandle>,
    Path((group, _version, ns, plural, name)): Path<(String, String, String, String, String)>,
    Query(q): Query<DeleteQuery>,
) -> Response {
    match q.propagation_policy.as_deref() {
        None | Some("Background" | "Foreground") => delete_one(h, &group, &plural, &ns, &name),
        Some("Orphan") if Resource::from_path(&group, &plural) == Some(Resource::StatefulSets) => {
            let result = h.lock().delete_set_orphaning(&ns, &name);
            h.wake.notify_one();
            match result {
                Ok(v) => axum::Json(v).into_response(),
                Err(e) => error(e),
            }
        }
        Some("Orphan") => delete_one(h, &group, &plural, &ns, &name),
        Some(other) => error(ApiError::bad_request(format!(
            "propagationPolicy {other:?}: use Orphan, Background or Foreground"
        ))),
    }
}

fn delete_one(h: ClusterHandle, group: &str, plural: &str, ns: &str, name: &str) -> Response {
    let r = match resource(group, plural) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let result = h.lock().delete(r, ns, name, Instant::now());
    h.wake.notify_one();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

fn statefulsets_only(group: &str, plural: &str) -> Result<(), Box<Response>> {
    if Resource::from_path(group, plural) == Some(Resource::StatefulSets) {
        Ok(())
    } else {
        Err(Box::new(error(method_not_allowed(format!(
            "only {} can be replaced or patched here, not {plural}",
            Resource::StatefulSets.plural_name()
        )))))
    }
}

pub(super) async fn put_group(
    State(h): State<ClusterHandle>,
    Path((group, _version, ns, plural, name)): Path<(String, String, String, String, String)>,
    body: Bytes,
) -> Response {
    if let Err(resp) = statefulsets_only(&group, &plural) {
        return *resp;
    }
    let sts: apps::StatefulSet =
        match serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body)) {
            Ok(sts) => sts,
            Err(e) => {
                return error(ApiError::bad_request(format!(
                    "StatefulSet in the request body: {}: {}",
                    e.path(),
                    e.inner()
                )));
            }
        };
    let result = h.lock().replace_set(&ns, &name, sts);
    h.wake.notify_one();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

pub(super) async fn patch_group(
    State(h): State<ClusterHandle>,
    Path((group, _version, ns, plural, name)): Path<(String, String, String, String, String)>,
    body: Bytes,
) -> Response {
    if let Err(resp) = statefulsets_only(&group, &plural) {
        return *resp;
    }
    let patch: Value = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(ApiError::bad_request(format!("the patch is not JSON: {e}"))),
    };
    let result = h.lock().patch_set(&ns, &name, &patch);
    h.wake.notify_one();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

/// `POST /api/v1/namespaces`: a namespace from a JSON `Namespace`.
pub(super) async fn create_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path(plural): Path<String>,
    body: Bytes,
) -> Response {
    if plural != Resource::Namespaces.plural() {
        return error(method_not_allowed(format!(
            "only {} can be created here, not {plural}",
            Resource::Namespaces.plural()
        )));
    }
    let ns: k8s_openapi::api::core::v1::Namespace = match serde_json::from_slice(&body) {
        Ok(ns) => ns,
        Err(e) => {
            return error(ApiError::bad_request(format!(
                "Namespace in the request body: {e}"
            )));
        }
    };
    let name = ns.metadata.name.clone().unwrap_or_default();
    let result = {
        let mut cluster = h.lock();
        cluster
            .create(
                crate::source::manifest::Object::Namespace(Box::new(ns)),
                "",
                Instant::now(),
            )
            .and_then(|_| cluster.get(Resource::Namespaces, "", &name))
    };
    h.wake.notify_one();
    match result {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(e) => error(e),
    }
}

/// `POST /api/v1/namespaces/NS/pods`: a bare pod (`ctl run`).
pub(super) async fn create_core_ns(
    State(h): State<ClusterHandle>,
    Path((ns, plural)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if plural != Resource::Pods.plural() {
        return error(method_not_allowed(format!(
            "only {} can be created here, not {plural}; use ctl create -f for other objects",
            Resource::Pods.plural()
        )));
    }
    let pod: k8s_openapi::api::core::v1::Pod =
        match serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_slice(&body)) {
            Ok(pod) => pod,
            Err(e) => {
                return error(ApiError::bad_request(format!(
                    "Pod in the request body: {}: {}",
                    e.path(),
                    e.inner()
                )));
            }
        };
    let result = h.lock().create_pod(&ns, pod, Instant::now());
    h.wake.notify_one();
    match result {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(e) => error(e),
    }
}

/// 405: the verb is served for this path's one resource, not `plural`.
fn method_not_allowed(message: String) -> ApiError {
    ApiError {
        code: 405,
        reason: "MethodNotAllowed",
        message,
    }
}
