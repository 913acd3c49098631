//! The privileged, unsafe part of the terminal service, gathered in one place: opening a
//! pseudo-terminal pair, starting a shell as the leader of a new session on its slave side,
//! resizing it, reading and writing the (non-blocking) master side, and signalling every
//! process of a terminal session.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

use tokio::io::unix::AsyncFd;

/// A pseudo-terminal pair. Both ends are close-on-exec from birth, so no other child the Kit
/// starts ever inherits one (a leaked slave would keep a session's output open forever).
#[derive(Debug)]
pub(super) struct Pty {
    /// The master end, non-blocking: the Kit reads the terminal's output and writes its input here.
    pub master: OwnedFd,
    /// The slave end: the shell's stdin, stdout and stderr and its controlling terminal.
    pub slave: OwnedFd,
}

fn check(r: libc::c_int, what: &str) -> io::Result<libc::c_int> {
    if r < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(r)
    }
}

/// Opens a pseudo-terminal pair of `cols` x `rows`, with UTF-8 line editing on.
pub(super) fn open(cols: u16, rows: u16) -> io::Result<Pty> {
    let (master, slave) = hoody_sys::pty::open()?;
    let s = slave.as_raw_fd();

    // UTF-8 aware erase in canonical mode (the kernel's default leaves IUTF8 off).
    // SAFETY: termios is plain old data; tcgetattr fills it in.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: `s` is an open terminal descriptor and `t` a valid termios to fill.
    if unsafe { libc::tcgetattr(s, &mut t) } == 0 {
        t.c_iflag |= libc::IUTF8;
        // SAFETY: as above; `t` came from tcgetattr.
        unsafe { libc::tcsetattr(s, libc::TCSANOW, &t) };
    }
    set_size(master.as_fd(), cols, rows)?;
    set_nonblocking(master.as_fd())?;
    Ok(Pty { master, slave })
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    hoody_sys::fs::set_nonblocking(fd)
        .map_err(|e| io::Error::new(e.kind(), format!("make the pty master non-blocking: {e}")))
}

/// Sets the window size of the terminal whose master is `fd`; the kernel sends SIGWINCH to
/// its foreground process group.
pub(super) fn set_size(fd: BorrowedFd<'_>, cols: u16, rows: u16) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which points at our local.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    check(r, "ioctl TIOCSWINSZ")?;
    Ok(())
}

/// What to run on a new terminal.
#[derive(Debug)]
pub(super) struct Spawn<'a> {
    /// The program (an absolute path).
    pub program: &'a Path,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Its whole environment.
    pub env: Vec<(OsString, OsString)>,
    /// Its working directory.
    pub cwd: &'a Path,
}

/// Starts `spec` on the slave of `pty` as the leader of a new session whose controlling
/// terminal is that slave (what a terminal emulator or sshd does: setsid, TIOCSCTTY, the
/// slave as fds 0, 1, 2). The caller must drop `pty.slave` afterwards so that reading the
/// master ends (EIO) once every process holding the slave is gone.
pub(super) fn spawn(pty: &Pty, spec: &Spawn<'_>) -> io::Result<tokio::process::Child> {
    let mut cmd = tokio::process::Command::new(spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(spec.cwd)
        .stdin(Stdio::from(pty.slave.try_clone()?))
        .stdout(Stdio::from(pty.slave.try_clone()?))
        .stderr(Stdio::from(pty.slave.try_clone()?))
        .kill_on_drop(true);
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (setsid, ioctl) without allocating.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "start {} in {}: {e}",
                spec.program.display(),
                spec.cwd.display()
            ),
        )
    })
}

/// Reads what is available on the non-blocking master into `buf`, waiting until something
/// is. `Ok(0)` is the end: every process holding the slave has gone (Linux reports EIO then).
pub(super) async fn read(master: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let mut guard = master.readable().await?;
        let r = guard.try_io(|fd| {
            // SAFETY: read into our own buffer of `buf.len()` bytes from a borrowed descriptor.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match r {
            Ok(Ok(n)) => return Ok(n),
            Ok(Err(e)) if e.raw_os_error() == Some(libc::EIO) => return Ok(0),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}

/// Writes all of `data` to the non-blocking master, waiting while the terminal's input
/// queue is full.
pub(super) async fn write_all(master: &AsyncFd<OwnedFd>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let mut guard = master.writable().await?;
        let r = guard.try_io(|fd| {
            // SAFETY: write from our own slice of `data.len()` bytes to a borrowed descriptor.
            let n = unsafe { libc::write(fd.as_raw_fd(), data.as_ptr().cast(), data.len()) };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match r {
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

/// Sends `sig` to every process of session `sid` (the shell started by [`spawn`] leads its
/// own session, and job control puts each of its jobs in a process group of its own, so
/// the session, not a process group, is what "this terminal's processes" means), found in
/// `/proc`, and to the process group `sid` for good measure.
pub(super) fn signal_session(sid: u32, sig: libc::c_int) {
    let Ok(sid_t) = libc::pid_t::try_from(sid) else {
        return;
    };
    if sid_t <= 1 {
        return;
    }
    // Best effort: the session may have ended meanwhile.
    let _ = hoody_sys::process::kill_group(sid_t, sig);
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        if session_of(pid) == Some(sid_t) {
            let _ = hoody_sys::process::kill(pid, sig);
        }
    }
}

/// Sends `sig` to process group `pgid`.
pub(super) fn signal_group(pgid: u32, sig: libc::c_int) {
    if let Ok(p) = libc::pid_t::try_from(pgid) {
        // Best effort: the group may be gone; groups 0 and 1 are refused.
        let _ = hoody_sys::process::kill_group(p, sig);
    }
}

/// The session id of `pid` (field 6 of `/proc/<pid>/stat`).
fn session_of(pid: libc::pid_t) -> Option<libc::pid_t> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesised and may contain spaces: fields after it
    // start past the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(3)?.parse().ok()
}

/// The current working directory of `pid`.
pub(super) fn cwd_of(pid: u32) -> Option<std::path::PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/cwd")).ok()
}

/// The environment `pid` started with (`/proc/<pid>/environ`).
pub(super) fn environ_of(pid: u32) -> Option<Vec<(OsString, OsString)>> {
    use std::os::unix::ffi::OsStrExt;
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(
        raw.split(|&b| b == 0)
            .filter_map(|kv| {
                let eq = kv.iter().position(|&b| b == b'=')?;
                Some((
                    std::ffi::OsStr::from_bytes(&kv[..eq]).to_os_string(),
                    std::ffi::OsStr::from_bytes(&kv[eq + 1..]).to_os_string(),
                ))
            })
            .collect(),
    )
}

/// This machine's host name (for window titles).
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Registers the master with tokio's reactor.
pub(super) fn register(master: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an OwnedFd is an open descriptor that stays open, and always returns the same
    // number from as_raw_fd, for as long as the AsyncFd that now owns it lives.
    unsafe { AsyncFd::register(master) }.map_err(|e| e.into_parts().1)
}
