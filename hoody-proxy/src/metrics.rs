//! `GET /metrics` of hoody-proxy, in Prometheus's text format (version 0.0.4), on a listener
//! of its own (`--metrics ADDRESS`: kept off the public ports).
//!
//! * `hoody_proxy_requests_total{service, code}`: requests answered, by service (`terminal`,
//!   `files`, …, `http`, `https`, `api` for hoodyd's API, `unknown` for hosts that name no
//!   service) and status class (`2xx`, …);
//! * `hoody_proxy_response_bytes_total{service}`: response body bytes sent;
//! * `hoody_proxy_upstream_errors_total{service, kind}`: upstreams that could not be reached
//!   (`unreachable`) or did not answer in time (`timeout`);
//! * `hoody_proxy_request_duration_seconds{service}`: a histogram of the time from the
//!   request's head to the end of its response body;
//! * `hoody_proxy_serving_threads`, `hoody_proxy_build_info{version}`.
//!
//! ## Many processes, one set of numbers
//!
//! Workers are separate processes, and a scrape must see all of them. The counters live in
//! one shared memory area (a memfd, `MAP_SHARED`) made by the process started: one slot of
//! counters per serving thread of every worker. Workers inherit the descriptor across exec
//! ([`METRICS_FD_ENV`]) and each thread adds to its own slot (relaxed atomic adds on lines no
//! other thread writes: no contention, no lock, no message per request); the scrape, served by
//! the process started, sums the slots. A worker that restarts continues in its slots, so
//! counters never go back.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hoody_kit::ports::Kit;

use crate::hostname::Service;

/// Environment variable passing the area to workers: `FD,SLOTS`.
pub const METRICS_FD_ENV: &str = "HOODY_PROXY_METRICS_FD";

/// Upper bounds of the latency histogram's buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Services after the Kit's.
const OTHER: [&str; 5] = ["http", "https", "ssh", "api", "unknown"];
const SERVICES: usize = Kit::ALL.len() + OTHER.len();

// One service's counters, in order.
const CLASS: usize = 0; // 5: 1xx..5xx
const ERR_UNREACHABLE: usize = 5;
const ERR_TIMEOUT: usize = 6;
const BYTES: usize = 7;
const BUCKET: usize = 8; // BUCKETS.len(), then +Inf
const SUM_US: usize = BUCKET + BUCKETS.len() + 1;
const COUNT: usize = SUM_US + 1;
const PER_SERVICE: usize = COUNT + 1;
/// Words per slot, rounded up to whole cache lines so that slots share none.
const SLOT_WORDS: usize = (SERVICES * PER_SERVICE).div_ceil(8) * 8;

/// A service's row in the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

impl Label {
    /// The row of a service.
    pub fn of(service: Service) -> Label {
        match service {
            Service::Kit { kit, .. } => Label(
                Kit::ALL
                    .iter()
                    .position(|k| *k == kit)
                    .unwrap_or(SERVICES - 1),
            ),
            Service::Http(_) => Label(Kit::ALL.len()),
            Service::Https(_) => Label(Kit::ALL.len() + 1),
            Service::Ssh => Label(Kit::ALL.len() + 2),
        }
    }

    /// hoodyd's API (`api.{domain}`).
    pub const API: Label = Label(Kit::ALL.len() + 3);
    /// A host that names no service.
    pub const UNKNOWN: Label = Label(SERVICES - 1);

    fn name(self) -> &'static str {
        match Kit::ALL.get(self.0) {
            Some(k) => k.slug(),
            None => OTHER[self.0 - Kit::ALL.len()],
        }
    }
}

/// Why an upstream failed, carried on the proxy's own error response as an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// It could not be reached (refused, unroutable, bad handshake).
    Unreachable,
    /// It did not connect or answer in time.
    Timeout,
}

/// The shared counters of every serving thread (see the module doc).
#[derive(Debug)]
pub struct MetricsArea {
    fd: OwnedFd,
    words: *mut AtomicU64,
    slots: usize,
}

// SAFETY: the area is a fixed mapping of atomics, only ever accessed through atomic
// operations, alive as long as the value; sharing it between threads is what it is for.
unsafe impl Send for MetricsArea {}
// SAFETY: as above.
unsafe impl Sync for MetricsArea {}

impl MetricsArea {
    /// A new area with `slots` slots (zeroed), its descriptor inheritable on request.
    pub fn create(slots: usize) -> std::io::Result<Arc<MetricsArea>> {
        let name = c"hoody-proxy-metrics";
        // SAFETY: a NUL-terminated name and flags; returns a new descriptor or -1.
        let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by memfd_create and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let len = (slots * SLOT_WORDS * 8) as libc::off_t;
        // SAFETY: ftruncate on the descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), len) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Self::map(fd, slots)
    }

