//! The embedded cluster's HTTP API, served on the admin address for
//! `headless-dns ctl`.
//!
//! Paths follow the Kubernetes API (`/api/v1/namespaces/demo/pods`,
//! `/apis/apps/v1/namespaces/demo/statefulsets/web`), objects are Kubernetes
//! JSON, errors are `Status` objects, and `?watch=true` streams
//! newline-delimited watch events. A few verbs kubectl does client-side
//! (`apply`, `delete -f`) and the simulation's faults have plain endpoints.
//! Each handler locks the cluster briefly (never the DNS path: the server
//! answers from snapshots) and wakes the simulation loop.
//!
//! This file holds the routes; `handle.rs` the shared handle, the error
//! mapping and path-to-resource reading, which every handler imports; the
//! handlers are in `read.rs` (list, watch, get), `write.rs` (delete,
//! replace, patch, create one object) and `files.rs` (apply, create and
//! delete whole manifests; faults).

mod files;
mod handle;
mod read;
mod write;

use axum::Router;
use axum::routing::{get, post};

use files::{apply, create_files, delete_files, fault};
pub use handle::ClusterHandle;
use read::{
    get_cluster_scoped, get_core, get_group, get_group_cluster_scoped, get_namespace, list_core,
    list_core_ns, list_group, list_group_ns,
};
use write::{
    create_cluster_scoped, create_core_ns, delete_cluster_scoped, delete_core, delete_group,
    delete_namespace, patch_cluster_scoped, patch_group, put_group,
};

pub fn router(handle: ClusterHandle) -> Router {
    Router::new()
        .route(
            "/api/v1/{resource}",
            get(list_core).post(create_cluster_scoped),
        )
        .route(
            "/api/v1/namespaces/{ns}",
            get(get_namespace).delete(delete_namespace),
        )
        .route(
            "/api/v1/namespaces/{ns}/{resource}",
            get(list_core_ns).post(create_core_ns),
        )
        .route(
            "/api/v1/namespaces/{ns}/{resource}/{name}",
            get(get_core).delete(delete_core),
        )
        .route(
            "/api/v1/{resource}/{name}",
            get(get_cluster_scoped)
                .delete(delete_cluster_scoped)
                .patch(patch_cluster_scoped),
        )
        .route("/apis/{group}/{version}/{resource}", get(list_group))
        .route(
            "/apis/{group}/{version}/{resource}/{name}",
            get(get_group_cluster_scoped),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{ns}/{resource}",
            get(list_group_ns),
        )
        .route(
            "/apis/{group}/{version}/namespaces/{ns}/{resource}/{name}",
            get(get_group)
                .delete(delete_group)
                .put(put_group)
                .patch(patch_group),
        )
        .route("/apply", post(apply))
        .route("/create", post(create_files))
        .route("/delete", post(delete_files))
        .route("/sim/v1/namespaces/{ns}/pods/{name}/fault", post(fault))
        .with_state(handle)
}

/// Where the server answers DNS, for `ctl exec` and `ctl run`: their
/// built-in `nslookup` asks it as a pod would ask the cluster DNS.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DnsInfo {
    /// `IP:PORT` of every DNS listener.
    pub servers: Vec<String>,
    /// The cluster zone (`cluster.local`).
    pub zone: String,
}

/// `GET /sim/v1/dns`: the [`DnsInfo`].
pub fn dns_router(info: DnsInfo) -> Router {
    Router::new().route(
        "/sim/v1/dns",
        get(move || {
            let info = info.clone();
            async move { axum::Json(info) }
        }),
    )
}
