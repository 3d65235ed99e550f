//! TSIG keys (RFC 8945) read from a key file in BIND's and Knot's syntax.
//!
//! `transfer.keys_file` names a file of clauses such as
//!
//! ```text
//! key "xfr.cluster.local" {
//!     algorithm hmac-sha256;
//!     secret "3q2+7w...base64...";
//! };
//! ```
//!
//! which is what `tsig-keygen` (BIND) writes, what `named.conf` includes,
//! and what Knot's documentation shows, so an operator's file (or a
//! Kubernetes Secret holding it) works unchanged. `#`, `//` and `/* */`
//! comments are skipped. Every error names the file and the line.
//!
//! A [`Key`] keeps its secret inside hickory's [`TSigner`], which has no
//! `Debug`; our own `Debug` prints the name and algorithm only, so a key can
//! be logged and never shows its secret.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, TSigner};

/// The clock skew allowed between us and a secondary (RFC 8945 §10
/// recommends 300 s).
pub const FUDGE: u16 = 300;

/// The HMAC algorithms we sign and verify with (RFC 8945 §6: SHA-256 is
/// mandatory; 384 and 512 are what operators pick beside it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    /// The algorithm named in a key file (`hmac-sha256`, case-insensitive).
    pub fn from_text(text: &str) -> Option<Self> {
        match text.trim_end_matches('.').to_ascii_lowercase().as_str() {
            "hmac-sha256" => Some(Self::HmacSha256),
            "hmac-sha384" => Some(Self::HmacSha384),
            "hmac-sha512" => Some(Self::HmacSha512),
            _ => None,
        }
    }

    pub fn hickory(self) -> TsigAlgorithm {
        match self {
            Self::HmacSha256 => TsigAlgorithm::HmacSha256,
            Self::HmacSha384 => TsigAlgorithm::HmacSha384,
            Self::HmacSha512 => TsigAlgorithm::HmacSha512,
        }
    }

    /// Length of the full MAC, bytes.
    pub fn mac_len(self) -> usize {
        match self {
            Self::HmacSha256 => 32,
            Self::HmacSha384 => 48,
            Self::HmacSha512 => 64,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::HmacSha256 => "hmac-sha256",
            Self::HmacSha384 => "hmac-sha384",
            Self::HmacSha512 => "hmac-sha512",
        }
    }
}

/// One shared secret, by name.
pub struct Key {
    name: Name,
    algorithm: Algorithm,
    signer: TSigner,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("name", &self.name.to_ascii())
            .field("algorithm", &self.algorithm.name())
            .field("secret", &"<hidden>")
            .finish()
    }
}

impl Key {
    /// A key from its parts; `name` is made absolute and lowercase.
    pub fn new(name: &str, algorithm: Algorithm, secret: Vec<u8>) -> Result<Self, String> {
        let mut parsed =
            Name::from_ascii(name).map_err(|e| format!("{name:?} is not a key name: {e}"))?;
        parsed.set_fqdn(true);
        let parsed = parsed.to_lowercase();
        let signer = TSigner::new(secret, algorithm.hickory(), parsed.clone(), FUDGE)
            .map_err(|e| format!("key {name:?}: {e}"))?;
        Ok(Self {
            name: parsed,
            algorithm,
            signer,
        })
    }

    /// The key's name, absolute and lowercase, as it appears on the wire.
    pub fn name(&self) -> &Name {
        &self.name
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// hickory's signer holding the secret (MAC computation and checks).
    pub fn signer(&self) -> &TSigner {
        &self.signer
    }
}

/// Every key of the key file.
#[derive(Debug, Default, Clone)]
pub struct KeyRing {
    keys: Vec<Arc<Key>>,
}

impl KeyRing {
    pub fn new(keys: Vec<Key>) -> Self {
        Self {
            keys: keys.into_iter().map(Arc::new).collect(),
        }
    }

    /// The key named `name` (case-insensitive, with or without the final dot).
    pub fn get(&self, name: &Name) -> Option<&Arc<Key>> {
        // Case-insensitive, absolute or not.
        self.keys.iter().find(|k| k.name.eq_ignore_root(name))
    }

    /// The key written `name` in the config.
    pub fn by_text(&self, name: &str) -> Option<&Arc<Key>> {
        let mut parsed = Name::from_ascii(name).ok()?;
        parsed.set_fqdn(true);
        self.get(&parsed)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.keys.iter().map(|k| k.name.to_ascii())
    }
}

/// Why a key file could not be used: the file, the line, what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Reads and parses a key file.
pub fn load(path: &Path) -> Result<KeyRing, KeyFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word: `key`, `algorithm`, `hmac-sha256`, an unquoted name.
    Word(String),
    /// A quoted string, quotes removed.
    Quoted(String),
    Open,
    Close,
    Semicolon,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Word(w) => format!("`{w}`"),
            Token::Quoted(_) => "a quoted string".to_owned(),
            Token::Open => "`{`".to_owned(),
            Token::Close => "`}`".to_owned(),
            Token::Semicolon => "`;`".to_owned(),
        }
    }
}

