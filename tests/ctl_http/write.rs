//! `ctl` writing: delete by name going on past a missing object, apply
//! sending the manifests and printing each result, scale as GET then PUT,
//! set image and patch.

use super::*;

use serde_json::{Value, json};

#[test]
fn delete_by_name_goes_on_past_a_missing_object() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("DELETE", "/api/v1/namespaces/demo/pods/web-demo-0") => ok(pod("web-demo-0", true)),
        ("DELETE", "/apis/apps/v1/namespaces/demo/statefulsets/web-demo") => {
            ok(statefulset(2, 2, "r1"))
        }
        ("DELETE", "/api/v1/namespaces/demo/pods/nope") => not_found("pods", "nope"),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(
        &admin,
        &["delete", "pod", "nope", "web-demo-0", "-n", "demo"],
    );
    assert_eq!(code, 1);
    assert_eq!(out, "pod \"web-demo-0\" deleted\n");
    assert_eq!(
        err,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );

    let (code, out, _) = ctl(&admin, &["delete", "sts/web-demo", "-n", "demo"]);
    assert_eq!(
        (code, out.as_str()),
        (0, "statefulset.apps \"web-demo\" deleted\n")
    );
    assert_eq!(mock.requests().len(), 3);
}

#[test]
fn apply_sends_the_manifests_and_prints_each_result() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("POST", "/apply") if seen.body.contains("kind: Broken") => (
            400,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 400,
                   "reason": "BadRequest",
                   "message": "document 1 (broken.yaml): unknown kind \"Broken\""})
            .to_string(),
        ),
        ("POST", "/apply") => ok(json!({"results": [
            "statefulset.apps/web-demo configured",
            "service/nginx-demo unchanged"
        ]})),
        _ => (500, "unexpected".into()),
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b-service.yaml"), "kind: Service\n").unwrap();
    std::fs::write(dir.path().join("a-sts.yaml"), "kind: StatefulSet\n").unwrap();
    let folder = dir.path().to_str().unwrap();

    let (code, out, err) = ctl(&admin, &["apply", "-f", folder]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(
        out,
        "statefulset.apps/web-demo configured\nservice/nginx-demo unchanged\n"
    );
    let seen = mock.seen();
    assert_eq!(seen[0].body, "kind: StatefulSet\n---\nkind: Service\n");
    assert_eq!(seen[0].content_type, "application/yaml");

    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "kind: Broken\n").unwrap();
    let (code, out, err) = ctl(&admin, &["apply", "-f", broken.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "Error from server (BadRequest): document 1 (broken.yaml): unknown kind \"Broken\"\n"
    );
}

#[test]
fn scale_gets_then_puts_the_object_with_new_replicas() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("GET", "/apis/apps/v1/namespaces/demo/statefulsets/web-demo") => {
            ok(statefulset(2, 2, "r1"))
        }
        ("PUT", "/apis/apps/v1/namespaces/demo/statefulsets/web-demo") => (200, seen.body.clone()),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(
        &admin,
        &["scale", "sts", "web-demo", "--replicas=5", "-n", "demo"],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "statefulset.apps/web-demo scaled\n");
    assert_eq!(
        mock.requests(),
        [
            "GET /apis/apps/v1/namespaces/demo/statefulsets/web-demo",
            "PUT /apis/apps/v1/namespaces/demo/statefulsets/web-demo",
        ]
    );
    let put = &mock.seen()[1];
    assert_eq!(put.content_type, "application/json");
    let sent: Value = serde_json::from_str(&put.body).unwrap();
    let mut expected = statefulset(2, 2, "r1");
    expected["spec"]["replicas"] = json!(5);
    // Only spec.replicas changed; everything else went back as it came.
    assert_eq!(sent, expected);

    // The TYPE/NAME forms address the same object.
    let (code, out, _) = ctl(
        &admin,
        &[
            "scale",
            "statefulset/web-demo",
            "--replicas",
            "0",
            "-n",
            "demo",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "statefulset.apps/web-demo scaled\n")
    );
    let sent: Value = serde_json::from_str(&mock.seen()[3].body).unwrap();
    assert_eq!(sent["spec"]["replicas"], 0);
}

#[test]
fn set_image_and_patch() {
    let (admin, mock) = mock(|seen| match (seen.method.as_str(), seen.target.as_str()) {
        ("GET", "/apis/apps/v1/namespaces/demo/statefulsets/web-demo") => {
            ok(statefulset(2, 2, "r1"))
        }
        ("PUT", _) => (200, seen.body.clone()),
        ("PATCH", _) if seen.body.contains("\"replicas\":2") => ok(statefulset(2, 2, "r1")),
        ("PATCH", _) => ok(statefulset(4, 2, "r1")),
        _ => (500, "unexpected".into()),
    });
    let (code, out, err) = ctl(
        &admin,
        &[
            "set",
            "image",
            "sts/web-demo",
            "nginx=nginx:1.28",
            "-n",
            "demo",
        ],
    );
    assert_eq!((code, err.as_str()), (0, ""));
    assert_eq!(out, "statefulset.apps/web-demo image updated\n");
    let sent: Value = serde_json::from_str(&mock.seen()[1].body).unwrap();
    assert_eq!(
        sent["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.28"
    );

    let before = mock.seen().len();
    let (code, out, err) = ctl(
        &admin,
        &["set", "image", "sts/web-demo", "php=php:8", "-n", "demo"],
    );
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(err, "error: unable to find container named \"php\"\n");
    assert_eq!(
        mock.seen().len(),
        before + 1,
        "no PUT after a failed lookup"
    );

    let (code, out, _) = ctl(
        &admin,
        &[
            "patch",
            "sts",
            "web-demo",
            "-p",
            r#"{"spec":{"replicas":4}}"#,
            "-n",
            "demo",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "statefulset.apps/web-demo patched\n")
    );
    let patch = mock.seen().last().unwrap().clone();
    assert_eq!(
        (patch.method.as_str(), patch.content_type.as_str()),
        ("PATCH", "application/merge-patch+json")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&patch.body).unwrap(),
        json!({"spec": {"replicas": 4}})
    );

    let (code, out, _) = ctl(
        &admin,
        &[
            "patch",
            "sts/web-demo",
            "-p",
            r#"{"spec":{"replicas":2}}"#,
            "-n",
            "demo",
            "--type",
            "merge",
        ],
    );
    assert_eq!(
        (code, out.as_str()),
        (0, "statefulset.apps/web-demo patched (no change)\n")
    );
}
