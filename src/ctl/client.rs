//! The HTTP side of `ctl`: a thin blocking client for the admin API.
//!
//! Requests go out as JSON (or manifest text); answers come back as
//! `serde_json::Value` or a typed k8s-openapi object. Any non-2xx answer
//! becomes [`Error::Server`], carrying the Kubernetes `Status` the server sent
//! so it can be printed the way kubectl prints it. A request that never got
//! an answer becomes [`Error::Unreachable`].

use std::io::{BufRead, BufReader};
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Everything that can go wrong talking to the admin API.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No HTTP answer at all: refused, reset, unresolvable.
    #[error(
        "cannot reach the headless-dns admin API at {base}: {reason} (is 'headless-dns serve' running? use --admin ADDR)"
    )]
    Unreachable { base: String, reason: String },
    /// A non-2xx answer, with the server's `Status` (or one made from the
    /// HTTP code when the body was not a `Status`).
    #[error("{}", server_message(.reason, .message))]
    Server {
        code: u16,
        reason: String,
        message: String,
    },
    /// A configured timeout expired.
    #[error("timed out waiting for the condition")]
    Timeout,
    /// The answer was not what the API contract promises.
    #[error("unexpected answer from {path}: {detail}")]
    Decode { path: String, detail: String },
    /// The connection broke while reading an answer.
    #[error("reading the answer from {path}: {detail}")]
    Read { path: String, detail: String },
}

impl Error {
    /// Whether this is the server's 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Server { code: 404, .. })
    }

    /// kubectl prefixes its own errors with `error: ` but prints the server's
    /// as `Error from server (Reason): message`.
    pub fn to_kubectl(&self) -> String {
        match self {
            Error::Server { .. } => self.to_string(),
            other => format!("error: {other}"),
        }
    }
}

fn server_message(reason: &str, message: &str) -> String {
    if reason.is_empty() {
        format!("Error from server: {message}")
    } else {
        format!("Error from server ({reason}): {message}")
    }
}

/// One line of a watch stream.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct WatchEvent {
    #[serde(rename = "type")]
    pub kind: String,
    pub object: Value,
}

