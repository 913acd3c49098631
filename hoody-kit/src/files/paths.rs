//! Request paths to file-system paths under the served root: the service's security
//! boundary.
//!
//! A request path is percent-decoded exactly once, split on `/`, and its segments are
//! resolved lexically: empty and `.` segments are dropped, `..` removes the previous segment,
//! and a `..` that would climb above the root is refused (403 `PATH_OUTSIDE_ROOT`). A NUL
//! byte anywhere is refused (400 `INVALID_PATH`). Nothing is decoded twice, so `%252e%252e`
//! is the literal name `%2e%2e`; `%2F` decodes to `/` and so separates segments like `/`
//! does; a backslash is an ordinary file-name byte on Linux, so `..\..` is one (harmless)
//! name. The result is the root joined with plain names only: it cannot name anything
//! outside the root lexically.
//!
//! Symlinks are the other way out. When the served root is `/` (a container) every path is
//! inside, so nothing more is checked. For any other root, [`Jail`] resolves the real path
//! (following symlinks, as the kernel would) of what an operation touches and refuses it when
//! that lands outside the root's real path: reads and writes through a symlink that leaves
//! the root are refused, operations on the link itself (delete, rename, lstat) are allowed
//! since they do not touch its target, and a dangling symlink is refused wherever it would be
//! followed (creating through it could create a file outside). The check happens before the
//! operation, so a local user racing symlink swaps between check and use could still escape;
//! closing that needs `openat2(RESOLVE_BENEATH)` for every call, which hoody does not need
//! for its container case (root `/`).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use axum::http::StatusCode;

use crate::{ApiError, ApiResult};

/// The code of a request refused for naming something outside the served root.
pub(super) const OUTSIDE: &str = "PATH_OUTSIDE_ROOT";

/// A request path resolved below the served root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    /// The plain names from the root down (none for the root itself).
    pub segments: Vec<Vec<u8>>,
    /// The root joined with `segments`.
    pub abs: PathBuf,
}

impl Target {
    /// The root itself.
    #[cfg(test)]
    pub fn root(root: &Path) -> Target {
        Target {
            segments: Vec::new(),
            abs: root.to_path_buf(),
        }
    }

    /// The path as the client sees it: `/a/b`, `/` for the root (lossy UTF-8, for messages
    /// and JSON).
    pub fn rel(&self) -> String {
        if self.segments.is_empty() {
            return "/".to_string();
        }
        let mut s = String::new();
        for seg in &self.segments {
            s.push('/');
            s.push_str(&String::from_utf8_lossy(seg));
        }
        s
    }

    /// Whether this is the served root.
    pub fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The last name (`""` for the root).
    pub fn name(&self) -> String {
        self.segments
            .last()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default()
    }

    /// The entry `name` inside this directory.
    pub fn child(&self, name: &[u8]) -> Target {
        let mut segments = self.segments.clone();
        segments.push(name.to_vec());
        Target {
            segments,
            abs: self.abs.join(OsStr::from_bytes(name)),
        }
    }

    /// Whether `self` is `other` or lies below it.
    pub fn is_within(&self, other: &Target) -> bool {
        self.segments.starts_with(&other.segments)
    }
}

/// Resolves `encoded`, a request path still percent-encoded (as on the request line), below
/// `root`.
pub(super) fn resolve(root: &Path, encoded: &str) -> ApiResult<Target> {
    let decoded: Vec<u8> = percent_encoding::percent_decode(encoded.as_bytes()).collect();
    resolve_decoded(root, &decoded, encoded)
}

/// Resolves an already-decoded path (from a JSON body or a query parameter).
pub(super) fn resolve_plain(root: &Path, path: &str) -> ApiResult<Target> {
    resolve_decoded(root, path.as_bytes(), path)
}

fn resolve_decoded(root: &Path, decoded: &[u8], shown: &str) -> ApiResult<Target> {
    if decoded.contains(&0) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PATH",
            format!("path {shown:?} contains a NUL byte"),
        ));
    }
    let mut segments: Vec<Vec<u8>> = Vec::new();
    for seg in decoded.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                if segments.pop().is_none() {
                    return Err(outside(format!(
                        "path {shown:?} climbs above the served root"
                    )));
                }
            }
            name => segments.push(name.to_vec()),
        }
    }
    let mut abs = root.to_path_buf();
    for seg in &segments {
        abs.push(OsStr::from_bytes(seg));
    }
    Ok(Target { segments, abs })
}

/// Resolves a WebDAV `Destination` header: an absolute URL (`http://host/a/b`) or an
/// absolute path (`/a/b`), percent-encoded; either way the path is taken relative to the
/// served root.
pub(super) fn resolve_destination(root: &Path, header: &str) -> ApiResult<Target> {
    let path = if header.starts_with('/') {
        header
    } else if let Some((_, rest)) = header.split_once("://") {
        // The authority ends at the first `/`; no `/` means the root.
        rest.find('/').map_or("/", |i| &rest[i..])
    } else {
        return Err(ApiError::validation(format!(
            "Destination {header:?} is neither an absolute URL nor an absolute path"
        )));
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    resolve(root, path)
}

/// A 403 `PATH_OUTSIDE_ROOT`.
pub(super) fn outside(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, OUTSIDE, message)
}

/// What an operation touches through its final path component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Follow {
    /// The operation reads or writes through the last component (open, list, append):
    /// its real path must be inside.
    Last,
    /// The operation acts on the last component itself (unlink, rename, lstat): only the
    /// directory holding it must be inside.
    Parent,
}

