//! The commands that read a config without serving it: `check-config`
//! (load and check everything the config points at) and `export-zone`
//! (the zone that `serve` would serve once its embedded cluster settles).

use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, SourceConfig};
use crate::index::ClusterIndex;
use crate::snapshot::Snapshot;
use crate::source;
use crate::transfer::{self, export, export::ZoneChoice};

/// Loads and checks a config file and the state it points at; returns a
/// one-line summary.
pub fn check_config(path: &Path) -> anyhow::Result<String> {
    let config = Config::load(path)?;
    // The key file and the names in `allow` and `notify`; the cookie secret.
    transfer::Auth::from_config(&config.transfer, path)?;
    if let Some(secret) = &config.dns.cookie_secret_file {
        crate::server::cookie::read_secret_file(secret)?;
    }
    match &config.source {
        SourceConfig::Embedded(embedded) => {
            let objects = source::manifest::load_objects(&embedded.manifests)?;
            // Apply to a scratch cluster so invalid objects fail here too.
            source::embedded::cluster_from_objects(
                objects.clone(),
                super::settings::sim_settings(embedded),
                tokio::time::Instant::now(),
            )?;
            let state = source::manifest::state_from_objects(&objects);
            let headless = state.services.iter().filter(|s| s.is_headless()).count();
            Ok(format!(
                "{}: OK: zone {}, {} services ({} headless), {} EndpointSlices, {} Endpoints, {} StatefulSets",
                path.display(),
                config.zone,
                state.services.len(),
                headless,
                state.slices.len(),
                state.endpoints.len(),
                state.sets.len()
            ))
        }
        SourceConfig::Kubernetes(kubernetes) => {
            // Credentials are loaded (so a bad kubeconfig shows here); the
            // API server is not contacted.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(source::kubernetes::KubernetesSource::connect(kubernetes))?;
            let kinds: Vec<&str> = source::kubernetes::kinds(kubernetes)
                .into_iter()
                .map(source::kubernetes::Kind::plural)
                .collect();
            let namespaces = if kubernetes.namespaces.is_empty() {
                "all namespaces".to_owned()
            } else {
                format!("namespaces {}", kubernetes.namespaces.join(", "))
            };
            Ok(format!(
                "{}: OK: zone {}, Kubernetes source ({}): watches {} in {}{}",
                path.display(),
                config.zone,
                kubernetes.kubeconfig.as_ref().map_or_else(
                    || "in-cluster or $KUBECONFIG".to_owned(),
                    |k| format!("kubeconfig {}", k.display())
                ),
                kinds.join(", "),
                namespaces,
                kubernetes
                    .label_selector
                    .as_ref()
                    .map_or_else(String::new, |s| format!(", labels {s}")),
            ))
        }
    }
}

/// The most simulation steps to settle the embedded cluster.
const MAX_STEPS: usize = 100_000;

/// Builds the zone a `serve --config FILE` would serve once its embedded
/// cluster has settled (every pod Running and Ready): the manifests are
/// applied to a simulated cluster whose clock then jumps from one timer to
/// the next until none is left.
pub fn snapshot_from_config(path: &Path) -> anyhow::Result<Snapshot> {
    let config = Config::load(path)?;
    let embedded = match &config.source {
        SourceConfig::Embedded(embedded) => embedded,
        SourceConfig::Kubernetes(_) => anyhow::bail!(
            "{}: export-zone does not support the Kubernetes source yet (it needs a running \
             watch); run `headless-dns serve --config {}` and GET /zone on its admin address",
            path.display(),
            path.display()
        ),
    };
    let mut now = tokio::time::Instant::now();
    let (mut cluster, _) = source::embedded::load_cluster(
        &embedded.manifests,
        super::settings::sim_settings(embedded),
        now,
    )
    .map_err(|e| anyhow::anyhow!("{}: {e:#}", path.display()))?;
    let mut state = None;
    let mut settled = false;
    for _ in 0..MAX_STEPS {
        if let Some(next) = cluster.step(now) {
            state = Some(next);
        }
        match cluster.next_wakeup() {
            // Time moves on to the next timer.
            Some(at) if at > now => now = at,
            // Nothing left to happen, or nothing can (a pod stuck Pending
            // on an exhausted pod CIDR stays due forever).
            _ => {
                settled = true;
                break;
            }
        }
    }
    anyhow::ensure!(
        settled,
        "{}: the simulated cluster did not settle within {MAX_STEPS} steps",
        path.display()
    );
    let settings = Arc::new(super::settings::zone_settings(&config));
    let mut index = ClusterIndex::new(settings, config.dns.stable_name_grace);
    if let Some(state) = state {
        index.reset_all(state);
    }
    index.set_synced(true);
    index.publish(std::time::Instant::now());
    Ok(index.snapshot().clone())
}

/// `headless-dns export-zone --config FILE [--zone forward|reverse]`.
pub fn export_zone(path: &Path, zones: ZoneChoice) -> anyhow::Result<String> {
    Ok(export::master_files(&snapshot_from_config(path)?, zones))
}
