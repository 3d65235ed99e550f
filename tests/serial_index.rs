//! The SOA serial through the index, as the driver feeds it (the serial
//! rule itself is tested in `src/serial.rs`): indexes fed the same versions
//! in other batches agree, a version seen without a change publishes
//! nothing, and the closing of a stable-name window keeps the serial.

mod support;

use std::net::IpAddr;

use headless_dns::serial::fold;
use std::time::{Duration, Instant};

use headless_dns::index::ClusterIndex;
use headless_dns::model::{Endpoint, EndpointGroup, ObjectKey, Service, ServiceKind};
use support::settings::settings;

const GRACE: Duration = Duration::from_secs(30);

fn index() -> ClusterIndex {
    ClusterIndex::new(settings(), GRACE)
}

fn service(name: &str) -> Service {
    Service {
        key: ObjectKey::new("demo", name),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    }
}

fn slice(service: &str, hosts: &[(&str, &str)]) -> EndpointGroup {
    EndpointGroup {
        key: ObjectKey::new("demo", &format!("{service}-1")),
        service: ObjectKey::new("demo", service),
        ports: vec![],
        endpoints: hosts
            .iter()
            .map(|(host, ip)| Endpoint {
                addresses: vec![ip.parse::<IpAddr>().unwrap()],
                hostname: Some((*host).into()),
                target: Some((*host).into()),
                ready: true,
            })
            .collect(),
    }
}

#[test]
fn two_indexes_fed_the_same_versions_in_other_batches_agree() {
    let now = Instant::now();
    // a: everything in one batch, as a replica that started late sees it.
    let mut a = index();
    a.apply_service(service("web"));
    a.apply_slice(slice("web", &[("web-0", "10.0.0.1")]));
    a.apply_slice(slice("web", &[("web-0", "10.0.0.2")]));
    a.observe_version(7_000_000_012);
    a.set_synced(true);
    let a = a.publish(now).unwrap();
    // b: one publish per event, synced early.
    let mut b = index();
    b.observe_version(7_000_000_010);
    b.apply_service(service("web"));
    b.set_synced(true);
    let first = b.publish(now).unwrap().serial;
    assert_eq!(first, fold(7_000_000_010));
    b.observe_version(7_000_000_011);
    b.apply_slice(slice("web", &[("web-0", "10.0.0.1")]));
    assert_eq!(b.publish(now).unwrap().serial, fold(7_000_000_011));
    b.observe_version(7_000_000_012);
    b.apply_slice(slice("web", &[("web-0", "10.0.0.2")]));
    let b = b.publish(now).unwrap();
    assert_eq!(a.serial, fold(7_000_000_012));
    assert_eq!(a.serial, b.serial);
    let origin = a.forward.origin.clone();
    let records = |s: &headless_dns::snapshot::Snapshot| s.zone_records(&origin).unwrap();
    assert_eq!(records(&a), records(&b));
}

#[test]
fn a_version_seen_without_a_change_publishes_nothing_and_counts_later() {
    let now = Instant::now();
    let mut index = index();
    index.observe_version(5);
    index.apply_service(service("web"));
    index.set_synced(true);
    assert_eq!(index.publish(now).unwrap().serial, 5);
    // An update that changes nothing served (a label, say).
    index.observe_version(9);
    index.apply_service(service("web"));
    assert!(index.publish(now).is_none());
    // The next real change carries the newest version.
    index.observe_version(12);
    index.apply_slice(slice("web", &[("web-0", "10.0.0.1")]));
    assert_eq!(index.publish(now).unwrap().serial, 12);
    // A late event from another watch, older than 12: a new serial all
    // the same, never a second zone under 12.
    index.observe_version(11);
    index.apply_service(service("api"));
    index.apply_slice(slice("api", &[("api-0", "10.0.0.9")]));
    assert_eq!(index.publish(now).unwrap().serial, 13);
}

#[test]
fn the_closing_of_a_stable_name_window_keeps_the_serial() {
    let now = Instant::now();
    let mut index = index();
    index.observe_version(20);
    index.apply_service(service("web"));
    index.apply_slice(slice(
        "web",
        &[("web-0", "10.0.0.1"), ("web-1", "10.0.0.2")],
    ));
    index.set_synced(true);
    assert_eq!(index.publish(now).unwrap().serial, 20);
    index.observe_version(21);
    index.apply_slice(slice("web", &[("web-1", "10.0.0.2")]));
    let gone = index.publish(now).unwrap();
    assert_eq!(gone.serial, 21);
    let origin = gone.forward.origin.clone();
    let records: Vec<_> = gone.zone_records(&origin).unwrap();
    // web-0 answers NODATA until the window closes, then NXDOMAIN: a
    // new snapshot, the same records, the same serial.
    let deadline = index.next_deadline().expect("web-0's window");
    let closed = index.publish(deadline).expect("the window closed");
    assert_eq!(closed.serial, 21);
    let after: Vec<_> = closed.zone_records(&origin).unwrap();
    assert_eq!(after, records);
}
