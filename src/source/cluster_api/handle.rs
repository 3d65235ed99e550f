//! What every handler of the cluster API shares: the handle on the cluster
//! (its lock and the bell that wakes the simulation loop), a cluster error
//! as a Kubernetes `Status` response, and the resource a path names.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tokio::sync::Notify;

use crate::source::cluster::{ApiError, Cluster, Resource};

/// The cluster and the bell that wakes its simulation loop.
#[derive(Clone)]
pub struct ClusterHandle {
    pub cluster: Arc<Mutex<Cluster>>,
    pub wake: Arc<Notify>,
}

impl ClusterHandle {
    pub fn new(cluster: Cluster) -> Self {
        Self {
            cluster: Arc::new(Mutex::new(cluster)),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Locks the cluster. A panic while holding the lock is a bug, but the
    /// data is still consistent enough to serve, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(super) fn error(e: ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST);
    (code, axum::Json(e.status())).into_response()
}

fn unknown_resource(group: &str, plural: &str) -> ApiError {
    let name = if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    };
    ApiError {
        code: 404,
        reason: "NotFound",
        message: format!("the server could not find the requested resource ({name})"),
    }
}

pub(super) fn resource(group: &str, plural: &str) -> Result<Resource, Box<Response>> {
    Resource::from_path(group, plural)
        .ok_or_else(|| Box::new(error(unknown_resource(group, plural))))
}
