//! Cgroups: one [`CgroupManager`] trait, three layouts detected at runtime.
//!
//! * **Unified** (pure cgroup v2, e.g. a Debian 13 server): everything goes through
//!   `/sys/fs/cgroup/hoody/<id>`; the `memory`, `cpu` and `pids` controllers are enabled in
//!   `cgroup.subtree_control` of the parents; the child is placed with `CLONE_INTO_CGROUP`.
//! * **Hybrid** (v1 controllers plus a controller-less cgroup2 at `/sys/fs/cgroup/unified`, this
//!   project's build machines): limits and stats go through the v1 hierarchies
//!   (`memory`, `cpu`, `cpuacct`, `pids`), while placement (`CLONE_INTO_CGROUP`), freezing
//!   (`cgroup.freeze`) and killing (`cgroup.kill`) use the v2 group under `unified`. A
//!   systemd inside a container later gets its delegated subtree there too.
//! * **Legacy** (v1 only): limits, stats, the `freezer` controller for freeze/thaw, and
//!   kill-all by freezing, signalling every task and thawing.
//!
//! Every group is `<hierarchy>/<parent>/<id>` with `parent` = `hoody` by default.

mod v1;
mod v2;

use std::fmt::Debug;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub use v1::V1Manager;
pub use v2::V2Manager;

use crate::spec::Limits;

/// A failed cgroup operation, naming the file or directory.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A cgroup file or directory operation failed.
    #[error("cgroup {path}: {action}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// What was being done.
        action: &'static str,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No usable cgroup hierarchy was found.
    #[error("no usable cgroup hierarchy under {0}: {1}")]
    NotFound(PathBuf, String),
    /// A limit needs a controller that is not enabled for the group.
    #[error(
        "cgroup {path}: setting {file} needs the {controller} controller, which is not enabled for this group"
    )]
    ControllerMissing {
        /// The group.
        path: PathBuf,
        /// The controller.
        controller: String,
        /// The limit file.
        file: &'static str,
    },
    /// The group did not become empty or frozen in time.
    #[error("cgroup {path}: timed out waiting for {what}")]
    Timeout {
        /// The group.
        path: PathBuf,
        /// What we waited for.
        what: &'static str,
    },
}

impl CgroupError {
    pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> Self {
        CgroupError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}

/// Result alias for cgroup operations.
pub type Result<T> = std::result::Result<T, CgroupError>;

/// How the host's cgroup hierarchies are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// cgroup v1 only.
    Legacy,
    /// v1 controllers plus a cgroup2 hierarchy (usually at `unified/`) without controllers.
    Hybrid,
    /// cgroup v2 only.
    Unified,
}

/// Where cgroups live and under which parent group hoody creates its groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupConfig {
    /// Mount point of the cgroup file systems, normally `/sys/fs/cgroup`.
    pub root: PathBuf,
    /// Parent group for all of hoody's groups, normally `hoody`.
    pub parent: String,
    /// Force a layout instead of detecting it (tests drive the v2 code through the hybrid
    /// host's `unified` hierarchy this way: `root` = `/sys/fs/cgroup/unified`, `Unified`).
    pub mode: Option<CgroupMode>,
}

impl Default for CgroupConfig {
    fn default() -> Self {
        CgroupConfig {
            root: PathBuf::from("/sys/fs/cgroup"),
            parent: "hoody".into(),
            mode: None,
        }
    }
}

/// Resource usage of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Memory in use, bytes.
    pub memory_current: u64,
    /// Highest memory use seen, bytes (0 when the kernel does not report it).
    pub memory_peak: u64,
    /// CPU time used, microseconds.
    pub cpu_usage_usec: u64,
    /// Number of processes and threads.
    pub pids_current: u64,
    /// Number of processes the OOM killer killed in this group.
    pub oom_kills: u64,
}

