//! Properties of every response, over generated queries (proptest): it
//! parses, echoes the ID, the opcode and the question byte for byte, never
//! sets RA, carries OPT when the query did, respects the client's UDP
//! payload size (512 without EDNS), and a truncated one carries no records.
//! The fast path and the full handler give the same answer wherever the
//! fast path answers. A second property feeds mutated and random bytes:
//! silence, or a parseable response that echoes the ID.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, OrdinalSet, Port, Protocol, Service, ServiceKind,
};
use headless_dns::server::fast::{self, Outcome};
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::{handle_bytes, handle_bytes_slow};
use headless_dns::snapshot::Snapshot;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::Record;
use hickory_server::net::xfer::Protocol as Transport;
use proptest::prelude::*;
use support::settings::settings;

const NAMES: &[&str] = &[
    "web-demo-0.nginx-demo.demo.svc.cluster.local",
    "web-demo-1.nginx-demo.demo.svc.cluster.local",
    "web-demo-2.nginx-demo.demo.svc.cluster.local",
    "nginx-demo.demo.svc.cluster.local",
    "_web._tcp.nginx-demo.demo.svc.cluster.local",
    "_tcp.nginx-demo.demo.svc.cluster.local",
    "big.demo.svc.cluster.local",
    "_web._tcp.big.demo.svc.cluster.local",
    "big-7.big.demo.svc.cluster.local",
    "10-244-0-41.nginx-demo.demo.svc.cluster.local",
    "demo.svc.cluster.local",
    "svc.cluster.local",
    "cluster.local",
    "ns.dns.cluster.local",
    "dns-version.cluster.local",
    "39.0.244.10.in-addr.arpa",
    "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
    "1.2.3.4.in-addr.arpa",
    "in-addr.arpa",
    "nope.demo.svc.cluster.local",
    "example.com",
    "",
];

const TYPES: &[u16] = &[
    1, 28, 33, 12, 6, 2, 16, 255, 5, 15, 0, 65000, 252, 251, 41, 99, 64, 65,
];

/// The walkthrough's zone plus a service large enough to overflow 512
/// and 1232 bytes over UDP. Built once.
fn zone() -> Arc<Snapshot> {
    static ZONE: std::sync::LazyLock<Arc<Snapshot>> = std::sync::LazyLock::new(build_zone);
    ZONE.clone()
}

fn build_zone() -> Arc<Snapshot> {
    let mut index = ClusterIndex::new(settings(), Duration::from_secs(30));
    let web = Port {
        name: "web".into(),
        protocol: Protocol::Tcp,
        port: 80,
    };
    for name in ["nginx-demo", "big"] {
        index.apply_service(Service {
            key: ObjectKey::new("demo", name),
            kind: ServiceKind::Headless,
            publish_not_ready: false,
            ports: vec![web.clone()],
        });
    }
    let ep = |ip: String, host: Option<String>| Endpoint {
        addresses: vec![ip.parse().unwrap()],
        hostname: host.map(Into::into),
        ready: true,
        target: None,
    };
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "nginx-demo-1"),
        service: ObjectKey::new("demo", "nginx-demo"),
        ports: vec![web.clone()],
        endpoints: vec![
            ep("10.244.0.39".into(), Some("web-demo-0".into())),
            ep("10.244.0.40".into(), Some("web-demo-1".into())),
            ep("fd00::7".into(), Some("web-demo-1".into())),
            ep("10.244.0.41".into(), None),
        ],
    });
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "big-1"),
        service: ObjectKey::new("demo", "big"),
        ports: vec![web],
        endpoints: (0..90)
            .map(|i| ep(format!("10.250.0.{}", i + 1), Some(format!("big-{i}"))))
            .collect(),
    });
    index.apply_set(OrdinalSet {
        key: ObjectKey::new("demo", "web-demo"),
        service_name: "nginx-demo".into(),
        replicas: 3,
        start: 0,
    });
    index.set_synced(true);
    Arc::new(index.publish(Instant::now()).unwrap())
}

/// A query's OPT: payload, DO, version, options (code, data).
type Opt = (u16, bool, u8, Vec<(u16, Vec<u8>)>);

/// One generated query.
#[derive(Debug, Clone)]
struct Spec {
    id: u16,
    name: String,
    qtype: u16,
    qclass: u16,
    /// RD, CD, AD bits.
    flags: (bool, bool, bool),
    opcode: u8,
    edns: Option<Opt>,
    tcp: bool,
    server_max: u16,
    nsid: bool,
}

fn label() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,20}"
}

