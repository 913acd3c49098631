//! Searching below a directory: content search (grep), name patterns (glob) and dufs's
//! `?q=` name search.
//!
//! One walker serves all three: depth-first in name order, never following symlinks (a
//! symlinked directory is not entered, a symlinked file is not read), skipping the kernel's
//! pseudo file systems (`/proc`, `/sys`, `/dev`) when they are met from above, bounded in
//! depth, results and time. Content search reads files line by line through a fixed buffer
//! (lines longer than [`MAX_LINE`] are cut), skips binary files (a NUL in the first block,
//! as ripgrep does) and files larger than `max_filesize`, so memory stays bounded whatever
//! it searches.

use std::collections::VecDeque;
use std::fs::{self, File, FileType};
use std::io::{self, BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use globset::{GlobBuilder, GlobMatcher};
use regex::bytes::{Regex, RegexBuilder};
use serde_json::{Value, json};

use super::Params;
use super::listing::{self, Item};
use super::meta::{self, Info};
use super::paths::{Jail, Target};
use crate::{ApiError, ApiResult};

/// Longest line kept for matching; the rest of a longer line is skipped.
const MAX_LINE: usize = 64 * 1024;
/// Longest line returned in a match.
const MAX_LINE_OUT: usize = 2000;

/// Depth-first, name-ordered walk below `base`, not following symlinks. `visit(path, rel,
/// type, depth)` (depth 1 = `base`'s entries) returns `false` to stop; the walk returns
/// whether it ran to the end.
pub(super) fn walk(
    base: &Path,
    max_depth: usize,
    mut visit: impl FnMut(&Path, &[u8], FileType, usize) -> bool,
) -> bool {
    struct Level {
        dir: PathBuf,
        rel: Vec<u8>,
        depth: usize,
        entries: std::vec::IntoIter<(Vec<u8>, FileType)>,
    }
    fn level(dir: PathBuf, rel: Vec<u8>, depth: usize) -> Option<Level> {
        let mut entries: Vec<(Vec<u8>, FileType)> = fs::read_dir(&dir)
            .ok()?
            .filter_map(|e| {
                let e = e.ok()?;
                Some((e.file_name().as_bytes().to_vec(), e.file_type().ok()?))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Some(Level {
            dir,
            rel,
            depth,
            entries: entries.into_iter(),
        })
    }
    if max_depth == 0 {
        return true;
    }
    let mut stack: Vec<Level> = level(base.to_path_buf(), Vec::new(), 1)
        .into_iter()
        .collect();
    while let Some(top) = stack.last_mut() {
        let Some((name, ft)) = top.entries.next() else {
            stack.pop();
            continue;
        };
        let path = top.dir.join(std::ffi::OsStr::from_bytes(&name));
        let mut rel = top.rel.clone();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(&name);
        let depth = top.depth;
        if !visit(&path, &rel, ft, depth) {
            return false;
        }
        let pseudo = matches!(path.as_os_str().as_bytes(), b"/proc" | b"/sys" | b"/dev");
        if ft.is_dir()
            && depth < max_depth
            && !pseudo
            && let Some(l) = level(path, rel, depth + 1)
        {
            stack.push(l);
        }
    }
    true
}

fn child_rel(t: &Target, rel: &[u8]) -> String {
    let rel = String::from_utf8_lossy(rel);
    if t.is_root() {
        format!("/{rel}")
    } else {
        format!("{}/{rel}", t.rel())
    }
}

fn num<T>(q: &Params, key: &str, default: T, max: T) -> ApiResult<T>
where
    T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display,
{
    match q.num::<T>(key)? {
        None => Ok(default),
        Some(v) if v > max => Err(ApiError::validation(format!(
            "{key} {v} is above the limit of {max}"
        ))),
        Some(v) => Ok(v),
    }
}

fn deadline(q: &Params) -> ApiResult<Instant> {
    let secs = num::<u64>(q, "timeout", 30, 600)?;
    Ok(Instant::now() + Duration::from_secs(secs.max(1)))
}

fn glob_matcher(pattern: &str, what: &str) -> ApiResult<GlobMatcher> {
    if pattern.split('/').any(|s| s == "..") {
        return Err(ApiError::validation(format!(
            "{what} {pattern:?} must not contain '..'"
        )));
    }
    GlobBuilder::new(pattern.trim_start_matches('/'))
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "INVALID_PATTERN",
                format!("invalid {what} {pattern:?}: {e}"),
            )
        })
}

