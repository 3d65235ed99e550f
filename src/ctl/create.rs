//! `ctl create`: `create namespace NAME` and `create -f FILE|DIR`.
//!
//! Unlike `apply`, an object that exists is an error, printed as kubectl
//! prints it (`Error from server (AlreadyExists): error when creating
//! "FILE": ...`), and the other objects are still created. Each file goes to
//! the admin API's `/create` on its own, so every error names its file.

use std::path::PathBuf;

use serde_json::Value;

use super::apply::read_manifest_files;
use super::client::{Error, query_escape};
use super::context::Ctx;
use super::resource::Kind;

/// Runs `create namespace NAME`.
pub fn namespace(ctx: &mut Ctx<'_>, name: &str) -> u8 {
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name},
    });
    match ctx
        .client
        .post_json(&Kind::Namespace.list_path(None), &body)
    {
        Ok(_) => {
            ctx.print(&format!("namespace/{name} created\n"));
            0
        }
        Err(error) => ctx.fail(&error),
    }
}

/// Runs `create -f`: every file, every object; exit code 1 if any failed.
pub fn files(ctx: &mut Ctx<'_>, paths: &[PathBuf]) -> u8 {
    let files = match read_manifest_files(paths, "create") {
        Ok(files) => files,
        Err(message) => return ctx.error(&message),
    };
    let mut code = 0;
    for (file, text) in files {
        let path = format!("/create?namespace={}", query_escape(&ctx.namespace));
        let answer = match ctx.client.post_manifests(&path, text) {
            Ok(answer) => answer,
            // The file itself was refused (it does not parse): kubectl
            // names the file and goes on with the next.
            Err(Error::Server { message, .. }) => {
                ctx.flush();
                ctx.eprint(&format!("error: error parsing {file}: {message}\n"));
                code = 1;
                continue;
            }
            Err(error) => return ctx.fail(&error),
        };
        let Some(items) = answer.get("items").and_then(Value::as_array) else {
            return ctx.fail(&Error::Decode {
                path,
                detail: format!("no \"items\" list in {answer}"),
            });
        };
        for item in items {
            if let Some(line) = item.get("result").and_then(Value::as_str) {
                ctx.print(&format!("{line}\n"));
            } else {
                let status = item.get("error").cloned().unwrap_or(Value::Null);
                let reason = status["reason"].as_str().unwrap_or_default();
                let message = status["message"].as_str().unwrap_or("unknown error");
                ctx.flush();
                ctx.eprint(&format!(
                    "Error from server ({reason}): error when creating \"{file}\": {message}\n"
                ));
                code = 1;
            }
        }
    }
    code
}
