//! The settings a running server changes without a restart: response rate
//! limiting, NSID and the cookie secret.
//!
//! Each lives behind an `ArcSwap`, so a SIGHUP (`app/reload.rs`) or a changed
//! secret file swaps it in one atomic store while the UDP workers and the
//! handler keep loading whatever is current: no lock on the query path, no
//! query dropped. A query answered during the swap is answered under the
//! old settings or the new ones, never a mix. Values are checked before
//! they get here (the config loader names the file and key of a bad one,
//! and the old settings stay).

use std::path::Path;
use std::sync::Arc;

use arc_swap::{ArcSwap, ArcSwapOption};
use hickory_proto::rr::rdata::opt::NSIDPayload;

use super::cookie::{self, Cookies};
use super::rrl::{Rrl, RrlSettings};
use crate::metrics::Metrics;

/// The live settings, shared by every clone of the handler and the workers.
pub struct Live {
    rrl: ArcSwapOption<Rrl>,
    nsid: ArcSwapOption<NSIDPayload>,
    cookies: ArcSwap<Cookies>,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("rrl", &self.rrl.load().as_ref().map(|r| *r.settings()))
            .field("nsid", &self.nsid.load().is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Live {
    fn default() -> Self {
        Self {
            rrl: ArcSwapOption::empty(),
            nsid: ArcSwapOption::empty(),
            cookies: ArcSwap::from_pointee(Cookies::new()),
        }
    }
}

impl Live {
    /// The limiter in force, if RRL is on. One atomic load.
    pub fn rrl(&self) -> Option<Arc<Rrl>> {
        self.rrl.load_full()
    }

    /// Runs `f` with the limiter in force, without touching its count.
    pub fn with_rrl<R>(&self, f: impl FnOnce(Option<&Rrl>) -> R) -> R {
        f(self.rrl.load().as_deref())
    }

    /// Puts `settings` in force (`None`: RRL off). The same settings again
    /// keep the limiter and its buckets; new ones start with full buckets
    /// (a changed prefix length regroups every client anyway). Returns
    /// whether anything changed.
    pub fn set_rrl(&self, settings: Option<RrlSettings>, metrics: &Metrics) -> bool {
        let current = self.rrl.load().as_ref().map(|r| *r.settings());
        if current == settings {
            return false;
        }
        self.rrl.store(settings.map(|s| Arc::new(Rrl::new(s))));
        metrics
            .rrl_rate
            .set(settings.map_or(0, |s| i64::from(s.responses_per_second)));
        true
    }

    /// Puts an existing limiter in force (tests with a fixed hash key).
    pub fn set_rrl_limiter(&self, rrl: Option<Arc<Rrl>>, metrics: &Metrics) {
        metrics.rrl_rate.set(
            rrl.as_ref()
                .map_or(0, |r| i64::from(r.settings().responses_per_second)),
        );
        self.rrl.store(rrl);
    }

    /// The NSID sent to clients that ask, if set.
    pub fn nsid(&self) -> Option<Arc<NSIDPayload>> {
        self.nsid.load_full()
    }

    /// Sets the NSID (`None`: NSID requests are ignored). Returns whether
    /// it changed.
    pub fn set_nsid(&self, nsid: Option<&str>) -> bool {
        let next = nsid.and_then(|n| NSIDPayload::new(n.as_bytes()).ok());
        if self.nsid.load().as_deref() == next.as_ref() {
            return false;
        }
        self.nsid.store(next.map(Arc::new));
        true
    }

    /// The cookie rules in force.
    pub fn cookies(&self) -> arc_swap::Guard<Arc<Cookies>> {
        self.cookies.load()
    }

    /// Replaces the cookie rules outright (tests; a fixed secret at start).
    pub fn set_cookies(&self, cookies: Cookies) {
        self.cookies.store(Arc::new(cookies));
    }

    /// Makes cookies with `secret` from now on, still accepting the one
    /// before. Returns whether the secret changed.
    pub fn rotate_cookie_secret(&self, secret: [u8; 16]) -> bool {
        let current = self.cookies.load();
        if current.uses(&secret) {
            return false;
        }
        self.cookies.store(Arc::new(current.rotate(secret)));
        true
    }

    /// Reads the cookie secret file and puts it in force. Returns whether
    /// the secret changed; an absent file changes nothing (the secret in
    /// force stays), an unreadable or malformed one neither and is the error.
    pub fn load_cookie_secret(&self, path: &Path) -> Result<bool, cookie::SecretFileError> {
        Ok(cookie::read_secret_file(path)?.is_some_and(|secret| self.rotate_cookie_secret(secret)))
    }
}

/// How often the cookie secret file is looked at for a change (a mounted
/// Secret is updated by the kubelet within about a minute of an edit).
pub const SECRET_POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// Re-reads the cookie secret file every `every` ([`SECRET_POLL`] in the
/// server) until `shutdown`, putting a changed secret in force; a file that
/// goes bad is logged once per change of its error and the secret in force
/// stays.
pub async fn watch_cookie_secret(
    path: std::path::PathBuf,
    live: Arc<Live>,
    every: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        let read = {
            let (path, live) = (path.clone(), live.clone());
            tokio::task::spawn_blocking(move || live.load_cookie_secret(&path)).await
        };
        match read {
            Ok(Ok(true)) => {
                last_error = None;
                tracing::info!(file = %path.display(), "cookie secret changed; the previous one is still accepted");
            }
            Ok(Ok(false)) => last_error = None,
            Ok(Err(error)) => {
                let error = error.to_string();
                if last_error.as_ref() != Some(&error) {
                    tracing::error!("{error}; keeping the cookie secret in force");
                    last_error = Some(error);
                }
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(rate: u32) -> RrlSettings {
        RrlSettings {
            responses_per_second: rate,
            window: Duration::from_secs(5),
            slip: 2,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        }
    }

    #[test]
    fn rrl_swaps_only_on_a_change_and_the_gauge_follows() {
        let live = Live::default();
        let metrics = Metrics::default();
        assert!(live.rrl().is_none());
        assert!(live.set_rrl(Some(settings(5)), &metrics));
        let first = live.rrl().unwrap();
        assert_eq!(metrics.rrl_rate.get(), 5);
        assert!(!live.set_rrl(Some(settings(5)), &metrics));
        assert!(
            Arc::ptr_eq(&first, &live.rrl().unwrap()),
            "same settings keep the buckets"
        );
        assert!(live.set_rrl(Some(settings(9)), &metrics));
        assert_eq!(live.rrl().unwrap().settings().responses_per_second, 9);
        assert_eq!(metrics.rrl_rate.get(), 9);
        assert!(live.set_rrl(None, &metrics));
        assert!(live.rrl().is_none());
        assert_eq!(metrics.rrl_rate.get(), 0);
    }

    #[tokio::test]
    async fn a_changed_secret_file_is_picked_up_without_a_signal() {
        let live = Arc::new(Live::default());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0102030405060708090a0b0c0d0e0f10").unwrap();
        let shutdown = tokio_util::sync::CancellationToken::new();
        let watcher = tokio::spawn(watch_cookie_secret(
            path.clone(),
            live.clone(),
            Duration::from_millis(10),
            shutdown.clone(),
        ));
        let wanted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        // Bounded waits for a condition, not for a time.
        let seen = |secret: [u8; 16]| {
            let live = live.clone();
            async move {
                for _ in 0..500 {
                    if live.cookies().uses(&secret) {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                false
            }
        };
        assert!(seen(wanted).await, "the first secret was not loaded");
        std::fs::write(&path, "garbage").unwrap();
        std::fs::write(&path, "ffffffffffffffffffffffffffffffff").unwrap();
        assert!(seen([0xff; 16]).await, "the rotated secret was not loaded");
        shutdown.cancel();
        watcher.await.unwrap();
    }

    #[test]
    fn nsid_and_cookie_secret_change_live() {
        let live = Live::default();
        assert!(live.set_nsid(Some("a")));
        assert!(!live.set_nsid(Some("a")));
        assert_eq!(live.nsid().unwrap().as_ref().as_ref(), b"a");
        assert!(live.set_nsid(None));
        assert!(live.nsid().is_none());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0102030405060708090a0b0c0d0e0f10").unwrap();
        assert_eq!(live.load_cookie_secret(&path).ok(), Some(true));
        assert_eq!(live.load_cookie_secret(&path).ok(), Some(false));
        assert_eq!(
            live.load_cookie_secret(&dir.path().join("absent")).ok(),
            Some(false)
        );
        std::fs::write(&path, "nonsense").unwrap();
        assert!(live.load_cookie_secret(&path).is_err());
        assert!(
            live.cookies()
                .uses(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
        );
    }
}
