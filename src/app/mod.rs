//! Wiring for `serve`: load the config, bind the sockets (`bind.rs`), start
//! the sources with their first state, the driver, the admin and DNS
//! servers (`start.rs`, [`App::start`] → [`Running`]), and stop them all on
//! SIGTERM or SIGINT. SIGHUP re-reads the config file (`reload.rs`). The
//! in-process entry point is [`App`]: tests bind port 0 and start it.

use std::path::Path;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

mod bind;
mod offline;
mod reload;
pub mod settings;
mod start;

pub use bind::Bound;
pub use start::{App, Running};

pub use settings::Overrides;

pub use offline::{check_config, export_zone, snapshot_from_config};

/// Runs the server until a signal. Errors at startup (config, manifests,
/// sockets) are returned; after that the server keeps its last good state.
pub async fn serve(config_path: &Path, overrides: Overrides) -> anyhow::Result<()> {
    let mut config = Config::load(config_path)?;
    if !overrides.listen.is_empty() {
        config.dns.listen = overrides.listen.clone();
    }
    if let Some(admin) = overrides.admin {
        config.admin.listen = admin;
    }
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    // Registered now, so that a SIGHUP during startup does not end the
    // process (its default action); handled once the sources run.
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("cannot listen for SIGHUP")?;
    let bound = Bound::bind(&config).await?;
    let app = App {
        config_path: config_path.to_owned(),
        overrides,
        config,
    };
    app.run(bound, Some(hangup), shutdown).await
}

/// First SIGTERM or SIGINT: drain and exit. A second: exit at once.
fn spawn_signal_handler(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(error) => {
                    tracing::error!(%error, "cannot listen for SIGTERM");
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: draining"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: draining"),
        }
        shutdown.cancel();
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}
