//! Pseudo-terminals.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Opens a new pty pair on `/dev/ptmx` (of the caller's mount namespace): `(master, slave)`,
/// both close-on-exec and neither the caller's controlling terminal. The slave comes from the
/// master itself (`TIOCGPTPEER`), not by a path under `/dev/pts`, so it is the right one even
/// when `/dev/pts` is another devpts instance or someone races to open it.
pub fn open() -> io::Result<(OwnedFd, OwnedFd)> {
    let ctx = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("{what}: {e}"));
    // SAFETY: posix_openpt with constant flags returns a new descriptor or -1.
    let m = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if m < 0 {
        return Err(ctx("open /dev/ptmx", io::Error::last_os_error()));
    }
    // SAFETY: `m` is a descriptor we just opened and own exclusively.
    let master = unsafe { OwnedFd::from_raw_fd(m) };
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer, which outlives the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &mut unlock) } < 0 {
        return Err(ctx("unlock the pty", io::Error::last_os_error()));
    }
    // SAFETY: TIOCGPTPEER takes open flags and returns a new descriptor or -1.
    let s = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        return Err(ctx("open the pty slave", io::Error::last_os_error()));
    }
    // SAFETY: `s` is a descriptor we just opened and own exclusively.
    Ok((master, unsafe { OwnedFd::from_raw_fd(s) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn slave_writes_reach_the_master() {
        let (m, s) = open().unwrap();
        let mut s = std::fs::File::from(s);
        s.write_all(b"hi\n").unwrap();
        let mut m = std::fs::File::from(m);
        let mut buf = [0u8; 16];
        let n = m.read(&mut buf).unwrap();
        // The line discipline turns \n into \r\n on output.
        assert_eq!(&buf[..n], b"hi\r\n");
    }
}
