//! The test API server's HTTP side: accepting connections (cut at once on
//! `stop`), routing `/api/v1/...` and `/apis/GROUP/VERSION/...` paths, a
//! named object's GET, lists with `limit`/`continue` over a consistent
//! snapshot (410 once compacted), and watch streams replayed from history
//! or started with synthetic ADDED events, ended by `timeoutSeconds`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use headless_dns::selector::Selector;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::state::{Continuation, Shared, Sink, event_line, line, selects};
use super::{Resource, Served};

pub(super) type Body = UnsyncBoxBody<Bytes, Infallible>;

pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    token: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            () = token.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let shared = shared.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(handle(shared, request).await) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                // Cut: the socket closes mid-response, as when the API
                // server dies.
                () = token.cancelled() => {}
                _ = connection => {}
            }
        });
    }
}

pub(super) fn full(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())).boxed_unsync())
        .unwrap()
}

pub(super) fn status(code: StatusCode, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    })
}

/// Splits `/api/v1/namespaces/N/services` into (resource, namespace, name).
pub(super) fn route(path: &str) -> Option<(Resource, Option<String>, Option<String>)> {
    for resource in Resource::ALL {
        let Some(rest) = path.strip_prefix(resource.prefix()) else {
            continue;
        };
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let plural = resource.plural();
        match parts.as_slice() {
            [p] if *p == plural => return Some((resource, None, None)),
            ["namespaces", ns, p] if *p == plural => {
                return Some((resource, Some((*ns).to_owned()), None));
            }
            ["namespaces", ns, p, name] if *p == plural => {
                return Some((resource, Some((*ns).to_owned()), Some((*name).to_owned())));
            }
            _ => {}
        }
    }
    None
}

pub(super) async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    // The source's heartbeat; answered as a real API server does, and not
    // recorded with the lists and watches.
    if path == "/version" {
        let version =
            serde_json::json!({"major": "1", "minor": "33", "gitVersion": "v1.33.0-test"});
        return full(StatusCode::OK, &version);
    }
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
    let response = answer(&shared, &request, &path, &query, watch).await;
    shared.state.lock().unwrap().served.push(Served {
        path,
        query,
        status: response.status().as_u16(),
        watch,
    });
    response
}

pub(super) async fn answer(
    shared: &Arc<Shared>,
    request: &Request<Incoming>,
    path: &str,
    query: &HashMap<String, String>,
    watch: bool,
) -> Response<Body> {
    if request.method() != hyper::Method::GET {
        let s = status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "this test server only reads",
        );
        return full(StatusCode::METHOD_NOT_ALLOWED, &s);
    }
    let Some((resource, namespace, name)) = route(path) else {
        let s = status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        );
        return full(StatusCode::NOT_FOUND, &s);
    };
    let selector = match Selector::parse(query.get("labelSelector").map_or("", String::as_str)) {
        Ok(s) => s,
        Err(e) => {
            let s = status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("unable to parse requirement: {e}"),
            );
            return full(StatusCode::BAD_REQUEST, &s);
        }
    };
    if let Some(name) = name {
        let state = shared.state.lock().unwrap();
        let key = (resource, namespace.unwrap_or_default(), name.clone());
        return match state.objects.get(&key) {
            Some(object) => full(StatusCode::OK, object),
            None => {
                let s = status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("{} \"{name}\" not found", resource.plural()),
                );
                full(StatusCode::NOT_FOUND, &s)
            }
        };
    }
    if watch {
        let mut open = shared.watches_open.subscribe();
        let _ = open.wait_for(|open| *open).await;
        return start_watch(shared, resource, namespace, selector, query);
    }
    shared
        .lists_received
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut open = shared.lists_open.subscribe();
    let _ = open.wait_for(|open| *open).await;
    list(shared, resource, namespace.as_deref(), &selector, query)
}

