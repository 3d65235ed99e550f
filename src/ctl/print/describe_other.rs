//! `describe service`, `endpointslice`, `persistentvolumeclaim` and
//! `persistentvolume` in kubectl's layout (`describeService`,
//! `describeEndpointSlice`, `describePersistentVolumeClaim`,
//! `describePersistentVolume`).

use k8s_openapi::api::core::v1::{Event, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;

use super::access_modes_string;
use super::describe::finish;
use super::template::{labels_multiline, line};

/// `[a b]`, as Go prints a string slice.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// `formatEndpointSlices`: ready `IP:PORT`s of the port named `port`, the
/// first three, then `+ N more...`; `<none>` without slices.
fn endpoints(slices: &[EndpointSlice], port: Option<&str>) -> String {
    if slices.is_empty() {
        return "<none>".into();
    }
    let mut list = Vec::new();
    let mut count = 0;
    for slice in slices {
        let ready: Vec<&String> = slice
            .endpoints
            .iter()
            .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
            .filter_map(|e| e.addresses.first())
            .collect();
        let ports = slice.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            for addr in ready {
                if list.len() < 3 {
                    list.push(addr.clone());
                }
                count += 1;
            }
            continue;
        }
        for p in ports {
            if port.is_some_and(|want| p.name.as_deref().unwrap_or("") != want) {
                continue;
            }
            for addr in &ready {
                if list.len() < 3 {
                    let number = p.port.unwrap_or(0);
                    list.push(if addr.contains(':') {
                        format!("[{addr}]:{number}")
                    } else {
                        format!("{addr}:{number}")
                    });
                }
                count += 1;
            }
        }
    }
    let joined = list.join(",");
    if count > 3 {
        format!("{joined} + {} more...", count - 3)
    } else {
        joined
    }
}

/// `describeService`, with the API server's defaults for unset fields.
pub fn service(svc: &Service, slices: &[EndpointSlice], evs: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let meta = &svc.metadata;
    let spec = svc.spec.clone().unwrap_or_default();
    out.push_str(&format!("Name:\t{}\n", meta.name.as_deref().unwrap_or("")));
    out.push_str(&format!(
        "Namespace:\t{}\n",
        meta.namespace.as_deref().unwrap_or("")
    ));
    labels_multiline(&mut out, "", "Labels", meta.labels.as_ref());
    labels_multiline(&mut out, "", "Annotations", meta.annotations.as_ref());
    let selector = spec
        .selector
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".into());
    out.push_str(&format!("Selector:\t{selector}\n"));
    let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    out.push_str(&format!("Type:\t{kind}\n"));
    if kind != "ExternalName" {
        out.push_str(&format!(
            "IP Family Policy:\t{}\n",
            spec.ip_family_policy.as_deref().unwrap_or("SingleStack")
        ));
        let families = spec
            .ip_families
            .clone()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| vec!["IPv4".into()]);
        out.push_str(&format!("IP Families:\t{}\n", families.join(",")));
    } else {
        out.push_str("IP Families:\t<none>\n");
    }
    let cluster_ip = spec.cluster_ip.clone().unwrap_or_default();
    out.push_str(&format!("IP:\t{cluster_ip}\n"));
    let ips = spec
        .cluster_ips
        .clone()
        .filter(|ips| !ips.is_empty())
        .or_else(|| (!cluster_ip.is_empty()).then(|| vec![cluster_ip.clone()]));
    out.push_str(&format!(
        "IPs:\t{}\n",
        ips.map_or_else(|| "<none>".into(), |ips| ips.join(","))
    ));
    if let Some(name) = spec
        .external_name
        .as_deref()
        .filter(|_| kind == "ExternalName")
    {
        out.push_str(&format!("External Name:\t{name}\n"));
    }
    let ports = spec.ports.clone().unwrap_or_default();
    for p in &ports {
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        let name = p
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or("<unset>");
        out.push_str(&format!("Port:\t{name}\t{}/{protocol}\n", p.port));
        let target = match &p.target_port {
            Some(IntOrString::Int(n)) => n.to_string(),
            Some(IntOrString::String(s)) => s.clone(),
            None => p.port.to_string(),
        };
        out.push_str(&format!("TargetPort:\t{target}/{protocol}\n"));
        if let Some(node_port) = p.node_port.filter(|n| *n != 0) {
            out.push_str(&format!("NodePort:\t{name}\t{node_port}/{protocol}\n"));
        }
        out.push_str(&format!(
            "Endpoints:\t{}\n",
            endpoints(slices, Some(p.name.as_deref().unwrap_or("")))
        ));
    }
    if ports.is_empty() {
        out.push_str(&format!("Endpoints:\t{}\n", endpoints(slices, None)));
    }
    out.push_str(&format!(
        "Session Affinity:\t{}\n",
        spec.session_affinity.as_deref().unwrap_or("None")
    ));
    if let Some(policy) = &spec.external_traffic_policy {
        out.push_str(&format!("External Traffic Policy:\t{policy}\n"));
    }
    if kind != "ExternalName" {
        out.push_str(&format!(
            "Internal Traffic Policy:\t{}\n",
            spec.internal_traffic_policy.as_deref().unwrap_or("Cluster")
        ));
    }
    finish(&out, evs, now)
}

