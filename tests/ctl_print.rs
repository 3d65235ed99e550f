//! `ctl`'s printing, pure: hand-made Kubernetes objects and a fixed "now" in,
//! the exact text kubectl would print out.

use headless_dns::ctl::print::{self, TableOptions, TableWriter};
use headless_dns::ctl::rollout::statefulset_status;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A whole table as `ctl get` prints one: the header and one row per
/// object, through kubectl's column layout.
fn table<T: print::Printable>(
    objects: &[T],
    options: print::TableOptions,
    now: Timestamp,
) -> String {
    let mut rows = vec![print::header::<T>(options)];
    rows.extend(objects.iter().map(|o| print::row(o, options, now)));
    print::TableWriter::default().render(&rows)
}

/// The fixed "now" every age is measured from.
fn now() -> Timestamp {
    "2025-01-01T12:00:00Z".parse().unwrap()
}

/// A timestamp `seconds` before [`now`], as Kubernetes writes it.
fn ago(seconds: i64) -> String {
    let t = now() - SignedDuration::from_secs(seconds);
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn object<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("a valid object")
}

const NARROW: TableOptions = TableOptions {
    wide: false,
    namespace_column: false,
};
const WIDE: TableOptions = TableOptions {
    wide: true,
    namespace_column: false,
};
const ALL_NAMESPACES: TableOptions = TableOptions {
    wide: false,
    namespace_column: true,
};

fn pod(name: &str, age: i64, status: Value) -> Pod {
    object(json!({
        "metadata": {"name": name, "namespace": "demo", "creationTimestamp": ago(age)},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]},
        "status": status,
    }))
}

fn running(ip: &str) -> Value {
    json!({
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{
            "name": "nginx", "image": "nginx:1.27", "imageID": "", "ready": true,
            "restartCount": 0, "state": {"running": {"startedAt": ago(60)}}
        }]
    })
}

#[test]
fn human_durations_follow_apimachinery() {
    for (seconds, expected) in [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 5 * 60, "3h5m"),
        (8 * 3600 + 59 * 60, "8h"),
        (47 * 3600, "47h"),
        (51 * 3600, "2d3h"),
        (7 * 86400, "7d"),
        (8 * 86400, "8d"),
        (2 * 365 * 86400 + 10 * 86400, "2y10d"),
        (9 * 365 * 86400, "9y"),
    ] {
        assert_eq!(
            print::human_duration(SignedDuration::from_secs(seconds)),
            expected,
            "{seconds}s"
        );
    }
    assert_eq!(print::since(None, now()), "<unknown>");
}

#[test]
fn pods_table_like_kubectl() {
    let creating = json!({
        "phase": "Pending",
        "containerStatuses": [{
            "name": "nginx", "image": "nginx:1.27", "imageID": "", "ready": false,
            "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}
        }]
    });
    let crashing = json!({
        "phase": "Running",
        "podIP": "10.244.0.12",
        "containerStatuses": [{
            "name": "nginx", "image": "nginx:1.27", "imageID": "", "ready": false,
            "restartCount": 3,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ago(125)}}
        }]
    });
    let mut terminating = pod("web-demo-3", 7200, running("10.244.0.13"));
    terminating.metadata.deletion_timestamp =
        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now()));
    let pods = vec![
        pod("web-demo-0", 300, running("10.244.0.10")),
        pod("web-demo-1", 3, creating),
        pod("web-demo-2", 3 * 86400 + 3600, crashing),
        terminating,
    ];
    assert_eq!(
        table(&pods, NARROW, now()),
        "\
NAME         READY   STATUS              RESTARTS       AGE
web-demo-0   1/1     Running             0              5m
web-demo-1   0/1     ContainerCreating   0              3s
web-demo-2   0/1     CrashLoopBackOff    3 (2m5s ago)   3d1h
web-demo-3   1/1     Terminating         0              120m
"
    );
}

#[test]
fn pods_wide_adds_ip_node_and_gates() {
    let mut scheduled = pod("web-demo-0", 10, running("10.244.0.10"));
    scheduled.spec.as_mut().unwrap().node_name = Some("sim-node".into());
    let pending = pod("web-demo-1", 10, json!({"phase": "Pending"}));
    assert_eq!(
        table(&[scheduled, pending], WIDE, now()),
        "\
NAME         READY   STATUS    RESTARTS   AGE   IP            NODE       NOMINATED NODE   READINESS GATES
web-demo-0   1/1     Running   0          10s   10.244.0.10   sim-node   <none>           <none>
web-demo-1   0/1     Pending   0          10s   <none>        <none>     <none>           <none>
"
    );
}

