//! Two replicas, one serial (issue 14, item 2): two real servers on one
//! machine, fed the same manifests (embedded) or the same test API server
//! (Kubernetes), serve the same SOA serial and byte-identical AXFRs; a
//! secondary (this test, speaking raw transfer messages) switched from one
//! replica to the other between two changes follows both by incremental
//! IXFR; and a restart never serves a serial below the one before it.
//!
//! Replicas are processes here, so it runs the real binary: a restart is
//! SIGTERM and exit code 0 then a new process, and an edit is only made
//! once each replica has logged that it watches the manifests.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use headless_dns::serial::fold;
use headless_dns::transfer::export::record_line;
use headless_dns::transfer::serial_lt;
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Record, RecordType};
use hickory_proto::serialize::binary::BinEncodable;
use support::config::Embedded;
use support::kube_api::{KubeApi, Resource, objects};
use support::server::{Server, eventually};
use support::xfr::{apply_ixfr, axfr, ixfr, soa_serial, xfr};

const FORWARD: &str = "cluster.local.";
/// A loaded 2-core machine running debug binaries is slow.
const SETTLE: Duration = Duration::from_secs(30);

/// One AXFR of the forward zone: the serial, the records in the order
/// sent, and the raw messages; `None` while the server answers with an
/// error (SERVFAIL until its sources synced).
async fn zone(server: &Server) -> Option<(u32, Vec<Record>, Vec<Vec<u8>>)> {
    let raw = xfr(server.dns, &axfr(FORWARD)).await;
    let mut records = Vec::new();
    for bytes in &raw {
        let m = Message::from_vec(bytes).unwrap();
        if m.metadata.response_code != ResponseCode::NoError {
            return None;
        }
        records.extend(m.answers);
    }
    let serial = soa_serial(records.first()?)?;
    assert_eq!(records.last().and_then(soa_serial), Some(serial));
    Some((serial, records, raw))
}

/// The records between the SOAs, as lines.
fn lines(records: &[Record]) -> BTreeSet<String> {
    records[1..records.len() - 1]
        .iter()
        .map(record_line)
        .collect()
}

/// Waits until both replicas serve the same serial with a zone that
/// satisfies `ready` (the change under test has landed), then checks that
/// their AXFRs are identical record for record, in order, and byte for byte.
/// Both transfers also put the serial into each replica's IXFR journal.
async fn agree(
    a: &Server,
    b: &Server,
    ready: impl Fn(&BTreeSet<String>) -> bool,
) -> (u32, BTreeSet<String>) {
    let seen = std::sync::Mutex::new(Vec::new());
    let found = eventually(SETTLE, || {
        let seen = &seen;
        let ready = &ready;
        async move {
            let (sa, ra, wa) = zone(a).await?;
            let (sb, rb, wb) = zone(b).await?;
            seen.lock().unwrap().push((sa, sb));
            if sa != sb || !ready(&lines(&ra)) {
                return None;
            }
            assert_eq!(
                ra.len(),
                rb.len(),
                "serial {sa}: AXFRs of different lengths"
            );
            for (i, (x, y)) in ra.iter().zip(&rb).enumerate() {
                assert_eq!(x, y, "serial {sa}: record {i} differs");
                assert_eq!(x.to_bytes().unwrap(), y.to_bytes().unwrap(), "record {i}");
            }
            assert_eq!(
                wa, wb,
                "serial {sa}: the AXFR messages differ in their bytes"
            );
            Some((sa, lines(&ra)))
        }
    })
    .await;
    found.unwrap_or_else(|| {
        let seen = seen.lock().unwrap();
        let tail = &seen[seen.len().saturating_sub(5)..];
        panic!("the replicas never served one serial with the change: (a, b) serials seen last: {tail:?}")
    })
}

/// IXFR from `from` at `server`, applied to `zone`: it must be incremental
/// (RFC 1995 §4 frame), and `zone` is then the server's zone at `to`.
async fn follow(server: &Server, zone: &mut BTreeSet<String>, from: u32, to: u32) {
    let q = ixfr(FORWARD, from);
    let raw = xfr(server.dns, &q).await;
    let mut records = Vec::new();
    for bytes in &raw {
        let m = Message::from_vec(bytes).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::NoError);
        records.extend(m.answers);
    }
    assert!(
        records.len() >= 4 && records[1].record_type() == RecordType::SOA,
        "IXFR from {from} was not incremental: {} records, second {:?}",
        records.len(),
        records.get(1).map(Record::record_type)
    );
    apply_ixfr(zone, &records, from, to);
}

