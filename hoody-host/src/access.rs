//! Who is asking, and what they may see: the [`Caller`] of a request.
//!
//! A caller is the server's root (the unix socket, or an embedder calling [`Host`] directly),
//! or an API token that [`Host::verify_token`] accepted. Either may come through a realm: a
//! request to `{realm}.api.{domain}` ([`realm_of_host`]) sees only projects and containers
//! whose `realm_ids` hold that realm (the others do not exist for it: 404, never 403), and
//! what it creates gets the realm added (reference §5.5).
//!
//! A token is refused before any route runs when it is unknown (401 `INVALID_TOKEN`),
//! disabled (401 `TOKEN_DISABLED`), expired (401 `TOKEN_EXPIRED`), used from an address its
//! `ip_whitelist` does not list (403 `IP_NOT_ALLOWED`), on the bare host when it needs a realm
//! (403 `REALM_SCOPE_REQUIRED`), or on a realm it does not list (403 `REALM_NOT_ALLOWED`).
//! Which permission each route needs is [`crate::authz`]'s table.

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use hoody_api::tokens::{Perm, Permissions};

use super::*;

static FULL: LazyLock<Permissions> = LazyLock::new(Permissions::full_access);

/// The identity a request runs as.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The token (`None`: root).
    pub token: Option<Arc<api::Token>>,
    /// The realm of the request's host, if it is realm-scoped.
    pub realm: Option<String>,
    /// Projects granted to the token (project permissions, reference §5.5): they add to its
    /// own permissions, for those projects only.
    pub grants: Vec<(String, api::PermissionLevel)>,
}

impl Caller {
    /// The server's root: every permission, every realm.
    pub fn root() -> Self {
        Caller::default()
    }

    /// Root seen through `realm` (requests to `{realm}.api.{domain}` on the unix socket).
    pub fn root_in(realm: Option<String>) -> Self {
        Caller {
            realm,
            ..Caller::default()
        }
    }

    /// Whether this is root.
    pub fn is_root(&self) -> bool {
        self.token.is_none()
    }

    /// What it may do.
    pub fn permissions(&self) -> &Permissions {
        self.token.as_ref().map_or(&FULL, |t| &t.permissions)
    }

    /// 403 `INSUFFICIENT_PERMISSIONS` unless it holds `p`.
    pub fn require(&self, p: Perm) -> Result<(), ApiError> {
        if p.granted(self.permissions()) {
            Ok(())
        } else {
            Err(ApiError::new(
                403,
                "INSUFFICIENT_PERMISSIONS",
                format!(
                    "token {} lacks the permission {}",
                    self.token.as_ref().map_or("root", |t| t.id.as_str()),
                    p.name
                ),
            ))
        }
    }

    /// Whether its grant on `project` (if any) allows `p`.
    pub fn granted_on(&self, project: &str, p: Perm) -> bool {
        self.grants
            .iter()
            .any(|(id, level)| id == project && level_covers(*level, p))
    }

    /// The projects a list needing `p` keeps to: `None` when its own permissions allow `p`
    /// everywhere, else those its grants allow `p` in.
    pub fn list_limit(&self, p: Perm) -> Option<Vec<&str>> {
        if p.granted(self.permissions()) {
            return None;
        }
        Some(
            self.grants
                .iter()
                .filter(|(_, l)| level_covers(*l, p))
                .map(|(id, _)| id.as_str())
                .collect(),
        )
    }

    /// Whether a resource carrying `realm_ids` exists for it.
    pub fn sees(&self, realm_ids: &[String]) -> bool {
        self.realm.as_ref().is_none_or(|r| realm_ids.contains(r))
    }

    /// Adds its realm to the `realm_ids` of something it creates.
    pub fn tag(&self, realm_ids: &mut Option<Vec<String>>) {
        if let Some(r) = &self.realm {
            let ids = realm_ids.get_or_insert_with(Vec::new);
            if !ids.contains(r) {
                ids.push(r.clone());
            }
        }
    }

    /// The features of a container create as this caller may have them: `hoody_kit` and `ai`
    /// default to what its token grants; asking for a feature it lacks is 403.
    pub fn check_features(&self, req: &mut api::CreateContainer) -> Result<(), ApiError> {
        use hoody_api::tokens::perm;
        if self.is_root() {
            return Ok(());
        }
        for (asked, p) in [
            (&mut req.hoody_kit, perm::FEATURE_HOODY_KIT),
            (&mut req.ai, perm::FEATURE_AI),
        ] {
            match asked {
                Some(true) => self.require(p)?,
                Some(false) => {}
                None => *asked = Some(p.granted(self.permissions())),
            }
        }
        if req.kvm == Some(true) || req.dev_kvm == Some(true) {
            self.require(perm::FEATURE_KVM)?;
        }
        Ok(())
    }
}