/// `describeEndpointSlice`.
pub fn endpoint_slice(slice: &EndpointSlice, evs: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let meta = &slice.metadata;
    out.push_str(&format!("Name:\t{}\n", meta.name.as_deref().unwrap_or("")));
    out.push_str(&format!(
        "Namespace:\t{}\n",
        meta.namespace.as_deref().unwrap_or("")
    ));
    labels_multiline(&mut out, "", "Labels", meta.labels.as_ref());
    labels_multiline(&mut out, "", "Annotations", meta.annotations.as_ref());
    out.push_str(&format!("AddressType:\t{}\n", slice.address_type));
    let ports = slice.ports.clone().unwrap_or_default();
    if ports.is_empty() {
        out.push_str("Ports: <unset>\n");
    } else {
        out.push_str("Ports:\n");
        line(&mut out, 1, "Name\tPort\tProtocol\n");
        line(&mut out, 1, "----\t----\t--------\n");
        for p in &ports {
            let name = p
                .name
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or("<unset>");
            let port = p.port.map_or_else(|| "<unset>".into(), |n| n.to_string());
            line(
                &mut out,
                1,
                &format!(
                    "{name}\t{port}\t{}\n",
                    p.protocol.as_deref().unwrap_or("TCP")
                ),
            );
        }
    }
    if slice.endpoints.is_empty() {
        out.push_str("Endpoints: <none>\n");
    } else {
        out.push_str("Endpoints:\n");
        for e in &slice.endpoints {
            let addresses = if e.addresses.is_empty() {
                "<unset>".into()
            } else {
                e.addresses.join(",")
            };
            line(&mut out, 1, &format!("- Addresses:\t{addresses}\n"));
            line(&mut out, 2, "Conditions:\n");
            let ready = e
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .map_or_else(|| "<unset>".into(), |r| r.to_string());
            line(&mut out, 3, &format!("Ready:\t{ready}\n"));
            line(
                &mut out,
                2,
                &format!(
                    "Hostname:\t{}\n",
                    e.hostname.as_deref().unwrap_or("<unset>")
                ),
            );
            if let Some(target) = &e.target_ref {
                line(
                    &mut out,
                    2,
                    &format!(
                        "TargetRef:\t{}/{}\n",
                        target.kind.as_deref().unwrap_or(""),
                        target.name.as_deref().unwrap_or("")
                    ),
                );
            }
            let node = e
                .node_name
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or("<unset>");
            line(&mut out, 2, &format!("NodeName:\t{node}\n"));
            line(
                &mut out,
                2,
                &format!("Zone:\t{}\n", e.zone.as_deref().unwrap_or("<unset>")),
            );
        }
    }
    finish(&out, evs, now)
}

