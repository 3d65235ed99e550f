//! Acting as a secondary: AXFR and IXFR queries, reading a transfer off a
//! TCP connection as RFC 1995 §4 / RFC 5936 §2.2 frame it, and applying a
//! condensed IXFR to a zone held as record lines. Shared by
//! `tests/transfer/` and `tests/replicas.rs`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use headless_dns::transfer::export::record_line;
use headless_dns::transfer::serial_lt;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An AXFR for `zone`.
pub fn axfr(zone: &str) -> Message {
    let mut m = Message::new(0x5a5a, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii(zone).unwrap(),
        RecordType::AXFR,
    ));
    m
}

/// An IXFR for `zone` from `serial`: the client's SOA in the authority
/// section (RFC 1995 §3).
pub fn ixfr(zone: &str, serial: u32) -> Message {
    let mut m = Message::new(0x1a1a, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        Name::from_ascii(zone).unwrap(),
        RecordType::IXFR,
    ));
    m.add_authority(Record::from_rdata(
        Name::from_ascii(zone).unwrap(),
        0,
        RData::SOA(SOA::new(
            Name::from_ascii("ns.example.").unwrap(),
            Name::from_ascii("hostmaster.example.").unwrap(),
            serial,
            0,
            0,
            0,
            0,
        )),
    ));
    m
}

pub fn soa_serial(record: &Record) -> Option<u32> {
    match &record.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    }
}

/// Applies a condensed IXFR (RFC 1995 §4) to `zone` (lines without SOA),
/// checking its frame: SOA(to), SOA(from), deletions, SOA(to), additions,
/// SOA(to). Every deletion must be present, every addition absent.
pub fn apply_ixfr(zone: &mut BTreeSet<String>, records: &[Record], from: u32, to: u32) {
    let serials: Vec<Option<u32>> = records.iter().map(soa_serial).collect();
    assert_eq!(serials[0], Some(to), "first: the new SOA");
    assert_eq!(serials[1], Some(from), "second: the client's SOA");
    let middle = serials[2..]
        .iter()
        .position(|s| *s == Some(to))
        .expect("the new SOA between deletions and additions")
        + 2;
    assert_eq!(*serials.last().unwrap(), Some(to), "last: the new SOA");
    let deletions = &records[2..middle];
    let additions = &records[middle + 1..records.len() - 1];
    for record in deletions.iter().chain(additions) {
        assert_ne!(record.record_type(), RecordType::SOA, "{record}");
    }
    for record in deletions {
        assert!(
            zone.remove(&record_line(record)),
            "deleting absent {record}"
        );
    }
    for record in additions {
        assert!(zone.insert(record_line(record)), "adding present {record}");
    }
}

pub fn bytes(message: &Message) -> Vec<u8> {
    message.to_vec().unwrap()
}

/// Sends a transfer query over a new TCP connection and reads messages
/// until the transfer is complete (RFC 1995 §4 / RFC 5936 §2.2 framing), an
/// error rcode arrives, or 10 s pass (a failure).
pub async fn xfr(server: SocketAddr, query: &Message) -> Vec<Vec<u8>> {
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let body = bytes(query);
    let mut frame = (body.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await.unwrap();
    let client_serial = query.authorities.first().and_then(soa_serial);
    let mut raw = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    loop {
        let mut len = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut len))
            .await
            .expect("transfer stalled for 10 s")
            .expect("connection closed mid-transfer");
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut body).await.unwrap();
        let m = Message::from_vec(&body).unwrap();
        raw.push(body);
        if m.metadata.response_code != ResponseCode::NoError {
            return raw;
        }
        records.extend(m.answers);
        let Some(new) = records.first().and_then(soa_serial) else {
            continue;
        };
        let up_to_date = client_serial.is_some_and(|c| c == new || serial_lt(new, c));
        if records.len() == 1 && up_to_date {
            return raw;
        }
        let last_is_new = records.len() >= 2 && records.last().and_then(soa_serial) == Some(new);
        let incremental = records.len() >= 2 && records[1].record_type() == RecordType::SOA;
        let news = records
            .iter()
            .filter(|r| soa_serial(r) == Some(new))
            .count();
        if last_is_new && (!incremental || news == 3) {
            return raw;
        }
    }
}
