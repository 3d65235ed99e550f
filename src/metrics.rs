//! Every metric the server exports, and the registry `/metrics` encodes.
//!
//! Most are prometheus-client's own `Counter`, `Gauge` and `Family`,
//! registered by name in [`Metrics::registry`]. A `Counter` or `Gauge` is an
//! `Arc` around one atomic, and `inc`/`dec`/`set` are a single relaxed
//! atomic operation: no lock, no allocation. So the packet path
//! (`server/packet.rs`, `udp.rs`, `tcp.rs`) counts truncated answers, slow
//! path queries, RRL drops and slips, TCP connections and full answer
//! queues through plain `Counter`s and a `Gauge`. A `Family`, though, looks
//! its children up behind a read-write lock, so the labelled counters here
//! (source errors, TSIG refusals, cookies) keep each child's handle, made
//! once at start, and count through it; the family is only locked at
//! scrape time.
//!
//! A small custom [`Collector`] remains for what those types cannot do
//! without a lock or at all: the per-query counters by (type, rcode) and the
//! response-time histogram, which UDP workers update for every answer
//! (prometheus-client's `Family` and `Histogram` both lock); the programming
//! latency histogram, which shares that histogram type; and values computed
//! at scrape time (source staleness, the event queue's depth, the
//! process-wide refused-object counts).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Metric, Registry};

/// Query types counted by name; everything else is `other`.
const TYPES: [&str; 10] = [
    "A", "AAAA", "SRV", "PTR", "SOA", "NS", "TXT", "ANY", "AXFR", "other",
];
/// Response codes counted by name; everything else is `other`.
const RCODES: [&str; 8] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "BADVERS", "other",
];

fn type_index(t: Option<RecordType>) -> usize {
    match t {
        Some(RecordType::A) => 0,
        Some(RecordType::AAAA) => 1,
        Some(RecordType::SRV) => 2,
        Some(RecordType::PTR) => 3,
        Some(RecordType::SOA) => 4,
        Some(RecordType::NS) => 5,
        Some(RecordType::TXT) => 6,
        Some(RecordType::ANY) => 7,
        Some(RecordType::AXFR) | Some(RecordType::IXFR) => 8,
        _ => 9,
    }
}

fn rcode_index(r: ResponseCode) -> usize {
    match r {
        ResponseCode::NoError => 0,
        ResponseCode::FormErr => 1,
        ResponseCode::ServFail => 2,
        ResponseCode::NXDomain => 3,
        ResponseCode::NotImp => 4,
        ResponseCode::Refused => 5,
        ResponseCode::BADVERS => 6,
        _ => 7,
    }
}

/// Why a request was refused for TSIG, as the `reason` label (the labels of
/// `transfer::tsig::Reason`).
const TSIG_REASONS: [&str; 5] = ["unsigned", "badkey", "badsig", "badtime", "badtrunc"];

/// What a query's COOKIE option held, as the `presented` label: a client
/// cookie only, a server cookie we (or a replica sharing the secret) made,
/// or one we did not (another secret, too old, forged).
const COOKIES_PRESENTED: [&str; 3] = ["client_only", "valid", "invalid"];

/// Why a source failed, as the `kind` label: the manifest files did not
/// load (`manifest`); the API server refused the credentials
/// (`unauthorized`) or the RBAC (`forbidden`); answered another error
/// status (`api`); could not be reached or the connection broke
/// (`connection`); sent what did not decode (`decode`).
pub const SOURCE_ERRORS: [&str; 6] = [
    "manifest",
    "unauthorized",
    "forbidden",
    "api",
    "connection",
    "decode",
];

/// A histogram in atomics: fixed bucket bounds, one counter per bucket.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in nanoseconds, so it can be an integer atomic.
    sum_nanos: AtomicU64,
}

/// Bounds for DNS response time: 10 µs to 1 s.
pub const RESPONSE_BUCKETS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0,
];
/// Bounds for programming latency: 100 µs to 10 s.
pub const PROGRAMMING_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

impl AtomicHistogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = self.bounds.partition_point(|b| *b < secs);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            d.as_nanos().min(u128::from(u64::MAX)) as u64,
            Ordering::Relaxed,
        );
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn encode(&self, encoder: &mut DescriptorEncoder, name: &str, help: &str) -> std::fmt::Result {
        let mut buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        buckets.push((
            f64::MAX,
            self.buckets[self.bounds.len()].load(Ordering::Relaxed),
        ));
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        encoder
            .encode_descriptor(name, help, None, MetricType::Histogram)?
            .encode_histogram::<NoLabelSet>(sum, self.count(), &buckets, None)
    }
}

