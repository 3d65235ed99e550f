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
//! arrived, so the driver measures programming latency from there.
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

mod liveness;
mod revision;
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

/// How often staleness is refreshed and recovered watches are noticed.
const TICK: Duration = Duration::from_millis(250);
/// How often the heartbeat asks the API server whether it answers at all.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a heartbeat waits for its answer before asking again.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);
/// An answer this recent (whole seconds) keeps open watches current now;
/// two beats, so that one slow answer does not count as staleness.
const HEARTBEAT_FRESH: Duration = Duration::from_secs(2);

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
        let mut state = RunState {
            client,
            relist_floors: Vec::new(),
            watches,
            probes,
            answered,
            failing: Vec::new(),
            relisting: Vec::new(),
            synced: false,
            floor_known: false,
            version: None,
            unparsable: false,
            started: Instant::now(),
            metrics,
        };
        state.failing.resize(state.watches.len(), None);
        state.relisting.resize(state.watches.len(), None);
        state
            .relist_floors
            .resize_with(state.watches.len(), || None);
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

impl RunState {
    /// Notes the starting revision (see [`revision_now`]).
    fn floor(&mut self, revision: Option<u64>) {
        self.floor_known = true;
        if let Some(revision) = revision {
            tracing::debug!(revision, "API server revision at start");
            self.see(revision);
        }
    }

    fn see(&mut self, version: u64) {
        self.version = Some(self.version.map_or(version, |v| v.max(version)));
    }

    /// Notes an event's resourceVersion, converts the event and sends the
    /// change stamped with the highest version seen. `false` when the
    /// driver is gone.
    async fn handle(
        &mut self,
        i: usize,
        event: Event<Watched>,
        seen: Instant,
        events: &mpsc::Sender<SourceEvent>,
    ) -> bool {
        match resource_version(&event).map(|v| (v, crate::serial::parse_resource_version(v))) {
            Some((_, Some(version))) => self.see(version),
            Some((text, None)) if !self.unparsable => {
                self.unparsable = true;
                tracing::warn!(watch = %self.watches[i], resource_version = text,
                    "a resourceVersion that is not a decimal number; it does not count toward the SOA serial (said once)");
            }
            _ => {}
        }
        // The watcher emits `Init` before it asks for a list, so only
        // what came from the server proves a failing watch recovered
        // (else a list that keeps failing, say forbidden, would log
        // "restored" and the failure again on every retry).
        if !matches!(event, Event::Init) {
            self.recovered(i);
        }
        match &event {
            Event::Init => {
                self.relisting[i] = Some(seen);
                // A relist (after 410 Gone) shows what vanished meanwhile
                // only by its absence, without the version of the deletion.
                // The revision now is at least that, so the serial of the
                // relisted state is after every deletion it folds in, and
                // not a number another replica gave to another state.
                if self.watches[i].synced() {
                    let namespace = self.watches[i].namespace().map(str::to_owned);
                    let asked = tokio::spawn(revision_now(self.client.clone(), namespace));
                    if let Some(old) = self.relist_floors[i].replace(asked) {
                        old.abort();
                    }
                }
            }
            Event::InitDone => {
                if let Some(started) = self.relisting[i].take() {
                    tracing::debug!(watch = %self.watches[i], elapsed = ?started.elapsed(), "listed");
                }
                if let Some(asked) = self.relist_floors[i].take()
                    && let Ok(Some(revision)) = asked.await
                {
                    self.see(revision);
                }
            }
            _ => {}
        }
        let Some(change) = self.watches[i].handle(event) else {
            return true;
        };
        let event = SourceEvent {
            change,
            seen,
            version: self.version,
        };
        events.send(event).await.is_ok()
    }
}

