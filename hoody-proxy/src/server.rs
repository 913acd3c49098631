//! Serving: the listening sockets, the serving threads, and worker processes.
//!
//! [`run`] is the `hoody-proxy` program: it serves with `workers` processes of `threads`
//! serving threads each ([`Options`]); by default one process with a thread per core
//! ([`default_workers`] says why).
//!
//! **Threads.** Each serving thread runs a single-threaded tokio runtime with its own
//! [`Proxy`] (and so its own upstream connection pool) and its own listening socket per
//! address: a request and the upstream connection serving it stay on one thread, with no
//! cross-thread wakeups (the way nginx runs one event loop per worker). The sockets share
//! their port with `SO_REUSEPORT`, so the kernel spreads new connections over them; one shared
//! listener let whichever thread woke first accept a whole burst and left the others idle.
//!
//! **Processes.** With more than one worker the process started ([`Role::Main`]) becomes a
//! supervisor and serves nothing itself. A process can have only so many open files
//! (`RLIMIT_NOFILE`; the soft limit is raised to the hard one at start, and raising the hard
//! one needs `CAP_SYS_RESOURCE`), and a proxied WebSocket holds two (client and upstream): with
//! a hard limit of 20,000 one process holds fewer than 10,000. Worker processes multiply that,
//! and a worker that crashes takes only its own connections with it.
//!
//! - The supervisor has no tokio runtime and one thread; it starts workers with
//!   [`std::process::Command`] (fork and exec of `/proc/self/exe`, its own binary, with its
//!   own arguments followed by [`WORKER_FLAG`] and the worker's index). Before anything else it
//!   makes the TLS certificate (the local CA, when no certificate is given) and the access-log
//!   directory, so workers only read them and never race to write them; the server name it
//!   was given (or asked hoodyd for) is passed on in [`SERVER_NAME_ENV`].
//! - **The listening sockets are made by the supervisor and inherited.** It binds
//!   `workers × threads` sockets per address, all `SO_REUSEPORT` on one port (port 0 becomes a
//!   concrete port with the first), and listens on them; worker `i` inherits its `threads`
//!   sockets (their close-on-exec flag cleared in the child before exec; their numbers in
//!   [`LISTEN_FDS_ENV`]). So the port is chosen once; it stays bound while a worker restarts,
//!   so no other program can take it; connections the kernel queued on a dead worker's
//!   sockets wait for its successor instead of being reset; and workers need no privilege to
//!   bind ports 80 and 443. The price (nginx's too): while a worker is down, the share of new
//!   connections the kernel hashes to its sockets waits in their queues until it is back (the
//!   restart backoff, 100 ms at first) rather than going to the other workers.
//! - **Signals.** The supervisor blocks SIGTERM, SIGINT and SIGCHLD and waits for them with
//!   `sigtimedwait`. SIGTERM or SIGINT: it sends SIGTERM to every worker, waits for them (10 s,
//!   then SIGKILL) and returns. A worker that exits otherwise is restarted after a backoff of
//!   100 ms, doubled (up to 10 s) each time it dies within 10 s of starting, with a line on
//!   stderr.
//! - **Workers die with the supervisor**, whatever kills it: the child sets
//!   `PR_SET_PDEATHSIG` (SIGTERM) before exec and checks that its parent is still the
//!   supervisor (which may have died before that); the worker sets it again after exec (exec
//!   clears it for a binary with file capabilities) and checks again.
//! - Each worker has its own route map fed by hoodyd's event stream
//!   ([`crate::routes::spawn_feed`]), its own upstream pools and its own access logger; the
//!   loggers of all workers write the same files ([`crate::accesslog`] says how that is safe).
//!   Each worker hears of a change in hoodyd on its own stream, so for a moment (the time to
//!   deliver an event twice) two requests may meet workers that disagree.
//!
//! With one worker the process started serves by itself: no supervisor, no re-exec.
//!
//! A serving process (a worker, or the one process) blocks SIGTERM and SIGINT in every thread
//! and its main thread waits for them with `sigwait`, then returns; no runtime is needed for
//! that.

use std::ffi::OsString;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpSocket;

