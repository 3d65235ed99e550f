//! NOTIFY against the real binary: the server NOTIFYs a secondary (a UDP
//! socket here) at start and after a change, resending with the same ID
//! until answered. It needs the binary because the proof that the server
//! saw each acknowledgement is its log line (`NOTIFY acknowledged ...
//! attempt=2`), and because it ends with SIGTERM and exit code 0.

use super::*;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::server::{Server, eventually, http};
use crate::support::xfr::soa_serial;
use headless_dns::transfer::serial_lt;
use hickory_proto::op::{Message, MessageType, OpCode};
use hickory_proto::rr::{Name, RecordType};

/// Removes ANSI colour sequences from a log line.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One headless service with one endpoint at `ip`.
fn small_manifest(ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop}}\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: db, namespace: shop}}\nspec:\n  clusterIP: None\n  ports: [{{name: pg, port: 5432}}]\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: db-1\n  namespace: shop\n  labels: {{kubernetes.io/service-name: db}}\naddressType: IPv4\nports: [{{name: pg, port: 5432, protocol: TCP}}]\nendpoints:\n  - {{addresses: [\"{ip}\"], hostname: db-0, conditions: {{ready: true}}}}\n"
    )
}

/// Receives one NOTIFY (bounded wait); returns it and where it came from.
async fn receive_notify(socket: &tokio::net::UdpSocket, within: Duration) -> (Message, SocketAddr) {
    let mut buf = vec![0u8; 4096];
    let (n, from) = tokio::time::timeout(within, socket.recv_from(&mut buf))
        .await
        .expect("no NOTIFY in time")
        .unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(m.metadata.op_code, OpCode::Notify);
    assert_eq!(m.metadata.message_type, MessageType::Query);
    assert!(m.metadata.authoritative, "NOTIFY sets AA");
    assert_eq!(m.queries.len(), 1);
    assert_eq!(m.queries[0].query_type(), RecordType::SOA);
    (m, from)
}

fn ack(notify: &Message) -> Vec<u8> {
    let mut reply = Message::new(notify.metadata.id, MessageType::Response, OpCode::Notify);
    reply.metadata.authoritative = true;
    reply.add_queries(notify.queries.iter().cloned());
    reply.to_vec().unwrap()
}

/// The server NOTIFYs a secondary (played by a UDP socket here) at start
/// and after a change; an unanswered NOTIFY is sent again with the same ID
/// until answered. This secondary answers only the second one per zone.
#[tokio::test]
async fn notifies_and_retries_until_acknowledged() {
    let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("db.yaml");
    std::fs::write(&manifest, small_manifest("10.1.0.10")).unwrap();
    let config = write_config(
        dir.path(),
        &[manifest],
        &format!(
            "transfer:\n  allow: [127.0.0.0/8]\n  notify: ['{}']\n  notify_interval: 200ms\n",
            secondary.local_addr().unwrap()
        ),
    );
    let mut server = Server::start(&config);
    let serial = live_zone(server.admin, "forward").0;

    // Each served zone gets a NOTIFY; none answered, so each comes again.
    let zones: BTreeSet<Name> = [FORWARD, IN_ADDR, IP6].into_iter().map(name).collect();
    let mut first: std::collections::BTreeMap<Name, (u16, Instant)> = Default::default();
    let mut acked = BTreeSet::new();
    while acked.len() < zones.len() {
        let (m, from) = receive_notify(&secondary, Duration::from_secs(10)).await;
        let zone = m.queries[0].name().clone();
        assert!(zones.contains(&zone), "{zone}");
        assert_eq!(m.answers.len(), 1, "the new SOA rides along");
        assert_eq!(soa_serial(&m.answers[0]), Some(serial), "{zone}");
        match first.get(&zone) {
            None => {
                first.insert(zone, (m.metadata.id, Instant::now()));
            }
            Some((id, at)) => {
                assert_eq!(m.metadata.id, *id, "a resend keeps its ID");
                assert!(
                    !acked.contains(&zone),
                    "{zone}: NOTIFY after it was answered"
                );
                println!("{zone}: resent after {:?}", at.elapsed());
                secondary.send_to(&ack(&m), from).await.unwrap();
                acked.insert(zone);
            }
        }
    }
    // The server saw the acknowledgement of the second send, per zone.
    for zone in [FORWARD, IN_ADDR, IP6] {
        let found = eventually(Duration::from_secs(10), || async {
            server.log().iter().map(|l| plain(l)).find(|l| {
                l.contains("NOTIFY acknowledged")
                    && l.contains(&format!("zone={zone} "))
                    && l.contains("attempt=2")
            })
        })
        .await;
        assert!(
            found.is_some(),
            "{zone}: no acknowledgement logged:\n{}",
            server.log().join("\n")
        );
    }

    // A change: a NOTIFY with the new serial, answered at once.
    let (status, body) = http(server.admin, "POST", "/apply", &small_manifest("10.1.0.99"));
    assert_eq!(status, 200, "{body}");
    let changed = eventually(Duration::from_secs(10), || async {
        let (m, from) = receive_notify(&secondary, Duration::from_secs(10)).await;
        secondary.send_to(&ack(&m), from).await.unwrap();
        let new = soa_serial(&m.answers[0]).unwrap();
        (m.queries[0].name() == &name(FORWARD) && new != serial).then_some(new)
    })
    .await
    .expect("a NOTIFY for the change");
    assert!(serial_lt(serial, changed));
    let (live, zone) = live_zone(server.admin, "forward");
    assert_eq!(live, changed);
    assert!(
        zone.iter().any(|l| l.ends_with("\tA\t10.1.0.99")),
        "{zone:#?}"
    );
    assert_eq!(server.terminate(), Some(0));
}