pub(super) fn list(
    shared: &Arc<Shared>,
    resource: Resource,
    namespace: Option<&str>,
    selector: &Selector,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let mut state = shared.state.lock().unwrap();
    let (token, offset) = match query.get("continue").filter(|c| !c.is_empty()) {
        Some(cont) => {
            let parsed = cont
                .split_once(':')
                .and_then(|(t, o)| Some((t.parse::<u64>().ok()?, o.parse::<usize>().ok()?)));
            match parsed {
                Some((token, offset)) if state.continuations.contains_key(&token) => {
                    (token, offset)
                }
                _ => {
                    state.gone_served += 1;
                    let s = status(
                        StatusCode::GONE,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    );
                    return full(StatusCode::GONE, &s);
                }
            }
        }
        None => {
            let items: Vec<Arc<Value>> = state
                .objects
                .iter()
                .filter(|((r, ns, _), object)| {
                    *r == resource && namespace.is_none_or(|n| n == ns) && selects(selector, object)
                })
                .map(|(_, object)| object.clone())
                .collect();
            let token = state.next_continuation;
            state.next_continuation += 1;
            let rv = state.rv;
            state
                .continuations
                .insert(token, Continuation { rv, items });
            (token, 0)
        }
    };
    let continuation = &state.continuations[&token];
    let rv = continuation.rv;
    let end = limit.map_or(continuation.items.len(), |l| {
        (offset + l).min(continuation.items.len())
    });
    let items = &continuation.items[offset.min(end)..end];
    let more = end < continuation.items.len();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if more {
        metadata["continue"] = json!(format!("{token}:{end}"));
        metadata["remainingItemCount"] = json!(continuation.items.len() - end);
    }
    // Written straight from the stored objects, none copied: a bench lists
    // 100,000 endpoints through here, and the copies took longer than the
    // server under test took to read them.
    let body = serde_json::to_vec(&ListBody {
        api_version: resource.api_version(),
        kind: format!("{}List", resource.kind()),
        metadata,
        items: items.iter().map(|v| ListItem(v)).collect(),
    })
    .unwrap();
    if !more {
        state.continuations.remove(&token);
    }
    drop(state);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)).boxed_unsync())
        .unwrap()
}

/// A list response's body.
#[derive(serde::Serialize)]
struct ListBody<'a> {
    #[serde(rename = "apiVersion")]
    api_version: &'a str,
    kind: String,
    metadata: Value,
    items: Vec<ListItem<'a>>,
}

/// One item of a typed list: like kube-apiserver, without apiVersion and
/// kind.
struct ListItem<'a>(&'a Value);

impl serde::Serialize for ListItem<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(object) = self.0.as_object() else {
            return self.0.serialize(serializer);
        };
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in object {
            if key != "apiVersion" && key != "kind" {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

pub(super) fn start_watch(
    shared: &Arc<Shared>,
    resource: Resource,
    namespace: Option<String>,
    selector: Selector,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let bookmarks = matches!(
        query.get("allowWatchBookmarks").map(String::as_str),
        Some("true" | "1")
    );
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let from: Option<u64> = query
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0")
        .map(|v| v.parse().unwrap_or(0));
    let (tx, mut rx) = mpsc::unbounded_channel::<Bytes>();
    {
        let mut state = shared.state.lock().unwrap();
        match from {
            Some(from) if from < state.oldest => {
                state.gone_served += 1;
                let s = status(
                    StatusCode::GONE,
                    "Expired",
                    &format!("too old resource version: {from} ({})", state.oldest),
                );
                let _ = tx.send(line("ERROR", &s));
                drop(tx);
            }
            Some(from) => {
                let sink = Sink {
                    resource,
                    namespace,
                    selector,
                    bookmarks,
                    tx,
                };
                for event in state.history.iter().filter(|e| e.rv > from) {
                    if let Some(line) = event_line(&sink, event) {
                        let _ = sink.tx.send(line);
                    }
                }
                state.sinks.push(sink);
            }
            None => {
                // No version: synthetic ADDED for what exists, then changes.
                for ((r, ns, _), object) in &state.objects {
                    if *r == resource
                        && namespace.as_ref().is_none_or(|n| n == ns)
                        && selects(&selector, object)
                    {
                        let _ = tx.send(line("ADDED", object));
                    }
                }
                state.sinks.push(Sink {
                    resource,
                    namespace,
                    selector,
                    bookmarks,
                    tx,
                });
            }
        }
    }
    let stream = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|line| line.map(|l| Ok::<_, Infallible>(Frame::data(l))))
    });
    // `timeoutSeconds`: the API server ends the watch cleanly.
    let stream = futures::StreamExt::take_until(
        stream,
        match timeout {
            Some(t) => futures::future::Either::Left(Box::pin(tokio::time::sleep(t))),
            None => futures::future::Either::Right(futures::future::pending::<()>()),
        },
    );
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(StreamBody::new(stream).boxed_unsync())
        .unwrap()
}
