//! What hoodyd keeps for the proxy: aliases (reference §2.7), the state the proxy loads
//! ([`Host::proxy_state`]), and the access logs the proxy writes ([`Host::access_log`]).
//! Every change is announced on the event stream as `proxy.changed`, upon which the proxy
//! reloads the state.

use std::io::{Read, Seek, SeekFrom};

use super::{Host, HostError, Result, new_id, now, random_bytes};
use crate::access::Caller;
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
        )
        .into());
    }
    let reserved = a == "containers"
        || a == "proxy"
        || a == "workspaces"
        || a.starts_with("proxy-")
        || a.starts_with("workspaces-");
    if reserved {
        return Err(ApiError::validation("alias", format!("{a:?} is reserved")).into());
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
        )
        .into());
    }
    if t <= now().as_str() {
        return Err(ApiError::validation("expires_at", "must be in the future").into());
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
                return Err(ApiError::validation("port", "must be 1 to 65535").into());
            }
            Ok((canonical, Some(p), 1))
        }
        _ => {
            if port.is_some() {
                return Err(ApiError::validation(
                    "port",
                    format!("only http and https aliases take a port, not {canonical}"),
                )
                .into());
            }
            let i = index.unwrap_or(1);
            if i == 0 {
                return Err(ApiError::validation("index", "instances count from 1").into());
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
        self.create_alias_for(&Caller::root(), req)
    }

    /// Creates an alias as `caller` (through a realm: for a container of the realm only).
    pub fn create_alias_for(&self, caller: &Caller, req: api::CreateAlias) -> Result<Alias> {
        let c = self.get_container(&req.container_id)?;
        if !caller.sees(&c.realm_ids) {
            return Err(ApiError::not_found("container", &req.container_id).into());
        }
        let alias = match req.alias {
            Some(a) => {
                check_alias_name(&a)?;
                a
            }
            None => {
                let b: [u8; 24] = random_bytes()?;
                hoody_sys::random::to_hex(&b)
            }
        };
        let (program, port, index) = resolve_target(&req.program, req.port, req.index)?;
        if let Some(t) = &req.expires_at {
            check_expiry(t)?;
        }
        let t = now();
        let a = Alias {
            id: new_id()?,
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
                )
                .into());
            }
            Ok(tx.put_alias(&a)?)
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
            .ok_or_else(|| ApiError::not_found("alias", id).into())
    }

    /// Aliases, filtered.
    pub fn list_aliases(&self, q: &api::AliasQuery) -> Result<api::AliasList> {
        self.list_aliases_for(&Caller::root(), q)
    }

    /// The aliases `caller` sees (through a realm: those whose container carries it).
    pub fn list_aliases_for(&self, caller: &Caller, q: &api::AliasQuery) -> Result<api::AliasList> {
        let t = now();
        let store = self.store();
        let r = store.read();
        let visible = |a: &Alias| -> bool {
            caller.realm.is_none()
                || r.container(&a.container_id)
                    .ok()
                    .flatten()
                    .is_some_and(|c| caller.sees(&c.realm_ids))
        };
        let aliases = r
            .aliases()?
            .into_iter()
            .filter(|a| visible(a))
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
                )
                .into());
            }
            Ok(tx.put_alias(&a)?)
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
        self.store().tx(|tx| Ok(tx.delete_alias(id)?))?;
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
            return Err(ApiError::validation("limit", "must be 1 to 1000").into());
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
                    .map_err(|e| HostError::io(format!("read {}", path.display()), e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => {
                return Err(HostError::io(format!("open {}", path.display()), e));
            }
        };
        Ok(api::AccessLog {
            container_id: c.id,
            logs: log_tail(&text, limit),
        })
    }
}

