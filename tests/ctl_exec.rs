//! `ctl exec` and `ctl run` against the server run in-process
//! (`support::tutorial`): the built-ins a simulated pod answers, with
//! lookups through the pod's search list against the running DNS server.
//! `get pv -w` runs the `ctl` binary, whose output streams until it is
//! killed.

mod support;

use support::tutorial::*;

#[test]
fn exec_shows_what_the_pod_sees() {
    let t = demo(2);
    for i in 0..2 {
        let out = t.ok(&[
            "exec",
            &format!("web-demo-{i}"),
            "-n",
            "demo",
            "--",
            "sh",
            "-c",
            "hostname",
        ]);
        assert_eq!(out, format!("web-demo-{i}\n"));
    }
    assert_eq!(
        t.ok(&["exec", "web-demo-1", "-n", "demo", "--", "hostname", "-f"]),
        "web-demo-1.nginx-demo.demo.svc.cluster.local\n"
    );
    let resolv = t.ok(&[
        "exec",
        "web-demo-0",
        "-n",
        "demo",
        "--",
        "cat",
        "/etc/resolv.conf",
    ]);
    let lines: Vec<&str> = resolv.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(
        lines,
        [
            "search demo.svc.cluster.local svc.cluster.local cluster.local",
            &format!("nameserver {}", t.server.dns.ip()),
            "options ndots:5"
        ]
    );
    let ips = pod_ips(&t);
    let getent = t.ok(&[
        "exec",
        "web-demo-0",
        "-n",
        "demo",
        "--",
        "getent",
        "hosts",
        "web-demo-1.nginx-demo",
    ]);
    assert_eq!(
        getent,
        format!(
            "{:<15} web-demo-1.nginx-demo.demo.svc.cluster.local\n",
            ips["web-demo-1"]
        )
    );
    let ping = t.ctl(&[
        "exec",
        "web-demo-0",
        "-n",
        "demo",
        "--",
        "ping",
        "-c1",
        "web-demo-1.nginx-demo",
    ]);
    assert_eq!(ping.code, 0);
    assert_eq!(
        ping.out,
        format!(
            "PING web-demo-1.nginx-demo ({}): 56 data bytes\n",
            ips["web-demo-1"]
        )
    );
    // The Service name: both pods, each with its own reverse name.
    let svc = t.ok(&[
        "exec",
        "web-demo-0",
        "-n",
        "demo",
        "--",
        "nslookup",
        "nginx-demo",
    ]);
    let mut addresses: Vec<&str> = svc.lines().skip(4).collect();
    addresses.sort();
    let mut want = vec![
        format!(
            "{} web-demo-0.nginx-demo.demo.svc.cluster.local",
            ips["web-demo-0"]
        ),
        format!(
            "{} web-demo-1.nginx-demo.demo.svc.cluster.local",
            ips["web-demo-1"]
        ),
    ];
    want.sort();
    let got: Vec<String> = addresses
        .iter()
        .map(|l| l.split_once(": ").unwrap().1.to_owned())
        .collect();
    assert_eq!(got, want, "{svc}");

    let missing = t.ctl(&[
        "exec",
        "web-demo-0",
        "-n",
        "demo",
        "--",
        "nslookup",
        "web-demo-7.nginx-demo",
    ]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.err,
        "nslookup: can't resolve 'web-demo-7.nginx-demo'\ncommand terminated with exit code 1\n"
    );
    let other = t.ctl(&[
        "exec",
        "web-demo-0",
        "-n",
        "demo",
        "--",
        "curl",
        "http://web-demo-1.nginx-demo",
    ]);
    assert_eq!(other.code, 127);
    assert!(other.err.contains("runs no processes"), "{other:?}");
    assert!(
        other.err.contains("nslookup NAME, getent hosts NAME"),
        "{other:?}"
    );
    let none = t.ctl(&["exec", "web-demo-9", "-n", "demo", "--", "hostname"]);
    assert_eq!(
        none.err,
        "Error from server (NotFound): pods \"web-demo-9\" not found\n"
    );
    let bare = t.ctl(&["exec", "web-demo-0", "-n", "demo"]);
    assert_eq!(
        bare.err,
        "error: you must specify at least one command for the container\n"
    );
}

