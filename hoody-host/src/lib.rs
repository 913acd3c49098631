//! # hoody-host: the server in process
//!
//! [`Host`] opens a pool, its machines and the state database, and runs the lifecycle of
//! projects and containers with the API's types ([`hoody_api`]). hoodyd is a thin HTTP layer
//! over it ([`server`]); an embedder can use it in process instead.
//!
//! # State and truth
//! The database ([`store`]) is the record: projects, containers, their status and
//! history. The kernel and the pool are the truth about what runs and exists: a container's
//! machine runs exactly when its monitor answers ([`hoody_machine`]). [`Host::open`]
//! reconciles the two, and a watcher thread keeps reconciling (a machine powered off from
//! inside becomes `stopped` within [`HostConfig::watch_interval`]).
//!
//! # Crash safety
//! Create, copy, restore and delete are journalled ([`store::Journal`]) in the same
//! transaction as their first state change. At the next [`Host::open`] every journalled
//! operation is finished:
//!
//! | operation | after a crash |
//! |---|---|
//! | create, copy | completed when the machine was fully made (its config exists: it is written last), else rolled back: whatever part exists is purged and the row removed |
//! | restore | run again from the start (stopping, restoring and starting are idempotent; a restore torn inside the pool was already repaired by [`hoody_fs::Pool::open`]) |
//! | delete | run again: purge what is left, remove the row |
//!
//! Containers keep running when hoodyd stops or dies: their monitors are their own processes,
//! and the next `Host` adopts them by listing. `autostart` containers are started when the host
//! has rebooted since the last run (the kernel's boot id changed).
//!
//! # Concurrency
//! One operation per container at a time (others get 409 `CONTAINER_BUSY`); operations on
//! different containers run in parallel. Create and copy return at once with status `creating`
//! / `copying` and finish on their own thread.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::Digest;

use hoody_api as api;
use hoody_api::permissions;
use hoody_machine as machine;

use crate::api::{ApiError, Container, ContainerStatus, Event, Operation};
use crate::machine::{CreateOptions, MachineError, Machines, Source};
use crate::store::{Journal, Order, Store};

pub mod access;
pub mod authz;
pub mod claims;
mod containers;
mod egress;
mod error;
mod fault;
pub mod firewall;
pub mod front_door;
mod hooks;
mod lifecycle;
mod members;
pub mod metrics;
mod projects;
pub mod ramdisk;
mod realms;
mod recovery;
pub mod server;
mod servers;
mod snapshots;
pub mod store;
mod tokens;
mod validate;
mod view;
pub use access::Caller;
pub use front_door::FrontDoor;

pub use error::HostError;
use validate::*;
pub use validate::{check_env_var, image_name, is_dns_label};

type Result<T, E = HostError> = std::result::Result<T, E>;

pub use hoody_api::DEFAULT_PROXY_LOG_DIR;

mod proxy;
pub use proxy::{Scope, check_alias_name, with_etag};

/// The image a container gets when the create names none.
pub const DEFAULT_IMAGE: &str = "debian-13";

/// How a [`Host`] is set up.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The pool's root (mounted; see `hoody pool init`).
    pub pool: PathBuf,
    /// The state database (default `<pool>/hoodyd/state.db`).
    pub state_db: Option<PathBuf>,
    /// Runtime directory of the machines' monitors.
    pub run_dir: PathBuf,
    /// The monitor program (`hoody-monitor`).
    pub monitor_exe: PathBuf,
    /// The Kit's binary bound into containers created with `hoody_kit` (default: `hoody-kit`
    /// beside the monitor).
    pub kit_exe: Option<PathBuf>,
    /// This server's DNS label (default: kept from the last run, else the host name).
    pub server_name: Option<String>,
    /// How long a boot may take.
    pub boot_timeout: Duration,
    /// How long a clean shutdown may take before everything is killed.
    pub stop_timeout: Duration,
    /// How often the watcher checks that running containers still run.
    pub watch_interval: Duration,
    /// Test hook (feature `fault-injection` only): the process kills itself with SIGKILL on
    /// reaching one of these points (see the `fault` module; `HOODYD_CRASH_AT` adds more).
    #[cfg(feature = "fault-injection")]
    pub crash_points: Vec<String>,
    /// The apex domain the proxy serves (for alias URLs).
    pub domain: String,
    /// Where hoody-proxy writes per-container access logs (`<dir>/<container>.jsonl`).
    pub proxy_log_dir: PathBuf,
    /// Environment variables for the machines' monitors on top of this process's (their
    /// network settings: `HOODY_NET_NAME`, `HOODY_NET_POOL`, `HOODY_NET_STATE`).
    pub monitor_env: Vec<(String, String)>,
    /// Where this server answers (`unix:/run/hoody/hoodyd.sock`), recorded in the pool's
    /// lock so that a refused direct command can say where to go instead.
    pub endpoint: String,
    /// The proxy as containers reach it ([`FrontDoor`]; default: none, containers reach no
    /// port of the host).
    pub front_door: FrontDoor,
    /// The server's `/ramdisk` pool, a tmpfs (see [`ramdisk`]; default `/run/hoody/ramdisk`).
    pub ramdisk_dir: PathBuf,
    /// Its size in bytes (default: 512 MiB, at most half the host's memory).
    pub ramdisk_size: Option<u64>,
    /// Limits a container gets when its create names none (default: none).
    pub default_limits: api::Limits,
}

