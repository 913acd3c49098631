//! What hoodyd keeps for the proxy: aliases (reference §2.7), the state the proxy loads
//! ([`Host::proxy_state`]), and the access logs the proxy writes ([`Host::access_log`]).
//! Every change is announced on the event stream as `proxy.changed`, upon which the proxy
//! reloads the state.

use std::io::{Read, Seek, SeekFrom};

use super::{Host, Result, now};
use crate::api::{self, Alias, ApiError};

/// Checks an alias name (reference §2.7).
pub fn check_alias_name(a: &str) -> Result<()> {
    let ok_chars = a
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(3..=61).contains(&a.len()) || !ok_chars || a.starts_with('-') || a.ends_with('-') {
        return Err(ApiError::validation(
            "alias",
            format!("{a:?} must be 3 to 61 of a-z, 0-9 and '-', not starting or ending with '-'"),
        ));
    }
    let reserved = a == "containers"
        || a == "proxy"
        || a == "workspaces"
        || a.starts_with("proxy-")
        || a.starts_with("workspaces-");
    if reserved {
        return Err(ApiError::validation("alias", format!("{a:?} is reserved")));
    }
    Ok(())
}

/// Checks an RFC 3339 UTC time (`2027-01-31T12:00:00Z`, fraction allowed) in the future.
fn check_expiry(t: &str) -> Result<()> {
    let b = t.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && t.ends_with('Z');
    if !shape {
        return Err(ApiError::validation(
            "expires_at",
            format!("{t:?} is not an RFC 3339 UTC time such as 2027-01-31T12:00:00Z"),
        ));
    }
    if t <= now().as_str() {
        return Err(ApiError::validation("expires_at", "must be in the future"));
    }
    Ok(())
}

/// Splits `http-3000` into (`http`, 3000); other names pass through.
fn split_program(p: &str) -> (&str, Option<u16>) {
    for base in ["http", "https"] {
        if let Some(port) = p.strip_prefix(base).and_then(|r| r.strip_prefix('-'))
            && let Ok(n) = port.parse::<u16>()
        {
            return (base, Some(n));
        }
    }
    (p, None)
}

/// The alias's (program, port, index), checked: `port` > port in the program name > index
/// (legacy) for http/https; index ≥ 1 for the others.
fn resolve_target(
    program: &str,
    port: Option<u16>,
    index: Option<u64>,
) -> Result<(&'static str, Option<u16>, u64)> {
    let (name, embedded) = split_program(program);
    let canonical = api::program_name(name).ok_or_else(|| {
        ApiError::new(
            400,
            "UNKNOWN_PROGRAM",
            format!(
                "Unknown program name {program:?} (one of {})",
                api::PROGRAMS.join(", ")
            ),
        )
    })?;
    match canonical {
        "http" | "https" => {
            let legacy = index.and_then(|i| u16::try_from(i).ok());
            let p = port
                .or(embedded)
                .or(legacy)
                .unwrap_or(if canonical == "http" { 80 } else { 443 });
            if p == 0 {
                return Err(ApiError::validation("port", "must be 1 to 65535"));
            }
            Ok((canonical, Some(p), 1))
        }
        _ => {
            if port.is_some() {
                return Err(ApiError::validation(
                    "port",
                    format!("only http and https aliases take a port, not {canonical}"),
                ));
            }
            let i = index.unwrap_or(1);
            if i == 0 {
                return Err(ApiError::validation("index", "instances count from 1"));
            }
            Ok((canonical, None, i))
        }
    }
}

fn landing_path(p: Option<String>) -> Option<String> {
    p.filter(|p| !p.is_empty()).map(|p| {
        if p.starts_with('/') {
            p
        } else {
            format!("/{p}")
        }
    })
}

impl Host {
    fn alias_url(&self, alias: &str) -> String {
        format!(
            "https://{alias}.{}.containers.{}",
            self.inner.server_name, self.inner.cfg.domain
        )
    }

