//! `ctl` following watches: `rollout status` until complete and its
//! timeout in kubectl's words, and `get -w` printing changes after the
//! listing.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;

#[test]
fn rollout_status_follows_the_watch_until_complete() {
    let (admin, mock) = mock(|seen| match seen.target.as_str() {
        "/apis/apps/v1/namespaces/demo/statefulsets/web-demo" => ok(statefulset(3, 1, "r1")),
        "/apis/apps/v1/namespaces/demo/statefulsets?watch=true" => {
            let mut other = statefulset(3, 0, "r1");
            other["metadata"]["name"] = json!("other");
            let events = [
                json!({"type": "ADDED", "object": statefulset(3, 1, "r1")}),
                json!({"type": "ADDED", "object": other}),
                json!({"type": "MODIFIED", "object": statefulset(3, 2, "r1")}),
                json!({"type": "MODIFIED", "object": statefulset(3, 3, "web-demo-6d4cf56db6")}),
                json!({"type": "MODIFIED", "object": statefulset(3, 0, "r1")}),
            ];
            let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
            (200, lines.join("\n") + "\n")
        }
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["rollout", "status", "sts/web-demo", "-n", "demo"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "\
Waiting for 2 pods to be ready...
Waiting for 1 pods to be ready...
statefulset rolling update complete 3 pods at revision web-demo-6d4cf56db6...
"
    );
    assert_eq!(
        mock.requests(),
        [
            "GET /apis/apps/v1/namespaces/demo/statefulsets/web-demo",
            "GET /apis/apps/v1/namespaces/demo/statefulsets?watch=true",
        ]
    );

    // --watch=false prints once and stops.
    let (code, out, _) = ctl(
        &admin,
        &[
            "rollout",
            "status",
            "statefulset",
            "web-demo",
            "-n",
            "demo",
            "--watch=false",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "Waiting for 2 pods to be ready...\n")
    );
}

#[test]
fn rollout_status_times_out_like_kubectl() {
    let watches = Arc::new(AtomicUsize::new(0));
    let counter = watches.clone();
    let (admin, _mock) = mock(move |seen| {
        if seen.target.ends_with("?watch=true") {
            counter.fetch_add(1, Ordering::SeqCst);
            let event = json!({"type": "ADDED", "object": statefulset(3, 1, "r1")});
            (200, format!("{event}\n"))
        } else {
            ok(statefulset(3, 1, "r1"))
        }
    });
    let (code, out, err) = ctl(
        &admin,
        &[
            "rollout",
            "status",
            "sts/web-demo",
            "-n",
            "demo",
            "--timeout=1s",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(out, "Waiting for 2 pods to be ready...\n");
    assert_eq!(err, "error: timed out waiting for the condition\n");
    assert!(
        watches.load(Ordering::SeqCst) >= 1,
        "it watched before giving up"
    );
}

#[test]
fn get_watch_prints_changes_after_the_listing() {
    let (admin, _mock) = mock(|seen| match seen.target.as_str() {
        "/api/v1/namespaces/demo/pods" => ok(pod_list(vec![pod("web-demo-0", true)])),
        "/api/v1/namespaces/demo/pods?watch=true" => {
            let mut changed = pod("web-demo-0", false);
            changed["metadata"]["resourceVersion"] = json!("2");
            let events = [
                // The opening ADDED for what the listing showed is not repeated.
                json!({"type": "ADDED", "object": pod("web-demo-0", true)}),
                json!({"type": "ADDED", "object": pod("web-demo-1", false)}),
                json!({"type": "MODIFIED", "object": changed}),
            ];
            let lines: Vec<String> = events.iter().map(|e| e.to_string()).collect();
            (200, lines.join("\n") + "\n")
        }
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["get", "pods", "-w", "-n", "demo"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "\
NAME         READY   STATUS    RESTARTS   AGE
web-demo-0   1/1     Running   0          <unknown>
web-demo-1   0/1     Running   0          <unknown>
web-demo-0   0/1     Running   0          <unknown>
"
    );
}