/// Content search from `real` (a directory or one file): `pattern` (regex, or literal with
/// `fixed_string`), `ignore_case`, `glob` (which files: a pattern on the name, or on the
/// relative path when it has a `/`), `context` lines, `max_count` per file, `max_matches`,
/// `max_depth`, `max_filesize`, `timeout` (seconds).
pub(super) fn grep(
    jail: &Jail,
    t: &Target,
    real: &Path,
    pattern: &str,
    q: &Params,
) -> ApiResult<Value> {
    let _ = jail;
    if pattern.is_empty() {
        return Err(ApiError::validation("pattern must not be empty"));
    }
    let source = if q.flag("fixed_string") {
        regex::escape(pattern)
    } else {
        pattern.to_string()
    };
    let re = RegexBuilder::new(&source)
        .case_insensitive(q.flag("ignore_case"))
        .size_limit(16 << 20)
        .build()
        .map_err(|e| {
            ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                "INVALID_PATTERN",
                format!("invalid pattern {pattern:?}: {e}"),
            )
        })?;
    let glob = match q.get("glob").filter(|g| !g.is_empty()) {
        Some(g) => Some((glob_matcher(g, "glob")?, g.contains('/'))),
        None => None,
    };
    let mut s = Grep {
        re,
        context: num::<usize>(q, "context", 0, 50)?,
        max_count: num::<u64>(q, "max_count", u64::MAX, u64::MAX)?,
        max_matches: num::<usize>(q, "max_matches", 1000, 100_000)?,
        max_filesize: num::<u64>(q, "max_filesize", 256 << 20, u64::MAX)?,
        deadline: deadline(q)?,
        matches: Vec::new(),
        files_scanned: 0,
        files_matched: 0,
        truncated: false,
        timed_out: false,
    };
    let max_depth = num::<usize>(q, "max_depth", 256, 4096)?;
    let m = fs::metadata(real).map_err(|e| ApiError::io(t.rel(), &e))?;
    if m.is_file() {
        s.file(real, &t.rel());
    } else {
        walk(real, max_depth, |path, rel, ft, _| {
            if !ft.is_file() {
                return true;
            }
            if let Some((g, on_path)) = &glob {
                let subject: &[u8] = if *on_path {
                    rel
                } else {
                    path.file_name().map(|n| n.as_bytes()).unwrap_or(rel)
                };
                if !g.is_match(Path::new(std::ffi::OsStr::from_bytes(subject))) {
                    return true;
                }
            }
            s.file(path, &child_rel(t, rel));
            !(s.truncated || s.timed_out)
        });
    }
    Ok(json!({
        "pattern": pattern,
        "path": t.rel(),
        "matches": s.matches,
        "total_matches": s.matches.len(),
        "files_scanned": s.files_scanned,
        "files_matched": s.files_matched,
        "truncated": s.truncated,
        "timed_out": s.timed_out,
    }))
}

struct Grep {
    re: Regex,
    context: usize,
    max_count: u64,
    max_matches: usize,
    max_filesize: u64,
    deadline: Instant,
    matches: Vec<Value>,
    files_scanned: u64,
    files_matched: u64,
    truncated: bool,
    timed_out: bool,
}

impl Grep {
    fn file(&mut self, path: &Path, shown: &str) {
        if Instant::now() > self.deadline {
            self.timed_out = true;
            return;
        }
        let Ok((f, m)) = super::download::open_regular(path) else {
            return;
        };
        if m.len() == 0 || m.len() > self.max_filesize {
            return;
        }
        self.files_scanned += 1;
        let mut r = BufReader::with_capacity(64 * 1024, f);
        match r.fill_buf() {
            Ok(head) if !head.contains(&0) => {}
            _ => return,
        }
        let _ = self.lines(&mut r, shown);
    }

