//! Tests of the embedded cluster as a whole: the walkthrough, ordered
//! creation, restarts, scaling and rolling updates through the API, faults,
//! the IP pool, manifest reloads and validation.

use super::*;
use crate::source::manifest::parse_objects;
use std::path::Path;

const WALKTHROUGH: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: nginx-demo, namespace: demo, labels: {app: nginx}}
spec:
  clusterIP: None
  selector: {app: nginx}
  ports: [{name: web, port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: web-demo, namespace: demo}
spec:
  serviceName: nginx-demo
  replicas: 2
  selector: {matchLabels: {app: nginx}}
  template:
    metadata: {labels: {app: nginx}}
    spec:
      containers:
        - name: nginx
          image: nginx:1.19.2-alpine
          ports: [{name: web, containerPort: 80}]
  volumeClaimTemplates:
    - metadata: {name: www}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
"#;

fn settings() -> SimSettings {
    SimSettings {
        pod_cidr: "10.244.0.0/16".parse().unwrap(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        start_delay: Duration::from_millis(100),
        ready_delay: Duration::from_millis(100),
        terminate_delay: Duration::from_millis(100),
        max_pods: 10_000,
    }
}

fn walkthrough() -> (Cluster, Instant) {
    let mut c = Cluster::new(settings());
    let now = Instant::now();
    c.apply(
        parse_objects(WALKTHROUGH, Path::new("w.yaml")).unwrap(),
        now,
    )
    .unwrap();
    (c, now)
}

/// Steps the cluster through its own timers until nothing is due.
fn run(c: &mut Cluster, mut now: Instant) -> Instant {
    c.step(now);
    for _ in 0..1000 {
        let Some(next) = c.next_wakeup() else {
            return now;
        };
        now = now.max(next);
        c.step(now);
    }
    panic!("never settled")
}

fn pod_ip(c: &Cluster, name: &str) -> Option<IpAddr> {
    c.pods
        .get(&("demo".to_owned(), name.to_owned()))
        .and_then(|p| p.ip)
}

fn messages(c: &Cluster) -> Vec<String> {
    c.events
        .iter()
        .filter(|e| e.involved_object.kind.as_deref() == Some("StatefulSet"))
        .filter_map(|e| e.message.clone())
        .collect()
}

#[test]
fn walkthrough_creates_ready_pods_with_claims_and_endpoints() {
    let (mut c, now) = walkthrough();
    run(&mut c, now);
    let names: Vec<&str> = c.pods.keys().map(|k| k.1.as_str()).collect();
    assert_eq!(names, ["web-demo-0", "web-demo-1"]);
    assert!(c.pods.values().all(SimPod::ready));
    assert!(
        c.claims
            .contains_key(&("demo".to_owned(), "www-web-demo-0".to_owned()))
    );
    let ev = messages(&c);
    assert!(
        ev.contains(&"create Pod web-demo-0 in StatefulSet web-demo successful".to_owned()),
        "{ev:?}"
    );
    assert!(
        ev.contains(
            &"create Claim www-web-demo-0 Pod web-demo-0 in StatefulSet web-demo success"
                .to_owned()
        ),
        "{ev:?}"
    );
    let state = c.dns_state();
    assert_eq!(state.slices.len(), 1);
    let hosts: Vec<String> = state.slices[0]
        .endpoints
        .iter()
        .filter_map(|e| e.hostname.as_deref().map(str::to_owned))
        .collect();
    assert_eq!(hosts, ["web-demo-0", "web-demo-1"]);
    assert!(state.slices[0].endpoints.iter().all(|e| e.ready));
    assert_eq!(&*state.slices[0].ports[0].name, "web");
    let sts = c.get(Resource::StatefulSets, "demo", "web-demo").unwrap();
    assert_eq!(sts.pointer("/status/readyReplicas"), Some(&Value::from(2)));
}

#[test]
fn ordered_creation_waits_for_ready() {
    let (mut c, now) = walkthrough();
    c.step(now);
    assert_eq!(c.pods.len(), 1, "only web-demo-0 before it is ready");
    let mut t = now;
    // Running but not yet Ready: still one pod.
    t += Duration::from_millis(150);
    c.step(t);
    assert_eq!(c.pods.len(), 1);
    t += Duration::from_millis(100);
    c.step(t);
    assert_eq!(c.pods.len(), 2, "web-demo-1 once web-demo-0 is Ready");
}

#[test]
fn deleted_pod_returns_with_same_name_and_new_ip() {
    let (mut c, now) = walkthrough();
    let now = run(&mut c, now);
    let before = pod_ip(&c, "web-demo-0").unwrap();
    c.delete(Resource::Pods, "demo", "web-demo-0", now).unwrap();
    c.step(now);
    // Terminating: its endpoint is not ready; the IP is still held.
    let state = c.dns_state();
    let ep = state.slices[0]
        .endpoints
        .iter()
        .find(|e| e.hostname.as_deref() == Some("web-demo-0"))
        .unwrap();
    assert!(!ep.ready);
    run(&mut c, now);
    let after = pod_ip(&c, "web-demo-0").unwrap();
    assert_ne!(before, after, "a restarted pod gets a new IP");
    assert!(c.pods.values().all(SimPod::ready));
}

#[test]
fn scale_and_rolling_update_through_the_api() {
    let (mut c, now) = walkthrough();
    let now = run(&mut c, now);
    c.patch_set(
        "demo",
        "web-demo",
        &serde_json::json!({"spec": {"replicas": 4}}),
    )
    .unwrap();
    let now = run(&mut c, now);
    assert_eq!(c.pods.len(), 4);
    let sts = c.get(Resource::StatefulSets, "demo", "web-demo").unwrap();
    let old_rev = sts.pointer("/status/currentRevision").unwrap().clone();
    c.patch_set(
        "demo",
        "web-demo",
        &serde_json::json!({"spec": {"template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.20"}]}}}}),
    )
    .unwrap();
    run(&mut c, now);
    let deletes: Vec<String> = messages(&c)
        .into_iter()
        .filter(|m| m.starts_with("delete Pod"))
        .collect();
    assert_eq!(
        deletes,
        [
            "delete Pod web-demo-3 in StatefulSet web-demo successful",
            "delete Pod web-demo-2 in StatefulSet web-demo successful",
            "delete Pod web-demo-1 in StatefulSet web-demo successful",
            "delete Pod web-demo-0 in StatefulSet web-demo successful",
        ]
    );
    let sts = c.get(Resource::StatefulSets, "demo", "web-demo").unwrap();
    assert_ne!(sts.pointer("/status/currentRevision").unwrap(), &old_rev);
    assert_eq!(
        sts.pointer("/status/updatedReplicas"),
        Some(&Value::from(4))
    );
    assert!(c.pods.values().all(|p| first_image(&p.pod) == "nginx:1.20"));
}

