//! The master-file export against the real binary: `export-zone` is a
//! command-line subcommand (its output and exit code are what is checked),
//! and what it prints must match the `GET /zone` of the server run
//! in-process (`support::app`) on the same config.

use super::*;
use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::app::Running;
use crate::support::server::{BIN, eventually};

/// `export-zone` builds the zone `serve` serves once its pods are Ready:
/// the same lines as the live `GET /zone`, serial aside.
#[test]
fn export_zone_prints_what_serve_serves() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[manifests_dir()], "");
    let export = |which: &str| {
        let out = std::process::Command::new(BIN)
            .args(["export-zone", "--config"])
            .arg(&config)
            .args(["--zone", which])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let forward = export("forward");
    let mut lines = forward.lines();
    let soa = lines.next().unwrap();
    assert!(
        soa.starts_with("cluster.local.\t5\tIN\tSOA\tns.dns.cluster.local. "),
        "{soa}"
    );
    let body: BTreeSet<String> = lines.map(str::to_owned).collect();
    for line in &body {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields.len(), 5, "{line}");
        assert!(
            fields[0].ends_with("cluster.local."),
            "absolute names: {line}"
        );
        assert_ne!(fields[3], "SOA", "one SOA, first");
    }
    let pods: Vec<&String> = body
        .iter()
        .filter(|l| l.starts_with("web-demo-") && l.contains("\tA\t"))
        .collect();
    assert_eq!(pods.len(), 2, "both pods Ready: {body:#?}");

    let server = Running::start(&config);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let live = runtime
        .block_on(eventually(Duration::from_secs(20), || async {
            let (_, live) = live_zone(server.admin, "forward");
            (live == body).then_some(live)
        }))
        .is_some();
    assert!(live, "GET /zone never matched export-zone:\n{forward}");
    let reverse = export("reverse");
    assert!(
        reverse.starts_with("in-addr.arpa.\t5\tIN\tSOA\t"),
        "{reverse}"
    );
    assert_eq!(
        reverse.matches("\tSOA\t").count(),
        2,
        "in-addr.arpa. and ip6.arpa."
    );
    // The two pods, and the ClusterIP Service `web`'s cluster IP.
    assert_eq!(reverse.matches("\tPTR\t").count(), 3, "{reverse}");
    assert!(
        reverse.contains("\tPTR\tweb.demo.svc.cluster.local."),
        "{reverse}"
    );

    // The Kubernetes source says clearly that it is not supported.
    let k8s = dir.path().join("k8s.yaml");
    std::fs::write(&k8s, "source:\n  kubernetes: {}\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["export-zone", "--config"])
        .arg(&k8s)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not support the Kubernetes source"),
        "{err}"
    );
}
