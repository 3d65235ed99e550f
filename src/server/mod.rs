//! The DNS server: UDP on worker threads (`udp.rs`), TCP on our own RFC 7766
//! loop (`tcp.rs`). Both hand every query to one entry,
//! [`DnsHandler::answer`] (`packet.rs`), which answers plain queries with
//! the fast path (`fast.rs`) and hands the rest, with the fast path's walk
//! over the packet, to the slow path (hickory's parse, `handler.rs`).
//! Beside them: DNS Cookies (`cookie.rs`), response rate limiting for UDP
//! (`rrl.rs`) and the settings SIGHUP changes (`live.rs`).
//!
//! [`run`] takes sockets that are already bound and a shutdown token, never
//! addresses, so tests bind port 0 and the binary decides where to listen.

pub mod cookie;
pub mod fast;
pub mod handler;
pub mod live;
pub mod packet;
pub mod rrl;
pub mod tcp;
pub mod udp;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use handler::DnsHandler;
pub use tcp::TcpSettings;

use crate::metrics::Metrics;

/// Bound sockets to serve on: UDP sockets (several per address, sharing it
/// with `SO_REUSEPORT`, one per worker thread) and a TCP listener per
/// address.
pub struct Sockets {
    pub udp: Vec<std::net::UdpSocket>,
    pub tcp: Vec<TcpListener>,
}

/// Why [`run`] stopped early.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A UDP socket refused its receive timeout, without which its worker
    /// could not notice shutdown.
    #[error("UDP socket cannot take a read timeout: {0}")]
    Timeout(std::io::Error),
    /// The OS would not start a UDP worker thread.
    #[error("cannot start a UDP worker thread: {0}")]
    Spawn(std::io::Error),
    /// Waiting for the UDP workers to finish failed.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
}

/// Runs one UDP worker on `socket` until shutdown. A panic in the worker
/// (a bug: the answer path is meant to be total) is logged with its
/// message, counted, and the worker restarts on the same socket, so the
/// socket is never left bound with nobody reading it.
fn serve_udp(worker: &udp::Worker, socket: &std::net::UdpSocket, index: usize) {
    loop {
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.serve(socket)));
        match run {
            Ok(()) => return,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(no message)".to_owned());
                worker.metrics.udp_worker_restarts.inc();
                tracing::error!(
                    worker = index,
                    "UDP worker panicked: {message}; restarting it on the same socket"
                );
            }
        }
    }
}

/// Serves until `shutdown` is cancelled, then drains: UDP stops, TCP stops
/// accepting and finishes the queries in hand.
pub async fn run(
    sockets: Sockets,
    handler: DnsHandler,
    tcp: TcpSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let worker = udp::Worker {
        handler: handler.clone(),
        metrics: metrics.clone(),
        shutdown: shutdown.clone(),
    };
    // Every socket takes its timeout before any worker starts, so a refusal
    // stops the start with no worker left running.
    for socket in &sockets.udp {
        socket
            .set_read_timeout(Some(udp::POLL))
            .map_err(ServeError::Timeout)?;
    }
    let mut threads = Vec::new();
    for (i, socket) in sockets.udp.into_iter().enumerate() {
        let worker = worker.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("dns-udp-{i}"))
                .spawn(move || serve_udp(&worker, &socket, i))
                .map_err(ServeError::Spawn)?,
        );
    }
    let mut tasks = tokio::task::JoinSet::new();
    for listener in sockets.tcp {
        tasks.spawn(tcp::serve(
            listener,
            handler.clone(),
            tcp,
            metrics.clone(),
            shutdown.clone(),
        ));
    }
    shutdown.cancelled().await;
    // Workers notice within their receive timeout.
    tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await?;
    while tasks.join_next().await.is_some() {}
    Ok(())
}
