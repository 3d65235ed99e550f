//! Kubernetes manifests on disk: files and folders of YAML or JSON, read the
//! way `kubectl apply -f` reads them, turned into a [`ClusterState`].
//!
//! Data enters as paths ([`load_manifests`]) or as one file's text
//! ([`parse_manifest_text`]). A file is cut into documents on `---` lines,
//! each document is parsed into a `serde_json::Value`, dispatched on
//! `apiVersion`/`kind` (a `kind: List` expands to its items), parsed again
//! into its k8s-openapi type, and converted into `crate::model` values, which
//! leave through the `ClusterState`. The conversions (`*_from_k8s`) are public
//! because the Kubernetes watcher source converts the same types. Kinds the
//! DNS side does not use are skipped; every error names the file, the
//! document, its line, the object and the field.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use serde_json::Value;

use super::convert::{
    DEFAULT_NAMESPACE, SERVICE_NAME_LABEL, endpoints_from_k8s, service_from_k8s, set_from_k8s,
    slice_from_k8s,
};
use crate::model::ClusterState;

/// Extensions taken from a folder, as `kubectl apply -f DIR` takes them.
const MANIFEST_EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

/// Where in the manifests an object came from. Shown at the front of every
/// object error: `file: document 2 (line 14), items[3], Service demo/web: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub path: PathBuf,
    /// 1-based, counting only documents with content (not empty ones or
    /// comment-only ones), so it matches what a reader counts.
    pub document: usize,
    /// 1-based line in the file of the document's first content line.
    pub line: usize,
    /// Where in a `kind: List` the object sits (`items[3]`), if it does.
    pub item: Option<String>,
    /// `Kind namespace/name`, as far as the document tells.
    pub object: Option<String>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: document {} (line {})",
            self.path.display(),
            self.document,
            self.line
        )?;
        if let Some(item) = &self.item {
            write!(f, ", {item}")?;
        }
        if let Some(object) = &self.object {
            write!(f, ", {object}")?;
        }
        Ok(())
    }
}

/// A manifest that cannot be loaded. Each variant says what was wrong and
/// where; the variant name doubles as a metric label.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: no such file or folder; check the manifest path", .path.display())]
    NotFound { path: PathBuf },

    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "{}: line {line}: invalid document separator {text:?}: only spaces or a `#` comment may follow `---`; move the rest to the next line",
        .path.display()
    )]
    Separator {
        path: PathBuf,
        line: usize,
        text: String,
    },

    /// The document is not well-formed YAML (or JSON). `message` ends with
    /// the absolute line and column in the file, when the parser knows them.
    #[error("{at}: invalid {syntax}: {message}")]
    Syntax {
        at: Box<Position>,
        /// `YAML` or `JSON`.
        syntax: &'static str,
        /// 1-based line in the file.
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },

    #[error(
        "{at}: expected a Kubernetes object (a mapping with apiVersion and kind), found {found}"
    )]
    NotAnObject {
        at: Box<Position>,
        found: &'static str,
    },

    #[error("{at}: {field} is missing; every Kubernetes object needs apiVersion and kind")]
    MissingTypeMeta {
        at: Box<Position>,
        field: &'static str,
    },

    #[error(
        "{at}: {kind} must have apiVersion {expected}, found {found}; convert the object to {expected}"
    )]
    WrongApiVersion {
        at: Box<Position>,
        kind: String,
        expected: &'static str,
        found: String,
    },

    #[error("{at}: {}{message}", FieldPrefix(.field))]
    InvalidField {
        at: Box<Position>,
        /// Path of the offending field (`spec.ports[0].port`); empty when the
        /// object as a whole is wrong.
        field: String,
        message: String,
    },

    #[error("{at}: metadata.name is missing or empty; every object needs a name")]
    MissingName { at: Box<Position> },
}

/// `field: ` in front of a message, or nothing for the object itself.
struct FieldPrefix<'a>(&'a str);

impl fmt::Display for FieldPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}

/// Loads every Kubernetes object from files and folders, the way
/// `kubectl apply -f` takes them.
///
/// A file is read whatever its name; a folder contributes its `.json`,
/// `.yaml` and `.yml` files, not recursively, in sorted order. Objects are
/// appended in the order read.
pub fn load_manifests(paths: &[PathBuf]) -> Result<ClusterState, ManifestError> {
    Ok(state_from_objects(&load_objects(paths)?))
}

/// Like [`load_manifests`], but returns the typed objects themselves (with
/// Namespaces), for the embedded cluster to apply.
pub fn load_objects(paths: &[PathBuf]) -> Result<Vec<Object>, ManifestError> {
    let mut objects = Vec::new();
    for path in paths {
        for file in manifest_files(path)? {
            let text =
                std::fs::read_to_string(&file).map_err(|source| read_error(&file, source))?;
            parse_objects_into(&text, &file, &mut objects)?;
        }
    }
    Ok(objects)
}

