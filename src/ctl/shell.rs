//! The built-in commands of a simulated pod, for `exec` and `run`.
//!
//! Simulated pods run no processes, so a command is answered here from what
//! the pod would see: its hostname and the files kubelet writes for it
//! (`/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf`), and name lookups
//! that go over the network to the running server with the pod's search
//! list ([`super::resolver`]). Output imitates the tools the tutorials use:
//! busybox 1.28's `nslookup` and `ping`, glibc's `getent hosts`. A command
//! line comes in as words; text goes out to two strings and an exit code.

use std::net::SocketAddr;

use hickory_proto::rr::RecordType;

use super::resolver::{self, LookupError, ResolvConf, Transport};

/// What kubelet would have set up for the pod.
#[derive(Debug, Clone)]
pub struct PodEnv {
    pub name: String,
    pub namespace: String,
    /// `spec.hostname`, or the pod name.
    pub hostname: String,
    /// `hostname.subdomain.namespace.svc.zone` when `spec.subdomain` is set.
    pub fqdn: Option<String>,
    pub ip: Option<String>,
    /// Where the pod's DNS questions go.
    pub nameserver: SocketAddr,
    pub zone: String,
}

impl PodEnv {
    /// kubelet's `ClusterFirst` resolver settings for the pod's namespace.
    pub fn resolv_conf(&self) -> ResolvConf {
        ResolvConf {
            search: vec![
                format!("{}.svc.{}", self.namespace, self.zone),
                format!("svc.{}", self.zone),
                self.zone.clone(),
            ],
            ndots: 5,
        }
    }

    fn resolv_conf_text(&self) -> String {
        let conf = self.resolv_conf();
        let mut text = format!("search {}\n", conf.search.join(" "));
        if self.nameserver.port() != 53 {
            text.push_str(&format!(
                "# headless-dns answers on port {}; resolv.conf has no port, the built-ins use it\n",
                self.nameserver.port()
            ));
        }
        text.push_str(&format!(
            "nameserver {}\noptions ndots:{}\n",
            self.nameserver.ip(),
            conf.ndots
        ));
        text
    }

    fn hosts_text(&self) -> String {
        let mut text = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n".to_owned();
        if let Some(ip) = &self.ip {
            match &self.fqdn {
                Some(fqdn) => text.push_str(&format!("{ip}\t{fqdn}\t{}\n", self.hostname)),
                None => text.push_str(&format!("{ip}\t{}\n", self.hostname)),
            }
        }
        text
    }

    /// How the server is written in `nslookup`'s header.
    fn server_text(&self) -> String {
        if self.nameserver.port() == 53 {
            self.nameserver.ip().to_string()
        } else {
            self.nameserver.to_string()
        }
    }
}

/// The built-ins, as the error for any other command lists them.
pub const BUILTINS: &str = "hostname, hostname -f, hostname -i, cat /etc/resolv.conf|/etc/hosts|/etc/hostname, nslookup NAME, getent hosts NAME, ping -c1 NAME, sh -c 'COMMAND', exit";

/// A command's output and exit code.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub out: String,
    pub err: String,
    pub code: u8,
}

impl Outcome {
    fn out(text: String) -> Self {
        Outcome {
            out: text,
            ..Outcome::default()
        }
    }

    fn fail(err: String, code: u8) -> Self {
        Outcome {
            err,
            code,
            ..Outcome::default()
        }
    }
}

/// Runs one command line (already split into words) in the pod.
pub fn run(env: &PodEnv, transport: &dyn Transport, argv: &[String]) -> Outcome {
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    // `/bin/hostname` and `hostname` are the same program.
    let program = words.first().map(|w| w.rsplit('/').next().unwrap_or(w));
    match (program, &words[1.min(words.len())..]) {
        (None, _) => Outcome::default(),
        (Some("hostname"), []) => Outcome::out(format!("{}\n", env.hostname)),
        (Some("hostname"), ["-f" | "--fqdn" | "--long"]) => Outcome::out(format!(
            "{}\n",
            env.fqdn.as_deref().unwrap_or(&env.hostname)
        )),
        (Some("hostname"), ["-i" | "--ip-address"]) => match &env.ip {
            Some(ip) => Outcome::out(format!("{ip}\n")),
            None => Outcome::fail("hostname: Name or service not known\n".into(), 1),
        },
        (Some("cat"), files) if !files.is_empty() => cat(env, files),
        (Some("nslookup"), [name]) => nslookup(env, transport, name),
        (Some("getent"), ["hosts", name]) => getent_hosts(env, transport, name),
        (Some("ping"), rest) => match ping_target(rest) {
            Some(name) => ping(env, transport, name),
            None => Outcome::fail(
                "ping: the built-in ping takes ping [-c COUNT] NAME\n".into(),
                1,
            ),
        },
        // A shell with nothing to read exits at once.
        (Some("sh" | "ash" | "bash"), []) => Outcome::default(),
        (Some("sh" | "ash" | "bash"), ["-c", line]) => match split_words(line) {
            Ok(words) => run(env, transport, &words),
            Err(e) => Outcome::fail(format!("sh: {e}\n"), 2),
        },
        (Some(_), _) => Outcome::fail(
            format!(
                "sh: {}: not a built-in of this simulated pod: it runs no processes, so only these commands are answered, from what the pod would see: {BUILTINS}\n",
                words.join(" ")
            ),
            127,
        ),
    }
}