    fn lines(&mut self, r: &mut BufReader<File>, shown: &str) -> io::Result<()> {
        let mut line = Vec::new();
        let mut before: VecDeque<String> = VecDeque::new();
        let mut pending: Vec<(usize, usize)> = Vec::new();
        let mut n = 0u64;
        let mut count = 0u64;
        while read_line_capped(r, &mut line)? {
            n += 1;
            if n.is_multiple_of(4096) && Instant::now() > self.deadline {
                self.timed_out = true;
                return Ok(());
            }
            let is_match = count < self.max_count && self.re.is_match(&line);
            if self.context == 0 && !is_match {
                continue;
            }
            let text = shown_line(&line);
            pending.retain_mut(|(idx, left)| {
                if let Some(Value::Array(after)) = self
                    .matches
                    .get_mut(*idx)
                    .and_then(|m| m.get_mut("context_after"))
                {
                    after.push(Value::String(text.clone()));
                }
                *left -= 1;
                *left > 0
            });
            if is_match {
                if self.matches.len() >= self.max_matches {
                    self.truncated = true;
                    return Ok(());
                }
                count += 1;
                if count == 1 {
                    self.files_matched += 1;
                }
                let mut m = json!({"path": shown, "line_number": n, "line": text});
                if self.context > 0 {
                    m["context_before"] = json!(before);
                    m["context_after"] = json!([]);
                    pending.push((self.matches.len(), self.context));
                }
                self.matches.push(m);
            }
            if self.context > 0 {
                before.push_back(text);
                if before.len() > self.context {
                    before.pop_front();
                }
            }
            if count >= self.max_count && pending.is_empty() {
                return Ok(());
            }
        }
        Ok(())
    }
}

/// Reads one line (without its `\n`, and a `\r` before it) into `line`, keeping at most
/// [`MAX_LINE`] bytes of it; `false` at the end of the file.
fn read_line_capped(r: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<bool> {
    line.clear();
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(a) => a,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        any = true;
        let (take, used, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i, i + 1, true),
            None => (avail.len(), avail.len(), false),
        };
        let room = MAX_LINE.saturating_sub(line.len());
        line.extend_from_slice(&avail[..take.min(room)]);
        r.consume(used);
        if done {
            break;
        }
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(any)
}

fn shown_line(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    match s.char_indices().nth(MAX_LINE_OUT) {
        Some((i, _)) => s[..i].to_string(),
        None => s.into_owned(),
    }
}