fn qname() -> impl Strategy<Value = String> {
    prop_oneof![
        // A known name, with its letters' case shuffled.
        (prop::sample::select(NAMES), any::<u64>()).prop_map(|(n, bits)| n
            .chars()
            .enumerate()
            .map(|(i, c)| if bits >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            })
            .collect()),
        // Made-up names under the zone and elsewhere.
        (
            prop::collection::vec(label(), 0..4),
            prop::sample::select(
                &[
                    "demo.svc.cluster.local",
                    "nginx-demo.demo.svc.cluster.local",
                    "cluster.local",
                    "in-addr.arpa",
                    "org"
                ][..]
            )
        )
            .prop_map(|(labels, suffix)| {
                let mut name = labels.join(".");
                if !name.is_empty() {
                    name.push('.');
                }
                name + suffix
            }),
        // Long names, around the 255-octet limit and over it.
        prop::collection::vec("[a-z0-9]{40,63}", 3..5)
            .prop_map(|labels| labels.join(".") + ".demo.svc.cluster.local"),
    ]
}

fn edns_option() -> impl Strategy<Value = (u16, Vec<u8>)> {
    prop_oneof![
        // Cookies: client only, with a server cookie, of a wrong length.
        prop::collection::vec(any::<u8>(), 8).prop_map(|c| (10, c)),
        prop::collection::vec(any::<u8>(), 16..=40).prop_map(|c| (10, c)),
        prop::collection::vec(any::<u8>(), 0..50).prop_map(|c| (10, c)),
        Just((3, vec![])),
        (any::<u16>(), prop::collection::vec(any::<u8>(), 0..30)),
    ]
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        any::<u16>(),
        qname(),
        prop_oneof![prop::sample::select(TYPES), any::<u16>()],
        prop_oneof![8 => Just(1u16), 1 => Just(3u16), 1 => any::<u16>()],
        any::<(bool, bool, bool)>(),
        prop_oneof![9 => Just(0u8), 1 => 0u8..16],
        prop::option::weighted(
            0.7,
            (
                prop_oneof![Just(512u16), Just(1232), Just(4096), any::<u16>()],
                any::<bool>(),
                prop_oneof![9 => Just(0u8), 1 => any::<u8>()],
                prop::collection::vec(edns_option(), 0..3),
            ),
        ),
        any::<bool>(),
        prop_oneof![Just(512u16), Just(1232), 512u16..=4096],
        any::<bool>(),
    )
        .prop_map(
            |(id, name, qtype, qclass, flags, opcode, edns, tcp, server_max, nsid)| Spec {
                id,
                name,
                qtype,
                qclass,
                flags,
                opcode,
                edns,
                tcp,
                server_max,
                nsid,
            },
        )
}

/// The query's bytes, written by hand so that anything the strategy makes
/// can be sent; also the end of its question section.
fn encode(spec: &Spec) -> (Vec<u8>, usize) {
    let (rd, cd, ad) = spec.flags;
    let flags: u16 = (u16::from(spec.opcode) << 11)
        | if rd { 0x0100 } else { 0 }
        | if ad { 0x0020 } else { 0 }
        | if cd { 0x0010 } else { 0 };
    let mut out = Vec::new();
    for v in [spec.id, flags, 1, 0, 0, u16::from(spec.edns.is_some())] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    for label in spec.name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&spec.qtype.to_be_bytes());
    out.extend_from_slice(&spec.qclass.to_be_bytes());
    let question_end = out.len();
    if let Some((payload, dnssec_ok, version, options)) = &spec.edns {
        let mut rdata = Vec::new();
        for (code, data) in options {
            rdata.extend_from_slice(&code.to_be_bytes());
            rdata.extend_from_slice(&(data.len() as u16).to_be_bytes());
            rdata.extend_from_slice(data);
        }
        out.extend_from_slice(&[0, 0, 41]);
        out.extend_from_slice(&payload.to_be_bytes());
        out.extend_from_slice(&[0, *version]);
        out.extend_from_slice(&(if *dnssec_ok { 0x8000u16 } else { 0 }).to_be_bytes());
        out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    (out, question_end)
}

fn handler(snapshot: &Arc<Snapshot>, server_max: u16, nsid: bool) -> DnsHandler {
    DnsHandler::new(
        Arc::new(ArcSwap::new(snapshot.clone())),
        server_max,
        Arc::new(Metrics::default()),
    )
    .with_nsid(nsid.then_some("prop-ns"))
}

