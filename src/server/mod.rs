//! The DNS server: UDP through hickory-server's `Server`, TCP through our own
//! loop (`tcp.rs`), both answering with one [`DnsHandler`].
//!
//! [`run`] takes sockets that are already bound and a shutdown token, never
//! addresses, so tests bind port 0 and the binary decides where to listen.

pub mod handler;
pub mod tcp;

use std::sync::Arc;

use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

pub use handler::DnsHandler;
pub use tcp::TcpSettings;

use crate::metrics::Metrics;

/// Bound sockets to serve on: a UDP socket and a TCP listener per address.
pub struct Sockets {
    pub udp: Vec<UdpSocket>,
    pub tcp: Vec<TcpListener>,
}

/// Serves until `shutdown` is cancelled, then drains: UDP stops, TCP stops
/// accepting and finishes the queries in hand.
pub async fn run(
    sockets: Sockets,
    handler: DnsHandler,
    tcp: TcpSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut udp = hickory_server::Server::new(handler.clone());
    for socket in sockets.udp {
        udp.register_socket(socket);
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
    udp.shutdown_gracefully()
        .await
        .map_err(|e| anyhow::anyhow!("UDP server: {e}"))?;
    while tasks.join_next().await.is_some() {}
    Ok(())
}