/// Name search from directory `real`: `pattern` (a glob on the path relative to `real`;
/// without `**` it does not descend deeper than it has components), `max_results`,
/// `max_files_scanned`, `max_depth`, `sort` (path|name|mtime|size), `order`, `timeout`.
pub(super) fn glob(
    jail: &Jail,
    t: &Target,
    real: &Path,
    pattern: &str,
    q: &Params,
) -> ApiResult<Value> {
    if pattern.is_empty() {
        return Err(ApiError::validation("pattern must not be empty"));
    }
    let matcher = glob_matcher(pattern, "pattern")?;
    let max_results = num::<usize>(q, "max_results", 1000, 100_000)?;
    let max_scanned = num::<u64>(q, "max_files_scanned", 1_000_000, u64::MAX)?;
    let pattern_depth = if pattern.contains("**") {
        usize::MAX
    } else {
        pattern.trim_start_matches('/').split('/').count()
    };
    let max_depth = num::<usize>(q, "max_depth", 256, 4096)?.min(pattern_depth);
    let deadline = deadline(q)?;
    if !fs::metadata(real)
        .map_err(|e| ApiError::io(t.rel(), &e))?
        .is_dir()
    {
        return Err(ApiError::validation(format!(
            "{} is not a directory: glob searches below a directory",
            t.rel()
        )));
    }
    let (mut scanned, mut truncated, mut timed_out) = (0u64, false, false);
    let mut found: Vec<(String, Info)> = Vec::new();
    walk(real, max_depth, |path, rel, _, _| {
        scanned += 1;
        if scanned > max_scanned {
            truncated = true;
            return false;
        }
        if scanned.is_multiple_of(1024) && Instant::now() > deadline {
            timed_out = true;
            return false;
        }
        if matcher.is_match(Path::new(std::ffi::OsStr::from_bytes(rel)))
            && let Ok(info) = Info::read(jail, path)
        {
            if found.len() >= max_results {
                truncated = true;
                return false;
            }
            found.push((child_rel(t, rel), info));
        }
        true
    });
    let desc = match q.get("order").unwrap_or("asc") {
        "asc" | "" => false,
        "desc" => true,
        other => {
            return Err(ApiError::validation(format!(
                "order {other:?} must be asc or desc"
            )));
        }
    };
    match q.get("sort").unwrap_or("path") {
        "path" | "" => {}
        "name" => found.sort_by(|a, b| {
            let name = |p: &str| p.rsplit('/').next().unwrap_or("").to_lowercase();
            listing::natural_cmp(&name(&a.0), &name(&b.0))
        }),
        "mtime" => found.sort_by_key(|(_, i)| meta::mtime_ms(&i.meta)),
        "size" => found.sort_by_key(|(_, i)| i.meta.len()),
        other => {
            return Err(ApiError::validation(format!(
                "sort {other:?} must be path, name, mtime or size"
            )));
        }
    }
    if desc {
        found.reverse();
    }
    let matches: Vec<Value> = found
        .iter()
        .map(|(p, info)| {
            json!({
                "path": p,
                "name": p.rsplit('/').next().unwrap_or(""),
                "path_type": info.path_type,
                "size": info.meta.len(),
                "mtime": meta::mtime_ms(&info.meta),
            })
        })
        .collect();
    Ok(json!({
        "pattern": pattern,
        "path": t.rel(),
        "matches": matches,
        "total": matches.len(),
        "files_scanned": scanned,
        "truncated": truncated,
        "timed_out": timed_out,
    }))
}

/// dufs's `?q=`: entries below `real` whose name contains `needle` (case-insensitive), as
/// listing items named by their path relative to `real` (at most 1000, 30 s).
pub(super) fn name_search(jail: &Jail, real: &Path, needle: &str) -> Vec<Item> {
    let needle = needle.to_lowercase();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut items = Vec::new();
    let mut seen = 0u64;
    walk(real, 256, |path, rel, _, _| {
        seen += 1;
        if seen.is_multiple_of(1024) && Instant::now() > deadline {
            return false;
        }
        let name = path.file_name().map(|n| n.as_bytes()).unwrap_or(rel);
        if String::from_utf8_lossy(name)
            .to_lowercase()
            .contains(&needle)
            && let Ok(item) = Item::read(jail, path, rel.to_vec())
        {
            items.push(item);
        }
        items.len() < 1000
    });
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_lines() {
        let long = "x".repeat(MAX_LINE + 10);
        let text = format!("a\r\n{long}\nlast");
        let mut r = io::BufReader::with_capacity(16, text.as_bytes());
        let mut line = Vec::new();
        assert!(read_line_capped(&mut r, &mut line).unwrap());
        assert_eq!(line, b"a");
        assert!(read_line_capped(&mut r, &mut line).unwrap());
        assert_eq!(line.len(), MAX_LINE);
        assert!(read_line_capped(&mut r, &mut line).unwrap());
        assert_eq!(line, b"last");
        assert!(!read_line_capped(&mut r, &mut line).unwrap());
    }

    #[test]
    fn globs() {
        let m = glob_matcher("**/*.rs", "pattern").unwrap();
        assert!(m.is_match("lib.rs"));
        assert!(m.is_match("src/a/lib.rs"));
        let m = glob_matcher("*.rs", "pattern").unwrap();
        assert!(!m.is_match("src/lib.rs"));
        assert!(glob_matcher("../*", "pattern").is_err());
        assert!(glob_matcher("a[", "pattern").is_err());
    }
}