fn cat(env: &PodEnv, files: &[&str]) -> Outcome {
    let mut outcome = Outcome::default();
    for file in files {
        match *file {
            "/etc/resolv.conf" => outcome.out.push_str(&env.resolv_conf_text()),
            "/etc/hosts" => outcome.out.push_str(&env.hosts_text()),
            "/etc/hostname" => outcome.out.push_str(&format!("{}\n", env.hostname)),
            other => {
                outcome.err.push_str(&format!(
                    "cat: can't open '{other}': the simulated pod has only /etc/resolv.conf, /etc/hosts and /etc/hostname\n"
                ));
                outcome.code = 1;
            }
        }
    }
    outcome
}

/// getaddrinfo(AF_UNSPEC): A and AAAA for each candidate of the search list.
const ANY: [RecordType; 2] = [RecordType::A, RecordType::AAAA];

/// busybox 1.28 `nslookup NAME`: the server block, then the name's
/// addresses, each with its reverse name.
fn nslookup(env: &PodEnv, transport: &dyn Transport, name: &str) -> Outcome {
    let server = env.server_text();
    let server_name = resolver::reverse(transport, env.nameserver.ip());
    let mut out = format!(
        "{:<10} {server}\n{}\n",
        "Server:",
        address_line(1, &server, server_name.as_deref())
    );
    match resolver::lookup(transport, &env.resolv_conf(), name, &ANY) {
        Ok(found) => {
            out.push_str(&format!("{:<10} {name}\n", "Name:"));
            for (i, ip) in found.addresses.iter().enumerate() {
                let reverse = resolver::reverse(transport, *ip);
                out.push_str(&address_line(i + 1, &ip.to_string(), reverse.as_deref()));
            }
            Outcome::out(out)
        }
        Err(_) => Outcome {
            out,
            err: format!("nslookup: can't resolve '{name}'\n"),
            code: 1,
        },
    }
}

fn address_line(n: usize, address: &str, name: Option<&str>) -> String {
    match name {
        Some(name) => format!("Address {n}: {address} {name}\n"),
        None => format!("Address {n}: {address}\n"),
    }
}

/// glibc `getent hosts NAME`: gethostbyname2 for IPv6, then IPv4; one line
/// per address, `%-15s NAME ALIASES`; exit code 2 when not found.
fn getent_hosts(env: &PodEnv, transport: &dyn Transport, name: &str) -> Outcome {
    let conf = env.resolv_conf();
    let found = resolver::lookup(transport, &conf, name, &[RecordType::AAAA])
        .or_else(|_| resolver::lookup(transport, &conf, name, &[RecordType::A]));
    match found {
        Ok(found) => {
            let aliases: String = found.aliases.iter().map(|a| format!(" {a}")).collect();
            let out = found
                .addresses
                .iter()
                .map(|ip| format!("{:<15} {}{aliases}\n", ip.to_string(), found.canonical))
                .collect();
            Outcome::out(out)
        }
        Err(_) => Outcome::fail(String::new(), 2),
    }
}

fn ping_target<'a>(args: &[&'a str]) -> Option<&'a str> {
    match args {
        [name] => Some(name),
        ["-c", _count, name] => Some(name),
        [flag, name] if flag.starts_with("-c") => Some(name),
        _ => None,
    }
}

