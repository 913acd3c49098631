//! # hoody-core: the isolation engine
//!
//! Turns a [`ContainerSpec`] into an isolated process tree, without LXC, runc or any other
//! runtime: `clone3` into new namespaces (mount, pid, uts, ipc, net, cgroup, and user for
//! unprivileged containers), a per-container cgroup with memory, CPU and pid limits,
//! `pivot_root` into the rootfs with the standard `/proc`, `/sys` and `/dev`, masked and
//! read-only paths, a dropped capability set and a seccomp filter.
//!
//! ```no_run
//! use hoody_core::{spawn, ContainerSpec};
//!
//! let spec = ContainerSpec::builder("/var/lib/hoody/containers/demo")
//!     .args(["/bin/sh", "-c", "echo $$; hostname"])
//!     .hostname("demo")
//!     .memory_limit(256 << 20)
//!     .build()?;
//! let mut container = spawn(&spec)?;
//! let status = container.wait()?;
//! container.destroy()?;
//! assert!(status.success());
//! # Ok::<(), hoody_core::Error>(())
//! ```
//!
//! Modules, one concern each: [`spec`] (the spec and its builder), [`cgroup`] (v1, v2 and
//! hybrid hosts behind one trait), [`caps`], [`seccomp`], `rootfs` (the mount plan), `process`
//! (clone3, the child's setup, the sync protocol), [`container`] (the running container
//! handle and exec), `sys` (every raw syscall in one place: elsewhere only the calls of its
//! `clone3` and `execve`, whose contracts are the caller's, are `unsafe`) and [`error`].
//!
//! Failures inside the new container are reported as typed errors naming the stage, the
//! resource and the errno, e.g. `exec /bin/nope in container: ENOENT (No such file or
//! directory)`, never as a bare exit code.

pub mod caps;
pub mod cgroup;
pub mod container;
pub mod error;
pub mod foreground;
mod idmap;
mod process;
mod rootfs;
pub mod seccomp;
pub mod spec;
mod sys;

pub use caps::CapabilitySet;
pub use cgroup::{CgroupConfig, CgroupManager, CgroupMode, Stats};
pub use container::{
    Container, ExecSpec, ExitStatus, Process, ProcessIo, exec_in, spawn, spawn_with,
};
pub use error::{ChildError, Error, Result};
pub use rootfs::resolve_in_root;
pub use seccomp::SeccompProfile;
pub use spec::{
    ContainerSpec, ContainerSpecBuilder, CpuQuota, IdMap, Limits, Mount, MountKind, Namespaces,
    Stdio,
};
