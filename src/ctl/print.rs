//! Printing, kept pure: k8s-openapi objects and a fixed "now" in, text out.
//!
//! The tables are ports of the Kubernetes API server's table printers
//! (`pkg/printers/internalversion/printers.go`), which is what `kubectl get`
//! shows; the column layout is kubectl's tabwriter (minimum width 6, padding
//! 3, widths remembered across flushes so `-w` rows stay aligned); ages are
//! apimachinery's `HumanDuration`. `-o json` and `-o yaml` print objects with
//! sorted keys as kubectl does for the unstructured objects it fetches; several
//! objects go in a `v1 List`.

pub mod describe;
pub mod describe_other;
pub mod describe_workload;
mod revision;
mod storage;
pub mod template;

use std::collections::BTreeMap;

use k8s_openapi::Metadata;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{
    Container, Event, Namespace, PersistentVolumeClaim, Pod, Service,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The tabwriter settings kubectl uses (`printers.GetNewTabWriter`).
const MIN_WIDTH: usize = 6;
const PADDING: usize = 3;

/// An object kind `ctl get` can print as a table.
pub trait Printable:
    k8s_openapi::ListableResource
    + Metadata<Ty = ObjectMeta>
    + Serialize
    + DeserializeOwned
    + Clone
    + PartialEq
{
    /// The column headers, upper-cased as kubectl prints them.
    fn columns(wide: bool) -> &'static [&'static str];
    /// The cells of this object's row, one per column.
    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String>;
    /// Reorders a listing before it is printed; only events are reordered.
    fn sort_for_listing(_items: &mut [Self]) {}
}

/// How a table is laid out.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// `-o wide`: the priority-1 columns too.
    pub wide: bool,
    /// `-A`: a NAMESPACE column first.
    pub namespace_column: bool,
}

/// The header row for `T`.
pub fn header<T: Printable>(options: TableOptions) -> Vec<String> {
    let mut cells = Vec::new();
    if options.namespace_column {
        cells.push("NAMESPACE".to_string());
    }
    cells.extend(T::columns(options.wide).iter().map(|c| c.to_string()));
    cells
}

/// One object's row.
pub fn row<T: Printable>(object: &T, options: TableOptions, now: Timestamp) -> Vec<String> {
    let mut cells = Vec::new();
    if options.namespace_column {
        cells.push(object.metadata().namespace.clone().unwrap_or_default());
    }
    cells.extend(object.cells(options.wide, now));
    cells
}

/// A whole table: the header and one row per object.
pub fn table<T: Printable>(objects: &[T], options: TableOptions, now: Timestamp) -> String {
    let mut rows = vec![header::<T>(options)];
    rows.extend(objects.iter().map(|o| row(o, options, now)));
    TableWriter::default().render(&rows)
}

/// kubectl's column layout. Each cell but the last in a row is padded to the
/// widest cell of its column plus 3, at least 6; widths are remembered across
/// calls, as kubectl's writer remembers them across flushes in `-w` mode.
#[derive(Debug, Default, Clone)]
pub struct TableWriter {
    widths: Vec<usize>,
}

impl TableWriter {
    /// Lays out `rows` (each with the same number of cells), one line each.
    pub fn render(&mut self, rows: &[Vec<String>]) -> String {
        for row in rows {
            for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
                if self.widths.len() <= i {
                    self.widths.resize(i + 1, 0);
                }
                let width = (cell.chars().count() + PADDING).max(MIN_WIDTH);
                self.widths[i] = self.widths[i].max(width);
            }
        }
        let mut out = String::new();
        for row in rows {
            for (i, cell) in row.iter().enumerate() {
                out.push_str(cell);
                if i + 1 < row.len() {
                    let pad = self.widths[i] - cell.chars().count();
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// `-o name`: `pod/web-demo-0`, `statefulset.apps/web-demo`.
pub fn name<T: Printable>(object: &T) -> String {
    format!(
        "{}/{}",
        qualified_kind::<T>(),
        object.metadata().name.as_deref().unwrap_or_default()
    )
}

/// The lower-case kind, qualified by its group outside the core group.
pub fn qualified_kind<T: k8s_openapi::Resource>() -> String {
    let kind = T::KIND.to_ascii_lowercase();
    if T::GROUP.is_empty() {
        kind
    } else {
        format!("{kind}.{}", T::GROUP)
    }
}

/// An object as JSON, with its `apiVersion` and `kind`.
pub fn to_value<T: Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The `v1 List` kubectl wraps several objects in.
pub fn list(items: Vec<Value>) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "items": items,
        "kind": "List",
        "metadata": {"resourceVersion": ""},
    })
}

/// `-o json`: four-space indentation, as kubectl prints it.
pub fn json(value: &Value) -> String {
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Serializing a Value into memory cannot fail.
    let _ = value.serialize(&mut serializer);
    let mut text = String::from_utf8(out).unwrap_or_default();
    text.push('\n');
    text
}

/// `-o yaml`: block style, lists at their key's indentation, as kubectl.
pub fn yaml(value: &Value) -> String {
    let options = serde_saphyr::ser_options! {
        prefer_block_scalars: false,
    };
    match serde_saphyr::to_string_with_options(value, options) {
        Ok(text) if text.ends_with('\n') => text,
        Ok(text) => text + "\n",
        Err(error) => format!("# cannot print as YAML: {error}\n"),
    }
}

/// kubectl's message for an empty answer (printed on stderr).
pub fn no_resources(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) => format!("No resources found in {ns} namespace."),
        None => "No resources found".to_string(),
    }
}

