//! The StatefulSet tutorials' commands, with `ctl` in place of `kubectl`,
//! against the real binary's embedded cluster: each output is checked
//! column by column against what kubectl prints.

mod support;

use support::tutorial::{SERVICE, Tutorial, cells, column, statefulset};

/// `create ns demo`, `create -f` the Service and the StatefulSet, and wait
/// for the rollout: the tutorial's first steps.
fn demo(replicas: u32) -> Tutorial {
    let t = Tutorial::start();
    assert_eq!(t.ok(&["create", "ns", "demo"]), "namespace/demo created\n");
    let svc = t.file("nginx-svc.yaml", SERVICE);
    let sts = t.file("web.yaml", &statefulset(replicas));
    let out = t.ok(&["create", "-f", svc.to_str().unwrap(), "-n", "demo"]);
    assert_eq!(out, "service/nginx-demo created\n");
    let out = t.ok(&["create", "-f", sts.to_str().unwrap(), "-n", "demo"]);
    assert_eq!(out, "statefulset.apps/web-demo created\n");
    t.rolled_out("sts/web-demo", "demo");
    t
}

#[test]
fn create_refuses_what_exists_in_kubectls_words() {
    let t = demo(1);
    let again = t.ctl(&["create", "ns", "demo"]);
    assert_eq!(again.code, 1);
    assert_eq!(
        again.err,
        "Error from server (AlreadyExists): namespaces \"demo\" already exists\n"
    );
    // A folder: each file is created in name order, each error names its file.
    let dir = t.path().join("dir");
    t.file("dir/a-svc.yaml", SERVICE);
    t.file("dir/b-web.yaml", &statefulset(1));
    t.file(
        "dir/c-other.yaml",
        &SERVICE.replace("name: nginx-demo", "name: other"),
    );
    let out = t.ctl(&["create", "-f", dir.to_str().unwrap(), "-n", "demo"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.out, "service/other created\n");
    let a = dir.join("a-svc.yaml");
    let b = dir.join("b-web.yaml");
    assert_eq!(
        out.err,
        format!(
            "Error from server (AlreadyExists): error when creating \"{}\": services \"nginx-demo\" already exists\n\
             Error from server (AlreadyExists): error when creating \"{}\": statefulsets.apps \"web-demo\" already exists\n",
            a.display(),
            b.display()
        )
    );
    let bad = t.ctl(&["create", "ns", "Demo"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.err
            .starts_with("Error from server (Invalid): Namespace \"Demo\" is invalid: metadata.name: Invalid value: \"Demo\": a lowercase RFC 1123 label"),
        "{bad:?}"
    );
    let none = t.ctl(&["create", "deployment", "x"]);
    assert_eq!(none.code, 1);
    assert!(none.err.starts_with("error: "), "{none:?}");
}

#[test]
fn label_selectors_on_get_and_delete() {
    let t = demo(3);
    let table = t.ok(&["get", "pod", "-l", "app=nginx", "-o", "wide", "-n", "demo"]);
    let rows = cells(&table);
    assert_eq!(
        rows[0],
        [
            "NAME",
            "READY",
            "STATUS",
            "RESTARTS",
            "AGE",
            "IP",
            "NODE",
            "NOMINATED NODE",
            "READINESS GATES"
        ]
    );
    let names: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(names, ["web-demo-0", "web-demo-1", "web-demo-2"]);
    for row in &rows[1..] {
        assert_eq!(&row[1..4], ["1/1", "Running", "0"], "{row:?}");
        assert!(row[5].starts_with("10.244."), "{row:?}");
        assert_eq!(&row[6..], ["embedded", "<none>", "<none>"], "{row:?}");
    }
    let pick = |selector: &str| -> Vec<String> {
        let out = t.ok(&["get", "pods", "-n", "demo", "-l", selector, "-o", "name"]);
        out.lines().map(str::to_owned).collect()
    };
    assert_eq!(
        pick("apps.kubernetes.io/pod-index in (0,2)"),
        ["pod/web-demo-0", "pod/web-demo-2"]
    );
    assert_eq!(
        pick("apps.kubernetes.io/pod-index notin (0,2)"),
        ["pod/web-demo-1"]
    );
    assert_eq!(
        pick("app==nginx,statefulset.kubernetes.io/pod-name!=web-demo-1"),
        ["pod/web-demo-0", "pod/web-demo-2"]
    );
    assert_eq!(pick("controller-revision-hash").len(), 3);
    assert!(pick("!controller-revision-hash").is_empty());
    let none = t.ctl(&["get", "pods", "-n", "demo", "-l", "app=db"]);
    assert_eq!((none.code, none.out.as_str()), (0, ""));
    assert_eq!(none.err, "No resources found in demo namespace.\n");
    // Services and StatefulSets are selected by their own labels.
    assert_eq!(
        t.ok(&[
            "get",
            "svc,sts",
            "-n",
            "demo",
            "-l",
            "app=nginx",
            "-o",
            "name"
        ]),
        "service/nginx-demo\n"
    );
    let bad = t.ctl(&["get", "pods", "-n", "demo", "-l", "app in nginx"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.err.starts_with("error: unable to parse requirement: "),
        "{bad:?}"
    );
    let named = t.ctl(&["get", "pods", "web-demo-0", "-n", "demo", "-l", "app=nginx"]);
    assert_eq!(
        named.err,
        "error: name cannot be provided when a selector is specified\n"
    );

    let before = cells(&table);
    let out = t.ok(&["delete", "pod", "-l", "app=nginx", "-n", "demo"]);
    assert_eq!(
        out,
        "pod \"web-demo-0\" deleted\npod \"web-demo-1\" deleted\npod \"web-demo-2\" deleted\n"
    );
    // The set brings them back with the same names and new IPs.
    t.rolled_out("sts/web-demo", "demo");
    let after = t.until(&["get", "pods", "-n", "demo", "-o", "wide"], |out| {
        let rows = cells(out);
        rows.len() == 4 && rows[1..].iter().all(|r| r[1] == "1/1" && r[2] == "Running")
    });
    let after = cells(&after);
    for (old, new) in before[1..].iter().zip(&after[1..]) {
        assert_eq!(old[0], new[0]);
        assert_ne!(old[5], new[5], "{} got a new IP", old[0]);
    }
    let nothing = t.ctl(&["delete", "pod", "-l", "app=db", "-n", "demo"]);
    assert_eq!((nothing.code, nothing.out.as_str()), (0, ""));
    assert_eq!(nothing.err, "No resources found\n");
}

#[test]
fn delete_namespace_takes_everything_in_it() {
    let t = demo(2);
    assert!(!t.ok(&["get", "pvc", "-n", "demo"]).is_empty());
    assert_eq!(
        t.ok(&["delete", "ns", "demo"]),
        "namespace \"demo\" deleted\n"
    );
    for kind in ["sts", "svc", "pvc", "endpointslices"] {
        let out = t.ctl(&["get", kind, "-n", "demo"]);
        assert_eq!(out.out, "", "{kind}: {out:?}");
        assert_eq!(out.err, "No resources found in demo namespace.\n", "{kind}");
    }
    t.until(&["get", "pods", "-n", "demo", "-o", "name"], str::is_empty);
    let gone = t.ctl(&["get", "ns", "demo"]);
    assert_eq!(
        gone.err,
        "Error from server (NotFound): namespaces \"demo\" not found\n"
    );
    let default = t.ctl(&["delete", "ns", "default"]);
    assert_eq!(
        default.err,
        "Error from server (Forbidden): namespaces \"default\" is forbidden: this namespace may not be deleted\n"
    );
}

/// `get pod -w -l app=nginx` while the set is created: the tutorial's
/// ordered creation, each pod first seen only after a row shows the one
/// before it Running and Ready (true however late the watch started, since
/// a listing is in name order); another set's pods never show.
#[test]
fn watch_with_a_selector_shows_ordered_creation() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let t = Tutorial::start();
    t.ok(&["create", "ns", "demo"]);
    let svc = t.file("nginx-svc.yaml", SERVICE);
    t.ok(&["create", "-f", svc.to_str().unwrap(), "-n", "demo"]);
    let mut watch = Command::new(support::server::BIN)
        .args(["ctl", "--admin", &t.server.admin.to_string()])
        .args(["get", "pod", "-w", "-l", "app=nginx", "-n", "demo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let web = t.file("web.yaml", &statefulset(3));
    let db = t.file(
        "db.yaml",
        &statefulset(1)
            .replace("name: web-demo", "name: db")
            .replace("app: nginx", "app: db"),
    );
    t.ok(&["create", "-f", db.to_str().unwrap(), "-n", "demo"]);
    t.ok(&["create", "-f", web.to_str().unwrap(), "-n", "demo"]);
    let mut rows = Vec::new();
    for line in lines {
        let row = cells(&line.unwrap()).remove(0);
        let done = row[0] == "web-demo-2" && row[1] == "1/1" && row[2] == "Running";
        rows.push(row);
        if done {
            break;
        }
    }
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(
        rows[0],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| !r[0].starts_with("db-")), "{rows:?}");
    for n in 1..3 {
        let first = rows
            .iter()
            .position(|r| r[0] == format!("web-demo-{n}"))
            .unwrap();
        let previous_ready = rows[..first]
            .iter()
            .any(|r| r[0] == format!("web-demo-{}", n - 1) && r[1] == "1/1" && r[2] == "Running");
        assert!(
            previous_ready,
            "web-demo-{n} before web-demo-{} was Ready: {rows:?}",
            n - 1
        );
    }
    // ContainerCreating, then Running 0/1, then 1/1, as the tutorial shows.
    let states: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r[0] == "web-demo-2")
        .map(|r| (r[1].as_str(), r[2].as_str()))
        .collect();
    assert_eq!(
        states.first(),
        Some(&("0/1", "ContainerCreating")),
        "{rows:?}"
    );
    assert_eq!(states.last(), Some(&("1/1", "Running")), "{rows:?}");
}

/// Pod name → IP from `get pods -o wide`.
fn pod_ips(t: &Tutorial) -> std::collections::BTreeMap<String, String> {
    cells(&t.ok(&["get", "pods", "-n", "demo", "-o", "wide"]))[1..]
        .iter()
        .map(|r| (r[0].clone(), r[5].clone()))
        .collect()
}

/// busybox 1.28's `nslookup NAME` answer for one address.
fn nslookup_answer(server: &str, name: &str, ip: &str, fqdn: &str) -> String {
    format!(
        "Server:    {server}\nAddress 1: {server}\n\nName:      {name}\nAddress 1: {ip} {fqdn}\n"
    )
}

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

/// Pod name → (image, controller-revision-hash), from `get pods -o json`.
fn pod_images(t: &Tutorial) -> std::collections::BTreeMap<String, (String, String)> {
    let list: serde_json::Value =
        serde_json::from_str(&t.ok(&["get", "pods", "-n", "demo", "-o", "json"])).unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_owned(),
                (
                    p["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    p["metadata"]["labels"]["controller-revision-hash"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                ),
            )
        })
        .collect()
}

/// Waits until every pod of the set runs `image`, Ready.
fn all_on(t: &Tutorial, replicas: usize, image: &str) {
    t.until(&["get", "pods", "-n", "demo", "-o", "json"], |out| {
        let list: serde_json::Value = serde_json::from_str(out).unwrap();
        let items = list["items"].as_array().unwrap();
        items.len() == replicas
            && items.iter().all(|p| {
                p["spec"]["containers"][0]["image"] == image
                    && p["status"]["containerStatuses"][0]["ready"] == true
                    && p["metadata"]["deletionTimestamp"].is_null()
            })
    });
}

/// The pods deleted by the controller, in order, from `get events`.
fn deletions(t: &Tutorial) -> Vec<String> {
    t.ok(&["get", "events", "-n", "demo"])
        .lines()
        .filter_map(|l| l.split_once("delete Pod ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect()
}

const OLD: &str = "registry.k8s.io/nginx-slim:0.21";
const MID: &str = "registry.k8s.io/nginx-slim:0.22";
const NEW: &str = "registry.k8s.io/nginx-slim:0.23";

#[test]
fn rollout_undo_after_two_image_updates() {
    let t = demo(3);
    let revs = cells(&t.ok(&["get", "controllerrevisions", "-n", "demo"]));
    assert_eq!(revs[0], ["NAME", "CONTROLLER", "REVISION", "AGE"]);
    assert_eq!(revs.len(), 2, "{revs:?}");
    assert!(revs[1][0].starts_with("web-demo-"), "{revs:?}");
    assert_eq!(&revs[1][1..3], ["statefulset.apps/web-demo", "1"]);
    let first = revs[1][0].clone();
    assert!(pod_images(&t).values().all(|(_, hash)| *hash == first));

    for image in [MID, NEW] {
        let set = format!("nginx={image}");
        assert_eq!(
            t.ok(&["set", "image", "sts/web-demo", &set, "-n", "demo"]),
            "statefulset.apps/web-demo image updated\n"
        );
        t.rolled_out("sts/web-demo", "demo");
        all_on(&t, 3, image);
    }
    assert_eq!(
        t.ok(&["rollout", "history", "sts/web-demo", "-n", "demo"]),
        "statefulset.apps/web-demo \nREVISION  CHANGE-CAUSE\n1         <none>\n2         <none>\n3         <none>\n\n"
    );
    let two = t.ok(&[
        "rollout",
        "history",
        "sts/web-demo",
        "-n",
        "demo",
        "--revision=2",
    ]);
    assert_eq!(
        two,
        format!(
            "statefulset.apps/web-demo with revision #2\nPod Template:\n  Labels:\tapp=nginx\n  Containers:\n   nginx:\n    Image:\t{MID}\n    Port:\t80/TCP\n    Host Port:\t0/TCP\n    Environment:\t<none>\n    Mounts:\n      /usr/share/nginx/html from www (rw)\n  Volumes:\t<none>\n  Node-Selectors:\t<none>\n  Tolerations:\t<none>\n\n"
        )
    );

    let before = deletions(&t).len();
    assert_eq!(
        t.ok(&["rollout", "undo", "sts/web-demo", "-n", "demo"]),
        "statefulset.apps/web-demo rolled back\n"
    );
    t.rolled_out("sts/web-demo", "demo");
    all_on(&t, 3, MID);
    assert_eq!(
        deletions(&t)[before..],
        ["web-demo-2", "web-demo-1", "web-demo-0"],
        "highest ordinal first"
    );
    // Revision 2 came back as revision 4; no new revision was made.
    let revs = cells(&t.ok(&["get", "controllerrevisions", "-n", "demo"]));
    let mut numbers: Vec<(String, String)> = revs[1..]
        .iter()
        .map(|r| (r[2].clone(), r[0].clone()))
        .collect();
    numbers.sort();
    assert_eq!(
        numbers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["1", "3", "4"]
    );
    let four = &numbers[2].1;
    assert!(
        pod_images(&t)
            .values()
            .all(|(image, hash)| image == MID && hash == four)
    );
    let sts: serde_json::Value =
        serde_json::from_str(&t.ok(&["get", "sts", "web-demo", "-n", "demo", "-o", "json"]))
            .unwrap();
    assert_eq!(sts["status"]["currentRevision"], four.as_str());
    assert_eq!(sts["status"]["updateRevision"], four.as_str());
    assert_eq!(
        sts["spec"]["template"]["spec"]["containers"][0]["image"],
        MID
    );

    assert_eq!(
        t.ok(&[
            "rollout",
            "undo",
            "sts/web-demo",
            "-n",
            "demo",
            "--to-revision=4"
        ]),
        "statefulset.apps/web-demo skipped rollback (current template already matches revision 4)\n"
    );
    let missing = t.ctl(&[
        "rollout",
        "undo",
        "sts/web-demo",
        "-n",
        "demo",
        "--to-revision=9",
    ]);
    assert_eq!(
        missing.err,
        "error: unable to find specified revision 9 in history\n"
    );
    let missing = t.ctl(&[
        "rollout",
        "history",
        "sts/web-demo",
        "-n",
        "demo",
        "--revision=9",
    ]);
    assert_eq!(
        missing.err,
        "error: unable to find the specified revision\n"
    );
    let pod = t.ctl(&["rollout", "history", "pod/web-demo-0", "-n", "demo"]);
    assert_eq!(
        pod.err,
        "error: no history viewer has been implemented for pods\n"
    );
}

#[test]
fn undo_goes_through_partition_and_on_delete() {
    let t = demo(3);
    // The tutorial's canary: only ordinals at or above the partition update.
    t.ok(&[
        "patch",
        "sts",
        "web-demo",
        "-n",
        "demo",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"RollingUpdate","rollingUpdate":{"partition":2}}}}"#,
    ]);
    // The tutorial's image change: a JSON patch.
    let json_patch = format!(
        r#"[{{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value":"{MID}"}}]"#
    );
    assert_eq!(
        t.ok(&[
            "patch",
            "statefulset",
            "web-demo",
            "-n",
            "demo",
            "--type=json",
            &format!("-p={json_patch}")
        ]),
        "statefulset.apps/web-demo patched\n"
    );
    let bad = t.ctl(&[
        "patch",
        "statefulset",
        "web-demo",
        "-n",
        "demo",
        "--type",
        "json",
        "-p",
        r#"[{"op": "replace", "path": "/spec/template/spec/containers/5/image", "value": "x"}]"#,
    ]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.err
            .starts_with("Error from server (Invalid): the JSON patch does not apply: operation 0"),
        "{bad:?}"
    );
    let out = t.ok(&[
        "rollout",
        "status",
        "sts/web-demo",
        "-n",
        "demo",
        "--timeout",
        "60s",
    ]);
    assert!(
        out.ends_with("partitioned roll out complete: 1 new pods have been updated...\n"),
        "{out}"
    );
    let images = pod_images(&t);
    assert_eq!(images["web-demo-2"].0, MID);
    assert_eq!(
        (
            images["web-demo-0"].0.as_str(),
            images["web-demo-1"].0.as_str()
        ),
        (OLD, OLD)
    );

    // Undo: the canary goes back; the others were never changed.
    t.ok(&["rollout", "undo", "sts/web-demo", "-n", "demo"]);
    t.rolled_out("sts/web-demo", "demo");
    all_on(&t, 3, OLD);
    let undone = pod_images(&t);
    assert_eq!(
        undone["web-demo-0"], images["web-demo-0"],
        "below the partition: untouched"
    );
    assert_eq!(
        undone["web-demo-1"], images["web-demo-1"],
        "below the partition: untouched"
    );

    // OnDelete: an undo changes the template, and a pod only when deleted.
    t.ok(&[
        "patch",
        "sts",
        "web-demo",
        "-n",
        "demo",
        "-p",
        r#"{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}"#,
    ]);
    t.ok(&[
        "set",
        "image",
        "sts/web-demo",
        &format!("nginx={NEW}"),
        "-n",
        "demo",
    ]);
    t.ok(&["delete", "pod", "web-demo-1", "-n", "demo"]);
    t.until(&["get", "pods", "-n", "demo", "-o", "json"], |out| {
        out.contains(NEW) && !out.contains("deletionTimestamp")
    });
    let mixed = pod_images(&t);
    assert_eq!(mixed["web-demo-1"].0, NEW);
    assert_eq!(mixed["web-demo-0"], undone["web-demo-0"]);
    assert_eq!(mixed["web-demo-2"], undone["web-demo-2"]);
    t.ok(&["rollout", "undo", "sts/web-demo", "-n", "demo"]);
    t.ok(&["delete", "pod", "web-demo-1", "-n", "demo"]);
    t.until(&["get", "pods", "-n", "demo", "-o", "json"], |out| {
        let list: serde_json::Value = serde_json::from_str(out).unwrap();
        list["items"].as_array().unwrap().len() == 3
            && !out.contains(NEW)
            && !out.contains("deletionTimestamp")
    });
    let back = pod_images(&t);
    assert_eq!(back["web-demo-1"].0, OLD);
    assert_eq!(
        back["web-demo-0"], undone["web-demo-0"],
        "OnDelete: not deleted, not replaced"
    );
    assert_eq!(
        back["web-demo-2"], undone["web-demo-2"],
        "OnDelete: not deleted, not replaced"
    );
}

