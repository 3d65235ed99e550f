//! Hostile names: names over 255 octets and names that are no DNS labels
//! are refused while the rest serve, and an ExternalName pointing at itself
//! gets no records.

use super::*;

use crate::support::dns::addresses;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, RecordType};
use serde_json::json;

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
