//! The embedded cluster's HTTP API, served on the admin address for
//! `headless-dns ctl`.
//!
//! Paths follow the Kubernetes API (`/api/v1/namespaces/demo/pods`,
//! `/apis/apps/v1/namespaces/demo/statefulsets/web`), objects are Kubernetes
//! JSON, errors are `Status` objects, and `?watch=true` streams
//! newline-delimited watch events. A few verbs kubectl does client-side
//! (`apply`, `delete -f`) and the simulation's faults have plain endpoints.
//! Each handler locks the cluster briefly (never the DNS path: the server
//! answers from snapshots) and wakes the simulation loop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use k8s_openapi::api::apps::v1 as apps;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::cluster::{ApiError, Cluster, Fault, Resource};
use super::manifest::parse_objects;
use crate::selector::Selector;

/// The cluster and the bell that wakes its simulation loop.
#[derive(Clone)]
pub struct ClusterHandle {
    pub cluster: Arc<Mutex<Cluster>>,
    pub wake: Arc<Notify>,
}

impl ClusterHandle {
    pub fn new(cluster: Cluster) -> Self {
        Self {
            cluster: Arc::new(Mutex::new(cluster)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Locks the cluster. A panic while holding the lock is a bug, but the
    /// data is still consistent enough to serve, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub fn router(handle: ClusterHandle) -> Router {
    Router::new()
        .route(
            "/api/v1/{resource}",
            get(list_core).post(create_cluster_scoped),
        )
        .route(
            "/api/v1/namespaces/{ns}",
            get(get_namespace).delete(delete_namespace),
        )
        .route(
            "/api/v1/namespaces/{ns}/{resource}",
            get(list_core_ns).post(create_core_ns),
        )
        .route(
            "/api/v1/namespaces/{ns}/{resource}/{name}",
            get(get_core).delete(delete_core),
        )
        .route(
            "/api/v1/{resource}/{name}",
            get(get_cluster_scoped)
                .delete(delete_cluster_scoped)
                .patch(patch_cluster_scoped),
        )
        .route("/apis/{group}/{version}/{resource}", get(list_group))
        .route(
            "/apis/{group}/{version}/{resource}/{name}",
            get(get_group_cluster_scoped),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{ns}/{resource}",
            get(list_group_ns),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{ns}/{resource}/{name}",
            get(get_group)
                .delete(delete_group)
                .put(put_group)
                .patch(patch_group),
        )
        .route("/apply", post(apply))
        .route("/create", post(create_files))
        .route("/delete", post(delete_files))
        .route("/sim/v1/namespaces/{ns}/pods/{name}/fault", post(fault))
        .with_state(handle)
}

/// Where the server answers DNS, for `ctl exec` and `ctl run`: their
/// built-in `nslookup` asks it as a pod would ask the cluster DNS.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DnsInfo {
    /// `IP:PORT` of every DNS listener.
    pub servers: Vec<String>,
    /// The cluster zone (`cluster.local`).
    pub zone: String,
}

/// `GET /sim/v1/dns`: the [`DnsInfo`].
pub fn dns_router(info: DnsInfo) -> Router {
    Router::new().route(
        "/sim/v1/dns",
        get(move || {
            let info = info.clone();
            async move { axum::Json(info) }
        }),
    )
}

fn error(e: ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
    (code, axum::Json(e.status())).into_response()
}

fn unknown_resource(group: &str, plural: &str) -> ApiError {
    let name = if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    };
    ApiError {
        code: 404,
        reason: "NotFound",
        message: format!("the server could not find the requested resource ({name})"),
    }
}

fn resource(group: &str, plural: &str) -> Result<Resource, Box<Response>> {
    Resource::from_path(group, plural)
        .ok_or_else(|| Box::new(error(unknown_resource(group, plural))))
}

#[derive(Deserialize, Default)]
struct ListQuery {
    watch: Option<String>,
    #[serde(rename = "labelSelector")]
    label_selector: Option<String>,
}

impl ListQuery {
    fn watching(&self) -> bool {
        matches!(self.watch.as_deref(), Some("true" | "1"))
    }

    /// The `labelSelector`, parsed; a bad one is the API server's 400.
    fn selector(&self) -> Result<Selector, ApiError> {
        Selector::parse(self.label_selector.as_deref().unwrap_or(""))
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))
    }
}

