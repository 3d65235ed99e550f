//! Tests of the packet peeks (`wire.rs`): the one walk against the reads it replaced, as oracles, over cut, mutated and random packets.

use hickory_proto::op::{Message, OpCode, Query};

use super::*;

fn raw(name: &str, qtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(7, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(
        hickory_proto::rr::Name::from_ascii(name).unwrap(),
        qtype,
    ));
    m.to_vec().unwrap()
}

#[test]
fn transfer_type_peeks_at_the_question() {
    assert_eq!(
        transfer_type(&raw("cluster.local.", RecordType::AXFR)),
        Some(RecordType::AXFR)
    );
    assert_eq!(
        transfer_type(&raw("Cluster.Local.", RecordType::IXFR)),
        Some(RecordType::IXFR)
    );
    assert_eq!(transfer_type(&raw("cluster.local.", RecordType::SOA)), None);
    assert_eq!(transfer_type(&raw(".", RecordType::A)), None);
    // Responses, other opcodes, truncated packets, two questions: no.
    let mut response = raw("cluster.local.", RecordType::AXFR);
    response[2] |= 0x80;
    assert_eq!(transfer_type(&response), None);
    let mut notify = raw("cluster.local.", RecordType::AXFR);
    notify[2] |= 4 << 3;
    assert_eq!(transfer_type(&notify), None);
    let full = raw("cluster.local.", RecordType::AXFR);
    for cut in 0..full.len() {
        assert_eq!(transfer_type(&full[..cut]), None, "cut at {cut}");
    }
    let mut two = full.clone();
    two[5] = 2;
    assert_eq!(transfer_type(&two), None);
}

#[test]
fn walk_finds_every_record_and_stops_on_a_cut() {
    let mut m = Message::new(9, MessageType::Response, OpCode::Query);
    m.add_query(Query::query(
        hickory_proto::rr::Name::from_ascii("a.cluster.local.").unwrap(),
        RecordType::A,
    ));
    for last in [1u8, 2] {
        m.add_answer(hickory_proto::rr::Record::from_rdata(
            hickory_proto::rr::Name::from_ascii("a.cluster.local.").unwrap(),
            5,
            hickory_proto::rr::RData::A(std::net::Ipv4Addr::new(10, 0, 0, last).into()),
        ));
    }
    let mut edns = hickory_proto::op::Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    m.set_edns(edns);
    let bytes = m.to_vec().unwrap();
    let mut seen = Vec::new();
    let question_end = walk(&bytes, |i, _, rtype, _| seen.push((i, rtype))).unwrap();
    assert_eq!(question_end, HEADER + "a.cluster.local.".len() + 1 + 4);
    assert_eq!(seen, [(0, 1), (1, 1), (2, OPT)]);
    let (_, opt) = layout(&bytes).unwrap();
    assert_eq!(opt, Some((bytes.len() - 11, bytes.len())));
    assert_eq!(old_last_additional(&bytes), Some((bytes.len() - 11, OPT)));
    let last = peek(&bytes).last_additional();
    assert_eq!(
        last,
        Some(LastRecord {
            start: bytes.len() - 11,
            rtype: OPT,
            tsig_before: false,
        })
    );
    assert_eq!(extended_rcode(&bytes), 0);
    for cut in 0..bytes.len() {
        assert_eq!(layout(&bytes[..cut]), None, "cut at {cut}");
    }
}

#[test]
fn format_error_answers_queries_only() {
    let query = raw("x.cluster.local.", RecordType::A);
    let reply = format_error(&query).unwrap();
    assert_eq!(reply.len(), HEADER);
    assert_eq!(reply[..2], query[..2], "same ID");
    assert_eq!(reply[3] & 0x0f, 1, "FORMERR");
    let mut response = query.clone();
    response[2] |= 0x80;
    assert_eq!(format_error(&response), None);
    assert_eq!(format_error(&query[..11]), None);
}

fn peek(packet: &[u8]) -> Peek {
    Peek::read(packet, |_| ()).expect("a header")
}