/// A Kubernetes object of a kind the server reads.
// The variants differ in size (a StatefulSet is large); objects are made
// once per manifest load, far from the query path, so no boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Namespace(core::Namespace),
    Service(core::Service),
    EndpointSlice(discovery::EndpointSlice),
    Endpoints(core::Endpoints),
    StatefulSet(apps::StatefulSet),
}

/// The DNS view of a set of objects.
pub fn state_from_objects(objects: &[Object]) -> ClusterState {
    let mut state = ClusterState::default();
    for object in objects {
        match object {
            Object::Namespace(_) => {}
            Object::Service(svc) => state.services.extend(service_from_k8s(svc)),
            Object::EndpointSlice(slice) => match slice_from_k8s(slice) {
                Some(group) => state.slices.push(group),
                None => tracing::debug!(
                    slice = ?slice.metadata.name,
                    "skipping an EndpointSlice without the {SERVICE_NAME_LABEL} label: it belongs to no service"
                ),
            },
            Object::Endpoints(ep) => state.endpoints.extend(endpoints_from_k8s(ep)),
            Object::StatefulSet(sts) => match set_from_k8s(sts) {
                Some(set) => state.sets.push(set),
                None => tracing::debug!(
                    statefulset = ?sts.metadata.name,
                    "skipping a StatefulSet without spec.serviceName: its pods get no DNS names"
                ),
            },
        }
    }
    state
}

/// Parses one file's text into typed objects. `path` is used only in
/// messages.
pub fn parse_objects(text: &str, path: &Path) -> Result<Vec<Object>, ManifestError> {
    let mut objects = Vec::new();
    parse_objects_into(text, path, &mut objects)?;
    Ok(objects)
}

/// The files `path` stands for: itself, or a folder's manifest files.
fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let metadata = std::fs::metadata(path).map_err(|source| read_error(path, source))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|source| read_error(path, source))?;
    for entry in entries {
        let file = entry.map_err(|source| read_error(path, source))?.path();
        let wanted = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e));
        if !wanted {
            continue;
        }
        // `metadata` follows symlinks: a ConfigMap volume links every key.
        match std::fs::metadata(&file) {
            Ok(m) if m.is_file() => files.push(file),
            Ok(_) => {
                tracing::debug!(path = %file.display(), "skipping a folder: manifest folders are read non-recursively")
            }
            // Listed a moment ago and gone now, or a dangling link: an editor
            // saving (its lock files are such links). Not a manifest to read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(path = %file.display(), "skipping a vanished file or dangling link")
            }
            Err(source) => return Err(read_error(&file, source)),
        }
    }
    if files.is_empty() {
        tracing::warn!(path = %path.display(), "no .json, .yaml or .yml files in manifest folder");
    }
    files.sort();
    Ok(files)
}

fn read_error(path: &Path, source: io::Error) -> ManifestError {
    if source.kind() == io::ErrorKind::NotFound {
        ManifestError::NotFound {
            path: path.to_owned(),
        }
    } else {
        ManifestError::Read {
            path: path.to_owned(),
            source,
        }
    }
}

/// Parses one file's text and appends its objects to `state`. `path` is used
/// only in messages.
///
/// Text that begins with `{` is a stream of JSON objects, otherwise YAML
/// documents separated by `---` lines; this is how kubectl tells them apart.
pub fn parse_manifest_text(
    text: &str,
    path: &Path,
    state: &mut ClusterState,
) -> Result<(), ManifestError> {
    let objects = parse_objects(text, path)?;
    let parsed = state_from_objects(&objects);
    state.services.extend(parsed.services);
    state.slices.extend(parsed.slices);
    state.endpoints.extend(parsed.endpoints);
    state.sets.extend(parsed.sets);
    Ok(())
}

fn parse_objects_into(
    text: &str,
    path: &Path,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        parse_json_stream(text, path, state)
    } else {
        parse_yaml_documents(text, path, state)
    }
}

/// One YAML document of a file.
struct Chunk<'a> {
    text: &'a str,
    /// 1-based line of the chunk's first line, for turning the parser's
    /// lines into the file's.
    first_line: usize,
    /// 1-based line of the first line that is not blank or a comment; `None`
    /// for an empty document.
    content_line: Option<usize>,
}

