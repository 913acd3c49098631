//! Access logs per container: every proxied request (method, host, path, status, bytes,
//! duration, client address, time) goes into a bounded in-memory ring per container (the last
//! [`RING`] requests, for the logs Kit service) and is appended as a JSON line to
//! `<dir>/<container>.jsonl` (rotated to `.jsonl.1` past [`ROTATE_BYTES`]), which hoodyd serves
//! at `GET /api/v1/containers/{id}/proxy/logs`.
//!
//! The request path pays for copying what it already has into a byte buffer of its own
//! serving thread ([`AccessLogger::for_thread`]), under a lock only the writer also takes, once
//! every 100 ms: no allocation, no wakeup, no syscall, and nothing one thread allocates is
//! freed by another. The writer thread swaps each buffer for an empty one and does the
//! decoding, formatting, the ring and the buffered file writes. When more than
//! [`MAX_PENDING_BYTES`] wait in a buffer, new requests are dropped from the log (and counted)
//! rather than slowing requests down.
//!
//! Several processes (the proxy's worker processes, [`crate::server`]) write the same files,
//! each with a logger of its own, so the files are written to be shared:
//! - Appends of whole lines: the file is opened with `O_APPEND` and the lines waiting for it
//!   go out in one `write` (of at most about 64 KiB, or one longer line), which Linux performs
//!   as one append under the file's lock; lines from two processes follow each other, they do
//!   not mix. The lines of one file are in order per process, batch after batch, not globally.
//! - Rotation by the file's real size: before writing, the writer looks at the size of the file
//!   it holds (`fstat`), not at a count of its own bytes, so every process sees the same
//!   trigger. The rename is done under an exclusive `flock` on the file, and only if the path
//!   still names that file; a process that finds the file already renamed reopens the path
//!   instead of renaming the new file (which would lose the rotated one). Lines written to the
//!   old file between another process's rename and this one's next write land in `.jsonl.1`,
//!   where they are kept. A file removed under the writer is recreated the same way.
//!
//! Each process keeps its own rings: [`AccessLogger::recent`] answers with the requests this
//! process served; the files (which hoodyd reads) hold all of them.

use std::collections::VecDeque;
use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use foldhash::HashMap;
use hoody_api::AccessLogEntry;

use crate::framing::push_decimal;

/// Requests kept in memory per container.
pub const RING: usize = 1000;
/// Bytes of encoded requests waiting for the writer in one thread's buffer, at most (some
/// hundred thousand requests).
pub const MAX_PENDING_BYTES: usize = 32 << 20;
/// A log file is rotated past this size.
pub const ROTATE_BYTES: u64 = 16 << 20;
/// How often the writer writes what the serving threads logged.
const FLUSH_EVERY: Duration = Duration::from_millis(100);

/// One finished request, as the proxy knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'a> {
    /// The container.
    pub container: &'a str,
    /// When the request head arrived.
    pub at: SystemTime,
    /// The client.
    pub client_ip: IpAddr,
    /// Method.
    pub method: &'a str,
    /// Host as sent.
    pub host: &'a str,
    /// Path and query.
    pub path: &'a str,
    /// Response status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Until the response body ended (or the client went away).
    pub duration: Duration,
    /// `http-8080`, `terminal-1`, ...
    pub service: &'a str,
}

/// The last [`RING`] requests of each container, as their JSON lines (read back only when
/// asked for). Containers are numbered in the order the writer first saw them; the writer
/// keeps the number of the last one it wrote to, so a run of requests to one container costs
/// no lookup.
#[derive(Debug, Default)]
struct Rings {
    index: HashMap<String, usize>,
    rings: Vec<LineRing>,
}

impl Rings {
    /// The number of `container`'s ring, made on first sight.
    fn number(&mut self, container: &str) -> usize {
        if let Some(&i) = self.index.get(container) {
            return i;
        }
        self.rings.push(LineRing::default());
        self.index
            .insert(container.to_string(), self.rings.len() - 1);
        self.rings.len() - 1
    }
}

/// The last [`RING`] lines of one container in one buffer: keeping a line allocates nothing
/// (the buffer is compacted when its dead front is at least half of it).
#[derive(Debug, Default)]
struct LineRing {
    bytes: Vec<u8>,
    /// Where the oldest kept line starts in `bytes`.
    start: usize,
    /// The kept lines' lengths, oldest first.
    lens: VecDeque<u32>,
}

