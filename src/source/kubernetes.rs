//! The Kubernetes source: list and watch a real API server.
//!
//! [`KubernetesSource::connect`] loads credentials (a kubeconfig, or the
//! in-cluster service account) without contacting the server;
//! [`KubernetesSource::run`] then runs one kube-runtime `watcher` (with its
//! default backoff) per kind and namespace: Services, EndpointSlices
//! (`discovery.k8s.io/v1`), StatefulSets (for their declared ordinals) and,
//! when configured, legacy v1 Endpoints. All watches are polled by this one
//! task; each event goes through its [`Watch`] (`watch.rs`, synchronous),
//! which turns it into a driver [`Change`] stamped with the moment it
//! arrived, so the driver measures programming latency from there. The
//! loop's bookkeeping (failing and relisting watches, the highest version,
//! staleness) is `state.rs`; what a watch error means, `errors.rs`.
//!
//! The SOA serial: every event's object carries a `resourceVersion`; the
//! highest seen so far, together with the API server's revision when the
//! source started (`revision.rs`), rides along each change to the driver
//! as its version (`serial.rs` folds it into the serial). `Synced` waits for
//! that starting revision.
//!
//! Readiness and staleness: the index stays unsynced (SERVFAIL, `/readyz`
//! 503) until every watch has delivered its first full list; then one
//! [`Change::Synced`] goes out, and from then on the last good state is
//! served whatever the API server does. `liveness.rs` watches the HTTP
//! responses, and a heartbeat asks the API server for `/version` every
//! second, so that `headless_dns_source_stale_seconds` is 0 while every
//! watch streams from a server that answers, and grows from the moment one
//! stops hearing from it: a watch that closed, or a server that stopped
//! answering behind open connections (a hung or `SIGSTOP`ped process keeps
//! them up and silent). A watch error is logged when the watch starts failing and when it
//! recovers, not on every retry; an expired resource version (410 Gone) is
//! routine and relists without a gap.

mod errors;
mod liveness;
mod revision;
mod state;
mod watch;

use std::collections::HashMap;
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::stream::{BoxStream, SelectAll};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use watch::{Kind, Watch, Watched, lift, resource_version};

use crate::config::KubernetesConfig;
use crate::driver::{Change, SourceEvent};
use crate::metrics::Metrics;
use crate::source::embedded::unix_now;
use liveness::{LivenessLayer, Probe};
use revision::revision_now;
use state::RunState;

/// How often staleness is refreshed and recovered watches are noticed.
const TICK: Duration = Duration::from_millis(250);
/// How often the heartbeat asks the API server whether it answers at all.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a heartbeat waits for its answer before asking again.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the source could not start. Once running it never fails: it keeps
/// serving and retrying.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesError {
    #[error("cannot load kubeconfig {}: {source}; check source.kubernetes.kubeconfig", .path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error(
        "no Kubernetes credentials: {source}; run in a pod with a service account, or set source.kubernetes.kubeconfig"
    )]
    NoCredentials {
        #[source]
        source: kube::config::InferConfigError,
    },
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// The kinds watched for a config, in the order their watches start.
pub fn kinds(config: &KubernetesConfig) -> Vec<Kind> {
    let mut kinds = vec![Kind::Service, Kind::EndpointSlice, Kind::StatefulSet];
    if config.legacy_endpoints {
        kinds.push(Kind::Endpoints);
    }
    kinds
}

/// Client credentials: the kubeconfig named in the config; without one, the
/// in-cluster service account, then `$KUBECONFIG` or `~/.kube/config`.
async fn client_config(config: &KubernetesConfig) -> Result<kube::Config, KubernetesError> {
    if let Some(path) = &config.kubeconfig {
        let kubeconfig_error = |source| KubernetesError::Kubeconfig {
            path: path.clone(),
            source,
        };
        let kubeconfig = Kubeconfig::read_from(path).map_err(kubeconfig_error)?;
        return kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(kubeconfig_error);
    }
    match kube::Config::incluster() {
        Ok(in_cluster) => Ok(in_cluster),
        Err(error) => {
            tracing::debug!(%error, "not in a pod; looking for a kubeconfig");
            kube::Config::infer()
                .await
                .map_err(|source| KubernetesError::NoCredentials { source })
        }
    }
}

/// The request path of a kind's list and watch, as kube builds it.
fn url_path(kind: Kind, namespace: Option<&str>) -> String {
    use kube::Resource;
    match kind {
        Kind::Service => core::Service::url_path(&(), namespace),
        Kind::EndpointSlice => discovery::EndpointSlice::url_path(&(), namespace),
        Kind::Endpoints => core::Endpoints::url_path(&(), namespace),
        Kind::StatefulSet => apps::StatefulSet::url_path(&(), namespace),
    }
}

