//! Access logs per container: every proxied request (method, host, path, status, bytes,
//! duration, client address, time) goes into a bounded in-memory ring per container (the last
//! [`RING`] requests, for the logs Kit service) and is appended as a JSON line to
//! `<dir>/<container>.jsonl` (rotated to `.jsonl.1` past [`ROTATE_BYTES`]), which hoodyd serves
//! at `GET /api/v1/containers/{id}/proxy/logs`.
//!
//! The request path pays for one push, under an uncontended lock, of what it already has
//! ([`Request`]): no wakeup, no syscall. A writer thread takes the whole batch every 100 ms
//! and does the formatting, the ring and the buffered file writes. When more than
//! [`MAX_PENDING`] requests wait, new ones are dropped from the log (and counted) rather than
//! slowing requests down.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hoody::api::AccessLogEntry;

/// Requests kept in memory per container.
pub const RING: usize = 1000;
/// Requests waiting for the writer, at most.
pub const MAX_PENDING: usize = 262_144;
/// A log file is rotated past this size.
pub const ROTATE_BYTES: u64 = 16 << 20;

/// One finished request, as the proxy knows it.
#[derive(Debug)]
pub struct Request {
    /// The container.
    pub container: String,
    /// When the request head arrived.
    pub at: SystemTime,
    /// The client.
    pub client_ip: IpAddr,
    /// Method.
    pub method: String,
    /// Host as sent.
    pub host: String,
    /// Path and query.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// Until the response body ended (or the client went away).
    pub duration: Duration,
    /// `http-8080`, `terminal-1`, ...
    pub service: String,
}

type Rings = Mutex<HashMap<String, VecDeque<AccessLogEntry>>>;

/// The logger (cheap to clone, shared).
#[derive(Debug, Clone)]
pub struct AccessLogger {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pending: Mutex<Vec<Request>>,
    rings: Rings,
    dropped: AtomicU64,
}

impl AccessLogger {
    /// A logger writing under `dir` from a thread of its own.
    pub fn start(dir: PathBuf) -> std::io::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let inner = Arc::new(Inner {
            pending: Mutex::new(Vec::new()),
            rings: Rings::default(),
            dropped: AtomicU64::new(0),
        });
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer(dir, weak))?;
        Ok(AccessLogger { inner })
    }

    /// Records one request.
    pub fn record(&self, r: Request) {
        let mut p = self.inner.pending.lock().unwrap_or_else(|e| e.into_inner());
        if p.len() < MAX_PENDING {
            p.push(r);
        } else {
            self.inner.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The last `n` requests of `container`, oldest first (what the writer has seen so far).
    pub fn recent(&self, container: &str, n: usize) -> Vec<AccessLogEntry> {
        let rings = self.inner.rings.lock().unwrap_or_else(|e| e.into_inner());
        rings
            .get(container)
            .map(|r| r.iter().skip(r.len().saturating_sub(n)).cloned().collect())
            .unwrap_or_default()
    }

    /// Requests dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }
}

fn entry(r: Request) -> (String, AccessLogEntry) {
    let d =
        r.at.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
    let base = hoody::fs::time::rfc3339(d.as_secs() as i64);
    let time = format!("{}.{:03}Z", base.trim_end_matches('Z'), d.subsec_millis());
    (
        r.container,
        AccessLogEntry {
            time,
            client_ip: r.client_ip.to_string(),
            method: r.method,
            host: r.host,
            path: r.path,
            status: r.status,
            bytes: r.bytes,
            duration_ms: r.duration.as_secs_f64() * 1000.0,
            service: r.service,
        },
    )
}

struct Open {
    out: BufWriter<File>,
    len: u64,
}

fn writer(dir: PathBuf, inner: std::sync::Weak<Inner>) {
    let mut files: HashMap<String, Open> = HashMap::new();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let Some(inner) = inner.upgrade() else {
            break;
        };
        let batch = std::mem::take(&mut *inner.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for r in batch {
            write_one(&dir, &mut files, &inner.rings, r);
        }
        for f in files.values_mut() {
            let _ = f.out.flush();
        }
    }
}

fn write_one(dir: &std::path::Path, files: &mut HashMap<String, Open>, rings: &Rings, r: Request) {
    let (container, e) = entry(r);
    let Ok(mut line) = serde_json::to_string(&e) else {
        return;
    };
    line.push('\n');
    {
        let mut rings = rings.lock().unwrap_or_else(|e| e.into_inner());
        let ring = rings.entry(container.clone()).or_default();
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(e);
    }
    let path = dir.join(format!("{container}.jsonl"));
    if files.len() > 256 && !files.contains_key(&container) {
        for f in files.values_mut() {
            let _ = f.out.flush();
        }
        files.clear();
    }
    if !files.contains_key(&container) {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                let out = BufWriter::with_capacity(64 << 10, f);
                files.insert(container.clone(), Open { out, len });
            }
            Err(e) => {
                eprintln!("hoody-proxy: access log {}: {e}", path.display());
                return;
            }
        }
    }
    let Some(f) = files.get_mut(&container) else {
        return;
    };
    if f.out.write_all(line.as_bytes()).is_ok() {
        f.len += line.len() as u64;
    }
    if f.len > ROTATE_BYTES {
        let _ = f.out.flush();
        let _ = std::fs::rename(&path, path.with_extension("jsonl.1"));
        files.remove(&container);
    }
}

/// Now as RFC 3339 UTC with milliseconds.
pub fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let base = hoody::fs::time::rfc3339(d.as_secs() as i64);
    format!("{}.{:03}Z", base.trim_end_matches('Z'), d.subsec_millis())
}