/// Cuts a file on separator lines the way kubectl's YAML reader does: a line
/// that starts with `---` followed only by spaces or a comment. Any other
/// text after `---` is an error, as in kubectl.
fn split_documents<'a>(text: &'a str, path: &Path) -> Result<Vec<Chunk<'a>>, ManifestError> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut content_line = None;
    let mut offset = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line_number = index + 1;
        let line = raw.trim_end_matches(['\n', '\r']);
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(ManifestError::Separator {
                    path: path.to_owned(),
                    line: line_number,
                    text: line.to_owned(),
                });
            }
            chunks.push(Chunk {
                text: &text[start..offset],
                first_line,
                content_line,
            });
            start = offset + raw.len();
            first_line = line_number + 1;
            content_line = None;
        } else if content_line.is_none() {
            let trimmed = line.trim_start();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                content_line = Some(line_number);
            }
        }
        offset += raw.len();
    }
    chunks.push(Chunk {
        text: &text[start..],
        first_line,
        content_line,
    });
    Ok(chunks)
}

/// The parser settings for manifests.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // kubectl reads YAML 1.1 (go-yaml via sigs.k8s.io/yaml), where
        // `defaultMode: 0644` is octal 420; YAML 1.2 would make it 644.0 and
        // the typed parse would then fail on a manifest kubectl accepts.
        legacy_octal_numbers: true,
        // Errors are rendered plainly with file lines of our own; snippets
        // would show document-relative lines.
        with_snippet: false,
        // A `kind: List` dump of a cluster is one document of many nodes; the
        // default caps (250 000 nodes, 1 000 000 events) are meant for
        // config files. The depth cap stays at its default: it protects the
        // 2 MiB stack of the blocking thread that loads manifests.
        budget: serde_saphyr::budget! {
            max_nodes: 5_000_000,
            max_events: 20_000_000,
        },
    }
}

fn parse_yaml_documents(
    text: &str,
    path: &Path,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let mut document = 0;
    for chunk in split_documents(text, path)? {
        let Some(line) = chunk.content_line else {
            continue;
        };
        document += 1;
        let at = DocumentAt {
            path,
            document,
            line,
        };
        let value: Value = serde_saphyr::from_str_with_options(chunk.text, yaml_options())
            .map_err(|e| yaml_syntax_error(&e, &at, chunk.first_line))?;
        add_document(&value, &at, state)?;
    }
    Ok(())
}

fn yaml_syntax_error(
    e: &serde_saphyr::Error,
    at: &DocumentAt<'_>,
    first_line: usize,
) -> ManifestError {
    let offset = first_line.saturating_sub(1);
    let location = e.location();
    let render = serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
        line_offset: offset as u64,
    };
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    ManifestError::Syntax {
        at: at.position(None, None),
        syntax: "YAML",
        line: location.map(|l| to_usize(l.line()).saturating_add(offset)),
        column: location.map(|l| to_usize(l.column())),
        message: e.render_with_options(render),
    }
}

fn parse_json_stream(
    text: &str,
    path: &Path,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut document = 0;
    // Lines are counted incrementally so that a long stream costs one pass.
    let mut counted_to = 0;
    let mut line = 1;
    loop {
        let rest = &text[stream.byte_offset()..];
        // The whitespace serde_json skips between values.
        let start = text.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
        if start == text.len() {
            return Ok(());
        }
        line += text[counted_to..start]
            .bytes()
            .filter(|b| *b == b'\n')
            .count();
        counted_to = start;
        document += 1;
        let at = DocumentAt {
            path,
            document,
            line,
        };
        match stream.next() {
            None => return Ok(()),
            Some(Ok(value)) => add_document(&value, &at, state)?,
            Some(Err(e)) => {
                return Err(ManifestError::Syntax {
                    at: at.position(None, None),
                    syntax: "JSON",
                    line: Some(e.line()),
                    column: Some(e.column()),
                    message: e.to_string(),
                });
            }
        }
    }
}

/// The document being read, for error positions.
struct DocumentAt<'a> {
    path: &'a Path,
    document: usize,
    line: usize,
}

impl DocumentAt<'_> {
    fn position(&self, item: Option<&str>, object: Option<String>) -> Box<Position> {
        Box::new(Position {
            path: self.path.to_owned(),
            document: self.document,
            line: self.line,
            item: item.filter(|i| !i.is_empty()).map(str::to_owned),
            object,
        })
    }
}

/// One object's place: its document, and its path through `kind: List`s.
struct ObjectAt<'a> {
    document: &'a DocumentAt<'a>,
    /// `items[3]`, `items[3].items[0]`, or empty at the top of a document.
    item: &'a str,
}

impl ObjectAt<'_> {
    fn position(&self, object: Option<String>) -> Box<Position> {
        self.document.position(Some(self.item), object)
    }
}