use crate::accesslog::AccessLogger;
use crate::metrics::{METRICS_FD_ENV, MetricsArea};
use crate::routes::{RouteMap, spawn_feed};
use crate::{Proxy, ProxyConfig, tls};

/// Pending connections a listening socket queues (nginx's default is 511).
pub const BACKLOG: i32 = 1024;

/// The argument (followed by the worker's index) the supervisor adds to its own arguments to
/// start a worker; the binary passes it on as [`Role::Worker`].
pub const WORKER_FLAG: &str = "--worker";

/// Environment variable with a worker's inherited listening sockets, by address kind:
/// `http=3,4;https=5,6` (one socket per serving thread).
pub const LISTEN_FDS_ENV: &str = "HOODY_PROXY_LISTEN_FDS";

/// Environment variable with the server name the supervisor resolved (the binary's
/// `--server-name` reads it, so workers do not ask hoodyd again).
pub const SERVER_NAME_ENV: &str = "HOODY_SERVER_NAME";

/// Environment variable with the supervisor's pid, which a worker checks is its parent.
const SUPERVISOR_PID_ENV: &str = "HOODY_PROXY_SUPERVISOR";

/// A dead worker is restarted after this long at first.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// The backoff doubles up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// A worker that ran this long before dying is restarted after [`FIRST_BACKOFF`] again.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Workers asked to stop are killed after this long.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A serving setup problem, naming the address, file or process concerned.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listening address could not be resolved or bound.
    #[error("listening on {addr}: {message}")]
    Listen {
        /// The address as given.
        addr: String,
        /// Why, per address tried.
        message: String,
    },
    /// Neither a plain nor a TLS listener.
    #[error("no listener: give an HTTP or an HTTPS address")]
    NoListener,
    /// The certificate.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// The access-log directory.
    #[error("access log directory {path}: {source}")]
    AccessLog {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// hoodyd could not tell the server name.
    #[error("hoodyd: {0}")]
    Hoodyd(String),
    /// A system call of the serving setup failed (signals, threads, processes).
    #[error("{what}: {source}")]
    System {
        /// What was attempted.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A worker was started without what the supervisor passes it.
    #[error("worker {index}: {message}")]
    Worker {
        /// Its index.
        index: usize,
        /// What is missing or wrong.
        message: String,
    },
}

fn system(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::System { what, source }
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// A certificate chain and key (PEM files).
    Files {
        /// The chain.
        cert: PathBuf,
        /// Its key.
        key: PathBuf,
    },
    /// A local CA and certificate kept in this directory ([`tls::ensure_local_ca`]).
    LocalCa(PathBuf),
}

/// What to serve, and with how many processes and threads.
#[derive(Debug, Clone)]
pub struct Options {
    /// The proxy's settings; its `api_socket` (hoodyd) also feeds the route map.
    pub proxy: ProxyConfig,
    /// Plain HTTP listening address (`host:port`), if any.
    pub http: Option<String>,
    /// HTTPS listening address, if any.
    pub https: Option<String>,
    /// The certificate for HTTPS.
    pub tls: TlsSource,
    /// The access logs' directory.
    pub log_dir: PathBuf,
    /// Worker processes (1: the process started serves by itself).
    pub workers: usize,
    /// Serving threads per process.
    pub threads: usize,
    /// Where the pool's resolver ([`crate::dns`]) listens, if anywhere (served by the
    /// process started, whatever the number of workers).
    pub dns: Option<SocketAddr>,
    /// Where `GET /metrics` ([`crate::metrics`]) is served, if anywhere (by the process
    /// started, for all workers).
    pub metrics: Option<SocketAddr>,
}

/// Which part of [`run`] this process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The process started: the one serving process, or the supervisor of the workers.
    Main,
    /// Worker `i`, started by the supervisor ([`WORKER_FLAG`]).
    Worker(usize),
}

