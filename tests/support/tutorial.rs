//! The embedded cluster for the tutorial tests: the server run in-process
//! (`support::app`) with fast simulated pods and no manifests (the test
//! creates everything through `ctl`), and `ctl` run in-process through the
//! real command-line parser.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use headless_dns::cli::{Cli, Command};

use super::app::Running;

/// A running server and the folder its config and the test's files live in.
pub struct Tutorial {
    pub server: Running,
    pub dir: tempfile::TempDir,
}

/// What one `ctl` command did.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: u8,
    pub out: String,
    pub err: String,
}

impl Tutorial {
    /// Starts the server on port 0 with pods that start and turn Ready in
    /// 100 ms each.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let manifests = dir.path().join("manifests");
        std::fs::create_dir(&manifests).unwrap();
        let config = super::config::Embedded::new(["manifests"])
            .no_watch()
            .pod_delays("100ms")
            .write(&dir.path().join("config.yaml"));
        let server = Running::start(&config);
        Self { server, dir }
    }

    /// Writes `text` to `name` in the test's folder; returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `ctl --admin ADDR ARGS...` in-process.
    pub fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_with_input(args, "")
    }

    /// The same, reading `input` (for `exec -i`, `run -i`).
    pub fn ctl_with_input(&self, args: &[&str], input: &str) -> Output {
        ctl(self.server.admin, args, input)
    }

    /// Runs a `ctl` command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.ctl(args);
        assert_eq!(output.code, 0, "ctl {args:?} failed: {output:?}");
        output.out
    }

    /// Runs `ctl ARGS` until `done(stdout)` holds (at most 30 s); returns
    /// the last output.
    pub fn until(&self, args: &[&str], done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let output = self.ctl(args);
            if output.code == 0 && done(&output.out) {
                return output.out;
            }
            assert!(
                Instant::now() < deadline,
                "ctl {args:?} never got there; last: {output:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for `rollout status` of a set to report completion.
    pub fn rolled_out(&self, set: &str, namespace: &str) {
        let out = self.ok(&[
            "rollout",
            "status",
            set,
            "-n",
            namespace,
            "--timeout",
            "60s",
        ]);
        assert!(out.contains("complete"), "{out}");
    }

    /// The path of the folder the test's files live in.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// A table's rows as cells, split on runs of two or more spaces (kubectl's
/// padding is at least 3), header first.
pub fn cells(table: &str) -> Vec<Vec<String>> {
    table
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// The demo's headless Service, as the tutorial's `nginx-svc.yaml`.
pub const SERVICE: &str = "apiVersion: v1
kind: Service
metadata:
  name: nginx-demo
  labels:
    app: nginx
spec:
  clusterIP: None
  selector:
    app: nginx
  ports:
    - name: web
      port: 80
";

/// The demo's StatefulSet, as the tutorial's `web.yaml`, with `replicas`.
pub fn statefulset(replicas: u32) -> String {
    format!(
        "apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web-demo
spec:
  serviceName: nginx-demo
  replicas: {replicas}
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
        - name: nginx
          image: registry.k8s.io/nginx-slim:0.21
          ports:
            - containerPort: 80
              name: web
          volumeMounts:
            - name: www
              mountPath: /usr/share/nginx/html
  volumeClaimTemplates:
    - metadata:
        name: www
      spec:
        accessModes: [\"ReadWriteOnce\"]
        resources:
          requests:
            storage: 1Gi
"
    )
}

/// One column of a table by its header, cut at the header's character
/// positions as kubectl lays it out, so an empty cell reads as "".
pub fn column(table: &str, header: &str) -> Vec<String> {
    let mut lines = table.lines();
    let head = lines.next().unwrap_or_default();
    // The header as a whole cell: not "CLAIM" inside "RECLAIM POLICY".
    let start = head
        .match_indices(header)
        .map(|(i, _)| i)
        .find(|&i| {
            let after = &head[i + header.len()..];
            (i == 0 || head[..i].ends_with(' ')) && (after.is_empty() || after.starts_with("  "))
        })
        .unwrap_or_else(|| panic!("no column {header:?} in {head:?}"));
    let end = head[start + header.len()..]
        .find(|c: char| c != ' ')
        .map(|i| start + header.len() + i);
    lines
        .map(|line| {
            let cut = match end {
                Some(end) => line.get(start..end.min(line.len())),
                None => line.get(start..),
            };
            cut.unwrap_or_default().trim().to_owned()
        })
        .collect()
}

// ---- the tutorial's steps and readings, shared by the ctl_* tests

/// `create ns demo`, `create -f` the Service and the StatefulSet, and wait
/// for the rollout: the tutorial's first steps.
pub fn demo(replicas: u32) -> Tutorial {
    let t = Tutorial::start();
    assert_eq!(t.ok(&["create", "ns", "demo"]), "namespace/demo created\n");
    let svc = t.file("nginx-svc.yaml", SERVICE);
    let sts = t.file("web.yaml", &statefulset(replicas));
    let out = t.ok(&["create", "-f", svc.to_str().unwrap(), "-n", "demo"]);
    assert_eq!(out, "service/nginx-demo created\n");
    let out = t.ok(&["create", "-f", sts.to_str().unwrap(), "-n", "demo"]);
    assert_eq!(out, "statefulset.apps/web-demo created\n");
    t.rolled_out("sts/web-demo", "demo");
    t
}

/// Pod name → IP from `get pods -o wide`.
pub fn pod_ips(t: &Tutorial) -> std::collections::BTreeMap<String, String> {
    cells(&t.ok(&["get", "pods", "-n", "demo", "-o", "wide"]))[1..]
        .iter()
        .map(|r| (r[0].clone(), r[5].clone()))
        .collect()
}

/// busybox 1.28's `nslookup NAME` answer for one address.
pub fn nslookup_answer(server: &str, name: &str, ip: &str, fqdn: &str) -> String {
    format!(
        "Server:    {server}\nAddress 1: {server}\n\nName:      {name}\nAddress 1: {ip} {fqdn}\n"
    )
}

/// Pod name → (image, controller-revision-hash), from `get pods -o json`.
pub fn pod_images(t: &Tutorial) -> std::collections::BTreeMap<String, (String, String)> {
    let list: serde_json::Value =
        serde_json::from_str(&t.ok(&["get", "pods", "-n", "demo", "-o", "json"])).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_owned(),
                (
                    p["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    p["metadata"]["labels"]["controller-revision-hash"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ),
            )
        })
        .collect()
}

/// Waits until every pod of the set runs `image`, Ready.
pub fn all_on(t: &Tutorial, replicas: usize, image: &str) {
    t.until(&["get", "pods", "-n", "demo", "-o", "json"], |out| {
        let list: serde_json::Value = serde_json::from_str(out).unwrap();
        let items = list["items"].as_array().unwrap();
        items.len() == replicas
            && items.iter().all(|p| {
                p["spec"]["containers"][0]["image"] == image
                    && p["status"]["containerStatuses"][0]["ready"] == true
                    && p["metadata"]["deletionTimestamp"].is_null()
            })
    });
}

/// The pods deleted by the controller, in order, from `get events`.
pub fn deletions(t: &Tutorial) -> Vec<String> {
    t.ok(&["get", "events", "-n", "demo"])
        .lines()
        .filter_map(|l| l.split_once("delete Pod ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect()
}

pub const OLD: &str = "registry.k8s.io/nginx-slim:0.21";
pub const MID: &str = "registry.k8s.io/nginx-slim:0.22";
pub const NEW: &str = "registry.k8s.io/nginx-slim:0.23";

/// kubectl's RFC 1123 form of an object's creationTimestamp.
pub fn created(t: &Tutorial, args: &[&str]) -> String {
    let mut argv = args.to_vec();
    argv.extend(["-o", "json"]);
    let object: serde_json::Value = serde_json::from_str(&t.ok(&argv)).unwrap();
    let at: k8s_openapi::jiff::Timestamp = object["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    at.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Splits a description at `Events:`; checks the table's header and
/// returns its rows as (type, reason, from, message).
pub fn split_events(text: &str) -> (String, Vec<[String; 4]>) {
    let (body, events) = text.split_once("Events:").expect("an Events section");
    let lines: Vec<&str> = events.lines().collect();
    if lines[0].trim() == "<none>" {
        return (body.to_owned(), Vec::new());
    }
    assert_eq!(
        cells(lines[1])[0],
        ["Type", "Reason", "Age", "From", "Message"]
    );
    assert_eq!(
        cells(lines[2])[0],
        ["----", "------", "----", "----", "-------"]
    );
    let rows = lines[3..]
        .iter()
        .map(|l| {
            let c = cells(l).remove(0);
            [c[0].clone(), c[1].clone(), c[3].clone(), c[4..].join("  ")]
        })
        .collect();
    (body.to_owned(), rows)
}

/// Runs `ctl --admin ADMIN ARGS...` in-process through the real
/// command-line parser, reading `input` as its stdin.
pub fn ctl(admin: std::net::SocketAddr, args: &[&str], input: &str) -> Output {
    let admin = admin.to_string();
    let mut argv = vec!["headless-dns", "ctl", "--admin", admin.as_str()];
    argv.extend_from_slice(args);
    let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    let Command::Ctl(args) = cli.command else {
        panic!("not a ctl command")
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut input = input.as_bytes();
    let code = headless_dns::ctl::execute_with_input(args, &mut input, &mut out, &mut err);
    Output {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}
