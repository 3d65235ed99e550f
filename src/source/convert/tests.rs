//! The conversions' checks, object by object, with the warning each gives.

use serde_json::json;

use super::*;

fn slice(endpoints: serde_json::Value) -> discovery::EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": "web-abc", "namespace": "demo",
                     "labels": {SERVICE_NAME_LABEL: "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80}],
        "endpoints": endpoints,
    }))
    .unwrap()
}

fn key(namespace: &str, name: &str) -> ObjectKey {
    ObjectKey::new(namespace, name)
}

/// Converts a slice with its own refusals, so the message is seen.
fn convert(slice: &discovery::EndpointSlice) -> (Option<EndpointGroup>, Refusals) {
    let key = object_key(&slice.metadata).unwrap();
    let mut refusals = Refusals::new("EndpointSlice", &key);
    let labels = slice.metadata.labels.as_ref().unwrap();
    let group = convert_slice(slice, key, &labels[SERVICE_NAME_LABEL], &mut refusals);
    (group, refusals)
}

#[test]
fn bad_hostnames_lose_their_name_and_keep_their_addresses() {
    let long = "h".repeat(300);
    let (group, refusals) = convert(&slice(json!([
        {"addresses": ["10.0.0.1"], "hostname": "web-0"},
        {"addresses": ["10.0.0.2"], "hostname": long},
        {"addresses": ["10.0.0.3"], "hostname": "web-0.other"},
        {"addresses": ["10.0.0.4"], "hostname": "Web-3"},
    ])));
    let group = group.unwrap();
    let hostnames: Vec<Option<&str>> = group
        .endpoints
        .iter()
        .map(|e| e.hostname.as_deref())
        .collect();
    assert_eq!(hostnames, [Some("web-0"), None, None, Some("Web-3")]);
    let addresses: Vec<String> = group
        .endpoints
        .iter()
        .flat_map(|e| e.addresses.iter().map(ToString::to_string))
        .collect();
    assert_eq!(addresses, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    let message = refusals.message();
    assert!(
        message.starts_with("EndpointSlice demo/web-abc: endpoints[1].hostname \"hhhh"),
        "{message}"
    );
    assert!(
        message.contains("(300 characters) is 300 characters, over the 63 of a DNS label"),
        "{message}"
    );
    assert!(
        message.contains("; endpoints[2].hostname \"web-0.other\" is not a DNS label: '.' is not a letter, digit or `-`; the endpoint gets no name of its own, its addresses still serve"),
        "{message}"
    );
    assert!(!message.contains("endpoints[3]"), "{message}");
}

#[test]
fn addresses_that_are_not_ips_are_dropped_alone() {
    let (group, refusals) = convert(&slice(json!([
        {"addresses": ["10.0.0.1", "not-an-ip", "10.0.0.2", "010.0.0.3"]},
    ])));
    let group = group.unwrap();
    assert_eq!(
        group.endpoints[0].addresses,
        [
            "10.0.0.1".parse::<IpAddr>().unwrap(),
            "10.0.0.2".parse().unwrap()
        ]
    );
    assert_eq!(
        refusals.message(),
        "EndpointSlice demo/web-abc: endpoints[0].addresses[1] \"not-an-ip\" is not an IP address; dropped; endpoints[0].addresses[3] \"010.0.0.3\" is not an IP address; dropped"
    );
}

#[test]
fn a_slice_keeps_at_most_the_api_servers_bounds() {
    let endpoints: Vec<serde_json::Value> = (0..50_000u32)
        .map(|i| json!({"addresses": [format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)]}))
        .collect();
    let (group, refusals) = convert(&slice(json!(endpoints)));
    let group = group.unwrap();
    assert_eq!(group.endpoints.len(), MAX_ENDPOINTS);
    assert_eq!(group.endpoints[999].addresses[0].to_string(), "10.0.3.231");
    assert_eq!(
        refusals.message(),
        "EndpointSlice demo/web-abc: endpoints: 50000 endpoints, over the 1000 the API server allows in one slice; serving the first 1000"
    );

    let many: Vec<String> = (0..150).map(|i| format!("10.1.0.{i}")).collect();
    let (group, refusals) = convert(&slice(json!([{"addresses": many}])));
    assert_eq!(group.unwrap().endpoints[0].addresses.len(), MAX_ADDRESSES);
    assert!(
        refusals
            .message()
            .contains("endpoints[0].addresses: 150 addresses, over the 100"),
        "{}",
        refusals.message()
    );
}

