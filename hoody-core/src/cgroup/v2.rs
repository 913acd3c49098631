//! The cgroup v2 group of a container: `<hierarchy>/<parent>/<id>`.
//!
//! With controllers (a pure v2 host) it writes `memory.max`, `cpu.max`, `cpu.weight` and
//! `pids.max` and reads the matching stats, per the kernel's cgroup-v2 documentation. Without
//! controllers (the `unified` hierarchy of a hybrid host) it only uses the core files:
//! `cgroup.procs`, `cgroup.freeze`, `cgroup.events` and `cgroup.kill`.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{
    CgroupError, CgroupManager, CgroupMode, Result, Stats, keyed_value, parse_procs, read_trimmed,
    read_u64, remove_dir_retry, write_file,
};
use crate::spec::Limits;

/// The controllers hoody enables for its groups on a pure v2 host.
const CONTROLLERS: &[&str] = &["memory", "cpu", "pids"];

/// A cgroup v2 group.
#[derive(Debug)]
pub struct V2Manager {
    path: PathBuf,
    dir: File,
    controllers: bool,
}

impl V2Manager {
    /// Creates `<hierarchy>/<parent>/<id>`. With `controllers`, enables the memory, cpu and
    /// pids controllers down to the new group first.
    pub fn create(hierarchy: &Path, parent: &str, id: &str, controllers: bool) -> Result<Self> {
        let parent_dir = hierarchy.join(parent);
        if let Err(e) = std::fs::create_dir(&parent_dir)
            && e.kind() != std::io::ErrorKind::AlreadyExists
        {
            return Err(CgroupError::io(&parent_dir, "create", e));
        }
        if controllers {
            enable_controllers(hierarchy)?;
            enable_controllers(&parent_dir)?;
        }
        let path = parent_dir.join(id);
        std::fs::create_dir(&path).map_err(|e| CgroupError::io(&path, "create", e))?;
        match Self::open_at(path.clone(), controllers) {
            Ok(m) => Ok(m),
            Err(e) => {
                let _ = std::fs::remove_dir(&path);
                Err(e)
            }
        }
    }

    /// Opens an existing group.
    pub fn open(hierarchy: &Path, parent: &str, id: &str, controllers: bool) -> Result<Self> {
        Self::open_at(hierarchy.join(parent).join(id), controllers)
    }

