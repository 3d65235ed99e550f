//! The Kubernetes source, three ways:
//!
//! - synthetic watcher events through the source's [`Watch`] into the index,
//!   asserting on the published snapshot (no sockets, deterministic time);
//! - the real binary against the test API server (`support::kube_api`),
//!   asserting on DNS answers, `/readyz` and `/metrics`;
//! - every manifest under `deploy/`, parsed into typed objects and checked
//!   against each other.
//!
//! Waits are bounded polls; nothing sleeps hoping something happened.
//! `HEADLESS_DNS_OUTAGE_SECS` (default 4) sets how long the API server stays
//! down in the outage test (a closed server: connections refused); the
//! 30-second outage of a hung one (SIGSTOP, connections open) runs against
//! a real kube-apiserver in `tests/control_plane/`, as do real controllers'
//! slices and StatefulSets, RBAC and restarts.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use headless_dns::config::{Config, SourceConfig};
use headless_dns::driver::{self, Change};
use headless_dns::index::ClusterIndex;
use headless_dns::snapshot::{self, Snapshot, ZoneSettings};
use headless_dns::source::kubernetes::{Kind, Watch, Watched};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use kube::runtime::watcher::Event;
use support::dns::{addresses, query, udp};
use support::kube_api::{KubeApi, Resource, objects};
use support::server::{BIN, Server, eventually};

// ---------------------------------------------------------------------------
// Synthetic events → Watch → index → snapshot.
// ---------------------------------------------------------------------------

const GRACE: Duration = Duration::from_secs(30);

fn settings() -> Arc<ZoneSettings> {
    let config = Config::from_str("source: {kubernetes: {}}\n", Path::new("test.yaml")).unwrap();
    Arc::new(ZoneSettings::from_config(&config))
}

/// What a question gets: rcode, addresses, and the negative TTL (the
/// authority SOA's TTL) when there is one.
#[derive(Debug, PartialEq)]
struct Reply {
    rcode: ResponseCode,
    addresses: Vec<String>,
    negative_ttl: Option<u32>,
}

fn ask(snap: &Snapshot, name: &str, qtype: RecordType) -> Reply {
    let name = Name::from_ascii(name).unwrap();
    let answer = snapshot::answer(snap, &name, qtype);
    let records: Vec<Record> = answer.answers.records(&name);
    let negative_ttl = answer
        .authority
        .records(&name)
        .iter()
        .find(|r| matches!(r.data, RData::SOA(_)))
        .map(|r| r.ttl);
    Reply {
        rcode: answer.rcode,
        addresses: addresses(&records),
        negative_ttl,
    }
}

fn fqdn(host: &str) -> String {
    format!("{host}.svc.cluster.local.")
}

/// One watch per kind, cluster-wide, feeding one index, with a clock.
struct Harness {
    index: ClusterIndex,
    watches: HashMap<Kind, Watch>,
    start: Instant,
    clock: Duration,
}

impl Harness {
    /// Every watch lists `initial` (and nothing else), then the index is
    /// synced, as the source does.
    fn new(initial: Vec<Watched>) -> Self {
        let mut h = Self {
            index: ClusterIndex::new(settings(), GRACE),
            watches: [
                Kind::Service,
                Kind::EndpointSlice,
                Kind::Endpoints,
                Kind::StatefulSet,
            ]
            .into_iter()
            .map(|k| (k, Watch::new(k, None)))
            .collect(),
            start: Instant::now(),
            clock: Duration::ZERO,
        };
        for kind in [
            Kind::Service,
            Kind::EndpointSlice,
            Kind::Endpoints,
            Kind::StatefulSet,
        ] {
            let listed = initial
                .iter()
                .filter(|o| kind_of(o) == kind)
                .cloned()
                .collect();
            h.relist(kind, listed);
        }
        h.index.set_synced(true);
        h.publish();
        h
    }

    /// Publishes at the harness clock, as the driver does after each batch.
    fn publish(&mut self) {
        self.index.publish(self.start + self.clock);
    }

    fn feed(&mut self, kind: Kind, event: Event<Watched>) -> Option<Change> {
        self.watches.get_mut(&kind).unwrap().handle(event)
    }

    fn send(&mut self, change: Option<Change>) {
        if let Some(change) = change {
            driver::apply(&mut self.index, change);
            self.publish();
        }
    }

    fn apply(&mut self, object: Watched) {
        let change = self.feed(kind_of(&object), Event::Apply(object));
        self.send(change);
    }

    fn delete(&mut self, object: Watched) {
        let change = self.feed(kind_of(&object), Event::Delete(object));
        self.send(change);
    }

    /// A full relist of `kind`; returns the one change it produced.
    fn relist(&mut self, kind: Kind, listed: Vec<Watched>) -> Option<String> {
        assert!(self.feed(kind, Event::Init).is_none());
        for object in listed {
            assert!(
                self.feed(kind, Event::InitApply(object)).is_none(),
                "a relist must not send anything before InitDone"
            );
        }
        let change = self.feed(kind, Event::InitDone);
        let shape = change.as_ref().map(describe);
        self.send(change);
        shape
    }

    fn advance(&mut self, by: Duration) {
        self.clock += by;
    }

    fn a(&mut self, host: &str) -> Reply {
        self.publish();
        ask(self.index.snapshot(), &fqdn(host), RecordType::A)
    }
}

fn kind_of(object: &Watched) -> Kind {
    match object {
        Watched::Service(_) => Kind::Service,
        Watched::EndpointSlice(_) => Kind::EndpointSlice,
        Watched::Endpoints(_) => Kind::Endpoints,
        Watched::StatefulSet(_) => Kind::StatefulSet,
    }
}

/// `Batch[DeleteSlice(a/x), ApplySlice(a/y)]`: a change's shape.
fn describe(change: &Change) -> String {
    match change {
        Change::Batch(changes) => format!(
            "Batch[{}]",
            changes.iter().map(describe).collect::<Vec<_>>().join(", ")
        ),
        Change::ApplyService(s) => format!("ApplyService({})", s.key),
        Change::DeleteService(k) => format!("DeleteService({k})"),
        Change::ApplySlice(g) => format!("ApplySlice({})", g.key),
        Change::DeleteSlice(k) => format!("DeleteSlice({k})"),
        Change::ApplyEndpoints(g) => format!("ApplyEndpoints({})", g.key),
        Change::DeleteEndpoints(k) => format!("DeleteEndpoints({k})"),
        Change::ApplySet(s) => format!("ApplySet({})", s.key),
        Change::DeleteSet(k) => format!("DeleteSet({k})"),
        other => format!("{other:?}"),
    }
}

