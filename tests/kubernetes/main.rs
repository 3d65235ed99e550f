//! The Kubernetes source, three ways:
//!
//! - synthetic watcher events through the source's [`Watch`] into the index,
//!   asserting on the published snapshot (no sockets, deterministic time);
//! - the server against the test API server (`support::kube_api`),
//!   asserting on DNS answers, `/readyz` and `/metrics`: in-process
//!   (`support::app`), or the real binary where log lines or the command
//!   line are checked (`live/`);
//! - every manifest under `deploy/`, parsed into typed objects and checked
//!   against each other.
//!
//! Waits are bounded polls; nothing sleeps hoping something happened.
//! `HEADLESS_DNS_OUTAGE_SECS` (default 4) sets how long the API server stays
//! down in the outage test (a closed server: connections refused); the
//! 30-second outage of a hung one (SIGSTOP, connections open) runs against
//! a real kube-apiserver in `tests/control_plane/`, as do real controllers'
//! slices and StatefulSets, RBAC and restarts.

#[path = "../support/mod.rs"]
mod support;

mod deploy;
mod live;
mod watch;

pub fn fqdn(host: &str) -> String {
    format!("{host}.svc.cluster.local.")
}

pub fn ips(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
