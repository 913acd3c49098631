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
    let proxy = Proxy::new(cfg, routes, Some(log));
    let tls_config = if a.https != "none" {
        let (cert, key) = match (&a.tls_cert, &a.tls_key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => tls::ensure_local_ca(&a.tls_dir, &domains)?,
        };
        Some(tls::server_config(&cert, &key)?)
    } else {
        None
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let mut tasks = Vec::new();
        if a.http != "none" {
            let l = tokio::net::TcpListener::bind(&a.http)
                .await
                .with_context(|| format!("listening on {}", a.http))?;
            eprintln!(
                "hoody-proxy: http://{} for *.{}.containers.{} and api.{}",
                l.local_addr()?,
                server,
                domains.apex,
                domains.apex
            );
            tasks.push(tokio::spawn(proxy.clone().serve_plain(l)));
        }
        if let Some(cfg) = tls_config {
            let l = tokio::net::TcpListener::bind(&a.https)
                .await
                .with_context(|| format!("listening on {}", a.https))?;
            eprintln!(
                "hoody-proxy: https://{} (local CA: {})",
                l.local_addr()?,
                a.tls_dir.join("ca.pem").display()
            );
            tasks.push(tokio::spawn(proxy.clone().serve_tls(l, cfg)));
        }
        if tasks.is_empty() {
            anyhow::bail!("no listener: give --http or --https an address");
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })
}