impl LineRing {
    fn push(&mut self, line: &[u8]) {
        if self.lens.len() == RING
            && let Some(n) = self.lens.pop_front()
        {
            self.start += n as usize;
        }
        if self.start > 0 && self.start >= self.bytes.len() / 2 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        self.bytes.extend_from_slice(line);
        self.lens.push_back(line.len() as u32);
    }

    /// The kept lines, oldest first.
    fn lines(&self) -> Vec<&[u8]> {
        let mut at = self.start;
        self.lens
            .iter()
            .map(|&n| {
                let line = &self.bytes[at..at + n as usize];
                at += n as usize;
                line
            })
            .collect()
    }
}

/// The logger (cheap to clone, shared).
#[derive(Debug, Clone)]
pub struct AccessLogger {
    inner: Arc<Inner>,
    /// Where this handle's requests wait for the writer.
    shard: Arc<Shard>,
}

#[derive(Debug)]
struct Inner {
    shards: Mutex<Vec<Weak<Shard>>>,
    rings: Mutex<Rings>,
    dropped: AtomicU64,
}

/// Encoded requests of one serving thread.
#[derive(Debug, Default)]
struct Shard {
    pending: Mutex<Vec<u8>>,
}

impl AccessLogger {
    /// A logger writing under `dir` from a thread of its own.
    pub fn start(dir: PathBuf) -> std::io::Result<Self> {
        Self::start_with(Files {
            dir,
            rotate_bytes: ROTATE_BYTES,
            every: FLUSH_EVERY,
        })
    }

    fn start_with(files: Files) -> std::io::Result<Self> {
        std::fs::create_dir_all(&files.dir)?;
        let shard = Arc::new(Shard::default());
        let inner = Arc::new(Inner {
            shards: Mutex::new(vec![Arc::downgrade(&shard)]),
            rings: Mutex::default(),
            dropped: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer(files, weak))?;
        Ok(AccessLogger { inner, shard })
    }

    /// A handle to the same log with a buffer of its own, for one serving thread (handles
    /// that share a buffer share its lock).
    pub fn for_thread(&self) -> Self {
        let shard = Arc::new(Shard::default());
        self.inner
            .shards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&shard));
        AccessLogger {
            inner: self.inner.clone(),
            shard,
        }
    }

    /// Records one request.
    pub fn record(&self, r: &Request<'_>) {
        let mut p = self.shard.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < MAX_PENDING_BYTES {
            encode(&mut p, r);
        } else {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The last `n` requests of `container`, oldest first (what the writer has seen so far).
    pub fn recent(&self, container: &str, n: usize) -> Vec<AccessLogEntry> {
        let rings = self.inner.rings.lock().unwrap_or_else(|e| e.into_inner());
        let Some(&i) = rings.index.get(container) else {
            return Vec::new();
        };
        let lines = rings.rings[i].lines();
        let skip = lines.len().saturating_sub(n);
        lines
            .into_iter()
            .skip(skip)
            .filter_map(|line| serde_json::from_slice(line).ok())
            .collect()
    }

    /// Requests dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }
}

/// A request as bytes: the strings length-prefixed (u32), numbers little-endian, the time as
/// milliseconds since the epoch, the duration in nanoseconds, the address tagged 4 or 6.
fn encode(out: &mut Vec<u8>, r: &Request<'_>) {
    fn text(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    text(out, r.container);
    let at =
        r.at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
    out.extend_from_slice(&(at.as_millis() as u64).to_le_bytes());
    match r.client_ip {
        IpAddr::V4(a) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.push(6);
            out.extend_from_slice(&a.octets());
        }
    }
    text(out, r.method);
    text(out, r.host);
    text(out, r.path);
    out.extend_from_slice(&r.status.to_le_bytes());
    out.extend_from_slice(&r.bytes.to_le_bytes());
    out.extend_from_slice(&(r.duration.as_nanos() as u64).to_le_bytes());
    text(out, r.service);
}

/// Reads [`encode`]'s requests back, one at a time.
struct Decoder<'a>(&'a [u8]);

impl<'a> Decoder<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn text(&mut self) -> Option<&'a str> {
        let n = u32::from_le_bytes(self.array()?) as usize;
        let bytes = self.take(n)?;
        // Checked in debug builds; the writer formats hundreds of thousands of these a second.
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: a decoder reads a buffer that only `encode` wrote, record after record from
        // its start, so `bytes` is exactly the bytes of a `&str` that `encode` was given.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    }

