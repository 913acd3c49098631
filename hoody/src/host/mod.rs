//! The server: [`Host`] opens a pool, its machines and the state database, and runs the
//! lifecycle of projects and containers with the API's types ([`crate::api`]). hoodyd is a
//! thin HTTP layer over it ([`crate::server`]); an embedder can use it in process instead.
//!
//! # State and truth
//! The database ([`crate::store`]) is the record: projects, containers, their status and
//! history. The kernel and the pool are the truth about what runs and exists: a container's
//! machine runs exactly when its monitor answers ([`crate::machine`]). [`Host::open`]
//! reconciles the two, and a watcher thread keeps reconciling (a machine powered off from
//! inside becomes `stopped` within [`HostConfig::watch_interval`]).
//!
//! # Crash safety
//! Create, copy, restore and delete are journalled ([`crate::store::Journal`]) in the same
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
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::Digest;

use crate::api::{self, ApiError, Container, ContainerStatus, Event, Operation};
use crate::machine::{self, CreateOptions, MachineError, Machines, Source};
use crate::store::{Journal, Order, Store};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Where hoody-proxy writes access logs unless told otherwise.
pub const DEFAULT_PROXY_LOG_DIR: &str = "/var/log/hoody/proxy";

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
    /// Test hook: the process kills itself with SIGKILL on reaching one of these points
    /// (`create:after-row`, `create:after-machine`, `create:after-start`, `copy:after-row`,
    /// `copy:after-machine`, `restore:after-journal`, `restore:after-stop`, `restore:in-fs`,
    /// `restore:after-fs`, `delete:after-mark`, `delete:after-purge`).
    pub crash_points: Vec<String>,
    /// The apex domain the proxy serves (for alias URLs).
    pub domain: String,
    /// Where hoody-proxy writes per-container access logs (`<dir>/<container>.jsonl`).
    pub proxy_log_dir: PathBuf,
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
            crash_points: Vec::new(),
            domain: "localhost".into(),
            proxy_log_dir: PathBuf::from(DEFAULT_PROXY_LOG_DIR),
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
    _writer_lock: std::fs::File,
    store: Mutex<Store>,
    machines: Machines,
    server_id: String,
    server_name: String,
    events: tokio::sync::broadcast::Sender<Event>,
    seq: AtomicU64,
    /// Containers with an operation in progress; `true`: held by the watcher for a moment
    /// (others wait for it rather than fail).
    busy: Mutex<HashMap<String, bool>>,
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
    let base = hoody_fs::time::rfc3339(d.as_secs() as i64);
    // "…Z" → "….mmmZ": milliseconds order transitions within a second.
    format!("{}.{:03}Z", base.trim_end_matches('Z'), d.subsec_millis())
}

fn machine_err(e: MachineError) -> ApiError {
    match e {
        MachineError::NotFound(n) => ApiError::new(
            404,
            "MACHINE_NOT_FOUND",
            format!("container {n}: its machine is missing"),
        ),
        MachineError::Running(n) => ApiError::conflict(
            "INVALID_STATE_TRANSITION",
            format!("container {n} is running"),
        ),
        MachineError::NotRunning(n) => ApiError::conflict(
            "INVALID_STATE_TRANSITION",
            format!("container {n} is not running"),
        ),
        MachineError::Fs(hoody_fs::FsError::NotFound { kind, name, .. }) => ApiError::new(
            404,
            &format!("{}_NOT_FOUND", kind.to_ascii_uppercase().replace(' ', "_")),
            format!("{kind} {name} not found"),
        ),
        e => ApiError::internal(e.to_string()),
    }
}

fn fs_err(e: hoody_fs::FsError) -> ApiError {
    machine_err(MachineError::Fs(e))
}

/// A snapshot operation's error, where a taken or invalid alias is the caller's mistake.
fn alias_err(e: hoody_fs::FsError) -> ApiError {
    match e {
        hoody_fs::FsError::AlreadyExists { name, .. } => ApiError::conflict(
            "SNAPSHOT_ALIAS_TAKEN",
            format!("snapshot alias {name} is taken"),
        ),
        hoody_fs::FsError::InvalidName { name, reason, .. } => {
            ApiError::validation("alias", format!("{name:?}: {reason}"))
        }
        e => fs_err(e),
    }
}

/// Normalises `#RGB` / `#RRGGBB` (the `#` optional) to `#RRGGBB`; random when absent.
fn color(c: Option<&str>) -> Result<String> {
    let Some(c) = c else {
        let mut b = [0u8; 3];
        api::id::fill_random(&mut b);
        return Ok(format!("#{:02X}{:02X}{:02X}", b[0], b[1], b[2]));
    };
    let h = c.strip_prefix('#').unwrap_or(c);
    if !h.bytes().all(|b| b.is_ascii_hexdigit()) || !(h.len() == 3 || h.len() == 6) {
        return Err(ApiError::validation(
            "color",
            format!("{c:?} is not a color (#RGB or #RRGGBB)"),
        ));
    }
    let h = h.to_ascii_uppercase();
    Ok(if h.len() == 3 {
        let b = h.as_bytes();
        format!(
            "#{0}{0}{1}{1}{2}{2}",
            b[0] as char, b[1] as char, b[2] as char
        )
    } else {
        format!("#{h}")
    })
}

fn check_name(field: &str, name: &str, min: usize) -> Result<()> {
    if name.len() < min || name.len() > 100 {
        return Err(ApiError::validation(
            field,
            format!("{name:?} must be {min} to 100 characters"),
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::validation(
            field,
            format!("{name:?} may only contain letters, digits, '-' and '_'"),
        ));
    }
    Ok(())
}

fn check_realms(ids: &[String]) -> Result<()> {
    for r in ids {
        if !api::id::is_valid(r) {
            return Err(ApiError::validation(
                "realm_ids",
                format!("{r:?} is not a realm id (24 lowercase hex digits)"),
            ));
        }
    }
    Ok(())
}

/// Checks one environment variable (reference §1.7).
pub fn check_env_var(key: &str, value: &str) -> Result<()> {
    let mut chars = key.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err(ApiError::new(
            400,
            "INVALID_ENV_KEY",
            format!("environment variable name {key:?} must match ^[a-zA-Z_][a-zA-Z0-9_]*$"),
        ));
    }
    if key.starts_with("HOODY_") {
        return Err(ApiError::new(
            400,
            "RESERVED_ENV_PREFIX",
            format!("environment variable {key:?}: names starting with HOODY_ are reserved"),
        ));
    }
    if value.len() > 65_536 {
        return Err(ApiError::validation(
            "environment_vars",
            format!("the value of {key} is longer than 65,536 characters"),
        ));
    }
    Ok(())
}

fn check_env(env: &BTreeMap<String, String>) -> Result<()> {
    if env.len() > 200 {
        return Err(ApiError::validation(
            "environment_vars",
            format!("{} variables; at most 200 per request", env.len()),
        ));
    }
    env.iter().try_for_each(|(k, v)| check_env_var(k, v))
}

