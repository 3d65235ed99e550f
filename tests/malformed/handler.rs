//! Every case through `handle_bytes` with no socket, with and without an
//! NSID configured; server cookies bound to the client's address; and the
//! allocation bound (the test's global allocator measures it) for a header
//! that lies about its counts.

use super::*;
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use headless_dns::server::cookie::Cookies;
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::handle_bytes;
use hickory_proto::op::{Message, ResponseCode};
use hickory_server::net::xfer::Protocol as Transport;

use crate::support::settings::settings;

fn handler(nsid: Option<&str>) -> DnsHandler {
    let mut index = ClusterIndex::new(settings(), Duration::from_secs(30));
    index.apply_service(Service {
        key: ObjectKey::new("demo", "nginx-demo"),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    });
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "nginx-demo-abc"),
        service: ObjectKey::new("demo", "nginx-demo"),
        ports: vec![Port {
            name: "web".into(),
            protocol: Protocol::Tcp,
            port: 80,
        }],
        endpoints: vec![Endpoint {
            addresses: vec![POD0_IP.parse().unwrap()],
            hostname: Some("web-demo-0".into()),
            ready: true,
            target: None,
        }],
    });
    index.set_synced(true);
    let snapshot = index.publish(Instant::now()).unwrap();
    let handler = DnsHandler::new(
        Arc::new(ArcSwap::from_pointee(snapshot)),
        1232,
        Arc::new(Metrics::default()),
    )
    .with_nsid(nsid);
    handler.live().set_cookies(Cookies::with_secret([7; 16]));
    handler
}

const SRC: &str = "192.0.2.7:5353";

#[tokio::test]
async fn every_case_through_handle_bytes() {
    let handler = handler(Some(NSID));
    let src: SocketAddr = SRC.parse().unwrap();
    let cases = cases();
    for case in &cases {
        for transport in [Transport::Udp, Transport::Tcp] {
            let response = handle_bytes(&handler, case.packet.clone(), src, transport).await;
            judge(case, response.as_deref(), &format!("{transport:?}"));
            // And a normal query right after.
            let normal = handle_bytes(&handler, query(0x4242, POD0, 1, None), src, transport)
                .await
                .expect("no answer to a normal query");
            answers_pod0(&Message::from_vec(&normal).unwrap());
        }
    }
    assert!(cases.len() > 60, "{} cases", cases.len());
}

#[tokio::test]
async fn nsid_is_not_sent_unless_configured() {
    let handler = handler(None);
    let src: SocketAddr = SRC.parse().unwrap();
    let response = handle_bytes(
        &handler,
        query(1, POD0, 1, Some(opt(1232, 0, 0, &option(3, &[])))),
        src,
        Transport::Udp,
    )
    .await
    .unwrap();
    let m = Message::from_vec(&response).unwrap();
    answers_pod0(&m);
    no_cookie_no_nsid(&m);
}

/// The server cookie we hand out verifies when the client brings it back
/// (RFC 9018 hash over client cookie and address), from that address only.
#[tokio::test]
async fn a_returned_server_cookie_is_recognised_and_bound_to_the_address() {
    let handler = handler(None);
    let secret = Cookies::with_secret([7; 16]);
    let src: SocketAddr = SRC.parse().unwrap();
    let first = handle_bytes(
        &handler,
        query(
            1,
            POD0,
            1,
            Some(opt(1232, 0, 0, &option(10, &CLIENT_COOKIE))),
        ),
        src,
        Transport::Udp,
    )
    .await
    .unwrap();
    let cookie = cookie_of(&Message::from_vec(&first).unwrap());
    let now = headless_dns::server::cookie::unix_now();
    let (presented, _) = secret.respond(&cookie, src.ip(), now).unwrap();
    assert_eq!(
        presented,
        headless_dns::server::cookie::Presented::Valid,
        "{cookie:02x?}"
    );
    let elsewhere: IpAddr = "192.0.2.8".parse().unwrap();
    assert_eq!(
        secret.respond(&cookie, elsewhere, now).unwrap().0,
        headless_dns::server::cookie::Presented::Invalid
    );
    // Presented again, it is answered normally with a cookie.
    let again = handle_bytes(
        &handler,
        query(2, POD0, 1, Some(opt(1232, 0, 0, &option(10, &cookie)))),
        src,
        Transport::Udp,
    )
    .await
    .unwrap();
    let m = Message::from_vec(&again).unwrap();
    answers_pod0(&m);
    fresh_cookie(&m);
}

/// A 12-byte header claiming 65,535 questions must not make the server
/// reserve room for them: hickory does so before reading (about 5 MB per
/// datagram here); the handler rejects counts that cannot fit first.
#[tokio::test(flavor = "current_thread")]
async fn lying_counts_cost_no_large_allocation() {
    let handler = handler(None);
    let src: SocketAddr = SRC.parse().unwrap();
    for packet in [
        header(9, 0x0100, 65535, 0, 0, 0),
        header(9, 0x0100, 1, 65535, 65535, 65535),
        {
            let mut p = header(9, 0x0100, 600, 0, 0, 0);
            p.extend(question(POD0, 1, 1));
            p
        },
    ] {
        LARGEST.with(|l| l.set(0));
        let response = handle_bytes(&handler, packet.clone(), src, Transport::Udp).await;
        let largest = LARGEST.with(Cell::get);
        let m = Message::from_vec(&response.expect("FORMERR expected")).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert!(
            largest < 64 * 1024,
            "{largest} bytes allocated at once for {packet:02x?}"
        );
    }
}
