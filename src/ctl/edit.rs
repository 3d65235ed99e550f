//! The commands that change one StatefulSet: `scale` and `set image` (read,
//! change, write back with PUT) and `patch` (a JSON merge patch).
//!
//! Objects are edited as `serde_json::Value` so every field the server sent
//! goes back unchanged, whatever this build of k8s-openapi knows about.

use serde_json::Value;

use super::context::Ctx;
use super::resource::Kind;

/// Runs `scale`; returns the exit code.
pub fn scale(ctx: &mut Ctx<'_>, targets: &[(Kind, String)], replicas: i64) -> u8 {
    if replicas < 0 {
        return ctx.error(
            "The --replicas=COUNT flag is required, and COUNT must be greater than or equal to 0",
        );
    }
    for (kind, name) in targets {
        if let Err(message) = statefulsets_only(*kind, "scale") {
            return ctx.error(&message);
        }
        let path = kind.item_path(&ctx.namespace, name);
        let mut object = match ctx.client.get_value(&path) {
            Ok(object) => object,
            Err(error) => return ctx.fail(&error),
        };
        set_path(&mut object, &["spec", "replicas"], Value::from(replicas));
        if let Err(error) = ctx.client.put(&path, &object) {
            return ctx.fail(&error);
        }
        ctx.print(&format!("{}/{name} scaled\n", kind.qualified()));
    }
    0
}

/// Runs `set image`; returns the exit code.
pub fn set_image(ctx: &mut Ctx<'_>, targets: &[(Kind, String)], images: &[(String, String)]) -> u8 {
    for (kind, name) in targets {
        if let Err(message) = statefulsets_only(*kind, "set image") {
            return ctx.error(&message);
        }
        let path = kind.item_path(&ctx.namespace, name);
        let mut object = match ctx.client.get_value(&path) {
            Ok(object) => object,
            Err(error) => return ctx.fail(&error),
        };
        let changed = match update_images(&mut object, images) {
            Ok(changed) => changed,
            Err(message) => return ctx.error(&message),
        };
        if changed && let Err(error) = ctx.client.put(&path, &object) {
            return ctx.fail(&error);
        }
        ctx.print(&format!("{}/{name} image updated\n", kind.qualified()));
    }
    0
}

/// Sets the image of every container (and init container) of the pod
/// template named in `images` (`*` names them all). Returns whether anything
/// changed, or kubectl's error for a container that does not exist.
pub fn update_images(object: &mut Value, images: &[(String, String)]) -> Result<bool, String> {
    let mut changed = false;
    for (container, image) in images {
        let mut found = false;
        for list in ["initContainers", "containers"] {
            let Some(Value::Array(containers)) = object
                .pointer_mut("/spec/template/spec")
                .and_then(|spec| spec.get_mut(list))
            else {
                continue;
            };
            for entry in containers {
                let matches = container == "*"
                    || entry.get("name").and_then(Value::as_str) == Some(container.as_str());
                if matches {
                    found = true;
                    if entry.get("image").and_then(Value::as_str) != Some(image.as_str()) {
                        entry["image"] = Value::from(image.as_str());
                        changed = true;
                    }
                }
            }
        }
        if !found {
            return Err(format!("unable to find container named \"{container}\""));
        }
    }
    Ok(changed)
}

/// Runs `patch`; returns the exit code.
pub fn patch(ctx: &mut Ctx<'_>, targets: &[(Kind, String)], patch_text: &str) -> u8 {
    let patch = match parse_patch(patch_text) {
        Ok(patch) => patch,
        Err(message) => return ctx.error(&message),
    };
    for (kind, name) in targets {
        if *kind != Kind::PersistentVolume
            && let Err(message) = statefulsets_only(*kind, "patch")
        {
            return ctx.error(&message);
        }
        let path = kind.item_path(&ctx.namespace, name);
        let before = match ctx.client.get_value(&path) {
            Ok(object) => object,
            Err(error) => return ctx.fail(&error),
        };
        let after = match ctx.client.merge_patch(&path, &patch) {
            Ok(object) => object,
            Err(error) => return ctx.fail(&error),
        };
        let suffix = if same_object(&before, &after) {
            " (no change)"
        } else {
            ""
        };
        ctx.print(&format!("{}/{name} patched{suffix}\n", kind.qualified()));
    }
    0
}

