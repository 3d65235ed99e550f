//! The command line of `headless-dns ctl`: kubectl's verbs and flags as clap
//! types, and nothing else. `ctl/mod.rs` executes them.

use std::path::PathBuf;

use clap::{ArgAction, Args, Subcommand};

use super::apply::Fault;
use super::get::OutputFormat;
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
