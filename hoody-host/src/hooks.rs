//! Proxy hooks of a container (reference §2.6, `…/containers/{id}/proxy/hooks…`): kept in
//! its permission document under `hooks` (so they version, copy and reach hoody-proxy with
//! it), checked here, run by hoody-proxy (see [`hoody_api::hooks`] for the call).
//!
//! Writes take `If-Match: file:v<N>` like every document write; without one they go through
//! (Hoody's clients send it only for add and replace). A document made by a hook write starts
//! with `default: allow`, so adding a hook never locks the container's URLs.

use hoody_api::hooks::{self, Hook};
use hoody_api::permissions::{DefaultPolicy, Document};

use super::*;

impl Host {
    /// Every hook of the container, by service, with the document's version.
    pub fn list_hooks(&self, id: &str) -> Result<serde_json::Value> {
        let d = self.get_permissions(Scope::Container, id)?;
        Ok(json!({
            "hooks": if d.hooks.is_null() { json!({}) } else { d.hooks.clone() },
            "file_version": d.file_version,
            "etag": format!("file:v{}", d.file_version),
        }))
    }

    /// The hooks of one service, in order.
    pub fn service_hooks(&self, id: &str, service: &str) -> Result<serde_json::Value> {
        let d = self.get_permissions(Scope::Container, id)?;
        Ok(json!({
            "service": service,
            "hooks": hooks::of_service(&d.hooks, service),
            "file_version": d.file_version,
            "etag": format!("file:v{}", d.file_version),
        }))
    }

    /// One hook.
    pub fn get_hook(&self, id: &str, service: &str, hook: &str) -> Result<Hook> {
        let d = self.get_permissions(Scope::Container, id)?;
        hooks::of_service(&d.hooks, service)
            .into_iter()
            .find(|h| h.id == hook)
            .ok_or_else(|| ApiError::not_found("hook", hook).into())
    }

    /// Adds a hook to `service` (at `position`, default last); `body` is the hook as sent.
    pub fn add_hook(
        &self,
        id: &str,
        service: &str,
        if_match: Option<&str>,
        body: serde_json::Value,
    ) -> Result<Hook> {
        let at = body.get("position").and_then(serde_json::Value::as_u64);
        let mut hook = parse_hook(body)?;
        let raw: [u8; 8] = random_bytes()?;
        hook.id = format!("hook_{}", hoody_sys::random::to_hex(&raw));
        let made = hook.id.clone();
        let doc = self.edit_hooks(id, service, if_match, |list, doc| {
            check_hook(&hook, doc)?;
            if list.len() >= hooks::MAX_PER_SERVICE {
                return Err(ApiError::validation(
                    "hooks",
                    format!(
                        "{service} has {} hooks already (at most {})",
                        list.len(),
                        hooks::MAX_PER_SERVICE
                    ),
                )
                .into());
            }
            let at = at.map_or(list.len(), |p| (p as usize).min(list.len()));
            list.insert(at, hook);
            Ok(())
        })?;
        found(&doc, service, &made)
    }

    /// Replaces hook `hook` of `service` (keeping its id and place).
    pub fn replace_hook(
        &self,
        id: &str,
        service: &str,
        hook: &str,
        if_match: Option<&str>,
        body: serde_json::Value,
    ) -> Result<Hook> {
        let mut new = parse_hook(body)?;
        let doc = self.edit_hooks(id, service, if_match, |list, doc| {
            check_hook(&new, doc)?;
            let slot = list
                .iter_mut()
                .find(|h| h.id == hook)
                .ok_or_else(|| ApiError::not_found("hook", hook))?;
            new.id = hook.to_string();
            *slot = new;
            Ok(())
        })?;
        found(&doc, service, hook)
    }