/// Whether a JSON object's `metadata.labels` satisfy `selector`.
fn selected(selector: &Selector, object: &Value) -> bool {
    if selector.is_empty() {
        return true;
    }
    let labels: Option<BTreeMap<String, String>> = object
        .pointer("/metadata/labels")
        .and_then(|l| serde_json::from_value(l.clone()).ok());
    selector.matches(labels.as_ref())
}

async fn list_core(
    State(h): State<ClusterHandle>,
    Path(plural): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    list(h, "", &plural, None, q)
}

async fn list_core_ns(
    State(h): State<ClusterHandle>,
    Path((ns, plural)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    list(h, "", &plural, Some(ns), q)
}

async fn list_group(
    State(h): State<ClusterHandle>,
    Path((group, _version, plural)): Path<(String, String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    list(h, &group, &plural, None, q)
}

async fn list_group_ns(
    State(h): State<ClusterHandle>,
    Path((group, _version, ns, plural)): Path<(String, String, String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    list(h, &group, &plural, Some(ns), q)
}

fn list(h: ClusterHandle, group: &str, plural: &str, ns: Option<String>, q: ListQuery) -> Response {
    let r = match resource(group, plural) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    let selector = match q.selector() {
        Ok(s) => s,
        Err(e) => return error(e),
    };
    if q.watching() {
        return watch(h, r, ns, selector);
    }
    let cluster = h.lock();
    let mut items = cluster.list(r, ns.as_deref());
    items.retain(|o| selected(&selector, o));
    axum::Json(serde_json::json!({
        "apiVersion": r.api_version(),
        "kind": format!("{}List", r.kind()),
        "metadata": {"resourceVersion": cluster.resource_version().to_string()},
        "items": items,
    }))
    .into_response()
}

/// `?watch=true`: an ADDED event for every object that exists, then every
/// change, one JSON object per line, until the client goes away.
fn watch(h: ClusterHandle, r: Resource, ns: Option<String>, selector: Selector) -> Response {
    let (mut initial, rx) = {
        let cluster = h.lock();
        (cluster.list(r, ns.as_deref()), cluster.subscribe())
    };
    initial.retain(|o| selected(&selector, o));
    let line = |kind: &str, object: &Value| {
        let mut text = serde_json::json!({"type": kind, "object": object}).to_string();
        text.push('\n');
        Ok::<Bytes, std::convert::Infallible>(Bytes::from(text))
    };
    let first: Vec<_> = initial.iter().map(|o| line("ADDED", o)).collect();
    let changes = futures::stream::unfold(rx, move |mut rx| {
        let ns = ns.clone();
        let selector = selector.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(event)
                        if event.resource == r
                            && ns.as_ref().is_none_or(|n| *n == event.namespace)
                            && selected(&selector, &event.object) =>
                    {
                        let mut text =
                            serde_json::json!({"type": event.kind, "object": event.object})
                                .to_string();
                        text.push('\n');
                        return Some((
                            Ok::<Bytes, std::convert::Infallible>(Bytes::from(text)),
                            rx,
                        ));
                    }
                    Ok(_) => continue,
                    // A slow watcher that fell behind misses events, as
                    // with a real API server's watch cache; keep going.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    let stream = futures::StreamExt::chain(futures::stream::iter(first), changes);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn get_namespace(State(h): State<ClusterHandle>, Path(name): Path<String>) -> Response {
    match h.lock().get(Resource::Namespaces, "", &name) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

async fn delete_namespace(State(h): State<ClusterHandle>, Path(name): Path<String>) -> Response {
    let result = h
        .lock()
        .delete(Resource::Namespaces, "", &name, Instant::now());
    h.wake.notify_one();
    match result {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

async fn get_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path((plural, name)): Path<(String, String)>,
) -> Response {
    get_one(h, "", &plural, "", &name)
}

async fn get_group_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path((group, _version, plural, name)): Path<(String, String, String, String)>,
) -> Response {
    get_one(h, &group, &plural, "", &name)
}

async fn delete_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path((plural, name)): Path<(String, String)>,
) -> Response {
    delete_one(h, "", &plural, "", &name)
}

/// `PATCH /api/v1/persistentvolumes/NAME`: a JSON merge patch.
async fn patch_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path((plural, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if plural != "persistentvolumes" {
        return error(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!("only persistentvolumes can be patched here, not {plural}"),
        });
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

async fn get_core(
    State(h): State<ClusterHandle>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    get_one(h, "", &plural, &ns, &name)
}

async fn get_group(
    State(h): State<ClusterHandle>,
    Path((group, _version, ns, plural, name)): Path<(String, String, String, String, String)>,
) -> Response {
    get_one(h, &group, &plural, &ns, &name)
}

fn get_one(h: ClusterHandle, group: &str, plural: &str, ns: &str, name: &str) -> Response {
    let r = match resource(group, plural) {
        Ok(r) => r,
        Err(resp) => return *resp,
    };
    match h.lock().get(r, ns, name) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

async fn delete_core(
    State(h): State<ClusterHandle>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    delete_one(h, "", &plural, &ns, &name)
}

#[derive(Deserialize, Default)]
struct DeleteQuery {
    #[serde(rename = "propagationPolicy")]
    propagation_policy: Option<String>,
}

async fn delete_group(
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
        Err(Box::new(error(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "only {} can be replaced or patched here, not {plural}",
                Resource::StatefulSets.plural_name()
            ),
        })))
    }
}

async fn put_group(
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

async fn patch_group(
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

fn manifest_text(body: &Bytes) -> Result<Vec<super::manifest::Object>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the manifest is not UTF-8"))?;
    parse_objects(text, std::path::Path::new("<request>"))
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `POST /apply[?namespace=NS]`: objects without a namespace go in NS
/// (default `default`), as `kubectl apply -n NS` puts them.
async fn apply(
    State(h): State<ClusterHandle>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> Response {
    let mut objects = match manifest_text(&body) {
        Ok(o) => o,
        Err(e) => return error(e),
    };
    if let Some(ns) = &q.namespace {
        for object in &mut objects {
            super::cluster::default_namespace(object, ns);
        }
    }
    let result = h.lock().apply(objects, Instant::now());
    h.wake.notify_one();
    match result {
        Ok(results) => axum::Json(serde_json::json!({"results": results})).into_response(),
        Err(e) => error(e),
    }
}

async fn delete_files(
    State(h): State<ClusterHandle>,
    Query(q): Query<CreateQuery>,
    body: Bytes,
) -> Response {
    let mut objects = match manifest_text(&body) {
        Ok(o) => o,
        Err(e) => return error(e),
    };
    if let Some(ns) = &q.namespace {
        for object in &mut objects {
            super::cluster::default_namespace(object, ns);
        }
    }
    let mut results = Vec::new();
    let mut missing = Vec::new();
    {
        let mut cluster = h.lock();
        for object in objects {
            let (r, (ns, name)) = super::cluster::object_id(&object);
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

/// `POST /api/v1/namespaces`: a namespace from a JSON `Namespace`.
async fn create_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path(plural): Path<String>,
    body: Bytes,
) -> Response {
    if plural != "namespaces" {
        return error(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!("only namespaces can be created here, not {plural}"),
        });
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
            .create(super::manifest::Object::Namespace(ns), "", Instant::now())
            .and_then(|_| cluster.get(Resource::Namespaces, "", &name))
    };
    h.wake.notify_one();
    match result {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(e) => error(e),
    }
}

/// `POST /api/v1/namespaces/NS/pods`: a bare pod (`ctl run`).
async fn create_core_ns(
    State(h): State<ClusterHandle>,
    Path((ns, plural)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if plural != "pods" {
        return error(ApiError {
            code: 405,
            reason: "MethodNotAllowed",
            message: format!(
                "only pods can be created here, not {plural}; use ctl create -f for other objects"
            ),
        });
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

#[derive(Deserialize)]
struct CreateQuery {
    namespace: Option<String>,
}

/// `POST /create?namespace=NS` with one file's manifests: each object is
/// created in turn (objects without a namespace in NS); one that exists or
/// is invalid gets its `Status` and the rest go on, as `kubectl create -f`.
/// Answers `{"items": [{"result": LINE} | {"error": STATUS}]}`.
async fn create_files(
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

async fn fault(
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
