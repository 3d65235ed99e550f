//! The admin API's reads: list (with `labelSelector`), `?watch=true` as
//! newline-delimited watch events (an ADDED per existing object, then each
//! change), and get, for the core group, the named groups and
//! cluster-scoped kinds. Each locks the cluster only to copy what it sends.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::handle::{ClusterHandle, error, resource};
use crate::selector::Selector;
use crate::source::cluster::{ApiError, Resource};

#[derive(Deserialize, Default)]
pub(super) struct ListQuery {
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

pub(super) async fn list_core(
    State(h): State<ClusterHandle>,
    Path(plural): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    list(h, "", &plural, None, q)
}

pub(super) async fn list_core_ns(
    State(h): State<ClusterHandle>,
    Path((ns, plural)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    list(h, "", &plural, Some(ns), q)
}

pub(super) async fn list_group(
    State(h): State<ClusterHandle>,
    Path((group, _version, plural)): Path<(String, String, String)>,
    Query(q): Query<ListQuery>,
) -> Response {
    list(h, &group, &plural, None, q)
}

pub(super) async fn list_group_ns(
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
        let mut cluster = h.lock();
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

pub(super) async fn get_namespace(
    State(h): State<ClusterHandle>,
    Path(name): Path<String>,
) -> Response {
    match h.lock().get(Resource::Namespaces, "", &name) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error(e),
    }
}

pub(super) async fn get_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path((plural, name)): Path<(String, String)>,
) -> Response {
    get_one(h, "", &plural, "", &name)
}

pub(super) async fn get_group_cluster_scoped(
    State(h): State<ClusterHandle>,
    Path((group, _version, plural, name)): Path<(String, String, String, String)>,
) -> Response {
    get_one(h, &group, &plural, "", &name)
}

pub(super) async fn get_core(
    State(h): State<ClusterHandle>,
    Path((ns, plural, name)): Path<(String, String, String)>,
) -> Response {
    get_one(h, "", &plural, &ns, &name)
}

pub(super) async fn get_group(
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