/// Whether a project permission of `level` allows `p` in its project.
pub fn level_covers(level: api::PermissionLevel, p: Perm) -> bool {
    use hoody_api::tokens::perm;
    const READ: &[Perm] = &[
        perm::CONTAINERS_READ,
        perm::PROJECTS_READ,
        perm::CONTAINERS_LOGS,
    ];
    const EDIT: &[Perm] = &[
        perm::CONTAINERS_CREATE,
        perm::CONTAINERS_UPDATE,
        perm::CONTAINERS_START,
        perm::CONTAINERS_STOP,
        perm::CONTAINERS_RESTART,
        perm::CONTAINERS_EXEC,
        perm::FEATURE_SNAPSHOTS,
        perm::PROJECTS_UPDATE,
        perm::FIREWALLS,
    ];
    const DELETE: &[Perm] = &[perm::CONTAINERS_DELETE];
    let within = |set: &[Perm]| set.iter().any(|q| q.name == p.name);
    match level {
        api::PermissionLevel::Read => within(READ),
        api::PermissionLevel::Edit => within(READ) || within(EDIT),
        api::PermissionLevel::Delete => within(READ) || within(EDIT) || within(DELETE),
    }
}

/// The realm a `Host` header addresses: its first label when that is 24 lowercase hex digits
/// followed by `api.` (`507f1f77bcf86cd799439011.api.example.com`). Anything else is the bare
/// host (reference §5.5: such labels are silently unscoped).
pub fn realm_of_host(host: &str) -> Option<String> {
    let (first, rest) = host.split_once('.')?;
    (api::id::is_valid(first) && rest.starts_with("api.")).then(|| first.to_string())
}

/// Whether `ip` is allowed by one `ip_whitelist` entry: `*`, an address, or a CIDR range.
pub(crate) fn ip_matches(entry: &str, ip: IpAddr) -> bool {
    if entry == "*" {
        return true;
    }
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, b.parse::<u32>().ok()),
        None => (entry, None),
    };
    let Ok(net) = addr.parse::<IpAddr>() else {
        return false;
    };
    // An IPv4 client seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4 address.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let bits = bits.unwrap_or(32);
            bits <= 32 && mask(u32::from(n).into(), u32::from(i).into(), bits, 32)
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let bits = bits.unwrap_or(128);
            bits <= 128 && mask(u128::from(n), u128::from(i), bits, 128)
        }
        _ => false,
    }
}

fn mask(net: u128, ip: u128, bits: u32, width: u32) -> bool {
    if bits == 0 {
        return true;
    }
    let shift = width - bits;
    (net >> shift) == (ip >> shift)
}

/// Checks an `ip_whitelist` as given: `*`, addresses and CIDR ranges, at most 1000.
pub(crate) fn check_ip_list(list: &api::IpList) -> Result<Vec<String>> {
    let entries = list.entries();
    if entries.len() > 1000 {
        return Err(ApiError::new(
            400,
            "IP_WHITELIST_TOO_LARGE",
            format!("ip_whitelist has {} entries; at most 1000", entries.len()),
        )
        .into());
    }
    for e in &entries {
        let (addr, bits) = match e.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (e.as_str(), None),
        };
        let ok = e == "*"
            || addr.parse::<IpAddr>().is_ok_and(|a| {
                let width = if a.is_ipv4() { 32 } else { 128 };
                bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|b| b <= width))
            });
        if !ok {
            return Err(ApiError::validation(
                "ip_whitelist",
                format!("{e:?} is not an IP address, a CIDR range or \"*\""),
            )
            .into());
        }
    }
    Ok(if entries.is_empty() {
        vec!["*".to_string()]
    } else {
        entries
    })
}

