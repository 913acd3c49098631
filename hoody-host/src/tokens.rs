//! API tokens (reference §5.8): created with a secret shown once and stored hashed
//! (SHA-256), with permissions, realms, an IP list, an expiry and an enabled flag.
//!
//! A token made by another token never holds more than its maker: its permissions are the
//! meet of what was asked and what the maker holds, its realms a subset of the maker's, and it
//! cannot be used on the bare host when the maker cannot. A token may change or revoke only
//! itself and the tokens it made; root (the unix socket) any.

use std::sync::Arc;

use hoody_api::tokens::{Expiry, Permissions, Tree};

use crate::access::{Caller, check_ip_list};

use super::*;

/// Expiry of a `deny_reauthorization` token that names none.
const LEAF_TOKEN_DAYS: i64 = 30;

impl Host {
    /// Creates an API token as `by`; its secret is in the result and nowhere else.
    pub fn create_token(&self, req: api::CreateToken, by: &Caller) -> Result<api::CreatedToken> {
        let alias = match req.alias {
            Some(a) => check_token_alias(&a).map(|()| a)?,
            None => random_alias()?,
        };
        // Only a tree the request spells out grants explicitly (a template or the maker's
        // permissions are stripped by deny_reauthorization, not refused).
        let explicit_delegation = req.permission_template.is_none()
            && req
                .permissions
                .as_ref()
                .is_some_and(|p| p.resources.create_tokens || p.resources.vault);
        let mut permissions = match (&req.permission_template, req.permissions) {
            (Some(t), _) => Permissions::template(t).ok_or_else(|| {
                ApiError::validation(
                    "permission_template",
                    format!(
                        "{t:?} is not a template (full_access, external_customer, dev_team, finance_team, read_only)"
                    ),
                )
            })?,
            (None, Some(p)) => p,
            (None, None) => by.permissions().clone(),
        };
        let vault_access = req.vault_access.unwrap_or(false);
        let mut expires_at = match (req.expires_at, req.expires_in_days) {
            (Some(e), _) => Some(expiry(&e)?),
            (None, Some(d)) => Some(hoody_sys::time::now_secs() + d as i64 * 86_400),
            (None, None) => None,
        };
        if req.deny_reauthorization == Some(true) {
            if explicit_delegation || vault_access {
                return Err(ApiError::new(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    "deny_reauthorization cannot be combined with an explicit resources.create_tokens, resources.vault or vault_access grant",
                )
                .into());
            }
            permissions.resources.create_tokens = false;
            permissions.resources.vault = false;
            expires_at.get_or_insert(hoody_sys::time::now_secs() + LEAF_TOKEN_DAYS * 86_400);
        }
        permissions = permissions.meet(by.permissions());
        let vault_access = vault_access && permissions.resources.vault;
        let (realm_ids, allow_no_realm) =
            child_realms(by, req.realm_ids.unwrap_or_default(), req.allow_no_realm)?;
        let (public_key, public_storage) = check_profile(req.public_key, req.public_storage)?;
        let ip_whitelist = match &req.ip_whitelist {
            Some(l) => check_ip_list(l)?,
            None => vec!["*".to_string()],
        };
        let raw: [u8; 24] = random_bytes()?;
        let secret = format!("hdy_{}", hoody_sys::random::to_hex(&raw));
        let stamp = now();
        let parent = by.token.as_deref();
        let info = api::Token {
            id: new_id()?,
            alias,
            prefix: secret[..12].to_string(),
            public_key,
            public_storage,
            ip_whitelist,
            realm_ids,
            allow_no_realm,
            permissions,
            expires_at: expires_at.map(hoody_sys::time::rfc3339),
            is_enabled: true,
            vault_access,
            event_access: req.event_access.unwrap_or(true),
            created_by_token_id: parent.map(|t| t.id.clone()),
            delegation_depth: parent.map_or(0, |t| t.delegation_depth + 1),
            last_used_at: None,
            last_used_ip: None,
            created_at: stamp.clone(),
            updated_at: stamp,
        };
        self.store().tx(|tx| {
            if let Some(k) = &info.public_key {
                unique_key(tx, k, &info.id)?;
            }
            Ok(tx.put_token(&info, &hash_token(&secret))?)
        })?;
        Ok(api::CreatedToken {
            token: secret,
            info,
        })
    }