/// apimachinery's `HumanDuration`: about two significant figures.
pub fn human_duration(d: SignedDuration) -> String {
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

/// kubectl's `translateTimestampSince`: the age of a timestamp, or
/// `<unknown>` when it is unset.
pub fn since(timestamp: Option<Timestamp>, now: Timestamp) -> String {
    match timestamp {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".into(),
    }
}

fn time(t: Option<&Time>) -> Option<Timestamp> {
    t.map(|t| t.0)
}

fn age(meta: &ObjectMeta, now: Timestamp) -> String {
    since(time(meta.creation_timestamp.as_ref()), now)
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn or_none(text: Option<&str>) -> String {
    match text {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => "<none>".into(),
    }
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty.
fn format_labels(labels: Option<&BTreeMap<String, String>>) -> String {
    match labels {
        Some(labels) if !labels.is_empty() => labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        _ => "<none>".into(),
    }
}

/// `layoutContainerCells`: names and images, comma-separated.
fn container_cells(containers: &[Container]) -> (String, String) {
    let names = containers
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>();
    let images = containers
        .iter()
        .map(|c| c.image.as_deref().unwrap_or_default())
        .collect::<Vec<_>>();
    (names.join(","), images.join(","))
}

/// `listWithMoreString`: the first `max` entries, then `+ N more...`.
fn list_with_more(list: &[String], total: usize, max: usize) -> String {
    let joined = list.join(",");
    if total > max {
        format!("{joined} + {} more...", total - max)
    } else if joined.is_empty() {
        "<unset>".into()
    } else {
        joined
    }
}

impl Printable for Pod {
    fn columns(wide: bool) -> &'static [&'static str] {
        if wide {
            &[
                "NAME",
                "READY",
                "STATUS",
                "RESTARTS",
                "AGE",
                "IP",
                "NODE",
                "NOMINATED NODE",
                "READINESS GATES",
            ]
        } else {
            &["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        pod_cells(self, wide, now)
    }
}

/// The port of `printPod`: READY counts ready running containers (and
/// started sidecars) against the declared ones; STATUS is the phase, refined
/// by init-container progress, container waiting/terminated reasons and
/// deletion.
fn pod_cells(pod: &Pod, wide: bool, now: Timestamp) -> Vec<String> {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let containers = spec.map(|s| s.containers.as_slice()).unwrap_or_default();
    let init_containers = spec
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or_default();
    let container_statuses = status
        .and_then(|s| s.container_statuses.as_deref())
        .unwrap_or_default();
    let init_statuses = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let conditions = status
        .and_then(|s| s.conditions.as_deref())
        .unwrap_or_default();
    let is_sidecar = |name: &str| {
        init_containers
            .iter()
            .any(|c| c.name == name && c.restart_policy.as_deref() == Some("Always"))
    };

    let mut total = containers.len()
        + init_containers
            .iter()
            .filter(|c| c.restart_policy.as_deref() == Some("Always"))
            .count();
    if containers.is_empty() {
        // A pod without a spec still shows what its statuses report.
        total = total.max(container_statuses.len());
    }
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let phase = status.and_then(|s| s.phase.clone()).unwrap_or_default();
    let status_reason = status.and_then(|s| s.reason.clone()).unwrap_or_default();
    let mut reason = if status_reason.is_empty() {
        phase.clone()
    } else {
        status_reason.clone()
    };
    if conditions
        .iter()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"))
    {
        reason = "SchedulingGated".into();
    }

    let mut initializing = false;
    for (i, container) in init_statuses.iter().enumerate() {
        restarts += i64::from(container.restart_count);
        let finished = container
            .last_state
            .as_ref()
            .and_then(|s| s.terminated.as_ref())
            .and_then(|t| time(t.finished_at.as_ref()));
        last_restart = later(last_restart, finished);
        let sidecar = is_sidecar(&container.name);
        if sidecar {
            sidecar_restarts += i64::from(container.restart_count);
            last_sidecar_restart = later(last_sidecar_restart, finished);
        }
        let state = container.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        let waiting_reason = state
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .unwrap_or_default();
        if terminated.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if sidecar && container.started == Some(true) {
            if container.ready {
                ready += 1;
            }
            continue;
        }
        if let Some(t) = terminated {
            reason = match t.reason.as_deref() {
                Some(r) if !r.is_empty() => format!("Init:{r}"),
                _ => match t.signal {
                    Some(signal) if signal != 0 => format!("Init:Signal:{signal}"),
                    _ => format!("Init:ExitCode:{}", t.exit_code),
                },
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{i}/{}", init_containers.len());
        }
        initializing = true;
        break;
    }

    let initialized = conditions
        .iter()
        .any(|c| c.type_ == "Initialized" && c.status == "True");
    if !initializing || initialized {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for container in container_statuses.iter().rev() {
            restarts += i64::from(container.restart_count);
            let finished = container
                .last_state
                .as_ref()
                .and_then(|s| s.terminated.as_ref())
                .and_then(|t| time(t.finished_at.as_ref()));
            last_restart = later(last_restart, finished);
            let state = container.state.as_ref();
            let waiting_reason = state
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref())
                .unwrap_or_default();
            let terminated = state.and_then(|s| s.terminated.as_ref());
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = match t.reason.as_deref() {
                    Some(r) if !r.is_empty() => r.to_string(),
                    _ => match t.signal {
                        Some(signal) if signal != 0 => format!("Signal:{signal}"),
                        _ => format!("ExitCode:{}", t.exit_code),
                    },
                };
            } else if container.ready && state.is_some_and(|s| s.running.is_some()) {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready = conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            reason = if pod_ready { "Running" } else { "NotReady" }.into();
        }
    }

    let deleting = pod.metadata.deletion_timestamp.is_some();
    if deleting && status_reason == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && phase != "Failed" && phase != "Succeeded" {
        reason = "Terminating".into();
    }

    let restarts = match last_restart {
        Some(at) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(at), now)),
        _ => restarts.to_string(),
    };
    let mut cells = vec![
        name_of(&pod.metadata),
        format!("{ready}/{total}"),
        reason,
        restarts,
        age(&pod.metadata, now),
    ];
    if wide {
        let ip = status
            .and_then(|s| s.pod_ips.as_ref())
            .and_then(|ips| ips.first())
            .map(|ip| ip.ip.clone())
            .or_else(|| status.and_then(|s| s.pod_ip.clone()));
        let gates = spec
            .and_then(|s| s.readiness_gates.as_deref())
            .unwrap_or_default();
        let gates = if gates.is_empty() {
            "<none>".to_string()
        } else {
            let true_conditions = gates
                .iter()
                .filter(|gate| {
                    conditions
                        .iter()
                        .find(|c| c.type_ == gate.condition_type)
                        .is_some_and(|c| c.status == "True")
                })
                .count();
            format!("{true_conditions}/{}", gates.len())
        };
        cells.extend([
            or_none(ip.as_deref()),
            or_none(spec.and_then(|s| s.node_name.as_deref())),
            or_none(status.and_then(|s| s.nominated_node_name.as_deref())),
            gates,
        ]);
    }
    cells
}

fn later(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Printable for StatefulSet {
    fn columns(wide: bool) -> &'static [&'static str] {
        if wide {
            &["NAME", "READY", "AGE", "CONTAINERS", "IMAGES"]
        } else {
            &["NAME", "READY", "AGE"]
        }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        let spec = self.spec.as_ref();
        // The API server defaults spec.replicas to 1.
        let desired = spec.and_then(|s| s.replicas).unwrap_or(1);
        let ready = self
            .status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0);
        let mut cells = vec![
            name_of(&self.metadata),
            format!("{ready}/{desired}"),
            age(&self.metadata, now),
        ];
        if wide {
            let containers = spec
                .and_then(|s| s.template.spec.as_ref())
                .map(|s| s.containers.as_slice())
                .unwrap_or_default();
            let (names, images) = container_cells(containers);
            cells.extend([names, images]);
        }
        cells
    }
}

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

impl Printable for PersistentVolumeClaim {
    fn columns(wide: bool) -> &'static [&'static str] {
        if wide {
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
                "VOLUMEMODE",
            ]
        } else {
            &[
                "NAME",
                "STATUS",
                "VOLUME",
                "CAPACITY",
                "ACCESS MODES",
                "STORAGECLASS",
                "VOLUMEATTRIBUTESCLASS",
                "AGE",
            ]
        }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        let spec = self.spec.clone().unwrap_or_default();
        let status = self.status.clone().unwrap_or_default();
        let phase = if self.metadata.deletion_timestamp.is_some() {
            "Terminating".to_string()
        } else {
            status.phase.clone().unwrap_or_default()
        };
        let volume = spec.volume_name.clone().unwrap_or_default();
        let (capacity, access_modes) = if volume.is_empty() {
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
        // `GetPersistentVolumeClaimClass`: the beta annotation wins.
        let class = self
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class").cloned())
            .or_else(|| spec.storage_class_name.clone())
            .unwrap_or_default();
        let mut cells = vec![
            name_of(&self.metadata),
            phase,
            volume,
            capacity,
            access_modes,
            class,
            spec.volume_attributes_class_name
                .clone()
                .unwrap_or_else(|| "<unset>".into()),
            age(&self.metadata, now),
        ];
        if wide {
            cells.push(spec.volume_mode.clone().unwrap_or_else(|| "<unset>".into()));
        }
        cells
    }
}