/// A `Family` of counters with one label whose values are fixed, and a
/// handle on each child, made at start: counting goes through the handle
/// (one atomic add), so only the scrape takes the family's lock. Every
/// value is exported, zero or not.
#[derive(Debug)]
struct LabelledCounter<const N: usize> {
    family: Family<[(&'static str, &'static str); 1], Counter>,
    values: &'static [&'static str; N],
    children: [Counter; N],
}

impl<const N: usize> LabelledCounter<N> {
    fn new(label: &'static str, values: &'static [&'static str; N]) -> Self {
        let family = Family::<[(&'static str, &'static str); 1], Counter>::default();
        let children = values.map(|value| family.get_or_create(&[(label, value)]).clone());
        Self {
            family,
            values,
            children,
        }
    }

    fn child(&self, value: &str) -> Option<&Counter> {
        let i = self.values.iter().position(|v| *v == value)?;
        Some(&self.children[i])
    }
}

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    queries: Vec<AtomicU64>,
    pub response_time: AtomicHistogram,
    pub programming_latency: AtomicHistogram,
    /// UDP answers sent with TC, TCP connections open and refused at the
    /// cap.
    pub truncated: Counter,
    pub tcp_connections: Gauge,
    pub tcp_rejected: Counter,
    pub serial: Gauge,
    pub records: Gauge,
    pub snapshots_published: Counter,
    source_errors: LabelledCounter<{ SOURCE_ERRORS.len() }>,
    /// Unix time (seconds) of the last successful source sync; 0 = never.
    /// Exported as the staleness it implies, computed at scrape time.
    pub last_sync_unix: AtomicU64,
    /// Queries the fast path declined, answered by the full handler.
    pub slow_path: Counter,
    /// UDP answers response rate limiting dropped, and sent truncated.
    pub rrl_dropped: Counter,
    pub rrl_slipped: Counter,
    /// TCP answers that found their connection's queue full (the client
    /// reads too slowly), so the connection stopped reading queries.
    pub tcp_queue_full: Counter,
    /// Config reloads (SIGHUP) applied, and failed (old config kept).
    pub reloads: Counter,
    pub reload_failures: Counter,
    /// Requests refused for TSIG (RFC 8945), by reason ([`TSIG_REASONS`]).
    tsig_rejected: LabelledCounter<{ TSIG_REASONS.len() }>,
    /// COOKIE options received, by what their server cookie was
    /// ([`COOKIES_PRESENTED`]).
    cookies: LabelledCounter<{ COOKIES_PRESENTED.len() }>,
    /// The live RRL rate (responses per second; 0 = RRL off).
    pub rrl_rate: Gauge,
    /// The sources' event queue to the driver: its length now, sampled at
    /// scrape time, and its bound. Set once at startup.
    pub event_queue: std::sync::OnceLock<QueueProbe>,
    /// Bound of each TCP connection's answer queue, set by whoever runs
    /// the server (`server::tcp::ANSWER_QUEUE`).
    pub tcp_answer_queue_capacity: Gauge,
    /// UDP workers restarted after a panic.
    pub udp_worker_restarts: Counter,
}

/// Reads a queue's current length, for a gauge.
pub struct QueueProbe {
    pub capacity: usize,
    pub depth: Box<dyn Fn() -> usize + Send + Sync>,
}

impl std::fmt::Debug for QueueProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueProbe")
            .field("capacity", &self.capacity)
            .field("depth", &(self.depth)())
            .finish()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            queries: (0..TYPES.len() * RCODES.len())
                .map(|_| AtomicU64::new(0))
                .collect(),
            response_time: AtomicHistogram::new(RESPONSE_BUCKETS),
            programming_latency: AtomicHistogram::new(PROGRAMMING_BUCKETS),
            truncated: Counter::default(),
            tcp_connections: Gauge::default(),
            tcp_rejected: Counter::default(),
            serial: Gauge::default(),
            records: Gauge::default(),
            snapshots_published: Counter::default(),
            source_errors: LabelledCounter::new("kind", &SOURCE_ERRORS),
            last_sync_unix: AtomicU64::new(0),
            slow_path: Counter::default(),
            rrl_dropped: Counter::default(),
            rrl_slipped: Counter::default(),
            tcp_queue_full: Counter::default(),
            reloads: Counter::default(),
            reload_failures: Counter::default(),
            tsig_rejected: LabelledCounter::new("reason", &TSIG_REASONS),
            cookies: LabelledCounter::new("presented", &COOKIES_PRESENTED),
            rrl_rate: Gauge::default(),
            event_queue: std::sync::OnceLock::new(),
            tcp_answer_queue_capacity: Gauge::default(),
            udp_worker_restarts: Counter::default(),
        }
    }
}