    /// Every token `by` may see: all for root, else itself and the tokens it made.
    pub fn list_tokens(&self, by: &Caller) -> Result<Vec<api::Token>> {
        let all = self.store().read().tokens()?;
        Ok(all.into_iter().filter(|t| owns(by, t)).collect())
    }

    /// One token.
    pub fn get_token(&self, id: &str, by: &Caller) -> Result<api::Token> {
        api::id::check("token", id)?;
        let (t, _) = self.token_for(id, by)?;
        Ok(t)
    }

    /// The calling token and its restrictions (`GET /api/v1/auth/tokens/me`).
    pub fn current_token(&self, by: &Caller) -> Result<api::CurrentToken> {
        let Some(t) = &by.token else {
            return Err(ApiError::new(
                400,
                "NO_TOKEN",
                "this request carries no token (it came through hoodyd's unix socket, as root)",
            )
            .into());
        };
        let (t, _) = self.token_for(&t.id, by)?;
        Ok(api::CurrentToken {
            restrictions: api::TokenRestrictions {
                has_realm_restrictions: !t.realm_ids.is_empty(),
                requires_realm_scope: !t.allow_no_realm,
                allowed_realm_ids: t.realm_ids.clone(),
                allow_no_realm: t.allow_no_realm,
                active_realm_id: by.realm.clone(),
            },
            token: t,
        })
    }

    /// Changes a token; permissions never above `by`'s, realms within `by`'s.
    pub fn update_token(&self, id: &str, req: api::UpdateToken, by: &Caller) -> Result<api::Token> {
        api::id::check("token", id)?;
        if let Some(a) = &req.alias {
            check_token_alias(a)?;
        }
        let ips = req.ip_whitelist.as_ref().map(check_ip_list).transpose()?;
        let expires = match &req.expires_at {
            Some(Some(e)) => Some(Some(expiry(e)?)),
            Some(None) => Some(None),
            None => None,
        };
        let (mut t, hash) = self.token_for(id, by)?;
        if let Some(a) = req.alias {
            t.alias = a;
        }
        if req.public_key.is_some() || req.public_storage.is_some() {
            let key = req.public_key.unwrap_or(t.public_key.take());
            let storage = req.public_storage.unwrap_or(t.public_storage.take());
            (t.public_key, t.public_storage) = check_profile(key, storage)?;
        }
        if let Some(ips) = ips {
            t.ip_whitelist = ips;
        }
        if let Some(p) = req.permissions {
            t.permissions = p.meet(by.permissions());
        }
        if req.realm_ids.is_some() || req.allow_no_realm.is_some() {
            let realms = req.realm_ids.unwrap_or(std::mem::take(&mut t.realm_ids));
            (t.realm_ids, t.allow_no_realm) =
                child_realms(by, realms, req.allow_no_realm.or(Some(t.allow_no_realm)))?;
        }
        if let Some(v) = req.vault_access {
            t.vault_access = v && t.permissions.resources.vault;
        }
        if let Some(v) = req.event_access {
            t.event_access = v;
        }
        if let Some(e) = expires {
            t.expires_at = e.map(hoody_sys::time::rfc3339);
        }
        if let Some(e) = req.is_enabled {
            t.is_enabled = e;
        }
        t.updated_at = now();
        self.store().tx(|tx| {
            if let Some(k) = &t.public_key {
                unique_key(tx, k, &t.id)?;
            }
            Ok(tx.put_token(&t, &hash)?)
        })?;
        Ok(t)
    }

    /// A new token with `id`'s settings and a new secret.
    pub fn copy_token(
        &self,
        id: &str,
        req: api::CopyToken,
        by: &Caller,
    ) -> Result<api::CreatedToken> {
        api::id::check("token", id)?;
        let (src, _) = self.token_for(id, by)?;
        let now_s = hoody_sys::time::now_secs();
        let expires_at = match req.expires_at {
            Some(Some(e)) => Some(Expiry::Unix(expiry(&e)?)),
            Some(None) => None,
            None => src
                .expires_at
                .as_deref()
                .and_then(hoody_sys::time::parse_rfc3339)
                .filter(|e| *e > now_s)
                .map(Expiry::Unix),
        };
        let alias = req.alias.unwrap_or_else(|| {
            let mut a = format!("{} copy", src.alias);
            a.truncate(254);
            a
        });
        self.create_token(
            api::CreateToken {
                alias: Some(alias),
                public_key: None,
                public_storage: None,
                ip_whitelist: Some(api::IpList::List(src.ip_whitelist)),
                permission_template: None,
                permissions: Some(src.permissions),
                realm_ids: Some(src.realm_ids),
                allow_no_realm: Some(src.allow_no_realm),
                vault_access: Some(src.vault_access),
                event_access: Some(src.event_access),
                deny_reauthorization: None,
                expires_at,
                expires_in_days: None,
                otp_code: None,
            },
            by,
        )
    }

