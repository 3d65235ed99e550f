//! Memory and sync time at scale, measured on the real binary, side by side
//! with Knot DNS loaded with the same records, so every figure is a ratio
//! from one run.
//!
//! Loads SERVICES headless Services (default 10,000) in NAMESPACES
//! namespaces (default 100), each with one EndpointSlice of
//! ENDPOINTS_PER_SERVICE endpoints (default 10, so 100,000 endpoints, every
//! one with a hostname, so each gets its own name and PTR record), then:
//!
//! - **Kubernetes mode**: the objects go into the test API server
//!   (`tests/support/kube_api/`) and `headless-dns serve` watches it. From
//!   /proc/PID/status: the resident set after the initial sync (VmRSS), the
//!   sync time from the moment the lists are released (every list request
//!   already received), and the peak (VmHWM, reset through
//!   /proc/PID/clear_refs) during a forced relist of every watch (history
//!   compacted, so each resume is 410 Gone).
//! - **Embedded mode** (unless EMBEDDED=0): the same objects as static
//!   manifests; the resident set and the time from start until the last
//!   service's last name answers.
//! - **Knot DNS** (unless KNOTD is empty; default /usr/sbin/knotd): loaded
//!   with the zones this server exports (`GET /zone`, the same text as
//!   `headless-dns export-zone`, forward and reverse); its resident set once
//!   every zone answers its SOA.
//!
//! Run: `cargo bench --bench memory` (a release build of the binary).
//! Not a test: nothing here passes or fails on a number.

#[path = "../tests/support/dns.rs"]
mod dns;
#[path = "../tests/support/kube_api/mod.rs"]
mod kube_api;
#[path = "../tests/support/server.rs"]
#[allow(dead_code)]
mod server;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use kube_api::{KubeApi, objects};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (VmRSS, VmHWM) in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ip(n: usize) -> String {
    format!("10.{}.{}.{}", 64 + n / 65536, (n / 256) % 256, n % 256)
}

/// Whether `name` answers exactly `want` (at most 2 s for the answer).
async fn answers(dns: SocketAddr, name: &str, want: &str) -> bool {
    let message = dns::query(name, RecordType::A);
    match tokio::time::timeout(Duration::from_secs(2), dns::udp(dns, &message)).await {
        Ok(m) => {
            m.metadata.response_code == ResponseCode::NoError
                && dns::addresses(&m.answers) == [want]
        }
        Err(_) => false,
    }
}

/// The objects of one run.
struct Cluster {
    services: usize,
    namespaces: usize,
    per_service: usize,
}

impl Cluster {
    fn endpoints(&self) -> usize {
        self.services * self.per_service
    }

    /// (namespace, service, [(address, hostname)]) per service.
    fn each(&self) -> impl Iterator<Item = (String, String, Vec<(String, String)>)> + '_ {
        (0..self.services).map(move |i| {
            let name = format!("svc{i}");
            let endpoints = (0..self.per_service)
                .map(|j| (ip(i * self.per_service + j + 1), format!("{name}-{j}")))
                .collect();
            (format!("ns{}", i % self.namespaces), name, endpoints)
        })
    }

    /// The last service's last endpoint: (name, address).
    fn last(&self) -> (String, String) {
        let last = self.services - 1;
        let host = format!(
            "svc{last}-{}.svc{last}.ns{}.svc.cluster.local.",
            self.per_service - 1,
            last % self.namespaces
        );
        (host, ip(self.endpoints()))
    }

    /// The same objects as one YAML stream of manifests.
    fn manifests(&self) -> String {
        let mut out = String::new();
        for (ns, name, endpoints) in self.each() {
            let _ = write!(
                out,
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\n\
                 spec: {{clusterIP: None, ports: [{{name: web, port: 80, protocol: TCP}}]}}\n\
                 ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
                 metadata: {{name: {name}-abcde, namespace: {ns}, labels: {{kubernetes.io/service-name: {name}}}}}\n\
                 addressType: IPv4\nports: [{{name: web, port: 80, protocol: TCP}}]\nendpoints:\n"
            );
            for (address, host) in endpoints {
                let _ = writeln!(
                    out,
                    "- {{addresses: [{address}], hostname: {host}, conditions: {{ready: true}}, \
                     targetRef: {{kind: Pod, name: {host}, namespace: {ns}}}}}"
                );
            }
        }
        out
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from argv.
    let cluster = Cluster {
        services: env_or("SERVICES", 10_000).max(1),
        namespaces: env_or("NAMESPACES", 100).max(1),
        per_service: env_or("ENDPOINTS_PER_SERVICE", 10).max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(cluster));
}