fn add_document(
    value: &Value,
    at: &DocumentAt<'_>,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    // `null`, `~`: kubectl skips such documents too.
    if value.is_null() {
        return Ok(());
    }
    let at = ObjectAt {
        document: at,
        item: "",
    };
    add_object(value, &at, None, state)
}

/// The kinds the DNS side uses, and the apiVersion each must have.
#[derive(Clone, Copy, Debug)]
enum KnownKind {
    Namespace,
    Service,
    EndpointSlice,
    Endpoints,
    StatefulSet,
}

impl KnownKind {
    fn from_kind(kind: &str) -> Option<Self> {
        match kind {
            "Namespace" => Some(KnownKind::Namespace),
            "Service" => Some(KnownKind::Service),
            "EndpointSlice" => Some(KnownKind::EndpointSlice),
            "Endpoints" => Some(KnownKind::Endpoints),
            "StatefulSet" => Some(KnownKind::StatefulSet),
            _ => None,
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            KnownKind::Namespace | KnownKind::Service | KnownKind::Endpoints => "v1",
            KnownKind::EndpointSlice => "discovery.k8s.io/v1",
            KnownKind::StatefulSet => "apps/v1",
        }
    }
}

/// The API group of an apiVersion: `apps` for `apps/v1`, empty for `v1`.
fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// Dispatches one object on apiVersion and kind. `inherited` is the
/// apiVersion and kind of the items of a typed list (`ServiceList`), whose
/// items often carry none of their own.
fn add_object(
    value: &Value,
    at: &ObjectAt<'_>,
    inherited: Option<(&str, &str)>,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let Value::Object(object) = value else {
        return Err(ManifestError::NotAnObject {
            at: at.position(None),
            found: json_type(value),
        });
    };
    let api_version = type_meta(object, "apiVersion", inherited.map(|i| i.0), at)?;
    let kind = type_meta(object, "kind", inherited.map(|i| i.1), at)?;

    let typed_list = kind.ends_with("List") && object.get("items").is_some_and(Value::is_array);
    if kind == "List" || typed_list {
        return add_list(object, kind, api_version, at, state);
    }

    let Some(known) = KnownKind::from_kind(kind) else {
        tracing::debug!(
            path = %at.document.path.display(),
            document = at.document.document,
            api_version,
            kind,
            "skipping an object of a kind the DNS server does not use"
        );
        return Ok(());
    };
    let expected = known.api_version();
    if api_version != expected {
        // Same group, other version (`discovery.k8s.io/v1beta1`): the object
        // is meant as this kind but in a shape not read here. Another group
        // (`serving.knative.dev/v1` Service) is another kind that happens to
        // share the name.
        if api_group(api_version) == api_group(expected) {
            return Err(ManifestError::WrongApiVersion {
                at: at.position(Some(object_label(kind, object))),
                kind: kind.to_owned(),
                expected,
                found: api_version.to_owned(),
            });
        }
        tracing::debug!(
            path = %at.document.path.display(),
            document = at.document.document,
            api_version,
            kind,
            "skipping an object of another API group"
        );
        return Ok(());
    }

    let has_name = object
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .is_some_and(|n| !n.is_empty());
    match known {
        KnownKind::Namespace => {
            let ns: core::Namespace = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::Namespace(ns));
        }
        KnownKind::Service => {
            let svc: core::Service = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::Service(svc));
        }
        KnownKind::EndpointSlice => {
            let slice: discovery::EndpointSlice = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::EndpointSlice(slice));
        }
        KnownKind::Endpoints => {
            let ep: core::Endpoints = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::Endpoints(ep));
        }
        KnownKind::StatefulSet => {
            let sts: apps::StatefulSet = typed(value, kind, object, at)?;
            require_name(has_name, kind, at)?;
            state.push(Object::StatefulSet(sts));
        }
    }
    Ok(())
}

/// Expands `kind: List` (what `kubectl get -o yaml` prints) or a typed list
/// such as `ServiceList` into its items.
fn add_list(
    object: &serde_json::Map<String, Value>,
    kind: &str,
    api_version: &str,
    at: &ObjectAt<'_>,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let items = match object.get("items") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ManifestError::InvalidField {
                at: at.position(Some(kind.to_owned())),
                field: "items".to_owned(),
                message: format!("expected a list of objects, found {}", json_type(other)),
            });
        }
    };
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
    let inherited = item_kind.map(|k| (api_version, k));
    for (index, item) in items.iter().enumerate() {
        let path = if at.item.is_empty() {
            format!("items[{index}]")
        } else {
            format!("{}.items[{index}]", at.item)
        };
        let item_at = ObjectAt {
            document: at.document,
            item: &path,
        };
        add_object(item, &item_at, inherited, state)?;
    }
    Ok(())
}

