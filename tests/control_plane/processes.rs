//! Faults a real control plane can be put through: its processes stopped
//! (`SIGSTOP`, undone by dropping the [`Stopped`] guard, so that a failing
//! test never leaves the cluster frozen), the API server restarted on the
//! same port, and etcd compacted through its HTTP gateway (no `etcdctl`
//! needed). Everything is read from the PID files and command lines that
//! `../shared/k8s/cluster` leaves in its folder.
//!
//! A fault test ends with [`settle`] before it gives up its exclusive hold,
//! so that the next test finds a controller-manager that follows the API
//! server again (see there).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Client;
use kube::api::{Api, ListParams};
use serde_json::{Value, json};

use crate::fixture::{apply_value, test_namespace, until};
use crate::objects::{ensure_node, headless, pod, set_pod_status};

pub fn pid(dir: &Path, process: &str) -> u32 {
    let file = dir.join(format!("{process}.pid"));
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid} failed");
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|s| s.split_whitespace().nth(2) == Some("Z"))
}

/// A process of the control plane held with `SIGSTOP`; `SIGCONT` on drop.
pub struct Stopped {
    pid: u32,
}

impl Stopped {
    pub fn new(dir: &Path, process: &str) -> Self {
        let pid = pid(dir, process);
        signal(pid, "STOP");
        Self { pid }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.pid, "CONT");
    }
}