/// Worker processes by default: one, serving by itself with a thread per core. On two cores
/// it measured 2-3% faster than a single-threaded worker process per core (nginx's way), at
/// the edge of what the noise allows to tell apart (docs/PERFORMANCE.md), so processes are
/// not the default. They are for when one process cannot have enough open files (a hard
/// `RLIMIT_NOFILE` that cannot be raised), or to keep a crash to one worker's connections.
pub fn default_workers() -> usize {
    1
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Workers (default [`default_workers`]) and threads per worker (default: the cores shared
/// among the workers, at least one each).
pub fn workers_and_threads(workers: Option<usize>, threads: Option<usize>) -> (usize, usize) {
    let workers = workers.unwrap_or_else(default_workers).max(1);
    let threads = threads.unwrap_or_else(|| (cores() / workers).max(1)).max(1);
    (workers, threads)
}

/// The name of this server as the hoodyd behind `client` reports it, waiting (and saying so
/// on stderr) while hoodyd is not answering.
pub fn local_server_name(client: &hoody_api::client::Client) -> Result<String, ServerError> {
    loop {
        match client.servers() {
            Ok(l) => {
                return match l.servers.into_iter().find(|s| s.is_local) {
                    Some(s) => Ok(s.name),
                    None => Err(ServerError::Hoodyd("reports no local server".into())),
                };
            }
            Err(e) => {
                eprintln!("hoody-proxy: waiting for hoodyd to learn the server name: {e}");
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
}

/// Raises this process's soft limit of open files to its hard limit; returns the limit now.
pub fn raise_open_files_limit() -> std::io::Result<u64> {
    hoody_sys::process::raise_nofile_limit(u64::MAX)
}

/// Serves as [`Options`] say, as `role`, until SIGTERM or SIGINT. See the module doc.
pub fn run(opts: &Options, role: Role) -> Result<(), ServerError> {
    let open_files = raise_open_files_limit().map_err(system("raising RLIMIT_NOFILE"))?;
    if let Role::Worker(index) = role {
        return run_worker(opts, index);
    }
    let tls_config = match &opts.https {
        Some(_) => Some(certificate(opts, true)?),
        None => None,
    };
    std::fs::create_dir_all(&opts.log_dir).map_err(|source| ServerError::AccessLog {
        path: opts.log_dir.clone(),
        source,
    })?;
    let (workers, threads) = (opts.workers.max(1), opts.threads.max(1));
    let http = match &opts.http {
        Some(a) => bind(a, workers * threads)?,
        None => Vec::new(),
    };
    let https = match (&opts.https, &tls_config) {
        (Some(a), Some(_)) => bind(a, workers * threads)?,
        _ => Vec::new(),
    };
    if http.is_empty() && https.is_empty() {
        return Err(ServerError::NoListener);
    }
    announce(opts, &http, &https, workers, threads, open_files);
    // Before the resolver's and the metrics' threads start: they inherit the mask, so the
    // signals are left to the main thread's wait (serve's or supervise's).
    block_signals(&[libc::SIGTERM, libc::SIGINT, libc::SIGCHLD])?;
    if let Some(at) = opts.dns {
        start_resolver(opts, at);
    }
    let metrics = match opts.metrics {
        Some(at) => Some(start_metrics(at, workers * threads)?),
        None => None,
    };
    if workers == 1 {
        let https = tls_config.map(|cfg| (https, cfg));
        serve(opts, http, https, metrics.map(|m| (m, 0)))
    } else {
        supervise(opts, workers, threads, &http, &https, metrics.as_ref())
    }
}

/// The counters of `slots` serving threads, served at `at`. A listener that cannot bind is
/// fatal (the operator asked for it), unlike the resolver's.
fn start_metrics(at: SocketAddr, slots: usize) -> Result<Arc<MetricsArea>, ServerError> {
    let area = MetricsArea::create(slots).map_err(system("making the metrics area"))?;
    let listener = crate::metrics::bind(at).map_err(|e| ServerError::Listen {
        addr: format!("{at} (metrics)"),
        message: e.to_string(),
    })?;
    let bound = listener
        .local_addr()
        .map_err(system("the metrics listener"))?;
    crate::metrics::serve(listener, area.clone()).map_err(system("starting the metrics thread"))?;
    eprintln!("hoody-proxy: metrics on http://{bound}/metrics");
    Ok(area)
}

/// Starts the pool's resolver on `at`. A resolver that cannot listen is reported and left
/// out, not fatal: containers then resolve through the host's upstreams alone (public DNS
/// for a real domain), and every URL still works by address.
fn start_resolver(opts: &Options, at: SocketAddr) {
    let answer = match at.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => ip,
        _ => std::net::Ipv4Addr::new(169, 254, 1, 1),
    };
    let r = crate::dns::Resolver::new(&opts.proxy.domains, answer);
    match crate::dns::bind(at).and_then(|(udp, tcp)| crate::dns::spawn(r, udp, tcp)) {
        Ok(()) => eprintln!(
            "hoody-proxy: resolver for the pool on {at} (udp, tcp): api.{} and *.containers.{} \
             answer {answer}",
            opts.proxy.domains.apex, opts.proxy.domains.apex
        ),
        Err(e) => eprintln!(
            "hoody-proxy: the pool's resolver cannot listen on {at}: {e}; containers resolve \
             through the host's upstreams only (--dns none to say so)"
        ),
    }
}

/// The TLS setup; with a local CA, made (or checked) first when `make`, else only read (a
/// worker reads what the supervisor made).
fn certificate(opts: &Options, make: bool) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let (cert, key) = match &opts.tls {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
        TlsSource::LocalCa(dir) if make => tls::ensure_local_ca(dir, &opts.proxy.domains)?,
        TlsSource::LocalCa(dir) => tls::local_certificate(dir),
    };
    Ok(tls::server_config(&cert, &key)?)
}

fn announce(
    opts: &Options,
    http: &[TcpListener],
    https: &[TcpListener],
    workers: usize,
    threads: usize,
    open_files: u64,
) {
    let d = &opts.proxy.domains;
    if let Some(a) = http.first().and_then(|l| l.local_addr().ok()) {
        eprintln!(
            "hoody-proxy: http://{a} for *.{}.containers.{} and api.{}",
            d.server, d.apex, d.apex
        );
    }
    if let Some(a) = https.first().and_then(|l| l.local_addr().ok()) {
        match &opts.tls {
            TlsSource::LocalCa(dir) => eprintln!(
                "hoody-proxy: https://{a} (local CA: {})",
                dir.join("ca.pem").display()
            ),
            TlsSource::Files { cert, .. } => {
                eprintln!("hoody-proxy: https://{a} ({})", cert.display())
            }
        }
    }
    let threads = match threads {
        1 => "1 serving thread".to_string(),
        n => format!("{n} serving threads"),
    };
    if workers == 1 {
        eprintln!("hoody-proxy: one process of {threads}, {open_files} open files");
    } else {
        eprintln!(
            "hoody-proxy: {workers} worker processes of {threads} each, {open_files} open \
             files each"
        );
    }
}

/// `n` listening sockets on `addr` (the first address it resolves to that can be bound), all
/// with `SO_REUSEPORT` on one port: the one the first socket got when `addr` asks for port 0.
pub fn bind(addr: &str, n: usize) -> Result<Vec<TcpListener>, ServerError> {
    let err = |message: String| ServerError::Listen {
        addr: addr.to_string(),
        message,
    };
    let mut tried = Vec::new();
    for at in addr.to_socket_addrs().map_err(|e| err(e.to_string()))? {
        match bind_n(at, n) {
            Ok(s) => return Ok(s),
            Err(e) => tried.push(format!("{at}: {e}")),
        }
    }
    if tried.is_empty() {
        tried.push("resolves to no address".into());
    }
    Err(err(tried.join("; ")))
}

/// `n` (at least one) sockets bound to `at` with `SO_REUSEADDR` and `SO_REUSEPORT` and
/// listening ([`BACKLOG`]); non-blocking and close-on-exec. No runtime is needed.
pub fn bind_n(mut at: SocketAddr, n: usize) -> std::io::Result<Vec<TcpListener>> {
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let s = if at.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        s.set_reuseaddr(true)?;
        s.set_reuseport(true)?;
        s.bind(at)?;
        at = s.local_addr()?;
        // SAFETY: into_raw_fd hands over the socket's descriptor, which nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(s.into_raw_fd()) };
        // SAFETY: listen on a bound socket descriptor owned by `fd`.
        if unsafe { libc::listen(fd.as_raw_fd(), BACKLOG) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        sockets.push(TcpListener::from(fd));
    }
    Ok(sockets)
}

/// Runs a single-threaded runtime on the calling thread, serving plain HTTP on `http` and
/// HTTPS on `https` with `proxy`, forever; ends the process (status 1) if it cannot.
pub fn serve_on_this_thread(
    proxy: Proxy,
    http: Option<TcpListener>,
    https: Option<(TcpListener, Arc<rustls::ServerConfig>)>,
) {
    let run = || -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            if let Some(l) = http {
                l.set_nonblocking(true)?;
                let l = tokio::net::TcpListener::from_std(l)?;
                set.spawn(proxy.clone().serve_plain(l));
            }
            if let Some((l, cfg)) = https {
                l.set_nonblocking(true)?;
                let l = tokio::net::TcpListener::from_std(l)?;
                set.spawn(proxy.clone().serve_tls(l, cfg));
            }
            while let Some(r) = set.join_next().await {
                r.map_err(std::io::Error::other)??;
            }
            Ok(())
        })
    };
    if let Err(e) = run() {
        eprintln!("hoody-proxy: a serving thread stopped: {e}");
        std::process::exit(1);
    }
}

