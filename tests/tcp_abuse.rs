//! DNS over TCP under abuse, against the server run in-process
//! (`support::app`) with small limits: the connection cap, the idle
//! timeout, clients that write or read slowly or stop half-way through a
//! length prefix, 1,000 queries pipelined on one connection, and AXFR from
//! a source no ACL allows. A UDP client asks throughout every test and must
//! get every answer.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::app::Running;
use support::config::{self, Embedded};
use support::dns::{addresses, query, udp};
use support::server::eventually;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const POD0: &str = "web-demo-0.nginx-demo.demo.svc.cluster.local.";
/// A service with 150 ready endpoints: about 2.5 KB per A answer.
const BIG: &str = "big.demo.svc.cluster.local.";

/// The examples plus the big service, and `dns` settings.
fn setup(dns: &str, extra: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let examples = config::examples();
    let mut big = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: demo}\nspec:\n  clusterIP: None\n  ports: [{name: web, port: 80}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-1\n  namespace: demo\n  labels: {kubernetes.io/service-name: big}\naddressType: IPv4\nports: [{name: web, port: 80, protocol: TCP}]\nendpoints:\n",
    );
    for i in 0..150 {
        big.push_str(&format!(
            "  - addresses: [\"10.250.{}.{}\"]\n    hostname: big-{i}\n",
            i / 200,
            i % 200 + 1
        ));
    }
    std::fs::write(dir.path().join("big.yaml"), big).unwrap();
    let config = Embedded::new([examples, "big.yaml".into()])
        .and(&format!("dns:\n{dns}{extra}"))
        .write(&dir.path().join("abuse.yaml"));
    (dir, config)
}

