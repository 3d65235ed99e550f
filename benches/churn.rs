//! UDP throughput while the zone changes, on the real binary: the quiet
//! throughput and the throughput under endpoint churn, in one run, and the
//! programming latency of the churn.
//!
//! Loads SERVICES headless Services (default 10,000), each with one
//! EndpointSlice of ENDPOINTS_PER_SERVICE endpoints (default 10, so 100,000
//! endpoints) into the test API server (`tests/support/kube_api/`), starts
//! `headless-dns serve` against it, and once it is synced runs dnsperf
//! (DNSPERF, default /usr/bin/dnsperf) for SECONDS (default 10) twice:
//!
//! 1. quiet: nothing changes;
//! 2. churn: CHANGES_PER_SECOND (default 500) endpoint changes a second are
//!    applied to the API server meanwhile (each one endpoint's address in
//!    one slice, round-robin over the services);
//! 3. quiet again, so a drift of the machine's load shows.
//!
//! It prints both rates, their ratio, how many changes were applied, and
//! the programming latency (event received → snapshot published, the
//! server's own histogram) of the churn phase at p50 and p99.
//!
//! Run: `cargo bench --bench churn` (a release build of the binary).
//! Not a test: nothing here passes or fails on a number.

#[path = "../tests/support/dns.rs"]
mod dns;
#[path = "../tests/support/kube_api/mod.rs"]
mod kube_api;
#[path = "../tests/support/server.rs"]
#[allow(dead_code)]
mod server;

use std::fmt::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use kube_api::{KubeApi, objects};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ip(n: usize) -> String {
    format!("10.{}.{}.{}", 64 + n / 65536, (n / 256) % 256, n % 256)
}

/// The alternate address of endpoint `n` while it is changed.
fn moved(n: usize) -> String {
    format!("10.{}.{}.{}", 160 + n / 65536, (n / 256) % 256, n % 256)
}

#[derive(Clone, Copy)]
struct Shape {
    services: usize,
    namespaces: usize,
    per_service: usize,
}

impl Shape {
    fn namespace(&self, i: usize) -> String {
        format!("ns{}", i % self.namespaces)
    }

    /// The slice of service `i`, with endpoint `changed` (if any) moved.
    fn slice(
        &self,
        i: usize,
        changed: Option<usize>,
    ) -> k8s_openapi::api::discovery::v1::EndpointSlice {
        let name = format!("svc{i}");
        let endpoints: Vec<(String, String)> = (0..self.per_service)
            .map(|j| {
                let n = i * self.per_service + j + 1;
                let address = if changed == Some(j) { moved(n) } else { ip(n) };
                (address, format!("{name}-{j}"))
            })
            .collect();
        let eps: Vec<objects::Ep<'_>> = endpoints
            .iter()
            .map(|(ip, host)| (ip.as_str(), Some(host.as_str()), true))
            .collect();
        objects::slice(&self.namespace(i), &format!("{name}-abcde"), &name, &eps)
    }
}

fn main() {
    let shape = Shape {
        services: env_or("SERVICES", 10_000).max(1),
        namespaces: env_or("NAMESPACES", 100).max(1),
        per_service: env_or("ENDPOINTS_PER_SERVICE", 10).max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(shape));
}

/// The programming-latency histogram from /metrics: (upper bound, count)
/// cumulative, as Prometheus writes it.
fn programming(metrics: &str) -> Vec<(f64, u64)> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("headless_dns_programming_latency_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect()
}

/// The bucket bound below which a fraction `q` of the observations fall,
/// from the difference of two cumulative histograms.
fn quantile(before: &[(f64, u64)], after: &[(f64, u64)], q: f64) -> Option<f64> {
    let counts: Vec<(f64, u64)> = after
        .iter()
        .map(|(le, n)| {
            let old = before.iter().find(|(b, _)| b == le).map_or(0, |(_, c)| *c);
            (*le, n - old)
        })
        .collect();
    let total = counts.last()?.1;
    if total == 0 {
        return None;
    }
    let want = (q * total as f64).ceil() as u64;
    counts.iter().find(|(_, n)| *n >= want).map(|(le, _)| *le)
}

fn seconds_text(s: Option<f64>) -> String {
    match s {
        Some(s) if s.is_finite() => format!("≤ {:.2} ms", s * 1000.0),
        Some(_) => "> 10 s".to_owned(),
        None => "no observation".to_owned(),
    }
}

/// dnsperf for `seconds` against `server`: queries per second.
fn dnsperf(
    dnsperf: &str,
    server: std::net::SocketAddr,
    queries: &std::path::Path,
    seconds: usize,
) -> f64 {
    let out = Command::new(dnsperf)
        .args([
            "-s",
            &server.ip().to_string(),
            "-p",
            &server.port().to_string(),
        ])
        .arg("-d")
        .arg(queries)
        .args(["-l", &seconds.to_string(), "-c", "2", "-q", "200"])
        .output()
        .expect("run dnsperf");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Queries per second:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in dnsperf's output:\n{text}"))
}