    fn next_request(&mut self) -> Option<Request<'a>> {
        if self.0.is_empty() {
            return None;
        }
        let container = self.text()?;
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(u64::from_le_bytes(self.array()?));
        let client_ip = match self.take(1)?[0] {
            4 => IpAddr::V4(Ipv4Addr::from(self.array::<4>()?)),
            _ => IpAddr::V6(Ipv6Addr::from(self.array::<16>()?)),
        };
        Some(Request {
            container,
            at,
            client_ip,
            method: self.text()?,
            host: self.text()?,
            path: self.text()?,
            status: u16::from_le_bytes(self.array()?),
            bytes: u64::from_le_bytes(self.array()?),
            duration: Duration::from_nanos(u64::from_le_bytes(self.array()?)),
            service: self.text()?,
        })
    }
}

/// What the writer formats once and reuses: the time to the second, the last client address.
#[derive(Default)]
struct Formatter {
    second: Option<(u64, String)>,
    client: Option<(IpAddr, String)>,
}

impl Formatter {
    /// `r` as a JSON line of [`AccessLogEntry`] (same fields, same order as serde writes them),
    /// without building the entry: the writer's work per request is most of the log's cost.
    fn line(&mut self, r: &Request<'_>, out: &mut Vec<u8>) {
        fn text(out: &mut Vec<u8>, s: &str) {
            // Most strings need no escaping (hosts are checked by the grammar, methods are
            // tokens): copied as they are; the rest go through serde_json's escaper. The test
            // looks at every byte without stopping early, which the compiler vectorises.
            let needs_escape = s.bytes().fold(false, |any, b| {
                any | (b < 0x20) | (b == b'"') | (b == b'\\')
            });
            if !needs_escape {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            } else if serde_json::to_writer(&mut *out, s).is_err() {
                out.extend_from_slice(b"\"\"");
            }
        }
        let d =
            r.at.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
        let second = match &self.second {
            Some((s, t)) if *s == d.as_secs() => t,
            _ => {
                let t = hoody_sys::time::rfc3339(d.as_secs() as i64);
                let t = t.trim_end_matches('Z').to_string();
                &self.second.insert((d.as_secs(), t)).1
            }
        };
        let client = match &self.client {
            Some((ip, t)) if *ip == r.client_ip => t,
            _ => &self.client.insert((r.client_ip, r.client_ip.to_string())).1,
        };
        out.extend_from_slice(b"{\"time\":\"");
        out.extend_from_slice(second.as_bytes());
        let ms = d.subsec_millis();
        out.extend_from_slice(&[
            b'.',
            b'0' + (ms / 100) as u8,
            b'0' + (ms / 10 % 10) as u8,
            b'0' + (ms % 10) as u8,
        ]);
        out.extend_from_slice(b"Z\",\"client_ip\":\"");
        out.extend_from_slice(client.as_bytes());
        out.extend_from_slice(b"\",\"method\":");
        text(out, r.method);
        out.extend_from_slice(b",\"host\":");
        text(out, r.host);
        out.extend_from_slice(b",\"path\":");
        text(out, r.path);
        out.extend_from_slice(b",\"status\":");
        push_decimal(out, u64::from(r.status));
        out.extend_from_slice(b",\"bytes\":");
        push_decimal(out, r.bytes);
        out.extend_from_slice(b",\"duration_ms\":");
        if serde_json::to_writer(&mut *out, &(r.duration.as_secs_f64() * 1000.0)).is_err() {
            out.push(b'0');
        }
        out.extend_from_slice(b",\"service\":");
        text(out, r.service);
        out.extend_from_slice(b"}\n");
    }
}

/// Makes the calling thread a batch thread (Linux `SCHED_BATCH`): it keeps its fair share of
/// the CPU but does not preempt the serving threads when it wakes up, so a batch of formatting
/// delays no request (as a woken thread otherwise would, being owed CPU time).
fn become_batch_thread() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_setscheduler with pid 0 changes only the calling thread's policy; `param`
    // is a valid sched_param that outlives the call. Failure leaves the policy as it was.
    let _ = unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) };
}

/// Where and how the writer writes files.
#[derive(Debug)]
struct Files {
    dir: PathBuf,
    rotate_bytes: u64,
    /// How often the writer takes the threads' buffers and writes.
    every: Duration,
}

