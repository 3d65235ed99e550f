//! The Kubernetes source's run-loop state, apart from the streams: per
//! watch, whether it is failing or relisting (so an error is logged once,
//! and a relist's serial is floored at the revision of its start); the
//! highest resourceVersion seen, which each change carries to the driver;
//! whether `Synced` went out; and the staleness metric, set from the
//! liveness probes and the heartbeat. The run loop in `kubernetes.rs` feeds
//! it the watcher's events and errors.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kube::Client;
use kube::runtime::watcher::{self, Event};
use tokio::sync::mpsc;

use super::errors::{error_kind, hint, is_expired};
use super::liveness::Probe;
use super::revision::revision_now;
use super::watch::{Kind, Watch, Watched, resource_version};

/// An answer this recent (whole seconds) keeps open watches current now;
/// two beats, so that one slow answer does not count as staleness.
const HEARTBEAT_FRESH: Duration = Duration::from_secs(2);
use crate::driver::SourceEvent;
use crate::metrics::Metrics;
use crate::source::embedded::unix_now;

impl RunState {
    /// The state before any event: nothing synced, nothing failing.
    pub(super) fn new(
        client: Client,
        watches: Vec<Watch>,
        probes: Vec<Arc<Probe>>,
        answered: Arc<AtomicU64>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let n = watches.len();
        Self {
            client,
            relist_floors: std::iter::repeat_with(|| None).take(n).collect(),
            watches,
            probes,
            answered,
            failing: vec![None; n],
            relisting: vec![None; n],
            synced: false,
            floor_known: false,
            version: None,
            unparsable: false,
            started: Instant::now(),
            metrics,
        }
    }

    /// Notes the starting revision (see [`revision_now`]).
    pub(super) fn floor(&mut self, revision: Option<u64>) {
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
    pub(super) async fn handle(
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
        let listed = matches!(event, Event::InitDone);
        let change = self.watches[i].handle(event);
        // A large list whose last change is small (a relist of what the
        // index has, or the tail of a first list sent in batches): the
        // driver will not release what decoding it freed, so ask here.
        if listed
            && self.watches[i].len() >= crate::driver::LARGE_CHANGE
            && change.as_ref().map_or(0, crate::driver::weight) < crate::driver::LARGE_CHANGE
        {
            crate::driver::release_memory();
        }
        let Some(change) = change else {
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
pub(super) struct RunState {
    /// For the API server's revision when a watch relists.
    client: Client,
    /// Per watch relisting after it had synced: the revision asked for at
    /// its `Init` (see [`RunState::handle`]).
    relist_floors: Vec<Option<tokio::task::JoinHandle<Option<u64>>>>,
    pub(super) watches: Vec<Watch>,
    probes: Vec<Arc<Probe>>,
    /// Unix seconds when the API server last answered a heartbeat.
    answered: Arc<AtomicU64>,
    /// Per watch: failing since (its first error after being healthy).
    failing: Vec<Option<Instant>>,
    /// Per watch: listing since.
    relisting: Vec<Option<Instant>>,
    /// `Change::Synced` has been sent.
    pub(super) synced: bool,
    /// The starting revision arrived (or failed): `Synced` waits for it, so
    /// the first serial served is at least that revision.
    pub(super) floor_known: bool,
    /// The highest resourceVersion seen, the starting revision included.
    pub(super) version: Option<u64>,
    /// A resourceVersion that is not a number was logged.
    unparsable: bool,
    started: Instant,
    metrics: Arc<Metrics>,
}

impl RunState {
    /// Logs an error once when a watch starts failing; retries are quiet.
    pub(super) fn report(&mut self, i: usize, error: &watcher::Error) {
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
    pub(super) fn refresh(&mut self) {
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

    pub(super) fn log_synced(&self) {
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
