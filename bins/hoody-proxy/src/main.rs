//! `hoody-proxy`: the hoody URL gateway. Every service of every container of this server at
//! `{project}-{container}-{service}.{server}.containers.{domain}`, and hoodyd's API at
//! `api.{domain}`. All logic is in the `hoody-proxy` crate; this parses flags and serves.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hoody_proxy::hostname::Domains;
use hoody_proxy::routes::{RouteMap, spawn_feed};
use hoody_proxy::{Proxy, ProxyConfig, tls};
use tokio::net::TcpSocket;

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
    #[arg(long, env = "HOODY_SERVER_NAME")]
    server_name: Option<String>,
    /// hoodyd's unix socket.
    #[arg(long, env = "HOODY_SOCKET", default_value = hoody::client::DEFAULT_SOCKET)]
    hoodyd_socket: PathBuf,
    /// Plain HTTP listener ("none" to disable).
    #[arg(long, env = "HOODY_PROXY_HTTP", default_value = "0.0.0.0:80")]
    http: String,
    /// HTTPS listener ("none" to disable).
    #[arg(long, env = "HOODY_PROXY_HTTPS", default_value = "0.0.0.0:443")]
    https: String,
    /// Wildcard certificate chain (PEM); with --tls-key. Default: a local CA in --tls-dir.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Per-container access logs (`<dir>/<container>.jsonl`; hoodyd reads them there).
    #[arg(long, env = "HOODY_PROXY_LOG_DIR", default_value = hoody::host::DEFAULT_PROXY_LOG_DIR)]
    log_dir: PathBuf,
    /// Serving threads (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Where the local CA and certificate are kept (trust `ca.pem` in it).
    #[arg(long, default_value = "/var/lib/hoody/proxy/tls")]
    tls_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    let client = hoody::client::Client::unix(&a.hoodyd_socket);
    let server = match &a.server_name {
        Some(s) => s.clone(),
        None => loop {
            match client.servers() {
                Ok(l) => match l.servers.into_iter().find(|s| s.is_local) {
                    Some(s) => break s.name,
                    None => anyhow::bail!("hoodyd reports no local server"),
                },
                Err(e) => {
                    eprintln!("hoody-proxy: waiting for hoodyd to learn the server name: {e}");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        },
    };
    let domains = Domains::new(&a.domain, &server).map_err(|e| anyhow::anyhow!("{e}"))?;
    let routes = RouteMap::new();
    spawn_feed(client, routes.clone());
    let mut cfg = ProxyConfig::new(domains.clone());
    cfg.api_socket = a.hoodyd_socket.clone();
    let log = hoody_proxy::accesslog::AccessLogger::start(a.log_dir.clone())
        .with_context(|| format!("access log directory {}", a.log_dir.display()))?;
    let tls_config = if a.https != "none" {
        let (cert, key) = match (&a.tls_cert, &a.tls_key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => tls::ensure_local_ca(&a.tls_dir, &domains)?,
        };
        Some(tls::server_config(&cert, &key)?)
    } else {
        None
    };
    // One single-threaded runtime per core, each with its own proxy (and so its own upstream
    // connection pool) and its own listening sockets: a request and the upstream connection
    // serving it stay on one thread, with no cross-thread wakeups (the way nginx runs one event
    // loop per worker). The sockets share their port with SO_REUSEPORT, so the kernel spreads
    // new connections over the threads; one shared listener let whichever thread woke first
    // accept a whole burst of connections and left the other threads idle.
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut http = bind(&a.http, threads)?;
    let mut https = match tls_config {
        Some(cfg) => bind(&a.https, threads)?.map(|l| (l, cfg)),
        None => None,
    };
    if http.is_none() && https.is_none() {
        anyhow::bail!("no listener: give --http or --https an address");
    }
    if let Some(l) = &http {
        eprintln!(
            "hoody-proxy: http://{} for *.{}.containers.{} and api.{}",
            l[0].local_addr()?,
            server,
            domains.apex,
            domains.apex
        );
    }
    if let Some((l, _)) = &https {
        eprintln!(
            "hoody-proxy: https://{} (local CA: {})",
            l[0].local_addr()?,
            a.tls_dir.join("ca.pem").display()
        );
    }
    for i in 0..threads {
        let proxy = Proxy::new(cfg.clone(), routes.clone(), Some(log.for_thread()));
        let http = http.as_mut().and_then(|l| l.pop());
        let https = https
            .as_mut()
            .and_then(|(l, c)| Some((l.pop()?, c.clone())));
        std::thread::Builder::new()
            .name(format!("proxy-{i}"))
            .spawn(move || serve_on_this_thread(proxy, http, https))
            .context("starting a proxy thread")?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal runtime")?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })
}

/// Pending connections a listening socket queues (nginx's default is 511).
const BACKLOG: u32 = 1024;

/// `n` sockets bound to `addr` with SO_REUSEPORT (all on the port the first one got, when
/// `addr` asks for port 0), one per serving thread, which starts listening on it.
fn bind(addr: &str, n: usize) -> anyhow::Result<Option<Vec<TcpSocket>>> {
    if addr == "none" {
        return Ok(None);
    }
    let mut tried = Vec::new();
    for at in addr
        .to_socket_addrs()
        .with_context(|| format!("listening on {addr}"))?
    {
        match bind_n(at, n) {
            Ok(s) => return Ok(Some(s)),
            Err(e) => tried.push(format!("{at}: {e}")),
        }
    }
    anyhow::bail!("listening on {addr}: {}", tried.join("; "))
}

fn bind_n(mut at: SocketAddr, n: usize) -> std::io::Result<Vec<TcpSocket>> {
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
        sockets.push(s);
    }
    Ok(sockets)
}

fn serve_on_this_thread(
    proxy: Proxy,
    http: Option<TcpSocket>,
    https: Option<(TcpSocket, std::sync::Arc<rustls::ServerConfig>)>,
) {
    let run = || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            if let Some(l) = http {
                set.spawn(proxy.clone().serve_plain(l.listen(BACKLOG)?));
            }
            if let Some((l, cfg)) = https {
                set.spawn(proxy.clone().serve_tls(l.listen(BACKLOG)?, cfg));
            }
            while let Some(r) = set.join_next().await {
                r??;
            }
            anyhow::Ok(())
        })
    };
    if let Err(e) = run() {
        eprintln!("hoody-proxy: a serving thread stopped: {e:#}");
        std::process::exit(1);
    }
}
