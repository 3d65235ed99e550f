//! `headless-dns ctl`: a kubectl-like client for the embedded cluster.
//!
//! It talks to a running `headless-dns serve` over the admin HTTP address
//! (`--admin`, `$HEADLESS_DNS_ADMIN`, default 127.0.0.1:9153), whose API
//! serves Kubernetes JSON at Kubernetes paths. Arguments enter through
//! [`CtlArgs`] (clap); [`run`] executes them against stdout and stderr and
//! maps the outcome to an exit code. The layers: `client` does HTTP and turns
//! non-2xx answers into kubectl's error text; `print` turns objects into
//! tables and JSON/YAML without IO; `get`, `edit`, `rollout` and `apply` are
//! the verbs, each a short sequence of requests and prints.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Args, Subcommand};

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

use apply::Fault;
use client::Client;
use context::Ctx;
use get::OutputFormat;
use resource::Kind;

/// `headless-dns ctl`: kubectl's verbs against the embedded cluster.
#[derive(Debug, Args)]
#[command(
    about = "Talk to a running embedded cluster like kubectl: get, describe, create, apply, delete, scale, set image, patch, edit, rollout status|history|undo, exec, run, fault",
    after_help = "Resource types: pods (po), statefulsets (sts), services (svc), endpointslices, persistentvolumeclaims (pvc), events (ev), namespaces (ns), controllerrevisions, persistentvolumes (pv), storageclasses (sc)."
)]
pub struct CtlArgs {
    /// Admin HTTP address of `headless-dns serve` (HOST:PORT or http://HOST:PORT).
    #[arg(
        long,
        env = "HEADLESS_DNS_ADMIN",
        default_value = "127.0.0.1:9153",
        global = true
    )]
    pub admin: String,
    /// The namespace to work in.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    pub namespace: String,
    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Display one or many resources.
    Get(GetArgs),
    /// Show details of objects and their events.
    Describe(DescribeArgs),
    /// Create a namespace, or the objects of files that must not exist yet.
    Create(CreateArgs),
    /// Apply a configuration by file name or folder.
    Apply(ApplyArgs),
    /// Delete resources by file names or by type and names.
    Delete(DeleteArgs),
    /// Set a new size for a StatefulSet.
    Scale(ScaleArgs),
    /// Set specific features on objects.
    Set {
        #[command(subcommand)]
        command: SetCommand,
    },
    /// Update fields of a StatefulSet with a JSON merge patch.
    Patch(PatchArgs),
    /// Edit a StatefulSet in $KUBE_EDITOR, $EDITOR or vi.
    Edit(EditArgs),
    /// Manage the rollout of a StatefulSet.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Inject a fault into a simulated pod.
    Fault(FaultArgs),
    /// Run a built-in command (hostname, nslookup, ...) in a simulated pod.
    Exec(ExecArgs),
    /// Create a bare pod, optionally attached to a built-in shell.
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The pod: NAME or pod/NAME.
    pub pod: String,
    /// Read commands from stdin (with `sh`: a session until `exit`).
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Stdin is a terminal: print the `/ # ` prompt.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// The container (simulated pods share one view, so any is accepted).
    #[arg(short = 'c', long)]
    pub container: Option<String>,
    /// The DNS server the pod's lookups go to (default: what the admin API
    /// reports).
    #[arg(long, env = "HEADLESS_DNS_SERVER")]
    pub dns: Option<String>,
    /// The command, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pod's name.
    pub name: String,
    /// The container image.
    #[arg(long, required = true)]
    pub image: String,
    /// Attach stdin: run the command, or a built-in shell until `exit`.
    #[arg(short = 'i', long)]
    pub stdin: bool,
    /// Stdin is a terminal: print the `/ # ` prompt.
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Delete the pod when the session ends.
    #[arg(long)]
    pub rm: bool,
    /// The pod's restart policy.
    #[arg(long, default_value = "Always", value_parser = ["Always", "OnFailure", "Never"])]
    pub restart: String,
    /// The DNS server the pod's lookups go to (default: what the admin API
    /// reports).
    #[arg(long, env = "HEADLESS_DNS_SERVER")]
    pub dns: Option<String>,
    /// The command, after `--`.
    #[arg(last = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// TYPE[,TYPE...] [NAME...], or TYPE/NAME...
    #[arg(required = true, value_name = "TYPE[/NAME] | TYPE NAME")]
    pub args: Vec<String>,
    /// List across all namespaces.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<OutputFormat>,
    /// After listing, watch for changes.
    #[arg(short = 'w', long)]
    pub watch: bool,
    /// Label selector (`app=nginx`, `tier in (a,b)`, `!legacy`...).
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// sts/NAME, or sts NAME
    #[arg(required = true)]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DescribeArgs {
    /// TYPE [NAME_PREFIX...], or TYPE/NAME...
    #[arg(required = true, value_name = "TYPE[/NAME] | TYPE NAME")]
    pub args: Vec<String>,
    /// Label selector.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A manifest file, a folder of them, or - for stdin; repeatable.
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<PathBuf>,
    /// `namespace NAME` (or `ns NAME`).
    #[arg(conflicts_with = "filenames", value_name = "namespace NAME")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A manifest file, a folder of them, or - for stdin; repeatable.
    #[arg(short = 'f', long = "filename", required = true)]
    pub filenames: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// A manifest file, a folder of them, or - for stdin; repeatable.
    #[arg(short = 'f', long = "filename")]
    pub filenames: Vec<PathBuf>,
    /// TYPE NAME... or TYPE/NAME...
    #[arg(conflicts_with = "filenames")]
    pub args: Vec<String>,
    /// Delete the objects of TYPE that this label selector selects.
    #[arg(short = 'l', long, conflicts_with = "filenames")]
    pub selector: Option<String>,
    /// What happens to a StatefulSet's pods: deleted with it (background,
    /// foreground) or left running without owner (orphan).
    #[arg(long, default_value = "background", value_parser = ["background", "foreground", "orphan"])]
    pub cascade: String,
}

