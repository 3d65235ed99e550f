//! Manifest errors and where they happened: the file, the document, its
//! line, the path through `kind: List`s, and the object.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where in the manifests an object came from. Shown at the front of every
/// object error: `file: document 2 (line 14), items[3], Service demo/web: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub path: PathBuf,
    /// 1-based, counting only documents with content (not empty ones or
    /// comment-only ones), so it matches what a reader counts.
    pub document: usize,
    /// 1-based line in the file of the document's first content line.
    pub line: usize,
    /// Where in a `kind: List` the object sits (`items[3]`), if it does.
    pub item: Option<String>,
    /// `Kind namespace/name`, as far as the document tells.
    pub object: Option<String>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: document {} (line {})",
            self.path.display(),
            self.document,
            self.line
        )?;
        if let Some(item) = &self.item {
            write!(f, ", {item}")?;
        }
        if let Some(object) = &self.object {
            write!(f, ", {object}")?;
        }
        Ok(())
    }
}

/// A manifest that cannot be loaded. Each variant says what was wrong and
/// where; the variant name doubles as a metric label.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{}: no such file or folder; check the manifest path", .path.display())]
    NotFound { path: PathBuf },

    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "{}: line {line}: invalid document separator {text:?}: only spaces or a `#` comment may follow `---`; move the rest to the next line",
        .path.display()
    )]
    Separator {
        path: PathBuf,
        line: usize,
        text: String,
    },

    /// The document is not well-formed YAML (or JSON). `message` ends with
    /// the absolute line and column in the file, when the parser knows them.
    #[error("{at}: invalid {syntax}: {message}")]
    Syntax {
        at: Box<Position>,
        /// `YAML` or `JSON`.
        syntax: &'static str,
        /// 1-based line in the file.
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },

    #[error(
        "{at}: expected a Kubernetes object (a mapping with apiVersion and kind), found {found}"
    )]
    NotAnObject {
        at: Box<Position>,
        found: &'static str,
    },

    #[error("{at}: {field} is missing; every Kubernetes object needs apiVersion and kind")]
    MissingTypeMeta {
        at: Box<Position>,
        field: &'static str,
    },

    #[error(
        "{at}: {kind} must have apiVersion {expected}, found {found}; convert the object to {expected}"
    )]
    WrongApiVersion {
        at: Box<Position>,
        kind: String,
        expected: &'static str,
        found: String,
    },

    #[error("{at}: {}{message}", FieldPrefix(.field))]
    InvalidField {
        at: Box<Position>,
        /// Path of the offending field (`spec.ports[0].port`); empty when the
        /// object as a whole is wrong.
        field: String,
        message: String,
    },

    #[error("{at}: metadata.name is missing or empty; every object needs a name")]
    MissingName { at: Box<Position> },
}

/// `field: ` in front of a message, or nothing for the object itself.
pub(super) struct FieldPrefix<'a>(pub(super) &'a str);

impl fmt::Display for FieldPrefix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "{}: ", self.0)
        }
    }
}

/// The document being read, for error positions.
pub(super) struct DocumentAt<'a> {
    pub(super) path: &'a Path,
    pub(super) document: usize,
    pub(super) line: usize,
}

impl DocumentAt<'_> {
    pub(super) fn position(&self, item: Option<&str>, object: Option<String>) -> Box<Position> {
        Box::new(Position {
            path: self.path.to_owned(),
            document: self.document,
            line: self.line,
            item: item.filter(|i| !i.is_empty()).map(str::to_owned),
            object,
        })
    }
}

/// One object's place: its document, and its path through `kind: List`s.
pub(super) struct ObjectAt<'a> {
    pub(super) document: &'a DocumentAt<'a>,
    /// `items[3]`, `items[3].items[0]`, or empty at the top of a document.
    pub(super) item: &'a str,
}

impl ObjectAt<'_> {
    pub(super) fn position(&self, object: Option<String>) -> Box<Position> {
        self.document.position(Some(self.item), object)
    }
}
