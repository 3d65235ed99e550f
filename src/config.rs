//! The configuration file: typed sections, a named default for every field,
//! unknown keys rejected.
//!
//! `Config::from_str` parses text (tests use it directly); `Config::load`
//! reads a file and resolves relative manifest paths against the file's own
//! folder, the way kubeconfig resolves its paths. Every error names the file,
//! and where the YAML parser knows it, the line, column and key.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {field}: {message}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        message: String,
    },
}

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

fn default_cookie_secret_file() -> Option<PathBuf> {
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

fn default_nsid() -> Option<String> {
    None
}
fn default_rrl_enabled() -> bool {
    false
}
fn default_rrl_rate() -> u32 {
    20
}
fn default_rrl_window() -> Duration {
    Duration::from_secs(15)
}
fn default_rrl_slip() -> u32 {
    2
}
fn default_rrl_ipv4_prefix() -> u8 {
    24
}
fn default_rrl_ipv6_prefix() -> u8 {
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

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `/metrics`, `/healthz`, `/readyz` and the embedded cluster's API.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
}

/// Zone transfer to secondaries (AXFR, IXFR) and the NOTIFY that tells them
/// to come and get it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TransferConfig {
    /// TSIG keys (RFC 8945): a file of BIND/Knot `key "name" { algorithm
    /// hmac-sha256; secret "base64"; };` clauses, e.g. a mounted Secret.
    /// Relative to the config file's folder.
    #[serde(default = "default_keys_file")]
    pub keys_file: Option<PathBuf>,
    /// Who may AXFR and IXFR: each entry a network (`10.0.0.0/8`, `::1/128`;
    /// a bare address means just that address), or `{from: CIDR, key:
    /// NAME}` with either or both. Empty: every transfer is REFUSED.
    #[serde(default = "default_transfer_allow")]
    pub allow: Vec<AllowEntry>,
    /// Secondaries sent a NOTIFY (UDP) after every change: an address, or
    /// `{address: ADDR, key: NAME}` to sign it.
    #[serde(default = "default_notify")]
    pub notify: Vec<NotifyEntry>,
    /// At most one NOTIFY per zone and secondary this often; changes in
    /// between are announced together at the end of the interval.
    #[serde(default = "default_notify_interval", deserialize_with = "duration")]
    pub notify_interval: Duration,
    /// How many recent serials are kept for IXFR; a secondary further behind
    /// gets the whole zone.
    #[serde(default = "default_journal_size")]
    pub journal_size: usize,
}

/// One `transfer.allow` entry: a source range, a TSIG key name, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    pub from: Option<ipnet::IpNet>,
    pub key: Option<String>,
}

/// One `transfer.notify` entry: where, and the key to sign with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyEntry {
    pub address: SocketAddr,
    pub key: Option<String>,
}

impl From<SocketAddr> for NotifyEntry {
    fn from(address: SocketAddr) -> Self {
        Self { address, key: None }
    }
}

impl From<ipnet::IpNet> for AllowEntry {
    fn from(net: ipnet::IpNet) -> Self {
        Self {
            from: Some(net),
            key: None,
        }
    }
}

fn default_keys_file() -> Option<PathBuf> {
    None
}
fn default_transfer_allow() -> Vec<AllowEntry> {
    Vec::new()
}
fn default_notify() -> Vec<NotifyEntry> {
    Vec::new()
}
fn default_notify_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_journal_size() -> usize {
    64
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            keys_file: default_keys_file(),
            allow: default_transfer_allow(),
            notify: default_notify(),
            notify_interval: default_notify_interval(),
            journal_size: default_journal_size(),
        }
    }
}

/// A network in CIDR form; a bare address is a network of one.
fn network(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| {
            format!(
                "invalid network {text:?}: write an address or a CIDR, e.g. 10.0.0.0/8 or ::1/128"
            )
        })
}

/// The keys and values of a map-form entry, in order.
type Pairs = Vec<(String, String)>;

