//! The EndpointSlice controller: slices for each Service from the pods
//! its selector matches (ready, serving, terminating, hostname and
//! subdomain, ports by name), and the DNS view of the whole cluster.

use super::*;

/// The slice ports of a service for one pod: service ports resolved to the
/// pod's container ports (`targetPort` by number or by name).
pub(super) fn service_ports(
    spec: &core::ServiceSpec,
    pod: &core::Pod,
) -> Vec<discovery::EndpointPort> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let container_ports: Vec<&core::ContainerPort> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .collect();
    spec.ports
        .iter()
        .flatten()
        .filter_map(|p| {
            let port = match &p.target_port {
                None => p.port,
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(name)) => container_ports
                    .iter()
                    .find(|c| c.name.as_deref() == Some(name.as_str()))
                    .map(|c| c.container_port)?,
            };
            Some(discovery::EndpointPort {
                name: p.name.clone(),
                port: Some(port),
                protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".to_owned())),
                app_protocol: p.app_protocol.clone(),
            })
        })
        .collect()
}
impl Cluster {
    /// Recomputes the slices of every service with a selector, as the
    /// EndpointSlice controller does: one slice per address family (more
    /// past 100 endpoints), ready/serving/terminating conditions, hostname
    /// when the pod's subdomain is the service.
    pub(super) fn generate_slices(&mut self) {
        let mut generated = BTreeMap::new();
        for ((namespace, name), svc) in &self.services {
            let Some(spec) = &svc.spec else { continue };
            let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else {
                continue;
            };
            let publish = spec.publish_not_ready_addresses.unwrap_or(false);
            let mut by_family: BTreeMap<&str, Vec<discovery::Endpoint>> = BTreeMap::new();
            let mut ports: BTreeMap<&str, Vec<discovery::EndpointPort>> = BTreeMap::new();
            for sim in self.pods.values() {
                if sim.pod.metadata.namespace.as_deref() != Some(namespace)
                    || !selects(selector, sim.pod.metadata.labels.as_ref())
                    || sim.failed
                {
                    continue;
                }
                let Some(ip) = sim.ip else { continue };
                let family = if ip.is_ipv4() { "IPv4" } else { "IPv6" };
                let pod_spec = sim.pod.spec.as_ref();
                let hostname = pod_spec
                    .filter(|s| s.subdomain.as_deref() == Some(name.as_str()))
                    .and_then(|s| s.hostname.clone());
                let terminating = sim.deleting.is_some();
                let ready = sim.ready();
                by_family
                    .entry(family)
                    .or_default()
                    .push(discovery::Endpoint {
                        addresses: vec![ip.to_string()],
                        conditions: Some(discovery::EndpointConditions {
                            ready: Some(publish || (ready && !terminating)),
                            serving: Some(ready || (publish && !terminating)),
                            terminating: Some(terminating),
                        }),
                        hostname,
                        node_name: Some(NODE.to_owned()),
                        target_ref: Some(core::ObjectReference {
                            kind: Some("Pod".to_owned()),
                            namespace: Some(namespace.clone()),
                            name: sim.pod.metadata.name.clone(),
                            uid: sim.pod.metadata.uid.clone(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    });
                ports
                    .entry(family)
                    .or_insert_with(|| service_ports(spec, &sim.pod));
            }
            for (family, mut endpoints) in by_family {
                endpoints.sort_by(|a, b| {
                    a.target_ref
                        .as_ref()
                        .and_then(|t| t.name.clone())
                        .cmp(&b.target_ref.as_ref().and_then(|t| t.name.clone()))
                });
                for (chunk, part) in endpoints.chunks(MAX_ENDPOINTS_PER_SLICE).enumerate() {
                    let slice_name = format!(
                        "{name}-{}",
                        suffix(&format!("{namespace}/{name}/{family}/{chunk}"), 5)
                    );
                    let mut labels = BTreeMap::new();
                    labels.insert("kubernetes.io/service-name".to_owned(), name.clone());
                    labels.insert(
                        "endpointslice.kubernetes.io/managed-by".to_owned(),
                        "endpointslice-controller.k8s.io".to_owned(),
                    );
                    if spec.cluster_ip.as_deref() == Some("None") {
                        labels.insert("service.kubernetes.io/headless".to_owned(), String::new());
                    }
                    let slice = discovery::EndpointSlice {
                        metadata: ObjectMeta {
                            name: Some(slice_name.clone()),
                            namespace: Some(namespace.clone()),
                            labels: Some(labels),
                            generate_name: Some(format!("{name}-")),
                            owner_references: Some(vec![OwnerReference {
                                api_version: "v1".to_owned(),
                                kind: "Service".to_owned(),
                                name: name.clone(),
                                uid: svc.metadata.uid.clone().unwrap_or_default(),
                                controller: Some(true),
                                block_owner_deletion: Some(true),
                            }]),
                            creation_timestamp: self
                                .generated
                                .get(&(namespace.clone(), slice_name.clone()))
                                .and_then(|s| s.metadata.creation_timestamp.clone())
                                .or_else(|| Some(now_time())),
                            ..ObjectMeta::default()
                        },
                        address_type: family.to_owned(),
                        endpoints: part.to_vec(),
                        ports: ports.get(family).cloned(),
                    };
                    generated.insert((namespace.clone(), slice_name), slice);
                }
            }
        }
        self.generated = generated;
    }

    /// The DNS view of the cluster.
    pub(super) fn dns_state(&self) -> ClusterState {
        let mut state = StateBuilder::default();
        self.services.values().for_each(|svc| state.service(svc));
        self.static_slices
            .values()
            .filter_map(Compact::get)
            .for_each(|slice| state.slice(&slice));
        self.generated.values().for_each(|slice| state.slice(slice));
        self.static_endpoints
            .values()
            .filter_map(Compact::get)
            .for_each(|ep| state.endpoints(&ep));
        self.sets.values().for_each(|e| state.set(&e.sts));
        state.finish()
    }
}
