//! `hoody-proxy`: the hoody URL gateway. Every service of every container of this server at
//! `{project}-{container}-{service}.{server}.containers.{domain}`, and hoodyd's API at
//! `api.{domain}`. All logic is in the `hoody-proxy` crate; this parses flags and serves.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hoody_proxy::hostname::Domains;
use hoody_proxy::routes::{RouteMap, spawn_feed};
use hoody_proxy::{Proxy, ProxyConfig, tls};

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
    // connection pool), all accepting on the same sockets: a request and the upstream
    // connection serving it stay on one thread, with no cross-thread wakeups (the way nginx
    // runs one event loop per worker).
    let http = bind(&a.http)?;
    let https = match tls_config {
        Some(cfg) => bind(&a.https)?.map(|l| (l, cfg)),
        None => None,
    };
    if http.is_none() && https.is_none() {
        anyhow::bail!("no listener: give --http or --https an address");
    }
    if let Some(l) = &http {
        eprintln!(
            "hoody-proxy: http://{} for *.{}.containers.{} and api.{}",
            l.local_addr()?,
            server,
            domains.apex,
            domains.apex
        );
    }
    if let Some((l, _)) = &https {
        eprintln!(
            "hoody-proxy: https://{} (local CA: {})",
            l.local_addr()?,
            a.tls_dir.join("ca.pem").display()
        );
    }
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    for i in 0..threads {
        let proxy = Proxy::new(cfg.clone(), routes.clone(), Some(log.clone()));
        let http = http.as_ref().map(|l| l.try_clone()).transpose()?;
        let https = match &https {
            Some((l, c)) => Some((l.try_clone()?, c.clone())),
            None => None,
        };
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

fn bind(addr: &str) -> anyhow::Result<Option<std::net::TcpListener>> {
    if addr == "none" {
        return Ok(None);
    }
    let l = std::net::TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    l.set_nonblocking(true)?;
    Ok(Some(l))
}

fn serve_on_this_thread(
    proxy: Proxy,
    http: Option<std::net::TcpListener>,
    https: Option<(std::net::TcpListener, std::sync::Arc<rustls::ServerConfig>)>,
) {
    let run = || -> anyhow::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let mut set = tokio::task::JoinSet::new();
            if let Some(l) = http {
                set.spawn(
                    proxy
                        .clone()
                        .serve_plain(tokio::net::TcpListener::from_std(l)?),
                );
            }
            if let Some((l, cfg)) = https {
                set.spawn(
                    proxy
                        .clone()
                        .serve_tls(tokio::net::TcpListener::from_std(l)?, cfg),
                );
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