#[test]
fn counts_that_cannot_fit_and_pointers_that_do_not_point_back() {
    let mut header = vec![0u8; HEADER];
    header[4..6].copy_from_slice(&u16::MAX.to_be_bytes());
    assert!(!peek(&header).counts_fit());
    assert!(peek(&raw("x.", RecordType::A)).counts_fit());
    // One question whose name is a pointer into the header.
    let mut pointing = vec![0u8; HEADER];
    pointing[5] = 1;
    pointing.extend_from_slice(&[0xc0, 2, 0, 1, 0, 1]);
    assert!(peek(&pointing).bad_pointer());
    assert!(!peek(&raw("x.cluster.local.", RecordType::A)).bad_pointer());
    assert_eq!(Peek::read(&header[..11], |_| ()), None);
}

#[test]
fn the_walk_hands_over_the_first_name_label_by_label() {
    let packet = raw("Web-0.Nginx.cluster.local.", RecordType::AAAA);
    let mut labels = Vec::new();
    let peek = Peek::read(&packet, |label| labels.push(label.to_vec())).unwrap();
    assert_eq!(
        labels,
        [&b"Web-0"[..], b"Nginx", b"cluster", b"local"].map(<[u8]>::to_vec)
    );
    let first = peek.first().unwrap();
    assert_eq!((first.qtype, first.qclass), (28, 1));
    assert_eq!(first.end, packet.len());
    assert_eq!(peek.counts(), [1, 0, 0, 0]);
    assert!(!peek.is_response() && peek.opcode() == 0);
}

// The four separate reads the one walk replaced, kept as they were
// to hold the walk to them.

/// `wire::last_additional`, which `tsig::check` called for a walk of
/// its own.
fn old_last_additional(packet: &[u8]) -> Option<(usize, u16)> {
    if packet.get(..HEADER).is_none_or(|_| count(packet, 10) == 0) {
        return None;
    }
    let mut last = None;
    walk(packet, |_, start, rtype, _| last = Some((start, rtype)))?;
    last
}

fn count_at(raw: &[u8], offset: usize) -> usize {
    usize::from(u16::from_be_bytes([raw[offset], raw[offset + 1]]))
}

fn old_counts_fit(raw: &[u8]) -> bool {
    if raw.len() < HEADER {
        return true;
    }
    count_at(raw, 4) * 5 + (count_at(raw, 6) + count_at(raw, 8) + count_at(raw, 10)) * 11
        <= raw.len() - HEADER
}

fn old_question_points_back(raw: &[u8]) -> bool {
    if raw.len() < HEADER {
        return false;
    }
    let mut pos = HEADER;
    for _ in 0..count_at(raw, 4) {
        loop {
            let Some(&len) = raw.get(pos) else {
                return false;
            };
            match len {
                0 => {
                    pos += 1;
                    break;
                }
                0xc0..=0xff => {
                    let Some(&low) = raw.get(pos + 1) else {
                        return false;
                    };
                    let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                    if target < HEADER || target >= pos {
                        return true;
                    }
                    pos += 2;
                    break;
                }
                _ => pos += 1 + usize::from(len),
            }
        }
        pos += 4;
    }
    false
}

fn old_transfer_type(raw: &[u8]) -> Option<RecordType> {
    let header = raw.get(..HEADER)?;
    let query = header[2] & 0x80 == 0;
    let opcode = (header[2] >> 3) & 0x0f;
    if !query || opcode != 0 || count_at(raw, 4) != 1 {
        return None;
    }
    let mut at = HEADER;
    loop {
        let len = usize::from(*raw.get(at)?);
        at += 1;
        match len {
            0 => break,
            l if l & 0xc0 != 0 => return None,
            l => at += l,
        }
    }
    raw.get(at + 3)?;
    match u16::from_be_bytes([raw[at], raw[at + 1]]) {
        251 => Some(RecordType::IXFR),
        252 => Some(RecordType::AXFR),
        _ => None,
    }
}