/// The last `limit` entries of a log file's text, oldest first; lines that are not entries
/// (a torn first line of the read window) are skipped.
///
/// Several proxy worker processes append to one file, each a batch at a time, so the file is
/// in time order per worker only. The times are RFC 3339 UTC with milliseconds, all of one
/// length, so their text order is their time order; the sort is stable.
fn log_tail(text: &str, limit: usize) -> Vec<api::AccessLogEntry> {
    let mut logs: Vec<api::AccessLogEntry> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    logs.sort_by(|a, b| a.time.cmp(&b.time));
    let skip = logs.len().saturating_sub(limit);
    logs.drain(..skip);
    logs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tails_are_in_time_order_across_workers() {
        let line = |ms: u32, path: &str| {
            format!(
                r#"{{"time":"2026-12-01T15:00:00.{ms:03}Z","client_ip":"127.0.0.1","method":"GET","host":"h","path":"{path}","status":200,"bytes":1,"duration_ms":0.1,"service":"http-8080"}}"#
            )
        };
        // Worker 0's batch, then worker 1's, which began earlier; a torn line first.
        let text = [
            "0.1,\"service\":\"x\"}".to_string(),
            line(100, "/a"),
            line(300, "/c"),
            line(200, "/b"),
            line(400, "/d"),
        ]
        .join("\n");
        let paths = |v: Vec<api::AccessLogEntry>| v.into_iter().map(|e| e.path).collect::<Vec<_>>();
        assert_eq!(paths(log_tail(&text, 10)), ["/a", "/b", "/c", "/d"]);
        assert_eq!(paths(log_tail(&text, 2)), ["/c", "/d"]);
    }

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

// ---- permission documents (reference §2.5) ---------------------------------------------

use crate::permissions::{Access, DefaultPolicy, Document, Group};

/// Whose permission document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A project's (applies to all its containers).
    Project,
    /// A container's (extends and overrides its project's).
    Container,
}

impl Scope {
    /// `project` or `container`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Project => "project",
            Scope::Container => "container",
        }
    }
}

/// A document as the API shows it: the document plus its `etag` (`file:v<N>`).
pub fn with_etag(d: &Document) -> serde_json::Value {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    v["etag"] = format!("file:v{}", d.file_version).into();
    v
}

fn invalid(e: crate::permissions::ValidationError) -> ApiError {
    ApiError::validation(&e.field, e.reason)
}

impl Host {
    /// The owner's project and container ids, checking they exist.
    fn doc_owner(&self, scope: Scope, id: &str) -> Result<(String, Option<String>)> {
        match scope {
            Scope::Project => Ok((self.get_project(id)?.id, None)),
            Scope::Container => {
                let c = self.get_container(id)?;
                Ok((c.project_id, Some(c.id)))
            }
        }
    }