/// Splits the text into tokens with their line numbers (from 1).
fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, (usize, String)> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(c) = chars.next() {
        match c {
            '\n' => line += 1,
            c if c.is_whitespace() => {}
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                let start = line;
                chars.next();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == '\n' {
                        line += 1;
                    } else if c == '*' && chars.peek() == Some(&'/') {
                        chars.next();
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err((start, "a /* comment is never closed".to_owned()));
                }
            }
            '{' => tokens.push((line, Token::Open)),
            '}' => tokens.push((line, Token::Close)),
            ';' => tokens.push((line, Token::Semicolon)),
            '"' => {
                let start = line;
                let mut text = String::new();
                loop {
                    match chars.next() {
                        None => return Err((start, "a quoted string is never closed".to_owned())),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => text.push(c),
                            None => {
                                return Err((start, "a quoted string is never closed".to_owned()));
                            }
                        },
                        Some('\n') => {
                            line += 1;
                            text.push('\n');
                        }
                        Some(c) => text.push(c),
                    }
                }
                tokens.push((start, Token::Quoted(text)));
            }
            c => {
                let mut word = String::from(c);
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '#') {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push((line, Token::Word(word)));
            }
        }
    }
    Ok(tokens)
}

/// Parses key-file text. `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<KeyRing, KeyFileError> {
    let error = |line: usize, message: String| KeyFileError::Syntax {
        path: path.to_owned(),
        line,
        message,
    };
    let tokens = tokenize(text).map_err(|(line, message)| error(line, message))?;
    let last_line = text.lines().count().max(1);
    let mut at = tokens.iter().peekable();
    let mut next = |what: &str| -> Result<(usize, Token), KeyFileError> {
        at.next()
            .cloned()
            .ok_or_else(|| error(last_line, format!("the file ends where {what} should be")))
    };
    let mut keys: Vec<Key> = Vec::new();
    while let Ok((line, token)) = next("a `key` clause") {
        match &token {
            Token::Word(w) if w == "key" => {}
            other => {
                return Err(error(
                    line,
                    format!(
                        "expected a `key \"name\" {{ ... }};` clause, found {}",
                        other.describe()
                    ),
                ));
            }
        }
        let (name_line, name) = next("the key's name")?;
        let name = match name {
            Token::Word(w) | Token::Quoted(w) => w,
            other => {
                return Err(error(
                    name_line,
                    format!("expected the key's name, found {}", other.describe()),
                ));
            }
        };
        let (open_line, open) = next("`{`")?;
        if open != Token::Open {
            return Err(error(
                open_line,
                format!(
                    "expected `{{` after key {name:?}, found {}",
                    open.describe()
                ),
            ));
        }
        let mut algorithm: Option<Algorithm> = None;
        let mut secret: Option<Vec<u8>> = None;
        loop {
            let (line, token) = next("`}` closing the key clause")?;
            let statement = match token {
                Token::Close => break,
                Token::Word(w) => w.to_ascii_lowercase(),
                other => {
                    return Err(error(
                        line,
                        format!(
                            "expected `algorithm`, `secret` or `}}` in key {name:?}, found {}",
                            other.describe()
                        ),
                    ));
                }
            };
            let (value_line, value) = next("a value")?;
            let value = match value {
                Token::Word(w) | Token::Quoted(w) => w,
                other => {
                    return Err(error(
                        value_line,
                        format!(
                            "expected a value after `{statement}`, found {}",
                            other.describe()
                        ),
                    ));
                }
            };
            let (semi_line, semi) = next("`;`")?;
            if semi != Token::Semicolon {
                return Err(error(
                    semi_line,
                    format!(
                        "expected `;` after `{statement}`, found {}",
                        semi.describe()
                    ),
                ));
            }
            match statement.as_str() {
                "algorithm" if algorithm.is_some() => {
                    return Err(error(line, format!("key {name:?} has two algorithms")));
                }
                "algorithm" => {
                    algorithm = Some(Algorithm::from_text(&value).ok_or_else(|| {
                        error(
                            line,
                            format!(
                                "key {name:?}: algorithm {value:?} is not supported; use hmac-sha256, hmac-sha384 or hmac-sha512"
                            ),
                        )
                    })?);
                }
                "secret" if secret.is_some() => {
                    return Err(error(line, format!("key {name:?} has two secrets")));
                }
                "secret" => {
                    // BIND allows the base64 to be split by whitespace.
                    let compact: String = value.split_whitespace().collect();
                    let bytes = data_encoding::BASE64
                        .decode(compact.as_bytes())
                        .map_err(|e| {
                            error(
                                line,
                                format!("key {name:?}: the secret is not base64 ({e})"),
                            )
                        })?;
                    if bytes.is_empty() {
                        return Err(error(line, format!("key {name:?}: the secret is empty")));
                    }
                    secret = Some(bytes);
                }
                other => {
                    return Err(error(
                        line,
                        format!(
                            "key {name:?}: unknown statement `{other}` (a key has `algorithm` and `secret`)"
                        ),
                    ));
                }
            }
        }
        let (semi_line, semi) = next("`;` after the key clause")?;
        if semi != Token::Semicolon {
            return Err(error(
                semi_line,
                format!(
                    "expected `;` after key {name:?}'s `}}`, found {}",
                    semi.describe()
                ),
            ));
        }
        let algorithm =
            algorithm.ok_or_else(|| error(line, format!("key {name:?} has no `algorithm`")))?;
        let secret = secret.ok_or_else(|| error(line, format!("key {name:?} has no `secret`")))?;
        let key = Key::new(&name, algorithm, secret).map_err(|message| error(line, message))?;
        if keys.iter().any(|k| k.name == key.name) {
            return Err(error(line, format!("key {name:?} is defined twice")));
        }
        keys.push(key);
    }
    Ok(KeyRing::new(keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<KeyRing, KeyFileError> {
        parse(text, Path::new("keys.conf"))
    }

    #[test]
    fn reads_bind_and_knot_clauses() {
        let ring = parse_text(
            "# tsig-keygen output\nkey \"xfr.example\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0LXNlY3JldC1zZWNyZXQ=\";\n};\n\
             // another\nkey other. { algorithm \"HMAC-SHA512\"; secret \"YWJj\nZGVm\"; }; /* done */\n",
        )
        .unwrap();
        assert_eq!(ring.len(), 2);
        let key = ring.by_text("XFR.example").unwrap();
        assert_eq!(key.name().to_ascii(), "xfr.example.");
        assert_eq!(key.algorithm(), Algorithm::HmacSha256);
        assert_eq!(key.signer().key(), b"secret-secret-secret");
        let other = ring.by_text("other").unwrap();
        assert_eq!(other.algorithm(), Algorithm::HmacSha512);
        assert_eq!(other.signer().key(), b"abcdef");
        assert!(ring.by_text("missing").is_none());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let ring =
            parse_text("key k { algorithm hmac-sha384; secret \"c3VwZXJzZWNyZXQ=\"; };").unwrap();
        let text = format!("{ring:?}");
        assert!(text.contains("hmac-sha384"), "{text}");
        assert!(text.contains("<hidden>"), "{text}");
        assert!(!text.contains("c3VwZXJzZWNyZXQ"), "{text}");
        assert!(!text.contains("supersecret"), "{text}");
    }

    #[test]
    fn errors_name_the_file_and_line() {
        for (text, line, detail) in [
            (
                "key k {\n algorithm hmac-md5;\n secret \"YQ==\";\n};",
                2,
                "not supported",
            ),
            (
                "key k {\n algorithm hmac-sha256;\n secret \"!!\";\n};",
                3,
                "not base64",
            ),
            ("key k {\n algorithm hmac-sha256;\n};", 1, "no `secret`"),
            ("key k {\n secret \"YQ==\";\n};", 1, "no `algorithm`"),
            (
                "key k {\n algorithm hmac-sha256;\n secret \"YQ==\"\n};",
                4,
                "expected `;`",
            ),
            (
                "key k { algorithm hmac-sha256; secret \"YQ==\"; }",
                1,
                "ends",
            ),
            ("\n\noptions { };", 3, "expected a `key"),
            ("key k {\n owner x;\n};", 2, "unknown statement `owner`"),
            ("key k { algorithm hmac-sha256; secret \"\"; };", 1, "empty"),
            (
                "key k { algorithm hmac-sha256; secret \"YQ==\"; };\nkey K. { algorithm hmac-sha256; secret \"YQ==\"; };",
                2,
                "defined twice",
            ),
            ("key \"k\n", 1, "never closed"),
            ("/* key", 1, "never closed"),
            (
                "key a..b { algorithm hmac-sha256; secret \"YQ==\"; };",
                1,
                "not a key name",
            ),
        ] {
            let err = parse_text(text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("keys.conf:{line}:")),
                "{text:?}: {err}"
            );
            assert!(err.contains(detail), "{text:?}: {err}");
        }
    }

    #[test]
    fn an_empty_file_has_no_keys() {
        assert!(parse_text("# nothing yet\n").unwrap().is_empty());
    }

    #[test]
    fn the_example_key_file_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/transfer.keys");
        let ring = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!ring.is_empty());
    }
}
