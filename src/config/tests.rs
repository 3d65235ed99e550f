//! Tests of the configuration file: defaults, every key read, bad values
//! named by file and key.

use std::path::PathBuf;

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
    let err = parse("source:\n  embedded:\n    manifests: [a]\ndns:\n  tcp_idle_timeout: soon\n")
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