fn writer(files: Files, inner: Weak<Inner>) {
    become_batch_thread();
    // Indexed by the rings' container numbers.
    let mut open = OpenFiles::default();
    let mut format = Formatter::default();
    let mut line = Vec::new();
    // Swapped with each thread's buffer: both keep their capacity, nothing is allocated.
    let mut batch = Vec::new();
    loop {
        std::thread::sleep(files.every);
        let Some(inner) = inner.upgrade() else {
            break;
        };
        let shards: Vec<Arc<Shard>> = {
            let mut all = inner.shards.lock().unwrap_or_else(|e| e.into_inner());
            all.retain(|s| s.strong_count() > 0);
            all.iter().filter_map(Weak::upgrade).collect()
        };
        for shard in shards {
            {
                let mut p = shard.pending.lock().unwrap_or_else(|e| e.into_inner());
                std::mem::swap(&mut *p, &mut batch);
            }
            // One lock per batch: only `recent` (rare) waits for it.
            let mut rings = inner.rings.lock().unwrap_or_else(|e| e.into_inner());
            let mut last: Option<(usize, &str)> = None;
            let mut d = Decoder(&batch);
            while let Some(r) = d.next_request() {
                line.clear();
                format.line(&r, &mut line);
                let n = match last {
                    Some((n, c)) if c == r.container => n,
                    _ => rings.number(r.container),
                };
                last = Some((n, r.container));
                rings.rings[n].push(line.trim_ascii_end());
                open.push(&files, n, r.container, &line);
            }
            drop(rings);
            batch.clear();
        }
        open.flush_all(files.rotate_bytes);
    }
}

/// The writer's open log files, by container number (at most [`MAX_OPEN`] at a time).
#[derive(Default)]
struct OpenFiles {
    by_number: Vec<Option<Open>>,
    count: usize,
}

/// Log files the writer keeps open at most; past that all are closed (and reopened as needed).
const MAX_OPEN: usize = 256;

impl OpenFiles {
    fn push(&mut self, files: &Files, n: usize, container: &str, line: &[u8]) {
        if self.by_number.len() <= n {
            self.by_number.resize_with(n + 1, || None);
        }
        if self.by_number[n].is_none() {
            if self.count >= MAX_OPEN {
                self.flush_all(files.rotate_bytes);
                self.by_number.iter_mut().for_each(|f| *f = None);
                self.count = 0;
            }
            let path = files.dir.join(format!("{container}.jsonl"));
            match Open::new(path) {
                Ok(f) => {
                    self.by_number[n] = Some(f);
                    self.count += 1;
                }
                Err((path, e)) => {
                    eprintln!("hoody-proxy: access log {}: {e}", path.display());
                    return;
                }
            }
        }
        if let Some(f) = &mut self.by_number[n] {
            f.push(line, files.rotate_bytes);
        }
    }

    fn flush_all(&mut self, rotate_bytes: u64) {
        for f in self.by_number.iter_mut().flatten() {
            f.flush(rotate_bytes);
        }
    }
}

/// One container's log file, open for appending, and the lines waiting to go into it.
struct Open {
    path: PathBuf,
    file: File,
    /// Whole lines only, written with one `write` (so several writers' lines never mix).
    pending: Vec<u8>,
    /// The last write failed; reported once until one succeeds.
    failing: bool,
}

/// Lines are written in chunks of about this many bytes (one line may be longer).
const WRITE_CHUNK: usize = 64 << 10;

fn open_for_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

impl Open {
    fn new(path: PathBuf) -> Result<Self, (PathBuf, std::io::Error)> {
        match open_for_append(&path) {
            Ok(file) => Ok(Open {
                path,
                file,
                pending: Vec::with_capacity(WRITE_CHUNK),
                failing: false,
            }),
            Err(e) => Err((path, e)),
        }
    }

    fn push(&mut self, line: &[u8], rotate_bytes: u64) {
        if !self.pending.is_empty() && self.pending.len() + line.len() > WRITE_CHUNK {
            self.flush(rotate_bytes);
        }
        self.pending.extend_from_slice(line);
    }

