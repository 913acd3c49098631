//! Storage verbs: `hoody pool`, `hoody image`, `hoody rootfs`, `hoody snapshot`,
//! `hoody send`, `hoody receive`. Argument parsing and printing only; the work is hoody-fs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hoody::core::spec::parse_size;
use hoody::fs::{
    ImageRecipe, LoopPool, Pool, Progress, SnapshotOptions, init_loop_pool, loopdev,
    mount_recorded_pools,
};

/// Options every storage command takes.
#[derive(Args, Debug, Clone)]
pub struct PoolOpt {
    /// Pool root (`--path` is accepted too).
    #[arg(
        long,
        alias = "path",
        env = "HOODY_POOL",
        default_value = "/var/lib/hoody",
        global = true
    )]
    pub pool: PathBuf,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// Registry of loop-mounted pools (mounted again after a reboot).
    #[arg(long, env = "HOODY_POOL_REGISTRY", default_value = loopdev::DEFAULT_REGISTRY, global = true, hide = true)]
    pub registry: PathBuf,
}

/// `hoody pool ...`
#[derive(Subcommand, Debug)]
pub enum PoolCmd {
    /// Create the pool: a loop-mounted btrfs image unless the path already is on btrfs (or
    /// --directory). Idempotent.
    Init {
        /// Size of the sparse btrfs image file.
        #[arg(long, default_value = "20G", value_parser = parse_size)]
        size: u64,
        /// The image file (default: the pool path with `.img` appended).
        #[arg(long)]
        image: Option<PathBuf>,
        /// Use the plain-directory backend (no btrfs).
        #[arg(long)]
        directory: bool,
    },
    /// Show the pool's backend and contents.
    Status,
}

/// `hoody image ...`
#[derive(Subcommand, Debug)]
pub enum ImageCmd {
    /// Build the Debian 13 image with debootstrap (cached after the first build).
    Build {
        /// Image name.
        #[arg(default_value = "debian-13")]
        name: String,
        /// Debian mirror.
        #[arg(long, default_value = "http://deb.debian.org/debian")]
        mirror: String,
        /// Where built images are cached as tar.zst.
        #[arg(long, default_value = "/var/cache/hoody/images")]
        cache: PathBuf,
    },
    /// List images.
    #[command(alias = "ls")]
    List,
    /// Import a root file system from FILE.tar or FILE.tar.zst.
    Import {
        /// Image name.
        name: String,
        /// The archive.
        file: PathBuf,
    },
    /// Export an image to FILE.tar or FILE.tar.zst.
    Export {
        /// Image name.
        name: String,
        /// The archive to write.
        file: PathBuf,
    },
    /// Remove an image (refused while containers use it).
    Rm {
        /// Image name.
        name: String,
    },
}

/// `hoody rootfs ...`
#[derive(Subcommand, Debug)]
pub enum RootfsCmd {
    /// Create a container root file system from an image.
    Create {
        /// Container name.
        name: String,
        /// Image name.
        #[arg(long, default_value = "debian-13")]
        image: String,
    },
    /// List container root file systems.
    #[command(alias = "ls")]
    List,
    /// Delete a container root file system and its snapshots.
    Rm {
        /// Container name.
        name: String,
    },
    /// Bytes held by a container's files.
    Du {
        /// Container name.
        name: String,
    },
}

/// `hoody snapshot ...`
#[derive(Subcommand, Debug)]
pub enum SnapshotCmd {
    /// Take a read-only snapshot.
    Create {
        /// Container name.
        container: String,
        /// Snapshot name (default snap-YYYYMMDD-HHMMSS, UTC).
        #[arg(long)]
        name: Option<String>,
        /// Alias.
        #[arg(long)]
        alias: Option<String>,
        /// Expire after this many days.
        #[arg(long)]
        expires_days: Option<u32>,
    },
    /// List a container's snapshots.
    #[command(alias = "ls")]
    List {
        /// Container name.
        container: String,
    },
    /// Replace the container's files with a snapshot's (crash-safe).
    Restore {
        /// Container name.
        container: String,
        /// Snapshot name or alias.
        snapshot: String,
    },
    /// Delete a snapshot.
    Rm {
        /// Container name.
        container: String,
        /// Snapshot name or alias.
        snapshot: String,
    },
    /// Set (or with no ALIAS, clear) a snapshot's alias.
    Alias {
        /// Container name.
        container: String,
        /// Snapshot name or alias.
        snapshot: String,
        /// The new alias.
        alias: Option<String>,
    },
    /// Create a new container from a snapshot.
    Branch {
        /// Container name.
        container: String,
        /// Snapshot name or alias.
        snapshot: String,
        /// The new container's name.
        new_container: String,
    },
}