#[derive(Debug, Args)]
pub struct ScaleArgs {
    /// sts NAME..., or sts/NAME...
    #[arg(required = true)]
    pub args: Vec<String>,
    /// The new number of replicas.
    #[arg(long, required = true, allow_negative_numbers = true)]
    pub replicas: i64,
}

#[derive(Debug, Subcommand)]
pub enum SetCommand {
    /// Update the image of containers in a StatefulSet's pod template.
    Image(SetImageArgs),
}

#[derive(Debug, Args)]
pub struct SetImageArgs {
    /// sts/NAME (or sts NAME) then CONTAINER=IMAGE pairs; `*` names every container.
    #[arg(required = true, value_name = "TYPE/NAME CONTAINER=IMAGE")]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PatchType {
    /// JSON merge patch (RFC 7386).
    Merge,
    /// Not supported by the admin API.
    Strategic,
    /// JSON patch (RFC 6902), applied by ctl and written back whole.
    Json,
}

#[derive(Debug, Args)]
pub struct PatchArgs {
    /// sts NAME, or sts/NAME
    #[arg(required = true)]
    pub args: Vec<String>,
    /// The patch, JSON (or YAML).
    #[arg(short = 'p', long, required = true)]
    pub patch: String,
    /// The patch type.
    #[arg(long = "type", value_enum, default_value = "merge")]
    pub patch_type: PatchType,
}

#[derive(Debug, Subcommand)]
pub enum RolloutCommand {
    /// Show the status of a StatefulSet's rollout; wait for it to finish.
    Status(RolloutStatusArgs),
    /// List a StatefulSet's revisions, or show one's pod template.
    History(RolloutHistoryArgs),
    /// Roll a StatefulSet back to an earlier revision.
    Undo(RolloutUndoArgs),
}

#[derive(Debug, Args)]
pub struct RolloutHistoryArgs {
    /// sts/NAME, or sts NAME
    #[arg(required = true)]
    pub args: Vec<String>,
    /// Show the pod template of this revision.
    #[arg(long, default_value_t = 0)]
    pub revision: i64,
}

#[derive(Debug, Args)]
pub struct RolloutUndoArgs {
    /// sts/NAME, or sts NAME
    #[arg(required = true)]
    pub args: Vec<String>,
    /// The revision to roll back to; 0 is the one before the latest.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub to_revision: i64,
}

#[derive(Debug, Args)]
pub struct RolloutStatusArgs {
    /// sts/NAME, or sts NAME
    #[arg(required = true)]
    pub args: Vec<String>,
    /// Give up after this long (e.g. 30s, 5m); 0 waits forever.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Wait for the rollout to finish (--watch=false prints once).
    #[arg(
        short = 'w',
        long,
        action = ArgAction::Set,
        default_value_t = true,
        default_missing_value = "true",
        num_args = 0..=1,
        require_equals = true
    )]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    /// The fault to inject.
    #[arg(value_enum)]
    pub fault: Fault,
    /// The pod: pod/NAME or NAME.
    pub pod: String,
}

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