impl Metrics {
    /// Counts one answered query.
    pub fn count_query(&self, qtype: Option<RecordType>, rcode: ResponseCode, elapsed: Duration) {
        let i = type_index(qtype) * RCODES.len() + rcode_index(rcode);
        self.queries[i].fetch_add(1, Ordering::Relaxed);
        self.response_time.observe(elapsed);
    }

    /// Queries counted for a (type, rcode) pair, by their metric labels.
    pub fn queries(&self, qtype: &str, rcode: &str) -> u64 {
        let t = TYPES.iter().position(|t| *t == qtype);
        let r = RCODES.iter().position(|r| *r == rcode);
        match (t, r) {
            (Some(t), Some(r)) => self.queries[t * RCODES.len() + r].load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// Counts a request refused for TSIG; `reason` is one of
    /// [`TSIG_REASONS`] (anything else is not counted).
    pub fn count_tsig_rejected(&self, reason: &str) {
        if let Some(counter) = self.tsig_rejected.child(reason) {
            counter.inc();
        }
    }

    /// Requests refused for TSIG with `reason`.
    pub fn tsig_rejected(&self, reason: &str) -> u64 {
        self.tsig_rejected.child(reason).map_or(0, Counter::get)
    }

    /// Counts a source error of `kind`, one of [`SOURCE_ERRORS`] (anything
    /// else counts as `api`).
    pub fn count_source_error(&self, kind: &str) {
        let counter = match self.source_errors.child(kind) {
            Some(counter) => counter,
            None => &self.source_errors.children[3],
        };
        counter.inc();
    }

    /// Source errors of `kind`.
    pub fn source_errors(&self, kind: &str) -> u64 {
        self.source_errors.child(kind).map_or(0, Counter::get)
    }

    /// Counts a COOKIE option; `presented` is one of [`COOKIES_PRESENTED`].
    pub fn count_cookie(&self, presented: &str) {
        if let Some(counter) = self.cookies.child(presented) {
            counter.inc();
        }
    }

    /// COOKIE options counted as `presented`.
    pub fn cookies(&self, presented: &str) -> u64 {
        self.cookies.child(presented).map_or(0, Counter::get)
    }

    /// A registry exporting these metrics, for `/metrics`. The registered
    /// metrics share their values with `self` (each is an `Arc`).
    pub fn registry(self: &std::sync::Arc<Self>) -> Registry {
        let mut registry = Registry::default();
        register(
            &mut registry,
            "headless_dns_snapshot_serial",
            "SOA serial of the snapshot being served.",
            self.serial.clone(),
        );
        register(
            &mut registry,
            "headless_dns_records",
            "Resource records served (without SOA and NS).",
            self.records.clone(),
        );
        register(
            &mut registry,
            "headless_dns_snapshots_published",
            "Snapshots published (zone changes).",
            self.snapshots_published.clone(),
        );
        register(
            &mut registry,
            "headless_dns_source_errors",
            "Source failures (the last good state is kept), by kind: manifest, unauthorized, forbidden, api, connection, decode.",
            self.source_errors.family.clone(),
        );
        register(
            &mut registry,
            "headless_dns_udp_worker_restarts",
            "UDP workers restarted on their socket after a panic (a bug; the log says where).",
            self.udp_worker_restarts.clone(),
        );
        register(
            &mut registry,
            "headless_dns_config_reloads",
            "Config reloads (SIGHUP) applied.",
            self.reloads.clone(),
        );
        register(
            &mut registry,
            "headless_dns_config_reload_failures",
            "Config reloads (SIGHUP) that failed; the running config was kept.",
            self.reload_failures.clone(),
        );
        register(
            &mut registry,
            "headless_dns_tsig_rejected_requests",
            "Requests refused for TSIG (RFC 8945): unsigned where a key is required, BADKEY, BADSIG, BADTIME, BADTRUNC.",
            self.tsig_rejected.family.clone(),
        );
        register(
            &mut registry,
            "headless_dns_cookies",
            "Queries with a DNS COOKIE option, by the server cookie presented: none (client_only), one made with our secret (valid), or not (invalid: another secret, too old, forged).",
            self.cookies.family.clone(),
        );
        register(
            &mut registry,
            "headless_dns_rrl_responses_per_second",
            "The response rate limit in force (dns.rrl.responses_per_second; 0 when RRL is off).",
            self.rrl_rate.clone(),
        );
        register(
            &mut registry,
            "headless_dns_tcp_answer_queue_capacity",
            "Bound of each TCP connection's answer queue.",
            self.tcp_answer_queue_capacity.clone(),
        );
        register(
            &mut registry,
            "headless_dns_truncated_responses",
            "UDP answers sent with TC set.",
            self.truncated.clone(),
        );
        register(
            &mut registry,
            "headless_dns_tcp_connections",
            "Open TCP connections.",
            self.tcp_connections.clone(),
        );
        register(
            &mut registry,
            "headless_dns_tcp_rejected_connections",
            "TCP connections closed at accept because the cap was reached.",
            self.tcp_rejected.clone(),
        );
        register(
            &mut registry,
            "headless_dns_slow_path_queries",
            "Queries the fast path declined (EDNS options, other opcodes, malformed, ...), answered by the full handler.",
            self.slow_path.clone(),
        );
        register(
            &mut registry,
            "headless_dns_rrl_dropped_responses",
            "UDP answers dropped by response rate limiting.",
            self.rrl_dropped.clone(),
        );
        register(
            &mut registry,
            "headless_dns_rrl_slipped_responses",
            "UDP answers response rate limiting sent empty with TC set (slipped).",
            self.rrl_slipped.clone(),
        );
        register(
            &mut registry,
            "headless_dns_tcp_answer_queue_full",
            "TCP answers that found their connection's queue full; the connection stops reading until its client reads.",
            self.tcp_queue_full.clone(),
        );
        registry.register_collector(Box::new(self.clone()));
        registry
    }
}

/// Registers `metric`. prometheus-client ends each HELP with a full stop of
/// its own; the texts here carry theirs so that they read as exported.
fn register(registry: &mut Registry, name: &str, help: &str, metric: impl Metric) {
    registry.register(name, help.strip_suffix('.').unwrap_or(help), metric);
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    prometheus_client::metrics::gauge::ConstGauge::new(v).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Gauge,
    )?)
}

