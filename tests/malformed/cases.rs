//! The malformed and unusual packets, each with what it must get: headers,
//! questions, opcodes, classes and types, EDNS (versions, options, cookies,
//! NSID), and packets that lie about their counts or lengths.

use super::*;

use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};

pub(super) fn cases() -> Vec<Case> {
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