    /// Adds (`add`) or removes a realm of a token.
    pub fn token_realm(&self, id: &str, realm: &str, add: bool, by: &Caller) -> Result<api::Token> {
        if !api::id::is_valid(realm) {
            return Err(ApiError::validation(
                "realm_id",
                format!("{realm:?} is not a realm id (24 lowercase hex digits)"),
            )
            .into());
        }
        let (t, _) = self.token_for(id, by)?;
        let mut realms = t.realm_ids;
        if add {
            if !realms.iter().any(|r| r == realm) {
                realms.push(realm.to_string());
            }
        } else {
            realms.retain(|r| r != realm);
        }
        self.update_token(
            id,
            api::UpdateToken {
                realm_ids: Some(realms),
                ..Default::default()
            },
            by,
        )
    }

    /// Revokes a token.
    pub fn delete_token(&self, id: &str, by: &Caller) -> Result<()> {
        api::id::check("token", id)?;
        self.token_for(id, by)?;
        self.store().tx(|tx| Ok(tx.delete_token(id)?))?;
        Ok(())
    }

    /// The permission templates.
    pub fn token_templates(&self) -> Vec<api::TokenTemplate> {
        hoody_api::tokens::TEMPLATES
            .iter()
            .filter_map(|(name, description)| {
                Some(api::TokenTemplate {
                    name: name.to_string(),
                    description: description.to_string(),
                    permissions: Permissions::template(name)?,
                })
            })
            .collect()
    }

    /// Sets the calling token's public profile.
    pub fn update_public_profile(
        &self,
        req: api::UpdatePublicProfile,
        by: &Caller,
    ) -> Result<api::Token> {
        let Some(t) = &by.token else {
            return Err(ApiError::new(400, "NO_TOKEN", "root has no public profile").into());
        };
        self.update_token(
            &t.id.clone(),
            api::UpdateToken {
                public_key: req.public_key,
                public_storage: req.public_storage,
                ..Default::default()
            },
            by,
        )
    }

    /// The public profile published under an ED25519 key.
    pub fn public_profile(&self, key: &str) -> Result<api::PublicProfile> {
        let key = key.to_ascii_lowercase();
        let found = self
            .store()
            .read()
            .tokens()?
            .into_iter()
            .find(|t| t.public_key.as_deref() == Some(key.as_str()));
        match found {
            Some(t) => Ok(api::PublicProfile {
                public_key: key,
                public_storage: t.public_storage,
            }),
            None => Err(ApiError::not_found("public profile", &key).into()),
        }
    }

    /// A token `by` may manage, with its hash; 404 for one it may not see.
    fn token_for(&self, id: &str, by: &Caller) -> Result<(api::Token, String)> {
        match self.store().read().token(id)? {
            Some((t, hash)) if owns(by, &t) => Ok((t, hash)),
            _ => Err(ApiError::not_found("token", id).into()),
        }
    }
}

/// Whether `by` may see and manage `t`: root any; a token itself and those it made.
fn owns(by: &Caller, t: &api::Token) -> bool {
    by.token.as_ref().is_none_or(|me: &Arc<api::Token>| {
        me.id == t.id || t.created_by_token_id.as_deref() == Some(me.id.as_str())
    })
}

