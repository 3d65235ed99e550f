//! Malformed and unusual packets (DESIGN §1, "malformed packets never crash
//! the server"): every case has the response code it must get, or silence,
//! and is run twice — through `handle_bytes` with no socket (`handler.rs`),
//! and against the real binary over UDP, which must answer a normal query
//! right after each one (`binary.rs`). Also DNS cookies (RFC 7873/9018),
//! NSID (RFC 5001), no recursion ever, and the allocation bound for a header
//! that lies about its counts. This file builds packets by hand and judges
//! answers; `cases.rs` holds the cases.

#[path = "../support/mod.rs"]
mod support;

mod binary;
mod cases;
mod handler;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use hickory_proto::op::Message;
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

use cases::cases;

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
