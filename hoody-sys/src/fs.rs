//! File systems and descriptors: what a file system is and how big, the file creation mask,
//! descriptor flags.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} contains a NUL byte", path.display()),
        )
    })
}

/// `statfs(2)`'s `f_type`: the magic number of the file system holding `path`
/// (`BTRFS_SUPER_MAGIC`, `CGROUP2_SUPER_MAGIC`, ...).
pub fn fs_type(path: &Path) -> io::Result<i64> {
    let c = cpath(path)?;
    // SAFETY: statfs is plain data; zeroed is a valid buffer for statfs to fill.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string and st a writable statfs.
    if unsafe { libc::statfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64)
}

/// The size of the file system holding a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsSize {
    /// Its size, bytes.
    pub total: u64,
    /// What an unprivileged user may still write, bytes.
    pub available: u64,
}

/// `statvfs(3)` of the file system holding `path`.
pub fn size(path: &Path) -> io::Result<FsSize> {
    let c = cpath(path)?;
    // SAFETY: statvfs is plain data; zeroed is a valid buffer for statvfs to fill.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is a valid C string and st a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(FsSize {
        total: st.f_blocks * st.f_frsize,
        available: st.f_bavail * st.f_frsize,
    })
}

/// Mounts a tmpfs of `size` bytes (mode `mode` at its root) at `target`, named `source` in the
/// mount table.
pub fn mount_tmpfs(source: &str, target: &Path, size: u64, mode: u32) -> io::Result<()> {
    let src = CString::new(source).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let tgt = cpath(target)?;
    let data = CString::new(format!("size={size},mode={mode:o}"))
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: every pointer is a valid NUL-terminated string that outlives the call.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `path` is itself a mount point (listed in `/proc/self/mountinfo`, where a space
/// in a path is written `\040`).
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(path) else {
        return false;
    };
    let target = canon.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(target.as_str()))
}

/// Bytes the files under `path` take on disk (or in memory, on a tmpfs): the sum of their
/// allocated blocks, not following symbolic links nor crossing into other file systems. A
/// missing path takes none.
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(top) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let dev = top.dev();
    let mut total = top.blocks() * 512;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != dev {
                continue;
            }
            total += m.blocks() * 512;
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}

/// `umask(2)`: sets the calling process's file creation mask and returns the previous one.
/// The mask is per process: set it around work no other thread creates files during.
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: plain syscall with an integer argument; cannot fail.
    unsafe { libc::umask(mask) }
}

/// Sets `O_NONBLOCK` on the open file behind `fd`.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl F_GETFL on a descriptor we borrow; no memory is passed.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: F_SETFL with an int argument on a borrowed descriptor.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets or clears `FD_CLOEXEC` on `fd`.
pub fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let flag = if on { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: F_SETFD with an int argument on a borrowed descriptor.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, flag) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd` is an open descriptor of this process.
pub fn is_open(fd: std::os::fd::RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags; any integer is a valid argument.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn sizes_types_and_flags() {
        let dir = tempfile::tempdir().unwrap();
        let s = size(dir.path()).unwrap();
        assert!(s.total > 0 && s.available <= s.total);
        assert!(fs_type(dir.path()).unwrap() != 0);
        assert_eq!(
            fs_type(Path::new("/nonexistent-hoodytest"))
                .unwrap_err()
                .kind(),
            io::ErrorKind::NotFound
        );
        let f = std::fs::File::open(dir.path()).unwrap();
        set_nonblocking(f.as_fd()).unwrap();
        set_cloexec(f.as_fd(), true).unwrap();
        assert!(is_open(f.as_raw_fd()));
        assert!(!is_open(-1));
        let old = umask(0o022);
        assert_eq!(umask(old), 0o022);
    }
}
