//! Malformed and unusual packets (DESIGN §1, "malformed packets never crash
//! the server"): every case has the response code it must get, or silence,
//! and is run twice — through `handle_bytes` with no socket, and against the
//! real binary over UDP, which must answer a normal query right after each
//! one. Also DNS cookies (RFC 7873/9018), NSID (RFC 5001), no recursion
//! ever, and the allocation bound for a header that lies about its counts.

mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use headless_dns::config::Config;
use headless_dns::index::ClusterIndex;
use headless_dns::metrics::Metrics;
use headless_dns::model::{
    Endpoint, EndpointGroup, ObjectKey, Port, Protocol, Service, ServiceKind,
};
use headless_dns::server::cookie::Cookies;
use headless_dns::server::handler::DnsHandler;
use headless_dns::server::packet::handle_bytes;
use headless_dns::snapshot::ZoneSettings;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_server::net::xfer::Protocol as Transport;
use support::server::Server;

/// Counts, per thread, the largest single allocation asked for, so a test
/// can bound what one packet makes the server allocate. (Test-only unsafe:
/// a global allocator has no safe form; it forwards to `System`.)
struct Largest;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = LARGEST.try_with(|l| l.set(l.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

const POD0: &str = "web-demo-0.nginx-demo.demo.svc.cluster.local";
const POD0_IP: &str = "10.244.0.39";
const NSID: &str = "test-ns-1";
const CLIENT_COOKIE: [u8; 8] = [0x24, 0x64, 0xc4, 0xab, 0xcf, 0x10, 0xc9, 0x57];

// --- packet building, by hand: most of these no library would write ---

fn name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn header(id: u16, flags: u16, qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    [id, flags, qd, an, ns, ar]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

fn question(qname: &str, qtype: u16, qclass: u16) -> Vec<u8> {
    let mut out = name(qname);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&qclass.to_be_bytes());
    out
}

/// An OPT record: payload, extended flags (DO = 0x8000), version, options.
fn opt(payload: u16, flags: u16, version: u8, options: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 41];
    out.extend_from_slice(&payload.to_be_bytes());
    out.extend_from_slice(&[0, version]);
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&(options.len() as u16).to_be_bytes());
    out.extend_from_slice(options);
    out
}

