//! `headless-dns ctl`: a kubectl-like client for the embedded cluster.
//!
//! It talks to a running `headless-dns serve` over the admin HTTP address
//! (`--admin`, `$HEADLESS_DNS_ADMIN`, default 127.0.0.1:9153), whose API
//! serves Kubernetes JSON at Kubernetes paths. Arguments enter through
//! [`CtlArgs`] (clap, in `args.rs`); [`run`] executes them against stdout and stderr and
//! maps the outcome to an exit code. The layers: `client` does HTTP and turns
//! non-2xx answers into kubectl's error text; `print` turns objects into
//! tables and JSON/YAML without IO; `get`, `edit`, `rollout` and `apply` are
//! the verbs, each a short sequence of requests and prints.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Runs `$body` with `$T` bound to the k8s-openapi type of `$kind`.
macro_rules! dispatch {
    ($kind:expr, $T:ident => $body:expr) => {{
        use $crate::ctl::resource::Kind as K;
        match $kind {
            K::Pod => {
                type $T = k8s_openapi::api::core::v1::Pod;
                $body
            }
            K::Service => {
                type $T = k8s_openapi::api::core::v1::Service;
                $body
            }
            K::StatefulSet => {
                type $T = k8s_openapi::api::apps::v1::StatefulSet;
                $body
            }
            K::EndpointSlice => {
                type $T = k8s_openapi::api::discovery::v1::EndpointSlice;
                $body
            }
            K::PersistentVolumeClaim => {
                type $T = k8s_openapi::api::core::v1::PersistentVolumeClaim;
                $body
            }
            K::Event => {
                type $T = k8s_openapi::api::core::v1::Event;
                $body
            }
            K::Namespace => {
                type $T = k8s_openapi::api::core::v1::Namespace;
                $body
            }
            K::ControllerRevision => {
                type $T = k8s_openapi::api::apps::v1::ControllerRevision;
                $body
            }
            K::PersistentVolume => {
                type $T = k8s_openapi::api::core::v1::PersistentVolume;
                $body
            }
            K::StorageClass => {
                type $T = k8s_openapi::api::storage::v1::StorageClass;
                $body
            }
        }
    }};
}

pub mod apply;
mod args;
pub mod client;
mod context;
pub mod create;
pub mod describe;
pub mod edit;
pub mod editor;
pub mod exec;
pub mod get;
pub mod history;
pub mod jsonpatch;
pub mod print;
pub mod resolver;
pub mod resource;
pub mod rollout;
pub mod shell;

pub use args::*;
use client::Client;
use context::Ctx;
use resource::Kind;

/// Runs `ctl` against the process's stdout and stderr.
pub fn run(args: CtlArgs) -> ExitCode {
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let mut input = std::io::stdin().lock();
    let code = execute_with_input(args, &mut input, &mut out, &mut err);
    let _ = out.flush();
    ExitCode::from(code)
}

/// Runs `ctl`, writing to `out` and `err`, with no input; returns the exit
/// code.
pub fn execute(args: CtlArgs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    execute_with_input(args, &mut std::io::empty(), out, err)
}