impl HostConfig {
    /// Defaults for a pool at `pool` with the monitor at `monitor_exe`.
    pub fn new(pool: impl Into<PathBuf>, monitor_exe: impl Into<PathBuf>) -> Self {
        HostConfig {
            pool: pool.into(),
            state_db: None,
            run_dir: PathBuf::from(machine::DEFAULT_RUN_DIR),
            monitor_exe: monitor_exe.into(),
            kit_exe: None,
            server_name: None,
            boot_timeout: Duration::from_secs(120),
            stop_timeout: Duration::from_secs(30),
            watch_interval: Duration::from_secs(2),
            #[cfg(feature = "fault-injection")]
            crash_points: Vec::new(),
            domain: "localhost".into(),
            proxy_log_dir: PathBuf::from(DEFAULT_PROXY_LOG_DIR),
            monitor_env: Vec::new(),
            endpoint: format!("unix:{}", api::client::DEFAULT_SOCKET),
            front_door: FrontDoor::default(),
            ramdisk_dir: PathBuf::from(ramdisk::DEFAULT_DIR),
            ramdisk_size: None,
            default_limits: api::Limits::default(),
        }
    }
}

/// The server. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: HostConfig,
    /// Held (an exclusive `flock`) for the Host's life: one writer per state database.
    _writer_lock: hoody_sys::lock::FileLock,
    store: Mutex<Store>,
    machines: Machines,
    server_id: String,
    server_name: String,
    events: tokio::sync::broadcast::Sender<Event>,
    seq: AtomicU64,
    /// Containers with an operation in progress; `true`: held by the watcher for a moment
    /// (others wait for it rather than fail).
    busy: Mutex<HashMap<String, bool>>,
    faults: fault::Faults,
    ramdisk: ramdisk::RamdiskPool,
    signing: claims::SigningKey,
    /// `runtime_info` read lately, by container ([`view::RUNTIME_TTL`]).
    runtime_cache: Mutex<HashMap<String, (std::time::Instant, api::RuntimeInfo)>>,
}

/// Holds a container's operation slot; released on drop.
struct Busy {
    host: Arc<Inner>,
    id: String,
}

impl Drop for Busy {
    fn drop(&mut self) {
        lock(&self.host.busy).remove(&self.id);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let base = hoody_sys::time::rfc3339(d.as_secs() as i64);
    // "…Z" → "….mmmZ": milliseconds order transitions within a second.
    format!("{}.{:03}Z", base.trim_end_matches('Z'), d.subsec_millis())
}

/// A snapshot operation's error, where a taken or invalid alias is the caller's mistake.
fn alias_err(e: hoody_fs::FsError) -> HostError {
    match e {
        hoody_fs::FsError::AlreadyExists { name, .. } => ApiError::conflict(
            "SNAPSHOT_ALIAS_TAKEN",
            format!("snapshot alias {name} is taken"),
        )
        .into(),
        hoody_fs::FsError::InvalidName { name, reason, .. } => {
            ApiError::validation("alias", format!("{name:?}: {reason}")).into()
        }
        e => e.into(),
    }
}

/// A new resource id (24 hex digits, see [`api::id`]).
fn new_id() -> Result<String> {
    api::id::new_id().map_err(random_err)
}

/// `N` random bytes from the kernel.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    hoody_sys::random::bytes().map_err(random_err)
}

fn random_err(e: std::io::Error) -> HostError {
    HostError::io("reading random bytes from the kernel", e)
}

