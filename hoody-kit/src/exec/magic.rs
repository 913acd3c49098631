//! Magic comments — directives at the top of a script (`// @timeout 5000`, `# @token s3cret`
//! in shell scripts) — and the `@token` check.
//!
//! The header is the run of comment and blank lines at the start of the file (after an
//! optional `#!` line); the first other line ends it. A directive is a comment whose text
//! starts with `@name`, the rest of the line being its value (surrounding quotes removed).
//!
//! Directives honoured: `@token`, `@timeout` (ms, 1 to [`MAX_TIMEOUT_MS`]), `@cors` (`*` or
//! `reflective`), `@memory` (MiB, 1 to [`MAX_MEMORY_MIB`]; hoody's addition). Recorded and
//! reported but without effect here: `@mode` (every request is serverless: a fresh runtime),
//! `@concurrent`, `@ai`, `@schedule`, `@description` and any other.

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::routing::Kind;

/// The longest `@timeout` accepted: ten minutes.
pub(crate) const MAX_TIMEOUT_MS: u64 = 600_000;
/// The largest `@memory` accepted, in MiB.
pub(crate) const MAX_MEMORY_MIB: u64 = 1024;

/// `@cors` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cors {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// The request's `Origin` echoed, with credentials allowed.
    Reflective,
}

/// A script's directives.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Magic {
    /// `@token`: the secret a request must present.
    pub token: Option<String>,
    /// `@timeout` in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `@cors`.
    pub cors: Option<Cors>,
    /// `@memory` in MiB.
    pub memory_mib: Option<u64>,
    /// Every directive as written (`name` → value; a repeated name keeps the last).
    pub raw: BTreeMap<String, String>,
    /// Directives whose value was not understood, as messages.
    pub problems: Vec<String>,
}

impl Magic {
    /// The directives of `source`, a script of `kind`.
    pub(crate) fn parse(source: &str, kind: Kind) -> Magic {
        let mut m = Magic::default();
        let mut lines = source.lines().peekable();
        if lines.peek().is_some_and(|l| l.starts_with("#!")) {
            lines.next();
        }
        for line in lines {
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            let text = match kind {
                Kind::Js => t.strip_prefix("//"),
                Kind::Sh => t.strip_prefix('#'),
            };
            let Some(text) = text else { break };
            let Some(directive) = text.trim().strip_prefix('@') else {
                continue;
            };
            let (name, value) = directive
                .split_once(char::is_whitespace)
                .unwrap_or((directive, ""));
            let value = unquote(value.trim());
            m.apply(name, value);
        }
        m
    }

    fn apply(&mut self, name: &str, value: &str) {
        if name.is_empty() {
            return;
        }
        self.raw.insert(name.to_string(), value.to_string());
        match name {
            "token" if !value.is_empty() => self.token = Some(value.to_string()),
            "token" => self.problems.push("@token has no value".to_string()),
            "timeout" => match value.parse::<u64>() {
                Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => self.timeout_ms = Some(ms),
                _ => self.problems.push(format!(
                    "@timeout {value:?} is not a number of milliseconds from 1 to {MAX_TIMEOUT_MS}"
                )),
            },
            "memory" => match value.parse::<u64>() {
                Ok(mib) if (1..=MAX_MEMORY_MIB).contains(&mib) => self.memory_mib = Some(mib),
                _ => self.problems.push(format!(
                    "@memory {value:?} is not a number of MiB from 1 to {MAX_MEMORY_MIB}"
                )),
            },
            "cors" => match value {
                "*" => self.cors = Some(Cors::Any),
                "reflective" => self.cors = Some(Cors::Reflective),
                _ => self
                    .problems
                    .push(format!("@cors {value:?} is neither `*` nor `reflective`")),
            },
            _ => {}
        }
    }

    /// The directives as JSON for the API, secrets redacted.
    pub(crate) fn redacted(&self) -> Value {
        let mut comments = serde_json::Map::new();
        for (k, v) in &self.raw {
            let v = if k == "token" || k.contains("secret") || k.contains("password") {
                Value::String("[REDACTED]".to_string())
            } else if let Ok(n) = v.parse::<u64>() {
                json!(n)
            } else if v == "true" || v == "false" {
                json!(v == "true")
            } else {
                Value::String(v.clone())
            };
            comments.insert(k.clone(), v);
        }
        Value::Object(comments)
    }
}

