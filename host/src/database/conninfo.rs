//! Taking keys out of a libpq connection string before tokio-postgres sees it, and hiding the
//! password when a connection string is shown.
//!
//! Both libpq forms are handled: `postgres://user:pass@host/db?key=value&…` (keys and values
//! percent-encoded) and `key=value key='quoted \' value' …`. Everything not taken is passed on
//! byte for byte (URL) or re-quoted (conninfo), so tokio-postgres parses the rest as before.

use std::collections::HashMap;

/// A connection string with some keys taken out.
pub(crate) struct Params {
    /// The connection string without the taken keys.
    pub rest: String,
    /// The taken keys and their (decoded) values.
    pub taken: HashMap<String, String>,
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// Remove `keys` from a connection string. Errors never quote the string (it may hold a
/// password).
pub(crate) fn split(s: &str, keys: &[&str]) -> Result<Params, String> {
    let mut taken = HashMap::new();
    if is_url(s) {
        let Some((base, query)) = s.split_once('?') else {
            return Ok(Params {
                rest: s.to_string(),
                taken,
            });
        };
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = percent_decode(key)?;
            if keys.contains(&key.as_str()) {
                taken.insert(key, percent_decode(value)?);
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok(Params { rest, taken });
    }
    let mut rest = Vec::new();
    for (key, value) in pairs(s)? {
        if keys.contains(&key.as_str()) {
            taken.insert(key, value);
        } else {
            rest.push(format!(
                "{key}='{}'",
                value.replace('\\', "\\\\").replace('\'', "\\'")
            ));
        }
    }
    Ok(Params {
        rest: rest.join(" "),
        taken,
    })
}

/// The connection string with any password replaced by `***`.
pub(crate) fn redact(s: &str) -> String {
    const HIDDEN: &str = "***";
    if is_url(s) {
        let (scheme, after) = s.split_once("://").unwrap_or(("postgres", s));
        let (authority_and_path, query) = match after.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (after, None),
        };
        let mut out = format!("{scheme}://");
        match authority_and_path.rsplit_once('@') {
            Some((userinfo, host)) => {
                match userinfo.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:{HIDDEN}")),
                    None => out.push_str(userinfo),
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority_and_path),
        }
        if let Some(query) = query {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if percent_decode(key).is_ok_and(|k| k == "password") => {
                        format!("{key}={HIDDEN}")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        return out;
    }
    match pairs(s) {
        Ok(pairs) => pairs
            .into_iter()
            .map(|(key, value)| {
                if key == "password" {
                    format!("{key}={HIDDEN}")
                } else {
                    format!(
                        "{key}='{}'",
                        value.replace('\\', "\\\\").replace('\'', "\\'")
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(_) => "(unparseable connection string)".to_string(),
    }
}

/// The `key=value` pairs of a conninfo string, in order, values unquoted.
fn pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("expected `=` after `{key}`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted value for `{key}`")),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("invalid percent-encoding in a query parameter")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a query parameter is not valid UTF-8".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keys_are_taken_and_the_rest_kept_verbatim() {
        let p = split(
            "postgres://u@h/db?sslmode=verify-ca&options=-c%20x%3Dy&sslrootcert=%2Fa%20b.pem",
            &["sslmode", "sslrootcert"],
        )
        .expect("valid");
        assert_eq!(p.rest, "postgres://u@h/db?options=-c%20x%3Dy");
        assert_eq!(p.taken["sslmode"], "verify-ca");
        assert_eq!(p.taken["sslrootcert"], "/a b.pem");
    }

    #[test]
    fn conninfo_values_are_unquoted_and_requoted() {
        let p = split(
            r"host=/tmp  user = 'o\'brien' sslmode=require",
            &["sslmode"],
        )
        .expect("valid");
        assert_eq!(p.rest, r"host='/tmp' user='o\'brien'");
        assert_eq!(p.taken["sslmode"], "require");
        assert!(split("host=", &[]).is_ok());
        assert!(split("host 'x'", &[]).is_err());
    }

    #[test]
    fn redaction() {
        assert_eq!(
            redact("postgres://u:p%40ss@h:5432/db?password=x&sslmode=require"),
            "postgres://u:***@h:5432/db?password=***&sslmode=require"
        );
        assert_eq!(redact("host=h password='a b'"), "host='h' password=***");
    }
}
