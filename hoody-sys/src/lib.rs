//! # hoody-sys: the system interface the hoody crates share
//!
//! The bottom of the crate graph: it depends on no other hoody crate, and every other crate
//! (the host side, the proxy, the Kit) may depend on it. Each wrapper here is a thin, safe
//! function over one system call that returns an owned handle or an `io::Result`, so that no
//! caller writes `unsafe { libc::... }` for a job another crate already does, and no return
//! value is dropped on the floor:
//!
//! * [`random`]: bytes from the kernel's random source (`getrandom(2)`), and hex strings of them;
//! * [`process`]: signals (`kill`, a process group, the process itself), the effective uid,
//!   the open-file limit, SIGPIPE's default;
//! * [`fs`]: a file system's type and size (`statfs`, `statvfs`), the file creation mask,
//!   descriptor flags (non-blocking, close-on-exec);
//! * [`lock`]: advisory whole-file locks (`flock(2)`), shared or exclusive, waiting or not,
//!   released when the [`lock::FileLock`] is dropped;
//! * [`pty`]: pseudo-terminal pairs as owned descriptors;
//! * [`time`]: UTC timestamps without a date library (RFC 3339, HTTP dates, snapshot names).
//!
//! The isolation engine's own system calls (clone3, pivot_root, the mount API, ...) stay in
//! `hoody_core::sys`: many of them run between `clone3` and `execve`, where nothing may
//! allocate, so they return a bare errno instead of an `io::Error`; they are not shared with
//! any other crate.

pub mod fs;
pub mod lock;
pub mod process;
pub mod pty;
pub mod random;
pub mod time;
