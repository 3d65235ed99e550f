//! The `dns:` section: what the server listens on and answers with (zone
//! shape, TTLs, payload sizes, TCP limits, pod records, reverse zones,
//! NSID, cookies) and the `dns.rrl:` response rate limits.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::values::duration;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// Addresses to serve on; UDP and TCP on each.
    #[serde(default = "default_listen")]
    pub listen: Vec<SocketAddr>,
    /// TTL of positive answers, seconds.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    /// SOA MINIMUM, and so the negative-caching TTL of NXDOMAIN and NODATA
    /// answers (RFC 2308), seconds.
    #[serde(default = "default_ttl")]
    pub negative_ttl: u32,
    /// The largest UDP answer we send, whatever the client offers (RFC 9715
    /// and DNS flag day 2020 suggest 1232).
    #[serde(default = "default_max_udp_payload")]
    pub max_udp_payload: u16,
    /// Reverse zones answered with PTR records, by name. Default: the whole
    /// `in-addr.arpa.` and `ip6.arpa.` trees, unless `reverse_cidrs` says
    /// which parts are the cluster's.
    #[serde(default)]
    pub reverse_zones: Option<Vec<String>>,
    /// The cluster's service and pod CIDRs: each becomes the reverse zones
    /// that cover it on label boundaries (`10.96.0.0/12` is sixteen
    /// `N.10.in-addr.arpa.` zones). PTR questions outside every reverse
    /// zone served are REFUSED, so a forwarder sends only these here.
    #[serde(default)]
    pub reverse_cidrs: Vec<ipnet::IpNet>,
    /// Pod records `a-b-c-d.N.pod.Z`: `disabled`, `insecure` (any address,
    /// kubeadm's stock Corefile) or `verified` (only addresses that an
    /// endpoint in namespace N holds), as CoreDNS's `pods` option.
    #[serde(default)]
    pub pod_records: crate::model::PodRecords,
    /// How long a pod name that had an endpoint keeps answering NODATA
    /// (instead of NXDOMAIN) after its endpoint is gone.
    #[serde(default = "default_grace", deserialize_with = "duration")]
    pub stable_name_grace: Duration,
    /// A TCP connection with no query for this long is closed (RFC 7766).
    #[serde(default = "default_tcp_idle", deserialize_with = "duration")]
    pub tcp_idle_timeout: Duration,
    /// Connections beyond this many are refused at accept.
    #[serde(default = "default_tcp_max_connections")]
    pub tcp_max_connections: usize,
    /// UDP worker threads per listen address (each with its own socket on
    /// the address, `SO_REUSEPORT`); default: one per CPU core.
    #[serde(default)]
    pub workers: Option<usize>,
    /// The name in the zone's NS and SOA MNAME; default `ns.dns.<zone>`.
    #[serde(default)]
    pub nameserver: Option<String>,
    /// Glue addresses of that name; default: the specific listen addresses.
    #[serde(default)]
    pub nameserver_addresses: Vec<IpAddr>,
    /// Response rate limiting of UDP answers (off by default).
    #[serde(default)]
    pub rrl: RrlConfig,
    /// The server's identity sent in the NSID option (RFC 5001) to clients
    /// that ask for it; absent: NSID requests are ignored.
    #[serde(default = "default_nsid")]
    pub nsid: Option<String>,
    /// The DNS-cookie server secret (RFC 9018): a file holding 16 bytes as
    /// 32 hex digits (`openssl rand -hex 16`), e.g. a mounted Secret, so
    /// replicas accept each other's cookies. Re-read on SIGHUP and when it
    /// changes. Absent: a random secret per process. Relative to the config
    /// file's folder.
    #[serde(default = "default_cookie_secret_file")]
    pub cookie_secret_file: Option<PathBuf>,
}

pub(super) fn default_cookie_secret_file() -> Option<PathBuf> {
    None
}

