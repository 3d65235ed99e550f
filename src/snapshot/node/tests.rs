//! Sealing and decoding a name's records: what goes in reads back, the
//! header finds each slot, owners near the question point at what they
//! share, and owners at the question keep the asker's case.

use super::*;
use hickory_proto::rr::RData;
use hickory_proto::rr::rdata::{A, SRV};

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

#[test]
fn sealed_records_decode_to_what_went_in() {
    let owner = name("_web._tcp.db.demo.svc.cluster.local.");
    let target = name("db-0.db.demo.svc.cluster.local.");
    let srv = Record::from_rdata(
        owner.clone(),
        5,
        RData::SRV(SRV::new(0, 100, 80, target.clone())),
    );
    let address = Record::from_rdata(target.clone(), 5, RData::A(A::new(10, 0, 0, 1)));
    let node = NodeRecords {
        srv: vec![srv.clone()],
        srv_additional: vec![address.clone()],
        ..NodeRecords::default()
    }
    .seal();
    let node = node.view();
    assert_eq!(node.records(&owner), vec![srv]);
    assert_eq!(node.srv_additional().records(&owner), vec![address]);
    assert!(node.a().is_empty());
    assert_eq!(node.record_count(), 1);
}

#[test]
fn owners_at_the_question_keep_the_askers_case() {
    // Decoded for the slow path, an owner stored as a pointer to the
    // question is the question as asked, byte for byte, as the fast
    // path's copied answer is; so is an SRV target compressed into it.
    let owner = name("_web._tcp.db.demo.svc.cluster.local.");
    let srv = Record::from_rdata(
        owner.clone(),
        5,
        RData::SRV(SRV::new(
            0,
            100,
            80,
            name("db-0.db.demo.svc.cluster.local."),
        )),
    );
    let node = NodeRecords {
        srv: vec![srv],
        ..NodeRecords::default()
    }
    .seal();
    let node = node.view();
    let asked = name("_WeB._tcp.Db.demo.SVC.cluster.local.");
    let records = node.records(&asked);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].name.to_ascii(), asked.to_ascii());
    let RData::SRV(srv) = &records[0].data else {
        panic!("not SRV: {:?}", records[0]);
    };
    assert_eq!(srv.target.to_ascii(), "db-0.Db.demo.SVC.cluster.local.");
}

#[test]
fn the_header_finds_each_slot_the_key_and_the_stable_flag() {
    let owner = name("web-0.db.demo.svc.cluster.local.");
    let a = |n: u8| Record::from_rdata(owner.clone(), 5, RData::A(A::new(10, 0, 0, n)));
    let txt = Record::from_rdata(
        owner.clone(),
        5,
        RData::TXT(hickory_proto::rr::rdata::TXT::new(vec!["x".into()])),
    );
    let node = NodeRecords {
        a: vec![a(1), a(2)],
        txt: vec![txt.clone()],
        stable: true,
        ..NodeRecords::default()
    }
    .seal_as("web-0");
    let node = node.view();
    assert_eq!(node.key(), "web-0");
    assert!(node.stable());
    assert_eq!(node.a().len(), 2);
    assert_eq!(node.a().records(&owner), vec![a(1), a(2)]);
    assert!(node.aaaa().is_empty() && node.srv().is_empty());
    assert!(node.srv_additional().is_empty());
    assert_eq!(node.txt().records(&owner), vec![txt]);
    assert_eq!(node.record_count(), 3);
    let plain = NodeRecords {
        a: vec![a(3)],
        ..NodeRecords::default()
    }
    .seal_as("web-1");
    let plain = plain.view();
    assert!(!plain.stable());
    assert_eq!(plain.key(), "web-1");
    assert_eq!(plain.a().records(&owner), vec![a(3)]);
}

#[test]
fn names_near_the_question_point_at_what_they_share() {
    let question = name("_web._tcp.db.demo.svc.cluster.local.");
    for (text, written) in [
        // The shared `db.demo.svc.cluster.local.` starts after
        // `_web` and `_tcp`: offset 12 + 5 + 5.
        ("db-0.db.demo.svc.cluster.local.", &b"\x04db-0\xc0\x16"[..]),
        ("_WEB._TCP.db.demo.svc.cluster.local.", &b"\xc0\x0c"[..]),
        ("local.", &b"\xc0\x2a"[..]),
        ("example.org.", &b"\x07example\x03org\x00"[..]),
    ] {
        let mut out = Vec::new();
        write_name_near(&name(text), &question, &mut out);
        assert_eq!(out, written, "{text}");
        // And it reads back as the name, behind the question.
        let mut message = vec![0u8; 12];
        push_labels(&question, &mut message, |b| *b);
        let start = message.len();
        message.extend_from_slice(&out);
        let mut decoder = BinDecoder::new(&message);
        decoder.read_slice(start).unwrap();
        let read = Name::read(&mut decoder).unwrap();
        assert_eq!(read.to_lowercase(), name(text).to_lowercase(), "{text}");
    }
}

#[test]
fn an_empty_node_is_empty() {
    let node = NodeRecords::default().seal();
    let node = node.view();
    assert!(node.is_empty());
    assert!(node.records(&name("x.cluster.local.")).is_empty());
}
