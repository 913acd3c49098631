//! Proxy hooks (reference §2.6): a container's own JavaScript, run by its exec service, that
//! sees the requests of one of its services before the service does, and may answer them
//! itself or change them.
//!
//! Hooks live in the container's permission document under `hooks`, by service:
//! `{"http-8080": [hook, …], "terminal": [hook, …]}`, ordered by `position`; the first hook
//! whose `match` fits a request runs (at most [`MAX_PER_SERVICE`] a service, [`MAX_PER_FILE`]
//! a document). A service is a Kit slug (`terminal`, `files`, … every instance), or
//! `http-<port>` / `https-<port>` for a port of the container's own, or `http` / `https` for
//! all of them.
//!
//! # The call (hoody's protocol)
//!
//! Hoody runs hooks on Bun with `fetch`, so a hook forwards the request itself. hoody's exec
//! service runs QuickJS without `fetch`, so hoody-proxy does the forwarding and asks the hook
//! only for a verdict: it POSTs a [`HookCall`] (the request's method, path, query and headers,
//! the client's address and the pinned upstream, never the body) to the hook's script on the
//! container's exec service (`script.path`, `.js` dropped, on the instance `script.execId`
//! names, default 1), and the script returns a [`HookVerdict`]:
//!
//! ```js
//! // /hoody/storage/hoody-exec/scripts/1/hooks/tag.js
//! const call = await req.json();
//! if (!call.request.headers["x-team"]) return {action: "respond", status: 403, body: "no team"};
//! return {action: "continue", set_headers: {"x-checked-by": "hook"}};
//! ```
//!
//! `continue` forwards the request (its body streamed as it comes) with `set_headers` set,
//! `remove_headers` removed and, when given, a new `path` (path and query); `respond` answers
//! the client with `status`, `headers` and `body` and the service never sees the request. A
//! hook that fails, answers something else or runs past its `timeout` gets the client a 502
//! `HOOK_FAILED` or 504 `HOOK_TIMEOUT`: a hook is often a gate, so it fails closed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most hooks one service may have.
pub const MAX_PER_SERVICE: usize = 8;
/// Most hooks one document may have.
pub const MAX_PER_FILE: usize = 32;
/// Longest `timeout`, milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 30_000;
/// `timeout` when a hook names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// Services that take no hooks.
pub const NO_HOOKS: &[&str] = &["logs", "proxy", "workspaces", "cdp", "egress"];

/// One hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    /// `hook_` and 16 hex digits (made by hoodyd).
    #[serde(default)]
    pub id: String,
    /// Its place among the service's hooks, from 0.
    #[serde(default)]
    pub position: usize,
    /// Which requests it sees.
    #[serde(default, rename = "match")]
    pub matcher: HookMatch,
    /// The script.
    pub script: HookScript,
    /// Milliseconds the script may take (1–30000, default 5000).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Only for requests these groups of the permission documents admit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applies_to: Option<AppliesTo>,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// `match`: every field given must fit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookMatch {
    /// A method or a list of them (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<OneOrMany>,
    /// A path, `*` matching any run of characters (`/api/*`); any when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Headers that must be present with these values (`*`: any value), names in any case.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `script`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HookScript {
    /// Hoody's script host label (`hooks`); accepted, not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    /// The exec instance (`exec_1`, `exec-2`, `2`; default 1).
    #[serde(default, rename = "execId", skip_serializing_if = "Option::is_none")]
    pub exec_id: Option<String>,
    /// The script under the instance's scripts directory (`/hooks/check.js`).
    pub path: String,
}

/// `applies_to`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliesTo {
    /// Group names of the container's or its project's document.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// What hoody-proxy POSTs to a hook's script.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookCall {
    /// The hook.
    pub hook: CallHook,
    /// The request, without its body.
    pub request: CallRequest,
}

/// `hook` of a [`HookCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallHook {
    /// Its id.
    pub id: String,
    /// The service.
    pub service: String,
    /// Where a `continue` goes (`{host, port}` inside the container's network).
    pub upstream: Upstream,
}

/// The service a request goes to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    /// The container's address.
    pub host: String,
    /// The port.
    pub port: u16,
}

/// `request` of a [`HookCall`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// `GET`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The raw query (without `?`).
    pub query: String,
    /// Headers, names lower-case (repeated ones joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// The client's address.
    pub client_ip: String,
}

/// What a hook's script returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum HookVerdict {
    /// Forward the request, changed as said.
    Continue {
        /// Headers to set (replacing).
        #[serde(default)]
        set_headers: BTreeMap<String, String>,
        /// Headers to remove.
        #[serde(default)]
        remove_headers: Vec<String>,
        /// A new path and query.
        #[serde(default)]
        path: Option<String>,
    },
    /// Answer the client; the service never sees the request.
    Respond {
        /// The status (default 200).
        #[serde(default = "ok")]
        status: u16,
        /// Response headers.
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// The body (text).
        #[serde(default)]
        body: String,
    },
}

fn ok() -> u16 {
    200
}

