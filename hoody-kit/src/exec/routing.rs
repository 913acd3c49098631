//! File-based routing: which script file under an instance's scripts directory answers a URL
//! path, and the parameters its bracketed names capture.
//!
//! | file | route | parameters |
//! |---|---|---|
//! | `api/hello.js` | `/api/hello` | |
//! | `index.js`, `blog/index.js` | `/`, `/blog` | |
//! | `users/[id].js`, `users/[id]/posts.js` | `/users/42`, `/users/42/posts` | `id: "42"` |
//! | `docs/[...slug].js` | `/docs/a/b` (one segment or more) | `slug: ["a", "b"]` |
//! | `files/[[...path]].js` | `/files`, `/files/a/b` | `path: []`, `path: ["a", "b"]` |
//!
//! Extensions are stripped, case is preserved. At every level a static name beats a dynamic
//! `[name]`, which beats a catch-all; a branch that leads nowhere falls back to the next
//! kind (a static directory without a match lets `[id]` try). Among equals, `.js` beats
//! `.sh`, and bracketed names are tried in name order. Catch-alls are files only. URL
//! segments are percent-decoded; one that decodes to `.`, `..`, something starting with a
//! dot, or containing `/` or NUL never matches.

use std::io;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use crate::ApiError;

/// The languages a route can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// JavaScript in the embedded engine.
    Js,
    /// A shell script run with `/bin/sh`.
    Sh,
}

impl Kind {
    /// The kind of a file by its extension (`js`, `sh`), `None` when it is not routed.
    pub(crate) fn of_extension(ext: &str) -> Option<Kind> {
        match ext {
            "js" => Some(Kind::Js),
            "sh" => Some(Kind::Sh),
            _ => None,
        }
    }

    /// `js` or `sh`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Js => "js",
            Kind::Sh => "sh",
        }
    }
}

/// A URL path matched to a script.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    /// The script file.
    pub file: PathBuf,
    /// Its path relative to the scripts directory, `/`-separated.
    pub rel: String,
    /// Its language.
    pub kind: Kind,
    /// What bracketed names captured: strings for `[x]`, arrays for catch-alls.
    pub params: Map<String, Value>,
}

