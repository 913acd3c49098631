//! `hoody-proxy`: the hoody URL gateway. Every service of every container of this server at
//! `{project}-{container}-{service}.{server}.containers.{domain}`, and hoodyd's API at
//! `api.{domain}`. All logic is in the `hoody-proxy` crate (`hoody_proxy::server` serves);
//! this parses flags.
//!
//! By default one process with a serving thread per core. `--workers N` (N > 1) runs N worker
//! processes under a supervisor that restarts them, which multiplies the open files (and so
//! the connections) the proxy may hold; the supervisor starts each worker as this binary again
//! with its own arguments and the hidden `--worker <index>`.

use std::path::PathBuf;

use clap::Parser;
use hoody_proxy::ProxyConfig;
use hoody_proxy::hostname::Domains;
use hoody_proxy::server::{self, Options, Role, TlsSource};

/// mimalloc: per-thread heaps, and frees of another thread's memory that take no lock. With
/// glibc's malloc, the serving threads and the access log's writer (which frees what they
/// allocate) waited on each other's arena locks, and allocation was a tenth of the CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(name = "hoody-proxy", version, about = "The hoody URL gateway")]
struct Args {
    /// Apex domain: Kit hosts are `…{server}.containers.{domain}`, the API `api.{domain}`.
    /// `localhost` works without DNS (`*.localhost` is loopback).
    #[arg(long, env = "HOODY_DOMAIN", default_value = "localhost")]
    domain: String,
    /// This server's name in host names (default: the name hoodyd reports).
    #[arg(long, env = server::SERVER_NAME_ENV)]
    server_name: Option<String>,
    /// hoodyd's unix socket.
    #[arg(long, env = "HOODY_SOCKET", default_value = hoody_api::client::DEFAULT_SOCKET)]
    hoodyd_socket: PathBuf,
    /// Plain HTTP listener ("none" to disable).
    #[arg(long, env = "HOODY_PROXY_HTTP", default_value = "0.0.0.0:80")]
    http: String,
    /// HTTPS listener ("none" to disable).
    #[arg(long, env = "HOODY_PROXY_HTTPS", default_value = "0.0.0.0:443")]
    https: String,
    /// The pool's resolver ("none" to disable): inside every container `api.{domain}` and
    /// `*.containers.{domain}` resolve to the proxy (hoody-net sends the containers' DNS here
    /// when hoodyd is told the same, through the same `HOODY_PROXY_DNS`).
    #[arg(long, env = "HOODY_PROXY_DNS", default_value = hoody_api::DEFAULT_PROXY_DNS)]
    dns: String,
    /// Wildcard certificate chain (PEM); with --tls-key. Default: a local CA in --tls-dir.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Per-container access logs (`<dir>/<container>.jsonl`; hoodyd reads them there).
    #[arg(long, env = "HOODY_PROXY_LOG_DIR", default_value = hoody_api::DEFAULT_PROXY_LOG_DIR)]
    log_dir: PathBuf,
    /// Worker processes (default 1: this process serves). With more than one, this process
    /// supervises them (restarting any that dies) and serves nothing itself; each worker may
    /// have as many open files as one process, so together they hold more connections.
    #[arg(long)]
    workers: Option<usize>,
    /// Serving threads per process (default: the CPUs shared among the workers).
    #[arg(long)]
    threads: Option<usize>,
    /// `GET /metrics` (Prometheus text) for all workers, at ADDRESS:PORT ("none": off).
    #[arg(long, env = "HOODY_PROXY_METRICS", default_value = "none")]
    metrics: String,
    /// Where the local CA and certificate are kept (trust `ca.pem` in it).
    #[arg(long, default_value = "/var/lib/hoody/proxy/tls")]
    tls_dir: PathBuf,
    /// Set by the supervisor on the workers it starts: the worker's index.
    #[arg(long = "worker", hide = true)]
    worker: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let server_name = match a.server_name {
        Some(s) => s,
        None => server::local_server_name(&hoody_api::client::Client::unix(&a.hoodyd_socket))?,
    };
    let domains = Domains::new(&a.domain, &server_name).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut proxy = ProxyConfig::new(domains);
    proxy.api_socket = a.hoodyd_socket;
    let (workers, threads) = server::workers_and_threads(a.workers, a.threads);
    let opts =
        Options {
            proxy,
            http: (a.http != "none").then_some(a.http),
            https: (a.https != "none").then_some(a.https),
            tls: match (a.tls_cert, a.tls_key) {
                (Some(cert), Some(key)) => TlsSource::Files { cert, key },
                _ => TlsSource::LocalCa(a.tls_dir),
            },
            log_dir: a.log_dir,
            workers,
            threads,
            metrics: match a.metrics.as_str() {
                "none" => None,
                m => Some(m.parse().map_err(|e| {
                    anyhow::anyhow!("--metrics {m:?}: expected ADDRESS:PORT or none: {e}")
                })?),
            },
            dns: match a.dns.as_str() {
                "none" => None,
                d => Some(d.parse().map_err(|e| {
                    anyhow::anyhow!("--dns {d:?}: expected ADDRESS:PORT or none: {e}")
                })?),
            },
        };
    let role = a.worker.map_or(Role::Main, Role::Worker);
    server::run(&opts, role)?;
    Ok(())
}
