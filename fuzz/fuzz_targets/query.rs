//! The whole query path under libFuzzer: bytes in, bytes out.
//!
//! Each input builds a zone and asks it one packet. The zone is either the
//! walkthrough's (nginx-demo with two pods, a StatefulSet, an IPv6 and a
//! hostname-less endpoint) or one built from arbitrary model values —
//! Services, EndpointSlices, Endpoints, StatefulSets, zone settings — through
//! `ClusterIndex`, published once and then, after a random delay, again with
//! some objects deleted (so stable names and their grace window appear).
//!
//! Input layout: `flags(1) model_len(2, big-endian) model(model_len) packet`.
//! `flags`: bit 0 = arbitrary zone (else the demo), bit 1 = TCP (else UDP),
//! bit 2 = an NSID is configured, bits 4..7 pick the server's UDP maximum.
//!
//! What must hold, or the target panics:
//! - a response is at least a header, echoes the ID, has QR set, and parses;
//! - it echoes the question (name as sent, type, class) when it has one;
//! - over UDP it fits what the client offered (512 without EDNS; the EDNS
//!   size clamped to [512, server maximum] with it);
//! - when the fast path answers, the full hickory handler answers the same
//!   (header, sections, OPT), since tests and clients rely on both paths
//!   agreeing.

#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::{Result, Unstructured};
use arc_swap::ArcSwap;
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, OrdinalSet, PodRecords, Port, Protocol, Service,
    ServiceKind,
};
use headless_dns::server::cookie::Cookies;
use headless_dns::server::fast::{self, Outcome};
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::{handle_bytes, handle_bytes_slow};
use headless_dns::snapshot::ZoneSettings;
use hickory_proto::op::Message;
use hickory_proto::rr::{Name, Record};
use hickory_server::net::xfer::Protocol as Transport;
use libfuzzer_sys::fuzz_target;

const NAMESPACES: &[&str] = &["demo", "ns", "default"];
const SERVICES: &[&str] = &["nginx-demo", "web", "db", "svc"];
const HOSTS: &[&str] = &["web-demo-0", "web-demo-1", "web-0", "db-2", "a"];
const PORTS: &[&str] = &["web", "dns", "http", "x"];
const ZONES: &[&str] = &["cluster.local", "example", "a.very.long.zone.name.example"];
const UDP_MAXIMUM: [u16; 8] = [512, 1232, 1232, 1400, 1452, 4096, 8192, 65535];

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
}

/// A string from `pool` (so that names meet), now and then arbitrary text.
fn text(u: &mut Unstructured<'_>, pool: &[&str]) -> Result<Arc<str>> {
    if u.ratio(1, 8)? {
        let len = u.int_in_range(0..=70)?;
        let bytes = u.bytes(len)?;
        return Ok(String::from_utf8_lossy(bytes).into());
    }
    Ok((*u.choose(pool)?).into())
}

fn key(u: &mut Unstructured<'_>, names: &[&str]) -> Result<ObjectKey> {
    Ok(ObjectKey {
        namespace: text(u, NAMESPACES)?,
        name: text(u, names)?,
    })
}

fn ip(u: &mut Unstructured<'_>) -> Result<IpAddr> {
    Ok(match u.int_in_range(0..=3)? {
        0 => IpAddr::V4(Ipv4Addr::new(10, 244, 0, u.int_in_range(0..=7)?)),
        1 => IpAddr::V6(Ipv6Addr::new(
            0xfd00,
            0,
            0,
            0,
            0,
            0,
            0,
            u.int_in_range(0..=7)?,
        )),
        2 => IpAddr::V4(Ipv4Addr::from(u.arbitrary::<u32>()?)),
        _ => IpAddr::V6(Ipv6Addr::from(u.arbitrary::<u128>()?)),
    })
}

