//! The IXFR journal: the last few synced snapshots, by serial.
//!
//! Snapshots enter from the NOTIFY watcher (every one it sees published) and
//! from the responder (every one it transferred, so a serial a secondary
//! holds is always here unless it aged out). Keeping whole snapshots instead
//! of per-change deltas costs little: consecutive snapshots share every
//! untouched service, and IXFR computes the condensed difference between
//! two of them directly. A lock guards the list; only transfers and the
//! watcher take it, never the query path.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::diff::serial_lt;
use crate::snapshot::Snapshot;

pub struct Journal {
    capacity: usize,
    /// Oldest first, by serial (RFC 1982 order).
    snapshots: Mutex<VecDeque<Arc<Snapshot>>>,
}

impl Journal {
    /// A journal of at most `capacity` serials (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            snapshots: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Arc<Snapshot>>> {
        // A panic while holding the lock leaves a valid list.
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `snapshot` unless it is unsynced (never transferred) or its
    /// serial is already kept; drops the oldest beyond the capacity.
    pub fn record(&self, snapshot: Arc<Snapshot>) {
        if !snapshot.synced {
            return;
        }
        let mut snapshots = self.lock();
        if snapshots.iter().any(|s| s.serial == snapshot.serial) {
            return;
        }
        // Usually the newest; a transfer that outlived newer publications
        // files its snapshot where its serial belongs.
        let at = snapshots
            .iter()
            .rposition(|s| serial_lt(s.serial, snapshot.serial))
            .map_or(0, |i| i + 1);
        snapshots.insert(at, snapshot);
        while snapshots.len() > self.capacity {
            snapshots.pop_front();
        }
    }

    /// The snapshot published under `serial`, if still kept.
    pub fn find(&self, serial: u32) -> Option<Arc<Snapshot>> {
        self.lock().iter().find(|s| s.serial == serial).cloned()
    }

    /// The serials kept, oldest first.
    pub fn serials(&self) -> Vec<u32> {
        self.lock().iter().map(|s| s.serial).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ZoneSettings;

    fn snapshot(serial: u32) -> Arc<Snapshot> {
        let zone = hickory_proto::rr::Name::from_ascii("cluster.local.").unwrap();
        let settings = ZoneSettings {
            nameserver: hickory_proto::rr::Name::from_ascii("ns.dns.cluster.local.").unwrap(),
            zone,
            reverse_zones: Vec::new(),
            ttl: 5,
            negative_ttl: 5,
            nameserver_addresses: Vec::new(),
            pod_records: crate::model::PodRecords::Insecure,
        };
        let mut snap = Snapshot::empty(Arc::new(settings), serial);
        snap.synced = true;
        Arc::new(snap)
    }

    #[test]
    fn keeps_the_newest_serials_in_order() {
        let journal = Journal::new(3);
        for serial in [10, 11, 11, 12, 13] {
            journal.record(snapshot(serial));
        }
        assert_eq!(journal.serials(), [11, 12, 13]);
        assert!(journal.find(10).is_none());
        assert_eq!(journal.find(12).map(|s| s.serial), Some(12));
        // A late recording goes where its serial belongs.
        let journal = Journal::new(3);
        for serial in [20, 22, 21] {
            journal.record(snapshot(serial));
        }
        assert_eq!(journal.serials(), [20, 21, 22]);
        // Order is RFC 1982 order: 0 follows u32::MAX, and the oldest goes.
        let journal = Journal::new(3);
        for serial in [u32::MAX - 1, u32::MAX, 1, 0] {
            journal.record(snapshot(serial));
        }
        assert_eq!(journal.serials(), [u32::MAX, 0, 1]);
    }

    #[test]
    fn ignores_unsynced_snapshots() {
        let journal = Journal::new(3);
        let mut snap = (*snapshot(5)).clone();
        snap.synced = false;
        journal.record(Arc::new(snap));
        assert!(journal.serials().is_empty());
    }
}
