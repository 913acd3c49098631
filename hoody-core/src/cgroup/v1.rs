//! The cgroup v1 groups of a container: one directory per controller hierarchy,
//! `<root>/<controller>/<parent>/<id>`.
//!
//! Limits: `memory.limit_in_bytes` (and `memory.memsw.limit_in_bytes` where swap accounting
//! is on, so swap cannot extend the limit), `cpu.cfs_quota_us`/`cpu.cfs_period_us`,
//! `cpu.shares`, `pids.max`. On a legacy host the `freezer` hierarchy provides freeze, thaw and
//! a race-free kill-all.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    CgroupError, CgroupManager, CgroupMode, Result, Stats, keyed_value, parse_procs, read_trimmed,
    read_u64, remove_dir_retry, weight_to_shares, write_file,
};
use crate::spec::Limits;

/// Controllers used on every v1 layout.
const BASE: &[&str] = &["memory", "cpu", "cpuacct", "pids"];

/// A set of cgroup v1 groups, one per hierarchy.
#[derive(Debug)]
pub struct V1Manager {
    /// (controller, group directory), one entry per distinct hierarchy.
    dirs: Vec<(&'static str, PathBuf)>,
    legacy: bool,
}

fn controllers(legacy: bool) -> Vec<&'static str> {
    let mut c = BASE.to_vec();
    if legacy {
        c.push("freezer");
    }
    c
}