/// Normalises an image name: Hoody's shorthands for Debian 13 become the pool's `debian-13`.
pub fn image_name(s: &str) -> String {
    match s.trim() {
        "debian" | "debian-13" | "debian:13" | "debian 13" | "debian/13" | "trixie" => {
            DEFAULT_IMAGE.to_string()
        }
        other => other.to_string(),
    }
}

struct Paging {
    limit: u64,
    page: u64,
    sort: &'static str,
    order: Order,
}

fn paging(
    q: &api::ListQuery,
    default_limit: u64,
    sorts: &[&'static str],
    default_sort: &'static str,
    default_order: Order,
) -> Result<Paging> {
    let page = q.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::validation("page", "pages count from 1"));
    }
    let limit = q.limit.unwrap_or(default_limit);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::validation("limit", "must be 1 to 100"));
    }
    let sort = match &q.sort_by {
        None => default_sort,
        Some(s) => sorts.iter().copied().find(|x| x == s).ok_or_else(|| {
            ApiError::validation(
                "sort_by",
                format!("{s:?} is not one of {}", sorts.join(", ")),
            )
        })?,
    };
    let order = match q.sort_order.as_deref() {
        None => default_order,
        Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(o) => {
            return Err(ApiError::validation(
                "sort_order",
                format!("{o:?} is not asc or desc"),
            ));
        }
    };
    Ok(Paging {
        limit,
        page,
        sort,
        order,
    })
}

fn pagination(p: &Paging, total: u64) -> api::Pagination {
    api::Pagination {
        total,
        page: p.page,
        limit: p.limit,
        total_pages: total.div_ceil(p.limit),
    }
}

fn default_server_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let label: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let label = label.trim_matches('-').to_string();
    if label.is_empty() {
        "node-1".into()
    } else {
        label
    }
}

