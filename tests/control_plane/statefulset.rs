//! Real StatefulSets: the controller's pod names and hostnames, the
//! ordinals a set declares (NODATA) and those it does not (NXDOMAIN), and a
//! replica count of 2^31 - 1 that must cost the server no memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType::A;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::fixture::{
    Fixture, apply_value, exclusive, fixture, shared_test, test_namespace, until,
};
use crate::objects::{ensure_node, headless, set_pod_status, stateful_set};
use crate::processes::{Down, controller_publishes, rss_kib};
use crate::*;

async fn scale(client: &kube::Client, ns: &str, name: &str, replicas: i32) {
    let api: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let patch = json!({"spec": {"replicas": replicas}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("scale {ns}/{name} to {replicas}: {e}"));
}

/// The set's pods, as the controller named them, once there are `count`.
async fn pods(client: &kube::Client, ns: &str, app: &str, count: usize) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let what = format!("{count} pods of {ns}/{app}");
    until(CHANGE, &what, || async {
        let list = api
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .map_err(|e| e.to_string())?;
        let live: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .collect();
        if live.len() == count {
            Ok(live)
        } else {
            Err(format!("{} pods", live.len()))
        }
    })
    .await
}

/// Deletes for good the pods the controller is deleting, the kubelet's
/// part (it confirms a pod's end with a zero grace period), until `count`
/// pods are left.
async fn finish_terminating(client: &kube::Client, ns: &str, app: &str, count: usize) {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let what = format!("{ns}/{app} down to {count} pods");
    until(CHANGE, &what, || async {
        let list = api
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .map_err(|e| e.to_string())?;
        for pod in &list.items {
            if pod.metadata.deletion_timestamp.is_some() {
                let name = pod.metadata.name.as_deref().unwrap_or_default();
                let _ = api
                    .delete(name, &DeleteParams::default().grace_period(0))
                    .await;
            }
        }
        if list.items.len() == count {
            Ok(())
        } else {
            Err(format!("{} pods", list.items.len()))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_statefulset_scaled_0_3_1_declares_its_ordinals() {
    let Some((fx, client, ns, _shared)) = shared_test(
        "a_real_statefulset_scaled_0_3_1_declares_its_ordinals",
        "sts",
    )
    .await
    else {
        return;
    };
    ensure_node(&client).await;
    apply_value(
        &client,
        &headless(&ns, "db", Some(json!({"app": "db"})), json!({})),
    )
    .await;
    apply_value(&client, &stateful_set(&ns, "db", "db", 0)).await;
    // No grace window: a name answers by what is declared and listed now.
    let server = start(
        &fx.account,
        &format!("    namespaces: [{ns}]\n"),
        "  stable_name_grace: 0s\n",
    )
    .await;
    wait_ready(&server).await;
    let db = |i: u32| format!("db-{i}.db.{ns}");
    assert_eq!(a(&server, &db(0)).await.rcode, ResponseCode::NXDomain);

    scale(&client, &ns, "db", 3).await;
    // Declared before any pod has an address.
    for i in 0..3 {
        until_nodata(&server, &db(i)).await;
    }
    assert_eq!(a(&server, &db(3)).await.rcode, ResponseCode::NXDomain);
    // The controller's pods: names db-0..2, each its own hostname under
    // the set's service. Acting as their kubelet, give them addresses.
    let mut made = pods(&client, &ns, "db", 3).await;
    made.sort_by_key(|p| p.metadata.name.clone());
    for (i, pod) in made.iter().enumerate() {
        let name = pod.metadata.name.as_deref().unwrap();
        let spec = pod.spec.as_ref().unwrap();
        assert_eq!(name, format!("db-{i}"));
        assert_eq!(spec.hostname.as_deref(), Some(name));
        assert_eq!(spec.subdomain.as_deref(), Some("db"));
        set_pod_status(&client, &ns, name, &format!("10.250.4.{}", i + 1), true).await;
    }
    for i in 0..3 {
        until_addresses(&server, &db(i), &[&format!("10.250.4.{}", i + 1)]).await;
    }
    until_addresses(
        &server,
        &format!("db.{ns}"),
        &["10.250.4.1", "10.250.4.2", "10.250.4.3"],
    )
    .await;

    scale(&client, &ns, "db", 1).await;
    // The controller deletes db-2 and db-1; no kubelet confirms it, so
    // they linger as terminating (not ready) until the suite does.
    until_addresses(&server, &format!("db.{ns}"), &["10.250.4.1"]).await;
    finish_terminating(&client, &ns, "db", 1).await;
    for i in [1, 2, 3] {
        until_rcode(&server, &db(i), ResponseCode::NXDomain).await;
    }
    assert_eq!(a(&server, &db(0)).await.addresses, ["10.250.4.1"]);
    // db-0 not ready: still declared, so NODATA, whatever the grace.
    set_pod_status(&client, &ns, "db-0", "10.250.4.1", false).await;
    until_nodata(&server, &db(0)).await;
}

/// Why the watchdog stopped watching.
#[derive(Debug, PartialEq)]
enum Watched {
    /// Told to stop: the server stayed under the limit.
    Stopped,
    /// Killed at this RSS (KiB), over the limit.
    Killed(u64),
    /// The server exited by itself (it crashed).
    Exited,
}

/// Kills the server if its RSS passes `limit_kib`: a server that expands
/// the declared ordinals into a list would otherwise take the machine.
fn watchdog(pid: u32, limit_kib: u64, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Watched> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match rss_kib(pid) {
                None => return Watched::Exited,
                Some(rss) if rss > limit_kib => {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", &pid.to_string()])
                        .status();
                    return Watched::Killed(rss);
                }
                Some(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        Watched::Stopped
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_replica_count_costs_no_memory_and_changes_no_answer() {
    let test = "a_huge_replica_count_costs_no_memory_and_changes_no_answer";
    let Some(fx) = fixture(test) else {
        return;
    };
    let Some(dir) = fx.local(test) else {
        return;
    };
    let _exclusive = exclusive().await;
    huge_replicas(fx, dir).await;
}

fn tail(log: &[String], n: usize) -> String {
    log[log.len().saturating_sub(n)..].join("\n")
}

async fn huge_replicas(fx: &Fixture, dir: &std::path::Path) {
    let client = fx.client().await;
    ensure_node(&client).await;
    let ns = test_namespace(&client, "huge").await;
    apply_value(
        &client,
        &headless(&ns, "big", Some(json!({"app": "big"})), json!({})),
    )
    .await;
    apply_value(&client, &stateful_set(&ns, "big", "big", 2)).await;
    for pod in pods(&client, &ns, "big", 2).await {
        let name = pod.metadata.name.unwrap();
        let ip = if name == "big-0" {
            "10.250.5.1"
        } else {
            "10.250.5.2"
        };
        set_pod_status(&client, &ns, &name, ip, true).await;
    }
    let server = serve(fx, &format!("    namespaces: [{ns}]\n")).await;
    let big = format!("big.{ns}");
    until_addresses(&server, &big, &["10.250.5.1", "10.250.5.2"]).await;
    let names = [
        big.clone(),
        format!("big-0.{big}"),
        format!("big-1.{big}"),
        format!("big-2.{big}"),
        format!("big-2147483647.{big}"),
    ];
    let mut before = Vec::new();
    for name in &names {
        before.push(a(&server, name).await);
    }
    assert_eq!(before[3].rcode, ResponseCode::NXDomain, "big-2 undeclared");
    let rss_before = rss_kib(server.child.id()).expect("the server runs");

    // Down for the whole test: the real StatefulSet controller would
    // allocate a slot per replica (about 16 GiB). Ended rather than held
    // with SIGSTOP (as ../shared/k8s/README.md suggests): a held one, once
    // resumed, may still sync the set from its queued update before the
    // deletion reaches it; a restarted one lists only what is left.
    let controller = Down::new(dir, "kube-controller-manager");
    let stop = Arc::new(AtomicBool::new(false));
    let dog = watchdog(server.child.id(), rss_before + 512 * 1024, stop.clone());
    scale(&client, &ns, "big", i32::MAX).await;
    // Served: big-2 and the last ordinal are declared now.
    let declared = until(CHANGE, "ordinals up to 2^31 - 2 declared", || async {
        if dog.is_finished() {
            return Ok(None);
        }
        let high = try_ask(server.dns, &svc(&format!("big-2147483646.{big}")), A).await;
        let two = try_ask(server.dns, &svc(&format!("big-2.{big}")), A).await;
        if high.as_ref().is_some_and(Reply::is_nodata) && two.as_ref().is_some_and(Reply::is_nodata)
        {
            Ok(Some(()))
        } else {
            Err(format!("big-2147483646 {high:?}, big-2 {two:?}"))
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let watched = dog.join().unwrap();
    assert!(
        watched == Watched::Stopped && declared.is_some(),
        "after replicas: 2147483647 the server {} (RSS {} MiB before); log tail:\n{}",
        match watched {
            Watched::Killed(rss) => format!("passed {} MiB and was killed", rss / 1024),
            _ => "exited".to_owned(),
        },
        rss_before / 1024,
        tail(&server.log(), 20)
    );
    let rss_after = rss_kib(server.child.id()).expect("the server runs");
    for (i, name) in names.iter().enumerate() {
        let now = a(&server, name).await;
        // big-2 went from undeclared to declared; the rest is unchanged.
        if i == 3 {
            assert!(now.is_nodata(), "{name}: {now:?}");
        } else {
            assert_eq!(now, before[i], "{name}");
        }
    }
    eprintln!(
        "RSS with replicas 2 → 2147483647: {} → {} KiB",
        rss_before, rss_after
    );
    assert!(
        rss_after < rss_before + 20 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB for one replica count"
    );
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    sets.delete("big", &DeleteParams::default()).await.unwrap();
    until(CHANGE, "the set deleted", || async {
        match sets.get_opt("big").await {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    drop(controller);
    until_rcode(&server, &format!("big-2.{big}"), ResponseCode::NXDomain).await;
    // The restarted controller-manager at work before the next test.
    controller_publishes(&client).await;
}