impl Host {
    /// Checks a bearer secret used from `ip` on `realm`'s host, and returns the caller it
    /// makes (see the module docs for every refusal).
    pub fn verify_token(
        &self,
        secret: &str,
        realm: Option<String>,
        ip: Option<IpAddr>,
    ) -> Result<Caller> {
        let hash = crate::tokens::hash_token(secret);
        let mut store = self.store();
        let Some(mut t) = store.read().token_by_hash(&hash)? else {
            return Err(ApiError::new(401, "INVALID_TOKEN", "the token is not valid").into());
        };
        if !t.is_enabled {
            return Err(ApiError::new(
                401,
                "TOKEN_DISABLED",
                format!("token {} is disabled", t.id),
            )
            .into());
        }
        if let Some(exp) = &t.expires_at
            && hoody_sys::time::parse_rfc3339(exp).is_none_or(|e| e <= hoody_sys::time::now_secs())
        {
            return Err(ApiError::new(
                401,
                "TOKEN_EXPIRED",
                format!("token {} expired at {exp}", t.id),
            )
            .into());
        }
        if !t.ip_whitelist.iter().any(|e| e == "*")
            && !ip.is_some_and(|ip| t.ip_whitelist.iter().any(|e| ip_matches(e, ip)))
        {
            return Err(ApiError::new(
                403,
                "IP_NOT_ALLOWED",
                format!(
                    "token {} may not be used from {}",
                    t.id,
                    ip.map_or("an unknown address".to_string(), |i| i.to_string())
                ),
            )
            .into());
        }
        match &realm {
            None if !t.allow_no_realm => {
                return Err(ApiError::new(
                    403,
                    "REALM_SCOPE_REQUIRED",
                    format!(
                        "token {} requires a realm-scoped URL ({{realm}}.api.{{domain}})",
                        t.id
                    ),
                )
                .into());
            }
            Some(r) if !t.realm_ids.is_empty() && !t.realm_ids.contains(r) => {
                return Err(ApiError::new(
                    403,
                    "REALM_NOT_ALLOWED",
                    format!("token {} may not be used on realm {r}", t.id),
                )
                .into());
            }
            _ => {}
        }
        // Recorded at most once a minute (or when the address changes): not a write per
        // request.
        let stamp = now();
        let ip_text = ip.map(|i| i.to_string());
        if t.last_used_at
            .as_ref()
            .is_none_or(|l| l.get(..16) != stamp.get(..16))
            || t.last_used_ip != ip_text
        {
            t.last_used_at = Some(stamp);
            t.last_used_ip = ip_text;
            store.tx(|tx| Ok(tx.put_token(&t, &hash)?))?;
        }
        let grants = store
            .read()
            .project_permissions(None, Some(&t.id))?
            .into_iter()
            .map(|g| (g.project_id, g.permission_level))
            .collect();
        Ok(Caller {
            token: Some(Arc::new(t)),
            realm,
            grants,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realms_from_hosts() {
        assert_eq!(
            realm_of_host("507f1f77bcf86cd799439011.api.hoody.test").as_deref(),
            Some("507f1f77bcf86cd799439011")
        );
        assert_eq!(realm_of_host("api.hoody.test"), None);
        assert_eq!(
            realm_of_host("507F1F77BCF86CD799439011.api.hoody.test"),
            None
        );
        assert_eq!(
            realm_of_host("507f1f77bcf86cd799439011.web.hoody.test"),
            None
        );
        assert_eq!(realm_of_host("localhost"), None);
    }

    #[test]
    fn ip_lists() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(ip_matches("*", ip("192.0.2.7")));
        assert!(ip_matches("192.0.2.0/24", ip("192.0.2.7")));
        assert!(ip_matches("192.0.2.0/24", ip("::ffff:192.0.2.7")));
        assert!(!ip_matches("192.0.2.0/24", ip("192.0.3.7")));
        assert!(ip_matches("192.0.2.7", ip("192.0.2.7")));
        assert!(!ip_matches("192.0.2.7", ip("192.0.2.8")));
        assert!(ip_matches("0.0.0.0/0", ip("203.0.113.1")));
        assert!(ip_matches("fd00::/8", ip("fd12::1")));
        assert!(!ip_matches("bogus", ip("192.0.2.7")));
        let ok = check_ip_list(&api::IpList::Text("10.0.0.0/8, 192.0.2.1".into())).unwrap();
        assert_eq!(ok, ["10.0.0.0/8", "192.0.2.1"]);
        assert!(check_ip_list(&api::IpList::Text("10.0.0.0/33".into())).is_err());
        assert!(check_ip_list(&api::IpList::List(vec!["example.com".into()])).is_err());
    }
}