    /// Moves hook `hook` of `service` to `position` (clamped to the list).
    pub fn move_hook(
        &self,
        id: &str,
        service: &str,
        hook: &str,
        if_match: Option<&str>,
        position: usize,
    ) -> Result<Hook> {
        let doc = self.edit_hooks(id, service, if_match, |list, _| {
            let from = list
                .iter()
                .position(|h| h.id == hook)
                .ok_or_else(|| ApiError::not_found("hook", hook))?;
            let h = list.remove(from);
            list.insert(position.min(list.len()), h);
            Ok(())
        })?;
        found(&doc, service, hook)
    }

    /// Removes hook `hook` of `service`.
    pub fn remove_hook(
        &self,
        id: &str,
        service: &str,
        hook: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        self.edit_hooks(id, service, if_match, |list, _| {
            let before = list.len();
            list.retain(|h| h.id != hook);
            if list.len() == before {
                return Err(ApiError::not_found("hook", hook).into());
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Removes every hook of `service`.
    pub fn clear_service_hooks(
        &self,
        id: &str,
        service: &str,
        if_match: Option<&str>,
    ) -> Result<()> {
        self.edit_hooks(id, service, if_match, |list, _| {
            list.clear();
            Ok(())
        })?;
        Ok(())
    }

    /// Runs `f` on the hooks of `service` (positions renumbered after), within the document
    /// write.
    fn edit_hooks(
        &self,
        id: &str,
        service: &str,
        if_match: Option<&str>,
        f: impl FnOnce(&mut Vec<Hook>, &Document) -> Result<()>,
    ) -> Result<Document> {
        hooks::check_service(service).map_err(|m| ApiError::validation("service", m))?;
        self.edit_document(Scope::Container, id, if_match, false, |doc, exists| {
            if !exists {
                doc.default = DefaultPolicy::Allow;
            }
            let mut list = hooks::of_service(&doc.hooks, service);
            f(&mut list, doc)?;
            for (i, h) in list.iter_mut().enumerate() {
                h.position = i;
            }
            let mut all = match std::mem::take(&mut doc.hooks) {
                serde_json::Value::Object(m) => m,
                _ => serde_json::Map::new(),
            };
            if list.is_empty() {
                all.remove(service);
            } else {
                all.insert(
                    service.to_string(),
                    serde_json::to_value(&list)
                        .map_err(|e| ApiError::internal(format!("serialize hooks: {e}")))?,
                );
            }
            let total: usize = all.values().map(|l| l.as_array().map_or(0, Vec::len)).sum();
            if total > hooks::MAX_PER_FILE {
                return Err(ApiError::validation(
                    "hooks",
                    format!("a container may have at most {} hooks", hooks::MAX_PER_FILE),
                )
                .into());
            }
            doc.hooks = if all.is_empty() {
                serde_json::Value::Null
            } else {
                serde_json::Value::Object(all)
            };
            Ok(())
        })
    }
}

fn parse_hook(mut body: serde_json::Value) -> Result<Hook> {
    if let Some(o) = body.as_object_mut() {
        o.remove("id");
        o.remove("position");
    }
    let h: Hook =
        serde_json::from_value(body).map_err(|e| ApiError::validation("hook", e.to_string()))?;
    h.validate()
        .map_err(|(field, m)| ApiError::validation(field, m))?;
    Ok(h)
}

/// `applies_to` names groups of the container's document (or, when it names one the
/// container does not have, 422 `VALIDATION_ERROR` as the reference has it).
fn check_hook(h: &Hook, doc: &Document) -> Result<()> {
    if let Some(a) = &h.applies_to
        && let Some(g) = a.groups.iter().find(|g| !doc.groups.contains_key(*g))
    {
        return Err(ApiError::validation(
            "applies_to.groups",
            format!("the container's permission document has no group {g:?}"),
        )
        .into());
    }
    Ok(())
}

fn found(doc: &Document, service: &str, id: &str) -> Result<Hook> {
    hooks::of_service(&doc.hooks, service)
        .into_iter()
        .find(|h| h.id == id)
        .ok_or_else(|| ApiError::internal(format!("hook {id} vanished while being written")).into())
}