fn ports(u: &mut Unstructured<'_>) -> Result<Vec<Port>> {
    let mut ports = Vec::new();
    for _ in 0..u.int_in_range(0..=3)? {
        ports.push(Port {
            name: text(u, PORTS)?,
            protocol: *u.choose(&[Protocol::Tcp, Protocol::Udp, Protocol::Sctp])?,
            port: u.arbitrary()?,
        });
    }
    Ok(ports)
}

fn group(u: &mut Unstructured<'_>) -> Result<EndpointGroup> {
    let mut endpoints = Vec::new();
    for _ in 0..u.int_in_range(0..=6)? {
        let mut addresses = Vec::new();
        for _ in 0..u.int_in_range(0..=2)? {
            addresses.push(ip(u)?);
        }
        let hostname = if u.arbitrary()? {
            Some(text(u, HOSTS)?)
        } else {
            None
        };
        endpoints.push(Endpoint {
            addresses,
            target: hostname.clone(),
            hostname,
            ready: u.ratio(3, 4)?,
        });
    }
    Ok(EndpointGroup {
        key: key(u, SERVICES)?,
        service: key(u, SERVICES)?,
        ports: ports(u)?,
        endpoints,
    })
}

fn settings(u: &mut Unstructured<'_>) -> Result<ZoneSettings> {
    let zone = Name::from_ascii(u.choose(ZONES)?).unwrap().to_lowercase();
    let mut reverse_zones = vec![
        Name::from_ascii("in-addr.arpa.").unwrap(),
        Name::from_ascii("ip6.arpa.").unwrap(),
    ];
    if u.arbitrary()? {
        reverse_zones = vec![Name::from_ascii("10.in-addr.arpa.").unwrap()];
    }
    let mut nameserver_addresses = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        nameserver_addresses.push(ip(u)?);
    }
    Ok(ZoneSettings {
        nameserver: Name::from_ascii("ns.dns")
            .unwrap()
            .append_domain(&zone)
            .unwrap(),
        zone,
        reverse_zones,
        ttl: u.arbitrary()?,
        negative_ttl: u.arbitrary()?,
        nameserver_addresses,
        pod_records: match u.int_in_range(0..=2u8)? {
            0 => PodRecords::Disabled,
            1 => PodRecords::Insecure,
            _ => PodRecords::Verified,
        },
    })
}

/// A zone from arbitrary model values: one publish, then some deletes and
/// a second publish after a random delay.
fn arbitrary_index(u: &mut Unstructured<'_>, now: Instant) -> Result<ClusterIndex> {
    let settings = Arc::new(settings(u)?);
    let grace = Duration::from_secs(u.int_in_range(0..=60)?);
    let mut index = ClusterIndex::new(settings, grace);
    for _ in 0..u.int_in_range(0..=4)? {
        index.apply_service(Service {
            key: key(u, SERVICES)?,
            kind: match u.int_in_range(0..=7u8)? {
                0 => ServiceKind::ClusterIp(vec![IpAddr::V4([10, 96, 0, u.arbitrary()?].into())]),
                1 => ServiceKind::ExternalName(if u.arbitrary()? {
                    "web.demo.svc.cluster.local".into()
                } else {
                    "example.com".into()
                }),
                _ => ServiceKind::Headless,
            },
            publish_not_ready: u.arbitrary()?,
            ports: ports(u)?,
        });
    }
    let mut groups = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let g = group(u)?;
        groups.push((g.key.clone(), u.arbitrary::<bool>()?));
        if groups.last().is_some_and(|(_, legacy)| *legacy) {
            index.apply_endpoints(g);
        } else {
            index.apply_slice(g);
        }
    }
    let mut sets = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let set = OrdinalSet {
            key: key(u, &["web-demo", "web", "db"])?,
            service_name: text(u, SERVICES)?,
            // Kept small: every declared ordinal becomes a name in the
            // snapshot (see the report on large `replicas`).
            replicas: u.int_in_range(0..=8)?,
            start: u.int_in_range(0..=3)?,
        };
        sets.push(set.key.clone());
        index.apply_set(set);
    }
    index.set_synced(u.ratio(15, 16)?);
    index.publish(now);
    for (key, legacy) in &groups {
        if u.ratio(1, 3)? {
            if *legacy {
                index.delete_endpoints(key);
            } else {
                index.delete_slice(key);
            }
        }
    }
    for key in &sets {
        if u.ratio(1, 4)? {
            index.delete_set(key);
        }
    }
    index.publish(now + Duration::from_secs(u.int_in_range(0..=90)?));
    Ok(index)
}