/// The run loop's bookkeeping, apart from the streams.
struct RunState {
    /// For the API server's revision when a watch relists.
    client: Client,
    /// Per watch relisting after it had synced: the revision asked for at
    /// its `Init` (see [`RunState::handle`]).
    relist_floors: Vec<Option<tokio::task::JoinHandle<Option<u64>>>>,
    watches: Vec<Watch>,
    probes: Vec<Arc<Probe>>,
    /// Unix seconds when the API server last answered a heartbeat.
    answered: Arc<AtomicU64>,
    /// Per watch: failing since (its first error after being healthy).
    failing: Vec<Option<Instant>>,
    /// Per watch: listing since.
    relisting: Vec<Option<Instant>>,
    /// `Change::Synced` has been sent.
    synced: bool,
    /// The starting revision arrived (or failed): `Synced` waits for it, so
    /// the first serial served is at least that revision.
    floor_known: bool,
    /// The highest resourceVersion seen, the starting revision included.
    version: Option<u64>,
    /// A resourceVersion that is not a number was logged.
    unparsable: bool,
    started: Instant,
    metrics: Arc<Metrics>,
}

impl RunState {
    /// Logs an error once when a watch starts failing; retries are quiet.
    fn report(&mut self, i: usize, error: &watcher::Error) {
        let watch = &self.watches[i];
        if is_expired(error) {
            tracing::info!(%watch, "resource version expired (410 Gone); relisting while serving the current state");
            return;
        }
        self.metrics.count_source_error(error_kind(error));
        if self.failing[i].is_some() {
            tracing::debug!(%watch, %error, "watch still failing; retrying with backoff");
            return;
        }
        self.failing[i] = Some(Instant::now());
        let hint = hint(error);
        if self.synced {
            tracing::warn!(%watch, "watch failed: {error}{hint}; serving the last good state and retrying with backoff");
        } else {
            tracing::warn!(%watch, "cannot list: {error}{hint}; answering SERVFAIL until it lists, retrying with backoff");
        }
    }

    fn recovered(&mut self, i: usize) {
        if let Some(since) = self.failing[i].take() {
            tracing::info!(watch = %self.watches[i], down_for = ?since.elapsed(), "watch restored");
        }
    }

    /// Notices watches that reconnected without an event, and sets the
    /// staleness metric from the probes.
    fn refresh(&mut self) {
        for i in 0..self.watches.len() {
            if self.failing[i].is_some() && self.probes[i].watching() {
                self.recovered(i);
            }
        }
        if !self.synced {
            return;
        }
        let now = unix_now();
        // An open watch is current while the server answers heartbeats;
        // once they go unanswered, only up to the last answer.
        let answered = self.answered.load(Ordering::Relaxed);
        let open_until = if now.saturating_sub(answered) <= HEARTBEAT_FRESH.as_secs() {
            now
        } else {
            answered
        };
        let confirmed = self
            .probes
            .iter()
            .map(|p| p.confirmed_unix(open_until))
            .min()
            .unwrap_or(now);
        self.metrics
            .last_sync_unix
            .store(confirmed, Ordering::Relaxed);
    }