#[test]
fn claims_are_bound_to_volumes_that_follow_the_retention_policies() {
    let t = demo(3);
    let pvc = t.ok(&["get", "pvc", "-n", "demo"]);
    assert_eq!(
        column(&pvc, "NAME"),
        ["www-web-demo-0", "www-web-demo-1", "www-web-demo-2"]
    );
    assert!(column(&pvc, "STATUS").iter().all(|s| s == "Bound"), "{pvc}");
    assert!(column(&pvc, "CAPACITY").iter().all(|s| s == "1Gi"), "{pvc}");
    assert!(
        column(&pvc, "ACCESS MODES").iter().all(|s| s == "RWO"),
        "{pvc}"
    );
    assert!(
        column(&pvc, "STORAGECLASS").iter().all(|s| s == "standard"),
        "{pvc}"
    );
    let volumes = column(&pvc, "VOLUME");
    assert!(
        volumes
            .iter()
            .all(|v| v.starts_with("pvc-") && v.len() == 40),
        "{volumes:?}"
    );

    let pv = t.ok(&["get", "pv"]);
    assert_eq!(
        cells(pv.lines().next().unwrap()).remove(0),
        [
            "NAME",
            "CAPACITY",
            "ACCESS MODES",
            "RECLAIM POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE"
        ]
    );
    let mut by_claim: Vec<(String, String)> = column(&pv, "CLAIM")
        .into_iter()
        .zip(column(&pv, "NAME"))
        .collect();
    by_claim.sort();
    assert_eq!(
        by_claim,
        [
            ("demo/www-web-demo-0".to_owned(), volumes[0].clone()),
            ("demo/www-web-demo-1".to_owned(), volumes[1].clone()),
            ("demo/www-web-demo-2".to_owned(), volumes[2].clone()),
        ]
    );
    for (name, want) in [
        ("CAPACITY", "1Gi"),
        ("ACCESS MODES", "RWO"),
        ("RECLAIM POLICY", "Delete"),
        ("STATUS", "Bound"),
        ("STORAGECLASS", "standard"),
        ("VOLUMEATTRIBUTESCLASS", "<unset>"),
        ("REASON", ""),
    ] {
        assert!(column(&pv, name).iter().all(|c| c == want), "{name}: {pv}");
    }
    assert_eq!(
        cells(&t.ok(&["get", "sc"]))[1][..5],
        [
            "standard (default)",
            "headless-dns.io/simulated",
            "Delete",
            "Immediate",
            "false"
        ]
    );
    assert_eq!(
        column(
            &t.ok(&["get", "persistentvolumes", "-o", "wide"]),
            "VOLUMEMODE"
        )[0],
        "Filesystem"
    );

    // whenDeleted: Retain (the default): the claims and volumes survive the
    // set, and a new set of the same name gets them back.
    assert_eq!(
        t.ok(&["delete", "statefulset", "web-demo", "-n", "demo"]),
        "statefulset.apps \"web-demo\" deleted\n"
    );
    t.until(&["get", "pods", "-n", "demo", "-o", "name"], str::is_empty);
    assert_eq!(
        column(&t.ok(&["get", "pvc", "-n", "demo"]), "VOLUME"),
        volumes
    );
    assert!(
        column(&t.ok(&["get", "pv"]), "STATUS")
            .iter()
            .all(|s| s == "Bound")
    );
    let web = t.file("web.yaml", &statefulset(3));
    t.ok(&["create", "-f", web.to_str().unwrap(), "-n", "demo"]);
    t.rolled_out("sts/web-demo", "demo");
    assert_eq!(
        column(&t.ok(&["get", "pvc", "-n", "demo"]), "VOLUME"),
        volumes
    );

    // whenScaled: Delete: scaling down takes the claims, and the Delete
    // reclaim policy their volumes.
    t.ok(&[
        "patch", "sts", "web-demo", "-n", "demo", "-p",
        r#"{"spec":{"persistentVolumeClaimRetentionPolicy":{"whenScaled":"Delete","whenDeleted":"Delete"}}}"#,
    ]);
    t.ok(&["scale", "sts", "web-demo", "-n", "demo", "--replicas=1"]);
    t.until(&["get", "pvc", "-n", "demo", "-o", "name"], |out| {
        out == "persistentvolumeclaim/www-web-demo-0\n"
    });
    t.until(&["get", "pv", "-o", "name"], |out| {
        out == format!("persistentvolume/{}\n", volumes[0])
    });

    // Retain on the volume: deleting the set (whenDeleted: Delete) takes
    // the claim and leaves the volume Released, still naming its claim.
    let patched = t.ok(&[
        "patch",
        "pv",
        &volumes[0],
        "-p",
        r#"{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}"#,
    ]);
    assert_eq!(
        patched,
        format!("persistentvolume/{} patched\n", volumes[0])
    );
    t.ok(&["delete", "sts", "web-demo", "-n", "demo"]);
    let none = t.ctl(&["get", "pvc", "-n", "demo"]);
    assert_eq!(none.err, "No resources found in demo namespace.\n");
    let pv = t.ok(&["get", "pv"]);
    assert_eq!(column(&pv, "STATUS"), ["Released"]);
    assert_eq!(column(&pv, "RECLAIM POLICY"), ["Retain"]);
    assert_eq!(column(&pv, "CLAIM"), ["demo/www-web-demo-0"]);
    assert_eq!(
        t.ok(&["delete", "pv", &volumes[0]]),
        format!("persistentvolume \"{}\" deleted\n", volumes[0])
    );
    assert_eq!(t.ctl(&["get", "pv"]).err, "No resources found\n");
    let bad = t.ctl(&[
        "patch",
        "pv",
        "nope",
        "-p",
        r#"{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}"#,
    ]);
    assert_eq!(
        bad.err,
        "Error from server (NotFound): persistentvolumes \"nope\" not found\n"
    );
}

