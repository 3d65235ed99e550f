//! Programming latency as a user sees it: from the API write returning to
//! the new answer over DNS, over 100 changes. Printed, never asserted (a
//! figure of a loaded machine, not a property of the code).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::fixture::{apply_value, shared_test, until};
use crate::objects::{headless, slice};
use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn programming_latency_over_100_changes() {
    let Some((fx, client, ns, _shared)) =
        shared_test("programming_latency_over_100_changes", "latency").await
    else {
        return;
    };
    apply_value(&client, &headless(&ns, "lat", None, json!({}))).await;
    let ip = |i: usize| format!("10.251.{}.{}", i / 250, i % 250 + 1);
    let write = |i: usize| slice(&ns, "lat-a", "lat", &[(&ip(i), Some("lat-0"), true)]);
    apply_value(&client, &write(0)).await;
    // Every namespace, as the shipped config watches.
    let server = serve(fx, "    namespaces: []\n").await;
    let name = svc(&format!("lat-0.lat.{ns}"));
    until_addresses(&server, &format!("lat-0.lat.{ns}"), &[&ip(0)]).await;

    let mut took = Vec::new();
    for i in 1..=100 {
        apply_value(&client, &write(i)).await;
        let written = Instant::now();
        let want = [ip(i)];
        until(CHANGE, &format!("change {i} served"), || async {
            match try_ask(server.dns, &name, hickory_proto::rr::RecordType::A).await {
                Some(r) if r.addresses == want => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        took.push(written.elapsed());
    }
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q).ceil() as usize).min(took.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "programming latency, API write returned → DNS answer, {} changes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        took.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(*took.last().unwrap())
    );
    let served = metric(&server, "headless_dns_programming_latency_seconds_count");
    assert!(served >= 100.0, "the server measured only {served} changes");
}
