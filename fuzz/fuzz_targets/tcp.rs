//! DNS over TCP under libFuzzer: the connection loop of `server/tcp.rs`
//! (RFC 7766 framing, pipelining, AXFR/IXFR handed to the transfer
//! responder) fed an arbitrary byte stream in arbitrary pieces.
//!
//! Input layout: `flags(1) piece(1) stream`. The stream is what the client
//! sends: length-prefixed messages, or anything. It reaches the server at
//! most `piece` bytes per read (0: all at once), and when `flags` bit 0 is
//! set every other read first says "not yet" (a slow client). The zone is a
//! small demo; transfers are allowed from the client's address, so AXFR and
//! IXFR run too.
//!
//! What must hold, or the target panics: the connection ends (the stream's
//! end closes it); what it wrote is whole frames, each a DNS response that
//! parses; and there are no more answers than complete messages sent, but
//! for transfers, which may answer one query with several.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::config::Config;
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::tcp::connection;
use headless_dns::snapshot::Snapshot;
use headless_dns::transfer::{Auth, Transfer};
use hickory_proto::op::{Message, MessageType};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::sync::CancellationToken;

struct World {
    handler: DnsHandler,
    metrics: Arc<Metrics>,
    runtime: tokio::runtime::Runtime,
}

fn world() -> World {
    let config = Config::from_str(
        "source: {embedded: {manifests: [x]}}\n",
        Path::new("fuzz.yaml"),
    )
    .expect("a config");
    let mut index = ClusterIndex::new(
        Arc::new(headless_dns::app::settings::zone_settings(&config)),
        Duration::from_secs(30),
    );
    index.set_synced(true);
    index.apply_service(Service {
        key: ObjectKey::new("demo", "web"),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    });
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "web-1"),
        service: ObjectKey::new("demo", "web"),
        ports: vec![Port {
            name: "http".into(),
            protocol: Protocol::Tcp,
            port: 80,
        }],
        endpoints: (1..=3)
            .map(|i| Endpoint {
                addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 244, 0, i))],
                target: Some(format!("web-{i}").as_str().into()),
                hostname: Some(format!("web-{i}").as_str().into()),
                ready: true,
            })
            .collect(),
    });
    let first = index.publish(Instant::now()).expect("a first snapshot");
    let store: Arc<ArcSwap<Snapshot>> = Arc::new(ArcSwap::from_pointee(first));
    let metrics = Arc::new(Metrics::default());
    let auth = Auth::from_networks(vec!["127.0.0.0/8".parse().expect("a network")]);
    let transfer = Arc::new(Transfer::new(store.clone(), auth, 8, metrics.clone()));
    let handler = DnsHandler::new(store, 1232, metrics.clone()).with_transfer(transfer);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
    World {
        handler,
        metrics,
        runtime,
    }
}

thread_local! {
    static WORLD: World = world();
}

/// The client's bytes, `piece` at a time, now and then "not yet".
struct Pieces<'a> {
    data: &'a [u8],
    piece: usize,
    stall: bool,
    stalled: bool,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.stall && !self.stalled {
            self.stalled = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.stalled = false;
        let n = self.data.len().min(buf.remaining()).min(self.piece);
        let (now, rest) = self.data.split_at(n);
        buf.put_slice(now);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

/// Complete length-prefixed messages in `stream`, and whether any of them
/// is a transfer query (which may get many answer messages).
fn messages(stream: &[u8]) -> (usize, bool) {
    let (mut at, mut count, mut transfer) = (0, 0, false);
    while let Some(len) = stream.get(at..at + 2) {
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        let Some(message) = stream.get(at + 2..at + 2 + len) else {
            break;
        };
        transfer |= headless_dns::wire::transfer_type(message).is_some();
        count += 1;
        at += 2 + len;
    }
    (count, transfer)
}

fuzz_target!(|data: &[u8]| {
    let [flags, piece, stream @ ..] = data else {
        return;
    };
    let reader = Pieces {
        data: stream,
        piece: if *piece == 0 {
            usize::MAX
        } else {
            usize::from(*piece)
        },
        stall: flags & 1 != 0,
        stalled: false,
    };
    let mut out: Vec<u8> = Vec::new();
    WORLD.with(|world| {
        // The timer is made inside the runtime (it needs its time driver).
        let done = world.runtime.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(20),
                connection(
                    reader,
                    &mut out,
                    SocketAddr::from(([127, 0, 0, 1], 40000)),
                    world.handler.clone(),
                    Duration::from_secs(5),
                    &world.metrics,
                    CancellationToken::new(),
                ),
            )
            .await
        });
        assert!(done.is_ok(), "the connection did not end with the stream");
    });
    let mut at = 0;
    let mut answers = 0;
    while at < out.len() {
        let len = usize::from(u16::from_be_bytes([
            out[at],
            *out.get(at + 1).expect("a whole length prefix"),
        ]));
        let frame = out
            .get(at + 2..at + 2 + len)
            .expect("a whole frame after its prefix");
        let message = Message::from_vec(frame).expect("an answer parses");
        assert_eq!(message.metadata.message_type, MessageType::Response);
        answers += 1;
        at += 2 + len;
    }
    let (sent, transfer) = messages(stream);
    assert!(
        transfer || answers <= sent,
        "{answers} answers to {sent} messages"
    );
});
