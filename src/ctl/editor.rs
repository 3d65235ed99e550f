//! `ctl edit TYPE/NAME`: kubectl's edit loop. The object goes to a
//! temporary YAML file under kubectl's header comment, `$KUBE_EDITOR`,
//! `$EDITOR` or `vi` edits it, and then:
//! - the file unchanged (comments aside): `Edit cancelled, no changes made.`;
//! - empty: `Edit cancelled, saved file was empty.`;
//! - YAML that does not parse, or an object the server refuses: the file
//!   reopens with the error in comments at the top; saved again without a
//!   change, the edit ends with an error;
//! - otherwise it is written back (PUT) and `statefulset.apps/NAME edited`.
//!
//! Only StatefulSets can be edited: they are what the admin API replaces.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::client::Error;
use super::context::Ctx;
use super::print;
use super::resource::Kind;

const HEADER: &str = "# Please edit the object below. Lines beginning with a '#' will be ignored,
# and an empty file will abort the edit. If an error occurs while saving this file will be
# reopened with the relevant failures.
#
";

/// The editor command kubectl would run.
fn editor() -> String {
    ["KUBE_EDITOR", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned())
}

/// Runs the editor on `file`; an editor with arguments (`code --wait`)
/// goes through `sh -c`, as kubectl does.
fn run_editor(file: &Path) -> Result<(), String> {
    let editor = editor();
    let status = if editor.contains(char::is_whitespace) {
        Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$0\""))
            .arg(file)
            .status()
    } else {
        Command::new(&editor).arg(file).status()
    };
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!(
            "there was a problem with the editor \"{editor}\": {s}"
        )),
        Err(e) => Err(format!("unable to launch the editor \"{editor}\": {e}")),
    }
}

/// The file's text without comment lines.
fn strip_comments(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The comment block that tells what was wrong with the last save.
fn error_comment(what: &str, errors: &str) -> String {
    let mut text = format!("# {what}\n");
    for line in errors.lines() {
        text.push_str(&format!("# {line}\n"));
    }
    text.push_str("#\n");
    text
}

/// A file in the temporary folder, new (never an existing one), removed
/// when the edit ends.
struct TempFile {
    path: std::path::PathBuf,
}

impl TempFile {
    fn new(stem: &str) -> std::io::Result<TempFile> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0..100u32 {
            let path = std::env::temp_dir().join(format!(
                "ctl-edit-{}-{nanos}-{attempt}-{stem}.yaml",
                std::process::id()
            ));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => return Ok(TempFile { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("no free temporary file name"))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Runs `edit`; returns the exit code.
pub fn run(ctx: &mut Ctx<'_>, kind: Kind, name: &str) -> u8 {
    if kind != Kind::StatefulSet {
        return ctx.error(&format!(
            "cannot edit {kind}: the headless-dns admin API replaces statefulsets only"
        ));
    }
    let path = kind.item_path(&ctx.namespace, name);
    let original = match ctx.client.get_value(&path) {
        Ok(object) => object,
        Err(error) => return ctx.fail(&error),
    };
    let temp = match TempFile::new(&format!("{}-{name}", kind.plural())) {
        Ok(temp) => temp,
        Err(e) => return ctx.error(&format!("cannot make a temporary file: {e}")),
    };
    let file = temp.path.clone();
    let mut body = print::yaml(&original);
    let mut comment = String::new();
    let mut last_failed: Option<String> = None;
    loop {
        if let Err(e) = std::fs::write(&file, format!("{HEADER}{comment}{body}")) {
            return ctx.error(&format!("cannot write {}: {e}", file.display()));
        }
        if let Err(message) = run_editor(&file) {
            return ctx.error(&message);
        }
        let edited = match std::fs::read_to_string(&file) {
            Ok(text) => strip_comments(&text),
            Err(e) => return ctx.error(&format!("cannot read {}: {e}", file.display())),
        };
        if edited.trim().is_empty() {
            ctx.eprint("Edit cancelled, saved file was empty.\n");
            return 0;
        }
        if last_failed.as_deref() == Some(edited.as_str()) {
            return ctx.error("Edit cancelled, no valid changes were saved.");
        }
        let object: Value = match serde_saphyr::from_str::<Value>(&edited) {
            Ok(object) if object.is_object() => object,
            Ok(_) => {
                comment = error_comment(
                    "The edited file had a syntax error: the document is not an object",
                    "",
                );
                body = edited.clone();
                last_failed = Some(edited);
                continue;
            }
            Err(e) => {
                comment = error_comment(&format!("The edited file had a syntax error: {e}"), "");
                body = edited.clone();
                last_failed = Some(edited);
                continue;
            }
        };
        if object == original {
            ctx.eprint("Edit cancelled, no changes made.\n");
            return 0;
        }
        match ctx.client.put(&path, &object) {
            Ok(_) => {
                ctx.print(&format!("{}/{name} edited\n", kind.qualified()));
                return 0;
            }
            Err(Error::Server { message, .. }) => {
                // kubectl lists the field errors, without the object's name.
                let detail = message
                    .split_once(" is invalid: ")
                    .map_or(message.as_str(), |(_, rest)| rest);
                comment = error_comment(
                    &format!(
                        "{}.{} \"{name}\" was not valid:",
                        kind.plural(),
                        kind.group()
                    ),
                    &format!("* {detail}"),
                );
                body = edited.clone();
                last_failed = Some(edited);
            }
            Err(error) => return ctx.fail(&error),
        }
    }
}
