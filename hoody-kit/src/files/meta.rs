//! What the service says about a path: its type as dufs names it, stat JSON, ETags,
//! content types, owner names.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{Value, json};

use super::paths::{Jail, Target};
use crate::{ApiError, ApiResult};

/// dufs's four kinds of entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(super) enum PathType {
    /// A directory.
    Dir,
    /// A symlink to a directory.
    SymlinkDir,
    /// Anything else (regular file, device, socket, ...).
    File,
    /// A symlink to anything else, or a dangling one.
    SymlinkFile,
}

impl PathType {
    /// Whether it lists like a directory.
    pub fn is_dir(self) -> bool {
        matches!(self, PathType::Dir | PathType::SymlinkDir)
    }
}

/// One path's metadata: its own (`lmeta`) and, for a symlink, its target's when that can be
/// followed inside the root.
#[derive(Debug)]
pub(super) struct Info {
    /// `lstat`.
    pub lmeta: Metadata,
    /// `stat` (the target of a symlink), or `lmeta` when it cannot or must not be followed.
    pub meta: Metadata,
    /// dufs's kind.
    pub path_type: PathType,
    /// Where a symlink points.
    pub symlink_target: Option<String>,
}

impl Info {
    /// The metadata of `path`; a symlink is followed only when its target is inside the
    /// root (always, for root `/`).
    pub fn read(jail: &Jail, path: &Path) -> std::io::Result<Info> {
        let lmeta = std::fs::symlink_metadata(path)?;
        if !lmeta.file_type().is_symlink() {
            let path_type = if lmeta.is_dir() {
                PathType::Dir
            } else {
                PathType::File
            };
            return Ok(Info {
                meta: lmeta.clone(),
                lmeta,
                path_type,
                symlink_target: None,
            });
        }
        let symlink_target = std::fs::read_link(path)
            .ok()
            .map(|t| t.to_string_lossy().into_owned());
        let followed = std::fs::metadata(path)
            .ok()
            .filter(|_| jail.contains_real(path));
        let (meta, path_type) = match followed {
            Some(m) if m.is_dir() => (m, PathType::SymlinkDir),
            Some(m) => (m, PathType::SymlinkFile),
            None => (lmeta.clone(), PathType::SymlinkFile),
        };
        Ok(Info {
            lmeta,
            meta,
            path_type,
            symlink_target,
        })
    }

    /// The stat JSON of the API: `{name, path, path_type, size, mtime, permissions, owner,
    /// group, uid, gid, is_symlink, symlink_target, ...}`.
    pub fn stat_json(&self, t: &Target, users: &Names) -> Value {
        let m = &self.meta;
        json!({
            "name": t.name(),
            "path": t.rel(),
            "path_type": self.path_type,
            "size": m.len(),
            "mtime": mtime_ms(m),
            "atime": m.atime() * 1000 + m.atime_nsec() / 1_000_000,
            "ctime": m.ctime() * 1000 + m.ctime_nsec() / 1_000_000,
            "permissions": format!("{:04o}", m.permissions().mode() & 0o7777),
            "mode": mode_string(m),
            "owner": users.user(m.uid()),
            "group": users.group(m.gid()),
            "uid": m.uid(),
            "gid": m.gid(),
            "inode": m.ino(),
            "nlink": m.nlink(),
            "is_symlink": self.lmeta.file_type().is_symlink(),
            "symlink_target": self.symlink_target,
        })
    }
}

/// Modification time in milliseconds since the epoch.
pub(super) fn mtime_ms(m: &Metadata) -> u64 {
    let ms = m.mtime() * 1000 + m.mtime_nsec() / 1_000_000;
    u64::try_from(ms).unwrap_or(0)
}

/// Modification time as a `SystemTime`.
pub(super) fn mtime(m: &Metadata) -> SystemTime {
    m.modified().unwrap_or(UNIX_EPOCH)
}

