//! `hoodyd`: the hoody daemon. Opens the server ([`hoody::host::Host`]) and serves its REST API
//! ([`hoody::server`]) on a root-only unix socket, and on TCP with bearer tokens when asked.
//! Containers outlive it: stopping or killing hoodyd leaves them running, and the next hoodyd
//! adopts them.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use hoody::host::{Host, HostConfig};

#[derive(Parser, Debug)]
#[command(
    name = "hoodyd",
    version,
    about = "The hoody daemon: the control API over HTTP"
)]
struct Args {
    /// The storage pool (made with `hoody pool init`).
    #[arg(long, env = "HOODY_POOL", default_value = "/var/lib/hoody")]
    pool: PathBuf,
    /// Unix socket to serve on (mode 0600).
    #[arg(long, env = "HOODY_SOCKET", default_value = "/run/hoody/hoodyd.sock")]
    socket: PathBuf,
    /// Also serve on this TCP address (e.g. 127.0.0.1:7007); every request then needs a
    /// bearer token from `hoody tokens create`.
    #[arg(long, env = "HOODYD_LISTEN")]
    listen: Option<String>,
    /// This server's DNS label (kept from the last run by default, else the host name).
    #[arg(long, env = "HOODY_SERVER_NAME")]
    server_name: Option<String>,
    /// The state database (default <pool>/hoodyd/state.db).
    #[arg(long, env = "HOODYD_STATE_DB")]
    state_db: Option<PathBuf>,
    /// Runtime directory of the machines' monitors.
    #[arg(long, env = "HOODY_RUN_DIR", default_value = hoody::machine::DEFAULT_RUN_DIR)]
    run_dir: PathBuf,
    /// The monitor program (default: hoody-monitor beside hoodyd, else in /usr/local/bin, else on PATH).
    #[arg(long, env = "HOODY_MONITOR")]
    monitor: Option<PathBuf>,
    /// The Kit's binary, bound into containers created with hoody_kit (default: hoody-kit
    /// beside the monitor).
    #[arg(long, env = "HOODY_KIT_EXE")]
    kit_exe: Option<PathBuf>,
    /// Where `hoody pool init` records loop-mounted pools (remounted at start).
    #[arg(long, env = "HOODY_POOL_REGISTRY", default_value = hoody::fs::loopdev::DEFAULT_REGISTRY)]
    pool_registry: PathBuf,
    /// How long a boot may take, seconds.
    #[arg(long, default_value_t = 120)]
    boot_timeout: u64,
    /// The apex domain hoody-proxy serves (for alias URLs).
    #[arg(long, env = "HOODY_DOMAIN", default_value = "localhost")]
    domain: String,
    /// hoody-proxy's plain HTTP listener, as the proxy takes it ("none": it has none). Every
    /// container may reach the proxy's ports, and programs inside get `HOODY_API_URL`.
    #[arg(long, env = "HOODY_PROXY_HTTP", default_value = "0.0.0.0:80")]
    proxy_http: String,
    /// hoody-proxy's HTTPS listener ("none": it has none).
    #[arg(long, env = "HOODY_PROXY_HTTPS", default_value = "0.0.0.0:443")]
    proxy_https: String,
    /// hoody-proxy's resolver for the pool ("none": containers use the host's upstreams only).
    #[arg(long, env = "HOODY_PROXY_DNS", default_value = hoody::host::front_door::DEFAULT_DNS)]
    proxy_dns: String,
    /// The server's `/ramdisk` pool (a tmpfs, mounted here if it is not yet).
    #[arg(long, env = "HOODY_RAMDISK_DIR", default_value = hoody::host::ramdisk::DEFAULT_DIR)]
    ramdisk_dir: PathBuf,
    /// Its size: bytes, or with K, M or G (default: 512M, at most half the host's memory).
    #[arg(long, env = "HOODY_RAMDISK_SIZE", value_parser = parse_size)]
    ramdisk_size: Option<u64>,
    /// Memory limit of a container whose create names none (e.g. 2G; default: none).
    #[arg(long, env = "HOODY_DEFAULT_MEMORY", value_parser = parse_size)]
    default_memory: Option<u64>,
    /// CPU limit of a container whose create names none (e.g. 1.5; default: none).
    #[arg(long, env = "HOODY_DEFAULT_CPUS")]
    default_cpus: Option<f64>,
    /// Process limit of a container whose create names none (default: none).
    #[arg(long, env = "HOODY_DEFAULT_PIDS")]
    default_pids: Option<u64>,
    /// Where hoody-proxy writes access logs.
    #[arg(long, env = "HOODY_PROXY_LOG_DIR", default_value = hoody::host::DEFAULT_PROXY_LOG_DIR)]
    proxy_log_dir: PathBuf,
}

