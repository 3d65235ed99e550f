//! The churn soak: the embedded cluster of the server run in-process
//! (`support::app`) under continuous rolling updates, pod deletions, killed
//! containers and scale changes, while clients ask for every pod name (and
//! the service name) as fast as they can over UDP. Every answer is checked
//! against the cluster's own record of which IP each pod ever had (its pod
//! watch stream):
//!
//! - wrong: an address the name's pod never had (must be 0);
//! - NXDOMAIN for a declared ordinal: from the moment DNS showed the
//!   ordinal after a scale-up until the scale-down that undeclared it
//!   (must be 0);
//! - other response codes (must be 0), and timeouts (counted; a dead
//!   server fails the run).
//!
//! `cargo test` runs it for 15 s; `HEADLESS_DNS_SOAK_SECS=600 cargo test
//! --release --test soak -- --nocapture` runs it for ten minutes and prints
//! the counts.
//!
//! Stable names use a 2 s grace window here so that scaled-down names go
//! NXDOMAIN within the run; a scale-up only takes an ordinal whose name DNS
//! already answers NXDOMAIN, so the name turning visible afterwards can only
//! be its being declared (not a leftover grace window), which makes the
//! moment an ordinal counts as declared exact.

mod support;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use serde_json::Value;
use support::app::Running;
use support::config::{self, Embedded};
use support::dns::{addresses, query};
use support::server::http;

const MIN_REPLICAS: usize = 2;
const MAX_REPLICAS: usize = 6;
const QUERIERS: usize = 4;
const SET: &str = "/apis/apps/v1/namespaces/demo/statefulsets/web-demo";

fn pod_name(ordinal: usize) -> String {
    format!("web-demo-{ordinal}")
}

fn dns_name(ordinal: usize) -> String {
    format!("web-demo-{ordinal}.nginx-demo.demo.svc.cluster.local.")
}

const SERVICE: &str = "nginx-demo.demo.svc.cluster.local.";

fn soak_config() -> (tempfile::TempDir, PathBuf) {
    Embedded::new([config::demo()])
        .with("    start_delay: 50ms\n    ready_delay: 80ms\n    terminate_delay: 50ms\n")
        .and("dns:\n  stable_name_grace: 2s\n")
        .in_temp()
}

/// A small deterministic generator (xorshift), so a failing run can be
/// repeated with its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every (pod, IP) the cluster ever reported.
type History = Arc<Mutex<HashSet<(String, String)>>>;

fn record_pod(history: &History, pod: &Value) {
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

fn list_pods(server: &Running, history: &History) -> Vec<Value> {
    let (status, body) = http(server.admin, "GET", "/api/v1/namespaces/demo/pods", "");
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let items = list["items"].as_array().cloned().unwrap_or_default();
    for pod in &items {
        record_pod(history, pod);
    }
    items
}

/// Follows the pod watch stream on a thread, recording every IP. A read
/// timeout lets it notice `stop`; a line cut by the timeout is kept and
/// completed by the next read.
fn watch_pods(
    server: &Running,
    history: History,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::net::TcpStream::connect(server.admin).unwrap();
    write!(
        stream,
        "GET /api/v1/namespaces/demo/pods?watch=true HTTP/1.1\r\nHost: soak\r\n\r\n"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        let mut events = 0;
        while !stop.load(Ordering::Relaxed) {
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(_) => continue,
            }
            // Chunk sizes and blank lines are not JSON.
            if let Ok(event) = serde_json::from_slice::<Value>(&line) {
                record_pod(&history, &event["object"]);
                events += 1;
            }
            line.clear();
        }
        events
    })
}

/// When each ordinal counted as declared: (from, until) with `until` open
/// while it still is.
type Declared = Arc<Mutex<Vec<Vec<(Instant, Option<Instant>)>>>>;

#[derive(Default)]
struct Counts {
    checked: AtomicU64,
    positive: AtomicU64,
    nodata: AtomicU64,
    nxdomain: AtomicU64,
    nxdomain_declared: AtomicU64,
    wrong: AtomicU64,
    other_rcode: AtomicU64,
    timeouts: AtomicU64,
    service_answers: AtomicU64,
}

fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One client: asks for every name in turn, one query in flight, and checks
/// each answer as it comes.
async fn querier(
    dns: SocketAddr,
    id_base: u16,
    history: History,
    declared: Declared,
    counts: Arc<Counts>,
    suspects: Arc<Mutex<Vec<(String, String)>>>,
    stop: Arc<AtomicBool>,
) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut id = id_base;
    let mut buf = vec![0u8; 4096];
    while !stop.load(Ordering::Relaxed) {
        for ordinal in 0..=MAX_REPLICAS {
            // The last slot is the service name.
            let name = if ordinal == MAX_REPLICAS {
                SERVICE.to_owned()
            } else {
                dns_name(ordinal)
            };
            id = id.wrapping_add(1);
            let mut q = query(&name, RecordType::A);
            q.metadata.id = id;
            let sent = Instant::now();
            socket.send_to(&q.to_vec().unwrap(), dns).await.unwrap();
            let answer = loop {
                match tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await
                {
                    Err(_) => break None,
                    Ok(Ok((n, _))) if n >= 2 && buf[..2] == id.to_be_bytes() => {
                        break Some(support::dns::parse(&buf[..n]));
                    }
                    // A late answer to a query that timed out.
                    Ok(_) => continue,
                }
            };
            let received = Instant::now();
            let Some(m) = answer else {
                add(&counts.timeouts);
                continue;
            };
            add(&counts.checked);
            let ips = addresses(&m.answers);
            if ordinal == MAX_REPLICAS {
                // Any pod's address, never one no pod had.
                add(&counts.service_answers);
                let known = history.lock().unwrap();
                for ip in ips {
                    if !known.iter().any(|(_, had)| *had == ip) {
                        suspects.lock().unwrap().push(("*".to_owned(), ip));
                    }
                }
                continue;
            }
            match m.metadata.response_code {
                ResponseCode::NoError if ips.is_empty() => add(&counts.nodata),
                ResponseCode::NoError => {
                    add(&counts.positive);
                    let pod = pod_name(ordinal);
                    let known = history.lock().unwrap();
                    for ip in ips {
                        if !known.contains(&(pod.clone(), ip.clone())) {
                            // Maybe the watch has not told us yet: judged
                            // at the end.
                            suspects.lock().unwrap().push((pod.clone(), ip));
                        }
                    }
                }
                ResponseCode::NXDomain => {
                    add(&counts.nxdomain);
                    let declared = declared.lock().unwrap();
                    let covered = declared[ordinal].iter().any(|(from, until)| {
                        *from <= sent && until.is_none_or(|until| received <= until)
                    });
                    if covered {
                        add(&counts.nxdomain_declared);
                        eprintln!("NXDOMAIN for declared {} at {sent:?}", pod_name(ordinal));
                    }
                }
                other => {
                    add(&counts.other_rcode);
                    eprintln!("{name} answered {other}");
                }
            }
        }
    }
}

/// Asks once for an ordinal's name: its response code.
async fn rcode_of(dns: SocketAddr, ordinal: usize) -> ResponseCode {
    support::dns::udp(dns, &query(&dns_name(ordinal), RecordType::A))
        .await
        .metadata
        .response_code
}