/// Appends a record to `packet` and counts it in the header's count
/// at `count` (6 AN, 8 NS, 10 AR).
fn add_record(packet: &mut Vec<u8>, count: usize, owner: &[u8], rtype: u16, rdata: &[u8]) {
    let n = u16::from_be_bytes([packet[count], packet[count + 1]]) + 1;
    packet[count..count + 2].copy_from_slice(&n.to_be_bytes());
    packet.extend_from_slice(owner);
    packet.extend_from_slice(&rtype.to_be_bytes());
    packet.extend_from_slice(&[0, 1, 0, 0, 0, 5]);
    packet.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    packet.extend_from_slice(rdata);
}

/// Seeds, each cut at every length and changed at every byte to values
/// that matter to a name walk, then random bytes: the one walk says
/// what the four reads said, on every packet (where a TSIG would be:
/// on every packet whose question pointers point back; the server
/// answers the others FORMERR before it looks for one).
#[test]
fn one_walk_agrees_with_the_four_reads_it_replaced() {
    let mut two = raw("a.cluster.local.", RecordType::A);
    two[5] = 2;
    two.extend_from_slice(&[1, b'b', 0xc0, 14, 0, 1, 0, 1]);
    let mut reserved = raw("a.cluster.local.", RecordType::AXFR);
    reserved[12] = 0x41;
    // A query with an OPT and a (made-up) TSIG after it.
    let mut signed = raw("cluster.local.", RecordType::AXFR);
    add_record(&mut signed, 10, &[0], OPT, &[]);
    add_record(&mut signed, 10, &[3, b'x', b'f', b'r', 0], 250, &[7; 20]);
    // An IXFR with its SOA in the authority section, owner compressed,
    // and a record in every section.
    let mut sections = raw("cluster.local.", RecordType::IXFR);
    add_record(&mut sections, 6, &[0xc0, 12], 1, &[10, 0, 0, 1]);
    add_record(&mut sections, 8, &[0xc0, 12], 6, &[0; 22]);
    add_record(&mut sections, 10, &[1, b'k', 0xc0, 12], 250, &[1, 2, 3]);
    let seeds = [
        raw("web-0.nginx.demo.svc.cluster.local.", RecordType::A),
        raw("cluster.local.", RecordType::AXFR),
        raw("cluster.local.", RecordType::IXFR),
        two,
        reserved,
        signed,
        sections,
    ];
    let mut packets = Vec::new();
    for seed in &seeds {
        for cut in 0..=seed.len() {
            packets.push(seed[..cut].to_vec());
        }
        for at in 0..seed.len() {
            for value in [0, 1, 2, 12, 14, 0x3f, 0x40, 0x80, 0xbf, 0xc0, 0xc1, 0xff] {
                let mut changed = seed.clone();
                changed[at] = value;
                packets.push(changed);
            }
        }
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..20_000 {
        let mut packet = vec![0u8; 12 + (state % 40) as usize];
        for byte in &mut packet {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = [0, 1, 3, 0xc0, 12, 0x40, state as u8][(state >> 32) as usize % 7];
        }
        packet[4] = 0;
        packets.push(packet);
    }
    let mut found = 0;
    for packet in &packets {
        assert_eq!(
            transfer_type(packet),
            old_transfer_type(packet),
            "{packet:?}"
        );
        let Some(peek) = Peek::read(packet, |_| ()) else {
            assert!(packet.len() < HEADER);
            continue;
        };
        assert_eq!(peek.counts_fit(), old_counts_fit(packet), "{packet:?}");
        assert_eq!(
            peek.bad_pointer(),
            old_question_points_back(packet),
            "{packet:?}"
        );
        let last = peek.last_additional().map(|l| (l.start, l.rtype));
        if peek.bad_pointer() {
            assert_eq!(last, None, "{packet:?}");
        } else {
            assert_eq!(last, old_last_additional(packet), "{packet:?}");
        }
        found += usize::from(last.is_some_and(|(_, rtype)| rtype == 250));
    }
    assert!(found > 1000, "a TSIG's place found in only {found} packets");
}
