//! HTTP/1.1 message bodies as they lie on a connection (RFC 9112 §6–7): the decoder both sides
//! of the proxy use, for request bodies from clients ([`crate::downstream`]) and response bodies
//! from upstreams (`upstream`). It works on the connection's read buffer: data comes out as
//! pieces of that buffer (no copy), and it never reads past the body's end, so the bytes after
//! it stay for the next message.

use bytes::{Buf, Bytes, BytesMut};

/// The longest chunk-size line (with its extensions).
pub const MAX_CHUNK_LINE: usize = 4096;
/// The longest trailer section of a chunked body.
pub const MAX_TRAILERS: usize = 16 * 1024;

/// Where a body stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum State {
    /// This many bytes to go.
    Length(u64),
    Chunked(Chunk),
    /// Up to the connection's close (responses only).
    Close,
    Done,
}

/// Where a chunked body stands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chunk {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes to go.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// In the trailer section, this many bytes of it seen.
    Trailers(usize),
}

impl State {
    /// A body of `n` bytes (done at once when `n` is 0).
    pub fn length(n: u64) -> Self {
        if n == 0 {
            State::Done
        } else {
            State::Length(n)
        }
    }

    /// A chunked body, from its first chunk-size line.
    pub fn chunked() -> Self {
        State::Chunked(Chunk::Size)
    }

    /// The next piece of body data in `buf`, taken off it; `Ok(None)` when more must be read
    /// (or the body is done: the state is then [`State::Done`], which it also becomes right
    /// after the last piece of a body of known length). Trailers are read and dropped.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, &'static str> {
        loop {
            match *self {
                State::Done => return Ok(None),
                State::Close => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    return Ok(Some(buf.split().freeze()));
                }
                State::Length(left) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    *self = State::length(left - take as u64);
                    return Ok(Some(buf.split_to(take).freeze()));
                }
                State::Chunked(Chunk::Data(left)) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                    let left = left - take as u64;
                    *self = State::Chunked(if left == 0 {
                        Chunk::DataEnd
                    } else {
                        Chunk::Data(left)
                    });
                    return Ok(Some(buf.split_to(take).freeze()));
                }
                State::Chunked(Chunk::DataEnd) => {
                    if buf.len() < 2 {
                        return Ok(None);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err("chunk data not followed by CRLF");
                    }
                    buf.advance(2);
                    *self = State::Chunked(Chunk::Size);
                }
                State::Chunked(Chunk::Size) => {
                    let Some(line) = take_line(buf, MAX_CHUNK_LINE)? else {
                        return Ok(None);
                    };
                    let size = chunk_size(&line)?;
                    *self = State::Chunked(if size == 0 {
                        Chunk::Trailers(0)
                    } else {
                        Chunk::Data(size)
                    });
                }
                State::Chunked(Chunk::Trailers(seen)) => {
                    let Some(line) = take_line(buf, MAX_TRAILERS.saturating_sub(seen))? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        *self = State::Done;
                        return Ok(None);
                    }
                    *self = State::Chunked(Chunk::Trailers(seen + line.len() + 2));
                }
            }
        }
    }
}

/// Takes one CRLF-terminated line off `buf` (without the CRLF); `None` when it is not all
/// there yet; an error past `max` bytes or for a bare LF.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, &'static str> {
    match buf.iter().take(max + 2).position(|&b| b == b'\n') {
        Some(0) => Err("bare LF in chunked framing"),
        Some(i) if buf[i - 1] != b'\r' => Err("bare LF in chunked framing"),
        Some(i) => {
            let mut line = buf.split_to(i + 1);
            line.truncate(i - 1);
            Ok(Some(line))
        }
        None if buf.len() > max + 1 => Err("chunk-size line or trailers too long"),
        None => Ok(None),
    }
}

/// The size on a chunk-size line: hex digits, then optional extensions (`;…`).
fn chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err("bad chunk size");
    }
    let rest = line[digits..].trim_ascii_start();
    if !rest.is_empty() && rest[0] != b';' {
        return Err("bad chunk size");
    }
    if rest.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0) {
        return Err("bad chunk extension");
    }
    let mut n: u64 = 0;
    for &d in &line[..digits] {
        let v = (d as char).to_digit(16).unwrap_or(0);
        n = (n << 4) | u64::from(v);
    }
    Ok(n)
}

