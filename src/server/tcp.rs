//! DNS over TCP (RFC 7766): length-prefixed messages, pipelined, with an idle
//! timeout and a cap on connections.
//!
//! hickory-server's TCP listener has no connection cap, so TCP runs here: an
//! accept loop that refuses connections beyond the cap, and per connection a
//! reader that hands each message to the one entry,
//! [`DnsHandler::answer`] (`packet.rs`), as soon as it arrives (pipelining:
//! a client may send many before reading) and a writer that sends answers
//! in the order they were produced. When the entry says a message is a zone
//! transfer, the reader runs the stream it returns, which queues the
//! transfer's many messages the same way. A connection that is idle, or
//! that does not take its answers, for the idle timeout is closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::handler::DnsHandler;
use super::packet::{Handled, Transport};
use crate::metrics::Metrics;

/// How many answers a connection may have queued for its writer before the
/// reader stops reading (back-pressure on a client that does not read).
pub const ANSWER_QUEUE: usize = 64;

#[derive(Debug, Clone, Copy)]
pub struct TcpSettings {
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves DNS on an already-bound listener until `shutdown`; then stops
/// accepting, lets open connections answer the queries they have received
/// (within the idle timeout), and returns.
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
            metrics.tcp_rejected.inc();
            tracing::debug!(%peer, "TCP connection cap reached; closing");
            drop(stream);
            continue;
        };
        let handler = handler.clone();
        let metrics = metrics.clone();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            metrics.tcp_connections.inc();
            let _ = stream.set_nodelay(true);
            let (reader, writer) = stream.into_split();
            connection(
                reader,
                writer,
                peer,
                handler,
                settings.idle_timeout,
                &metrics,
                shutdown,
            )
            .await;
            metrics.tcp_connections.dec();
            drop(permit);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    // Draining: each connection answers what its client already sent and
    // closes. One that keeps sending, or does not read its answers, would
    // hold the process open, so the drain has a bound: the idle timeout.
    let drained = tokio::time::timeout(settings.idle_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            open = connections.len(),
            "TCP connections still busy after the drain; closing them"
        );
        connections.shutdown().await;
    }
}

/// Serves one connection until the client closes it, goes idle, or
/// `shutdown`: the two halves of a TCP stream, or any reader and writer
/// (the fuzz target feeds bytes in chunks and collects the answers).
pub async fn connection<R, W>(
    mut reader: R,
    mut writer: W,
    peer: SocketAddr,
    handler: DnsHandler,
    idle: Duration,
    metrics: &Metrics,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
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
                // Reading first: after shutdown, queries the client has
                // already sent are still answered; the reader stops at the
                // first moment none is waiting.
                biased;
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
            // One load per message; an answer comes from one snapshot.
            let snap = handler.snapshot().load_full();
            let mut answer = Vec::new();
            let answer = match handler.answer(
                &snap,
                &message,
                peer,
                Transport::Tcp(Some(&tx)),
                &mut answer,
            ) {
                Handled::Reply(_) => answer,
                Handled::Silent => continue,
                Handled::Transfer(stream) => {
                    if stream.run().await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let queued = match tx.try_send(answer) {
                Ok(()) => true,
                // The client is not reading: count it, then wait (and
                // read no more queries) until it does, or the writer
                // gives up after the idle timeout.
                Err(mpsc::error::TrySendError::Full(answer)) => {
                    metrics.tcp_queue_full.inc();
                    tx.send(answer).await.is_ok()
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            };
            if !queued {
                return;
            }
        }
    };
    // The reader ends first (idle, EOF, shutdown); dropping its sender lets
    // the writer flush what is queued and close.
    tokio::join!(read, write);
}