#[test]
fn pod_status_from_init_containers_and_completion() {
    let initializing: Pod = object(json!({
        "metadata": {"name": "p"},
        "spec": {
            "initContainers": [{"name": "init"}],
            "containers": [{"name": "c"}]
        },
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{
                "name": "init", "image": "", "imageID": "", "ready": false, "restartCount": 0,
                "state": {"running": {}}
            }]
        }
    }));
    assert_eq!(print::row(&initializing, NARROW, now())[2], "Init:0/1");

    let failed_init: Pod = object(json!({
        "metadata": {"name": "p"},
        "spec": {"initContainers": [{"name": "init"}], "containers": [{"name": "c"}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{
                "name": "init", "image": "", "imageID": "", "ready": false, "restartCount": 2,
                "state": {"terminated": {"exitCode": 2}}
            }]
        }
    }));
    let cells = print::row(&failed_init, NARROW, now());
    assert_eq!(
        (cells[2].as_str(), cells[3].as_str()),
        ("Init:ExitCode:2", "2")
    );

    let failed: Pod = object(json!({
        "metadata": {"name": "p", "deletionTimestamp": ago(1)},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Failed"}
    }));
    // Terminal pods keep their phase while being deleted.
    assert_eq!(print::row(&failed, NARROW, now())[2], "Failed");

    let evicted: Pod = object(json!({
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Failed", "reason": "Evicted"}
    }));
    assert_eq!(print::row(&evicted, NARROW, now())[2], "Evicted");
}

#[test]
fn statefulsets_table_and_wide() {
    let sts: StatefulSet = object(json!({
        "metadata": {"name": "web-demo", "namespace": "demo", "creationTimestamp": ago(182)},
        "spec": {
            "replicas": 3,
            "serviceName": "nginx-demo",
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.27"},
                {"name": "sidecar", "image": "busybox"}
            ]}}
        },
        "status": {"replicas": 3, "readyReplicas": 2}
    }));
    assert_eq!(
        table(std::slice::from_ref(&sts), NARROW, now()),
        "NAME       READY   AGE\nweb-demo   2/3     3m2s\n"
    );
    assert_eq!(
        table(&[sts], WIDE, now()),
        "\
NAME       READY   AGE    CONTAINERS      IMAGES
web-demo   2/3     3m2s   nginx,sidecar   nginx:1.27,busybox
"
    );
}

#[test]
fn services_table_and_wide() {
    let headless: Service = object(json!({
        "metadata": {"name": "nginx-demo", "namespace": "demo", "creationTimestamp": ago(3600)},
        "spec": {
            "clusterIP": "None",
            "selector": {"app": "nginx", "tier": "web"},
            "ports": [{"name": "web", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]
        }
    }));
    let node_port: Service = object(json!({
        "metadata": {"name": "edge", "namespace": "demo", "creationTimestamp": ago(30)},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.0.20",
            "clusterIPs": ["10.96.0.20"],
            "ports": [{"port": 443, "nodePort": 30443, "protocol": "TCP"}]
        }
    }));
    let lb: Service = object(json!({
        "metadata": {"name": "lb", "namespace": "demo", "creationTimestamp": ago(30)},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.21"},
    }));
    assert_eq!(
        table(&[headless.clone(), node_port, lb], NARROW, now()),
        "\
NAME         TYPE           CLUSTER-IP   EXTERNAL-IP   PORT(S)         AGE
nginx-demo   ClusterIP      None         <none>        80/TCP,53/UDP   60m
edge         NodePort       10.96.0.20   <none>        443:30443/TCP   30s
lb           LoadBalancer   10.96.0.21   <pending>     <none>          30s
"
    );
    assert_eq!(
        print::row(&headless, WIDE, now()).last().unwrap(),
        "app=nginx,tier=web"
    );
}