/// A blocking client for one admin address.
#[derive(Debug, Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    /// `admin` is `HOST:PORT` or a full `http://HOST:PORT` URL.
    pub fn new(admin: &str) -> Client {
        let base = if admin.starts_with("http://") || admin.starts_with("https://") {
            admin.trim_end_matches('/').to_string()
        } else {
            format!("http://{admin}")
        };
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                // Non-2xx answers carry a Status body we want to read.
                .http_status_as_error(false)
                // A server that accepts and then hangs should not hang us.
                .timeout_connect(Some(Duration::from_secs(5)))
                .build(),
        );
        Client { agent, base }
    }

    /// The base URL, `http://HOST:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn unreachable(&self, error: ureq::Error) -> Error {
        let reason = match error {
            ureq::Error::Io(e) => e.to_string(),
            ureq::Error::Timeout(_) => return Error::Timeout,
            other => other.to_string(),
        };
        Error::Unreachable {
            base: self.base.clone(),
            reason,
        }
    }

    /// Sends a request and returns the body of a 2xx answer as JSON.
    fn exchange(&self, method: Method<'_>, path: &str) -> Result<Value, Error> {
        let url = self.url(path);
        let result = match method {
            Method::Get => self.agent.get(&url).call(),
            Method::Delete => self.agent.delete(&url).call(),
            Method::Put(body) => self
                .agent
                .put(&url)
                .content_type("application/json")
                .send(body.to_string()),
            Method::Patch(body) => self
                .agent
                .patch(&url)
                .content_type("application/merge-patch+json")
                .send(body.to_string()),
            Method::Post { body, content_type } => {
                self.agent.post(&url).content_type(content_type).send(body)
            }
        };
        let mut response = result.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .lossy_utf8(true)
            .read_to_string()
            .map_err(|e| Error::Read {
                path: path.to_string(),
                detail: e.to_string(),
            })?;
        if !(200..300).contains(&status) {
            return Err(status_error(status, &text));
        }
        serde_json::from_str(&text).map_err(|e| Error::Decode {
            path: path.to_string(),
            detail: format!("{e} (HTTP {status}, body {:?})", truncate(&text, 200)),
        })
    }

    /// `GET path` as JSON.
    pub fn get_value(&self, path: &str) -> Result<Value, Error> {
        self.exchange(Method::Get, path)
    }

    /// `GET path` decoded into a k8s-openapi type.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Error> {
        decode(path, self.get_value(path)?)
    }

    /// `DELETE path`; the answer is the deleted object.
    pub fn delete(&self, path: &str) -> Result<Value, Error> {
        self.exchange(Method::Delete, path)
    }

    /// `PUT path` with a full object.
    pub fn put(&self, path: &str, object: &Value) -> Result<Value, Error> {
        self.exchange(Method::Put(object), path)
    }

    /// `PATCH path` with a JSON merge patch (RFC 7386).
    pub fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, Error> {
        self.exchange(Method::Patch(patch), path)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.exchange(
            Method::Post {
                body: body.to_string(),
                content_type: "application/json",
            },
            path,
        )
    }

    /// `POST path` with manifest text (YAML or JSON documents).
    pub fn post_manifests(&self, path: &str, text: String) -> Result<Value, Error> {
        self.exchange(
            Method::Post {
                body: text,
                content_type: "application/yaml",
            },
            path,
        )
    }

    /// Opens `GET list_path?watch=true` and returns its events as they come.
    /// `timeout` bounds the whole stream; when it expires the iterator yields
    /// [`Error::Timeout`].
    pub fn watch(&self, list_path: &str, timeout: Option<Duration>) -> Result<WatchStream, Error> {
        let separator = if list_path.contains('?') { '&' } else { '?' };
        let path = format!("{list_path}{separator}watch=true");
        let response = self
            .agent
            .get(&self.url(&path))
            .config()
            .timeout_global(timeout)
            .build()
            .call()
            .map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let (_, body) = response.into_parts();
        if !(200..300).contains(&status) {
            let text = body
                .into_with_config()
                .limit(1024 * 1024)
                .lossy_utf8(true)
                .read_to_string()
                .unwrap_or_default();
            return Err(status_error(status, &text));
        }
        Ok(WatchStream {
            path,
            lines: BufReader::new(Box::new(body.into_reader())),
        })
    }
}

/// `list_path` with `?labelSelector=...` when a selector is given.
pub fn with_selector(list_path: &str, selector: Option<&crate::selector::Selector>) -> String {
    match selector {
        Some(selector) if !selector.is_empty() => {
            format!(
                "{list_path}?labelSelector={}",
                query_escape(&selector.to_string())
            )
        }
        _ => list_path.to_string(),
    }
}

/// Percent-encodes a query value (RFC 3986: all but the unreserved set).
pub fn query_escape(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

enum Method<'a> {
    Get,
    Delete,
    Put(&'a Value),
    Patch(&'a Value),
    Post {
        body: String,
        content_type: &'static str,
    },
}

/// Decodes a JSON answer into a k8s-openapi type, naming the path on failure.
pub fn decode<T: DeserializeOwned>(path: &str, value: Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::Decode {
        path: path.to_string(),
        detail: e.to_string(),
    })
}

/// The events of one watch request, one JSON object per line.
pub struct WatchStream {
    path: String,
    lines: BufReader<Box<dyn std::io::Read + Send>>,
}

impl Iterator for WatchStream {
    type Item = Result<WatchEvent, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let mut line = String::new();
            match self.lines.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) if line.trim().is_empty() => continue,
                Ok(_) => {
                    return Some(serde_json::from_str(&line).map_err(|e| Error::Decode {
                        path: self.path.clone(),
                        detail: format!("{e} in watch line {:?}", truncate(&line, 200)),
                    }));
                }
                Err(e) => {
                    let timed_out = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                        .is_some_and(|inner| matches!(inner, ureq::Error::Timeout(_)))
                        || e.kind() == std::io::ErrorKind::TimedOut;
                    return Some(Err(if timed_out {
                        Error::Timeout
                    } else {
                        Error::Read {
                            path: self.path.clone(),
                            detail: e.to_string(),
                        }
                    }));
                }
            }
        }
    }
}