/// Serves on these listeners (one per thread) in this process until SIGTERM or SIGINT.
/// `metrics`: the counters, and the slot of this process's first thread.
fn serve(
    opts: &Options,
    mut http: Vec<TcpListener>,
    https: Option<(Vec<TcpListener>, Arc<rustls::ServerConfig>)>,
    metrics: Option<(Arc<MetricsArea>, usize)>,
) -> Result<(), ServerError> {
    // Before any thread starts, so that every thread inherits the mask and the signals wait
    // for the main thread's sigwait.
    let stop = block_signals(&[libc::SIGTERM, libc::SIGINT])?;
    let routes = RouteMap::new();
    spawn_feed(
        hoody_api::client::Client::unix(&opts.proxy.api_socket),
        routes.clone(),
    );
    let log =
        AccessLogger::start(opts.log_dir.clone()).map_err(|source| ServerError::AccessLog {
            path: opts.log_dir.clone(),
            source,
        })?;
    let (mut https, tls) = match https {
        Some((l, cfg)) => (l, Some(cfg)),
        None => (Vec::new(), None),
    };
    let threads = http.len().max(https.len());
    for i in 0..threads {
        let mut proxy = Proxy::new(opts.proxy.clone(), routes.clone(), Some(log.for_thread()));
        if let Some((area, first)) = &metrics {
            proxy = proxy.with_metrics(area.recorder(first + i));
        }
        let http = http.pop();
        let https = https.pop().zip(tls.clone());
        std::thread::Builder::new()
            .name(format!("proxy-{i}"))
            .spawn(move || serve_on_this_thread(proxy, http, https))
            .map_err(system("starting a serving thread"))?;
    }
    loop {
        let mut sig = 0;
        // SAFETY: sigwait reads the initialized set `stop` and writes the signal into `sig`.
        if unsafe { libc::sigwait(&stop, &mut sig) } == 0 {
            return Ok(());
        }
    }
}

