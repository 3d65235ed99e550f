//! JSON Patch (RFC 6902) for `ctl patch --type json`, applied here to the
//! object as fetched and then written back whole, since the admin API
//! takes merge patches and replacements only. Paths are JSON Pointers
//! (RFC 6901, `~0` and `~1` escapes, `-` for the end of an array).

use serde_json::Value;

/// Applies `patch` (an array of operations) to `doc`; the error names the
/// operation that failed and why, as the API server words it.
pub fn apply(doc: &mut Value, patch: &Value) -> Result<(), String> {
    let Some(ops) = patch.as_array() else {
        return Err("a JSON patch is an array of operations".into());
    };
    for (i, op) in ops.iter().enumerate() {
        apply_one(doc, op).map_err(|e| format!("operation {i} ({op}): {e}"))?;
    }
    Ok(())
}

fn field<'a>(op: &'a Value, name: &str) -> Result<&'a Value, String> {
    op.get(name).ok_or_else(|| format!("missing {name:?}"))
}

fn path_of(op: &Value, name: &str) -> Result<Vec<String>, String> {
    let text = field(op, name)?
        .as_str()
        .ok_or_else(|| format!("{name:?} is not a string"))?;
    pointer(text)
}

/// Splits a JSON Pointer into unescaped tokens.
fn pointer(text: &str) -> Result<Vec<String>, String> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = text.strip_prefix('/') else {
        return Err(format!("path {text:?} does not begin with /"));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn apply_one(doc: &mut Value, op: &Value) -> Result<(), String> {
    let kind = field(op, "op")?.as_str().ok_or("\"op\" is not a string")?;
    let path = path_of(op, "path")?;
    match kind {
        "add" => add(doc, &path, field(op, "value")?.clone()),
        "remove" => remove(doc, &path).map(drop),
        "replace" => {
            let target = get_mut(doc, &path)?;
            *target = field(op, "value")?.clone();
            Ok(())
        }
        "move" => {
            let from = path_of(op, "from")?;
            let value = remove(doc, &from)?;
            add(doc, &path, value)
        }
        "copy" => {
            let from = path_of(op, "from")?;
            let value = get_mut(doc, &from)?.clone();
            add(doc, &path, value)
        }
        "test" => {
            if *get_mut(doc, &path)? == *field(op, "value")? {
                Ok(())
            } else {
                Err("testing value failed".into())
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let i: usize = token
        .parse()
        .map_err(|_| format!("{token:?} is not an array index"))?;
    if i > len || (!allow_end && i == len) {
        return Err(format!("index {i} is out of bounds (length {len})"));
    }
    Ok(i)
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Result<&'a mut Value, String> {
    let mut at = doc;
    for token in path {
        at = match at {
            Value::Object(map) => map
                .get_mut(token)
                .ok_or_else(|| format!("doc is missing path: /{}", path.join("/")))?,
            Value::Array(list) => {
                let i = index(token, list.len(), false)?;
                &mut list[i]
            }
            _ => return Err(format!("doc is missing path: /{}", path.join("/"))),
        };
    }
    Ok(at)
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), String> {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(list) => {
            let i = index(last, list.len(), true)?;
            list.insert(i, value);
            Ok(())
        }
        _ => Err(format!(
            "cannot add below a scalar at /{}",
            parent.join("/")
        )),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Result<Value, String> {
    let Some((last, parent)) = path.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match get_mut(doc, parent)? {
        Value::Object(map) => map
            .remove(last)
            .ok_or_else(|| format!("doc is missing path: /{}", path.join("/"))),
        Value::Array(list) => {
            let i = index(last, list.len(), false)?;
            Ok(list.remove(i))
        }
        _ => Err(format!("doc is missing path: /{}", path.join("/"))),
    }
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
}
