//! `apply -f`, `delete -f`, `delete TYPE NAME...` and the simulation's
//! `fault`. Manifests are read here as kubectl reads them (files, folders
//! without recursion, `-` for stdin) and sent as one text; the server parses
//! and answers with one result line per object.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::client::{Error, with_selector};
use super::context::Ctx;
use super::resource::Kind;
use crate::selector::Selector;
use crate::source::manifest::manifest_files;

/// Reads every manifest `paths` name into one multi-document text: files as
/// given, folders' `.yaml`/`.yml`/`.json` files in name order (not
/// recursing), `-` from stdin. `verb` words the error when nothing was found.
pub fn read_manifests(paths: &[PathBuf], verb: &str) -> Result<String, String> {
    let files = read_manifest_files(paths, verb)?;
    let documents: Vec<&str> = files.iter().map(|(_, text)| text.as_str()).collect();
    let mut text = documents.join("\n---\n");
    text.push('\n');
    Ok(text)
}

/// Reads every manifest `paths` name, one (name as kubectl prints it, text)
/// per file, in the order [`read_manifests`] joins them; files without
/// documents are left out, and none at all is an error.
pub fn read_manifest_files(paths: &[PathBuf], verb: &str) -> Result<Vec<(String, String)>, String> {
    let mut documents = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            documents.push(("STDIN".to_string(), text));
            continue;
        }
        if !path.exists() {
            return Err(format!("the path \"{}\" does not exist", path.display()));
        }
        // A folder's .json, .yaml and .yml files in name order, as `serve`
        // reads them; a file whatever its name.
        let files = manifest_files(path).map_err(|e| e.to_string())?;
        for file in files {
            documents.push((file.display().to_string(), read_file(&file)?));
        }
    }
    let documents: Vec<(String, String)> = documents
        .into_iter()
        .map(|(name, text)| (name, text.trim_end().to_string()))
        .filter(|(_, text)| !text.trim().is_empty())
        .collect();
    if documents.is_empty() {
        return Err(format!("no objects passed to {verb}"));
    }
    Ok(documents)
}

fn read_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Runs `apply -f` (`endpoint` `/apply`) or `delete -f` (`/delete`).
pub fn manifests(ctx: &mut Ctx<'_>, paths: &[PathBuf], verb: &str, endpoint: &str) -> u8 {
    let text = match read_manifests(paths, verb) {
        Ok(text) => text,
        Err(message) => return ctx.error(&message),
    };
    // Objects without a namespace go in `-n`'s; the server's default is
    // `default`, so only another one needs saying.
    let path = if ctx.namespace == "default" {
        endpoint.to_string()
    } else {
        format!(
            "{endpoint}?namespace={}",
            super::client::query_escape(&ctx.namespace)
        )
    };
    let answer = ctx.client.post_manifests(&path, text);
    print_results(ctx, &path, answer)
}

/// Prints the `{"results": [...]}` answer of `/apply`, `/delete` and the
/// fault endpoint, one line each.
fn print_results(ctx: &mut Ctx<'_>, path: &str, answer: Result<Value, Error>) -> u8 {
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => return ctx.fail(&error),
    };
    let Some(results) = answer.get("results").and_then(Value::as_array) else {
        return ctx.fail(&Error::Decode {
            path: path.to_string(),
            detail: format!("no \"results\" list in {answer}"),
        });
    };
    for line in results {
        match line.as_str() {
            Some(text) => ctx.print(&format!("{text}\n")),
            None => ctx.print(&format!("{line}\n")),
        }
    }
    0
}

/// Runs `delete TYPE NAME...`: every name is tried; a missing one is
/// reported and makes the exit code 1 at the end, as kubectl does.
pub fn delete_named(ctx: &mut Ctx<'_>, targets: &[(Kind, String)], cascade: &str) -> u8 {
    let mut code = 0;
    for (kind, name) in targets {
        if *kind == Kind::Event {
            return ctx.error(&format!(
                "cannot delete {kind} through the headless-dns admin API"
            ));
        }
        let path = cascade_path(kind.item_path(&ctx.namespace, name), cascade);
        match ctx.client.delete(&path) {
            Ok(_) => ctx.print(&format!("{} \"{name}\" deleted\n", kind.qualified())),
            Err(error @ Error::Server { .. }) => {
                ctx.eprint(&format!("{}\n", error.to_kubectl()));
                code = 1;
            }
            Err(error) => return ctx.fail(&error),
        }
    }
    code
}

