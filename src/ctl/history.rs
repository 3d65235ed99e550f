//! `ctl rollout history sts/NAME [--revision=N]` and `ctl rollout undo
//! sts/NAME [--to-revision=N]`: kubectl's `StatefulSetHistoryViewer` and
//! `StatefulSetRollbacker` over the set's ControllerRevisions.
//!
//! The revisions a set owns are listed from the admin API; `history`
//! prints their numbers (or one revision's pod template), `undo` puts the
//! chosen revision's template back into the set with a PUT, and the
//! controller rolls it out through the set's update strategy like any
//! other template change.

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;

use super::context::Ctx;
use super::print::template;
use super::resource::Kind;

/// The revisions `set` controls, lowest number first.
fn owned(ctx: &mut Ctx<'_>, set: &StatefulSet) -> Result<Vec<ControllerRevision>, u8> {
    let path = Kind::ControllerRevision.list_path(Some(&ctx.namespace));
    let list: k8s_openapi::List<ControllerRevision> = match ctx.client.get(&path) {
        Ok(list) => list,
        Err(error) => return Err(ctx.fail(&error)),
    };
    let mut revisions: Vec<ControllerRevision> = list
        .items
        .into_iter()
        .filter(|r| {
            r.metadata
                .owner_references
                .as_deref()
                .unwrap_or_default()
                .iter()
                .any(|o| {
                    o.controller == Some(true)
                        && o.kind == "StatefulSet"
                        && Some(&o.name) == set.metadata.name.as_ref()
                })
        })
        .collect();
    revisions.sort_by_key(|r| r.revision);
    Ok(revisions)
}

/// The pod template a revision stores (`data.spec.template`).
fn revision_template(revision: &ControllerRevision) -> Option<PodTemplateSpec> {
    let mut template = revision.data.as_ref()?.0.pointer("/spec/template")?.clone();
    if let Some(map) = template.as_object_mut() {
        map.remove("$patch");
    }
    serde_json::from_value(template).ok()
}

fn get_set(ctx: &mut Ctx<'_>, name: &str) -> Result<StatefulSet, u8> {
    let path = Kind::StatefulSet.item_path(&ctx.namespace, name);
    ctx.client.get(&path).map_err(|error| ctx.fail(&error))
}

/// Runs `rollout history`.
pub fn history(ctx: &mut Ctx<'_>, name: &str, revision: i64) -> u8 {
    let set = match get_set(ctx, name) {
        Ok(set) => set,
        Err(code) => return code,
    };
    let revisions = match owned(ctx, &set) {
        Ok(revisions) => revisions,
        Err(code) => return code,
    };
    let body = if revisions.is_empty() {
        "No rollout history found.".to_string()
    } else if revision > 0 {
        let Some(found) = revisions.iter().find(|r| r.revision == revision) else {
            return ctx.error("unable to find the specified revision");
        };
        let mut text = String::new();
        match revision_template(found) {
            Some(t) => template::pod_template(&mut text, &t),
            None => text.push_str("Pod Template:\n  <unset>"),
        }
        text
    } else {
        let mut rows = String::from("REVISION\tCHANGE-CAUSE\n");
        for r in &revisions {
            let cause = r
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubernetes.io/change-cause"))
                .filter(|c| !c.is_empty())
                .map_or("<none>", String::as_str);
            rows.push_str(&format!("{}\t{cause}\n", r.revision));
        }
        super::print::describe::tabbed(&rows)
    };
    let with_revision = if revision > 0 {
        format!("with revision #{revision}")
    } else {
        String::new()
    };
    ctx.print(&format!(
        "statefulset.apps/{name} {with_revision}\n{body}\n"
    ));
    0
}

/// Runs `rollout undo`.
pub fn undo(ctx: &mut Ctx<'_>, name: &str, to_revision: i64) -> u8 {
    if to_revision < 0 {
        return ctx.error(&format!(
            "unable to find specified revision {to_revision} in history"
        ));
    }
    let set = match get_set(ctx, name) {
        Ok(set) => set,
        Err(code) => return code,
    };
    let revisions = match owned(ctx, &set) {
        Ok(revisions) => revisions,
        Err(code) => return code,
    };
    if to_revision == 0 && revisions.len() <= 1 {
        return ctx.error("no last revision to roll back to");
    }
    let target = if to_revision == 0 {
        revisions.get(revisions.len() - 2)
    } else {
        revisions.iter().find(|r| r.revision == to_revision)
    };
    let Some(template) = target.and_then(revision_template) else {
        return ctx.error(&format!(
            "unable to find specified revision {to_revision} in history"
        ));
    };
    let current = set.spec.as_ref().map(|s| &s.template);
    if current == Some(&template) {
        ctx.print(&format!(
            "statefulset.apps/{name} skipped rollback (current template already matches revision {to_revision})\n"
        ));
        return 0;
    }
    let path = Kind::StatefulSet.item_path(&ctx.namespace, name);
    let mut object = match ctx.client.get_value(&path) {
        Ok(object) => object,
        Err(error) => return ctx.fail(&error),
    };
    let template = serde_json::to_value(&template).unwrap_or(Value::Null);
    match object.pointer_mut("/spec/template") {
        Some(slot) => *slot = template,
        None => return ctx.error(&format!("statefulset {name} has no spec.template")),
    }
    if let Err(error) = ctx.client.put(&path, &object) {
        return ctx.error(&format!(
            "failed restoring revision {to_revision}: {}",
            error.to_kubectl()
        ));
    }
    ctx.print(&format!("statefulset.apps/{name} rolled back\n"));
    0
}