/// `-rw-r--r--` style.
fn mode_string(m: &Metadata) -> String {
    let mode = m.permissions().mode();
    let ft = m.file_type();
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_dir() {
        'd'
    } else if ft.is_symlink() {
        'l'
    } else if ft.is_char_device() {
        'c'
    } else if ft.is_block_device() {
        'b'
    } else if ft.is_fifo() {
        'p'
    } else if ft.is_socket() {
        's'
    } else {
        '-'
    };
    let mut s = String::with_capacity(10);
    s.push(kind);
    for (shift, special, special_char) in [(6, 0o4000, 's'), (3, 0o2000, 's'), (0, 0o1000, 't')] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (mode & special != 0, x) {
            (true, true) => special_char,
            (true, false) => special_char.to_ascii_uppercase(),
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// A strong validator from what changes when the content can change: inode, mtime (ns) and
/// size.
pub(super) fn etag(m: &Metadata) -> String {
    let nanos = m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128;
    format!("\"{:x}-{:x}-{:x}\"", m.ino(), nanos, m.len())
}

/// `Last-Modified` (whole seconds, as HTTP dates are).
pub(super) fn http_date(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// Truncates to whole seconds (how `Last-Modified` compares).
pub(super) fn whole_seconds(t: SystemTime) -> SystemTime {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    UNIX_EPOCH + Duration::from_secs(d.as_secs())
}

/// The `Content-Type` for a file name, by extension (`None`: unknown, sniff it).
pub(super) fn content_type_for(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" | "cjs" => "text/javascript; charset=utf-8",
        "json" | "map" => "application/json",
        "xml" => "application/xml",
        "txt" | "log" | "text" | "conf" | "cfg" | "ini" | "env" | "lock" => {
            "text/plain; charset=utf-8"
        }
        "md" | "markdown" => "text/markdown; charset=utf-8",
        "csv" => "text/csv; charset=utf-8",
        "tsv" => "text/tab-separated-values; charset=utf-8",
        "yaml" | "yml" => "application/yaml",
        "toml" => "application/toml",
        "sh" | "bash" | "py" | "rs" | "go" | "c" | "h" | "cpp" | "hpp" | "java" | "rb" | "ts"
        | "tsx" | "jsx" | "php" | "pl" | "lua" | "sql" | "kt" | "swift" => {
            "text/plain; charset=utf-8"
        }
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "bz2" => "application/x-bzip2",
        "xz" => "application/x-xz",
        "zst" => "application/zstd",
        "7z" => "application/x-7z-compressed",
        "wasm" => "application/wasm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "mp4" | "m4v" => "video/mp4",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "mov" => "video/quicktime",
        "avi" => "video/x-msvideo",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        _ => return None,
    })
}

/// The type of content whose extension says nothing: text when its first bytes are UTF-8
/// without NULs.
pub(super) fn sniff(head: &[u8]) -> &'static str {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the sample is still text.
        Err(e) => e.error_len().is_none(),
    };
    if valid && !head.contains(&0) {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

/// User and group names of this system (`/etc/passwd`, `/etc/group`), read per request.
#[derive(Debug, Default)]
pub(super) struct Names {
    users: HashMap<u32, String>,
    groups: HashMap<u32, String>,
}

impl Names {
    /// Reads both files (missing files give numeric names).
    pub fn load() -> Names {
        Names {
            users: parse_id_file("/etc/passwd", 2),
            groups: parse_id_file("/etc/group", 2),
        }
    }

    /// The name of `uid` (its number when unnamed).
    pub fn user(&self, uid: u32) -> String {
        self.users
            .get(&uid)
            .cloned()
            .unwrap_or_else(|| uid.to_string())
    }

    /// The name of `gid`.
    pub fn group(&self, gid: u32) -> String {
        self.groups
            .get(&gid)
            .cloned()
            .unwrap_or_else(|| gid.to_string())
    }

    /// The uid of `name` (a name or a number).
    pub fn uid_of(&self, name: &str) -> ApiResult<u32> {
        lookup(&self.users, name, "user")
    }

    /// The gid of `name` (a name or a number).
    pub fn gid_of(&self, name: &str) -> ApiResult<u32> {
        lookup(&self.groups, name, "group")
    }
}

fn lookup(table: &HashMap<u32, String>, name: &str, what: &str) -> ApiResult<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    table
        .iter()
        .find(|(_, n)| n.as_str() == name)
        .map(|(id, _)| *id)
        .ok_or_else(|| ApiError::validation(format!("no such {what}: {name:?}")))
}

fn parse_id_file(path: &str, id_field: usize) -> HashMap<u32, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    let mut map = HashMap::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if let (Some(name), Some(id)) = (fields.first(), fields.get(id_field))
            && let Ok(id) = id.parse::<u32>()
        {
            map.entry(id).or_insert_with(|| name.to_string());
        }
    }
    map
}

/// A permission mode from the API: a string of octal digits (`"755"`, `"0644"`) or a JSON
/// number written the same way (`755` means `0o755`, as `chmod 755` does).
pub(super) fn parse_mode(v: &Value) -> ApiResult<u32> {
    let digits = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) if n.is_u64() => n.to_string(),
        _ => {
            return Err(ApiError::validation(format!(
                "mode {v} must be octal digits such as \"755\""
            )));
        }
    };
    let digits = digits.strip_prefix("0o").unwrap_or(&digits);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 && !digits.is_empty() => Ok(m),
        _ => Err(ApiError::validation(format!(
            "mode {v} must be octal digits from 0 to 7777 such as \"755\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode(&json!("755")).unwrap(), 0o755);
        assert_eq!(parse_mode(&json!("0644")).unwrap(), 0o644);
        assert_eq!(parse_mode(&json!(755)).unwrap(), 0o755);
        assert!(parse_mode(&json!("9")).is_err());
        assert!(parse_mode(&json!("77777")).is_err());
        assert!(parse_mode(&json!(true)).is_err());
        assert!(parse_mode(&json!("")).is_err());
    }

    #[test]
    fn types() {
        assert_eq!(content_type_for("a.HTML"), Some("text/html; charset=utf-8"));
        assert_eq!(content_type_for("noext"), None);
        assert_eq!(sniff(b"hello\n"), "text/plain; charset=utf-8");
        assert_eq!(sniff(b"\x00\x01"), "application/octet-stream");
        assert_eq!(
            sniff("é".as_bytes().get(..1).unwrap()),
            "text/plain; charset=utf-8"
        );
    }
}