/// Reads a string-or-map entry: `from_text` takes the string form,
/// `from_map` the map form once its keys are checked against `fields`.
struct EntryVisitor<T> {
    expecting: &'static str,
    from_text: fn(&str) -> Result<T, String>,
    fields: &'static [&'static str],
    from_map: fn(Pairs) -> Result<T, String>,
}

impl<'de, T> serde::de::Visitor<'de> for EntryVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        (self.from_text)(text).map_err(E::custom)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut pairs: Pairs = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if !self.fields.contains(&key.as_str()) {
                return Err(serde::de::Error::unknown_field(&key, self.fields));
            }
            if pairs.iter().any(|(k, _)| *k == key) {
                return Err(serde::de::Error::custom(format!("`{key}` is given twice")));
            }
            let value: String = map.next_value()?;
            pairs.push((key, value));
        }
        (self.from_map)(pairs).map_err(serde::de::Error::custom)
    }
}

fn key_name(text: &str) -> Result<String, String> {
    crate::names::parse_zone(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("key {text:?} is not a key name: {e}"))
}

impl<'de> Deserialize<'de> for AllowEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EntryVisitor {
            expecting: "a network (10.0.0.0/8) or {from: NETWORK, key: NAME}",
            from_text: |text| network(text).map(AllowEntry::from),
            fields: &["from", "key"],
            from_map: |pairs| {
                let mut entry = AllowEntry {
                    from: None,
                    key: None,
                };
                for (k, v) in pairs {
                    match k.as_str() {
                        "from" => entry.from = Some(network(&v)?),
                        _ => entry.key = Some(key_name(&v)?),
                    }
                }
                if entry.from.is_none() && entry.key.is_none() {
                    return Err("an entry needs `from`, `key` or both".to_owned());
                }
                Ok(entry)
            },
        })
    }
}

fn notify_address(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>().map_err(|_| {
        format!("invalid notify address {text:?}: write IP:PORT, e.g. 10.0.0.7:53 or [::1]:53")
    })
}

impl<'de> Deserialize<'de> for NotifyEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EntryVisitor {
            expecting: "an address (10.0.0.7:53) or {address: ADDR, key: NAME}",
            from_text: |text| notify_address(text).map(NotifyEntry::from),
            fields: &["address", "key"],
            from_map: |pairs| {
                let mut address = None;
                let mut key = None;
                for (k, v) in pairs {
                    match k.as_str() {
                        "address" => address = Some(notify_address(&v)?),
                        _ => key = Some(key_name(&v)?),
                    }
                }
                let address = address.ok_or("an entry needs `address`")?;
                Ok(NotifyEntry { address, key })
            },
        })
    }
}

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

fn default_max_pods() -> usize {
    10_000
}

fn default_pod_cidr() -> ipnet::IpNet {
    ipnet::IpNet::V4(
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 244, 0, 0), 16).unwrap_or_default(),
    )
}
fn default_service_cidr() -> ipnet::IpNet {
    ipnet::IpNet::V4(
        ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 96, 0, 0), 12).unwrap_or_default(),
    )
}
fn default_start_delay() -> Duration {
    Duration::from_millis(500)
}
fn default_ready_delay() -> Duration {
    Duration::from_millis(1000)
}
fn default_terminate_delay() -> Duration {
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

fn default_kubeconfig() -> Option<PathBuf> {
    None
}
fn default_namespaces() -> Vec<String> {
    Vec::new()
}
fn default_label_selector() -> Option<String> {
    None
}
fn default_legacy_endpoints() -> bool {
    false
}

fn default_zone() -> String {
    "cluster.local".to_owned()
}
fn default_listen() -> Vec<SocketAddr> {
    vec![SocketAddr::from(([127, 0, 0, 1], 1053))]
}
fn default_ttl() -> u32 {
    5
}
fn default_max_udp_payload() -> u16 {
    1232
}
fn default_reverse_zones() -> Vec<String> {
    vec!["in-addr.arpa.".to_owned(), "ip6.arpa.".to_owned()]
}
fn default_grace() -> Duration {
    Duration::from_secs(30)
}
fn default_tcp_idle() -> Duration {
    Duration::from_secs(10)
}
fn default_tcp_max_connections() -> usize {
    1024
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9153))
}
fn default_true() -> bool {
    true
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

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: default_admin_listen(),
        }
    }
}