/// kubectl's RFC 1123 form of an object's creationTimestamp.
fn created(t: &Tutorial, args: &[&str]) -> String {
    let mut argv = args.to_vec();
    argv.extend(["-o", "json"]);
    let object: serde_json::Value = serde_json::from_str(&t.ok(&argv)).unwrap();
    let at: k8s_openapi::jiff::Timestamp = object["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    at.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Splits a description at `Events:`; checks the table's header and
/// returns its rows as (type, reason, from, message).
fn split_events(text: &str) -> (String, Vec<[String; 4]>) {
    let (body, events) = text.split_once("Events:").expect("an Events section");
    let lines: Vec<&str> = events.lines().collect();
    if lines[0].trim() == "<none>" {
        return (body.to_owned(), Vec::new());
    }
    assert_eq!(
        cells(lines[1])[0],
        ["Type", "Reason", "Age", "From", "Message"]
    );
    assert_eq!(
        cells(lines[2])[0],
        ["----", "------", "----", "----", "-------"]
    );
    let rows = lines[3..]
        .iter()
        .map(|l| {
            let c = cells(l).remove(0);
            [c[0].clone(), c[1].clone(), c[3].clone(), c[4..].join("  ")]
        })
        .collect();
    (body.to_owned(), rows)
}

#[test]
fn describe_in_kubectls_layout_with_events() {
    let t = demo(2);
    let ips = pod_ips(&t);

    let sts = t.ok(&["describe", "sts", "web-demo", "-n", "demo"]);
    let (body, events) = split_events(&sts);
    assert_eq!(
        body,
        format!(
            "Name:               web-demo
Namespace:          demo
CreationTimestamp:  {}
Selector:           app=nginx
Labels:             <none>
Annotations:        <none>
Replicas:           2 desired | 2 total
Update Strategy:    RollingUpdate
  Partition:        0
Pods Status:        2 Running / 0 Waiting / 0 Succeeded / 0 Failed
Pod Template:
  Labels:  app=nginx
  Containers:
   nginx:
    Image:        {OLD}
    Port:         80/TCP
    Host Port:    0/TCP
    Environment:  <none>
    Mounts:
      /usr/share/nginx/html from www (rw)
  Volumes:         <none>
  Node-Selectors:  <none>
  Tolerations:     <none>
Volume Claims:
  Name:          www
  StorageClass:  
  Labels:        <none>
  Annotations:   <none>
  Capacity:      1Gi
  Access Modes:  [ReadWriteOnce]
",
            created(&t, &["get", "sts", "web-demo", "-n", "demo"])
        )
    );
    let messages: Vec<&str> = events.iter().map(|e| e[3].as_str()).collect();
    assert_eq!(
        messages,
        [
            "create Claim www-web-demo-0 Pod web-demo-0 in StatefulSet web-demo success",
            "create Pod web-demo-0 in StatefulSet web-demo successful",
            "create Claim www-web-demo-1 Pod web-demo-1 in StatefulSet web-demo success",
            "create Pod web-demo-1 in StatefulSet web-demo successful",
        ]
    );
    assert!(events.iter().all(|e| e[0] == "Normal"
        && e[1] == "SuccessfulCreate"
        && e[2] == "statefulset-controller"));

    // A prefix describes every pod it begins; the two are apart by a
    // blank line.
    let both = t.ok(&["describe", "pod", "web-demo", "-n", "demo"]);
    let parts: Vec<&str> = both.split("\n\n\nName:").collect();
    assert_eq!(parts.len(), 2, "{both}");
    let pod = t.ok(&["describe", "pod", "web-demo-1", "-n", "demo"]);
    assert!(
        both.ends_with(&pod[5..]),
        "the second description is web-demo-1's"
    );
    let (body, events) = split_events(&pod);
    let lines: Vec<&str> = body.lines().collect();
    let ip = &ips["web-demo-1"];
    for (i, want) in [
        (0, "Name:             web-demo-1".to_owned()),
        (1, "Namespace:        demo".to_owned()),
        (4, "Node:             embedded/127.0.0.1".to_owned()),
        (6, "Labels:           app=nginx".to_owned()),
        (
            7,
            "                  apps.kubernetes.io/pod-index=1".to_owned(),
        ),
        (11, "Status:           Running".to_owned()),
        (12, format!("IP:               {ip}")),
        (13, "IPs:".to_owned()),
        (14, format!("  IP:           {ip}")),
        (15, "Controlled By:  StatefulSet/web-demo".to_owned()),
        (16, "Containers:".to_owned()),
        (17, "  nginx:".to_owned()),
    ] {
        assert_eq!(lines[i], want, "line {i} of\n{body}");
    }
    for want in [
        "    State:          Running",
        "    Ready:          True",
        "    Restart Count:  0",
        "  Ready             True ",
        "    ClaimName:   www-web-demo-1",
        "QoS Class:       BestEffort",
    ] {
        assert!(lines.contains(&want), "no {want:?} in\n{body}");
    }
    let reasons: Vec<&str> = events.iter().map(|e| e[1].as_str()).collect();
    assert_eq!(reasons, ["Scheduled", "Started"]);
    assert_eq!(
        events[0][3],
        "Successfully assigned demo/web-demo-1 to embedded"
    );

    let svc = t.ok(&["describe", "svc", "nginx-demo", "-n", "demo"]);
    assert_eq!(
        svc,
        format!(
            "Name:                     nginx-demo
Namespace:                demo
Labels:                   app=nginx
Annotations:              <none>
Selector:                 app=nginx
Type:                     ClusterIP
IP Family Policy:         SingleStack
IP Families:              IPv4
IP:                       None
IPs:                      None
Port:                     web  80/TCP
TargetPort:               80/TCP
Endpoints:                {}:80,{}:80
Session Affinity:         None
Internal Traffic Policy:  Cluster
Events:                   <none>
",
            ips["web-demo-0"], ips["web-demo-1"]
        )
    );

    let pvc = t.ok(&["describe", "pvc", "www-web-demo-0", "-n", "demo"]);
    let volume = column(
        &t.ok(&["get", "pvc", "www-web-demo-0", "-n", "demo"]),
        "VOLUME",
    )
    .remove(0);
    let (body, events) = split_events(&pvc);
    assert_eq!(
        body,
        format!(
            "Name:          www-web-demo-0
Namespace:     demo
StorageClass:  standard
Status:        Bound
Volume:        {volume}
Labels:        app=nginx
Annotations:   pv.kubernetes.io/bind-completed=yes
               pv.kubernetes.io/bound-by-controller=yes
               volume.beta.kubernetes.io/storage-provisioner=headless-dns.io/simulated
               volume.kubernetes.io/storage-provisioner=headless-dns.io/simulated
Finalizers:    [kubernetes.io/pvc-protection]
Capacity:      1Gi
Access Modes:  RWO
VolumeMode:    Filesystem
Used By:       web-demo-0
"
        )
    );
    assert_eq!(
        events,
        [[
            "Normal".to_owned(),
            "ProvisioningSucceeded".to_owned(),
            "persistentvolume-controller".to_owned(),
            format!("Successfully provisioned volume {volume}"),
        ]]
    );

    let pv = t.ok(&["describe", "pv", &volume]);
    assert_eq!(
        pv,
        format!(
            "Name:            {volume}
Labels:          <none>
Annotations:     pv.kubernetes.io/provisioned-by=headless-dns.io/simulated
Finalizers:      [kubernetes.io/pv-protection]
StorageClass:    standard
Status:          Bound
Claim:           demo/www-web-demo-0
Reclaim Policy:  Delete
Access Modes:    RWO
VolumeMode:      Filesystem
Capacity:        1Gi
Node Affinity:   <none>
Message:         
Source:
    Type:          HostPath (bare host directory volume)
    Path:          /var/lib/headless-dns/volumes/{volume}
    HostPathType:  DirectoryOrCreate
Events:            <none>
"
        )
    );

    let slice = t.ok(&["describe", "endpointslices", "-n", "demo"]);
    let (body, _) = split_events(&slice);
    assert!(
        body.contains(&format!(
            "Endpoints:
  - Addresses:  {}
    Conditions:
      Ready:    true
    Hostname:   web-demo-0
    TargetRef:  Pod/web-demo-0
    NodeName:   embedded
    Zone:       <unset>
",
            ips["web-demo-0"]
        )),
        "{body}"
    );
    assert!(
        body.contains(
            "Ports:\n  Name  Port  Protocol\n  ----  ----  --------\n  web   80    TCP\n"
        ),
        "{body}"
    );

    let missing = t.ctl(&["describe", "pod", "nope", "-n", "demo"]);
    assert_eq!(missing.code, 1);
    assert_eq!(
        missing.err,
        "Error from server (NotFound): pods \"nope\" not found\n"
    );
}

#[test]
fn edit_goes_through_the_editor_like_kubectl() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;
    let t = demo(2);
    let script = |name: &str, body: &str| {
        let path = t.file(name, &format!("#!/bin/sh\nset -e\n{body}\n"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    };
    let edit = |editor: &std::path::Path| {
        let out = Command::new(support::server::BIN)
            .args(["ctl", "--admin", &t.server.admin.to_string()])
            .args(["edit", "sts/web-demo", "-n", "demo"])
            .env("EDITOR", editor)
            .env_remove("KUBE_EDITOR")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let seen = t.path().join("seen.yaml");
    let unchanged = script("unchanged.sh", &format!("cp \"$1\" {}", seen.display()));
    assert_eq!(
        edit(&unchanged),
        (
            Some(0),
            String::new(),
            "Edit cancelled, no changes made.\n".to_owned()
        )
    );
    let first = std::fs::read_to_string(&seen).unwrap();
    assert!(first.starts_with(
        "# Please edit the object below. Lines beginning with a '#' will be ignored,\n# and an empty file will abort the edit. If an error occurs while saving this file will be\n# reopened with the relevant failures.\n#\napiVersion: apps/v1\nkind: StatefulSet\n"
    ), "{first}");

    let scale = script(
        "scale.sh",
        "sed -i 's/^  replicas: 2$/  replicas: 3/' \"$1\"",
    );
    assert_eq!(
        edit(&scale),
        (
            Some(0),
            "statefulset.apps/web-demo edited\n".to_owned(),
            String::new()
        )
    );
    t.rolled_out("sts/web-demo", "demo");
    assert_eq!(cells(&t.ok(&["get", "sts", "-n", "demo"]))[1][1], "3/3");

    // Invalid: the file comes back with the error on top; the fix is applied.
    let counter = t.path().join("count");
    let fix = script(
        "fix.sh",
        &format!(
            "if [ ! -e {c} ]; then touch {c}; sed -i 's/^  replicas: 3$/  replicas: -1/' \"$1\"; else cp \"$1\" {s}; sed -i 's/^  replicas: -1$/  replicas: 1/' \"$1\"; fi",
            c = counter.display(),
            s = seen.display()
        ),
    );
    assert_eq!(
        edit(&fix),
        (
            Some(0),
            "statefulset.apps/web-demo edited\n".to_owned(),
            String::new()
        )
    );
    let reopened = std::fs::read_to_string(&seen).unwrap();
    assert!(
        reopened.contains("# reopened with the relevant failures.\n#\n# statefulsets.apps \"web-demo\" was not valid:\n# * spec.replicas: Invalid value: -1: must be greater than or equal to 0\n#\napiVersion: apps/v1\n"),
        "{reopened}"
    );
    assert!(
        reopened.contains("\n  replicas: -1\n"),
        "the user's edit is kept: {reopened}"
    );
    t.until(&["get", "pods", "-n", "demo", "-o", "name"], |out| {
        out == "pod/web-demo-0\n"
    });

    // A syntax error saved twice ends the edit; an empty file cancels it.
    let broken = script("broken.sh", "printf 'spec: [\\n' > \"$1\"");
    let (code, out, err) = edit(&broken);
    assert_eq!((code, out.as_str()), (Some(1), ""));
    assert_eq!(err, "error: Edit cancelled, no valid changes were saved.\n");
    let empty = script("empty.sh", ": > \"$1\"");
    assert_eq!(
        edit(&empty),
        (
            Some(0),
            String::new(),
            "Edit cancelled, saved file was empty.\n".to_owned()
        )
    );
    let pod = t.ctl(&["edit", "pod/web-demo-0", "-n", "demo"]);
    assert_eq!(pod.code, 1);
    assert!(pod.err.contains("statefulsets only"), "{pod:?}");
}

#[test]
fn get_all_and_every_output_form_of_the_new_kinds() {
    let t = demo(2);
    let all = t.ok(&["get", "all", "-n", "demo"]);
    let blocks: Vec<&str> = all.split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{all}");
    let pods = cells(blocks[0]);
    assert_eq!(pods[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(
        pods[1..].iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["pod/web-demo-0", "pod/web-demo-1"]
    );
    let svc = cells(blocks[1]);
    assert_eq!(
        svc[0],
        [
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE"
        ]
    );
    assert_eq!(
        &svc[1][..5],
        [
            "service/nginx-demo",
            "ClusterIP",
            "None",
            "<none>",
            "80/TCP"
        ]
    );
    let sts = cells(blocks[2]);
    assert_eq!(sts[0], ["NAME", "READY", "AGE"]);
    assert_eq!(&sts[1][..2], ["statefulset.apps/web-demo", "2/2"]);
    assert_eq!(
        t.ok(&["get", "all", "-n", "demo", "-o", "name"]),
        "pod/web-demo-0\npod/web-demo-1\nservice/nginx-demo\nstatefulset.apps/web-demo\n"
    );
    // One type: no kind before the names.
    assert_eq!(
        cells(&t.ok(&["get", "sts", "-n", "demo"]))[1][0],
        "web-demo"
    );

    let volume = column(
        &t.ok(&["get", "pvc", "www-web-demo-0", "-n", "demo"]),
        "VOLUME",
    )
    .remove(0);
    let revision = cells(&t.ok(&["get", "controllerrevisions", "-n", "demo"]))[1][0].clone();
    for (kind, name, qualified, api_version, object_kind) in [
        (
            "controllerrevisions",
            revision.as_str(),
            "controllerrevision.apps",
            "apps/v1",
            "ControllerRevision",
        ),
        (
            "pv",
            volume.as_str(),
            "persistentvolume",
            "v1",
            "PersistentVolume",
        ),
        (
            "sc",
            "standard",
            "storageclass.storage.k8s.io",
            "storage.k8s.io/v1",
            "StorageClass",
        ),
    ] {
        let ns = ["-n", "demo"];
        let args = |extra: &[&'static str]| {
            let mut a = vec!["get", kind, name];
            a.extend_from_slice(&ns);
            a.extend_from_slice(extra);
            a
        };
        assert_eq!(
            t.ok(&args(&["-o", "name"])),
            format!("{qualified}/{name}\n")
        );
        let json: serde_json::Value = serde_json::from_str(&t.ok(&args(&["-o", "json"]))).unwrap();
        assert_eq!(
            (json["apiVersion"].as_str(), json["kind"].as_str()),
            (Some(api_version), Some(object_kind))
        );
        assert_eq!(json["metadata"]["name"], name);
        let yaml = t.ok(&args(&["-o", "yaml"]));
        assert!(yaml.contains(&format!("kind: {object_kind}\n")), "{yaml}");
        let wide = t.ok(&args(&["-o", "wide"]));
        assert!(
            cells(&wide)[1][0] == name || cells(&wide)[1][0].starts_with(name),
            "{wide}"
        );
    }
}

/// The tutorial's non-cascading delete: the pods outlive their set, and a
/// new set adopts them instead of making new ones.
#[test]
fn delete_cascade_orphan_then_adoption() {
    let t = demo(2);
    let before = pod_ips(&t);
    assert_eq!(
        t.ok(&[
            "delete",
            "statefulset",
            "web-demo",
            "--cascade=orphan",
            "-n",
            "demo"
        ]),
        "statefulset.apps \"web-demo\" deleted\n"
    );
    assert_eq!(
        t.ctl(&["get", "sts", "-n", "demo"]).err,
        "No resources found in demo namespace.\n"
    );
    let pod: serde_json::Value =
        serde_json::from_str(&t.ok(&["get", "pod", "web-demo-1", "-n", "demo", "-o", "json"]))
            .unwrap();
    assert!(pod["metadata"]["ownerReferences"].is_null(), "{pod}");
    assert_eq!(pod_ips(&t), before, "orphans keep running");
    t.ok(&["delete", "pod", "web-demo-0", "-n", "demo"]);
    t.until(&["get", "pods", "-n", "demo", "-o", "name"], |out| {
        out == "pod/web-demo-1\n"
    });

    // `apply -f web.yaml -n demo`, as the tutorial: web-demo-1 is adopted,
    // web-demo-0 made anew.
    let web = t.file("web.yaml", &statefulset(2));
    assert_eq!(
        t.ok(&["apply", "-f", web.to_str().unwrap(), "-n", "demo"]),
        "statefulset.apps/web-demo created\n"
    );
    t.rolled_out("sts/web-demo", "demo");
    let after = pod_ips(&t);
    assert_eq!(
        after["web-demo-1"], before["web-demo-1"],
        "adopted, not recreated"
    );
    assert_ne!(after["web-demo-0"], before["web-demo-0"]);
    let pod: serde_json::Value =
        serde_json::from_str(&t.ok(&["get", "pod", "web-demo-1", "-n", "demo", "-o", "json"]))
            .unwrap();
    assert_eq!(pod["metadata"]["ownerReferences"][0]["name"], "web-demo");
    let creations = t
        .ok(&["get", "events", "-n", "demo"])
        .matches("create Pod web-demo-1 in StatefulSet")
        .count();
    assert_eq!(
        creations, 1,
        "web-demo-1 was created once, before the orphaning"
    );
    let bad = <headless_dns::cli::Cli as clap::Parser>::try_parse_from([
        "headless-dns",
        "ctl",
        "delete",
        "sts",
        "web-demo",
        "--cascade=sometimes",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("[possible values: background, foreground, orphan]"),
        "{bad}"
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