fn first_image(pod: &core::Pod) -> String {
    pod.spec.as_ref().unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

#[test]
fn faults_kill_unready_and_fail_start() {
    let (mut c, now) = walkthrough();
    let now = run(&mut c, now);
    c.fault("demo", "web-demo-1", Fault::Unready).unwrap();
    c.step(now);
    let state = c.dns_state();
    let ready: Vec<bool> = state.slices[0].endpoints.iter().map(|e| e.ready).collect();
    assert_eq!(ready, [true, false]);
    c.fault("demo", "web-demo-1", Fault::Ready).unwrap();
    let before = pod_ip(&c, "web-demo-1").unwrap();
    c.fault("demo", "web-demo-1", Fault::Kill).unwrap();
    let now = run(&mut c, now);
    assert_ne!(
        pod_ip(&c, "web-demo-1").unwrap(),
        before,
        "killed pod replaced with a new IP"
    );
    c.fault("demo", "web-demo-1", Fault::FailStart).unwrap();
    c.delete(Resource::Pods, "demo", "web-demo-1", now).unwrap();
    run(&mut c, now);
    let pod = c.get(Resource::Pods, "demo", "web-demo-1").unwrap();
    // The recreated pod is a new pod without the fault.
    assert_eq!(pod.pointer("/status/phase"), Some(&Value::from("Running")));
    assert_eq!(c.fault("demo", "nope", Fault::Kill).unwrap_err().code, 404);
}

#[test]
fn ip_pool_never_reuses_a_held_address_and_moves_on() {
    let mut pool = IpPool::new("10.0.0.0/29".parse().unwrap());
    let a: Vec<IpAddr> = (0..5).filter_map(|_| pool.allocate()).collect();
    assert_eq!(a.len(), 5, "offsets 2..=6 of a /29");
    assert!(pool.allocate().is_none(), "exhausted");
    pool.release(a[2]);
    assert_eq!(pool.allocate(), Some(a[2]));
    let set: BTreeSet<IpAddr> = a.iter().copied().collect();
    assert_eq!(set.len(), 5);
}

#[test]
fn manifest_reload_applies_only_changes_and_prunes() {
    let mut c = Cluster::new(settings());
    let now = Instant::now();
    let objects = parse_objects(WALKTHROUGH, Path::new("w.yaml")).unwrap();
    c.apply_manifests(objects.clone(), now).unwrap();
    let now = run(&mut c, now);
    // A user scales; a reload of unchanged files keeps that.
    c.patch_set(
        "demo",
        "web-demo",
        &serde_json::json!({"spec": {"replicas": 3}}),
    )
    .unwrap();
    let results = c.apply_manifests(objects.clone(), now).unwrap();
    assert!(results.is_empty(), "{results:?}");
    assert_eq!(
        set_spec(&c.sets[&("demo".to_owned(), "web-demo".to_owned())].sts).replicas,
        3
    );
    // The Service leaves the files: it is deleted.
    let results = c.apply_manifests(objects[1..].to_vec(), now).unwrap();
    assert_eq!(results, ["service \"nginx-demo\" deleted"]);
}

#[test]
fn invalid_sets_are_rejected_with_field() {
    let mut c = Cluster::new(settings());
    let bad = WALKTHROUGH.replace("replicas: 2", "replicas: -1");
    let err = c
        .apply(
            parse_objects(&bad, Path::new("w.yaml")).unwrap(),
            Instant::now(),
        )
        .unwrap_err();
    assert!(err.message.contains("spec.replicas"), "{err}");
    let bad = WALKTHROUGH.replace("matchLabels: {app: nginx}", "matchLabels: {app: other}");
    let err = c
        .apply(
            parse_objects(&bad, Path::new("w.yaml")).unwrap(),
            Instant::now(),
        )
        .unwrap_err();
    assert!(err.message.contains("selector"), "{err}");
}

/// Every event waiting on `rx`, as (type, resource, name).
fn drain(rx: &mut broadcast::Receiver<WatchEvent>) -> Vec<(&'static str, Resource, String)> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        let name = event.object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        out.push((event.kind, event.resource, name));
    }
    out
}

