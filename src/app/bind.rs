//! The sockets a server answers on, bound before it starts: UDP sockets
//! per worker with `SO_REUSEPORT` and one TCP listener per DNS address, and
//! the admin listener. Tests bind port 0 and read the addresses back.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::server::Sockets;

/// A UDP socket on `addr` with `SO_REUSEPORT`, so several workers can
/// share one address and the kernel spreads queries across them.
fn reuseport_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    // Room for bursts: a full socket buffer drops queries.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Binds `workers` UDP sockets and one TCP listener on the same address.
/// With port 0 all take the port the first UDP socket was given, retrying
/// if TCP finds it taken.
async fn bind_dns(
    addr: SocketAddr,
    workers: usize,
) -> anyhow::Result<(Vec<std::net::UdpSocket>, TcpListener)> {
    let mut last_error = None;
    for _ in 0..16 {
        let first = reuseport_udp(addr).with_context(|| format!("cannot bind UDP {addr}"))?;
        let bound = first.local_addr()?;
        let mut udp = vec![first];
        for _ in 1..workers.max(1) {
            udp.push(reuseport_udp(bound).with_context(|| format!("cannot bind UDP {bound}"))?);
        }
        match TcpListener::bind(bound).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last_error = Some(e),
            Err(e) => return Err(e).with_context(|| format!("cannot bind TCP {addr}")),
        }
    }
    Err(anyhow::anyhow!(
        "cannot bind UDP and TCP to one port on {addr}: {last_error:?}"
    ))
}

/// The sockets a server answers on, bound before it starts: DNS (UDP per
/// worker and TCP, per `dns.listen` address) and the admin HTTP listener.
/// Tests bind port 0 and read the addresses back.
pub struct Bound {
    pub dns: Sockets,
    pub admin: TcpListener,
}

impl Bound {
    /// Binds what `config` names (`dns.listen`, `admin.listen`).
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let mut dns = Sockets {
            udp: Vec::new(),
            tcp: Vec::new(),
        };
        for addr in &config.dns.listen {
            let (udp, tcp) = bind_dns(*addr, config.dns.workers()).await?;
            dns.udp.extend(udp);
            dns.tcp.push(tcp);
        }
        let admin = TcpListener::bind(config.admin.listen)
            .await
            .with_context(|| format!("cannot bind admin address {}", config.admin.listen))?;
        Ok(Self { dns, admin })
    }

    /// The DNS addresses (one per `dns.listen` entry; UDP and TCP share it).
    pub fn dns_addrs(&self) -> Vec<SocketAddr> {
        self.dns
            .tcp
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The admin HTTP address.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.local_addr().ok()
    }
}
