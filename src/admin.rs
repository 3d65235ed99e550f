//! The admin HTTP server: `/healthz`, `/readyz`, `/metrics`, and `/zone` (the
//! live zone as a master file).
//!
//! `/readyz` answers 200 only once the snapshot being served is synced (every
//! source delivered its first full state); until then DNS answers SERVFAIL
//! and a load balancer should send no traffic here. Takes a bound listener
//! and a shutdown token.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

#[derive(Clone)]
struct AdminState {
    snapshot: Arc<ArcSwap<Snapshot>>,
    metrics: Arc<Metrics>,
}

pub fn router(snapshot: Arc<ArcSwap<Snapshot>>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/livez", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/zone", get(zone_text))
        .with_state(AdminState { snapshot, metrics })
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    if state.snapshot.load().synced {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "sources not synced yet\n")
    }
}

#[derive(serde::Deserialize)]
struct ZoneQuery {
    zone: Option<String>,
}

/// The live zone as a master file (`?zone=reverse` for the reverse zones),
/// the same text as `headless-dns export-zone`.
async fn zone_text(
    State(state): State<AdminState>,
    axum::extract::Query(query): axum::extract::Query<ZoneQuery>,
) -> impl IntoResponse {
    let zones = match query.zone.as_deref().unwrap_or("forward").parse() {
        Ok(zones) => zones,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")),
    };
    let snap = state.snapshot.load();
    if !snap.synced {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "sources not synced yet\n".to_owned(),
        );
    }
    (
        StatusCode::OK,
        crate::transfer::export::master_files(&snap, zones),
    )
}

async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &state.metrics.registry()) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            "encoding failed\n".to_owned(),
        ),
    }
}

/// Serves `router` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}
