//! Typed objects for tests, built the way the API server would hold them:
//! Services, EndpointSlices, legacy Endpoints and StatefulSets, ready to
//! hand to [`super::KubeApi::apply`].

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn meta(namespace: &str, name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: (!labels.is_empty()).then(|| {
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect::<BTreeMap<_, _>>()
        }),
        ..ObjectMeta::default()
    }
}

/// A Service with a named TCP port `web` 80; headless when `headless`.
pub fn service(namespace: &str, name: &str, headless: bool) -> core::Service {
    service_with_labels(namespace, name, headless, &[])
}

pub fn service_with_labels(
    namespace: &str,
    name: &str,
    headless: bool,
    labels: &[(&str, &str)],
) -> core::Service {
    core::Service {
        metadata: meta(namespace, name, labels),
        spec: Some(core::ServiceSpec {
            cluster_ip: Some(if headless { "None" } else { "10.96.0.10" }.to_owned()),
            ports: Some(vec![core::ServicePort {
                name: Some("web".to_owned()),
                port: 80,
                protocol: Some("TCP".to_owned()),
                ..core::ServicePort::default()
            }]),
            ..core::ServiceSpec::default()
        }),
        ..core::Service::default()
    }
}

/// An endpoint: (address, hostname, ready).
pub type Ep<'a> = (&'a str, Option<&'a str>, bool);

/// An EndpointSlice of `service` with port `web` 80.
pub fn slice(
    namespace: &str,
    name: &str,
    service: &str,
    endpoints: &[Ep<'_>],
) -> discovery::EndpointSlice {
    slice_with_labels(namespace, name, service, endpoints, &[])
}

pub fn slice_with_labels(
    namespace: &str,
    name: &str,
    service: &str,
    endpoints: &[Ep<'_>],
    labels: &[(&str, &str)],
) -> discovery::EndpointSlice {
    let mut all: Vec<(&str, &str)> = vec![("kubernetes.io/service-name", service)];
    all.extend_from_slice(labels);
    discovery::EndpointSlice {
        metadata: meta(namespace, name, &all),
        address_type: "IPv4".to_owned(),
        endpoints: endpoints
            .iter()
            .map(|(ip, hostname, ready)| discovery::Endpoint {
                addresses: vec![(*ip).to_owned()],
                hostname: hostname.map(str::to_owned),
                conditions: Some(discovery::EndpointConditions {
                    ready: Some(*ready),
                    ..discovery::EndpointConditions::default()
                }),
                target_ref: hostname.map(|h| core::ObjectReference {
                    kind: Some("Pod".to_owned()),
                    name: Some(h.to_owned()),
                    namespace: Some(namespace.to_owned()),
                    ..core::ObjectReference::default()
                }),
                ..discovery::Endpoint::default()
            })
            .collect(),
        ports: Some(vec![discovery::EndpointPort {
            name: Some("web".to_owned()),
            port: Some(80),
            protocol: Some("TCP".to_owned()),
            ..discovery::EndpointPort::default()
        }]),
    }
}

/// A legacy v1 Endpoints object for `service` (same name), all ready.
pub fn endpoints(namespace: &str, service: &str, endpoints: &[Ep<'_>]) -> core::Endpoints {
    core::Endpoints {
        metadata: meta(namespace, service, &[]),
        subsets: Some(vec![core::EndpointSubset {
            addresses: Some(
                endpoints
                    .iter()
                    .map(|(ip, hostname, _)| core::EndpointAddress {
                        ip: (*ip).to_owned(),
                        hostname: hostname.map(str::to_owned),
                        ..core::EndpointAddress::default()
                    })
                    .collect(),
            ),
            ports: Some(vec![core::EndpointPort {
                name: Some("web".to_owned()),
                port: 80,
                protocol: Some("TCP".to_owned()),
                ..core::EndpointPort::default()
            }]),
            ..core::EndpointSubset::default()
        }]),
    }
}

/// A StatefulSet declaring `replicas` pods under `service`.
pub fn stateful_set(
    namespace: &str,
    name: &str,
    service: &str,
    replicas: i32,
) -> apps::StatefulSet {
    apps::StatefulSet {
        metadata: meta(namespace, name, &[]),
        spec: Some(apps::StatefulSetSpec {
            service_name: Some(service.to_owned()),
            replicas: Some(replicas),
            ..apps::StatefulSetSpec::default()
        }),
        ..apps::StatefulSet::default()
    }
}