    /// Creates an alias for one service of one container.
    pub fn create_alias(&self, req: api::CreateAlias) -> Result<Alias> {
        let c = self.get_container(&req.container_id)?;
        let alias = match req.alias {
            Some(a) => {
                check_alias_name(&a)?;
                a
            }
            None => {
                let mut b = [0u8; 24];
                api::id::fill_random(&mut b);
                b.iter().map(|x| format!("{x:02x}")).collect()
            }
        };
        let (program, port, index) = resolve_target(&req.program, req.port, req.index)?;
        if let Some(t) = &req.expires_at {
            check_expiry(t)?;
        }
        let t = now();
        let a = Alias {
            id: api::id::new_id(),
            project_id: c.project_id,
            container_id: c.id,
            url: self.alias_url(&alias),
            alias,
            program: program.to_string(),
            index,
            port,
            target_path: landing_path(req.target_path),
            allow_path_override: req.allow_path_override.unwrap_or(true),
            expires_at: req.expires_at,
            enabled: req.enabled.unwrap_or(true),
            server_id: self.inner.server_id.clone(),
            server_name: self.inner.server_name.clone(),
            created_at: t.clone(),
            updated_at: t,
        };
        self.store().tx(|tx| {
            if tx.alias_by_name(&a.alias)?.is_some() {
                return Err(ApiError::conflict(
                    "ALIAS_IN_USE",
                    format!("alias {:?} is in use on this server", a.alias),
                ));
            }
            tx.put_alias(&a)
        })?;
        self.emit("proxy.changed", None, Some(&a.project_id));
        Ok(a)
    }

    /// An alias.
    pub fn get_alias(&self, id: &str) -> Result<Alias> {
        api::id::check("alias", id)?;
        self.store()
            .read()
            .alias(id)?
            .ok_or_else(|| ApiError::not_found("alias", id))
    }

    /// Aliases, filtered.
    pub fn list_aliases(&self, q: &api::AliasQuery) -> Result<api::AliasList> {
        let t = now();
        let aliases = self
            .store()
            .read()
            .aliases()?
            .into_iter()
            .filter(|a| q.project_id.as_ref().is_none_or(|p| *p == a.project_id))
            .filter(|a| q.container_id.as_ref().is_none_or(|c| *c == a.container_id))
            .filter(|a| q.enabled.is_none_or(|e| e == a.enabled))
            .filter(|a| {
                let expired = a
                    .expires_at
                    .as_ref()
                    .is_some_and(|e| e.as_str() <= t.as_str());
                q.expired.is_none_or(|want| want == expired)
            })
            .collect();
        Ok(api::AliasList { aliases })
    }

    /// Updates an alias (omitted fields kept).
    pub fn update_alias(&self, id: &str, req: api::UpdateAlias) -> Result<Alias> {
        let mut a = self.get_alias(id)?;
        if let Some(n) = req.alias {
            check_alias_name(&n)?;
            a.url = self.alias_url(&n);
            a.alias = n;
        }
        if req.program.is_some() || req.port.is_some() || req.index.is_some() {
            let program = req.program.unwrap_or_else(|| a.program.clone());
            let same_kind =
                api::program_name(split_program(&program).0) == Some(a.program.as_str());
            let (p, port, index) = resolve_target(
                &program,
                req.port.or(if same_kind { a.port } else { None }),
                req.index.or(if same_kind && a.port.is_none() {
                    Some(a.index)
                } else {
                    None
                }),
            )?;
            a.program = p.to_string();
            a.port = port;
            a.index = index;
        }
        if let Some(p) = req.target_path {
            a.target_path = landing_path(p);
        }
        if let Some(v) = req.allow_path_override {
            a.allow_path_override = v;
        }
        if let Some(e) = req.expires_at {
            if let Some(t) = &e {
                check_expiry(t)?;
            }
            a.expires_at = e;
        }
        if let Some(v) = req.enabled {
            a.enabled = v;
        }
        a.updated_at = now();
        self.store().tx(|tx| {
            if let Some(other) = tx.alias_by_name(&a.alias)?
                && other != a.id
            {
                return Err(ApiError::conflict(
                    "ALIAS_IN_USE",
                    format!("alias {:?} is in use on this server", a.alias),
                ));
            }
            tx.put_alias(&a)
        })?;
        self.emit("proxy.changed", None, Some(&a.project_id));
        Ok(a)
    }

