//! Every case against the real binary over UDP, each followed by a normal
//! query that must be answered. These need the binary because what they
//! also check is its log: no line per bad packet at `RUST_LOG=info`, and
//! none at all with the default filter (hickory's own WARN for an EDNS
//! option that overruns its OPT record included).

use super::*;
use crate::support::config::{self, Embedded};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::server::Server;
use hickory_proto::op::Message;

fn config_with_nsid() -> (tempfile::TempDir, PathBuf) {
    Embedded::new([config::examples()])
        .and(&format!("dns:\n  nsid: {NSID}\n"))
        .in_temp()
}

/// Each case over UDP, then a normal query from the same socket: the
/// server answers datagrams of one socket in order, so the case's answer
/// (or its absence) is known once the normal answer arrives.
#[tokio::test]
async fn every_case_against_the_binary_over_udp() {
    let (_dir, config) = config_with_nsid();
    let server = Server::start(&config);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let cases = cases();
    for (i, case) in cases.iter().enumerate() {
        let normal_id = 0xe000 + i as u16;
        socket.send_to(&case.packet, server.dns).await.unwrap();
        socket
            .send_to(&query(normal_id, POD0, 1, None), server.dns)
            .await
            .unwrap();
        let mut before = Vec::new();
        let normal = loop {
            let mut buf = vec![0u8; 65535];
            let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "{}: no answer to the normal query after it; log:\n{}",
                        case.name,
                        server.log().join("\n")
                    )
                })
                .unwrap();
            buf.truncate(n);
            if n >= 2 && buf[..2] == normal_id.to_be_bytes() {
                break buf;
            }
            before.push(buf);
        };
        answers_pod0(&Message::from_vec(&normal).unwrap());
        assert!(before.len() <= 1, "{}: {} answers", case.name, before.len());
        judge(case, before.first().map(Vec::as_slice), "binary");
    }
    // Nothing crashed, and no line per bad packet went to the log.
    let log = server.log();
    assert!(
        log.len() < 40,
        "{} log lines for {} cases:\n{}",
        log.len(),
        cases.len(),
        log.join("\n")
    );
}

/// Remote input must not write the log: with the default log filter (no
/// `RUST_LOG`), a flood of bad packets — among them EDNS options that run
/// past their OPT record, which hickory reports at WARN — adds no lines.
#[tokio::test]
async fn bad_packets_do_not_flood_the_default_log() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let (_dir, config) = config_with_nsid();
    let mut child = Command::new(support::server::BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let dns: SocketAddr = loop {
        if let Some(addr) = lines.lock().unwrap().iter().find_map(|l| {
            let rest = &l[l.find("serving DNS on ")? + "serving DNS on ".len()..];
            rest.split_whitespace().next()?.parse().ok()
        }) {
            break addr;
        }
        assert!(Instant::now() < deadline, "no address in the log");
        std::thread::sleep(Duration::from_millis(20));
    };
    let startup = lines.lock().unwrap().len();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // An option claiming 3 bytes in an OPT of 4: hickory drops the options
    // with a warning and the query is answered.
    let overrun = query(7, POD0, 1, Some(opt(1232, 0, 0, &[0, 1, 0, 3])));
    for round in 0..100u16 {
        for case in cases() {
            socket.send_to(&case.packet, dns).await.unwrap();
        }
        socket.send_to(&overrun, dns).await.unwrap();
        let normal_id = 0xd000 + round;
        socket
            .send_to(&query(normal_id, POD0, 1, None), dns)
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        loop {
            let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
                .await
                .expect("server stopped answering")
                .unwrap();
            if buf[..2] == normal_id.to_be_bytes() {
                break;
            }
            if buf[..2] == [0, 7] {
                answers_pod0(&Message::from_vec(&buf[..n]).unwrap());
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines.lock().unwrap();
    assert!(
        lines.len() <= startup + 5,
        "{} log lines after startup for 100 rounds of bad packets:\n{}",
        lines.len() - startup,
        lines[startup..].join("\n")
    );
}
