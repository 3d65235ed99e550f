//! A stub resolver that does what a pod's glibc does with its
//! `/etc/resolv.conf`: the search list and `ndots` (`res_search`), A and
//! AAAA for `getaddrinfo`, PTR for `getnameinfo`. `exec` and `run` use it
//! so `nslookup web-demo-0.nginx-demo` inside a simulated pod asks the
//! running server the questions a real pod would, in the same order.
//!
//! Questions go out through a [`Transport`]: [`Udp`] (with TCP when an
//! answer is truncated) against the server, or a fake in tests. Answers come
//! back as [`Resolved`] or a [`LookupError`] in glibc's terms.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// One DNS exchange: a question in, the answer's code and records out.
pub trait Transport {
    fn exchange(&self, name: &str, qtype: RecordType) -> Result<Message, String>;
}

/// Asks a server over UDP, retrying once, and over TCP when the answer is
/// truncated.
pub struct Udp {
    pub server: SocketAddr,
    pub timeout: Duration,
}

impl Udp {
    fn query(name: &str, qtype: RecordType) -> Result<Message, String> {
        let name = Name::from_ascii(name).map_err(|e| format!("bad name {name:?}: {e}"))?;
        // One question is in flight per socket; the id only has to differ
        // from the last one's, so a late answer is not taken for this one.
        static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let id = (std::process::id() as u16)
            .wrapping_add(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut message = Message::new(id, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(name, qtype));
        Ok(message)
    }

    fn tcp(&self, bytes: &[u8]) -> Result<Message, String> {
        let mut stream = TcpStream::connect_timeout(&self.server, self.timeout)
            .map_err(|e| format!("connecting to {} over TCP: {e}", self.server))?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        let mut frame = u16::try_from(bytes.len())
            .map_err(|_| "query too long".to_owned())?
            .to_be_bytes()
            .to_vec();
        frame.extend_from_slice(bytes);
        stream.write_all(&frame).map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        stream
            .read_exact(&mut len)
            .map_err(|e| format!("reading from {} over TCP: {e}", self.server))?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream
            .read_exact(&mut body)
            .map_err(|e| format!("reading from {} over TCP: {e}", self.server))?;
        Message::from_vec(&body).map_err(|e| format!("a malformed answer: {e}"))
    }
}

impl Transport for Udp {
    fn exchange(&self, name: &str, qtype: RecordType) -> Result<Message, String> {
        let query = Self::query(name, qtype)?;
        let bytes = query.to_vec().map_err(|e| e.to_string())?;
        let bind = if self.server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
        socket
            .set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        socket.connect(self.server).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 65535];
        let mut last = String::new();
        // glibc's default: attempts:2.
        for _ in 0..2 {
            socket.send(&bytes).map_err(|e| e.to_string())?;
            match socket.recv(&mut buf) {
                Ok(n) => {
                    let answer = Message::from_vec(&buf[..n])
                        .map_err(|e| format!("a malformed answer: {e}"))?;
                    if answer.metadata.id != query.metadata.id {
                        last = "an answer to another question".to_owned();
                        continue;
                    }
                    if answer.metadata.truncation {
                        return self.tcp(&bytes);
                    }
                    return Ok(answer);
                }
                Err(e) => last = format!("no answer from {}: {e}", self.server),
            }
        }
        Err(last)
    }
}

/// What a successful `getaddrinfo`/`gethostbyname` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The name the addresses belong to (after any CNAME), no final dot.
    pub canonical: String,
    /// The names that led there by CNAME, the asked one first.
    pub aliases: Vec<String>,
    pub addresses: Vec<IpAddr>,
}

/// Why a lookup failed, as glibc tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// Every candidate was NXDOMAIN (`HOST_NOT_FOUND`).
    NotFound,
    /// A candidate exists without addresses (`NO_DATA`).
    NoData,
    /// The server failed or could not be reached (`TRY_AGAIN`).
    TryAgain(String),
}

/// A pod's resolver settings: its `/etc/resolv.conf`.
#[derive(Debug, Clone)]
pub struct ResolvConf {
    pub search: Vec<String>,
    pub ndots: usize,
}

impl ResolvConf {
    /// The fully qualified names `res_search` tries for `name`, in order.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![format!("{absolute}.")];
        }
        let as_is = format!("{name}.");
        let dots = name.matches('.').count();
        let mut out = Vec::new();
        if dots >= self.ndots {
            out.push(as_is.clone());
        }
        for domain in &self.search {
            let candidate = format!("{name}.{}.", domain.trim_end_matches('.'));
            if !out.contains(&candidate) {
                out.push(candidate);
            }
        }
        if !out.contains(&as_is) {
            out.push(as_is);
        }
        out
    }
}

