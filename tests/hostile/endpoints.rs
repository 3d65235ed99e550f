//! Hostile endpoints: bad hostnames lose their names and keep their
//! addresses, addresses that are not IPs are dropped, a slice of 50,000
//! endpoints serves the first 1000, and one hostname in two slices serves
//! both in one order.

use super::*;

use crate::support::dns::{query, tcp};
use crate::support::kube_api::Resource;
use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};
use serde_json::{Value, json};

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
