//! `/ramdisk` (reference §1.1): a RAM-backed directory per container, kept across stop, start
//! and restart, lost when the server reboots, all drawn from one per-server pool.
//!
//! The pool is one tmpfs ([`HostConfig::ramdisk_dir`](crate::HostConfig), default
//! `/run/hoody/ramdisk`) of [`default_size`] unless configured: 512 MiB, never more than half
//! the host's memory. Mounted by hoodyd when it opens the server if it is not mounted yet (a
//! tmpfs outlives hoodyd, so its contents survive hoodyd restarts too). Inside it:
//! `containers/<id>` is bound at a container's `/ramdisk`, and `projects/<id>` at
//! `/ramdisk/project` of every container of that project whose scope is `project`. The
//! machine layer makes the directories at boot, owned by the container's root (see
//! `hoody_machine::config::prepare_ramdisk`); hoodyd removes them when the container (or the
//! project) is deleted. A tmpfs counts only what is written, so a container's empty ramdisk
//! costs nothing.

use std::path::{Path, PathBuf};

use crate::HostError;
use crate::api::{RamdiskScope, RamdiskStats, RamdiskUsage};

/// Where the pool is mounted by default.
pub const DEFAULT_DIR: &str = "/run/hoody/ramdisk";

/// The pool's size when none is configured: 512 MiB, never above half of `mem_total`.
pub fn default_size(mem_total: u64) -> u64 {
    (512u64 << 20).min(mem_total / 2)
}

/// The host's memory, bytes (`MemTotal` of /proc/meminfo).
fn mem_total() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The server's ramdisk pool.
#[derive(Debug, Clone)]
pub struct RamdiskPool {
    dir: PathBuf,
    size: u64,
}

impl RamdiskPool {
    /// The pool at `dir`, mounted now (a tmpfs of `size` bytes, default [`default_size`]) if
    /// nothing is mounted there yet; an existing mount is kept as it is.
    pub fn open(dir: &Path, size: Option<u64>) -> Result<Self, HostError> {
        let size = match size {
            Some(s) => s,
            None => default_size(mem_total().unwrap_or(1 << 30)),
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| HostError::io(format!("create the ramdisk pool {}", dir.display()), e))?;
        if !hoody_sys::fs::is_mount_point(dir) {
            hoody_sys::fs::mount_tmpfs("hoody-ramdisk", dir, size, 0o755).map_err(|e| {
                HostError::io(
                    format!("mount the ramdisk pool (tmpfs) at {}", dir.display()),
                    e,
                )
            })?;
        }
        let size = hoody_sys::fs::size(dir).map(|s| s.total).unwrap_or(size);
        Ok(RamdiskPool {
            dir: dir.to_path_buf(),
            size,
        })
    }

    /// Container `id`'s directory.
    pub fn container_dir(&self, id: &str) -> PathBuf {
        self.dir.join("containers").join(id)
    }

    /// Project `id`'s shared directory.
    pub fn project_dir(&self, id: &str) -> PathBuf {
        self.dir.join("projects").join(id)
    }

    /// The machine's directories for a container of `project` with a ramdisk of `scope`
    /// (`None` without one): its own, and the project's when shared.
    pub fn dirs(
        &self,
        id: &str,
        project: &str,
        ramdisk: bool,
        scope: RamdiskScope,
    ) -> (Option<PathBuf>, Option<PathBuf>) {
        if !ramdisk {
            return (None, None);
        }
        let shared = (scope == RamdiskScope::Project).then(|| self.project_dir(project));
        (Some(self.container_dir(id)), shared)
    }

    /// Removes a directory of the pool and everything in it (a missing one is fine).
    pub fn remove(&self, dir: &Path) -> Result<(), HostError> {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(HostError::io(
                format!("remove the ramdisk {}", dir.display()),
                e,
            )),
        }
    }

    /// The stats of container `id`'s ramdisk.
    pub fn stats(&self, id: &str, project: &str, scope: RamdiskScope) -> RamdiskStats {
        let used = hoody_sys::fs::size(&self.dir)
            .map(|s| s.total.saturating_sub(s.available))
            .unwrap_or(0);
        RamdiskStats {
            scope,
            shared_pool_maximum: self.size,
            capacity_reserved: used,
            usage: RamdiskUsage {
                private: hoody_sys::fs::disk_usage(&self.container_dir(id)),
                secrets: 0,
                project: match scope {
                    RamdiskScope::Project => hoody_sys::fs::disk_usage(&self.project_dir(project)),
                    RamdiskScope::Container => 0,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pool_is_512_mib_at_most_half_the_memory() {
        assert_eq!(default_size(8 << 30), 512 << 20);
        assert_eq!(default_size(512 << 20), 256 << 20);
    }
}