/// `512M`, `1G`, `65536`: a size in bytes.
fn parse_size(s: &str) -> Result<u64, String> {
    hoody::api::parse_size(s)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{s:?}: expected a size such as 512M, 1G or a number of bytes"))
}

/// Tells systemd (Type=notify) that we serve.
fn sd_notify_ready() {
    if let Some(path) = std::env::var_os("NOTIFY_SOCKET")
        && let Ok(s) = std::os::unix::net::UnixDatagram::unbound()
    {
        let _ = s.send_to(b"READY=1", PathBuf::from(path));
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    hoody::fs::mount_recorded_pools(&args.pool_registry).with_context(|| {
        format!(
            "mounting the pools recorded in {}",
            args.pool_registry.display()
        )
    })?;
    let mut cfg = HostConfig::new(
        &args.pool,
        args.monitor
            .clone()
            .unwrap_or_else(hoody::machine::monitor::default_exe),
    );
    cfg.state_db = args.state_db.clone();
    cfg.kit_exe = args.kit_exe.clone();
    cfg.run_dir = args.run_dir.clone();
    cfg.server_name = args.server_name.clone();
    cfg.boot_timeout = Duration::from_secs(args.boot_timeout);
    cfg.domain = args.domain.clone();
    cfg.proxy_log_dir = args.proxy_log_dir.clone();
    cfg.endpoint = format!("unix:{}", args.socket.display());
    cfg.ramdisk_dir = args.ramdisk_dir.clone();
    cfg.ramdisk_size = args.ramdisk_size;
    cfg.default_limits = hoody::api::Limits {
        memory: args.default_memory,
        cpus: args.default_cpus,
        pids: args.default_pids,
    };
    cfg.front_door = hoody::host::FrontDoor::from_listeners(
        &args.proxy_http,
        &args.proxy_https,
        &args.proxy_dns,
    )?;
    let host = Host::open(cfg).context("opening the server")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut servers = Vec::new();
        let mut rx = tx.subscribe();
        let socket = args.socket.clone();
        let h = host.clone();
        let listener = hoody::server::bind_unix(&socket)
            .with_context(|| format!("binding {}", socket.display()))?;
        servers.push(tokio::spawn(async move {
            hoody::server::serve_unix(h, listener, async move {
                let _ = rx.recv().await;
            })
            .await
            .with_context(|| format!("serving on {}", socket.display()))
        }));
        if let Some(addr) = &args.listen {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            eprintln!(
                "hoodyd: serving on http://{} (bearer tokens required)",
                l.local_addr()?
            );
            let mut rx = tx.subscribe();
            let h = host.clone();
            servers.push(tokio::spawn(async move {
                hoody::server::serve_tcp(h, l, async move {
                    let _ = rx.recv().await;
                })
                .await
                .context("serving on TCP")
            }));
        }
        eprintln!(
            "hoodyd: server {} ({}) serving on {}",
            host.server_name(),
            host.server_id(),
            args.socket.display()
        );
        sd_notify_ready();
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("hoodyd: shutting down (containers keep running)");
        let _ = tx.send(());
        // Graceful: in-flight requests finish. Not forever: event streams (the proxy keeps
        // one open) never end by themselves.
        let drain = async {
            for s in servers {
                s.await??;
            }
            anyhow::Ok(())
        };
        match tokio::time::timeout(Duration::from_secs(5), drain).await {
            Ok(r) => r,
            Err(_) => {
                eprintln!("hoodyd: connections still open after 5 s (event streams); closing them");
                Ok(())
            }
        }
    })
}
