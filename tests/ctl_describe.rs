//! Claims and volumes, `describe` and `edit` against the embedded cluster of
//! the server run in-process (`support::tutorial`), in kubectl's layout.
//! `edit` runs the `ctl` binary, as a user's shell would, so that $EDITOR is
//! a real child process.

mod support;

use support::tutorial::*;

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
    // Ages may tick between the two calls: compare up to the events.
    let before_events = |text: &str| text.split("Events:").next().unwrap_or("").to_owned();
    assert!(
        before_events(&format!("Name:{}", parts[1])) == before_events(&pod),
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
    let started = lines
        .iter()
        .position(|l| l.starts_with("    State:"))
        .map(|i| lines[i + 1]);
    assert!(
        started.is_some_and(|l| l.starts_with("      Started:") && l.ends_with(" +0000")),
        "{body}"
    );
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
