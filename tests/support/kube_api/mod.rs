//! A Kubernetes API server for tests, on 127.0.0.1 port 0: list and watch
//! for Services, EndpointSlices, StatefulSets and v1 Endpoints, the way
//! kube-apiserver answers them, with controls to change objects and to break
//! things.
//!
//! What it implements: cluster-wide (`/api/v1/services`) and namespaced
//! (`/api/v1/namespaces/N/services`) paths; lists with `resourceVersion`,
//! `limit`/`continue` pagination over a consistent snapshot, and
//! `labelSelector` (parsed and matched by the library's own
//! `headless_dns::selector`, kube-apiserver's grammar); `?watch=true|1` streams of newline-delimited
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
//! the same port, [`KubeApi::send_raw`] (a malformed event), and a log of the requests
//! served (lists and watches; the source's `/version` heartbeat is
//! answered but not logged).
//!
//! A real control plane (`tests/control_plane/`) proves the behaviour
//! against kube-apiserver itself; this server stays for what a real one
//! cannot be made to do on demand: a 410 at a chosen moment, a list held
//! open, a malformed event, and an exact log of what was asked. Where they
//! differ: [`KubeApi::stop`] closes every connection (the client sees
//! errors at once), while a real API server held with SIGSTOP keeps them
//! open and silent.
//!
//! The files: this one holds the resources and the controls; `state.rs` the
//! objects, their history and the open watches; `serve.rs` the HTTP side
//! (routing, lists with pagination, watch streams); `objects.rs` typed
//! objects to apply.

#![allow(dead_code)]

mod serve;
mod state;

pub mod objects;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use state::{EventType, HistoryEvent, Serving, Shared, State};

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
/// The test API server. Stops on drop.
pub struct KubeApi {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    running: Mutex<Option<Serving>>,
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
        let bookmarks = tokio::spawn(state::bookmark_loop(shared.clone()));
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
        let accept = tokio::spawn(serve::accept_loop(
            listener,
            self.shared.clone(),
            token.clone(),
        ));
        *self.running.lock().unwrap() = Some(Serving { token, accept });
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

    /// Writes a kubeconfig for this server and a `config.yaml` beside it
    /// that points the Kubernetes source at it; returns the config's path.
    /// `rest` follows the `kubeconfig:` line: more keys of the
    /// `source.kubernetes` section (indented four spaces), or other
    /// top-level sections.
    pub fn write_config(&self, dir: &Path, rest: &str) -> PathBuf {
        self.write_kubeconfig(dir);
        let path = dir.join("config.yaml");
        let text = format!("source:\n  kubernetes:\n    kubeconfig: kubeconfig.yaml\n{rest}");
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