/// Runs `delete TYPE[,TYPE] -l SELECTOR`: lists what the selector selects
/// and deletes each, as kubectl does; nothing selected is `No resources
/// found` on stderr and exit code 0.
pub fn delete_selected(
    ctx: &mut Ctx<'_>,
    kinds: &[Kind],
    selector: &Selector,
    cascade: &str,
) -> u8 {
    let mut code = 0;
    let mut deleted = 0;
    for kind in kinds {
        if *kind == Kind::Event {
            return ctx.error(&format!(
                "cannot delete {kind} through the headless-dns admin API"
            ));
        }
        let path = with_selector(&kind.list_path(Some(&ctx.namespace)), Some(selector));
        let list = match ctx.client.get_value(&path) {
            Ok(list) => list,
            Err(error) => return ctx.fail(&error),
        };
        let names: Vec<String> = list["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        for name in names {
            match ctx.client.delete(&cascade_path(
                kind.item_path(&ctx.namespace, &name),
                cascade,
            )) {
                Ok(_) => {
                    deleted += 1;
                    ctx.print(&format!("{} \"{name}\" deleted\n", kind.qualified()));
                }
                // Gone between the list and the delete: not an error.
                Err(error) if error.is_not_found() => {}
                Err(error @ Error::Server { .. }) => {
                    ctx.eprint(&format!("{}\n", error.to_kubectl()));
                    code = 1;
                }
                Err(error) => return ctx.fail(&error),
            }
        }
    }
    if deleted == 0 && code == 0 {
        ctx.eprint("No resources found\n");
    }
    code
}

/// `--cascade`: the API's `propagationPolicy` for a delete.
fn cascade_path(path: String, cascade: &str) -> String {
    match cascade {
        "orphan" => format!("{path}?propagationPolicy=Orphan"),
        "foreground" => format!("{path}?propagationPolicy=Foreground"),
        _ => path,
    }
}

/// The faults the simulated runtime takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// The pod's container dies; the pod restarts.
    Kill,
    /// The readiness probe starts failing.
    Unready,
    /// The readiness probe passes again.
    Ready,
    /// The container fails to start (CrashLoopBackOff).
    FailStart,
    /// The container starts normally again.
    Start,
}

impl Fault {
    fn as_str(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Unready => "unready",
            Fault::Ready => "ready",
            Fault::FailStart => "fail-start",
            Fault::Start => "start",
        }
    }
}

/// Runs `fault FAULT pod/NAME`.
pub fn fault(ctx: &mut Ctx<'_>, fault: Fault, pod: &str) -> u8 {
    let path = format!("/sim/v1/namespaces/{}/pods/{pod}/fault", ctx.namespace);
    let answer = ctx
        .client
        .post_json(&path, &serde_json::json!({"fault": fault.as_str()}));
    print_results(ctx, &path, answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_read_in_name_order_without_recursion() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yaml"), "kind: B\n").unwrap();
        std::fs::write(dir.path().join("a.yml"), "kind: A\n---\nkind: A2\n").unwrap();
        std::fs::write(dir.path().join("c.json"), "{\"kind\": \"C\"}").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/d.yaml"), "kind: D\n").unwrap();
        let text = read_manifests(&[dir.path().to_path_buf()], "apply").unwrap();
        assert_eq!(
            text,
            "kind: A\n---\nkind: A2\n---\nkind: B\n---\n{\"kind\": \"C\"}\n"
        );
    }

    #[test]
    fn several_paths_concatenate_and_files_take_any_name() {
        let dir = tempfile::tempdir().unwrap();
        let one = dir.path().join("one.txt");
        std::fs::write(&one, "kind: One\n").unwrap();
        let two = dir.path().join("two.yaml");
        std::fs::write(&two, "kind: Two\n").unwrap();
        let text = read_manifests(&[one, two], "apply").unwrap();
        assert_eq!(text, "kind: One\n---\nkind: Two\n");
    }

    #[test]
    fn missing_and_empty_paths_are_kubectls_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.yaml");
        assert_eq!(
            read_manifests(std::slice::from_ref(&missing), "apply"),
            Err(format!("the path \"{}\" does not exist", missing.display()))
        );
        assert_eq!(
            read_manifests(&[dir.path().to_path_buf()], "delete"),
            Err("no objects passed to delete".into())
        );
    }
}