/// `describePersistentVolumeClaim`; `pods` are those that mount it.
pub fn claim(pvc: &PersistentVolumeClaim, pods: &[Pod], evs: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let meta = &pvc.metadata;
    let spec = pvc.spec.clone().unwrap_or_default();
    let status = pvc.status.clone().unwrap_or_default();
    out.push_str(&format!("Name:\t{}\n", meta.name.as_deref().unwrap_or("")));
    out.push_str(&format!(
        "Namespace:\t{}\n",
        meta.namespace.as_deref().unwrap_or("")
    ));
    out.push_str(&format!(
        "StorageClass:\t{}\n",
        spec.storage_class_name.as_deref().unwrap_or("")
    ));
    match &meta.deletion_timestamp {
        Some(at) => out.push_str(&format!(
            "Status:\tTerminating (lasts {})\n",
            super::since(Some(at.0), now)
        )),
        None => out.push_str(&format!(
            "Status:\t{}\n",
            status.phase.as_deref().unwrap_or("")
        )),
    }
    let volume = spec.volume_name.clone().unwrap_or_default();
    out.push_str(&format!("Volume:\t{volume}\n"));
    labels_multiline(&mut out, "", "Labels", meta.labels.as_ref());
    labels_multiline(&mut out, "", "Annotations", meta.annotations.as_ref());
    out.push_str(&format!(
        "Finalizers:\t{}\n",
        go_list(meta.finalizers.as_deref().unwrap_or_default())
    ));
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            status
                .capacity
                .as_ref()
                .and_then(|c| c.get("storage"))
                .map(|q| q.0.clone())
                .unwrap_or_default(),
            access_modes_string(status.access_modes.as_deref().unwrap_or_default()),
        )
    };
    out.push_str(&format!("Capacity:\t{capacity}\n"));
    out.push_str(&format!("Access Modes:\t{modes}\n"));
    if let Some(mode) = &spec.volume_mode {
        out.push_str(&format!("VolumeMode:\t{mode}\n"));
    }
    out.push_str("Used By:\t");
    if pods.is_empty() {
        out.push_str("<none>\n");
    }
    for (i, p) in pods.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        out.push_str(&format!("{}\n", p.metadata.name.as_deref().unwrap_or("")));
    }
    finish(&out, evs, now)
}

/// `describePersistentVolume`.
pub fn volume(pv: &PersistentVolume, evs: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let meta = &pv.metadata;
    let spec = pv.spec.clone().unwrap_or_default();
    let status = pv.status.clone().unwrap_or_default();
    out.push_str(&format!("Name:\t{}\n", meta.name.as_deref().unwrap_or("")));
    labels_multiline(&mut out, "", "Labels", meta.labels.as_ref());
    labels_multiline(&mut out, "", "Annotations", meta.annotations.as_ref());
    out.push_str(&format!(
        "Finalizers:\t{}\n",
        go_list(meta.finalizers.as_deref().unwrap_or_default())
    ));
    out.push_str(&format!(
        "StorageClass:\t{}\n",
        spec.storage_class_name.as_deref().unwrap_or("")
    ));
    match &meta.deletion_timestamp {
        Some(at) => out.push_str(&format!(
            "Status:\tTerminating (lasts {})\n",
            super::since(Some(at.0), now)
        )),
        None => out.push_str(&format!(
            "Status:\t{}\n",
            status.phase.as_deref().unwrap_or("")
        )),
    }
    let claim = spec
        .claim_ref
        .as_ref()
        .map(|c| {
            format!(
                "{}/{}",
                c.namespace.as_deref().unwrap_or(""),
                c.name.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    out.push_str(&format!("Claim:\t{claim}\n"));
    out.push_str(&format!(
        "Reclaim Policy:\t{}\n",
        spec.persistent_volume_reclaim_policy
            .as_deref()
            .unwrap_or("")
    ));
    out.push_str(&format!(
        "Access Modes:\t{}\n",
        access_modes_string(spec.access_modes.as_deref().unwrap_or_default())
    ));
    if let Some(mode) = &spec.volume_mode {
        out.push_str(&format!("VolumeMode:\t{mode}\n"));
    }
    out.push_str(&format!(
        "Capacity:\t{}\n",
        spec.capacity
            .as_ref()
            .and_then(|c| c.get("storage"))
            .map_or("0", |q| q.0.as_str())
    ));
    out.push_str("Node Affinity:\t<none>\n");
    out.push_str(&format!(
        "Message:\t{}\n",
        status.message.as_deref().unwrap_or("")
    ));
    out.push_str("Source:\n");
    if let Some(host) = &spec.host_path {
        line(
            &mut out,
            2,
            &format!(
                "Type:\tHostPath (bare host directory volume)\n    Path:\t{}\n    HostPathType:\t{}\n",
                host.path,
                host.type_.as_deref().unwrap_or("<none>")
            ),
        );
    } else {
        line(&mut out, 2, "Type:\t<unknown>\n");
    }
    finish(&out, evs, now)
}