    fn log_synced(&self) {
        let count = |kind| {
            self.watches
                .iter()
                .filter(|w| w.kind() == kind)
                .map(Watch::len)
                .sum::<usize>()
        };
        tracing::info!(
            headless_services = count(Kind::Service),
            endpoint_slices = count(Kind::EndpointSlice),
            endpoints = count(Kind::Endpoints),
            statefulsets = count(Kind::StatefulSet),
            elapsed = ?self.started.elapsed(),
            "kubernetes source synced; serving"
        );
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

/// An expired resource version or continue token: the watcher relists.
fn is_expired(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

/// The `kind` label of a watch error (`metrics::SOURCE_ERRORS`).
fn error_kind(error: &watcher::Error) -> &'static str {
    let inner = match error {
        watcher::Error::WatchError(status) => {
            return match status.code {
                401 => "unauthorized",
                403 => "forbidden",
                _ => "api",
            };
        }
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        watcher::Error::NoResourceVersion => return "api",
    };
    match inner {
        kube::Error::Api(status) => match status.code {
            401 => "unauthorized",
            403 => "forbidden",
            _ => "api",
        },
        kube::Error::SerdeError(_) => "decode",
        _ => "connection",
    }
}

/// What to do about an error, where we can tell.
fn hint(error: &watcher::Error) -> &'static str {
    let status = match error {
        watcher::Error::WatchError(status) => Some(status.as_ref()),
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => Some(status.as_ref()),
        _ => None,
    };
    match status.map(|s| s.code) {
        Some(401) => {
            " (the credentials were refused: check the kubeconfig or service account token)"
        }
        Some(403) => {
            " (forbidden: the service account needs get, list and watch on services, endpointslices, endpoints and statefulsets; see deploy/rbac.yaml)"
        }
        Some(404) => {
            " (the API server does not serve this kind: it needs Kubernetes 1.21 or later)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_the_api_servers() {
        assert_eq!(url_path(Kind::Service, None), "/api/v1/services");
        assert_eq!(
            url_path(Kind::EndpointSlice, Some("demo")),
            "/apis/discovery.k8s.io/v1/namespaces/demo/endpointslices"
        );
        assert_eq!(
            url_path(Kind::Endpoints, Some("a")),
            "/api/v1/namespaces/a/endpoints"
        );
        assert_eq!(
            url_path(Kind::StatefulSet, None),
            "/apis/apps/v1/statefulsets"
        );
    }

    #[test]
    fn events_carry_their_objects_resource_version() {
        let service = |rv: Option<&str>| {
            Watched::Service(core::Service {
                metadata: kube::api::ObjectMeta {
                    name: Some("web".into()),
                    resource_version: rv.map(str::to_owned),
                    ..Default::default()
                },
                ..Default::default()
            })
        };
        assert_eq!(
            resource_version(&Event::Apply(service(Some("41")))),
            Some("41")
        );
        assert_eq!(
            resource_version(&Event::InitApply(service(Some("7")))),
            Some("7")
        );
        // A deleted object carries the version of its deletion.
        assert_eq!(
            resource_version(&Event::Delete(service(Some("42")))),
            Some("42")
        );
        assert_eq!(resource_version(&Event::Apply(service(None))), None);
        assert_eq!(resource_version(&Event::<Watched>::Init), None);
        assert_eq!(resource_version(&Event::<Watched>::InitDone), None);
    }

    #[test]
    fn legacy_endpoints_are_opt_in() {
        let mut config = KubernetesConfig::default();
        assert_eq!(
            kinds(&config),
            [Kind::Service, Kind::EndpointSlice, Kind::StatefulSet]
        );
        config.legacy_endpoints = true;
        assert!(kinds(&config).contains(&Kind::Endpoints));
    }

    #[test]
    fn expired_versions_are_routine_and_forbidden_gets_a_hint() {
        let status = |code| {
            Box::new(kube::core::Status {
                code,
                ..Default::default()
            })
        };
        assert!(is_expired(&watcher::Error::WatchError(status(410))));
        assert!(is_expired(&watcher::Error::InitialListFailed(
            kube::Error::Api(status(410))
        )));
        assert!(!is_expired(&watcher::Error::WatchError(status(500))));
        assert!(
            hint(&watcher::Error::InitialListFailed(kube::Error::Api(
                status(403)
            )))
            .contains("rbac")
        );
        assert_eq!(hint(&watcher::Error::NoResourceVersion), "");
    }

    #[test]
    fn errors_are_counted_by_kind() {
        let status = |code| {
            Box::new(kube::core::Status {
                code,
                ..Default::default()
            })
        };
        let api = |code| watcher::Error::WatchFailed(kube::Error::Api(status(code)));
        assert_eq!(error_kind(&api(401)), "unauthorized");
        assert_eq!(error_kind(&api(403)), "forbidden");
        assert_eq!(error_kind(&api(500)), "api");
        assert_eq!(
            error_kind(&watcher::Error::WatchError(status(403))),
            "forbidden"
        );
        let decode = serde_json::from_str::<u8>("x").unwrap_err();
        assert_eq!(
            error_kind(&watcher::Error::InitialListFailed(kube::Error::SerdeError(
                decode
            ))),
            "decode"
        );
        assert_eq!(
            error_kind(&watcher::Error::InitialListFailed(
                kube::Error::LinesCodecMaxLineLengthExceeded
            )),
            "connection"
        );
        for kind in ["unauthorized", "forbidden", "api", "decode", "connection"] {
            assert!(crate::metrics::SOURCE_ERRORS.contains(&kind), "{kind}");
        }
    }
}