/// A container's cgroup, whatever the host's layout.
pub trait CgroupManager: Debug + Send + Sync {
    /// The layout this manager drives.
    fn mode(&self) -> CgroupMode;
    /// The group's main directory (the v2 one where there is one).
    fn path(&self) -> &Path;
    /// Writes the limits.
    fn apply(&self, limits: &Limits) -> Result<()>;
    /// The directory fd to pass to `clone3` with `CLONE_INTO_CGROUP`, if the layout has a v2
    /// group.
    fn clone_into_fd(&self) -> Option<RawFd>;
    /// Moves `pid` into every hierarchy `CLONE_INTO_CGROUP` did not cover. Called after the
    /// clone and before the child is allowed to run.
    fn attach_after_clone(&self, pid: libc::pid_t) -> Result<()>;
    /// The pids in the group.
    fn procs(&self) -> Result<Vec<libc::pid_t>>;
    /// Current usage.
    fn stats(&self) -> Result<Stats>;
    /// Freezes every process in the group and waits until the kernel reports it frozen.
    fn freeze(&self) -> Result<()>;
    /// Thaws the group.
    fn thaw(&self) -> Result<()>;
    /// SIGKILLs every process in the group.
    fn kill_all(&self) -> Result<()>;
    /// Removes the group's directories. Waits briefly for exiting processes to leave.
    fn destroy(&self) -> Result<()>;
    /// The directories this manager created (for diagnostics and leak checks).
    fn directories(&self) -> Vec<PathBuf>;
    /// Delegates the group's cgroup2 subtree to `uid`/`gid` (the container's root on the
    /// host): the directory and `cgroup.procs`, `cgroup.threads`, `cgroup.subtree_control`
    /// change owner, per the kernel's delegation rules, so a systemd inside can manage its
    /// own sub-groups. Limits stay in files it does not own.
    fn delegate(&self, uid: u32, gid: u32) -> Result<()>;
}

static MODE: OnceLock<std::result::Result<CgroupMode, String>> = OnceLock::new();

/// Detects the host's cgroup layout under `/sys/fs/cgroup` (cached after the first call).
pub fn detect_mode() -> Result<CgroupMode> {
    MODE.get_or_init(|| detect_mode_at(Path::new("/sys/fs/cgroup")))
        .clone()
        .map_err(|e| CgroupError::NotFound(PathBuf::from("/sys/fs/cgroup"), e))
}

/// Detects the cgroup layout mounted at `root`.
pub fn detect_mode_at(root: &Path) -> std::result::Result<CgroupMode, String> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    let magic = |p: &Path| -> std::result::Result<i64, String> {
        hoody_sys::fs::fs_type(p).map_err(|e| format!("statfs {}: {e}", p.display()))
    };
    match magic(root)? {
        CGROUP2_SUPER_MAGIC => Ok(CgroupMode::Unified),
        TMPFS_MAGIC => {
            let unified = root.join("unified");
            if unified.is_dir() && magic(&unified)? == CGROUP2_SUPER_MAGIC {
                Ok(CgroupMode::Hybrid)
            } else if root.join("memory").is_dir() || root.join("pids").is_dir() {
                Ok(CgroupMode::Legacy)
            } else {
                Err("tmpfs without cgroup hierarchies".into())
            }
        }
        other => Err(format!("unexpected file system type {other:#x}")),
    }
}

/// A hybrid-host group: v1 for limits and stats, v2 for placement, freeze and kill.
#[derive(Debug)]
pub struct HybridManager {
    v1: V1Manager,
    v2: V2Manager,
}

impl CgroupManager for HybridManager {
    fn mode(&self) -> CgroupMode {
        CgroupMode::Hybrid
    }
    fn path(&self) -> &Path {
        self.v2.path()
    }
    fn apply(&self, limits: &Limits) -> Result<()> {
        self.v1.apply(limits)
    }
    fn clone_into_fd(&self) -> Option<RawFd> {
        self.v2.clone_into_fd()
    }
    fn attach_after_clone(&self, pid: libc::pid_t) -> Result<()> {
        self.v1.attach_after_clone(pid)
    }
    fn procs(&self) -> Result<Vec<libc::pid_t>> {
        self.v2.procs()
    }
    fn stats(&self) -> Result<Stats> {
        self.v1.stats()
    }
    fn freeze(&self) -> Result<()> {
        self.v2.freeze()
    }
    fn thaw(&self) -> Result<()> {
        self.v2.thaw()
    }
    fn kill_all(&self) -> Result<()> {
        self.v2.kill_all()
    }
    fn destroy(&self) -> Result<()> {
        let a = self.v2.destroy();
        let b = self.v1.destroy();
        a.and(b)
    }
    fn directories(&self) -> Vec<PathBuf> {
        let mut d = self.v2.directories();
        d.extend(self.v1.directories());
        d
    }
    fn delegate(&self, uid: u32, gid: u32) -> Result<()> {
        self.v2.delegate(uid, gid)
    }
}

