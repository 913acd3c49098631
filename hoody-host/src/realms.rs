//! `GET /api/v1/realms/` (reference §5.5): the realms of what the caller sees. A realm is a
//! 24-hex label that exists once something carries it (there is no create call); through a
//! realm-scoped host only that realm is listed, and a token limited to realms lists only
//! those. `include_usage=true` counts what carries each: projects, containers and API tokens
//! (servers carry no realms here).

use crate::access::Caller;
use crate::api::{RealmList, RealmQuery};

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
}