/// Runs `patch --type json`: the RFC 6902 operations are applied to the
/// object as fetched, and the result is written back with PUT.
pub fn json_patch(ctx: &mut Ctx<'_>, targets: &[(Kind, String)], patch_text: &str) -> u8 {
    let patch = match parse_patch(patch_text) {
        Ok(patch) if patch.is_array() => patch,
        Ok(_) => return ctx.error("a JSON patch (--type json) is a list of operations"),
        Err(message) => return ctx.error(&message),
    };
    for (kind, name) in targets {
        if let Err(message) = statefulsets_only(*kind, "patch --type json") {
            return ctx.error(&message);
        }
        let path = kind.item_path(&ctx.namespace, name);
        let before = match ctx.client.get_value(&path) {
            Ok(object) => object,
            Err(error) => return ctx.fail(&error),
        };
        let mut after = before.clone();
        if let Err(message) = super::jsonpatch::apply(&mut after, &patch) {
            return ctx.fail(&super::client::Error::Server {
                code: 422,
                reason: "Invalid".into(),
                message: format!("the JSON patch does not apply: {message}"),
            });
        }
        let suffix = if same_object(&before, &after) {
            " (no change)"
        } else {
            if let Err(error) = ctx.client.put(&path, &after) {
                return ctx.fail(&error);
            }
            ""
        };
        ctx.print(&format!("{}/{name} patched{suffix}\n", kind.qualified()));
    }
    0
}

/// `-p` takes JSON, or YAML as kubectl also accepts.
pub fn parse_patch(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Ok(value),
        Err(json_error) => match serde_saphyr::from_str::<Value>(text) {
            Ok(value) if value.is_object() => Ok(value),
            _ => Err(format!("unable to parse \"{text}\": {json_error}")),
        },
    }
}

/// Whether a patch left the object as it was: equal apart from the
/// bookkeeping the server may touch on any write.
fn same_object(before: &Value, after: &Value) -> bool {
    let strip = |value: &Value| {
        let mut value = value.clone();
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("resourceVersion");
            meta.remove("managedFields");
        }
        value
    };
    strip(before) == strip(after)
}

fn statefulsets_only(kind: Kind, verb: &str) -> Result<(), String> {
    if kind == Kind::StatefulSet {
        Ok(())
    } else {
        Err(format!(
            "cannot {verb} {kind}: the headless-dns admin API changes statefulsets only"
        ))
    }
}

fn set_path(object: &mut Value, path: &[&str], value: Value) {
    let mut at = object;
    for key in &path[..path.len() - 1] {
        if !at.get(*key).is_some_and(Value::is_object) {
            at[*key] = Value::Object(Default::default());
        }
        at = &mut at[*key];
    }
    at[path[path.len() - 1]] = value;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts() -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "web", "resourceVersion": "7"},
            "spec": {"template": {"spec": {
                "initContainers": [{"name": "init", "image": "busybox"}],
                "containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "envoy"}]
            }}}
        })
    }

    #[test]
    fn set_image_changes_the_named_container_only() {
        let mut object = sts();
        let changed = update_images(&mut object, &[("nginx".into(), "nginx:1.27".into())]).unwrap();
        assert!(changed);
        assert_eq!(
            object["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx:1.27"
        );
        assert_eq!(
            object["spec"]["template"]["spec"]["containers"][1]["image"],
            "envoy"
        );
        assert_eq!(
            object["spec"]["template"]["spec"]["initContainers"][0]["image"],
            "busybox"
        );
    }

    #[test]
    fn set_image_star_and_init_containers() {
        let mut object = sts();
        update_images(&mut object, &[("init".into(), "alpine".into())]).unwrap();
        assert_eq!(
            object["spec"]["template"]["spec"]["initContainers"][0]["image"],
            "alpine"
        );
        update_images(&mut object, &[("*".into(), "x".into())]).unwrap();
        assert_eq!(
            object["spec"]["template"]["spec"]["containers"][1]["image"],
            "x"
        );
        let unchanged = update_images(&mut object, &[("*".into(), "x".into())]).unwrap();
        assert!(!unchanged);
    }

    #[test]
    fn set_image_unknown_container_is_kubectls_error() {
        let mut object = sts();
        assert_eq!(
            update_images(&mut object, &[("x".into(), "y".into())]),
            Err("unable to find container named \"x\"".into())
        );
    }

    #[test]
    fn patches_parse_as_json_or_yaml() {
        assert_eq!(
            parse_patch(r#"{"spec":{"replicas":2}}"#).unwrap(),
            json!({"spec": {"replicas": 2}})
        );
        assert_eq!(
            parse_patch("spec:\n  replicas: 2\n").unwrap(),
            json!({"spec": {"replicas": 2}})
        );
        assert!(
            parse_patch("{nope")
                .unwrap_err()
                .starts_with("unable to parse \"{nope\": ")
        );
    }

    #[test]
    fn no_change_ignores_the_resource_version() {
        let mut after = sts();
        after["metadata"]["resourceVersion"] = json!("8");
        assert!(same_object(&sts(), &after));
        after["spec"]["replicas"] = json!(3);
        assert!(!same_object(&sts(), &after));
    }

    #[test]
    fn set_path_creates_missing_objects() {
        let mut object = json!({"metadata": {}});
        set_path(&mut object, &["spec", "replicas"], json!(4));
        assert_eq!(object["spec"]["replicas"], 4);
    }
}
