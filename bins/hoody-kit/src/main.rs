//! `hoody-kit`: the Kit inside a hoody container. Serves terminal, files, exec and sqlite on
//! their ports (see `hoody_kit::ports`); started by the runtime unit hoody installs,
//! `hoody-kit.service`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::Parser;
use hoody_kit::ports::Kit;

#[derive(Parser, Debug)]
#[command(
    name = "hoody-kit",
    version,
    about = "hoody's Kit services inside a container"
)]
struct Args {
    /// Address to listen on (every service on its own port).
    #[arg(long, default_value = "0.0.0.0", env = "HOODY_KIT_BIND")]
    bind: IpAddr,
    /// Services to serve, comma separated (default: all the Kit has).
    #[arg(long, value_delimiter = ',')]
    services: Vec<String>,
    /// Where services keep state.
    #[arg(long, default_value = "/hoody/storage", env = "HOODY_KIT_STORAGE")]
    storage: PathBuf,
    /// Where bare SQLite database names resolve.
    #[arg(long, default_value = "/hoody/databases", env = "HOODY_KIT_DATABASES")]
    databases: PathBuf,
    /// The directory the files service serves.
    #[arg(long, default_value = "/", env = "HOODY_KIT_FILES_ROOT")]
    files_root: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let services = if args.services.is_empty() {
        hoody_kit::SERVICES.to_vec()
    } else {
        let mut v = Vec::new();
        for s in &args.services {
            let Some(k) = Kit::from_slug(s).filter(|k| hoody_kit::SERVICES.contains(k)) else {
                let have: Vec<_> = hoody_kit::SERVICES.iter().map(|k| k.slug()).collect();
                bail!("unknown service {s:?}: this Kit has {}", have.join(", "));
            };
            v.push(k);
        }
        v
    };
    let ctx = Arc::new(
        hoody_kit::Context::builder()
            .storage(&args.storage)
            .databases(&args.databases)
            .files_root(&args.files_root)
            .build(),
    );
    // Two workers: the Kit is a set of light servers; blocking work (SQLite, file I/O,
    // scripts) goes to tokio's blocking pool.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    rt.block_on(async move {
        let bound = hoody_kit::bind(ctx, args.bind, &services)
            .await
            .context("bind")?;
        notify_ready();
        bound.run().await.context("serve")
    })
}

/// `READY=1` to systemd when started as a `Type=notify` service.
fn notify_ready() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let Ok(sock) = std::os::unix::net::UnixDatagram::unbound() else {
        return;
    };
    let _ = sock.send_to(b"READY=1", PathBuf::from(path));
}
