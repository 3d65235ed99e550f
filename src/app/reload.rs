//! SIGHUP: re-read the config file and apply what can change while queries
//! flow (the embedded cluster's manifests, RRL, NSID, TSIG keys and the
//! transfer allow and notify lists, the cookie secret); name the keys that
//! need a restart; keep the running config when the new one is bad.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::settings::{self, Overrides};
use crate::config::{Config, SourceConfig};
use crate::metrics::Metrics;
use crate::source;
use crate::transfer::{self, Transfer};

/// SIGHUP: re-read the config file. What can change live is the embedded
/// cluster's manifests (re-read from the files the running config lists,
/// applied like an edit, `kubectl apply --prune`), `dns.rrl`, `dns.nsid`,
/// the cookie secret (its file re-read, `server/live.rs`) and
/// `transfer.allow`, `transfer.notify` and the TSIG keys (the key file
/// re-read, so a rotated Secret takes effect); every other
/// key takes effect at the next restart, and a reload that changes one says
/// which. A config or manifest that fails to load is logged with its file,
/// line and key, and the running config, settings and state stay.
pub(super) struct Reload {
    pub(super) path: PathBuf,
    pub(super) overrides: Overrides,
    pub(super) running: Config,
    pub(super) cluster: Option<source::cluster_api::ClusterHandle>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) live: Arc<crate::server::live::Live>,
    pub(super) transfer: Arc<Transfer>,
}

impl Reload {
    pub(super) async fn run(
        mut self,
        mut hangup: tokio::signal::unix::Signal,
        shutdown: CancellationToken,
    ) {
        loop {
            tokio::select! {
                signal = hangup.recv() => if signal.is_none() { return },
                () = shutdown.cancelled() => return,
            }
            tracing::info!("SIGHUP: reloading {}", self.path.display());
            match self.reload().await {
                Ok(summary) => {
                    self.metrics.reloads.inc();
                    tracing::info!("config reloaded: {summary}");
                }
                Err(error) => {
                    self.metrics.reload_failures.inc();
                    tracing::error!("config reload failed, keeping the running config: {error:#}");
                }
            }
        }
    }

    async fn reload(&mut self) -> anyhow::Result<String> {
        let path = self.path.clone();
        let mut config = tokio::task::spawn_blocking(move || Config::load(&path)).await??;
        if !self.overrides.listen.is_empty() {
            config.dns.listen = self.overrides.listen.clone();
        }
        if let Some(admin) = self.overrides.admin {
            config.admin.listen = admin;
        }
        // Everything that can fail is read before anything is applied, so
        // a bad file changes nothing. The secret file is the running one (a
        // new path takes a restart, like the poller that watches it).
        let cookie_secret = match &self.running.dns.cookie_secret_file {
            Some(path) => crate::server::cookie::read_secret_file(path)?,
            None => None,
        };
        let auth = transfer::Auth::from_config(&config.transfer, &self.path)?;
        let mut summary = Vec::new();
        if let (Some(handle), SourceConfig::Embedded(running)) =
            (&self.cluster, &self.running.source)
        {
            // The files the running config lists (the watcher watches those;
            // a new list takes a restart).
            let results =
                source::embedded::reload_manifests(handle, running.manifests.clone()).await?;
            summary.push(format!("manifests re-read, {} changes", results.len()));
            for line in &results {
                tracing::info!("manifest reload: {line}");
            }
        }
        if self
            .live
            .set_rrl(settings::rrl_settings(&config.dns.rrl), &self.metrics)
        {
            let rrl = &config.dns.rrl;
            tracing::info!(
                enabled = rrl.enabled,
                responses_per_second = rrl.responses_per_second,
                window = ?rrl.window,
                slip = rrl.slip,
                ipv4_prefix = rrl.ipv4_prefix,
                ipv6_prefix = rrl.ipv6_prefix,
                "dns.rrl changed; in force now"
            );
            summary.push("dns.rrl applied".to_owned());
        }
        if self.live.set_nsid(config.dns.nsid.as_deref()) {
            summary.push("dns.nsid applied".to_owned());
        }
        if let Some(secret) = cookie_secret
            && self.live.rotate_cookie_secret(secret)
        {
            summary.push("cookie secret rotated (the previous one is still accepted)".to_owned());
        }
        summary.push(format!(
            "transfer: {} TSIG keys, {} allow entries, {} NOTIFY targets",
            auth.keys().len(),
            config.transfer.allow.len(),
            auth.notify().len()
        ));
        self.transfer.set_auth(auth);
        let pending = restart_keys(&self.running, &config);
        // What was applied is now the running config's.
        self.running.dns.rrl = config.dns.rrl;
        self.running.dns.nsid = config.dns.nsid.clone();
        self.running.transfer.keys_file = config.transfer.keys_file.clone();
        self.running.transfer.allow = config.transfer.allow.clone();
        self.running.transfer.notify = config.transfer.notify.clone();
        if pending.is_empty() {
            summary.push("no other key changed".to_owned());
        } else {
            tracing::warn!(
                "config reload: {} changed; these take effect at the next restart",
                pending.join(", ")
            );
            summary.push(format!("needs a restart for {}", pending.join(", ")));
        }
        Ok(summary.join("; "))
    }
}

/// Config keys that differ between `running` and `next` and only take
/// effect at a restart (all but the manifests' contents).
fn restart_keys(running: &Config, next: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let (a, b) = (&running.dns, &next.dns);
    for (key, same) in [
        ("zone", running.zone == next.zone),
        ("dns.listen", a.listen == b.listen),
        ("dns.ttl", a.ttl == b.ttl),
        ("dns.negative_ttl", a.negative_ttl == b.negative_ttl),
        (
            "dns.max_udp_payload",
            a.max_udp_payload == b.max_udp_payload,
        ),
        ("dns.reverse_zones", a.reverse_zones == b.reverse_zones),
        ("dns.reverse_cidrs", a.reverse_cidrs == b.reverse_cidrs),
        ("dns.pod_records", a.pod_records == b.pod_records),
        (
            "dns.stable_name_grace",
            a.stable_name_grace == b.stable_name_grace,
        ),
        (
            "dns.tcp_idle_timeout",
            a.tcp_idle_timeout == b.tcp_idle_timeout,
        ),
        (
            "dns.tcp_max_connections",
            a.tcp_max_connections == b.tcp_max_connections,
        ),
        ("dns.workers", a.workers == b.workers),
        ("dns.nameserver", a.nameserver == b.nameserver),
        (
            "dns.nameserver_addresses",
            a.nameserver_addresses == b.nameserver_addresses,
        ),
        (
            "dns.cookie_secret_file",
            a.cookie_secret_file == b.cookie_secret_file,
        ),
        ("admin", running.admin == next.admin),
        (
            "transfer.notify_interval",
            running.transfer.notify_interval == next.transfer.notify_interval,
        ),
        (
            "transfer.journal_size",
            running.transfer.journal_size == next.transfer.journal_size,
        ),
        ("source", running.source == next.source),
    ] {
        if !same {
            keys.push(key);
        }
    }
    keys
}