/// Polls until `ordinal`'s name is not NXDOMAIN (at most 15 s): when it
/// turned visible, or `None`.
async fn visible(dns: SocketAddr, ordinal: usize) -> Option<Instant> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if rcode_of(dns, ordinal).await != ResponseCode::NXDomain {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[derive(Default, Debug)]
struct Actions {
    scale_up: u64,
    scale_down: u64,
    rollouts: u64,
    deletes: u64,
    kills: u64,
    never_visible: u64,
}

/// Applies random changes until `until`.
async fn chaos(
    server: &Running,
    declared: &Declared,
    history: &History,
    until: Instant,
    seed: u64,
) -> Actions {
    let dns = server.dns;
    let mut rng = Rng(seed);
    let mut actions = Actions::default();
    let mut replicas = MIN_REPLICAS;
    let mut image = 0;
    while Instant::now() < until {
        match rng.below(10) {
            // Scale.
            0..=2 => {
                let target = MIN_REPLICAS + rng.below(MAX_REPLICAS - MIN_REPLICAS + 1);
                if target > replicas {
                    // Only ordinals whose names are NXDOMAIN now (grace
                    // over), so that visibility afterwards means declared.
                    let mut up_to = replicas;
                    while up_to < target && rcode_of(dns, up_to).await == ResponseCode::NXDomain {
                        up_to += 1;
                    }
                    if up_to == replicas {
                        continue;
                    }
                    let body = format!(r#"{{"spec":{{"replicas":{up_to}}}}}"#);
                    let (status, text) = http(server.admin, "PATCH", SET, &body);
                    assert_eq!(status, 200, "{text}");
                    for ordinal in replicas..up_to {
                        match visible(dns, ordinal).await {
                            Some(at) => declared.lock().unwrap()[ordinal].push((at, None)),
                            None => {
                                actions.never_visible += 1;
                                eprintln!("{} never became visible", pod_name(ordinal));
                            }
                        }
                    }
                    replicas = up_to;
                    actions.scale_up += 1;
                } else if target < replicas {
                    let now = Instant::now();
                    {
                        let mut declared = declared.lock().unwrap();
                        for intervals in &mut declared[target..replicas] {
                            if let Some((_, until @ None)) = intervals.last_mut() {
                                *until = Some(now);
                            }
                        }
                    }
                    let body = format!(r#"{{"spec":{{"replicas":{target}}}}}"#);
                    let (status, text) = http(server.admin, "PATCH", SET, &body);
                    assert_eq!(status, 200, "{text}");
                    replicas = target;
                    actions.scale_down += 1;
                }
            }
            // A rolling update: a new image.
            3..=4 => {
                image += 1;
                let body = format!(
                    r#"{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"nginx","image":"nginx:1.{}"}}]}}}}}}}}"#,
                    19 + image % 3
                );
                let (status, text) = http(server.admin, "PATCH", SET, &body);
                assert_eq!(status, 200, "{text}");
                actions.rollouts += 1;
            }
            // Delete a pod: it comes back with the same name.
            5..=7 => {
                let pod = pod_name(rng.below(replicas));
                let path = format!("/api/v1/namespaces/demo/pods/{pod}");
                let (status, text) = http(server.admin, "DELETE", &path, "");
                assert!(status == 200 || status == 404, "{status} {text}");
                actions.deletes += 1;
            }
            // Kill its container: the pod fails and is replaced.
            _ => {
                let pod = pod_name(rng.below(replicas));
                let path = format!("/sim/v1/namespaces/demo/pods/{pod}/fault");
                let (status, text) = http(server.admin, "POST", &path, r#"{"fault":"kill"}"#);
                assert!(
                    status == 200 || status == 404 || status == 409,
                    "{status} {text}"
                );
                actions.kills += 1;
            }
        }
        list_pods(server, history);
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400) as u64)).await;
    }
    actions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_soak() {
    let secs: u64 = std::env::var("HEADLESS_DNS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let seed: u64 = std::env::var("HEADLESS_DNS_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0006);
    let (_dir, config) = soak_config();
    let server = Running::start(&config);
    let history: History = Arc::default();
    let stop_watch = Arc::new(AtomicBool::new(false));
    let watcher = watch_pods(&server, history.clone(), stop_watch.clone());

    // The starting point: both pods up and visible.
    let declared: Declared = Arc::new(Mutex::new(vec![Vec::new(); MAX_REPLICAS]));
    for ordinal in 0..MIN_REPLICAS {
        let at = visible(server.dns, ordinal)
            .await
            .expect("the initial pods never became visible");
        declared.lock().unwrap()[ordinal].push((at, None));
    }

    let counts = Arc::new(Counts::default());
    let suspects = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for i in 0..QUERIERS {
        clients.push(tokio::spawn(querier(
            server.dns,
            (i as u16) << 13,
            history.clone(),
            declared.clone(),
            counts.clone(),
            suspects.clone(),
            stop.clone(),
        )));
    }
    let started = Instant::now();
    let actions = chaos(
        &server,
        &declared,
        &history,
        started + Duration::from_secs(secs),
        seed,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let elapsed = started.elapsed();
    // Let the watch catch up, then judge the suspects.
    list_pods(&server, &history);
    stop_watch.store(true, Ordering::Relaxed);
    let events = watcher.join().unwrap();
    let history = history.lock().unwrap();
    for (pod, ip) in suspects.lock().unwrap().iter() {
        let had = if pod == "*" {
            history.iter().any(|(_, h)| h == ip)
        } else {
            history.contains(&(pod.clone(), ip.clone()))
        };
        if !had {
            add(&counts.wrong);
            eprintln!("WRONG: {pod} answered {ip}, an address it never had");
        }
    }
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let checked = load(&counts.checked);
    let pods: HashSet<&String> = history.iter().map(|(_, ip)| ip).collect();
    eprintln!(
        "soak: {:.0} s, seed {seed:#x}: {checked} answers checked ({:.0}/s): {} positive, {} NODATA, {} NXDOMAIN (undeclared), {} service; \
         wrong {}, NXDOMAIN for declared ordinals {}, other rcodes {}, timeouts {}; \
         {actions:?}; {} pod IPs seen, {events} watch events",
        elapsed.as_secs_f64(),
        checked as f64 / elapsed.as_secs_f64(),
        load(&counts.positive),
        load(&counts.nodata),
        load(&counts.nxdomain) - load(&counts.nxdomain_declared),
        load(&counts.service_answers),
        load(&counts.wrong),
        load(&counts.nxdomain_declared),
        load(&counts.other_rcode),
        load(&counts.timeouts),
        pods.len(),
    );
    assert_eq!(
        load(&counts.wrong),
        0,
        "answers with addresses the pod never had"
    );
    assert_eq!(
        load(&counts.nxdomain_declared),
        0,
        "NXDOMAIN for declared ordinals"
    );
    assert_eq!(load(&counts.other_rcode), 0, "unexpected response codes");
    assert_eq!(
        actions.never_visible, 0,
        "declared ordinals that never became visible"
    );
    assert!(checked >= 1000, "only {checked} answers checked");
    assert!(
        load(&counts.timeouts) * 100 <= checked,
        "{} timeouts for {checked} answers",
        load(&counts.timeouts)
    );
    assert!(
        actions.scale_up + actions.scale_down > 0 && actions.deletes + actions.kills > 0,
        "the churn did not churn: {actions:?}"
    );
}
