//! `ctl exec POD -- CMD` and `ctl run NAME --image IMAGE [-it] [--rm]
//! [-- CMD]`: the DNS checks of the tutorials inside a simulated pod.
//!
//! The pod is read from the admin API and becomes a [`PodEnv`]; commands
//! are the built-ins of [`super::shell`], whose lookups go to the DNS
//! server the admin API names at `/sim/v1/dns` (or `--dns ADDR`). `-i`
//! reads command lines from the input until `exit` or its end; `-t` adds
//! busybox's `/ # ` prompt. `run` creates a bare pod first, waits for it to
//! run, and with `--rm` deletes it after.

use std::net::SocketAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde_json::Value;

use super::client::{self, Error};
use super::context::Ctx;
use super::resolver::Udp;
use super::resource::Kind;
use super::shell::{self, PodEnv};

/// How long `run` waits for its pod to run.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a DNS question waits for an answer (glibc's `timeout:`).
const DNS_TIMEOUT: Duration = Duration::from_secs(2);

/// How a command is attached to the caller's terminal.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// `-i`: read commands from stdin.
    pub stdin: bool,
    /// `-t`: a terminal, so a prompt.
    pub tty: bool,
}

/// Where the server answers DNS and for which zone.
#[derive(Debug, Clone)]
struct DnsInfo {
    server: SocketAddr,
    zone: String,
}

fn dns_info(ctx: &mut Ctx<'_>, flag: Option<&str>) -> Result<DnsInfo, String> {
    let answer = ctx.client.get_value("/sim/v1/dns");
    let from_api = match &answer {
        Ok(value) => Some(value),
        Err(error) if error.is_not_found() => None,
        Err(error) => return Err(error.to_string()),
    };
    let zone = from_api
        .and_then(|v| v["zone"].as_str())
        .unwrap_or("cluster.local")
        .trim_end_matches('.')
        .to_owned();
    let server = match flag {
        Some(text) => text
            .parse::<SocketAddr>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| format!("invalid --dns {text:?}: want IP or IP:PORT"))?,
        None => from_api
            .and_then(|v| v["servers"].as_array())
            .and_then(|servers| servers.first())
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                "the admin API does not say where DNS is served (no /sim/v1/dns); pass --dns IP:PORT"
                    .to_owned()
            })?,
    };
    Ok(DnsInfo { server, zone })
}

/// What kubelet would have given the pod.
fn pod_env(pod: &Pod, dns: &DnsInfo) -> PodEnv {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let namespace = pod
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let spec = pod.spec.as_ref();
    let hostname = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| name.clone());
    let fqdn = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|sub| format!("{hostname}.{sub}.{namespace}.svc.{}", dns.zone));
    PodEnv {
        name,
        namespace,
        hostname,
        fqdn,
        ip: pod.status.as_ref().and_then(|s| s.pod_ip.clone()),
        nameserver: dns.server,
        zone: dns.zone.clone(),
    }
}

