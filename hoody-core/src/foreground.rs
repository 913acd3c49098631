//! Running a container in the foreground, the way `hoody run` does: the caller's stdio, its
//! termination signals forwarded to the container, and everything cleaned up at the end.
//!
//! SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH are blocked in the calling
//! thread and read from a signalfd while the container runs; each is forwarded to PID 1. PID 1
//! of a pid namespace ignores signals it installed no handler for, so a second SIGINT or
//! SIGTERM kills every process of the container (like pressing Ctrl-C twice).

use std::os::fd::{AsRawFd, OwnedFd};

use crate::cgroup::CgroupConfig;
use crate::container::{ExitStatus, spawn_with};
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;
use crate::sys;

const FORWARDED: &[libc::c_int] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// Blocks signals in the calling thread and restores the previous mask on drop.
struct BlockedSignals {
    old: libc::sigset_t,
    fd: OwnedFd,
}

impl BlockedSignals {
    fn new() -> Result<Self> {
        let old = sys::block_signals(FORWARDED)
            .map_err(|e| Error::errno("block signals for forwarding", e))?;
        match sys::signalfd(FORWARDED) {
            Ok(fd) => Ok(BlockedSignals { old, fd }),
            Err(e) => {
                sys::restore_signal_mask(&old);
                Err(Error::errno("create a signalfd", e))
            }
        }
    }

    /// Reads one pending signal number.
    fn read(&self) -> Option<i32> {
        sys::read_signal(self.fd.as_raw_fd())
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        sys::restore_signal_mask(&self.old);
    }
}

/// Spawns `spec`, forwards signals to it until PID 1 exits, then kills what is left and
/// removes the cgroup. Returns PID 1's exit status.
pub fn run(spec: &ContainerSpec) -> Result<ExitStatus> {
    run_with(spec, &CgroupConfig::default())
}

/// [`run`] with an explicit cgroup location.
pub fn run_with(spec: &ContainerSpec, cgroups: &CgroupConfig) -> Result<ExitStatus> {
    let signals = BlockedSignals::new()?;
    let mut container = spawn_with(spec, cgroups)?;
    let mut interrupts = 0;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: container.pidfd().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: signals.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        sys::poll(&mut fds, -1).map_err(|e| Error::errno("poll the container and signals", e))?;
        if fds[0].revents != 0 {
            break;
        }
        if fds[1].revents != 0
            && let Some(sig) = signals.read()
        {
            if sig == libc::SIGINT || sig == libc::SIGTERM {
                interrupts += 1;
            }
            if interrupts >= 2 {
                let _ = container.kill_all();
            } else {
                let _ = container.signal(sig);
            }
        }
    }
    let status = container.wait()?;
    container.destroy()?;
    drop(signals);
    Ok(status)
}
