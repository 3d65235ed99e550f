//! AXFR and IXFR over TCP and UDP against the server run in-process
//! (`support::app`): transfers follow the live zone (`GET /zone`) through
//! scaling and deleted pods, each one consistent snapshot; the ACL and UDP
//! refuse; a zone of 2,000 endpoints goes in many messages.

use super::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::app::Running;
use crate::support::server::eventually;
use crate::support::xfr::{apply_ixfr, axfr, ixfr, soa_serial, xfr};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, Record, RecordType};

/// `ctl ARGS...` against the server, in-process; it must succeed.
fn ctl(server: &Running, args: &[&str]) {
    let output = crate::support::tutorial::ctl(server.admin, args, "");
    assert_eq!(output.code, 0, "ctl {args:?}: {output:?}");
}

/// Invariants of one forward-zone AXFR of the walkthrough: the service's
/// addresses are exactly its pods' addresses and every SRV target has an
/// address — a transfer that mixed two snapshots breaks them.
fn check_consistent(records: &[Record]) {
    let mut service = BTreeSet::new();
    let mut pods = BTreeSet::new();
    let mut targets = BTreeSet::new();
    let mut pod_names = BTreeSet::new();
    for r in records {
        let owner = r.name.to_ascii();
        match &r.data {
            RData::A(a) if owner == "nginx-demo.demo.svc.cluster.local." => {
                service.insert(a.0);
            }
            RData::A(a) if owner.ends_with(".nginx-demo.demo.svc.cluster.local.") => {
                pods.insert(a.0);
                pod_names.insert(owner);
            }
            RData::SRV(srv) if owner.ends_with(".nginx-demo.demo.svc.cluster.local.") => {
                targets.insert(srv.target.to_ascii());
            }
            _ => {}
        }
    }
    assert_eq!(service, pods, "service addresses ≠ pod addresses");
    assert_eq!(
        targets, pod_names,
        "SRV targets ≠ pod names with an address"
    );
}

#[tokio::test]
async fn axfr_and_ixfr_follow_the_live_zone_through_changes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &[manifests_dir()],
        "transfer:\n  allow: [127.0.0.0/8]\n",
    );
    let server = Running::start(&config);
    // Wait for both pods, then transfer: the secondary's starting point.
    let (first, first_zone) = eventually(Duration::from_secs(20), || async {
        let (serial, zone) = live_zone(server.admin, "forward");
        let pods = zone.iter().filter(|l| l.starts_with("web-demo-")).count();
        (pods == 2).then_some((serial, zone))
    })
    .await
    .expect("two pods within 20 s");
    let q = axfr(FORWARD);
    let raw = xfr(server.dns, &q).await;
    let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
    let serial = soa_serial(&records[0]).unwrap();
    assert_eq!(serial, first, "the zone changed while nothing happened");
    let body = &records[1..records.len() - 1];
    assert_eq!(lines(body), first_zone, "AXFR ≠ GET /zone");
    check_consistent(body);

    // Scale up and delete a pod while transferring over and over: every
    // transfer is one consistent snapshot.
    ctl(
        &server,
        &["scale", "sts", "web-demo", "-n", "demo", "--replicas=5"],
    );
    ctl(&server, &["delete", "pod", "web-demo-0", "-n", "demo"]);
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let raw = xfr(server.dns, &q).await;
        let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
        let serial = soa_serial(&records[0]).unwrap();
        assert_eq!(soa_serial(records.last().unwrap()), Some(serial));
        check_consistent(&records[1..records.len() - 1]);
        seen.insert(serial);
        let pods = records
            .iter()
            .filter(|r| {
                r.name.to_ascii().starts_with("web-demo-") && r.record_type() == RecordType::A
            })
            .count();
        if pods == 5 {
            break;
        }
        assert!(Instant::now() < deadline, "five pods within 20 s");
    }
    println!(
        "consistent AXFRs at {} serials during the change",
        seen.len()
    );

    // IXFR from the first serial, applied to the first zone, is the zone
    // now (retried until the zone holds still long enough to compare).
    let settled = eventually(Duration::from_secs(20), || async {
        let q = ixfr(FORWARD, first);
        let raw = xfr(server.dns, &q).await;
        let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
        let to = soa_serial(&records[0]).unwrap();
        let mut zone = first_zone.clone();
        apply_ixfr(&mut zone, &records, first, to);
        let (now, live) = live_zone(server.admin, "forward");
        (now == to).then(|| assert_eq!(zone, live, "IXFR-applied zone ≠ GET /zone"))
    })
    .await;
    assert!(settled.is_some(), "the zone did not hold still for 20 s");

    // The reverse zone too, by AXFR against GET /zone.
    let q = axfr(IN_ADDR);
    let raw = xfr(server.dns, &q).await;
    let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
    let (serial, live) = live_zone(server.admin, "reverse");
    if soa_serial(&records[0]) == Some(serial) {
        // `reverse` lists in-addr.arpa. first, then ip6.arpa.
        let ours = lines(&records[1..records.len() - 1]);
        assert!(ours.is_subset(&live), "{ours:#?} ⊄ {live:#?}");
        assert_eq!(
            // Five pods, and the ClusterIP Service `web`.
            ours.iter().filter(|l| l.contains("\tPTR\t")).count(),
            6,
            "{ours:#?}"
        );
    }
}