/// The served root and, when it is not `/`, its real path, against which symlinks are
/// checked.
#[derive(Debug, Clone)]
pub(super) struct Jail {
    root: PathBuf,
    real_root: Option<PathBuf>,
}

impl Jail {
    /// The jail for `root` (resolved now: the root may itself be a symlink).
    pub fn new(root: &Path) -> ApiResult<Jail> {
        let real = std::fs::canonicalize(root).map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ROOT_UNAVAILABLE",
                format!("the served root {} is unavailable: {e}", root.display()),
            )
        })?;
        let real_root = (real != Path::new("/")).then_some(real);
        Ok(Jail {
            root: root.to_path_buf(),
            real_root,
        })
    }

    /// The served root as configured.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The root's real path when it is not `/` (`None`: every path is inside).
    pub fn real_root(&self) -> Option<&Path> {
        self.real_root.as_deref()
    }

    /// Refuses `t` when what the operation touches resolves outside the root.
    pub fn check(&self, t: &Target, follow: Follow) -> ApiResult<()> {
        let Some(real_root) = &self.real_root else {
            return Ok(());
        };
        let probe = match follow {
            Follow::Last => t.abs.as_path(),
            Follow::Parent => match t.abs.parent() {
                Some(p) if !t.is_root() => p,
                _ => return Ok(()),
            },
        };
        match real_path(probe) {
            Ok(real) if real.starts_with(real_root) => Ok(()),
            Ok(_) => Err(outside(format!(
                "{} resolves (through a symlink) outside the served root",
                t.rel()
            ))),
            Err(RealPathError::Dangling) => Err(outside(format!(
                "{} goes through a symlink that points nowhere",
                t.rel()
            ))),
            Err(RealPathError::Io(e)) => Err(ApiError::io(t.rel(), &e)),
        }
    }

    /// Whether the real path of `p` (following symlinks) is inside the root; `false` for
    /// paths that cannot be resolved. Always `true` for root `/`.
    pub fn contains_real(&self, p: &Path) -> bool {
        match &self.real_root {
            None => true,
            Some(r) => std::fs::canonicalize(p).is_ok_and(|real| real.starts_with(r)),
        }
    }
}

/// The real path of `p` as far as it exists, the missing rest appended (`None` when it
/// cannot be resolved).
pub(super) fn real_path_of(p: &Path) -> Option<PathBuf> {
    real_path(p).ok()
}

#[derive(Debug)]
enum RealPathError {
    Dangling,
    Io(io::Error),
}

/// The real path of `p`: its deepest existing ancestor canonicalized, with the components
/// that do not exist yet appended.
fn real_path(p: &Path) -> Result<PathBuf, RealPathError> {
    let mut existing = p.to_path_buf();
    let mut missing: Vec<OsString> = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(mut real) => {
                for name in missing.iter().rev() {
                    real.push(name);
                }
                return Ok(real);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if std::fs::symlink_metadata(&existing).is_ok() {
                    // It exists, but following it fails: a symlink to nowhere.
                    return Err(RealPathError::Dangling);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotADirectory => {}
            Err(e) => return Err(RealPathError::Io(e)),
        }
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                missing.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => {
                return Err(RealPathError::Io(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} does not exist", p.display()),
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(t: &Target) -> Vec<String> {
        t.segments
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    #[test]
    fn lexical_resolution() {
        let root = Path::new("/srv");
        let t = resolve(root, "/a/./b//c/").unwrap();
        assert_eq!(segs(&t), ["a", "b", "c"]);
        assert_eq!(t.abs, Path::new("/srv/a/b/c"));
        assert_eq!(t.rel(), "/a/b/c");
        let t = resolve(root, "/a/b/../c").unwrap();
        assert_eq!(segs(&t), ["a", "c"]);
        let t = resolve(root, "/").unwrap();
        assert!(t.is_root());
        assert_eq!(t.abs, Path::new("/srv"));
        assert_eq!(resolve(root, "").unwrap().rel(), "/");
    }

    #[test]
    fn escapes_are_refused() {
        let root = Path::new("/srv");
        for p in [
            "/../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/a/%2e%2e%2f%2e%2e/x",
            "/..%2fetc",
            "/a/../../etc",
            "%2E%2E",
            "/a/b/../../..",
        ] {
            let e = resolve(root, p).unwrap_err();
            assert_eq!(e.code, OUTSIDE, "{p}");
            assert_eq!(e.status, StatusCode::FORBIDDEN, "{p}");
        }
        let e = resolve(root, "/a%00b").unwrap_err();
        assert_eq!(e.code, "INVALID_PATH");
    }

    #[test]
    fn no_double_decoding_and_backslash_is_a_name() {
        let root = Path::new("/srv");
        let t = resolve(root, "/%252e%252e/x").unwrap();
        assert_eq!(segs(&t), ["%2e%2e", "x"]);
        let t = resolve(root, "/..%5c..%5cetc").unwrap();
        assert_eq!(segs(&t), ["..\\..\\etc"]);
        assert!(t.abs.starts_with(root));
    }

    #[test]
    fn destinations() {
        let root = Path::new("/srv");
        let t = resolve_destination(root, "http://h:1/a/b%20c?x=1").unwrap();
        assert_eq!(segs(&t), ["a", "b c"]);
        let t = resolve_destination(root, "/etc/passwd").unwrap();
        assert_eq!(t.abs, Path::new("/srv/etc/passwd"));
        assert!(resolve_destination(root, "http://h").unwrap().is_root());
        assert_eq!(
            resolve_destination(root, "http://h/../../x")
                .unwrap_err()
                .code,
            OUTSIDE
        );
        assert!(resolve_destination(root, "relative/x").is_err());
    }
}