#[test]
fn run_it_resolves_the_same_names_to_new_ips_after_a_restart() {
    let t = demo(2);
    let server = t.server.dns.to_string();
    let session = |input: &str, namespace: &str| {
        t.ctl_with_input(
            &[
                "run",
                "-it",
                "--rm",
                "--image",
                "busybox:1.28",
                "dns-test",
                "-n",
                namespace,
                "--restart=Never",
            ],
            input,
        )
    };
    let transcript = |ips: &std::collections::BTreeMap<String, String>| {
        let mut want = "If you don't see a command prompt, try pressing enter.\n".to_owned();
        for i in 0..2 {
            want.push_str("/ # ");
            want.push_str(&nslookup_answer(
                &server,
                &format!("web-demo-{i}.nginx-demo"),
                &ips[&format!("web-demo-{i}")],
                &format!("web-demo-{i}.nginx-demo.demo.svc.cluster.local"),
            ));
        }
        want.push_str("/ # \npod \"dns-test\" deleted\n");
        want
    };
    let input = "nslookup web-demo-0.nginx-demo\nnslookup web-demo-1.nginx-demo\nexit\n";
    let before = pod_ips(&t);
    let first = session(input, "demo");
    assert_eq!((first.code, first.err.as_str()), (0, ""), "{first:?}");
    assert_eq!(first.out, transcript(&before));

    t.ok(&["delete", "pod", "-l", "app=nginx", "-n", "demo"]);
    t.until(&["get", "pods", "-n", "demo", "-o", "wide"], |out| {
        let rows = cells(out);
        rows.len() == 3
            && rows[1..].iter().all(|r| {
                r[0].starts_with("web-demo-")
                    && r[1] == "1/1"
                    && r[2] == "Running"
                    && before[&r[0]] != r[5]
            })
    });
    let after = pod_ips(&t);
    let second = session(input, "demo");
    assert_eq!(second.out, transcript(&after));
    for name in ["web-demo-0", "web-demo-1"] {
        assert_ne!(before[name], after[name], "{name} kept its IP");
    }

    // From another namespace the short name is not found; with the
    // namespace it is, through the svc.cluster.local search domain.
    t.ok(&["create", "ns", "other"]);
    let elsewhere = session(
        "nslookup web-demo-0.nginx-demo\nnslookup web-demo-0.nginx-demo.demo\nexit 3\n",
        "other",
    );
    assert_eq!(elsewhere.code, 3);
    assert_eq!(
        elsewhere.err,
        "nslookup: can't resolve 'web-demo-0.nginx-demo'\n"
    );
    assert!(
        elsewhere.out.contains(&format!(
            "Name:      web-demo-0.nginx-demo.demo\nAddress 1: {} web-demo-0.nginx-demo.demo.svc.cluster.local\n",
            after["web-demo-0"]
        )),
        "{elsewhere:?}"
    );
    // Not attached: the pod is only created.
    assert_eq!(
        t.ok(&["run", "sleeper", "--image", "busybox:1.28", "-n", "other"]),
        "pod/sleeper created\n"
    );
    let rm = t.ctl(&["run", "x", "--image", "busybox:1.28", "--rm"]);
    assert_eq!(
        rm.err,
        "error: --rm should only be used for attached containers\n"
    );
}

#[test]
fn exec_it_sh_reads_commands_until_exit_and_watch_shows_volumes() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let t = demo(1);
    let session = t.ctl_with_input(
        &["exec", "-it", "web-demo-0", "-n", "demo", "--", "sh"],
        "hostname\n\ncat /etc/hostname\nsh -c 'hostname -f'\nexit\nhostname\n",
    );
    assert_eq!(session.code, 0, "{session:?}");
    assert_eq!(
        session.out,
        "/ # web-demo-0\n/ # / # web-demo-0\n/ # web-demo-0.nginx-demo.demo.svc.cluster.local\n/ # \n"
    );
    // Without -i, `sh` has nothing to read and ends at once.
    assert_eq!(t.ok(&["exec", "web-demo-0", "-n", "demo", "--", "sh"]), "");

    let mut watch = Command::new(support::server::BIN)
        .args(["ctl", "--admin", &t.server.admin.to_string()])
        .args(["get", "pv", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let header = lines.next().unwrap().unwrap();
    let row = lines.next().unwrap().unwrap();
    let _ = watch.kill();
    let _ = watch.wait();
    assert!(
        header.starts_with("NAME ") && header.contains("RECLAIM POLICY"),
        "{header}"
    );
    assert!(
        row.starts_with("pvc-") && row.contains(" demo/www-web-demo-0 "),
        "{row}"
    );
}