#[test]
fn endpointslices_show_three_addresses_then_more() {
    let slice: EndpointSlice = object(json!({
        "metadata": {"name": "nginx-demo-abc12", "namespace": "demo", "creationTimestamp": ago(90)},
        "addressType": "IPv4",
        "ports": [{"name": "web", "port": 80, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.244.0.10"]},
            {"addresses": ["10.244.0.11"]},
            {"addresses": ["10.244.0.12"]},
            {"addresses": ["10.244.0.13"]},
            {"addresses": ["10.244.0.14"]}
        ]
    }));
    let empty: EndpointSlice = object(json!({
        "metadata": {"name": "empty", "namespace": "demo", "creationTimestamp": ago(90)},
        "addressType": "IPv6",
        "endpoints": []
    }));
    assert_eq!(
        table(&[slice, empty], NARROW, now()),
        "\
NAME               ADDRESSTYPE   PORTS     ENDPOINTS                                         AGE
nginx-demo-abc12   IPv4          80        10.244.0.10,10.244.0.11,10.244.0.12 + 2 more...   90s
empty              IPv6          <unset>   <unset>                                           90s
"
    );
}

#[test]
fn claims_show_capacity_only_once_bound() {
    let bound: PersistentVolumeClaim = object(json!({
        "metadata": {"name": "www-web-demo-0", "namespace": "demo", "creationTimestamp": ago(600)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "standard",
            "volumeName": "pvc-1234",
            "resources": {"requests": {"storage": "1Gi"}}
        },
        "status": {"phase": "Bound", "accessModes": ["ReadWriteMany", "ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    }));
    let pending: PersistentVolumeClaim = object(json!({
        "metadata": {"name": "www-web-demo-1", "namespace": "demo", "creationTimestamp": ago(5)},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard"},
        "status": {"phase": "Pending"}
    }));
    assert_eq!(
        table(&[bound, pending], NARROW, now()),
        "\
NAME             STATUS    VOLUME     CAPACITY   ACCESS MODES   STORAGECLASS   VOLUMEATTRIBUTESCLASS   AGE
www-web-demo-0   Bound     pvc-1234   1Gi        RWO,RWX        standard       <unset>                 10m
www-web-demo-1   Pending                                        standard       <unset>                 5s
"
    );
}

fn event(
    name: &str,
    kind: &str,
    object_name: &str,
    last: i64,
    reason: &str,
    message: &str,
) -> Event {
    object(json!({
        "metadata": {"name": name, "namespace": "demo"},
        "involvedObject": {"kind": kind, "name": object_name, "namespace": "demo"},
        "reason": reason,
        "message": message,
        "type": "Normal",
        "count": 1,
        "firstTimestamp": ago(last + 10),
        "lastTimestamp": ago(last),
        "source": {"component": "statefulset-controller"}
    }))
}

#[test]
fn events_sorted_by_last_seen_with_namespace_column() {
    let mut events = vec![
        event(
            "b",
            "Pod",
            "web-demo-2",
            5,
            "Started",
            "Started container nginx",
        ),
        event(
            "a",
            "StatefulSet",
            "web-demo",
            65,
            "SuccessfulCreate",
            "create Pod web-demo-2 in StatefulSet web-demo successful\n",
        ),
    ];
    print::event::sort_events(&mut events);
    assert_eq!(
        table(&events, ALL_NAMESPACES, now()),
        "\
NAMESPACE   LAST SEEN   TYPE     REASON             OBJECT                 MESSAGE
demo        65s         Normal   SuccessfulCreate   statefulset/web-demo   create Pod web-demo-2 in StatefulSet web-demo successful
demo        5s          Normal   Started            pod/web-demo-2         Started container nginx
"
    );
    let wide = print::row(&events[0], WIDE, now());
    assert_eq!(
        wide,
        [
            "65s",
            "Normal",
            "SuccessfulCreate",
            "statefulset/web-demo",
            "",
            "statefulset-controller",
            "create Pod web-demo-2 in StatefulSet web-demo successful",
            "75s",
            "1",
            "a"
        ]
    );
}

#[test]
fn watch_rows_keep_the_widths_already_printed() {
    let mut writer = TableWriter::default();
    let first = writer.render(&[
        vec!["NAME".into(), "READY".into(), "AGE".into()],
        vec!["web-demo-0".into(), "1/1".into(), "5m".into()],
    ]);
    assert_eq!(first, "NAME         READY   AGE\nweb-demo-0   1/1     5m\n");
    // A narrower row keeps the columns; a wider one widens them from then on.
    assert_eq!(
        writer.render(&[vec!["w".into(), "0/1".into(), "0s".into()]]),
        "w            0/1     0s\n"
    );
    assert_eq!(
        writer.render(&[vec!["a-much-longer-name".into(), "0/1".into(), "0s".into()]]),
        "a-much-longer-name   0/1     0s\n"
    );
    assert_eq!(
        writer.render(&[vec!["w".into(), "0/1".into(), "0s".into()]]),
        "w                    0/1     0s\n"
    );
}

#[test]
fn names_json_and_yaml_like_kubectl() {
    let p = pod("web-demo-0", 5, json!({"phase": "Running"}));
    let sts: StatefulSet = object(json!({"metadata": {"name": "web-demo"}}));
    let slice: EndpointSlice =
        object(json!({"metadata": {"name": "s"}, "addressType": "IPv4", "endpoints": []}));
    assert_eq!(print::name(&p), "pod/web-demo-0");
    assert_eq!(print::name(&sts), "statefulset.apps/web-demo");
    assert_eq!(print::name(&slice), "endpointslice.discovery.k8s.io/s");

    let minimal: Pod = object(json!({"metadata": {"name": "x", "namespace": "demo"}}));
    // One object: itself, with apiVersion and kind, keys sorted, 4-space indent.
    assert_eq!(
        print::json(&print::to_value(&minimal)),
        "{\n    \"apiVersion\": \"v1\",\n    \"kind\": \"Pod\",\n    \"metadata\": {\n        \"name\": \"x\",\n        \"namespace\": \"demo\"\n    }\n}\n"
    );
    // Several: a v1 List.
    let list = print::list(vec![print::to_value(&minimal)]);
    assert_eq!(list["kind"], "List");
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["metadata"], json!({"resourceVersion": ""}));
    assert_eq!(list["items"][0]["kind"], "Pod");
    assert_eq!(
        print::yaml(&list),
        "\
apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: x
    namespace: demo
kind: List
metadata:
  resourceVersion: \"\"
"
    );
}

#[test]
fn empty_answers_use_kubectls_words() {
    assert_eq!(
        print::no_resources(Some("demo")),
        "No resources found in demo namespace."
    );
    assert_eq!(print::no_resources(None), "No resources found");
}

fn rollout(spec: Value, status: Value, generation: i64) -> StatefulSet {
    object(json!({
        "metadata": {"name": "web-demo", "generation": generation},
        "spec": spec,
        "status": status,
    }))
}

#[test]
fn rollout_status_lines_match_kubectl() {
    let base = json!({"replicas": 3, "selector": {}, "template": {}});
    let status = |observed: i64, ready: i32, updated: i32, current: &str, update: &str| {
        json!({
            "observedGeneration": observed, "replicas": 3, "readyReplicas": ready,
            "updatedReplicas": updated, "currentReplicas": 3 - updated.min(3),
            "currentRevision": current, "updateRevision": update
        })
    };
    let line = |sts: &StatefulSet| statefulset_status(sts).unwrap();

    assert_eq!(
        line(&rollout(base.clone(), status(1, 3, 3, "r1", "r1"), 2)),
        (
            "Waiting for statefulset spec update to be observed...".into(),
            false
        )
    );
    assert_eq!(
        line(&rollout(base.clone(), status(2, 1, 3, "r1", "r1"), 2)),
        ("Waiting for 2 pods to be ready...".into(), false)
    );
    assert_eq!(
        line(&rollout(base.clone(), status(2, 3, 1, "r1", "r2"), 2)),
        (
            "waiting for statefulset rolling update to complete 1 pods at revision r2...".into(),
            false
        )
    );
    let mut done = status(2, 3, 3, "r2", "r2");
    done["currentReplicas"] = json!(3);
    assert_eq!(
        line(&rollout(base.clone(), done, 2)),
        (
            "statefulset rolling update complete 3 pods at revision r2...".into(),
            true
        )
    );

    let mut partitioned = base.clone();
    partitioned["updateStrategy"] =
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 1}});
    assert_eq!(
        line(&rollout(
            partitioned.clone(),
            status(2, 3, 1, "r1", "r2"),
            2
        )),
        (
            "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated..."
                .into(),
            false
        )
    );
    assert_eq!(
        line(&rollout(partitioned, status(2, 3, 2, "r1", "r2"), 2)),
        (
            "partitioned roll out complete: 2 new pods have been updated...".into(),
            true
        )
    );

    let mut on_delete = base;
    on_delete["updateStrategy"] = json!({"type": "OnDelete"});
    assert_eq!(
        statefulset_status(&rollout(on_delete, status(2, 3, 3, "r1", "r1"), 2)),
        Err("rollout status is only available for RollingUpdate strategy type".into())
    );
}
