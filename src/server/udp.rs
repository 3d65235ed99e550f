//! DNS over UDP: one OS thread per socket, several sockets per address
//! (`SO_REUSEPORT`, so the kernel spreads clients across them).
//!
//! Why threads, not tasks: a UDP query is a few microseconds of work; a task
//! spawned per datagram (what hickory-server's UDP loop does) costs more than
//! the answer. Each worker takes up to `BATCH` datagrams with one
//! `recvmmsg`, loads the snapshot once for the batch, hands each datagram to
//! the one entry, [`DnsHandler::answer`] (`packet.rs`: the fast path into
//! buffers the worker reuses, the slow path on this thread for what it
//! declines, the query accounting), and sends all answers with one
//! `sendmmsg` (nix's safe wrappers), so under load the system-call cost is
//! shared by a batch. A short receive timeout lets a worker notice shutdown.
//! Response rate limiting (`rrl.rs`), when configured, judges every answer,
//! by the class the entry reports, just before it joins the send batch.

use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg};
use tokio_util::sync::CancellationToken;

use super::handler::DnsHandler;
use super::packet::{Handled, Transport};
use super::rrl::{self, ResponseClass, Verdict};
use crate::metrics::Metrics;

/// How often an idle worker looks at the shutdown token.
pub(super) const POLL: Duration = Duration::from_millis(200);
/// Datagrams taken and answered per system call.
const BATCH: usize = 32;
/// The largest query read; a longer datagram is cut and then fails to
/// parse (FORMERR), which is right for a query no client sends.
const MAX_QUERY: usize = 4096;

/// Everything a worker needs; cloned per worker.
#[derive(Clone)]
pub struct Worker {
    pub handler: DnsHandler,
    pub metrics: Arc<Metrics>,
    pub shutdown: CancellationToken,
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        Some(SocketAddr::from((v4.ip(), v4.port())))
    } else {
        addr.as_sockaddr_in6()
            .map(|v6| SocketAddr::from((v6.ip(), v6.port())))
    }
}

impl Worker {
    /// Response rate limiting: whether `answer`, of `class`, goes to
    /// `peer`, whole or slipped (emptied, TC set, in place).
    fn admit(
        &self,
        peer: SocketAddr,
        answer: &mut Vec<u8>,
        class: ResponseClass,
        now: Instant,
    ) -> bool {
        let verdict = self
            .handler
            .live()
            .with_rrl(|limiter| limiter.map(|limiter| limiter.check(peer.ip(), class, now)));
        let Some(verdict) = verdict else {
            return true;
        };
        match verdict {
            Verdict::Send => true,
            Verdict::Drop => {
                self.metrics.rrl_dropped.inc();
                false
            }
            Verdict::Slip => {
                rrl::slip(answer);
                self.metrics.rrl_slipped.inc();
                true
            }
        }
    }

    /// Serves `socket` until shutdown. Runs on its own thread; the socket
    /// has its [`POLL`] read timeout already (set by `server::run`, which
    /// fails the start if the socket refuses it).
    pub fn serve(&self, socket: &UdpSocket) {
        let fd = socket.as_raw_fd();
        let mut queries = vec![[0u8; MAX_QUERY]; BATCH];
        let mut answers: Vec<Vec<u8>> = (0..BATCH)
            .map(|_| Vec::with_capacity(usize::from(crate::wire::EDNS_PAYLOAD)))
            .collect();
        let mut received: Vec<(usize, Option<SockaddrStorage>)> = Vec::with_capacity(BATCH);
        let mut reply_to: Vec<Option<SockaddrStorage>> = Vec::with_capacity(BATCH);
        let mut reply_idx: Vec<usize> = Vec::with_capacity(BATCH);
        let mut recv_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
        let mut send_headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);

        while !self.shutdown.is_cancelled() {
            received.clear();
            {
                let mut slices: Vec<[IoSliceMut<'_>; 1]> =
                    queries.iter_mut().map(|q| [IoSliceMut::new(q)]).collect();
                // Wait for one datagram, then take whatever else is queued.
                match recvmmsg(
                    fd,
                    &mut recv_headers,
                    slices.iter_mut(),
                    MsgFlags::MSG_WAITFORONE,
                    None,
                ) {
                    Ok(messages) => {
                        for message in messages {
                            received.push((message.bytes, message.address));
                        }
                    }
                    Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EINTR) => continue,
                    Err(error) => {
                        tracing::debug!(%error, "UDP receive failed");
                        continue;
                    }
                }
            }
            reply_to.clear();
            reply_idx.clear();
            {
                let now = Instant::now();
                // One load per batch; every answer of the batch, from
                // either path, comes from this snapshot.
                let snap = self.handler.snapshot().load();
                for (i, (len, addr)) in received.iter().enumerate() {
                    let Some(peer) = addr.as_ref().and_then(socket_addr) else {
                        continue;
                    };
                    if peer.port() == 0 {
                        continue;
                    }
                    let query = &queries[i][..*len];
                    let answer = &mut answers[i];
                    match self
                        .handler
                        .answer(&snap, query, peer, Transport::Udp, answer)
                    {
                        Handled::Reply(class) => {
                            if self.admit(peer, answer, class, now) {
                                reply_to.push(*addr);
                                reply_idx.push(i);
                            }
                        }
                        // Zone transfers stream over TCP only.
                        Handled::Silent | Handled::Transfer(_) => {}
                    }
                }
            }
            if reply_idx.is_empty() {
                continue;
            }
            let slices: Vec<[IoSlice<'_>; 1]> = reply_idx
                .iter()
                .map(|&i| [IoSlice::new(&answers[i])])
                .collect();
            let sent = match sendmmsg(
                fd,
                &mut send_headers,
                slices.iter(),
                &reply_to,
                [],
                MsgFlags::empty(),
            ) {
                Ok(results) => results.count(),
                Err(error) => {
                    tracing::debug!(%error, "UDP send failed");
                    0
                }
            };
            // A full socket buffer can take part of a batch: send the rest
            // one by one (each may still fail; UDP may drop).
            for (&i, addr) in reply_idx.iter().zip(&reply_to).skip(sent) {
                if let Some(peer) = addr.as_ref().and_then(socket_addr) {
                    let _ = socket.send_to(&answers[i], peer);
                }
            }
        }
    }
}
