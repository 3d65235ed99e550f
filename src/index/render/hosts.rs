//! The stable-name window's memory of one service: which hostnames had an
//! address at its last render, and which lost theirs and since when, so
//! that a restarting pod's name answers NODATA, not NXDOMAIN, for the
//! grace window (`dns.stable_name_grace`).
//!
//! Kept between renders for every headless service, so packed: the
//! present hostnames are one block of octets per service (each a length
//! then its text, sorted), where a `(hostname, time)` pair per name took
//! 32 octets plus the hostname's own allocation. Only the few names inside
//! their window own a string each.

use std::time::{Duration, Instant};

use crate::index::stored::{push_varint, read_varint};

/// One service's hostnames that had an address.
#[derive(Debug, Default)]
pub(crate) struct Hosts {
    /// Hostnames with an address at the last render: sorted, distinct,
    /// each a varint length then its text.
    present: Box<[u8]>,
    /// Hostnames that have lost their address, with when they lost it;
    /// sorted, and none of them in `present`.
    gone: Box<[(Box<str>, Instant)]>,
}

impl Hosts {
    /// After a render in which `present` (sorted, distinct) had addresses:
    /// every other hostname that had one is gone from now on, and one gone
    /// for `grace` or longer is forgotten.
    pub fn update(&mut self, present: &[&str], now: Instant, grace: Duration) {
        let lost = |host: &&str| present.binary_search(host).is_err();
        let mut gone: Vec<(Box<str>, Instant)> = self
            .present()
            .filter(lost)
            .map(|host| (host, now))
            .chain(self.gone.iter().map(|(host, since)| (&**host, *since)))
            .filter(|(host, since)| lost(host) && *since + grace > now)
            .map(|(host, since)| (Box::from(host), since))
            .collect();
        gone.sort_unstable();
        self.gone = gone.into_boxed_slice();
        let mut packed = Vec::with_capacity(present.iter().map(|h| h.len() + 1).sum());
        for host in present {
            push_varint(&mut packed, host.len());
            packed.extend_from_slice(host.as_bytes());
        }
        self.present = packed.into_boxed_slice();
    }

    /// The hostnames with an address at the last render, sorted.
    fn present(&self) -> impl Iterator<Item = &str> + '_ {
        let mut rest: &[u8] = &self.present;
        std::iter::from_fn(move || {
            let (len, tail) = read_varint(rest)?;
            let (host, tail) = tail.split_at_checked(len)?;
            rest = tail;
            std::str::from_utf8(host).ok()
        })
    }

    /// Every hostname remembered: those with an address, then those inside
    /// their grace window.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.present()
            .chain(self.gone.iter().map(|(host, _)| &**host))
    }

    /// When each hostname inside its window lost its address.
    pub fn lost_at(&self) -> impl Iterator<Item = Instant> + '_ {
        self.gone.iter().map(|(_, since)| *since)
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostname_that_loses_its_address_is_kept_for_the_grace_window() {
        let grace = Duration::from_secs(10);
        let t0 = Instant::now();
        let mut hosts = Hosts::default();
        hosts.update(&["web-0", "web-1", "web-2"], t0, grace);
        assert_eq!(
            hosts.names().collect::<Vec<_>>(),
            ["web-0", "web-1", "web-2"]
        );
        assert_eq!(hosts.lost_at().count(), 0);

        let t1 = t0 + Duration::from_secs(3);
        hosts.update(&["web-0", "web-2"], t1, grace);
        assert_eq!(
            hosts.names().collect::<Vec<_>>(),
            ["web-0", "web-2", "web-1"]
        );
        assert_eq!(hosts.lost_at().collect::<Vec<_>>(), [t1]);

        // Still inside its window at t1 + 9 s, and it keeps its first time.
        hosts.update(&["web-0"], t1 + Duration::from_secs(9), grace);
        assert_eq!(
            hosts.names().collect::<Vec<_>>(),
            ["web-0", "web-1", "web-2"]
        );
        assert_eq!(
            hosts.lost_at().collect::<Vec<_>>(),
            [t1, t1 + Duration::from_secs(9)]
        );

        // web-1's window ends at t1 + 10 s; web-2 comes back.
        hosts.update(&["web-0", "web-2"], t1 + Duration::from_secs(10), grace);
        assert_eq!(hosts.names().collect::<Vec<_>>(), ["web-0", "web-2"]);
        assert_eq!(hosts.lost_at().count(), 0);
    }

    #[test]
    fn no_window_forgets_at_once_and_clear_forgets_all() {
        let now = Instant::now();
        let mut hosts = Hosts::default();
        hosts.update(&["a", "b"], now, Duration::ZERO);
        hosts.update(&["b"], now, Duration::ZERO);
        assert_eq!(hosts.names().collect::<Vec<_>>(), ["b"]);
        let long = "x".repeat(200);
        hosts.update(&[long.as_str()], now, Duration::ZERO);
        assert_eq!(hosts.names().collect::<Vec<_>>(), [long.as_str()]);
        hosts.clear();
        assert_eq!(hosts.names().count(), 0);
    }
}
