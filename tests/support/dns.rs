//! A small DNS client for tests: builds queries with hickory-proto and sends
//! them over UDP or TCP, or straight into a handler with no socket.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A query for `name`/`qtype` with id 0x4242, RD set, no EDNS.
pub fn query(name: &str, qtype: RecordType) -> Message {
    let mut message = Message::new(0x4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    message
}

/// The same with an OPT record offering `payload` bytes.
pub fn query_edns(name: &str, qtype: RecordType, payload: u16) -> Message {
    let mut message = query(name, qtype);
    let mut edns = Edns::new();
    edns.set_max_payload(payload);
    message.set_edns(edns);
    message
}

pub fn bytes(message: &Message) -> Vec<u8> {
    message.to_vec().unwrap()
}

pub fn parse(bytes: &[u8]) -> Message {
    Message::from_vec(bytes).unwrap_or_else(|e| panic!("unparseable response {bytes:?}: {e}"))
}

/// Sends one query over UDP and waits (bounded) for the answer.
pub async fn udp(server: SocketAddr, message: &Message) -> Message {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&bytes(message), server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("no UDP answer within 5 s")
        .unwrap();
    parse(&buf[..n])
}

/// Sends one query over a new TCP connection.
pub async fn tcp(server: SocketAddr, message: &Message) -> Message {
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let body = bytes(message);
    let mut frame = (body.len() as u16).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await.unwrap();
    read_frame(&mut stream).await
}

pub async fn read_frame(stream: &mut tokio::net::TcpStream) -> Message {
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut len))
        .await
        .expect("no TCP answer within 5 s")
        .unwrap();
    let mut body = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut body).await.unwrap();
    parse(&body)
}

/// The addresses in a section, as text, sorted.
pub fn addresses(records: &[Record]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect();
    out.sort();
    out
}
