//! TSIG against the real binary: it signs its NOTIFY and takes only a
//! signed answer as an acknowledgement, which it shows in its log (the
//! only place the server says it saw one), and SIGHUP re-reads the key
//! file. Both need the process: the log, the signal, and exit code 0 on
//! SIGTERM.

use super::*;
use crate::support::config::Embedded;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::server::Server;
use headless_dns::transfer::tsig::{self, Checked};
use headless_dns::wire::last_additional;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::tsig::{TsigAlgorithm, TsigError};
use hickory_proto::rr::{RecordType, TSigner};

fn write_config(dir: &Path, notify_to: SocketAddr) -> PathBuf {
    std::fs::write(dir.join("keys.conf"), KEYS_FILE).unwrap();
    Embedded::new([crate::support::config::demo()])
        .no_watch()
        .with("    start_delay: 20ms\n    ready_delay: 20ms\n")
        .and(&format!(
            "transfer:\n  keys_file: keys.conf\n  allow: [{{from: 127.0.0.0/8, key: {KEY}}}]\n  notify: [{{address: '{notify_to}', key: {KEY}}}]\n"
        ))
        .write(&dir.join("config.yaml"))
}

/// The answer to `notify`, signed like it when `verified` is given.
fn notify_reply(notify: &Message, verified: Option<&tsig::Verified>) -> Vec<u8> {
    let mut reply = Message::new(notify.metadata.id, MessageType::Response, OpCode::Notify);
    reply.metadata.authoritative = true;
    reply.add_queries(notify.queries.iter().cloned());
    let mut bytes = reply.to_vec().unwrap();
    if let Some(verified) = verified {
        verified.signer().sign(&mut bytes, now()).unwrap();
    }
    bytes
}

async fn receive(socket: &tokio::net::UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buffer = vec![0u8; 4096];
    let (len, from) = tokio::time::timeout(Duration::from_secs(20), socket.recv_from(&mut buffer))
        .await
        .expect("no NOTIFY within 20 s")
        .unwrap();
    buffer.truncate(len);
    (buffer, from)
}

/// The binary signs its NOTIFY with the secondary's key; an unsigned answer
/// does not acknowledge it (the NOTIFY is sent again, same ID), a signed
/// answer that verifies does. The secondary's side of TSIG is our own
/// checker (`tsig::check` and the answer signer), against the binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_signs_notify_and_accepts_only_a_signed_answer() {
    let dir = tempfile::tempdir().unwrap();
    let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = write_config(dir.path(), secondary.local_addr().unwrap());
    let mut server = Server::start(&config);
    let ring = headless_dns::transfer::keys::parse(KEYS_FILE, Path::new("keys.conf")).unwrap();

    // Each NOTIFY for cluster.local: checked, and answered unsigned, which
    // must not acknowledge it: proof is the same NOTIFY (same ID) sent
    // again. A newer round (a change meanwhile) replaces the one in flight,
    // so the experiment repeats with it until a resend comes.
    let mut answered_unsigned: Option<u16> = None;
    let (notify, verified, from) = loop {
        let (bytes, from) = receive(&secondary).await;
        let (verified, unsigned) = match tsig::check(&ring, &bytes, last_additional(&bytes), now())
        {
            Checked::Signed { verified, unsigned } => (verified, unsigned),
            other => panic!("the NOTIFY is not validly signed: {other:?}"),
        };
        let notify = Message::from_vec(&unsigned).unwrap();
        assert_eq!(notify.metadata.op_code, OpCode::Notify);
        assert_eq!(verified.key.name(), &name(KEY));
        if notify.queries[0].name() != &name(FORWARD) {
            continue; // another zone's, left unanswered
        }
        if answered_unsigned == Some(notify.metadata.id) {
            break (notify, verified, from);
        }
        answered_unsigned = Some(notify.metadata.id);
        secondary
            .send_to(&notify_reply(&notify, None), from)
            .await
            .unwrap();
    };
    // Signed: acknowledged. (Should a newer round replace this NOTIFY
    // meanwhile, its NOTIFY is answered signed too.)
    secondary
        .send_to(&notify_reply(&notify, Some(&verified)), from)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let acknowledged = |log: Vec<String>| {
        log.iter()
            .any(|l| l.contains("NOTIFY acknowledged") && l.contains("zone=cluster.local."))
    };
    while !acknowledged(server.log()) {
        assert!(
            Instant::now() < deadline,
            "a signed answer did not acknowledge the NOTIFY; log:\n{}",
            server.log().join("\n")
        );
        let mut buffer = vec![0u8; 4096];
        let received =
            tokio::time::timeout(Duration::from_millis(100), secondary.recv_from(&mut buffer))
                .await;
        if let Ok(Ok((len, from))) = received
            && let Checked::Signed { verified, unsigned } = tsig::check(
                &ring,
                &buffer[..len],
                last_additional(&buffer[..len]),
                now(),
            )
        {
            let newer = Message::from_vec(&unsigned).unwrap();
            if newer.queries[0].name() == &name(FORWARD) {
                secondary
                    .send_to(&notify_reply(&newer, Some(&verified)), from)
                    .await
                    .unwrap();
            }
        }
    }

    // And the binary's signed AXFR over TCP verifies, message by message.
    assert!(transfer_over_tcp(server.dns, &good_signer()).await.is_ok());
    // Unsigned from 127.0.0.1 (the entry needs the key): NOTAUTH.
    let m = support::dns::tcp(server.dns, &axfr()).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NotAuth);
    assert_eq!(server.terminate(), Some(0));
}