/// `hoody send ...`
#[derive(Args, Debug)]
pub struct SendArgs {
    /// Container name.
    pub container: String,
    /// Only what changed since this snapshot (which the receiver has).
    #[arg(long)]
    pub since: Option<String>,
    /// Write to FILE instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// `hoody receive ...`
#[derive(Args, Debug)]
pub struct ReceiveArgs {
    /// Read from FILE instead of standard input.
    #[arg(long, short)]
    pub input: Option<PathBuf>,
}

/// Whether a verb changes the pool (and so needs its write lock) or only reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `ls`, `status`, `du`, `export`: safe at any time, also while hoodyd serves the pool.
    Read,
    /// Everything else: refused while hoodyd serves the pool (it is the one writer).
    Write,
}

/// Opens the pool for `access` (see hoody_fs::lock).
pub fn open(opt: &PoolOpt, access: Access) -> anyhow::Result<Pool> {
    // After a reboot, loop pools are mounted again from their record.
    mount_recorded_pools(&opt.registry)
        .with_context(|| format!("mounting pools recorded in {}", opt.registry.display()))?;
    Ok(match access {
        Access::Read => Pool::open_read_only(&opt.pool)?,
        Access::Write => Pool::open(&opt.pool)?,
    })
}

fn print_json(v: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Runs `hoody pool`.
pub fn pool(opt: &PoolOpt, cmd: &PoolCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        PoolCmd::Init {
            size,
            image,
            directory,
        } => {
            // Already a pool (mounted): nothing to change, so nothing to lock; this also
            // answers while hoodyd serves it (scripts/setup runs `pool init` every time).
            if Pool::is_pool(&opt.pool) {
                return status(opt, &Pool::open_read_only(&opt.pool)?);
            }
            let p = if *directory || hoody::fs::backend::is_btrfs(&opt.pool).unwrap_or(false) {
                Pool::create(&opt.pool)?
            } else {
                let image = image.clone().unwrap_or_else(|| {
                    let mut s = opt.pool.as_os_str().to_os_string();
                    s.push(".img");
                    PathBuf::from(s)
                });
                let spec = LoopPool {
                    path: opt.pool.clone(),
                    image,
                    size: *size,
                };
                init_loop_pool(&spec, &opt.registry)?
            };
            status(opt, &p)
        }
        PoolCmd::Status => status(opt, &open(opt, Access::Read)?),
    }
}

