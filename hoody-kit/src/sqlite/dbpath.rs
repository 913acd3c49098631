//! Which file `?db=` names.
//!
//! - A bare name (`app`, `app.db`, `./app`) resolves under the databases directory
//!   (`/hoody/databases`, the "SQLite Drive"); `.db` is appended when the name has no
//!   extension.
//! - An absolute path is used as given (after dropping `.` segments), unless absolute paths
//!   outside the databases directory are disallowed (Hoody's `--allow-any-absolute-db-path`
//!   is on by default in containers, so they are allowed here).
//! - Refused with 400 `INVALID_DB_PATH`: empty names, `..` segments, relative paths with a
//!   directory (`a/b.db`), in-memory and URI databases (`:memory:`, `file:...`), NUL bytes.
//!
//! What is on disk (missing, a directory, a symlink, not SQLite) is checked by the pool when
//! the database is opened, not here.

use std::path::{Component, Path, PathBuf};

use axum::http::StatusCode;

use crate::{ApiError, ApiResult};

/// Longest `db` value accepted (bytes).
const MAX_DB_LEN: usize = 4096;

/// A database named by a request.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The path it resolved to (absolute, lexically clean; symlinks not yet followed).
    pub path: PathBuf,
    /// Whether it was a bare name (resolved under the databases directory).
    pub bare: bool,
    /// What the client wrote, for messages.
    pub raw: String,
}

/// 400 `INVALID_DB_PATH` naming `raw`.
pub(crate) fn invalid(raw: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_DB_PATH",
        format!("invalid database path {raw:?}: {why}"),
    )
}

/// Resolves the `db` parameter `raw` against `databases`.
pub(crate) fn resolve(
    databases: &Path,
    raw: Option<&str>,
    allow_any_absolute: bool,
) -> ApiResult<Target> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_DB_PATH",
            "the db parameter is required: a bare name (app, app.db) resolved under the \
             databases directory, or an absolute path",
        ));
    };
    if raw.len() > MAX_DB_LEN {
        return Err(invalid(
            &raw[..64],
            format!("longer than {MAX_DB_LEN} bytes"),
        ));
    }
    if raw.contains('\0') {
        return Err(invalid(raw, "contains a NUL byte"));
    }
    if raw == ":memory:" || raw.starts_with("file:") || raw.contains("mode=memory") {
        return Err(invalid(
            raw,
            "in-memory and URI databases are not supported",
        ));
    }
    if raw.split(['/', '\\']).any(|seg| seg == "..") {
        return Err(invalid(raw, "`..` segments are refused"));
    }
    if raw.starts_with('/') {
        let mut path = PathBuf::from("/");
        for c in Path::new(raw).components() {
            if let Component::Normal(seg) = c {
                path.push(seg);
            }
        }
        if path == Path::new("/") {
            return Err(invalid(raw, "names no file"));
        }
        if !allow_any_absolute && !path.starts_with(databases) {
            return Err(invalid(
                raw,
                format!(
                    "absolute database paths outside {} are disallowed",
                    databases.display()
                ),
            ));
        }
        return Ok(Target {
            path,
            bare: false,
            raw: raw.to_string(),
        });
    }
    let name = raw.strip_prefix("./").unwrap_or(raw);
    if name.contains(['/', '\\']) {
        return Err(invalid(
            raw,
            format!(
                "relative paths with a directory are refused: use a bare name (resolved under {}) \
                 or an absolute path",
                databases.display()
            ),
        ));
    }
    if name.is_empty() || name == "." {
        return Err(invalid(raw, "names no file"));
    }
    let file = if Path::new(name).extension().is_some() {
        name.to_string()
    } else {
        format!("{name}.db")
    };
    Ok(Target {
        path: databases.join(file),
        bare: true,
        raw: raw.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(raw: &str) -> Target {
        resolve(Path::new("/hoody/databases"), Some(raw), true).unwrap()
    }

    fn err(raw: Option<&str>, any_abs: bool) -> ApiError {
        resolve(Path::new("/hoody/databases"), raw, any_abs).unwrap_err()
    }

    #[test]
    fn bare_names_resolve_under_databases() {
        assert_eq!(ok("app").path, Path::new("/hoody/databases/app.db"));
        assert_eq!(ok("app.db").path, Path::new("/hoody/databases/app.db"));
        assert_eq!(ok("./app").path, Path::new("/hoody/databases/app.db"));
        assert_eq!(
            ok("data.sqlite3").path,
            Path::new("/hoody/databases/data.sqlite3")
        );
        assert!(ok("app").bare);
    }

    #[test]
    fn absolute_paths_are_cleaned() {
        let t = ok("/tmp/./x//y.db");
        assert_eq!(t.path, Path::new("/tmp/x/y.db"));
        assert!(!t.bare);
    }

    #[test]
    fn refused() {
        for raw in [
            "../x",
            "/tmp/../etc/x.db",
            "a/b.db",
            "./a/b",
            ":memory:",
            "file:x.db",
            ".",
            "/",
            "a\0b",
        ] {
            let e = err(Some(raw), true);
            assert_eq!(e.code, "INVALID_DB_PATH", "{raw}");
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
        }
        assert_eq!(err(None, true).code, "INVALID_DB_PATH");
        assert_eq!(err(Some("  "), true).code, "INVALID_DB_PATH");
    }

    #[test]
    fn absolute_outside_databases_when_disallowed() {
        assert!(err(Some("/tmp/x.db"), false).message.contains("disallowed"));
        assert!(
            resolve(
                Path::new("/hoody/databases"),
                Some("/hoody/databases/x.db"),
                false
            )
            .is_ok()
        );
    }
}