/// The distinct hierarchy directories for `controllers` (co-mounted controllers such as
/// `cpu,cpuacct` share one). Resolved once per process for the default root.
fn hierarchies(root: &Path, legacy: bool) -> Vec<(&'static str, PathBuf)> {
    static DEFAULT: std::sync::OnceLock<[Vec<(&'static str, PathBuf)>; 2]> =
        std::sync::OnceLock::new();
    if root == Path::new("/sys/fs/cgroup") {
        let cached = DEFAULT.get_or_init(|| {
            [
                resolve_hierarchies(root, false),
                resolve_hierarchies(root, true),
            ]
        });
        return cached[usize::from(legacy)].clone();
    }
    resolve_hierarchies(root, legacy)
}

fn resolve_hierarchies(root: &Path, legacy: bool) -> Vec<(&'static str, PathBuf)> {
    let mut out: Vec<(&'static str, PathBuf)> = Vec::new();
    for ctrl in controllers(legacy) {
        let Ok(h) = std::fs::canonicalize(root.join(ctrl)) else {
            continue;
        };
        if !out.iter().any(|(_, p)| *p == h) {
            out.push((ctrl, h));
        }
    }
    out
}

impl V1Manager {
    /// Creates the group in every hierarchy; on error removes what it made.
    pub fn create(root: &Path, parent: &str, id: &str, legacy: bool) -> Result<Self> {
        let mut made = V1Manager {
            dirs: Vec::new(),
            legacy,
        };
        for (ctrl, hier) in hierarchies(root, legacy) {
            let parent_dir = hier.join(parent);
            if let Err(e) = std::fs::create_dir(&parent_dir)
                && e.kind() != std::io::ErrorKind::AlreadyExists
            {
                let _ = made.destroy();
                return Err(CgroupError::io(&parent_dir, "create", e));
            }
            let dir = parent_dir.join(id);
            if let Err(e) = std::fs::create_dir(&dir) {
                let _ = made.destroy();
                return Err(CgroupError::io(&dir, "create", e));
            }
            made.dirs.push((ctrl, dir));
        }
        if made.dirs.is_empty() {
            return Err(CgroupError::NotFound(
                root.to_path_buf(),
                "no cgroup v1 controller hierarchy found".into(),
            ));
        }
        Ok(made)
    }

    /// Opens existing groups (directories that do not exist are skipped).
    pub fn open(root: &Path, parent: &str, id: &str, legacy: bool) -> Self {
        let dirs = hierarchies(root, legacy)
            .into_iter()
            .map(|(c, h)| (c, h.join(parent).join(id)))
            .filter(|(_, d)| d.is_dir())
            .collect();
        V1Manager { dirs, legacy }
    }

    /// The group directory of the hierarchy that carries `ctrl`.
    fn dir(&self, ctrl: &str) -> Option<&Path> {
        // A co-mounted hierarchy is listed under its first controller; look for the
        // controller's files in every directory.
        self.dirs
            .iter()
            .find(|(c, _)| *c == ctrl)
            .or_else(|| {
                self.dirs.iter().find(|(_, d)| {
                    d.join(format!("{ctrl}.stat")).exists()
                        || d.join(format!("{ctrl}.usage")).exists()
                        || d.join(format!("{ctrl}.shares")).exists()
                })
            })
            .map(|(_, d)| d.as_path())
    }

    fn need(&self, ctrl: &'static str) -> Result<&Path> {
        self.dir(ctrl).ok_or_else(|| {
            CgroupError::NotFound(
                PathBuf::from("/sys/fs/cgroup").join(ctrl),
                format!("the {ctrl} controller is not mounted"),
            )
        })
    }

    fn wait_freezer(&self, dir: &Path, want: &str) -> Result<()> {
        let state = dir.join("freezer.state");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if read_trimmed(&state)? == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(CgroupError::Timeout {
                    path: dir.to_path_buf(),
                    what: if want == "FROZEN" { "frozen" } else { "thawed" },
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl CgroupManager for V1Manager {
    fn mode(&self) -> CgroupMode {
        CgroupMode::Legacy
    }

    fn path(&self) -> &Path {
        self.dirs
            .first()
            .map(|(_, d)| d.as_path())
            .unwrap_or(Path::new("/"))
    }

    fn apply(&self, limits: &Limits) -> Result<()> {
        if let Some(m) = limits.memory {
            let d = self.need("memory")?;
            let mem = d.join("memory.limit_in_bytes");
            let memsw = d.join("memory.memsw.limit_in_bytes");
            // The kernel keeps memory+swap at or above memory: raising, memsw goes first.
            let raising = read_u64(&mem).is_ok_and(|now| m > now);
            if memsw.exists() && raising {
                write_file(&memsw, &m.to_string())?;
            }
            write_file(&mem, &m.to_string())?;
            if memsw.exists() && !raising {
                write_file(&memsw, &m.to_string())?;
            }
        }
        if let Some(q) = limits.cpu_quota {
            let d = self.need("cpu")?;
            write_file(&d.join("cpu.cfs_period_us"), &q.period_us.to_string())?;
            write_file(&d.join("cpu.cfs_quota_us"), &q.quota_us.to_string())?;
        }
        if let Some(w) = limits.cpu_weight {
            let d = self.need("cpu")?;
            write_file(&d.join("cpu.shares"), &weight_to_shares(w).to_string())?;
        }
        if let Some(p) = limits.pids {
            let d = self.need("pids")?;
            write_file(&d.join("pids.max"), &p.to_string())?;
        }
        Ok(())
    }

    fn clone_into_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    fn attach_after_clone(&self, pid: libc::pid_t) -> Result<()> {
        let pid = pid.to_string();
        for (_, d) in &self.dirs {
            write_file(&d.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    fn procs(&self) -> Result<Vec<libc::pid_t>> {
        Ok(parse_procs(&read_trimmed(
            &self.path().join("cgroup.procs"),
        )?))
    }

    fn stats(&self) -> Result<Stats> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("memory") {
            s.memory_current = read_u64(&d.join("memory.usage_in_bytes"))?;
            s.memory_peak = read_u64(&d.join("memory.max_usage_in_bytes"))?;
            let oom = read_trimmed(&d.join("memory.oom_control"))?;
            s.oom_kills = keyed_value(&oom, "oom_kill").unwrap_or(0);
        }
        if let Some(d) = self.dir("cpuacct") {
            s.cpu_usage_usec = read_u64(&d.join("cpuacct.usage"))? / 1000;
        }
        if let Some(d) = self.dir("pids") {
            s.pids_current = read_u64(&d.join("pids.current"))?;
        }
        Ok(s)
    }

    fn freeze(&self) -> Result<()> {
        let d = self.need("freezer")?;
        write_file(&d.join("freezer.state"), "FROZEN")?;
        self.wait_freezer(d, "FROZEN")
    }

    fn thaw(&self) -> Result<()> {
        let d = self.need("freezer")?;
        write_file(&d.join("freezer.state"), "THAWED")?;
        self.wait_freezer(d, "THAWED")
    }

    fn kill_all(&self) -> Result<()> {
        let frozen = self.legacy && self.freeze().is_ok();
        for pid in self.procs()? {
            // Gone already is fine: what matters is that nothing is left.
            let _ = hoody_sys::process::kill(pid, libc::SIGKILL);
        }
        if frozen {
            self.thaw()?;
        }
        Ok(())
    }

    fn destroy(&self) -> Result<()> {
        let mut first_err = None;
        for (_, d) in &self.dirs {
            if let Err(e) = remove_dir_retry(d) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn directories(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.clone()).collect()
    }

    fn delegate(&self, _uid: u32, _gid: u32) -> Result<()> {
        Err(CgroupError::NotFound(
            self.path().to_path_buf(),
            "delegating a subtree needs cgroup2 (a legacy cgroup v1 host has none)".into(),
        ))
    }
}