/// A file or directory name, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name<'a> {
    Static(&'a str),
    Dynamic(&'a str),
    CatchAll(&'a str),
    OptionalCatchAll(&'a str),
}

fn classify(stem: &str) -> Name<'_> {
    if let Some(inner) = stem
        .strip_prefix("[[...")
        .and_then(|s| s.strip_suffix("]]"))
        && valid_param(inner)
    {
        return Name::OptionalCatchAll(inner);
    }
    if let Some(inner) = stem.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        if let Some(rest) = inner.strip_prefix("...")
            && valid_param(rest)
        {
            return Name::CatchAll(rest);
        }
        if valid_param(inner) {
            return Name::Dynamic(inner);
        }
    }
    Name::Static(stem)
}

fn valid_param(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One directory's routable entries, sorted by name.
#[derive(Debug, Default)]
struct Listing {
    /// `(stem, kind, file name)` of routable files.
    files: Vec<(String, Kind, String)>,
    /// Sub-directory names (not starting with a dot).
    dirs: Vec<String>,
}

fn list(dir: &Path) -> io::Result<Listing> {
    let mut l = Listing::default();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(l),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Follow symlinks: the owner put them there.
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        if meta.is_dir() {
            l.dirs.push(name);
        } else if meta.is_file()
            && let Some((stem, ext)) = name.rsplit_once('.')
            && let Some(kind) = Kind::of_extension(ext)
            && !stem.is_empty()
        {
            l.files.push((stem.to_string(), kind, name.clone()));
        }
    }
    // `.js` before `.sh` for the same stem, names in order.
    l.files
        .sort_by(|a, b| (&a.0, a.1 == Kind::Sh).cmp(&(&b.0, b.1 == Kind::Sh)));
    l.dirs.sort();
    Ok(l)
}

/// The script under `root` that answers `url_path` (`/users/42`), if any.
pub(crate) fn resolve(root: &Path, url_path: &str) -> io::Result<Option<Resolved>> {
    let mut segs = Vec::new();
    for raw in url_path.split('/').filter(|s| !s.is_empty()) {
        let Some(seg) = percent_decode(raw) else {
            return Ok(None);
        };
        if seg.starts_with('.') || seg.contains('/') || seg.contains('\0') {
            return Ok(None);
        }
        segs.push(seg);
    }
    let mut params = Map::new();
    walk(root, "", &segs, &mut params)
}

fn hit(dir: &Path, rel_dir: &str, file: &str, kind: Kind, params: &Map<String, Value>) -> Resolved {
    Resolved {
        file: dir.join(file),
        rel: format!("{rel_dir}{file}"),
        kind,
        params: params.clone(),
    }
}

fn walk(
    dir: &Path,
    rel_dir: &str,
    segs: &[String],
    params: &mut Map<String, Value>,
) -> io::Result<Option<Resolved>> {
    let l = list(dir)?;
    let Some((seg, rest)) = segs.split_first() else {
        if let Some((_, kind, file)) = l.files.iter().find(|(s, _, _)| s == "index") {
            return Ok(Some(hit(dir, rel_dir, file, *kind, params)));
        }
        for (stem, kind, file) in &l.files {
            if let Name::OptionalCatchAll(p) = classify(stem) {
                let mut params = params.clone();
                params.insert(p.to_string(), Value::Array(Vec::new()));
                return Ok(Some(hit(dir, rel_dir, file, *kind, &params)));
            }
        }
        return Ok(None);
    };
    // 1. Static names.
    if rest.is_empty()
        && let Some((_, kind, file)) = l.files.iter().find(|(s, _, _)| s == seg)
    {
        return Ok(Some(hit(dir, rel_dir, file, *kind, params)));
    }
    if l.dirs.iter().any(|d| d == seg)
        && let Some(r) = walk(&dir.join(seg), &format!("{rel_dir}{seg}/"), rest, params)?
    {
        return Ok(Some(r));
    }
    // 2. Dynamic names.
    if rest.is_empty() {
        for (stem, kind, file) in &l.files {
            if let Name::Dynamic(p) = classify(stem) {
                let mut params = params.clone();
                params.insert(p.to_string(), Value::String(seg.clone()));
                return Ok(Some(hit(dir, rel_dir, file, *kind, &params)));
            }
        }
    }
    for d in &l.dirs {
        if let Name::Dynamic(p) = classify(d) {
            let previous = params.insert(p.to_string(), Value::String(seg.clone()));
            let found = walk(&dir.join(d), &format!("{rel_dir}{d}/"), rest, params)?;
            match previous {
                Some(v) => params.insert(p.to_string(), v),
                None => params.remove(p),
            };
            if found.is_some() {
                return Ok(found);
            }
        }
    }
    // 3. Catch-alls, required before optional.
    let all = Value::Array(segs.iter().cloned().map(Value::String).collect());
    for optional in [false, true] {
        for (stem, kind, file) in &l.files {
            let p = match (classify(stem), optional) {
                (Name::CatchAll(p), false) | (Name::OptionalCatchAll(p), true) => p,
                _ => continue,
            };
            let mut params = params.clone();
            params.insert(p.to_string(), all.clone());
            return Ok(Some(hit(dir, rel_dir, file, *kind, &params)));
        }
    }
    Ok(None)
}

/// The route pattern a script file answers (`users/[id].js` → `/users/[id]`), or `None` when
/// its extension is not routed.
pub(crate) fn route_of(rel: &str) -> Option<String> {
    let (stem, ext) = rel.rsplit_once('.')?;
    Kind::of_extension(ext)?;
    if stem.is_empty() || stem.ends_with('/') || rel.split('/').any(|s| s.starts_with('.')) {
        return None;
    }
    let stem = stem
        .strip_suffix("index")
        .filter(|s| s.is_empty() || s.ends_with('/'));
    let stem = match stem {
        Some(dir) => dir.trim_end_matches('/'),
        None => rel.rsplit_once('.').map_or(rel, |(s, _)| s),
    };
    Some(format!("/{stem}"))
}

/// `%XX`-decodes a path segment; `None` when it is malformed or not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    // Strict: every '%' must start a two-hex-digit escape (the crate's decoder would keep a
    // malformed one as it is).
    let b = s.as_bytes();
    let well_formed = b
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == b'%')
        .all(|(i, _)| {
            b.get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

/// A management-API script path (`api/hello.js`) checked to stay inside the scripts
/// directory: relative, no `.`/`..`/empty components, no NUL, at most 1024 bytes.
pub(crate) fn script_path(path: &str) -> Result<PathBuf, ApiError> {
    let bad = |why: &str| ApiError::validation(format!("invalid script path {path:?}: {why}"));
    if path.is_empty() {
        return Err(bad("empty"));
    }
    if path.len() > 1024 {
        return Err(bad("longer than 1024 bytes"));
    }
    if path.contains('\0') {
        return Err(bad("contains NUL"));
    }
    if path.starts_with('/') {
        return Err(bad(
            "absolute paths are refused; give it relative to the scripts directory",
        ));
    }
    let mut out = PathBuf::new();
    for part in path.split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(bad("empty, `.` or `..` components are refused"));
        }
        out.push(part);
    }
    if !out.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(bad("only plain components are allowed"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for f in files {
            let p = t.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
        t
    }

    fn at(root: &Path, url: &str) -> Option<(String, Value)> {
        resolve(root, url)
            .unwrap()
            .map(|r| (r.rel, Value::Object(r.params)))
    }

    #[test]
    fn routes_by_precedence() {
        let t = tree(&[
            "index.js",
            "api/hello.js",
            "api/hello.sh",
            "api/Mixed.js",
            "users/[id].js",
            "users/me.js",
            "users/[id]/posts.js",
            "docs/[...slug].js",
            "files/[[...path]].js",
            "blog/index.sh",
            "notes.txt",
        ]);
        let r = t.path();
        assert_eq!(at(r, "/").unwrap().0, "index.js");
        assert_eq!(at(r, "/api/hello").unwrap().0, "api/hello.js");
        assert_eq!(at(r, "/api/Mixed").unwrap().0, "api/Mixed.js");
        assert!(at(r, "/api/mixed").is_none(), "case is preserved");
        assert_eq!(at(r, "/users/me").unwrap().0, "users/me.js");
        let (f, p) = at(r, "/users/42").unwrap();
        assert_eq!(
            (f.as_str(), p),
            ("users/[id].js", serde_json::json!({"id": "42"}))
        );
        let (f, p) = at(r, "/users/42/posts").unwrap();
        assert_eq!(
            (f.as_str(), p),
            ("users/[id]/posts.js", serde_json::json!({"id": "42"}))
        );
        assert!(at(r, "/docs").is_none(), "[...slug] needs a segment");
        assert_eq!(
            at(r, "/docs/a/b").unwrap().1,
            serde_json::json!({"slug": ["a", "b"]})
        );
        assert_eq!(at(r, "/files").unwrap().1, serde_json::json!({"path": []}));
        assert_eq!(
            at(r, "/files/x").unwrap().1,
            serde_json::json!({"path": ["x"]})
        );
        assert_eq!(at(r, "/blog").unwrap().0, "blog/index.sh");
        assert!(at(r, "/notes").is_none());
        assert!(at(r, "/users/%2e%2e").is_none());
        assert_eq!(
            at(r, "/users/a%20b").unwrap().1,
            serde_json::json!({"id": "a b"})
        );
    }

    #[test]
    fn static_dir_without_match_falls_back_to_dynamic() {
        let t = tree(&["a/static/x.js", "a/[p]/y.js"]);
        let (f, p) = at(t.path(), "/a/static/y").unwrap();
        assert_eq!(
            (f.as_str(), p),
            ("a/[p]/y.js", serde_json::json!({"p": "static"}))
        );
    }

    #[test]
    fn routes_of_files() {
        assert_eq!(route_of("api/hello.js").as_deref(), Some("/api/hello"));
        assert_eq!(route_of("index.js").as_deref(), Some("/"));
        assert_eq!(route_of("blog/index.sh").as_deref(), Some("/blog"));
        assert_eq!(route_of("myindex.js").as_deref(), Some("/myindex"));
        assert_eq!(route_of("users/[id].js").as_deref(), Some("/users/[id]"));
        assert_eq!(route_of("a.ts"), None);
        assert_eq!(route_of("README"), None);
    }

    #[test]
    fn script_paths_stay_inside() {
        assert!(script_path("api/hello.js").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x.js",
            "a/../../x.js",
            "a//b.js",
            "./a.js",
            "a\0b",
        ] {
            assert!(script_path(bad).is_err(), "{bad:?}");
        }
    }
}
