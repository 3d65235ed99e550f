//! `ctl get`: pods as a kubectl table, all namespaces and every output
//! form, and a 404 Status printed in kubectl's words with exit code 1.

use super::*;

use serde_json::Value;

#[test]
fn get_lists_pods_as_a_kubectl_table() {
    let (admin, mock) = mock(|seen| match seen.target.as_str() {
        "/api/v1/namespaces/demo/pods" => ok(pod_list(vec![
            pod("web-demo-0", true),
            pod("web-demo-1", false),
        ])),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["get", "pods", "-n", "demo"]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "\
NAME         READY   STATUS    RESTARTS   AGE
web-demo-0   1/1     Running   0          <unknown>
web-demo-1   0/1     Running   0          <unknown>
"
    );
    assert_eq!(mock.requests(), ["GET /api/v1/namespaces/demo/pods"]);
}

#[test]
fn get_all_namespaces_and_output_forms() {
    let (admin, mock) = mock(|seen| match seen.target.as_str() {
        "/api/v1/pods" => ok(pod_list(vec![pod("web-demo-0", true)])),
        "/api/v1/namespaces/demo/pods/web-demo-0" => ok(pod("web-demo-0", true)),
        "/api/v1/namespaces/empty/pods" => ok(pod_list(vec![])),
        _ => (500, "unexpected".into()),
    });
    let (code, out, _) = ctl(&admin, &["get", "po", "-A"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "NAMESPACE   NAME         READY   STATUS    RESTARTS   AGE\ndemo        web-demo-0   1/1     Running   0          <unknown>\n"
    );

    let (_, out, _) = ctl(&admin, &["get", "pods", "-A", "-o", "name"]);
    assert_eq!(out, "pod/web-demo-0\n");

    // A list is a v1 List even with one item; one named object is itself.
    let (_, out, _) = ctl(&admin, &["get", "pods", "-A", "-o", "json"]);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (list["kind"].as_str(), list["items"][0]["kind"].as_str()),
        (Some("List"), Some("Pod"))
    );
    let (_, out, _) = ctl(
        &admin,
        &["get", "pod", "web-demo-0", "-n", "demo", "-o", "json"],
    );
    let single: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(single["kind"], "Pod");
    assert_eq!(single["metadata"]["name"], "web-demo-0");
    assert!(out.starts_with("{\n    \"apiVersion\": \"v1\",\n"), "{out}");

    let (code, out, err) = ctl(&admin, &["get", "pods", "-n", "empty"]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(err, "No resources found in empty namespace.\n");

    assert_eq!(
        mock.requests(),
        [
            "GET /api/v1/pods",
            "GET /api/v1/pods",
            "GET /api/v1/pods",
            "GET /api/v1/namespaces/demo/pods/web-demo-0",
            "GET /api/v1/namespaces/empty/pods",
        ]
    );
}

#[test]
fn a_404_status_prints_kubectls_error_and_exits_1() {
    let (admin, _mock) = mock(|seen| match seen.target.as_str() {
        "/api/v1/namespaces/demo/pods/web-demo-0" => ok(pod("web-demo-0", true)),
        "/api/v1/namespaces/demo/pods/x" => not_found("pods", "x"),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(&admin, &["get", "pod", "x", "-n", "demo"]);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    assert_eq!(err, "Error from server (NotFound): pods \"x\" not found\n");

    // The found one is still printed.
    let (code, out, err) = ctl(
        &admin,
        &["get", "pods", "web-demo-0", "x", "-n", "demo", "-o", "name"],
    );
    assert_eq!(code, 1);
    assert_eq!(out, "pod/web-demo-0\n");
    assert_eq!(err, "Error from server (NotFound): pods \"x\" not found\n");
}
