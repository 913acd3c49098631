//! Names of images, containers and snapshots: one path component, no tricks.

use crate::error::{FsError, Result};

/// Checks that `name` can be used as an image, container or snapshot name: 1 to 64 characters
/// from `[A-Za-z0-9_.-]`, starting with a letter or digit (so never `.`, `..`, a hidden file
/// or anything with a `/`).
pub fn validate(kind: &'static str, name: &str) -> Result<()> {
    let fail = |reason| {
        Err(FsError::InvalidName {
            kind,
            name: name.to_string(),
            reason,
        })
    };
    if name.is_empty() {
        return fail("it is empty");
    }
    if name.len() > 64 {
        return fail("it is longer than 64 characters");
    }
    if name.contains('/') {
        return fail("it contains '/'");
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return fail("it must start with a letter or digit");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    {
        return fail("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_names() {
        for ok in ["debian-13", "web_1", "snap-20261128-120000", "a", "v1.2"] {
            assert!(validate("image", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            ".hidden",
            "-x",
            "sp ace",
            "x\0",
            &"a".repeat(65),
        ] {
            assert!(validate("image", bad).is_err(), "{bad:?}");
        }
        let e = validate("container", "a/b").unwrap_err().to_string();
        assert_eq!(e, "invalid container name \"a/b\": it contains '/'");
    }
}