#[tokio::test]
async fn refuses_transfers_outside_the_acl_and_over_udp() {
    let dir = tempfile::tempdir().unwrap();
    for extra in ["", "transfer:\n  allow: [10.0.0.0/8, '::1/128']\n"] {
        let config = write_config(dir.path(), &[manifests_dir()], extra);
        let server = Running::start(&config);
        for q in [axfr(FORWARD), ixfr(FORWARD, 1), axfr(IN_ADDR)] {
            let raw = xfr(server.dns, &q).await;
            let (messages, records) = check_messages(&q, &raw, ResponseCode::Refused);
            assert_eq!(messages.len(), 1);
            assert!(records.is_empty());
            let m = support::dns::udp(server.dns, &q).await;
            assert_eq!(m.metadata.response_code, ResponseCode::Refused, "{extra}");
        }
    }
    // Allowed: AXFR over UDP is still refused, IXFR over UDP is the SOA.
    let config = write_config(
        dir.path(),
        &[manifests_dir()],
        "transfer:\n  allow: [127.0.0.1]\n",
    );
    let server = Running::start(&config);
    let m = support::dns::udp(server.dns, &axfr(FORWARD)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    let m = support::dns::udp(server.dns, &ixfr(FORWARD, 1)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(m.answers.len(), 1);
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
}

/// A manifest with 2,000 ready endpoints of one headless service (two
/// EndpointSlices of 1,000, the API's limit per slice).
fn large_manifest(dir: &Path) -> PathBuf {
    let mut text = String::from(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: big}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: big}\nspec:\n  clusterIP: None\n  ports: [{name: web, port: 80}]\n",
    );
    for part in 0..2u32 {
        text.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-{part}\n  namespace: big\n  labels: {{kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{{name: web, port: 80, protocol: TCP}}]\nendpoints:\n"
        ));
        for i in part * 1000..(part + 1) * 1000 {
            text.push_str(&format!(
                "  - {{addresses: [\"10.20.{}.{}\"], hostname: pod-{i}, conditions: {{ready: true}}}}\n",
                i / 250,
                i % 250 + 1
            ));
        }
    }
    let path = dir.join("large.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn transfers_a_large_zone_in_many_messages() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = large_manifest(dir.path());
    let config = write_config(
        dir.path(),
        &[manifest],
        "transfer:\n  allow: [127.0.0.0/8]\n",
    );
    let server = Running::start(&config);
    let (serial, live) = live_zone(server.admin, "forward");
    let q = axfr(FORWARD);
    let started = Instant::now();
    let raw = xfr(server.dns, &q).await;
    let elapsed = started.elapsed();
    let (messages, records) = check_messages(&q, &raw, ResponseCode::NoError);
    assert!(messages.len() > 1);
    assert_eq!(soa_serial(&records[0]), Some(serial));
    let body = &records[1..records.len() - 1];
    assert_eq!(lines(body).len(), body.len(), "a record sent twice");
    assert_eq!(lines(body), live);
    // 2,000 pod names, 2,000 service addresses, 2,000 SRV records.
    assert!(body.len() >= 6000, "{}", body.len());
    println!(
        "AXFR of {} records: {} messages, {} bytes, {elapsed:?}",
        records.len(),
        messages.len(),
        raw.iter().map(Vec::len).sum::<usize>()
    );
    // IXFR from a serial the server never had: the full zone.
    let q = ixfr(FORWARD, serial.wrapping_sub(1000));
    let raw = xfr(server.dns, &q).await;
    let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
    assert_ne!(records[1].record_type(), RecordType::SOA, "AXFR-style");
    assert_eq!(lines(&records[1..records.len() - 1]), live);
    // IXFR from the current serial: one SOA.
    let q = ixfr(FORWARD, serial);
    let raw = xfr(server.dns, &q).await;
    let (_, records) = check_messages(&q, &raw, ResponseCode::NoError);
    assert_eq!(records.len(), 1);
}
