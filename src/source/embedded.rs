//! The embedded source, static part: Kubernetes YAML files on disk.
//!
//! The initial load happens before serving (a broken manifest at start is a
//! startup error). After that, a filesystem watcher (`notify`) reports edits;
//! after a short quiet period the manifests are loaded again, and on success
//! the whole state goes to the driver as one reset, which rebuilds only the
//! services that differ. A broken edit is logged with file, document and
//! field, and the last good state keeps being served.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::manifest::load_manifests;
use crate::driver::{Change, SourceEvent};
use crate::metrics::Metrics;

/// Edits arriving within this window are loaded together (editors write a
/// file in several steps).
const QUIET: Duration = Duration::from_millis(100);

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

/// Watches `manifests` and sends a reset on every good edit, until
/// `shutdown`.
pub async fn watch(
    manifests: Vec<PathBuf>,
    events: mpsc::Sender<SourceEvent>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Compare absolute paths: the watcher reports them so.
    let manifests: Vec<PathBuf> = manifests
        .iter()
        .map(|m| std::path::absolute(m).unwrap_or_else(|_| m.clone()))
        .collect();
    let (tx, mut rx) = mpsc::unbounded_channel::<Instant>();
    let watched = manifests.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|p| is_manifest_path(p, &watched))
        {
            let _ = tx.send(Instant::now());
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
            .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", folder.display()))?;
    }
    loop {
        let first = tokio::select! {
            seen = rx.recv() => match seen {
                Some(seen) => seen,
                None => return Ok(()),
            },
            () = shutdown.cancelled() => return Ok(()),
        };
        // Let the burst of writes settle.
        tokio::time::sleep(QUIET).await;
        while rx.try_recv().is_ok() {}
        let paths = manifests.clone();
        let loaded = tokio::task::spawn_blocking(move || load_manifests(&paths)).await?;
        match loaded {
            Ok(state) => {
                tracing::info!(
                    services = state.services.len(),
                    endpoint_slices = state.slices.len(),
                    endpoints = state.endpoints.len(),
                    statefulsets = state.sets.len(),
                    "manifests reloaded"
                );
                metrics.last_sync_unix.store(unix_now(), Ordering::Relaxed);
                let event = SourceEvent {
                    change: Change::Reset(state),
                    seen: first,
                };
                if events.send(event).await.is_err() {
                    return Ok(());
                }
            }
            Err(error) => {
                metrics.source_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!("{error}; still serving the last good state");
            }
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
