//! A StatefulSet with `replicas: 2147483647` (2^31-1, the most the API
//! allows) must cost O(1), in every mode: it used to make the index list
//! every declared pod name and abort the process on a 48 GiB allocation
//! (Kubernetes mode), or make the embedded cluster create pods without end.
//!
//! Three ways: the index and answer function directly; the real binary
//! against the test API server (`support::kube_api`); and the real binary on
//! the embedded cluster with a `Parallel` set, which the pod cap stops. The
//! binary tests bound resident memory read from `/proc`, never time: they
//! need the binary, because that memory is read per process.

mod support;

use std::time::{Duration, Instant};

use headless_dns::index::ClusterIndex;
use headless_dns::model::{Endpoint, EndpointGroup, ObjectKey, OrdinalSet, Service, ServiceKind};
use headless_dns::snapshot::{self, Snapshot};
use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use support::config::Embedded;
use support::dns::{addresses, query, udp};
use support::kube_api::{KubeApi, objects};
use support::server::{Server, eventually};
use support::settings::settings;

const MAX: u32 = i32::MAX as u32;

/// Resident memory of a process, from /proc (Linux), in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("no VmRSS in /proc/PID/status")
}

fn negative_ttl(m: &Message) -> Option<u32> {
    m.authorities
        .iter()
        .find(|r| matches!(r.data, RData::SOA(_)))
        .map(|r| r.ttl)
}

// ---- the index and the answer function --------------------------------------

fn ask(snap: &Snapshot, name: &str) -> (ResponseCode, usize, Option<u32>) {
    let name = Name::from_ascii(name).unwrap();
    let answer = snapshot::answer(snap, &name, RecordType::A);
    let ttl = answer
        .authority
        .records(&name)
        .iter()
        .find(|r| matches!(r.data, RData::SOA(_)))
        .map(|r| r.ttl);
    (answer.rcode, answer.answers.len(), ttl)
}

#[test]
fn the_index_declares_two_billion_ordinals_by_rule() {
    let mut index = ClusterIndex::new(settings(), Duration::from_secs(30));
    index.set_synced(true);
    index.apply_service(Service {
        key: ObjectKey::new("demo", "db"),
        kind: ServiceKind::Headless,
        publish_not_ready: false,
        ports: vec![],
    });
    index.apply_slice(EndpointGroup {
        key: ObjectKey::new("demo", "db-abc"),
        service: ObjectKey::new("demo", "db"),
        ports: vec![],
        endpoints: vec![Endpoint {
            addresses: vec!["10.0.0.10".parse().unwrap()],
            hostname: Some("db-0".into()),
            ready: true,
            target: None,
        }],
    });
    index.apply_set(OrdinalSet {
        key: ObjectKey::new("demo", "db"),
        service_name: "db".into(),
        replicas: MAX,
        start: 0,
    });
    let snap = index.publish(Instant::now()).expect("a snapshot");

    // Nothing is listed per declared ordinal: the service holds its own
    // name and db-0's, whatever `replicas` says.
    let node = snap.service("demo", "db").expect("service in the zone");
    assert!(node.names.len() <= 2, "{} names listed", node.names.len());

    let z = ".db.demo.svc.cluster.local.";
    assert_eq!(ask(&snap, &format!("db-0{z}")).1, 1, "db-0 has its address");
    for declared in ["db-1", "db-4096", "db-2147483646"] {
        let (rcode, answers, ttl) = ask(&snap, &format!("{declared}{z}"));
        assert_eq!((rcode, answers), (ResponseCode::NoError, 0), "{declared}");
        assert!(
            ttl.is_some_and(|t| t <= 1),
            "{declared}: negative TTL {ttl:?}"
        );
    }
    // Past the last ordinal, and spellings the controller never writes.
    for undeclared in [
        "db-2147483647",
        "db-99999999999",
        "db-01",
        "db-1x",
        "db-",
        "db",
    ] {
        let (rcode, _, _) = ask(&snap, &format!("{undeclared}{z}"));
        assert_eq!(rcode, ResponseCode::NXDomain, "{undeclared}");
    }

    // `ordinals.start` moves the window; the end may pass 2^31.
    index.apply_set(OrdinalSet {
        key: ObjectKey::new("demo", "db"),
        service_name: "db".into(),
        replicas: MAX,
        start: MAX,
    });
    let snap = index.publish(Instant::now()).expect("a snapshot");
    assert_eq!(ask(&snap, &format!("db-1{z}")).0, ResponseCode::NXDomain);
    assert_eq!(
        ask(&snap, &format!("db-4294967293{z}")).0,
        ResponseCode::NoError
    );
    assert_eq!(
        ask(&snap, &format!("db-4294967294{z}")).0,
        ResponseCode::NXDomain
    );
}

// ---- the real binary ----------------------------------------------------------

