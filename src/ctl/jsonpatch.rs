//! JSON Patch (RFC 6902) for `ctl patch --type json`, applied here to the
//! object as fetched and then written back whole, since the admin API
//! takes merge patches and replacements only. The json-patch crate parses
//! and applies the operations (all or none); this module names the
//! operation that failed and says why, as the API server words it.

use json_patch::jsonptr::Pointer;
use json_patch::{PatchErrorKind, PatchOperation};
use serde::Deserialize;
use serde_json::Value;

/// Applies `patch` (an array of operations) to `doc`, all or none; the
/// error names the operation that failed and why.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let Some(ops) = patch.as_array() else {
        return Err("a JSON patch is an array of operations".into());
    };
    let parsed = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            PatchOperation::deserialize(op).map_err(|e| format!("operation {i} ({op}): {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let before = doc.clone();
    json_patch::patch(doc, &parsed).map_err(|error| {
        let i = error.operation;
        // The document as the failing operation found it: the crate undid
        // the ones before it.
        let mut at = before;
        let why = match json_patch::patch(&mut at, &parsed[..i]) {
            Ok(()) => why(&at, &parsed[i], &error.kind),
            Err(_) => error.kind.to_string(),
        };
        format!("operation {i} ({}): {why}", ops[i])
    })
}

/// Why `op` failed on `doc` with `kind`, in the API server's words.
fn why(doc: &Value, op: &PatchOperation, kind: &PatchErrorKind) -> String {
    match kind {
        PatchErrorKind::TestFailed => "testing value failed".into(),
        PatchErrorKind::InvalidFromPointer => {
            let from = match op {
                PatchOperation::Move(m) => m.from.as_str(),
                PatchOperation::Copy(c) => c.from.as_str(),
                _ => "",
            };
            format!("doc is missing from path: {from}")
        }
        PatchErrorKind::InvalidPointer => {
            let path = op.path();
            let adds = matches!(
                op,
                PatchOperation::Add(_) | PatchOperation::Move(_) | PatchOperation::Copy(_)
            );
            bad_index(doc, path, adds)
                .unwrap_or_else(|| format!("doc is missing path: {}", path.as_str()))
        }
        other => other.to_string(),
    }
}

/// When `path` ends in an array that exists, what is wrong with its index:
/// not a number, or past the end (`adds`: an add may name the end itself,
/// or `-`).
fn bad_index(doc: &Value, path: &Pointer, adds: bool) -> Option<String> {
    let (parent, last) = path.split_back()?;
    let Value::Array(list) = doc.pointer(parent.as_str())? else {
        return None;
    };
    let token = last.decoded();
    if adds && token == "-" {
        return None;
    }
    let Ok(i) = token.parse::<usize>() else {
        return Some(format!("{token:?} is not an array index"));
    };
    let len = list.len();
    (i > len || (!adds && i == len)).then(|| format!("index {i} is out of bounds (length {len})"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tutorials_image_patch_and_the_other_ops() {
        let mut sts = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "nginx", "image": "nginx-slim:0.21"}
        ]}}}});
        apply(
            &mut sts,
            &json!([{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx-slim:0.24"}]),
        )
        .unwrap();
        assert_eq!(
            sts["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx-slim:0.24"
        );
        let mut doc = json!({"a": [1, 2], "b": {"c/d": 1}});
        apply(
            &mut doc,
            &json!([
                {"op": "add", "path": "/a/-", "value": 3},
                {"op": "add", "path": "/a/0", "value": 0},
                {"op": "remove", "path": "/a/1"},
                {"op": "move", "from": "/b/c~1d", "path": "/e"},
                {"op": "copy", "from": "/e", "path": "/f"},
                {"op": "test", "path": "/f", "value": 1}
            ]),
        )
        .unwrap();
        assert_eq!(doc, json!({"a": [0, 2, 3], "b": {}, "e": 1, "f": 1}));
        let err = apply(
            &mut doc,
            &json!([{"op": "replace", "path": "/x/y", "value": 1}]),
        )
        .unwrap_err();
        assert!(err.contains("missing path: /x/y"), "{err}");
        assert!(apply(&mut doc, &json!([{"op": "test", "path": "/f", "value": 2}])).is_err());
        assert!(apply(&mut doc, &json!({"op": "add"})).is_err());
        assert!(
            apply(
                &mut doc,
                &json!([{"op": "add", "path": "/a/9", "value": 1}])
            )
            .unwrap_err()
            .contains("out of bounds")
        );
    }

    #[test]
    fn errors_name_the_operation_and_path_and_apply_nothing() {
        let mut doc = json!({"a": [1, 2], "b": {"c": 1}});
        let before = doc.clone();
        let err = apply(
            &mut doc,
            &json!([
                {"op": "add", "path": "/b/d", "value": 2},
                {"op": "move", "from": "/b/x", "path": "/e"}
            ]),
        )
        .unwrap_err();
        assert!(err.starts_with("operation 1 ("), "{err}");
        assert!(err.ends_with("doc is missing from path: /b/x"), "{err}");
        assert_eq!(doc, before, "a failed patch applies none of its operations");

        let err = apply(
            &mut doc,
            &json!([{"op": "add", "path": "/b/d", "value": 2}, {"op": "remove", "path": "/a/2"}]),
        )
        .unwrap_err();
        assert!(
            err.ends_with("index 2 is out of bounds (length 2)"),
            "{err}"
        );
        let err = apply(&mut doc, &json!([{"op": "remove", "path": "/a/x"}])).unwrap_err();
        assert!(err.ends_with("\"x\" is not an array index"), "{err}");
        let err = apply(
            &mut doc,
            &json!([{"op": "test", "path": "/b/c", "value": 2}]),
        )
        .unwrap_err();
        assert!(err.ends_with("testing value failed"), "{err}");
        let err = apply(&mut doc, &json!([{"op": "frob", "path": "/a"}])).unwrap_err();
        assert!(err.starts_with("operation 0 ("), "{err}");
        assert!(err.contains("frob"), "{err}");
        let err = apply(&mut doc, &json!([{"op": "add", "path": "/a/0"}])).unwrap_err();
        assert!(err.contains("value"), "{err}");
        assert!(
            apply(
                &mut doc,
                &json!([{"op": "add", "path": "/a/-", "value": 3}])
            )
            .is_ok()
        );
        assert_eq!(doc["a"], json!([1, 2, 3]));
    }
}
