//! The crate error: one enum per concern ([`SpecError`], [`CgroupError`](crate::cgroup::CgroupError),
//! [`SeccompError`](crate::seccomp::SeccompError), [`ChildError`]) rolled up into [`Error`].

use std::fmt;
use std::path::PathBuf;

use crate::cgroup::CgroupError;
use crate::seccomp::SeccompError;
use crate::spec::SpecError;

/// Result alias for hoody-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while creating, entering or managing a container.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller is not root; creating namespaces and cgroups needs it.
    #[error("{action} needs root (effective uid 0), but this process runs as uid {euid}")]
    NotRoot {
        /// What was attempted.
        action: &'static str,
        /// The caller's effective uid.
        euid: u32,
    },
    /// The spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The root filesystem is missing or not a directory.
    #[error("rootfs {path}: {reason}")]
    Rootfs {
        /// The rootfs path from the spec.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The seccomp profile could not be compiled.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// A setup step inside the new container failed before `execve` (or `execve` itself).
    #[error(transparent)]
    Child(#[from] ChildError),
    /// A host-side system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the resource.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The container has already exited and been reaped.
    #[error("container {id} has already exited")]
    Exited {
        /// The container id.
        id: String,
    },
}

impl Error {
    /// The exit code a shell-like front end should use for this error: 127 when the command
    /// was not found, 126 when it could not be executed, 125 for every other failure.
    pub fn shell_exit_code(&self) -> u8 {
        match self {
            Error::Child(c) if c.is_exec && c.errno == libc::ENOENT => 127,
            Error::Child(c) if c.is_exec => 126,
            _ => 125,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn errno(context: impl Into<String>, errno: i32) -> Self {
        Error::Io {
            context: context.into(),
            source: std::io::Error::from_raw_os_error(errno),
        }
    }
}

/// A failure inside the container's setup, reported by the child over the error pipe.
///
/// Displays as "`<what>` in container: `<ERRNO>` (`<description>`)", for example
/// `exec /bin/nope in container: ENOENT (No such file or directory)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildError {
    /// The setup stage, naming the resource (`"exec /bin/nope"`, `"pivot_root into /x"`).
    pub what: String,
    /// The errno the failing syscall returned.
    pub errno: i32,
    /// The failing step was `execve` of the command.
    pub is_exec: bool,
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in container: {}",
            self.what,
            ErrnoDisplay(self.errno)
        )
    }
}

impl std::error::Error for ChildError {}

/// Formats an errno as its symbolic name followed by its description: `ENOENT (No such file
/// or directory)`.
#[derive(Debug, Clone, Copy)]
pub struct ErrnoDisplay(pub i32);

impl fmt::Display for ErrnoDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let desc = std::io::Error::from_raw_os_error(self.0).to_string();
        let desc = desc.split(" (os error").next().unwrap_or(&desc).to_string();
        match errno_name(self.0) {
            Some(name) => write!(f, "{name} ({desc})"),
            None => write!(f, "errno {} ({desc})", self.0),
        }
    }
}

/// The symbolic name of the errno values container setup can plausibly hit.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENXIO => "ENXIO",
        libc::E2BIG => "E2BIG",
        libc::ENOEXEC => "ENOEXEC",
        libc::EBADF => "EBADF",
        libc::ECHILD => "ECHILD",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EXDEV => "EXDEV",
        libc::ENODEV => "ENODEV",
        libc::ENOTDIR => "ENOTDIR",
        libc::EISDIR => "EISDIR",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOTTY => "ENOTTY",
        libc::ETXTBSY => "ETXTBSY",
        libc::EFBIG => "EFBIG",
        libc::ENOSPC => "ENOSPC",
        libc::EROFS => "EROFS",
        libc::EMLINK => "EMLINK",
        libc::EPIPE => "EPIPE",
        libc::ERANGE => "ERANGE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ELOOP => "ELOOP",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EOVERFLOW => "EOVERFLOW",
        libc::ELIBBAD => "ELIBBAD",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn child_error_names_stage_path_and_errno() {
        let e = ChildError {
            what: "exec /bin/nope".into(),
            errno: libc::ENOENT,
            is_exec: true,
        };
        assert_eq!(
            e.to_string(),
            "exec /bin/nope in container: ENOENT (No such file or directory)"
        );
        assert_eq!(Error::Child(e).shell_exit_code(), 127);
    }

    #[test]
    fn unknown_errno_still_displays() {
        assert!(ErrnoDisplay(4000).to_string().starts_with("errno 4000"));
    }
}
