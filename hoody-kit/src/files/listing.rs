//! Directory listings: dufs's JSON index, `?simple` names, the HTML page, and WebDAV
//! `PROPFIND` multistatus.

use std::cmp::Ordering;
use std::path::Path;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_encode};
use serde::Serialize;
use serde_json::{Value, json};

use super::Params;
use super::meta::{self, Info, PathType};
use super::paths::{Jail, Target};
use crate::{ApiError, ApiResult};

/// What stays unescaped in an href segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// The HTML page around a listing.
const INDEX_HTML: &str = include_str!("../../assets/files/index.html");

/// One entry of a listing, as dufs serializes it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Item {
    /// Its kind.
    pub path_type: PathType,
    /// Its name (a relative path in search results), lossy UTF-8.
    pub name: String,
    /// Modification time, ms since the epoch.
    pub mtime: u64,
    /// Bytes for files; the number of entries for directories (as dufs does).
    pub size: u64,
    /// The exact name bytes (for hrefs).
    #[serde(skip)]
    pub raw: Vec<u8>,
}

impl Item {
    /// The item for `path` named `raw` (relative to the listed directory).
    pub fn read(jail: &Jail, path: &Path, raw: Vec<u8>) -> std::io::Result<Item> {
        let info = Info::read(jail, path)?;
        let size = if info.path_type.is_dir() {
            std::fs::read_dir(path)
                .map(|d| d.count() as u64)
                .unwrap_or(0)
        } else {
            info.meta.len()
        };
        Ok(Item {
            path_type: info.path_type,
            name: String::from_utf8_lossy(&raw).into_owned(),
            mtime: meta::mtime_ms(&info.meta),
            size,
            raw,
        })
    }
}

/// The entries of directory `real` (blocking). Entries that vanish while listed are left
/// out.
pub(super) fn list(jail: &Jail, t: &Target, real: &Path) -> ApiResult<Vec<Item>> {
    let rd = std::fs::read_dir(real).map_err(|e| ApiError::io(t.rel(), &e))?;
    let mut items = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| ApiError::io(t.rel(), &e))?;
        use std::os::unix::ffi::OsStrExt;
        let raw = entry.file_name().as_bytes().to_vec();
        if let Ok(item) = Item::read(jail, &entry.path(), raw) {
            items.push(item);
        }
    }
    Ok(items)
}

/// Sorts as `?sort=name|mtime|size&order=asc|desc` asks (default: by name); directories come
/// first, as in dufs.
pub(super) fn sort(items: &mut [Item], q: &Params) -> ApiResult<()> {
    let by = q.get("sort").unwrap_or("name");
    let key: fn(&Item, &Item) -> Ordering = match by {
        "name" | "" => |a, b| natural_cmp(&a.name.to_lowercase(), &b.name.to_lowercase()),
        "mtime" => |a, b| a.mtime.cmp(&b.mtime),
        "size" => |a, b| a.size.cmp(&b.size),
        other => {
            return Err(ApiError::validation(format!(
                "sort {other:?} must be name, mtime or size"
            )));
        }
    };
    let desc = match q.get("order").unwrap_or("asc") {
        "asc" | "" => false,
        "desc" => true,
        other => {
            return Err(ApiError::validation(format!(
                "order {other:?} must be asc or desc"
            )));
        }
    };
    items.sort_by(|a, b| {
        b.path_type
            .is_dir()
            .cmp(&a.path_type.is_dir())
            .then_with(|| key(a, b))
            .then_with(|| a.name.cmp(&b.name))
    });
    if desc {
        items.reverse();
    }
    Ok(())
}

/// Compares with digit runs as numbers (`file2` before `file10`).
pub(super) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let na = trim_zeros(&a[..da]);
                let nb = trim_zeros(&b[..db]);
                let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let z = d.iter().take_while(|&&c| c == b'0').count();
    &d[z..]
}

/// dufs's `?json` index of directory `t`.
pub(super) fn index_json(t: &Target, items: &[Item]) -> Value {
    json!({
        "href": t.rel(),
        "kind": "Index",
        "uri_prefix": "/",
        "allow_upload": true,
        "allow_delete": true,
        "allow_search": true,
        "allow_archive": false,
        "dir_exists": true,
        "auth": false,
        "user": null,
        "paths": items,
    })
}

/// `?simple`: one name per line, directories with a trailing `/`.
pub(super) fn simple(items: &[Item]) -> String {
    let mut out = String::new();
    for it in items {
        out.push_str(&it.name);
        if it.path_type.is_dir() {
            out.push('/');
        }
        out.push('\n');
    }
    out
}

/// The percent-encoded href of `t` (with a trailing `/` when `dir`).
pub(super) fn href(t: &Target, dir: bool) -> String {
    let mut s = String::new();
    for seg in &t.segments {
        s.push('/');
        s.extend(percent_encode(seg, SEGMENT));
    }
    if dir || s.is_empty() {
        s.push('/');
    }
    s
}

