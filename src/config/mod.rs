//! The configuration file: typed sections, a named default for every field,
//! unknown keys rejected.
//!
//! `Config::from_str` parses text (tests use it directly); `Config::load`
//! reads a file and resolves relative manifest paths against the file's own
//! folder, the way kubeconfig resolves its paths. Every error names the file,
//! and where the YAML parser knows it, the line, column and key.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

mod dns;
mod error;
mod source;
#[cfg(test)]
mod tests;
mod transfer;
mod values;

pub use dns::{DnsConfig, RrlConfig};
pub use error::ConfigError;
use source::resolve_kubeconfig;
pub use source::{EmbeddedConfig, KubernetesConfig, SourceConfig};
pub use transfer::{AllowEntry, NotifyEntry, TransferConfig};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The forward zone served, e.g. `cluster.local`.
    #[serde(default = "default_zone")]
    pub zone: String,
    #[serde(default)]
    pub dns: DnsConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    pub source: SourceConfig,
    #[serde(default)]
    pub transfer: TransferConfig,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `/metrics`, `/healthz`, `/readyz` and the embedded cluster's API.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
}

fn default_zone() -> String {
    "cluster.local".to_owned()
}

fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9153))
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
        }
    }
}

impl Config {
    /// Parses and validates config text. `path` is only used in messages.
    pub fn from_str(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Config = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads, parses and validates a config file; relative manifest paths
    /// become relative to the file's folder.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut config = Self::from_str(&text, path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for file in [
            config.transfer.keys_file.as_mut(),
            config.dns.cookie_secret_file.as_mut(),
        ]
        .into_iter()
        .flatten()
        {
            if file.is_relative() {
                *file = base.join(&*file);
            }
        }
        match &mut config.source {
            SourceConfig::Embedded(embedded) => {
                for manifest in &mut embedded.manifests {
                    if manifest.is_relative() {
                        *manifest = base.join(&*manifest);
                    }
                }
            }
            SourceConfig::Kubernetes(kubernetes) => {
                if let Some(kubeconfig) = &mut kubernetes.kubeconfig {
                    *kubeconfig = resolve_kubeconfig(kubeconfig, base, std::env::var_os("HOME"));
                }
            }
        }
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        crate::names::parse_zone(&self.zone).map_err(|e| invalid("zone", e))?;
        if self.dns.listen.is_empty() {
            return Err(invalid(
                "dns.listen",
                "needs at least one address".to_owned(),
            ));
        }
        if self.dns.max_udp_payload < crate::wire::MIN_UDP_PAYLOAD {
            return Err(invalid(
                "dns.max_udp_payload",
                format!(
                    "{} is below the DNS minimum of {}",
                    self.dns.max_udp_payload,
                    crate::wire::MIN_UDP_PAYLOAD
                ),
            ));
        }
        let rrl = &self.dns.rrl;
        if !(1..=1_000_000).contains(&rrl.responses_per_second) {
            return Err(invalid(
                "dns.rrl.responses_per_second",
                format!("{} is outside 1 to 1000000", rrl.responses_per_second),
            ));
        }
        if rrl.window < Duration::from_secs(1)
            || rrl.window > Duration::from_secs(3600)
            || rrl.window.subsec_nanos() != 0
        {
            return Err(invalid(
                "dns.rrl.window",
                format!(
                    "{} is not a whole number of seconds from 1s to 1h",
                    humantime::format_duration(rrl.window)
                ),
            ));
        }
        if rrl.slip > 10 {
            return Err(invalid(
                "dns.rrl.slip",
                format!("{} is above 10 (0 drops every limited answer)", rrl.slip),
            ));
        }
        if rrl.ipv4_prefix > 32 {
            return Err(invalid(
                "dns.rrl.ipv4_prefix",
                format!("{} is longer than an IPv4 address (32)", rrl.ipv4_prefix),
            ));
        }
        if rrl.ipv6_prefix > 128 {
            return Err(invalid(
                "dns.rrl.ipv6_prefix",
                format!("{} is longer than an IPv6 address (128)", rrl.ipv6_prefix),
            ));
        }
        if let Some(nsid) = &self.dns.nsid
            && (nsid.is_empty() || nsid.len() > 128)
        {
            return Err(invalid(
                "dns.nsid",
                format!(
                    "is {} bytes; give 1 to 128 (or leave the key out)",
                    nsid.len()
                ),
            ));
        }
        for zone in self.dns.reverse_zones.iter().flatten() {
            let parsed =
                crate::names::parse_zone(zone).map_err(|e| invalid("dns.reverse_zones", e))?;
            let text = parsed.to_ascii().to_ascii_lowercase();
            if !(text.ends_with("in-addr.arpa.") || text.ends_with("ip6.arpa.")) {
                return Err(invalid(
                    "dns.reverse_zones",
                    format!("{zone:?} is not under in-addr.arpa. or ip6.arpa."),
                ));
            }
        }
        for cidr in &self.dns.reverse_cidrs {
            crate::names::reverse_zones_of(*cidr).map_err(|e| invalid("dns.reverse_cidrs", e))?;
        }
        if let Some(ns) = &self.dns.nameserver {
            crate::names::parse_zone(ns).map_err(|e| invalid("dns.nameserver", e))?;
        }
        if self.dns.workers == Some(0) {
            return Err(invalid("dns.workers", "must be at least 1".to_owned()));
        }
        if self.dns.tcp_max_connections == 0 {
            return Err(invalid(
                "dns.tcp_max_connections",
                "must be at least 1".to_owned(),
            ));
        }
        if self.transfer.journal_size == 0 {
            return Err(invalid(
                "transfer.journal_size",
                "must be at least 1 (the serial a secondary holds)".to_owned(),
            ));
        }
        if self.transfer.notify_interval.is_zero() && !self.transfer.notify.is_empty() {
            return Err(invalid(
                "transfer.notify_interval",
                "must be above 0 (e.g. 1s)".to_owned(),
            ));
        }
        if let Some(target) = self.transfer.notify.iter().find(|t| t.address.port() == 0) {
            return Err(invalid(
                "transfer.notify",
                format!("{} has no port; secondaries listen on 53", target.address),
            ));
        }
        let signed = self.transfer.allow.iter().any(|e| e.key.is_some())
            || self.transfer.notify.iter().any(|t| t.key.is_some());
        if signed && self.transfer.keys_file.is_none() {
            return Err(invalid(
                "transfer.keys_file",
                "is needed: an allow or notify entry names a key".to_owned(),
            ));
        }
        match &self.source {
            SourceConfig::Embedded(embedded) if embedded.manifests.is_empty() => Err(invalid(
                "source.embedded.manifests",
                "lists no file or folder".to_owned(),
            )),
            SourceConfig::Embedded(embedded)
                if embedded.pod_cidr.max_prefix_len() - embedded.pod_cidr.prefix_len() < 3 =>
            {
                Err(invalid(
                    "source.embedded.pod_cidr",
                    format!(
                        "{} is too small for pods: use a prefix of at most /{}",
                        embedded.pod_cidr,
                        embedded.pod_cidr.max_prefix_len() - 3
                    ),
                ))
            }
            SourceConfig::Embedded(embedded)
                if embedded.service_cidr.max_prefix_len() - embedded.service_cidr.prefix_len()
                    < 3 =>
            {
                Err(invalid(
                    "source.embedded.service_cidr",
                    format!(
                        "{} is too small for services: use a prefix of at most /{}",
                        embedded.service_cidr,
                        embedded.service_cidr.max_prefix_len() - 3
                    ),
                ))
            }
            SourceConfig::Embedded(_) => Ok(()),
            SourceConfig::Kubernetes(kubernetes) => kubernetes.validate(path),
        }
    }
}