    /// Appends the pending lines to the file the path names now, in one `write`.
    fn flush(&mut self, rotate_bytes: u64) {
        if self.pending.is_empty() {
            return;
        }
        let written = self
            .follow_rotation(rotate_bytes)
            .and_then(|()| append(&self.file, &self.pending));
        match written {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    eprintln!("hoody-proxy: access log {}: {e}", self.path.display());
                }
                self.failing = true;
            }
        }
        self.pending.clear();
    }

    /// Makes `file` the file the path names, rotating it first if it is past `rotate_bytes`.
    ///
    /// The decision is taken on the file's real size (fstat), which every process appending
    /// to it sees alike. The one that rotates holds an exclusive `flock` on the file from its
    /// check to the rename; another that finds the same file too big waits for that lock,
    /// then finds the path naming a different file (the rename happened) and only reopens.
    /// So a file is renamed once, and no process renames the new file over the one just
    /// rotated. A file removed under us (no links left) is reopened (created) the same way.
    fn follow_rotation(&mut self, rotate_bytes: u64) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let held = self.file.metadata()?;
        if held.nlink() > 0 && held.len() <= rotate_bytes {
            return Ok(());
        }
        lock_exclusive(&self.file)?;
        // Still ours to rotate: the path names the file we hold (nobody renamed it meanwhile).
        if let Ok(named) = std::fs::metadata(&self.path)
            && (named.dev(), named.ino()) == (held.dev(), held.ino())
            && held.nlink() > 0
        {
            std::fs::rename(&self.path, self.path.with_extension("jsonl.1"))?;
        }
        // Replacing the old file closes it, which releases the lock.
        self.file = open_for_append(&self.path)?;
        Ok(())
    }
}

/// `flock(LOCK_EX)` on `file`, waiting for it (released when the file is closed).
fn lock_exclusive(file: &File) -> std::io::Result<()> {
    hoody_sys::lock::lock(file, hoody_sys::lock::Mode::Exclusive)
}

