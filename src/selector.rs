//! Label selectors: the grammar `kubectl get -l` and the API server's
//! `labelSelector` accept, parsed into a [`Selector`] that can be matched
//! against an object's labels.
//!
//! A selector is comma-separated requirements `k`, `!k`, `k=v`, `k==v`,
//! `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`, all of which must
//! hold (apimachinery's `labels.Parse` semantics: `!=` and `notin` also match
//! objects without the key; `>`/`<` need the key with an integer value).
//! Text enters through [`Selector::parse`] (used by the embedded cluster's
//! API and by `ctl`) or [`check_label_selector`] (the Kubernetes source's
//! config check, which sends the selector to the API server as written).
//! This is a leaf module: it imports nothing from the crate.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::names::is_dns_label;

/// A parsed label selector: every requirement must hold. An empty selector
/// selects everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// One requirement on one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub op: Op,
}

/// What a requirement asks of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `k`: the key is present.
    Exists,
    /// `!k`: the key is absent.
    DoesNotExist,
    /// `k=v`, `k==v`.
    Equals(String),
    /// `k!=v`: absent, or another value.
    NotEquals(String),
    /// `k in (a,b)`.
    In(BTreeSet<String>),
    /// `k notin (a,b)`: absent, or a value not listed.
    NotIn(BTreeSet<String>),
    /// `k>n`: present with an integer value above `n`.
    GreaterThan(i64),
    /// `k<n`: present with an integer value below `n`.
    LessThan(i64),
}

