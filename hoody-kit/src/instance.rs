//! Which instance of a service a request is for: `terminal-2` → `2`, from the header
//! hoody-proxy sets ([`crate::ports::INSTANCE_HEADER`]); absent means instance `1` (a client
//! talking to the Kit directly).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::ApiError;
use crate::ports::INSTANCE_HEADER;

/// A validated instance name: 1 to 64 of `[A-Za-z0-9_-]` (`1`, `2`, `test`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Instance(String);

impl Instance {
    /// `s` if it is a valid instance name.
    pub fn parse(s: &str) -> Result<Instance, ApiError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Instance(s.to_string()))
        } else {
            Err(ApiError::validation(format!(
                "invalid instance {s:?} in {INSTANCE_HEADER}: 1 to 64 of [A-Za-z0-9_-]"
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its number, when it is one (`terminal-2` → 2).
    pub fn number(&self) -> Option<u32> {
        self.0.parse().ok()
    }
}

impl Default for Instance {
    fn default() -> Self {
        Instance("1".to_string())
    }
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Instance {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(INSTANCE_HEADER) {
            None => Ok(Instance::default()),
            Some(v) => Instance::parse(
                v.to_str()
                    .map_err(|_| ApiError::validation(format!("{INSTANCE_HEADER} is not ASCII")))?,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names() {
        assert_eq!(Instance::parse("2").unwrap().number(), Some(2));
        assert_eq!(Instance::parse("test").unwrap().number(), None);
        assert!(Instance::parse("").is_err());
        assert!(Instance::parse("../x").is_err());
        assert!(Instance::parse(&"a".repeat(65)).is_err());
        assert_eq!(Instance::default().as_str(), "1");
    }
}
