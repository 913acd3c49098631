//! The proxy permission documents of projects and containers (reference §2.5): read, replace,
//! delete, and the small edits Hoody's CLI makes (default, kill switch, groups, grants).
//!
//! Every write carries `If-Match: file:vN`, the version it changes: a write that lost a race
//! is refused with 412. [`Client::permissions_version`] reads the current version for callers
//! that have none. Documents are returned as the server sends them (`{..., etag}`), as JSON.

use serde_json::{Value, json};

use super::*;

/// Whose permission document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocOwner<'a> {
    /// A project's (applies to every container of it).
    Project(&'a str),
    /// A container's.
    Container(&'a str),
}

impl DocOwner<'_> {
    /// `/api/v1/projects/{id}` or `/api/v1/containers/{id}`, followed by `rest`.
    fn path(&self, rest: &str) -> Result<String> {
        match self {
            DocOwner::Project(id) => Ok(format!("{}{rest}", project_path(id)?)),
            DocOwner::Container(id) => container_path(id, rest),
        }
    }
}

impl Client {
    fn doc_call(
        &self,
        method: &str,
        path: &str,
        if_match: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if let Some(t) = if_match {
            headers.push(("If-Match", t));
        }
        let bytes = body.map(|b| b.to_string());
        let r = self.request_raw(method, path, bytes.as_deref().map(str::as_bytes), &headers)?;
        if !r.is_success() {
            return Err(ClientError::Api(r.api_error()));
        }
        let v: Value =
            serde_json::from_slice(&r.body).map_err(|e| bad_body(method, path, &r, &e))?;
        Ok(v["data"].clone())
    }

    /// `GET …/proxy/permissions`: the document and its version (`etag`).
    pub fn permissions(&self, owner: DocOwner<'_>) -> Result<Value> {
        self.doc_call("GET", &owner.path("/proxy/permissions")?, None, None)
    }

    /// The document's current version (`file:vN`; `file:v0` when it has none yet).
    pub fn permissions_version(&self, owner: DocOwner<'_>) -> Result<String> {
        Ok(self.permissions(owner)?["etag"]
            .as_str()
            .unwrap_or("file:v0")
            .to_string())
    }

    /// `PUT …/proxy/permissions`: replaces the whole document.
    pub fn replace_permissions(
        &self,
        owner: DocOwner<'_>,
        doc: &Value,
        if_match: &str,
    ) -> Result<Value> {
        let path = owner.path("/proxy/permissions")?;
        self.doc_call("PUT", &path, Some(if_match), Some(doc))
    }

    /// `DELETE …/proxy/permissions`.
    pub fn delete_permissions(&self, owner: DocOwner<'_>, if_match: &str) -> Result<Value> {
        let path = owner.path("/proxy/permissions")?;
        self.doc_call("DELETE", &path, Some(if_match), None)
    }

    /// `PATCH …/proxy/permissions/default`: `allow` or `deny` for requests no group admits.
    pub fn set_permissions_default(
        &self,
        owner: DocOwner<'_>,
        default: &str,
        if_match: &str,
    ) -> Result<Value> {
        let path = owner.path("/proxy/permissions/default")?;
        let body = json!({ "default": default });
        self.doc_call("PATCH", &path, Some(if_match), Some(&body))
    }

    /// `PATCH …/proxy/permissions/state`: the kill switch (`false` refuses every request).
    pub fn set_proxy_enabled(
        &self,
        owner: DocOwner<'_>,
        enable_proxy: bool,
        if_match: &str,
    ) -> Result<Value> {
        let path = owner.path("/proxy/permissions/state")?;
        let body = json!({ "enable_proxy": enable_proxy });
        self.doc_call("PATCH", &path, Some(if_match), Some(&body))
    }

    /// `GET …/proxy/settings`: enable_proxy, default and version.
    pub fn proxy_settings(&self, owner: DocOwner<'_>) -> Result<Value> {
        self.doc_call("GET", &owner.path("/proxy/settings")?, None, None)
    }

    /// `PUT …/proxy/permissions/groups/{name}/{kind}`: adds or replaces auth group `name` of
    /// `kind` (`ip`, `jwt`, `password`, `token`) with `body` (that kind's fields).
    pub fn put_auth_group(
        &self,
        owner: DocOwner<'_>,
        name: &str,
        kind: &str,
        body: &Value,
        if_match: &str,
    ) -> Result<Value> {
        let rest = format!(
            "/proxy/permissions/groups/{}/{}",
            encode(name),
            encode(kind)
        );
        self.doc_call("PUT", &owner.path(&rest)?, Some(if_match), Some(body))
    }

