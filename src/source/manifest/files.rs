//! Which files a manifest path stands for, as `kubectl apply -f` reads
//! them: a file whatever its name, a folder's `.json`, `.yaml` and `.yml`
//! files (not recursively, sorted).

use std::io;
use std::path::{Path, PathBuf};

use super::error::ManifestError;

/// Extensions taken from a folder, as `kubectl apply -f DIR` takes them.
const MANIFEST_EXTENSIONS: [&str; 3] = ["json", "yaml", "yml"];

/// The files `path` stands for: itself, or a folder's manifest files
/// (`serve` and `ctl apply -f` read folders alike).
pub fn manifest_files(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let metadata = std::fs::metadata(path).map_err(|source| read_error(path, source))?;
    if !metadata.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    let entries = std::fs::read_dir(path).map_err(|source| read_error(path, source))?;
    for entry in entries {
        let file = entry.map_err(|source| read_error(path, source))?.path();
        let wanted = file
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| MANIFEST_EXTENSIONS.contains(&e));
        if !wanted {
            continue;
        }
        // `metadata` follows symlinks: a ConfigMap volume links every key.
        match std::fs::metadata(&file) {
            Ok(m) if m.is_file() => files.push(file),
            Ok(_) => {
                tracing::debug!(path = %file.display(), "skipping a folder: manifest folders are read non-recursively")
            }
            // Listed a moment ago and gone now, or a dangling link: an editor
            // saving (its lock files are such links). Not a manifest to read.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::debug!(path = %file.display(), "skipping a vanished file or dangling link")
            }
            Err(source) => return Err(read_error(&file, source)),
        }
    }
    if files.is_empty() {
        tracing::warn!(path = %path.display(), "no .json, .yaml or .yml files in manifest folder");
    }
    files.sort();
    Ok(files)
}

pub(super) fn read_error(path: &Path, source: io::Error) -> ManifestError {
    if source.kind() == io::ErrorKind::NotFound {
        ManifestError::NotFound {
            path: path.to_owned(),
        }
    } else {
        ManifestError::Read {
            path: path.to_owned(),
            source,
        }
    }
}