#[test]
fn a_service_whose_names_are_not_labels_is_refused() {
    let service = |namespace: &str, name: &str| -> core::Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"clusterIP": "None"},
        }))
        .unwrap()
    };
    for (namespace, name, field) in [
        ("demo", "s".repeat(300), "metadata.name"),
        ("demo", "web.other".to_owned(), "metadata.name"),
        ("Demo", "web".to_owned(), "metadata.namespace"),
        (&*"n".repeat(64), "web".to_owned(), "metadata.namespace"),
    ] {
        let svc = service(namespace, &name);
        let mut refusals = Refusals::new("Service", &key(namespace, &name));
        let converted = convert_service(&svc, key(namespace, &name), &mut refusals);
        assert_eq!(converted, None, "{namespace}/{name}");
        let message = refusals.message();
        assert!(message.contains(&format!(": {field} \"")), "{message}");
        assert!(
            message.ends_with("; the service gets no records"),
            "{message}"
        );
    }
    let svc = service("demo", "web");
    let mut refusals = Refusals::new("Service", &key("demo", "web"));
    assert!(convert_service(&svc, key("demo", "web"), &mut refusals).is_some());
    assert!(refusals.is_empty());
}

#[test]
fn bad_ports_and_extra_cluster_ips_are_dropped() {
    let svc: core::Service = serde_json::from_value(json!({
        "metadata": {"name": "api", "namespace": "demo"},
        "spec": {
            "clusterIPs": ["10.96.0.1", "fd00::1", "10.96.0.2"],
            "ports": [
                {"name": "http", "port": 80},
                {"name": "p".repeat(300), "port": 81},
                {"name": "dns", "port": 53, "protocol": "ICMP"},
            ],
        },
    }))
    .unwrap();
    let mut refusals = Refusals::new("Service", &key("demo", "api"));
    let converted = convert_service(&svc, key("demo", "api"), &mut refusals).unwrap();
    assert_eq!(
        converted.kind,
        ServiceKind::ClusterIp(vec![
            "10.96.0.1".parse().unwrap(),
            "fd00::1".parse().unwrap()
        ])
    );
    let names: Vec<&str> = converted.ports.iter().map(|p| &*p.name).collect();
    assert_eq!(names, ["http"]);
    let message = refusals.message();
    assert!(message.contains("spec.ports[1].name \"ppp"), "{message}");
    assert!(
        message.contains("spec.ports[2].protocol \"ICMP\" is not TCP, UDP or SCTP"),
        "{message}"
    );
    assert!(
        message.contains("spec.clusterIPs[2]: more than 2 cluster IPs"),
        "{message}"
    );
}

#[test]
fn legacy_endpoints_are_checked_and_bounded() {
    let mut addresses: Vec<serde_json::Value> = vec![
        json!({"ip": "bogus"}),
        json!({"ip": "10.0.0.1", "hostname": "a_b"}),
    ];
    addresses.extend((0..1500).map(|i| json!({"ip": format!("10.2.{}.{}", i / 256, i % 256)})));
    let ep: core::Endpoints = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "demo"},
        "subsets": [{"addresses": addresses, "notReadyAddresses": [{"ip": "10.3.0.1"}]}],
    }))
    .unwrap();
    let mut refusals = Refusals::new("Endpoints", &key("demo", "web"));
    let group = convert_endpoints(&ep, key("demo", "web"), &mut refusals).unwrap();
    assert_eq!(group.endpoints.len(), MAX_LEGACY_ADDRESSES);
    assert!(group.endpoints[0].addresses.is_empty());
    assert_eq!(group.endpoints[1].hostname, None);
    assert_eq!(group.endpoints[1].addresses[0].to_string(), "10.0.0.1");
    let message = refusals.message();
    assert!(
        message.contains("subsets[0].addresses[0].ip \"bogus\" is not an IP address"),
        "{message}"
    );
    assert!(
        message.contains("subsets[0].addresses[1].hostname \"a_b\""),
        "{message}"
    );
    assert!(
        message.contains("subsets[0].addresses[1000]: more than 1000 addresses"),
        "{message}"
    );
    assert_eq!(message.matches("more than 1000").count(), 1, "{message}");
}

#[test]
fn a_statefulset_naming_no_valid_service_is_ignored() {
    let sts = |service: &str| -> apps::StatefulSet {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "demo"},
            "spec": {"serviceName": service, "selector": {}, "template": {}},
        }))
        .unwrap()
    };
    assert!(set_from_k8s(&sts("web")).is_some());
    assert!(set_from_k8s(&sts("web.other")).is_none());
    assert!(set_from_k8s(&sts(&"w".repeat(300))).is_none());
}
