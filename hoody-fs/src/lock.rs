//! The pool's one door: who may change a pool, and when.
//!
//! A pool has one writer at a time. Changing a pool takes `<root>/pool.lock` exclusively
//! (`flock`, released when the holder closes it or dies, so a crash leaves no stale lock) and
//! records in it who holds it ([`Holder`]). Only a writer runs [`Pool::open`]'s repair (which
//! deletes `staging/` and every tree without metadata): no writer can sweep away the staging
//! tree of another's create.
//!
//! There are three ways to open a pool:
//!
//! | opener | lock | repair | may change the pool |
//! |---|---|---|---|
//! | [`Pool::serve`] (hoodyd) | exclusive for the handle's life, recorded as served | yes | yes |
//! | [`Pool::open`] (a direct `hoody` verb that changes things) | exclusive for the handle's life | yes | yes |
//! | [`Pool::open_read_only`] (`ls`, `status`, `du`, exports) | none | no | no: changing methods return [`FsError::ReadOnly`] |
//!
//! While a daemon serves a pool, [`Pool::open`] refuses at once with [`FsError::Served`],
//! naming the daemon: everything in the pool is its to change, so a direct `hoody machine rm`
//! could only leave its record pointing at nothing. Two direct writers queue: the second waits
//! (up to [`WRITER_WAIT`]) for the first. Readers never wait and never block anyone: what they
//! list is what has metadata, and objects appear by an atomic rename, so a reader sees each
//! object whole or not at all.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hoody_sys::lock::{FileLock, Mode};
use serde::{Deserialize, Serialize};

use crate::error::{FsError, Result};
use crate::pool::Pool;

/// The lock file under a pool's root.
pub const LOCK_FILE: &str = "pool.lock";

/// How long a direct writer waits for another direct writer before giving up.
pub const WRITER_WAIT: Duration = Duration::from_secs(120);

/// How long a writer waits when the holder on record is its own process.
const SELF_WAIT: Duration = Duration::from_secs(5);

/// Who holds a pool's write lock (the lock file's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Its process.
    pub pid: u32,
    /// Its program (`hoodyd`, `hoody`, or an embedder's).
    pub program: String,
    /// Where a daemon serving the pool answers (`unix:/run/hoody/hoodyd.sock`); `None` for a
    /// direct writer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serves: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (pid {}", self.program, self.pid)?;
        if let Some(s) = &self.serves {
            write!(f, ", serving at {s}")?;
        }
        write!(f, ")")
    }
}

impl Holder {
    fn me(serves: Option<String>) -> Holder {
        let program = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown".into());
        Holder {
            pid: std::process::id(),
            program,
            serves,
        }
    }
}

/// A held write lock on a pool (shared by the clones of its [`Pool`] handle).
#[derive(Debug)]
pub(crate) struct WriteLock {
    _lock: FileLock,
}

fn lock_path(root: &Path) -> PathBuf {
    root.join(LOCK_FILE)
}

/// Who holds `root`'s lock now, if it says (a holder that is still writing its record, or
/// none, reads as `None`).
pub fn holder(root: &Path) -> Option<Holder> {
    let mut s = String::new();
    std::fs::File::open(lock_path(root))
        .and_then(|mut f| f.read_to_string(&mut s))
        .ok()?;
    serde_json::from_str(&s).ok()
}

fn record(lock: &FileLock, who: &Holder) -> Result<()> {
    let path = lock.path();
    let mut f = lock.file();
    let data = serde_json::to_vec(who).map_err(|e| FsError::io("serialize", path, e.into()))?;
    f.set_len(0)
        .and_then(|()| f.rewind())
        .and_then(|_| f.write_all(&data))
        .map_err(|e| FsError::io("record the holder in", path, e))
}

/// Takes `root`'s write lock as a direct writer (`serves: None`) or a daemon.
pub(crate) fn acquire(root: &Path, serves: Option<String>) -> Result<Arc<WriteLock>> {
    let path = lock_path(root);
    let try_once =
        || FileLock::try_acquire(&path, Mode::Exclusive).map_err(|e| FsError::io("lock", &path, e));
    let started = Instant::now();
    let lock = loop {
        if let Some(l) = try_once()? {
            break l;
        }
        let other = holder(root);
        if let Some(h) = other.as_ref().filter(|h| h.serves.is_some()) {
            return Err(FsError::Served {
                pool: root.to_path_buf(),
                holder: h.clone(),
            });
        }
        let busy = || FsError::Busy {
            pool: root.to_path_buf(),
            holder: other
                .as_ref()
                .map_or_else(|| "another process".into(), |h| h.to_string()),
        };
        // Our own process: a handle it still holds (waiting would wait for itself), or one
        // it just dropped while a child forked by another thread had not yet exec'd (and so
        // closed its inherited copy): worth a short wait, not a long one. Otherwise a daemon
        // does not queue behind a direct command: it says who is in the way.
        let ours = other.as_ref().is_some_and(|h| h.pid == std::process::id());
        let limit = match (ours, serves.is_some()) {
            (true, _) => SELF_WAIT,
            (false, true) => return Err(busy()),
            (false, false) => WRITER_WAIT,
        };
        if started.elapsed() >= limit {
            return Err(busy());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    record(&lock, &Holder::me(serves))?;
    Ok(Arc::new(WriteLock { _lock: lock }))
}

impl Pool {
    /// Opens `root` as the daemon that serves it (hoodyd): the one writer while the returned
    /// handle (or a clone) lives; direct writers are refused with [`FsError::Served`] naming
    /// `serves` (where the daemon answers). Fails with [`FsError::Busy`] or
    /// [`FsError::Served`] when another process holds the pool.
    pub fn serve(root: impl Into<PathBuf>, serves: &str) -> Result<Pool> {
        Pool::open_with(root.into(), Some(serves.to_string()))
    }

    /// Whether this handle may change the pool (`Err(`[`FsError::ReadOnly`]`)` if not).
    pub fn check_writable(&self) -> Result<()> {
        if self.is_writable() {
            Ok(())
        } else {
            Err(FsError::ReadOnly {
                pool: self.root().to_path_buf(),
            })
        }
    }
}
