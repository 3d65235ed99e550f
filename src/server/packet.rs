//! One packet in, one answer out: the single entry through which UDP, TCP
//! and the socketless tests hand a query to the server.
//!
//! [`DnsHandler::answer`] takes the raw bytes and the snapshot the caller
//! loaded (one `ArcSwap` load; a UDP worker makes it once per batch) and
//! runs the fast path (`fast.rs`), whose one walk over the header and
//! questions ([`Peek`]) is all the packet reading a plain query gets. When
//! the fast path declines, the slow path here is handed that walk and the
//! same snapshot: it screens the packet with the walk's facts (counts that
//! cannot fit, pointers that do not point back, a response, a zone transfer
//! over TCP), checks a TSIG (`transfer/tsig.rs`) where the walk found the
//! last record, has hickory parse the request (the one full parse), and
//! answers through `handler.rs`. The answer is written into the caller's
//! buffer, and the query is counted in the metrics here and only here,
//! whichever path answered.
//!
//! What comes back ([`Handled`]) says whether to send, with the answer's
//! class for response rate limiting (from the path that made it, never
//! read back from the bytes), or, on a TCP connection, a zone transfer to
//! stream ([`Streaming`]) into the connection's answer queue, which takes
//! the same snapshot and the walk's last record along.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_proto::op::{Edns, MessageType, ResponseCode};
use hickory_proto::rr::RecordType;
use hickory_server::net::xfer::Protocol;
use hickory_server::server::Request;
use tokio::sync::mpsc;

use super::fast::{self, Outcome};
use super::handler::DnsHandler;
use super::rrl::{self, ResponseClass};
use crate::snapshot::Snapshot;
use crate::transfer::keys::KeyRing;
use crate::transfer::{self, Transfer, tsig};
use crate::wire::{self, HEADER, LastRecord, Peek, format_error};

/// Where a query came from, and so how its answer leaves.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    /// A datagram: answers are cut to fit the client's payload size.
    Udp,
    /// A TCP message. With the connection's answer queue, an AXFR or IXFR
    /// is a zone transfer streamed into it; without one (tests), it is
    /// answered like any other query (REFUSED).
    Tcp(Option<&'a mpsc::Sender<Vec<u8>>>),
}

impl Transport<'_> {
    fn protocol(self) -> Protocol {
        match self {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp(_) => Protocol::Tcp,
        }
    }
}

/// What became of one query.
#[derive(Debug)]
pub enum Handled<'a> {
    /// The answer is in the output buffer; its class, for RRL.
    Reply(ResponseClass),
    /// Nothing to send (a response, a runt, an answer that could not be
    /// encoded).
    Silent,
    /// A zone transfer on a TCP connection: run it to send its messages.
    Transfer(Streaming<'a>),
}

/// A zone transfer, ready to stream into its connection's answer queue:
/// the query, the snapshot the entry loaded for it, and where the entry's
/// walk found the query's last record (for the TSIG check).
pub struct Streaming<'a> {
    transfer: &'a Transfer,
    snap: Arc<Snapshot>,
    raw: &'a [u8],
    last: Option<LastRecord>,
    peer: SocketAddr,
    stream: &'a mpsc::Sender<Vec<u8>>,
}

impl std::fmt::Debug for Streaming<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streaming")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

impl Streaming<'_> {
    /// Sends every message of the transfer, in order; `Err` when the
    /// connection's writer has gone (close the connection).
    pub async fn run(self) -> Result<(), transfer::Closed> {
        self.transfer
            .respond(self.snap, self.raw, self.last, self.peer, self.stream)
            .await
            .map(|_| ())
    }
}

/// One query as it arrived.
struct Query<'a> {
    raw: &'a [u8],
    src: SocketAddr,
    transport: Transport<'a>,
    /// When it reached the entry; the accounting times the answer from here.
    started: Instant,
}