/// Asks over UDP in a loop until stopped; every query must be answered.
struct UdpProbe {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpProbe {
    fn start(dns: SocketAddr) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (stop, answered) = (stop.clone(), answered.clone());
            async move {
                while !stop.load(Ordering::Relaxed) {
                    // `udp` fails the test if no answer comes within 5 s.
                    let m = udp(dns, &query(POD0, RecordType::A)).await;
                    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
                    answered.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        Self {
            stop,
            answered,
            task,
        }
    }

    async fn finish(self) -> u64 {
        // On a loaded machine the probe may not have had its first turn
        // yet: give it one (bounded), so "none answered" means none could be.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.answered.load(Ordering::Relaxed) == 0
            && !self.task.is_finished()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.expect("UDP stopped answering");
        let answered = self.answered.load(Ordering::Relaxed);
        assert!(answered > 0, "no UDP query was answered");
        answered
    }
}

fn frame(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
    let mut q = query(name, qtype);
    q.metadata.id = id;
    let body = q.to_vec().unwrap();
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// What reading a connection gives within `limit`: closed (EOF or reset),
/// or some bytes. A read that blocks past `limit` fails the test.
async fn read_or_closed(stream: &mut TcpStream, limit: Duration) -> Option<usize> {
    let mut buf = [0u8; 4096];
    match tokio::time::timeout(limit, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => None,
        Ok(Ok(n)) => Some(n),
        Err(_) => panic!("connection neither closed nor answered within {limit:?}"),
    }
}

/// Waits until the server has closed `stream` (reading and discarding what
/// it sent first), at most `limit`.
async fn wait_closed(stream: &mut TcpStream, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "connection still open after {limit:?}");
        if read_or_closed(stream, left).await.is_none() {
            return;
        }
    }
}

fn metric(server: &Running, name: &str) -> i64 {
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

async fn wait_metric(server: &Running, name: &str, ok: impl Fn(i64) -> bool) {
    let seen = eventually(Duration::from_secs(15), || async {
        ok(metric(server, name)).then_some(())
    })
    .await;
    assert!(
        seen.is_some(),
        "{name} = {} never as expected",
        metric(server, name)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_are_closed_and_a_freed_slot_is_reused() {
    let (_dir, config) = setup("  tcp_max_connections: 4\n  tcp_idle_timeout: 60s\n", "");
    let server = Running::start(&config);
    let probe = UdpProbe::start(server.dns);
    let mut held = Vec::new();
    for i in 0..4u16 {
        let mut stream = TcpStream::connect(server.dns).await.unwrap();
        stream
            .write_all(&frame(i, POD0, RecordType::A))
            .await
            .unwrap();
        let m = support::dns::read_frame(&mut stream).await;
        assert_eq!(m.metadata.id, i);
        held.push(stream);
    }
    wait_metric(&server, "headless_dns_tcp_connections", |v| v == 4).await;
    // The fifth is accepted by the kernel and closed by the server at once.
    let mut fifth = TcpStream::connect(server.dns).await.unwrap();
    let _ = fifth.write_all(&frame(5, POD0, RecordType::A)).await;
    assert_eq!(
        read_or_closed(&mut fifth, Duration::from_secs(10)).await,
        None,
        "a connection over the cap was answered"
    );
    assert!(metric(&server, "headless_dns_tcp_rejected_connections_total") >= 1);
    // One leaves; its slot is free again once the server sees it go.
    drop(held.pop());
    wait_metric(&server, "headless_dns_tcp_connections", |v| v == 3).await;
    let m = support::dns::tcp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    probe.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_and_half_length_prefixes_are_closed() {
    let (_dir, config) = setup("  tcp_idle_timeout: 500ms\n", "");
    let server = Running::start(&config);
    let probe = UdpProbe::start(server.dns);
    // Says nothing at all.
    let mut silent = TcpStream::connect(server.dns).await.unwrap();
    // Asks once, then nothing.
    let mut once = TcpStream::connect(server.dns).await.unwrap();
    once.write_all(&frame(1, POD0, RecordType::A))
        .await
        .unwrap();
    assert_eq!(support::dns::read_frame(&mut once).await.metadata.id, 1);
    // Half a length prefix, then nothing.
    let mut half = TcpStream::connect(server.dns).await.unwrap();
    half.write_all(&[0]).await.unwrap();
    // A length prefix and part of the message.
    let mut partial = TcpStream::connect(server.dns).await.unwrap();
    partial
        .write_all(&frame(2, POD0, RecordType::A)[..7])
        .await
        .unwrap();
    // Half a length prefix, then the client goes away.
    let mut gone = TcpStream::connect(server.dns).await.unwrap();
    gone.write_all(&[0]).await.unwrap();
    drop(gone);
    for stream in [&mut silent, &mut once, &mut half, &mut partial] {
        wait_closed(stream, Duration::from_secs(15)).await;
    }
    wait_metric(&server, "headless_dns_tcp_connections", |v| v == 0).await;
    let m = support::dns::tcp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    probe.finish().await;
}

/// A client that trickles a query a byte at a time (slowloris) cannot hold
/// a connection: the whole message must arrive within the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_writer_is_cut_off() {
    let (_dir, config) = setup("  tcp_idle_timeout: 500ms\n", "");
    let server = Running::start(&config);
    let probe = UdpProbe::start(server.dns);
    let stream = TcpStream::connect(server.dns).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let message = frame(3, POD0, RecordType::A);
    let trickle = tokio::spawn(async move {
        // One byte every 100 ms: each inside the timeout, the whole not.
        for byte in message {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The whole query went out: keep the connection open for its
        // answer, which must not come.
        std::future::pending::<()>().await;
    });
    let mut buf = [0u8; 512];
    let read = tokio::time::timeout(Duration::from_secs(30), reader.read(&mut buf))
        .await
        .expect("a trickling client held its connection for 30 s");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the trickled query was answered: {read:?}"
    );
    trickle.abort();
    wait_metric(&server, "headless_dns_tcp_connections", |v| v == 0).await;
    probe.finish().await;
}

/// A client that sends many queries with large answers and never reads:
/// its answer queue fills (counted), the server stops reading from it, and
/// after the idle timeout the connection is closed; memory stays bounded by
/// the queue, not by what the client sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_closed() {
    let (_dir, config) = setup("  tcp_idle_timeout: 1s\n", "");
    let server = Running::start(&config);
    let probe = UdpProbe::start(server.dns);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(server.dns).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let flood = tokio::spawn(async move {
        let mut frames = Vec::new();
        for id in 0..10_000u16 {
            frames.extend(frame(id, BIG, RecordType::A));
        }
        // Fails (reset) once the server gives up; either is fine.
        let _ = writer.write_all(&frames).await;
        writer
    });
    wait_metric(&server, "headless_dns_tcp_answer_queue_full_total", |v| {
        v >= 1
    })
    .await;
    wait_metric(&server, "headless_dns_tcp_connections", |v| v == 0).await;
    // Everything else still works.
    let m = support::dns::tcp(server.dns, &query(BIG, RecordType::A)).await;
    assert_eq!(m.answers.len(), 150);
    probe.finish().await;
    drop(reader);
    let _ = flood.await;
}

/// 1,000 queries on one connection, written before any answer is read:
/// all answered, in order, the big and the small.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pipelined_queries_are_all_answered_in_order() {
    let (_dir, config) = setup("  tcp_idle_timeout: 5s\n", "");
    let server = Running::start(&config);
    let probe = UdpProbe::start(server.dns);
    let stream = TcpStream::connect(server.dns).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let names = [POD0, BIG, "nope.demo.svc.cluster.local."];
    let writing = tokio::spawn(async move {
        let mut frames = Vec::new();
        for id in 0..1000u16 {
            frames.extend(frame(id, names[usize::from(id) % 3], RecordType::A));
        }
        writer.write_all(&frames).await.unwrap();
        writer
    });
    for id in 0..1000u16 {
        let mut len = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), reader.read_exact(&mut len))
            .await
            .unwrap_or_else(|_| panic!("answer {id} did not come"))
            .unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        reader.read_exact(&mut body).await.unwrap();
        let m = support::dns::parse(&body);
        assert_eq!(m.metadata.id, id, "out of order");
        let expected = match id % 3 {
            0 => (ResponseCode::NoError, 1),
            1 => (ResponseCode::NoError, 150),
            _ => (ResponseCode::NXDomain, 0),
        };
        assert_eq!((m.metadata.response_code, m.answers.len()), expected);
    }
    let _writer = writing.await.unwrap();
    probe.finish().await;
}

/// No transfer without an ACL that names the client: AXFR over TCP from
/// 127.0.0.1 is REFUSED with the default config and with one that allows
/// only another network.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axfr_from_a_source_no_acl_allows_is_refused() {
    for extra in ["", "transfer:\n  allow: [10.0.0.0/8]\n"] {
        let (_dir, config) = setup("  tcp_idle_timeout: 5s\n", extra);
        let server = Running::start(&config);
        for zone in ["cluster.local.", "in-addr.arpa."] {
            let m = support::dns::tcp(server.dns, &query(zone, RecordType::AXFR)).await;
            assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{extra}");
            assert!(m.answers.is_empty());
        }
        let m = udp(server.dns, &query("cluster.local.", RecordType::AXFR)).await;
        assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    }
}