async fn start(config: &Path) -> Server {
    let config = config.to_owned();
    tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .unwrap()
}

fn count(zone: &BTreeSet<String>, prefix: &str, kind: &str) -> usize {
    zone.iter()
        .filter(|l| l.starts_with(prefix) && l.contains(&format!("\t{kind}\t")))
        .count()
}

// ---- embedded: the same manifests ------------------------------------------

/// The walkthrough's manifests, copied so the test can edit them, plus a
/// Service with a fixed slice.
fn manifests(dir: &Path) -> PathBuf {
    let manifests = dir.join("manifests");
    std::fs::create_dir(&manifests).unwrap();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo");
    for entry in std::fs::read_dir(demo).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, manifests.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(manifests.join("fixed.yaml"), fixed("10.7.0.1")).unwrap();
    manifests
}

fn fixed(ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: fixed, namespace: demo}}\nspec: {{clusterIP: None, ports: [{{name: web, port: 80}}]}}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: fixed-1\n  namespace: demo\n  labels: {{kubernetes.io/service-name: fixed}}\n\
         addressType: IPv4\nports: [{{name: web, port: 80, protocol: TCP}}]\nendpoints:\n- addresses: [{ip:?}]\n  hostname: one\n  conditions: {{ready: true}}\n"
    )
}