fn status(opt: &PoolOpt, p: &Pool) -> anyhow::Result<ExitCode> {
    let images = p.images()?.len();
    let containers = p.containers()?.len();
    if opt.json {
        print_json(&serde_json::json!({
            "path": p.root(),
            "backend": p.backend(),
            "images": images,
            "containers": containers,
        }))?;
    } else {
        println!(
            "pool {} ({:?} backend): {images} image(s), {containers} container(s)",
            p.root().display(),
            p.backend()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `hoody image`.
pub fn image(opt: &PoolOpt, cmd: &ImageCmd) -> anyhow::Result<ExitCode> {
    let access = if matches!(cmd, ImageCmd::List | ImageCmd::Export { .. }) {
        Access::Read
    } else {
        Access::Write
    };
    let p = open(opt, access)?;
    match cmd {
        ImageCmd::Build {
            name,
            mirror,
            cache,
        } => {
            let mut recipe = ImageRecipe::debian_13();
            recipe.mirror = mirror.clone();
            // A spinner with the current step on a terminal; plain phase lines otherwise.
            let tty = std::io::stderr().is_terminal();
            let bar = indicatif::ProgressBar::new_spinner();
            if !tty {
                bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            let started = std::time::Instant::now();
            let info = p.build_image(name, &recipe, cache, &mut |ev| match ev {
                Progress::Phase(s) => {
                    if tty {
                        bar.println(format!("==> {s}"));
                    } else {
                        eprintln!("==> {s}");
                    }
                    bar.set_message(s);
                }
                Progress::Detail(s) => bar.set_message(s),
            })?;
            bar.finish_and_clear();
            if opt.json {
                print_json(&info)?;
            } else {
                println!(
                    "image {} built in {:.1?} ({})",
                    info.name,
                    started.elapsed(),
                    info.source
                );
            }
        }
        ImageCmd::List => {
            let images = p.images()?;
            if opt.json {
                print_json(&images)?;
            } else {
                println!("{:<24} {:<22} SOURCE", "NAME", "CREATED");
                for i in images {
                    println!("{:<24} {:<22} {}", i.name, i.created_at, i.source);
                }
            }
        }
        ImageCmd::Import { name, file } => {
            let info = p.import_image(name, file)?;
            if opt.json {
                print_json(&info)?;
            } else {
                println!("imported image {} from {}", info.name, file.display());
            }
        }
        ImageCmd::Export { name, file } => {
            p.export_image(name, file)?;
            if !opt.json {
                println!("exported image {name} to {}", file.display());
            }
        }
        ImageCmd::Rm { name } => {
            p.remove_image(name)?;
            if !opt.json {
                println!("removed image {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `hoody rootfs`.
pub fn rootfs(opt: &PoolOpt, cmd: &RootfsCmd) -> anyhow::Result<ExitCode> {
    let access = if matches!(cmd, RootfsCmd::List | RootfsCmd::Du { .. }) {
        Access::Read
    } else {
        Access::Write
    };
    let p = open(opt, access)?;
    match cmd {
        RootfsCmd::Create { name, image } => {
            let info = p.create_container(name, image)?;
            if opt.json {
                print_json(&info)?;
            } else {
                println!("{}", p.container_path(name)?.display());
            }
        }
        RootfsCmd::List => {
            let list = p.containers()?;
            if opt.json {
                print_json(&list)?;
            } else {
                println!(
                    "{:<24} {:<16} {:<22} BRANCHED FROM",
                    "NAME", "IMAGE", "CREATED"
                );
                for c in list {
                    println!(
                        "{:<24} {:<16} {:<22} {}",
                        c.name,
                        c.image.as_deref().unwrap_or("-"),
                        c.created_at,
                        c.branched_from.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        RootfsCmd::Rm { name } => {
            p.remove_container(name)?;
            if !opt.json {
                println!("removed {name}");
            }
        }
        RootfsCmd::Du { name } => {
            let bytes = p.disk_usage(name)?;
            if opt.json {
                print_json(&serde_json::json!({ "name": name, "bytes": bytes }))?;
            } else {
                println!("{bytes}\t{name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `hoody snapshot`.
pub fn snapshot(opt: &PoolOpt, cmd: &SnapshotCmd) -> anyhow::Result<ExitCode> {
    let access = if matches!(cmd, SnapshotCmd::List { .. }) {
        Access::Read
    } else {
        Access::Write
    };
    let p = open(opt, access)?;
    match cmd {
        SnapshotCmd::Create {
            container,
            name,
            alias,
            expires_days,
        } => {
            let info = p.create_snapshot(
                container,
                &SnapshotOptions {
                    name: name.clone(),
                    alias: alias.clone(),
                    expires_in_days: *expires_days,
                },
            )?;
            if opt.json {
                print_json(&info)?;
            } else {
                println!("{}", info.name);
            }
        }
        SnapshotCmd::List { container } => {
            let list = p.snapshots(container)?;
            if opt.json {
                print_json(&list)?;
            } else {
                println!(
                    "{:<28} {:<16} {:<22} {:>14} EXPIRES",
                    "NAME", "ALIAS", "CREATED", "SIZE"
                );
                for s in list {
                    println!(
                        "{:<28} {:<16} {:<22} {:>14} {}",
                        s.name,
                        s.alias.as_deref().unwrap_or("-"),
                        s.created_at,
                        s.size_bytes.unwrap_or(0),
                        s.expires_at.as_deref().unwrap_or("-")
                    );
                }
            }
        }
        SnapshotCmd::Restore {
            container,
            snapshot,
        } => {
            p.restore(container, snapshot)?;
            if !opt.json {
                println!("restored {container} to {snapshot}");
            }
        }
        SnapshotCmd::Rm {
            container,
            snapshot,
        } => {
            p.delete_snapshot(container, snapshot)?;
            if !opt.json {
                println!("deleted {container}/{snapshot}");
            }
        }
        SnapshotCmd::Alias {
            container,
            snapshot,
            alias,
        } => {
            let info = p.set_snapshot_alias(container, snapshot, alias.as_deref())?;
            if opt.json {
                print_json(&info)?;
            }
        }
        SnapshotCmd::Branch {
            container,
            snapshot,
            new_container,
        } => {
            let info = p.branch(container, snapshot, new_container)?;
            if opt.json {
                print_json(&info)?;
            } else {
                println!("{}", p.container_path(new_container)?.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `hoody send`.
pub fn send(opt: &PoolOpt, a: &SendArgs) -> anyhow::Result<ExitCode> {
    let p = open(opt, Access::Write)?;
    let stats = match &a.output {
        Some(f) => {
            let mut file =
                std::fs::File::create(f).with_context(|| format!("create {}", f.display()))?;
            p.send_container(&a.container, a.since.as_deref(), &mut file)?
        }
        None => {
            if std::io::stdout().is_terminal() {
                bail!(
                    "refusing to write a binary stream to a terminal: redirect it or use --output FILE"
                );
            }
            let mut out = std::io::stdout().lock();
            p.send_container(&a.container, a.since.as_deref(), &mut out)?
        }
    };
    eprintln!(
        "sent {} ({} subvolume(s), {} bytes)",
        a.container, stats.subvolumes, stats.bytes
    );
    Ok(ExitCode::SUCCESS)
}

/// Runs `hoody receive`.
pub fn receive(opt: &PoolOpt, a: &ReceiveArgs) -> anyhow::Result<ExitCode> {
    let p = open(opt, Access::Write)?;
    let info = match &a.input {
        Some(f) => {
            let mut file =
                std::fs::File::open(f).with_context(|| format!("open {}", f.display()))?;
            p.receive_container(&mut file)?
        }
        None => p.receive_container(&mut std::io::stdin().lock())?,
    };
    if opt.json {
        print_json(&info)?;
    } else {
        println!("received {}", info.name);
    }
    Ok(ExitCode::SUCCESS)
}