fn sorted(records: &[Record]) -> Vec<String> {
    // Names compared without case: the fast path's records point into the
    // question (so owners and SRV targets take the client's case), hickory
    // writes the zone's. DNS names are case-insensitive; both are right.
    let mut out: Vec<String> = records
        .iter()
        .map(|r| format!("{r:?}").to_ascii_lowercase())
        .collect();
    out.sort();
    out
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn src() -> SocketAddr {
    "192.0.2.53:5353".parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn every_response_parses_echoes_and_fits(spec in spec()) {
        let snapshot = zone();
        let handler = handler(&snapshot, spec.server_max, spec.nsid);
        let transport = if spec.tcp { Transport::Tcp } else { Transport::Udp };
        let (packet, question_end) = encode(&spec);
        let rt = runtime();
        let response = rt
            .block_on(handle_bytes(&handler, packet.clone(), src(), transport))
            .expect("a query with a readable header must be answered");
        // A name over 255 octets (RFC 1035 §3.1) is no name: FORMERR,
        // whichever path looked at it first.
        if question_end - 12 - 4 > 255 {
            let m = Message::from_vec(&response).expect("FORMERR parses");
            prop_assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
            prop_assert_eq!(m.metadata.id, spec.id);
            return Ok(());
        }

        let m = Message::from_vec(&response)
            .unwrap_or_else(|e| panic!("unparseable response {response:02x?}: {e}"));
        prop_assert_eq!(m.metadata.id, spec.id);
        prop_assert_eq!(m.metadata.message_type, MessageType::Response);
        prop_assert_eq!(u8::from(m.metadata.op_code), spec.opcode);
        prop_assert!(!m.metadata.recursion_available, "RA set");
        prop_assert_eq!(m.metadata.recursion_desired, spec.flags.0);
        // The question, byte for byte (so the name's case too).
        prop_assert_eq!(u16::from_be_bytes([response[4], response[5]]), 1);
        prop_assert_eq!(&response[12..question_end], &packet[12..question_end]);
        // What the client can take.
        if transport == Transport::Udp {
            let limit = match &spec.edns {
                Some((payload, ..)) => (*payload).clamp(512, spec.server_max.max(512)),
                None => 512,
            };
            prop_assert!(
                response.len() <= usize::from(limit),
                "{} bytes for a client taking {}", response.len(), limit
            );
        }
        if m.metadata.truncation {
            prop_assert!(transport == Transport::Udp, "TC over TCP");
            prop_assert!(m.answers.is_empty() && m.authorities.is_empty());
            prop_assert!(m.additionals.is_empty());
        }
        match &spec.edns {
            Some(_) => prop_assert!(
                m.edns.is_some() || m.metadata.response_code == ResponseCode::FormErr,
                "an EDNS query answered without OPT"
            ),
            None => prop_assert!(m.edns.is_none(), "OPT without EDNS in the query"),
        }
        if let Some(edns) = &m.edns {
            prop_assert_eq!(edns.version(), 0);
            prop_assert_eq!(edns.flags().z, 0);
            let (_, dnssec_ok, ..) = spec.edns.as_ref().expect("OPT only when asked");
            prop_assert_eq!(edns.flags().dnssec_ok, *dnssec_ok);
        }

        // Where the fast path answers, the full handler agrees.
        let mut fast_out = Vec::new();
        let limit = (transport == Transport::Udp).then_some(handler.max_udp_payload());
        if let Outcome::Reply { .. } = fast::respond_advertising(&snapshot, &packet, &mut fast_out, limit, handler.max_udp_payload()) {
            let slow = rt
                .block_on(handle_bytes_slow(&handler, packet.clone(), src(), transport))
                .expect("the full handler is silent where the fast path answers");
            let (f, s) = (Message::from_vec(&fast_out).unwrap(), Message::from_vec(&slow).unwrap());
            prop_assert_eq!(f.metadata, s.metadata);
            prop_assert_eq!(sorted(&f.answers), sorted(&s.answers));
            prop_assert_eq!(sorted(&f.authorities), sorted(&s.authorities));
            prop_assert_eq!(sorted(&f.additionals), sorted(&s.additionals));
            prop_assert_eq!(f.edns, s.edns);
        }
    }

    #[test]
    fn mutated_and_random_bytes_get_silence_or_a_parseable_answer(
        spec in spec(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        random in prop::collection::vec(any::<u8>(), 0..300),
        use_random in any::<bool>(),
    ) {
        let snapshot = zone();
        let handler = handler(&snapshot, spec.server_max, spec.nsid);
        let transport = if spec.tcp { Transport::Tcp } else { Transport::Udp };
        let packet = if use_random {
            random
        } else {
            let (mut packet, _) = encode(&spec);
            for (at, byte) in flips {
                let i = at.index(packet.len());
                packet[i] = byte;
            }
            if cut.index(4) == 0 {
                packet.truncate(cut.index(packet.len() + 1));
            }
            packet
        };
        let rt = runtime();
        if let Some(response) = rt.block_on(handle_bytes(&handler, packet.clone(), src(), transport)) {
            prop_assert!(packet.len() >= 12, "a packet shorter than a header was answered");
            prop_assert_eq!(&response[..2], &packet[..2]);
            prop_assert!(response[2] & 0x80 != 0, "QR not set");
            let m = Message::from_vec(&response)
                .unwrap_or_else(|e| panic!("unparseable response {response:02x?}: {e}"));
            prop_assert!(!m.metadata.recursion_available);
            if transport == Transport::Udp {
                let limit = Message::from_vec(&packet)
                    .ok()
                    .and_then(|q| q.edns.map(|e| e.max_payload().clamp(512, spec.server_max.max(512))))
                    .unwrap_or(512);
                prop_assert!(response.len() <= usize::from(limit));
            }
        } else {
            // Silence only for what cannot be answered: no header, or a
            // response (QR set).
            prop_assert!(packet.len() < 12 || packet[2] & 0x80 != 0, "silence for {packet:02x?}");
        }
    }
}