/// Looks `name` up as `getaddrinfo` does: each candidate of the search list
/// in turn, asking for every type in `types` (A, AAAA), until one has
/// addresses.
pub fn lookup(
    transport: &dyn Transport,
    conf: &ResolvConf,
    name: &str,
    types: &[RecordType],
) -> Result<Resolved, LookupError> {
    let mut nodata = false;
    let mut servfail = None;
    for candidate in conf.candidates(name) {
        let mut resolved = Resolved {
            canonical: candidate.trim_end_matches('.').to_owned(),
            aliases: Vec::new(),
            addresses: Vec::new(),
        };
        let mut exists = false;
        for qtype in types {
            let answer = match transport.exchange(&candidate, *qtype) {
                Ok(answer) => answer,
                Err(e) => {
                    servfail = Some(e);
                    continue;
                }
            };
            match answer.metadata.response_code {
                ResponseCode::NoError => exists = true,
                ResponseCode::NXDomain => continue,
                other => {
                    servfail = Some(format!("{candidate}: the server answered {other}"));
                    continue;
                }
            }
            for record in &answer.answers {
                let owner = record.name.to_ascii().trim_end_matches('.').to_owned();
                match &record.data {
                    RData::A(a) => {
                        resolved.canonical = owner;
                        resolved.addresses.push(IpAddr::V4(a.0));
                    }
                    RData::AAAA(a) => {
                        resolved.canonical = owner;
                        resolved.addresses.push(IpAddr::V6(a.0));
                    }
                    RData::CNAME(_) if !resolved.aliases.contains(&owner) => {
                        resolved.aliases.push(owner);
                    }
                    _ => {}
                }
            }
        }
        if !resolved.addresses.is_empty() {
            resolved.addresses.dedup();
            return Ok(resolved);
        }
        nodata |= exists;
    }
    if nodata {
        Err(LookupError::NoData)
    } else if let Some(reason) = servfail {
        Err(LookupError::TryAgain(reason))
    } else {
        Err(LookupError::NotFound)
    }
}

/// `getnameinfo(NI_NAMEREQD)`: the first PTR name of `ip`, no final dot.
pub fn reverse(transport: &dyn Transport, ip: IpAddr) -> Option<String> {
    let name = Name::from(ip).to_ascii();
    let answer = transport.exchange(&name, RecordType::PTR).ok()?;
    if answer.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    answer.answers.iter().find_map(|r| match &r.data {
        RData::PTR(ptr) => Some(ptr.0.to_ascii().trim_end_matches('.').to_owned()),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, PTR};
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// A zone in a map; records every question asked.
    struct Fake {
        records: BTreeMap<(String, RecordType), Vec<RData>>,
        /// Names that exist (NODATA for other types).
        names: Vec<String>,
        asked: RefCell<Vec<String>>,
    }

    impl Transport for Fake {
        fn exchange(&self, name: &str, qtype: RecordType) -> Result<Message, String> {
            self.asked.borrow_mut().push(format!("{name} {qtype}"));
            let mut m = Message::new(1, MessageType::Response, OpCode::Query);
            match self.records.get(&(name.to_owned(), qtype)) {
                Some(data) => {
                    for d in data {
                        m.answers.push(Record::from_rdata(
                            Name::from_ascii(name).unwrap(),
                            5,
                            d.clone(),
                        ));
                    }
                }
                None if self.names.iter().any(|n| n == name) => {}
                None => m.metadata.response_code = ResponseCode::NXDomain,
            }
            Ok(m)
        }
    }

    fn pod_conf() -> ResolvConf {
        ResolvConf {
            search: vec![
                "demo.svc.cluster.local".into(),
                "svc.cluster.local".into(),
                "cluster.local".into(),
            ],
            ndots: 5,
        }
    }

    #[test]
    fn search_list_order_follows_ndots() {
        let conf = pod_conf();
        assert_eq!(
            conf.candidates("web-0.nginx"),
            [
                "web-0.nginx.demo.svc.cluster.local.",
                "web-0.nginx.svc.cluster.local.",
                "web-0.nginx.cluster.local.",
                "web-0.nginx.",
            ]
        );
        // Five dots or more: as-is first.
        assert_eq!(
            conf.candidates("a.b.c.d.e.f")[0],
            "a.b.c.d.e.f.",
            "ndots reached"
        );
        assert_eq!(conf.candidates("x.y.")[..], ["x.y."]);
    }

    #[test]
    fn lookup_walks_the_search_list_and_reverse_maps() {
        let ip: IpAddr = "10.244.0.7".parse().unwrap();
        let mut records = BTreeMap::new();
        records.insert(
            (
                "web-0.nginx.demo.svc.cluster.local.".to_owned(),
                RecordType::A,
            ),
            vec![RData::A(A("10.244.0.7".parse().unwrap()))],
        );
        records.insert(
            (Name::from(ip).to_ascii(), RecordType::PTR),
            vec![RData::PTR(PTR(Name::from_ascii(
                "web-0.nginx.demo.svc.cluster.local.",
            )
            .unwrap()))],
        );
        let fake = Fake {
            records,
            names: vec!["web-1.nginx.demo.svc.cluster.local.".into()],
            asked: RefCell::new(Vec::new()),
        };
        let conf = pod_conf();
        let found = lookup(&fake, &conf, "web-0.nginx", &[RecordType::A]).unwrap();
        assert_eq!(found.canonical, "web-0.nginx.demo.svc.cluster.local");
        assert_eq!(found.addresses, [ip]);
        assert_eq!(
            reverse(&fake, ip).as_deref(),
            Some("web-0.nginx.demo.svc.cluster.local")
        );
        fake.asked.borrow_mut().clear();
        // A stable name with no address: NODATA, after every candidate.
        assert_eq!(
            lookup(&fake, &conf, "web-1.nginx", &[RecordType::A]),
            Err(LookupError::NoData)
        );
        assert_eq!(fake.asked.borrow().len(), 4);
        assert_eq!(
            lookup(&fake, &conf, "nope", &[RecordType::A, RecordType::AAAA]),
            Err(LookupError::NotFound)
        );
        assert_eq!(reverse(&fake, "10.9.9.9".parse().unwrap()), None);
    }
}