    /// The area a worker inherited: `FD,SLOTS` from [`METRICS_FD_ENV`] (the descriptor is
    /// taken over and made close-on-exec again).
    pub fn inherited(spec: &str) -> std::io::Result<Arc<MetricsArea>> {
        let bad = || std::io::Error::other(format!("{METRICS_FD_ENV} {spec:?}: expected FD,SLOTS"));
        let (fd, slots) = spec.split_once(',').ok_or_else(bad)?;
        let fd: RawFd = fd.parse().map_err(|_| bad())?;
        let slots: usize = slots.parse().map_err(|_| bad())?;
        if fd <= 2 || !hoody_sys::fs::is_open(fd) {
            return Err(bad());
        }
        // SAFETY: `fd` is open (checked), was passed by the supervisor for this use alone and
        // is taken once (the variable is read once, at start).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        hoody_sys::fs::set_cloexec(std::os::fd::AsFd::as_fd(&fd), true)?;
        Self::map(fd, slots)
    }

    fn map(fd: OwnedFd, slots: usize) -> std::io::Result<Arc<MetricsArea>> {
        let len = slots.max(1) * SLOT_WORDS * 8;
        // SAFETY: a shared read-write mapping of the whole memfd (sized by its maker); the
        // result is checked for MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arc::new(MetricsArea {
            fd,
            words: p.cast(),
            slots: slots.max(1),
        }))
    }

    /// The descriptor, for a worker to inherit.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// How many slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        debug_assert!(i < self.slots * SLOT_WORDS);
        // SAFETY: `i` is within the mapping (slots × SLOT_WORDS words, aligned by mmap), whose
        // words are only accessed as atomics, and the mapping lives as long as `self`.
        unsafe { &*self.words.add(i) }
    }

    /// Slot `slot`'s recorder (a serving thread's).
    pub fn recorder(self: &Arc<Self>, slot: usize) -> Recorder {
        Recorder {
            area: self.clone(),
            base: (slot % self.slots) * SLOT_WORDS,
        }
    }

    fn total(&self, label: usize, field: usize) -> u64 {
        (0..self.slots)
            .map(|s| {
                self.word(s * SLOT_WORDS + label * PER_SERVICE + field)
                    .load(Ordering::Relaxed)
            })
            .sum()
    }

    /// Every counter, summed over the slots, as Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let labels = (0..SERVICES).map(Label);
        out.push_str(
            "# HELP hoody_proxy_requests_total Requests answered, by service and status class.\n\
             # TYPE hoody_proxy_requests_total counter\n",
        );
        for l in labels.clone() {
            for (c, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
                let n = self.total(l.0, CLASS + c);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "hoody_proxy_requests_total{{service=\"{}\",code=\"{class}\"}} {n}",
                        l.name()
                    );
                }
            }
        }
        out.push_str(
            "# HELP hoody_proxy_response_bytes_total Response body bytes sent, by service.\n\
             # TYPE hoody_proxy_response_bytes_total counter\n",
        );
        for l in labels.clone() {
            if self.total(l.0, COUNT) > 0 {
                let n = self.total(l.0, BYTES);
                let _ = writeln!(
                    out,
                    "hoody_proxy_response_bytes_total{{service=\"{}\"}} {n}",
                    l.name()
                );
            }
        }
        out.push_str(
            "# HELP hoody_proxy_upstream_errors_total Upstreams not reached or not answering in time.\n\
             # TYPE hoody_proxy_upstream_errors_total counter\n",
        );
        for l in labels.clone() {
            for (field, kind) in [(ERR_UNREACHABLE, "unreachable"), (ERR_TIMEOUT, "timeout")] {
                let n = self.total(l.0, field);
                if n > 0 {
                    let _ = writeln!(
                        out,
                        "hoody_proxy_upstream_errors_total{{service=\"{}\",kind=\"{kind}\"}} {n}",
                        l.name()
                    );
                }
            }
        }
        out.push_str(
            "# HELP hoody_proxy_request_duration_seconds From the request's head to the end of its response.\n\
             # TYPE hoody_proxy_request_duration_seconds histogram\n",
        );
        for l in labels {
            let count = self.total(l.0, COUNT);
            if count == 0 {
                continue;
            }
            let name = l.name();
            let mut cumulative = 0;
            for (i, le) in BUCKETS.iter().enumerate() {
                cumulative += self.total(l.0, BUCKET + i);
                let _ = writeln!(
                    out,
                    "hoody_proxy_request_duration_seconds_bucket{{service=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "hoody_proxy_request_duration_seconds_bucket{{service=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let sum = self.total(l.0, SUM_US) as f64 / 1e6;
            let _ = writeln!(
                out,
                "hoody_proxy_request_duration_seconds_sum{{service=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "hoody_proxy_request_duration_seconds_count{{service=\"{name}\"}} {count}"
            );
        }
        let _ = write!(
            out,
            "# HELP hoody_proxy_serving_threads Serving threads of all workers.\n\
             # TYPE hoody_proxy_serving_threads gauge\n\
             hoody_proxy_serving_threads {}\n\
             # HELP hoody_proxy_build_info The proxy's version.\n\
             # TYPE hoody_proxy_build_info gauge\n\
             hoody_proxy_build_info{{version=\"{}\"}} 1\n",
            self.slots,
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

impl Drop for MetricsArea {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `map`, which nothing uses any more (every
        // recorder holds an Arc to this value).
        unsafe { libc::munmap(self.words.cast(), self.slots * SLOT_WORDS * 8) };
    }
}

/// One serving thread's counters.
#[derive(Debug, Clone)]
pub struct Recorder {
    area: Arc<MetricsArea>,
    base: usize,
}

impl Recorder {
    fn add(&self, label: Label, field: usize, n: u64) {
        self.area
            .word(self.base + label.0 * PER_SERVICE + field)
            .fetch_add(n, Ordering::Relaxed);
    }

    /// Counts one request to `label` answered `status`, `bytes` of body, after `took`.
    pub fn record(
        &self,
        label: Label,
        status: u16,
        bytes: u64,
        took: Duration,
        failure: Option<UpstreamFailure>,
    ) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.add(label, CLASS + class, 1);
        self.add(label, BYTES, bytes);
        match failure {
            Some(UpstreamFailure::Unreachable) => self.add(label, ERR_UNREACHABLE, 1),
            Some(UpstreamFailure::Timeout) => self.add(label, ERR_TIMEOUT, 1),
            None => {}
        }
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        self.add(label, BUCKET + bucket, 1);
        self.add(label, SUM_US, took.as_micros() as u64);
        self.add(label, COUNT, 1);
    }
}

/// Serves `GET /metrics` from `area` on `listener`, on a thread of its own (scrapes are rare
/// and small; each is one connection, answered and closed).
pub fn serve(listener: TcpListener, area: Arc<MetricsArea>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut c) = conn else { continue };
                let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = c.set_write_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::with_capacity(512);
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match c.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head);
                let mut words = line.split_whitespace();
                let (method, path) = (words.next(), words.next());
                let path = path.map(|p| p.split('?').next().unwrap_or(p));
                let (status, ctype, body) = match (method, path) {
                    (Some("GET" | "HEAD"), Some("/metrics")) => (
                        "200 OK",
                        "text/plain; version=0.0.4; charset=utf-8",
                        area.render(),
                    ),
                    (Some(_), Some(_)) => (
                        "404 Not Found",
                        "text/plain; charset=utf-8",
                        "only /metrics here\n".to_string(),
                    ),
                    _ => continue,
                };
                let body = if method == Some("HEAD") { String::new() } else { body };
                let _ = write!(
                    c,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        })?;
    Ok(())
}

/// Binds the metrics listener at `addr`.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn slots_add_up_and_render_as_prometheus_text() {
        let area = MetricsArea::create(3).unwrap();
        let (a, b) = (area.recorder(0), area.recorder(2));
        let term = Label::of(Service::Kit {
            kit: Kit::Terminal,
            index: 1,
        });
        a.record(term, 200, 10, Duration::from_millis(2), None);
        b.record(term, 204, 5, Duration::from_secs(20), None);
        b.record(
            Label::of(Service::Http(8080)),
            502,
            0,
            Duration::ZERO,
            Some(UpstreamFailure::Unreachable),
        );
        // A worker's view of the same memory, through its own mapping of the descriptor.
        let dup = area.fd.try_clone().unwrap();
        let other = MetricsArea::map(dup, 3).unwrap();
        other
            .recorder(1)
            .record(Label::API, 404, 1, Duration::from_millis(1), None);
        let text = area.render();
        for want in [
            "hoody_proxy_requests_total{service=\"terminal\",code=\"2xx\"} 2",
            "hoody_proxy_response_bytes_total{service=\"terminal\"} 15",
            "hoody_proxy_upstream_errors_total{service=\"http\",kind=\"unreachable\"} 1",
            "hoody_proxy_request_duration_seconds_bucket{service=\"terminal\",le=\"0.0025\"} 1",
            "hoody_proxy_request_duration_seconds_bucket{service=\"terminal\",le=\"10\"} 1",
            "hoody_proxy_request_duration_seconds_bucket{service=\"terminal\",le=\"+Inf\"} 2",
            "hoody_proxy_request_duration_seconds_count{service=\"terminal\"} 2",
            "hoody_proxy_requests_total{service=\"api\",code=\"4xx\"} 1",
            "hoody_proxy_serving_threads 3",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        assert!(!text.contains("service=\"files\""), "no empty series");
    }
}
