//! Sending files: the whole file or one byte range, conditional requests, and the derived
//! views (`?hash`, `?base64`, `?lines`), all streamed in fixed-size chunks.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::Params;
use super::meta;
use super::paths::Target;
use crate::{ApiError, ApiResult};

/// Read size for streamed downloads.
const CHUNK: usize = 256 * 1024;

/// An open file ready to send.
#[derive(Debug)]
pub(super) struct Opened {
    file: File,
    meta: Metadata,
    content_type: &'static str,
    /// For a file whose size says 0: the first bytes, when it has some (procfs files).
    unsized_head: Option<usize>,
}

/// Opens `path` for reading only if it is a regular file: opened non-blocking, so a FIFO
/// or a device does not hang the open (the flag changes nothing for regular files).
pub(super) fn open_regular(path: &Path) -> io::Result<(File, Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((file, meta))
}

/// [`open_regular`] for `t`, with the API's errors.
fn open_target(t: &Target, real: &Path) -> ApiResult<(File, Metadata)> {
    open_regular(real).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidInput {
            ApiError::validation(format!("{} is not a regular file", t.rel()))
        } else {
            ApiError::io(t.rel(), &e)
        }
    })
}

/// Opens `real` (the path to read, symlinks already checked) for sending; blocking.
pub(super) fn open(t: &Target, real: &Path) -> ApiResult<Opened> {
    let (file, meta) = open_target(t, real)?;
    let mut head = [0u8; 1024];
    let needs_sniff = meta::content_type_for(&t.name()).is_none();
    let n = if needs_sniff || meta.len() == 0 {
        file.read_at(&mut head, 0).unwrap_or(0)
    } else {
        0
    };
    let content_type = meta::content_type_for(&t.name()).unwrap_or_else(|| meta::sniff(&head[..n]));
    let unsized_head = (meta.len() == 0 && n > 0).then_some(n);
    Ok(Opened {
        file,
        meta,
        content_type,
        unsized_head,
    })
}

enum Ranged {
    Full,
    Part(u64, u64),
    Unsatisfiable,
}

/// `Range: bytes=...` against a representation of `size` bytes. Multiple ranges and
/// malformed headers are ignored (the whole file is sent), as RFC 9110 allows.
fn parse_range(v: &str, size: u64) -> Ranged {
    let Some(spec) = v
        .trim()
        .split_once('=')
        .filter(|(unit, _)| unit.trim().eq_ignore_ascii_case("bytes"))
        .map(|(_, s)| s.trim())
    else {
        return Ranged::Full;
    };
    if spec.contains(',') {
        return Ranged::Full;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Ranged::Full;
    };
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return match b.parse::<u64>() {
            Ok(0) => Ranged::Unsatisfiable,
            Ok(_) if size == 0 => Ranged::Unsatisfiable,
            Ok(n) => Ranged::Part(size.saturating_sub(n), size - 1),
            Err(_) => Ranged::Full,
        };
    }
    let Ok(start) = a.parse::<u64>() else {
        return Ranged::Full;
    };
    let end = if b.is_empty() {
        u64::MAX
    } else {
        match b.parse::<u64>() {
            Ok(e) if e >= start => e,
            _ => return Ranged::Full,
        }
    };
    if start >= size {
        return Ranged::Unsatisfiable;
    }
    Ranged::Part(start, end.min(size - 1))
}

