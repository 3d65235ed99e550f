//! The server run in-process through `app::App`, on sockets the test binds
//! to port 0: no binary, no log scraping for ports. The binary's own tests
//! (`tests/binary.rs`, `tests/live.rs`) keep the CLI, signals and exit codes.
//! Also the harness the other tests use (`support::app::Running`): it
//! serves, reports a startup error, and stops when told.

mod support;

use std::path::Path;
use std::time::Duration;

use headless_dns::app::{App, Bound};
use headless_dns::config::Config;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use support::app::Running;
use support::config::Embedded;
use support::dns::{addresses, query, tcp, udp};
use tokio_util::sync::CancellationToken;

const POD0: &str = "web-demo-0.nginx-demo.demo.svc.cluster.local.";

/// DNS and admin on 127.0.0.1 port 0, for the tests that bind through
/// `app::Bound` themselves rather than through `support::app`.
const PORT_0: &str = "dns:\n  listen: [\"127.0.0.1:0\"]\nadmin:\n  listen: 127.0.0.1:0\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_started_app_answers_at_once_and_stops_when_told() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config_path = root.join("config/in-process.yaml");
    let text = Embedded::new([support::config::examples()])
        .no_watch()
        .and(PORT_0)
        .text();
    let config = Config::from_str(&text, &config_path).unwrap();
    let bound = Bound::bind(&config).await.unwrap();
    let dns = bound.dns_addrs()[0];
    assert_ne!(dns.port(), 0, "bound to a real port");
    let admin = bound.admin_addr().unwrap();
    let app = App {
        config_path,
        overrides: Default::default(),
        config,
    };
    let shutdown = CancellationToken::new();
    // `start` returns once the embedded cluster's first state is published
    // and every task runs: the first query needs no waiting.
    let running = app
        .start(bound, None, shutdown.clone())
        .await
        .expect("the app starts");
    assert_eq!(running.dns_addrs(), [dns]);
    assert_eq!(running.admin_addr(), Some(admin));

    // The static example's pod, over both transports of the bound port.
    let over_udp = udp(dns, &query(POD0, RecordType::A)).await;
    assert_eq!(over_udp.metadata.response_code, ResponseCode::NoError);
    assert!(!addresses(&over_udp.answers).is_empty(), "{over_udp:?}");
    let over_tcp = tcp(dns, &query(POD0, RecordType::A)).await;
    assert_eq!(addresses(&over_tcp.answers), addresses(&over_udp.answers));
    let missing = udp(dns, &query("nope.demo.svc.cluster.local.", RecordType::A)).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);

    // The admin listener serves /readyz from the same process.
    let readyz = tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(admin).unwrap();
        stream
            .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        reply
    })
    .await
    .unwrap();
    assert!(readyz.starts_with("HTTP/1.1 200"), "{readyz}");

    running.stop();
    assert!(shutdown.is_cancelled(), "stop cancels the app's token");
    let stopped = tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .expect("the app stops once told");
    assert!(stopped.is_ok(), "{stopped:?}");
}

#[tokio::test]
async fn bad_manifests_fail_the_start_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "kind: Service\napiVersion: v1\nmetadata: {name: 5}\n",
    )
    .unwrap();
    let config_path = Embedded::new(["bad.yaml"])
        .no_watch()
        .and(PORT_0)
        .write(&dir.path().join("config.yaml"));
    let app = App::load(&config_path).unwrap();
    let bound = Bound::bind(&app.config).await.unwrap();
    let error = app
        .run(bound, None, CancellationToken::new())
        .await
        .unwrap_err();
    let message = format!("{error:#}");
    assert!(message.contains("bad.yaml"), "{message}");
}

#[test]
fn the_harness_serves_reports_a_bad_start_and_stops() {
    let (_dir, config) = Embedded::new([support::config::examples()])
        .no_watch()
        .in_temp();
    let running = Running::start(&config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let m = runtime.block_on(udp(running.dns, &query(POD0, RecordType::A)));
    assert_eq!(addresses(&m.answers), ["10.244.0.39"]);
    assert_eq!(running.http_get("/readyz").0, 200);
    let dns = running.dns;
    running.stop().expect("a clean stop");
    // Stopped means the sockets are closed: the port can be bound again.
    std::net::UdpSocket::bind(dns).expect("the DNS port is free after stop");

    let (dir, config) = Embedded::new(["missing.yaml"]).in_temp();
    let error = Running::try_start(&config).err().expect("a start error");
    assert!(error.contains("missing.yaml"), "{error}");
    drop(dir);
}