/// Blocks `signals` in the calling thread (and the threads it starts afterwards); returns
/// them as a set to wait on.
fn block_signals(signals: &[libc::c_int]) -> Result<libc::sigset_t, ServerError> {
    // SAFETY: sigset_t is plain data, initialized by sigemptyset before any other use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigemptyset and sigaddset write into `set`, a valid sigset_t.
    unsafe {
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
    }
    // SAFETY: pthread_sigmask reads `set` and changes only the calling thread's mask.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(ServerError::System {
            what: "blocking signals".into(),
            source: std::io::Error::from_raw_os_error(r),
        });
    }
    Ok(set)
}

/// A worker: takes the sockets and the certificate the supervisor made, and serves.
fn run_worker(opts: &Options, index: usize) -> Result<(), ServerError> {
    let bad = |message: String| ServerError::Worker { index, message };
    let supervisor: libc::pid_t = std::env::var(SUPERVISOR_PID_ENV)
        .ok()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad(format!("no supervisor pid in {SUPERVISOR_PID_ENV}")))?;
    die_with_parent(supervisor);
    let fds = std::env::var(LISTEN_FDS_ENV)
        .map_err(|_| bad(format!("no listening sockets in {LISTEN_FDS_ENV}")))?;
    let (http, https) = parse_listen_fds(&fds).map_err(bad)?;
    let http = take_listeners(&http).map_err(|e| bad(format!("{LISTEN_FDS_ENV}: {e}")))?;
    let https = take_listeners(&https).map_err(|e| bad(format!("{LISTEN_FDS_ENV}: {e}")))?;
    let https = if https.is_empty() {
        None
    } else {
        Some((https, certificate(opts, false)?))
    };
    let metrics = match std::env::var(METRICS_FD_ENV) {
        Ok(spec) => {
            let area = MetricsArea::inherited(&spec).map_err(|e| bad(e.to_string()))?;
            Some((
                area,
                index * http.len().max(https.as_ref().map_or(0, |h| h.0.len())),
            ))
        }
        Err(_) => None,
    };
    serve(opts, http, https, metrics)
}

