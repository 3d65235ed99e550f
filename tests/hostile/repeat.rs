//! A hostile object sent again is not warned about again, through either
//! source.

use super::*;

use hickory_proto::rr::RecordType;
use serde_json::json;

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
