//! API tokens: created with a secret shown once, stored hashed (SHA-256), checked on every TCP
//! or proxied request.

use super::*;

impl Host {
    /// Creates an API token; its secret is in the result and nowhere else (only its SHA-256
    /// is stored).
    pub fn create_token(&self, req: api::CreateToken) -> Result<api::CreatedToken> {
        if req.alias.is_empty()
            || req.alias.len() > 254
            || !req
                .alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'-'))
        {
            return Err(ApiError::validation(
                "alias",
                "must be 1 to 254 of letters, digits, ' ', '_' and '-'",
            )
            .into());
        }
        let raw: [u8; 24] = random_bytes()?;
        let secret = format!("hdy_{}", hoody_sys::random::to_hex(&raw));
        let created = hoody_sys::time::now_secs();
        let info = api::Token {
            id: new_id()?,
            alias: req.alias,
            prefix: secret[..12].to_string(),
            created_at: now(),
            expires_at: req
                .expires_in_days
                .map(|d| hoody_sys::time::rfc3339(created + d as i64 * 86_400)),
            last_used_at: None,
        };
        self.store()
            .tx(|tx| Ok(tx.put_token(&info, &hash_token(&secret))?))?;
        Ok(api::CreatedToken {
            token: secret,
            info,
        })
    }

    /// Every token (without secrets).
    pub fn list_tokens(&self) -> Result<api::TokenList> {
        Ok(api::TokenList {
            tokens: self.store().read().tokens()?,
        })
    }

    /// Revokes a token.
    pub fn delete_token(&self, id: &str) -> Result<()> {
        api::id::check("token", id)?;
        if self.store().tx(|tx| Ok(tx.delete_token(id)?))? {
            Ok(())
        } else {
            Err(ApiError::not_found("token", id).into())
        }
    }

    /// Checks a bearer secret: the token, or 401 `INVALID_TOKEN` / `TOKEN_EXPIRED`.
    pub fn verify_token(&self, secret: &str) -> Result<api::Token> {
        let hash = hash_token(secret);
        let mut store = self.store();
        let Some(mut t) = store.read().token_by_hash(&hash)? else {
            return Err(ApiError::new(401, "INVALID_TOKEN", "the token is not valid").into());
        };
        if let Some(exp) = &t.expires_at
            && exp.as_str() <= now().as_str()
        {
            return Err(ApiError::new(401, "TOKEN_EXPIRED", "the token has expired").into());
        }
        // Recorded at most once a minute: not a write per request.
        let stamp = now();
        if t.last_used_at
            .as_ref()
            .is_none_or(|l| l[..16] != stamp[..16])
        {
            t.last_used_at = Some(stamp);
            store.tx(|tx| Ok(tx.put_token(&t, &hash)?))?;
        }
        Ok(t)
    }
}

pub(crate) fn hash_token(secret: &str) -> String {
    sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