/// Escapes text for HTML and XML.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn human_size(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// The HTML page of directory `t`: a breadcrumb, a table of entries (names link to the
/// files, directories to their listings) and upload / new-folder / delete controls that use
/// the service's own PUT, MKCOL and DELETE.
pub(super) fn index_html(t: &Target, items: &[Item]) -> String {
    let mut crumbs = String::from("<a href=\"/\">/</a>");
    let mut at = Target {
        segments: Vec::new(),
        abs: t.abs.clone(),
    };
    for seg in &t.segments {
        at.segments.push(seg.clone());
        crumbs.push_str(&format!(
            " <a href=\"{}\">{}</a> /",
            escape(&href(&at, true)),
            escape(&String::from_utf8_lossy(seg))
        ));
    }
    let mut rows = String::new();
    if !t.is_root() {
        let parent = Target {
            segments: t.segments[..t.segments.len() - 1].to_vec(),
            abs: t.abs.clone(),
        };
        rows.push_str(&format!(
            "<tr><td class=\"name dir\"><a href=\"{}\">../</a></td><td></td><td></td><td></td></tr>\n",
            escape(&href(&parent, true))
        ));
    }
    for it in items {
        let child = t.child(&it.raw);
        let dir = it.path_type.is_dir();
        let link = escape(&href(&child, dir));
        let (class, mark) = match it.path_type {
            PathType::Dir => ("dir", ""),
            PathType::SymlinkDir => ("dir", " <span class=\"link\" title=\"symlink\">↪</span>"),
            PathType::File => ("file", ""),
            PathType::SymlinkFile => ("file", " <span class=\"link\" title=\"symlink\">↪</span>"),
        };
        let size = if dir {
            format!("{} item{}", it.size, if it.size == 1 { "" } else { "s" })
        } else {
            human_size(it.size)
        };
        let when = crate::health::rfc3339(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(it.mtime),
        );
        let when = when.get(..19).unwrap_or(&when).replace('T', " ");
        rows.push_str(&format!(
            "<tr data-href=\"{link}\"><td class=\"name {class}\"><a href=\"{link}\">{name}{slash}</a>{mark}</td>\
             <td class=\"size\">{size}</td><td class=\"mtime\">{when}</td>\
             <td class=\"actions\">{dl}<button class=\"del\" title=\"Delete\">✕</button></td></tr>\n",
            name = escape(&it.name),
            slash = if dir { "/" } else { "" },
            dl = if dir {
                String::new()
            } else {
                format!("<a href=\"{link}?download\" title=\"Download\">⬇</a> ")
            },
        ));
    }
    INDEX_HTML
        .replace("__TITLE__", &escape(&t.rel()))
        .replace("__BREADCRUMB__", &crumbs)
        .replace("__ROWS__", &rows)
        .replace("__COUNT__", &items.len().to_string())
}

/// One WebDAV `<D:response>` for `t`.
pub(super) fn dav_response(t: &Target, info: &Info) -> String {
    let dir = info.path_type.is_dir();
    let m = &info.meta;
    let modified = meta::http_date(meta::mtime(m));
    let name = escape(&t.name());
    let href = escape(&href(t, dir));
    if dir {
        format!(
            "<D:response>\n<D:href>{href}</D:href>\n<D:propstat>\n<D:prop>\n\
             <D:displayname>{name}</D:displayname>\n<D:getlastmodified>{modified}</D:getlastmodified>\n\
             <D:resourcetype><D:collection/></D:resourcetype>\n</D:prop>\n\
             <D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n</D:response>\n"
        )
    } else {
        format!(
            "<D:response>\n<D:href>{href}</D:href>\n<D:propstat>\n<D:prop>\n\
             <D:displayname>{name}</D:displayname>\n<D:getcontentlength>{len}</D:getcontentlength>\n\
             <D:getlastmodified>{modified}</D:getlastmodified>\n<D:getetag>{etag}</D:getetag>\n\
             <D:resourcetype></D:resourcetype>\n</D:prop>\n\
             <D:status>HTTP/1.1 200 OK</D:status>\n</D:propstat>\n</D:response>\n",
            len = m.len(),
            etag = escape(&meta::etag(m)),
        )
    }
}

/// Wraps responses in a `<D:multistatus>` document.
pub(super) fn multistatus(responses: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">\n{responses}</D:multistatus>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["file10", "file2", "File1", "a", "file02b"];
        v.sort_by(|a, b| natural_cmp(&a.to_lowercase(), &b.to_lowercase()));
        assert_eq!(v, ["a", "File1", "file2", "file02b", "file10"]);
    }

    #[test]
    fn hrefs_encode_each_segment() {
        let t = Target {
            segments: vec![b"a b".to_vec(), b"c?d#e".to_vec(), vec![0xff]],
            abs: "/x".into(),
        };
        assert_eq!(href(&t, true), "/a%20b/c%3Fd%23e/%FF/");
        assert_eq!(href(&Target::root(Path::new("/")), false), "/");
    }
}
