//! Printing, kept pure: k8s-openapi objects and a fixed "now" in, text out.
//!
//! The tables are ports of the Kubernetes API server's table printers
//! (`pkg/printers/internalversion/printers.go`), which is what `kubectl get`
//! shows; the column layout is kubectl's tabwriter (minimum width 6, padding
//! 3, widths remembered across flushes so `-w` rows stay aligned); ages are
//! apimachinery's `HumanDuration`. `-o json` and `-o yaml` print objects with
//! sorted keys as kubectl does for the unstructured objects it fetches; several
//! objects go in a `v1 List`.

mod claim;
pub mod describe;
pub mod describe_other;
pub mod describe_workload;
pub mod event;
mod pod;
mod revision;
mod service;
mod storage;
mod workload;

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