/// A signed AXFR over TCP: `Ok(messages)` when every message verified and
/// the zone ended (second SOA), else the error rcode and TSIG error.
async fn transfer_over_tcp(
    server: SocketAddr,
    signer: &TSigner,
) -> Result<usize, (ResponseCode, Option<TsigError>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (bytes, mut verifier) = signed(axfr(), signer, now());
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&bytes);
    stream.write_all(&frame).await.unwrap();
    let (mut soas, mut messages) = (0, 0);
    while soas < 2 {
        let mut len = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut len))
            .await
            .expect("transfer stalled")
            .unwrap();
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut message).await.unwrap();
        let m = Message::from_vec(&message).unwrap();
        if m.metadata.response_code != ResponseCode::NoError {
            return Err((m.metadata.response_code, tsig_error(&m)));
        }
        verifier.verify(&message).unwrap();
        messages += 1;
        soas += m
            .answers
            .iter()
            .filter(|r| r.record_type() == RecordType::SOA)
            .count();
    }
    Ok(messages)
}

/// SIGHUP re-reads the key file: after a rotation the old secret gets
/// BADSIG and the new one transfers, with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rotates_the_tsig_key() {
    let dir = tempfile::tempdir().unwrap();
    let unused = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let config = write_config(dir.path(), unused.local_addr().unwrap());
    let mut server = Server::start(&config);
    assert!(transfer_over_tcp(server.dns, &good_signer()).await.is_ok());

    let new_secret = b"a brand new secret, 32 bytes ok!".to_vec();
    let new_b64 = data_encoding::BASE64.encode(&new_secret);
    std::fs::write(
        dir.path().join("keys.conf"),
        KEYS_FILE.replace(SECRET_B64, &new_b64),
    )
    .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let line = server.wait_for_log("config reloaded");
    assert!(line.contains("2 TSIG keys"), "{line}");
    assert!(
        !line.contains(&new_b64) && !line.contains(SECRET_B64),
        "{line}"
    );
    assert_eq!(
        transfer_over_tcp(server.dns, &good_signer()).await,
        Err((ResponseCode::NotAuth, Some(TsigError::BadSig)))
    );
    let rotated = signer(KEY, TsigAlgorithm::HmacSha256, new_secret);
    assert!(transfer_over_tcp(server.dns, &rotated).await.is_ok());
    // A key file that no longer parses: the reload fails naming its line,
    // and the rotated key stays in force.
    std::fs::write(dir.path().join("keys.conf"), "key broken {\n").unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let line = server.wait_for_log("config reload failed");
    assert!(line.contains("keys.conf:"), "{line}");
    assert!(transfer_over_tcp(server.dns, &rotated).await.is_ok());
    assert_eq!(server.terminate(), Some(0));
}
