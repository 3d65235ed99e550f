//! The admin API's verbs on whole manifest files, which kubectl does on
//! the client side: `apply`, `create -f` and `delete -f` (objects without a
//! namespace go in `?namespace=`), and the simulation's pod faults.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;

use super::handle::{ClusterHandle, error};
use crate::source::cluster::{self, ApiError, Fault};
use crate::source::manifest::{Object, parse_objects};

fn manifest_text(body: &Bytes) -> Result<Vec<Object>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the manifest is not UTF-8"))?;
    parse_objects(text, std::path::Path::new("<request>"))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `POST /apply[?namespace=NS]`: objects without a namespace go in NS
/// (default `default`), as `kubectl apply -n NS` puts them.
pub(super) async fn apply(
    State(h): State<ClusterHandle>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> Response {
    let objects = match namespaced_objects(&body, q.namespace.as_deref()) {
        Ok(o) => o,
        Err(e) => return error(e),
    };
    let result = h.lock().apply(objects, Instant::now());
    h.wake.notify_one();
    match result {
        Ok(results) => axum::Json(serde_json::json!({"results": results})).into_response(),
        Err(e) => error(e),
    }
}

pub(super) async fn delete_files(
    State(h): State<ClusterHandle>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> Response {
    let objects = match namespaced_objects(&body, q.namespace.as_deref()) {
        Ok(o) => o,
        Err(e) => return error(e),
    };
    let mut results = Vec::new();
    let mut missing = Vec::new();
    {
        let mut cluster = h.lock();
        for object in objects {
            let (r, (ns, name)) = cluster::object_id(&object);
            match cluster.delete(r, &ns, &name, Instant::now()) {
                Ok(_) => results.push(format!("{} \"{name}\" deleted", r.kubectl_name())),
                Err(e) => missing.push(e.message),
            }
        }
    }
    h.wake.notify_one();
    if results.is_empty() && !missing.is_empty() {
        return error(ApiError {
            code: 404,
            reason: "NotFound",
            message: missing.join("; "),
        });
    }
    axum::Json(serde_json::json!({"results": results, "errors": missing})).into_response()
}

#[derive(Deserialize)]
pub(super) struct CreateQuery {
    namespace: Option<String>,
}

/// `POST /create?namespace=NS` with one file's manifests: each object is
/// created in turn (objects without a namespace in NS); one that exists or
/// is invalid gets its `Status` and the rest go on, as `kubectl create -f`.
/// Answers `{"items": [{"result": LINE} | {"error": STATUS}]}`.
pub(super) async fn create_files(
    State(h): State<ClusterHandle>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> Response {
    let objects = match manifest_text(&body) {
        Ok(o) => o,
        Err(e) => return error(e),
    };
    let namespace = q.namespace.unwrap_or_else(|| "default".to_owned());
    let items: Vec<Value> = {
        let mut cluster = h.lock();
        objects
            .into_iter()
            .map(
                |object| match cluster.create(object, &namespace, Instant::now()) {
                    Ok(line) => serde_json::json!({"result": line}),
                    Err(e) => serde_json::json!({"error": e.status()}),
                },
            )
            .collect()
    };
    h.wake.notify_one();
    axum::Json(serde_json::json!({"items": items})).into_response()
}

#[derive(Deserialize)]
struct FaultBody {
    fault: String,
}

pub(super) async fn fault(
    State(h): State<ClusterHandle>,
    Path((ns, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let fault: Fault = match serde_json::from_slice::<FaultBody>(&body)
        .map_err(|e| e.to_string())
        .and_then(|b| b.fault.parse())
    {
        Ok(f) => f,
        Err(e) => return error(ApiError::bad_request(e)),
    };
    let result = h.lock().fault(&ns, &name, fault);
    h.wake.notify_one();
    match result {
        Ok(line) => axum::Json(serde_json::json!({"results": [line]})).into_response(),
        Err(e) => error(e),
    }
}

/// The objects of a manifest body, those that name no namespace put in
/// `namespace` when one is given (as `kubectl -n NS` does).
fn namespaced_objects(body: &Bytes, namespace: Option<&str>) -> Result<Vec<Object>, ApiError> {
    let mut objects = manifest_text(body)?;
    if let Some(ns) = namespace {
        for object in &mut objects {
            cluster::default_namespace(object, ns);
        }
    }
    Ok(objects)
}