/// Appends `data` (whole lines) to `file`, opened with O_APPEND. On a local file system one
/// `write` of it is one append: Linux moves to the end and copies the data under the file's
/// lock, so lines of several processes appending to the same file never interleave. Only a
/// short write (disk full) would split a line; the rest is then written after it, and the
/// reader skips a line that does not parse.
fn append(file: &File, mut data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = file;
    while !data.is_empty() {
        match out.write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let base = hoody_sys::time::rfc3339(d.as_secs() as i64);
    format!("{}.{:03}Z", base.trim_end_matches('Z'), d.subsec_millis())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn request(container: &str, path: &str, ip: IpAddr) -> Request<'static> {
        Request {
            container: container.to_string().leak(),
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_590_400_123),
            client_ip: ip,
            method: "GET",
            host: "h.example",
            path: path.to_string().leak(),
            status: 200,
            bytes: 12345,
            duration: Duration::from_micros(1500),
            service: "http-8080",
        }
    }

    #[test]
    fn requests_decode_as_encoded() {
        let a = request("c1", "/a?b=c", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7)));
        let b = request("c2", "/\u{e9}", "2001:db8::1".parse().unwrap());
        let mut buf = Vec::new();
        encode(&mut buf, &a);
        encode(&mut buf, &b);
        let mut d = Decoder(&buf);
        assert_eq!(d.next_request().unwrap(), a);
        assert_eq!(d.next_request().unwrap(), b);
        assert!(d.next_request().is_none());
    }

    #[test]
    fn a_ring_keeps_the_last_lines_in_order() {
        let mut ring = LineRing::default();
        let line = |i: usize| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 37));
        for i in 0..RING * 5 + 17 {
            ring.push(line(i).as_bytes());
            let kept = ring.lines();
            assert_eq!(kept.len(), (i + 1).min(RING));
            assert_eq!(kept.last().copied(), Some(line(i).as_bytes()));
            // Compaction keeps the dead front at most as big as the live lines.
            assert!(ring.start <= ring.bytes.len() - ring.start, "{i}");
        }
        let kept = ring.lines();
        let first = RING * 4 + 17;
        for (k, l) in kept.iter().enumerate() {
            assert_eq!(*l, line(first + k).as_bytes());
        }
    }

    #[test]
    fn lines_are_what_serde_writes_for_the_entry() {
        let mut f = Formatter::default();
        for (path, ip) in [
            ("/a?b=c", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7))),
            ("/\"q\"\\\u{1}\u{e9}", "2001:db8::1".parse().unwrap()),
        ] {
            let mut r = request("c1", path, ip);
            for (at_ms, duration, bytes) in [
                (0, Duration::ZERO, 0),
                (999, Duration::from_nanos(1), u64::MAX),
            ] {
                r.at += Duration::from_millis(at_ms);
                r.duration = duration;
                r.bytes = bytes;
                let mut line = Vec::new();
                f.line(&r, &mut line);
                let d = r.at.duration_since(SystemTime::UNIX_EPOCH).unwrap();
                let base = hoody_sys::time::rfc3339(d.as_secs() as i64);
                let entry = AccessLogEntry {
                    time: format!("{}.{:03}Z", base.trim_end_matches('Z'), d.subsec_millis()),
                    client_ip: ip.to_string(),
                    method: r.method.into(),
                    host: r.host.into(),
                    path: r.path.into(),
                    status: r.status,
                    bytes: r.bytes,
                    duration_ms: r.duration.as_secs_f64() * 1000.0,
                    service: r.service.into(),
                };
                let want = serde_json::to_string(&entry).unwrap() + "\n";
                assert_eq!(String::from_utf8(line).unwrap(), want);
            }
        }
    }

    #[test]
    fn the_writer_fills_rings_and_files() {
        let dir = std::env::temp_dir().join(format!("hoody-accesslog-{}", std::process::id()));
        let log = AccessLogger::start(dir.clone()).unwrap();
        let other = log.for_thread();
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        log.record(&request("c1", "/one", ip));
        other.record(&request("c1", "/two", ip));
        other.record(&request("c2", "/three", ip));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while log.recent("c1", 10).len() < 2 || log.recent("c2", 10).is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "the writer never wrote"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let c1 = log.recent("c1", 10);
        let mut paths: Vec<&str> = c1.iter().map(|e| e.path.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["/one", "/two"]);
        assert_eq!(c1[0].time, "2025-12-01T12:00:00.123Z");
        assert_eq!(c1[0].client_ip, "127.0.0.1");
        assert_eq!(c1[0].duration_ms, 1.5);
        std::thread::sleep(Duration::from_millis(250));
        let file = std::fs::read_to_string(dir.join("c2.jsonl")).unwrap();
        let e: AccessLogEntry = serde_json::from_str(file.trim()).unwrap();
        assert_eq!(e.path, "/three");
        assert_eq!(e.service, "http-8080");
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Two loggers on one directory, as two worker processes have (each opens its own file
    /// description, so O_APPEND and flock behave as between processes), write lines of every
    /// length around one rotation: every line arrives whole, exactly once, in `.jsonl` or
    /// `.jsonl.1`. Both writers find the file past the limit; rotating by size without
    /// checking that the path still names the file would rename the new file over the rotated
    /// one and lose its lines.
    #[test]
    fn two_loggers_share_files_and_rotate_once() {
        let dir =
            std::env::temp_dir().join(format!("hoody-accesslog-shared-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        const ROTATE: u64 = 256 << 10;
        let start = || {
            AccessLogger::start_with(Files {
                dir: dir.clone(),
                rotate_bytes: ROTATE,
                every: Duration::from_millis(1),
            })
            .unwrap()
        };
        let loggers = [start(), start()];
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // About 1.5 times the limit in all: one rotation, and the new file stays below it.
        let per_logger = 800;
        std::thread::scope(|s| {
            for (w, log) in loggers.iter().enumerate() {
                s.spawn(move || {
                    for n in 0..per_logger {
                        let pad = "x".repeat((n * 7) % 300);
                        log.record(&request("c1", &format!("/w{w}/{n}/{pad}"), ip));
                        std::thread::sleep(Duration::from_micros(100));
                    }
                });
            }
        });
        let want = 2 * per_logger;
        // While the writers write, a read may catch a write half done: only once all lines
        // are there is every line required to parse.
        let read = |strict: bool| {
            let mut paths = Vec::new();
            for name in ["c1.jsonl.1", "c1.jsonl"] {
                let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
                    continue;
                };
                for line in text.lines() {
                    match serde_json::from_str::<AccessLogEntry>(line) {
                        Ok(e) => paths.push(e.path),
                        Err(e) if strict => panic!("{name}: a broken line ({e}): {line:?}"),
                        Err(_) => {}
                    }
                }
            }
            paths
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while read(false).len() < want && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut got = read(true);
        got.sort();
        let mut expected: Vec<String> = (0..2)
            .flat_map(|w| {
                (0..per_logger).map(move |n| format!("/w{w}/{n}/{}", "x".repeat((n * 7) % 300)))
            })
            .collect();
        expected.sort();
        assert_eq!(got.len(), want, "lines lost or doubled");
        assert_eq!(got, expected);
        let rotated = std::fs::metadata(dir.join("c1.jsonl.1")).unwrap().len();
        let current = std::fs::metadata(dir.join("c1.jsonl")).unwrap().len();
        assert!(rotated > ROTATE, "rotated at {rotated} bytes");
        assert!(
            current < ROTATE,
            "the new file ({current} bytes) is below the limit"
        );
        drop(loggers);
        let _ = std::fs::remove_dir_all(dir);
    }
}