/// A process's command line, from `/proc`.
fn command_line(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/cmdline: {e}"))
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The value of `--flag=value` or `--flag value` on a command line.
fn flag_value(line: &[String], flag: &str) -> Option<String> {
    line.iter().enumerate().find_map(|(i, arg)| {
        arg.strip_prefix(&format!("{flag}="))
            .map(str::to_owned)
            .or_else(|| (arg == flag).then(|| line.get(i + 1).cloned()).flatten())
    })
}

/// Ends a process of the control plane with SIGTERM (SIGKILL after 10 s:
/// kube-apiserver's graceful termination can wait half a minute for open
/// watches) and returns its command line, to start it again with
/// [`launch`].
pub fn terminate(dir: &Path, process: &str) -> Vec<String> {
    let old = pid(dir, process);
    let line = command_line(old);
    signal(old, "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut killed = false;
    while alive(old) {
        if Instant::now() >= deadline && !killed {
            signal(old, "KILL");
            killed = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    line
}

/// Starts a process of the control plane with `line`, logging where
/// `cluster up` logs it, and records its PID for `cluster down`.
pub fn launch(dir: &Path, process: &str, line: &[String]) {
    use std::os::unix::process::CommandExt;
    let log = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join(format!("logs/{process}.log")))
        .unwrap();
    let child = Command::new(&line[0])
        .args(&line[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        // Its own group: it must outlive this test, as `cluster up`'s
        // setsid processes do, until the reaper's `cluster down`.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", line[0]));
    std::fs::write(dir.join(format!("{process}.pid")), child.id().to_string()).unwrap();
    // Reaped when it exits, so that a stopped one is not left a zombie
    // that `kill -0` (and `cluster down`) would take for alive.
    let mut child = child;
    std::thread::spawn(move || child.wait());
}

/// A process of the control plane ended, started again on drop with the
/// same command line (so a failing test leaves the cluster whole).
pub struct Down {
    dir: PathBuf,
    process: String,
    line: Vec<String>,
}

impl Down {
    pub fn new(dir: &Path, process: &str) -> Self {
        let line = terminate(dir, process);
        Self {
            dir: dir.to_owned(),
            process: process.to_owned(),
            line,
        }
    }
}

impl Drop for Down {
    fn drop(&mut self) {
        launch(&self.dir, &self.process, &self.line);
    }
}

/// Restarts kube-apiserver with the same command line, so on the same port
/// (`cluster down`/`up` would pick new ports and strand every kubeconfig),
/// and waits until it is ready. Returns how long it was away.
pub async fn restart_api_server(dir: &Path, client: &Client) -> Duration {
    let away = Instant::now();
    let line = terminate(dir, "kube-apiserver");
    launch(dir, "kube-apiserver", &line);
    until(
        Duration::from_secs(120),
        "the restarted API server ready",
        || async {
            let request = http::Request::get("/readyz").body(Vec::new()).unwrap();
            match client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => Ok(()),
                Ok(body) => Err(body),
                Err(e) => Err(e.to_string()),
            }
        },
    )
    .await;
    away.elapsed()
}

/// The controller-manager restarted and seen publishing a pod again: what
/// a fault test does last, before its exclusive hold ends.
///
/// After the API server was stopped or restarted, the controller-manager
/// comes back on its own, but not always promptly. By hand, after a 30 s
/// stop and two restarts, a pod's status once took 9.6 s to reach its
/// EndpointSlice (0.1 s in two later trials); in CI, the test that followed
/// the fault tests waited past its 30 s for it. Its informers' relists back
/// off (client-go's reflector), and so do its queues after failed writes;
/// which of these held that run up is not known. A restarted
/// controller-manager starts with neither, and the probe proves its
/// EndpointSlice controller works before any test relies on it.
pub async fn settle(dir: &Path, client: &Client) {
    drop(Down::new(dir, "kube-controller-manager"));
    controller_publishes(client).await;
}

/// Waits until the EndpointSlice controller publishes a ready pod of a
/// fresh namespace: the controller-manager is up and its informers follow
/// the API server.
pub async fn controller_publishes(client: &Client) {
    let ns = test_namespace(client, "settle").await;
    ensure_node(client).await;
    let labels = json!({"app": "probe"});
    apply_value(
        client,
        &headless(&ns, "probe", Some(labels.clone()), json!({})),
    )
    .await;
    apply_value(client, &pod(&ns, "probe-0", labels, None)).await;
    let ip = "10.250.250.1";
    set_pod_status(client, &ns, "probe-0", ip, true).await;
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), &ns);
    let listed = ListParams::default().labels("kubernetes.io/service-name=probe");
    until(
        Duration::from_secs(120),
        "the restarted controller-manager publishing a pod",
        || async {
            let list = slices.list(&listed).await.map_err(|e| e.to_string())?;
            let addresses: Vec<&str> = list
                .items
                .iter()
                .flat_map(|s| &s.endpoints)
                .flat_map(|e| &e.addresses)
                .map(String::as_str)
                .collect();
            if addresses.contains(&ip) {
                Ok(())
            } else {
                Err(format!("{ns}: slices list {addresses:?}"))
            }
        },
    )
    .await;
}

/// etcd's client URL, from its command line.
fn etcd_url(dir: &Path) -> std::net::SocketAddr {
    let line = command_line(pid(dir, "etcd"));
    let url = flag_value(&line, "--listen-client-urls").expect("etcd has --listen-client-urls");
    url.trim_start_matches("http://")
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("etcd client URL {url}: {e}"))
}

/// One call to etcd's v3 HTTP gateway.
fn etcd_call(dir: &Path, path: &str, body: &str) -> Value {
    let (status, text) = crate::support::server::http(etcd_url(dir), "POST", path, body);
    assert_eq!(status, 200, "etcd {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("etcd {path}: {e}: {text}"))
}

/// etcd's current revision.
pub fn etcd_revision(dir: &Path) -> u64 {
    // A range over the key "/" (base64 "Lw=="): the header has the revision.
    let reply = etcd_call(dir, "/v3/kv/range", r#"{"key":"Lw=="}"#);
    reply["header"]["revision"]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no revision in {reply}"))
}

/// `etcdctl compact REV`: history before `revision` is gone.
pub fn etcd_compact(dir: &Path, revision: u64) {
    etcd_call(
        dir,
        "/v3/kv/compaction",
        &format!(r#"{{"revision":"{revision}","physical":true}}"#),
    );
}

/// Resident memory of a process, KiB (`VmRSS` in `/proc/PID/status`);
/// `None` once it has exited (a zombie has no `VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}
