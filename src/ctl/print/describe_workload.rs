//! `describe statefulset` and `describe pod` in kubectl's layout
//! (`describeStatefulSet`, `describePod`): objects, the set's pods and the
//! object's events in, tab-aligned text out.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Event, Pod};
use k8s_openapi::jiff::Timestamp;

use super::describe::{finish, rfc1123};
use super::template::{containers, labels_multiline, line, pod_template, tolerations, volumes};

/// `describeStatefulSet`; `pods` are the set's pods (for Pods Status).
pub fn statefulset(sts: &StatefulSet, pods: &[Pod], evs: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let meta = &sts.metadata;
    let spec = sts.spec.clone().unwrap_or_default();
    let status = sts.status.clone().unwrap_or_default();
    out.push_str(&format!("Name:\t{}\n", meta.name.as_deref().unwrap_or("")));
    out.push_str(&format!(
        "Namespace:\t{}\n",
        meta.namespace.as_deref().unwrap_or("")
    ));
    out.push_str(&format!(
        "CreationTimestamp:\t{}\n",
        meta.creation_timestamp
            .as_ref()
            .map(|t| rfc1123(t.0))
            .unwrap_or_default()
    ));
    let selector = spec
        .selector
        .match_labels
        .as_ref()
        .map(|l| {
            l.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    out.push_str(&format!("Selector:\t{selector}\n"));
    labels_multiline(&mut out, "", "Labels", meta.labels.as_ref());
    labels_multiline(&mut out, "", "Annotations", meta.annotations.as_ref());
    out.push_str(&format!(
        "Replicas:\t{} desired | {} total\n",
        spec.replicas.unwrap_or(1),
        status.replicas
    ));
    // The API server's defaults: RollingUpdate with partition 0.
    let strategy = spec.update_strategy.clone().unwrap_or_default();
    let kind = strategy
        .type_
        .clone()
        .unwrap_or_else(|| "RollingUpdate".into());
    out.push_str(&format!("Update Strategy:\t{kind}\n"));
    if kind == "RollingUpdate" {
        let rolling = strategy.rolling_update.clone().unwrap_or_default();
        line(
            &mut out,
            1,
            &format!("Partition:\t{}\n", rolling.partition.unwrap_or(0)),
        );
        if let Some(max) = &rolling.max_unavailable {
            let max = match max {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n) => n.to_string(),
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
            };
            line(&mut out, 1, &format!("MaxUnavailable:\t{max}\n"));
        }
    }
    let phase = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    };
    let count = |want: &str| pods.iter().filter(|p| phase(p) == want).count();
    out.push_str(&format!(
        "Pods Status:\t{} Running / {} Waiting / {} Succeeded / {} Failed\n",
        count("Running"),
        count("Pending"),
        count("Succeeded"),
        count("Failed")
    ));
    pod_template(&mut out, &spec.template);
    let templates = spec.volume_claim_templates.unwrap_or_default();
    if templates.is_empty() {
        out.push_str("Volume Claims:\t<none>\n");
    } else {
        out.push_str("Volume Claims:\n");
        for pvc in &templates {
            let pvc_spec = pvc.spec.clone().unwrap_or_default();
            line(
                &mut out,
                1,
                &format!("Name:\t{}\n", pvc.metadata.name.as_deref().unwrap_or("")),
            );
            let class = pvc
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
                .or(pvc_spec.storage_class_name.clone())
                .unwrap_or_default();
            line(&mut out, 1, &format!("StorageClass:\t{class}\n"));
            labels_multiline(&mut out, "  ", "Labels", pvc.metadata.labels.as_ref());
            labels_multiline(
                &mut out,
                "  ",
                "Annotations",
                pvc.metadata.annotations.as_ref(),
            );
            let capacity = pvc_spec
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get("storage"))
                .map_or_else(|| "<default>".to_string(), |q| q.0.clone());
            line(&mut out, 1, &format!("Capacity:\t{capacity}\n"));
            line(
                &mut out,
                1,
                &format!(
                    "Access Modes:\t[{}]\n",
                    pvc_spec.access_modes.unwrap_or_default().join(" ")
                ),
            );
        }
    }
    finish(&out, evs, now)
}

