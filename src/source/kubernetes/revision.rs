//! The API server's current revision, for the SOA serial: one list of at
//! most one Service, whose `metadata.resourceVersion` is the etcd revision
//! at that moment. The Kubernetes source asks for it when it starts and when
//! a watch relists; `serial.rs` says why the serial needs it.

use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use kube::{Api, Client};

/// How long the starting revision may take before the source goes on
/// without it.
const FLOOR_TIMEOUT: Duration = Duration::from_secs(30);

/// The API server's current resourceVersion (the etcd revision), from a
/// list of at most one Service, or `None` when it cannot be had (logged).
///
/// Asked once when the source starts, beside the first lists, and when a
/// watch relists (see `RunState::handle`): every version
/// a previous run of this server saw is at most this one (etcd revisions
/// only grow), so a serial that starts from it never goes below what was
/// served before a restart, even when the newest event back then was a
/// deletion, which a fresh list does not show. kube-runtime's watcher keeps
/// its lists' own resourceVersion to itself, hence this one extra request.
pub async fn revision_now(client: Client, namespace: Option<String>) -> Option<u64> {
    let api: Api<core::Service> = match &namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    let listed = tokio::time::timeout(
        FLOOR_TIMEOUT,
        api.list(&kube::api::ListParams::default().limit(1)),
    )
    .await;
    let version = match listed {
        Ok(Ok(list)) => list.metadata.resource_version,
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot read the API server's resourceVersion; the SOA serial follows the objects listed alone, and may come out lower than before if the newest change was a deletion");
            return None;
        }
        Err(_) => {
            tracing::warn!(timeout = ?FLOOR_TIMEOUT, "no resourceVersion from the API server in time; the SOA serial follows the objects listed alone");
            return None;
        }
    };
    let parsed = version
        .as_deref()
        .and_then(crate::serial::parse_resource_version);
    if parsed.is_none() {
        tracing::warn!(resource_version = ?version, "the API server's resourceVersion is not a decimal number; the SOA serial counts changes on this replica instead");
    }
    parsed
}
