//! `ctl get`: fetch objects (a list, or named ones), print them as a table,
//! JSON, YAML or names; with `-w`, then print one row per change until the
//! server ends the watch.

use std::collections::HashMap;

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::client::{self, Error};
use super::context::Ctx;
use super::print::{self, Printable, TableOptions, TableWriter};
use super::resource::{self, Kind};
use crate::selector::Selector;

/// How `get` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The table with the extra columns.
    Wide,
    /// Kubernetes JSON (one object, or a v1 List).
    Json,
    /// Kubernetes YAML (one object, or a v1 List).
    Yaml,
    /// `TYPE/NAME` per object.
    Name,
}

/// What `get` was asked for, parsed from its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Each type with the names asked for (empty: list them all).
    pub groups: Vec<(Kind, Vec<String>)>,
    /// Several types were asked for (`svc,sts`, `all`): tables name
    /// objects with their kind (`service/nginx`), as kubectl's do.
    pub with_kind: bool,
}

/// What `all` stands for: kubectl's "all" category, of the kinds the
/// embedded cluster has (pods, services, statefulsets, in kubectl's order).
const ALL: [Kind; 3] = [Kind::Pod, Kind::Service, Kind::StatefulSet];

impl Request {
    /// Parses `TYPE[,TYPE...] [NAME...]` or `TYPE/NAME...`, as kubectl does.
    pub fn parse(args: &[String]) -> Result<Request, String> {
        let Some(first) = args.first() else {
            return Err("You must specify the type of resource to get.".into());
        };
        let mut groups: Vec<(Kind, Vec<String>)> = Vec::new();
        let mut with_kind = false;
        if first.contains('/') {
            for arg in args {
                let Some((kind, name)) = resource::split_type_name(arg) else {
                    return Err(format!(
                        "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'ctl get resource/<resource_name>' instead of 'ctl get resource resource/<resource_name>'): {arg}"
                    ));
                };
                let kind = Kind::parse(kind).ok_or_else(|| resource::unknown_type(kind))?;
                match groups.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, names)) => names.push(name.to_string()),
                    None => groups.push((kind, vec![name.to_string()])),
                }
            }
        } else {
            let names: Vec<String> = args[1..].to_vec();
            if let Some(bad) = names.iter().find(|n| n.contains('/')) {
                return Err(format!(
                    "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'ctl get resource/<resource_name>' instead of 'ctl get resource resource/<resource_name>'): {bad}"
                ));
            }
            let types: Vec<&str> = first.split(',').filter(|t| !t.is_empty()).collect();
            with_kind = types.len() > 1 || types.contains(&"all");
            for text in types {
                let kinds = if text == "all" {
                    ALL.to_vec()
                } else {
                    vec![Kind::parse(text).ok_or_else(|| resource::unknown_type(text))?]
                };
                for kind in kinds {
                    if !groups.iter().any(|(k, _)| *k == kind) {
                        groups.push((kind, names.clone()));
                    }
                }
            }
            if groups.is_empty() {
                return Err(resource::unknown_type(first));
            }
        }
        Ok(Request { groups, with_kind })
    }

    fn named_count(&self) -> usize {
        self.groups.iter().map(|(_, names)| names.len()).sum()
    }
}

/// Where to look: one namespace, or all of them (`-A`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    All,
}

impl Scope {
    pub fn list_namespace(&self) -> Option<&str> {
        match self {
            Scope::Namespace(ns) => Some(ns),
            Scope::All => None,
        }
    }
}

/// One group's objects, already rendered every way they may be printed.
struct Rendered {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    values: Vec<Value>,
    names: Vec<String>,
}