/// Turns a non-2xx answer into [`Error::Server`]: the server's `Status` when
/// the body is one, otherwise what client-go says for that HTTP code.
pub fn status_error(code: u16, body: &str) -> Error {
    if let Ok(status) = serde_json::from_str::<Status>(body)
        && let Some(message) = status.message.filter(|m| !m.is_empty())
    {
        return Error::Server {
            code: status
                .code
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(code),
            reason: status.reason.unwrap_or_default(),
            message,
        };
    }
    let body = body.trim();
    let (reason, message) = match code {
        400 => (
            "BadRequest",
            "the server rejected our request for an unknown reason",
        ),
        401 => (
            "Unauthorized",
            "the server has asked for the client to provide credentials",
        ),
        403 => (
            "Forbidden",
            "the server does not allow access to the requested resource",
        ),
        404 => (
            "NotFound",
            "the server could not find the requested resource",
        ),
        405 => (
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        ),
        409 => ("Conflict", "the server reported a conflict"),
        410 => (
            "Expired",
            "the server could not find the requested resource",
        ),
        415 => (
            "UnsupportedMediaType",
            "the server does not support the media type sent",
        ),
        422 => (
            "Invalid",
            "the server rejected our request due to an error in our request",
        ),
        429 => (
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        500 => {
            return Error::Server {
                code,
                reason: "InternalError".into(),
                message: format!(
                    "an error on the server ({:?}) has prevented the request from succeeding",
                    truncate(body, 200)
                ),
            };
        }
        503 => (
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => (
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        _ => (
            "",
            "an error on the server has prevented the request from succeeding",
        ),
    };
    let message = if body.is_empty() {
        message.to_string()
    } else {
        format!("{message} ({})", truncate(body, 200))
    };
    Error::Server {
        code,
        reason: reason.to_string(),
        message,
    }
}

fn truncate(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_bodies_print_like_kubectl() {
        let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"x\" not found","reason":"NotFound","code":404}"#;
        let error = status_error(404, body);
        assert!(error.is_not_found());
        assert_eq!(
            error.to_kubectl(),
            "Error from server (NotFound): pods \"x\" not found"
        );
    }

    #[test]
    fn a_status_without_reason_has_no_parentheses() {
        let body =
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"bad","code":400}"#;
        assert_eq!(
            status_error(400, body).to_kubectl(),
            "Error from server: bad"
        );
    }

    #[test]
    fn plain_bodies_fall_back_on_the_http_code() {
        assert_eq!(
            status_error(404, "").to_kubectl(),
            "Error from server (NotFound): the server could not find the requested resource"
        );
        assert_eq!(
            status_error(500, "boom").to_kubectl(),
            "Error from server (InternalError): an error on the server (\"boom\") has prevented the request from succeeding"
        );
    }

    #[test]
    fn selectors_go_in_the_query_escaped() {
        let selector = crate::selector::Selector::parse("app=nginx, tier in (a,b)").unwrap();
        assert_eq!(
            with_selector("/api/v1/pods", Some(&selector)),
            "/api/v1/pods?labelSelector=app%3Dnginx%2Ctier%20in%20%28a%2Cb%29"
        );
        assert_eq!(with_selector("/api/v1/pods", None), "/api/v1/pods");
    }

    #[test]
    fn own_errors_get_the_error_prefix() {
        let error = Error::Unreachable {
            base: "http://127.0.0.1:1".into(),
            reason: "Connection refused (os error 111)".into(),
        };
        assert_eq!(
            error.to_kubectl(),
            "error: cannot reach the headless-dns admin API at http://127.0.0.1:1: Connection refused (os error 111) (is 'headless-dns serve' running? use --admin ADDR)"
        );
        assert_eq!(
            Error::Timeout.to_kubectl(),
            "error: timed out waiting for the condition"
        );
    }
}