fn svc(ns: &str, name: &str, headless: bool) -> Watched {
    Watched::Service(objects::service(ns, name, headless))
}

fn slice(ns: &str, name: &str, service: &str, eps: &[objects::Ep<'_>]) -> Watched {
    Watched::EndpointSlice(objects::slice(ns, name, service, eps))
}

fn sts(ns: &str, name: &str, service: &str, replicas: i32) -> Watched {
    Watched::StatefulSet(objects::stateful_set(ns, name, service, replicas))
}

fn ips(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn a_service_switched_between_clusterip_and_headless_changes_its_answers() {
    let mut h = Harness::new(vec![
        svc("demo", "web", false),
        slice("demo", "web-1", "web", &[("10.0.0.1", Some("web-0"), true)]),
    ]);
    // ClusterIP: the cluster IP, never the endpoints, no names below.
    assert_eq!(h.a("web.demo").addresses, ips(&["10.96.0.10"]), "ClusterIP");
    assert_eq!(h.a("web-0.web.demo").rcode, ResponseCode::NXDomain);
    assert_eq!(h.watches[&Kind::Service].len(), 1, "every Service is kept");

    h.apply(svc("demo", "web", true));
    assert_eq!(h.a("web.demo").addresses, ips(&["10.0.0.1"]));
    assert_eq!(h.a("web-0.web.demo").addresses, ips(&["10.0.0.1"]));

    h.apply(svc("demo", "web", false));
    assert_eq!(h.a("web.demo").addresses, ips(&["10.96.0.10"]));
    assert_eq!(h.a("web-0.web.demo").rcode, ResponseCode::NXDomain);
}

#[test]
fn a_slice_added_changed_and_deleted_is_served_each_time() {
    let mut h = Harness::new(vec![svc("demo", "web", true)]);
    assert_eq!(
        h.a("web.demo").rcode,
        ResponseCode::NXDomain,
        "no endpoints"
    );

    h.apply(slice(
        "demo",
        "web-1",
        "web",
        &[("10.0.0.1", None, true), ("10.0.0.2", None, false)],
    ));
    assert_eq!(h.a("web.demo").addresses, ips(&["10.0.0.1"]), "ready only");
    assert_eq!(h.a("10-0-0-1.web.demo").addresses, ips(&["10.0.0.1"]));

    h.apply(slice(
        "demo",
        "web-1",
        "web",
        &[("10.0.0.1", None, true), ("10.0.0.2", None, true)],
    ));
    assert_eq!(h.a("web.demo").addresses, ips(&["10.0.0.1", "10.0.0.2"]));

    h.delete(slice("demo", "web-1", "web", &[]));
    assert_eq!(h.a("web.demo").rcode, ResponseCode::NXDomain);
    assert!(h.watches[&Kind::EndpointSlice].is_empty());
}

#[test]
fn two_slices_of_one_service_are_merged_and_deduplicated() {
    let mut h = Harness::new(vec![
        svc("demo", "web", true),
        slice(
            "demo",
            "web-1",
            "web",
            &[("10.0.0.1", Some("web-0"), true), ("10.0.0.3", None, true)],
        ),
        slice(
            "demo",
            "web-2",
            "web",
            &[("10.0.0.2", Some("web-1"), true), ("10.0.0.3", None, true)],
        ),
    ]);
    assert_eq!(
        h.a("web.demo").addresses,
        ips(&["10.0.0.1", "10.0.0.2", "10.0.0.3"])
    );
    assert_eq!(h.a("web-1.web.demo").addresses, ips(&["10.0.0.2"]));

    h.delete(slice("demo", "web-2", "web", &[]));
    assert_eq!(h.a("web.demo").addresses, ips(&["10.0.0.1", "10.0.0.3"]));
    assert_eq!(
        h.a("10-0-0-3.web.demo").addresses,
        ips(&["10.0.0.3"]),
        "still in the other slice"
    );
}

#[test]
fn an_endpoint_moving_between_slices_keeps_its_name() {
    let mut h = Harness::new(vec![
        svc("demo", "web", true),
        slice(
            "demo",
            "web-a",
            "web",
            &[
                ("10.0.0.1", Some("web-0"), true),
                ("10.0.0.2", Some("web-1"), true),
            ],
        ),
        slice("demo", "web-b", "web", &[("10.0.0.3", Some("web-2"), true)]),
    ]);
    // The EndpointSlice controller removes it from one slice, then adds it to
    // the other: two events. In between, the name is a restarting pod's:
    // NODATA with a short negative TTL, never NXDOMAIN.
    h.apply(slice(
        "demo",
        "web-a",
        "web",
        &[("10.0.0.2", Some("web-1"), true)],
    ));
    let between = h.a("web-0.web.demo");
    assert_eq!(between.rcode, ResponseCode::NoError);
    assert!(between.addresses.is_empty());
    assert!(between.negative_ttl.is_some_and(|t| t <= 1), "{between:?}");
    h.apply(slice(
        "demo",
        "web-b",
        "web",
        &[
            ("10.0.0.3", Some("web-2"), true),
            ("10.0.0.1", Some("web-0"), true),
        ],
    ));
    assert_eq!(h.a("web-0.web.demo").addresses, ips(&["10.0.0.1"]));

    // The other order (added to the new slice first) never loses it.
    h.apply(slice(
        "demo",
        "web-a",
        "web",
        &[
            ("10.0.0.2", Some("web-1"), true),
            ("10.0.0.9", Some("web-2"), true),
        ],
    ));
    assert_eq!(
        h.a("web-2.web.demo").addresses,
        ips(&["10.0.0.3", "10.0.0.9"])
    );
    h.apply(slice(
        "demo",
        "web-b",
        "web",
        &[("10.0.0.1", Some("web-0"), true)],
    ));
    assert_eq!(h.a("web-2.web.demo").addresses, ips(&["10.0.0.9"]));
    assert_eq!(
        h.a("web.demo").addresses,
        ips(&["10.0.0.1", "10.0.0.2", "10.0.0.9"])
    );
}

#[test]
fn statefulset_replicas_decide_which_names_stay_stable() {
    let three = [
        ("10.0.0.10", Some("db-0"), true),
        ("10.0.0.11", Some("db-1"), true),
        ("10.0.0.12", Some("db-2"), true),
    ];
    let mut h = Harness::new(vec![
        svc("demo", "db", true),
        slice("demo", "db-1", "db", &three),
        sts("demo", "db", "db", 3),
    ]);
    assert_eq!(h.a("db-2.db.demo").addresses, ips(&["10.0.0.12"]));

    // db-2 restarts: its endpoint goes, the set still declares it. NODATA
    // with a short negative TTL, even long after the grace window.
    h.apply(slice("demo", "db-1", "db", &three[..2]));
    h.advance(GRACE * 3);
    let restarting = h.a("db-2.db.demo");
    assert_eq!(restarting.rcode, ResponseCode::NoError, "{restarting:?}");
    assert!(restarting.negative_ttl.is_some_and(|t| t <= 1));

    // Scaled down to 2: db-2 is no longer declared. It stays NODATA for the
    // grace window from when it lost its endpoint (long gone here), so it is
    // NXDOMAIN at once.
    h.apply(sts("demo", "db", "db", 2));
    assert_eq!(h.a("db-2.db.demo").rcode, ResponseCode::NXDomain);

    // db-1 goes away with replicas 1: stable for the grace window only.
    h.apply(sts("demo", "db", "db", 1));
    h.apply(slice("demo", "db-1", "db", &three[..1]));
    assert_eq!(h.a("db-1.db.demo").rcode, ResponseCode::NoError);
    h.advance(GRACE + Duration::from_secs(1));
    assert_eq!(h.a("db-1.db.demo").rcode, ResponseCode::NXDomain);

    // Scaled up to 4: the new ordinals answer NODATA before their pods run.
    h.apply(sts("demo", "db", "db", 4));
    for host in ["db-1", "db-2", "db-3"] {
        let r = h.a(&format!("{host}.db.demo"));
        assert_eq!(r.rcode, ResponseCode::NoError, "{host}: {r:?}");
        assert!(r.addresses.is_empty());
    }
    assert_eq!(h.a("db-4.db.demo").rcode, ResponseCode::NXDomain);

    // The set deleted: only ordinals with endpoints remain.
    h.delete(sts("demo", "db", "db", 4));
    assert_eq!(h.a("db-3.db.demo").rcode, ResponseCode::NXDomain);
    assert_eq!(h.a("db-0.db.demo").addresses, ips(&["10.0.0.10"]));
}

#[test]
fn a_relist_is_one_batch_that_deletes_what_vanished() {
    let mut h = Harness::new(vec![
        svc("demo", "a", true),
        svc("demo", "b", true),
        slice("demo", "a-1", "a", &[("10.0.0.1", None, true)]),
        slice("demo", "b-1", "b", &[("10.0.0.2", None, true)]),
    ]);
    let shape = h.relist(
        Kind::EndpointSlice,
        vec![
            slice("demo", "a-1", "a", &[("10.0.0.1", None, true)]),
            slice("demo", "c-1", "c", &[("10.0.0.3", None, true)]),
        ],
    );
    assert_eq!(
        shape.as_deref(),
        Some("Batch[DeleteSlice(demo/b-1), ApplySlice(demo/a-1), ApplySlice(demo/c-1)]")
    );
    assert_eq!(h.a("a.demo").addresses, ips(&["10.0.0.1"]));
    assert_eq!(h.a("b.demo").rcode, ResponseCode::NXDomain);

    // A relist that lists a service as no longer headless: its cluster IP.
    h.relist(
        Kind::Service,
        vec![svc("demo", "a", false), svc("demo", "b", true)],
    );
    assert_eq!(h.a("a.demo").addresses, ips(&["10.96.0.10"]));
    // An empty relist of an empty watch sends nothing at all.
    assert_eq!(h.relist(Kind::Endpoints, vec![]), None);
}

#[test]
fn a_relist_of_one_namespace_leaves_the_others_alone() {
    let mut index = ClusterIndex::new(settings(), GRACE);
    let mut watch_a = Watch::new(Kind::EndpointSlice, Some("a"));
    let mut watch_b = Watch::new(Kind::EndpointSlice, Some("b"));
    let mut services = Watch::new(Kind::Service, None);
    let send = |index: &mut ClusterIndex, change: Option<Change>| {
        if let Some(change) = change {
            driver::apply(index, change);
        }
    };
    for (ns, watch) in [("a", &mut watch_a), ("b", &mut watch_b)] {
        send(
            &mut index,
            services.handle(Event::Apply(svc(ns, "web", true))),
        );
        send(&mut index, watch.handle(Event::Init));
        send(
            &mut index,
            watch.handle(Event::InitApply(slice(
                ns,
                "web-1",
                "web",
                &[("10.0.0.1", None, true)],
            ))),
        );
        send(&mut index, watch.handle(Event::InitDone));
    }
    assert!(watch_a.synced() && watch_b.synced());
    index.set_synced(true);
    // Namespace a's watch relists and finds nothing.
    send(&mut index, watch_a.handle(Event::Init));
    send(&mut index, watch_a.handle(Event::InitDone));
    index.publish(Instant::now());
    let snap = index.snapshot();
    assert_eq!(
        ask(snap, &fqdn("web.a"), RecordType::A).rcode,
        ResponseCode::NXDomain
    );
    assert_eq!(
        ask(snap, &fqdn("web.b"), RecordType::A).addresses,
        ips(&["10.0.0.1"])
    );
}

#[test]
fn objects_that_belong_to_no_service_are_dropped_not_kept() {
    let mut h = Harness::new(vec![svc("demo", "web", true), sts("demo", "db", "web", 2)]);
    assert_eq!(h.a("db-1.web.demo").rcode, ResponseCode::NoError);
    // A slice without the service-name label is nobody's.
    let mut orphan = objects::slice("demo", "orphan", "web", &[("10.0.0.7", None, true)]);
    orphan.metadata.labels = None;
    h.apply(Watched::EndpointSlice(orphan));
    assert!(h.watches[&Kind::EndpointSlice].is_empty());
    assert!(h.a("web.demo").addresses.is_empty());
    assert_eq!(h.a("10-0-0-7.web.demo").rcode, ResponseCode::NXDomain);
    // A StatefulSet whose serviceName is removed no longer declares names.
    let mut set = objects::stateful_set("demo", "db", "web", 2);
    set.spec.as_mut().unwrap().service_name = None;
    h.apply(Watched::StatefulSet(set));
    assert_eq!(h.a("db-1.web.demo").rcode, ResponseCode::NXDomain);
    assert!(h.watches[&Kind::StatefulSet].is_empty());
}

// ---------------------------------------------------------------------------
// The real binary against the test API server.
// ---------------------------------------------------------------------------

/// Writes a config for `api` (with `extra` lines under `source.kubernetes`)
/// and starts the binary on it.
async fn serve(api: &KubeApi, extra: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    api.write_kubeconfig(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("source:\n  kubernetes:\n    kubeconfig: kubeconfig.yaml\n{extra}"),
    )
    .unwrap();
    let server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .unwrap();
    (dir, server)
}

/// One A question over UDP; `None` if no answer came within 2 s.
async fn try_a(dns: SocketAddr, host: &str) -> Option<(ResponseCode, Vec<String>)> {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let message = query(&fqdn(host), RecordType::A);
    socket
        .send_to(&support::dns::bytes(&message), dns)
        .await
        .ok()?;
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    let m = support::dns::parse(&buf[..n]);
    Some((m.metadata.response_code, addresses(&m.answers)))
}

async fn a(server: &Server, host: &str) -> (ResponseCode, Vec<String>) {
    let m = udp(server.dns, &query(&fqdn(host), RecordType::A)).await;
    (m.metadata.response_code, addresses(&m.answers))
}

/// Polls until `host` answers exactly `want`, for at most `limit`.
async fn until_a(server: &Server, host: &str, want: &[&str], limit: Duration) {
    let want = ips(want);
    let got = eventually(limit, || async {
        let (rcode, got) = a(server, host).await;
        (rcode == ResponseCode::NoError && got == want).then_some(())
    })
    .await;
    if got.is_none() {
        let last = a(server, host).await;
        panic!(
            "{host} never answered {want:?} within {limit:?}; last {last:?}; log:\n{}",
            server.log().join("\n")
        );
    }
}

async fn until_rcode(server: &Server, host: &str, want: ResponseCode, limit: Duration) {
    let got = eventually(limit, || async {
        (a(server, host).await.0 == want).then_some(())
    })
    .await;
    assert!(
        got.is_some(),
        "{host} never answered {want:?} within {limit:?}; log:\n{}",
        server.log().join("\n")
    );
}

/// A metric's value from `/metrics` (the first sample of that name).
fn metric(server: &Server, name: &str) -> f64 {
    let (status, text) = server.http_get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

fn count_log(server: &Server, needle: &str) -> usize {
    server.log().iter().filter(|l| l.contains(needle)).count()
}

/// svc `web` (pods web-0, web-1), a ClusterIP service `api`, a set `web`.
fn populate(api: &KubeApi, ns: &str) {
    api.apply(objects::service(ns, "web", true));
    api.apply(objects::service(ns, "api", false));
    api.apply(objects::slice(
        ns,
        "web-abc",
        "web",
        &[
            ("10.1.0.1", Some("web-0"), true),
            ("10.1.0.2", Some("web-1"), true),
        ],
    ));
    api.apply(objects::slice(
        ns,
        "api-abc",
        "api",
        &[("10.1.9.9", None, true)],
    ));
    api.apply(objects::stateful_set(ns, "web", "web", 3));
}

const SYNC: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_answers_and_an_ip_change_is_served_promptly() {
    let api = KubeApi::start().await;
    populate(&api, "demo");
    api.apply(objects::endpoints(
        "demo",
        "legacy",
        &[("10.1.5.5", None, true)],
    ));
    api.apply(objects::service("demo", "legacy", true));
    let (_dir, server) = serve(&api, "").await;

    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    assert_eq!(server.http_get("/readyz").0, 200);
    assert_eq!(a(&server, "web-0.web.demo").await.1, ips(&["10.1.0.1"]));
    let declared = a(&server, "web-2.web.demo").await;
    assert_eq!(
        declared,
        (ResponseCode::NoError, vec![]),
        "declared ordinal"
    );
    // ClusterIP: the cluster IP, not the slice's endpoint.
    assert_eq!(a(&server, "api.demo").await.1, ips(&["10.96.0.10"]));
    assert_eq!(
        a(&server, "legacy.demo").await.0,
        ResponseCode::NXDomain,
        "v1 Endpoints are read only when legacy_endpoints is on"
    );
    assert!(count_log(&server, "kubernetes source synced") == 1);
    // Default settings: cluster-wide paths, pages, no Endpoints watch.
    let served = api.served();
    assert!(
        served
            .iter()
            .any(|s| s.path == "/api/v1/services" && s.watch)
    );
    assert!(
        served
            .iter()
            .filter(|s| !s.watch)
            .all(|s| s.query.get("limit").map(String::as_str) == Some("500"))
    );
    assert!(!served.iter().any(|s| s.path.ends_with("/endpoints")));

    // web-0 restarts with a new IP.
    let before = metric(&server, "headless_dns_programming_latency_seconds_count");
    api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[
            ("10.1.0.7", Some("web-0"), true),
            ("10.1.0.2", Some("web-1"), true),
        ],
    ));
    until_a(
        &server,
        "web-0.web.demo",
        &["10.1.0.7"],
        Duration::from_secs(5),
    )
    .await;
    // Programming latency (watch event in → answer visible) is measured by
    // the server; every change so far took under a second.
    let count = metric(&server, "headless_dns_programming_latency_seconds_count");
    assert!(count > before, "{before} → {count}");
    let (_, text) = server.http_get("/metrics");
    let under_1s = text
        .lines()
        .find_map(|l| {
            l.strip_prefix(r#"headless_dns_programming_latency_seconds_bucket{le="1.0"} "#)
        })
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no 1 s bucket in:\n{text}"));
    assert_eq!(under_1s, count, "{text}");

    // A deleted service goes at once.
    api.delete(Resource::Services, "demo", "web");
    until_rcode(
        &server,
        "web-0.web.demo",
        ResponseCode::NXDomain,
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_first_list_it_answers_servfail_and_is_not_ready() {
    let api = KubeApi::start().await;
    populate(&api, "demo");
    api.hold_lists();
    let (_dir, server) = serve(&api, "").await;
    // Whatever the server is doing, it must not claim a name is missing.
    for _ in 0..5 {
        assert_eq!(a(&server, "web.demo").await.0, ResponseCode::ServFail);
        assert_eq!(a(&server, "nope.demo").await.0, ResponseCode::ServFail);
        assert_eq!(server.http_get("/readyz").0, 503);
        assert_eq!(server.http_get("/healthz").0, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // It did ask, and is waiting for the answer.
    let asked = eventually(SYNC, || async { (api.lists_received() >= 3).then_some(()) }).await;
    assert!(asked.is_some(), "the source never listed");
    assert!(api.served().is_empty(), "a list was answered while held");
    assert_eq!(a(&server, "web.demo").await.0, ResponseCode::ServFail);
    api.release_lists();
    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    assert_eq!(server.http_get("/readyz").0, 200);
    assert_eq!(a(&server, "nope.demo").await.0, ResponseCode::NXDomain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_of_the_api_server_keeps_the_last_state_served() {
    let outage: u64 = std::env::var("HEADLESS_DNS_OUTAGE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let api = KubeApi::start().await;
    // No bookmarks to speak of: a quiet watch must count as current because
    // it is open, not because bytes keep arriving.
    api.set_bookmark_interval(Duration::from_secs(3600));
    populate(&api, "demo");
    let (_dir, server) = serve(&api, "").await;
    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let stale = metric(&server, "headless_dns_source_stale_seconds");
    assert!(stale <= 1.0, "stale {stale} s while every watch streams");

    api.stop().await;
    let down = Instant::now();
    let mut checks = 0;
    let mut stale = 0.0;
    while down.elapsed() < Duration::from_secs(outage) {
        assert_eq!(
            a(&server, "web.demo").await,
            (ResponseCode::NoError, ips(&["10.1.0.1", "10.1.0.2"]))
        );
        assert_eq!(a(&server, "web-1.web.demo").await.1, ips(&["10.1.0.2"]));
        assert_eq!(server.http_get("/readyz").0, 200, "still ready");
        stale = metric(&server, "headless_dns_source_stale_seconds");
        checks += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(checks >= 8, "only {checks} checks in {outage} s");
    // Whole seconds: after `outage` s down, at least outage - 2.
    assert!(
        stale >= (outage as f64 - 2.0).max(1.0),
        "staleness {stale} after {outage} s down"
    );
    // One warning per watch, not one per retry.
    let warned = count_log(&server, "watch failed");
    assert!(
        (1..=3).contains(&warned),
        "{warned} warnings; log:\n{}",
        server.log().join("\n")
    );

    // A change made while the server was unreachable arrives after it.
    api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[("10.1.0.8", Some("web-0"), true)],
    ));
    api.restart().await;
    // The watcher's backoff grows to 30 s at most.
    until_a(&server, "web.demo", &["10.1.0.8"], Duration::from_secs(60)).await;
    let fresh = eventually(Duration::from_secs(10), || async {
        (metric(&server, "headless_dns_source_stale_seconds") <= 1.0).then_some(())
    })
    .await;
    assert!(fresh.is_some(), "still stale after reconnecting");
    let restored = eventually(Duration::from_secs(10), || async {
        (count_log(&server, "watch restored") >= warned).then_some(())
    })
    .await;
    assert!(restored.is_some(), "log:\n{}", server.log().join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_watch_relists_without_failing_a_query() {
    let api = KubeApi::start().await;
    populate(&api, "demo");
    api.apply(objects::service("demo", "old", true));
    api.apply(objects::slice(
        "demo",
        "old-1",
        "old",
        &[("10.1.3.1", None, true)],
    ));
    let (_dir, server) = serve(&api, "").await;
    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    until_a(&server, "old.demo", &["10.1.3.1"], SYNC).await;
    let lists_before = api.served().iter().filter(|s| !s.watch).count();

    // Ask continuously while the source relists.
    let stop = Arc::new(AtomicBool::new(false));
    let asked = Arc::new(AtomicUsize::new(0));
    let dns = server.dns;
    let querier = {
        let (stop, asked) = (stop.clone(), asked.clone());
        tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                for (host, want) in [
                    ("web.demo", ips(&["10.1.0.1", "10.1.0.2"])),
                    ("web-0.web.demo", ips(&["10.1.0.1"])),
                ] {
                    let got = try_a(dns, host).await;
                    if got != Some((ResponseCode::NoError, want.clone())) {
                        failures.push(format!("{host}: {got:?}"));
                    }
                    asked.fetch_add(1, Ordering::Relaxed);
                }
            }
            failures
        })
    };

    // While no watch can start: end the open ones, change things, and
    // compact history so that resuming from the old version is 410 Gone.
    api.hold_watches();
    api.drop_watches();
    api.delete(Resource::EndpointSlices, "demo", "old-1");
    api.apply(objects::service("demo", "new", true));
    api.apply(objects::slice(
        "demo",
        "new-1",
        "new",
        &[("10.1.4.1", None, true)],
    ));
    api.compact();
    api.release_watches();

    until_a(&server, "new.demo", &["10.1.4.1"], SYNC).await;
    until_rcode(&server, "old.demo", ResponseCode::NXDomain, SYNC).await;
    // Keep asking a little past the relist.
    let target = asked.load(Ordering::Relaxed) + 20;
    let enough = eventually(Duration::from_secs(10), || async {
        (asked.load(Ordering::Relaxed) >= target).then_some(())
    })
    .await;
    assert!(enough.is_some());
    stop.store(true, Ordering::Relaxed);
    let failures = querier.await.unwrap();
    assert!(failures.is_empty(), "failed queries: {failures:?}");
    assert!(asked.load(Ordering::Relaxed) >= 40);
    assert!(api.gone_served() >= 1, "no watch was answered 410");
    let lists_after = api.served().iter().filter(|s| !s.watch).count();
    assert!(lists_after > lists_before, "no relist");
    assert_eq!(server.http_get("/readyz").0, 200);
    assert_eq!(count_log(&server, "watch failed"), 0, "410 is routine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_watch_event_loses_no_answer_and_the_watch_resumes() {
    let api = KubeApi::start().await;
    populate(&api, "demo");
    let (_dir, server) = serve(&api, "").await;
    until_a(&server, "web.demo", &["10.1.0.1", "10.1.0.2"], SYNC).await;
    let watching = eventually(SYNC, || async { (api.open_watches() >= 3).then_some(()) }).await;
    assert!(watching.is_some(), "the watches never opened");
    // Not JSON at all, then JSON of the wrong shape (a port that is text).
    for (i, line) in [
        "<html>502 Bad Gateway</html>",
        r#"{"type":"MODIFIED","object":{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"web-abc","namespace":"demo"},"addressType":"IPv4","endpoints":[],"ports":[{"port":"eighty"}]}}"#,
    ]
    .into_iter()
    .enumerate()
    {
        assert!(api.send_raw(Resource::EndpointSlices, line) >= 1, "no watch got {line}");
        // Each is a watch failure, logged once, and the watch comes back;
        // the last good state keeps being served, all of it, meanwhile.
        let back = eventually(SYNC, || async {
            assert_eq!(
                a(&server, "web.demo").await,
                (ResponseCode::NoError, ips(&["10.1.0.1", "10.1.0.2"]))
            );
            assert_eq!(server.http_get("/readyz").0, 200);
            let failed = count_log(&server, "watch failed");
            let restored = count_log(&server, "watch restored");
            (failed == i + 1 && restored == i + 1 && api.open_watches() >= 3).then_some(())
        })
        .await;
        assert!(back.is_some(), "after {line}:\n{}", server.log().join("\n"));
    }
    // The watch resumes: the next real change is served.
    api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[("10.1.0.9", Some("web-0"), true)],
    ));
    until_a(&server, "web.demo", &["10.1.0.9"], Duration::from_secs(60)).await;
    assert_eq!(server.http_get("/healthz").0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_are_read_page_by_page_to_the_end() {
    let api = KubeApi::start().await;
    // More than the watcher's page of 500.
    for i in 0..620 {
        let name = format!("s{i}");
        api.apply(objects::service("bulk", &name, true));
        let ip = format!("10.2.{}.{}", i / 250, i % 250 + 1);
        api.apply(objects::slice(
            "bulk",
            &format!("{name}-1"),
            &name,
            &[(ip.as_str(), None, true)],
        ));
    }
    let (_dir, server) = serve(&api, "").await;
    until_a(&server, "s0.bulk", &["10.2.0.1"], SYNC).await;
    assert_eq!(a(&server, "s619.bulk").await.1, ips(&["10.2.2.120"]));
    assert!(
        api.served()
            .iter()
            .any(|s| s.path == "/api/v1/services" && s.query.contains_key("continue")),
        "no second page was asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_and_label_selector_limit_what_is_watched() {
    let api = KubeApi::start().await;
    let on = [("dns", "on")];
    for ns in ["a", "b"] {
        api.apply(objects::service_with_labels(ns, "picked", true, &on));
        api.apply(objects::slice_with_labels(
            ns,
            "picked-1",
            "picked",
            &[("10.3.0.1", None, true)],
            &on,
        ));
        api.apply(objects::service(ns, "unlabelled", true));
        api.apply(objects::slice(
            ns,
            "unlabelled-1",
            "unlabelled",
            &[("10.3.0.2", None, true)],
        ));
    }
    api.apply(objects::stateful_set("a", "picked", "picked", 2));
    let (_dir, server) = serve(
        &api,
        "    namespaces: [a]\n    label_selector: dns=on\n    legacy_endpoints: true\n",
    )
    .await;
    until_a(&server, "picked.a", &["10.3.0.1"], SYNC).await;
    assert_eq!(a(&server, "unlabelled.a").await.0, ResponseCode::NXDomain);
    assert_eq!(a(&server, "picked.b").await.0, ResponseCode::NXDomain);
    // StatefulSets are not filtered by the selector.
    assert_eq!(
        a(&server, "picked-1.picked.a").await,
        (ResponseCode::NoError, vec![])
    );
    let watches: Vec<_> = api.served().into_iter().filter(|s| s.watch).collect();
    assert!(watches.iter().all(|s| s.path.contains("/namespaces/a/")));
    for plural in ["services", "endpointslices", "endpoints", "statefulsets"] {
        let w = watches
            .iter()
            .find(|s| s.path.ends_with(&format!("/{plural}")))
            .unwrap_or_else(|| panic!("no watch of {plural}"));
        let selector = w.query.get("labelSelector").map(String::as_str);
        let want = (plural != "statefulsets").then_some("dns=on");
        assert_eq!(selector, want, "{plural}");
    }

    // Removing the label takes the service out (the API server sends the
    // watch a DELETED).
    api.apply(objects::service("a", "picked", true));
    until_rcode(
        &server,
        "picked.a",
        ResponseCode::NXDomain,
        Duration::from_secs(5),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_endpoints_are_served_when_switched_on() {
    let api = KubeApi::start().await;
    api.apply(objects::service("demo", "legacy", true));
    api.apply(objects::endpoints(
        "demo",
        "legacy",
        &[("10.4.0.1", Some("legacy-0"), true)],
    ));
    let (_dir, server) = serve(&api, "    legacy_endpoints: true\n").await;
    until_a(&server, "legacy-0.legacy.demo", &["10.4.0.1"], SYNC).await;
    api.apply(objects::endpoints(
        "demo",
        "legacy",
        &[("10.4.0.2", Some("legacy-0"), true)],
    ));
    until_a(
        &server,
        "legacy-0.legacy.demo",
        &["10.4.0.2"],
        Duration::from_secs(5),
    )
    .await;
}

#[test]
fn a_missing_kubeconfig_is_a_startup_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "source:\n  kubernetes:\n    kubeconfig: nowhere/kubeconfig.yaml\n",
    )
    .unwrap();
    for args in [
        vec!["check-config".to_owned(), config.display().to_string()],
        vec![
            "serve".to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--admin".to_owned(),
            "127.0.0.1:0".to_owned(),
        ],
    ] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("nowhere/kubeconfig.yaml"),
            "{args:?}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_summarises_a_kubernetes_source() {
    let api = KubeApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    api.write_kubeconfig(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "source:\n  kubernetes:\n    kubeconfig: kubeconfig.yaml\n    namespaces: [a, b]\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("services, endpointslices, statefulsets"),
        "{stdout}"
    );
    assert!(stdout.contains("namespaces a, b"), "{stdout}");
    assert!(
        api.served().is_empty(),
        "check-config must not call the API server"
    );
}

// ---------------------------------------------------------------------------
// deploy/: typed, and consistent with each other.
// ---------------------------------------------------------------------------

mod deploy {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service, ServiceAccount};
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
    use serde_json::Value;

    fn deploy_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy")
    }

    /// Every object in the kustomization's resources, typed.
    #[derive(Default)]
    struct Objects {
        namespaces: Vec<Namespace>,
        accounts: Vec<ServiceAccount>,
        roles: Vec<ClusterRole>,
        bindings: Vec<ClusterRoleBinding>,
        config_maps: Vec<ConfigMap>,
        deployments: Vec<Deployment>,
        services: Vec<Service>,
        budgets: Vec<PodDisruptionBudget>,
    }

    /// Parses `value` as `T` and proves nothing was dropped on the way: a
    /// misspelt field would be ignored by the typed parse, so the typed
    /// object is written back and compared with what the file says.
    fn typed<T: serde::de::DeserializeOwned + serde::Serialize>(value: &Value, at: &str) -> T {
        let object: T = serde_path_to_error::deserialize(value)
            .unwrap_or_else(|e| panic!("{at}: {}: {}", e.path(), e.inner()));
        let back = serde_json::to_value(&object).unwrap();
        if let Some(path) = first_difference(value, &back, "") {
            panic!("{at}: {path} is not a field of this kind (misspelt or misplaced?)");
        }
        object
    }

    /// The first path present in `written` but lost or changed in `typed`.
    fn first_difference(written: &Value, typed: &Value, path: &str) -> Option<String> {
        match (written, typed) {
            (Value::Object(w), Value::Object(t)) => w.iter().find_map(|(k, v)| {
                let here = format!("{path}.{k}");
                match t.get(k) {
                    Some(tv) => first_difference(v, tv, &here),
                    // Empty values may be dropped by the typed writer.
                    None if is_empty(v) => None,
                    None => Some(here),
                }
            }),
            (Value::Array(w), Value::Array(t)) if w.len() == t.len() => w
                .iter()
                .zip(t)
                .enumerate()
                .find_map(|(i, (w, t))| first_difference(w, t, &format!("{path}[{i}]"))),
            (Value::Number(w), Value::Number(t)) => {
                (w.as_f64() != t.as_f64()).then(|| path.to_owned())
            }
            (w, t) => (w != t).then(|| path.to_owned()),
        }
    }

    fn is_empty(v: &Value) -> bool {
        match v {
            Value::Null => true,
            Value::Object(o) => o.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        }
    }

    fn documents(path: &Path) -> Vec<Value> {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut docs = Vec::new();
        let mut current = String::new();
        for line in text.lines().chain(std::iter::once("---")) {
            if line.starts_with("---") {
                if current
                    .lines()
                    .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                {
                    let value: Value = serde_saphyr::from_str(&current)
                        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                    docs.push(value);
                }
                current.clear();
            } else {
                current.push_str(line);
                current.push('\n');
            }
        }
        docs
    }

    fn load() -> Objects {
        let dir = deploy_dir();
        let kustomization = documents(&dir.join("kustomization.yaml"));
        let resources: Vec<String> = kustomization[0]["resources"]
            .as_array()
            .expect("kustomization resources")
            .iter()
            .map(|r| r.as_str().unwrap().to_owned())
            .collect();
        // Every manifest is listed, and every listed file exists.
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
            .collect();
        on_disk.sort();
        let mut listed = resources.clone();
        listed.sort();
        assert_eq!(
            listed, on_disk,
            "kustomization.yaml resources vs deploy/*.yaml"
        );

        let mut objects = Objects::default();
        for file in &resources {
            for (i, doc) in documents(&dir.join(file)).iter().enumerate() {
                let kind = doc["kind"].as_str().unwrap_or_default();
                let at = format!("deploy/{file}: document {}: {kind}", i + 1);
                match kind {
                    "Namespace" => objects.namespaces.push(typed(doc, &at)),
                    "ServiceAccount" => objects.accounts.push(typed(doc, &at)),
                    "ClusterRole" => objects.roles.push(typed(doc, &at)),
                    "ClusterRoleBinding" => objects.bindings.push(typed(doc, &at)),
                    "ConfigMap" => objects.config_maps.push(typed(doc, &at)),
                    "Deployment" => objects.deployments.push(typed(doc, &at)),
                    "Service" => objects.services.push(typed(doc, &at)),
                    "PodDisruptionBudget" => objects.budgets.push(typed(doc, &at)),
                    other => panic!("{at}: unexpected kind {other:?}"),
                }
            }
        }
        objects
    }

    fn one<'a, T>(list: &'a [T], what: &str) -> &'a T {
        assert_eq!(list.len(), 1, "expected one {what}");
        &list[0]
    }

    #[test]
    fn every_manifest_is_typed_and_they_agree() {
        let o = load();
        let namespace = one(&o.namespaces, "Namespace")
            .metadata
            .name
            .clone()
            .unwrap();
        let account = one(&o.accounts, "ServiceAccount");
        let role = one(&o.roles, "ClusterRole");
        let binding = one(&o.bindings, "ClusterRoleBinding");
        let config_map = one(&o.config_maps, "ConfigMap");
        let deployment = one(&o.deployments, "Deployment");
        let service = one(&o.services, "Service");
        let budget = one(&o.budgets, "PodDisruptionBudget");
        for ns in [
            &account.metadata.namespace,
            &config_map.metadata.namespace,
            &deployment.metadata.namespace,
            &service.metadata.namespace,
            &budget.metadata.namespace,
        ] {
            assert_eq!(ns.as_deref(), Some(namespace.as_str()));
        }

        // RBAC: read-only, on exactly the kinds watched.
        let mut granted: Vec<(String, String)> = Vec::new();
        for rule in role.rules.as_deref().unwrap_or_default() {
            let mut verbs = rule.verbs.clone();
            verbs.sort();
            assert_eq!(verbs, ["get", "list", "watch"], "{rule:?}");
            for group in rule.api_groups.as_deref().unwrap_or_default() {
                for resource in rule.resources.as_deref().unwrap_or_default() {
                    granted.push((group.clone(), resource.clone()));
                }
            }
        }
        granted.sort();
        let want: Vec<(String, String)> = [
            ("", "endpoints"),
            ("", "services"),
            ("apps", "statefulsets"),
            ("discovery.k8s.io", "endpointslices"),
        ]
        .iter()
        .map(|(g, r)| ((*g).to_owned(), (*r).to_owned()))
        .collect();
        assert_eq!(granted, want);
        assert_eq!(binding.role_ref.kind, "ClusterRole");
        assert_eq!(Some(&binding.role_ref.name), role.metadata.name.as_ref());
        let subject = one(binding.subjects.as_deref().unwrap_or_default(), "subject");
        assert_eq!(subject.kind, "ServiceAccount");
        assert_eq!(Some(&subject.name), account.metadata.name.as_ref());
        assert_eq!(subject.namespace.as_deref(), Some(namespace.as_str()));

        // The config in the ConfigMap loads, and is what the pod listens on.
        let data = config_map.data.as_ref().expect("ConfigMap data");
        let text = data.get("config.yaml").expect("ConfigMap key config.yaml");
        let config = Config::from_str(text, Path::new("deploy/configmap.yaml"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(config.source, SourceConfig::Kubernetes(_)));
        let dns_port = one(&config.dns.listen, "dns.listen").port();
        assert!(config.dns.listen[0].ip().is_unspecified());
        assert_eq!(config.admin.listen, "0.0.0.0:9153".parse().unwrap());

        // The Deployment.
        let spec = deployment.spec.as_ref().unwrap();
        assert_eq!(spec.replicas, Some(2));
        let template = &spec.template;
        let pod_labels = template.metadata.as_ref().unwrap().labels.clone().unwrap();
        let selector = spec.selector.match_labels.clone().unwrap();
        assert!(selector.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
        let pod = template.spec.as_ref().unwrap();
        assert_eq!(pod.service_account_name, account.metadata.name);
        let anti = pod
            .affinity
            .as_ref()
            .and_then(|a| a.pod_anti_affinity.as_ref())
            .expect("pod anti-affinity");
        let terms = anti
            .preferred_during_scheduling_ignored_during_execution
            .as_deref()
            .unwrap_or_default();
        assert!(
            terms
                .iter()
                .any(|t| t.pod_affinity_term.topology_key == "kubernetes.io/hostname"),
            "spread over nodes"
        );
        let container = one(&pod.containers, "container");
        let ports: Vec<(i32, String)> = container
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|p| (p.container_port, p.protocol.clone().unwrap_or("TCP".into())))
            .collect();
        for want in [
            (i32::from(dns_port), "UDP".to_owned()),
            (i32::from(dns_port), "TCP".to_owned()),
            (9153, "TCP".to_owned()),
        ] {
            assert!(ports.contains(&want), "{want:?} not in {ports:?}");
        }
        for (probe, path) in [
            (&container.readiness_probe, "/readyz"),
            (&container.liveness_probe, "/healthz"),
        ] {
            let get = probe
                .as_ref()
                .and_then(|p| p.http_get.as_ref())
                .expect(path);
            assert_eq!(get.path.as_deref(), Some(path));
            let port = match get.port.clone() {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => p,
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name) => {
                    container
                        .ports
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .find(|p| p.name.as_deref() == Some(name.as_str()))
                        .unwrap_or_else(|| panic!("probe port {name} not declared"))
                        .container_port
                }
            };
            assert_eq!(port, 9153, "{path}");
        }
        let resources = container.resources.as_ref().expect("resources");
        for key in ["cpu", "memory"] {
            assert!(
                resources
                    .requests
                    .as_ref()
                    .is_some_and(|r| r.contains_key(key))
            );
        }
        assert!(
            resources
                .limits
                .as_ref()
                .is_some_and(|r| r.contains_key("memory"))
        );
        let security = container
            .security_context
            .as_ref()
            .expect("securityContext");
        assert_eq!(security.run_as_non_root, Some(true));
        assert_eq!(security.read_only_root_filesystem, Some(true));
        assert_eq!(security.allow_privilege_escalation, Some(false));
        let caps = security.capabilities.as_ref().expect("capabilities");
        assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_owned()][..]));
        if dns_port < 1024 {
            assert_eq!(
                caps.add.as_deref(),
                Some(&["NET_BIND_SERVICE".to_owned()][..])
            );
        } else {
            assert!(
                caps.add.is_none(),
                "an unprivileged port needs no capability"
            );
        }
        // The config is mounted where the arguments say.
        let args = container.args.clone().unwrap_or_default().join(" ");
        let mount = container
            .volume_mounts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|m| args.contains(&m.mount_path))
            .unwrap_or_else(|| panic!("no mount holds the config in {args:?}"));
        let volume = pod
            .volumes
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|v| v.name == mount.name)
            .expect("the mounted volume");
        assert_eq!(
            volume.config_map.as_ref().map(|c| &c.name),
            config_map.metadata.name.as_ref()
        );
        // The cookie secret is a file from the Secret every replica mounts
        // (optional: without it each replica makes its own).
        let secret_file = config
            .dns
            .cookie_secret_file
            .as_ref()
            .expect("dns.cookie_secret_file");
        let mount = container
            .volume_mounts
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|m| secret_file.starts_with(&m.mount_path))
            .unwrap_or_else(|| panic!("no mount holds {}", secret_file.display()));
        assert_eq!(mount.read_only, Some(true));
        let secret = pod
            .volumes
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|v| v.name == mount.name)
            .and_then(|v| v.secret.as_ref())
            .expect("a Secret volume for the cookie secret");
        assert_eq!(secret.secret_name.as_deref(), Some("headless-dns-cookie"));
        assert_eq!(secret.optional, Some(true));
        let key = secret_file.file_name().unwrap().to_str().unwrap();
        assert!(
            secret
                .items
                .as_deref()
                .is_none_or(|items| items.iter().any(|i| i.path == key)),
            "the Secret's items do not give {key}"
        );

        // The Service: 53 over UDP and TCP to the pod's DNS port, plus metrics.
        let service_spec = service.spec.as_ref().unwrap();
        assert!(
            service_spec
                .selector
                .as_ref()
                .unwrap()
                .iter()
                .all(|(k, v)| pod_labels.get(k) == Some(v))
        );
        let service_ports = service_spec.ports.as_deref().unwrap_or_default();
        for protocol in ["UDP", "TCP"] {
            let port = service_ports
                .iter()
                .find(|p| p.port == 53 && p.protocol.as_deref() == Some(protocol))
                .unwrap_or_else(|| panic!("no 53/{protocol}"));
            let target = match port.target_port.clone() {
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p)) => p,
                other => panic!("53/{protocol}: targetPort {other:?}: give the number"),
            };
            assert_eq!(target, i32::from(dns_port), "53/{protocol}");
        }
        assert!(service_ports.iter().any(|p| p.port == 9153));

        // The budget keeps one replica through voluntary disruptions.
        let budget_spec = budget.spec.as_ref().unwrap();
        assert_eq!(
            budget_spec.selector.as_ref().unwrap().match_labels,
            Some(selector)
        );

        // The CoreDNS snippet forwards the configured zone and the reverse
        // zones of every configured CIDR, in one server block.
        let corefile =
            std::fs::read_to_string(deploy_dir().join("coredns-stub-zone.Corefile")).unwrap();
        let zone = config.zone.trim_end_matches('.');
        let block = corefile
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{zone}:53 ")) && l.ends_with('{'))
            .unwrap_or_else(|| {
                panic!("the Corefile snippet has no server block for {zone}:\n{corefile}")
            });
        assert!(
            !config.dns.reverse_cidrs.is_empty(),
            "deploy sets reverse_cidrs"
        );
        for cidr in &config.dns.reverse_cidrs {
            assert!(
                block.split_whitespace().any(|z| z == format!("{cidr}:53")),
                "{cidr} is not forwarded: {block}"
            );
        }
        assert!(corefile.contains("forward ."), "{corefile}");

        // The image runs what the Deployment asks for.
        let dockerfile = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
        assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage");
        assert!(dockerfile.contains("nonroot") || dockerfile.contains("USER 65532"));
    }
}
