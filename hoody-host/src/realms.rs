//! `GET /api/v1/realms/` (reference §5.5): the realms of what the caller sees. A realm is a
//! 24-hex label that exists once something carries it (there is no create call); through a
//! realm-scoped host only that realm is listed, and a token limited to realms lists only
//! those. `include_usage=true` counts what carries each: projects, containers and API tokens
//! (servers carry no realms here).

use crate::access::Caller;
use crate::api::{Event, RealmList, RealmQuery};

use super::*;

impl Host {
    /// The realms `caller` sees.
    pub fn list_realms(&self, caller: &Caller, q: &RealmQuery) -> Result<RealmList> {
        let mut usage = self.store().read().realm_usage()?;
        if let Some(r) = &caller.realm {
            usage.retain(|k, _| k == r);
            usage.entry(r.clone()).or_default();
        }
        if let Some(t) = caller.token.as_ref().filter(|t| !t.realm_ids.is_empty()) {
            usage.retain(|k, _| t.realm_ids.contains(k));
        }
        Ok(RealmList {
            realm_ids: usage.keys().cloned().collect(),
            total: usage.len() as u64,
            usage: q.include_usage.unwrap_or(false).then_some(usage),
        })
    }

    /// Whether `caller` may see event `ev`: anything without a realm; through a realm, the
    /// events of its containers and projects (a container already deleted is not seen).
    pub fn event_visible(&self, caller: &Caller, ev: &Event) -> bool {
        if caller.realm.is_none() {
            return true;
        }
        let store = self.store();
        let r = store.read();
        if let Some(c) = ev.container_id.as_deref() {
            return r
                .container(c)
                .ok()
                .flatten()
                .is_some_and(|c| caller.sees(&c.realm_ids));
        }
        if let Some(p) = ev.project_id.as_deref() {
            return r
                .project(p)
                .ok()
                .flatten()
                .is_some_and(|p| caller.sees(&p.realm_ids));
        }
        false
    }
}
