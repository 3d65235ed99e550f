//! Wiring for `serve`: load the config and the first state, bind the
//! sockets, start the driver, sources, admin and DNS servers, and stop them
//! all on SIGTERM or SIGINT. SIGHUP re-reads the config file ([`Reload`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SourceConfig};
use crate::driver::{self, SourceEvent};
use crate::index::ClusterIndex;
use crate::metrics::{Metrics, QueueProbe};
use crate::server::rrl::Rrl;
use crate::server::{self, DnsHandler, Sockets, TcpSettings};
use crate::snapshot::Snapshot;
use crate::source;
use crate::transfer::{self, Transfer};

mod offline;
mod reload;
pub mod settings;

pub use settings::Overrides;

pub use offline::{check_config, export_zone, snapshot_from_config};

/// A UDP socket on `addr` with `SO_REUSEPORT`, so several workers can
/// share one address and the kernel spreads queries across them.
fn reuseport_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Room for bursts: a full socket buffer drops queries.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Binds `workers` UDP sockets and one TCP listener on the same address.
/// With port 0 all take the port the first UDP socket was given, retrying
/// if TCP finds it taken.
async fn bind_dns(
    addr: SocketAddr,
    workers: usize,
) -> anyhow::Result<(Vec<std::net::UdpSocket>, TcpListener)> {
    let mut last_error = None;
    for _ in 0..16 {
        let first = reuseport_udp(addr).with_context(|| format!("cannot bind UDP {addr}"))?;
        let bound = first.local_addr()?;
        let mut udp = vec![first];
        for _ in 1..workers.max(1) {
            udp.push(reuseport_udp(bound).with_context(|| format!("cannot bind UDP {bound}"))?);
        }
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last_error = Some(e),
            Err(e) => return Err(e).with_context(|| format!("cannot bind TCP {addr}")),
        }
    }
    Err(anyhow::anyhow!(
        "cannot bind UDP and TCP to one port on {addr}: {last_error:?}"
    ))
}

/// The sockets a server answers on, bound before it starts: DNS (UDP per
/// worker and TCP, per `dns.listen` address) and the admin HTTP listener.
/// Tests bind port 0 and read the addresses back.
pub struct Bound {
    pub dns: Sockets,
    pub admin: TcpListener,
}

impl Bound {
    /// Binds what `config` names (`dns.listen`, `admin.listen`).
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let mut dns = Sockets {
            udp: Vec::new(),
            tcp: Vec::new(),
        };
        for addr in &config.dns.listen {
            let (udp, tcp) = bind_dns(*addr, config.dns.workers()).await?;
            dns.udp.extend(udp);
            dns.tcp.push(tcp);
        }
        let admin = TcpListener::bind(config.admin.listen)
            .await
            .with_context(|| format!("cannot bind admin address {}", config.admin.listen))?;
        Ok(Self { dns, admin })
    }

    /// The DNS addresses (one per `dns.listen` entry; UDP and TCP share it).
    pub fn dns_addrs(&self) -> Vec<SocketAddr> {
        self.dns
            .tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The admin HTTP address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.local_addr().ok()
    }
}

/// Runs the server until a signal. Errors at startup (config, manifests,
/// sockets) are returned; after that the server keeps its last good state.
pub async fn serve(config_path: &Path, overrides: Overrides) -> anyhow::Result<()> {
    let mut config = Config::load(config_path)?;
    if !overrides.listen.is_empty() {
        config.dns.listen = overrides.listen.clone();
    }
    if let Some(admin) = overrides.admin {
        config.admin.listen = admin;
    }
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    // Registered now, so that a SIGHUP during startup does not end the
    // process (its default action); handled once the sources run.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    let bound = Bound::bind(&config).await?;
    let app = App {
        config_path: config_path.to_owned(),
        overrides,
        config,
    };
    app.run(bound, Some(hangup), shutdown).await
}

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

    /// Serves on `bound` until `shutdown` is cancelled (SIGTERM and SIGINT
    /// cancel it in `serve`); `hangup` delivers SIGHUP's config re-reads
    /// (`None`: no re-reads). Returns once every task has stopped.
    pub async fn run(
        self,
        bound: Bound,
        hangup: Option<tokio::signal::unix::Signal>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        run(self, bound, hangup, shutdown).await
    }
}

