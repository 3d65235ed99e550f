//! Synthetic watcher events through the source's `Watch` into the index,
//! asserting on the published snapshot: no sockets, deterministic time.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::dns::addresses;
use crate::support::kube_api::objects;
use crate::support::settings::settings;
use crate::{fqdn, ips};
use headless_dns::driver::{self, Change};
use headless_dns::index::ClusterIndex;
use headless_dns::snapshot::{self, Snapshot};
use headless_dns::source::kubernetes::{Kind, Watch, Watched};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use kube::runtime::watcher::Event;

const GRACE: Duration = Duration::from_secs(30);

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