/// Durations are written the human way: `300ms`, `2s`, `1m`.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text).map_err(|e| {
        serde::de::Error::custom(format!(
            "invalid duration {text:?}: {e} (write e.g. 300ms, 2s, 1m)"
        ))
    })
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
        if self.dns.max_udp_payload < 512 {
            return Err(invalid(
                "dns.max_udp_payload",
                format!(
                    "{} is below the DNS minimum of 512",
                    self.dns.max_udp_payload
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

impl KubernetesConfig {
    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
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
fn resolve_kubeconfig(path: &Path, base: &Path, home: Option<std::ffi::OsString>) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), home) {
        return PathBuf::from(home).join(rest);
    }
    if path.is_relative() {
        base.join(path)
    } else {
        path.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_str(text, Path::new("test.yaml"))
    }

    #[test]
    fn minimal_config_takes_defaults() {
        let c = parse("source:\n  embedded:\n    manifests: [a.yaml]\n").unwrap();
        assert_eq!(c.zone, "cluster.local");
        assert_eq!(c.dns, DnsConfig::default());
        assert_eq!(c.dns.max_udp_payload, 1232);
        assert_eq!(c.admin.listen, "127.0.0.1:9153".parse().unwrap());
    }

    #[test]
    fn unknown_key_is_named_with_file() {
        let err = parse("source:\n  embedded:\n    manifests: [a]\ndns:\n  tttl: 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("test.yaml"), "{err}");
        assert!(err.contains("tttl"), "{err}");
    }

    #[test]
    fn unknown_source_is_rejected() {
        let err = parse("source:\n  etcd: {}\n").unwrap_err().to_string();
        assert!(err.contains("etcd"), "{err}");
    }

    #[test]
    fn durations_are_human() {
        let c = parse(
            "source:\n  embedded:\n    manifests: [a]\ndns:\n  stable_name_grace: 1m\n  tcp_idle_timeout: 300ms\n",
        )
        .unwrap();
        assert_eq!(c.dns.stable_name_grace, Duration::from_secs(60));
        assert_eq!(c.dns.tcp_idle_timeout, Duration::from_millis(300));
        let err =
            parse("source:\n  embedded:\n    manifests: [a]\ndns:\n  tcp_idle_timeout: soon\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("invalid duration"), "{err}");
    }

    #[test]
    fn embedded_simulation_settings() {
        let c = parse(
            "source:\n  embedded:\n    manifests: [a]\n    pod_cidr: 10.9.0.0/24\n    start_delay: 2s\n    ready_delay: 300ms\n",
        )
        .unwrap();
        let SourceConfig::Embedded(e) = &c.source else {
            panic!("embedded expected")
        };
        assert_eq!(e.pod_cidr.to_string(), "10.9.0.0/24");
        assert_eq!(e.start_delay, Duration::from_secs(2));
        assert_eq!(e.ready_delay, Duration::from_millis(300));
        assert_eq!(e.terminate_delay, Duration::from_millis(500));
        assert_eq!(e.max_pods, 10_000);
        let err = parse("source:\n  embedded:\n    manifests: [a]\n    pod_cidr: 10.9.0.0/31\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("source.embedded.pod_cidr"), "{err}");
        let err = parse("source:\n  embedded:\n    manifests: [a]\n    pod_cidr: banana\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("banana") || err.contains("pod_cidr"), "{err}");
    }

    #[test]
    fn invalid_values_name_their_field() {
        for (text, field) in [
            (
                "zone: 'a..b'\nsource: {embedded: {manifests: [a]}}\n",
                "zone",
            ),
            (
                "dns: {listen: []}\nsource: {embedded: {manifests: [a]}}\n",
                "dns.listen",
            ),
            (
                "dns: {max_udp_payload: 100}\nsource: {embedded: {manifests: [a]}}\n",
                "dns.max_udp_payload",
            ),
            (
                "dns: {reverse_zones: [example.com]}\nsource: {embedded: {manifests: [a]}}\n",
                "dns.reverse_zones",
            ),
            (
                "source: {embedded: {manifests: []}}\n",
                "source.embedded.manifests",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(field), "{text}: {err}");
        }
    }

    #[test]
    fn kubernetes_source_takes_defaults() {
        let c = parse("source:\n  kubernetes: {}\n").unwrap();
        assert_eq!(
            c.source,
            SourceConfig::Kubernetes(KubernetesConfig::default())
        );
        let SourceConfig::Kubernetes(k) = &c.source else {
            unreachable!()
        };
        assert_eq!(k.kubeconfig, None);
        assert!(k.namespaces.is_empty());
        assert_eq!(k.label_selector, None);
        assert!(!k.legacy_endpoints);
    }

    #[test]
    fn kubernetes_source_reads_every_key() {
        let c = parse(
            "source:\n  kubernetes:\n    kubeconfig: /etc/kube.yaml\n    namespaces: [a, b-2]\n    label_selector: 'dns=on,tier!=db'\n    legacy_endpoints: true\n",
        )
        .unwrap();
        assert_eq!(
            c.source,
            SourceConfig::Kubernetes(KubernetesConfig {
                kubeconfig: Some(PathBuf::from("/etc/kube.yaml")),
                namespaces: vec!["a".to_owned(), "b-2".to_owned()],
                label_selector: Some("dns=on,tier!=db".to_owned()),
                legacy_endpoints: true,
            })
        );
    }

    #[test]
    fn kubernetes_source_rejects_unknown_keys_and_bad_values() {
        let err = parse("source:\n  kubernetes:\n    namespace: [a]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("namespace"), "{err}");
        for (text, field, detail) in [
            (
                "source: {kubernetes: {namespaces: [Demo]}}\n",
                "source.kubernetes.namespaces",
                "Demo",
            ),
            (
                "source: {kubernetes: {namespaces: [a, a]}}\n",
                "source.kubernetes.namespaces",
                "twice",
            ),
            (
                "source: {kubernetes: {label_selector: 'a=b,,c'}}\n",
                "source.kubernetes.label_selector",
                "a=b,,c",
            ),
            (
                "source: {kubernetes: {label_selector: 'a in (b'}}\n",
                "source.kubernetes.label_selector",
                "a in (b",
            ),
            (
                "source: {kubernetes: {kubeconfig: ''}}\n",
                "source.kubernetes.kubeconfig",
                "empty",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(field), "{text}: {err}");
            assert!(err.contains(detail), "{text}: {err}");
        }
    }

    #[test]
    fn kubeconfig_paths_resolve_like_manifests() {
        let base = Path::new("/etc/headless-dns");
        let home = Some(std::ffi::OsString::from("/home/dns"));
        assert_eq!(
            resolve_kubeconfig(Path::new("kube.yaml"), base, home.clone()),
            PathBuf::from("/etc/headless-dns/kube.yaml")
        );
        assert_eq!(
            resolve_kubeconfig(Path::new("~/.kube/config"), base, home.clone()),
            PathBuf::from("/home/dns/.kube/config")
        );
        assert_eq!(
            resolve_kubeconfig(Path::new("/abs/config"), base, home),
            PathBuf::from("/abs/config")
        );
        // Without a home folder, `~` is just a relative folder name.
        assert_eq!(
            resolve_kubeconfig(Path::new("~/config"), base, None),
            PathBuf::from("/etc/headless-dns/~/config")
        );
    }

    #[test]
    fn transfer_defaults_refuse_everything() {
        let c = parse("source: {embedded: {manifests: [a]}}\n").unwrap();
        assert_eq!(c.transfer, TransferConfig::default());
        assert!(c.transfer.allow.is_empty());
        assert!(c.transfer.notify.is_empty());
        assert_eq!(c.transfer.notify_interval, Duration::from_secs(1));
        assert_eq!(c.transfer.journal_size, 64);
    }

    #[test]
    fn transfer_reads_every_key() {
        let c = parse(
            "source: {embedded: {manifests: [a]}}\ntransfer:\n  allow: [127.0.0.0/8, '::1/128', 10.1.2.3, 192.168.1.7/24]\n  notify: ['127.0.0.1:5353', '[::1]:53']\n  notify_interval: 250ms\n  journal_size: 8\n",
        )
        .unwrap();
        let allow: Vec<String> = c
            .transfer
            .allow
            .iter()
            .map(|e| e.from.unwrap().to_string())
            .collect();
        // A bare address is a /32; host bits are cleared.
        assert_eq!(
            allow,
            ["127.0.0.0/8", "::1/128", "10.1.2.3/32", "192.168.1.0/24"]
        );
        assert_eq!(
            c.transfer.notify,
            vec![
                NotifyEntry::from("127.0.0.1:5353".parse::<SocketAddr>().unwrap()),
                NotifyEntry::from("[::1]:53".parse::<SocketAddr>().unwrap())
            ]
        );
        assert_eq!(c.transfer.notify_interval, Duration::from_millis(250));
        assert_eq!(c.transfer.journal_size, 8);
    }

    #[test]
    fn transfer_entries_take_a_key_a_range_or_both() {
        let c = parse(
            "source: {embedded: {manifests: [a]}}\ntransfer:\n  keys_file: keys.conf\n  allow:\n    - 10.0.0.0/8\n    - {from: 127.0.0.1, key: xfr.cluster.local}\n    - {key: other}\n  notify:\n    - '127.0.0.1:5300'\n    - {address: '127.0.0.1:5301', key: xfr.cluster.local}\n",
        )
        .unwrap();
        assert_eq!(c.transfer.keys_file, Some(PathBuf::from("keys.conf")));
        let key = |k: &str| Some(k.to_owned());
        assert_eq!(
            c.transfer.allow,
            vec![
                AllowEntry::from("10.0.0.0/8".parse::<ipnet::IpNet>().unwrap()),
                AllowEntry {
                    from: Some("127.0.0.1/32".parse().unwrap()),
                    key: key("xfr.cluster.local")
                },
                AllowEntry {
                    from: None,
                    key: key("other")
                },
            ]
        );
        assert_eq!(
            c.transfer.notify[1],
            NotifyEntry {
                address: "127.0.0.1:5301".parse().unwrap(),
                key: key("xfr.cluster.local")
            }
        );
        let loaded = {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("dns.yaml");
            std::fs::write(
                &path,
                "source: {embedded: {manifests: [a]}}\ntransfer: {keys_file: keys.conf}\ndns: {cookie_secret_file: cookie}\n",
            )
            .unwrap();
            Config::load(&path).unwrap()
        };
        let folder = |p: &Option<PathBuf>| p.as_ref().unwrap().parent().unwrap().to_owned();
        assert!(folder(&loaded.transfer.keys_file).is_absolute());
        assert!(folder(&loaded.dns.cookie_secret_file).is_absolute());
    }

    #[test]
    fn transfer_rejects_bad_values() {
        for (text, detail) in [
            ("transfer: {allow: [banana]}\n", "banana"),
            ("transfer: {allow: [10.0.0.0/33]}\n", "10.0.0.0/33"),
            ("transfer: {notify: [127.0.0.1]}\n", "notify"),
            ("transfer: {notify: ['127.0.0.1:0']}\n", "transfer.notify"),
            ("transfer: {journal_size: 0}\n", "transfer.journal_size"),
            ("transfer: {notify_interval: soon}\n", "invalid duration"),
            (
                "transfer: {notify: ['127.0.0.1:53'], notify_interval: 0s}\n",
                "transfer.notify_interval",
            ),
            ("transfer: {allowed: []}\n", "allowed"),
            ("transfer: {allow: [{from: 10.0.0.0/8, keys: a}]}\n", "keys"),
            ("transfer: {allow: [{}]}\n", "needs `from`, `key` or both"),
            ("transfer: {allow: [{key: 'a..b'}], keys_file: k}\n", "a..b"),
            ("transfer: {allow: [{key: a}]}\n", "transfer.keys_file"),
            (
                "transfer: {notify: [{key: a}], keys_file: k}\n",
                "needs `address`",
            ),
            ("transfer: {notify: [{address: banana}]}\n", "banana"),
        ] {
            let text = format!("source: {{embedded: {{manifests: [a]}}}}\n{text}");
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(detail), "{text}: {err}");
        }
    }

    #[test]
    fn rrl_and_nsid_default_off() {
        let c = parse("source: {embedded: {manifests: [a]}}\n").unwrap();
        assert_eq!(c.dns.rrl, RrlConfig::default());
        assert!(!c.dns.rrl.enabled);
        assert_eq!(c.dns.rrl.responses_per_second, 20);
        assert_eq!(c.dns.rrl.window, Duration::from_secs(15));
        assert_eq!(c.dns.rrl.slip, 2);
        assert_eq!(c.dns.rrl.ipv4_prefix, 24);
        assert_eq!(c.dns.rrl.ipv6_prefix, 56);
        assert_eq!(c.dns.nsid, None);
    }

    #[test]
    fn rrl_and_nsid_read_every_key() {
        let c = parse(
            "source: {embedded: {manifests: [a]}}\ndns:\n  nsid: dns-1.eu\n  rrl:\n    enabled: true\n    responses_per_second: 5\n    window: 3s\n    slip: 0\n    ipv4_prefix: 32\n    ipv6_prefix: 64\n",
        )
        .unwrap();
        assert_eq!(c.dns.nsid.as_deref(), Some("dns-1.eu"));
        let s = &c.dns.rrl;
        assert!(s.enabled);
        assert_eq!(s.responses_per_second, 5);
        assert_eq!(s.window, Duration::from_secs(3));
        assert_eq!(s.slip, 0);
        assert_eq!((s.ipv4_prefix, s.ipv6_prefix), (32, 64));
    }

    #[test]
    fn rrl_and_nsid_reject_bad_values() {
        for (dns, detail) in [
            (
                "rrl: {responses_per_second: 0}",
                "dns.rrl.responses_per_second",
            ),
            ("rrl: {window: 0s}", "dns.rrl.window"),
            ("rrl: {window: 1500ms}", "dns.rrl.window"),
            ("rrl: {window: 2h}", "dns.rrl.window"),
            ("rrl: {slip: 11}", "dns.rrl.slip"),
            ("rrl: {ipv4_prefix: 33}", "dns.rrl.ipv4_prefix"),
            ("rrl: {ipv6_prefix: 129}", "dns.rrl.ipv6_prefix"),
            ("rrl: {enable: true}", "enable"),
            ("nsid: ''", "dns.nsid"),
        ] {
            let text = format!("source: {{embedded: {{manifests: [a]}}}}\ndns: {{{dns}}}\n");
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.contains(detail), "{text}: {err}");
        }
    }

    #[test]
    fn bad_yaml_names_line() {
        let err = parse("zone: x\nsource:\n  embedded:\n    manifests: [a\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("test.yaml"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    /// Every file in `config/` must load, and each must still reject a bogus
    /// key, so a typo in an example fails CI rather than a user.
    #[test]
    fn every_example_config_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let config = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            match &config.source {
                SourceConfig::Embedded(embedded) => {
                    for manifest in &embedded.manifests {
                        assert!(
                            manifest.exists(),
                            "{}: {} missing",
                            path.display(),
                            manifest.display()
                        );
                    }
                }
                SourceConfig::Kubernetes(kubernetes) => {
                    // An example names no kubeconfig of its own (none ships
                    // with the repo) or one that ships beside it.
                    if let Some(kubeconfig) = &kubernetes.kubeconfig {
                        assert!(
                            kubeconfig.exists(),
                            "{}: {} missing",
                            path.display(),
                            kubeconfig.display()
                        );
                    }
                }
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let bogus = format!("{text}\nbogus_key: 1\n");
            assert!(
                Config::from_str(&bogus, &path).is_err(),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen > 0, "no config files found in {}", dir.display());
    }
}