/// A `Content-Length` value: 1 to 19 decimal digits.
pub fn parse_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A header value httparse parsed, without checking its bytes again.
pub fn header_value(bytes: Bytes) -> hyper::header::HeaderValue {
    debug_assert!(hyper::header::HeaderValue::from_maybe_shared(bytes.clone()).is_ok());
    // SAFETY: httparse accepts only HTAB, SP, visible ASCII and bytes >= 0x80 in a field value
    // (no CR, LF, NUL, DEL or other controls), all of which a HeaderValue may hold; this is
    // how hyper builds header values from httparse's too.
    unsafe { hyper::header::HeaderValue::from_maybe_shared_unchecked(bytes) }
}

/// Appends `n` in decimal (a `Content-Length`, a number in a log line), without formatting
/// machinery.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut room = [0u8; 20];
    let mut at = room.len();
    loop {
        at -= 1;
        room[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&room[at..]);
}

/// Whether a comma-separated header value lists `token` (case-insensitively).
pub fn lists(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A body decoded from `wire` fed in pieces of `step` bytes: the data, whether it ended,
    /// and the bytes left after it.
    fn decode_all(
        mut state: State,
        wire: &[u8],
        step: usize,
    ) -> Result<(Vec<u8>, bool, Vec<u8>), &'static str> {
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pieces = wire.chunks(step.max(1));
        loop {
            while let Some(d) = state.decode(&mut buf)? {
                out.extend_from_slice(&d);
            }
            if state == State::Done {
                break;
            }
            match pieces.next() {
                Some(p) => buf.extend_from_slice(p),
                None => break,
            }
        }
        let rest: Vec<u8> = buf
            .iter()
            .copied()
            .chain(pieces.flatten().copied())
            .collect();
        Ok((out, state == State::Done, rest))
    }

    #[test]
    fn bodies_decode_in_any_pieces_and_stop_at_their_end() {
        let wire = b"5\r\nhello\r\n7;ext=1;x=\"y\"\r\n, world\r\n0\r\nTrailer: x\r\n\r\nGET /next";
        for step in [1, 2, 3, 7, 100] {
            let (data, done, rest) = decode_all(State::chunked(), wire, step).unwrap();
            assert_eq!(data, b"hello, world", "step {step}");
            assert!(done, "step {step}");
            assert_eq!(rest, b"GET /next", "step {step}");
        }
        let (data, done, rest) = decode_all(State::length(5), b"helloGET", 2).unwrap();
        assert_eq!((data.as_slice(), done), (&b"hello"[..], true));
        assert_eq!(rest, b"GET");
        assert_eq!(State::length(0), State::Done);
    }

    #[test]
    fn bad_chunked_framing_is_an_error() {
        for wire in [
            &b"5\r\nhelloXX0\r\n\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"g\r\n",
            b"\r\n",
            b"-1\r\n",
            b"11111111111111111\r\n",
            b" 5\r\nhello\r\n",
            b"5 x\r\nhello\r\n",
        ] {
            assert!(
                decode_all(State::chunked(), wire, 100).is_err(),
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
        let long = format!("5;{}\r\n", "x".repeat(MAX_CHUNK_LINE + 10));
        assert!(decode_all(State::chunked(), long.as_bytes(), 100).is_err());
    }

    #[test]
    fn lengths_and_lists() {
        assert_eq!(parse_length(b"0"), Some(0));
        assert_eq!(parse_length(b"18446744073709551615"), None);
        for bad in [&b""[..], b"+1", b"1 ", b"0x10", b"-0"] {
            assert_eq!(parse_length(bad), None, "{bad:?}");
        }
        assert!(lists(b"keep-alive, Upgrade", b"upgrade"));
        assert!(!lists(b"keep-alive, upgraded", b"upgrade"));
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// No bytes make the decoder panic; it never gives more data than it was given, nor
        /// more than a length allows.
        #[test]
        fn no_bytes_panic(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "0", "5", "a", "F", "10", ";x=y", ";", "\r\n", "\n", "\r", " ",
                        "hello", "X: y\r\n",
                    ]).prop_map(|s| s.as_bytes().to_vec()),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
                ],
                0..40,
            ),
            step in 1usize..16,
        ) {
            let wire: Vec<u8> = pieces.concat();
            if let Ok((data, _, _)) = decode_all(State::chunked(), &wire, step) {
                proptest::prop_assert!(data.len() <= wire.len());
            }
            if let Ok((data, _, _)) = decode_all(State::length(7), &wire, step) {
                proptest::prop_assert!(data.len() <= 7);
            }
        }
    }
}