/// A watcher stream of one kind, lifted to [`Watched`].
fn typed_stream<K>(
    client: &Client,
    namespace: Option<&str>,
    label_selector: Option<&str>,
    wrap: fn(K) -> Watched,
) -> BoxStream<'static, Result<Event<Watched>, watcher::Error>>
where
    K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + 'static,
{
    let api: Api<K> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let mut config = watcher::Config::default();
    if let Some(selector) = label_selector {
        config = config.labels(selector);
    }
    watcher::watcher(api, config)
        .default_backoff()
        .map_ok(move |event| lift(event, wrap))
        .boxed()
}

/// A connected (but not yet listing) Kubernetes source.
pub struct KubernetesSource {
    client: Client,
    label_selector: Option<String>,
    watches: Vec<Watch>,
    /// Per watch, the same index: what its HTTP responses say.
    probes: Vec<Arc<Probe>>,
}

impl KubernetesSource {
    /// Loads credentials and builds the client; contacts no server.
    pub async fn connect(config: &KubernetesConfig) -> Result<Self, KubernetesError> {
        let client_config = client_config(config).await?;
        let namespaces: Vec<Option<&str>> = if config.namespaces.is_empty() {
            vec![None]
        } else {
            config.namespaces.iter().map(|n| Some(n.as_str())).collect()
        };
        let mut watches = Vec::new();
        let mut probes = Vec::new();
        let mut by_path = HashMap::new();
        for kind in kinds(config) {
            for namespace in &namespaces {
                let probe = Arc::new(Probe::default());
                by_path.insert(url_path(kind, *namespace), probe.clone());
                probes.push(probe);
                watches.push(Watch::new(kind, *namespace));
            }
        }
        let client = kube::client::ClientBuilder::try_from(client_config)
            .map_err(KubernetesError::Client)?
            .with_layer(&LivenessLayer::new(by_path))
            .build();
        Ok(Self {
            client,
            label_selector: config.label_selector.clone(),
            watches,
            probes,
        })
    }

    /// Watches until `shutdown` or until the driver is gone.
    pub async fn run(
        self,
        events: mpsc::Sender<SourceEvent>,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) {
        let Self {
            client,
            label_selector,
            watches,
            probes,
        } = self;
        let mut streams = SelectAll::new();
        for (i, w) in watches.iter().enumerate() {
            // The endpoint controllers copy a Service's labels onto its
            // slices and Endpoints; StatefulSets carry their own labels.
            let selector = label_selector
                .as_deref()
                .filter(|_| w.kind() != Kind::StatefulSet);
            let stream = match w.kind() {
                Kind::Service => typed_stream(&client, w.namespace(), selector, Watched::Service),
                Kind::EndpointSlice => {
                    typed_stream(&client, w.namespace(), selector, Watched::EndpointSlice)
                }
                Kind::Endpoints => {
                    typed_stream(&client, w.namespace(), selector, Watched::Endpoints)
                }
                Kind::StatefulSet => {
                    typed_stream(&client, w.namespace(), selector, Watched::StatefulSet)
                }
            };
            streams.push(stream.map(move |item| (i, item)));
        }
        tracing::info!(
            watches = watches.len(),
            "watching the Kubernetes API server; answering SERVFAIL until every watch has listed"
        );
        let answered = Arc::new(AtomicU64::new(0));
        let mut floor = tokio::spawn(revision_now(
            client.clone(),
            watches
                .first()
                .and_then(|w| w.namespace().map(str::to_owned)),
        ));
        tokio::spawn(heartbeat(
            client.clone(),
            answered.clone(),
            shutdown.clone(),
        ));
        let mut state = RunState::new(client, watches, probes, answered, metrics);
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    state.refresh();
                    continue;
                }
                revision = &mut floor, if !state.floor_known => {
                    state.floor(revision.ok().flatten());
                    None
                }
                item = streams.next() => match item {
                    Some(item) => Some(item),
                    // The watcher streams never end.
                    None => return,
                },
            };
            if let Some((i, item)) = next {
                let seen = Instant::now();
                let event = match item {
                    Ok(event) => event,
                    Err(error) => {
                        state.report(i, &error);
                        continue;
                    }
                };
                if !state.handle(i, event, seen, &events).await {
                    return;
                }
            }
            if !state.synced && state.floor_known && state.watches.iter().all(Watch::synced) {
                state.synced = true;
                state.log_synced();
                let event = SourceEvent {
                    version: state.version,
                    ..SourceEvent::now(Change::Synced)
                };
                if events.send(event).await.is_err() {
                    return;
                }
                state.refresh();
            }
        }
    }
}
/// Asks the API server for `/version` every [`HEARTBEAT`] and stores in
/// `answered` when it last answered. Any HTTP response counts (a 403 is an
/// answer too); a connection error or no response within
/// [`HEARTBEAT_TIMEOUT`] does not.
async fn heartbeat(client: Client, answered: Arc<AtomicU64>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Ok(request) = http::Request::get("/version").body(kube::client::Body::empty()) else {
            return;
        };
        let asked = tokio::select! {
            () = shutdown.cancelled() => return,
            asked = tokio::time::timeout(HEARTBEAT_TIMEOUT, client.send(request)) => asked,
        };
        if let Ok(Ok(_)) = asked {
            answered.store(unix_now(), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests;
