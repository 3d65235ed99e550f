//! DNS over TCP (RFC 7766): length-prefixed messages, pipelined, with an idle
//! timeout and a cap on connections.
//!
//! hickory-server's TCP listener has no connection cap, so TCP runs here: an
//! accept loop that refuses connections beyond the cap, and per connection a
//! reader that answers each query through [`handle_bytes`] as soon as it
//! arrives (pipelining: a client may send many before reading) and a writer
//! that sends answers in the order they were produced. An AXFR or IXFR goes
//! to the transfer responder instead, which queues its many messages the
//! same way. A connection that is idle, or that does not take its answers,
//! for the idle timeout is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hickory_server::net::xfer::Protocol;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::handler::{DnsHandler, handle_bytes};
use crate::metrics::Metrics;

/// How many answers a connection may have queued for its writer before the
/// reader stops reading (back-pressure on a client that does not read).
const ANSWER_QUEUE: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct TcpSettings {
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves DNS on an already-bound listener until `shutdown`; then stops
/// accepting, lets open connections finish the query they are answering,
/// and returns.
pub async fn serve(
    listener: TcpListener,
    handler: DnsHandler,
    settings: TcpSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and similar: back off briefly
                // rather than spin.
                tracing::warn!(%error, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            metrics.tcp_rejected.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "TCP connection cap reached; closing");
            drop(stream);
            continue;
        };
        let handler = handler.clone();
        let metrics = metrics.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            metrics.tcp_connections.fetch_add(1, Ordering::Relaxed);
            connection(stream, peer, handler, settings.idle_timeout, shutdown).await;
            metrics.tcp_connections.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    handler: DnsHandler,
    idle: Duration,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(ANSWER_QUEUE);
    let write = async move {
        while let Some(answer) = rx.recv().await {
            let Ok(len) = u16::try_from(answer.len()) else {
                continue;
            };
            let mut frame = Vec::with_capacity(answer.len() + 2);
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&answer);
            match tokio::time::timeout(idle, writer.write_all(&frame)).await {
                Ok(Ok(())) => {}
                _ => return,
            }
        }
        let _ = writer.shutdown().await;
    };
    let read = async move {
        loop {
            let mut len = [0u8; 2];
            let read_len = tokio::select! {
                r = tokio::time::timeout(idle, reader.read_exact(&mut len)) => r,
                () = shutdown.cancelled() => return,
            };
            match read_len {
                Ok(Ok(_)) => {}
                // Idle, closed, or half a length prefix: close.
                _ => return,
            }
            let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
            match tokio::time::timeout(idle, reader.read_exact(&mut message)).await {
                Ok(Ok(_)) => {}
                _ => return,
            }
            // AXFR and IXFR answer with a stream of messages (`transfer/`).
            if let Some(transfer) = handler.transfer()
                && crate::transfer::transfer_type(&message).is_some()
            {
                if transfer.respond(&message, peer, &tx).await.is_err() {
                    return;
                }
                continue;
            }
            if let Some(answer) = handle_bytes(&handler, message, peer, Protocol::Tcp).await
                && tx.send(answer).await.is_err()
            {
                return;
            }
        }
    };
    // The reader ends first (idle, EOF, shutdown); dropping its sender lets
    // the writer flush what is queued and close.
    tokio::join!(read, write);
}
