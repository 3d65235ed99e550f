//! The async driver: the one task that owns the [`ClusterIndex`].
//!
//! Sources send [`SourceEvent`]s over a channel; the driver applies every
//! event waiting in the channel, publishes one new snapshot for the batch
//! (swapped atomically into the store the server reads), and records the
//! programming latency from the oldest event's arrival to the swap. Each
//! event's state version goes to the index before its change, so the
//! snapshot of a batch carries the serial of the newest state in it. It also
//! wakes when a stable-name window closes.
//!
//! After a publish that followed a large change (an initial list, a relist,
//! a whole state from the embedded cluster) it calls the release hook the
//! binary may install ([`set_release_hook`]), at most once a second: the
//! allocator gives back what decoding the lists freed, so the resident set
//! after a sync is the zone, not the zone plus the lists it came from.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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
    /// The version of the cluster state the source has reached with this
    /// change: the highest `resourceVersion` its watches have seen, or the
    /// embedded cluster's change counter. The SOA serial derives from it
    /// (`serial.rs`), so replicas that saw the same objects agree. `None`
    /// from a source that has none.
    pub version: Option<u64>,
}

impl SourceEvent {
    pub fn now(change: Change) -> Self {
        Self {
            change,
            seen: Instant::now(),
            version: None,
        }
    }
}

/// A round that applied at least this many changes (or a whole state)
/// counts as large: the memory its lists took is worth giving back.
pub const LARGE_CHANGE: usize = 1000;

/// What the binary gives back to the OS after a large change (glibc's
/// `malloc_trim`); none by default (only this module's own test installs
/// one).
static RELEASE: OnceLock<fn()> = OnceLock::new();

/// Installs the hook called (on a blocking thread) after a publish that
/// followed a large change. The first one installed stays.
pub fn set_release_hook(hook: fn()) {
    let _ = RELEASE.set(hook);
}

/// Calls the release hook, if one is installed, on a blocking thread
/// (trimming a large heap takes milliseconds). The driver calls it after
/// a large round; a source after a large list that changed little (a
/// relist), whose decoding freed as much.
///
/// A call within [`RELEASE_EVERY`] of the last release is not dropped: it
/// runs once, when the interval ends. Lists end close together (one watch
/// per kind), and the largest is often not the first; dropped, its memory
/// stayed resident until some later large change.
pub fn release_memory() {
    let Some(release) = RELEASE.get().copied() else {
        return;
    };
    // Tokio's clock: a test can pause it.
    let now = tokio::time::Instant::now();
    let wait = {
        let mut last = LAST_RELEASE.lock().unwrap_or_else(PoisonError::into_inner);
        match *last {
            Some(at) if now.duration_since(at) < RELEASE_EVERY => Some(at + RELEASE_EVERY - now),
            _ => {
                *last = Some(now);
                None
            }
        }
    };
    match wait {
        None => {
            tokio::task::spawn_blocking(release);
        }
        // One deferred release at a time covers every call until it runs.
        Some(wait) if !RELEASE_DEFERRED.swap(true, Ordering::AcqRel) => {
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                RELEASE_DEFERRED.store(false, Ordering::Release);
                release_memory();
            });
        }
        Some(_) => {}
    }
}

/// A release is waiting for the interval to end.
static RELEASE_DEFERRED: AtomicBool = AtomicBool::new(false);

/// The shortest time between two releases: the embedded cluster sends its
/// whole DNS view with every step, and trimming holds the allocator's
/// locks, so it must not run once per step.
const RELEASE_EVERY: Duration = Duration::from_secs(1);
static LAST_RELEASE: Mutex<Option<tokio::time::Instant>> = Mutex::new(None);

/// How many changes `change` holds, a whole state counting as large, and
/// so does the end of the first sync: the first lists arrive in batches
/// smaller than [`LARGE_CHANGE`] (`source/kubernetes/watch.rs`), and what
/// decoding them took is given back once, after the last.
pub fn weight(change: &Change) -> usize {
    match change {
        Change::Reset(_) | Change::Synced => LARGE_CHANGE,
        Change::Batch(changes) => changes.iter().map(weight).sum(),
        _ => 1,
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

/// Applies one event: its state version, then its change.
fn receive(index: &mut ClusterIndex, event: SourceEvent) {
    if let Some(version) = event.version {
        index.observe_version(version);
    }
    apply(index, event.change);
}

/// Publishes `snapshot` to the server and the metrics.
fn store(store: &ArcSwap<Snapshot>, metrics: &Metrics, snapshot: Snapshot) {
    metrics.serial.set(i64::from(snapshot.serial));
    metrics.records.set(snapshot.record_count as i64);
    metrics.snapshots_published.inc();
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
        // Shutdown first: once it is cancelled the runtime may be going,
        // and its timers with it.
        let first = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            event = events.recv() => match event {
                Some(event) => Some(event),
                None => return,
            },
            () = sleep_until(deadline) => None,
        };
        let mut oldest: Option<Instant> = None;
        let mut applied = 0;
        if let Some(event) = first {
            oldest = Some(event.seen);
            applied += weight(&event.change);
            receive(&mut index, event);
            // Batch whatever else is already waiting into the same snapshot.
            while let Ok(event) = events.try_recv() {
                oldest = Some(oldest.map_or(event.seen, |o| o.min(event.seen)));
                applied += weight(&event.change);
                receive(&mut index, event);
            }
        }
        if let Some(snapshot) = index.publish(Instant::now()) {
            store(&snapshots, &metrics, snapshot);
            if let Some(seen) = oldest {
                metrics.programming_latency.observe(seen.elapsed());
            }
        }
        // Also when the lists changed nothing: they were decoded all the same.
        if applied >= LARGE_CHANGE {
            release_memory();
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::sync::Notify;

    use super::*;

    static RELEASES: AtomicUsize = AtomicUsize::new(0);
    static RELEASED: Notify = Notify::const_new();

    fn count() {
        RELEASES.fetch_add(1, Ordering::SeqCst);
        RELEASED.notify_one();
    }

    /// Whether a release runs before the (paused, so virtual) clock
    /// passes ten intervals with nothing else to do.
    async fn a_release_runs() -> bool {
        tokio::time::timeout(RELEASE_EVERY * 10, RELEASED.notified())
            .await
            .is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn releases_within_the_interval_run_once_when_it_ends() {
        set_release_hook(count);
        release_memory();
        assert!(a_release_runs().await);
        // Within the interval: deferred to its end, the calls after it
        // covered by the same release.
        release_memory();
        release_memory();
        assert_eq!(RELEASES.load(Ordering::SeqCst), 1);
        assert!(a_release_runs().await, "the deferred release never ran");
        assert_eq!(RELEASES.load(Ordering::SeqCst), 2);
        assert!(!a_release_runs().await, "a third release ran");
        assert_eq!(RELEASES.load(Ordering::SeqCst), 2);
    }
}
