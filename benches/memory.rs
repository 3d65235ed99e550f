//! Memory of the Kubernetes source at scale, measured on the real binary.
//!
//! Loads SERVICES headless Services (default 10,000) in NAMESPACES
//! namespaces (default 100), each with one EndpointSlice of
//! ENDPOINTS_PER_SERVICE endpoints (default 10, so 100,000 endpoints, every
//! one with a hostname, so each gets its own name and PTR record) into the
//! test API server, starts `headless-dns serve` against it, and reports from
//! /proc/PID/status:
//!
//! - the resident set after the initial sync (VmRSS) and its peak (VmHWM);
//! - the peak during a forced relist of every watch (history compacted, so
//!   each watch's resume is 410 Gone), after resetting VmHWM through
//!   /proc/PID/clear_refs.
//!
//! Run: `cargo bench --bench memory` (a release build of the binary).
//! Not a test: nothing here passes or fails on a number.

#[path = "../tests/support/dns.rs"]
mod dns;
#[path = "../tests/support/kube_api.rs"]
mod kube_api;
#[path = "../tests/support/server.rs"]
#[allow(dead_code)]
mod server;

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
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
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

async fn answers(dns: std::net::SocketAddr, name: &str, want: &str) -> bool {
    let m = dns::udp(dns, &dns::query(name, RecordType::A)).await;
    m.metadata.response_code == ResponseCode::NoError && dns::addresses(&m.answers) == [want]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is taken from argv.
    let services = env_or("SERVICES", 10_000);
    let namespaces = env_or("NAMESPACES", 100).max(1);
    let per_service = env_or("ENDPOINTS_PER_SERVICE", 10);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(services, namespaces, per_service));
}

async fn run(services: usize, namespaces: usize, per_service: usize) {
    let api = KubeApi::start().await;
    let started = Instant::now();
    let mut n = 0;
    for i in 0..services {
        let ns = format!("ns{}", i % namespaces);
        let name = format!("svc{i}");
        api.apply(objects::service(&ns, &name, true));
        let endpoints: Vec<(String, String)> = (0..per_service)
            .map(|j| {
                n += 1;
                (ip(n), format!("{name}-{j}"))
            })
            .collect();
        let eps: Vec<objects::Ep<'_>> = endpoints
            .iter()
            .map(|(ip, host)| (ip.as_str(), Some(host.as_str()), true))
            .collect();
        api.apply(objects::slice(&ns, &format!("{name}-abcde"), &name, &eps));
    }
    println!(
        "loaded {services} headless services, {n} endpoints in {namespaces} namespaces into the test API server in {:.1?}",
        started.elapsed()
    );

    let dir = tempfile::tempdir().unwrap();
    api.write_kubeconfig(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "source:\n  kubernetes:\n    kubeconfig: kubeconfig.yaml\n",
    )
    .unwrap();
    let started = Instant::now();
    let server = tokio::task::spawn_blocking(move || server::Server::start(&config))
        .await
        .unwrap();
    let pid = server.child.id();
    let (idle, _) = memory(pid);
    let mut peak_sampled = 0;
    loop {
        let (rss, _) = memory(pid);
        peak_sampled = peak_sampled.max(rss);
        if server.http_get("/readyz").0 == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not synced in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let synced_in = started.elapsed();
    let last = services - 1;
    let last_host = format!(
        "svc{last}-{}.svc{last}.ns{}.svc.cluster.local.",
        per_service - 1,
        last % namespaces
    );
    assert!(
        answers(server.dns, &last_host, &ip(n)).await,
        "{last_host} does not answer {}",
        ip(n)
    );
    // Let allocator caches settle before reading the steady state.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_synced, hwm_sync) = memory(pid);
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
    let relist = Instant::now();
    api.release_watches();
    let mut peak_relist_sampled = 0;
    loop {
        let (rss, _) = memory(pid);
        peak_relist_sampled = peak_relist_sampled.max(rss);
        let rewatched = api.served().iter().filter(|s| s.watch).count() >= watches_before + 6
            && api.gone_served() >= gone_before + 3;
        if rewatched && answers(server.dns, "svc0-0.svc0.ns0.svc.cluster.local.", changed).await {
            break;
        }
        assert!(
            relist.elapsed() < Duration::from_secs(600),
            "relist not done in 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let relisted_in = relist.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss_after, hwm_relist) = memory(pid);

    println!();
    println!(
        "headless-dns, Kubernetes source: {services} headless services, {n} endpoints ({records} records)"
    );
    println!("  RSS at start, before listing:      {}", mib(idle));
    println!("  initial sync:                      {synced_in:.1?}");
    println!("  RSS after sync (VmRSS):            {}", mib(rss_synced));
    println!("  peak during sync (VmHWM):          {}", mib(hwm_sync));
    println!("  forced relist (410, 3 watches):    {relisted_in:.1?}");
    println!("  peak during relist (VmHWM):        {}", mib(hwm_relist));
    println!("  RSS after relist (VmRSS):          {}", mib(rss_after));
    println!(
        "  (sampled every 20 ms: sync {}, relist {})",
        mib(peak_sampled),
        mib(peak_relist_sampled)
    );
    drop(server);
}
