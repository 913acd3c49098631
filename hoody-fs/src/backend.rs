//! The two storage backends behind one interface.
//!
//! * [`Backend::Btrfs`]: every image, container and snapshot is a subvolume; snapshots are
//!   copy-on-write and cost the same whatever the size; all through libbtrfsutil's ioctls.
//! * [`Backend::Directory`]: plain directories for hosts without btrfs. A "snapshot" is a full
//!   copy made by `cp -a --reflink=auto` (which preserves modes, owners, timestamps, xattrs,
//!   hard links, symlinks and device nodes, and shares extents on file systems with reflinks
//!   such as XFS). Read-only is recorded, not enforced. Same API, slower.

use std::path::Path;
use std::process::Command;

use crate::error::{FsError, Result};

/// `BTRFS_SUPER_MAGIC`.
const BTRFS_SUPER_MAGIC: i64 = 0x9123_683e;

/// How a pool stores its trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// btrfs subvolumes and snapshots.
    Btrfs,
    /// Plain directories and copies.
    Directory,
}

/// Whether `path` is on a btrfs file system.
pub fn is_btrfs(path: &Path) -> Result<bool> {
    let t = hoody_sys::fs::fs_type(path).map_err(|e| FsError::io("statfs", path, e))?;
    Ok(t == BTRFS_SUPER_MAGIC)
}

impl Backend {
    /// The backend a pool at `path` gets: btrfs when the path is on btrfs.
    pub fn detect(path: &Path) -> Result<Backend> {
        Ok(if is_btrfs(path)? {
            Backend::Btrfs
        } else {
            Backend::Directory
        })
    }

    /// Creates an empty tree at `path`.
    pub fn create(&self, path: &Path) -> Result<()> {
        match self {
            Backend::Btrfs => libbtrfsutil::create_subvolume(path)
                .map_err(|e| FsError::btrfs("create subvolume", path, e)),
            Backend::Directory => {
                std::fs::create_dir(path).map_err(|e| FsError::io("create directory", path, e))
            }
        }
    }

    /// Snapshots (or copies) `src` to `dst`, which must not exist.
    pub fn snapshot(&self, src: &Path, dst: &Path, readonly: bool) -> Result<()> {
        match self {
            Backend::Btrfs => libbtrfsutil::CreateSnapshotOptions::new()
                .readonly(readonly)
                .create(src, dst)
                .map_err(|e| FsError::btrfs("snapshot", src, e)),
            Backend::Directory => {
                let out = Command::new("cp")
                    .args(["-a", "--reflink=auto", "--no-target-directory"])
                    .arg(src)
                    .arg(dst)
                    .output()
                    .map_err(|e| FsError::io("run cp to copy", src, e))?;
                if !out.status.success() {
                    let _ = std::fs::remove_dir_all(dst);
                    return Err(FsError::Tool {
                        tool: format!("cp -a {} {}", src.display(), dst.display()),
                        message: tool_message(&out),
                    });
                }
                Ok(())
            }
        }
    }

    /// Deletes the tree at `path` (with nested subvolumes on btrfs). Missing is not an error.
    pub fn delete(&self, path: &Path) -> Result<()> {
        if std::fs::symlink_metadata(path).is_err() {
            return Ok(());
        }
        match self {
            Backend::Btrfs => {
                if libbtrfsutil::is_subvolume(path).unwrap_or(false) {
                    // A read-only subvolume can be deleted by root; nested ones too with the
                    // recursive flag.
                    libbtrfsutil::DeleteSubvolumeOptions::new()
                        .recursive(true)
                        .delete(path)
                        .map_err(|e| FsError::btrfs("delete subvolume", path, e))
                } else {
                    std::fs::remove_dir_all(path).map_err(|e| FsError::io("remove", path, e))
                }
            }
            Backend::Directory => {
                std::fs::remove_dir_all(path).map_err(|e| FsError::io("remove", path, e))
            }
        }
    }

    /// Marks a tree read-only (btrfs) or does nothing (directory backend).
    pub fn set_readonly(&self, path: &Path, readonly: bool) -> Result<()> {
        match self {
            Backend::Btrfs => libbtrfsutil::set_subvolume_read_only(path, readonly)
                .map_err(|e| FsError::btrfs("set read-only flag of", path, e)),
            Backend::Directory => Ok(()),
        }
    }
}

/// Exit status and the last lines of stderr of a failed tool.
pub(crate) fn tool_message(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = err.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!("{}: {}", out.status, tail.join(" / "))
}