/// `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that order, each once.
pub(crate) fn access_modes_string(modes: &[String]) -> String {
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.iter().any(|m| m == mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

impl Printable for Event {
    fn sort_for_listing(items: &mut [Self]) {
        sort_events(items);
    }

    fn columns(wide: bool) -> &'static [&'static str] {
        if wide {
            &[
                "LAST SEEN",
                "TYPE",
                "REASON",
                "OBJECT",
                "SUBOBJECT",
                "SOURCE",
                "MESSAGE",
                "FIRST SEEN",
                "COUNT",
                "NAME",
            ]
        } else {
            &["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
        }
    }

    fn cells(&self, wide: bool, now: Timestamp) -> Vec<String> {
        let first = match &self.first_timestamp {
            Some(t) => since(Some(t.0), now),
            None => since(self.event_time.as_ref().map(|t| t.0), now),
        };
        let mut last = match &self.last_timestamp {
            Some(t) => since(Some(t.0), now),
            None => first.clone(),
        };
        let mut count = self.count.unwrap_or(0);
        if let Some(series) = &self.series {
            last = since(series.last_observed_time.as_ref().map(|t| t.0), now);
            count = series.count.unwrap_or(0);
        } else if count == 0 {
            // Singleton events have no count in the new API.
            count = 1;
        }
        let involved = &self.involved_object;
        let kind = involved.kind.as_deref().unwrap_or_default().to_lowercase();
        let object = match involved.name.as_deref() {
            Some(name) if !name.is_empty() => format!("{kind}/{name}"),
            _ => kind,
        };
        let message = self
            .message
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_string();
        let kind = self.type_.clone().unwrap_or_default();
        let reason = self.reason.clone().unwrap_or_default();
        if wide {
            let source = self.source.clone().unwrap_or_default();
            let component = first_non_empty(source.component, self.reporting_component.clone());
            let instance = first_non_empty(source.host, self.reporting_instance.clone());
            let source = if instance.is_empty() {
                component
            } else {
                format!("{component}, {instance}")
            };
            vec![
                last,
                kind,
                reason,
                object,
                involved.field_path.clone().unwrap_or_default(),
                source,
                message,
                first,
                count.to_string(),
                name_of(&self.metadata),
            ]
        } else {
            vec![last, kind, reason, object, message]
        }
    }
}

fn first_non_empty(a: Option<String>, b: Option<String>) -> String {
    a.filter(|s| !s.is_empty()).or(b).unwrap_or_default()
}

/// Orders events by when they were last seen, oldest first, as `ctl get
/// events` prints them.
pub fn sort_events(events: &mut [Event]) {
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| {
                e.series
                    .as_ref()
                    .and_then(|s| s.last_observed_time.as_ref())
                    .map(|t| t.0)
            })
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
            .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
            .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
    });
}

impl Printable for Namespace {
    fn columns(_wide: bool) -> &'static [&'static str] {
        &["NAME", "STATUS", "AGE"]
    }

    fn cells(&self, _wide: bool, now: Timestamp) -> Vec<String> {
        vec![
            name_of(&self.metadata),
            self.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default(),
            age(&self.metadata, now),
        ]
    }
}
