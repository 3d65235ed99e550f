//! The embedded source: a simulated cluster loaded from Kubernetes YAML.
//!
//! Three tasks share one [`Cluster`] through a [`ClusterHandle`]:
//! - the simulation loop ([`run`]) steps the cluster whenever a timer is due
//!   (a pod turns Running or Ready, a terminating pod goes) or something woke
//!   it (a `ctl` command, a manifest edit), and sends the DNS view to the
//!   driver as one reset when it changed; the index rebuilds only the
//!   services that differ;
//! - the manifest watcher ([`watch`]) re-reads the files after an edit and
//!   applies what changed; a broken edit is logged with file, document and
//!   field, and the cluster keeps its last good state;
//! - the admin API (`cluster_api.rs`) serves `ctl`.
//!
//! Each reset carries the cluster's resourceVersion, which grows by one with
//! every step that changed an object; the SOA serial is that counter
//! (`serial.rs`). Replicas loaded from the same manifests that take the same
//! steps serve the same serial, and a replica restarted from the same
//! manifests replays to the serial it served before. Timers that fall into
//! one step on a replica that woke late count once, and what only lived in
//! memory (`ctl` edits) is gone after a restart, with the steps it took: the
//! README's "Two replicas behind one Service" says what that means for
//! secondaries.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::cluster_api::ClusterHandle;
use super::manifest::load_objects;
use crate::driver::{Change, SourceEvent};
use crate::metrics::Metrics;

/// Why the embedded source could not load or watch its manifests. The
/// texts are what the log and `check-config` print.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// A manifest file did not read or parse (file, document and field).
    #[error(transparent)]
    Manifest(#[from] super::manifest::ManifestError),
    /// The cluster refused an object of otherwise good manifests.
    #[error("manifests rejected: {0}")]
    Rejected(super::cluster::ApiError),
    /// The file watcher could not start.
    #[error(transparent)]
    Notify(#[from] notify::Error),
    /// The file watcher could not watch a folder of the manifests.
    #[error("cannot watch {}: {error}", folder.display())]
    Watch {
        folder: PathBuf,
        error: notify::Error,
    },
    /// The blocking load task panicked or was cancelled.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
}

/// Edits arriving within this window are loaded together (editors write a
/// file in several steps).
const QUIET: Duration = Duration::from_millis(100);
/// The longest a reload waits for the writes to pause.
const SETTLE_MAX: Duration = Duration::from_secs(1);

/// Steps the cluster and feeds the driver, until `shutdown`.
pub async fn run(
    handle: ClusterHandle,
    events: mpsc::Sender<SourceEvent>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let mut woke = Instant::now();
    loop {
        let (state, next, version) = {
            let mut cluster = handle.lock();
            let state = cluster.step(Instant::now());
            (state, cluster.next_wakeup(), cluster.resource_version())
        };
        if let Some(state) = state {
            metrics.last_sync_unix.store(unix_now(), Ordering::Relaxed);
            let event = SourceEvent {
                change: Change::Reset(state),
                seen: woke.into_std(),
                version: Some(version),
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
        tokio::select! {
            () = sleep_until(next) => {}
            () = handle.wake.notified() => {}
            () = shutdown.cancelled() => return,
        }
        woke = Instant::now();
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Whether a changed path is one of ours: a listed file, or a manifest file
/// inside a listed folder (editors' swap and backup files are not).
fn is_manifest_path(changed: &Path, manifests: &[PathBuf]) -> bool {
    manifests.iter().any(|m| {
        if changed == m {
            return true;
        }
        m.is_dir()
            && changed.parent() == Some(m.as_path())
            && matches!(
                changed.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
    })
}

/// Watches `manifests` and applies every good edit to the cluster, until
/// `shutdown`.
pub async fn watch(
    manifests: Vec<PathBuf>,
    handle: ClusterHandle,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), EmbeddedError> {
    // Compare absolute paths: the watcher reports them so.
    let manifests: Vec<PathBuf> = manifests
        .iter()
        .map(|m| std::path::absolute(m).unwrap_or_else(|_| m.clone()))
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watched = manifests.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|p| is_manifest_path(p, &watched))
        {
            let _ = tx.send(());
        }
    })?;
    // Watch folders, not files: editors and ConfigMap mounts replace files
    // by renaming, which a watch on the file itself would lose.
    let mut folders: Vec<PathBuf> = manifests
        .iter()
        .map(|m| {
            if m.is_dir() {
                m.clone()
            } else {
                m.parent()
                    .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
            }
        })
        .collect();
    folders.sort();
    folders.dedup();
    for folder in &folders {
        watcher
            .watch(folder, RecursiveMode::NonRecursive)
            .map_err(|error| EmbeddedError::Watch {
                folder: folder.clone(),
                error,
            })?;
    }
    // From here on an edit is seen (tests wait for this line before editing).
    tracing::info!(folders = ?folders, "watching manifests for edits");
    loop {
        tokio::select! {
            seen = rx.recv() => if seen.is_none() { return Ok(()) },
            () = shutdown.cancelled() => return Ok(()),
        }
        // Let the burst of writes settle: read only after QUIET without an
        // event, so a file is not read between its truncation and its
        // writing (an empty file would prune every object); but no longer
        // than SETTLE_MAX, so a file written without pause is still read.
        let settle_until = Instant::now() + SETTLE_MAX;
        loop {
            tokio::select! {
                () = tokio::time::sleep(QUIET) => {}
                () = shutdown.cancelled() => return Ok(()),
            }
            if rx.try_recv().is_err() || Instant::now() >= settle_until {
                break;
            }
            while rx.try_recv().is_ok() {}
        }
        match reload_manifests(&handle, manifests.clone()).await {
            Ok(results) => {
                for line in &results {
                    tracing::info!("manifest reload: {line}");
                }
            }
            Err(error) => {
                metrics.count_source_error("manifest");
                tracing::error!("{error}; still serving the last good state");
            }
        }
    }
}

/// A simulated cluster with `settings` and the objects of the manifest
/// files `manifests` applied at `now`: what `serve` and `export-zone` start
/// from. Returns the cluster and one line per object applied.
pub fn load_cluster(
    manifests: &[PathBuf],
    settings: super::cluster::SimSettings,
    now: Instant,
) -> Result<(super::cluster::Cluster, Vec<String>), EmbeddedError> {
    cluster_from_objects(load_objects(manifests)?, settings, now)
}

/// A simulated cluster with `settings` and `objects` applied at `now`
/// (`check-config` reads the objects itself, to count them).
pub fn cluster_from_objects(
    objects: Vec<super::manifest::Object>,
    settings: super::cluster::SimSettings,
    now: Instant,
) -> Result<(super::cluster::Cluster, Vec<String>), EmbeddedError> {
    let mut cluster = super::cluster::Cluster::new(settings);
    let results = cluster
        .apply_manifests(objects, now)
        .map_err(EmbeddedError::Rejected)?;
    Ok((cluster, results))
}

/// Re-reads the manifest files `paths` into the running cluster (what
/// changed is applied, what left the files is deleted) and wakes it.
/// Returns one line per change.
pub async fn reload_manifests(
    handle: &ClusterHandle,
    paths: Vec<PathBuf>,
) -> Result<Vec<String>, EmbeddedError> {
    let objects = tokio::task::spawn_blocking(move || load_objects(&paths)).await??;
    let results = handle
        .lock()
        .apply_manifests(objects, Instant::now())
        .map_err(EmbeddedError::Rejected)?;
    handle.wake.notify_one();
    Ok(results)
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