impl DnsHandler {
    /// Answers `raw` from `snap` into `out` (overwritten): the fast path,
    /// then for what it declines the slow path with the fast path's walk.
    /// Never panics, whatever the bytes. Queries are counted here.
    pub fn answer<'a>(
        &'a self,
        snap: &Arc<Snapshot>,
        raw: &'a [u8],
        src: SocketAddr,
        transport: Transport<'a>,
        out: &mut Vec<u8>,
    ) -> Handled<'a> {
        let query = Query {
            raw,
            src,
            transport,
            started: Instant::now(),
        };
        let limit = matches!(transport, Transport::Udp).then_some(self.max_udp_payload());
        match fast::respond_advertising(snap, raw, out, limit, self.max_udp_payload()) {
            Outcome::Reply {
                qtype,
                rcode,
                truncated,
                class,
            } => {
                self.account(Some(qtype), rcode, truncated, query.started);
                Handled::Reply(class)
            }
            Outcome::Drop => Handled::Silent,
            Outcome::Slow(peek) => self.slow(snap, query, &peek, out),
        }
    }

    /// The query accounting, for both paths.
    fn account(
        &self,
        qtype: Option<RecordType>,
        rcode: ResponseCode,
        truncated: bool,
        started: Instant,
    ) {
        if truncated {
            self.metrics.truncated.inc();
        }
        self.metrics.count_query(qtype, rcode, started.elapsed());
    }

    /// The slow path: `peek` is the walk over the query that the fast path
    /// made (or that [`handle_bytes_slow`] made in its place).
    fn slow<'a>(
        &'a self,
        snap: &Arc<Snapshot>,
        query: Query<'a>,
        peek: &Peek,
        out: &mut Vec<u8>,
    ) -> Handled<'a> {
        let Query {
            raw,
            src,
            transport,
            started,
        } = query;
        // AXFR and IXFR over a connection answer with a stream of messages
        // (`transfer/`), which checks and signs them itself.
        if let Transport::Tcp(Some(stream)) = transport
            && let Some(transfer) = &self.transfer
            && peek.transfer_type().is_some()
        {
            return Handled::Transfer(Streaming {
                transfer,
                snap: snap.clone(),
                raw,
                last: peek.last_additional(),
                peer: src,
                stream,
            });
        }
        self.metrics.slow_path.inc();
        // The walk exists, so the header is there: a body that fails to
        // parse still gets a FORMERR.
        let head = &raw[..HEADER];
        let error = |out: &mut Vec<u8>, reply: Option<Vec<u8>>| match reply {
            Some(reply) => put(out, &reply, ResponseClass::Error),
            None => Handled::Silent,
        };
        if !peek.counts_fit() || peek.bad_pointer() {
            return error(out, format_error(head));
        }
        // A response is never answered, signed or not (before the TSIG check,
        // which would answer a bad signature).
        if peek.is_response() {
            return Handled::Silent;
        }
        let now = tsig::now();
        let no_keys = KeyRing::default();
        let auth = self.transfer.as_ref().map(|t| t.auth());
        let keys = auth.as_ref().map_or(&no_keys, |a| a.keys());
        let (unsigned, verified) = match tsig::check(keys, raw, peek.last_additional(), now) {
            tsig::Checked::Unsigned => (None, None),
            tsig::Checked::Signed { verified, unsigned } => (Some(unsigned), Some(verified)),
            tsig::Checked::Malformed => return error(out, format_error(head)),
            tsig::Checked::Rejected(rejected) => {
                self.metrics.count_tsig_rejected(rejected.reason.label());
                tracing::debug!(%src, reason = rejected.reason.label(), "TSIG rejected");
                let reply = rejected.answer(raw, now).or_else(|| format_error(head));
                return error(out, reply);
            }
        };
        let request_bytes = unsigned.as_deref().unwrap_or(raw);
        // IXFR over UDP from a range whose `allow` entry needs a key, unsigned
        // or with another key: NOTAUTH as over TCP (`transfer/mod.rs`). The
        // TSIG's removal left the header's flags and the question alone, so
        // the walk still says what the request asks.
        if let Some(auth) = &auth
            && peek.transfer_type() == Some(RecordType::IXFR)
        {
            let key = verified.as_ref().map(|v| &*v.key);
            match auth.check(src.ip(), key) {
                transfer::Access::KeyRequired => {
                    self.metrics
                        .count_tsig_rejected(tsig::Reason::Unsigned.label());
                    return error(out, tsig::not_auth(request_bytes));
                }
                transfer::Access::WrongKey => {
                    self.metrics
                        .count_tsig_rejected(tsig::Reason::BadKey.label());
                    let reply = verified.and_then(|v| tsig::refuse_key(&v, request_bytes, now));
                    return error(out, reply);
                }
                transfer::Access::Allowed | transfer::Access::Refused => {}
            }
        }
        let protocol = transport.protocol();
        let owned = unsigned.unwrap_or_else(|| raw.to_vec());
        let request = match Request::from_bytes(owned, src, protocol) {
            Ok(request) => request,
            // Header readable → FORMERR, as hickory's UDP path does.
            Err(_) => return error(out, format_error(head)),
        };
        if request.metadata.message_type == MessageType::Response {
            return Handled::Silent;
        }
        let key = verified.as_ref().map(|v| &*v.key);
        let (served, answer) = self.respond(snap, &request, key);
        self.account(served.qtype, served.rcode, served.truncated, started);
        let Some(answer) = answer else {
            return Handled::Silent;
        };
        let class = ResponseClass::of(served.rcode, served.answers);
        let Some(verified) = verified else {
            return put(out, &answer, class);
        };
        // Signed like the request; over UDP, an answer the TSIG makes too big
        // for the client goes out empty with TC, signed.
        let limit = wire::udp_limit(
            request.edns.as_ref().map(Edns::max_payload),
            self.max_udp_payload(),
        );
        let mut signed = answer.clone();
        if verified.signer().sign(&mut signed, now).is_err() {
            return Handled::Silent;
        }
        if protocol == Protocol::Udp && signed.len() > usize::from(limit) {
            signed = answer;
            rrl::slip(&mut signed);
            if verified.signer().sign(&mut signed, now).is_err() {
                return Handled::Silent;
            }
            return put(out, &signed, ResponseClass::of(served.rcode, 0));
        }
        put(out, &signed, class)
    }
}