/// Makes the kernel send this process SIGTERM when its parent dies, and exits if the parent
/// is already not `supervisor` (it died before that was set).
fn die_with_parent(supervisor: libc::pid_t) {
    // SAFETY: prctl(PR_SET_PDEATHSIG) sets a flag of the calling process, with no pointers.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) };
    // SAFETY: getppid has no arguments and cannot fail.
    if unsafe { libc::getppid() } != supervisor {
        eprintln!("hoody-proxy: worker: the supervisor (pid {supervisor}) is gone; exiting");
        std::process::exit(0);
    }
}

/// `http=3,4;https=5,6` into the two lists (either may be missing or empty).
fn parse_listen_fds(s: &str) -> Result<(Vec<RawFd>, Vec<RawFd>), String> {
    let (mut http, mut https) = (Vec::new(), Vec::new());
    for part in s.split(';').filter(|p| !p.is_empty()) {
        let (kind, list) = part
            .split_once('=')
            .ok_or_else(|| format!("{LISTEN_FDS_ENV}: {part:?} is not kind=fds"))?;
        let into = match kind {
            "http" => &mut http,
            "https" => &mut https,
            _ => return Err(format!("{LISTEN_FDS_ENV}: unknown kind {kind:?}")),
        };
        for fd in list.split(',').filter(|f| !f.is_empty()) {
            let fd: RawFd = fd
                .parse()
                .map_err(|_| format!("{LISTEN_FDS_ENV}: {fd:?} is not a descriptor"))?;
            if fd < 3 {
                return Err(format!("{LISTEN_FDS_ENV}: descriptor {fd} is stdio"));
            }
            into.push(fd);
        }
    }
    Ok((http, https))
}

