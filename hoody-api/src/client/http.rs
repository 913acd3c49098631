//! Connections and HTTP/1.1 framing: a connection over TCP or a unix socket, response heads
//! read under a size limit, and bodies delimited by length, chunking or the end of the
//! connection.

use super::*;

/// A connection to hoodyd.
#[derive(Debug)]
pub(super) enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    pub(super) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(t),
            Conn::Tcp(s) => s.set_read_timeout(t),
        }
    }

    pub(super) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_write_timeout(t),
            Conn::Tcp(s) => s.set_write_timeout(t),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// A response's status line and headers.
#[derive(Debug)]
pub(super) struct Head {
    pub(super) status: u16,
    pub(super) reason: String,
    pub(super) headers: Vec<(String, String)>,
}

#[derive(Debug)]
pub(super) enum HeadError {
    Io(io::Error),
    Protocol(String),
}

impl From<io::Error> for HeadError {
    fn from(e: io::Error) -> Self {
        HeadError::Io(e)
    }
}

/// Reads one line (up to `limit` bytes, LF included); `None` at the end of the input.
pub(super) fn read_line(r: &mut impl BufRead, limit: u64) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = r.take(limit).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') && n as u64 == limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a line longer than {limit} bytes"),
        ));
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Some(line))
}

/// Reads the status line and headers, skipping interim (1xx) responses.
pub(super) fn read_head(r: &mut impl BufRead) -> Result<Head, HeadError> {
    loop {
        let mut budget = MAX_HEAD as u64;
        let status_line = match read_line(r, budget)? {
            Some(l) => l,
            None => {
                return Err(HeadError::Protocol(
                    "hoodyd closed the connection without answering".into(),
                ));
            }
        };
        budget = budget.saturating_sub(status_line.len() as u64);
        let status_line = String::from_utf8_lossy(&status_line).into_owned();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        let code = parts.next().unwrap_or_default();
        let reason = parts.next().unwrap_or_default().to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(HeadError::Protocol(format!(
                "not an HTTP/1.x answer: {:?}",
                quote(&status_line)
            )));
        }
        let status = code
            .parse::<u16>()
            .ok()
            .filter(|s| (100..1000).contains(s) && code.len() == 3)
            .ok_or_else(|| HeadError::Protocol(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        loop {
            if budget == 0 {
                return Err(HeadError::Protocol(format!(
                    "the answer's headers exceed {MAX_HEAD} bytes"
                )));
            }
            let line = read_line(r, budget)?.ok_or_else(|| {
                HeadError::Protocol("the connection ended inside the answer's headers".into())
            })?;
            budget = budget.saturating_sub(line.len() as u64 + 2);
            if line.is_empty() {
                break;
            }
            let line = String::from_utf8_lossy(&line);
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| HeadError::Protocol(format!("bad header line {line:?}")))?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        // 1xx answers (100 Continue, 103 Early Hints) come before the real one; 101 would
        // switch protocols, which no request of this client asks for.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        return Ok(Head {
            status,
            reason,
            headers,
        });
    }
}

/// A response body, framed as its headers say.
#[derive(Debug)]
pub(super) enum BodyReader<R> {
    /// No body (HEAD, 204, 304).
    Empty(R),
    /// `Content-Length` bytes.
    Length {
        inner: R,
        remaining: u64,
        total: u64,
    },
    /// Chunked transfer-encoding.
    Chunked {
        inner: R,
        /// Bytes left in the current chunk.
        remaining: u64,
        state: ChunkState,
    },
    /// Until the connection ends.
    Eof(R),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data.
    Data,
    /// After the last chunk.
    Done,
}

impl<R: BufRead> BodyReader<R> {
    pub(super) fn new(
        inner: R,
        headers: &[(String, String)],
        no_body: bool,
    ) -> Result<Self, String> {
        if no_body {
            return Ok(BodyReader::Empty(inner));
        }
        let chunked = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .rfind(|c| !c.is_empty())
            .map(|c| c.eq_ignore_ascii_case("chunked"));
        match chunked {
            Some(true) => {
                return Ok(BodyReader::Chunked {
                    inner,
                    remaining: 0,
                    state: ChunkState::Size,
                });
            }
            // A transfer coding other than chunked last: the body runs to the end.
            Some(false) => return Ok(BodyReader::Eof(inner)),
            None => {}
        }
        let mut length = None;
        for (_, v) in headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            for part in v.split(',') {
                let n: u64 = part
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad Content-Length {v:?}"))?;
                if length.is_some_and(|l| l != n) {
                    return Err("conflicting Content-Length headers".into());
                }
                length = Some(n);
            }
        }
        Ok(match length {
            Some(n) => BodyReader::Length {
                inner,
                remaining: n,
                total: n,
            },
            None => BodyReader::Eof(inner),
        })
    }
}

impl BodyReader<BufReader<Conn>> {
    pub(super) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            BodyReader::Empty(inner)
            | BodyReader::Eof(inner)
            | BodyReader::Length { inner, .. }
            | BodyReader::Chunked { inner, .. } => inner.get_ref().set_read_timeout(t),
        }
    }
}

pub(super) fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<R: BufRead> Read for BodyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self {
            BodyReader::Empty(_) => Ok(0),
            BodyReader::Eof(inner) => inner.read(buf),
            BodyReader::Length {
                inner,
                remaining,
                total,
            } => {
                if *remaining == 0 {
                    return Ok(0);
                }
                let want = buf
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                let n = inner.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "the answer ended after {} of its {total} bytes",
                            *total - *remaining
                        ),
                    ));
                }
                *remaining -= n as u64;
                Ok(n)
            }
            BodyReader::Chunked {
                inner,
                remaining,
                state,
            } => loop {
                match *state {
                    ChunkState::Done => return Ok(0),
                    ChunkState::Size => {
                        let line = read_line(inner, MAX_LINE)?.ok_or_else(|| {
                            io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the answer ended before its last chunk",
                            )
                        })?;
                        let line = String::from_utf8_lossy(&line);
                        let size = line.split(';').next().unwrap_or_default().trim();
                        let size = u64::from_str_radix(size, 16)
                            .map_err(|_| invalid(format!("bad chunk size line {line:?}")))?;
                        if size == 0 {
                            // Trailers, up to an empty line (or the end of the connection).
                            while let Some(l) = read_line(inner, MAX_LINE)? {
                                if l.is_empty() {
                                    break;
                                }
                            }
                            *state = ChunkState::Done;
                            return Ok(0);
                        }
                        *remaining = size;
                        *state = ChunkState::Data;
                    }
                    ChunkState::Data if *remaining == 0 => {
                        let crlf = read_line(inner, 2)?;
                        if crlf.as_ref().is_none_or(|l| !l.is_empty()) {
                            return Err(invalid("a chunk is not followed by CRLF".into()));
                        }
                        *state = ChunkState::Size;
                    }
                    ChunkState::Data => {
                        let want = buf
                            .len()
                            .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                        let n = inner.read(&mut buf[..want])?;
                        if n == 0 {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "the answer ended inside a chunk",
                            ));
                        }
                        *remaining -= n as u64;
                        return Ok(n);
                    }
                }
            },
        }
    }
}
