//! The process's life against the real binary: SIGTERM drains (TCP queries
//! in flight are answered, then it exits 0), a second signal exits at once,
//! and SIGHUP re-reads the config — keeping the running one, and saying why,
//! when the new one is broken. Signals, exit codes and the log are the
//! process's, so this stays on the binary.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::config::Embedded;
use support::dns::{addresses, query, udp};
use support::server::{Server, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const POD0: &str = "web-demo-0.nginx-demo.demo.svc.cluster.local.";

fn signal(server: &Server, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Waits (at most 20 s) for the process to exit; its exit code.
fn wait_exit(server: &mut Server) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after the signal; log:\n{}",
            server.log().join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn frame(id: u16, name: &str) -> Vec<u8> {
    let mut q = query(name, RecordType::A);
    q.metadata.id = id;
    let body = q.to_vec().unwrap();
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Reads one whole frame, or `None` at a clean end of stream. A stream that
/// ends inside a frame fails the test.
async fn next_frame(stream: &mut TcpStream) -> Option<hickory_proto::op::Message> {
    let mut len = [0u8; 2];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut len[..1]))
        .await
        .expect("neither an answer nor the end of the stream within 10 s")
        .unwrap_or(0);
    if n == 0 {
        return None;
    }
    stream
        .read_exact(&mut len[1..])
        .await
        .expect("half a length prefix");
    let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut body).await.expect("half a message");
    Some(support::dns::parse(&body))
}

/// SIGTERM while a client has 1,000 queries pipelined on one connection and
/// another is half-way through sending one: what the server had begun
/// reading is answered, answers stay whole and in order, the connections
/// close cleanly, and the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_tcp_queries_in_flight_then_exits_zero() {
    let (_dir, config) = Embedded::edited_examples()
        .and("dns:\n  tcp_idle_timeout: 5s\n")
        .in_temp();
    let mut server = Server::start(&config);

    let mut pipelined = TcpStream::connect(server.dns).await.unwrap();
    let mut all = Vec::new();
    for id in 0..1000u16 {
        all.extend(frame(id, POD0));
    }
    pipelined.write_all(&all).await.unwrap();
    // The server is answering before the signal.
    let first = next_frame(&mut pipelined).await.expect("a first answer");
    assert_eq!(first.metadata.id, 0);

    // Half a query: the length prefix and a part of the message.
    let mut half = TcpStream::connect(server.dns).await.unwrap();
    let slow = frame(4242, POD0);
    half.write_all(&slow[..10]).await.unwrap();
    // Proof the server holds the connection before the signal: a query on
    // a third connection is answered after both were accepted.
    let probe = support::dns::tcp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(addresses(&probe.answers), ["10.244.0.39"]);

    signal(&server, "TERM");
    server.wait_for_log("SIGTERM: draining");
    // The rest of the half-sent query arrives after the signal: answered.
    half.write_all(&slow[10..]).await.unwrap();
    let answer = next_frame(&mut half)
        .await
        .expect("the query in flight was not answered");
    assert_eq!(answer.metadata.id, 4242);
    assert_eq!(addresses(&answer.answers), ["10.244.0.39"]);
    assert!(
        next_frame(&mut half).await.is_none(),
        "connection not closed"
    );

    // The pipelined connection: a whole, in-order run of answers, then EOF.
    let mut answered = 1u16;
    while let Some(m) = next_frame(&mut pipelined).await {
        assert_eq!(m.metadata.id, answered, "answers out of order");
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        answered += 1;
    }
    eprintln!("{answered} of 1000 pipelined queries answered across the shutdown");
    assert_eq!(
        wait_exit(&mut server),
        Some(0),
        "{}",
        server.log().join("\n")
    );
    assert!(
        server.log().iter().any(|l| l.contains("stopped")),
        "{}",
        server.log().join("\n")
    );
}