/// The walkthrough's zone, plus the endpoint kinds the examples show.
fn demo_index(now: Instant) -> ClusterIndex {
    let zone = Name::from_ascii("cluster.local.").unwrap();
    let settings = Arc::new(ZoneSettings {
        nameserver: Name::from_ascii("ns.dns.cluster.local.").unwrap(),
        zone,
        reverse_zones: vec![
            Name::from_ascii("in-addr.arpa.").unwrap(),
            Name::from_ascii("ip6.arpa.").unwrap(),
        ],
        ttl: 5,
        negative_ttl: 5,
        nameserver_addresses: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        pod_records: PodRecords::Insecure,
    });
    let mut index = ClusterIndex::new(settings, Duration::from_secs(30));
    let web = Port {
        name: "web".into(),
        protocol: Protocol::Tcp,
        port: 80,
    };
    index.apply_service(Service {
        key: ObjectKey::new("demo", "nginx-demo"),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![web.clone()],
    });
    let ep = |ip: &str, host: Option<&str>, ready: bool| Endpoint {
        addresses: vec![ip.parse().unwrap()],
        hostname: host.map(Into::into),
        ready,
        target: host.map(Into::into),
    };
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "nginx-demo-abc"),
        service: ObjectKey::new("demo", "nginx-demo"),
        ports: vec![web],
        endpoints: vec![
            ep("10.244.0.39", Some("web-demo-0"), true),
            ep("10.244.0.40", Some("web-demo-1"), true),
            ep("fd00::7", Some("web-demo-1"), true),
            ep("10.244.0.41", None, true),
            ep("10.244.0.42", Some("web-demo-3"), false),
        ],
    });
    index.apply_set(OrdinalSet {
        key: ObjectKey::new("demo", "web-demo"),
        service_name: "nginx-demo".into(),
        replicas: 3,
        start: 0,
    });
    index.set_synced(true);
    index.publish(now);
    index
}

/// What the client offered: the UDP payload limit a response must respect.
fn udp_limit(query: &Message, server_max: u16) -> usize {
    let server_max = server_max.max(512);
    match &query.edns {
        Some(edns) => usize::from(edns.max_payload().clamp(512, server_max)),
        None => 512,
    }
}

fn question_text(message: &Message) -> Vec<(String, u16, u16)> {
    message
        .queries
        .iter()
        .map(|q| {
            (
                q.name().to_ascii(),
                u16::from(q.query_type()),
                u16::from(q.query_class()),
            )
        })
        .collect()
}

/// Record sets compared without order (both paths may order an RRset
/// differently; DNS does not define one).
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

fn check(query: &[u8], response: &[u8], transport: Transport, server_max: u16) -> Message {
    assert!(response.len() >= 12, "response shorter than a header");
    assert_eq!(response[..2], query[..2], "ID not echoed");
    assert!(response[2] & 0x80 != 0, "QR not set");
    let message = Message::from_vec(response)
        .unwrap_or_else(|e| panic!("unparseable response {response:02x?}: {e}"));
    let parsed_query = Message::from_vec(query).ok();
    if transport == Transport::Udp {
        let limit = parsed_query
            .as_ref()
            .map_or(512, |q| udp_limit(q, server_max));
        assert!(
            response.len() <= limit,
            "UDP response of {} bytes over the client's {limit}",
            response.len()
        );
    }
    if !message.queries.is_empty() {
        let query = parsed_query.expect("a question echoed from a query that does not parse");
        assert_eq!(
            question_text(&message),
            question_text(&query),
            "question not echoed"
        );
    }
    message
}

