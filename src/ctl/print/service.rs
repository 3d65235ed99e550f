//! The tables of Services (`printService`: type, cluster and external
//! IPs, ports) and EndpointSlices (`printEndpointSlice`).

use super::*;

impl Printable for Service {
    fn columns(wide: bool) -> &'static [&'static str] {
        if wide {
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
                "SELECTOR",
            ]
        } else {
            &[
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE",
            ]
        }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        let spec = self.spec.clone().unwrap_or_default();
        // The API server defaults the type to ClusterIP and fills clusterIPs
        // from clusterIP.
        let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
        let cluster_ip = spec
            .cluster_ips
            .as_ref()
            .and_then(|ips| ips.first().cloned())
            .or_else(|| spec.cluster_ip.clone());
        let external_ips = spec.external_ips.clone().unwrap_or_default();
        let external = match kind.as_str() {
            "ClusterIP" | "NodePort" if !external_ips.is_empty() => external_ips.join(","),
            "ClusterIP" | "NodePort" => "<none>".into(),
            "LoadBalancer" => {
                let lb = load_balancer_addresses(self, wide);
                let mut all: Vec<String> = lb
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect();
                all.extend(external_ips);
                if all.is_empty() {
                    "<pending>".into()
                } else {
                    all.join(",")
                }
            }
            "ExternalName" => spec.external_name.clone().unwrap_or_default(),
            _ => "<unknown>".into(),
        };
        let ports = spec
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let protocol = p.protocol.as_deref().unwrap_or("TCP");
                match p.node_port {
                    Some(node_port) if node_port > 0 => {
                        format!("{}:{node_port}/{protocol}", p.port)
                    }
                    _ => format!("{}/{protocol}", p.port),
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        let mut cells = vec![
            name_of(&self.metadata),
            kind,
            or_none(cluster_ip.as_deref()),
            external,
            or_none(Some(&ports)),
            age(&self.metadata, now),
        ];
        if wide {
            cells.push(format_labels(spec.selector.as_ref()));
        }
        cells
    }
}

/// `loadBalancerStatusStringer`: ingress IPs (or hostnames), sorted and
/// deduplicated, clipped to 16 characters unless wide.
fn load_balancer_addresses(service: &Service, wide: bool) -> String {
    let mut set = std::collections::BTreeSet::new();
    for ingress in service
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default()
    {
        if let Some(ip) = ingress.ip.as_deref().filter(|s| !s.is_empty()) {
            set.insert(ip.to_string());
        } else if let Some(host) = ingress.hostname.as_deref().filter(|s| !s.is_empty()) {
            set.insert(host.to_string());
        }
    }
    let joined = set.into_iter().collect::<Vec<_>>().join(",");
    if !wide && joined.len() > 16 {
        format!("{}...", &joined[..13])
    } else {
        joined
    }
}

impl Printable for EndpointSlice {
    fn columns(_wide: bool) -> &'static [&'static str] {
        &["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    }

    fn cells(&self, _wide: bool, now: Timestamp) -> Vec<String> {
        const MAX: usize = 3;
        let all_ports = self.ports.as_deref().unwrap_or_default();
        let ports: Vec<String> = all_ports
            .iter()
            .take(MAX)
            .map(|p| match (p.port, &p.name) {
                (Some(port), _) => port.to_string(),
                (None, Some(name)) => name.clone(),
                (None, None) => "*".into(),
            })
            .collect();
        let addresses: Vec<&String> = self.endpoints.iter().flat_map(|e| &e.addresses).collect();
        let shown: Vec<String> = addresses.iter().take(MAX).map(|a| a.to_string()).collect();
        vec![
            name_of(&self.metadata),
            self.address_type.clone(),
            list_with_more(&ports, all_ports.len(), MAX),
            list_with_more(&shown, addresses.len(), MAX),
            age(&self.metadata, now),
        ]
    }
}