    /// A permission document; an empty one (version 0) when none was written yet.
    pub fn get_permissions(&self, scope: Scope, id: &str) -> Result<Document> {
        let (project, container) = self.doc_owner(scope, id)?;
        let stored = self.store().read().proxy_doc(scope.as_str(), id)?;
        Ok(match stored {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| ApiError::internal(format!("stored document of {id}: {e}")))?,
            None => Document {
                project: Some(project),
                container,
                ..Default::default()
            },
        })
    }

    /// `GET …/containers/{id}/proxy/groups` (discovery): the container document's groups and
    /// how many rules each has.
    pub fn proxy_groups(&self, id: &str) -> Result<serde_json::Value> {
        let d = self.get_permissions(Scope::Container, id)?;
        let groups: Vec<serde_json::Value> = d
            .groups
            .keys()
            .map(|g| {
                serde_json::json!({
                    "name": g,
                    "auth_rule_count": d.permissions.get(g).map_or(0, |r| r.len()),
                })
            })
            .collect();
        Ok(serde_json::json!({
            "groups": groups,
            "file_version": d.file_version,
            "etag": format!("file:v{}", d.file_version),
        }))
    }

    /// `GET …/containers/{id}/proxy/services` (discovery): the services rules or hooks of the
    /// container's document (or its project's) name, and every program the proxy knows.
    pub fn proxy_services(&self, id: &str) -> Result<serde_json::Value> {
        let d = self.get_permissions(Scope::Container, id)?;
        let project = self.get_permissions(Scope::Project, d.project.as_deref().unwrap_or(""))?;
        let mut names: std::collections::BTreeSet<String> = api::PROGRAMS
            .iter()
            .map(|p| api::program_name(p).unwrap_or(p).to_string())
            .collect();
        for doc in [&d, &project] {
            for rules in doc.permissions.values() {
                names.extend(rules.keys().cloned());
            }
        }
        if let Some(h) = d.hooks.as_object() {
            names.extend(h.keys().cloned());
        }
        Ok(serde_json::json!({
            "services": names,
            "file_version": d.file_version,
            "etag": format!("file:v{}", d.file_version),
        }))
    }

    /// `GET …/containers/{id}/proxy/services/{service}` (discovery): the rules that name the
    /// service (per group, container and project documents), its hooks, the default that
    /// applies when no group admits a request, and whether the container refuses everything.
    pub fn proxy_service(&self, id: &str, service: &str) -> Result<serde_json::Value> {
        let d = self.get_permissions(Scope::Container, id)?;
        let project = self.get_permissions(Scope::Project, d.project.as_deref().unwrap_or(""))?;
        let rules = |doc: &Document| -> serde_json::Map<String, serde_json::Value> {
            doc.permissions
                .iter()
                .filter_map(|(g, r)| {
                    r.get(service)
                        .map(|a| (g.clone(), serde_json::to_value(a).unwrap_or_default()))
                })
                .collect()
        };
        // The container's document decides when it has been written, else the project's.
        let decides = if d.file_version > 0 { &d } else { &project };
        Ok(serde_json::json!({
            "service": service,
            "permissions_raw": {"container": rules(&d), "project": rules(&project)},
            "hooks": d.hooks.get(service).cloned().unwrap_or(serde_json::Value::Null),
            "effective_default": decides.default,
            "is_reject_listed": !d.enable_proxy || !project.enable_proxy,
        }))
    }

    /// Changes a document under optimistic concurrency: `if_match` must be `file:v<N>` with
    /// the current version (428 without it, 412 when stale). A document that does not exist
    /// yet starts from `new_default` (`allow` when made through the group and rule calls,
    /// as the reference says; `deny` for a replace that omits `default`).
    fn edit_permissions(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        f: impl FnOnce(&mut Document, bool) -> Result<()>,
    ) -> Result<Document> {
        self.edit_document(scope, id, if_match, true, f)
    }

    /// [`Host::edit_permissions`]; without `require_match`, a write without `If-Match` goes
    /// through (one with a stale one still gets 412).
    pub(crate) fn edit_document(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        require_match: bool,
        f: impl FnOnce(&mut Document, bool) -> Result<()>,
    ) -> Result<Document> {
        let current = self.get_permissions(scope, id)?;
        let current_tag = format!("file:v{}", current.file_version);
        let tag = match if_match {
            Some(t) => t,
            None if !require_match => current_tag.as_str(),
            None => {
                return Err(ApiError::new(
                    428,
                    "PRECONDITION_REQUIRED",
                    format!(
                        "send If-Match: file:v{} (the document's current version)",
                        current.file_version
                    ),
                )
                .into());
            }
        };
        if tag.trim().trim_matches('"') != current_tag {
            return Err(ApiError::new(
                412,
                "PRECONDITION_FAILED",
                format!("If-Match {tag} is stale: the document is at {current_tag}"),
            )
            .into());
        }
        let exists = current.file_version > 0;
        let mut doc = current;
        f(&mut doc, exists)?;
        let (project, container) = self.doc_owner(scope, id)?;
        doc.project = Some(project);
        doc.container = container;
        if scope == Scope::Project && !doc.hooks.is_null() {
            return Err(
                ApiError::validation("hooks", "only container documents have hooks").into(),
            );
        }
        doc.validate().map_err(invalid)?;
        doc.file_version += 1;
        let v = serde_json::to_value(&doc)
            .map_err(|e| ApiError::internal(format!("serialize document: {e}")))?;
        self.store()
            .tx(|tx| Ok(tx.put_proxy_doc(scope.as_str(), id, &v)?))?;
        self.emit("proxy.changed", None, None);
        Ok(doc)
    }

    /// Replaces a whole document.
    pub fn replace_permissions(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        body: serde_json::Value,
    ) -> Result<Document> {
        let new: Document = serde_json::from_value(body)
            .map_err(|e| ApiError::validation("document", e.to_string()))?;
        if scope == Scope::Container && new.container.as_deref().is_some_and(|c| c != id) {
            return Err(
                ApiError::validation("container", "must equal the container in the path").into(),
            );
        }
        if scope == Scope::Project && new.project.as_deref().is_some_and(|p| p != id) {
            return Err(
                ApiError::validation("project", "must equal the project in the path").into(),
            );
        }
        self.edit_permissions(scope, id, if_match, |doc, _| {
            let version = doc.file_version;
            *doc = new;
            doc.file_version = version;
            Ok(())
        })
    }

    /// Deletes a document (requests then pass unless the project's document says otherwise).
    pub fn delete_permissions(&self, scope: Scope, id: &str, if_match: Option<&str>) -> Result<()> {
        // The same precondition as any write.
        let current = self.get_permissions(scope, id)?;
        match if_match {
            None => {
                return Err(ApiError::new(
                    428,
                    "PRECONDITION_REQUIRED",
                    format!("send If-Match: file:v{}", current.file_version),
                )
                .into());
            }
            Some(t) if t.trim().trim_matches('"') != format!("file:v{}", current.file_version) => {
                return Err(ApiError::new(
                    412,
                    "PRECONDITION_FAILED",
                    format!(
                        "If-Match {t} is stale: the document is at file:v{}",
                        current.file_version
                    ),
                )
                .into());
            }
            Some(_) => {}
        }
        self.store()
            .tx(|tx| Ok(tx.delete_proxy_doc(scope.as_str(), id)?))?;
        self.emit("proxy.changed", None, None);
        Ok(())
    }

    /// Sets `default`.
    pub fn set_permissions_default(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        default: DefaultPolicy,
    ) -> Result<Document> {
        self.edit_permissions(scope, id, if_match, |d, _| {
            d.default = default;
            Ok(())
        })
    }

    /// Sets `enable_proxy` (the kill switch).
    pub fn set_permissions_state(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        enable_proxy: bool,
    ) -> Result<Document> {
        self.edit_permissions(scope, id, if_match, |d, exists| {
            if !exists {
                d.default = DefaultPolicy::Allow;
            }
            d.enable_proxy = enable_proxy;
            Ok(())
        })
    }

    /// Adds or replaces group `name` of `kind` (`jwt`, `password`, `ip`, `token`).
    pub fn put_group(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        name: &str,
        kind: &str,
        body: &serde_json::Value,
    ) -> Result<Document> {
        let group = Group::from_request(kind, body).map_err(invalid)?;
        self.edit_permissions(scope, id, if_match, |d, exists| {
            if !exists {
                d.default = DefaultPolicy::Allow;
            }
            d.groups.insert(name.to_string(), group);
            Ok(())
        })
    }

    /// Removes group `name` and its rules.
    pub fn delete_group(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        name: &str,
    ) -> Result<Document> {
        self.edit_permissions(scope, id, if_match, |d, _| {
            if d.groups.remove(name).is_none() {
                return Err(ApiError::not_found("group", name).into());
            }
            d.permissions.remove(name);
            Ok(())
        })
    }

    /// Sets group `name`'s access to `program`.
    pub fn put_rule(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        group: &str,
        program: &str,
        access: Access,
    ) -> Result<Document> {
        access.validate_for(program).map_err(invalid)?;
        self.edit_permissions(scope, id, if_match, |d, exists| {
            if !exists {
                d.default = DefaultPolicy::Allow;
            }
            d.permissions
                .entry(group.to_string())
                .or_default()
                .insert(program.to_string(), access);
            Ok(())
        })
    }

    /// Removes group `group`'s rules (all, or for one `program`).
    pub fn delete_rules(
        &self,
        scope: Scope,
        id: &str,
        if_match: Option<&str>,
        group: &str,
        program: Option<&str>,
    ) -> Result<Document> {
        self.edit_permissions(scope, id, if_match, |d, _| {
            let gone = match program {
                None => d.permissions.remove(group).is_some(),
                Some(p) => d
                    .permissions
                    .get_mut(group)
                    .is_some_and(|rules| rules.remove(p).is_some()),
            };
            if gone {
                Ok(())
            } else {
                Err(
                    ApiError::not_found("rule", &format!("{group}/{}", program.unwrap_or("*")))
                        .into(),
                )
            }
        })
    }
}
