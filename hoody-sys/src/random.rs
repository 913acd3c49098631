//! Random bytes from the kernel (`getrandom(2)`, blocking until the pool is initialised, which
//! on a booted system it always is).

use std::io;

/// Fills `buf` with random bytes. Retries on `EINTR` and short reads; any other error is
/// returned (it means the kernel refused, e.g. `ENOSYS` under a seccomp filter).
pub fn fill(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the pointer and length describe `rest`, a live, writable slice.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        done += n as usize;
    }
    Ok(())
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    fill(&mut b)?;
    Ok(b)
}

/// `bytes` random bytes as lowercase hex (`2 * bytes` digits).
pub fn hex(bytes: usize) -> io::Result<String> {
    let mut b = vec![0u8; bytes];
    fill(&mut b)?;
    Ok(to_hex(&b))
}

/// Lowercase hex of `b`.
pub fn to_hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(DIGITS[usize::from(x >> 4)] as char);
        s.push(DIGITS[usize::from(x & 0xf)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_and_differs() {
        let a: [u8; 32] = bytes().unwrap();
        let b: [u8; 32] = bytes().unwrap();
        assert_ne!(a, b, "two draws of 256 random bits were equal");
        let h = hex(8).unwrap();
        assert_eq!(h.len(), 16);
        assert!(
            h.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(to_hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        fill(&mut []).unwrap();
    }
}