fn format_listen_fds(http: &[TcpListener], https: &[TcpListener]) -> String {
    let list = |l: &[TcpListener]| {
        l.iter()
            .map(|s| s.as_raw_fd().to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!("http={};https={}", list(http), list(https))
}

/// The inherited listening sockets `fds`, owned from now on (and close-on-exec again).
fn take_listeners(fds: &[RawFd]) -> std::io::Result<Vec<TcpListener>> {
    let mut out = Vec::with_capacity(fds.len());
    for &fd in fds {
        if !hoody_sys::fs::is_open(fd) {
            return Err(std::io::Error::other(format!(
                "descriptor {fd} is not open"
            )));
        }
        if out.iter().any(|l: &TcpListener| l.as_raw_fd() == fd) {
            return Err(std::io::Error::other(format!(
                "descriptor {fd} given twice"
            )));
        }
        // SAFETY: `fd` is open (checked above), was passed to this process by the supervisor
        // for this use alone (nothing else in the process opened or owns it), and is taken
        // once (repeats are refused above).
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        hoody_sys::fs::set_cloexec(owned.as_fd(), true)
            .map_err(|e| std::io::Error::other(format!("descriptor {fd}: close-on-exec: {e}")))?;
        let l = TcpListener::from(owned);
        l.local_addr()
            .map_err(|e| std::io::Error::other(format!("descriptor {fd}: {e}")))?;
        out.push(l);
    }
    Ok(out)
}

/// One worker's place: its sockets and, while it runs, its process.
struct Slot {
    index: usize,
    /// `LISTEN_FDS_ENV` for it.
    fds: String,
    /// The descriptors it inherits.
    inherit: Vec<RawFd>,
    /// `METRICS_FD_ENV` for it.
    metrics: Option<String>,
    child: Option<Child>,
    started: Instant,
    backoff: Duration,
    /// When to start it again (after it died).
    restart_at: Option<Instant>,
}

/// The supervisor: starts the workers, restarts those that die, stops them on SIGTERM or
/// SIGINT. `http` and `https` hold `workers × threads` sockets each (or none).
fn supervise(
    opts: &Options,
    workers: usize,
    threads: usize,
    http: &[TcpListener],
    https: &[TcpListener],
    metrics: Option<&Arc<MetricsArea>>,
) -> Result<(), ServerError> {
    let signals = block_signals(&[libc::SIGTERM, libc::SIGINT, libc::SIGCHLD])?;
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut slots = Vec::with_capacity(workers);
    for index in 0..workers {
        let (h, s) = (share(http, index, threads), share(https, index, threads));
        slots.push(Slot {
            index,
            fds: format_listen_fds(h, s),
            inherit: h
                .iter()
                .chain(s)
                .map(|l| l.as_raw_fd())
                .chain(metrics.map(|m| m.fd()))
                .collect(),
            metrics: metrics.map(|m| format!("{},{}", m.fd(), m.slots())),
            child: None,
            started: Instant::now(),
            backoff: FIRST_BACKOFF,
            restart_at: Some(Instant::now()),
        });
    }
    let server = opts.proxy.domains.server.clone();
    loop {
        let now = Instant::now();
        for slot in slots.iter_mut() {
            if slot.restart_at.is_some_and(|t| t <= now) {
                slot.restart_at = None;
                match start_worker(&args, &server, slot) {
                    Ok(child) => {
                        slot.child = Some(child);
                        slot.started = Instant::now();
                    }
                    Err(e) => {
                        eprintln!(
                            "hoody-proxy: starting worker {}: {e}; retrying in {:?}",
                            slot.index, slot.backoff
                        );
                        slot.restart_at = Some(now + slot.backoff);
                        slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
                    }
                }
            }
        }
        let wait = slots
            .iter()
            .filter_map(|s| s.restart_at)
            .min()
            .map_or(Duration::from_secs(60), |t| {
                t.saturating_duration_since(Instant::now())
            });
        match wait_signal(&signals, wait) {
            Some(libc::SIGTERM | libc::SIGINT) => break,
            _ => reap(&mut slots),
        }
    }
    stop_workers(&mut slots, &signals);
    Ok(())
}

/// Worker `index`'s sockets among `all`: `threads` of them from `index * threads`.
fn share(all: &[TcpListener], index: usize, threads: usize) -> &[TcpListener] {
    all.get(index * threads..(index + 1) * threads)
        .unwrap_or_default()
}

/// Notes the workers that exited and when to start them again.
fn reap(slots: &mut [Slot]) {
    for slot in slots.iter_mut() {
        let Some(child) = slot.child.as_mut() else {
            continue;
        };
        let status = match child.try_wait() {
            Ok(Some(status)) => status,
            Ok(None) => continue,
            Err(e) => {
                eprintln!("hoody-proxy: worker {}: {e}", slot.index);
                continue;
            }
        };
        let pid = child.id();
        slot.child = None;
        if slot.started.elapsed() >= STABLE_AFTER {
            slot.backoff = FIRST_BACKOFF;
        }
        eprintln!(
            "hoody-proxy: worker {} (pid {pid}) {}; restarting it in {:?}",
            slot.index,
            describe(status),
            slot.backoff
        );
        slot.restart_at = Some(Instant::now() + slot.backoff);
        slot.backoff = (slot.backoff * 2).min(MAX_BACKOFF);
    }
}

fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => status.to_string(),
    }
}