/// Whether an entity-tag list (`If-None-Match`, `If-Match`) names `etag`; `weak` compares
/// ignoring `W/`.
fn etag_listed(list: &str, etag: &str, weak: bool) -> bool {
    list.split(',').map(str::trim).any(|tag| {
        if tag == "*" {
            return true;
        }
        if weak {
            tag.trim_start_matches("W/") == etag
        } else {
            tag == etag
        }
    })
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn parse_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// `Content-Disposition` for `name`: `attachment` or `inline`, with an ASCII fallback and the
/// exact UTF-8 name.
fn disposition(kind: &str, name: &str) -> HeaderValue {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let exact = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{exact}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// The response for `GET`/`HEAD` of an opened file.
pub(super) fn respond(
    t: &Target,
    opened: Opened,
    req: &HeaderMap,
    q: &Params,
    head: bool,
) -> ApiResult<Response> {
    let Opened {
        file,
        meta,
        content_type,
        unsized_head,
    } = opened;
    let etag = meta::etag(&meta);
    let modified = meta::whole_seconds(meta::mtime(&meta));
    let last_modified = meta::http_date(modified);

    let mut res = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, &last_modified);

    if let Some(list) = header_str(req, header::IF_MATCH)
        && !etag_listed(list, &etag, false)
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "PRECONDITION_FAILED",
            format!("{} does not match If-Match {list}", t.rel()),
        ));
    }
    let not_modified = match header_str(req, header::IF_NONE_MATCH) {
        Some(list) => etag_listed(list, &etag, true),
        None => header_str(req, header::IF_MODIFIED_SINCE)
            .and_then(parse_date)
            .is_some_and(|since| modified <= since),
    };
    if not_modified {
        return res
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| ApiError::internal(format!("response for {}: {e}", t.rel())));
    }

    let content_type = match q.get("content-type") {
        Some(ct) => HeaderValue::from_str(ct)
            .map_err(|_| ApiError::validation(format!("invalid content-type {ct:?}")))?,
        None => HeaderValue::from_static(content_type),
    };
    let kind = if q.flag("download") {
        "attachment"
    } else {
        "inline"
    };
    res = res
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, disposition(kind, &t.name()));

    let size = meta.len();
    if unsized_head.is_some() {
        // A file that reports size 0 but has content (procfs, sysfs): sent to its end,
        // without a length or ranges.
        let body = if head {
            Body::empty()
        } else {
            reader_body(file, None)
        };
        return res
            .header(header::ACCEPT_RANGES, "none")
            .body(body)
            .map_err(|e| ApiError::internal(format!("response for {}: {e}", t.rel())));
    }
    res = res.header(header::ACCEPT_RANGES, "bytes");

    let range_ok = match header_str(req, header::IF_RANGE) {
        None => true,
        Some(v) if v.trim_start().starts_with('"') => v.trim() == etag,
        Some(v) => parse_date(v).is_some_and(|d| d == modified),
    };
    let ranged = match header_str(req, header::RANGE) {
        Some(r) if range_ok => parse_range(r, size),
        _ => Ranged::Full,
    };
    let (status, start, len) = match ranged {
        Ranged::Full => (StatusCode::OK, 0, size),
        Ranged::Part(start, end) => {
            res = res.header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        Ranged::Unsatisfiable => {
            let mut res = axum::response::IntoResponse::into_response(
                ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "RANGE_NOT_SATISFIABLE",
                    format!(
                        "{} has {size} bytes; the requested range is outside",
                        t.rel()
                    ),
                )
                .with_details(serde_json::json!({"size": size})),
            );
            // RFC 9110: a 416 names the current length.
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                res.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(res);
        }
    };
    let body = if head || len == 0 {
        Body::empty()
    } else {
        let mut file = file;
        file.seek(SeekFrom::Start(start))
            .map_err(|e| ApiError::io(t.rel(), &e))?;
        reader_body(file, Some(len))
    };
    res.status(status)
        .header(header::CONTENT_LENGTH, len)
        .body(body)
        .map_err(|e| ApiError::internal(format!("response for {}: {e}", t.rel())))
}

