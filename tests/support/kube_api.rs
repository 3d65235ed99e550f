//! A Kubernetes API server for tests, on 127.0.0.1 port 0: list and watch
//! for Services, EndpointSlices, StatefulSets and v1 Endpoints, the way
//! kube-apiserver answers them, with controls to change objects and to break
//! things.
//!
//! What it implements: cluster-wide (`/api/v1/services`) and namespaced
//! (`/api/v1/namespaces/N/services`) paths; lists with `resourceVersion`,
//! `limit`/`continue` pagination over a consistent snapshot, and
//! `labelSelector` (`k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (..)`,
//! `k notin (..)`); `?watch=true|1` streams of newline-delimited
//! `{"type":..,"object":..}` events (ADDED, MODIFIED, DELETED, BOOKMARK when
//! `allowWatchBookmarks`, and one ERROR carrying a 410 Status when the
//! requested resourceVersion has been compacted away), replayed from history
//! so a resumed watch misses nothing; a watch under a label selector sees an
//! object that stops matching as DELETED and one that starts as ADDED.
//!
//! Controls: [`KubeApi::apply`] and [`KubeApi::delete`] (each bumps the one
//! global resourceVersion), [`KubeApi::drop_watches`], [`KubeApi::compact`]
//! (expire every resourceVersion seen so far), [`KubeApi::hold_lists`] /
//! [`KubeApi::release_lists`], [`KubeApi::stop`] and [`KubeApi::restart`] on
//! the same port, [`KubeApi::send_raw`] (a malformed event), and a log of the requests served (lists and watches; the
//! source's `/version` heartbeat is answered but not logged).
//!
//! A real control plane (`tests/control_plane/`) proves the behaviour
//! against kube-apiserver itself; this server stays for what a real one
//! cannot be made to do on demand: a 410 at a chosen moment, a list held
//! open, a malformed event, and an exact log of what was asked. Where they
//! differ: [`KubeApi::stop`] closes every connection (the client sees
//! errors at once), while a real API server held with SIGSTOP keeps them
//! open and silent.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// The resources served.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Resource {
    Services,
    EndpointSlices,
    Endpoints,
    StatefulSets,
}

impl Resource {
    pub const ALL: [Resource; 4] = [
        Resource::Services,
        Resource::EndpointSlices,
        Resource::Endpoints,
        Resource::StatefulSets,
    ];

    /// `/api/v1`, `/apis/GROUP/VERSION`.
    fn prefix(self) -> &'static str {
        match self {
            Resource::Services | Resource::Endpoints => "/api/v1",
            Resource::EndpointSlices => "/apis/discovery.k8s.io/v1",
            Resource::StatefulSets => "/apis/apps/v1",
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Resource::Services => "services",
            Resource::EndpointSlices => "endpointslices",
            Resource::Endpoints => "endpoints",
            Resource::StatefulSets => "statefulsets",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Resource::Services | Resource::Endpoints => "v1",
            Resource::EndpointSlices => "discovery.k8s.io/v1",
            Resource::StatefulSets => "apps/v1",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Resource::Services => "Service",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::Endpoints => "Endpoints",
            Resource::StatefulSets => "StatefulSet",
        }
    }

    fn from_kind(kind: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.kind() == kind)
    }
}

/// One request served, for assertions.
#[derive(Clone, Debug)]
pub struct Served {
    pub path: String,
    pub query: HashMap<String, String>,
    pub status: u16,
    pub watch: bool,
}

