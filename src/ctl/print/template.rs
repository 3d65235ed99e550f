//! kubectl's describe blocks for a pod template (`DescribePodTemplate`),
//! its containers (`describeContainers`) and volumes (`describeVolumes`),
//! written as kubectl's `PrefixWriter` does: two spaces per level, fields
//! separated from values by tabs (a caller lines them up with
//! [`super::describe::tabbed`], or leaves the tabs, as `rollout history
//! --revision` does).

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, PodTemplateSpec, Toleration, Volume};

/// `PrefixWriter.Write`: `level` times two spaces, then the text.
pub fn line(out: &mut String, level: usize, text: &str) {
    out.push_str(&"  ".repeat(level));
    out.push_str(text);
}

/// `printLabelsMultilineWithIndent`: `TITLE:\tk=v`, further pairs on their
/// own lines under it, `<none>` when empty.
pub fn labels_multiline(
    out: &mut String,
    indent: &str,
    title: &str,
    labels: Option<&BTreeMap<String, String>>,
) {
    let _ = write!(out, "{indent}{title}:\t");
    match labels {
        Some(labels) if !labels.is_empty() => {
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    let _ = write!(out, "{indent}\t");
                }
                let _ = writeln!(out, "{k}={v}");
            }
        }
        _ => out.push_str("<none>\n"),
    }
}

/// `DescribePodTemplate`.
pub fn pod_template(out: &mut String, template: &PodTemplateSpec) {
    out.push_str("Pod Template:\n");
    let meta = template.metadata.clone().unwrap_or_default();
    let spec = template.spec.clone().unwrap_or_default();
    labels_multiline(out, "", "  Labels", meta.labels.as_ref());
    if meta.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        labels_multiline(out, "", "  Annotations", meta.annotations.as_ref());
    }
    if let Some(account) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        line(out, 1, &format!("Service Account:\t{account}\n"));
    }
    if let Some(init) = spec.init_containers.as_deref().filter(|c| !c.is_empty()) {
        containers(out, "Init Containers", init, &[], "  ");
    }
    containers(out, "Containers", &spec.containers, &[], "  ");
    volumes(out, spec.volumes.as_deref().unwrap_or_default(), "  ");
    if let Some(class) = spec
        .priority_class_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        line(out, 1, &format!("Priority Class Name:\t{class}\n"));
    }
    labels_multiline(out, "", "  Node-Selectors", spec.node_selector.as_ref());
    tolerations(
        out,
        "",
        "  Tolerations",
        spec.tolerations.as_deref().unwrap_or_default(),
    );
}

/// `printPodTolerationsMultiline`: `key=value:effect op=Exists for Ns`.
pub fn tolerations(out: &mut String, indent: &str, title: &str, tolerations: &[Toleration]) {
    let _ = write!(out, "{indent}{title}:\t");
    if tolerations.is_empty() {
        out.push_str("<none>\n");
        return;
    }
    for (i, t) in tolerations.iter().enumerate() {
        if i > 0 {
            let _ = write!(out, "{indent}\t");
        }
        let key = t.key.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        out.push_str(key);
        if !value.is_empty() {
            let _ = write!(out, "={value}");
        }
        if !effect.is_empty() {
            let _ = write!(out, ":{effect}");
        }
        if t.operator.as_deref() == Some("Exists") && value.is_empty() {
            out.push_str(if key.is_empty() && effect.is_empty() {
                "op=Exists"
            } else {
                " op=Exists"
            });
        }
        if let Some(seconds) = t.toleration_seconds {
            let _ = write!(out, " for {seconds}s");
        }
        out.push('\n');
    }
}

