//! Starting a loaded [`App`] on bound sockets, one step per function: the
//! secrets a start needs (TSIG keys, the cookie secret), the source with
//! its first state (the embedded cluster loaded and published before the
//! first query; the Kubernetes source connected), the DNS handler with its
//! live settings, and the admin router. [`App::start`] runs them in that
//! order and spawns the tasks; the [`Running`] app it returns stops them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::bind::Bound;
use super::settings::Overrides;
use super::{reload, settings};
use crate::config::{Config, EmbeddedConfig, SourceConfig};
use crate::driver::{self, SourceEvent};
use crate::index::ClusterIndex;
use crate::metrics::{Metrics, QueueProbe};
use crate::server::rrl::Rrl;
use crate::server::{self, DnsHandler, ServeError, TcpSettings};
use crate::snapshot::Snapshot;
use crate::source;
use crate::source::cluster_api::ClusterHandle;
use crate::transfer::{self, Auth, Transfer};

/// A loaded configuration, ready to run on sockets bound elsewhere: the
/// in-process entry point that `serve` and the integration tests share.
pub struct App {
    /// The file the config came from: relative paths, and SIGHUP re-reads it.
    pub config_path: PathBuf,
    /// Command-line overrides, kept across SIGHUP.
    pub overrides: Overrides,
    pub config: Config,
}

impl App {
    /// An app for the config file at `path`, as `serve` would load it.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        Ok(Self {
            config_path: path.to_owned(),
            overrides: Overrides::default(),
            config: Config::load(path)?,
        })
    }

    /// [`App::start`], then [`Running::wait`]: serves on `bound` until
    /// `shutdown` is cancelled, and returns once every task has stopped.
    pub async fn run(
        self,
        bound: Bound,
        hangup: Option<tokio::signal::unix::Signal>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        self.start(bound, hangup, shutdown).await?.wait().await
    }
}

/// Bound of the sources' event queue to the driver: a source that gets
/// ahead of the driver waits (back-pressure) rather than queueing without
/// limit. Exported as `headless_dns_event_queue_depth`.
const EVENT_QUEUE: usize = 1024;

/// A started app: its addresses, and the tasks to wait for or stop.
pub struct Running {
    dns: Vec<SocketAddr>,
    admin: Option<SocketAddr>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<Result<(), ServeError>>,
    tasks: JoinSet<()>,
}

impl Running {
    /// The DNS addresses (UDP and TCP share each).
    pub fn dns_addrs(&self) -> &[SocketAddr] {
        &self.dns
    }

    /// The admin HTTP address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin
    }

    /// Cancels the app; [`Running::wait`] then returns once it drained.
    pub fn stop(&self) {
        self.shutdown.cancel();
    }

    /// Waits until the DNS server stops (shutdown, or a server error), then
    /// gives the other tasks a bounded time to finish.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let result = (&mut self.server).await;
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        tracing::info!("stopped");
        match result {
            Ok(served) => Ok(served?),
            Err(join) => Err(anyhow::anyhow!("the DNS server task failed: {join}")),
        }
    }
}

