//! Who may transfer: `transfer.allow` resolved against the key file.
//!
//! Each entry is an address range, a TSIG key, or both; a request is
//! allowed when one entry matches it (its source is in the range, if the
//! entry has one, and it was signed with the entry's key, if the entry
//! names one). [`Auth::from_config`] loads `transfer.keys_file` and turns
//! every key name in `allow` and `notify` into the key itself, so a name
//! that is not in the file fails at startup (and in `check-config`), never
//! at the first transfer.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::keys::{self, Key, KeyRing};
use crate::config::TransferConfig;

/// One resolved `allow` entry.
#[derive(Debug, Clone)]
struct Rule {
    from: Option<ipnet::IpNet>,
    key: Option<Arc<Key>>,
}

/// A secondary to NOTIFY, with the key to sign with.
#[derive(Debug, Clone)]
pub struct NotifyTarget {
    pub address: SocketAddr,
    pub key: Option<Arc<Key>>,
}

/// What the ACL says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    /// No entry covers the source: REFUSED.
    Refused,
    /// An entry covers the source but needs a key; the request is unsigned:
    /// NOTAUTH.
    KeyRequired,
    /// Signed with a key no entry covering the source accepts: NOTAUTH,
    /// BADKEY.
    WrongKey,
}

/// The key ring and the resolved `allow` and `notify` lists.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    keys: KeyRing,
    rules: Vec<Rule>,
    notify: Vec<NotifyTarget>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Keys(#[from] keys::KeyFileError),
    #[error(
        "config file {config}: {field}: key {key:?} is not in {keys_file} (it defines: {known})"
    )]
    UnknownKey {
        config: PathBuf,
        field: String,
        key: String,
        keys_file: String,
        known: String,
    },
}

impl Auth {
    /// Resolves the config's key names against its key file; `config_path`
    /// is named in errors.
    pub fn from_config(config: &TransferConfig, config_path: &Path) -> Result<Self, AuthError> {
        let keys = match &config.keys_file {
            Some(path) => keys::load(path)?,
            None => KeyRing::default(),
        };
        let keys_file = config.keys_file.as_ref().map_or_else(
            || "the key file (transfer.keys_file is not set)".to_owned(),
            |p| p.display().to_string(),
        );
        let resolve =
            |field: String, name: &Option<String>| -> Result<Option<Arc<Key>>, AuthError> {
                let Some(name) = name else { return Ok(None) };
                keys.by_text(name)
                    .cloned()
                    .map(Some)
                    .ok_or_else(|| AuthError::UnknownKey {
                        config: config_path.to_owned(),
                        field,
                        key: name.clone(),
                        keys_file: keys_file.clone(),
                        known: {
                            let names: Vec<String> = keys.names().collect();
                            if names.is_empty() {
                                "no keys".to_owned()
                            } else {
                                names.join(", ")
                            }
                        },
                    })
            };
        let mut rules = Vec::new();
        for (i, entry) in config.allow.iter().enumerate() {
            rules.push(Rule {
                from: entry.from,
                key: resolve(format!("transfer.allow[{i}].key"), &entry.key)?,
            });
        }
        let mut notify = Vec::new();
        for (i, target) in config.notify.iter().enumerate() {
            notify.push(NotifyTarget {
                address: target.address,
                key: resolve(format!("transfer.notify[{i}].key"), &target.key)?,
            });
        }
        Ok(Self {
            keys,
            rules,
            notify,
        })
    }

