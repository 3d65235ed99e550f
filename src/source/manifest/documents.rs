//! A file's text cut into documents: YAML on kubectl's `---` separator
//! lines (with the parser's line numbers turned into the file's), or a
//! stream of JSON objects; each document handed on as a `serde_json::Value`.

use std::path::Path;

use serde_json::Value;

use super::error::{DocumentAt, ManifestError, ObjectAt};
use super::kinds::{Object, add_object};

/// One YAML document of a file.
pub(super) struct Chunk<'a> {
    pub(super) text: &'a str,
    /// 1-based line of the chunk's first line, for turning the parser's
    /// lines into the file's.
    pub(super) first_line: usize,
    /// 1-based line of the first line that is not blank or a comment; `None`
    /// for an empty document.
    pub(super) content_line: Option<usize>,
}

/// Cuts a file on separator lines the way kubectl's YAML reader does: a line
/// that starts with `---` followed only by spaces or a comment. Any other
/// text after `---` is an error, as in kubectl.
pub(super) fn split_documents<'a>(
    text: &'a str,
    path: &Path,
) -> Result<Vec<Chunk<'a>>, ManifestError> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut content_line = None;
    let mut offset = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line_number = index + 1;
        let line = raw.trim_end_matches(['\n', '\r']);
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(ManifestError::Separator {
                    path: path.to_owned(),
                    line: line_number,
                    text: line.to_owned(),
                });
            }
            chunks.push(Chunk {
                text: &text[start..offset],
                first_line,
                content_line,
            });
            start = offset + raw.len();
            first_line = line_number + 1;
            content_line = None;
        } else if content_line.is_none() {
            let trimmed = line.trim_start();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                content_line = Some(line_number);
            }
        }
        offset += raw.len();
    }
    chunks.push(Chunk {
        text: &text[start..],
        first_line,
        content_line,
    });
    Ok(chunks)
}

/// The parser settings for manifests.
pub(super) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // kubectl reads YAML 1.1 (go-yaml via sigs.k8s.io/yaml), where
        // `defaultMode: 0644` is octal 420; YAML 1.2 would make it 644.0 and
        // the typed parse would then fail on a manifest kubectl accepts.
        legacy_octal_numbers: true,
        // Errors are rendered plainly with file lines of our own; snippets
        // would show document-relative lines.
        with_snippet: false,
        // A `kind: List` dump of a cluster is one document of many nodes; the
        // default caps (250 000 nodes, 1 000 000 events) are meant for
        // config files. The depth cap stays at its default: it protects the
        // 2 MiB stack of the blocking thread that loads manifests.
        budget: serde_saphyr::budget! {
            max_nodes: 5_000_000,
            max_events: 20_000_000,
        },
    }
}

/// Below this many documents a file is parsed on the calling thread.
pub(super) const PARALLEL_FROM: usize = 256;

pub(super) fn parse_yaml_documents(
    text: &str,
    path: &Path,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    // Numbered in file order, empty documents left out.
    let documents: Vec<(usize, usize, Chunk<'_>)> = split_documents(text, path)?
        .into_iter()
        .filter_map(|chunk| Some((chunk.content_line?, chunk)))
        .enumerate()
        .map(|(i, (line, chunk))| (i + 1, line, chunk))
        .collect();
    let parse = |part: &[(usize, usize, Chunk<'_>)]| -> Result<Vec<Object>, ManifestError> {
        let mut objects = Vec::new();
        for (document, line, chunk) in part {
            let at = DocumentAt {
                path,
                document: *document,
                line: *line,
            };
            let value: Value = serde_saphyr::from_str_with_options(chunk.text, yaml_options())
                .map_err(|e| yaml_syntax_error(&e, &at, chunk.first_line))?;
            add_document(&value, &at, &mut objects)?;
        }
        Ok(objects)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads == 1 || documents.len() < PARALLEL_FROM {
        state.extend(parse(&documents)?);
        return Ok(());
    }
    // Documents are independent: contiguous parts on every core, joined in
    // order, so objects keep file order and the first error reported is
    // the first in the file (each part stops at its first).
    let part = documents.len().div_ceil(threads);
    let results: Vec<Result<Vec<Object>, ManifestError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = documents
            .chunks(part)
            .map(|part| scope.spawn(|| parse(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    for result in results {
        state.extend(result?);
    }
    Ok(())
}

pub(super) fn yaml_syntax_error(
    e: &serde_saphyr::Error,
    at: &DocumentAt<'_>,
    first_line: usize,
) -> ManifestError {
    let offset = first_line.saturating_sub(1);
    let location = e.location();
    let render = serde_saphyr::render_options! {
        snippets: serde_saphyr::SnippetMode::Off,
        line_offset: offset as u64,
    };
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    ManifestError::Syntax {
        at: at.position(None, None),
        syntax: "YAML",
        line: location.map(|l| to_usize(l.line()).saturating_add(offset)),
        column: location.map(|l| to_usize(l.column())),
        message: e.render_with_options(render),
    }
}

pub(super) fn parse_json_stream(
    text: &str,
    path: &Path,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut document = 0;
    // Lines are counted incrementally so that a long stream costs one pass.
    let mut counted_to = 0;
    let mut line = 1;
    loop {
        let rest = &text[stream.byte_offset()..];
        // The whitespace serde_json skips between values.
        let start = text.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
        if start == text.len() {
            return Ok(());
        }
        line += text[counted_to..start]
            .bytes()
            .filter(|b| *b == b'\n')
            .count();
        counted_to = start;
        document += 1;
        let at = DocumentAt {
            path,
            document,
            line,
        };
        match stream.next() {
            None => return Ok(()),
            Some(Ok(value)) => add_document(&value, &at, state)?,
            Some(Err(e)) => {
                return Err(ManifestError::Syntax {
                    at: at.position(None, None),
                    syntax: "JSON",
                    line: Some(e.line()),
                    column: Some(e.column()),
                    message: e.to_string(),
                });
            }
        }
    }
}

pub(super) fn add_document(
    value: &Value,
    at: &DocumentAt<'_>,
    state: &mut Vec<Object>,
) -> Result<(), ManifestError> {
    // `null`, `~`: kubectl skips such documents too.
    if value.is_null() {
        return Ok(());
    }
    let at = ObjectAt {
        document: at,
        item: "",
    };
    add_object(value, &at, None, state)
}