/// Starts worker `slot.index`: this binary again (`/proc/self/exe`), with this process's
/// `args` (`argv[0]` too, so `ps` shows it as it shows the supervisor) and the worker flag,
/// its sockets inherited.
fn start_worker(args: &[OsString], server: &str, slot: &Slot) -> std::io::Result<Child> {
    // SAFETY: getpid has no arguments and cannot fail.
    let supervisor = unsafe { libc::getpid() };
    let inherit = slot.inherit.clone();
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(argv0) = args.first() {
        cmd.arg0(argv0);
    }
    cmd.args(args.iter().skip(1))
        .arg(WORKER_FLAG)
        .arg(slot.index.to_string())
        .env(SERVER_NAME_ENV, server)
        .env(LISTEN_FDS_ENV, &slot.fds)
        .env(SUPERVISOR_PID_ENV, supervisor.to_string())
        .stdin(Stdio::null());
    if let Some(m) = &slot.metrics {
        cmd.env(METRICS_FD_ENV, m);
    }
    // SAFETY: the closure runs in the child between fork and exec and only makes
    // async-signal-safe system calls (sigprocmask, fcntl, prctl, getppid, _exit) on values
    // prepared before the fork; it allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            // The supervisor's blocked signals must not stay blocked in the worker.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            for &fd in &inherit {
                if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong);
            if libc::getppid() != supervisor {
                libc::_exit(0);
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Waits up to `timeout` for one of `set` (blocked); the signal, or None on timeout.
fn wait_signal(set: &libc::sigset_t, timeout: Duration) -> Option<libc::c_int> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: sigtimedwait reads the initialized set and timespec; the info pointer may be null.
    let r = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &ts) };
    (r > 0).then_some(r)
}

/// SIGTERM to every worker; waits for them ([`STOP_GRACE`], then SIGKILL).
fn stop_workers(slots: &mut [Slot], signals: &libc::sigset_t) {
    for slot in slots.iter() {
        if let Some(c) = &slot.child {
            // Our own child, not yet waited for, so its pid is not reused; gone already is fine.
            let _ = hoody_sys::process::kill(c.id() as libc::pid_t, libc::SIGTERM);
        }
    }
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        for slot in slots.iter_mut() {
            if let Some(c) = slot.child.as_mut()
                && !matches!(c.try_wait(), Ok(None))
            {
                slot.child = None;
            }
        }
        let now = Instant::now();
        if slots.iter().all(|s| s.child.is_none()) {
            return;
        }
        if now >= deadline {
            break;
        }
        wait_signal(signals, deadline - now);
    }
    for slot in slots.iter_mut() {
        if let Some(mut c) = slot.child.take() {
            eprintln!(
                "hoody-proxy: worker {} (pid {}) did not stop in {STOP_GRACE:?}; killing it",
                slot.index,
                c.id()
            );
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn listen_fds_round_trip() {
        let a = bind_n("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let b = bind_n("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let s = format_listen_fds(&a, &b);
        let (h, t) = parse_listen_fds(&s).unwrap();
        assert_eq!(h, vec![a[0].as_raw_fd(), a[1].as_raw_fd()]);
        assert_eq!(t, vec![b[0].as_raw_fd()]);
        assert_eq!(
            parse_listen_fds("http=3;https=").unwrap(),
            (vec![3], vec![])
        );
        assert!(parse_listen_fds("http=1").is_err());
        assert!(parse_listen_fds("ftp=5").is_err());
        assert!(parse_listen_fds("http=x").is_err());
    }

    #[test]
    fn sockets_share_one_port() {
        let l = bind("127.0.0.1:0", 3).unwrap();
        let port = l[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(l.iter().all(|s| s.local_addr().unwrap().port() == port));
        // Each accepts connections (the kernel hashes them over the three).
        for _ in 0..20 {
            std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        }
        assert!(matches!(
            bind("no-such-host.invalid:80", 1),
            Err(ServerError::Listen { .. })
        ));
    }

    #[test]
    fn workers_and_threads_fill_the_cores() {
        let n = cores();
        assert_eq!(workers_and_threads(Some(3), Some(2)), (3, 2));
        assert_eq!(workers_and_threads(Some(1), None), (1, n));
        assert_eq!(workers_and_threads(Some(n), None), (n, 1));
        assert_eq!(workers_and_threads(Some(2 * n), None), (2 * n, 1));
        assert_eq!(workers_and_threads(None, Some(3)), (1, 3));
        assert_eq!(workers_and_threads(None, None), (1, n));
        assert_eq!(workers_and_threads(Some(0), Some(0)), (1, 1));
    }
}
