//! Answering without sockets: a [`Zone`] holds an index and a handler on
//! its published snapshot, and asks the handler as the server does
//! (`handle_bytes`: the one entry, the fast path first), or both paths at
//! once ([`Zone::agree`]) to prove they answer alike.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::{handle_bytes, handle_bytes_slow};
use headless_dns::snapshot::Snapshot;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use hickory_server::net::xfer::Protocol as Transport;

use super::dns::{bytes, parse, query, query_edns};

pub const ZONE: &str = "cluster.local";

pub struct Zone {
    pub index: ClusterIndex,
    pub store: Arc<ArcSwap<Snapshot>>,
    pub handler: DnsHandler,
    pub now: Instant,
}

impl Zone {
    pub fn new(mut index: ClusterIndex) -> Self {
        let now = Instant::now();
        let snap = index
            .publish(now)
            .unwrap_or_else(|| index.snapshot().clone());
        let store = Arc::new(ArcSwap::from_pointee(snap));
        let handler = DnsHandler::new(store.clone(), 1232, Arc::new(Metrics::default()));
        Self {
            index,
            store,
            handler,
            now,
        }
    }

    /// Publishes pending index changes at `now + after`.
    pub fn publish(&mut self, after: Duration) {
        if let Some(snap) = self.index.publish(self.now + after) {
            self.store.store(Arc::new(snap));
        }
    }

    pub async fn raw(&self, raw: Vec<u8>, transport: Transport) -> Option<Vec<u8>> {
        let src: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        handle_bytes(&self.handler, raw, src, transport).await
    }

    pub async fn ask(&self, message: &Message) -> Message {
        parse(
            &self
                .raw(bytes(message), Transport::Udp)
                .await
                .expect("no answer"),
        )
    }

    pub async fn ask_tcp(&self, message: &Message) -> Message {
        parse(
            &self
                .raw(bytes(message), Transport::Tcp)
                .await
                .expect("no answer"),
        )
    }

    pub async fn q(&self, name: &str, qtype: RecordType) -> Message {
        self.ask(&query(name, qtype)).await
    }
}

impl Zone {
    /// Asks `name`/`qtype` through the fast path and through hickory alone,
    /// over UDP and TCP, with and without EDNS, and asserts the answers are
    /// the same; returns the fast path's answer over UDP with EDNS 1232.
    pub async fn agree(&self, name: &str, qtype: RecordType) -> Message {
        let mut udp_1232 = None;
        for edns in [None, Some(512u16), Some(1232)] {
            for transport in [Transport::Udp, Transport::Tcp] {
                let q = match edns {
                    None => query(name, qtype),
                    Some(p) => query_edns(name, qtype, p),
                };
                let src: SocketAddr = "127.0.0.1:5353".parse().unwrap();
                let fast = handle_bytes(&self.handler, bytes(&q), src, transport)
                    .await
                    .unwrap();
                let slow = handle_bytes_slow(&self.handler, bytes(&q), src, transport)
                    .await
                    .unwrap();
                let (f, s) = (parse(&fast), parse(&slow));
                let what = format!("{name} {qtype} edns={edns:?} {transport:?}");
                assert_eq!(f.metadata, s.metadata, "{what}");
                assert_eq!(sorted(&f.answers), sorted(&s.answers), "{what}");
                assert_eq!(sorted(&f.authorities), sorted(&s.authorities), "{what}");
                assert_eq!(sorted(&f.additionals), sorted(&s.additionals), "{what}");
                if edns == Some(1232) && transport == Transport::Udp {
                    udp_1232 = Some(f);
                }
            }
        }
        udp_1232.expect("asked over UDP with EDNS")
    }
}

pub fn fq(relative: &str) -> String {
    format!("{relative}.{ZONE}.")
}

pub fn assert_negative(m: &Message, rcode: ResponseCode, soa_ttl: u32) {
    assert_eq!(m.metadata.response_code, rcode, "{m}");
    assert!(m.metadata.authoritative, "AA must be set: {m}");
    assert!(m.answers.is_empty(), "{m}");
    assert_eq!(m.authorities.len(), 1, "{m}");
    let soa = &m.authorities[0];
    let RData::SOA(data) = &soa.data else {
        panic!("authority is not SOA: {m}")
    };
    assert_eq!(soa.ttl, soa_ttl, "{m}");
    assert!(data.minimum >= soa_ttl, "{m}");
}

/// Every record of a message section as sorted text (order aside).
pub fn sorted(records: &[hickory_proto::rr::Record]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| r.to_string().to_ascii_lowercase())
        .collect();
    v.sort();
    v
}