async fn run(
    app: App,
    bound: Bound,
    hangup: Option<tokio::signal::unix::Signal>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let App {
        config_path,
        overrides,
        config,
    } = app;
    let config_path = config_path.as_path();
    // TSIG keys and the cookie secret: a bad file stops the start.
    let auth = transfer::Auth::from_config(&config.transfer, config_path)?;
    if !auth.keys().is_empty() {
        tracing::info!(keys = ?auth.keys().names().collect::<Vec<_>>(), "TSIG keys loaded");
    }
    let cookie_secret = match &config.dns.cookie_secret_file {
        Some(path) => {
            let secret =
                crate::server::cookie::read_secret_file(path).map_err(|e| anyhow::anyhow!(e))?;
            if secret.is_none() {
                tracing::warn!(file = %path.display(),
                    "cookie secret file does not exist (yet): a random secret until it does, so other replicas do not accept this one's cookies");
            }
            secret
        }
        None => None,
    };

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
        .set(crate::server::tcp::ANSWER_QUEUE as i64);
    let mut tasks = tokio::task::JoinSet::new();
    // The embedded cluster's API for `ctl`, served beside /metrics.
    let mut cluster_api: Option<axum::Router> = None;
    let mut cluster_handle = None;

    match &config.source {
        SourceConfig::Embedded(embedded) => {
            let started = Instant::now();
            let now = tokio::time::Instant::now();
            let config = embedded.clone();
            let (mut cluster, results) =
                tokio::task::spawn_blocking(move || source::embedded::load_cluster(&config, now))
                    .await??;
            tracing::info!(
                objects = results.len(),
                "manifests applied to the embedded cluster"
            );
            // The first state is complete before the first query: synced.
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
            let handle = source::cluster_api::ClusterHandle::new(cluster);
            cluster_api = Some(source::cluster_api::router(handle.clone()));
            cluster_handle = Some(handle.clone());
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
        }
        SourceConfig::Kubernetes(kubernetes) => {
            // Unsynced (SERVFAIL, /readyz 503) until every watch has listed.
            let source = source::kubernetes::KubernetesSource::connect(kubernetes).await?;
            tasks.spawn(source.run(events_tx.clone(), metrics.clone(), shutdown.clone()));
        }
    }

    let Bound {
        dns: sockets,
        admin: admin_listener,
    } = bound;
    for tcp in &sockets.tcp {
        tracing::info!(
            "serving DNS on {} (udp+tcp, {} UDP workers), zone {}",
            tcp.local_addr()?,
            config.dns.workers(),
            settings.zone
        );
    }
    tracing::info!("admin listening on http://{}", admin_listener.local_addr()?);

    tasks.spawn(driver::run(
        index,
        snapshots.clone(),
        metrics.clone(),
        events_rx,
        shutdown.clone(),
    ));
    let mut router = crate::admin::router(snapshots.clone(), metrics.clone());
    if let Some(api) = cluster_api {
        let servers = sockets
            .tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| a.to_string())
            .collect();
        let dns = source::cluster_api::DnsInfo {
            servers,
            zone: settings.zone.to_string().trim_end_matches('.').to_owned(),
        };
        router = router
            .merge(api)
            .merge(source::cluster_api::dns_router(dns));
    }
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
        transfer::notify::NotifySettings::from_config(&config.transfer),
        shutdown.clone(),
    ));
    let rrl = settings::rrl_settings(&config.dns.rrl).map(|settings| Arc::new(Rrl::new(settings)));
    let handler = DnsHandler::new(snapshots, config.dns.max_udp_payload, metrics.clone())
        .with_transfer(transfer.clone())
        .with_nsid(config.dns.nsid.as_deref())
        .with_rrl(rrl);
    if let Some(secret) = cookie_secret {
        handler
            .live()
            .set_cookies(crate::server::cookie::Cookies::with_secret(secret));
    }
    if let Some(path) = &config.dns.cookie_secret_file {
        tasks.spawn(crate::server::live::watch_cookie_secret(
            path.clone(),
            handler.live().clone(),
            crate::server::live::SECRET_POLL,
            shutdown.clone(),
        ));
    }
    let reload = reload::Reload {
        path: config_path.to_owned(),
        overrides,
        running: config.clone(),
        cluster: cluster_handle,
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
    let result = server::run(sockets, handler, tcp, metrics, shutdown.clone()).await;
    shutdown.cancel();
    // Give the other tasks a bounded time to finish.
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tracing::info!("stopped");
    Ok(result?)
}

/// Bound of the sources' event queue to the driver: a source that gets
/// ahead of the driver waits (back-pressure) rather than queueing without
/// limit. Exported as `headless_dns_event_queue_depth`.
const EVENT_QUEUE: usize = 1024;

/// First SIGTERM or SIGINT: drain and exit. A second: exit at once.
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
        }
        shutdown.cancel();
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}
