//! Named network namespaces (files under `netns_dir`, bind mounts of a namespace, as
//! `ip netns add` makes them) and entering a namespace from the current thread.
//!
//! Only the calling *thread* ever changes namespace, and [`NetnsGuard`] always brings it
//! back; a netlink socket opened while inside stays bound to that namespace afterwards,
//! which is how the container side is configured without forking.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::error::{NetError, Result};

const SELF_NET: &str = "/proc/thread-self/ns/net";

/// The first port only privileged processes may bind, per network namespace.
const UNPRIVILEGED_PORT_START: &str = "/proc/sys/net/ipv4/ip_unprivileged_port_start";

/// The calling thread is inside another network namespace until this is dropped.
#[derive(Debug)]
pub(crate) struct NetnsGuard {
    original: File,
}

impl NetnsGuard {
    /// Moves the calling thread into the namespace `ns`.
    pub(crate) fn enter(ns: BorrowedFd<'_>, what: &Path) -> Result<Self> {
        let original =
            File::open(SELF_NET).map_err(|e| NetError::io("open", PathBuf::from(SELF_NET), e))?;
        setns(ns, CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetError::sys(format!("enter network namespace {}", what.display()), e))?;
        Ok(NetnsGuard { original })
    }

    /// Makes the calling thread a member of a brand-new network namespace.
    fn unshare() -> Result<Self> {
        let original =
            File::open(SELF_NET).map_err(|e| NetError::io("open", PathBuf::from(SELF_NET), e))?;
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetError::sys("unshare a new network namespace", e))?;
        Ok(NetnsGuard { original })
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(self.original.as_fd(), CloneFlags::CLONE_NEWNET) {
            // A thread left in a container's namespace would configure the wrong network
            // from here on; returning to our own namespace as root cannot fail in practice.
            eprintln!("hoody-net: cannot return to the original network namespace: {e}");
            std::process::abort();
        }
    }
}

/// Makes `dir` a shared mount point (as iproute2 does for /run/netns) so namespace files
/// bound into it are seen by `ip netns` and propagate to mount namespaces created later.
pub(crate) fn prepare_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| NetError::io("create", dir, e))?;
    let shared = || {
        mount(
            None::<&str>,
            dir,
            None::<&str>,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        )
    };
    if shared().is_ok() && hoody_sys::fs::is_mount_point(dir) {
        return Ok(());
    }
    mount(
        Some(dir),
        dir,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| NetError::sys(format!("bind {} onto itself", dir.display()), e))?;
    shared().map_err(|e| NetError::sys(format!("make {} shared", dir.display()), e))
}

/// Creates a new network namespace and binds it at `path` (which must not exist).
pub(crate) fn create(path: &Path) -> Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| NetError::io("create network namespace file", path, e))?;
    let bound = (|| {
        let _guard = NetnsGuard::unshare()?;
        // A container's root lives in a user namespace of its own, which does not own this
        // network namespace, so it lacks CAP_NET_BIND_SERVICE here: let every port be bound
        // (as Docker does for its containers), or the Kit's terminal (76) and sqlite (5)
        // could not listen. The namespace holds only the container's own addresses.
        std::fs::write(UNPRIVILEGED_PORT_START, "0")
            .map_err(|e| NetError::io("write", PathBuf::from(UNPRIVILEGED_PORT_START), e))?;
        mount(
            Some(SELF_NET),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| NetError::sys(format!("bind network namespace at {}", path.display()), e))
    })();
    if let Err(e) = bound {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(())
}

/// Unmounts and removes a namespace file; a missing file is not an error.
pub(crate) fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => {
            return Err(NetError::sys(
                format!("unmount network namespace {}", path.display()),
                e,
            ));
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetError::io("remove network namespace file", path, e)),
    }
}

/// Opens a namespace file.
pub(crate) fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| NetError::io("open network namespace", path, e))
}
