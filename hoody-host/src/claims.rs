//! Container authorization claims (reference §1.9): `POST /api/v1/containers/{id}/authorize`
//! mints a one-hour claim signed with the server's Ed25519 key, which anyone can verify offline
//! with the key `GET /api/v1/meta/public-key` publishes by `kid`.
//!
//! The key is made on first use and kept beside the state database (`signing-ed25519.pk8`,
//! PKCS#8, mode 0600), so claims stay verifiable across restarts. `kid` is the first 16 hex
//! digits of the SHA-256 of the public key. The payload is JSON: `{kid, container_id,
//! project_id, server_id, iat, exp}`; the signature covers the payload's bytes exactly as
//! `payload_b64` carries them.

use std::path::{Path, PathBuf};

use base64::Engine;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sha2::{Digest, Sha256};

use crate::HostError;

/// How long a claim is valid, seconds.
pub const CLAIM_TTL_SECS: u64 = 3600;

/// The server's signing key.
#[derive(Debug)]
pub struct SigningKey {
    pair: Ed25519KeyPair,
    kid: String,
}

impl SigningKey {
    /// The key in `dir` (made there if missing).
    pub fn open(dir: &Path) -> Result<Self, HostError> {
        let path: PathBuf = dir.join("signing-ed25519.pk8");
        let pkcs8 = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let rng = ring::rand::SystemRandom::new();
                let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| {
                    HostError::io(
                        "generate the signing key",
                        std::io::Error::other("ring refused"),
                    )
                })?;
                write_private(&path, doc.as_ref())?;
                doc.as_ref().to_vec()
            }
            Err(e) => return Err(HostError::io(format!("read {}", path.display()), e)),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| {
            HostError::io(
                format!("load the signing key {}", path.display()),
                std::io::Error::other(e.to_string()),
            )
        })?;
        let kid = hex(&Sha256::digest(pair.public_key().as_ref())[..8]);
        Ok(SigningKey { pair, kid })
    }

    /// The key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `GET /api/v1/meta/public-key`'s body.
    pub fn public_keys(&self) -> serde_json::Value {
        let public = self.pair.public_key().as_ref();
        serde_json::json!({
            "keys": [{
                "kid": self.kid,
                "alg": "EdDSA",
                "crv": "Ed25519",
                "public_key_hex": hex(public),
                "public_key_b64": base64::engine::general_purpose::STANDARD.encode(public),
            }]
        })
    }

    /// A claim for container `container` of `project` on `server`, issued at `now` (Unix
    /// seconds).
    pub fn claim(
        &self,
        container: &str,
        project: &str,
        server: &str,
        now: u64,
    ) -> serde_json::Value {
        let payload = serde_json::json!({
            "kid": self.kid,
            "container_id": container,
            "project_id": project,
            "server_id": server,
            "iat": now,
            "exp": now + CLAIM_TTL_SECS,
        })
        .to_string();
        let sig = self.pair.sign(payload.as_bytes());
        serde_json::json!({
            "container_claim": {
                "kid": self.kid,
                "payload_b64": base64::engine::general_purpose::STANDARD.encode(payload.as_bytes()),
                "signature_hex": hex(sig.as_ref()),
            },
            "expires_in": CLAIM_TTL_SECS,
            "container_id": container,
            "project_id": project,
        })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("create {}", dir.display()), e))?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| HostError::io(format!("create {}", tmp.display()), e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| HostError::io(format!("write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| HostError::io(format!("rename to {}", path.display()), e))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn claims_verify_with_the_published_key_and_the_key_persists() {
        let dir = tempfile::tempdir().unwrap();
        let k = SigningKey::open(dir.path()).unwrap();
        let c = k.claim("c1", "p1", "s1", 1000);
        let keys = k.public_keys();
        let public = keys["keys"][0]["public_key_b64"].as_str().unwrap();
        let public = base64::engine::general_purpose::STANDARD
            .decode(public)
            .unwrap();
        let payload = base64::engine::general_purpose::STANDARD
            .decode(c["container_claim"]["payload_b64"].as_str().unwrap())
            .unwrap();
        let sig_hex = c["container_claim"]["signature_hex"].as_str().unwrap();
        let sig: Vec<u8> = (0..sig_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&sig_hex[i..i + 2], 16).unwrap())
            .collect();
        let key = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public);
        key.verify(&payload, &sig).unwrap();
        let p: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(p["exp"], 1000 + CLAIM_TTL_SECS);
        assert!(key.verify(b"tampered", &sig).is_err());
        // Reopened: the same key.
        assert_eq!(SigningKey::open(dir.path()).unwrap().kid(), k.kid());
    }
}
