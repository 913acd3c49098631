//! Host devices passed into a machine: `/dev/kvm` for machines with `kvm` (reference §1.1:
//! run VMs inside the container).
//!
//! A machine's root is an unprivileged uid on the host, and the host's `/dev/kvm` is usually
//! root's alone (mode 0600 without udev's rules, 0660 group `kvm` with them): binding it in
//! would give root inside nothing it may open. So the monitor makes the machine a node of its
//! own for the same device (character 10:232), owned by the machine's root, mode 0666 like
//! systemd's default for `/dev/kvm`, on a small tmpfs of its own (the host's `/run` is
//! mounted `nodev`, where no device node opens) whose root belongs to the machine's root,
//! mode 0700, so that no other host user reaches it. The container binds it at `/dev/kvm` while it is set up; right after, the monitor
//! detaches the tmpfs from the host: the node then lives only inside the machine. It is made
//! again at every boot.
//!
//! The kernel's device cgroup is not in the way: hoody attaches no device program to a
//! machine's cgroup (cgroup v2 allows every device without one).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::MachineError;
use crate::config::MachineConfig;

/// The host's KVM device.
pub const KVM: &str = "/dev/kvm";
const KVM_MAJOR: u32 = 10;
const KVM_MINOR: u32 = 232;

/// Whether this host has `/dev/kvm` to pass through.
pub fn host_has_kvm() -> bool {
    std::fs::metadata(KVM).is_ok_and(|m| {
        m.file_type().is_char_device() && m.rdev() == libc::makedev(KVM_MAJOR, KVM_MINOR)
    })
}

/// Makes the machine's `/dev/kvm` node on a fresh tmpfs at `dir` and returns its path; the
/// caller binds it in and then calls [`release`].
pub fn prepare_kvm(cfg: &MachineConfig, dir: &Path) -> Result<PathBuf, MachineError> {
    let fail = |message: String| MachineError::Start {
        name: cfg.name.clone(),
        message,
    };
    if !host_has_kvm() {
        return Err(fail(format!(
            "the machine has kvm but this host has no {KVM} (no hardware virtualisation, or the kvm module is not loaded)"
        )));
    }
    release(dir);
    std::fs::create_dir_all(dir).map_err(|e| fail(format!("create {}: {e}", dir.display())))?;
    let c_dir = cpath(dir).map_err(|e| fail(e.to_string()))?;
    // A tmpfs without MS_NODEV (device nodes on it open), whose root only the machine's root
    // may enter: the container binds the node as that uid.
    let owner = cfg.id_range_start.unwrap_or(0);
    let opts = CString::new(format!("size=16k,mode=0700,uid={owner},gid={owner}"))
        .map_err(|e| fail(e.to_string()))?;
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::mount(
            c"hoody-dev".as_ptr(),
            c_dir.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NOEXEC,
            opts.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(fail(format!(
            "mount a tmpfs for device nodes on {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        )));
    }
    let node = dir.join("kvm");
    let c_node = cpath(&node).map_err(|e| fail(e.to_string()))?;
    // SAFETY: a valid path; mknod creates a character device node, no memory is shared.
    let r = unsafe {
        libc::mknod(
            c_node.as_ptr(),
            libc::S_IFCHR | 0o666,
            libc::makedev(KVM_MAJOR, KVM_MINOR),
        )
    };
    let made = if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
    .and_then(|()| {
        // The umask may have cut the mode: set it.
        std::fs::set_permissions(&node, std::os::unix::fs::PermissionsExt::from_mode(0o666))
    })
    .and_then(|()| std::os::unix::fs::chown(&node, Some(owner), Some(owner)));
    if let Err(e) = made {
        release(dir);
        return Err(fail(format!("make {}: {e}", node.display())));
    }
    Ok(node)
}

/// Detaches the device tmpfs at `dir` from the host (the machine keeps its bind) and removes
/// the directory. Nothing to do when there is none.
pub fn release(dir: &Path) {
    if let Ok(c) = cpath(dir) {
        // SAFETY: a valid path; a lazy unmount of a mount this process made (EINVAL when
        // `dir` is no mount point, which is fine).
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = std::fs::remove_dir(dir);
}

fn cpath(p: &Path) -> std::io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in a path"))
}
