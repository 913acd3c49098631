//! Resource ids: 24 lowercase hex digits, like Hoody's (Mongo ObjectId-shaped): the first 8
//! digits are the creation time in seconds, the other 16 are random, so ids sort roughly by
//! creation and never collide in practice.

use crate::ApiError;

/// A new id. Fails only when the kernel refuses random bytes.
pub fn new_id() -> std::io::Result<String> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as u32;
    let rnd: [u8; 8] = hoody_sys::random::bytes()?;
    Ok(format!("{secs:08x}{}", hoody_sys::random::to_hex(&rnd)))
}

/// Whether `s` is a well-formed id.
pub fn is_valid(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `Ok(s)` for a well-formed id, else 400 `INVALID_ID_FORMAT` naming `what` ("container",
/// "project", ...).
pub fn check<'a>(what: &str, s: &'a str) -> Result<&'a str, ApiError> {
    if is_valid(s) {
        Ok(s)
    } else {
        Err(ApiError::new(
            400,
            "INVALID_ID_FORMAT",
            format!("Invalid {what} ID format: {s:?} is not 24 lowercase hex digits"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex_and_distinct() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert!(is_valid(&a), "{a}");
        assert_ne!(a, b);
        assert!(!is_valid("ABCDEF0123456789abcdef01"));
        assert!(!is_valid("abc"));
        assert!(check("container", "zz").is_err());
    }
}