fn same_answer(fast: &Message, slow: &Message) {
    let (f, s) = (&fast.metadata, &slow.metadata);
    assert_eq!(f.id, s.id);
    assert_eq!(f.response_code, s.response_code, "rcode");
    assert_eq!(f.authoritative, s.authoritative, "AA");
    assert_eq!(f.truncation, s.truncation, "TC");
    assert_eq!(f.recursion_desired, s.recursion_desired, "RD");
    assert_eq!(f.recursion_available, s.recursion_available, "RA");
    assert_eq!(f.checking_disabled, s.checking_disabled, "CD");
    assert_eq!(question_text(fast), question_text(slow));
    assert_eq!(sorted(&fast.answers), sorted(&slow.answers), "answers");
    assert_eq!(
        sorted(&fast.authorities),
        sorted(&slow.authorities),
        "authority"
    );
    assert_eq!(
        sorted(&fast.additionals),
        sorted(&slow.additionals),
        "additional"
    );
    assert_eq!(fast.edns.is_some(), slow.edns.is_some(), "OPT");
    if let (Some(f), Some(s)) = (&fast.edns, &slow.edns) {
        assert_eq!(f.max_payload(), s.max_payload(), "OPT payload");
        assert_eq!(f.version(), s.version(), "OPT version");
        assert_eq!(f.flags().dnssec_ok, s.flags().dnssec_ok, "DO");
    }
}

fn run(data: &[u8]) -> Result<()> {
    let [flags, hi, lo, rest @ ..] = data else {
        return Ok(());
    };
    let model_len = usize::from(u16::from_be_bytes([*hi, *lo])).min(rest.len());
    let (model, packet) = rest.split_at(model_len);
    let now = Instant::now();
    let index = if flags & 1 == 1 {
        arbitrary_index(&mut Unstructured::new(model), now)?
    } else {
        demo_index(now)
    };
    let transport = if flags & 2 == 2 {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let server_max = UDP_MAXIMUM[usize::from(flags >> 4) % UDP_MAXIMUM.len()];
    let snapshot = Arc::new(index.snapshot().clone());
    let store = Arc::new(ArcSwap::new(snapshot.clone()));
    let handler = DnsHandler::new(store, server_max, Arc::new(Metrics::default()))
        .with_nsid((flags & 4 == 4).then_some("fuzz-ns-1"));
    handler.live().set_cookies(Cookies::with_secret([7; 16]));
    let src = SocketAddr::from(([192, 0, 2, 1], 5353));

    let (whole, slow) = RUNTIME.with(|rt| {
        rt.block_on(async {
            (
                handle_bytes(&handler, packet.to_vec(), src, transport).await,
                handle_bytes_slow(&handler, packet.to_vec(), src, transport).await,
            )
        })
    });
    let whole = whole.map(|r| check(packet, &r, transport, server_max));
    let slow = slow.map(|r| check(packet, &r, transport, server_max));

    let mut out = Vec::new();
    let limit = (transport == Transport::Udp).then_some(handler.max_udp_payload());
    match fast::respond_advertising(
        &snapshot,
        packet,
        &mut out,
        limit,
        handler.max_udp_payload(),
    ) {
        Outcome::Reply { .. } => {
            let fast = check(packet, &out, transport, server_max);
            let slow = slow.expect("the fast path answered what the full handler ignores");
            same_answer(&fast, &slow);
            let whole = whole.expect("handle_bytes is silent where the fast path answers");
            same_answer(&fast, &whole);
        }
        Outcome::Drop => assert!(whole.is_none(), "fast path drops, handle_bytes answers"),
        Outcome::Slow(_) => {}
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(data);
});
