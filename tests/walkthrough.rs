//! The StatefulSet walkthrough against the embedded cluster of the server
//! run in-process (`support::app`): scale up and down, delete pods, roll out
//! an image, while a client asks for every pod name the whole time. Every
//! answer is checked against the cluster's own record of which IP each pod
//! held: a name must resolve to an address that pod had, or NODATA, never
//! another pod's address, and never NXDOMAIN while its ordinal is declared
//! (or was, within the grace window).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::Value;
use support::app::Running;
use support::config::{self, Embedded};
use support::dns::{addresses, query, udp};
use support::server::http;

/// The demo manifests with fast simulated pods.
fn fast_demo() -> (tempfile::TempDir, PathBuf) {
    Embedded::new([config::demo()])
        .pod_delays("100ms")
        .in_temp()
}

fn get_json(server: &Running, path: &str) -> Value {
    let (status, body) = http(server.admin, "GET", path, "");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Pod name → IP, for the pods that have one.
fn pod_ips(server: &Running) -> BTreeMap<String, String> {
    let list = get_json(server, "/api/v1/namespaces/demo/pods");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            Some((
                p["metadata"]["name"].as_str()?.to_owned(),
                p["status"]["podIP"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

/// Waits until the set reports `ready` ready replicas, all updated, and its
/// controller has caught up, recording every pod IP seen meanwhile.
async fn settle(server: &Running, history: &Mutex<BTreeSet<(String, String)>>, ready: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        for (name, ip) in pod_ips(server) {
            history.lock().unwrap().insert((name, ip));
        }
        let sts = get_json(
            server,
            "/apis/apps/v1/namespaces/demo/statefulsets/web-demo",
        );
        let status = &sts["status"];
        let pods = get_json(server, "/api/v1/namespaces/demo/pods");
        let count = pods["items"].as_array().unwrap().len() as i64;
        if status["readyReplicas"] == ready
            && status["updatedReplicas"] == ready
            && status["currentRevision"] == status["updateRevision"]
            && count == ready
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not settled at {ready}: {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn statefulset_messages(server: &Running, prefix: &str) -> Vec<String> {
    let events = get_json(server, "/api/v1/namespaces/demo/events");
    events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == "StatefulSet")
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// Records every (pod, IP) the cluster reports, from its watch stream, so
/// no short-lived address is missed.
fn watch_pod_ips(
    server: &Running,
    history: Arc<Mutex<BTreeSet<(String, String)>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(server.admin).unwrap();
    write!(
        stream,
        "GET /api/v1/namespaces/demo/pods?watch=true HTTP/1.1\r\nHost: test\r\n\r\n"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => return,
                Ok(_) => {}
                Err(_) => continue,
            }
            // Chunk-size lines and blank lines are not JSON.
            let Ok(event) = serde_json::from_str::<Value>(line.trim()) else {
                continue;
            };
            let pod = &event["object"];
            if let (Some(name), Some(ip)) = (
                pod["metadata"]["name"].as_str(),
                pod["status"]["podIP"].as_str(),
            ) {
                history
                    .lock()
                    .unwrap()
                    .insert((name.to_owned(), ip.to_owned()));
            }
        }
    })
}

#[derive(Debug)]
struct Observation {
    name: String,
    at: Instant,
    rcode: ResponseCode,
    ips: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_hold_while_pods_move() {
    let (_dir, config) = fast_demo();
    let server = Running::start(&config);
    let history = Arc::new(Mutex::new(BTreeSet::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = watch_pod_ips(&server, history.clone(), stop.clone());
    settle(&server, &history, 2).await;

    // Ask for every name, all the time.
    let dns = server.dns;
    let seen = Arc::new(Mutex::new(Vec::<Observation>::new()));
    let querier = {
        let (stop, seen) = (stop.clone(), seen.clone());
        tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for ordinal in 0..5 {
                    let name = format!("web-demo-{ordinal}.nginx-demo.demo.svc.cluster.local.");
                    let at = Instant::now();
                    let m = udp(dns, &query(&name, RecordType::A)).await;
                    seen.lock().unwrap().push(Observation {
                        name: format!("web-demo-{ordinal}"),
                        at,
                        rcode: m.metadata.response_code,
                        ips: addresses(&m.answers),
                    });
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    let sts = "/apis/apps/v1/namespaces/demo/statefulsets/web-demo";
    // Scale 2 → 5: created in order.
    let (status, body) = http(server.admin, "PATCH", sts, r#"{"spec":{"replicas":5}}"#);
    assert_eq!(status, 200, "{body}");
    // From the moment DNS knows web-demo-4 is declared, no name of the
    // set may be NXDOMAIN again (the test ends well within the grace).
    let declared = support::server::eventually(Duration::from_secs(5), || async {
        let m = udp(
            dns,
            &query(
                "web-demo-4.nginx-demo.demo.svc.cluster.local.",
                RecordType::A,
            ),
        )
        .await;
        (m.metadata.response_code == ResponseCode::NoError).then(Instant::now)
    })
    .await
    .expect("web-demo-4 never became a declared name");
    settle(&server, &history, 5).await;
    let created = statefulset_messages(&server, "create Pod");
    assert_eq!(
        created,
        (0..5)
            .map(|i| format!("create Pod web-demo-{i} in StatefulSet web-demo successful"))
            .collect::<Vec<_>>()
    );

    // Scale 5 → 2: deleted 4, 3, 2.
    let (status, _) = http(server.admin, "PATCH", sts, r#"{"spec":{"replicas":2}}"#);
    assert_eq!(status, 200);
    settle(&server, &history, 2).await;
    assert_eq!(
        statefulset_messages(&server, "delete Pod"),
        (2..5)
            .rev()
            .map(|i| format!("delete Pod web-demo-{i} in StatefulSet web-demo successful"))
            .collect::<Vec<_>>()
    );

    // Delete both pods: they come back with the same names and new IPs.
    let before = pod_ips(&server);
    for pod in ["web-demo-0", "web-demo-1"] {
        let (status, body) = http(
            server.admin,
            "DELETE",
            &format!("/api/v1/namespaces/demo/pods/{pod}"),
            "",
        );
        assert_eq!(status, 200, "{body}");
    }
    settle(&server, &history, 2).await;
    let after = pod_ips(&server);
    for pod in ["web-demo-0", "web-demo-1"] {
        assert_ne!(before[pod], after[pod], "{pod} kept its IP");
    }
    // DNS catches up with the new IP.
    let name = "web-demo-0.nginx-demo.demo.svc.cluster.local.";
    let fresh = support::server::eventually(Duration::from_secs(5), || async {
        let m = udp(dns, &query(name, RecordType::A)).await;
        (addresses(&m.answers) == [after["web-demo-0"].clone()]).then_some(())
    })
    .await;
    assert!(
        fresh.is_some(),
        "DNS never served the new IP {}",
        after["web-demo-0"]
    );

    // Roll out a new image: every pod replaced, highest first.
    let (status, body) = http(
        server.admin,
        "PATCH",
        sts,
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.20"}]}}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    settle(&server, &history, 2).await;
    let pods = get_json(&server, "/api/v1/namespaces/demo/pods");
    for pod in pods["items"].as_array().unwrap() {
        assert_eq!(pod["spec"]["containers"][0]["image"], "nginx:1.20");
    }

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    querier.await.unwrap();
    watcher.join().unwrap();
    let history = history.lock().unwrap().clone();
    let seen = seen.lock().unwrap();
    let mut checked = 0;
    let mut nodata = 0;
    for o in seen.iter() {
        let ordinal: u32 = o.name.rsplit('-').next().unwrap().parse().unwrap();
        match o.rcode {
            ResponseCode::NoError if o.ips.is_empty() => nodata += 1,
            ResponseCode::NoError => {
                for ip in &o.ips {
                    assert!(
                        history.contains(&(o.name.clone(), ip.clone())),
                        "{} answered {ip}, an address it never had (history {history:?})",
                        o.name
                    );
                }
            }
            ResponseCode::NXDomain => assert!(
                ordinal >= 2 && o.at < declared,
                "{} was NXDOMAIN while declared or in its grace window",
                o.name
            ),
            other => panic!("{} answered {other}", o.name),
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} answers checked");
    eprintln!("checked {checked} answers, {nodata} NODATA, 0 wrong");
}