/// A `Running` dropped without [`Running::wait`] stops the app rather than
/// leave its DNS server answering from a zone nothing updates any more.
impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl App {
    /// Starts serving on `bound`: every startup error (key files, cookie
    /// secret, manifests, the Kubernetes client) is returned here; once it
    /// returns, the server answers and keeps its last good state. `hangup`
    /// delivers SIGHUP's config re-reads (`None`: no re-reads); cancelling
    /// `shutdown` (SIGTERM and SIGINT do, in `serve`) stops it.
    pub async fn start(
        self,
        bound: Bound,
        hangup: Option<tokio::signal::unix::Signal>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Running> {
        let App {
            config_path,
            overrides,
            config,
        } = self;
        let (auth, cookie_secret) = secrets(&config, &config_path)?;
        let metrics = Arc::new(Metrics::default());
        let settings = Arc::new(settings::zone_settings(&config));
        let mut index = ClusterIndex::new(settings.clone(), config.dns.stable_name_grace);
        let snapshots = Arc::new(ArcSwap::from_pointee(Snapshot::empty(
            settings.clone(),
            index.snapshot().serial,
        )));
        let (events_tx, events_rx) = tokio::sync::mpsc::channel::<SourceEvent>(EVENT_QUEUE);
        let weak = events_tx.downgrade();
        let _ = metrics.event_queue.set(QueueProbe {
            capacity: EVENT_QUEUE,
            depth: Box::new(move || {
                weak.upgrade()
                    .map_or(0, |tx| tx.max_capacity() - tx.capacity())
            }),
        });
        metrics
            .tcp_answer_queue_capacity
            .set(server::tcp::ANSWER_QUEUE as i64);
        let mut tasks = JoinSet::new();

        let cluster = match &config.source {
            SourceConfig::Embedded(embedded) => {
                let handle = start_embedded(embedded, &mut index, &snapshots, &metrics).await?;
                tasks.spawn(source::embedded::run(
                    handle.clone(),
                    events_tx.clone(),
                    metrics.clone(),
                    shutdown.clone(),
                ));
                if embedded.watch {
                    let (paths, h, m, s) = (
                        embedded.manifests.clone(),
                        handle.clone(),
                        metrics.clone(),
                        shutdown.clone(),
                    );
                    tasks.spawn(async move {
                        if let Err(error) = source::embedded::watch(paths, h, m, s).await {
                            tracing::error!(
                                "manifest watcher stopped: {error:#}; edits are no longer picked up"
                            );
                        }
                    });
                }
                Some(handle)
            }
            SourceConfig::Kubernetes(kubernetes) => {
                // Unsynced (SERVFAIL, /readyz 503) until every watch has listed.
                let source = source::kubernetes::KubernetesSource::connect(kubernetes).await?;
                tasks.spawn(source.run(events_tx.clone(), metrics.clone(), shutdown.clone()));
                None
            }
        };

        let dns = bound.dns_addrs();
        let admin = bound.admin_addr();
        let Bound {
            dns: sockets,
            admin: admin_listener,
        } = bound;
        for addr in &dns {
            tracing::info!(
                "serving DNS on {addr} (udp+tcp, {} UDP workers), zone {}",
                config.dns.workers(),
                settings.zone
            );
        }
        if let Some(admin) = admin {
            tracing::info!("admin listening on http://{admin}");
        }

        // The driver owns the index and the zone, on a thread of its own,
        // so a large render never takes a runtime worker from the UDP and
        // TCP servers (`cargo bench --bench churn`). The thread drives the
        // future on the runtime (its timers, its channel); the task set
        // waits for it like for any task.
        let run = driver::run(
            index,
            snapshots.clone(),
            metrics.clone(),
            events_rx,
            shutdown.clone(),
        );
        let runtime = tokio::runtime::Handle::current();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("driver".into())
            .spawn(move || {
                runtime.block_on(run);
                let _ = done.send(());
            })
            .context("cannot start the driver thread")?;
        tasks.spawn(async move {
            let _ = finished.await;
        });
        // Zone transfer: always answered (REFUSED unless `transfer.allow`
        // matches); the watcher keeps the IXFR journal and sends NOTIFY.
        let transfer = Arc::new(Transfer::new(
            snapshots.clone(),
            auth,
            config.transfer.journal_size,
            metrics.clone(),
        ));
        // Always running: a SIGHUP may add `allow` or `notify` entries.
        tasks.spawn(transfer::notify::watch(
            transfer.clone(),
            settings::notify_settings(&config.transfer),
            shutdown.clone(),
        ));
        let handler = handler(&config, snapshots.clone(), &metrics, transfer.clone());
        if let Some(secret) = cookie_secret {
            handler
                .live()
                .set_cookies(server::cookie::Cookies::with_secret(secret));
        }
        if let Some(path) = &config.dns.cookie_secret_file {
            tasks.spawn(server::live::watch_cookie_secret(
                path.clone(),
                handler.live().clone(),
                server::live::SECRET_POLL,
                shutdown.clone(),
            ));
        }
        let router = admin_router(&settings, &dns, snapshots, &metrics, &cluster);
        let reload = reload::Reload {
            path: config_path.clone(),
            overrides,
            running: config.clone(),
            cluster,
            metrics: metrics.clone(),
            live: handler.live().clone(),
            transfer,
        };
        if let Some(hangup) = hangup {
            tasks.spawn(reload.run(hangup, shutdown.clone()));
        }
        // The admin endpoints answer only once the handler carries its
        // settings, so /metrics never shows a limit not yet in force.
        let admin_shutdown = shutdown.clone();
        tasks.spawn(async move {
            if let Err(error) = crate::admin::serve(admin_listener, router, admin_shutdown).await {
                tracing::error!("admin server stopped: {error:#}");
            }
        });
        let tcp = TcpSettings {
            idle_timeout: config.dns.tcp_idle_timeout,
            max_connections: config.dns.tcp_max_connections,
        };
        let server = tokio::spawn(server::run(
            sockets,
            handler,
            tcp,
            metrics,
            shutdown.clone(),
        ));
        Ok(Running {
            dns,
            admin,
            shutdown,
            server,
            tasks,
        })
    }
}

/// TSIG keys and the cookie secret: a bad file stops the start.
fn secrets(config: &Config, config_path: &Path) -> anyhow::Result<(Auth, Option<[u8; 16]>)> {
    let auth = Auth::from_config(&config.transfer, config_path)?;
    if !auth.keys().is_empty() {
        tracing::info!(keys = ?auth.keys().names().collect::<Vec<_>>(), "TSIG keys loaded");
    }
    let cookie_secret = match &config.dns.cookie_secret_file {
        Some(path) => {
            let secret = server::cookie::read_secret_file(path)?;
            if secret.is_none() {
                tracing::warn!(file = %path.display(),
                    "cookie secret file does not exist (yet): a random secret until it does, so other replicas do not accept this one's cookies");
            }
            secret
        }
        None => None,
    };
    Ok((auth, cookie_secret))
}

/// Loads the manifests into the embedded cluster and publishes its first
/// state, synced, before the first query; returns the cluster's handle.
async fn start_embedded(
    embedded: &EmbeddedConfig,
    index: &mut ClusterIndex,
    snapshots: &ArcSwap<Snapshot>,
    metrics: &Metrics,
) -> anyhow::Result<ClusterHandle> {
    let started = Instant::now();
    let now = tokio::time::Instant::now();
    let (manifests, sim) = (embedded.manifests.clone(), settings::sim_settings(embedded));
    let (mut cluster, results) =
        tokio::task::spawn_blocking(move || source::embedded::load_cluster(&manifests, sim, now))
            .await??;
    tracing::info!(
        objects = results.len(),
        "manifests applied to the embedded cluster"
    );
    if let Some(state) = cluster.step(now) {
        index.reset_all(state);
    }
    // The serial is the cluster's change counter (`serial.rs`).
    index.observe_version(cluster.resource_version());
    index.set_synced(true);
    if let Some(snapshot) = index.publish(Instant::now()) {
        metrics.records.set(snapshot.record_count as i64);
        metrics.serial.set(i64::from(snapshot.serial));
        snapshots.store(Arc::new(snapshot));
    }
    metrics.programming_latency.observe(started.elapsed());
    metrics.last_sync_unix.store(
        source::embedded::unix_now(),
        std::sync::atomic::Ordering::Relaxed,
    );
    Ok(ClusterHandle::new(cluster))
}

/// The DNS handler with the live settings of `config` (NSID, RRL).
fn handler(
    config: &Config,
    snapshots: Arc<ArcSwap<Snapshot>>,
    metrics: &Arc<Metrics>,
    transfer: Arc<Transfer>,
) -> DnsHandler {
    let rrl = settings::rrl_settings(&config.dns.rrl).map(|settings| Arc::new(Rrl::new(settings)));
    DnsHandler::new(snapshots, config.dns.max_udp_payload, metrics.clone())
        .with_transfer(transfer)
        .with_nsid(config.dns.nsid.as_deref())
        .with_rrl(rrl)
}

/// /metrics, /healthz, /readyz and /zone, and for the embedded cluster its
/// API for `ctl` and where DNS answers.
fn admin_router(
    settings: &crate::snapshot::ZoneSettings,
    dns: &[SocketAddr],
    snapshots: Arc<ArcSwap<Snapshot>>,
    metrics: &Arc<Metrics>,
    cluster: &Option<ClusterHandle>,
) -> axum::Router {
    let mut router = crate::admin::router(snapshots, metrics.clone());
    if let Some(handle) = cluster {
        let info = source::cluster_api::DnsInfo {
            servers: dns.iter().map(|a| a.to_string()).collect(),
            zone: settings.zone.to_string().trim_end_matches('.').to_owned(),
        };
        router = router
            .merge(source::cluster_api::router(handle.clone()))
            .merge(source::cluster_api::dns_router(info));
    }
    router
}