type Key = (Resource, String, String);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    fn name(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

struct HistoryEvent {
    rv: u64,
    resource: Resource,
    namespace: String,
    kind: EventType,
    object: Arc<Value>,
    /// The object before a modification, for selector transitions.
    previous: Option<Arc<Value>>,
}

/// An open watch: where its lines go and what it wants.
struct Sink {
    resource: Resource,
    namespace: Option<String>,
    selector: Vec<Requirement>,
    bookmarks: bool,
    tx: mpsc::UnboundedSender<Bytes>,
}

/// A paginated list's snapshot, kept until it is read to the end or
/// compacted.
struct Continuation {
    rv: u64,
    items: Vec<Arc<Value>>,
}

struct State {
    rv: u64,
    objects: BTreeMap<Key, Arc<Value>>,
    history: Vec<HistoryEvent>,
    /// Watches and continue tokens from a resourceVersion below this are
    /// expired (410 Gone).
    oldest: u64,
    sinks: Vec<Sink>,
    continuations: HashMap<u64, Continuation>,
    next_continuation: u64,
    served: Vec<Served>,
    gone_served: usize,
}

struct Shared {
    state: Mutex<State>,
    /// `true` while lists are answered; `false` holds them.
    lists_open: tokio::sync::watch::Sender<bool>,
    /// The same for watches.
    watches_open: tokio::sync::watch::Sender<bool>,
    bookmark_interval: Mutex<Duration>,
    /// Lists received, answered or still held.
    lists_received: std::sync::atomic::AtomicUsize,
}

struct Running {
    token: CancellationToken,
    accept: tokio::task::JoinHandle<()>,
}

/// The test API server. Stops on drop.
pub struct KubeApi {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    running: Mutex<Option<Running>>,
    bookmarks: tokio::task::JoinHandle<()>,
}

impl KubeApi {
    /// Binds 127.0.0.1 port 0 and serves.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                rv: 1000,
                objects: BTreeMap::new(),
                history: Vec::new(),
                oldest: 0,
                sinks: Vec::new(),
                continuations: HashMap::new(),
                next_continuation: 1,
                served: Vec::new(),
                gone_served: 0,
            }),
            lists_open: tokio::sync::watch::Sender::new(true),
            watches_open: tokio::sync::watch::Sender::new(true),
            bookmark_interval: Mutex::new(Duration::from_secs(1)),
            lists_received: std::sync::atomic::AtomicUsize::new(0),
        });
        let bookmarks = tokio::spawn(bookmark_loop(shared.clone()));
        let api = Self {
            shared,
            addr,
            running: Mutex::new(None),
            bookmarks,
        };
        api.serve(listener);
        api
    }

    fn serve(&self, listener: TcpListener) {
        let token = CancellationToken::new();
        let accept = tokio::spawn(accept_loop(listener, self.shared.clone(), token.clone()));
        *self.running.lock().unwrap() = Some(Running { token, accept });
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Writes a kubeconfig for this server into `dir`.
    pub fn write_kubeconfig(&self, dir: &Path) -> PathBuf {
        let path = dir.join("kubeconfig.yaml");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\n    namespace: default\ncurrent-context: test\nusers:\n- name: test\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Creates or replaces an object (any k8s-openapi object of a served
    /// kind); returns its new resourceVersion.
    pub fn apply(&self, object: impl serde::Serialize) -> u64 {
        let mut value = serde_json::to_value(object).unwrap();
        let kind = value["kind"].as_str().unwrap_or_default().to_owned();
        let resource =
            Resource::from_kind(&kind).unwrap_or_else(|| panic!("kind {kind:?} is not served"));
        let name = value["metadata"]["name"]
            .as_str()
            .expect("metadata.name")
            .to_owned();
        let namespace = value["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        let mut state = self.shared.state.lock().unwrap();
        state.rv += 1;
        let rv = state.rv;
        let metadata = value["metadata"].as_object_mut().unwrap();
        metadata.insert("namespace".into(), json!(namespace));
        metadata.insert("resourceVersion".into(), json!(rv.to_string()));
        metadata
            .entry("uid")
            .or_insert_with(|| json!(format!("uid-{resource:?}-{namespace}-{name}")));
        let object = Arc::new(value);
        let key = (resource, namespace.clone(), name);
        let previous = state.objects.insert(key, object.clone());
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        state.record(HistoryEvent {
            rv,
            resource,
            namespace,
            kind,
            object,
            previous,
        });
        rv
    }

    /// Deletes an object; false if there was none.
    pub fn delete(&self, resource: Resource, namespace: &str, name: &str) -> bool {
        let mut state = self.shared.state.lock().unwrap();
        let key = (resource, namespace.to_owned(), name.to_owned());
        let Some(old) = state.objects.remove(&key) else {
            return false;
        };
        state.rv += 1;
        let rv = state.rv;
        let mut object = (*old).clone();
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        state.record(HistoryEvent {
            rv,
            resource,
            namespace: namespace.to_owned(),
            kind: EventType::Deleted,
            object: Arc::new(object),
            previous: Some(old),
        });
        true
    }

    /// Ends every open watch cleanly, as the API server does at a watch's
    /// timeout or when it restarts its watch cache.
    pub fn drop_watches(&self) {
        self.shared.state.lock().unwrap().sinks.clear();
    }

    /// Writes `line` (a newline is added) as is into every open watch of
    /// `resource`, as a broken proxy or server might: a malformed event.
    /// Returns how many watches got it.
    pub fn send_raw(&self, resource: Resource, line: &str) -> usize {
        let state = self.shared.state.lock().unwrap();
        let bytes = Bytes::from(format!("{line}\n"));
        state
            .sinks
            .iter()
            .filter(|sink| sink.resource == resource)
            .filter(|sink| sink.tx.send(bytes.clone()).is_ok())
            .count()
    }

    /// Expires every resourceVersion handed out so far, as etcd compaction
    /// does: a watch or continue token from one of them gets 410 Gone. The
    /// version moves on, so a fresh list gives one that is valid.
    pub fn compact(&self) {
        let mut state = self.shared.state.lock().unwrap();
        state.rv += 1;
        state.oldest = state.rv;
        let oldest = state.oldest;
        state.history.retain(|e| e.rv >= oldest);
        state.continuations.retain(|_, c| c.rv >= oldest);
    }

    /// Lists wait (watches do not) until [`KubeApi::release_lists`].
    pub fn hold_lists(&self) {
        self.shared.lists_open.send_replace(false);
    }

    pub fn release_lists(&self) {
        self.shared.lists_open.send_replace(true);
    }

    /// New watches wait until [`KubeApi::release_watches`]; open ones go on.
    pub fn hold_watches(&self) {
        self.shared.watches_open.send_replace(false);
    }

    pub fn release_watches(&self) {
        self.shared.watches_open.send_replace(true);
    }

    /// How often open watches that asked for them get a BOOKMARK.
    pub fn set_bookmark_interval(&self, interval: Duration) {
        *self.shared.bookmark_interval.lock().unwrap() = interval;
    }

    /// Stops serving: the listener closes (connections are refused) and
    /// every open connection is cut. Objects and history are kept.
    pub async fn stop(&self) {
        let running = self.running.lock().unwrap().take();
        if let Some(running) = running {
            running.token.cancel();
            let _ = running.accept.await;
        }
        self.drop_watches();
    }

    /// Serves again on the same port, with the same objects and history.
    pub async fn restart(&self) {
        let mut last = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return;
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot rebind {}: {last:?}", self.addr);
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.state.lock().unwrap().rv
    }

    /// Every request served so far.
    pub fn served(&self) -> Vec<Served> {
        self.shared.state.lock().unwrap().served.clone()
    }

    /// List requests received so far, including ones still held.
    pub fn lists_received(&self) -> usize {
        self.shared
            .lists_received
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Watches answered with 410 Gone so far.
    pub fn gone_served(&self) -> usize {
        self.shared.state.lock().unwrap().gone_served
    }

    /// Watches open right now.
    pub fn open_watches(&self) -> usize {
        let mut state = self.shared.state.lock().unwrap();
        state.sinks.retain(|s| !s.tx.is_closed());
        state.sinks.len()
    }

    /// Objects stored of one resource.
    pub fn count(&self, resource: Resource) -> usize {
        let state = self.shared.state.lock().unwrap();
        state.objects.keys().filter(|k| k.0 == resource).count()
    }
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        if let Some(running) = self.running.lock().unwrap().take() {
            running.token.cancel();
            running.accept.abort();
        }
        self.bookmarks.abort();
    }
}

impl State {
    /// Appends to history and sends to every watch that wants it.
    fn record(&mut self, event: HistoryEvent) {
        let rv = event.rv;
        self.sinks.retain(|sink| {
            if let Some(line) = event_line(sink, &event) {
                return sink.tx.send(line).is_ok();
            }
            !sink.tx.is_closed()
        });
        self.history.push(event);
        debug_assert!(self.history.last().is_some_and(|e| e.rv == rv));
    }
}

/// The watch line for `event` as `sink` sees it, if it sees it at all.
fn event_line(sink: &Sink, event: &HistoryEvent) -> Option<Bytes> {
    if sink.resource != event.resource {
        return None;
    }
    if sink
        .namespace
        .as_ref()
        .is_some_and(|ns| *ns != event.namespace)
    {
        return None;
    }
    let now = matches_selector(&sink.selector, &event.object);
    let before = event
        .previous
        .as_ref()
        .is_some_and(|p| matches_selector(&sink.selector, p));
    let kind = match event.kind {
        EventType::Added if now => EventType::Added,
        EventType::Deleted if before => EventType::Deleted,
        EventType::Modified if now && before => EventType::Modified,
        EventType::Modified if now => EventType::Added,
        EventType::Modified if before => EventType::Deleted,
        _ => return None,
    };
    Some(line(kind.name(), &event.object))
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap();
    text.push(b'\n');
    Bytes::from(text)
}

fn bookmark_line(resource: Resource, rv: u64) -> Bytes {
    line(
        "BOOKMARK",
        &json!({
            "apiVersion": resource.api_version(),
            "kind": resource.kind(),
            "metadata": {"resourceVersion": rv.to_string()},
        }),
    )
}

/// Sends a BOOKMARK with the current version to every watch that asked.
/// Under the state lock, so a bookmark never overtakes an event.
async fn bookmark_loop(shared: Arc<Shared>) {
    loop {
        let interval = *shared.bookmark_interval.lock().unwrap();
        tokio::time::sleep(interval).await;
        let mut state = shared.state.lock().unwrap();
        let rv = state.rv;
        state.sinks.retain(|sink| {
            !sink.bookmarks || sink.tx.send(bookmark_line(sink.resource, rv)).is_ok()
        });
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, token: CancellationToken) {
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

fn full(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(serde_json::to_vec(body).unwrap())).boxed_unsync())
        .unwrap()
}

fn status(code: StatusCode, reason: &str, message: &str) -> Value {
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
fn route(path: &str) -> Option<(Resource, Option<String>, Option<String>)> {
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

async fn handle(shared: Arc<Shared>, request: Request<Incoming>) -> Response<Body> {
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

async fn answer(
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
    let selector = match parse_selector(query.get("labelSelector").map_or("", String::as_str)) {
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

fn list(
    shared: &Arc<Shared>,
    resource: Resource,
    namespace: Option<&str>,
    selector: &[Requirement],
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
                    *r == resource
                        && namespace.is_none_or(|n| n == ns)
                        && matches_selector(selector, object)
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
    // Like kube-apiserver, items of a typed list carry no apiVersion/kind.
    let items: Vec<Value> = continuation.items[offset.min(end)..end]
        .iter()
        .map(|v| {
            let mut item = (**v).clone();
            if let Some(object) = item.as_object_mut() {
                object.remove("apiVersion");
                object.remove("kind");
            }
            item
        })
        .collect();
    let more = end < continuation.items.len();
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if more {
        metadata["continue"] = json!(format!("{token}:{end}"));
        metadata["remainingItemCount"] = json!(continuation.items.len() - end);
    }
    let body = json!({
        "apiVersion": resource.api_version(),
        "kind": format!("{}List", resource.kind()),
        "metadata": metadata,
        "items": items,
    });
    if !more {
        state.continuations.remove(&token);
    }
    drop(state);
    full(StatusCode::OK, &body)
}

fn start_watch(
    shared: &Arc<Shared>,
    resource: Resource,
    namespace: Option<String>,
    selector: Vec<Requirement>,
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
                        && matches_selector(&selector, object)
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

/// One requirement of a label selector.
#[derive(Clone, Debug)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

fn parse_selector(text: &str) -> Result<Vec<Requirement>, String> {
    let mut requirements = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    for part in parts {
        let part = part.trim();
        if part.is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return Err(format!("empty requirement in {text:?}"));
        }
        let requirement = if let Some(key) = part.strip_prefix('!') {
            Requirement::NotExists(key.trim().to_owned())
        } else if let Some((k, v)) = part.split_once("!=") {
            Requirement::NotEquals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = part.split_once("==") {
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, v)) = part.split_once('=') {
            Requirement::Equals(k.trim().to_owned(), v.trim().to_owned())
        } else if let Some((k, rest)) = part.split_once(char::is_whitespace) {
            let rest = rest.trim();
            let (negated, list) = if let Some(l) = rest.strip_prefix("notin") {
                (true, l)
            } else if let Some(l) = rest.strip_prefix("in") {
                (false, l)
            } else {
                return Err(format!("{part:?}: expected in or notin"));
            };
            let values = list
                .trim()
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(|| format!("{part:?}: expected (values)"))?
                .split(',')
                .map(|v| v.trim().to_owned())
                .collect();
            if negated {
                Requirement::NotIn(k.to_owned(), values)
            } else {
                Requirement::In(k.to_owned(), values)
            }
        } else {
            Requirement::Exists(part.to_owned())
        };
        requirements.push(requirement);
    }
    Ok(requirements)
}

fn matches_selector(selector: &[Requirement], object: &Value) -> bool {
    let labels = object["metadata"]["labels"].as_object();
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    selector.iter().all(|r| match r {
        Requirement::Equals(k, v) => get(k) == Some(v),
        Requirement::NotEquals(k, v) => get(k) != Some(v),
        Requirement::Exists(k) => get(k).is_some(),
        Requirement::NotExists(k) => get(k).is_none(),
        Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Requirement::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
    })
}

/// Typed objects for tests, built the way the API server would hold them.
pub mod objects {
    use std::collections::BTreeMap;

    use k8s_openapi::api::apps::v1 as apps;
    use k8s_openapi::api::core::v1 as core;
    use k8s_openapi::api::discovery::v1 as discovery;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(namespace: &str, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect::<BTreeMap<_, _>>()
            }),
            ..ObjectMeta::default()
        }
    }

    /// A Service with a named TCP port `web` 80; headless when `headless`.
    pub fn service(namespace: &str, name: &str, headless: bool) -> core::Service {
        service_with_labels(namespace, name, headless, &[])
    }

    pub fn service_with_labels(
        namespace: &str,
        name: &str,
        headless: bool,
        labels: &[(&str, &str)],
    ) -> core::Service {
        core::Service {
            metadata: meta(namespace, name, labels),
            spec: Some(core::ServiceSpec {
                cluster_ip: Some(if headless { "None" } else { "10.96.0.10" }.to_owned()),
                ports: Some(vec![core::ServicePort {
                    name: Some("web".to_owned()),
                    port: 80,
                    protocol: Some("TCP".to_owned()),
                    ..core::ServicePort::default()
                }]),
                ..core::ServiceSpec::default()
            }),
            ..core::Service::default()
        }
    }

    /// An endpoint: (address, hostname, ready).
    pub type Ep<'a> = (&'a str, Option<&'a str>, bool);

    /// An EndpointSlice of `service` with port `web` 80.
    pub fn slice(
        namespace: &str,
        name: &str,
        service: &str,
        endpoints: &[Ep<'_>],
    ) -> discovery::EndpointSlice {
        slice_with_labels(namespace, name, service, endpoints, &[])
    }

    pub fn slice_with_labels(
        namespace: &str,
        name: &str,
        service: &str,
        endpoints: &[Ep<'_>],
        labels: &[(&str, &str)],
    ) -> discovery::EndpointSlice {
        let mut all: Vec<(&str, &str)> = vec![("kubernetes.io/service-name", service)];
        all.extend_from_slice(labels);
        discovery::EndpointSlice {
            metadata: meta(namespace, name, &all),
            address_type: "IPv4".to_owned(),
            endpoints: endpoints
                .iter()
                .map(|(ip, hostname, ready)| discovery::Endpoint {
                    addresses: vec![(*ip).to_owned()],
                    hostname: hostname.map(str::to_owned),
                    conditions: Some(discovery::EndpointConditions {
                        ready: Some(*ready),
                        ..discovery::EndpointConditions::default()
                    }),
                    target_ref: hostname.map(|h| core::ObjectReference {
                        kind: Some("Pod".to_owned()),
                        name: Some(h.to_owned()),
                        namespace: Some(namespace.to_owned()),
                        ..core::ObjectReference::default()
                    }),
                    ..discovery::Endpoint::default()
                })
                .collect(),
            ports: Some(vec![discovery::EndpointPort {
                name: Some("web".to_owned()),
                port: Some(80),
                protocol: Some("TCP".to_owned()),
                ..discovery::EndpointPort::default()
            }]),
        }
    }

    /// A legacy v1 Endpoints object for `service` (same name), all ready.
    pub fn endpoints(namespace: &str, service: &str, endpoints: &[Ep<'_>]) -> core::Endpoints {
        core::Endpoints {
            metadata: meta(namespace, service, &[]),
            subsets: Some(vec![core::EndpointSubset {
                addresses: Some(
                    endpoints
                        .iter()
                        .map(|(ip, hostname, _)| core::EndpointAddress {
                            ip: (*ip).to_owned(),
                            hostname: hostname.map(str::to_owned),
                            ..core::EndpointAddress::default()
                        })
                        .collect(),
                ),
                ports: Some(vec![core::EndpointPort {
                    name: Some("web".to_owned()),
                    port: 80,
                    protocol: Some("TCP".to_owned()),
                    ..core::EndpointPort::default()
                }]),
                ..core::EndpointSubset::default()
            }]),
        }
    }

    /// A StatefulSet declaring `replicas` pods under `service`.
    pub fn stateful_set(
        namespace: &str,
        name: &str,
        service: &str,
        replicas: i32,
    ) -> apps::StatefulSet {
        apps::StatefulSet {
            metadata: meta(namespace, name, &[]),
            spec: Some(apps::StatefulSetSpec {
                service_name: Some(service.to_owned()),
                replicas: Some(replicas),
                ..apps::StatefulSetSpec::default()
            }),
            ..apps::StatefulSet::default()
        }
    }
}
