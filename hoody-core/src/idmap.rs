//! Idmapped root file systems: the container's rootfs seen through its id map.
//!
//! A user-namespaced container's root is an unprivileged uid on the host, so it could not own
//! a rootfs whose files belong to uid 0 on disk. Instead of chowning every file to the id
//! range (slow, and it makes snapshots non-portable), hoody mounts the rootfs *idmapped*: an
//! `open_tree` clone of it with `MOUNT_ATTR_IDMAP` set to a user namespace with the
//! container's map. Through that mount, on-disk uid 0 is the range's first host id, i.e. root
//! inside; what root inside creates is stored as uid 0 on disk.
//!
//! The idmap needs a user namespace *before* the container exists, so a throwaway process is
//! cloned into a new user namespace with the same maps just to provide the namespace fd; the
//! mount keeps the namespace alive afterwards. The mount is attached under
//! `/run/hoody/idmap/<id>` for the clone to copy into the container's mount namespace, and
//! detached from the host again as soon as the container has its copy.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::spec::IdMap;
use crate::sys::{self, CloneArgs, Forked};

/// Where idmapped rootfs views are attached while a container starts.
pub const IDMAP_DIR: &str = "/run/hoody/idmap";

/// An attached idmapped view of a rootfs; detached and removed on drop.
#[derive(Debug)]
pub(crate) struct IdmappedRoot {
    path: PathBuf,
}

impl IdmappedRoot {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for IdmappedRoot {
    fn drop(&mut self) {
        if let Ok(c) = CString::new(self.path.as_os_str().as_bytes()) {
            let _ = sys::umount2(&c, libc::MNT_DETACH);
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

fn map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

/// A user namespace with these maps, as an fd.
pub(crate) fn user_namespace(uid_map: &[IdMap], gid_map: &[IdMap]) -> Result<File> {
    let (r, w) = sys::pipe_cloexec().map_err(|e| Error::errno("create a pipe", e))?;
    let mut args = CloneArgs {
        flags: libc::CLONE_NEWUSER as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    // SAFETY: the child only reads from a pipe and exits: no allocation, no locks.
    let forked = unsafe { sys::clone3(&mut args) }
        .map_err(|e| Error::errno("clone a process into a new user namespace", e))?;
    let (pid, pidfd) = match forked {
        Forked::Child => {
            // Our copy of the write end would keep the pipe open forever.
            sys::close(w.as_raw_fd());
            let mut b = [0u8; 1];
            let _ = sys::read_full(r.as_raw_fd(), &mut b);
            sys::exit_immediately(0)
        }
        Forked::Parent(pid, pidfd) => (pid, pidfd),
    };
    drop(r);
    let result = (|| {
        for (file, maps) in [("uid_map", uid_map), ("gid_map", gid_map)] {
            let path = format!("/proc/{pid}/{file}");
            std::fs::write(&path, map_text(maps))
                .map_err(|e| Error::io(format!("write {path}"), e))?;
        }
        let ns = format!("/proc/{pid}/ns/user");
        File::open(&ns).map_err(|e| Error::io(format!("open {ns}"), e))
    })();
    drop(w);
    let _ = sys::waitid_pidfd(pidfd.as_raw_fd(), false);
    result
}

/// Attaches an idmapped view of `rootfs` at `/run/hoody/idmap/<id>`.
pub(crate) fn idmapped_root(
    rootfs: &Path,
    id: &str,
    uid_map: &[IdMap],
    gid_map: &[IdMap],
) -> Result<IdmappedRoot> {
    let userns = user_namespace(uid_map, gid_map)?;
    let src = CString::new(rootfs.as_os_str().as_bytes())
        .map_err(|_| Error::io("idmap rootfs", std::io::ErrorKind::InvalidInput.into()))?;
    let tree = sys::open_tree_clone(&src)
        .map_err(|e| Error::errno(format!("open_tree {}", rootfs.display()), e))?;
    sys::idmap_mount(tree.as_raw_fd(), userns.as_raw_fd()).map_err(|e| {
        Error::errno(
            format!(
                "idmap the mount of {} (does its file system support idmapped mounts?)",
                rootfs.display()
            ),
            e,
        )
    })?;
    let path = Path::new(IDMAP_DIR).join(id);
    std::fs::create_dir_all(&path)
        .map_err(|e| Error::io(format!("create {}", path.display()), e))?;
    let target = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::io("idmap rootfs", std::io::ErrorKind::InvalidInput.into()))?;
    if let Err(e) = sys::move_mount_to(tree.as_raw_fd(), &target) {
        let _ = std::fs::remove_dir(&path);
        return Err(Error::errno(
            format!("attach the idmapped rootfs at {}", path.display()),
            e,
        ));
    }
    Ok(IdmappedRoot { path })
}