async fn run(shape: Shape) {
    let api = KubeApi::start().await;
    for i in 0..shape.services {
        api.apply(objects::service(
            &shape.namespace(i),
            &format!("svc{i}"),
            true,
        ));
        api.apply(shape.slice(i, None));
    }
    let endpoints = shape.services * shape.per_service;
    let dir = tempfile::tempdir().unwrap();
    api.write_kubeconfig(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "source:\n  kubernetes:\n    kubeconfig: kubeconfig.yaml\n",
    )
    .unwrap();
    let server = tokio::task::spawn_blocking(move || server::Server::start(&config))
        .await
        .unwrap();
    let started = Instant::now();
    while server.http_get("/readyz").0 != 200 {
        assert!(started.elapsed() < Duration::from_secs(600), "not synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Names spread over the zone: endpoint names and service names.
    let mut text = String::new();
    for k in 0..1000 {
        let i = (k * 7919) % shape.services;
        let j = k % shape.per_service;
        let ns = shape.namespace(i);
        let _ = writeln!(text, "svc{i}-{j}.svc{i}.{ns}.svc.cluster.local A");
        let _ = writeln!(text, "svc{i}.{ns}.svc.cluster.local A");
    }
    let queries = dir.path().join("queries.txt");
    std::fs::write(&queries, text).unwrap();
    let dnsperf_bin = std::env::var("DNSPERF").unwrap_or_else(|_| "/usr/bin/dnsperf".to_owned());
    let seconds = env_or("SECONDS", 10).max(1);
    let rate = env_or("CHANGES_PER_SECOND", 500).max(1);

    let dns = server.dns;
    let bin = dnsperf_bin.clone();
    let q = queries.clone();
    let quiet = tokio::task::spawn_blocking(move || dnsperf(&bin, dns, &q, seconds))
        .await
        .unwrap();

    let before = programming(&server.http_get("/metrics").1);
    let api = Arc::new(api);
    let stop = Arc::new(AtomicBool::new(false));
    let applied = Arc::new(AtomicUsize::new(0));
    let churn = {
        let (api, stop, applied) = (api.clone(), stop.clone(), applied.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let i = k % shape.services;
                // Each pass over the services moves the next endpoint, and
                // the pass after puts it back.
                let pass = k / shape.services;
                let changed = pass
                    .is_multiple_of(2)
                    .then_some((pass / 2) % shape.per_service);
                api.apply(shape.slice(i, changed));
                applied.fetch_add(1, Ordering::Relaxed);
                k += 1;
            }
        })
    };
    let churn_started = Instant::now();
    let bin = dnsperf_bin.clone();
    let busy = tokio::task::spawn_blocking(move || dnsperf(&bin, dns, &queries, seconds))
        .await
        .unwrap();
    stop.store(true, Ordering::Relaxed);
    churn.await.unwrap();
    let churn_time = churn_started.elapsed();
    // Quiet again, so a drift of the machine's load shows.
    let bin = dnsperf_bin.clone();
    let q = dir.path().join("queries.txt");
    let quiet_after = tokio::task::spawn_blocking(move || dnsperf(&bin, dns, &q, seconds))
        .await
        .unwrap();
    // Let the last changes land before reading the histogram.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = programming(&server.http_get("/metrics").1);
    let changes = applied.load(Ordering::Relaxed);
    let published: u64 = {
        let total = |h: &[(f64, u64)]| h.last().map_or(0, |(_, n)| *n);
        total(&after) - total(&before)
    };

    println!();
    println!(
        "headless-dns, Kubernetes source: {} headless services, {endpoints} endpoints; dnsperf -c 2 -q 200, {seconds} s a phase",
        shape.services
    );
    println!("  quiet, before:                 {quiet:.0} queries/s");
    println!(
        "  under churn:                   {busy:.0} queries/s ({changes} endpoint changes in {:.1?}, {:.0}/s)",
        churn_time,
        changes as f64 / churn_time.as_secs_f64()
    );
    println!("  quiet, after:                  {quiet_after:.0} queries/s");
    println!(
        "  churn / mean quiet:            {:.3}",
        busy / ((quiet + quiet_after) / 2.0)
    );
    println!("  snapshots published in churn:  {published}");
    println!(
        "  programming latency p50:       {}",
        seconds_text(quantile(&before, &after, 0.5))
    );
    println!(
        "  programming latency p99:       {}",
        seconds_text(quantile(&before, &after, 0.99))
    );
    drop(server);
}