/// Runs `ctl` reading `input` (for `exec -i`, `run -i`), writing to `out`
/// and `err`; returns the exit code.
pub fn execute_with_input(
    args: CtlArgs,
    input: &mut dyn std::io::BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let mut ctx = Ctx {
        client: Client::new(&args.admin),
        namespace: args.namespace,
        input,
        out,
        err,
    };
    let code = match args.command {
        CtlCommand::Get(get) => {
            let request = match get::Request::parse(&get.args) {
                Ok(request) => request,
                Err(message) => return ctx.error(&message),
            };
            let scope = if get.all_namespaces {
                get::Scope::All
            } else {
                get::Scope::Namespace(ctx.namespace.clone())
            };
            let selector = match get.selector.as_deref().map(parse_selector).transpose() {
                Ok(selector) => selector,
                Err(message) => return ctx.error(&message),
            };
            get::run(
                &mut ctx,
                &request,
                &scope,
                get.output,
                get.watch,
                selector.as_ref(),
            )
        }
        CtlCommand::Edit(edit) => match parse_targets(&edit.args) {
            Ok(targets) if targets.len() == 1 => editor::run(&mut ctx, targets[0].0, &targets[0].1),
            Ok(_) => ctx.error("edit one object at a time"),
            Err(message) => ctx.error(&message),
        },
        CtlCommand::Describe(describe) => {
            let selector = match describe.selector.as_deref().map(parse_selector).transpose() {
                Ok(selector) => selector,
                Err(message) => return ctx.error(&message),
            };
            describe::run(&mut ctx, &describe.args, selector.as_ref())
        }
        CtlCommand::Create(create) => {
            if !create.filenames.is_empty() {
                create::files(&mut ctx, &create.filenames)
            } else {
                match create.args.as_slice() {
                    [kind, name] if Kind::parse(kind) == Some(Kind::Namespace) => {
                        create::namespace(&mut ctx, name)
                    }
                    [kind, ..] if Kind::parse(kind) == Some(Kind::Namespace) => {
                        ctx.error("exactly one NAME is required, got 0 or several")
                    }
                    [] => ctx.error(
                        "must specify one of -f and -k, or a subcommand: create namespace NAME",
                    ),
                    [kind, ..] => ctx.error(&format!(
                        "ctl create makes namespaces (create ns NAME) or the objects of files (create -f FILE), not {kind}"
                    )),
                }
            }
        }
        CtlCommand::Apply(apply) => apply::manifests(&mut ctx, &apply.filenames, "apply", "/apply"),
        CtlCommand::Delete(delete) => {
            if !delete.filenames.is_empty() {
                apply::manifests(&mut ctx, &delete.filenames, "delete", "/delete")
            } else if delete.args.is_empty() {
                ctx.error("You must provide one or more resources by argument or filename.")
            } else if let Some(selector) = &delete.selector {
                let selector = match parse_selector(selector) {
                    Ok(selector) => selector,
                    Err(message) => return ctx.error(&message),
                };
                match get::Request::parse(&delete.args) {
                    Ok(request) if request.groups.iter().any(|(_, n)| !n.is_empty()) => {
                        ctx.error("name cannot be provided when a selector is specified")
                    }
                    Ok(request) => {
                        let kinds: Vec<Kind> = request.groups.iter().map(|(k, _)| *k).collect();
                        apply::delete_selected(&mut ctx, &kinds, &selector, &delete.cascade)
                    }
                    Err(message) => ctx.error(&message),
                }
            } else {
                match parse_targets(&delete.args) {
                    Ok(targets) => apply::delete_named(&mut ctx, &targets, &delete.cascade),
                    Err(message) => ctx.error(&message),
                }
            }
        }
        CtlCommand::Scale(scale) => match parse_targets(&scale.args) {
            Ok(targets) => edit::scale(&mut ctx, &targets, scale.replicas),
            Err(message) => ctx.error(&message),
        },
        CtlCommand::Set {
            command: SetCommand::Image(set),
        } => {
            let (pairs, resources): (Vec<&String>, Vec<&String>) =
                set.args.iter().partition(|a| a.contains('='));
            let resources: Vec<String> = resources.into_iter().cloned().collect();
            let mut images = Vec::new();
            for pair in pairs {
                let (container, image) = pair.split_once('=').unwrap_or_default();
                if container.is_empty() || image.is_empty() {
                    return ctx.error(&format!(
                        "invalid image update {pair:?}: want CONTAINER=IMAGE"
                    ));
                }
                images.push((container.to_string(), image.to_string()));
            }
            if images.is_empty() {
                return ctx.error("at least one image update is required");
            }
            match parse_targets(&resources) {
                Ok(targets) => edit::set_image(&mut ctx, &targets, &images),
                Err(message) => ctx.error(&message),
            }
        }
        CtlCommand::Patch(patch) => {
            if patch.patch_type == PatchType::Strategic {
                return ctx.error(
                    "the headless-dns admin API takes JSON merge patches and JSON patches; use --type merge or --type json",
                );
            }
            match parse_targets(&patch.args) {
                Ok(targets) if patch.patch_type == PatchType::Json => {
                    edit::json_patch(&mut ctx, &targets, &patch.patch)
                }
                Ok(targets) => edit::patch(&mut ctx, &targets, &patch.patch),
                Err(message) => ctx.error(&message),
            }
        }
        CtlCommand::Rollout {
            command: RolloutCommand::Status(status),
        } => {
            let timeout = match status.timeout.as_deref().map(parse_timeout).transpose() {
                Ok(timeout) => timeout.flatten(),
                Err(message) => return ctx.error(&message),
            };
            match parse_targets(&status.args) {
                Ok(targets) if targets.len() != 1 => ctx.error(&format!(
                    "rollout status is only supported on individual resources and resource collections - {} resources were found",
                    targets.len()
                )),
                Ok(targets) if targets[0].0 != Kind::StatefulSet => ctx.error(&format!(
                    "no status viewer has been implemented for {}",
                    targets[0].0
                )),
                Ok(targets) => rollout::run(&mut ctx, &targets[0].1, timeout, status.watch),
                Err(message) => ctx.error(&message),
            }
        }
        CtlCommand::Rollout {
            command: RolloutCommand::History(history),
        } => match one_statefulset(&history.args, "history viewer") {
            Ok(name) => history::history(&mut ctx, &name, history.revision),
            Err(message) => ctx.error(&message),
        },
        CtlCommand::Rollout {
            command: RolloutCommand::Undo(undo),
        } => match one_statefulset(&undo.args, "rollbacker") {
            Ok(name) => history::undo(&mut ctx, &name, undo.to_revision),
            Err(message) => ctx.error(&message),
        },
        CtlCommand::Fault(fault) => {
            let pod = match resource::split_type_name(&fault.pod) {
                Some((kind, name)) if Kind::parse(kind) == Some(Kind::Pod) => name.to_string(),
                Some((kind, _)) => {
                    return ctx.error(&format!("faults apply to pods, not {kind}"));
                }
                None => fault.pod.clone(),
            };
            apply::fault(&mut ctx, fault.fault, &pod)
        }
        CtlCommand::Exec(exec) => {
            let pod = match resource::split_type_name(&exec.pod) {
                Some((kind, name)) if Kind::parse(kind) == Some(Kind::Pod) => name.to_string(),
                Some((kind, _)) => {
                    return ctx.error(&format!("exec works on pods, not {kind}"));
                }
                None => exec.pod.clone(),
            };
            let attach = exec::Attach {
                stdin: exec.stdin,
                tty: exec.tty,
            };
            exec::exec(&mut ctx, &pod, &exec.command, attach, exec.dns.as_deref())
        }
        CtlCommand::Run(run) => {
            let request = exec::RunRequest {
                name: run.name,
                image: run.image,
                restart: run.restart,
                remove: run.rm,
                attach: exec::Attach {
                    stdin: run.stdin,
                    tty: run.tty,
                },
                command: run.command,
            };
            exec::run(&mut ctx, &request, run.dns.as_deref())
        }
    };
    ctx.flush();
    code
}