/// Replaces a manifest file at once (write, then rename), as editors and
/// ConfigMap mounts do.
fn edit(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn embedded_config(dir: &Path, manifests: &Path) -> PathBuf {
    Embedded::new([manifests])
        .with("    watch: true\n")
        .pod_delays("0s")
        .and("transfer:\n  allow: [127.0.0.0/8]\n")
        .write(&dir.join("config.yaml"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_replicas_of_the_same_manifests_serve_one_zone() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = manifests(dir.path());
    let config = embedded_config(dir.path(), &manifests);
    let mut a = start(&config).await;
    let mut b = start(&config).await;
    for server in [&mut a, &mut b] {
        server.wait_for_log("watching manifests for edits");
    }
    let pods = |n| move |z: &BTreeSet<String>| count(z, "web-demo-", "A") == n;

    // The secondary starts on replica a.
    let (s1, mut zone) = agree(&a, &b, pods(2)).await;
    println!("embedded: both replicas at serial {s1}");

    // Change 1: a third pod. The secondary, now pointed at b, follows.
    let sts = manifests.join("web-sts.yaml");
    let text = std::fs::read_to_string(&sts).unwrap();
    assert!(text.contains("replicas: 2"));
    edit(&sts, &text.replace("replicas: 2", "replicas: 3"));
    let (s2, at_s2) = agree(&a, &b, pods(3)).await;
    assert!(serial_lt(s1, s2), "{s1} → {s2}");
    follow(&b, &mut zone, s1, s2).await;
    assert_eq!(zone, at_s2, "the zone after IXFR from b ≠ b's zone");

    // Change 2: a new address. Back to replica a.
    edit(&manifests.join("fixed.yaml"), &fixed("10.7.0.2"));
    let moved = |z: &BTreeSet<String>| z.iter().any(|l| l.contains("10.7.0.2"));
    let (s3, at_s3) = agree(&a, &b, moved).await;
    assert!(serial_lt(s2, s3), "{s2} → {s3}");
    follow(&a, &mut zone, s2, s3).await;
    assert_eq!(zone, at_s3, "the zone after IXFR from a ≠ a's zone");
    println!("embedded: serials {s1} → {s2} → {s3}, followed by IXFR from b, then a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_restart_from_the_same_manifests_serves_the_same_serial() {
    let dir = tempfile::tempdir().unwrap();
    let manifests = manifests(dir.path());
    let config = embedded_config(dir.path(), &manifests);
    let mut a = start(&config).await;
    let b = start(&config).await;
    let ready = |z: &BTreeSet<String>| count(z, "web-demo-", "A") == 2;
    let (before, zone_before) = agree(&a, &b, ready).await;
    assert_eq!(a.terminate(), Some(0));
    let a = start(&config).await;
    // The restarted replica replays the same manifests to the same state
    // and counts the same steps: not below what it served, and still one
    // zone with b.
    let (after, zone_after) = agree(&a, &b, ready).await;
    println!("embedded restart: serial {before} before, {after} after");
    assert!(
        !serial_lt(after, before),
        "the serial went back: {before} → {after}"
    );
    assert_eq!(after, before);
    assert_eq!(zone_after, zone_before);
}

// ---- Kubernetes: the same API server ----------------------------------------

async fn kubernetes_replica(api: &KubeApi) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let config = api.write_config(dir.path(), "transfer:\n  allow: [127.0.0.0/8]\n");
    let server = start(&config).await;
    (dir, server)
}

fn populate(api: &KubeApi) {
    api.apply(objects::service("demo", "web", true));
    api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[
            ("10.1.0.1", Some("web-0"), true),
            ("10.1.0.2", Some("web-1"), true),
        ],
    ));
    api.apply(objects::service("demo", "old", true));
    api.apply(objects::slice(
        "demo",
        "old-1",
        "old",
        &[("10.1.3.1", None, true)],
    ));
    api.apply(objects::stateful_set("demo", "web", "web", 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_replicas_serve_the_api_servers_version_and_one_zone() {
    let api = KubeApi::start().await;
    populate(&api);
    let (_da, mut a) = kubernetes_replica(&api).await;
    let (_db, b) = kubernetes_replica(&api).await;
    let listed = |z: &BTreeSet<String>| count(z, "web-0.web.demo.", "A") == 1;

    let (s1, mut zone) = agree(&a, &b, listed).await;
    assert_eq!(
        s1,
        fold(api.resource_version()),
        "the serial is the API server's version"
    );

    // Change 1: web-0 moves. The secondary asks b.
    let rv = api.apply(objects::slice(
        "demo",
        "web-abc",
        "web",
        &[
            ("10.1.0.7", Some("web-0"), true),
            ("10.1.0.2", Some("web-1"), true),
        ],
    ));
    let moved = |z: &BTreeSet<String>| z.iter().any(|l| l.contains("10.1.0.7"));
    let (s2, at_s2) = agree(&a, &b, moved).await;
    assert_eq!(
        s2,
        fold(rv),
        "the serial is the changed slice's resourceVersion"
    );
    follow(&b, &mut zone, s1, s2).await;
    assert_eq!(zone, at_s2, "the zone after IXFR from b ≠ b's zone");

    // Change 2, a deletion: the secondary asks a.
    assert!(api.delete(Resource::Services, "demo", "old"));
    let rv = api.resource_version();
    let gone = |z: &BTreeSet<String>| !z.iter().any(|l| l.starts_with("old.demo."));
    let (s3, at_s3) = agree(&a, &b, gone).await;
    assert_eq!(s3, fold(rv), "the serial is the deletion's resourceVersion");
    follow(&a, &mut zone, s2, s3).await;
    assert_eq!(zone, at_s3, "the zone after IXFR from a ≠ a's zone");
    println!("kubernetes: serials {s1} → {s2} → {s3}, followed by IXFR from b, then a");

    // Restart a. The newest event it saw was a deletion, which a fresh list
    // does not show (the newest object listed is older): the revision the
    // API server reports at start keeps the serial from going back.
    assert_eq!(a.terminate(), Some(0));
    let (_da, a) = kubernetes_replica(&api).await;
    let (after, at_after) = agree(&a, &b, gone).await;
    println!("kubernetes restart: serial {s3} before, {after} after");
    assert!(
        !serial_lt(after, s3),
        "the serial went back: {s3} → {after}"
    );
    assert_eq!(after, s3);
    assert_eq!(at_after, at_s3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relist_that_hides_deletions_still_moves_the_serial_past_them() {
    let api = KubeApi::start().await;
    populate(&api);
    let (_dir, server) = kubernetes_replica(&api).await;
    let present = |z: &BTreeSet<String>| z.iter().any(|l| l.starts_with("old.demo."));
    let before = eventually(SETTLE, || async {
        let (serial, records, _) = zone(&server).await?;
        present(&lines(&records)).then_some(serial)
    })
    .await
    .expect("synced");

    // Two deletions while no watch runs, then the history is compacted: the
    // watches resume with 410 Gone and relist, and the relist shows the
    // deletions only by absence. Neither version is on any listed object.
    api.hold_watches();
    api.drop_watches();
    assert!(api.delete(Resource::EndpointSlices, "demo", "old-1"));
    assert!(api.delete(Resource::Services, "demo", "old"));
    let deleted = api.resource_version();
    api.compact();
    api.release_watches();
    let after = eventually(SETTLE, || async {
        let (serial, records, _) = zone(&server).await?;
        (!present(&lines(&records))).then_some(serial)
    })
    .await
    .expect("the relist removed old.demo");
    println!("relist: serial {before} before, {after} after the deletions at {deleted}");
    assert!(api.gone_served() >= 1, "no watch was answered 410");
    assert!(
        serial_lt(fold(deleted) - 1, after),
        "serial {after} is not past the deletions at {deleted}"
    );
}
