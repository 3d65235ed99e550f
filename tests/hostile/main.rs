//! Hostile objects, through both sources: the real binary against the test
//! API server (`support::kube_api`) and against embedded manifests holding
//! the same objects. Each hostile object is refused with a warning naming
//! the object and the field, and the rest of the zone keeps answering:
//! - a 300-character hostname, or one that is not a DNS label: the name is
//!   dropped, the address still serves (in the service's set and under its
//!   dashed name);
//! - an endpoint address that is not an IP: dropped, the rest serve;
//! - 50,000 endpoints in one slice: the first 1000 serve;
//! - one hostname with different IPs in two slices: both serve, in the same
//!   order whichever slice came first (all four in `endpoints.rs`);
//! - names over 255 octets (a long zone with a long Service, namespace or
//!   port name), and names that are no DNS labels at all;
//! - an ExternalName pointing at itself (both in `names.rs`).
//!
//! A hostile object sent again is not warned about again (`repeat.rs`).
//!
//! It runs the real binary: the warning in the log, naming object and
//! field, is what each case checks, and the refusal counters and the
//! warned-once table are process-wide (`src/refused.rs`), so each server
//! needs a process of its own. This file starts a server on either source
//! and holds the objects the cases share.

#[path = "../support/mod.rs"]
mod support;

mod endpoints;
mod names;
mod repeat;

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RecordType;
use serde_json::{Value, json};
use support::config::Embedded;
use support::dns::{addresses, query, udp};
use support::kube_api::KubeApi;
use support::server::{Server, eventually};

const LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Source {
    Kubernetes,
    Embedded,
}

const SOURCES: [Source; 2] = [Source::Kubernetes, Source::Embedded];

/// A server fed `objects` by one source.
struct Running {
    server: Server,
    api: Option<KubeApi>,
    source: Source,
    zone: String,
    _dir: tempfile::TempDir,
}

/// Starts the binary with `objects` from `source`, for `zone`.
async fn start(source: Source, objects: &[Value], zone: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let zone_line = format!("zone: {zone}\n");
    let api = match source {
        Source::Kubernetes => {
            let api = KubeApi::start().await;
            for object in objects {
                api.apply(object);
            }
            api.write_config(dir.path(), &zone_line);
            Some(api)
        }
        Source::Embedded => {
            // A JSON stream: one object a line, as `kubectl get -o json` writes.
            let documents: Vec<String> = objects.iter().map(Value::to_string).collect();
            std::fs::write(dir.path().join("m.json"), documents.join("\n")).unwrap();
            Embedded::new(["m.json"]).and(&zone_line).write(&config);
            None
        }
    };
    let server = tokio::task::spawn_blocking(move || Server::start(&config))
        .await
        .unwrap();
    Running {
        server,
        api,
        source,
        zone: zone.to_owned(),
        _dir: dir,
    }
}

impl Running {
    async fn ask(&self, name: &str, qtype: RecordType) -> Message {
        udp(self.server.dns, &query(&self.name(name), qtype)).await
    }

    /// `name.svc.<zone>.`
    fn name(&self, name: &str) -> String {
        format!("{name}.svc.{}.", self.zone)
    }

    /// Polls until `probe` holds for the answer to `name`/`qtype`.
    async fn until(
        &self,
        name: &str,
        qtype: RecordType,
        what: &str,
        probe: impl Fn(&Message) -> bool,
    ) -> Message {
        let got = eventually(LIMIT, || async {
            let m = self.ask(name, qtype).await;
            probe(&m).then_some(m)
        })
        .await;
        match got {
            Some(m) => m,
            None => panic!(
                "{:?}: {name} {qtype} never answered {what}; last:\n{}\nlog:\n{}",
                self.source,
                self.ask(name, qtype).await,
                self.server.log().join("\n")
            ),
        }
    }

    /// Waits until `name` answers exactly `expected` (A or AAAA, sorted).
    async fn answers(&self, name: &str, expected: &[&str]) -> Message {
        let qtype = if expected.iter().any(|e| e.contains(':')) {
            RecordType::AAAA
        } else {
            RecordType::A
        };
        let what = format!("{expected:?}");
        self.until(name, qtype, &what, |m| addresses(&m.answers) == expected)
            .await
    }

    /// Waits until `name` does not exist.
    async fn nxdomain(&self, name: &str) {
        self.until(name, RecordType::A, "NXDOMAIN", |m| {
            m.metadata.response_code == ResponseCode::NXDomain
        })
        .await;
    }

    /// Waits for a warning containing every one of `needles`; returns it.
    async fn warned(&self, needles: &[&str]) -> String {
        let got = eventually(LIMIT, || async {
            self.server
                .log()
                .into_iter()
                .find(|l| l.contains("WARN") && needles.iter().all(|n| l.contains(n)))
        })
        .await;
        got.unwrap_or_else(|| {
            panic!(
                "{:?}: no warning with {needles:?}; log:\n{}",
                self.source,
                self.server.log().join("\n")
            )
        })
    }

    /// Warnings containing `needle` so far.
    fn warnings(&self, needle: &str) -> usize {
        let log = self.server.log();
        log.iter()
            .filter(|l| l.contains("WARN") && l.contains(needle))
            .count()
    }

    /// `headless_dns_objects_refused_total{reason=...}` now.
    fn refused(&self, reason: &str) -> u64 {
        let (status, body) = self.server.http_get("/metrics");
        assert_eq!(status, 200);
        let series = format!("headless_dns_objects_refused_total{{reason=\"{reason}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no {series} in\n{body}"))
            .trim()
            .parse()
            .unwrap()
    }
}

fn headless(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]},
    })
}

/// An EndpointSlice of `service` with port `http` 80 and these endpoints.
fn slice(namespace: &str, name: &str, service: &str, endpoints: Value) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": endpoints,
    })
}

/// A well-behaved service `ok` in `demo`, with `ok-0` at 10.244.9.1: the
/// rest of the zone that must keep answering.
fn bystander() -> [Value; 2] {
    [
        headless("demo", "ok"),
        slice(
            "demo",
            "ok-abc",
            "ok",
            json!([{"addresses": ["10.244.9.1"], "hostname": "ok-0"}]),
        ),
    ]
}

fn with_bystander(objects: Vec<Value>) -> Vec<Value> {
    let mut all = bystander().to_vec();
    all.extend(objects);
    all
}
