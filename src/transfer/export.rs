//! The zone as a master file (RFC 1035 §5): for `headless-dns export-zone`
//! and the admin server's `GET /zone`.
//!
//! One record per line, absolute names (no `$ORIGIN`, no relative names),
//! `name TTL IN TYPE RDATA` separated by tabs, the SOA first and the rest in
//! canonical order (RFC 4034 §6), so two exports of the same zone compare
//! equal line by line. [`export_zone`] builds the zone from a config file
//! the way `serve` does, without serving it.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use hickory_proto::rr::{Name, RData, Record};

use crate::config::{Config, SourceConfig};
use crate::index::ClusterIndex;
use crate::snapshot::{Snapshot, ZoneSettings};
use crate::source;

/// Which zones to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ZoneChoice {
    /// The forward zone (`cluster.local`).
    Forward,
    /// Every reverse zone (`in-addr.arpa.`, `ip6.arpa.`), one after another.
    Reverse,
}

impl std::str::FromStr for ZoneChoice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "forward" => Ok(Self::Forward),
            "reverse" => Ok(Self::Reverse),
            other => Err(format!("unknown zone {other:?}: forward or reverse")),
        }
    }
}

/// RDATA in presentation form. TXT strings are quoted and escaped (hickory's
/// `Display` prints them bare); every other type we serve prints as RFC 1035
/// writes it.
fn rdata_text(data: &RData) -> String {
    match data {
        RData::TXT(txt) => {
            let mut out = String::new();
            for (i, string) in txt.txt_data.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push('"');
                for &byte in string.iter() {
                    match byte {
                        b'"' | b'\\' => {
                            out.push('\\');
                            out.push(char::from(byte));
                        }
                        0x20..=0x7e => out.push(char::from(byte)),
                        _ => {
                            let _ = write!(out, "\\{byte:03}");
                        }
                    }
                }
                out.push('"');
            }
            out
        }
        other => other.to_string(),
    }
}

/// One record as a master-file line (no newline).
pub fn record_line(record: &Record) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        record.name.to_ascii(),
        record.ttl,
        record.dns_class,
        record.record_type(),
        rdata_text(&record.data)
    )
}

/// The zone at `origin`, SOA first; `None` when it is not served.
pub fn master_file(snap: &Snapshot, origin: &Name) -> Option<String> {
    let mut records = snap.zone_records(origin)?.into_iter();
    let soa = records.next()?;
    let mut rest: Vec<Record> = records.collect();
    rest.sort();
    rest.dedup();
    let mut out = String::new();
    for record in std::iter::once(&soa).chain(&rest) {
        out.push_str(&record_line(record));
        out.push('\n');
    }
    Some(out)
}

/// The chosen zones, one master file after another.
pub fn master_files(snap: &Snapshot, zones: ZoneChoice) -> String {
    let origins: Vec<&Name> = match zones {
        ZoneChoice::Forward => vec![&snap.forward.origin],
        ZoneChoice::Reverse => snap.reverse.iter().map(|a| &a.origin).collect(),
    };
    origins
        .into_iter()
        .filter_map(|origin| master_file(snap, origin))
        .collect()
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
    let objects = source::manifest::load_objects(&embedded.manifests)?;
    let mut cluster =
        source::cluster::Cluster::new(source::cluster::SimSettings::from_config(embedded));
    let mut now = tokio::time::Instant::now();
    cluster
        .apply_manifests(objects, now)
        .map_err(|e| anyhow::anyhow!("{}: manifests rejected: {e}", path.display()))?;
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
    let settings = Arc::new(ZoneSettings::from_config(&config));
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
    Ok(master_files(&snapshot_from_config(path)?, zones))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::TXT;

    #[test]
    fn txt_is_quoted_and_escaped() {
        let record = Record::from_rdata(
            Name::from_ascii("dns-version.cluster.local.").unwrap(),
            5,
            RData::TXT(TXT::from_bytes(vec![b"1.1.0", b"a \"q\" \\ \x01"])),
        );
        assert_eq!(
            record_line(&record),
            "dns-version.cluster.local.\t5\tIN\tTXT\t\"1.1.0\" \"a \\\"q\\\" \\\\ \\001\""
        );
    }
}