fn option(code: u16, data: &[u8]) -> Vec<u8> {
    let mut out = code.to_be_bytes().to_vec();
    out.extend_from_slice(&(data.len() as u16).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// A query for `qname`/`qtype` class IN with RD, and `opt` if given.
fn query(id: u16, qname: &str, qtype: u16, opt_record: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = header(id, 0x0100, 1, 0, 0, u16::from(opt_record.is_some()));
    out.extend(question(qname, qtype, 1));
    if let Some(o) = opt_record {
        out.extend(o);
    }
    out
}

fn with_flags(mut packet: Vec<u8>, flags: u16) -> Vec<u8> {
    packet[2..4].copy_from_slice(&flags.to_be_bytes());
    packet
}

// --- the cases ---

/// What a case must get.
#[derive(Clone, Copy)]
enum Expect {
    Silence,
    /// This response code (extended codes included: BADVERS is 16).
    Rcode(u16),
}

struct Case {
    name: String,
    packet: Vec<u8>,
    expect: Expect,
    /// Further checks on the response.
    check: Option<fn(&Message)>,
}

fn case(name: &str, packet: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.to_owned(),
        packet,
        expect,
        check: None,
    }
}

fn checked(name: &str, packet: Vec<u8>, expect: Expect, check: fn(&Message)) -> Case {
    Case {
        check: Some(check),
        ..case(name, packet, expect)
    }
}

const NOERROR: Expect = Expect::Rcode(0);
const FORMERR: Expect = Expect::Rcode(1);
const NXDOMAIN: Expect = Expect::Rcode(3);
const NOTIMP: Expect = Expect::Rcode(4);
const REFUSED: Expect = Expect::Rcode(5);
const BADVERS: Expect = Expect::Rcode(16);

fn answers_pod0(m: &Message) {
    assert_eq!(support::dns::addresses(&m.answers), [POD0_IP]);
    assert!(m.metadata.authoritative);
    assert!(!m.metadata.recursion_available, "RA set");
    assert!(!m.metadata.truncation);
}

fn cookie_of(m: &Message) -> Vec<u8> {
    let edns = m.edns.as_ref().expect("no OPT in the response");
    match edns.option(EdnsCode::Cookie) {
        Some(EdnsOption::Unknown(10, data)) => data.clone(),
        other => panic!("no COOKIE option in the response: {other:?}"),
    }
}

/// A client cookie gets itself back with a 16-byte version-1 server
/// cookie (RFC 9018) stamped now.
fn fresh_cookie(m: &Message) {
    let cookie = cookie_of(m);
    assert_eq!(cookie.len(), 24, "{cookie:02x?}");
    assert_eq!(cookie[..8], CLIENT_COOKIE);
    assert_eq!(cookie[8], 1, "server cookie version");
    assert_eq!(cookie[9..12], [0, 0, 0], "reserved bytes");
    let stamped = u32::from_be_bytes(cookie[12..16].try_into().unwrap());
    let now = headless_dns::server::cookie::unix_now();
    assert!(
        now.abs_diff(stamped) < 600,
        "timestamp {stamped}, now {now}"
    );
}

fn no_cookie_no_nsid(m: &Message) {
    let edns = m.edns.as_ref().expect("OPT answered with OPT");
    assert!(edns.option(EdnsCode::Cookie).is_none());
    assert!(edns.option(EdnsCode::NSID).is_none());
    assert_eq!(edns.options().options.len(), 0, "{:?}", edns.options());
}

fn cases() -> Vec<Case> {
    let pod = |id| query(id, POD0, 1, None);
    let mut cases = vec![
        case("empty datagram", vec![], Expect::Silence),
        case("one byte", vec![0x42], Expect::Silence),
        case("eleven bytes", vec![0x42; 11], Expect::Silence),
        case(
            "header only, QDCOUNT 1",
            header(0x100, 0x0100, 1, 0, 0, 0),
            FORMERR,
        ),
        case("QDCOUNT 0", header(0x101, 0x0100, 0, 0, 0, 0), FORMERR),
        case(
            "QDCOUNT 2",
            {
                let mut p = header(0x102, 0x0100, 2, 0, 0, 0);
                p.extend(question(POD0, 1, 1));
                p.extend(question("nginx-demo.demo.svc.cluster.local", 1, 1));
                p
            },
            FORMERR,
        ),
        case(
            "QDCOUNT 65535 in 12 bytes",
            header(0x103, 0x0100, 65535, 0, 0, 0),
            FORMERR,
        ),
        case(
            "ARCOUNT 65535 with one question",
            {
                let mut p = header(0x104, 0x0100, 1, 0, 0, 65535);
                p.extend(question(POD0, 1, 1));
                p
            },
            FORMERR,
        ),
        case(
            "compression pointer to itself",
            {
                let mut p = header(0x105, 0x0100, 1, 0, 0, 0);
                p.extend([0xc0, 12, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            "compression pointer loop of two",
            {
                let mut p = header(0x106, 0x0100, 1, 0, 0, 0);
                // 12: "a" then a pointer to 16; 16: "b" then a pointer to 12.
                p.extend([1, b'a', 0xc0, 16, 1, b'b', 0xc0, 12, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            "forward compression pointer",
            {
                let mut p = header(0x107, 0x0100, 1, 0, 0, 0);
                p.extend([0xc0, 18, 0, 1, 0, 1, 3, b'c', b'o', b'm', 0]);
                p
            },
            FORMERR,
        ),
        case(
            // The fuzzer's find: hickory echoed the question's raw bytes,
            // whose pointer then read the response's header instead.
            "compression pointer into the header",
            {
                let mut p = header(0x134, 0x0100, 1, 0, 0, 0);
                p.extend([4, b'd', b'e', b'm', b'o', 0xc0, 3, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            "compression pointer to the flags (a reserved label type in the response)",
            {
                let mut p = header(0x135, 0x0100, 1, 0, 0, 0);
                p.extend([1, b'a', 0xc0, 2, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            // The transfer fuzz target's find: the same through the second
            // of two questions, echoed in the FORMERR for QDCOUNT 2.
            "two questions, the second pointing into the header",
            {
                let mut p = header(0x136, 0x0100, 2, 0, 0, 0);
                p.extend(question(POD0, 1, 1));
                p.extend([0xc0, 2, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            "pointer past the end",
            {
                let mut p = header(0x108, 0x0100, 1, 0, 0, 0);
                p.extend([0xc3, 0xff, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            "label length 64 (reserved label type)",
            {
                let mut p = header(0x109, 0x0100, 1, 0, 0, 0);
                p.push(64);
                p.extend([b'x'; 64]);
                p.extend([0, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            "name over 255 bytes",
            {
                let mut p = header(0x10a, 0x0100, 1, 0, 0, 0);
                for _ in 0..5 {
                    p.push(63);
                    p.extend([b'y'; 63]);
                }
                p.extend([0, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            // The fuzzer's second find: the fast path counted only label
            // data against the limit and answered this one.
            "name of 256 octets, one over",
            {
                let mut p = header(0x136, 0x0100, 1, 0, 0, 0);
                for len in [63, 63, 63, 62] {
                    p.push(len);
                    p.extend(std::iter::repeat_n(b'z', usize::from(len)));
                }
                p.extend([0, 0, 1, 0, 1]);
                p
            },
            FORMERR,
        ),
        case(
            "name of 255 octets, the most there is",
            {
                let mut p = header(0x137, 0x0100, 1, 0, 0, 0);
                for len in [63, 63, 63, 61] {
                    p.push(len);
                    p.extend(std::iter::repeat_n(b'z', usize::from(len)));
                }
                p.extend([0, 0, 1, 0, 1]);
                p
            },
            REFUSED,
        ),
        case(
            "name without its terminating root label",
            {
                let mut p = header(0x10b, 0x0100, 1, 0, 0, 0);
                p.extend([3, b'w', b'e', b'b']);
                p
            },
            FORMERR,
        ),
        case(
            "question cut before its class",
            {
                let mut p = pod(0x10c);
                p.truncate(p.len() - 2);
                p
            },
            FORMERR,
        ),
        case(
            "class CHAOS",
            {
                let mut p = header(0x10d, 0, 1, 0, 0, 0);
                p.extend(question("version.bind", 16, 3));
                p
            },
            REFUSED,
        ),
        case(
            "unknown class 1234",
            {
                let mut p = header(0x10e, 0, 1, 0, 0, 0);
                p.extend(question(POD0, 1, 1234));
                p
            },
            REFUSED,
        ),
        case(
            "class ANY",
            {
                let mut p = header(0x10f, 0, 1, 0, 0, 0);
                p.extend(question(POD0, 1, 255));
                p
            },
            REFUSED,
        ),
        checked("type 0", query(0x110, POD0, 0, None), NOERROR, |m| {
            assert!(m.answers.is_empty(), "{:?}", m.answers);
        }),
        checked("type ANY", query(0x111, POD0, 255, None), NOERROR, |m| {
            assert!(!m.answers.is_empty());
            assert!(m.metadata.authoritative);
        }),
        checked(
            "unknown type 65000",
            query(0x112, POD0, 65000, None),
            NOERROR,
            |m| {
                assert!(m.answers.is_empty());
                assert_eq!(m.authorities.len(), 1, "SOA in authority");
            },
        ),
        case(
            "OPT as the query type",
            query(0x113, POD0, 41, None),
            FORMERR,
        ),
        case(
            "QR set on a query",
            with_flags(pod(0x114), 0x8100),
            Expect::Silence,
        ),
        case(
            "QR set, with an answer",
            {
                let mut p = header(0x115, 0x8400, 1, 1, 0, 0);
                p.extend(question(POD0, 1, 1));
                p.extend([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1]);
                p
            },
            Expect::Silence,
        ),
        checked(
            "TC set on a query",
            with_flags(pod(0x116), 0x0300),
            NOERROR,
            answers_pod0,
        ),
        checked(
            "Z bit set on a query",
            with_flags(pod(0x117), 0x0140),
            NOERROR,
            answers_pod0,
        ),
        case(
            "OPT cut short",
            {
                let mut p = query(0x118, POD0, 1, Some(opt(1232, 0, 0, &[])));
                p.truncate(p.len() - 5);
                p
            },
            FORMERR,
        ),
        case(
            "OPT RDLENGTH past the end",
            {
                let mut p = query(0x119, POD0, 1, Some(opt(1232, 0, 0, &[])));
                let at = p.len() - 2;
                p[at..].copy_from_slice(&40u16.to_be_bytes());
                p
            },
            FORMERR,
        ),
        case(
            "two OPT records",
            {
                let mut p = header(0x11a, 0x0100, 1, 0, 0, 2);
                p.extend(question(POD0, 1, 1));
                p.extend(opt(1232, 0, 0, &[]));
                p.extend(opt(1232, 0, 0, &[]));
                p
            },
            FORMERR,
        ),
        case(
            "OPT in the answer section",
            {
                let mut p = header(0x11b, 0x0100, 1, 1, 0, 0);
                p.extend(question(POD0, 1, 1));
                p.extend(opt(1232, 0, 0, &[]));
                p
            },
            FORMERR,
        ),
        checked(
            "EDNS version 1",
            query(0x11c, POD0, 1, Some(opt(1232, 0, 1, &[]))),
            BADVERS,
            |m| {
                assert!(m.answers.is_empty());
                assert_eq!(m.edns.as_ref().expect("OPT").version(), 0);
            },
        ),
        checked(
            "EDNS version 255",
            query(0x11d, POD0, 1, Some(opt(1232, 0, 255, &[]))),
            BADVERS,
            |m| assert_eq!(m.edns.as_ref().expect("OPT").version(), 0),
        ),
        checked(
            "unknown EDNS option",
            query(
                0x11e,
                POD0,
                1,
                Some(opt(1232, 0, 0, &option(65001, b"whatever"))),
            ),
            NOERROR,
            |m| {
                answers_pod0(m);
                no_cookie_no_nsid(m);
            },
        ),
        checked(
            "unknown EDNS flags",
            query(0x11f, POD0, 1, Some(opt(1232, 0x7fff, 0, &[]))),
            NOERROR,
            |m| {
                answers_pod0(m);
                let flags = m.edns.as_ref().expect("OPT").flags();
                assert_eq!(flags.z, 0, "unknown flags echoed");
                assert!(!flags.dnssec_ok);
            },
        ),
        checked(
            "DO bit",
            query(0x120, POD0, 1, Some(opt(1232, 0x8000, 0, &[]))),
            NOERROR,
            |m| {
                answers_pod0(m);
                assert!(
                    m.edns.as_ref().expect("OPT").flags().dnssec_ok,
                    "DO not copied"
                );
            },
        ),
        checked(
            "EDNS payload below 512",
            query(0x121, POD0, 1, Some(opt(100, 0, 0, &[]))),
            NOERROR,
            answers_pod0,
        ),
        case(
            "malformed client subnet option",
            query(0x122, POD0, 1, Some(opt(1232, 0, 0, &option(8, &[0, 9])))),
            FORMERR,
        ),
        checked(
            "client cookie",
            query(
                0x123,
                POD0,
                1,
                Some(opt(1232, 0, 0, &option(10, &CLIENT_COOKIE))),
            ),
            NOERROR,
            |m| {
                answers_pod0(m);
                fresh_cookie(m);
            },
        ),
        checked(
            "bad server cookie",
            query(
                0x124,
                POD0,
                1,
                Some(opt(
                    1232,
                    0,
                    0,
                    &option(10, &[CLIENT_COOKIE.as_slice(), &[0x5a; 16]].concat()),
                )),
            ),
            NOERROR,
            |m| {
                answers_pod0(m);
                fresh_cookie(m);
            },
        ),
        checked(
            "server cookie of 32 bytes (the longest)",
            query(
                0x125,
                POD0,
                1,
                Some(opt(
                    1232,
                    0,
                    0,
                    &option(10, &[CLIENT_COOKIE.as_slice(), &[1; 32]].concat()),
                )),
            ),
            NOERROR,
            fresh_cookie,
        ),
        case(
            "cookie of 5 bytes",
            query(0x126, POD0, 1, Some(opt(1232, 0, 0, &option(10, &[1; 5])))),
            FORMERR,
        ),
        case(
            "cookie of 12 bytes",
            query(0x127, POD0, 1, Some(opt(1232, 0, 0, &option(10, &[1; 12])))),
            FORMERR,
        ),
        case(
            "cookie of 41 bytes",
            query(0x128, POD0, 1, Some(opt(1232, 0, 0, &option(10, &[1; 41])))),
            FORMERR,
        ),
        checked(
            "two cookies: the first counts",
            query(
                0x129,
                POD0,
                1,
                Some(opt(
                    1232,
                    0,
                    0,
                    &[option(10, &CLIENT_COOKIE), option(10, &[9; 5])].concat(),
                )),
            ),
            NOERROR,
            fresh_cookie,
        ),
        checked(
            "QDCOUNT 0 with a cookie: the cookie alone",
            {
                let mut p = header(0x12a, 0, 0, 0, 0, 1);
                p.extend(opt(1232, 0, 0, &option(10, &CLIENT_COOKIE)));
                p
            },
            NOERROR,
            |m| {
                assert!(m.queries.is_empty());
                assert!(m.answers.is_empty());
                fresh_cookie(m);
            },
        ),
        checked(
            "NSID",
            query(0x12b, POD0, 1, Some(opt(1232, 0, 0, &option(3, &[])))),
            NOERROR,
            |m| {
                answers_pod0(m);
                let edns = m.edns.as_ref().expect("OPT");
                match edns.option(EdnsCode::NSID) {
                    Some(EdnsOption::NSID(id)) => assert_eq!(id.as_ref(), NSID.as_bytes()),
                    other => panic!("no NSID: {other:?}"),
                }
            },
        ),
        checked(
            "NSID and a cookie together",
            query(
                0x12c,
                POD0,
                1,
                Some(opt(
                    1232,
                    0,
                    0,
                    &[option(3, &[]), option(10, &CLIENT_COOKIE)].concat(),
                )),
            ),
            NOERROR,
            |m| {
                fresh_cookie(m);
                assert!(m.edns.as_ref().unwrap().option(EdnsCode::NSID).is_some());
            },
        ),
        checked(
            "recursion desired outside the zone",
            query(0x12d, "example.com", 1, None),
            REFUSED,
            |m| {
                assert!(!m.metadata.recursion_available, "RA set");
                assert!(!m.metadata.authoritative);
                assert!(m.answers.is_empty());
            },
        ),
        checked(
            "recursion desired in the zone",
            query(0x12e, POD0, 1, None),
            NOERROR,
            |m| {
                answers_pod0(m);
                assert!(m.metadata.recursion_desired, "RD not copied");
            },
        ),
        case(
            "AXFR over UDP",
            query(0x12f, "cluster.local", 252, None),
            REFUSED,
        ),
        case(
            "IXFR over UDP from a source no ACL allows",
            query(0x130, "cluster.local", 251, None),
            REFUSED,
        ),
        case(
            "a name under the zone that is not there",
            query(0x131, "x.nginx-demo.demo.svc.cluster.local", 1, None),
            NXDOMAIN,
        ),
        checked(
            "trailing bytes after the question",
            {
                let mut p = pod(0x132);
                p.extend([0xde, 0xad, 0xbe, 0xef]);
                p
            },
            NOERROR,
            answers_pod0,
        ),
        checked(
            "name case is echoed",
            query(
                0x133,
                "WEB-demo-0.NGINX-demo.demo.svc.Cluster.Local",
                1,
                None,
            ),
            NOERROR,
            |m| {
                assert_eq!(
                    m.queries[0].name().to_ascii(),
                    "WEB-demo-0.NGINX-demo.demo.svc.Cluster.Local."
                );
                assert_eq!(support::dns::addresses(&m.answers), [POD0_IP]);
            },
        ),
    ];
    for opcode in 1..=15u16 {
        let flags = 0x0100 | (opcode << 11);
        cases.push(case(
            &format!("opcode {opcode}"),
            with_flags(pod(0x200 + opcode), flags),
            NOTIMP,
        ));
    }
    cases
}

/// The full response code of a message, extended bits included.
fn rcode(m: &Message) -> u16 {
    u16::from(m.metadata.response_code)
}

fn judge(case: &Case, response: Option<&[u8]>, how: &str) {
    match (case.expect, response) {
        (Expect::Silence, None) => {}
        (Expect::Silence, Some(r)) => panic!("{how}: {}: answered {r:02x?}", case.name),
        (Expect::Rcode(want), None) => {
            panic!("{how}: {}: silence, wanted rcode {want}", case.name)
        }
        (Expect::Rcode(want), Some(bytes)) => {
            assert_eq!(bytes[..2], case.packet[..2], "{how}: {}: ID", case.name);
            let m = Message::from_vec(bytes)
                .unwrap_or_else(|e| panic!("{how}: {}: unparseable {bytes:02x?}: {e}", case.name));
            assert!(
                m.metadata.message_type == hickory_proto::op::MessageType::Response,
                "{how}: {}: QR not set",
                case.name
            );
            assert!(!m.metadata.recursion_available, "{how}: {}: RA", case.name);
            assert_eq!(rcode(&m), want, "{how}: {}: {m:?}", case.name);
            if let Some(check) = case.check {
                check(&m);
            }
        }
    }
}

// --- without sockets ---

fn settings() -> Arc<ZoneSettings> {
    let config = Config::from_str(
        "source: {embedded: {manifests: [x]}}\n",
        Path::new("test.yaml"),
    )
    .unwrap();
    Arc::new(headless_dns::app::settings::zone_settings(&config))
}

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
    DnsHandler::new(
        Arc::new(ArcSwap::from_pointee(snapshot)),
        1232,
        Arc::new(Metrics::default()),
    )
    .with_nsid(nsid)
    .with_cookies(Cookies::with_secret([7; 16]))
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

// --- against the real binary ---

fn config_with_nsid() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples");
    let config = dir.path().join("malformed.yaml");
    std::fs::write(
        &config,
        format!(
            "dns:\n  nsid: {NSID}\nsource:\n  embedded:\n    manifests: [{:?}]\n",
            examples.display().to_string()
        ),
    )
    .unwrap();
    (dir, config)
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