/// Reads `apiVersion` or `kind`: a non-empty string, or what the enclosing
/// list implies.
fn type_meta<'v>(
    object: &'v serde_json::Map<String, Value>,
    field: &'static str,
    inherited: Option<&'v str>,
    at: &ObjectAt<'_>,
) -> Result<&'v str, ManifestError> {
    match object.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        None | Some(Value::Null | Value::String(_)) => {
            inherited.ok_or_else(|| ManifestError::MissingTypeMeta {
                at: at.position(None),
                field,
            })
        }
        Some(other) => Err(ManifestError::InvalidField {
            at: at.position(None),
            field: field.to_owned(),
            message: format!("expected a string, found {}", json_type(other)),
        }),
    }
}

/// Parses `value` into its k8s-openapi type; an error names the field path.
fn typed<T: serde::de::DeserializeOwned>(
    value: &Value,
    kind: &str,
    object: &serde_json::Map<String, Value>,
    at: &ObjectAt<'_>,
) -> Result<T, ManifestError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        ManifestError::InvalidField {
            at: at.position(Some(object_label(kind, object))),
            // serde_path_to_error writes the root as `.`.
            field: if path == "." { String::new() } else { path },
            message: e.into_inner().to_string(),
        }
    })
}

fn require_name(has_name: bool, kind: &str, at: &ObjectAt<'_>) -> Result<(), ManifestError> {
    if has_name {
        Ok(())
    } else {
        Err(ManifestError::MissingName {
            at: at.position(Some(kind.to_owned())),
        })
    }
}

/// `Kind namespace/name` from the raw object, for messages about an object
/// that may not parse.
fn object_label(kind: &str, object: &serde_json::Map<String, Value>) -> String {
    let metadata = object.get("metadata");
    // A value of the wrong type is shown as written (`false/web` for
    // `namespace: no`), since that may be the very error being reported.
    let field = |name: &str| match metadata.and_then(|m| m.get(name)) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    match field("name") {
        Some(name) => {
            let namespace = field("namespace");
            let namespace = namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
            format!("{kind} {namespace}/{name}")
        }
        None => kind.to_owned(),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::model::{
        Endpoint, EndpointGroup, ObjectKey, OrdinalSet, Port, Protocol, Service, ServiceKind,
    };

    fn parse(text: &str) -> Result<ClusterState, ManifestError> {
        let mut state = ClusterState::default();
        parse_manifest_text(text, Path::new("m.yaml"), &mut state).map(|()| state)
    }

    fn parse_err(text: &str) -> String {
        match parse(text) {
            Ok(state) => panic!("expected an error, got {state:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn port(name: &str, protocol: Protocol, port: u16) -> Port {
        Port {
            name: name.into(),
            protocol,
            port,
        }
    }

    fn endpoint(
        addresses: &[&str],
        hostname: Option<&str>,
        ready: bool,
        target: Option<&str>,
    ) -> Endpoint {
        Endpoint {
            addresses: addresses.iter().map(|a| a.parse().unwrap()).collect(),
            hostname: hostname.map(Arc::from),
            ready,
            target: target.map(Arc::from),
        }
    }

    fn service_doc(namespace: &str, name: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n  clusterIP: None\n"
        )
    }

    const MIXED: &str = r#"# demo objects
---
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  clusterIP: None
  ports:
  - name: http
    port: 80
  - name: dns
    port: 53
    protocol: UDP
  - port: 9090
  - name: odd
    port: 7
    protocol: QUIC
---   # a comment-only document follows
# nothing here
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abcde
  namespace: demo
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- name: http
  port: 80
  protocol: TCP
- name: no-number
- port: 81
endpoints:
- addresses: ["10.0.0.1"]
  hostname: web-1
  conditions: {ready: true}
  targetRef: {kind: Pod, name: web-1}
- addresses: ["10.0.0.2", "not-an-ip"]
  conditions: {ready: false}
- addresses: ["fd00::3"]
---
apiVersion: v1
kind: Endpoints
metadata:
  name: legacy
subsets:
- addresses:
  - ip: 10.1.0.1
    hostname: legacy-0
    targetRef: {kind: Pod, name: legacy-0}
  notReadyAddresses:
  - ip: 10.1.0.2
  ports:
  - name: http
    port: 8080
- addresses:
  - ip: 10.1.0.3
  ports:
  - name: http
    port: 8080
  - name: metrics
    port: 9100
    protocol: TCP
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
  namespace: demo
spec:
  serviceName: web
  replicas: 3
  ordinals:
    start: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx}]
      volumes:
      - name: conf
        configMap: {name: web, defaultMode: 0644}
"#;

    #[test]
    fn multi_document_file_yields_model_values() {
        let state = parse(MIXED).unwrap();
        let expected = ClusterState {
            services: vec![Service {
                key: ObjectKey::new("demo", "web"),
                kind: ServiceKind::Headless,
                publish_not_ready: false,
                ports: vec![
                    port("http", Protocol::Tcp, 80),
                    port("dns", Protocol::Udp, 53),
                ],
            }],
            slices: vec![EndpointGroup {
                key: ObjectKey::new("demo", "web-abcde"),
                service: ObjectKey::new("demo", "web"),
                ports: vec![port("http", Protocol::Tcp, 80)],
                endpoints: vec![
                    endpoint(&["10.0.0.1"], Some("web-1"), true, Some("web-1")),
                    endpoint(&["10.0.0.2"], None, false, None),
                    endpoint(&["fd00::3"], None, true, None),
                ],
            }],
            endpoints: vec![EndpointGroup {
                key: ObjectKey::new("default", "legacy"),
                service: ObjectKey::new("default", "legacy"),
                ports: vec![
                    port("http", Protocol::Tcp, 8080),
                    port("metrics", Protocol::Tcp, 9100),
                ],
                endpoints: vec![
                    endpoint(&["10.1.0.1"], Some("legacy-0"), true, Some("legacy-0")),
                    endpoint(&["10.1.0.2"], None, false, None),
                    endpoint(&["10.1.0.3"], None, true, None),
                ],
            }],
            sets: vec![OrdinalSet {
                key: ObjectKey::new("demo", "web"),
                service_name: "web".into(),
                replicas: 3,
                start: 1,
            }],
        };
        assert_eq!(state, expected);
    }

    #[test]
    fn kind_list_expands_items() {
        let text = r#"apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: c}
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: ns}
  spec: {clusterIP: None}
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: s, namespace: ns}
  spec: {serviceName: a}
