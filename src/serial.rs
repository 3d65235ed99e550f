//! The SOA serial: RFC 1982 arithmetic, and the rule that derives a serial
//! from the cluster state's version so that every replica that has seen the
//! same objects serves the same serial.
//!
//! Sources stamp each event with the version of the state they have reached
//! (`driver::SourceEvent::version`): in Kubernetes mode the highest
//! `resourceVersion` the watches have seen (kube-apiserver hands out etcd
//! revisions, decimal integers that only grow), in embedded mode the
//! simulated cluster's own change counter. The index keeps the highest
//! version and asks [`next`] for the serial of each snapshot it publishes.
//! The version is folded into 32 bits by taking it modulo 2^32, which is
//! RFC 1982 addition: a secondary orders two serials correctly as long as
//! fewer than 2^31 versions lie between them.
//!
//! Restarts and relists: a fresh list shows a deleted object only by its
//! absence, so the newest object listed can be older than the deletion a
//! replica last served. The Kubernetes source therefore also counts the API
//! server's revision when it starts and when a watch relists
//! (`source/kubernetes/revision.rs`); etcd revisions only grow, so the
//! serial never goes below one served before. The embedded cluster starts
//! its counter afresh and replays the manifests (`source/embedded.rs`).
//!
//! The limit: watches of different kinds are not ordered with each other, so
//! a change can arrive after a newer version from another watch. It gets the
//! current serial plus one ([`next`]), this replica's own number; see the
//! README ("Two replicas behind one Service") for what that can cost.
//!
//! Pure functions only; the index and the transfer code call them.

/// RFC 1982 serial number arithmetic: whether `a` comes before `b`. Serials
/// exactly 2^31 apart are unordered (neither comes before the other).
pub fn serial_lt(a: u32, b: u32) -> bool {
    a != b && b.wrapping_sub(a) < 1 << 31
}

/// A state version folded into a serial: modulo 2^32 (RFC 1982 §3.1: adding
/// to a serial wraps at 2^32).
pub fn fold(version: u64) -> u32 {
    (version & u64::from(u32::MAX)) as u32
}

/// A Kubernetes `resourceVersion` as a number. The API treats it as an
/// opaque string; kube-apiserver backed by etcd sends the etcd revision in
/// decimal, which this parses. `None` for anything else (another storage
/// backend, an aggregated API): the caller then counts changes itself.
pub fn parse_resource_version(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// What the index knows when it publishes a changed snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Publish {
    /// The serial of the last published snapshot.
    pub current: u32,
    /// Whether the last published snapshot was synced. Serials of unsynced
    /// snapshots are never served (transfers and in-zone answers are
    /// SERVFAIL until then), so the first synced one takes the derived
    /// serial whatever came before.
    pub current_synced: bool,
    /// The highest state version the sources reported, if any.
    pub version: Option<u64>,
    /// Whether a source changed something since the last publish. `false`
    /// when only a stable-name window closed: that turns an empty name's
    /// NODATA into NXDOMAIN and changes no record, so no secondary needs a
    /// new serial (and another replica, which may never have had the name,
    /// does not get ahead by one).
    pub from_sources: bool,
    /// Seconds since the epoch, for sources that report no version.
    pub wall: u32,
}

/// The serial of the next published snapshot.
///
/// - A version that is after the current serial becomes the serial: every
///   replica that has seen the same objects computes the same one.
/// - A change the version does not cover (an event that arrived after a
///   newer one from another watch: watches of different kinds are not
///   ordered with each other) takes the current serial plus one, so that
///   no secondary holding the current serial misses it.
/// - A publish without a source change keeps the serial (see
///   [`Publish::from_sources`]).
/// - Without any version (a source that has none, tests that drive the
///   index by hand) the serial is the wall clock, or one more than the
///   current serial if that is larger, as before versions existed.
pub fn next(p: Publish) -> u32 {
    if p.current_synced && !p.from_sources {
        return p.current;
    }
    match p.version.map(fold) {
        Some(derived) if !p.current_synced || serial_lt(p.current, derived) => derived,
        Some(_) => p.current.wrapping_add(1),
        None => p.wall.max(p.current.wrapping_add(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(current: u32, version: Option<u64>) -> Publish {
        Publish {
            current,
            current_synced: true,
            version,
            from_sources: true,
            wall: 1_000,
        }
    }

    #[test]
    fn serial_arithmetic_follows_rfc_1982() {
        assert!(serial_lt(1, 2));
        assert!(!serial_lt(2, 1));
        assert!(!serial_lt(5, 5));
        assert!(serial_lt(u32::MAX, 0));
        assert!(!serial_lt(0, u32::MAX));
        assert!(serial_lt(0, (1 << 31) - 1));
        assert!(!serial_lt(0, 1 << 31));
        assert!(!serial_lt(1 << 31, 0));
    }

    #[test]
    fn versions_fold_modulo_two_to_the_32() {
        assert_eq!(fold(0), 0);
        assert_eq!(fold(123_456), 123_456);
        assert_eq!(fold(u64::from(u32::MAX)), u32::MAX);
        assert_eq!(fold(u64::from(u32::MAX) + 1), 0);
        assert_eq!(fold((7 << 32) + 42), 42);
        // Consecutive versions stay consecutive serials across the wrap.
        let v = u64::from(u32::MAX);
        assert!(serial_lt(fold(v), fold(v + 1)));
        assert!(serial_lt(fold(v), fold(v + 1000)));
    }

    #[test]
    fn resource_versions_parse_only_as_decimal_numbers() {
        assert_eq!(parse_resource_version("0"), Some(0));
        assert_eq!(parse_resource_version("918273"), Some(918_273));
        assert_eq!(
            parse_resource_version("18446744073709551615"),
            Some(u64::MAX)
        );
        for bad in [
            "",
            "-1",
            "+5",
            "12a",
            "0x10",
            " 7",
            "1.5",
            "18446744073709551616",
        ] {
            assert_eq!(parse_resource_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_newer_version_is_the_serial() {
        assert_eq!(next(publish(100, Some(250))), 250);
        // Past the wrap: still after the current serial.
        assert_eq!(next(publish(u32::MAX - 1, Some(1 << 32))), 0);
    }

    #[test]
    fn the_first_synced_snapshot_takes_the_version_whatever_came_before() {
        let p = Publish {
            current_synced: false,
            ..publish(1_700_000_000, Some(42))
        };
        assert_eq!(next(p), 42);
        // Even a version RFC 1982 would put before the unsynced serial.
        let p = Publish {
            current_synced: false,
            ..publish(5, Some(5 + (1 << 31)))
        };
        assert_eq!(next(p), 5 + (1 << 31));
    }

    #[test]
    fn a_change_the_version_does_not_cover_still_gets_a_new_serial() {
        assert_eq!(next(publish(250, Some(250))), 251);
        assert_eq!(next(publish(250, Some(200))), 251);
        assert_eq!(next(publish(u32::MAX, Some(u64::from(u32::MAX)))), 0);
    }

    #[test]
    fn a_publish_without_a_source_change_keeps_the_serial() {
        let p = Publish {
            from_sources: false,
            ..publish(250, Some(300))
        };
        assert_eq!(next(p), 250);
        let p = Publish {
            from_sources: false,
            ..publish(250, None)
        };
        assert_eq!(next(p), 250);
    }

    #[test]
    fn without_versions_the_serial_is_the_clock_or_one_more() {
        assert_eq!(next(publish(10, None)), 1_000);
        assert_eq!(next(publish(5_000, None)), 5_001);
    }
}