/// `describeContainers`: name, image, ports, command, state (with a
/// status), environment and mounts of each.
pub fn containers(
    out: &mut String,
    label: &str,
    containers: &[Container],
    statuses: &[ContainerStatus],
    space: &str,
) {
    let none = if containers.is_empty() { " <none>" } else { "" };
    let _ = writeln!(out, "{space}{label}:{none}");
    let name_indent = if space.is_empty() { "" } else { " " };
    for c in containers {
        let status = statuses.iter().find(|s| s.name == c.name);
        line(out, 1, &format!("{name_indent}{}:\n", c.name));
        if let Some(s) = status {
            line(
                out,
                2,
                &format!(
                    "Container ID:\t{}\n",
                    s.container_id.as_deref().unwrap_or("")
                ),
            );
        }
        line(
            out,
            2,
            &format!("Image:\t{}\n", c.image.as_deref().unwrap_or("")),
        );
        if let Some(s) = status {
            line(out, 2, &format!("Image ID:\t{}\n", s.image_id));
        }
        let ports = c.ports.as_deref().unwrap_or_default();
        let port = |p: i32, proto: Option<&str>| format!("{p}/{}", proto.unwrap_or("TCP"));
        let container_ports: Vec<String> = ports
            .iter()
            .map(|p| port(p.container_port, p.protocol.as_deref()))
            .collect();
        let host_ports: Vec<String> = ports
            .iter()
            .map(|p| port(p.host_port.unwrap_or(0), p.protocol.as_deref()))
            .collect();
        for (one, many, list) in [
            ("Port", "Ports", container_ports),
            ("Host Port", "Host Ports", host_ports),
        ] {
            let text = list.join(", ");
            if list.len() > 1 {
                line(out, 2, &format!("{many}:\t{text}\n"));
            } else if text.is_empty() {
                line(out, 2, &format!("{one}:\t<none>\n"));
            } else {
                line(out, 2, &format!("{one}:\t{text}\n"));
            }
        }
        for (title, words) in [("Command", &c.command), ("Args", &c.args)] {
            if let Some(words) = words.as_deref().filter(|w| !w.is_empty()) {
                line(out, 2, &format!("{title}:\n"));
                for word in words {
                    line(out, 3, &format!("{word}\n"));
                }
            }
        }
        if let Some(s) = status {
            state(out, s);
        }
        match c.env.as_deref().filter(|e| !e.is_empty()) {
            None => line(out, 2, "Environment:\t<none>\n"),
            Some(env) => {
                line(out, 2, "Environment:\n");
                for e in env {
                    let value = e.value.as_deref().unwrap_or("");
                    line(out, 3, &format!("{}:\t{value}\n", e.name));
                }
            }
        }
        let mut mounts = c.volume_mounts.clone().unwrap_or_default();
        mounts.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
        if mounts.is_empty() {
            line(out, 2, "Mounts:\t<none>\n");
        } else {
            line(out, 2, "Mounts:\n");
        }
        for m in &mounts {
            let mut flags = vec![
                if m.read_only == Some(true) {
                    "ro"
                } else {
                    "rw"
                }
                .to_string(),
            ];
            if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                flags.push(format!("path={sub:?}"));
            }
            line(
                out,
                3,
                &format!("{} from {} ({})\n", m.mount_path, m.name, flags.join(",")),
            );
        }
    }
}

/// `describeContainerState`: State, Ready, Restart Count.
fn state(out: &mut String, status: &ContainerStatus) {
    let s = status.state.clone().unwrap_or_default();
    if let Some(running) = &s.running {
        line(out, 2, "State:\tRunning\n");
        if let Some(at) = &running.started_at {
            line(
                out,
                3,
                &format!("Started:\t{}\n", super::describe::rfc1123(at.0)),
            );
        }
    } else if let Some(waiting) = &s.waiting {
        line(out, 2, "State:\tWaiting\n");
        if let Some(reason) = &waiting.reason {
            line(out, 3, &format!("Reason:\t{reason}\n"));
        }
    } else if let Some(t) = &s.terminated {
        line(out, 2, "State:\tTerminated\n");
        if let Some(reason) = &t.reason {
            line(out, 3, &format!("Reason:\t{reason}\n"));
        }
        line(out, 3, &format!("Exit Code:\t{}\n", t.exit_code));
    } else {
        line(out, 2, "State:\tWaiting\n");
    }
    line(
        out,
        2,
        &format!("Ready:\t{}\n", if status.ready { "True" } else { "False" }),
    );
    line(
        out,
        2,
        &format!("Restart Count:\t{}\n", status.restart_count),
    );
}

/// `describeVolumes`, for the volume kinds simulated pods have.
pub fn volumes(out: &mut String, volumes: &[Volume], space: &str) {
    if volumes.is_empty() {
        let _ = writeln!(out, "{space}Volumes:\t<none>");
        return;
    }
    let _ = writeln!(out, "{space}Volumes:");
    let name_indent = if space.is_empty() { "" } else { " " };
    for v in volumes {
        line(out, 1, &format!("{name_indent}{}:\n", v.name));
        if let Some(claim) = &v.persistent_volume_claim {
            line(
                out,
                2,
                &format!(
                    "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n    ClaimName:\t{}\n    ReadOnly:\t{}\n",
                    claim.claim_name,
                    claim.read_only.unwrap_or(false)
                ),
            );
        } else if let Some(dir) = &v.empty_dir {
            line(
                out,
                2,
                &format!(
                    "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n    Medium:\t{}\n    SizeLimit:\t{}\n",
                    dir.medium.as_deref().unwrap_or(""),
                    dir.size_limit.as_ref().map_or("<unset>", |q| q.0.as_str())
                ),
            );
        } else {
            line(out, 2, "Type:\t<unknown>\n");
        }
    }
}
