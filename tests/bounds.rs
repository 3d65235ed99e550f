//! Resource bounds: nothing is kept per query name, so a flood of distinct
//! names that do not exist (the classic "random subdomain" attack) leaves
//! the resident memory where it was; every queue in the server has a bound
//! that /metrics shows; response rate limiting drops and slips a flood. The
//! memory test runs the real binary, because resident memory is read from
//! `/proc` per process and the test's own would blur it; the others run the
//! server in-process (`support::app`).

mod support;

use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::EdnsOption;
use hickory_proto::rr::{Name, RecordType};
use support::app::Running;
use support::config::{self, Embedded};
use support::server::Server;

/// Resident memory of a process, from /proc (Linux), in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("no VmRSS in /proc/PID/status")
}

/// A query for a name that does not exist; every other one carries a
/// cookie, so the full handler (hickory) sees half the flood too.
fn nx_query(i: u32) -> Vec<u8> {
    let name = format!("x{i:08}.y{}.nginx-demo.demo.svc.cluster.local.", i % 977);
    let mut m = Message::new((i & 0xffff) as u16, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii(&name).unwrap(),
        RecordType::A,
    ));
    if i % 2 == 1 {
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        edns.options_mut()
            .insert(EdnsOption::Unknown(10, i.to_be_bytes().repeat(2)));
        m.set_edns(edns);
    }
    m.to_vec().unwrap()
}

/// Sends `count` distinct NXDOMAIN queries from `start`, `window` at a time;
/// returns how many were answered NXDOMAIN.
async fn flood(server: &Server, start: u32, count: u32) -> u32 {
    const WINDOW: u32 = 100;
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut answered = 0;
    let mut buf = vec![0u8; 2048];
    let mut i = start;
    while i < start + count {
        let batch = WINDOW.min(start + count - i);
        for j in i..i + batch {
            socket.send_to(&nx_query(j), server.dns).await.unwrap();
        }
        for _ in 0..batch {
            match tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await {
                Ok(Ok((n, _))) => {
                    let m = support::dns::parse(&buf[..n]);
                    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
                    answered += 1;
                }
                // A datagram lost on the way: counted, not fatal.
                _ => break,
            }
        }
        i += batch;
    }
    answered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_nxdomain_names_does_not_grow_memory() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples.yaml");
    let server = Server::start(&config);
    let pid = server.child.id();
    // Warm up: thread caches, buffers and the allocator's arenas reach
    // their working size.
    let warm = flood(&server, 0, 20_000).await;
    assert!(
        warm > 19_000,
        "only {warm} of 20000 warm-up queries answered"
    );
    let before = rss_kib(pid);
    let answered = flood(&server, 1_000_000, 100_000).await;
    let after = rss_kib(pid);
    eprintln!("RSS {before} KiB before and {after} KiB after {answered} distinct NXDOMAIN answers");
    assert!(answered > 99_000, "only {answered} of 100000 answered");
    // Anything kept per name would cost at least 100 bytes a name, 10 MB
    // here; allow a quarter of that for the allocator's own drift.
    assert!(
        after <= before + 2_500,
        "RSS grew from {before} KiB to {after} KiB over 100000 distinct names"
    );
    let (_, metrics) = server.http_get("/metrics");
    let nx: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"headless_dns_queries_total{type="A",rcode="NXDOMAIN"} "#)?
                .parse()
                .ok()
        })
        .expect("NXDOMAIN counter");
    assert!(nx >= u64::from(answered + warm), "{nx}");
}

/// Every queue has a bound, and /metrics shows it with the current depth.
#[tokio::test]
async fn queue_bounds_are_exported() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples.yaml");
    let server = Running::start(&config);
    let (status, metrics) = server.http_get("/metrics");
    assert_eq!(status, 200);
    let value = |name: &str| -> i64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    assert_eq!(value("headless_dns_event_queue_capacity"), 1024);
    let depth = value("headless_dns_event_queue_depth");
    assert!((0..=1024).contains(&depth), "{depth}");
    assert_eq!(value("headless_dns_tcp_answer_queue_capacity"), 64);
    for counter in [
        "headless_dns_tcp_answer_queue_full_total",
        "headless_dns_rrl_dropped_responses_total",
        "headless_dns_rrl_slipped_responses_total",
        "headless_dns_slow_path_queries_total",
    ] {
        assert_eq!(value(counter), 0, "{counter}");
    }
}

/// Response rate limiting, configured at 5 answers a second with every
/// second limited answer slipped: a burst of 200 identical queries from one
/// address gets its first answers whole, then alternately nothing and an
/// empty answer with TC set; the metrics count exactly what was dropped and
/// slipped; TCP is never limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rrl_drops_and_slips_a_flood_and_counts_it() {
    let (_dir, config) = Embedded::new([config::examples()])
        .and("dns:\n  rrl:\n    enabled: true\n    responses_per_second: 5\n    window: 5s\n    slip: 2\n")
        .in_temp();
    let server = Running::start(&config);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    const FLOOD: u16 = 200;
    for id in 0..FLOOD {
        let mut q = support::dns::query_edns(
            "web-demo-0.nginx-demo.demo.svc.cluster.local.",
            RecordType::A,
            1232,
        );
        q.metadata.id = id;
        socket
            .send_to(&q.to_vec().unwrap(), server.dns)
            .await
            .unwrap();
    }
    // A marker of another class (REFUSED: its own bucket, still full):
    // the server answers one client's datagrams in order, so once it is
    // here, everything the flood will get is here.
    let mut marker = support::dns::query("example.com.", RecordType::A);
    marker.metadata.id = 0xffff;
    socket
        .send_to(&marker.to_vec().unwrap(), server.dns)
        .await
        .unwrap();
    let (mut whole, mut slipped) = (0u64, 0u64);
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
            .await
            .expect("the marker was not answered")
            .unwrap();
        let m = support::dns::parse(&buf[..n]);
        if m.metadata.id == 0xffff {
            assert_eq!(m.metadata.response_code, ResponseCode::Refused);
            break;
        }
        assert!(m.metadata.id < FLOOD);
        if m.metadata.truncation {
            assert!(m.answers.is_empty(), "a slipped answer carries records");
            assert_eq!(m.queries.len(), 1, "a slipped answer echoes the question");
            assert!(m.edns.is_some(), "a slipped answer to EDNS keeps its OPT");
            slipped += 1;
        } else {
            assert_eq!(m.answers.len(), 1);
            whole += 1;
        }
    }
    let (_, metrics) = server.http_get("/metrics");
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    let dropped = value("headless_dns_rrl_dropped_responses_total");
    eprintln!("RRL: {whole} whole, {slipped} slipped, {dropped} dropped of {FLOOD}");
    assert!(
        whole >= 5,
        "the first second's answers were limited: {whole}"
    );
    assert!(dropped >= 1 && slipped >= 1);
    assert_eq!(value("headless_dns_rrl_slipped_responses_total"), slipped);
    assert_eq!(whole + slipped + dropped, u64::from(FLOOD));
    // slip: 2 alternates drop and slip.
    assert!(
        slipped == dropped || slipped + 1 == dropped,
        "{slipped} / {dropped}"
    );

    // TCP proves the address: never limited.
    for _ in 0..20 {
        let m = support::dns::tcp(
            server.dns,
            &support::dns::query(
                "web-demo-0.nginx-demo.demo.svc.cluster.local.",
                RecordType::A,
            ),
        )
        .await;
        assert_eq!(m.answers.len(), 1);
        assert!(!m.metadata.truncation);
    }
}