#[test]
fn watchers_get_changes_and_a_deleted_object_with_its_last_state() {
    let (mut c, now) = walkthrough();
    let now = run(&mut c, now);
    // Nobody watched: the version still moved with every change, and a
    // step that changes nothing leaves it.
    let version = c.resource_version();
    assert!(version > 1);
    c.step(now);
    assert_eq!(c.resource_version(), version);

    let mut rx = c.subscribe();
    c.delete(Resource::Services, "demo", "nginx-demo", now)
        .unwrap();
    c.step(now);
    assert_eq!(c.resource_version(), version + 1);
    // The service was last seen before anyone watched: the first watcher
    // made the cluster keep it, so its DELETED event has its labels.
    let mut deleted = None;
    while let Ok(event) = rx.try_recv() {
        if event.kind == "DELETED" && event.resource == Resource::Services {
            deleted = Some(event.object);
        }
    }
    let deleted = deleted.expect("a DELETED event for the service");
    assert_eq!(deleted["metadata"]["name"], "nginx-demo");
    assert_eq!(deleted["metadata"]["labels"]["app"], "nginx", "{deleted}");
    // A pod scaled away: its last state, so label selectors of `get -w`
    // still match it.
    let mut rx2 = c.subscribe();
    let deleted = {
        // Scaled down, the highest pod goes and is not replaced.
        c.patch_set(
            "demo",
            "web-demo",
            &serde_json::json!({"spec": {"replicas": 1}}),
        )
        .unwrap();
        run(&mut c, now);
        let mut found = None;
        while let Ok(event) = rx2.try_recv() {
            if event.kind == "DELETED" && event.resource == Resource::Pods {
                found = Some(event.object);
            }
        }
        found.expect("a DELETED event for the pod")
    };
    assert_eq!(deleted["metadata"]["labels"]["app"], "nginx", "{deleted}");
    assert_eq!(deleted["kind"], "Pod");
    assert!(deleted["metadata"]["resourceVersion"].is_string());
    // A modified object is MODIFIED once, and only then.
    drain(&mut rx);
    c.patch_set(
        "demo",
        "web-demo",
        &serde_json::json!({"spec": {"replicas": 2}}),
    )
    .unwrap();
    c.step(now);
    let events = drain(&mut rx);
    assert!(
        events.contains(&("MODIFIED", Resource::StatefulSets, "web-demo".to_owned())),
        "{events:?}"
    );
    c.step(now);
    assert!(
        !drain(&mut rx)
            .iter()
            .any(|(kind, r, _)| *kind == "MODIFIED" && *r == Resource::StatefulSets)
    );
}