    fn open_at(path: PathBuf, controllers: bool) -> Result<Self> {
        let dir = File::open(&path).map_err(|e| CgroupError::io(&path, "open", e))?;
        Ok(V2Manager {
            path,
            dir,
            controllers,
        })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn read_optional_u64(&self, name: &str) -> Result<u64> {
        let p = self.file(name);
        if !p.exists() {
            return Ok(0);
        }
        read_u64(&p)
    }

    fn wait_frozen(&self, want: bool) -> Result<()> {
        let events = self.file("cgroup.events");
        let want = u64::from(want);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut pause = Duration::from_micros(50);
        loop {
            let content = read_trimmed(&events)?;
            if keyed_value(&content, "frozen") == Some(want) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(CgroupError::Timeout {
                    path: self.path.clone(),
                    what: if want == 1 { "frozen" } else { "thawed" },
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }
}

/// The limit files to write on a v2 group, in order, as (file, value).
pub fn limit_writes(limits: &Limits) -> Vec<(&'static str, String)> {
    let mut w = Vec::new();
    if let Some(m) = limits.memory {
        w.push(("memory.max", m.to_string()));
    }
    if let Some(q) = limits.cpu_quota {
        w.push(("cpu.max", format!("{} {}", q.quota_us, q.period_us)));
    }
    if let Some(weight) = limits.cpu_weight {
        w.push(("cpu.weight", weight.to_string()));
    }
    if let Some(p) = limits.pids {
        w.push(("pids.max", p.to_string()));
    }
    w
}

fn remove_subgroups(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            remove_subgroups(&p)?;
            remove_dir_retry(&p)?;
        }
    }
    Ok(())
}

fn enable_controllers(dir: &Path) -> Result<()> {
    let available = read_trimmed(&dir.join("cgroup.controllers"))?;
    let enabled = read_trimmed(&dir.join("cgroup.subtree_control"))?;
    let missing: Vec<String> = CONTROLLERS
        .iter()
        .filter(|c| available.split_whitespace().any(|a| a == **c))
        .filter(|c| !enabled.split_whitespace().any(|a| a == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    write_file(&dir.join("cgroup.subtree_control"), &missing.join(" "))
}

impl CgroupManager for V2Manager {
    fn mode(&self) -> CgroupMode {
        CgroupMode::Unified
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn apply(&self, limits: &Limits) -> Result<()> {
        let writes = limit_writes(limits);
        if writes.is_empty() {
            return Ok(());
        }
        let enabled = read_trimmed(&self.file("cgroup.controllers"))?;
        for (file, _) in &writes {
            let controller = file.split('.').next().unwrap_or(file);
            if !self.controllers || !enabled.split_whitespace().any(|c| c == controller) {
                return Err(CgroupError::ControllerMissing {
                    path: self.path.clone(),
                    controller: controller.to_string(),
                    file,
                });
            }
        }
        for (file, value) in writes {
            write_file(&self.file(file), &value)?;
        }
        Ok(())
    }

    fn clone_into_fd(&self) -> Option<RawFd> {
        Some(self.dir.as_raw_fd())
    }

    fn attach_after_clone(&self, _pid: libc::pid_t) -> Result<()> {
        // CLONE_INTO_CGROUP already placed the child.
        Ok(())
    }

    fn procs(&self) -> Result<Vec<libc::pid_t>> {
        Ok(parse_procs(&read_trimmed(&self.file("cgroup.procs"))?))
    }

    fn stats(&self) -> Result<Stats> {
        let cpu_stat = read_trimmed(&self.file("cpu.stat"))?;
        let events = if self.file("memory.events").exists() {
            read_trimmed(&self.file("memory.events"))?
        } else {
            String::new()
        };
        Ok(Stats {
            memory_current: self.read_optional_u64("memory.current")?,
            memory_peak: self.read_optional_u64("memory.peak")?,
            cpu_usage_usec: keyed_value(&cpu_stat, "usage_usec").unwrap_or(0),
            pids_current: self.read_optional_u64("pids.current")?,
            oom_kills: keyed_value(&events, "oom_kill").unwrap_or(0),
        })
    }

    fn freeze(&self) -> Result<()> {
        write_file(&self.file("cgroup.freeze"), "1")?;
        self.wait_frozen(true)
    }

    fn thaw(&self) -> Result<()> {
        write_file(&self.file("cgroup.freeze"), "0")?;
        self.wait_frozen(false)
    }

    fn kill_all(&self) -> Result<()> {
        let kill = self.file("cgroup.kill");
        if kill.exists() {
            return write_file(&kill, "1");
        }
        // Kernels before 5.14: signal each process; a frozen group cannot fork meanwhile.
        self.freeze()?;
        for pid in self.procs()? {
            // Gone already is fine: what matters is that nothing is left.
            let _ = hoody_sys::process::kill(pid, libc::SIGKILL);
        }
        self.thaw()
    }

    fn destroy(&self) -> Result<()> {
        // A delegated subtree may hold groups created inside (systemd's init.scope,
        // system.slice, ...): remove them deepest first.
        remove_subgroups(&self.path)?;
        remove_dir_retry(&self.path)
    }

    fn directories(&self) -> Vec<PathBuf> {
        vec![self.path.clone()]
    }

    fn delegate(&self, uid: u32, gid: u32) -> Result<()> {
        let mut files = vec![self.path.clone()];
        for f in ["cgroup.procs", "cgroup.threads", "cgroup.subtree_control"] {
            files.push(self.file(f));
        }
        // Kernels list further delegatable files (e.g. memory.oom.group) here.
        if let Ok(extra) = std::fs::read_to_string("/sys/kernel/cgroup/delegate") {
            for f in extra.split_whitespace() {
                let p = self.file(f);
                if p.exists() {
                    files.push(p);
                }
            }
        }
        for p in files {
            std::os::unix::fs::chown(&p, Some(uid), Some(gid))
                .map_err(|e| CgroupError::io(&p, "delegate (chown)", e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::CpuQuota;

    #[test]
    fn limits_become_v2_files() {
        let limits = Limits {
            memory: Some(64 << 20),
            cpu_quota: Some(CpuQuota {
                quota_us: 50_000,
                period_us: 100_000,
            }),
            cpu_weight: Some(200),
            pids: Some(32),
        };
        assert_eq!(
            limit_writes(&limits),
            vec![
                ("memory.max", "67108864".to_string()),
                ("cpu.max", "50000 100000".to_string()),
                ("cpu.weight", "200".to_string()),
                ("pids.max", "32".to_string()),
            ]
        );
        assert!(limit_writes(&Limits::default()).is_empty());
    }
}
