//! # hoody-machine
//!
//! Machines: containers that are computers. A Debian 13 image snapshotted into a root file
//! system, booted with systemd as PID 1 in an unprivileged user namespace (its own 65,536-id
//! range, the rootfs given through an idmapped mount), following systemd's container
//! interface, and kept by a per-machine monitor process that outlives whoever started it.
//!
//! * [`Machines`]: the manager: create, start, stop, kill, pause/resume, status, exec,
//!   console, delete. It holds no process state of its own: everything about a running
//!   machine is asked from its monitor over `<run>/<name>/monitor.sock`, so any new manager
//!   process "re-adopts" every running machine just by listing them.
//! * [`monitor`]: the monitor (the `hoody-monitor` program).
//! * [`config`]: the persisted configuration and the boot spec.
//!
//! Privileged machines (no user namespace, root inside is root outside) exist behind
//! [`CreateOptions::privileged`] for images that cannot run unprivileged; they are not
//! isolated from the host's root and should be used only for trusted images.

pub mod config;
pub mod devices;
pub mod egress;
pub mod monitor;

use std::io::{BufRead, BufReader, Read, Write};

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use hoody_core::{CgroupConfig, ExecSpec, Process};
use hoody_fs::Pool;
use serde::{Deserialize, Serialize};

pub use config::{MachineConfig, MachinePaths};

