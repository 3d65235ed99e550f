//! The real binary, started the way a user starts it, queried over UDP and
//! TCP with a Rust DNS client. It needs the binary because what it checks
//! is the process: `serve`'s command line and log (the manifest watcher's
//! lines), SIGTERM's exit code, and the exit code and stderr of a bad
//! config. Tests of what the server answers run it in-process
//! (`support::app`, as `tests/in_process.rs` shows).

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::config::Embedded;
use support::dns::{addresses, query, query_edns, tcp, udp};
use support::server::{BIN, Server, eventually};

const POD0: &str = "web-demo-0.nginx-demo.demo.svc.cluster.local.";

/// `config/examples.yaml`: static EndpointSlices (the hand-written form),
/// so every address is known in advance.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples.yaml")
}

/// A private copy of `config/examples.yaml` and its manifests, to edit.
fn examples_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    std::fs::create_dir(dir.path().join("examples")).unwrap();
    for entry in std::fs::read_dir(root.join("examples")).unwrap() {
        let entry = entry.unwrap();
        let to = dir.path().join("examples").join(entry.file_name());
        std::fs::copy(entry.path(), to).unwrap();
    }
    std::fs::copy(root.join("examples.yaml"), dir.path().join("examples.yaml")).unwrap();
    let config = dir.path().join("examples.yaml");
    (dir, config)
}

#[tokio::test]
async fn static_answers_over_udp_and_tcp() {
    let server = Server::start(&examples());
    let m = udp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(m.metadata.authoritative);
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    let m = tcp(
        server.dns,
        &query("nginx-demo.demo.svc.cluster.local.", RecordType::A),
    )
    .await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39", "10.244.0.40"]);
    let m = udp(
        server.dns,
        &query_edns(
            "_web._tcp.nginx-demo.demo.svc.cluster.local.",
            RecordType::SRV,
            1232,
        ),
    )
    .await;
    assert_eq!(m.answers.len(), 2);
    assert_eq!(addresses(&m.additionals), ["10.244.0.39", "10.244.0.40"]);
    let m = udp(
        server.dns,
        &query("40.0.244.10.in-addr.arpa.", RecordType::PTR),
    )
    .await;
    assert_eq!(m.answers.len(), 1);
    let m = udp(server.dns, &query("example.com.", RecordType::A)).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);

    // Admin: ready, and the queries above are counted.
    assert_eq!(server.http_get("/healthz").0, 200);
    assert_eq!(server.http_get("/readyz").0, 200);
    let (status, metrics) = server.http_get("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"headless_dns_queries_total{type="A",rcode="NOERROR"} 2"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"{type="A",rcode="REFUSED"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("headless_dns_response_seconds_count 5"),
        "{metrics}"
    );
    assert!(
        metrics.contains("headless_dns_snapshot_serial"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("headless_dns_records ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(
        metrics.contains("headless_dns_programming_latency_seconds_count"),
        "{metrics}"
    );
}

#[tokio::test]
async fn tcp_pipelines_many_queries_on_one_connection() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start(&examples());
    let mut stream = tokio::net::TcpStream::connect(server.dns).await.unwrap();
    let mut frames = Vec::new();
    for id in 0..100u16 {
        let mut q = query(POD0, RecordType::A);
        q.metadata.id = id;
        let body = q.to_vec().unwrap();
        frames.extend_from_slice(&(body.len() as u16).to_be_bytes());
        frames.extend_from_slice(&body);
    }
    // All queries go out before any answer is read.
    stream.write_all(&frames).await.unwrap();
    for id in 0..100u16 {
        let m = support::dns::read_frame(&mut stream).await;
        assert_eq!(m.metadata.id, id, "answers come in order");
        assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    }
}

#[tokio::test]
async fn manifest_edit_is_served_and_broken_edit_keeps_last_good_state() {
    let (dir, config) = examples_copy();
    let mut server = Server::start(&config);
    server.wait_for_log("watching manifests for edits");
    let slice = dir.path().join("examples/web-endpointslice.yaml");
    let text = std::fs::read_to_string(&slice).unwrap();

    // Edit: web-demo-0 moves to a new IP.
    std::fs::write(&slice, text.replace("10.244.0.39", "10.244.3.7")).unwrap();
    let moved = eventually(Duration::from_secs(10), || async {
        let m = udp(server.dns, &query(POD0, RecordType::A)).await;
        (addresses(&m.answers) == ["10.244.3.7"]).then_some(())
    })
    .await;
    assert!(
        moved.is_some(),
        "edit not served within 10 s; log:\n{}",
        server.log().join("\n")
    );

    // A broken edit: a string where a port number belongs.
    std::fs::write(
        &slice,
        text.replace("10.244.0.39", "10.244.9.9")
            .replace("port: 80", "port: eighty"),
    )
    .unwrap();
    let error = server.wait_for_log("still serving the last good state");
    assert!(error.contains("web-endpointslice.yaml"), "{error}");
    assert!(error.contains("ports[0].port"), "{error}");
    let m = udp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(
        addresses(&m.answers),
        ["10.244.3.7"],
        "last good state is kept"
    );
    assert_eq!(server.http_get("/readyz").0, 200);
    let (_, metrics) = server.http_get("/metrics");
    assert!(
        metrics.contains("headless_dns_source_errors_total{kind=\"manifest\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let mut server = Server::start(&examples());
    let m = udp(server.dns, &query(POD0, RecordType::A)).await;
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    assert_eq!(server.terminate(), Some(0));
}

#[test]
fn bad_config_and_bad_manifest_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = Embedded::new(["m"])
        .and("dns:\n  listn: []\n")
        .write(&dir.path().join("bad.yaml"));
    let out = std::process::Command::new(BIN)
        .args(["check-config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml") && stderr.contains("listn"),
        "{stderr}"
    );

    std::fs::create_dir(dir.path().join("m")).unwrap();
    std::fs::write(
        dir.path().join("m/svc.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: b}\nspec:\n  clusterIP: None\n  ports: [{name: web, port: x}]\n",
    )
    .unwrap();
    Embedded::new(["m"]).write(&config);
    for args in [vec!["check-config"], vec!["serve", "--config"]] {
        let out = std::process::Command::new(BIN)
            .args(&args)
            .arg(&config)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("svc.yaml") && stderr.contains("ports[0].port"),
            "{args:?}: {stderr}"
        );
    }

    let out = std::process::Command::new(BIN)
        .arg("check-config")
        .arg(examples())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3 EndpointSlices"), "{stdout}");
}