async fn a(server: &Server, host: &str) -> Message {
    udp(
        server.dns,
        &query(&format!("{host}.svc.cluster.local."), RecordType::A),
    )
    .await
}

/// Polls until `host` answers with `rcode` and `count` addresses.
async fn until(server: &Server, host: &str, rcode: ResponseCode, count: usize) -> Message {
    let got = eventually(Duration::from_secs(60), || async {
        let m = a(server, host).await;
        (m.metadata.response_code == rcode && m.answers.len() == count).then_some(m)
    })
    .await;
    got.unwrap_or_else(|| {
        panic!(
            "{host} never answered {rcode:?} with {count} records; log:\n{}",
            server.log().join("\n")
        )
    })
}

/// What a set with 2^31-1 replicas may add to the server's resident memory:
/// the listed names alone would be tens of GiB.
const BOUND_KIB: u64 = 20 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_mode_serves_a_two_billion_replica_set_in_bounded_memory() {
    let api = KubeApi::start().await;
    api.apply(objects::service("demo", "db", true));
    api.apply(objects::slice(
        "demo",
        "db-abc",
        "db",
        &[("10.1.0.1", Some("db-0"), true)],
    ));
    api.apply(objects::stateful_set("demo", "db", "db", 2));
    let dir = tempfile::tempdir().unwrap();
    let config = api.write_config(dir.path(), "");
    let server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .unwrap();
    until(&server, "db-0.db.demo", ResponseCode::NoError, 1).await;
    assert_eq!(
        a(&server, "db-1000.db.demo").await.metadata.response_code,
        ResponseCode::NXDomain
    );
    let before = rss_kib(server.child.id());

    // `kubectl patch sts db -p '{"spec":{"replicas":2147483647}}'`
    api.apply(objects::stateful_set("demo", "db", "db", i32::MAX));
    let m = until(&server, "db-2147483646.db.demo", ResponseCode::NoError, 0).await;
    assert!(negative_ttl(&m).is_some_and(|t| t <= 1), "{m:?}");
    assert_eq!(
        a(&server, "db-2147483647.db.demo")
            .await
            .metadata
            .response_code,
        ResponseCode::NXDomain
    );
    // The rest of the zone is untouched.
    let m = a(&server, "db-0.db.demo").await;
    assert_eq!(addresses(&m.answers), ["10.1.0.1"]);
    let after = rss_kib(server.child.id());
    println!("RSS before {before} KiB, after 2^31-1 replicas {after} KiB");
    assert!(
        after < before + BOUND_KIB,
        "RSS grew from {before} KiB to {after} KiB"
    );
}

const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata: {name: db, namespace: demo}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{name: pg, port: 5432}]
";

const SET: &str = "\
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: demo}
spec:
  serviceName: db
  replicas: 2147483647
  podManagementPolicy: Parallel
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: pg, image: postgres:16}]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_mode_caps_a_two_billion_replica_set_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("m")).unwrap();
    std::fs::write(dir.path().join("m/svc.yaml"), SERVICE).unwrap();
    std::fs::write(dir.path().join("m/sts.yaml"), SET).unwrap();
    let config = Embedded::new(["m"])
        .with("    start_delay: 10ms\n    ready_delay: 10ms\n")
        .max_pods(20)
        .write(&dir.path().join("config.yaml"));
    let mut server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .unwrap();

    // Pods up to the cap run and are served (20 fit a 512-octet answer);
    // every declared name past them
    // is NODATA with a short negative TTL, never NXDOMAIN.
    until(&server, "db.demo", ResponseCode::NoError, 20).await;
    until(&server, "db-19.db.demo", ResponseCode::NoError, 1).await;
    let m = until(&server, "db-2147483646.db.demo", ResponseCode::NoError, 0).await;
    assert!(negative_ttl(&m).is_some_and(|t| t <= 1), "{m:?}");
    let m = until(&server, "db-20.db.demo", ResponseCode::NoError, 0).await;
    assert!(negative_ttl(&m).is_some_and(|t| t <= 1), "{m:?}");

    // The cluster said why, once, in kubectl's words.
    let (status, events) = server.http_get("/api/v1/namespaces/demo/events");
    assert_eq!(status, 200, "{events}");
    let refused = events.matches("\"FailedCreate\"").count();
    assert_eq!(refused, 1, "one FailedCreate event: {events}");
    assert!(
        events.contains("create Pod db-20 in StatefulSet db failed"),
        "{events}"
    );
    let (_, pods) = server.http_get("/api/v1/namespaces/demo/pods");
    assert_eq!(pods.matches("\"kind\":\"Pod\"").count(), 20, "{pods}");

    let rss = rss_kib(server.child.id());
    println!("RSS with a 2^31-1 replica Parallel set capped at 20 pods: {rss} KiB");
    assert!(rss < 200 * 1024, "RSS {rss} KiB");
    assert_eq!(server.terminate(), Some(0));
}