const STATIC_SLICE: &str = r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-1
  namespace: demo
  labels: {kubernetes.io/service-name: ext}
addressType: IPv4
ports: [{name: web, port: 80, protocol: TCP}]
endpoints:
- addresses: [10.1.2.3]
  hostname: ext-0
  conditions: {ready: true}
"#;

#[test]
fn static_slices_kept_as_text_read_back_whole() {
    let mut c = Cluster::new(settings());
    let now = Instant::now();
    let objects = parse_objects(STATIC_SLICE, Path::new("s.yaml")).unwrap();
    assert_eq!(
        c.apply(objects.clone(), now).unwrap(),
        ["endpointslice.discovery.k8s.io/ext-1 created"]
    );
    let got = c.get(Resource::EndpointSlices, "demo", "ext-1").unwrap();
    assert_eq!(got["kind"], "EndpointSlice");
    assert_eq!(got["endpoints"][0]["addresses"][0], "10.1.2.3");
    assert_eq!(got["endpoints"][0]["hostname"], "ext-0");
    assert_eq!(got["ports"][0]["port"], 80);
    // The DNS view reads it back too.
    let state = c.dns_state();
    assert_eq!(state.slices.len(), 1);
    assert_eq!(&*state.slices[0].service.name, "ext");
    assert_eq!(
        state.slices[0].endpoints[0].addresses,
        ["10.1.2.3".parse::<IpAddr>().unwrap()]
    );
    // Only endpoints, ports, labels and address type count as a change.
    let annotated = STATIC_SLICE.replace(
        "  namespace: demo\n",
        "  namespace: demo\n  annotations: {a: b}\n",
    );
    let objects = parse_objects(&annotated, Path::new("s.yaml")).unwrap();
    assert_eq!(
        c.apply(objects, now).unwrap(),
        ["endpointslice.discovery.k8s.io/ext-1 unchanged"]
    );
    let moved = STATIC_SLICE.replace("10.1.2.3", "10.1.2.4");
    let objects = parse_objects(&moved, Path::new("s.yaml")).unwrap();
    assert_eq!(
        c.apply(objects, now).unwrap(),
        ["endpointslice.discovery.k8s.io/ext-1 configured"]
    );
    let deleted = c
        .delete(Resource::EndpointSlices, "demo", "ext-1", now)
        .unwrap();
    assert_eq!(deleted["endpoints"][0]["addresses"][0], "10.1.2.4");
    assert!(c.dns_state().slices.is_empty());
}

#[test]
fn a_static_slice_named_as_a_generated_one_does_not_move_the_version() {
    let (mut c, now) = walkthrough();
    let now = run(&mut c, now);
    let (namespace, generated) = c
        .generated
        .keys()
        .next()
        .cloned()
        .expect("a generated slice");
    let text = STATIC_SLICE
        .replace("name: ext-1", &format!("name: {generated}"))
        .replace("namespace: demo", &format!("namespace: {namespace}"));
    c.apply(parse_objects(&text, Path::new("s.yaml")).unwrap(), now)
        .unwrap();
    c.step(now);
    let version = c.resource_version();
    // Listed twice under one key, it is one object to the watch diff.
    c.step(now);
    c.step(now);
    assert_eq!(c.resource_version(), version);
}