/// Runs `get`; returns the exit code.
pub fn run(
    ctx: &mut Ctx<'_>,
    request: &Request,
    scope: &Scope,
    output: Option<OutputFormat>,
    watch: bool,
    selector: Option<&Selector>,
) -> u8 {
    if *scope == Scope::All && request.named_count() > 0 {
        return ctx.error("a resource cannot be retrieved by name across all namespaces");
    }
    if selector.is_some() && request.named_count() > 0 {
        return ctx.error("name cannot be provided when a selector is specified");
    }
    if watch {
        if request.groups.len() != 1 {
            return ctx.error("you may only specify a single resource type");
        }
        let (kind, names) = &request.groups[0];
        return dispatch!(*kind, T => watch_group::<T>(ctx, *kind, names, scope, output, selector));
    }

    let mut errors: Vec<Error> = Vec::new();
    let mut rendered = Vec::new();
    for (kind, names) in &request.groups {
        let options = table_options(*kind, scope, output);
        let result = dispatch!(*kind, T => fetch_group::<T>(ctx, *kind, names, scope, selector, options, &mut errors));
        match result {
            Ok(group) => rendered.push(group),
            Err(error) => return ctx.fail(&error),
        }
    }

    let values: Vec<Value> = rendered.iter().flat_map(|g| g.values.clone()).collect();
    match output {
        Some(OutputFormat::Json | OutputFormat::Yaml) => {
            if !values.is_empty() || errors.is_empty() {
                let single = request.named_count() == 1 && values.len() == 1;
                let value = if single {
                    values[0].clone()
                } else {
                    print::list(values)
                };
                let text = if output == Some(OutputFormat::Json) {
                    print::json(&value)
                } else {
                    print::yaml(&value)
                };
                ctx.print(&text);
            }
        }
        Some(OutputFormat::Name) => {
            for name in rendered.iter().flat_map(|g| &g.names) {
                ctx.print(&format!("{name}\n"));
            }
        }
        Some(OutputFormat::Wide) | None => {
            let mut first = true;
            for (group, (kind, _)) in rendered.iter().zip(&request.groups) {
                if group.rows.is_empty() {
                    continue;
                }
                if !first {
                    ctx.print("\n");
                }
                first = false;
                let mut rows = vec![group.header.clone()];
                rows.extend(group.rows.iter().cloned());
                if request.with_kind {
                    with_kind_names(&mut rows, *kind);
                }
                ctx.print(&TableWriter::default().render(&rows));
            }
            if first && errors.is_empty() {
                let namespace = match scope {
                    Scope::Namespace(ns) if request.groups.iter().any(|(k, _)| k.namespaced()) => {
                        Some(ns.as_str())
                    }
                    _ => None,
                };
                ctx.eprint(&format!("{}\n", print::no_resources(namespace)));
            }
        }
    }
    for error in &errors {
        ctx.eprint(&format!("{}\n", error.to_kubectl()));
    }
    u8::from(!errors.is_empty())
}

/// Writes `kind/` before every name of a table's NAME column.
fn with_kind_names(rows: &mut [Vec<String>], kind: Kind) {
    let Some(column) = rows
        .first()
        .and_then(|header| header.iter().position(|h| h == "NAME"))
    else {
        return;
    };
    for row in rows.iter_mut().skip(1) {
        if let Some(cell) = row.get_mut(column) {
            *cell = format!("{}/{cell}", kind.qualified());
        }
    }
}

fn table_options(kind: Kind, scope: &Scope, output: Option<OutputFormat>) -> TableOptions {
    TableOptions {
        wide: output == Some(OutputFormat::Wide),
        namespace_column: *scope == Scope::All && kind.namespaced(),
    }
}

/// Lists or gets the objects of one type. A named object the server does not
/// have is an error collected in `errors`; any other failure ends the command.
fn fetch_group<T: Printable>(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    names: &[String],
    scope: &Scope,
    selector: Option<&Selector>,
    options: TableOptions,
    errors: &mut Vec<Error>,
) -> Result<Rendered, Error> {
    let items = fetch::<T>(ctx, kind, names, scope, selector, errors)?;
    Ok(render(&items, options, ctx.now()))
}

/// Lists (with `selector`) or gets the named objects of one type.
pub fn fetch<T: Printable>(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    names: &[String],
    scope: &Scope,
    selector: Option<&Selector>,
    errors: &mut Vec<Error>,
) -> Result<Vec<T>, Error> {
    if names.is_empty() {
        let path = client::with_selector(&kind.list_path(scope.list_namespace()), selector);
        let list: k8s_openapi::List<T> = ctx.client.get(&path)?;
        let mut items = list.items;
        T::sort_for_listing(&mut items);
        return Ok(items);
    }
    // Named objects are only looked up in one namespace (run refuses -A).
    let namespace = ctx.namespace.clone();
    let mut items = Vec::new();
    for name in names {
        let path = if kind.namespaced() {
            kind.item_path(&namespace, name)
        } else {
            format!("{}/{name}", kind.list_path(None))
        };
        match ctx.client.get::<T>(&path) {
            Ok(item) => items.push(item),
            Err(error @ Error::Server { .. }) => errors.push(error),
            Err(error) => return Err(error),
        }
    }
    Ok(items)
}

