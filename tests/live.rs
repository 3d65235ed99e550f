//! What replicas share and what changes without a restart (issue 14),
//! against the real binary: two servers mounting one cookie secret accept
//! each other's server cookies (a third without it does not), a rotated
//! secret still accepts the old cookies, and SIGHUP changes the RRL rate —
//! seen in the metric and in how many answers a burst gets — and the NSID,
//! while a bad value keeps the settings in force and names file and key.
//! It needs the binary: the changes come with SIGHUP, and the proof that a
//! bad value was refused is the log line naming file and key.

mod support;

use std::net::{IpAddr, SocketAddr};
use std::process::Command;
use std::time::Duration;

use headless_dns::server::cookie::Cookies;
use hickory_proto::op::{Edns, Message};
use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption, NSIDPayload};
use support::config::Embedded;
use support::dns::{addresses, query, udp};
use support::server::{Server, eventually};

const POD0: &str = "web-demo-0.nginx-demo.demo.svc.cluster.local.";
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const ROTATED: &str = "fedcba9876543210fedcba9876543210";
const CLIENT: [u8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

fn secret(hex: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// The example manifests, the file watcher off, and `sections` (a `dns:`
/// section, or nothing) after them.
fn serving(sections: &str) -> Embedded {
    Embedded::new([support::config::examples()])
        .no_watch()
        .and(sections)
}

fn metric(server: &Server, line_start: &str) -> u64 {
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(line_start)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

fn hangup(server: &Server) {
    let status = Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn reloaded(server: &Server, count: u64) {
    let done = eventually(Duration::from_secs(20), || async {
        (metric(server, "headless_dns_config_reloads_total") == count).then_some(())
    })
    .await;
    assert!(
        done.is_some(),
        "reload {count} not applied: {}",
        server.log().join("\n")
    );
}

/// A query for POD0 carrying `cookie` (client cookie, maybe a server one).
fn with_cookie(cookie: &[u8]) -> Message {
    let mut m = query(POD0, RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut()
        .insert(EdnsOption::Unknown(10, cookie.to_vec()));
    m.set_edns(edns);
    m
}

/// The server cookie of an answer (after the 8-byte client cookie).
fn server_cookie(m: &Message) -> [u8; 16] {
    let edns = m.edns.as_ref().expect("OPT in the answer");
    let data = edns
        .options()
        .options
        .iter()
        .find_map(|(_, o)| match o {
            EdnsOption::Unknown(10, data) => Some(data.clone()),
            _ => None,
        })
        .expect("a COOKIE in the answer");
    assert_eq!(data[..8], CLIENT, "the client cookie is echoed");
    data[8..].try_into().unwrap()
}

/// Whether `cookie` is the one `secret` makes for our client at its stamp.
fn made_with(cookie: &[u8; 16], secret: [u8; 16]) -> bool {
    let stamp = u32::from_be_bytes(cookie[4..8].try_into().unwrap());
    let ip: IpAddr = "127.0.0.1".parse().unwrap();
    Cookies::with_secret(secret).server_cookie(&CLIENT, ip, stamp) == *cookie
}

async fn present(server: SocketAddr, cookie: &[u8; 16]) -> Message {
    let mut option = CLIENT.to_vec();
    option.extend_from_slice(cookie);
    udp(server, &with_cookie(&option)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_the_cookie_secret_accept_each_others_cookies() {
    let (dir, config) = serving("dns:\n  cookie_secret_file: cookie\n").in_temp();
    std::fs::write(dir.path().join("cookie"), format!("{SECRET}\n")).unwrap();
    let (_alone_dir, alone_config) = serving("").in_temp();
    let a = Server::start(&config);
    let b = Server::start(&config);
    let alone = Server::start(&alone_config);

    // A hands out a cookie made with the shared secret.
    let m = udp(a.dns, &with_cookie(&CLIENT)).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    let from_a = server_cookie(&m);
    assert!(made_with(&from_a, secret(SECRET)));
    assert_eq!(
        metric(&a, r#"headless_dns_cookies_total{presented="client_only"}"#),
        1
    );

    // B takes it as its own, and answers with one made the same way.
    let m = present(b.dns, &from_a).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    assert_eq!(
        metric(&b, r#"headless_dns_cookies_total{presented="valid"}"#),
        1
    );
    assert_eq!(
        metric(&b, r#"headless_dns_cookies_total{presented="invalid"}"#),
        0
    );
    let from_b = server_cookie(&m);
    assert!(made_with(&from_b, secret(SECRET)));
    // And back: A accepts B's.
    present(a.dns, &from_b).await;
    assert_eq!(
        metric(&a, r#"headless_dns_cookies_total{presented="valid"}"#),
        1
    );

    // A server with its own random secret does not (it still answers).
    let m = present(alone.dns, &from_a).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    assert_eq!(
        metric(&alone, r#"headless_dns_cookies_total{presented="invalid"}"#),
        1
    );
    assert!(!made_with(&server_cookie(&m), secret(SECRET)));

    // Rotation: B re-reads the file on SIGHUP. Its new cookies use the new
    // secret; A's (old secret) are still accepted there.
    std::fs::write(dir.path().join("cookie"), ROTATED).unwrap();
    hangup(&b);
    reloaded(&b, 1).await;
    let m = present(b.dns, &from_a).await;
    assert_eq!(
        metric(&b, r#"headless_dns_cookies_total{presented="valid"}"#),
        2
    );
    let rotated = server_cookie(&m);
    assert!(made_with(&rotated, secret(ROTATED)));
    // A has not rotated yet: B's new cookie is not A's.
    present(a.dns, &rotated).await;
    assert_eq!(
        metric(&a, r#"headless_dns_cookies_total{presented="invalid"}"#),
        1
    );
}

/// Sends `count` queries at once from one socket and counts the answers,
/// until answers and drops (the metric) account for every query.
async fn burst(server: &Server, count: usize, dropped_before: u64) -> (usize, u64) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bytes = query(POD0, RecordType::A).to_vec().unwrap();
    for _ in 0..count {
        socket.send_to(&bytes, server.dns).await.unwrap();
    }
    let mut answered = 0;
    let mut buffer = vec![0u8; 2048];
    loop {
        let dropped = metric(server, "headless_dns_rrl_dropped_responses_total") - dropped_before;
        if answered + dropped as usize >= count {
            return (answered, dropped);
        }
        match tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buffer)).await {
            Ok(Ok(_)) => answered += 1,
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => panic!(
                "{answered} answered, {dropped} dropped: {} queries unaccounted for",
                count - answered - dropped as usize
            ),
        }
    }
}

fn rrl_config(rate: u32, nsid: &str) -> Embedded {
    serving(&format!(
        "dns:\n  nsid: {nsid}\n  rrl:\n    enabled: true\n    responses_per_second: {rate}\n    window: 5s\n    slip: 0\n"
    ))
}

fn nsid_query() -> Message {
    let mut m = query(POD0, RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    edns.options_mut()
        .insert(EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap()));
    m.set_edns(edns);
    m
}

/// The NSID the server sends, asked over TCP (which RRL never limits).
async fn nsid_of(server: &Server) -> Vec<u8> {
    let m = support::dns::tcp(server.dns, &nsid_query()).await;
    match m.edns.as_ref().and_then(|e| e.option(EdnsCode::NSID)) {
        Some(EdnsOption::NSID(id)) => id.as_ref().to_vec(),
        other => panic!("no NSID: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_changes_the_rrl_rate_and_nsid_live() {
    let (_dir, config) = rrl_config(1000, "dns-a").in_temp();
    let mut server = Server::start(&config);
    assert_eq!(
        metric(&server, "headless_dns_rrl_responses_per_second"),
        1000
    );
    assert_eq!(nsid_of(&server).await, b"dns-a");
    let (answered, dropped) = burst(&server, 20, 0).await;
    assert_eq!(
        (answered, dropped),
        (20, 0),
        "1000/s lets a burst of 20 through"
    );

    rrl_config(1, "dns-b").write(&config);
    hangup(&server);
    reloaded(&server, 1).await;
    assert_eq!(metric(&server, "headless_dns_rrl_responses_per_second"), 1);
    let line = server.wait_for_log("dns.rrl changed");
    assert!(line.contains("responses_per_second=1"), "{line}");
    assert_eq!(nsid_of(&server).await, b"dns-b");
    let before = metric(&server, "headless_dns_rrl_dropped_responses_total");
    let (answered, dropped) = burst(&server, 20, before).await;
    assert!(dropped > 0, "1/s dropped nothing of 20");
    assert!(answered < 20);

    // A bad value: the reload fails naming file and key; 1/s stays.
    rrl_config(0, "dns-c").write(&config);
    hangup(&server);
    let line = server.wait_for_log("config reload failed");
    assert!(line.contains("dns.rrl.responses_per_second"), "{line}");
    assert!(line.contains("config.yaml"), "{line}");
    assert_eq!(
        metric(&server, "headless_dns_config_reload_failures_total"),
        1
    );
    assert_eq!(metric(&server, "headless_dns_rrl_responses_per_second"), 1);
    assert_eq!(nsid_of(&server).await, b"dns-b");

    // Off, live: every answer again.
    serving("dns:\n  rrl:\n    enabled: false\n").write(&config);
    hangup(&server);
    reloaded(&server, 2).await;
    assert_eq!(metric(&server, "headless_dns_rrl_responses_per_second"), 0);
    let before = metric(&server, "headless_dns_rrl_dropped_responses_total");
    assert_eq!(burst(&server, 20, before).await, (20, 0));
    assert_eq!(server.terminate(), Some(0));
}
