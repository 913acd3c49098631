//! Processes: signals, ids and resource limits of the calling process.

use std::io;

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// `kill(2)`: `sig` to process `pid` (a negative `pid` names the process group `-pid`).
pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::kill(pid, sig) }).map(|_| ())
}

/// `sig` to every process of process group `pgid` (`kill(-pgid, sig)`). Refuses the groups
/// 0 and 1 (the caller's own group and init's), which a bad id would otherwise name.
pub fn kill_group(pgid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    if pgid <= 1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("process group {pgid} is not one to signal"),
        ));
    }
    kill(-pgid, sig)
}

/// Ends the calling process at once with SIGKILL (no destructors, no exit handlers), as a
/// crash would.
pub fn kill_self() -> ! {
    // SAFETY: getpid cannot fail; kill with our own pid and SIGKILL, which cannot be caught.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
    }
}

/// The calling process's effective user id.
pub fn geteuid() -> libc::uid_t {
    // SAFETY: no arguments; cannot fail.
    unsafe { libc::geteuid() }
}

/// The calling process's limit on open files: (soft, hard).
pub fn nofile_limit() -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit we own.
    check(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) })?;
    Ok((r.rlim_cur, r.rlim_max))
}

/// Raises the soft limit on open files to `want` (at most the hard limit); returns the soft
/// limit now in force. Never lowers it.
pub fn raise_nofile_limit(want: u64) -> io::Result<u64> {
    let (soft, hard) = nofile_limit()?;
    let target = want.min(hard);
    if target <= soft {
        return Ok(soft);
    }
    let r = libc::rlimit {
        rlim_cur: target,
        rlim_max: hard,
    };
    // SAFETY: setrlimit reads the rlimit we own.
    check(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) })?;
    Ok(target)
}

/// Restores SIGPIPE's default action (terminate), which Rust's runtime sets to ignored: a
/// command-line program piped into `head` should end quietly, not fail on a write.
pub fn default_sigpipe() {
    // SAFETY: signal() with a valid signal number and the default disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_ids_and_signals() {
        let (soft, hard) = nofile_limit().unwrap();
        assert!(soft <= hard);
        assert_eq!(raise_nofile_limit(soft).unwrap(), soft);
        // Signal 0 checks that a process exists.
        kill(std::process::id() as libc::pid_t, 0).unwrap();
        assert!(kill_group(1, 0).is_err());
        assert!(kill_group(0, 0).is_err());
        let _ = geteuid();
    }
}
