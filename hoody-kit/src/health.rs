//! The health body most Kit services share (reference §3): `{status:"ok", service, built,
//! started, memory, fds, pid, ip, userAgent}`, unauthenticated and always 200 while the
//! process serves.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::Context;

/// The standard 9-field health body of `service`, for a request with `headers`.
pub fn body(ctx: &Context, service: &str, headers: &HeaderMap) -> Value {
    json!({
        "status": "ok",
        "service": service,
        "built": crate::BUILT,
        "started": rfc3339(ctx.started()),
        "uptime": ctx.uptime_secs(),
        "memory": { "rss_bytes": rss_bytes(), "rss_peak_bytes": rss_peak_bytes() },
        "fds": { "open": open_fds(), "limit": fd_limit() },
        "pid": std::process::id(),
        "ip": primary_ip(),
        "userAgent": headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or(""),
    })
}

/// This process's resident set size in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> u64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * u64::try_from(page).unwrap_or(4096)
}

/// This process's peak resident set size in bytes (`VmHWM` of `/proc/self/status`).
pub fn rss_peak_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

fn fd_limit() -> u64 {
    hoody_sys::process::nofile_limit().map_or(0, |(soft, _)| soft)
}

/// The first non-loopback IPv4 address of this network namespace (`""` when none).
pub fn primary_ip() -> String {
    // /proc/net/fib_trie lists "|-- a.b.c.d" followed by "/32 host LOCAL" for local addresses.
    let Ok(trie) = std::fs::read_to_string("/proc/net/fib_trie") else {
        return String::new();
    };
    let mut last = "";
    for line in trie.lines() {
        let t = line.trim_start();
        if let Some(ip) = t.strip_prefix("|-- ") {
            last = ip;
        } else if t.starts_with("/32 host LOCAL") && !last.starts_with("127.") {
            return last.to_string();
        }
    }
    String::new()
}

/// `t` as RFC 3339 in UTC with milliseconds (`2026-12-01T10:20:34.123Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_796_120_434_123);
        assert_eq!(rfc3339(t), "2026-12-01T10:20:34.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn rss_is_nonzero() {
        assert!(rss_bytes() > 0);
    }
}
