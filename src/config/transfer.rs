//! The `transfer:` section: who may transfer the zone (`allow`, a CIDR or
//! `{from, key}`), whom to NOTIFY (`notify`, an address or `{address,
//! key}`), the TSIG key file, and the IXFR journal's size.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::values::duration;

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

pub(super) fn default_keys_file() -> Option<PathBuf> {
    None
}
pub(super) fn default_transfer_allow() -> Vec<AllowEntry> {
    Vec::new()
}
pub(super) fn default_notify() -> Vec<NotifyEntry> {
    Vec::new()
}
pub(super) fn default_notify_interval() -> Duration {
    Duration::from_secs(1)
}
pub(super) fn default_journal_size() -> usize {
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
pub(super) fn network(text: &str) -> Result<ipnet::IpNet, String> {
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
pub(super) type Pairs = Vec<(String, String)>;

/// Reads a string-or-map entry: `from_text` takes the string form,
/// `from_map` the map form once its keys are checked against `fields`.
pub(super) struct EntryVisitor<T> {
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

pub(super) fn key_name(text: &str) -> Result<String, String> {
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

pub(super) fn notify_address(text: &str) -> Result<SocketAddr, String> {
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
