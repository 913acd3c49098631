//! Checks and normalisations of request fields, and list paging.

use super::*;

/// Normalises `#RGB` / `#RRGGBB` (the `#` optional) to `#RRGGBB`; random when absent.
pub(crate) fn color(c: Option<&str>) -> Result<String> {
    let Some(c) = c else {
        let b: [u8; 3] = random_bytes()?;
        return Ok(format!("#{:02X}{:02X}{:02X}", b[0], b[1], b[2]));
    };
    let h = c.strip_prefix('#').unwrap_or(c);
    if !h.bytes().all(|b| b.is_ascii_hexdigit()) || !(h.len() == 3 || h.len() == 6) {
        return Err(ApiError::validation(
            "color",
            format!("{c:?} is not a color (#RGB or #RRGGBB)"),
        )
        .into());
    }
    let h = h.to_ascii_uppercase();
    Ok(if h.len() == 3 {
        let b = h.as_bytes();
        format!(
            "#{0}{0}{1}{1}{2}{2}",
            b[0] as char, b[1] as char, b[2] as char
        )
    } else {
        format!("#{h}")
    })
}

pub(crate) fn check_name(field: &str, name: &str, min: usize) -> Result<()> {
    if name.len() < min || name.len() > 100 {
        return Err(ApiError::validation(
            field,
            format!("{name:?} must be {min} to 100 characters"),
        )
        .into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::validation(
            field,
            format!("{name:?} may only contain letters, digits, '-' and '_'"),
        )
        .into());
    }
    Ok(())
}

/// The realms a list keeps to: the caller's (through a realm-scoped host) and the query's
/// `realm_id`.
pub(crate) fn realm_filter<'a>(caller: &'a Caller, q: &'a api::ListQuery) -> Result<Vec<&'a str>> {
    let mut realms = Vec::new();
    if let Some(r) = &q.realm_id {
        if !api::id::is_valid(r) {
            return Err(ApiError::validation(
                "realm_id",
                format!("{r:?} is not a realm id (24 lowercase hex digits)"),
            )
            .into());
        }
        realms.push(r.as_str());
    }
    if let Some(r) = &caller.realm
        && !realms.contains(&r.as_str())
    {
        realms.push(r.as_str());
    }
    Ok(realms)
}

pub(crate) fn check_realms(ids: &[String]) -> Result<()> {
    for r in ids {
        if !api::id::is_valid(r) {
            return Err(ApiError::validation(
                "realm_ids",
                format!("{r:?} is not a realm id (24 lowercase hex digits)"),
            )
            .into());
        }
    }
    Ok(())
}

/// Checks resource limits: at least 32 MiB of memory, 0.01 to 1024 CPUs, at least 16
/// processes (below these a Debian with systemd does not boot).
pub(crate) fn check_limits(l: &api::Limits) -> Result<()> {
    if let Some(m) = l.memory
        && m < 32 << 20
    {
        return Err(ApiError::validation(
            "limits/memory",
            format!("{m} bytes is below the 32 MiB a container needs to boot"),
        )
        .into());
    }
    if let Some(c) = l.cpus
        && !(0.01..=1024.0).contains(&c)
    {
        return Err(ApiError::validation("limits/cpus", format!("{c}: from 0.01 to 1024")).into());
    }
    if let Some(p) = l.pids
        && p < 16
    {
        return Err(ApiError::validation(
            "limits/pids",
            format!("{p}: at least 16 (systemd and the Kit need a few)"),
        )
        .into());
    }
    Ok(())
}

/// Checks one environment variable (reference §1.7).
pub fn check_env_var(key: &str, value: &str) -> Result<()> {
    let mut chars = key.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(ApiError::new(
            400,
            "INVALID_ENV_KEY",
            format!("environment variable name {key:?} must match ^[a-zA-Z_][a-zA-Z0-9_]*$"),
        )
        .into());
    }
    if key.starts_with("HOODY_") {
        return Err(ApiError::new(
            400,
            "RESERVED_ENV_PREFIX",
            format!("environment variable {key:?}: names starting with HOODY_ are reserved"),
        )
        .into());
    }
    if value.len() > 65_536 {
        return Err(ApiError::validation(
            "environment_vars",
            format!("the value of {key} is longer than 65,536 characters"),
        )
        .into());
    }
    Ok(())
}

pub(crate) fn check_env(env: &BTreeMap<String, String>) -> Result<()> {
    if env.len() > 200 {
        return Err(ApiError::validation(
            "environment_vars",
            format!("{} variables; at most 200 per request", env.len()),
        )
        .into());
    }
    env.iter().try_for_each(|(k, v)| check_env_var(k, v))
}

/// Normalises an image name: Hoody's shorthands for Debian 13 become the pool's `debian-13`.
pub fn image_name(s: &str) -> String {
    match s.trim() {
        "debian" | "debian-13" | "debian:13" | "debian 13" | "debian/13" | "trixie" => {
            DEFAULT_IMAGE.to_string()
        }
        other => other.to_string(),
    }
}

pub(crate) struct Paging {
    pub(crate) limit: u64,
    pub(crate) page: u64,
    pub(crate) sort: &'static str,
    pub(crate) order: Order,
}

pub(crate) fn paging(
    q: &api::ListQuery,
    default_limit: u64,
    sorts: &[&'static str],
    default_sort: &'static str,
    default_order: Order,
) -> Result<Paging> {
    let page = q.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::validation("page", "pages count from 1").into());
    }
    let limit = q.limit.unwrap_or(default_limit);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit", "must be 1 to 100").into());
    }
    let sort = match &q.sort_by {
        None => default_sort,
        Some(s) => sorts.iter().copied().find(|x| x == s).ok_or_else(|| {
            ApiError::validation(
                "sort_by",
                format!("{s:?} is not one of {}", sorts.join(", ")),
            )
        })?,
    };
    let order = match q.sort_order.as_deref() {
        None => default_order,
        Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(o) => {
            return Err(
                ApiError::validation("sort_order", format!("{o:?} is not asc or desc")).into(),
            );
        }
    };
    Ok(Paging {
        limit,
        page,
        sort,
        order,
    })
}

pub(crate) fn pagination(p: &Paging, total: u64) -> api::Pagination {
    api::Pagination {
        total,
        page: p.page,
        limit: p.limit,
        total_pages: total.div_ceil(p.limit),
    }
}

pub(crate) fn default_server_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let label: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let label = label.trim_matches('-').to_string();
    if label.is_empty() {
        "node-1".into()
    } else {
        label
    }
}

/// Whether `s` is a DNS label (1–63 of `[a-z0-9-]`, not starting or ending with `-`).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub(crate) fn check_alias(alias: &str) -> Result<()> {
    if alias.trim().is_empty() || alias.chars().count() > 100 {
        return Err(ApiError::validation("alias", "must be 1 to 100 characters").into());
    }
    Ok(())
}