impl Host {
    /// Opens the server: the pool (repairing interrupted storage operations), the state
    /// database, the server's identity; finishes every journalled operation; reconciles the
    /// record with the running machines; starts `autostart` containers after a reboot (in the
    /// background) and the watcher.
    pub fn open(cfg: HostConfig) -> Result<Host> {
        // The pool's one writer while this Host lives: direct `hoody` verbs that would change
        // it are refused, naming this process and where it serves.
        let pool = hoody_fs::Pool::serve(&cfg.pool, &cfg.endpoint).map_err(|e| match e {
            hoody_fs::FsError::Served { pool, holder } => ApiError::conflict(
                "STATE_IN_USE",
                format!(
                    "the pool {} is in use by another hoodyd: {holder}; stop it first",
                    pool.display()
                ),
            )
            .into(),
            hoody_fs::FsError::Busy { pool, holder } => ApiError::conflict(
                "STATE_IN_USE",
                format!(
                    "the pool {} is being changed by {holder}; start hoodyd when it has finished",
                    pool.display()
                ),
            )
            .into(),
            e => HostError::Fs(e),
        })?;
        let db = cfg
            .state_db
            .clone()
            .unwrap_or_else(|| cfg.pool.join("hoodyd").join("state.db"));
        let writer_lock = take_writer_lock(&db)?;
        let signing = claims::SigningKey::open(db.parent().unwrap_or(Path::new("/")))?;
        let mut store = Store::open(&db)?;
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .unwrap_or_default()
            .trim()
            .to_string();
        let (server_id, server_name, rebooted) = store.tx(|t| {
            let id = match t.meta("server_id")? {
                Some(id) => id,
                None => {
                    let id = new_id()?;
                    t.set_meta("server_id", &id)?;
                    id
                }
            };
            let name = match (&cfg.server_name, t.meta("server_name")?) {
                (Some(n), _) => n.clone(),
                (None, Some(n)) => n,
                (None, None) => default_server_name(),
            };
            if !is_dns_label(&name) {
                return Err(ApiError::validation(
                    "server_name",
                    format!("{name:?} is not a DNS label (1-63 of a-z, 0-9 and '-')"),
                )
                .into());
            }
            t.set_meta("server_name", &name)?;
            let last = t.meta("boot_id")?;
            t.set_meta("boot_id", &boot_id)?;
            Ok((id, name, last.is_some_and(|l| l != boot_id)))
        })?;
        let mut machines = Machines::new(pool, &cfg.run_dir, &cfg.monitor_exe)
            .with_monitor_env(cfg.front_door.monitor_env(&cfg.domain))
            .with_monitor_env(cfg.monitor_env.clone());
        if let Some(k) = &cfg.kit_exe {
            machines = machines.with_kit_exe(k);
        }
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let faults = fault::Faults::new(&cfg);
        let ramdisk = ramdisk::RamdiskPool::open(&cfg.ramdisk_dir, cfg.ramdisk_size)?;
        let host = Host {
            inner: Arc::new(Inner {
                faults,
                cfg,
                _writer_lock: writer_lock,
                store: Mutex::new(store),
                machines,
                server_id,
                server_name,
                events,
                seq: AtomicU64::new(0),
                busy: Mutex::new(HashMap::new()),
                ramdisk,
                signing,
                runtime_cache: Mutex::new(HashMap::new()),
            }),
        };
        host.recover()?;
        host.reconcile()?;
        if rebooted {
            host.autostart();
        }
        host.spawn_watcher();
        Ok(host)
    }

    /// The machines under this host.
    pub fn machines(&self) -> &Machines {
        &self.inner.machines
    }

    /// This server's id.
    pub fn server_id(&self) -> &str {
        &self.inner.server_id
    }

    /// This server's DNS label.
    pub fn server_name(&self) -> &str {
        &self.inner.server_name
    }

    /// A stream of state changes.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// `POST /api/v1/containers/{id}/authorize`: a signed one-hour claim for the container
    /// (see [`claims`]).
    pub fn authorize_container(&self, id: &str) -> Result<serde_json::Value> {
        let c = self.get_container(id)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(self
            .inner
            .signing
            .claim(&c.id, &c.project_id, &self.inner.server_id, now))
    }

    /// `GET /api/v1/meta/public-key`: the key claims are signed with.
    pub fn public_keys(&self) -> serde_json::Value {
        self.inner.signing.public_keys()
    }

    /// How many containers have an operation in progress.
    pub fn operations_in_flight(&self) -> usize {
        self.inner
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }

    fn fault(&self, point: &str) {
        self.inner.faults.hit(point);
    }

