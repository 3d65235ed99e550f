//! The async driver: the one task that owns the [`ClusterIndex`].
//!
//! Sources send [`SourceEvent`]s over a channel; the driver applies every
//! event waiting in the channel, publishes one new snapshot for the batch
//! (swapped atomically into the store the server reads), and records the
//! programming latency from the oldest event's arrival to the swap. It also
//! wakes when a stable-name window closes.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::index::ClusterIndex;
use crate::metrics::Metrics;
use crate::model::{ClusterState, EndpointGroup, ObjectKey, OrdinalSet, Service};
use crate::snapshot::Snapshot;

/// A change reported by a source.
#[derive(Debug)]
pub enum Change {
    /// The source's whole state (a manifest reload, an initial list).
    Reset(ClusterState),
    ApplyService(Service),
    DeleteService(ObjectKey),
    ApplySlice(EndpointGroup),
    DeleteSlice(ObjectKey),
    ApplyEndpoints(EndpointGroup),
    DeleteEndpoints(ObjectKey),
    ApplySet(OrdinalSet),
    DeleteSet(ObjectKey),
    /// Changes that must land in one snapshot: a watch's relist (deletes
    /// for what vanished, applies for what is listed), so that readers never
    /// see it half done.
    Batch(Vec<Change>),
    /// Every source has delivered its first full state.
    Synced,
}

#[derive(Debug)]
pub struct SourceEvent {
    pub change: Change,
    /// When the source saw it: the start of programming latency.
    pub seen: Instant,
}

impl SourceEvent {
    pub fn now(change: Change) -> Self {
        Self {
            change,
            seen: Instant::now(),
        }
    }
}

/// Applies one change to the index (no publish).
pub fn apply(index: &mut ClusterIndex, change: Change) {
    match change {
        Change::Reset(state) => index.reset_all(state),
        Change::ApplyService(s) => index.apply_service(s),
        Change::DeleteService(k) => index.delete_service(&k),
        Change::ApplySlice(g) => index.apply_slice(g),
        Change::DeleteSlice(k) => index.delete_slice(&k),
        Change::ApplyEndpoints(g) => index.apply_endpoints(g),
        Change::DeleteEndpoints(k) => index.delete_endpoints(&k),
        Change::ApplySet(s) => index.apply_set(s),
        Change::DeleteSet(k) => index.delete_set(&k),
        Change::Batch(changes) => {
            for change in changes {
                apply(index, change);
            }
        }
        Change::Synced => index.set_synced(true),
    }
}

/// Publishes `snapshot` to the server and the metrics.
fn store(store: &ArcSwap<Snapshot>, metrics: &Metrics, snapshot: Snapshot) {
    metrics
        .serial
        .store(u64::from(snapshot.serial), Ordering::Relaxed);
    metrics
        .records
        .store(snapshot.record_count as u64, Ordering::Relaxed);
    metrics.snapshots_published.fetch_add(1, Ordering::Relaxed);
    store.store(Arc::new(snapshot));
}

/// Runs until the channel closes or `shutdown` is cancelled.
pub async fn run(
    mut index: ClusterIndex,
    snapshots: Arc<ArcSwap<Snapshot>>,
    metrics: Arc<Metrics>,
    mut events: mpsc::Receiver<SourceEvent>,
    shutdown: CancellationToken,
) {
    loop {
        let deadline = index.next_deadline();
        let first = tokio::select! {
            event = events.recv() => match event {
                Some(event) => Some(event),
                None => return,
            },
            () = sleep_until(deadline) => None,
            () = shutdown.cancelled() => return,
        };
        let mut oldest: Option<Instant> = None;
        if let Some(event) = first {
            oldest = Some(event.seen);
            apply(&mut index, event.change);
            // Batch whatever else is already waiting into the same snapshot.
            while let Ok(event) = events.try_recv() {
                oldest = Some(oldest.map_or(event.seen, |o| o.min(event.seen)));
                apply(&mut index, event.change);
            }
        }
        if let Some(snapshot) = index.publish(Instant::now()) {
            store(&snapshots, &metrics, snapshot);
            if let Some(seen) = oldest {
                metrics.programming_latency.observe(seen.elapsed());
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