    /// `DELETE …/proxy/permissions/groups/{name}`.
    pub fn delete_auth_group(
        &self,
        owner: DocOwner<'_>,
        name: &str,
        if_match: &str,
    ) -> Result<Value> {
        let rest = format!("/proxy/permissions/groups/{}", encode(name));
        self.doc_call("DELETE", &owner.path(&rest)?, Some(if_match), None)
    }

    /// `PUT …/proxy/permissions/permissions/{group}`: grants `group` `access` (`true`,
    /// `false`, or a list of paths) to `program` (a Kit service, `http-PORT`, ...).
    pub fn grant(
        &self,
        owner: DocOwner<'_>,
        group: &str,
        program: &str,
        access: &Value,
        if_match: &str,
    ) -> Result<Value> {
        let rest = format!("/proxy/permissions/permissions/{}", encode(group));
        let body = json!({ "program": program, "access": access });
        self.doc_call("PUT", &owner.path(&rest)?, Some(if_match), Some(&body))
    }

    /// `DELETE …/proxy/permissions/permissions/{group}[/{program}]`: removes `group`'s grant
    /// for `program`, or all of its grants.
    pub fn revoke(
        &self,
        owner: DocOwner<'_>,
        group: &str,
        program: Option<&str>,
        if_match: &str,
    ) -> Result<Value> {
        let mut rest = format!("/proxy/permissions/permissions/{}", encode(group));
        if let Some(p) = program {
            rest.push('/');
            rest.push_str(&encode(p));
        }
        self.doc_call("DELETE", &owner.path(&rest)?, Some(if_match), None)
    }

    /// `…/proxy/hooks[/{service}[/{hookId}[/position]]]` of container `id`.
    fn hooks_path(id: &str, service: Option<&str>, hook: Option<&str>) -> Result<String> {
        let mut rest = "/proxy/hooks".to_string();
        if let Some(s) = service {
            rest.push('/');
            rest.push_str(&encode(s));
        }
        if let Some(h) = hook {
            rest.push('/');
            rest.push_str(&encode(h));
        }
        container_path(id, &rest)
    }

    /// `GET /api/v1/containers/{id}/proxy/hooks[/{service}]` (reference §2.6).
    pub fn hooks(&self, id: &str, service: Option<&str>) -> Result<Value> {
        self.doc_call("GET", &Self::hooks_path(id, service, None)?, None, None)
    }

    /// `GET …/proxy/hooks/{service}/{hookId}`.
    pub fn hook(&self, id: &str, service: &str, hook: &str) -> Result<Value> {
        self.doc_call(
            "GET",
            &Self::hooks_path(id, Some(service), Some(hook))?,
            None,
            None,
        )
    }

    /// `POST …/proxy/hooks/{service}` (adds a hook; `position` in the body inserts it there).
    pub fn add_hook(
        &self,
        id: &str,
        service: &str,
        hook: &Value,
        if_match: Option<&str>,
    ) -> Result<Value> {
        self.doc_call(
            "POST",
            &Self::hooks_path(id, Some(service), None)?,
            if_match,
            Some(hook),
        )
    }

    /// `PUT …/proxy/hooks/{service}/{hookId}` (replaces it in place).
    pub fn replace_hook(
        &self,
        id: &str,
        service: &str,
        hook_id: &str,
        hook: &Value,
        if_match: Option<&str>,
    ) -> Result<Value> {
        let path = Self::hooks_path(id, Some(service), Some(hook_id))?;
        self.doc_call("PUT", &path, if_match, Some(hook))
    }

    /// `PATCH …/proxy/hooks/{service}/{hookId}/position`.
    pub fn move_hook(
        &self,
        id: &str,
        service: &str,
        hook_id: &str,
        position: u64,
        if_match: Option<&str>,
    ) -> Result<Value> {
        let path = format!(
            "{}/position",
            Self::hooks_path(id, Some(service), Some(hook_id))?
        );
        self.doc_call(
            "PATCH",
            &path,
            if_match,
            Some(&json!({ "position": position })),
        )
    }

    /// `DELETE …/proxy/hooks/{service}/{hookId}`, or every hook of the service without one.
    pub fn delete_hooks(
        &self,
        id: &str,
        service: &str,
        hook_id: Option<&str>,
        if_match: Option<&str>,
    ) -> Result<Value> {
        self.doc_call(
            "DELETE",
            &Self::hooks_path(id, Some(service), hook_id)?,
            if_match,
            None,
        )
    }
}