    fn emit(&self, kind: &str, c: Option<&Container>, project: Option<&str>) {
        let ev = Event {
            seq: self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1,
            kind: kind.to_string(),
            project_id: c
                .map(|c| c.project_id.clone())
                .or(project.map(str::to_string)),
            container_id: c.map(|c| c.id.clone()),
            status: c.map(|c| c.status),
            ip: c.and_then(|c| c.ip.clone()),
            time: now(),
        };
        // No subscribers is fine.
        let _ = self.inner.events.send(ev);
    }

    fn claim(&self, id: &str) -> Result<Busy> {
        self.claim_as(id, false)
    }

    /// Takes a container's operation slot. A slot the watcher holds is waited for (it holds
    /// it for one socket connect); a slot an operation holds is a 409 `CONTAINER_BUSY`, and
    /// the watcher itself never waits.
    fn claim_as(&self, id: &str, watcher: bool) -> Result<Busy> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            {
                let mut busy = lock(&self.inner.busy);
                match busy.get(id) {
                    None => {
                        busy.insert(id.to_string(), watcher);
                        return Ok(Busy {
                            host: self.inner.clone(),
                            id: id.to_string(),
                        });
                    }
                    Some(true) if !watcher && Instant::now() < deadline => {}
                    Some(_) => {
                        return Err(ApiError::conflict(
                            "CONTAINER_BUSY",
                            format!(
                                "container {id} has an operation in progress; try again when it ends"
                            ),
                        ).into());
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    // ---- server ----------------------------------------------------------------------

    /// This server.
    pub fn server(&self) -> Result<api::Server> {
        Ok(api::Server {
            id: self.inner.server_id.clone(),
            name: self.inner.server_name.clone(),
            status: "ready".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            specs: self.server_specs(),
            container_count: self.store().read().count_containers(None)?,
            is_local: true,
        })
    }

    /// What this machine has: CPUs, memory, the pool's disk.
    fn server_specs(&self) -> api::ServerSpecs {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        // Reported as 0 when the pool's file system cannot be asked (the server still is).
        let disk = hoody_sys::fs::size(self.inner.machines.pool().root()).map_or(0, |s| s.total);
        api::ServerSpecs {
            cpu_cores: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(1),
            ram_gb: (mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            disk_gb: (disk as f64 / 1e9 * 10.0).round() / 10.0,
        }
    }

    /// Every server (this one).
    pub fn servers(&self) -> Result<api::ServerList> {
        Ok(api::ServerList {
            servers: vec![self.server()?],
            pagination: api::Pagination {
                total: 1,
                page: 1,
                limit: 20,
                total_pages: 1,
            },
        })
    }

    fn check_server(&self, field: &str, s: &str) -> Result<()> {
        if s == self.inner.server_id || s == self.inner.server_name {
            Ok(())
        } else if s.is_empty() {
            Err(ApiError::validation(field, "is required").into())
        } else {
            Err(ApiError::new(
                404,
                "SERVER_NOT_FOUND",
                format!(
                    "server {s:?} not found: this server is {} ({}); see GET /api/v1/servers",
                    self.inner.server_id, self.inner.server_name
                ),
            )
            .into())
        }
    }
}

/// Takes `<db>.lock` exclusively, or fails naming the process that has it: two Hosts writing
/// one pool would each journal, recover and reconcile behind the other's back.
fn take_writer_lock(db: &std::path::Path) -> Result<hoody_sys::lock::FileLock> {
    use std::io::{Read, Seek, Write};
    let path = db.with_extension("lock");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("create state directory {}", dir.display()), e))?;
    }
    let lock = hoody_sys::lock::FileLock::try_acquire(&path, hoody_sys::lock::Mode::Exclusive)
        .map_err(|e| HostError::io(format!("lock {}", path.display()), e))?;
    let Some(lock) = lock else {
        let mut holder = String::new();
        // Best effort: the message is still right without the pid.
        let _ = std::fs::File::open(&path).and_then(|mut f| f.read_to_string(&mut holder));
        return Err(ApiError::conflict(
            "STATE_IN_USE",
            format!(
                "{} is in use by another hoodyd (pid {}); stop it first",
                db.display(),
                holder.trim()
            ),
        )
        .into());
    };
    let mut f = lock.file();
    f.set_len(0)
        .and_then(|()| f.rewind())
        .and_then(|_| write!(f, "{}", std::process::id()))
        .map_err(|e| HostError::io(format!("write {}", path.display()), e))?;
    Ok(lock)
}
