//! Label selector syntax, checked when the config is loaded so that a typo
//! is a config error naming the field rather than a watch that the API
//! server rejects over and over.
//!
//! The grammar is the one `kubectl get -l` and the API server's
//! `labelSelector` accept: comma-separated requirements `k`, `!k`, `k=v`,
//! `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k>n`, `k<n`. The selector
//! is sent to the API server as written; nothing here evaluates it.

/// Checks a label selector; the error says which requirement is wrong and
/// why.
pub fn check_label_selector(selector: &str) -> Result<(), String> {
    if selector.trim().is_empty() {
        return Err("is empty; leave the key out to select everything".to_owned());
    }
    for requirement in split_requirements(selector)? {
        check_requirement(requirement.trim())
            .map_err(|e| format!("{selector:?}: requirement {requirement:?}: {e}"))?;
    }
    Ok(())
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

fn check_requirement(requirement: &str) -> Result<(), String> {
    if requirement.is_empty() {
        return Err("is empty (a stray comma?)".to_owned());
    }
    if let Some(key) = requirement.strip_prefix('!') {
        return check_key(key.trim());
    }
    for op in ["!=", "==", "="] {
        if let Some((key, value)) = requirement.split_once(op) {
            check_key(key.trim())?;
            return check_value(value.trim());
        }
    }
    for op in [">", "<"] {
        if let Some((key, value)) = requirement.split_once(op) {
            check_key(key.trim())?;
            return value
                .trim()
                .parse::<i64>()
                .map(drop)
                .map_err(|_| format!("{op} needs an integer, found {:?}", value.trim()));
        }
    }
    let words: Vec<&str> = requirement.splitn(2, char::is_whitespace).collect();
    match words.as_slice() {
        [key] => check_key(key),
        [key, rest] => {
            check_key(key)?;
            let rest = rest.trim_start();
            let list = rest
                .strip_prefix("notin")
                .or_else(|| rest.strip_prefix("in"))
                .ok_or_else(|| format!("expected in or notin after the key, found {rest:?}"))?
                .trim();
            let inner = list
                .strip_prefix('(')
                .and_then(|l| l.strip_suffix(')'))
                .ok_or_else(|| format!("expected a list like (a,b), found {list:?}"))?;
            for value in inner.split(',') {
                check_value(value.trim())?;
            }
            Ok(())
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
        let ok =
            !prefix.is_empty() && prefix.len() <= 253 && prefix.split('.').all(super::is_dns_label);
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
}