fn running(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// Runs `exec`; returns the command's exit code.
pub fn exec(
    ctx: &mut Ctx<'_>,
    pod: &str,
    command: &[String],
    attach: Attach,
    dns: Option<&str>,
) -> u8 {
    if command.is_empty() {
        return ctx.error("you must specify at least one command for the container");
    }
    let path = Kind::Pod.item_path(&ctx.namespace, pod);
    let object: Pod = match ctx.client.get(&path) {
        Ok(object) => object,
        Err(error) => return ctx.fail(&error),
    };
    if !running(&object) {
        let container = object
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        return ctx.error(&format!(
            "unable to upgrade connection: container not found (\"{container}\")"
        ));
    }
    let dns = match dns_info(ctx, dns) {
        Ok(dns) => dns,
        Err(message) => return ctx.error(&message),
    };
    let env = pod_env(&object, &dns);
    session(ctx, &env, command, attach)
}

/// Runs `command`, or with `-i` and a shell (`sh`) reads command lines.
fn session(ctx: &mut Ctx<'_>, env: &PodEnv, command: &[String], attach: Attach) -> u8 {
    let transport = Udp {
        server: env.nameserver,
        timeout: DNS_TIMEOUT,
    };
    let is_shell =
        command.len() == 1 && matches!(command[0].rsplit('/').next(), Some("sh" | "ash" | "bash"));
    if !(attach.stdin && is_shell) {
        let outcome = shell::run(env, &transport, command);
        ctx.print(&outcome.out);
        ctx.flush();
        ctx.eprint(&outcome.err);
        if outcome.code != 0 && !is_shell {
            ctx.eprint(&format!(
                "command terminated with exit code {}\n",
                outcome.code
            ));
        }
        return outcome.code;
    }
    let mut code = 0;
    loop {
        if attach.tty {
            ctx.print("/ # ");
            ctx.flush();
        }
        let mut line = String::new();
        match ctx.input.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let words = match shell::split_words(line.trim()) {
            Ok(words) => words,
            Err(e) => {
                ctx.eprint(&format!("sh: {e}\n"));
                code = 2;
                continue;
            }
        };
        if words.first().map(String::as_str) == Some("exit") {
            code = match words.get(1).map(|n| n.parse::<u8>()) {
                None => code,
                Some(Ok(n)) => n,
                Some(Err(_)) => 2,
            };
            break;
        }
        if words.is_empty() {
            continue;
        }
        let outcome = shell::run(env, &transport, &words);
        ctx.print(&outcome.out);
        ctx.flush();
        ctx.eprint(&outcome.err);
        code = outcome.code;
    }
    if attach.tty {
        ctx.print("\n");
    }
    code
}

/// What `run` was asked for.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub name: String,
    pub image: String,
    pub restart: String,
    pub remove: bool,
    pub attach: Attach,
    pub command: Vec<String>,
}

/// Runs `run`; returns the exit code.
pub fn run(ctx: &mut Ctx<'_>, request: &RunRequest, dns: Option<&str>) -> u8 {
    let attached = request.attach.stdin || request.attach.tty;
    if request.remove && !attached {
        return ctx.error("--rm should only be used for attached containers");
    }
    let mut container = serde_json::json!({"name": request.name, "image": request.image});
    if !request.command.is_empty() {
        container["args"] = Value::from(request.command.clone());
    }
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": request.name, "labels": {"run": request.name}},
        "spec": {"containers": [container], "restartPolicy": request.restart},
    });
    let list = Kind::Pod.list_path(Some(&ctx.namespace));
    if let Err(error) = ctx.client.post_json(&list, &body) {
        return ctx.fail(&error);
    }
    if !attached {
        ctx.print(&format!("pod/{} created\n", request.name));
        return 0;
    }
    let code = match wait_running(ctx, &request.name) {
        Ok(pod) => match dns_info(ctx, dns) {
            Ok(dns) => {
                let env = pod_env(&pod, &dns);
                let command = if request.command.is_empty() {
                    vec!["sh".to_owned()]
                } else {
                    request.command.clone()
                };
                if request.attach.tty && request.command.is_empty() {
                    ctx.print("If you don't see a command prompt, try pressing enter.\n");
                }
                session(ctx, &env, &command, request.attach)
            }
            Err(message) => ctx.error(&message),
        },
        Err(error) => ctx.fail(&error),
    };
    if request.remove {
        match ctx
            .client
            .delete(&Kind::Pod.item_path(&ctx.namespace, &request.name))
        {
            Ok(_) => ctx.print(&format!("pod \"{}\" deleted\n", request.name)),
            Err(error) => return ctx.fail(&error),
        }
    }
    code
}

/// Waits (watching the pod) until it runs; at most [`START_TIMEOUT`].
fn wait_running(ctx: &mut Ctx<'_>, name: &str) -> Result<Pod, Error> {
    let selector = crate::selector::Selector::parse(&format!("run={name}")).map_err(|detail| {
        Error::Decode {
            path: String::new(),
            detail,
        }
    })?;
    let path = client::with_selector(&Kind::Pod.list_path(Some(&ctx.namespace)), Some(&selector));
    for event in ctx.client.watch(&path, Some(START_TIMEOUT))? {
        let event = event?;
        let pod: Pod = client::decode(&path, event.object)?;
        if pod.metadata.name.as_deref() == Some(name) && running(&pod) {
            return Ok(pod);
        }
    }
    Err(Error::Timeout)
}