    /// Address-only rules and no keys: what an `allow` list of bare
    /// networks resolves to, without a config file (socketless tests).
    pub fn from_networks(networks: Vec<ipnet::IpNet>) -> Self {
        Self {
            keys: KeyRing::default(),
            rules: networks
                .into_iter()
                .map(|net| Rule {
                    from: Some(net),
                    key: None,
                })
                .collect(),
            notify: Vec::new(),
        }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn notify(&self) -> &[NotifyTarget] {
        &self.notify
    }

    /// Whether any entry allows anything (else transfers need no journal).
    pub fn allows_anyone(&self) -> bool {
        !self.rules.is_empty()
    }

    /// The ACL's verdict on a request from `ip`, signed with `key` (already
    /// verified) or unsigned. An IPv4-mapped IPv6 source counts as its IPv4
    /// address.
    pub fn check(&self, ip: IpAddr, key: Option<&Key>) -> Access {
        let ip = ip.to_canonical();
        let mut covered = false;
        for rule in &self.rules {
            if rule.from.is_some_and(|net| !net.contains(&ip)) {
                continue;
            }
            match (&rule.key, key) {
                (None, _) => return Access::Allowed,
                (Some(wanted), Some(used)) if wanted.name() == used.name() => {
                    return Access::Allowed;
                }
                _ => covered = true,
            }
        }
        match (covered, key) {
            (false, _) => Access::Refused,
            (true, None) => Access::KeyRequired,
            (true, Some(_)) => Access::WrongKey,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AllowEntry, TransferConfig};
    use crate::transfer::keys::Algorithm;

    fn key(name: &str) -> Key {
        Key::new(name, Algorithm::HmacSha256, b"secret".to_vec()).unwrap()
    }

    fn auth(rules: &[(Option<&str>, Option<&str>)]) -> Auth {
        Auth {
            keys: KeyRing::new(vec![key("a"), key("b")]),
            rules: rules
                .iter()
                .map(|(from, k)| Rule {
                    from: from.map(|f| f.parse().unwrap()),
                    key: k.map(|k| Arc::new(key(k))),
                })
                .collect(),
            notify: Vec::new(),
        }
    }

    #[test]
    fn each_entry_is_a_range_a_key_or_both() {
        let a = key("a");
        let b = key("b");
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let far: IpAddr = "192.0.2.1".parse().unwrap();
        // Range only.
        let acl = auth(&[(Some("127.0.0.0/8"), None)]);
        assert_eq!(acl.check(local, None), Access::Allowed);
        assert_eq!(acl.check(local, Some(&a)), Access::Allowed);
        assert_eq!(acl.check(far, None), Access::Refused);
        // Key only: from anywhere, signed with that key.
        let acl = auth(&[(None, Some("a"))]);
        assert_eq!(acl.check(far, Some(&a)), Access::Allowed);
        assert_eq!(acl.check(far, None), Access::KeyRequired);
        assert_eq!(acl.check(far, Some(&b)), Access::WrongKey);
        // Both.
        let acl = auth(&[(Some("127.0.0.0/8"), Some("a"))]);
        assert_eq!(acl.check(local, Some(&a)), Access::Allowed);
        assert_eq!(acl.check(local, None), Access::KeyRequired);
        assert_eq!(acl.check(far, Some(&a)), Access::Refused);
        // IPv4-mapped IPv6 is its IPv4 address.
        assert_eq!(
            acl.check("::ffff:127.0.0.1".parse().unwrap(), Some(&a)),
            Access::Allowed
        );
        // Nothing configured refuses everyone.
        assert_eq!(Auth::default().check(local, None), Access::Refused);
    }

    #[test]
    fn an_unknown_key_name_fails_naming_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys.conf");
        std::fs::write(
            &keys,
            "key a { algorithm hmac-sha256; secret \"YQ==\"; };\n",
        )
        .unwrap();
        let config = TransferConfig {
            keys_file: Some(keys),
            allow: vec![
                AllowEntry {
                    from: None,
                    key: Some("a".to_owned()),
                },
                AllowEntry {
                    from: None,
                    key: Some("nope".to_owned()),
                },
            ],
            ..TransferConfig::default()
        };
        let err = Auth::from_config(&config, Path::new("dns.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("dns.yaml"), "{err}");
        assert!(err.contains("transfer.allow[1].key"), "{err}");
        assert!(err.contains("nope"), "{err}");
        assert!(err.contains("defines: a."), "{err}");
    }

    #[test]
    fn the_example_config_resolves_its_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/transfer.yaml");
        let config = crate::config::Config::load(&path).unwrap();
        let auth = Auth::from_config(&config.transfer, &path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!auth.keys().is_empty());
    }
}