/// Creates the group `<parent>/<id>` in the host's layout and applies `limits`. On error
/// nothing is left behind.
pub fn create(config: &CgroupConfig, id: &str, limits: &Limits) -> Result<Box<dyn CgroupManager>> {
    let mode = match config.mode {
        Some(m) => m,
        None => detect_mode()?,
    };
    create_with_mode(config, mode, id, limits)
}

/// Like [`create`] with an explicit layout.
pub fn create_with_mode(
    config: &CgroupConfig,
    mode: CgroupMode,
    id: &str,
    limits: &Limits,
) -> Result<Box<dyn CgroupManager>> {
    let mgr: Box<dyn CgroupManager> = match mode {
        CgroupMode::Unified => Box::new(V2Manager::create(&config.root, &config.parent, id, true)?),
        CgroupMode::Legacy => Box::new(V1Manager::create(&config.root, &config.parent, id, true)?),
        CgroupMode::Hybrid => {
            let v2 = V2Manager::create(&config.root.join("unified"), &config.parent, id, false)?;
            let v1 = match V1Manager::create(&config.root, &config.parent, id, false) {
                Ok(v1) => v1,
                Err(e) => {
                    let _ = v2.destroy();
                    return Err(e);
                }
            };
            Box::new(HybridManager { v1, v2 })
        }
    };
    if let Err(e) = mgr.apply(limits) {
        let _ = mgr.destroy();
        return Err(e);
    }
    Ok(mgr)
}

/// Opens an existing group (for example one whose container outlived its creator).
pub fn open(config: &CgroupConfig, id: &str) -> Result<Box<dyn CgroupManager>> {
    let mode = match config.mode {
        Some(m) => m,
        None => detect_mode()?,
    };
    Ok(match mode {
        CgroupMode::Unified => Box::new(V2Manager::open(&config.root, &config.parent, id, true)?),
        CgroupMode::Legacy => Box::new(V1Manager::open(&config.root, &config.parent, id, true)),
        CgroupMode::Hybrid => Box::new(HybridManager {
            v2: V2Manager::open(&config.root.join("unified"), &config.parent, id, false)?,
            v1: V1Manager::open(&config.root, &config.parent, id, false),
        }),
    })
}

pub(crate) fn read_trimmed(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|e| CgroupError::io(path, "read", e))
}

pub(crate) fn read_u64(path: &Path) -> Result<u64> {
    let s = read_trimmed(path)?;
    if s == "max" {
        return Ok(u64::MAX);
    }
    s.parse().map_err(|_| {
        CgroupError::io(
            path,
            "parse",
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a number: {s:?}"),
            ),
        )
    })
}

pub(crate) fn write_file(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| CgroupError::io(path, "write", e))
}

/// Value of `key` in a flat-keyed file such as `memory.events` or `cpu.stat`.
pub(crate) fn keyed_value(content: &str, key: &str) -> Option<u64> {
    content.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

pub(crate) fn parse_procs(content: &str) -> Vec<libc::pid_t> {
    content
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Removes a group directory, retrying while exiting processes leave it.
pub(crate) fn remove_dir_retry(path: &Path) -> Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut pause = std::time::Duration::from_micros(100);
    loop {
        match std::fs::remove_dir(path) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(20));
            }
            Err(e) => return Err(CgroupError::io(path, "remove", e)),
        }
    }
}

/// Converts a v2 cpu weight (1..=10000) to v1 cpu shares (2..=262144), as the kernel docs
/// and runc do.
pub fn weight_to_shares(weight: u64) -> u64 {
    2 + ((weight.clamp(1, 10_000) - 1) * 262_142) / 9_999
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_host_is_detected() {
        assert!(detect_mode().is_ok());
    }

    #[test]
    fn weight_maps_to_shares_at_the_ends_and_middle() {
        assert_eq!(weight_to_shares(1), 2);
        assert_eq!(weight_to_shares(10_000), 262_144);
        assert_eq!(weight_to_shares(100), 2597);
    }

    #[test]
    fn keyed_files_parse() {
        let c = "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n";
        assert_eq!(keyed_value(c, "oom_kill"), Some(2));
        assert_eq!(keyed_value(c, "oom"), Some(1));
        assert_eq!(keyed_value(c, "nope"), None);
    }
}