/// Realms of a token `by` makes: within `by`'s, and never usable on the bare host when `by`
/// is not.
fn child_realms(
    by: &Caller,
    realms: Vec<String>,
    allow_no_realm: Option<bool>,
) -> Result<(Vec<String>, bool)> {
    check_realms(&realms)?;
    if realms.len() > 500 {
        return Err(ApiError::validation("realm_ids", "at most 500 realms").into());
    }
    let Some(me) = &by.token else {
        return Ok((realms, allow_no_realm.unwrap_or(true)));
    };
    let realms = if me.realm_ids.is_empty() {
        realms
    } else if realms.is_empty() {
        me.realm_ids.clone()
    } else if let Some(r) = realms.iter().find(|r| !me.realm_ids.contains(r)) {
        return Err(ApiError::new(
            403,
            "REALM_NOT_ALLOWED",
            format!("token {} may not grant realm {r}", me.id),
        )
        .into());
    } else {
        realms
    };
    Ok((realms, allow_no_realm.unwrap_or(true) && me.allow_no_realm))
}

/// An `expires_at` as seconds since the epoch; in the past is 422.
fn expiry(e: &Expiry) -> Result<i64> {
    let now_s = hoody_sys::time::now_secs();
    let end_of_day = |days: i64| (now_s.div_euclid(86_400) + days + 1) * 86_400 - 1;
    let at = match e {
        Expiry::Unix(s) => Some(*s),
        Expiry::Text(t) if t == "today" => Some(end_of_day(0)),
        Expiry::Text(t) if t == "tomorrow" => Some(end_of_day(1)),
        Expiry::Text(t) => t
            .parse::<i64>()
            .ok()
            .or_else(|| hoody_sys::time::parse_rfc3339(t)),
    };
    match at {
        Some(s) if s > now_s => Ok(s),
        Some(_) => Err(ApiError::validation("expires_at", "is in the past").into()),
        None => Err(ApiError::validation(
            "expires_at",
            format!("{e:?} is not a time (RFC 3339, a Unix time, \"today\" or \"tomorrow\")"),
        )
        .into()),
    }
}

fn check_token_alias(a: &str) -> Result<()> {
    if a.is_empty()
        || a.len() > 254
        || !a
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'-'))
    {
        return Err(ApiError::validation(
            "alias",
            "must be 1 to 254 of letters, digits, ' ', '_' and '-'",
        )
        .into());
    }
    Ok(())
}

/// A public key (64 hex digits, kept lower-case) and its storage (at most 64 KiB of JSON,
/// only with a key).
fn check_profile(
    key: Option<String>,
    storage: Option<serde_json::Value>,
) -> Result<(Option<String>, Option<serde_json::Value>)> {
    let key = key.map(|k| k.to_ascii_lowercase());
    if let Some(k) = &key
        && (k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(ApiError::validation(
            "public_key",
            "must be an ED25519 public key: 64 hex digits",
        )
        .into());
    }
    if let Some(s) = &storage {
        if key.is_none() {
            return Err(ApiError::validation("public_storage", "needs a public_key").into());
        }
        if serde_json::to_vec(s).map_or(0, |v| v.len()) > 64 * 1024 {
            return Err(ApiError::validation("public_storage", "is larger than 64 KiB").into());
        }
    }
    Ok((key, storage))
}

/// 409 when another token publishes `key`.
fn unique_key(tx: &store::Tx<'_>, key: &str, id: &str) -> Result<()> {
    if tx
        .tokens()?
        .iter()
        .any(|t| t.id != id && t.public_key.as_deref() == Some(key))
    {
        return Err(ApiError::conflict(
            "PUBLIC_KEY_TAKEN",
            format!("another token already publishes the public key {key}"),
        )
        .into());
    }
    Ok(())
}

/// `clever-dolphin`: the alias of a token created without one.
fn random_alias() -> Result<String> {
    const ADJECTIVES: &[&str] = &[
        "clever", "brave", "calm", "eager", "gentle", "happy", "keen", "lively", "nimble", "proud",
        "quick", "quiet", "sharp", "steady", "swift", "witty",
    ];
    const ANIMALS: &[&str] = &[
        "dolphin", "otter", "falcon", "badger", "heron", "lynx", "marten", "osprey", "panda",
        "raven", "salmon", "tapir", "walrus", "wombat", "yak", "zebra",
    ];
    let b: [u8; 2] = random_bytes()?;
    Ok(format!(
        "{}-{}",
        ADJECTIVES[b[0] as usize % ADJECTIVES.len()],
        ANIMALS[b[1] as usize % ANIMALS.len()]
    ))
}

pub(crate) fn hash_token(secret: &str) -> String {
    sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