/// A body streaming `file` (from its current offset) in [`CHUNK`]s, `len` bytes or to its
/// end. One blocking-pool thread reads straight into each chunk's buffer and hands it over
/// (up to 4 chunks ahead): no copy out of an intermediate buffer and no thread hop per read,
/// unlike `tokio::fs::File` (measured: 1.3-1.5x the throughput on a 1 GiB download).
fn reader_body(mut file: File, len: Option<u64>) -> Body {
    blocking_body(move |tx| {
        let mut left = len.unwrap_or(u64::MAX);
        while left > 0 {
            let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            let mut buf = vec![0u8; want];
            let n = read_full(&mut file, &mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            left -= n as u64;
            if !send(tx, buf) {
                break;
            }
        }
        Ok(())
    })
}

/// A body fed by `produce` running on the blocking pool; `produce` sends chunks until it is
/// done or the client is gone (a send fails).
pub(super) fn blocking_body<F>(produce: F) -> Body
where
    F: FnOnce(&mpsc::Sender<io::Result<Bytes>>) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = produce(&tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Sends `chunk`; `false` when the receiver is gone.
fn send(tx: &mpsc::Sender<io::Result<Bytes>>, chunk: Vec<u8>) -> bool {
    tx.blocking_send(Ok(Bytes::from(chunk))).is_ok()
}

/// Reads until `buf` is full or the end of the file; the number read.
fn read_full(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The SHA-256 of a file, hex, read in 1 MiB chunks on the blocking pool.
pub(super) fn sha256_hex(t: &Target, real: &Path) -> ApiResult<String> {
    let (mut f, _) = open_target(t, real)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = read_full(&mut f, &mut buf).map_err(|e| ApiError::io(t.rel(), &e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex.
pub(super) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The file's content as standard base64 (no line breaks), streamed.
pub(super) fn base64_body(t: &Target, real: PathBuf) -> ApiResult<Body> {
    let (mut f, _) = open_target(t, &real)?;
    Ok(blocking_body(move |tx| {
        // A multiple of 3, so chunks encode without padding until the last.
        let mut buf = vec![0u8; 3 * 64 * 1024];
        loop {
            let n = read_full(&mut f, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            let enc = base64::engine::general_purpose::STANDARD.encode(&buf[..n]);
            if !send(tx, enc.into_bytes()) || n < buf.len() {
                return Ok(());
            }
        }
    }))
}

/// A 1-based inclusive line range: `10-20`, `10-`, `-20`, `7`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lines {
    first: u64,
    last: Option<u64>,
}

impl Lines {
    /// Parses the `lines` parameter.
    pub fn parse(s: &str) -> ApiResult<Lines> {
        let bad = || {
            ApiError::validation(format!(
                "lines {s:?} must be a 1-based range: 10-20, 10-, -20 or 7"
            ))
        };
        let num = |x: &str| x.trim().parse::<u64>().map_err(|_| bad());
        let (first, last) = match s.split_once('-') {
            None => {
                let n = num(s)?;
                (n, Some(n))
            }
            Some((a, b)) => {
                let first = if a.trim().is_empty() { 1 } else { num(a)? };
                let last = if b.trim().is_empty() {
                    None
                } else {
                    Some(num(b)?)
                };
                (first, last)
            }
        };
        if first == 0 || last.is_some_and(|l| l < first) {
            return Err(bad());
        }
        Ok(Lines { first, last })
    }
}

/// Lines `range` of a text file, streamed as they are read.
pub(super) fn lines_body(t: &Target, real: PathBuf, range: Lines) -> ApiResult<Body> {
    let (f, _) = open_target(t, &real)?;
    Ok(blocking_body(move |tx| {
        let mut r = io::BufReader::with_capacity(CHUNK, f);
        let mut out = Vec::with_capacity(64 * 1024);
        let mut line = Vec::new();
        let mut n = 0u64;
        loop {
            line.clear();
            if io::BufRead::read_until(&mut r, b'\n', &mut line)? == 0 {
                break;
            }
            n += 1;
            if n < range.first {
                continue;
            }
            if range.last.is_some_and(|l| n > l) {
                break;
            }
            out.extend_from_slice(&line);
            if out.len() >= 64 * 1024 && !send(tx, std::mem::take(&mut out)) {
                return Ok(());
            }
        }
        if !out.is_empty() {
            send(tx, out);
        }
        Ok(())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(r: Ranged) -> Option<(u64, u64)> {
        match r {
            Ranged::Part(a, b) => Some((a, b)),
            _ => None,
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(part(parse_range("bytes=0-9", 100)), Some((0, 9)));
        assert_eq!(part(parse_range("bytes=90-", 100)), Some((90, 99)));
        assert_eq!(part(parse_range("bytes=90-1000", 100)), Some((90, 99)));
        assert_eq!(part(parse_range("bytes=-10", 100)), Some((90, 99)));
        assert_eq!(part(parse_range("bytes=-1000", 100)), Some((0, 99)));
        assert!(matches!(
            parse_range("bytes=100-", 100),
            Ranged::Unsatisfiable
        ));
        assert!(matches!(
            parse_range("bytes=-0", 100),
            Ranged::Unsatisfiable
        ));
        assert!(matches!(parse_range("bytes=0-", 0), Ranged::Unsatisfiable));
        assert!(matches!(parse_range("bytes=5-2", 100), Ranged::Full));
        assert!(matches!(parse_range("bytes=0-1,5-6", 100), Ranged::Full));
        assert!(matches!(parse_range("items=0-1", 100), Ranged::Full));
        assert!(matches!(parse_range("bytes=x-1", 100), Ranged::Full));
    }

    #[test]
    fn etags() {
        assert!(etag_listed("\"a\", W/\"b\"", "\"b\"", true));
        assert!(!etag_listed("W/\"b\"", "\"b\"", false));
        assert!(etag_listed("*", "\"b\"", false));
    }

    #[test]
    fn line_ranges() {
        assert_eq!(
            Lines::parse("10-20").unwrap(),
            Lines {
                first: 10,
                last: Some(20)
            }
        );
        assert_eq!(Lines::parse("-3").unwrap().first, 1);
        assert_eq!(Lines::parse("5").unwrap().last, Some(5));
        assert!(Lines::parse("0-2").is_err());
        assert!(Lines::parse("5-2").is_err());
        assert!(Lines::parse("a").is_err());
    }
}