/// What the Kubernetes run measured, in KiB and wall time.
struct KubeFigures {
    records: String,
    idle: u64,
    sync: Duration,
    synced: u64,
    hwm_sync: u64,
    relist: Duration,
    hwm_relist: u64,
    after_relist: u64,
}

async fn run(cluster: Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let kube = kubernetes(&cluster, dir.path()).await;
    let embedded = if env_or("EMBEDDED", 1) == 1 {
        Some(embedded(&cluster, dir.path()).await)
    } else {
        None
    };
    let knotd = std::env::var("KNOTD").unwrap_or_else(|_| "/usr/sbin/knotd".to_owned());
    let knot = if knotd.is_empty() {
        None
    } else {
        knot(&knotd, dir.path(), &cluster).await
    };

    let n = cluster.endpoints();
    println!();
    println!(
        "{} headless services, {n} endpoints ({} records)",
        cluster.services, kube.records
    );
    println!("headless-dns, Kubernetes source:");
    println!("  RSS at start, before listing:        {}", mib(kube.idle));
    println!("  initial sync (from lists released):  {:.1?}", kube.sync);
    println!(
        "  RSS after sync (VmRSS):              {}",
        mib(kube.synced)
    );
    println!(
        "  peak during sync (VmHWM):            {}",
        mib(kube.hwm_sync)
    );
    println!("  forced relist (410, every watch):    {:.1?}", kube.relist);
    println!(
        "  peak during relist (VmHWM):          {}",
        mib(kube.hwm_relist)
    );
    println!(
        "  RSS after relist (VmRSS):            {}",
        mib(kube.after_relist)
    );
    println!(
        "  relist peak / steady:                {:.2}",
        kube.hwm_relist as f64 / kube.synced.max(1) as f64
    );
    if let Some((rss, hwm, first)) = embedded {
        println!("headless-dns, embedded source (static manifests):");
        println!("  last service answers after start:    {first:.1?}");
        println!("  RSS then (VmRSS):                    {}", mib(rss));
        println!("  peak until then (VmHWM):             {}", mib(hwm));
        if let Some((knot_rss, _)) = knot {
            println!(
                "  RSS / Knot:                          {:.2}",
                rss as f64 / knot_rss.max(1) as f64
            );
        }
    }
    if let Some((knot_rss, loaded)) = knot {
        println!("Knot DNS, the same zones from /zone (export-zone's text):");
        println!("  every zone answers after start:      {loaded:.1?}");
        println!("  RSS (VmRSS):                         {}", mib(knot_rss));
        println!(
            "  headless-dns Kubernetes RSS / Knot:  {:.2}",
            kube.synced as f64 / knot_rss.max(1) as f64
        );
    }
}

