//! Running a container in the foreground, the way `hoody run` does: the caller's stdio, its
//! termination signals forwarded to the container, and everything cleaned up at the end.
//!
//! SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH are blocked in the calling
//! thread and read from a signalfd while the container runs; each is forwarded to PID 1. PID 1
//! of a pid namespace ignores signals it installed no handler for, so a second SIGINT or
//! SIGTERM kills every process of the container (like pressing Ctrl-C twice).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::cgroup::CgroupConfig;
use crate::container::{ExitStatus, spawn_with};
use crate::error::{Error, Result};
use crate::spec::ContainerSpec;

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
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it.
        let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: set and old are valid sigset_t values owned by this frame.
        let ret = unsafe {
            libc::sigemptyset(&mut set);
            for s in FORWARDED {
                libc::sigaddset(&mut set, *s);
            }
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old)
        };
        if ret != 0 {
            return Err(Error::errno("block signals for forwarding", ret));
        }
        // SAFETY: set is initialised; -1 asks for a new signalfd.
        let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            // SAFETY: restoring the mask we saved.
            unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
            return Err(Error::io("create a signalfd", e));
        }
        // SAFETY: fd is a fresh signalfd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(BlockedSignals { old, fd })
    }

    /// Reads one pending signal number.
    fn read(&self) -> Option<i32> {
        // SAFETY: signalfd_siginfo is plain data.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::signalfd_siginfo>();
        // SAFETY: info is a writable buffer of `size` bytes.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut info as *mut libc::signalfd_siginfo).cast(),
                size,
            )
        };
        (n == size as isize).then_some(info.ssi_signo as i32)
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        // SAFETY: restoring the mask saved in new().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
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
        // SAFETY: fds is a valid array of two pollfd structures.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(Error::io("poll the container and signals", e));
        }
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
