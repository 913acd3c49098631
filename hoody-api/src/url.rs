//! Percent-encoding for the URLs the clients build (RFC 3986), one place for all of them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// [`COMPONENT`] but `/` kept: a path.
const PATH: &AsciiSet = &COMPONENT.remove(b'/');

/// A query value or other URL component: everything but unreserved characters encoded.
pub fn component(s: &str) -> String {
    utf8_percent_encode(s, COMPONENT).to_string()
}

/// One path segment (an id, a name): like [`component`], and a segment of dots only (`.`,
/// `..`) fully encoded so that no client or server normalises it away as a relative step.
pub fn segment(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b == b'.') {
        s.bytes().map(|_| "%2E").collect()
    } else {
        component(s)
    }
}

/// An absolute path (`/` prefixed when missing), `/` kept, everything else but unreserved
/// characters encoded.
pub fn path(p: &str) -> String {
    let p = utf8_percent_encode(p, PATH).to_string();
    if p.starts_with('/') {
        p
    } else {
        format!("/{p}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_as_rfc3986() {
        assert_eq!(component("a b/c+d=é~._-"), "a%20b%2Fc%2Bd%3D%C3%A9~._-");
        assert_eq!(segment(".."), "%2E%2E");
        assert_eq!(segment("a.b"), "a.b");
        assert_eq!(segment(""), "");
        assert_eq!(path("dir/a b.txt"), "/dir/a%20b.txt");
        assert_eq!(path("/x/%"), "/x/%25");
    }
}
