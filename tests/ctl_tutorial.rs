//! The StatefulSet tutorials' commands, with `ctl` in place of `kubectl`,
//! against the embedded cluster of the server run in-process
//! (`support::tutorial`): create, label selectors, namespaces, `get -w`,
//! `get all`, non-cascading delete. Each output is checked column by column
//! against what kubectl prints. `get -w` runs the `ctl` binary, whose output
//! streams until it is killed.

mod support;

use support::tutorial::*;

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