/// Whether `s` is a DNS label (1–63 of `[a-z0-9-]`, not starting or ending with `-`).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn hash_token(secret: &str) -> String {
    sha2::Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Host {
    /// Opens the server: the pool (repairing interrupted storage operations), the state
    /// database, the server's identity; finishes every journalled operation; reconciles the
    /// record with the running machines; starts `autostart` containers after a reboot (in the
    /// background) and the watcher.
    pub fn open(cfg: HostConfig) -> Result<Host> {
        let pool = hoody_fs::Pool::open(&cfg.pool)
            .map_err(|e| ApiError::internal(format!("open pool {}: {e}", cfg.pool.display())))?;
        let db = cfg
            .state_db
            .clone()
            .unwrap_or_else(|| cfg.pool.join("hoodyd").join("state.db"));
        let writer_lock = take_writer_lock(&db)?;
        let mut store = Store::open(&db)?;
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .unwrap_or_default()
            .trim()
            .to_string();
        let (server_id, server_name, rebooted) = store.tx(|t| {
            let id = match t.meta("server_id")? {
                Some(id) => id,
                None => {
                    let id = api::id::new_id();
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
                ));
            }
            t.set_meta("server_name", &name)?;
            let last = t.meta("boot_id")?;
            t.set_meta("boot_id", &boot_id)?;
            Ok((id, name, last.is_some_and(|l| l != boot_id)))
        })?;
        let mut machines = Machines::new(pool, &cfg.run_dir, &cfg.monitor_exe);
        if let Some(k) = &cfg.kit_exe {
            machines = machines.with_kit_exe(k);
        }
        let (events, _) = tokio::sync::broadcast::channel(1024);
        let host = Host {
            inner: Arc::new(Inner {
                cfg,
                _writer_lock: writer_lock,
                store: Mutex::new(store),
                machines,
                server_id,
                server_name,
                events,
                seq: AtomicU64::new(0),
                busy: Mutex::new(HashMap::new()),
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

    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.inner.store)
    }

    fn fault(&self, point: &str) {
        if self.inner.cfg.crash_points.iter().any(|p| p == point) {
            eprintln!("hoodyd: crash point {point} reached: killing myself");
            // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught: the process ends here.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            std::thread::sleep(Duration::from_secs(60));
        }
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
                        ));
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    // ---- server ----------------------------------------------------------------------

    /// This server.
    pub fn server(&self) -> Result<api::Server> {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let disk = nix_statvfs_bytes(self.inner.machines.pool().root());
        Ok(api::Server {
            id: self.inner.server_id.clone(),
            name: self.inner.server_name.clone(),
            status: "ready".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            specs: api::ServerSpecs {
                cpu_cores: std::thread::available_parallelism()
                    .map(|n| n.get() as u64)
                    .unwrap_or(1),
                ram_gb: (mem_kb as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
                disk_gb: (disk as f64 / 1e9 * 10.0).round() / 10.0,
            },
            container_count: self.store().read().count_containers(None)?,
            is_local: true,
        })
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
            Err(ApiError::validation(field, "is required"))
        } else {
            Err(ApiError::new(
                404,
                "SERVER_NOT_FOUND",
                format!(
                    "server {s:?} not found: this server is {} ({}); see GET /api/v1/servers",
                    self.inner.server_id, self.inner.server_name
                ),
            ))
        }
    }

    // ---- projects --------------------------------------------------------------------

    /// Creates a project.
    pub fn create_project(&self, req: api::CreateProject) -> Result<api::Project> {
        check_alias(&req.alias)?;
        let realm_ids = req.realm_ids.unwrap_or_default();
        check_realms(&realm_ids)?;
        let t = now();
        let p = api::Project {
            id: api::id::new_id(),
            alias: req.alias,
            color: color(req.color.as_deref())?,
            max_containers: req.max_containers,
            realm_ids,
            container_count: 0,
            created_at: t.clone(),
            updated_at: t,
        };
        self.store().tx(|tx| {
            if tx.project_by_alias(&p.alias)?.is_some() {
                return Err(ApiError::conflict(
                    "PROJECT_ALIAS_TAKEN",
                    format!("a project named {:?} already exists", p.alias),
                ));
            }
            tx.put_project(&p)
        })?;
        self.emit("project.created", None, Some(&p.id));
        Ok(p)
    }

    /// A project.
    pub fn get_project(&self, id: &str) -> Result<api::Project> {
        api::id::check("project", id)?;
        self.store()
            .read()
            .project(id)?
            .ok_or_else(|| ApiError::not_found("project", id))
    }

    /// A page of projects (sorted by `id|alias|created_at|updated_at`, newest first by default).
    pub fn list_projects(&self, q: &api::ListQuery) -> Result<api::ProjectList> {
        let p = paging(
            q,
            10,
            &["id", "alias", "created_at", "updated_at"],
            "created_at",
            Order::Desc,
        )?;
        let (projects, total) =
            self.store()
                .read()
                .projects(p.sort, p.order, p.limit, (p.page - 1) * p.limit)?;
        Ok(api::ProjectList {
            projects,
            pagination: pagination(&p, total),
        })
    }

    /// Updates a project.
    pub fn update_project(&self, id: &str, req: api::UpdateProject) -> Result<api::Project> {
        api::id::check("project", id)?;
        if let Some(a) = &req.alias {
            check_alias(a)?;
        }
        if let Some(r) = &req.realm_ids {
            check_realms(r)?;
        }
        let color = req.color.as_deref().map(|c| color(Some(c))).transpose()?;
        let p = self.store().tx(|tx| {
            let mut p = tx
                .project(id)?
                .ok_or_else(|| ApiError::not_found("project", id))?;
            if let Some(a) = req.alias {
                if a != p.alias && tx.project_by_alias(&a)?.is_some() {
                    return Err(ApiError::conflict(
                        "PROJECT_ALIAS_TAKEN",
                        format!("a project named {a:?} already exists"),
                    ));
                }
                p.alias = a;
            }
            if let Some(c) = color {
                p.color = c;
            }
            if let Some(m) = req.max_containers {
                p.max_containers = m;
            }
            if let Some(r) = req.realm_ids {
                p.realm_ids = r;
            }
            p.updated_at = now();
            tx.put_project(&p)?;
            Ok(p)
        })?;
        self.emit("project.updated", None, Some(id));
        Ok(p)
    }

    /// Deletes an empty project.
    pub fn delete_project(&self, id: &str) -> Result<()> {
        api::id::check("project", id)?;
        self.store().tx(|tx| {
            let p = tx
                .project(id)?
                .ok_or_else(|| ApiError::not_found("project", id))?;
            if p.container_count > 0 {
                return Err(ApiError::conflict(
                    "PROJECT_NOT_EMPTY",
                    format!(
                        "project {id} ({}) still has {} container(s); delete them first",
                        p.alias, p.container_count
                    ),
                ));
            }
            tx.delete_project(id)
        })?;
        self.emit("project.deleted", None, Some(id));
        Ok(())
    }

    // ---- containers: reading -----------------------------------------------------------

    /// A container.
    pub fn get_container(&self, id: &str) -> Result<Container> {
        api::id::check("container", id)?;
        self.store()
            .read()
            .container(id)?
            .ok_or_else(|| ApiError::not_found("container", id))
    }

    /// A page of containers, of one project or all (state only: no machine is asked).
    /// Sorted by `id|name|status|created_at|updated_at`, newest first by default.
    pub fn list_containers(
        &self,
        project: Option<&str>,
        q: &api::ListQuery,
    ) -> Result<api::ContainerList> {
        let p = paging(
            q,
            20,
            &["id", "name", "status", "created_at", "updated_at"],
            "created_at",
            Order::Desc,
        )?;
        let store = self.store();
        let r = store.read();
        if let Some(pid) = project {
            api::id::check("project", pid)?;
            if r.project(pid)?.is_none() {
                return Err(ApiError::not_found("project", pid));
            }
        }
        let (containers, total) = r.containers(
            project,
            q.include_deleting.unwrap_or(false),
            p.sort,
            p.order,
            p.limit,
            (p.page - 1) * p.limit,
        )?;
        Ok(api::ContainerList {
            containers,
            pagination: pagination(&p, total),
        })
    }

    /// A page of a container's state transitions.
    pub fn status_logs(&self, id: &str, q: &api::ListQuery) -> Result<api::StatusLogList> {
        self.get_container(id)?;
        let p = paging(
            q,
            10,
            &["transition_time", "created_at", "to_status", "from_status"],
            "transition_time",
            Order::Desc,
        )?;
        let (status_logs, total) = self.store().read().status_logs(
            id,
            p.sort,
            p.order,
            p.limit,
            (p.page - 1) * p.limit,
        )?;
        Ok(api::StatusLogList {
            status_logs,
            pagination: pagination(&p, total),
        })
    }

    /// Live counters of a running (or paused) container.
    pub fn stats(&self, id: &str) -> Result<api::ContainerStats> {
        let started = Instant::now();
        let c = self.get_container(id)?;
        if !matches!(c.status, ContainerStatus::Running | ContainerStatus::Paused) {
            return Err(ApiError::conflict(
                "CONTAINER_NOT_RUNNING",
                format!("container {id} is {}: stats need it running", c.status),
            ));
        }
        let s = self.inner.machines.stats(id).map_err(machine_err)?;
        let cfg = self
            .inner
            .machines
            .configs()
            .ok()
            .and_then(|v| v.into_iter().find(|m| m.name == id));
        let disk = self.inner.machines.pool().disk_usage(id).unwrap_or(0);
        Ok(api::ContainerStats {
            id: c.id,
            project_id: c.project_id,
            project_name: c.project_alias,
            server_name: self.inner.server_name.clone(),
            status: c.status,
            processes: s.cgroup.pids_current,
            cpu: api::CpuStats {
                usage: s.cgroup.cpu_usage_usec * 1000,
            },
            memory: api::MemoryStats {
                usage: s.cgroup.memory_current,
                usage_peak: s.cgroup.memory_peak,
                total: cfg.and_then(|c| c.memory),
            },
            disk: api::DiskStats {
                root: api::DiskUsage { usage: disk },
            },
            network: s
                .interfaces
                .into_iter()
                .map(|(interface, rx, tx, prx, ptx)| api::NetworkStats {
                    interface,
                    counters: api::NetworkCounters {
                        bytes_received: rx,
                        bytes_sent: tx,
                        packets_received: prx,
                        packets_sent: ptx,
                    },
                })
                .collect(),
            processing_time: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    // ---- state transitions -----------------------------------------------------------

    /// Sets a container's status (recording the transition) and whatever `change` does to
    /// it, in one transaction, then tells subscribers.
    #[allow(clippy::too_many_arguments)]
    fn transition(
        &self,
        id: &str,
        to: ContainerStatus,
        triggered_by: &str,
        metadata: serde_json::Value,
        started: Option<Instant>,
        end_op: Option<i64>,
        change: impl FnOnce(&mut Container),
    ) -> Result<Container> {
        let c = self.store().tx(|tx| {
            let mut c = tx
                .container(id)?
                .ok_or_else(|| ApiError::not_found("container", id))?;
            let from = c.status;
            c.status = to;
            change(&mut c);
            c.updated_at = now();
            tx.put_container(&c)?;
            if from != to {
                tx.add_status_log(&api::StatusLog {
                    id: api::id::new_id(),
                    container_id: id.to_string(),
                    from_status: Some(from),
                    to_status: to,
                    transition_time: c.updated_at.clone(),
                    duration_ms: started.map(|s| s.elapsed().as_millis() as u64),
                    triggered_by: triggered_by.to_string(),
                    metadata,
                })?;
            }
            if let Some(op) = end_op {
                tx.end_op(op)?;
            }
            Ok(c)
        })?;
        self.emit("container.status", Some(&c), None);
        Ok(c)
    }

    /// Boots a container's machine: `Ok(ip)` or the failure.
    fn boot(&self, id: &str) -> Result<Option<String>> {
        match self.inner.machines.start(id, self.inner.cfg.boot_timeout) {
            Ok(st) => Ok(st.ip),
            Err(e) => {
                // A machine that started but did not finish booting is killed: `failed` means
                // nothing of it runs.
                let _ = self.inner.machines.force_stop(id);
                Err(machine_err(e))
            }
        }
    }

    /// The environment a container's machine gets: the user's plus `HOODY_CONTAINER_ID`.
    fn machine_env(c: &Container) -> BTreeMap<String, String> {
        let mut env = c.environment_vars.clone();
        env.insert("HOODY_CONTAINER_ID".into(), c.id.clone());
        env.insert("HOODY_PROJECT_ID".into(), c.project_id.clone());
        env
    }

    // ---- containers: create, copy --------------------------------------------------------

    /// Creates a container in `project_id`. Returns at once with status `creating`; the
    /// machine is made (and started, unless `autostart` is false) on a thread of its own.
    pub fn create_container(
        &self,
        project_id: &str,
        req: api::CreateContainer,
    ) -> Result<Container> {
        api::id::check("project", project_id)?;
        self.check_server("server_id", &req.server_id)?;
        for (field, v) in [
            ("kvm", req.kvm),
            ("dev_kvm", req.dev_kvm),
            ("ramdisk", req.ramdisk),
        ] {
            if v == Some(true) {
                return Err(ApiError::validation(
                    field,
                    "not supported by hoody yet; send false or leave it out",
                ));
            }
        }
        if req.prespawn == Some(true) {
            return Err(ApiError::new(
                403,
                "PRESPAWN_FORBIDDEN",
                "prespawn: true is internal to the platform",
            ));
        }
        let name = match req.name.as_deref() {
            None | Some("rand") => {
                let mut b = [0u8; 3];
                api::id::fill_random(&mut b);
                format!("container-{:02x}{:02x}{:02x}", b[0], b[1], b[2])
            }
            Some(n) => n.to_string(),
        };
        check_name("name", &name, 3)?;
        if req
            .comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > 16_000)
        {
            return Err(ApiError::validation(
                "comment",
                "longer than 16,000 characters",
            ));
        }
        let env = req.environment_vars.unwrap_or_default();
        check_env(&env)?;
        let realm_ids = req.realm_ids.unwrap_or_default();
        check_realms(&realm_ids)?;
        let image = image_name(req.container_image.as_deref().unwrap_or(DEFAULT_IMAGE));
        if self.inner.machines.pool().image_path(&image).is_err() {
            return Err(ApiError::new(
                404,
                "IMAGE_NOT_FOUND",
                format!(
                    "image {image:?} is not in this server's pool (build it: `hoody image build {image}`)"
                ),
            ));
        }
        let hoody_kit = req.hoody_kit.unwrap_or(false);
        let t = now();
        let c = Container {
            id: api::id::new_id(),
            project_id: project_id.to_string(),
            project_alias: String::new(),
            server_id: self.inner.server_id.clone(),
            server_name: self.inner.server_name.clone(),
            name,
            color: color(req.color.as_deref())?,
            container_image: image,
            hoody_kit,
            dev_kit: req.dev_kit.unwrap_or(hoody_kit),
            ai: req.ai.unwrap_or(false),
            autostart: req.autostart.unwrap_or(true),
            status: ContainerStatus::Creating,
            environment_vars: env,
            ssh_public_key: req.ssh_public_key,
            comment: req.comment,
            realm_ids,
            source_container_id: None,
            ip: None,
            error: None,
            created_at: t.clone(),
            updated_at: t,
        };
        let busy = self.claim(&c.id)?;
        let (c, op) = self.insert_new(
            c,
            Journal::Create {
                container: String::new(),
            },
        )?;
        let host = self.clone();
        let c2 = c.clone();
        std::thread::Builder::new()
            .name(format!("create-{}", c.id))
            .spawn(move || {
                let _busy = busy;
                host.run_create(&c2, op, None);
            })
            .map_err(|e| ApiError::internal(format!("start a create thread: {e}")))?;
        Ok(c)
    }

    /// Inserts a new container row (checking project, quota and name) with its first status
    /// log and its journal entry, in one transaction.
    fn insert_new(&self, mut c: Container, op: Journal) -> Result<(Container, i64)> {
        let op = match op {
            Journal::Create { .. } => Journal::Create {
                container: c.id.clone(),
            },
            Journal::Copy {
                source, snapshot, ..
            } => Journal::Copy {
                source,
                container: c.id.clone(),
                snapshot,
            },
            other => other,
        };
        let r = self.store().tx(|tx| {
            let p = tx
                .project(&c.project_id)?
                .ok_or_else(|| ApiError::not_found("project", &c.project_id))?;
            if let Some(max) = p.max_containers
                && p.container_count >= max
            {
                return Err(ApiError::new(
                    403,
                    "PROJECT_CONTAINER_LIMIT",
                    format!(
                        "project {} ({}) already holds its maximum of {max} containers",
                        p.id, p.alias
                    ),
                ));
            }
            if tx.container_by_name(&c.project_id, &c.name)?.is_some() {
                return Err(ApiError::conflict(
                    "CONTAINER_NAME_TAKEN",
                    format!(
                        "project {} already has a container named {:?}",
                        p.alias, c.name
                    ),
                ));
            }
            c.project_alias = p.alias;
            tx.put_container(&c)?;
            tx.add_status_log(&api::StatusLog {
                id: api::id::new_id(),
                container_id: c.id.clone(),
                from_status: None,
                to_status: c.status,
                transition_time: c.created_at.clone(),
                duration_ms: None,
                triggered_by: "api".into(),
                metadata: json!({}),
            })?;
            let op = tx.begin_op(&op, &c.created_at)?;
            Ok((c, op))
        })?;
        self.emit("container.created", Some(&r.0), None);
        Ok(r)
    }

    /// Makes (or copies) the machine and starts it; records the outcome and ends the journal
    /// entry. `source`: copy from (machine, snapshot).
    fn run_create(&self, c: &Container, op: i64, source: Option<(&str, Option<&str>)>) {
        let started = Instant::now();
        let kind = if source.is_some() { "copy" } else { "create" };
        self.fault(&format!("{kind}:after-row"));
        let opts = CreateOptions {
            hostname: Some(c.name.clone()),
            env: Self::machine_env(c),
            kit: c.hoody_kit,
            ..Default::default()
        };
        let made = match source {
            None => self.inner.machines.create(&c.id, &c.container_image, &opts),
            Some((m, None)) => self
                .inner
                .machines
                .create_from(&c.id, Source::Machine(m), &opts),
            Some((m, Some(s))) => self.inner.machines.create_from(
                &c.id,
                Source::Snapshot {
                    machine: m,
                    snapshot: s,
                },
                &opts,
            ),
        };
        if let Err(e) = made {
            let _ = self.record_outcome(
                &c.id,
                Err(ApiError::internal(format!("{kind} failed: {e}"))),
                ContainerStatus::Failed,
                "hoodyd",
                json!({"operation": kind}),
                started,
                op,
            );
            return;
        }
        self.fault(&format!("{kind}:after-machine"));
        self.finish_create(c, op, kind, started);
    }

    /// Second half of create/copy (also run by recovery): start when asked, record.
    fn finish_create(&self, c: &Container, op: i64, kind: &str, started: Instant) {
        // A copy always starts (reference §1.6); a create when `autostart`.
        let start = kind == "copy" || c.autostart;
        let outcome = if start && self.inner.machines.is_running(&c.id) {
            // Recovery after a crash between boot and record: it runs; adopt it.
            Ok(Some(
                self.inner.machines.status(&c.id).ok().and_then(|s| s.ip),
            ))
        } else if start {
            self.boot(&c.id).map(Some)
        } else {
            Ok(None)
        };
        self.fault(&format!("{kind}:after-start"));
        let _ = self.record_outcome(
            &c.id,
            outcome,
            ContainerStatus::Stopped,
            "hoodyd",
            json!({"operation": kind}),
            started,
            op,
        );
    }

    /// Records how an operation ended, with its journal entry: `Ok(Some(ip))` running,
    /// `Ok(None)` `otherwise`, `Err` failed (the error kept on the container and in the
    /// status log).
    #[allow(clippy::too_many_arguments)]
    fn record_outcome(
        &self,
        id: &str,
        outcome: Result<Option<Option<String>>>,
        otherwise: ContainerStatus,
        by: &str,
        mut metadata: serde_json::Value,
        started: Instant,
        op: i64,
    ) -> Result<Container> {
        let (to, ip, error) = match outcome {
            Ok(Some(ip)) => (ContainerStatus::Running, ip, None),
            Ok(None) => (otherwise, None, None),
            Err(e) => {
                metadata["error"] = e.message.clone().into();
                (ContainerStatus::Failed, None, Some(e.message))
            }
        };
        self.transition(id, to, by, metadata, Some(started), Some(op), |c| {
            c.ip = ip;
            c.error = error;
        })
    }

    /// Copies a container (its current file system, or one of its snapshots, and all its
    /// snapshots) into a new container of `target_project_id` on this server. Returns at once
    /// with the new container in status `copying`; it starts when the copy is done.
    pub fn copy_container(&self, id: &str, req: api::CopyContainer) -> Result<Container> {
        let src = self.existing(id)?;
        api::id::check("project", &req.target_project_id)?;
        if let Some(s) = &req.target_server_id {
            self.check_server("target_server_id", s)?;
        }
        if let Some(s) = &req.source_snapshot {
            self.inner
                .machines
                .pool()
                .find_snapshot(id, s)
                .map_err(fs_err)?;
        }
        let name = match &req.name {
            Some(n) => {
                check_name("name", n, 3)?;
                n.clone()
            }
            None => {
                let store = self.store();
                let r = store.read();
                let base: String = format!("{}-copy", src.name).chars().take(95).collect();
                let mut n = base.clone();
                let mut i = 2;
                while r.container_by_name(&req.target_project_id, &n)?.is_some() {
                    n = format!("{base}-{i}");
                    i += 1;
                }
                n
            }
        };
        let src_busy = self.claim(id)?;
        let t = now();
        let c = Container {
            id: api::id::new_id(),
            project_id: req.target_project_id.clone(),
            project_alias: String::new(),
            name,
            status: ContainerStatus::Copying,
            ssh_public_key: req.ssh_public_key.clone(),
            source_container_id: Some(src.id.clone()),
            ip: None,
            error: None,
            created_at: t.clone(),
            updated_at: t,
            ..src.clone()
        };
        let busy = self.claim(&c.id)?;
        let (c, op) = self.insert_new(
            c,
            Journal::Copy {
                source: src.id.clone(),
                container: String::new(),
                snapshot: req.source_snapshot.clone(),
            },
        )?;
        let host = self.clone();
        let snapshot = req.source_snapshot;
        let c2 = c.clone();
        std::thread::Builder::new()
            .name(format!("copy-{}", c.id))
            .spawn(move || {
                let (_b1, _b2) = (busy, src_busy);
                host.run_create(&c2, op, Some((&src.id, snapshot.as_deref())));
            })
            .map_err(|e| ApiError::internal(format!("start a copy thread: {e}")))?;
        Ok(c)
    }

    // ---- containers: update, env, delete -------------------------------------------------

    /// Updates a container's settings (omitted fields are kept).
    pub fn update_container(&self, id: &str, req: api::UpdateContainer) -> Result<Container> {
        api::id::check("container", id)?;
        if let Some(n) = &req.name {
            check_name("name", n, 1)?;
        }
        if let Some(e) = &req.environment_vars {
            check_env(e)?;
        }
        if let Some(r) = &req.realm_ids {
            check_realms(r)?;
        }
        if let Some(Some(c)) = &req.comment
            && c.chars().count() > 16_000
        {
            return Err(ApiError::validation(
                "comment",
                "longer than 16,000 characters",
            ));
        }
        let color = req.color.as_deref().map(|c| color(Some(c))).transpose()?;
        let _busy = self.claim(id)?;
        let c = self.store().tx(|tx| {
            let mut c = tx
                .container(id)?
                .ok_or_else(|| ApiError::not_found("container", id))?;
            if c.status == ContainerStatus::Deleting {
                return Err(ApiError::conflict(
                    "CONTAINER_BUSY",
                    format!("container {id} is being deleted"),
                ));
            }
            if let Some(n) = req.name {
                if n != c.name && tx.container_by_name(&c.project_id, &n)?.is_some() {
                    return Err(ApiError::conflict(
                        "CONTAINER_NAME_TAKEN",
                        format!("the project already has a container named {n:?}"),
                    ));
                }
                c.name = n;
            }
            if let Some(v) = color {
                c.color = v;
            }
            if let Some(v) = req.ai {
                c.ai = v;
            }
            if let Some(v) = req.autostart {
                c.autostart = v;
            }
            if let Some(v) = req.environment_vars {
                c.environment_vars = v;
            }
            if let Some(v) = req.ssh_public_key {
                c.ssh_public_key = v;
            }
            if let Some(v) = req.comment {
                c.comment = v;
            }
            if let Some(v) = req.realm_ids {
                c.realm_ids = v;
            }
            c.updated_at = now();
            tx.put_container(&c)?;
            Ok(c)
        })?;
        self.sync_machine_env(&c)?;
        self.emit("container.updated", Some(&c), None);
        Ok(c)
    }

    fn sync_machine_env(&self, c: &Container) -> Result<()> {
        match self.inner.machines.set_env(&c.id, Self::machine_env(c)) {
            // Still being made: the create thread reads the row's environment.
            Ok(()) | Err(MachineError::NotFound(_)) => Ok(()),
            Err(e) => Err(machine_err(e)),
        }
    }

    /// A container's environment variables.
    pub fn get_env(&self, id: &str) -> Result<api::EnvVars> {
        Ok(api::EnvVars {
            environment_vars: self.get_container(id)?.environment_vars,
        })
    }

    fn edit_env(
        &self,
        id: &str,
        f: impl FnOnce(&mut BTreeMap<String, String>) -> Result<()>,
    ) -> Result<api::EnvVars> {
        api::id::check("container", id)?;
        let _busy = self.claim(id)?;
        let c = self.store().tx(|tx| {
            let mut c = tx
                .container(id)?
                .ok_or_else(|| ApiError::not_found("container", id))?;
            f(&mut c.environment_vars)?;
            check_env(&c.environment_vars)?;
            c.updated_at = now();
            tx.put_container(&c)?;
            Ok(c)
        })?;
        self.sync_machine_env(&c)?;
        self.emit("container.updated", Some(&c), None);
        Ok(api::EnvVars {
            environment_vars: c.environment_vars,
        })
    }

    /// Merges `vars` into a container's environment (applied at its next start).
    pub fn set_env(&self, id: &str, vars: BTreeMap<String, String>) -> Result<api::EnvVars> {
        if vars.is_empty() {
            return Err(ApiError::validation(
                "environment_vars",
                "give 1 to 200 variables",
            ));
        }
        check_env(&vars)?;
        self.edit_env(id, |env| {
            env.extend(vars);
            Ok(())
        })
    }

    /// Sets one environment variable.
    pub fn set_env_var(&self, id: &str, key: &str, value: String) -> Result<api::EnvVars> {
        check_env_var(key, &value)?;
        self.edit_env(id, |env| {
            env.insert(key.to_string(), value);
            Ok(())
        })
    }

    /// Removes one environment variable.
    pub fn delete_env_var(&self, id: &str, key: &str) -> Result<api::EnvVars> {
        self.edit_env(id, |env| {
            env.remove(key).map(drop).ok_or_else(|| {
                ApiError::new(
                    404,
                    "ENV_VAR_NOT_FOUND",
                    format!("container {id} has no environment variable {key:?}"),
                )
            })
        })
    }

    /// Deletes a container, in any state but mid-operation: its machine is killed if it
    /// runs, its file system, snapshots, network and row are removed.
    pub fn delete_container(&self, id: &str) -> Result<()> {
        api::id::check("container", id)?;
        let _busy = self.claim(id)?;
        let c = self.existing(id)?;
        let op = self.store().tx(|tx| {
            let mut c2 = c.clone();
            c2.status = ContainerStatus::Deleting;
            c2.updated_at = now();
            tx.put_container(&c2)?;
            tx.begin_op(
                &Journal::Delete {
                    container: id.to_string(),
                },
                &c2.updated_at,
            )
        })?;
        self.run_delete(&c, op)
    }

    fn run_delete(&self, c: &Container, op: i64) -> Result<()> {
        self.fault("delete:after-mark");
        self.inner.machines.purge(&c.id).map_err(machine_err)?;
        self.fault("delete:after-purge");
        self.store().tx(|tx| {
            tx.delete_container(&c.id)?;
            tx.end_op(op)
        })?;
        let mut gone = c.clone();
        gone.status = ContainerStatus::Deleting;
        gone.ip = None;
        self.emit("container.deleted", Some(&gone), None);
        Ok(())
    }

    // ---- lifecycle ---------------------------------------------------------------------

    /// Brings the record in line with the machine (it may have powered off by itself).
    fn refresh(&self, c: Container) -> Result<Container> {
        let runs = self.inner.machines.is_running(&c.id);
        match c.status {
            ContainerStatus::Running | ContainerStatus::Paused if !runs => self.transition(
                &c.id,
                ContainerStatus::Stopped,
                "machine",
                json!({"reason": "the machine is no longer running"}),
                None,
                None,
                |c| c.ip = None,
            ),
            ContainerStatus::Stopped | ContainerStatus::Failed if runs => {
                let ip = self.inner.machines.status(&c.id).ok().and_then(|s| s.ip);
                self.transition(
                    &c.id,
                    ContainerStatus::Running,
                    "machine",
                    json!({"reason": "the machine was started outside hoodyd"}),
                    None,
                    None,
                    |c| c.ip = ip,
                )
            }
            _ => Ok(c),
        }
    }

    /// Runs a lifecycle operation and waits for it: 409 `INVALID_STATE_TRANSITION` when the
    /// container's state does not allow it (reference §1.4).
    pub fn operate(&self, id: &str, op: Operation) -> Result<api::OperationResult> {
        api::id::check("container", id)?;
        let _busy = self.claim(id)?;
        let c = self.existing(id)?;
        let c = self.refresh(c)?;
        use ContainerStatus as S;
        let allowed = match op {
            Operation::Start => matches!(c.status, S::Stopped | S::Failed),
            Operation::Stop | Operation::ForceStop => matches!(c.status, S::Running | S::Paused),
            Operation::Restart => {
                matches!(c.status, S::Running | S::Paused | S::Stopped | S::Failed)
            }
            Operation::Pause => c.status == S::Running,
            Operation::Resume => c.status == S::Paused,
        };
        if !allowed {
            return Err(ApiError::conflict(
                "INVALID_STATE_TRANSITION",
                format!("cannot {} container {id}: it is {}", op.as_str(), c.status),
            ));
        }
        let started = Instant::now();
        let m = &self.inner.machines;
        let meta = json!({"operation": op.as_str()});
        let stop_timeout = self.inner.cfg.stop_timeout;
        let (to, ip, message) = match op {
            Operation::Start | Operation::Restart => {
                if m.is_running(id) {
                    if c.status == S::Paused {
                        m.resume(id).map_err(machine_err)?;
                    }
                    m.stop(id, stop_timeout).map_err(machine_err)?;
                }
                match self.boot(id) {
                    Ok(ip) => (
                        S::Running,
                        ip,
                        format!("Container {}ed successfully", op_verb(op)),
                    ),
                    Err(e) => {
                        self.transition(
                            id,
                            S::Failed,
                            "api",
                            json!({"operation": op.as_str(), "error": e.message}),
                            Some(started),
                            None,
                            |c| {
                                c.ip = None;
                                c.error = Some(e.message.clone());
                            },
                        )?;
                        return Err(ApiError::new(
                            500,
                            "START_FAILED",
                            format!("container {id} failed to boot: {}", e.message),
                        ));
                    }
                }
            }
            Operation::Stop => {
                if c.status == S::Paused {
                    m.resume(id).map_err(machine_err)?;
                }
                m.stop(id, stop_timeout).map_err(machine_err)?;
                (S::Stopped, None, "Container stopped successfully".into())
            }
            Operation::ForceStop => {
                m.force_stop(id).map_err(machine_err)?;
                (
                    S::Stopped,
                    None,
                    "Container force-stopped successfully".into(),
                )
            }
            Operation::Pause => {
                m.pause(id).map_err(machine_err)?;
                (
                    S::Paused,
                    c.ip.clone(),
                    "Container paused successfully".into(),
                )
            }
            Operation::Resume => {
                m.resume(id).map_err(machine_err)?;
                (
                    S::Running,
                    c.ip.clone(),
                    "Container resumed successfully".into(),
                )
            }
        };
        let c = self.transition(id, to, "api", meta, Some(started), None, |c| {
            c.ip = ip;
            c.error = None;
        })?;
        Ok(api::OperationResult {
            operation: op,
            container_id: c.id,
            project_id: c.project_id,
            message,
            status: c.status,
        })
    }

    // ---- snapshots ---------------------------------------------------------------------

    fn snapshot_of(s: hoody_fs::SnapshotInfo) -> api::Snapshot {
        api::Snapshot {
            name: s.name,
            alias: s.alias,
            created_at: s.created_at,
            expires_at: s.expires_at,
            stateful: false,
            size: s.size_bytes,
        }
    }

    /// A container that no operation is making, copying or deleting (else 409
    /// `CONTAINER_BUSY`).
    fn existing(&self, id: &str) -> Result<Container> {
        let c = self.get_container(id)?;
        if c.status.is_busy() {
            return Err(ApiError::conflict(
                "CONTAINER_BUSY",
                format!("container {id} is {}", c.status),
            ));
        }
        Ok(c)
    }

    /// A container's snapshots, newest first.
    pub fn list_snapshots(&self, id: &str) -> Result<api::SnapshotList> {
        let c = self.existing(id)?;
        let pool = self.inner.machines.pool();
        let _ = pool.prune_expired(id);
        let mut snapshots: Vec<api::Snapshot> = pool
            .snapshots(id)
            .map_err(fs_err)?
            .into_iter()
            .map(Self::snapshot_of)
            .collect();
        snapshots.reverse();
        Ok(api::SnapshotList {
            container_id: c.id,
            project_id: c.project_id,
            snapshot_count: snapshots.len() as u64,
            snapshots,
            max_snapshots: None,
        })
    }

    /// Snapshots a container's file system (running or not: crash-consistent).
    pub fn create_snapshot(&self, id: &str, req: api::CreateSnapshot) -> Result<api::Snapshot> {
        if let Some(a) = &req.alias
            && (a.is_empty() || a.chars().count() > 100)
        {
            return Err(ApiError::validation("alias", "must be 1 to 100 characters"));
        }
        let expiry = match req.expiry {
            None => None,
            Some(d @ 1..=3650) => Some(d as u32),
            Some(_) => return Err(ApiError::validation("expiry", "must be 1 to 3650 days")),
        };
        let _busy = self.claim(id)?;
        self.existing(id)?;
        let s = self
            .inner
            .machines
            .pool()
            .create_snapshot(
                id,
                &hoody_fs::SnapshotOptions {
                    name: None,
                    alias: req.alias,
                    expires_in_days: expiry,
                },
            )
            .map_err(alias_err)?;
        Ok(Self::snapshot_of(s))
    }

    /// Sets or removes a snapshot's alias.
    pub fn set_snapshot_alias(
        &self,
        id: &str,
        name: &str,
        req: api::SnapshotAlias,
    ) -> Result<api::Snapshot> {
        let _busy = self.claim(id)?;
        self.existing(id)?;
        let s = self
            .inner
            .machines
            .pool()
            .set_snapshot_alias(id, name, req.alias.as_deref())
            .map_err(alias_err)?;
        Ok(Self::snapshot_of(s))
    }

    /// Deletes a snapshot.
    pub fn delete_snapshot(&self, id: &str, name: &str) -> Result<()> {
        let _busy = self.claim(id)?;
        self.existing(id)?;
        let pool = self.inner.machines.pool();
        let (s, _) = pool.find_snapshot(id, name).map_err(fs_err)?;
        pool.delete_snapshot(id, &s.name).map_err(fs_err)
    }

    /// Rolls a container's file system back to a snapshot (name or alias). A running
    /// container is killed first and booted again from the restored file system.
    pub fn restore_snapshot(&self, id: &str, name: &str) -> Result<Container> {
        let _busy = self.claim(id)?;
        let c = self.existing(id)?;
        let (snap, _) = self
            .inner
            .machines
            .pool()
            .find_snapshot(id, name)
            .map_err(fs_err)?;
        let c = self.refresh(c)?;
        let op = Journal::Restore {
            container: id.to_string(),
            snapshot: snap.name,
            was_running: matches!(c.status, ContainerStatus::Running | ContainerStatus::Paused),
            previous: c.status,
        };
        let op_id = self.store().tx(|tx| tx.begin_op(&op, &now()))?;
        self.run_restore(&op, op_id, "api")
    }

    fn run_restore(&self, op: &Journal, op_id: i64, by: &str) -> Result<Container> {
        let Journal::Restore {
            container: id,
            snapshot,
            was_running,
            previous,
        } = op
        else {
            return Err(ApiError::internal("run_restore on another operation"));
        };
        let started = Instant::now();
        let m = &self.inner.machines;
        self.fault("restore:after-journal");
        if m.is_running(id) {
            if *previous == ContainerStatus::Paused {
                let _ = m.resume(id);
            }
            m.force_stop(id).map_err(machine_err)?;
        }
        self.fault("restore:after-stop");
        if self
            .inner
            .cfg
            .crash_points
            .iter()
            .any(|p| p == "restore:in-fs")
        {
            let _ = m.pool().restore_interrupted_after(
                id,
                snapshot,
                hoody_fs::snapshot::RestoreStep::OldMovedAside,
            );
            self.fault("restore:in-fs");
        }
        m.pool().restore(id, snapshot).map_err(fs_err)?;
        self.fault("restore:after-fs");
        let outcome = if *was_running {
            self.boot(id).map(Some)
        } else {
            Ok(None)
        };
        let otherwise = if *previous == ContainerStatus::Failed {
            ContainerStatus::Stopped
        } else {
            *previous
        };
        self.record_outcome(
            id,
            outcome,
            otherwise,
            by,
            json!({"operation": "restore", "snapshot": snapshot}),
            started,
            op_id,
        )
    }

    // ---- tokens ------------------------------------------------------------------------

    /// Creates an API token; its secret is in the result and nowhere else (only its SHA-256
    /// is stored).
    pub fn create_token(&self, req: api::CreateToken) -> Result<api::CreatedToken> {
        if req.alias.is_empty()
            || req.alias.len() > 254
            || !req
                .alias
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b' ' | b'_' | b'-'))
        {
            return Err(ApiError::validation(
                "alias",
                "must be 1 to 254 of letters, digits, ' ', '_' and '-'",
            ));
        }
        let mut raw = [0u8; 24];
        api::id::fill_random(&mut raw);
        let secret: String = std::iter::once("hdy_".to_string())
            .chain(raw.iter().map(|b| format!("{b:02x}")))
            .collect();
        let created = hoody_fs::time::now_secs();
        let info = api::Token {
            id: api::id::new_id(),
            alias: req.alias,
            prefix: secret[..12].to_string(),
            created_at: now(),
            expires_at: req
                .expires_in_days
                .map(|d| hoody_fs::time::rfc3339(created + d as i64 * 86_400)),
            last_used_at: None,
        };
        self.store()
            .tx(|tx| tx.put_token(&info, &hash_token(&secret)))?;
        Ok(api::CreatedToken {
            token: secret,
            info,
        })
    }

    /// Every token (without secrets).
    pub fn list_tokens(&self) -> Result<api::TokenList> {
        Ok(api::TokenList {
            tokens: self.store().read().tokens()?,
        })
    }

    /// Revokes a token.
    pub fn delete_token(&self, id: &str) -> Result<()> {
        api::id::check("token", id)?;
        if self.store().tx(|tx| tx.delete_token(id))? {
            Ok(())
        } else {
            Err(ApiError::not_found("token", id))
        }
    }

    /// Checks a bearer secret: the token, or 401 `INVALID_TOKEN` / `TOKEN_EXPIRED`.
    pub fn verify_token(&self, secret: &str) -> Result<api::Token> {
        let hash = hash_token(secret);
        let mut store = self.store();
        let Some(mut t) = store.read().token_by_hash(&hash)? else {
            return Err(ApiError::new(
                401,
                "INVALID_TOKEN",
                "the token is not valid",
            ));
        };
        if let Some(exp) = &t.expires_at
            && exp.as_str() <= now().as_str()
        {
            return Err(ApiError::new(401, "TOKEN_EXPIRED", "the token has expired"));
        }
        // Recorded at most once a minute: not a write per request.
        let stamp = now();
        if t.last_used_at
            .as_ref()
            .is_none_or(|l| l[..16] != stamp[..16])
        {
            t.last_used_at = Some(stamp);
            store.tx(|tx| tx.put_token(&t, &hash))?;
        }
        Ok(t)
    }

    // ---- recovery and reconciliation -----------------------------------------------------

    /// Finishes every journalled operation (see the module docs).
    fn recover(&self) -> Result<()> {
        let ops = self.store().read().pending_ops()?;
        for (op_id, op) in ops {
            eprintln!("hoodyd: recovering interrupted operation {op:?}");
            match &op {
                Journal::Create { container } | Journal::Copy { container, .. } => {
                    let kind = if matches!(op, Journal::Create { .. }) {
                        "create"
                    } else {
                        "copy"
                    };
                    let row = self.store().read().container(container)?;
                    let complete = self
                        .inner
                        .machines
                        .configs()
                        .map_err(machine_err)?
                        .iter()
                        .any(|m| &m.name == container);
                    match row {
                        Some(c) if complete => {
                            self.finish_create(&c, op_id, kind, Instant::now());
                        }
                        _ => {
                            self.inner.machines.purge(container).map_err(machine_err)?;
                            self.store().tx(|tx| {
                                tx.delete_container(container)?;
                                tx.end_op(op_id)
                            })?;
                            eprintln!("hoodyd: rolled back the {kind} of {container}");
                        }
                    }
                }
                Journal::Restore { container, .. } => {
                    if self.store().read().container(container)?.is_none() {
                        self.store().tx(|tx| tx.end_op(op_id))?;
                        continue;
                    }
                    let _busy = self.claim(container)?;
                    if let Err(e) = self.run_restore(&op, op_id, "hoodyd") {
                        eprintln!("hoodyd: finishing the restore of {container}: {e}");
                        self.transition(
                            container,
                            ContainerStatus::Failed,
                            "hoodyd",
                            json!({"operation": "restore", "error": e.message}),
                            None,
                            Some(op_id),
                            |c| c.error = Some(e.message.clone()),
                        )?;
                    }
                }
                Journal::Delete { container } => {
                    let c = self.store().read().container(container)?;
                    match c {
                        Some(c) => self.run_delete(&c, op_id)?,
                        None => {
                            self.inner.machines.purge(container).map_err(machine_err)?;
                            self.store().tx(|tx| tx.end_op(op_id))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Aligns every container's recorded state with its machine.
    fn reconcile(&self) -> Result<()> {
        let all = self.store().read().all_containers()?;
        for c in all {
            if c.status.is_busy() {
                continue;
            }
            self.refresh(c)?;
        }
        Ok(())
    }

    /// Starts `autostart` containers that are not running, one after the other, on a thread.
    fn autostart(&self) {
        let host = self.clone();
        let _ = std::thread::Builder::new()
            .name("autostart".into())
            .spawn(move || {
                let Ok(all) = host.store().read().all_containers() else {
                    return;
                };
                for c in all {
                    if c.autostart
                        && c.status == ContainerStatus::Stopped
                        && let Err(e) = host.operate(&c.id, Operation::Start)
                    {
                        eprintln!("hoodyd: autostart of {}: {e}", c.id);
                    }
                }
            });
    }

    /// Every `watch_interval`, notices containers whose machine stopped by itself.
    fn spawn_watcher(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = self.inner.cfg.watch_interval;
        let _ = std::thread::Builder::new()
            .name("watcher".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(inner) = weak.upgrade() else { return };
                    let host = Host { inner };
                    let Ok(all) = host.store().read().all_containers() else {
                        continue;
                    };
                    for c in all {
                        if !matches!(c.status, ContainerStatus::Running | ContainerStatus::Paused) {
                            continue;
                        }
                        // Skip containers mid-operation: the operation records the outcome.
                        let Ok(_busy) = host.claim_as(&c.id, true) else {
                            continue;
                        };
                        if let Ok(fresh) = host.get_container(&c.id) {
                            let _ = host.refresh(fresh);
                        }
                    }
                }
            });
    }
}

fn op_verb(op: Operation) -> &'static str {
    match op {
        Operation::Restart => "restart",
        _ => "start",
    }
}

fn check_alias(alias: &str) -> Result<()> {
    if alias.trim().is_empty() || alias.chars().count() > 100 {
        return Err(ApiError::validation("alias", "must be 1 to 100 characters"));
    }
    Ok(())
}

/// Takes `<db>.lock` exclusively, or fails naming the process that has it: two Hosts writing
/// one pool would each journal, recover and reconcile behind the other's back.
fn take_writer_lock(db: &std::path::Path) -> Result<std::fs::File> {
    use std::io::{Read, Seek, Write};
    use std::os::fd::AsRawFd;
    let path = db.with_extension("lock");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| {
            ApiError::internal(format!("create state directory {}: {e}", dir.display()))
        })?;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| ApiError::internal(format!("open {}: {e}", path.display())))?;
    // SAFETY: flock on a descriptor we own; released when the file is closed.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut holder = String::new();
        let _ = f.read_to_string(&mut holder);
        return Err(ApiError::conflict(
            "STATE_IN_USE",
            format!(
                "{} is in use by another hoodyd (pid {}); stop it first",
                db.display(),
                holder.trim()
            ),
        ));
    }
    let _ = f.set_len(0);
    let _ = f.rewind();
    let _ = write!(f, "{}", std::process::id());
    Ok(f)
}

/// Size of the file system holding `path`, bytes.
fn nix_statvfs_bytes(path: &std::path::Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return 0;
    };
    // SAFETY: all-zero is a valid statvfs; statvfs writes into it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a NUL-terminated path, st a valid out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return 0;
    }
    st.f_blocks * st.f_frsize
}
