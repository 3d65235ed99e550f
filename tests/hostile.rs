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
//!   order whichever slice came first;
//! - names over 255 octets (a long zone with a long Service, namespace or
//!   port name), and names that are no DNS labels at all;
//! - an ExternalName pointing at itself.
//!
//! A hostile object sent again is not warned about again.
//!
//! It runs the real binary: the warning in the log, naming object and
//! field, is what each case checks, and the refusal counters and the
//! warned-once table are process-wide (`src/refused.rs`), so each server
//! needs a process of its own.

mod support;

use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};
use support::dns::{addresses, query, tcp, udp};
use support::kube_api::{KubeApi, Resource};
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
    let head = format!("zone: {zone}\n");
    let api = match source {
        Source::Kubernetes => {
            let api = KubeApi::start().await;
            for object in objects {
                api.apply(object);
            }
            api.write_config(dir.path(), &head);
            Some(api)
        }
        Source::Embedded => {
            // A JSON stream: one object a line, as `kubectl get -o json` writes.
            let documents: Vec<String> = objects.iter().map(Value::to_string).collect();
            std::fs::write(dir.path().join("m.json"), documents.join("\n")).unwrap();
            let text = format!("{head}source:\n  embedded:\n    manifests: [m.json]\n");
            std::fs::write(&config, text).unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_hostnames_lose_their_names_and_keep_their_addresses() {
    let long = "h".repeat(300);
    let objects = with_bystander(vec![
        headless("demo", "web"),
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-abc", "namespace": "demo",
                         "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4",
            "ports": [
                {"name": "p".repeat(300), "port": 81, "protocol": "TCP"},
                {"name": "http", "port": 80, "protocol": "TCP"},
            ],
            "endpoints": [
                {"addresses": ["10.244.0.10"], "hostname": "web-0"},
                {"addresses": ["10.244.0.11"], "hostname": long},
                {"addresses": ["10.244.0.12"], "hostname": "web_2"},
                {"addresses": ["10.244.0.13"], "hostname": "web-3.ok"},
            ],
        }),
    ]);
    for source in SOURCES {
        let run = start(source, &objects, "cluster.local").await;
        // Every address serves in the service's set.
        run.answers(
            "web.demo",
            &["10.244.0.10", "10.244.0.11", "10.244.0.12", "10.244.0.13"],
        )
        .await;
        run.answers("web-0.web.demo", &["10.244.0.10"]).await;
        // Without its name, as an endpoint without a hostname: dashed.
        run.answers("10-244-0-12.web.demo", &["10.244.0.12"]).await;
        // A dotted hostname made no name below another.
        run.nxdomain("web-3.ok.web.demo").await;
        run.nxdomain("web_2.web.demo").await;
        let srv = run.ask("_http._tcp.web.demo", RecordType::SRV).await;
        assert_eq!(srv.answers.len(), 4, "{source:?}: {srv}");
        run.answers("ok-0.ok.demo", &["10.244.9.1"]).await;

        let prefix = "EndpointSlice demo/web-abc: ";
        run.warned(&[
            prefix,
            "ports[0].name \"pppp",
            "the port gets no SRV records",
        ])
        .await;
        run.warned(&[
            prefix,
            "endpoints[1].hostname \"hhhh",
            "(300 characters) is 300 characters, over the 63 of a DNS label",
        ])
        .await;
        run.warned(&[
            prefix,
            "endpoints[2].hostname \"web_2\" is not a DNS label",
            "endpoints[3].hostname \"web-3.ok\" is not a DNS label",
            "the endpoint gets no name of its own, its addresses still serve",
        ])
        .await;
        assert_eq!(run.refused("hostname"), 3, "{source:?}");
        assert_eq!(run.refused("port"), 1, "{source:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn addresses_that_are_not_ips_are_dropped_and_the_rest_serve() {
    let objects = with_bystander(vec![
        headless("demo", "web"),
        slice(
            "demo",
            "web-abc",
            "web",
            json!([
                {"addresses": ["10.244.1.1", "bogus", "10.244.1.2"]},
                {"addresses": ["999.1.1.1"], "hostname": "web-1"},
                {"addresses": ["10.244.1.3"], "hostname": "web-2"},
            ]),
        ),
    ]);
    for source in SOURCES {
        let run = start(source, &objects, "cluster.local").await;
        run.answers("web.demo", &["10.244.1.1", "10.244.1.2", "10.244.1.3"])
            .await;
        run.answers("web-2.web.demo", &["10.244.1.3"]).await;
        run.answers("10-244-1-2.web.demo", &["10.244.1.2"]).await;
        // An endpoint left with no address has no records.
        let m = run.ask("web-1.web.demo", RecordType::A).await;
        assert!(m.answers.is_empty(), "{source:?}: {m}");
        run.answers("ok-0.ok.demo", &["10.244.9.1"]).await;
        run.warned(&[
            "EndpointSlice demo/web-abc: endpoints[0].addresses[1] \"bogus\" is not an IP address; dropped",
            "endpoints[1].addresses[0] \"999.1.1.1\" is not an IP address",
        ])
        .await;
        assert_eq!(run.refused("address"), 2, "{source:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slice_of_50000_endpoints_serves_the_first_1000() {
    let endpoints: Vec<Value> = (0..50_000u32)
        .map(|i| json!({"addresses": [format!("10.{}.{}.{}", 100 + (i >> 16), (i >> 8) & 255, i & 255)]}))
        .collect();
    let objects = with_bystander(vec![
        headless("demo", "big"),
        slice("demo", "big-abc", "big", json!(endpoints)),
    ]);
    for source in SOURCES {
        let run = start(source, &objects, "cluster.local").await;
        run.warned(&[
            "EndpointSlice demo/big-abc: endpoints: 50000 endpoints, over the 1000 the API server allows in one slice; serving the first 1000",
        ])
        .await;
        run.answers("ok-0.ok.demo", &["10.244.9.1"]).await;
        // The 1000th endpoint serves, the 1001st does not.
        run.answers("10-100-3-231.big.demo", &["10.100.3.231"])
            .await;
        run.nxdomain("10-100-3-232.big.demo").await;
        let m = tcp(run.server.dns, &query(&run.name("big.demo"), RecordType::A)).await;
        assert_eq!(m.answers.len(), 1000, "{source:?}");
        assert_eq!(run.refused("too_many"), 1, "{source:?}");
    }
}

/// The A records of `name` in the order served.
fn served_order(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hostname_in_two_slices_serves_both_in_one_order() {
    let a = slice(
        "demo",
        "web-a",
        "web",
        json!([{"addresses": ["10.244.2.9"], "hostname": "web-0"}]),
    );
    let b = slice(
        "demo",
        "web-b",
        "web",
        json!([{"addresses": ["10.244.2.1"], "hostname": "web-0"}]),
    );
    for source in SOURCES {
        let mut orders = Vec::new();
        for slices in [[&a, &b], [&b, &a]] {
            let mut objects = with_bystander(vec![headless("demo", "web")]);
            objects.extend(slices.iter().map(|s| (*s).clone()));
            let run = start(source, &objects, "cluster.local").await;
            let m = run
                .answers("web-0.web.demo", &["10.244.2.1", "10.244.2.9"])
                .await;
            run.answers("web.demo", &["10.244.2.1", "10.244.2.9"]).await;
            run.answers("ok-0.ok.demo", &["10.244.9.1"]).await;
            orders.push(served_order(&m));
        }
        assert_eq!(
            orders[0], orders[1],
            "{source:?}: the order follows arrival"
        );
        // By slice name (web-a first), not by address.
        assert_eq!(orders[0], ["10.244.2.9", "10.244.2.1"], "{source:?}");
    }

    // One API server, the slices arriving one after the other, both ways.
    let api_run = start(
        Source::Kubernetes,
        &with_bystander(vec![headless("demo", "web")]),
        "cluster.local",
    )
    .await;
    let api = api_run.api.as_ref().unwrap();
    let mut orders = Vec::new();
    for slices in [[&a, &b], [&b, &a]] {
        for s in slices {
            api.apply(s);
            let name = s["metadata"]["name"].as_str().unwrap();
            let ip = s["endpoints"][0]["addresses"][0].as_str().unwrap();
            api_run
                .until("web-0.web.demo", RecordType::A, name, |m| {
                    served_order(m).iter().any(|a| a == ip)
                })
                .await;
        }
        let m = api_run
            .answers("web-0.web.demo", &["10.244.2.1", "10.244.2.9"])
            .await;
        orders.push(served_order(&m));
        api.delete(Resource::EndpointSlices, "demo", "web-a");
        api.delete(Resource::EndpointSlices, "demo", "web-b");
        // Gone (NODATA while in the stable-name window).
        api_run
            .until("web-0.web.demo", RecordType::A, "no address", |m| {
                m.answers.is_empty()
            })
            .await;
    }
    assert_eq!(orders[0], orders[1], "the order follows arrival");
    assert_eq!(orders[0], ["10.244.2.9", "10.244.2.1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_over_255_octets_are_refused_and_the_rest_serve() {
    // 4 labels of 45: 185 octets on the wire, leaving 70 for the rest.
    let zone = ["a", "b", "c", "d"].map(|c| c.repeat(45)).join(".");
    let s63 = "s".repeat(63);
    let m63 = "m".repeat(63);
    let x55 = "x".repeat(55);
    let n60 = "n".repeat(60);
    let s300 = "s".repeat(300);
    let n100 = "n".repeat(100);
    let objects = vec![
        // s63.demo.svc.Z: 258 octets.
        headless("demo", &s63),
        slice(
            "demo",
            "s-abc",
            &s63,
            json!([{"addresses": ["10.244.3.9"]}]),
        ),
        // db.m63.svc.Z: 256 octets.
        headless(&m63, "db"),
        slice(&m63, "db-abc", "db", json!([{"addresses": ["10.244.3.8"]}])),
        // x55.demo.svc.Z fits (250), and x below it (252); a dashed name
        // below it (261) and its SRV name (261) do not.
        headless("demo", &x55),
        slice(
            "demo",
            "x-abc",
            &x55,
            json!([
                {"addresses": ["10.244.3.1"], "hostname": "x"},
                {"addresses": ["10.244.3.3"]},
            ]),
        ),
        // web.n60.svc.Z fits (254); web-0 below it (260) does not.
        headless(&n60, "web"),
        slice(
            &n60,
            "web-abc",
            "web",
            json!([{"addresses": ["10.244.3.2"], "hostname": "web-0"}]),
        ),
        // No DNS labels at all: refused whatever the zone.
        headless("demo", &s300),
        headless(&n100, "web"),
        // The rest: fits.
        headless("demo", "ok"),
        slice(
            "demo",
            "ok-abc",
            "ok",
            json!([{"addresses": ["10.244.9.1"], "hostname": "ok-0"}]),
        ),
    ];
    for source in SOURCES {
        let run = start(source, &objects, &zone).await;
        run.answers("ok-0.ok.demo", &["10.244.9.1"]).await;
        let srv = run.ask("_http._tcp.ok.demo", RecordType::SRV).await;
        assert_eq!(srv.answers.len(), 1, "{source:?}: {srv}");
        run.answers(&format!("{x55}.demo"), &["10.244.3.1", "10.244.3.3"])
            .await;
        run.answers(&format!("x.{x55}.demo"), &["10.244.3.1"]).await;
        run.answers(&format!("web.{n60}"), &["10.244.3.2"]).await;

        let over = "octets, over the 255 of a DNS name";
        run.warned(&[
            &format!("Service demo/{s63}: its name \"{s63}.demo.svc\" in the zone"),
            &format!("would be 258 {over}; the service gets no records"),
        ])
        .await;
        run.warned(&[
            &format!("Service {m63}/db: its name \"db.{m63}.svc\" in the zone"),
            &format!("would be 256 {over}; the service gets no records"),
        ])
        .await;
        run.warned(&[
            &format!("Service demo/{x55}: the endpoint name \"10-244-3-3.{x55}.demo.svc\""),
            &format!("would be 261 {over}; the endpoint gets no name of its own"),
            &format!("; the SRV name \"_http._tcp.{x55}.demo.svc\" in the zone"),
            &format!("would be 261 {over}; the port gets no SRV records"),
        ])
        .await;
        run.warned(&[
            &format!("Service {n60}/web: the endpoint name \"web-0.web.{n60}.svc\""),
            &format!("would be 260 {over}"),
        ])
        .await;
        run.warned(&[
            "Service demo/\"ssss",
            ": metadata.name \"ssss",
            "is 300 characters, over the 63 of a DNS label; the service gets no records",
        ])
        .await;
        run.warned(&[&format!(
            "Service \"{}\"… (100 characters)/web: metadata.namespace",
            &n100[..64]
        )])
        .await;
        assert_eq!(run.refused("name_too_long"), 5, "{source:?}");
        assert_eq!(run.refused("name"), 2, "{source:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_externalname_pointing_at_itself_gets_no_records() {
    let external = |name: &str, target: &str| {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "demo"},
            "spec": {"type": "ExternalName", "externalName": target},
        })
    };
    let objects = with_bystander(vec![
        external("loop", "loop.demo.svc.cluster.local"),
        external("shout", "SHOUT.Demo.svc.cluster.local."),
        external("alias", "ok.demo.svc.cluster.local"),
    ]);
    for source in SOURCES {
        let run = start(source, &objects, "cluster.local").await;
        let m = run
            .until("alias.demo", RecordType::A, "a CNAME to ok", |m| {
                m.answers.iter().any(|r| matches!(&r.data, RData::CNAME(_)))
            })
            .await;
        assert_eq!(addresses(&m.answers), ["10.244.9.1"], "{source:?}: {m}");
        for name in ["loop", "shout"] {
            run.warned(&[
                &format!("Service demo/{name}: spec.externalName \""),
                "points at the service itself; the service gets no records",
            ])
            .await;
            let m = run.ask(&format!("{name}.demo"), RecordType::CNAME).await;
            assert!(m.answers.is_empty(), "{source:?}: {m}");
            assert_ne!(m.metadata.response_code, ResponseCode::ServFail, "{m}");
        }
        run.answers("ok-0.ok.demo", &["10.244.9.1"]).await;
        assert_eq!(run.refused("external_name"), 2, "{source:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_object_sent_again_is_warned_about_once() {
    let hostile = slice(
        "demo",
        "web-abc",
        "web",
        json!([{"addresses": ["10.244.4.1"], "hostname": "web_0"}]),
    );
    let needle = "EndpointSlice demo/web-abc: endpoints[0].hostname \"web_0\"";
    let mut objects = with_bystander(vec![headless("demo", "web"), hostile.clone()]);
    // Kubernetes: the same slice again, and a change after it to wait for.
    let run = start(Source::Kubernetes, &objects, "cluster.local").await;
    run.warned(&[needle]).await;
    let api = run.api.as_ref().unwrap();
    for i in 0..3 {
        api.apply(&hostile);
        api.apply(slice(
            "demo",
            "ok-abc",
            "ok",
            json!([{"addresses": [format!("10.244.9.{}", 10 + i)], "hostname": "ok-0"}]),
        ));
        run.answers("ok-0.ok.demo", &[&format!("10.244.9.{}", 10 + i)])
            .await;
    }
    assert_eq!(run.warnings(needle), 1, "{}", run.server.log().join("\n"));
    assert_eq!(run.refused("hostname"), 1);

    // Embedded: a StatefulSet's pods coming up make the cluster convert
    // every object again at each step.
    let mut governing = headless("demo", "ss");
    governing["spec"]["selector"] = json!({"app": "ss"});
    objects.push(governing);
    objects.push(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "ss", "namespace": "demo"},
        "spec": {
            "serviceName": "ss", "replicas": 3,
            "selector": {"matchLabels": {"app": "ss"}},
            "template": {"metadata": {"labels": {"app": "ss"}},
                         "spec": {"containers": [{"name": "c", "image": "c:1"}]}},
        },
    }));
    let run = start(Source::Embedded, &objects, "cluster.local").await;
    for pod in ["ss-0", "ss-1", "ss-2"] {
        run.until(
            &format!("{pod}.ss.demo"),
            RecordType::A,
            "an address",
            |m| m.answers.len() == 1,
        )
        .await;
    }
    run.warned(&[needle]).await;
    assert_eq!(run.warnings(needle), 1, "{}", run.server.log().join("\n"));
    assert_eq!(run.refused("hostname"), 1);
}