/// A first SIGTERM starts a drain that a stalled client would hold for the
/// idle timeout (60 s here); a second signal ends the process at once, with
/// the exit code of an interrupted process (130), not the drain's 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_exits_at_once() {
    let (_dir, config) = Embedded::edited_examples()
        .and("dns:\n  tcp_idle_timeout: 60s\n")
        .in_temp();
    let mut server = Server::start(&config);
    let mut stalled = TcpStream::connect(server.dns).await.unwrap();
    stalled.write_all(&frame(7, POD0)[..6]).await.unwrap();
    let probe = support::dns::tcp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(probe.metadata.response_code, ResponseCode::NoError);

    signal(&server, "TERM");
    server.wait_for_log("SIGTERM: draining");
    signal(&server, "TERM");
    assert_eq!(
        wait_exit(&mut server),
        Some(130),
        "{}",
        server.log().join("\n")
    );
    assert!(
        server.log().iter().any(|l| l.contains("second signal")),
        "{}",
        server.log().join("\n")
    );
    drop(stalled);
}

fn metric(server: &Server, name: &str) -> u64 {
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// SIGHUP with a config that does not load: the error (file and key) is
/// logged, the reload counted as failed, and the server goes on answering
/// from the running config.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_broken_config_keeps_the_running_one() {
    let (_dir, config) = Embedded::edited_examples().no_watch().in_temp();
    let mut server = Server::start(&config);
    Embedded::edited_examples()
        .and("dns:\n  tttl: 5\n")
        .write(&config);
    signal(&server, "HUP");
    let line = server.wait_for_log("config reload failed");
    assert!(line.contains("tttl"), "{line}");
    assert!(line.contains("config.yaml"), "{line}");
    assert!(line.contains("keeping the running config"), "{line}");
    assert_eq!(
        metric(&server, "headless_dns_config_reload_failures_total"),
        1
    );
    assert_eq!(metric(&server, "headless_dns_config_reloads_total"), 0);
    let m = udp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);

    // A broken manifest is no better: logged, state kept.
    Embedded::edited_examples().no_watch().write(&config);
    let slice = config
        .parent()
        .unwrap()
        .join("examples/web-endpointslice.yaml");
    let good = std::fs::read_to_string(&slice).unwrap();
    std::fs::write(&slice, good.replace("addressType: IPv4", "addressType: [")).unwrap();
    signal(&server, "HUP");
    let failed = eventually(Duration::from_secs(10), || async {
        (metric(&server, "headless_dns_config_reload_failures_total") == 2).then_some(())
    })
    .await;
    assert!(failed.is_some(), "{}", server.log().join("\n"));
    let m = udp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    assert_eq!(
        server.child.try_wait().unwrap(),
        None,
        "SIGHUP ended the process"
    );
}

/// SIGHUP re-reads the manifests (here the file watcher is off, so nothing
/// else would), and names the keys that need a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_manifests_and_names_keys_that_need_a_restart() {
    let (_dir, config) = Embedded::edited_examples().no_watch().in_temp();
    let mut server = Server::start(&config);
    let m = udp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);

    let slice = config
        .parent()
        .unwrap()
        .join("examples/web-endpointslice.yaml");
    let text = std::fs::read_to_string(&slice).unwrap();
    std::fs::write(&slice, text.replace("10.244.0.39", "10.244.9.9")).unwrap();
    Embedded::edited_examples()
        .no_watch()
        .and("dns:\n  ttl: 30\n")
        .write(&config);
    signal(&server, "HUP");
    let line = server.wait_for_log("config reloaded");
    assert!(line.contains("needs a restart for dns.ttl"), "{line}");
    let moved = eventually(Duration::from_secs(10), || async {
        let m = udp(server.dns, &query(POD0, RecordType::A)).await;
        (addresses(&m.answers) == ["10.244.9.9"]).then_some(m)
    })
    .await
    .expect("the edited manifest was not served after SIGHUP");
    // dns.ttl needs a restart: still the old TTL.
    assert_eq!(moved.answers[0].ttl, 5);
    assert_eq!(metric(&server, "headless_dns_config_reloads_total"), 1);
    assert_eq!(server.terminate(), Some(0));
}