/// busybox `ping`, resolution only: the PING line with the address the
/// name resolved to; simulated pods answer no ICMP, which is said on stderr.
fn ping(env: &PodEnv, transport: &dyn Transport, name: &str) -> Outcome {
    match resolver::lookup(transport, &env.resolv_conf(), name, &ANY) {
        Ok(found) => Outcome {
            out: format!("PING {name} ({}): 56 data bytes\n", found.addresses[0]),
            err: "ping: simulated pods answer no ICMP; the name resolved, which is what this ping checks\n".into(),
            code: 0,
        },
        Err(LookupError::TryAgain(reason)) => {
            Outcome::fail(format!("ping: bad address '{name}' ({reason})\n"), 1)
        }
        Err(_) => Outcome::fail(format!("ping: bad address '{name}'\n"), 1),
    }
}

/// Splits a command line into words as `sh` would for the built-ins:
/// blanks separate, single quotes are literal, double quotes group, a
/// backslash escapes the next character.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated quoted string".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => word.extend(chars.next()),
                        Some(c) => word.push(c),
                        None => return Err("unterminated quoted string".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            ';' | '|' | '&' | '>' | '<' | '`' | '$' => {
                return Err(format!(
                    "{c:?}: the built-in shell runs one plain command (no pipes, lists, redirections or expansions)"
                ));
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Message;

    /// Never reached: these tests use no names.
    struct NoNetwork;
    impl Transport for NoNetwork {
        fn exchange(&self, _: &str, _: RecordType) -> Result<Message, String> {
            Err("no network in this test".into())
        }
    }

    fn env() -> PodEnv {
        PodEnv {
            name: "web-demo-0".into(),
            namespace: "demo".into(),
            hostname: "web-demo-0".into(),
            fqdn: Some("web-demo-0.nginx-demo.demo.svc.cluster.local".into()),
            ip: Some("10.244.0.5".into()),
            nameserver: "127.0.0.1:53".parse().unwrap(),
            zone: "cluster.local".into(),
        }
    }

    fn sh(line: &str) -> Outcome {
        run(&env(), &NoNetwork, &split_words(line).unwrap())
    }

    #[test]
    fn hostnames_and_files() {
        assert_eq!(sh("hostname").out, "web-demo-0\n");
        assert_eq!(
            sh("hostname -f").out,
            "web-demo-0.nginx-demo.demo.svc.cluster.local\n"
        );
        assert_eq!(sh("sh -c 'hostname -i'").out, "10.244.0.5\n");
        assert_eq!(
            sh("cat /etc/resolv.conf").out,
            "search demo.svc.cluster.local svc.cluster.local cluster.local\nnameserver 127.0.0.1\noptions ndots:5\n"
        );
        assert!(
            sh("cat /etc/hosts").out.ends_with(
                "10.244.0.5\tweb-demo-0.nginx-demo.demo.svc.cluster.local\tweb-demo-0\n"
            )
        );
        let missing = sh("cat /etc/passwd");
        assert_eq!(missing.code, 1);
        assert!(missing.err.starts_with("cat: can't open '/etc/passwd'"));
    }

    #[test]
    fn other_commands_are_refused_with_the_list() {
        let out = sh("curl http://web-demo-0");
        assert_eq!(out.code, 127);
        assert!(
            out.err
                .starts_with("sh: curl http://web-demo-0: not a built-in"),
            "{}",
            out.err
        );
        assert!(out.err.contains("runs no processes"), "{}", out.err);
        assert!(out.err.contains(BUILTINS), "{}", out.err);
    }

    #[test]
    fn words_split_like_sh() {
        assert_eq!(
            split_words(r#"sh -c 'nslookup web-0' "a b" c\ d"#).unwrap(),
            ["sh", "-c", "nslookup web-0", "a b", "c d"]
        );
        assert!(
            split_words("hostname; ls")
                .unwrap_err()
                .contains("one plain command")
        );
        assert!(
            split_words("echo 'open")
                .unwrap_err()
                .contains("unterminated")
        );
    }

    #[test]
    fn failed_lookups_print_busybox_and_glibc_errors() {
        let out = sh("nslookup web-demo-9.nginx-demo");
        assert_eq!(out.code, 1);
        assert_eq!(out.out, "Server:    127.0.0.1\nAddress 1: 127.0.0.1\n\n");
        assert_eq!(out.err, "nslookup: can't resolve 'web-demo-9.nginx-demo'\n");
        assert_eq!(sh("getent hosts nope"), Outcome::fail(String::new(), 2));
        assert!(
            sh("ping -c1 nope")
                .err
                .starts_with("ping: bad address 'nope'")
        );
    }
}