async fn kubernetes(cluster: &Cluster, dir: &Path) -> KubeFigures {
    let api = KubeApi::start().await;
    let started = Instant::now();
    for (ns, name, endpoints) in cluster.each() {
        api.apply(objects::service(&ns, &name, true));
        let eps: Vec<objects::Ep<'_>> = endpoints
            .iter()
            .map(|(ip, host)| (ip.as_str(), Some(host.as_str()), true))
            .collect();
        api.apply(objects::slice(&ns, &format!("{name}-abcde"), &name, &eps));
    }
    println!(
        "loaded {} headless services, {} endpoints into the test API server in {:.1?}",
        cluster.services,
        cluster.endpoints(),
        started.elapsed()
    );

    api.write_kubeconfig(dir);
    let config = dir.join("kubernetes.yaml");
    std::fs::write(
        &config,
        "source:\n  kubernetes:\n    kubeconfig: kubeconfig.yaml\n",
    )
    .unwrap();
    // Lists wait until every watch has asked: the sync is timed from then,
    // so process start and connection setup are not in it.
    api.hold_lists();
    let server = tokio::task::spawn_blocking(move || server::Server::start(&config))
        .await
        .unwrap();
    let pid = server.child.id();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Services, EndpointSlices, StatefulSets.
    while api.lists_received() < 3 {
        assert!(Instant::now() < deadline, "the server never listed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (idle, _) = memory(pid);
    let started = Instant::now();
    api.release_lists();
    loop {
        if server.http_get("/readyz").0 == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not synced in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sync = started.elapsed();
    let (last_host, last_ip) = cluster.last();
    assert!(
        answers(server.dns, &last_host, &last_ip).await,
        "{last_host} does not answer {last_ip}"
    );
    // Let allocator caches settle before reading the steady state.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (synced, hwm_sync) = memory(pid);
    let (_, metrics) = server.http_get("/metrics");
    let records = metrics
        .lines()
        .find_map(|l| l.strip_prefix("headless_dns_records "))
        .unwrap_or("?")
        .to_owned();

    // A forced relist of every watch: no watch may start, the open ones end,
    // one endpoint changes, history is compacted; then watches resume, get
    // 410 Gone, and list everything again.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").expect("reset VmHWM");
    let watches_before = api.served().iter().filter(|s| s.watch).count();
    let gone_before = api.gone_served();
    api.hold_watches();
    api.drop_watches();
    let changed = "10.255.0.1";
    let eps: Vec<objects::Ep<'_>> = vec![(changed, Some("svc0-0"), true)];
    api.apply(objects::slice("ns0", "svc0-abcde", "svc0", &eps));
    api.compact();
    let relist_started = Instant::now();
    api.release_watches();
    loop {
        let rewatched = api.served().iter().filter(|s| s.watch).count() >= watches_before + 6
            && api.gone_served() >= gone_before + 3;
        if rewatched && answers(server.dns, "svc0-0.svc0.ns0.svc.cluster.local.", changed).await {
            break;
        }
        assert!(
            relist_started.elapsed() < Duration::from_secs(600),
            "relist not done in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let relist = relist_started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after_relist, hwm_relist) = memory(pid);

    // The zones for Knot, as this server exports them; svc0 back as it was.
    let (ns, name, endpoints) = cluster.each().next().unwrap();
    let eps: Vec<objects::Ep<'_>> = endpoints
        .iter()
        .map(|(ip, host)| (ip.as_str(), Some(host.as_str()), true))
        .collect();
    api.apply(objects::slice(&ns, &format!("{name}-abcde"), &name, &eps));
    let (first_host, first_ip) = (format!("svc0-0.svc0.{ns}.svc.cluster.local."), ip(1));
    let back = Instant::now();
    while !answers(server.dns, &first_host, &first_ip).await {
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "svc0 not restored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for (zone, file) in [("forward", "forward.zone"), ("reverse", "reverse.zone")] {
        let (status, text) = zone_text(server.admin, zone);
        assert_eq!(status, 200, "GET /zone?zone={zone}");
        std::fs::write(dir.join(file), text).unwrap();
    }
    drop(server);
    KubeFigures {
        records,
        idle,
        sync,
        synced,
        hwm_sync,
        relist,
        hwm_relist,
        after_relist,
    }
}

/// GET /zone?zone=`zone` with a generous timeout (the text of 400,000
/// records takes a while).
fn zone_text(admin: SocketAddr, zone: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(admin).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        stream,
        "GET /zone?zone={zone} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The embedded source from static manifests: (VmRSS, VmHWM, time from
/// start until the last service's last name answers).
async fn embedded(cluster: &Cluster, dir: &Path) -> (u64, u64, Duration) {
    std::fs::write(dir.join("objects.yaml"), cluster.manifests()).unwrap();
    let config = dir.join("embedded.yaml");
    std::fs::write(
        &config,
        "source:\n  embedded:\n    manifests: [objects.yaml]\n",
    )
    .unwrap();
    let started = Instant::now();
    let mut child = Command::new(server::BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start headless-dns");
    // The DNS address from the log, read on a thread that drains stderr.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.split("serving DNS on ").nth(1)
                && let Some(addr) = rest.split_whitespace().next()
                && let Ok(addr) = addr.parse::<SocketAddr>()
            {
                let _ = tx.send(addr);
            }
        }
    });
    let dns = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("embedded server never listened");
    let (last_host, last_ip) = cluster.last();
    while !answers(dns, &last_host, &last_ip).await {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "{last_host} not answering after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let first = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss, hwm) = memory(child.id());
    let _ = child.kill();
    let _ = child.wait();
    (rss, hwm, first)
}

/// Knot DNS with the exported zones: (VmRSS once every zone answers, time
/// from start until then). `None` when knotd cannot be started.
async fn knot(knotd: &str, dir: &Path, cluster: &Cluster) -> Option<(u64, Duration)> {
    let zones = dir.join("knot");
    std::fs::create_dir_all(&zones).unwrap();
    // Each master file opens with its SOA: split the reverse export into
    // one file per zone.
    let mut origins = Vec::new();
    for file in ["forward.zone", "reverse.zone"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let mut current: Option<(String, String)> = None;
        for line in text.lines() {
            let mut fields = line.split('\t');
            let owner = fields.next().unwrap_or_default();
            if fields.nth(2) == Some("SOA") {
                if let Some((origin, body)) = current.take() {
                    std::fs::write(zones.join(format!("{origin}zone")), body).unwrap();
                    origins.push(origin);
                }
                current = Some((owner.to_owned(), String::new()));
            }
            if let Some((_, body)) = current.as_mut() {
                body.push_str(line);
                body.push('\n');
            }
        }
        if let Some((origin, body)) = current {
            std::fs::write(zones.join(format!("{origin}zone")), body).unwrap();
            origins.push(origin);
        }
    }
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .ok()?
        .port();
    let mut conf = format!(
        "server:\n    listen: 127.0.0.1@{port}\n    rundir: \"{0}\"\n\
         database:\n    storage: \"{0}\"\n\
         template:\n  - id: default\n    storage: \"{0}\"\n    file: \"%s.zone\"\n    \
         zonefile-sync: -1\n    journal-content: none\n    semantic-checks: off\n\
         zone:\n",
        zones.display()
    );
    for origin in &origins {
        let _ = writeln!(conf, "  - domain: \"{origin}\"");
    }
    std::fs::write(zones.join("knot.conf"), conf).unwrap();
    let started = Instant::now();
    let mut child = match Command::new(knotd)
        .arg("-c")
        .arg(zones.join("knot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => {
            println!("Knot DNS: {knotd} did not start: {e}");
            return None;
        }
    };
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (last_host, last_ip) = cluster.last();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(300) {
        if let Ok(Some(status)) = child.try_wait() {
            println!("Knot DNS: knotd exited with {status}");
            return None;
        }
        if answers(addr, &last_host, &last_ip).await && soas(addr, &origins).await {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let loaded = started.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss, _) = memory(child.id());
    let _ = child.kill();
    let _ = child.wait();
    if !ready {
        println!("Knot DNS: zones not loaded in 300 s");
        return None;
    }
    Some((rss, loaded))
}

/// Whether every zone answers its SOA authoritatively.
async fn soas(addr: SocketAddr, origins: &[String]) -> bool {
    for origin in origins {
        let message = dns::query(origin, RecordType::SOA);
        match tokio::time::timeout(Duration::from_secs(2), dns::udp(addr, &message)).await {
            Ok(m) if m.metadata.response_code == ResponseCode::NoError && !m.answers.is_empty() => {
            }
            _ => return false,
        }
    }
    true
}
