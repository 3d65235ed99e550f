//! ControllerRevisions, `rollout history` and `rollout undo` against the
//! embedded cluster of the server run in-process (`support::tutorial`),
//! through RollingUpdate with a partition and OnDelete.

mod support;

use support::tutorial::*;

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