/// The metrics the registry cannot hold as prometheus-client types (see
/// the module doc).
impl Collector for Metrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        {
            let mut family = encoder.encode_descriptor(
                "headless_dns_queries",
                "DNS queries answered, by query type and response code.",
                None,
                MetricType::Counter,
            )?;
            for (t, qtype) in TYPES.iter().enumerate() {
                for (r, rcode) in RCODES.iter().enumerate() {
                    let v = self.queries[t * RCODES.len() + r].load(Ordering::Relaxed);
                    if v == 0 {
                        continue;
                    }
                    let labels = [("type", *qtype), ("rcode", *rcode)];
                    prometheus_client::metrics::counter::ConstCounter::new(v)
                        .encode(family.encode_family(&labels)?)?;
                }
            }
        }
        self.response_time.encode(
            &mut encoder,
            "headless_dns_response_seconds",
            "Time from a query's arrival in the handler to its answer being sent.",
        )?;
        self.programming_latency.encode(
            &mut encoder,
            "headless_dns_programming_latency_seconds",
            "Time from a source seeing a change to the answer being visible.",
        )?;
        let last = self.last_sync_unix.load(Ordering::Relaxed);
        let stale = if last == 0 {
            0
        } else {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            now.saturating_sub(last) as i64
        };
        gauge(
            &mut encoder,
            "headless_dns_source_stale_seconds",
            "Seconds since the source last confirmed its state (0 before the first sync).",
            stale,
        )?;
        if let Some(queue) = self.event_queue.get() {
            gauge(
                &mut encoder,
                "headless_dns_event_queue_depth",
                "Source events waiting for the driver.",
                (queue.depth)() as i64,
            )?;
            gauge(
                &mut encoder,
                "headless_dns_event_queue_capacity",
                "Bound of the source event queue; a full queue makes sources wait.",
                queue.capacity as i64,
            )?;
        }
        {
            // Process-wide: the conversions that refuse have no handle on
            // this struct (see `crate::refused`).
            let mut family = encoder.encode_descriptor(
                "headless_dns_objects_refused",
                "Parts of objects from the API server or the manifests refused (logged once per object content), by reason: a name that is not a DNS label (the object), a hostname that is not one (the endpoint's name), an address that is not an IP, a bad port, more than the API server allows in one object (the excess), a name over 255 octets, a bad or self-pointing externalName.",
                None,
                MetricType::Counter,
            )?;
            for (reason, count) in crate::refused::counts() {
                prometheus_client::metrics::counter::ConstCounter::new(count)
                    .encode(family.encode_family(&[("reason", reason.label())])?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