    /// Enables or disables an alias.
    pub fn set_alias_state(&self, id: &str, enabled: bool) -> Result<Alias> {
        self.update_alias(
            id,
            api::UpdateAlias {
                enabled: Some(enabled),
                ..Default::default()
            },
        )
    }

    /// Deletes an alias.
    pub fn delete_alias(&self, id: &str) -> Result<()> {
        let a = self.get_alias(id)?;
        self.store().tx(|tx| tx.delete_alias(id))?;
        self.emit("proxy.changed", None, Some(&a.project_id));
        Ok(())
    }

    /// Everything the proxy loads: aliases and permission documents.
    pub fn proxy_state(&self) -> Result<api::ProxyState> {
        let store = self.store();
        let r = store.read();
        Ok(api::ProxyState {
            aliases: r.aliases()?,
            permissions: r
                .proxy_docs()?
                .into_iter()
                .map(|(scope, id, document)| api::ScopedDocument {
                    scope,
                    id,
                    document,
                })
                .collect(),
        })
    }

    /// The last `limit` (≤ 1000) requests the proxy logged for a container, oldest first.
    pub fn access_log(&self, id: &str, limit: usize) -> Result<api::AccessLog> {
        let c = self.get_container(id)?;
        if limit == 0 || limit > 1000 {
            return Err(ApiError::validation("limit", "must be 1 to 1000"));
        }
        let path = self.inner.cfg.proxy_log_dir.join(format!("{}.jsonl", c.id));
        let text = match std::fs::File::open(&path) {
            Ok(mut f) => {
                // The tail only: at most ~1 KiB per entry.
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                let start = len.saturating_sub(limit as u64 * 1024 + 1024);
                f.seek(SeekFrom::Start(start))
                    .and_then(|_| {
                        let mut s = String::new();
                        f.read_to_string(&mut s).map(|_| s)
                    })
                    .map_err(|e| ApiError::internal(format!("read {}: {e}", path.display())))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(ApiError::internal(format!("open {}: {e}", path.display())));
            }
        };
        let mut logs: Vec<api::AccessLogEntry> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let skip = logs.len().saturating_sub(limit);
        logs.drain(..skip);
        Ok(api::AccessLog {
            container_id: c.id,
            logs,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_names_and_targets() {
        assert!(check_alias_name("my-app").is_ok());
        assert!(check_alias_name("containers-my-app").is_ok());
        assert!(check_alias_name("proxymyapp").is_ok());
        for bad in [
            "ab",
            "-ab",
            "ab-",
            "Abc",
            "proxy",
            "proxy-x",
            "workspaces-1",
            "containers",
        ] {
            assert!(check_alias_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            resolve_target("http-3000", None, None).ok(),
            Some(("http", Some(3000), 1))
        );
        assert_eq!(
            resolve_target("http", Some(8080), Some(9)).ok(),
            Some(("http", Some(8080), 1))
        );
        assert_eq!(
            resolve_target("https", None, None).ok(),
            Some(("https", Some(443), 1))
        );
        assert_eq!(
            resolve_target("tty", None, Some(2)).ok(),
            Some(("terminal", None, 2))
        );
        assert!(resolve_target("web", None, None).is_err());
        assert!(resolve_target("proxy", None, None).is_err());
        assert!(resolve_target("files", Some(80), None).is_err());
    }
}