/// Copies a slow-path answer into the caller's buffer, which keeps its
/// capacity for the fast path's next answer.
fn put<'a>(out: &mut Vec<u8>, answer: &[u8], class: ResponseClass) -> Handled<'a> {
    out.clear();
    out.extend_from_slice(answer);
    Handled::Reply(class)
}

fn transport_of(protocol: Protocol) -> Transport<'static> {
    match protocol {
        Protocol::Udp => Transport::Udp,
        _ => Transport::Tcp(None),
    }
}

/// Handles one raw query as the server does, through
/// [`DnsHandler::answer`] on the snapshot now published, and returns the
/// raw response (`None` = silence; over TCP a transfer query is answered
/// as a plain query, there being no connection to stream to). For tests
/// and fuzz targets without sockets; async only for its callers' sake
/// (nothing in it waits).
pub async fn handle_bytes(
    handler: &DnsHandler,
    raw: Vec<u8>,
    src: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    let snap = handler.snapshot().load_full();
    let mut out = Vec::new();
    match handler.answer(&snap, &raw, src, transport_of(protocol), &mut out) {
        Handled::Reply(_) => Some(out),
        Handled::Silent | Handled::Transfer(_) => None,
    }
}

/// [`handle_bytes`] through the slow path only, never the fast path, given
/// a walk of its own; tests compare the two paths.
pub async fn handle_bytes_slow(
    handler: &DnsHandler,
    raw: Vec<u8>,
    src: SocketAddr,
    protocol: Protocol,
) -> Option<Vec<u8>> {
    let snap = handler.snapshot().load_full();
    // Shorter than a header: silence, as from the fast path's Drop.
    let peek = Peek::read(&raw, |_| ())?;
    let mut out = Vec::new();
    let query = Query {
        raw: &raw,
        src,
        transport: transport_of(protocol),
        started: Instant::now(),
    };
    match handler.slow(&snap, query, &peek, &mut out) {
        Handled::Reply(_) => Some(out),
        Handled::Silent | Handled::Transfer(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use arc_swap::ArcSwap;
    use hickory_proto::rr::Name;

    use super::*;
    use crate::index::ClusterIndex;
    use crate::metrics::Metrics;
    use crate::model::{
        Endpoint, EndpointGroup, ObjectKey, PodRecords, Port, Protocol as PortProtocol, Service,
        ServiceKind,
    };
    use crate::snapshot::ZoneSettings;

    /// A handler on a zone with one headless service of 60 pods, so an
    /// answer for the service name does not fit 512 bytes.
    fn handler() -> DnsHandler {
        let settings = ZoneSettings {
            zone: Name::from_ascii("cluster.local.").unwrap(),
            reverse_zones: vec![Name::from_ascii("10.in-addr.arpa.").unwrap()],
            ttl: 5,
            negative_ttl: 5,
            nameserver: Name::from_ascii("ns.dns.cluster.local.").unwrap(),
            nameserver_addresses: vec![],
            pod_records: PodRecords::Insecure,
        };
        let mut index = ClusterIndex::new(Arc::new(settings), Duration::from_secs(30));
        index.apply_service(Service {
            key: ObjectKey::new("demo", "web"),
            kind: ServiceKind::Headless,
            publish_not_ready: false,
            ports: vec![],
        });
        index.apply_slice(EndpointGroup {
            key: ObjectKey::new("demo", "web-abc"),
            service: ObjectKey::new("demo", "web"),
            ports: vec![Port {
                name: "http".into(),
                protocol: PortProtocol::Tcp,
                port: 80,
            }],
            endpoints: (0..60u8)
                .map(|i| Endpoint {
                    addresses: vec![IpAddr::from([10, 244, 0, i])],
                    hostname: Some(format!("web-{i}").into()),
                    ready: true,
                    target: None,
                })
                .collect(),
        });
        index.set_synced(true);
        let snap = index
            .publish(Instant::now())
            .unwrap_or_else(|| index.snapshot().clone());
        DnsHandler::new(
            Arc::new(ArcSwap::from_pointee(snap)),
            1232,
            Arc::new(Metrics::default()),
        )
        .with_nsid(Some("ns-1"))
    }

    /// A query by hand: `flags`, one question per name, and an OPT with
    /// `opt` (payload, version, rdata) when given.
    fn query(flags: u16, names: &[&str], qtype: u16, opt: Option<(u16, u8, &[u8])>) -> Vec<u8> {
        let mut q = vec![0x12, 0x34];
        q.extend_from_slice(&flags.to_be_bytes());
        q.extend_from_slice(&(names.len() as u16).to_be_bytes());
        q.extend_from_slice(&[0, 0, 0, 0, 0, u8::from(opt.is_some())]);
        for name in names {
            for label in name.split('.').filter(|l| !l.is_empty()) {
                q.push(label.len() as u8);
                q.extend_from_slice(label.as_bytes());
            }
            q.push(0);
            q.extend_from_slice(&qtype.to_be_bytes());
            q.extend_from_slice(&[0, 1]);
        }
        if let Some((payload, version, rdata)) = opt {
            q.extend_from_slice(&[0, 0, 41]);
            q.extend_from_slice(&payload.to_be_bytes());
            q.extend_from_slice(&[0, version, 0, 0]);
            q.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            q.extend_from_slice(rdata);
        }
        q
    }

    /// Queries of every kind: plain ones the fast path answers (positive,
    /// truncated, NODATA, NXDOMAIN, REFUSED) and ones it declines (EDNS
    /// options, NSID, BADVERS, ANY, two questions, a bad pointer, counts
    /// that cannot fit, NOTIFY, class CH, transfers, a cut body).
    fn queries() -> Vec<Vec<u8>> {
        let pod = "web-3.web.demo.svc.cluster.local.";
        let service = "web.demo.svc.cluster.local.";
        let mut out = vec![
            query(0x0100, &[pod], 1, None),
            query(
                0x0100,
                &["WEB-3.Web.demo.svc.cluster.local."],
                1,
                Some((1232, 0, &[])),
            ),
            query(0x0100, &[service], 1, None),
            query(0x0100, &[service], 1, Some((4096, 0, &[]))),
            query(0, &[pod], 28, None),
            query(0, &["nope.demo.svc.cluster.local."], 1, None),
            query(0, &["example.com."], 1, None),
            query(0, &[pod], 1, Some((1232, 0, &[0, 3, 0, 0]))),
            query(0, &[service], 1, Some((512, 0, &[0xfd, 0xe9, 0, 1, 7]))),
            query(0, &[pod], 1, Some((1232, 1, &[]))),
            query(0, &[pod], 255, None),
            query(0, &[pod, service], 1, None),
            query(0x2000, &["cluster.local."], 6, None),
            query(0, &["cluster.local."], 252, None),
            query(0, &["cluster.local."], 251, None),
            query(0, &["cluster.local."], 41, None),
        ];
        let mut chaos = query(0, &["version.bind."], 16, None);
        let at = chaos.len() - 1;
        chaos[at] = 3;
        out.push(chaos);
        let mut pointer = query(0, &[pod], 1, None);
        pointer.truncate(12);
        pointer.extend_from_slice(&[0xc0, 4, 0, 1, 0, 1]);
        out.push(pointer);
        let mut counts = query(0, &[pod], 1, None);
        counts[4..6].copy_from_slice(&[0xff, 0xff]);
        out.push(counts);
        let cut = query(0, &[pod], 1, Some((1232, 0, &[0, 3, 0, 0])));
        out.push(cut[..cut.len() - 3].to_vec());
        let mut response = query(0, &[pod], 1, None);
        response[2] |= 0x80;
        out.push(response);
        out
    }

    fn src() -> SocketAddr {
        "192.0.2.1:5353".parse().unwrap()
    }

    /// The slow path, handed the fast path's walk, answers byte for byte
    /// what it answers from the raw bytes with a walk of its own; and the
    /// walk handed over is the walk of the raw bytes.
    #[tokio::test]
    async fn the_slow_path_from_the_fast_paths_walk_answers_as_from_raw() {
        let handler = handler();
        let snap = handler.snapshot().load_full();
        let mut declined = 0;
        for raw in queries() {
            for (transport, protocol) in [
                (Transport::Udp, Protocol::Udp),
                (Transport::Tcp(None), Protocol::Tcp),
            ] {
                let mut out = Vec::new();
                let limit = matches!(transport, Transport::Udp).then_some(1232);
                let Outcome::Slow(peek) =
                    fast::respond_advertising(&snap, &raw, &mut out, limit, 1232)
                else {
                    continue;
                };
                declined += 1;
                assert_eq!(Some(peek), Peek::read(&raw, |_| ()), "{raw:?}");
                let handed = match handler.answer(&snap, &raw, src(), transport, &mut out) {
                    Handled::Reply(_) => Some(out),
                    Handled::Silent => None,
                    Handled::Transfer(_) => panic!("no stream, no transfer"),
                };
                let from_raw = handle_bytes_slow(&handler, raw.clone(), src(), protocol).await;
                assert_eq!(handed, from_raw, "{raw:?} over {protocol:?}");
            }
        }
        assert!(declined >= 20, "only {declined} declined");
    }

    /// A zone transfer on a connection streams from the snapshot the entry
    /// was handed, not from one it loads itself: before the stream runs,
    /// the store moves on to an unsynced snapshot, from which a transfer is
    /// SERVFAIL.
    #[tokio::test]
    async fn a_transfer_streams_from_the_snapshot_the_entry_was_handed() {
        let handler = handler();
        let store = handler.snapshot().clone();
        let allow = vec!["192.0.2.0/24".parse().unwrap()];
        let transfer = Arc::new(Transfer::new(
            store.clone(),
            transfer::Auth::from_networks(allow),
            4,
            handler.metrics.clone(),
        ));
        let handler = handler.with_transfer(transfer.clone());
        let snap = store.load_full();
        let mut unsynced = (*snap).clone();
        unsynced.synced = false;
        let raw = query(0, &["cluster.local."], 252, None);
        let (tx, mut rx) = mpsc::channel(64);
        let mut out = Vec::new();
        let transport = Transport::Tcp(Some(&tx));
        let Handled::Transfer(stream) = handler.answer(&snap, &raw, src(), transport, &mut out)
        else {
            panic!("an AXFR on a connection is a transfer");
        };
        store.store(Arc::new(unsynced));
        stream.run().await.expect("the queue is open");
        drop(tx);
        let mut messages = Vec::new();
        while let Some(message) = rx.recv().await {
            messages.push(hickory_proto::op::Message::from_vec(&message).unwrap());
        }
        let first = messages.first().expect("a message");
        assert_eq!(first.metadata.response_code, ResponseCode::NoError);
        let soa = match &first.answers.first().expect("the SOA").data {
            hickory_proto::rr::RData::SOA(soa) => soa.serial,
            other => panic!("{other:?}"),
        };
        assert_eq!(soa, snap.serial);
        let records: usize = messages.iter().map(|m| m.answers.len()).sum();
        assert!(records > 60, "{records} records");
        // What a transfer loading its own snapshot would have sent now.
        let (outcome, _) = transfer.answer(&raw, src().ip());
        assert_eq!(outcome, transfer::Outcome::Error(ResponseCode::ServFail));
    }

    /// RRL's class comes from the path that answered, and it is the class
    /// the answer's bytes say, truncated answers included.
    #[test]
    fn the_class_reported_is_the_class_of_the_bytes() {
        let handler = handler();
        let snap = handler.snapshot().load_full();
        let mut seen = Vec::new();
        for raw in queries() {
            for transport in [Transport::Udp, Transport::Tcp(None)] {
                let mut out = Vec::new();
                if let Handled::Reply(class) =
                    handler.answer(&snap, &raw, src(), transport, &mut out)
                {
                    assert_eq!(class, rrl::class_of(&out), "{raw:?}");
                    seen.push(class);
                }
            }
        }
        for class in [
            ResponseClass::Positive,
            ResponseClass::NoData,
            ResponseClass::NxDomain,
            ResponseClass::Error,
        ] {
            assert!(seen.contains(&class), "no {class:?} answer among {seen:?}");
        }
    }

    /// Every answered query is counted once, by whichever path answered;
    /// the slow path is counted only when it ran.
    #[test]
    fn each_query_is_counted_once_whichever_path_answers() {
        let handler = handler();
        let snap = handler.snapshot().load_full();
        let metrics = handler.metrics.clone();
        let pod = "web-3.web.demo.svc.cluster.local.";
        let cases: [(Vec<u8>, &str, &str, u64); 4] = [
            (query(0, &[pod], 1, None), "A", "NOERROR", 0),
            (
                query(0, &[pod], 1, Some((1232, 0, &[0, 3, 0, 0]))),
                "A",
                "NOERROR",
                1,
            ),
            (query(0, &["example.com."], 28, None), "AAAA", "REFUSED", 0),
            (query(0, &[pod], 1, Some((1232, 1, &[]))), "A", "BADVERS", 1),
        ];
        for (raw, qtype, rcode, slow) in cases {
            let before = metrics.queries(qtype, rcode);
            let slow_before = metrics.slow_path.get();
            let mut out = Vec::new();
            let handled = handler.answer(&snap, &raw, src(), Transport::Udp, &mut out);
            assert!(matches!(handled, Handled::Reply(_)), "{raw:?}");
            assert_eq!(metrics.queries(qtype, rcode), before + 1, "{qtype} {rcode}");
            assert_eq!(
                metrics.slow_path.get(),
                slow_before + slow,
                "{qtype} {rcode}"
            );
        }
        // The 60-address answer does not fit 512 bytes: truncated, counted.
        let truncated = metrics.truncated.get();
        let mut out = Vec::new();
        let raw = query(0, &["web.demo.svc.cluster.local."], 1, None);
        handler.answer(&snap, &raw, src(), Transport::Udp, &mut out);
        assert_eq!(metrics.truncated.get(), truncated + 1);
    }
}