impl Hook {
    /// Whether it sees a request of `method` to `path` with `headers` (names lower-case).
    pub fn matches(&self, method: &str, path: &str, headers: &[(String, String)]) -> bool {
        let m = &self.matcher;
        let method_ok = match &m.method {
            None => true,
            Some(OneOrMany::One(x)) => x == "*" || x.eq_ignore_ascii_case(method),
            Some(OneOrMany::Many(xs)) => xs
                .iter()
                .any(|x| x == "*" || x.eq_ignore_ascii_case(method)),
        };
        method_ok
            && m.path.as_deref().is_none_or(|p| glob(p, path))
            && m.headers.iter().all(|(name, want)| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .is_some_and(|(_, v)| want == "*" || v == want)
            })
    }

    /// The exec instance its script runs on.
    pub fn exec_instance(&self) -> u16 {
        self.script
            .exec_id
            .as_deref()
            .map(|e| e.trim_start_matches("exec").trim_start_matches(['_', '-']))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1)
    }

    /// The exec route of its script: `/hooks/check.js` → `/hooks/check`.
    pub fn route(&self) -> String {
        let p = self.script.path.trim();
        let p = p.strip_suffix(".js").unwrap_or(p);
        if p.starts_with('/') {
            p.to_string()
        } else {
            format!("/{p}")
        }
    }

    /// Checks a hook as sent (`id` and `position` are hoodyd's to set): `(field, problem)`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout) {
            return Err((
                "timeout",
                format!("must be 1 to {MAX_TIMEOUT_MS} milliseconds"),
            ));
        }
        let p = self.script.path.trim();
        if p.is_empty()
            || p.contains("..")
            || p.contains('?')
            || !p.trim_start_matches('/').ends_with(".js")
        {
            return Err((
                "script.path",
                format!("{p:?} must be a .js script under the exec instance's scripts directory"),
            ));
        }
        if let Some(e) = &self.script.exec_id {
            let n = e.trim_start_matches("exec").trim_start_matches(['_', '-']);
            if n.parse::<u16>().map_or(true, |n| n == 0) {
                return Err((
                    "script.execId",
                    format!("{e:?} names no exec instance (exec_1, exec_2, …)"),
                ));
            }
        }
        if let Some(p) = &self.matcher.path
            && !p.starts_with('/')
            && p != "*"
        {
            return Err(("match.path", format!("{p:?} must start with /")));
        }
        Ok(())
    }
}

/// Whether `name` may have hooks: `http`, `https`, `http-<port>`, `https-<port>` or a Kit slug
/// outside [`NO_HOOKS`].
pub fn check_service(name: &str) -> Result<(), String> {
    if NO_HOOKS.contains(&name) {
        return Err(format!("{name} takes no hooks"));
    }
    let port_ok = |p: &str| p.parse::<u16>().is_ok_and(|p| p > 0);
    let ok = matches!(name, "http" | "https")
        || name.strip_prefix("http-").is_some_and(port_ok)
        || name.strip_prefix("https-").is_some_and(port_ok)
        || hoody_kit::ports::Kit::from_slug(name).is_some();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a service (a Kit slug such as terminal, or http-<port>)"
        ))
    }
}

/// The hooks of `service` in a document's `hooks` value, by position. Entries that do not
/// parse are skipped (hoodyd validates what it stores).
pub fn of_service(hooks: &serde_json::Value, service: &str) -> Vec<Hook> {
    let mut v: Vec<Hook> = hooks
        .get(service)
        .and_then(|l| l.as_array())
        .map(|l| {
            l.iter()
                .filter_map(|h| serde_json::from_value(h.clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|h| h.position);
    v
}

/// `*` matches any run of characters (`/` included); everything else itself.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn matching() {
        let h = hook(serde_json::json!({
            "match": {"method": ["GET", "post"], "path": "/api/*", "headers": {"X-Team": "*"}},
            "script": {"path": "/hooks/t.js"}
        }));
        let hd = vec![("x-team".to_string(), "blue".to_string())];
        assert!(h.matches("GET", "/api/users", &hd));
        assert!(h.matches("POST", "/api/", &hd));
        assert!(!h.matches("PUT", "/api/users", &hd));
        assert!(!h.matches("GET", "/other", &hd));
        assert!(!h.matches("GET", "/api/users", &[]));
        assert!(hook(serde_json::json!({"script": {"path": "a.js"}})).matches("GET", "/", &[]));
        assert!(glob("/a/*/c", "/a/b/b/c") && !glob("/a/*/c", "/a/c") && glob("*", ""));
    }

    #[test]
    fn routes_instances_and_checks() {
        let h = hook(serde_json::json!({"script": {"path": "hooks/t.js", "execId": "exec_2"}}));
        assert_eq!(
            (h.route(), h.exec_instance(), h.timeout),
            ("/hooks/t".into(), 2, 5000)
        );
        assert!(h.validate().is_ok());
        let bad = hook(serde_json::json!({"script": {"path": "../x.js"}, "timeout": 0}));
        assert_eq!(bad.validate().unwrap_err().0, "timeout");
        assert!(check_service("http-8080").is_ok() && check_service("terminal").is_ok());
        assert!(check_service("logs").is_err() && check_service("nope").is_err());
        let v: HookVerdict = serde_json::from_str(r#"{"action":"respond","status":403}"#).unwrap();
        assert_eq!(
            v,
            HookVerdict::Respond {
                status: 403,
                headers: BTreeMap::new(),
                body: String::new()
            }
        );
    }
}