- apiVersion: v1
  kind: ServiceList
  items:
  - metadata: {name: b, namespace: ns}
    spec: {clusterIP: 10.96.0.10}
"#;
        let state = parse(text).unwrap();
        let services: Vec<(String, bool)> = state
            .services
            .iter()
            .map(|s| (s.key.to_string(), s.is_headless()))
            .collect();
        assert_eq!(
            services,
            [("ns/a".to_owned(), true), ("ns/b".to_owned(), false)]
        );
        assert_eq!(state.sets.len(), 1);
        assert_eq!(state.sets[0].key, ObjectKey::new("ns", "s"));
        assert_eq!(state.sets[0].replicas, 1);

        let bad = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a, namespace: ns}\n  spec:\n    ports: [{name: http, port: x}]\n";
        assert_eq!(
            parse_err(bad),
            "m.yaml: document 1 (line 1), items[1], Service ns/a: spec.ports[0].port: invalid type: string \"x\", expected i32"
        );
        let not_a_list = parse_err("apiVersion: v1\nkind: List\nitems: {a: 1}\n");
        assert!(
            not_a_list.contains("items: expected a list"),
            "{not_a_list}"
        );
        let item_without_kind =
            parse_err("apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n");
        assert!(
            item_without_kind.contains("items[0]: apiVersion is missing"),
            "{item_without_kind}"
        );
    }

    #[test]
    fn folder_is_read_non_recursively_in_sorted_order() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "b.yaml", &service_doc("ns", "b"));
        write(dir.path(), "a.yml", &service_doc("ns", "a"));
        write(
            dir.path(),
            "c.json",
            r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c", "namespace": "ns"}}"#,
        );
        write(dir.path(), "notes.txt", "not: [yaml");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        write(&dir.path().join("sub"), "d.yaml", &service_doc("ns", "d"));
        std::fs::create_dir(dir.path().join("folder.yaml")).unwrap();
        // A file given by name is read whatever its extension.
        let other = tempfile::tempdir().unwrap();
        let explicit = write(other.path(), "e.txt", &service_doc("ns", "e"));

        let state = load_manifests(&[dir.path().to_owned(), explicit]).unwrap();
        let names: Vec<&str> = state.services.iter().map(|s| &*s.key.name).collect();
        assert_eq!(names, ["a", "b", "c", "e"]);
    }

    #[test]
    fn type_error_names_file_document_line_object_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n---\n\n# the service\napiVersion: v1\nkind: Service\nmetadata:\n  name: nginx-demo\n  namespace: demo\nspec:\n  clusterIP: None\n  ports:\n  - name: http\n    port: x\n";
        let path = write(dir.path(), "svc.yaml", text);
        let err = load_manifests(std::slice::from_ref(&path)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: document 2 (line 7), Service demo/nginx-demo: spec.ports[0].port: invalid type: string \"x\", expected i32",
                path.display()
            )
        );
        assert!(
            matches!(err, ManifestError::InvalidField { ref field, .. } if field == "spec.ports[0].port")
        );
    }

    #[test]
    fn yaml_syntax_error_names_file_and_absolute_line() {
        let dir = tempfile::tempdir().unwrap();
        // Line 10 is the bad one: `b` is indented under a scalar.
        let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\nkind: Service\nmetadata: x\n  name: y\n";
        let path = write(dir.path(), "bad.yaml", text);
        let err = load_manifests(std::slice::from_ref(&path)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "{}: document 3 (line 9): invalid YAML: ",
                path.display()
            )),
            "{message}"
        );
        assert!(message.contains("line 11"), "{message}");
        assert!(
            matches!(err, ManifestError::Syntax { line: Some(11), .. }),
            "{err:?}"
        );

        // The same in the first document, where no offset applies.
        let err = parse("a: [1\n").unwrap_err();
        assert!(
            matches!(
                err,
                ManifestError::Syntax {
                    line: Some(1),
                    column: Some(4),
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn json_stream_is_read_and_its_errors_have_file_lines() {
        let text = "{\"apiVersion\": \"v1\", \"kind\": \"Service\",\n \"metadata\": {\"name\": \"a\"}, \"spec\": {\"clusterIP\": \"None\"}}\n\n{\n\t\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"b\"}}\n";
        let state = parse(text).unwrap();
        let names: Vec<String> = state.services.iter().map(|s| s.key.to_string()).collect();
        assert_eq!(names, ["default/a", "default/b"]);

        let broken = "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\"}\n{\n  \"apiVersion\": \"v1\",\n  \"kind\" \"Service\"\n}\n";
        let err = parse(broken).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("m.yaml: document 2 (line 2): invalid JSON: "),
            "{message}"
        );
        assert!(
            matches!(err, ManifestError::Syntax { line: Some(4), .. }),
            "{err:?}"
        );

        let type_error = "\n{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"a\"}, \"spec\": {\"clusterIP\": 1}}";
        assert_eq!(
            parse_err(type_error),
            "m.yaml: document 1 (line 2), Service default/a: spec.clusterIP: invalid type: integer `1`, expected a string"
        );
    }

    #[test]
    fn separators_follow_kubectl() {
        let text = format!(
            "---\n{}---   \n{}--- # next\n{}",
            service_doc("ns", "a"),
            service_doc("ns", "b"),
            service_doc("ns", "c")
        );
        assert_eq!(parse(&text).unwrap().services.len(), 3);

        let err = parse(&format!("{}--- {{a: 1}}\n", service_doc("ns", "a"))).unwrap_err();
        assert!(
            matches!(err, ManifestError::Separator { line: 8, .. }),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("m.yaml: line 8: invalid document separator"),
            "{err}"
        );
    }

    #[test]
    fn missing_api_version_or_kind_is_an_error() {
        let err = parse_err("kind: Service\nmetadata: {name: a}\n");
        assert_eq!(
            err,
            "m.yaml: document 1 (line 1): apiVersion is missing; every Kubernetes object needs apiVersion and kind"
        );
        let err = parse_err("apiVersion: v1\nmetadata: {name: a}\n");
        assert!(err.contains("kind is missing"), "{err}");
        let err = parse_err("apiVersion: 1\nkind: Service\n");
        assert!(
            err.contains("apiVersion: expected a string, found a number"),
            "{err}"
        );
    }

    #[test]
    fn wrong_api_version_of_a_known_kind_is_an_error() {
        let text = "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s, namespace: ns}\naddressType: IPv4\nendpoints: []\n";
        assert_eq!(
            parse_err(text),
            "m.yaml: document 1 (line 1), EndpointSlice ns/s: EndpointSlice must have apiVersion discovery.k8s.io/v1, found discovery.k8s.io/v1beta1; convert the object to discovery.k8s.io/v1"
        );
        let err = parse_err("apiVersion: apps/v1beta2\nkind: StatefulSet\nmetadata: {name: s}\n");
        assert!(err.contains("must have apiVersion apps/v1"), "{err}");
        // Another API group's kind of the same name is not ours.
        let knative = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: k}\n";
        assert_eq!(parse(knative).unwrap(), ClusterState::default());
    }

    #[test]
    fn missing_path_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.yaml");
        let err = load_manifests(std::slice::from_ref(&missing)).unwrap_err();
        assert!(
            matches!(err, ManifestError::NotFound { ref path } if *path == missing),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .starts_with(&format!("{}: no such file or folder", missing.display()))
        );
    }

    #[test]
    fn fqdn_slices_have_no_endpoints() {
        let text = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: ext-1\n  namespace: ns\n  labels: {kubernetes.io/service-name: ext}\naddressType: FQDN\nports: [{name: https, port: 443}]\nendpoints:\n- addresses: [example.com]\n";
        let state = parse(text).unwrap();
        assert_eq!(
            state.slices,
            [EndpointGroup {
                key: ObjectKey::new("ns", "ext-1"),
                service: ObjectKey::new("ns", "ext"),
                ports: vec![port("https", Protocol::Tcp, 443)],
                endpoints: Vec::new(),
            }]
        );
    }

    #[test]
    fn publish_not_ready_and_not_ready_conditions() {
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns}\nspec: {clusterIP: None, publishNotReadyAddresses: true}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  namespace: ns\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: false, serving: true}\n- addresses: [10.0.0.2]\n  conditions: {}\n- addresses: [10.0.0.3]\n";
        let state = parse(text).unwrap();
        assert!(state.services[0].publish_not_ready);
        let ready: Vec<bool> = state.slices[0].endpoints.iter().map(|e| e.ready).collect();
        assert_eq!(ready, [false, true, true]);

        let plain = parse(&service_doc("ns", "web")).unwrap();
        assert!(!plain.services[0].publish_not_ready);
    }

    #[test]
    fn objects_need_a_name_and_documents_a_mapping() {
        let err = parse_err("apiVersion: v1\nkind: Service\nmetadata: {namespace: ns}\n");
        assert_eq!(
            err,
            "m.yaml: document 1 (line 1), Service: metadata.name is missing or empty; every object needs a name"
        );
        let err = parse_err("apiVersion: v1\nkind: Service\nmetadata: {name: a, namespace: no}\n");
        assert!(
            err.contains("Service false/a: metadata.namespace: invalid type: boolean `false`, expected a string"),
            "{err}"
        );
        let err = parse_err("- a\n- b\n");
        assert!(err.ends_with("found a list"), "{err}");
        // A null document is skipped, as kubectl does.
        assert_eq!(parse("~\n---\nnull\n").unwrap(), ClusterState::default());
        assert_eq!(parse("").unwrap(), ClusterState::default());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut text = String::from("apiVersion: v1\nkind: ConfigMap\ndata:\n");
        for depth in 1..200 {
            text.push_str(&"  ".repeat(depth));
            text.push_str("a:\n");
        }
        let err = parse(&text).unwrap_err();
        assert!(matches!(err, ManifestError::Syntax { .. }), "{err:?}");
        let flow = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(parse(&flow), Err(ManifestError::Syntax { .. })));
        let json = format!("{{\"a\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert!(matches!(
            parse(&json),
            Err(ManifestError::Syntax { syntax: "JSON", .. })
        ));
    }

    #[test]
    fn slices_without_service_label_and_sets_without_service_are_skipped() {
        let text = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec: {replicas: 2}\n";
        assert_eq!(parse(text).unwrap(), ClusterState::default());
    }

    #[test]
    fn conversions_handle_odd_values() {
        let mut sts = apps::StatefulSet::default();
        sts.metadata.name = Some("db".into());
        let mut spec = apps::StatefulSetSpec {
            service_name: Some("db".into()),
            replicas: Some(-2),
            ordinals: Some(apps::StatefulSetOrdinals { start: Some(-1) }),
            ..Default::default()
        };
        sts.spec = Some(spec.clone());
        let set = set_from_k8s(&sts).unwrap();
        assert_eq!((set.replicas, set.start), (0, 0));
        assert_eq!(set.key, ObjectKey::new("default", "db"));
        spec.service_name = Some(String::new());
        sts.spec = Some(spec);
        assert_eq!(set_from_k8s(&sts), None);

        let mut svc = core::Service::default();
        assert_eq!(service_from_k8s(&svc), None);
        svc.metadata.name = Some("a".into());
        svc.spec = Some(core::ServiceSpec {
            cluster_ips: Some(vec!["None".into()]),
            ports: Some(vec![core::ServicePort {
                name: Some("big".into()),
                port: 70000,
                ..Default::default()
            }]),
            ..Default::default()
        });
        let service = service_from_k8s(&svc).unwrap();
        assert!(service.is_headless());
        assert!(service.ports.is_empty());

        let slice = discovery::EndpointSlice::default();
        assert_eq!(slice_from_k8s(&slice), None);
        assert_eq!(endpoints_from_k8s(&core::Endpoints::default()), None);
    }
}
