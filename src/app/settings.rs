//! The conversions from config sections to the settings of the parts that
//! run: the zone's fixed settings for the index and snapshot, the response
//! rate limiter's, the simulated cluster's and NOTIFY's. (TSIG keys are
//! resolved against their key file by `transfer::Auth::from_config`, whose
//! errors name the config's fields.) The config knows nothing of the parts; the
//! parts know nothing of the config file.

use std::net::SocketAddr;

use hickory_proto::rr::Name;

use std::time::Duration;

use crate::config::{Config, EmbeddedConfig, RrlConfig, TransferConfig};
use crate::names;
use crate::server::rrl::RrlSettings;
use crate::snapshot::ZoneSettings;
use crate::source::cluster::SimSettings;
use crate::transfer::notify::NotifySettings;

/// Command-line overrides of the config file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Vec<SocketAddr>,
    pub admin: Option<SocketAddr>,
}

/// The zone's settings from a validated config. Glue defaults to the listen
/// addresses that are not wildcards.
pub fn zone_settings(config: &Config) -> ZoneSettings {
    let zone = names::parse_zone(&config.zone).unwrap_or_else(|_| Name::root());
    let nameserver = match &config.dns.nameserver {
        Some(ns) => names::parse_zone(ns).unwrap_or_else(|_| Name::root()),
        None => Name::from_ascii("ns.dns")
            .and_then(|n| n.append_domain(&zone))
            .unwrap_or_else(|_| zone.clone()),
    };
    let mut nameserver_addresses = config.dns.nameserver_addresses.clone();
    if nameserver_addresses.is_empty() {
        for addr in &config.dns.listen {
            if !addr.ip().is_unspecified() && !nameserver_addresses.contains(&addr.ip()) {
                nameserver_addresses.push(addr.ip());
            }
        }
    }
    ZoneSettings {
        zone,
        reverse_zones: config
            .dns
            .served_reverse_zones()
            .iter()
            .filter_map(|z| names::parse_zone(z).ok())
            .collect(),
        ttl: config.dns.ttl,
        negative_ttl: config.dns.negative_ttl,
        nameserver,
        nameserver_addresses,
        pod_records: config.dns.pod_records,
    }
}

/// The limiter's settings, when RRL is enabled.
pub fn rrl_settings(rrl: &RrlConfig) -> Option<RrlSettings> {
    rrl.enabled.then_some(RrlSettings {
        responses_per_second: rrl.responses_per_second,
        window: rrl.window,
        slip: rrl.slip,
        ipv4_prefix: rrl.ipv4_prefix,
        ipv6_prefix: rrl.ipv6_prefix,
    })
}

/// The simulation settings of `source.embedded`.
pub fn sim_settings(embedded: &EmbeddedConfig) -> SimSettings {
    SimSettings {
        pod_cidr: embedded.pod_cidr,
        service_cidr: embedded.service_cidr,
        start_delay: embedded.start_delay,
        ready_delay: embedded.ready_delay,
        terminate_delay: embedded.terminate_delay,
        max_pods: embedded.max_pods,
    }
}

/// How NOTIFY is sent: at most one round per `transfer.notify_interval`;
/// 1 send + 3 resends after 1 s, 2 s and 4 s.
pub fn notify_settings(config: &TransferConfig) -> NotifySettings {
    NotifySettings {
        interval: config.notify_interval,
        attempts: 4,
        timeout: Duration::from_secs(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrl_settings_only_when_enabled() {
        let load = |text: &str| Config::from_str(text, std::path::Path::new("test.yaml")).unwrap();
        let off = load("source: {embedded: {manifests: [a]}}\n");
        assert_eq!(rrl_settings(&off.dns.rrl), None);
        let on = load(
            "source: {embedded: {manifests: [a]}}\ndns: {rrl: {enabled: true, responses_per_second: 5, window: 3s, slip: 0, ipv4_prefix: 32, ipv6_prefix: 64}}\n",
        );
        let s = rrl_settings(&on.dns.rrl).unwrap();
        assert_eq!(s.responses_per_second, 5);
        assert_eq!(s.window, std::time::Duration::from_secs(3));
        assert_eq!((s.slip, s.ipv4_prefix, s.ipv6_prefix), (0, 32, 64));
    }

    #[test]
    fn glue_defaults_to_the_listen_addresses_that_are_not_wildcards() {
        let config = Config::from_str(
            "source: {embedded: {manifests: [a]}}\ndns: {listen: [\"0.0.0.0:53\", \"10.0.0.5:53\", \"10.0.0.5:5353\"]}\n",
            std::path::Path::new("test.yaml"),
        )
        .unwrap();
        let settings = zone_settings(&config);
        assert_eq!(settings.zone.to_ascii(), "cluster.local.");
        assert_eq!(settings.nameserver.to_ascii(), "ns.dns.cluster.local.");
        assert_eq!(
            settings.nameserver_addresses,
            ["10.0.0.5".parse::<std::net::IpAddr>().unwrap()]
        );
    }
}