fn unquote(v: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// Which request field carried the token (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenSource {
    /// `Authorization: Bearer`.
    Bearer,
    /// `Authorization: Basic` (the password).
    Basic,
    /// `X-Token`.
    XToken,
    /// `?token=`.
    Query,
}

impl TokenSource {
    fn name(self) -> &'static str {
        match self {
            TokenSource::Bearer => "the Authorization bearer token",
            TokenSource::Basic => "the Authorization basic password",
            TokenSource::XToken => "the X-Token header",
            TokenSource::Query => "the token query parameter",
        }
    }
}

/// Checks a request against `expected`: only the highest-priority source present is read
/// (`Authorization: Bearer` or `Basic`, then `X-Token`, then `?token=`). `Err` says why, for
/// the 401.
pub(crate) fn check_token(
    expected: &str,
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Result<TokenSource, String> {
    let presented = presented_token(headers, query_token);
    let Some((source, token)) = presented else {
        return Err(
            "this script needs a token (Authorization: Bearer, Basic password, \
                    X-Token or ?token=)"
                .to_string(),
        );
    };
    let token = token?;
    if constant_time_eq(token.as_bytes(), expected.as_bytes()) {
        Ok(source)
    } else {
        Err(format!("{} is wrong", source.name()))
    }
}

/// The highest-priority token source present, with its value (or why it is unreadable).
fn presented_token(
    headers: &HeaderMap,
    query_token: Option<&str>,
) -> Option<(TokenSource, Result<String, String>)> {
    if let Some(auth) = headers.get("authorization") {
        let auth = auth.to_str().unwrap_or("");
        let (scheme, rest) = auth.trim().split_once(' ').unwrap_or((auth, ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            return Some((TokenSource::Bearer, Ok(rest.trim().to_string())));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let password = base64_decode(rest.trim())
                .and_then(|b| String::from_utf8(b).ok())
                .map(|userpass| {
                    userpass
                        .split_once(':')
                        .map_or(String::new(), |(_, p)| p.to_string())
                })
                .ok_or_else(|| {
                    "the Authorization basic credentials are not valid base64".to_string()
                });
            return Some((TokenSource::Basic, password));
        }
    }
    if let Some(t) = headers.get("x-token") {
        return Some((
            TokenSource::XToken,
            t.to_str()
                .map(str::to_string)
                .map_err(|_| "the X-Token header is not ASCII".to_string()),
        ));
    }
    query_token.map(|t| (TokenSource::Query, Ok(t.to_string())))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Base64, standard or URL-safe alphabet, padding optional; `None` when malformed.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_header_only() {
        let src = "#!/usr/bin/env bun\n// @token 's3cret'\n\n// a note\n// @timeout 200\n\
                   // @cors reflective\n// @mode worker\nreturn 1\n// @memory 5\n";
        let m = Magic::parse(src, Kind::Js);
        assert_eq!(m.token.as_deref(), Some("s3cret"));
        assert_eq!(m.timeout_ms, Some(200));
        assert_eq!(m.cors, Some(Cors::Reflective));
        assert_eq!(m.memory_mib, None, "after the header");
        assert_eq!(m.raw["mode"], "worker");
        assert_eq!(m.redacted()["token"], "[REDACTED]");
        assert_eq!(m.redacted()["timeout"], 200);
        let m = Magic::parse("#!/bin/sh\n# @token abc\n# @timeout x\necho hi", Kind::Sh);
        assert_eq!(m.token.as_deref(), Some("abc"));
        assert_eq!(m.problems.len(), 1);
    }

    #[test]
    fn token_priority() {
        let mut h = HeaderMap::new();
        assert!(check_token("t", &h, None).is_err());
        assert_eq!(check_token("t", &h, Some("t")), Ok(TokenSource::Query));
        h.insert("x-token", "t".parse().unwrap());
        assert_eq!(check_token("t", &h, Some("wrong")), Ok(TokenSource::XToken));
        h.insert("authorization", "Basic dXNlcjp0".parse().unwrap()); // user:t
        assert_eq!(check_token("t", &h, None), Ok(TokenSource::Basic));
        h.insert("authorization", "Bearer nope".parse().unwrap());
        assert!(
            check_token("t", &h, Some("t")).is_err(),
            "only the highest source counts"
        );
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
    }
}