fn render<T: Printable>(items: &[T], options: TableOptions, now: Timestamp) -> Rendered {
    Rendered {
        header: print::header::<T>(options),
        rows: items.iter().map(|o| print::row(o, options, now)).collect(),
        values: items.iter().map(print::to_value).collect(),
        names: items.iter().map(print::name).collect(),
    }
}

/// `get -w`: the current objects, then one line per change, until the
/// server closes the stream (kubectl ends there too).
fn watch_group<T: Printable>(
    ctx: &mut Ctx<'_>,
    kind: Kind,
    names: &[String],
    scope: &Scope,
    output: Option<OutputFormat>,
    selector: Option<&Selector>,
) -> u8 {
    let options = table_options(kind, scope, output);
    let mut errors = Vec::new();
    let items = match fetch::<T>(ctx, kind, names, scope, selector, &mut errors) {
        Ok(items) => items,
        Err(error) => return ctx.fail(&error),
    };
    for error in &errors {
        ctx.eprint(&format!("{}\n", error.to_kubectl()));
    }
    if !errors.is_empty() && items.is_empty() {
        return 1;
    }

    // What the initial listing showed, so the watch's opening ADDED events
    // for the same objects are not printed twice.
    let mut seen: HashMap<(String, String), Value> = items
        .iter()
        .map(|item| (key(item), print::to_value(item)))
        .collect();
    let mut printer = WatchPrinter {
        writer: TableWriter::default(),
        header_printed: false,
        options,
        output,
    };
    printer.print::<T>(ctx, &items);

    let path = client::with_selector(&kind.list_path(scope.list_namespace()), selector);
    let stream = match ctx.client.watch(&path, None) {
        Ok(stream) => stream,
        Err(error) => return ctx.fail(&error),
    };
    for event in stream {
        let event = match event {
            Ok(event) => event,
            Err(error) => return ctx.fail(&error),
        };
        match event.kind.as_str() {
            "ADDED" | "MODIFIED" | "DELETED" => {}
            "ERROR" => {
                let error = client::status_error(500, &event.object.to_string());
                return ctx.fail(&error);
            }
            _ => continue,
        }
        let object: T = match client::decode(&path, event.object) {
            Ok(object) => object,
            Err(error) => return ctx.fail(&error),
        };
        let name = object.metadata().name.clone().unwrap_or_default();
        if !names.is_empty() && !names.contains(&name) {
            continue;
        }
        let value = print::to_value(&object);
        let key = key(&object);
        if event.kind == "ADDED" && seen.get(&key) == Some(&value) {
            seen.remove(&key);
            continue;
        }
        seen.remove(&key);
        printer.print::<T>(ctx, std::slice::from_ref(&object));
    }
    u8::from(!errors.is_empty())
}

fn key<T: Printable>(object: &T) -> (String, String) {
    let meta = object.metadata();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

struct WatchPrinter {
    writer: TableWriter,
    header_printed: bool,
    options: TableOptions,
    output: Option<OutputFormat>,
}

impl WatchPrinter {
    fn print<T: Printable>(&mut self, ctx: &mut Ctx<'_>, items: &[T]) {
        if items.is_empty() {
            return;
        }
        match self.output {
            Some(OutputFormat::Json) => {
                for item in items {
                    ctx.print(&print::json(&print::to_value(item)));
                }
            }
            Some(OutputFormat::Yaml) => {
                for item in items {
                    ctx.print(&format!("---\n{}", print::yaml(&print::to_value(item))));
                }
            }
            Some(OutputFormat::Name) => {
                for item in items {
                    ctx.print(&format!("{}\n", print::name(item)));
                }
            }
            Some(OutputFormat::Wide) | None => {
                let now = ctx.now();
                let mut rows = Vec::new();
                if !self.header_printed {
                    rows.push(print::header::<T>(self.options));
                    self.header_printed = true;
                }
                rows.extend(items.iter().map(|i| print::row(i, self.options, now)));
                let text = self.writer.render(&rows);
                ctx.print(&text);
            }
        }
        ctx.flush();
    }
}
