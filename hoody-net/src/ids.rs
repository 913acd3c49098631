//! Names and MAC addresses derived from a container id, stable across restarts.
//!
//! The short id is 12 hex digits of a 64-bit FNV-1a hash of the container id: it fits an
//! interface name (`hv` + 12 = 14 of the 15 bytes Linux allows) whatever the id looks like,
//! and the same container always gets the same interface name and MAC addresses.

/// Returns `true` when `id` can be used as a container id (the same rule as hoody-core's).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// 12 hex digits identifying `id`.
pub fn short_id(id: &str) -> String {
    format!("{:012x}", fnv1a(id.as_bytes()) & 0xffff_ffff_ffff)
}

/// The host-side interface name for `id`: `<prefix><short id>`, truncated to 15 bytes.
pub fn host_ifname(prefix: &str, id: &str) -> String {
    let mut n = format!("{prefix}{}", short_id(id));
    n.truncate(15);
    n
}

/// A locally administered unicast MAC derived from `id`; `side` (0 container, 1 host)
/// makes the two ends differ.
pub fn mac(id: &str, side: u8) -> [u8; 6] {
    let h = fnv1a(id.as_bytes()).to_be_bytes();
    // 0x02: locally administered, unicast; bit 2 tells the ends apart.
    [0x02 | (side << 2), h[3], h[4], h[5], h[6], h[7]]
}

/// A random 12-hex-digit token from the kernel's random source.
pub fn random_token() -> String {
    // A token only has to differ from its neighbours' (interface and namespace names): if the
    // kernel refuses random bytes, time and pid do.
    let buf: [u8; 6] = hoody_sys::random::bytes().unwrap_or_else(|_| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let mut b = [0u8; 6];
        b.copy_from_slice(&(t ^ u64::from(std::process::id())).to_le_bytes()[..6]);
        b
    });
    hoody_sys::random::to_hex(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_are_stable_and_short() {
        assert_eq!(short_id("abc"), short_id("abc"));
        assert_ne!(short_id("abc"), short_id("abd"));
        assert_eq!(host_ifname("hv", "x").len(), 14);
        assert!(host_ifname("hvz", "x").len() <= 15);
        let (c, h) = (mac("x", 0), mac("x", 1));
        assert_ne!(c, h);
        assert_eq!(c[0] & 0x03, 0x02);
        assert_eq!(h[0] & 0x03, 0x02);
        assert!(valid_id("hoody-0123"));
        assert!(!valid_id("a/b"));
    }
}
