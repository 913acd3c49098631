//! Advisory whole-file locks (`flock(2)`).
//!
//! A `flock` lock belongs to the open file description: it is released when the last
//! descriptor of that open file is closed, including when the process dies, so a crashed
//! holder never leaves a stale lock behind. Two opens of the same path in one process are two
//! descriptions and exclude each other like two processes would.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Which lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Many holders at once, none exclusive (`LOCK_SH`).
    Shared,
    /// One holder, no shared ones (`LOCK_EX`).
    Exclusive,
}

impl Mode {
    fn op(self) -> libc::c_int {
        match self {
            Mode::Shared => libc::LOCK_SH,
            Mode::Exclusive => libc::LOCK_EX,
        }
    }
}

fn flock(file: &File, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor `file` owns; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Takes `mode` on `file`, waiting while another holder conflicts.
pub fn lock(file: &File, mode: Mode) -> io::Result<()> {
    flock(file, mode.op())
}

/// Takes `mode` on `file` if nobody holds a conflicting lock: `Ok(false)` when someone does.
pub fn try_lock(file: &File, mode: Mode) -> io::Result<bool> {
    match flock(file, mode.op() | libc::LOCK_NB) {
        Ok(()) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases this description's lock on `file`.
pub fn unlock(file: &File) -> io::Result<()> {
    flock(file, libc::LOCK_UN)
}

/// A lock on a file, held until dropped (closing the file releases it).
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
    mode: Mode,
}

fn open_lock_file(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
}

impl FileLock {
    /// Opens (creating it, mode 0600) `path` and takes `mode` on it, waiting for it.
    pub fn acquire(path: impl Into<PathBuf>, mode: Mode) -> io::Result<FileLock> {
        let path = path.into();
        let file = open_lock_file(&path)?;
        lock(&file, mode)?;
        Ok(FileLock { file, path, mode })
    }

    /// Like [`FileLock::acquire`] without waiting: `Ok(None)` when another holder conflicts.
    pub fn try_acquire(path: impl Into<PathBuf>, mode: Mode) -> io::Result<Option<FileLock>> {
        let path = path.into();
        let file = open_lock_file(&path)?;
        Ok(try_lock(&file, mode)?.then_some(FileLock { file, path, mode }))
    }

    /// The locked file (to read or write what the holder records in it).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The locked file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The mode held.
    pub fn mode(&self) -> Mode {
        self.mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_and_drop_releases() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let a = FileLock::try_acquire(&p, Mode::Exclusive).unwrap().unwrap();
        assert!(
            FileLock::try_acquire(&p, Mode::Exclusive)
                .unwrap()
                .is_none()
        );
        assert!(FileLock::try_acquire(&p, Mode::Shared).unwrap().is_none());
        drop(a);
        let s1 = FileLock::try_acquire(&p, Mode::Shared).unwrap().unwrap();
        let s2 = FileLock::try_acquire(&p, Mode::Shared).unwrap().unwrap();
        assert!(
            FileLock::try_acquire(&p, Mode::Exclusive)
                .unwrap()
                .is_none()
        );
        drop((s1, s2));
        let e = FileLock::acquire(&p, Mode::Exclusive).unwrap();
        assert_eq!(e.mode(), Mode::Exclusive);
        assert_eq!(e.path(), p);
    }

    #[test]
    fn missing_directory_is_an_error() {
        let e = FileLock::acquire("/nonexistent-hoodytest/x/lock", Mode::Shared).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }
}
