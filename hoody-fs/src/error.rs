//! hoody-fs errors. Every variant names the pool path, image, container or snapshot concerned.

use std::path::PathBuf;

/// Result alias for hoody-fs.
pub type Result<T, E = FsError> = std::result::Result<T, E>;

/// What can go wrong in a storage operation.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    /// A name is not acceptable as an image, container or snapshot name.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// image, container or snapshot.
        kind: &'static str,
        /// The name given.
        name: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The named object does not exist.
    #[error("{kind} {name:?} not found in pool {pool}")]
    NotFound {
        /// image, container or snapshot.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The pool root.
        pool: PathBuf,
    },
    /// The named object already exists.
    #[error("{kind} {name:?} already exists in pool {pool}")]
    AlreadyExists {
        /// image, container or snapshot.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The pool root.
        pool: PathBuf,
    },
    /// The image is used by containers and cannot be removed.
    #[error("image {image:?} is used by container(s) {containers}; remove them first")]
    ImageInUse {
        /// The image.
        image: String,
        /// The containers using it, comma-separated.
        containers: String,
    },
    /// The path is not a hoody pool.
    #[error("{path} is not a hoody pool ({reason}); run `hoody pool init --path {path}`")]
    NotAPool {
        /// The path.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// A daemon serves the pool: it is the pool's one writer while it runs.
    #[error(
        "the pool {pool} is served by {holder}, its one writer while it runs: make this change through it (`hoody containers ...`), or stop it first"
    )]
    Served {
        /// The pool.
        pool: PathBuf,
        /// The daemon.
        holder: crate::lock::Holder,
    },
    /// Another process holds the pool's write lock.
    #[error("the pool {pool} is being changed by {holder}; try again when it has finished")]
    Busy {
        /// The pool.
        pool: PathBuf,
        /// Who holds it.
        holder: String,
    },
    /// A read-only handle was asked to change the pool.
    #[error("the pool {pool} was opened read-only; changing it needs `Pool::open`")]
    ReadOnly {
        /// The pool.
        pool: PathBuf,
    },
    /// The operation needs the btrfs backend.
    #[error("{operation} needs a btrfs pool, but {pool} uses the directory backend")]
    NeedsBtrfs {
        /// What was attempted.
        operation: &'static str,
        /// The pool root.
        pool: PathBuf,
    },
    /// A btrfs ioctl failed.
    #[error("btrfs: {action} {path}: {message}")]
    Btrfs {
        /// What was attempted.
        action: &'static str,
        /// The subvolume or directory.
        path: PathBuf,
        /// libbtrfsutil's message (with the errno).
        message: String,
    },
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An external tool (mkfs.btrfs, btrfs send/receive, tar, debootstrap) failed.
    #[error("{tool} failed: {message}")]
    Tool {
        /// The command.
        tool: String,
        /// Its exit status and the end of its stderr.
        message: String,
    },
    /// A send/receive stream is malformed.
    #[error("invalid hoody stream: {0}")]
    Stream(String),
}

impl FsError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        FsError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn btrfs(
        action: &'static str,
        path: impl Into<PathBuf>,
        e: libbtrfsutil::Error,
    ) -> Self {
        FsError::Btrfs {
            action,
            path: path.into(),
            message: format!("{e} ({})", e.os_error()),
        }
    }
}