/// What can go wrong with a machine, naming it.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// No machine of that name.
    #[error("machine {0:?} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("machine {0:?} already exists")]
    Exists(String),
    /// The machine is running and the operation needs it stopped.
    #[error("machine {0:?} is running")]
    Running(String),
    /// The machine is stopped and the operation needs it running.
    #[error("machine {0:?} is not running")]
    NotRunning(String),
    /// Its monitor failed to start it.
    #[error("starting machine {name:?}: {message}")]
    Start {
        /// The machine.
        name: String,
        /// What the monitor reported.
        message: String,
    },
    /// Boot did not report READY=1 in time.
    #[error(
        "machine {name:?} did not finish booting within {timeout:?} (see `hoody machine console {name}`)"
    )]
    BootTimeout {
        /// The machine.
        name: String,
        /// How long we waited.
        timeout: Duration,
    },
    /// Talking to a machine's monitor failed.
    #[error("machine {name:?}: monitor {socket}: {message}")]
    Monitor {
        /// The machine.
        name: String,
        /// Its control socket.
        socket: PathBuf,
        /// What failed.
        message: String,
    },
    /// Storage.
    #[error(transparent)]
    Fs(#[from] hoody_fs::FsError),
    /// Isolation.
    #[error(transparent)]
    Core(#[from] hoody_core::Error),
    /// An invalid spec.
    #[error(transparent)]
    Spec(#[from] hoody_core::spec::SpecError),
    /// The kernel refused random bytes (for a machine's ids).
    #[error("reading random bytes from the kernel")]
    Random(#[source] std::io::Error),
    /// A state file.
    #[error("{action} {path}: {message}")]
    State {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

type Result<T, E = MachineError> = std::result::Result<T, E>;

/// Options for [`Machines::create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// CPU limit in CPUs.
    pub cpus: Option<f64>,
    /// Process limit.
    pub pids: Option<u64>,
    /// No user namespace: root inside is root on the host. For trusted images only.
    pub privileged: bool,
    /// Let the kernel merge the machine's identical pages with other machines' (KSM; the
    /// host must run KSM: `/sys/kernel/mm/ksm/run` = 1).
    pub ksm: bool,
    /// No network: only a loopback interface (by default a machine gets its own routed
    /// network from hoody-net).
    pub no_network: bool,
    /// Hostname (default: the machine's name).
    pub hostname: Option<String>,
    /// Environment variables for every service inside (see [`MachineConfig::env`]).
    pub env: std::collections::BTreeMap<String, String>,
    /// Run hoody's Kit inside (see [`MachineConfig::kit`]).
    pub kit: bool,
    /// Its ramdisk directory (see [`MachineConfig::ramdisk`]).
    pub ramdisk: Option<PathBuf>,
    /// The shared ramdisk directory (see [`MachineConfig::ramdisk_project`]).
    pub ramdisk_project: Option<PathBuf>,
    /// Its firewall (see [`MachineConfig::firewall`]).
    pub firewall: Option<String>,
    /// `/dev/kvm` passed through (see [`MachineConfig::kvm`]).
    pub kvm: bool,
    /// Its egress network (see [`MachineConfig::egress`]).
    pub egress: Option<hoody_net::egress::EgressConfig>,
}

/// Where a new machine's root file system comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A writable snapshot of an image.
    Image(&'a str),
    /// A copy of another machine's current file system, and of all its snapshots.
    Machine(&'a str),
    /// A copy of one snapshot of another machine, and of all its snapshots.
    Snapshot {
        /// The machine.
        machine: &'a str,
        /// Its snapshot (name or alias).
        snapshot: &'a str,
    },
}

/// A machine's state as seen by its manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MachineState {
    /// No monitor: powered off.
    Stopped,
    /// PID 1 runs; boot has not reported READY=1 yet.
    Starting,
    /// Booted.
    Running,
    /// Shutting down.
    Stopping,
}

/// Status of a machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MachineStatus {
    /// Its configuration.
    pub config: MachineConfig,
    /// Its state.
    pub state: MachineState,
    /// PID 1's pid on the host, when running.
    pub pid: Option<i32>,
    /// The monitor's pid, when running.
    pub monitor_pid: Option<i32>,
    /// The last exit status, when stopped.
    pub last_exit: Option<serde_json::Value>,
    /// Its address, when running with a network.
    pub ip: Option<String>,
}

/// The machine manager over one pool.
///
/// Over a read-only pool handle ([`hoody_fs::Pool::open_read_only`]) it lists and inspects
/// (list, status, stats, console, exec); everything that changes a machine (create, start,
/// stop, pause, delete, ...) needs a writable handle and otherwise fails with
/// [`hoody_fs::FsError::ReadOnly`]. So while hoodyd serves a pool, direct verbs see its
/// machines but only hoodyd changes them.
#[derive(Debug, Clone)]
pub struct Machines {
    pool: Pool,
    run_root: PathBuf,
    monitor_exe: PathBuf,
    kit_exe: PathBuf,
    monitor_env: Vec<(String, String)>,
}

/// Default root of the machines' runtime directories.
pub const DEFAULT_RUN_DIR: &str = "/run/hoody/machines";

fn random_hex(bytes: usize) -> Result<String> {
    hoody_sys::random::hex(bytes).map_err(MachineError::Random)
}

fn now_rfc3339() -> String {
    hoody_sys::time::rfc3339(hoody_sys::time::now_secs())
}

impl Machines {
    /// A manager over `pool`, with runtime state under `run_root` and the monitor program at
    /// `monitor_exe`.
    /// The Kit's binary defaults to `hoody-kit` beside the monitor.
    pub fn new(pool: Pool, run_root: impl Into<PathBuf>, monitor_exe: impl Into<PathBuf>) -> Self {
        let monitor_exe: PathBuf = monitor_exe.into();
        let kit_exe = monitor_exe.with_file_name("hoody-kit");
        Machines {
            pool,
            run_root: run_root.into(),
            monitor_exe,
            kit_exe,
            monitor_env: Vec::new(),
        }
    }

    /// Monitors started from here get these environment variables on top of this process's:
    /// the machines' network settings (`HOODY_NET_NAME`, `HOODY_NET_POOL`,
    /// `HOODY_NET_STATE`, see [`monitor`]) without changing this process's environment.
    pub fn with_monitor_env(mut self, env: impl IntoIterator<Item = (String, String)>) -> Self {
        self.monitor_env.extend(env);
        self
    }

    /// Machines that run the Kit get this `hoody-kit` binary.
    pub fn with_kit_exe(mut self, exe: impl Into<PathBuf>) -> Self {
        self.kit_exe = exe.into();
        self
    }

    /// The `hoody-kit` binary machines with the Kit get.
    pub fn kit_exe(&self) -> &Path {
        &self.kit_exe
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// A machine's paths.
    pub fn paths(&self, name: &str) -> MachinePaths {
        MachinePaths {
            state: self.pool.root().join("machines").join(name),
            run: self.run_root.join(name),
        }
    }

    fn load(&self, name: &str) -> Result<MachineConfig> {
        hoody_fs::name::validate("machine", name).map_err(MachineError::Fs)?;
        let p = self.paths(name).config();
        let data = std::fs::read(&p).map_err(|_| MachineError::NotFound(name.to_string()))?;
        serde_json::from_slice(&data).map_err(|e| MachineError::State {
            action: "parse",
            path: p,
            message: e.to_string(),
        })
    }

    /// Every machine's configuration, sorted by name.
    pub fn configs(&self) -> Result<Vec<MachineConfig>> {
        let dir = self.pool.root().join("machines");
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Ok(c) = self.load(&name) {
                    out.push(c);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Creates a machine: its root file system (a writable snapshot of `image`), its id range,
    /// a stable machine-id and hostname. Nothing is half-made on error.
    pub fn create(&self, name: &str, image: &str, opts: &CreateOptions) -> Result<MachineConfig> {
        self.create_from(name, Source::Image(image), opts)
    }

    /// Creates a machine from any [`Source`]. A copy gets its own machine-id, hostname, id
    /// range and (when started) network; its files need no re-owning, since ids on disk are
    /// never shifted (each machine sees them through an idmapped mount into its own range).
    /// Nothing is half-made on error.
    pub fn create_from(
        &self,
        name: &str,
        source: Source<'_>,
        opts: &CreateOptions,
    ) -> Result<MachineConfig> {
        self.pool.check_writable()?;
        hoody_fs::name::validate("machine", name)?;
        let paths = self.paths(name);
        if paths.state.exists() {
            return Err(MachineError::Exists(name.to_string()));
        }
        let image = match source {
            Source::Image(image) => {
                self.pool.image_path(image)?;
                image.to_string()
            }
            Source::Machine(m) | Source::Snapshot { machine: m, .. } => self.load(m)?.image,
        };
        if let Some(c) = opts.cpus {
            hoody_core::CpuQuota::from_cpus(c)?;
        }
        let machines = self.pool.root().join("machines");
        std::fs::create_dir_all(&machines).map_err(|e| state_err("create", &machines, e))?;
        // Serialize range allocation across processes.
        let lock_path = machines.join(".lock");
        let _lock =
            hoody_sys::lock::FileLock::acquire(&lock_path, hoody_sys::lock::Mode::Exclusive)
                .map_err(|e| state_err("lock", &lock_path, e))?;
        if paths.state.exists() {
            return Err(MachineError::Exists(name.to_string()));
        }
        let id_range_start = if opts.privileged {
            None
        } else {
            let used: Vec<u32> = self
                .configs()?
                .iter()
                .filter_map(|c| c.id_range_start)
                .collect();
            let mut start = config::ID_RANGE_BASE;
            while used.contains(&start) {
                start += config::ID_RANGE_SIZE;
            }
            Some(start)
        };
        let cfg = MachineConfig {
            name: name.to_string(),
            id: random_hex(12)?,
            machine_id: random_hex(16)?,
            image,
            id_range_start,
            memory: opts.memory,
            cpus: opts.cpus,
            pids: opts.pids,
            ksm: opts.ksm,
            network: !opts.no_network,
            created_at: now_rfc3339(),
            hostname: opts.hostname.clone(),
            env: opts.env.clone(),
            kit: opts.kit,
            ramdisk: opts.ramdisk.clone(),
            ramdisk_project: opts.ramdisk_project.clone(),
            firewall: opts.firewall.clone(),
            kvm: opts.kvm,
            egress: opts.egress.clone(),
        };
        let made = (|| -> Result<()> {
            match source {
                Source::Image(image) => {
                    self.pool.create_container(name, image)?;
                }
                Source::Machine(m) => {
                    self.pool.copy_container(m, name)?;
                }
                Source::Snapshot { machine, snapshot } => {
                    self.pool.branch(machine, snapshot, name)?;
                }
            }
            if let Source::Machine(m) | Source::Snapshot { machine: m, .. } = source {
                self.pool.copy_snapshots(m, name)?;
            }
            // No re-owning: root file systems hold unshifted ids on disk and every machine
            // sees them through an idmapped mount into its own range.
            let root = self.pool.container_path(name)?;
            let hostname = opts.hostname.as_deref().unwrap_or(name);
            for (file, content) in [
                ("etc/machine-id", format!("{}\n", cfg.machine_id)),
                ("etc/hostname", format!("{hostname}\n")),
            ] {
                let p = root.join(file);
                std::fs::write(&p, content).map_err(|e| state_err("write", &p, e))?;
            }
            std::fs::create_dir_all(&paths.state)
                .map_err(|e| state_err("create", &paths.state, e))?;
            self.save(&cfg)
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&paths.state);
            if self.pool.container_path(name).is_ok() {
                let _ = self.pool.remove_container(name);
            }
            return Err(e);
        }
        Ok(cfg)
    }

    fn save(&self, cfg: &MachineConfig) -> Result<()> {
        let p = self.paths(&cfg.name).config();
        let data = serde_json::to_vec_pretty(cfg)
            .map_err(|e| state_err("serialize", &p, std::io::Error::other(e)))?;
        // Written whole then renamed: a reader never sees half a config.
        let tmp = p.with_extension("json.tmp");
        std::fs::write(&tmp, data).map_err(|e| state_err("write", &tmp, e))?;
        std::fs::rename(&tmp, &p).map_err(|e| state_err("rename", &p, e))
    }

    /// Replaces a machine's environment variables (applied at its next boot).
    pub fn set_env(
        &self,
        name: &str,
        env: std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        self.pool.check_writable()?;
        let mut cfg = self.load(name)?;
        cfg.env = env;
        self.save(&cfg)
    }

    /// Sets machine `name`'s ramdisk directories (see [`MachineConfig::ramdisk`]); applied at
    /// its next start.
    pub fn set_ramdisk(
        &self,
        name: &str,
        ramdisk: Option<PathBuf>,
        project: Option<PathBuf>,
    ) -> Result<()> {
        self.pool.check_writable()?;
        let mut cfg = self.load(name)?;
        cfg.ramdisk = ramdisk;
        cfg.ramdisk_project = project;
        self.save(&cfg)
    }

    /// Turns `/dev/kvm` passthrough of machine `name` on or off; applied at its next start.
    pub fn set_kvm(&self, name: &str, on: bool) -> Result<()> {
        self.pool.check_writable()?;
        let mut cfg = self.load(name)?;
        cfg.kvm = on;
        self.save(&cfg)
    }

    /// Sets machine `name`'s firewall script (see [`MachineConfig::firewall`]), kept for its
    /// next boots and run at once in its network namespace when it runs.
    pub fn set_firewall(&self, name: &str, script: Option<String>) -> Result<()> {
        self.pool.check_writable()?;
        let mut cfg = self.load(name)?;
        cfg.firewall = script.clone();
        self.save(&cfg)?;
        let Some(script) = script else {
            return Ok(());
        };
        let Ok(st) = self.status(name) else {
            return Ok(());
        };
        let (Some(pid), true) = (st.pid, cfg.network) else {
            return Ok(());
        };
        hoody_net::nft::apply_in(
            Path::new(&format!("/proc/{pid}/ns/net")),
            &script,
            &format!("the firewall of {name}"),
        )
        .map_err(|e| MachineError::Start {
            name: name.to_string(),
            message: format!("apply its firewall: {e}"),
        })
    }

    /// Sets machine `name`'s egress network (see [`MachineConfig::egress`]; `None`: direct),
    /// kept for its next boots and applied at once by its monitor when it runs. A running
    /// machine whose egress network cannot start is left with no egress at all (fail
    /// closed) and this returns why.
    pub fn set_egress(
        &self,
        name: &str,
        egress: Option<hoody_net::egress::EgressConfig>,
    ) -> Result<()> {
        self.pool.check_writable()?;
        let mut cfg = self.load(name)?;
        cfg.egress = egress;
        self.save(&cfg)?;
        if !cfg.network || !self.running(name) {
            return Ok(());
        }
        match self.request(name, "EGRESS", Duration::from_secs(30)) {
            Ok(_) | Err(MachineError::NotRunning(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// What machine `name`'s monitor says of its egress network: `None` when it is not
    /// running or has none; else its type, `running`, `relayed`, `failed`, `last_error` or
    /// `error` (see [`crate::egress::EgressSlot::status`]).
    pub fn egress_status(&self, name: &str) -> Option<serde_json::Value> {
        let v = self.request(name, "STATUS", Duration::from_secs(5)).ok()?;
        v.get("egress").filter(|e| !e.is_null()).cloned()
    }

    /// The Kit's ports (every service's), which a machine with the Kit guards.
    pub fn kit_ports() -> Vec<u16> {
        monitor::kit_ports()
    }

    /// Sets machine `name`'s limits (memory bytes, CPUs, processes; `None`: none), kept for
    /// its next boots and applied at once to its cgroup when it runs. A limit lifted on a
    /// running machine is written as the largest value the kernel takes.
    pub fn set_limits(
        &self,
        name: &str,
        memory: Option<u64>,
        cpus: Option<f64>,
        pids: Option<u64>,
    ) -> Result<()> {
        self.pool.check_writable()?;
        let mut cfg = self.load(name)?;
        let cpu_quota = cpus.map(hoody_core::CpuQuota::from_cpus).transpose()?;
        cfg.memory = memory;
        cfg.cpus = cpus;
        cfg.pids = pids;
        self.save(&cfg)?;
        if !self.running(name) {
            return Ok(());
        }
        let host_cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let live = hoody_core::Limits {
            // The kernel clamps a huge memory limit to "no limit".
            memory: Some(memory.unwrap_or(i64::MAX as u64 / 2)),
            cpu_quota: Some(match cpu_quota {
                Some(q) => q,
                None => hoody_core::CpuQuota::from_cpus(host_cpus as f64)?,
            }),
            cpu_weight: None,
            // The largest pids.max the kernel accepts (PID_MAX_LIMIT).
            pids: Some(pids.unwrap_or(4_194_304)),
        };
        let cg = hoody_core::cgroup::open(&CgroupConfig::default(), name)
            .map_err(hoody_core::Error::from)?;
        cg.apply(&live).map_err(hoody_core::Error::from)?;
        Ok(())
    }

    /// Whether a machine's monitor answers (cheap: one connect).
    pub fn is_running(&self, name: &str) -> bool {
        self.running(name)
    }

    /// Removes whatever exists of machine `name`, in any state, even half-made: kills it if
    /// its monitor answers (the monitor then removes its network and cgroups), deletes its root
    /// file system and snapshots, its state and runtime directories. Idempotent: used to
    /// finish interrupted deletes and to roll back interrupted creates.
    pub fn purge(&self, name: &str) -> Result<()> {
        self.pool.check_writable()?;
        hoody_fs::name::validate("machine", name)?;
        if self.running(name) {
            match self.request(name, "KILL", Duration::from_secs(30)) {
                Ok(_) | Err(MachineError::NotRunning(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if self.pool.container_path(name).is_ok() {
            self.pool.remove_container(name)?;
        }
        let p = self.paths(name);
        for dir in [&p.state, &p.run] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(state_err("remove", dir, e)),
            }
        }
        Ok(())
    }

    /// Live counters of a running machine: its cgroup's CPU, memory and process counts, and
    /// its interfaces' counters as its PID 1 sees them.
    pub fn stats(&self, name: &str) -> Result<MachineStats> {
        let st = self.status(name)?;
        let pid = st
            .pid
            .ok_or_else(|| MachineError::NotRunning(name.to_string()))?;
        let cg = hoody_core::cgroup::open(&CgroupConfig::default(), name)
            .map_err(hoody_core::Error::from)?;
        let stats = cg.stats().map_err(hoody_core::Error::from)?;
        let net = std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
            .map(|s| parse_net_dev(&s))
            .unwrap_or_default();
        Ok(MachineStats {
            cgroup: stats,
            interfaces: net,
        })
    }

    fn request(&self, name: &str, line: &str, timeout: Duration) -> Result<serde_json::Value> {
        let sock = self.paths(name).control_socket();
        let err = |m: String| MachineError::Monitor {
            name: name.to_string(),
            socket: sock.clone(),
            message: m,
        };
        let mut s =
            UnixStream::connect(&sock).map_err(|_| MachineError::NotRunning(name.to_string()))?;
        s.set_read_timeout(Some(timeout))
            .map_err(|e| err(e.to_string()))?;
        s.write_all(format!("{line}\n").as_bytes())
            .map_err(|e| err(e.to_string()))?;
        let mut reply = String::new();
        BufReader::new(s)
            .read_line(&mut reply)
            .map_err(|e| err(e.to_string()))?;
        if reply.is_empty() {
            return Err(err("the monitor closed the connection".into()));
        }
        let v: serde_json::Value =
            serde_json::from_str(&reply).map_err(|e| err(format!("bad reply {reply:?}: {e}")))?;
        if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
            return Err(err(e.to_string()));
        }
        Ok(v)
    }

    fn running(&self, name: &str) -> bool {
        UnixStream::connect(self.paths(name).control_socket()).is_ok()
    }

    /// Boots a machine and waits up to `timeout` for systemd's READY=1.
    pub fn start(&self, name: &str, timeout: Duration) -> Result<MachineStatus> {
        self.pool.check_writable()?;
        let cfg = self.load(name)?;
        raise_host_limits();
        if self.running(name) {
            return Err(MachineError::Running(name.to_string()));
        }
        let paths = self.paths(name);
        let rootfs = self.pool.container_path(name)?;
        let _ = std::fs::remove_dir_all(&paths.run);
        let mut cmd = Command::new(&self.monitor_exe);
        cmd.envs(self.monitor_env.iter().map(|(k, v)| (k, v)));
        if cfg.kit {
            if !self.kit_exe.is_file() {
                return Err(MachineError::Start {
                    name: name.to_string(),
                    message: format!(
                        "the machine runs the Kit, but its binary {} is missing",
                        self.kit_exe.display()
                    ),
                });
            }
            cmd.env(monitor::KIT_EXE_ENV, &self.kit_exe);
        }
        let mut child = cmd
            .arg(&paths.state)
            .arg(&paths.run)
            .arg(&rootfs)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| MachineError::Start {
                name: name.to_string(),
                message: format!("run the monitor {}: {e}", self.monitor_exe.display()),
            })?;
        let mut report = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut report);
        }
        let _ = child.wait();
        if !report.starts_with("OK ") {
            let message = match report.trim() {
                "" => format!(
                    "the monitor {} exited without a report",
                    self.monitor_exe.display()
                ),
                r => r.trim_start_matches("ERR ").to_string(),
            };
            return Err(MachineError::Start {
                name: name.to_string(),
                message,
            });
        }
        let v = self.request(
            name,
            &format!("WAIT_READY {}", timeout.as_millis()),
            timeout + Duration::from_secs(5),
        )?;
        if v.get("ready") != Some(&serde_json::Value::Bool(true)) {
            return Err(MachineError::BootTimeout {
                name: cfg.name,
                timeout,
            });
        }
        self.status(name)
    }

    /// Status of a machine (stopped when no monitor answers).
    pub fn status(&self, name: &str) -> Result<MachineStatus> {
        let config = self.load(name)?;
        match self.request(name, "STATUS", Duration::from_secs(5)) {
            Ok(v) => Ok(MachineStatus {
                config,
                state: match v.get("state").and_then(|s| s.as_str()) {
                    Some("running") => MachineState::Running,
                    Some("stopping") => MachineState::Stopping,
                    _ => MachineState::Starting,
                },
                pid: v.get("pid").and_then(|p| p.as_i64()).map(|p| p as i32),
                ip: v.get("ip").and_then(|p| p.as_str()).map(str::to_string),
                monitor_pid: v
                    .get("monitor_pid")
                    .and_then(|p| p.as_i64())
                    .map(|p| p as i32),
                last_exit: None,
            }),
            Err(MachineError::NotRunning(_)) => Ok(MachineStatus {
                last_exit: std::fs::read(self.paths(name).exit())
                    .ok()
                    .and_then(|d| serde_json::from_slice(&d).ok()),
                config,
                state: MachineState::Stopped,
                pid: None,
                monitor_pid: None,
                ip: None,
            }),
            Err(e) => Err(e),
        }
    }

    /// Every machine's status.
    pub fn list(&self) -> Result<Vec<MachineStatus>> {
        self.configs()?
            .iter()
            .map(|c| self.status(&c.name))
            .collect()
    }

    /// Clean shutdown (SIGRTMIN+3 to systemd); after `timeout` every process is killed.
    /// Returns PID 1's exit status.
    pub fn stop(&self, name: &str, timeout: Duration) -> Result<serde_json::Value> {
        self.pool.check_writable()?;
        self.load(name)?;
        let v = self.request(
            name,
            &format!("STOP {}", timeout.as_millis()),
            timeout + Duration::from_secs(30),
        )?;
        Ok(v.get("exit").cloned().unwrap_or_default())
    }

    /// Kills every process of the machine at once.
    pub fn force_stop(&self, name: &str) -> Result<serde_json::Value> {
        self.pool.check_writable()?;
        self.load(name)?;
        let v = self.request(name, "KILL", Duration::from_secs(30))?;
        Ok(v.get("exit").cloned().unwrap_or_default())
    }

    /// Stops (cleanly) and starts again.
    pub fn restart(&self, name: &str, timeout: Duration) -> Result<MachineStatus> {
        self.pool.check_writable()?;
        if self.running(name) {
            self.stop(name, timeout)?;
        }
        self.start(name, timeout)
    }

    /// Freezes every process of the machine.
    pub fn pause(&self, name: &str) -> Result<()> {
        self.pool.check_writable()?;
        self.request(name, "FREEZE", Duration::from_secs(15))
            .map(drop)
    }

    /// Thaws a paused machine.
    pub fn resume(&self, name: &str) -> Result<()> {
        self.pool.check_writable()?;
        self.request(name, "THAW", Duration::from_secs(15))
            .map(drop)
    }

    /// Starts a process inside a running machine (a child of the caller).
    pub fn exec(&self, name: &str, exec: &ExecSpec) -> Result<Process> {
        let cfg = self.load(name)?;
        let st = self.status(name)?;
        let pid = st
            .pid
            .ok_or_else(|| MachineError::NotRunning(name.to_string()))?;
        let spec = config::boot_spec(
            &cfg,
            &self.pool.container_path(name)?,
            &self.paths(name),
            None,
            Some(&self.kit_exe),
            None,
        )?;
        let mut exec = exec.clone();
        if !exec.env.iter().any(|e| e.starts_with("TERM=")) {
            exec.env.push("TERM=xterm-256color".into());
        }
        exec.env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        let mut spec = spec;
        spec.env.retain(|e| !e.starts_with("NOTIFY_SOCKET="));
        Ok(hoody_core::exec_in(
            &spec,
            &CgroupConfig::default(),
            pid,
            &exec,
        )?)
    }

    /// Opens the console: the buffered output first, then live output; writes go to the
    /// console's input.
    pub fn console(&self, name: &str) -> Result<UnixStream> {
        self.load(name)?;
        let sock = self.paths(name).control_socket();
        let mut s =
            UnixStream::connect(&sock).map_err(|_| MachineError::NotRunning(name.to_string()))?;
        s.write_all(b"CONSOLE\n")
            .map_err(|e| MachineError::Monitor {
                name: name.to_string(),
                socket: sock.clone(),
                message: e.to_string(),
            })?;
        let mut ok = [0u8; 3];
        s.read_exact(&mut ok).map_err(|e| MachineError::Monitor {
            name: name.to_string(),
            socket: sock,
            message: e.to_string(),
        })?;
        Ok(s)
    }

    /// The console log file (kept across runs).
    pub fn console_log(&self, name: &str) -> Result<PathBuf> {
        self.load(name)?;
        Ok(self.paths(name).console_log())
    }

    /// Deletes a stopped machine: its root file system, snapshots and state.
    pub fn delete(&self, name: &str) -> Result<()> {
        self.pool.check_writable()?;
        self.load(name)?;
        if self.running(name) {
            return Err(MachineError::Running(name.to_string()));
        }
        if self.pool.container_path(name).is_ok() {
            self.pool.remove_container(name)?;
        }
        let p = self.paths(name);
        std::fs::remove_dir_all(&p.state).map_err(|e| state_err("remove", &p.state, e))?;
        let _ = std::fs::remove_dir_all(&p.run);
        Ok(())
    }
}

/// Counters of a running machine.
#[derive(Debug, Clone)]
pub struct MachineStats {
    /// CPU, memory, processes.
    pub cgroup: hoody_core::Stats,
    /// Interfaces inside it: (name, bytes received, bytes sent, packets received, packets sent).
    pub interfaces: Vec<(String, u64, u64, u64, u64)>,
}

/// Parses `/proc/<pid>/net/dev`.
fn parse_net_dev(s: &str) -> Vec<(String, u64, u64, u64, u64)> {
    s.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() >= 10).then(|| (name.trim().to_string(), f[0], f[8], f[1], f[9]))
        })
        .collect()
}

/// Host limits that a few machines exhaust at their defaults. Every machine's systemd,
/// journald, logind and dbus take inotify instances, and the kernel charges those of every
/// user namespace to the namespace's owner (root) in the host's namespace, where the Debian
/// default allows 128 in all: about 20 machines. Raised, never lowered.
pub const HOST_LIMITS: &[(&str, u64)] = &[
    ("/proc/sys/fs/inotify/max_user_instances", 8192),
    ("/proc/sys/fs/inotify/max_user_watches", 1_048_576),
];

fn raise_host_limits() {
    for (path, want) in HOST_LIMITS {
        let current = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok());
        if current.is_some_and(|c| c < *want) {
            let _ = std::fs::write(path, want.to_string());
        }
    }
}

fn state_err(action: &'static str, path: &Path, e: std::io::Error) -> MachineError {
    MachineError::State {
        action,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