/// `describePod`.
pub fn pod(pod: &Pod, evs: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    out.push_str(&format!("Name:\t{}\n", meta.name.as_deref().unwrap_or("")));
    out.push_str(&format!(
        "Namespace:\t{}\n",
        meta.namespace.as_deref().unwrap_or("")
    ));
    out.push_str(&format!("Priority:\t{}\n", spec.priority.unwrap_or(0)));
    out.push_str(&format!(
        "Service Account:\t{}\n",
        spec.service_account_name.as_deref().unwrap_or("default")
    ));
    match spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        Some(node) => out.push_str(&format!(
            "Node:\t{node}/{}\n",
            status.host_ip.as_deref().unwrap_or("")
        )),
        None => out.push_str("Node:\t<none>\n"),
    }
    if let Some(start) = &status.start_time {
        out.push_str(&format!("Start Time:\t{}\n", rfc1123(start.0)));
    }
    labels_multiline(&mut out, "", "Labels", meta.labels.as_ref());
    labels_multiline(&mut out, "", "Annotations", meta.annotations.as_ref());
    let phase = status.phase.clone().unwrap_or_default();
    match &meta.deletion_timestamp {
        Some(at) if phase != "Failed" && phase != "Succeeded" => {
            out.push_str(&format!(
                "Status:\tTerminating (lasts {})\n",
                super::since(Some(at.0), now)
            ));
            out.push_str(&format!(
                "Termination Grace Period:\t{}s\n",
                meta.deletion_grace_period_seconds
                    .or(spec.termination_grace_period_seconds)
                    .unwrap_or(30)
            ));
        }
        _ => out.push_str(&format!("Status:\t{phase}\n")),
    }
    if let Some(reason) = status.reason.as_deref().filter(|r| !r.is_empty()) {
        out.push_str(&format!("Reason:\t{reason}\n"));
    }
    if let Some(message) = status.message.as_deref().filter(|m| !m.is_empty()) {
        out.push_str(&format!("Message:\t{message}\n"));
    }
    out.push_str(&format!(
        "IP:\t{}\n",
        status.pod_ip.as_deref().unwrap_or("")
    ));
    match status.pod_ips.as_deref().filter(|ips| !ips.is_empty()) {
        None => out.push_str("IPs:\t<none>\n"),
        Some(ips) => {
            out.push_str("IPs:\n");
            for ip in ips {
                line(&mut out, 1, &format!("IP:\t{}\n", ip.ip));
            }
        }
    }
    if let Some(owner) = meta
        .owner_references
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|o| o.controller == Some(true))
    {
        out.push_str(&format!("Controlled By:\t{}/{}\n", owner.kind, owner.name));
    }
    if let Some(init) = spec.init_containers.as_deref().filter(|c| !c.is_empty()) {
        containers(
            &mut out,
            "Init Containers",
            init,
            status
                .init_container_statuses
                .as_deref()
                .unwrap_or_default(),
            "",
        );
    }
    containers(
        &mut out,
        "Containers",
        &spec.containers,
        status.container_statuses.as_deref().unwrap_or_default(),
        "",
    );
    if let Some(conditions) = status.conditions.as_deref().filter(|c| !c.is_empty()) {
        out.push_str("Conditions:\n  Type\tStatus\n");
        for c in conditions {
            line(&mut out, 1, &format!("{} \t{} \n", c.type_, c.status));
        }
    }
    volumes(&mut out, spec.volumes.as_deref().unwrap_or_default(), "");
    out.push_str(&format!(
        "QoS Class:\t{}\n",
        status.qos_class.as_deref().unwrap_or("BestEffort")
    ));
    labels_multiline(&mut out, "", "Node-Selectors", spec.node_selector.as_ref());
    tolerations(
        &mut out,
        "",
        "Tolerations",
        spec.tolerations.as_deref().unwrap_or_default(),
    );
    finish(&out, evs, now)
}