impl Selector {
    /// Parses a selector; blank text selects everything. The error says
    /// which requirement is wrong and why.
    pub fn parse(text: &str) -> Result<Selector, String> {
        if text.trim().is_empty() {
            return Ok(Selector::default());
        }
        let requirements = split_requirements(text)?
            .into_iter()
            .map(|r| {
                parse_requirement(r.trim())
                    .map_err(|e| format!("{text:?}: requirement {:?}: {e}", r.trim()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selector { requirements })
    }

    /// Whether it selects everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, in the order written.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Whether an object with `labels` is selected.
    pub fn matches(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key));
            match &r.op {
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::Equals(v) => value == Some(v),
                Op::NotEquals(v) => value != Some(v),
                Op::In(set) => value.is_some_and(|v| set.contains(v)),
                Op::NotIn(set) => value.is_none_or(|v| !set.contains(v)),
                Op::GreaterThan(n) => value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::LessThan(n) => value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

impl fmt::Display for Selector {
    /// The canonical text (`app=nginx,tier in (a,b)`), as apimachinery
    /// prints a parsed selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| {
                let list =
                    |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(",");
                match &r.op {
                    Op::Exists => r.key.clone(),
                    Op::DoesNotExist => format!("!{}", r.key),
                    Op::Equals(v) => format!("{}={v}", r.key),
                    Op::NotEquals(v) => format!("{}!={v}", r.key),
                    Op::In(set) => format!("{} in ({})", r.key, list(set)),
                    Op::NotIn(set) => format!("{} notin ({})", r.key, list(set)),
                    Op::GreaterThan(n) => format!("{}>{n}", r.key),
                    Op::LessThan(n) => format!("{}<{n}", r.key),
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Checks a label selector for the config; unlike [`Selector::parse`] an
/// empty one is an error, since leaving the key out says that better.
pub fn check_label_selector(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() {
        return Err("is empty; leave the key out to select everything".to_owned());
    }
    Selector::parse(selector).map(drop)
}

/// Splits on commas outside parentheses.
fn split_requirements(selector: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in selector.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| format!("{selector:?}: ')' without '('"))?;
            }
            ',' if depth == 0 => {
                parts.push(&selector[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(format!("{selector:?}: '(' without ')'"));
    }
    parts.push(&selector[start..]);
    Ok(parts)
}

fn parse_requirement(requirement: &str) -> Result<Requirement, String> {
    let req = |key: &str, op| Requirement {
        key: key.to_owned(),
        op,
    };
    if requirement.is_empty() {
        return Err("is empty (a stray comma?)".to_owned());
    }
    if let Some(key) = requirement.strip_prefix('!') {
        let key = key.trim();
        check_key(key)?;
        return Ok(req(key, Op::DoesNotExist));
    }
    for op in ["!=", "==", "="] {
        if let Some((key, value)) = requirement.split_once(op) {
            let (key, value) = (key.trim(), value.trim());
            check_key(key)?;
            check_value(value)?;
            let value = value.to_owned();
            return Ok(req(
                key,
                if op == "!=" {
                    Op::NotEquals(value)
                } else {
                    Op::Equals(value)
                },
            ));
        }
    }
    for op in [">", "<"] {
        if let Some((key, value)) = requirement.split_once(op) {
            let key = key.trim();
            check_key(key)?;
            let n = value
                .trim()
                .parse::<i64>()
                .map_err(|_| format!("{op} needs an integer, found {:?}", value.trim()))?;
            return Ok(req(
                key,
                if op == ">" {
                    Op::GreaterThan(n)
                } else {
                    Op::LessThan(n)
                },
            ));
        }
    }
    let words: Vec<&str> = requirement.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => {
            check_key(key)?;
            Ok(req(key, Op::Exists))
        }
        [key, rest] => {
            check_key(key)?;
            let rest = rest.trim_start();
            let (negated, list) = if let Some(list) = rest.strip_prefix("notin") {
                (true, list)
            } else if let Some(list) = rest.strip_prefix("in") {
                (false, list)
            } else {
                return Err(format!(
                    "expected in or notin after the key, found {rest:?}"
                ));
            };
            let list = list.trim();
            let inner = list
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(|| format!("expected a list like (a,b), found {list:?}"))?;
            let mut values = BTreeSet::new();
            for value in inner.split(',') {
                check_value(value.trim())?;
                values.insert(value.trim().to_owned());
            }
            Ok(req(
                key,
                if negated {
                    Op::NotIn(values)
                } else {
                    Op::In(values)
                },
            ))
        }
        _ => Err("is empty".to_owned()),
    }
}

/// `[prefix/]name`: the prefix a DNS subdomain, the name a label name.
fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let ok = !prefix.is_empty() && prefix.len() <= 253 && prefix.split('.').all(is_dns_label);
        if !ok {
            return Err(format!("key prefix {prefix:?} is not a DNS subdomain"));
        }
    }
    if name.is_empty() {
        return Err(format!("key {key:?} has no name"));
    }
    check_name(name).map_err(|e| format!("key {key:?}: {e}"))
}

/// A label value: empty, or a label name.
fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_name(value).map_err(|e| format!("value {value:?}: {e}"))
}

/// At most 63 of `[A-Za-z0-9._-]`, beginning and ending alphanumeric.
fn check_name(name: &str) -> Result<(), String> {
    if name.len() > 63 {
        return Err("is longer than 63 characters".to_owned());
    }
    let bytes = name.as_bytes();
    let edges = [bytes.first(), bytes.last()];
    if !edges
        .iter()
        .all(|b| b.is_some_and(u8::is_ascii_alphanumeric))
    {
        return Err("must begin and end with a letter or digit".to_owned());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("{bad:?} is not allowed"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn accepts_the_api_server_grammar() {
        for ok in [
            "app",
            "!app",
            "app=web",
            "app==web",
            "app!=web",
            "app=",
            "example.com/dns=on",
            "tier in (web, db)",
            "tier notin (web,db)",
            "gen>3",
            "gen<3",
            "app=web, tier in (a,b), !legacy",
        ] {
            check_label_selector(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn rejects_with_the_requirement_named() {
        for (bad, needle) in [
            ("", "empty"),
            ("a=b,,c", "stray comma"),
            ("a in (b", "without ')'"),
            ("a)", "without '('"),
            ("a=b c", "not allowed"),
            ("-a=b", "begin and end"),
            ("a/=b", "no name"),
            ("Bad_Prefix/a=b", "DNS subdomain"),
            ("a maybe (b)", "in or notin"),
            ("a in b", "like (a,b)"),
            ("gen>three", "integer"),
        ] {
            let err = check_label_selector(bad).unwrap_err();
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn matches_as_apimachinery_does() {
        let web = labels(&[("app", "nginx"), ("tier", "web"), ("gen", "4")]);
        let db = labels(&[("app", "db")]);
        let cases: &[(&str, bool, bool, bool)] = &[
            // selector, matches web, matches db, matches no labels
            ("app=nginx", true, false, false),
            ("app==nginx", true, false, false),
            ("app!=nginx", false, true, true),
            ("app in (nginx,db)", true, true, false),
            ("app notin (nginx)", false, true, true),
            ("tier", true, false, false),
            ("!tier", false, true, true),
            ("gen>3", true, false, false),
            ("gen<4", false, false, false),
            ("app=nginx,tier=web", true, false, false),
            ("app=nginx,tier=db", false, false, false),
            ("", true, true, true),
        ];
        for (text, w, d, none) in cases {
            let selector = Selector::parse(text).unwrap();
            assert_eq!(selector.matches(Some(&web)), *w, "{text} on web");
            assert_eq!(selector.matches(Some(&db)), *d, "{text} on db");
            assert_eq!(selector.matches(None), *none, "{text} on no labels");
        }
    }

    #[test]
    fn prints_canonically() {
        let selector = Selector::parse("app==nginx, tier in (web,db) ,!old, gen>2").unwrap();
        assert_eq!(
            selector.to_string(),
            "app=nginx,tier in (db,web),!old,gen>2"
        );
        assert_eq!(Selector::parse(&selector.to_string()).unwrap(), selector);
    }
}
