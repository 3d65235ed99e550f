//! The `source:` section: the embedded cluster (manifests, CIDRs, delays,
//! the pod cap) or the Kubernetes API (kubeconfig, namespaces, selector).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::values::duration;

/// Exactly one source of cluster objects.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum SourceConfig {
    Embedded(EmbeddedConfig),
    Kubernetes(KubernetesConfig),
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedConfig {
    /// Files or folders of Kubernetes YAML, as `kubectl apply -f` takes them.
    /// Relative paths are relative to the config file's folder.
    pub manifests: Vec<PathBuf>,
    /// Watch the manifests and serve edits.
    #[serde(default = "default_true")]
    pub watch: bool,
    /// Simulated pods take their IPs from here.
    #[serde(default = "default_pod_cidr")]
    pub pod_cidr: ipnet::IpNet,
    /// Services without `spec.clusterIP` get one from here, as
    /// kube-apiserver's `--service-cluster-ip-range` allocator gives it.
    #[serde(default = "default_service_cidr")]
    pub service_cidr: ipnet::IpNet,
    /// A created pod's container starts (Pending → Running) after this.
    #[serde(default = "default_start_delay", deserialize_with = "duration")]
    pub start_delay: Duration,
    /// A running pod turns Ready after this (its readiness probe passes).
    #[serde(default = "default_ready_delay", deserialize_with = "duration")]
    pub ready_delay: Duration,
    /// A deleted pod is gone after this (graceful termination).
    #[serde(default = "default_terminate_delay", deserialize_with = "duration")]
    pub terminate_delay: Duration,
    /// The most simulated pods at once. A StatefulSet that wants more is
    /// refused the rest with a `FailedCreate` event, as a quota refuses
    /// them; `replicas` is anyone's number, memory is not.
    #[serde(default = "default_max_pods")]
    pub max_pods: usize,
}

pub(super) fn default_max_pods() -> usize {
    10_000
}

pub(super) fn default_pod_cidr() -> ipnet::IpNet {
    ipnet::IpNet::V4(
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 244, 0, 0), 16).unwrap_or_default(),
    )
}
pub(super) fn default_service_cidr() -> ipnet::IpNet {
    ipnet::IpNet::V4(
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 96, 0, 0), 12).unwrap_or_default(),
    )
}
pub(super) fn default_start_delay() -> Duration {
    Duration::from_millis(500)
}
pub(super) fn default_ready_delay() -> Duration {
    Duration::from_millis(1000)
}
pub(super) fn default_terminate_delay() -> Duration {
    Duration::from_millis(500)
}

/// A real cluster, read through the API server's list and watch.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// A kubeconfig file. Absent: the in-cluster service account, then
    /// `$KUBECONFIG` or `~/.kube/config`. A relative path is relative to the
    /// config file's folder; a leading `~/` is the home folder.
    #[serde(default = "default_kubeconfig")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespaces to watch, one watch per namespace and kind (so that a
    /// namespaced Role suffices). Empty: every namespace, cluster-wide.
    #[serde(default = "default_namespaces")]
    pub namespaces: Vec<String>,
    /// A label selector (`k=v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin
    /// (a,b)`, comma-separated) for Services, EndpointSlices and Endpoints.
    /// The endpoint controllers copy a Service's labels onto its slices, so
    /// selecting Services selects their endpoints too. StatefulSets are not
    /// filtered: they only ever add names under a selected Service.
    #[serde(default = "default_label_selector")]
    pub label_selector: Option<String>,
    /// Also watch legacy v1 Endpoints (for endpoints written by controllers
    /// that do not create EndpointSlices). EndpointSlices are always watched.
    #[serde(default = "default_legacy_endpoints")]
    pub legacy_endpoints: bool,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            kubeconfig: default_kubeconfig(),
            namespaces: default_namespaces(),
            label_selector: default_label_selector(),
            legacy_endpoints: default_legacy_endpoints(),
        }
    }
}

pub(super) fn default_kubeconfig() -> Option<PathBuf> {
    None
}
pub(super) fn default_namespaces() -> Vec<String> {
    Vec::new()
}
pub(super) fn default_label_selector() -> Option<String> {
    None
}
pub(super) fn default_legacy_endpoints() -> bool {
    false
}

pub(super) fn default_true() -> bool {
    true
}

impl KubernetesConfig {
    pub(super) fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            field,
            message,
        };
        if self
            .kubeconfig
            .as_ref()
            .is_some_and(|k| k.as_os_str().is_empty())
        {
            return Err(invalid(
                "source.kubernetes.kubeconfig",
                "is empty; give a path or leave the key out for the in-cluster account".to_owned(),
            ));
        }
        for (i, namespace) in self.namespaces.iter().enumerate() {
            if !crate::names::is_dns_label(namespace) {
                return Err(invalid(
                    "source.kubernetes.namespaces",
                    format!(
                        "{namespace:?} is not a namespace name (lowercase letters, digits and '-', at most 63)"
                    ),
                ));
            }
            if self.namespaces[..i].contains(namespace) {
                return Err(invalid(
                    "source.kubernetes.namespaces",
                    format!("{namespace:?} is listed twice"),
                ));
            }
        }
        if let Some(selector) = &self.label_selector {
            crate::selector::check_label_selector(selector)
                .map_err(|e| invalid("source.kubernetes.label_selector", e))?;
        }
        Ok(())
    }
}

/// A kubeconfig path as written in the config file: `~/` is the home folder,
/// a relative path is relative to the config file's folder `base`.
pub(super) fn resolve_kubeconfig(
    path: &Path,
    base: &Path,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), home) {
        return PathBuf::from(home).join(rest);
    }
    if path.is_relative() {
        base.join(path)
    } else {
        path.to_owned()
    }
}