/// Response rate limiting (`dns.rrl`), as BIND's `rate-limit`: a token
/// bucket per (client prefix, response class) for UDP answers.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RrlConfig {
    #[serde(default = "default_rrl_enabled")]
    pub enabled: bool,
    /// Answers per second of one class to one prefix before limiting.
    #[serde(default = "default_rrl_rate")]
    pub responses_per_second: u32,
    /// How long a limited prefix stays limited after its flood stops
    /// (whole seconds, 1s to 1h).
    #[serde(default = "default_rrl_window", deserialize_with = "duration")]
    pub window: Duration,
    /// Every `slip`-th limited answer is sent empty with TC (so real clients
    /// retry over TCP) instead of dropped; 0 drops all, 1 truncates all.
    #[serde(default = "default_rrl_slip")]
    pub slip: u32,
    /// Clients are grouped by this many leading bits of their address.
    #[serde(default = "default_rrl_ipv4_prefix")]
    pub ipv4_prefix: u8,
    #[serde(default = "default_rrl_ipv6_prefix")]
    pub ipv6_prefix: u8,
}

pub(super) fn default_nsid() -> Option<String> {
    None
}
pub(super) fn default_rrl_enabled() -> bool {
    false
}
pub(super) fn default_rrl_rate() -> u32 {
    20
}
pub(super) fn default_rrl_window() -> Duration {
    Duration::from_secs(15)
}
pub(super) fn default_rrl_slip() -> u32 {
    2
}
pub(super) fn default_rrl_ipv4_prefix() -> u8 {
    24
}
pub(super) fn default_rrl_ipv6_prefix() -> u8 {
    56
}

impl Default for RrlConfig {
    fn default() -> Self {
        Self {
            enabled: default_rrl_enabled(),
            responses_per_second: default_rrl_rate(),
            window: default_rrl_window(),
            slip: default_rrl_slip(),
            ipv4_prefix: default_rrl_ipv4_prefix(),
            ipv6_prefix: default_rrl_ipv6_prefix(),
        }
    }
}

pub(super) fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], 1053))]
}

pub(super) fn default_ttl() -> u32 {
    5
}

pub(super) fn default_max_udp_payload() -> u16 {
    crate::wire::EDNS_PAYLOAD
}

pub(super) fn default_reverse_zones() -> Vec<String> {
    vec!["in-addr.arpa.".to_owned(), "ip6.arpa.".to_owned()]
}

pub(super) fn default_grace() -> Duration {
    Duration::from_secs(30)
}

pub(super) fn default_tcp_idle() -> Duration {
    Duration::from_secs(10)
}

pub(super) fn default_tcp_max_connections() -> usize {
    1024
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            ttl: default_ttl(),
            negative_ttl: default_ttl(),
            max_udp_payload: default_max_udp_payload(),
            reverse_zones: None,
            reverse_cidrs: Vec::new(),
            pod_records: crate::model::PodRecords::default(),
            stable_name_grace: default_grace(),
            tcp_idle_timeout: default_tcp_idle(),
            tcp_max_connections: default_tcp_max_connections(),
            workers: None,
            nameserver: None,
            nameserver_addresses: Vec::new(),
            rrl: RrlConfig::default(),
            nsid: default_nsid(),
            cookie_secret_file: default_cookie_secret_file(),
        }
    }
}

impl DnsConfig {
    /// Every reverse zone served: `reverse_zones` as written, plus those of
    /// `reverse_cidrs`; the whole arpa trees when neither is given.
    /// Deduplicated, in order. Call after validation.
    pub fn served_reverse_zones(&self) -> Vec<String> {
        let mut zones: Vec<String> = match (&self.reverse_zones, self.reverse_cidrs.is_empty()) {
            (Some(zones), _) => zones.clone(),
            (None, true) => default_reverse_zones(),
            (None, false) => Vec::new(),
        };
        for cidr in &self.reverse_cidrs {
            for zone in crate::names::reverse_zones_of(*cidr).unwrap_or_default() {
                if !zones.contains(&zone) {
                    zones.push(zone);
                }
            }
        }
        zones
    }

    /// UDP workers per address: the configured number, or the cores.
    pub fn workers(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}
