//! The embedded cluster's Service IPs, as kube-apiserver allocates them:
//! a Service without `spec.clusterIP` gets one from `service_cidr`, the
//! same on every run; one written in the spec is kept; a taken or
//! out-of-range IP is refused in kube-apiserver's words; headless and
//! ExternalName Services get none; NodePort gets node ports. What the
//! cluster hands the DNS side carries those IPs.

use std::path::Path;
use std::time::Duration;

use headless_dns::model::ServiceKind;
use headless_dns::source::cluster::{Cluster, Resource, SimSettings};
use headless_dns::source::manifest::parse_objects;
use tokio::time::Instant;

fn cluster() -> Cluster {
    Cluster::new(SimSettings {
        pod_cidr: "10.244.0.0/16".parse().unwrap(),
        service_cidr: "10.96.0.0/12".parse().unwrap(),
        start_delay: Duration::from_millis(10),
        ready_delay: Duration::from_millis(10),
        terminate_delay: Duration::from_millis(10),
        max_pods: 100,
    })
}

fn svc(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: demo}}\nspec: {{{spec}}}\n"
    )
}

fn apply(c: &mut Cluster, text: &str) -> Result<Vec<String>, String> {
    let objects = parse_objects(text, Path::new("t.yaml")).map_err(|e| e.to_string())?;
    c.apply(objects, Instant::now()).map_err(|e| e.to_string())
}

fn cluster_ip(c: &Cluster, name: &str) -> Option<String> {
    let svc = c.get(Resource::Services, "demo", name).ok()?;
    svc["spec"]["clusterIP"].as_str().map(str::to_owned)
}

#[test]
fn services_get_cluster_ips_from_the_service_cidr() {
    let mut c = cluster();
    apply(&mut c, &svc("web", "ports: [{name: http, port: 80}]")).unwrap();
    let ip = cluster_ip(&c, "web").expect("an IP was allocated");
    let parsed: std::net::IpAddr = ip.parse().unwrap();
    assert!(
        "10.96.0.0/12"
            .parse::<ipnet::IpNet>()
            .unwrap()
            .contains(&parsed),
        "{ip}"
    );
    let listed = c.get(Resource::Services, "demo", "web").unwrap();
    assert_eq!(listed["spec"]["clusterIPs"][0], ip.as_str());
    assert_eq!(listed["spec"]["type"], "ClusterIP");

    // Applied again without the field: the IP stays.
    apply(&mut c, &svc("web", "ports: [{name: http, port: 80}]")).unwrap();
    assert_eq!(cluster_ip(&c, "web").as_deref(), Some(ip.as_str()));
    // Another cluster, the same name: the same IP (no randomness).
    let mut other = cluster();
    apply(&mut other, &svc("web", "ports: [{name: http, port: 80}]")).unwrap();
    assert_eq!(cluster_ip(&other, "web"), Some(ip.clone()));

    // The DNS side gets it.
    let state = c.step(Instant::now()).expect("a DNS view");
    let web = state
        .services
        .iter()
        .find(|s| &*s.key.name == "web")
        .unwrap();
    assert_eq!(web.kind, ServiceKind::ClusterIp(vec![parsed]));
}

#[test]
fn a_written_ip_is_kept_and_a_taken_or_foreign_one_is_refused() {
    let mut c = cluster();
    apply(&mut c, &svc("a", "clusterIP: 10.96.0.10")).unwrap();
    assert_eq!(cluster_ip(&c, "a").as_deref(), Some("10.96.0.10"));
    let err = apply(&mut c, &svc("b", "clusterIP: 10.96.0.10")).unwrap_err();
    assert_eq!(
        err,
        "Service \"b\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.96.0.10\"}: failed to allocate IP 10.96.0.10: provided IP is already allocated"
    );
    let err = apply(&mut c, &svc("b", "clusterIP: 192.168.1.1")).unwrap_err();
    assert!(
        err.contains("the provided IP (192.168.1.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"),
        "{err}"
    );
    assert!(cluster_ip(&c, "b").is_none(), "nothing was created");
    // Deleted, its IP is free again.
    c.delete(Resource::Services, "demo", "a", Instant::now())
        .unwrap();
    apply(&mut c, &svc("b", "clusterIP: 10.96.0.10")).unwrap();
    assert_eq!(cluster_ip(&c, "b").as_deref(), Some("10.96.0.10"));
}

#[test]
fn headless_and_externalname_get_no_ip_and_nodeport_gets_ports() {
    let mut c = cluster();
    apply(&mut c, &svc("h", "clusterIP: None")).unwrap();
    assert_eq!(cluster_ip(&c, "h").as_deref(), Some("None"));
    apply(
        &mut c,
        &svc("x", "type: ExternalName, externalName: example.com"),
    )
    .unwrap();
    assert_eq!(cluster_ip(&c, "x"), None);
    apply(
        &mut c,
        &svc("np", "type: NodePort, ports: [{name: http, port: 80}]"),
    )
    .unwrap();
    let np = c.get(Resource::Services, "demo", "np").unwrap();
    let port = np["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&port), "{np}");
    assert!(cluster_ip(&c, "np").is_some());
}