/// Parses `TYPE NAME...` or `TYPE/NAME...` into (type, name) pairs.
pub fn parse_targets(args: &[String]) -> Result<Vec<(Kind, String)>, String> {
    let Some(first) = args.first() else {
        return Err("You must provide one or more resources.".into());
    };
    if first.contains('/') {
        args.iter()
            .map(|arg| {
                let (kind, name) = resource::split_type_name(arg)
                    .ok_or_else(|| format!("arguments in resource/name form must have a single resource and name: {arg:?}"))?;
                let kind = Kind::parse(kind).ok_or_else(|| resource::unknown_type(kind))?;
                Ok((kind, name.to_string()))
            })
            .collect()
    } else {
        let kind = Kind::parse(first).ok_or_else(|| resource::unknown_type(first))?;
        if args.len() == 1 {
            return Err("resource(s) were provided, but no name was specified".into());
        }
        if let Some(bad) = args[1..].iter().find(|a| a.contains('/')) {
            return Err(format!(
                "there is no need to specify a resource type as a separate argument when passing arguments in resource/name form: {bad}"
            ));
        }
        Ok(args[1..].iter().map(|name| (kind, name.clone())).collect())
    }
}

/// The one StatefulSet a rollout verb names; `what` words kubectl's error
/// for another kind (`no history viewer has been implemented for ...`).
fn one_statefulset(args: &[String], what: &str) -> Result<String, String> {
    let targets = parse_targets(args)?;
    match targets.as_slice() {
        [(Kind::StatefulSet, name)] => Ok(name.clone()),
        [(kind, _)] => Err(format!("no {what} has been implemented for {kind}")),
        _ => Err(format!(
            "only one StatefulSet at a time: {} resources were given",
            targets.len()
        )),
    }
}

/// `-l`: a label selector, checked before anything is sent.
pub fn parse_selector(text: &str) -> Result<crate::selector::Selector, String> {
    crate::selector::Selector::parse(text).map_err(|e| format!("unable to parse requirement: {e}"))
}

/// `--timeout`: a Go-style duration (`30s`, `1m30s`, `500ms`); `0` waits
/// forever, as kubectl's does.
pub fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(None);
    }
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("invalid argument {text:?} for \"--timeout\" flag: {e}"))?;
    Ok((!duration.is_zero()).then_some(duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_in_both_forms() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_targets(&args(&["sts", "web", "db"])).unwrap(),
            vec![
                (Kind::StatefulSet, "web".into()),
                (Kind::StatefulSet, "db".into())
            ]
        );
        assert_eq!(
            parse_targets(&args(&["statefulset/web", "pod/web-0"])).unwrap(),
            vec![
                (Kind::StatefulSet, "web".into()),
                (Kind::Pod, "web-0".into())
            ]
        );
        assert_eq!(
            parse_targets(&args(&["widgets", "x"])).unwrap_err(),
            "the server doesn't have a resource type \"widgets\""
        );
        assert_eq!(
            parse_targets(&args(&["sts"])).unwrap_err(),
            "resource(s) were provided, but no name was specified"
        );
    }

    #[test]
    fn timeouts_are_go_durations() {
        assert_eq!(parse_timeout("0").unwrap(), None);
        assert_eq!(parse_timeout("0s").unwrap(), None);
        assert_eq!(parse_timeout("30s").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_timeout("1m30s").unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_timeout("500ms").unwrap(),
            Some(Duration::from_millis(500))
        );
        assert!(parse_timeout("soon").is_err());
    }
}
