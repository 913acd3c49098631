//! The upstream side of HTTP/1.1, written for the proxy: keep-alive connections to the
//! services inside containers, one pool per [`crate::Proxy`] (which the binary runs once per
//! serving thread, so a request, its upstream connection and the pool stay on one thread).
//!
//! # Why not hyper's client
//!
//! hyper's client connection is general: a task per connection, a dispatch channel between the
//! request's future and that task, a request encoder that walks the headers through its own
//! framing logic and a response parser that builds its own header map. Measured with callgrind,
//! it was a third of the proxy's instructions per request (12.5k of 37k), and the reason
//! hoody-proxy served plain HTTP slower than nginx (docs/PERFORMANCE.md). Here a request is one
//! buffer written straight to the socket by the request's own future, and the response head is
//! parsed by httparse into header values that share the read buffer (no copy).
//!
//! # Framing (RFC 9112 §6)
//!
//! The request the client sent was parsed and de-framed by the client side (`downstream`, or
//! hyper for HTTP/2), which refuses conflicting lengths and reads `Content-Length` +
//! `Transfer-Encoding` as chunked: the body the upstream receives is exactly the body that was
//! read, re-framed here. A body of known length
//! goes with that `Content-Length` (and the bytes are counted: a body that does not match is
//! an error, never a desynchronised connection); any other body is sent chunked. `Expect` is
//! not forwarded: the body is sent without waiting for a `100 Continue`.
//!
//! Responses come from containers, which are untrusted. The parser is strict: no obsolete line
//! folding, no spaces before the colon, at most [`MAX_HEADERS`] fields in [`MAX_HEAD`] bytes,
//! interim (1xx) responses skipped (at most [`MAX_INTERIM`]), an unasked-for `101` refused. The
//! body length follows §6.3: none for `HEAD` and for 1xx/204/304; `Transfer-Encoding` whose
//! last coding is chunked wins over `Content-Length` (which is then removed, and the connection
//! is not reused); several `Content-Length` values must agree; otherwise the body runs to the
//! connection's close. Chunk-size lines and trailer sections have length limits; trailers are
//! dropped. A connection goes back to the pool only when its response ended exactly where its
//! framing said, no byte beyond it arrived, the upstream did not say `Connection: close` and
//! spoke HTTP/1.1. An upstream can therefore only ever spoil its own responses. Hop-by-hop
//! response headers (and the names `Connection` lists) are removed here; the parser notes
//! which framing and hop-by-hop headers a head has, so a response without them costs no
//! lookup in its header map.
//!
//! # Pool
//!
//! A request takes the most recently used idle connection to its upstream address, or opens
//! one. The response body hands the connection back the moment its last byte has been read; a
//! body dropped before its end closes the connection instead. At most
//! [`MAX_IDLE_PER_UPSTREAM`] idle connections are kept per address, each for at most
//! [`IDLE_TIMEOUT`]. An upstream may close an idle connection at any time (node's default is
//! after 5 s): a request without a body that fails on a reused connection before any byte of a
//! response arrived is sent once more on a new connection when its method is idempotent (or when
//! it could not even be written), as nginx does; a request with a body first checks that the
//! reused connection has not been closed.
//!
//! Upgrades (WebSocket) and `https-PORT` upstreams do not come here (see [`crate::proxy`]).

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use foldhash::HashMap;

use crate::downstream::ReqBody;
use crate::framing::{State, parse_length};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode, Version};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// A body error, boxed (what hyper accepts).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Idle connections kept per upstream address.
pub const MAX_IDLE_PER_UPSTREAM: usize = 256;
/// An idle connection is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// The longest response head (status line and header fields) taken from an upstream.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields taken in a response head.
pub const MAX_HEADERS: usize = 128;
/// The most interim (1xx) responses skipped before the final one.
pub const MAX_INTERIM: usize = 16;
/// Room made in a connection's read buffer for a read, at first; it doubles (up to
/// [`MAX_READ_CHUNK`]) while reads fill it, as on a large download.
const READ_CHUNK: usize = 16 * 1024;
/// The most room made for one read.
const MAX_READ_CHUNK: usize = 256 * 1024;
/// An idle connection keeps a read buffer up to this size.
const MAX_IDLE_BUF: usize = 64 * 1024;

/// The pool (cheap to clone, shared).
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    idle: Mutex<HashMap<SocketAddr, Vec<Idle>>>,
    connect_timeout: Duration,
    sweeping: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    io: TcpStream,
    buf: BytesMut,
    since: Instant,
}

/// Why an exchange failed, and whether sending the request again is safe.
struct Failure {
    why: String,
    /// Nothing of a response arrived (the connection may have been closed while idle).
    no_response: bool,
    /// Not even the request could be written.
    unsent: bool,
}

impl Failure {
    fn unsent(to: SocketAddr, e: &io::Error) -> Self {
        Failure {
            why: format!("{to}: sending the request: {e}"),
            no_response: true,
            unsent: true,
        }
    }
}

fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

impl Pool {
    /// An empty pool; connecting gives up after `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        Pool {
            inner: Arc::new(PoolInner {
                idle: Mutex::new(HashMap::default()),
                connect_timeout,
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `req` to `to` with the forwarding headers `fwd`; the error says why in words.
    pub async fn send(
        &self,
        to: SocketAddr,
        req: Request<ReqBody>,
        fwd: &Forwarding<'_>,
    ) -> Result<Response<UpBody>, String> {
        let (parts, body) = req.into_parts();
        if body.is_end_stream() {
            let head = encode_head(&parts, BodyFraming::None, fwd);
            // Idempotent requests are sent again if the connection turns out closed; others
            // check it first.
            let idempotent = is_idempotent(&parts.method);
            let reused = self.checkout(to, !idempotent);
            let fresh = reused.is_none();
            let conn = match reused {
                Some(c) => c,
                None => Box::pin(self.connect(to)).await?,
            };
            match self.exchange(to, conn, &head, &parts.method).await {
                Ok(r) => return Ok(r),
                Err(f) if !fresh && f.no_response && (f.unsent || idempotent) => {}
                Err(f) => return Err(f.why),
            }
            // The reused connection had been closed by the upstream: once more, on a new one.
            let conn = Box::pin(self.connect(to)).await?;
            return self
                .exchange(to, conn, &head, &parts.method)
                .await
                .map_err(|f| f.why);
        }
        let framing = match body.size_hint().exact() {
            Some(n) => BodyFraming::Length(n),
            None => BodyFraming::Chunked,
        };
        let head = encode_head(&parts, framing, fwd);
        Box::pin(self.send_with_body(to, &parts.method, head, body, framing)).await
    }

    /// One request without a body on `conn`, and its response head.
    async fn exchange(
        &self,
        to: SocketAddr,
        (mut io, buf): (TcpStream, BytesMut),
        head: &[u8],
        method: &Method,
    ) -> Result<Response<UpBody>, Failure> {
        if let Err(e) = io.write_all(head).await {
            return Err(Failure::unsent(to, &e));
        }
        let conn = Conn {
            io: Io::Whole(io),
            buf,
            filled: false,
        };
        self.response(to, conn, method).await
    }

    /// A request with a body: its head and body are written by a task of their own while the
    /// response is read, so an upstream that answers before reading the whole body (a 413, a
    /// 401) is heard.
    async fn send_with_body(
        &self,
        to: SocketAddr,
        method: &Method,
        head: Vec<u8>,
        body: ReqBody,
        framing: BodyFraming,
    ) -> Result<Response<UpBody>, String> {
        let (io, buf) = match self.checkout(to, true) {
            Some(c) => c,
            None => self.connect(to).await?,
        };
        let (rd, mut wr) = io.into_split();
        let writer = tokio::spawn(async move {
            wr.write_all(&head).await?;
            write_body(&mut wr, body, framing).await?;
            Ok(wr)
        });
        let conn = Conn {
            io: Io::Split {
                rd,
                writer: Writer::Running(WriterTask(writer)),
            },
            buf,
            filled: false,
        };
        self.response(to, conn, method).await.map_err(|f| f.why)
    }

    /// Reads the response head on `conn` (skipping interim responses) and makes the response.
    async fn response(
        &self,
        to: SocketAddr,
        mut conn: Conn,
        method: &Method,
    ) -> Result<Response<UpBody>, Failure> {
        let mut interim = 0;
        let head = loop {
            match parse_head(&mut conn.buf) {
                Ok(Some(h)) if h.status.is_informational() => {
                    if h.status == StatusCode::SWITCHING_PROTOCOLS {
                        return Err(bad(
                            to,
                            "101 Switching Protocols to a request without Upgrade",
                        ));
                    }
                    interim += 1;
                    if interim > MAX_INTERIM {
                        return Err(bad(to, "too many interim (1xx) responses"));
                    }
                }
                Ok(Some(h)) => break h,
                Ok(None) => {
                    let got = conn.buf.len();
                    match poll_fn(|cx| conn.poll_read_more(cx)).await {
                        Ok(0) => {
                            return Err(Failure {
                                why: format!("{to}: the upstream closed the connection"),
                                no_response: got == 0 && interim == 0,
                                unsent: false,
                            });
                        }
                        Ok(_) => {}
                        Err(e) => {
                            return Err(Failure {
                                why: format!("{to}: {e}"),
                                no_response: got == 0 && interim == 0,
                                unsent: false,
                            });
                        }
                    }
                }
                Err(why) => return Err(bad(to, why)),
            }
        };
        let Head {
            status,
            http11,
            mut headers,
            seen,
        } = head;
        let (framing, mut reuse) =
            response_framing(method, status, &mut headers, seen).map_err(|why| bad(to, why))?;
        reuse &= http11 && !(seen.connection && says_close(&headers));
        if seen.hop_by_hop {
            crate::proxy::strip_hop_by_hop(&mut headers, false);
        }
        let mut resp = Response::new(UpBody {
            state: match framing {
                Framing::Empty => State::Done,
                Framing::Length(n) => State::Length(n),
                Framing::Chunked => State::chunked(),
                Framing::Close => State::Close,
            },
            conn: Some(conn),
            reuse,
            back: Some((self.inner.clone(), to)),
        });
        *resp.status_mut() = status;
        *resp.version_mut() = Version::HTTP_11;
        *resp.headers_mut() = headers;
        if resp.body().state == State::Done {
            resp.body_mut().finish();
        }
        Ok(resp)
    }

    /// The most recently used idle connection to `to`; with `check`, one whose upstream has
    /// not closed it (a read that finds nothing waiting: one syscall).
    fn checkout(&self, to: SocketAddr, check: bool) -> Option<(TcpStream, BytesMut)> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.get_mut(&to)?;
        while let Some(c) = list.pop() {
            if c.since.elapsed() > IDLE_TIMEOUT || (check && !still_open(&c.io)) {
                continue;
            }
            return Some((c.io, c.buf));
        }
        None
    }

    async fn connect(&self, to: SocketAddr) -> Result<(TcpStream, BytesMut), String> {
        let io =
            match tokio::time::timeout(self.inner.connect_timeout, TcpStream::connect(to)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(format!("{to}: {e}")),
                Err(_) => return Err(format!("{to}: connect timed out")),
            };
        let _ = io.set_nodelay(true);
        if !self.inner.sweeping.swap(true, Ordering::AcqRel) {
            tokio::spawn(sweep(Arc::downgrade(&self.inner)));
        }
        Ok((io, BytesMut::new()))
    }
}

fn bad(to: SocketAddr, why: impl std::fmt::Display) -> Failure {
    Failure {
        why: format!("{to}: bad response: {why}"),
        no_response: false,
        unsent: false,
    }
}

/// False when the upstream closed (or wrote to) an idle connection.
fn still_open(io: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl PoolInner {
    fn give_back(&self, to: SocketAddr, io: TcpStream, mut buf: BytesMut) {
        if buf.capacity() > MAX_IDLE_BUF {
            buf = BytesMut::new();
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let list = idle.entry(to).or_default();
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(Idle {
                io,
                buf,
                since: Instant::now(),
            });
        }
    }
}

/// Closes idle connections past [`IDLE_TIMEOUT`] or closed by their upstream, every so often,
/// for as long as the pool lives.
async fn sweep(pool: Weak<PoolInner>) {
    let mut every = tokio::time::interval(IDLE_TIMEOUT / 3);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let mut idle = pool.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|_, list| {
            list.retain(|c| c.since.elapsed() <= IDLE_TIMEOUT && still_open(&c.io));
            !list.is_empty()
        });
    }
}

/// The headers the proxy sets on a forwarded request, in place of any the client sent.
#[derive(Debug, Clone, Copy)]
pub struct Forwarding<'a> {
    /// `Host`: the host the client named.
    pub host: &'a HeaderValue,
    /// `X-Forwarded-For`: the client's address.
    pub forwarded_for: &'a HeaderValue,
    /// `X-Forwarded-Proto`: `http` or `https`.
    pub proto: &'static str,
    /// `Forwarded`: the address and the scheme in RFC 7239's form.
    pub forwarded: &'a HeaderValue,
}

/// Whether the proxy writes this request header itself (framing, forwarding, `Expect`) or
/// never forwards it (hop by hop).
fn replaced_or_hop_by_hop(n: &HeaderName) -> bool {
    matches!(
        n.as_str(),
        "host"
            | "content-length"
            | "transfer-encoding"
            | "expect"
            | "x-forwarded-for"
            | "x-forwarded-proto"
            | "x-forwarded-host"
            | "forwarded"
    ) || crate::proxy::is_hop_by_hop(n)
}

/// How a request body is framed on the way to the upstream.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// The request head as bytes: the request line in origin form, the client's headers except
/// hop-by-hop ones (and those its `Connection` header names), framing, `Expect` and forwarding
/// headers, then `fwd`'s and the framing header for `framing`. Written straight into one
/// buffer: the request's header map is not touched.
fn encode_head(parts: &Parts, framing: BodyFraming, fwd: &Forwarding<'_>) -> Vec<u8> {
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut size = parts.method.as_str().len() + target.len() + 160;
    size += fwd.host.len() + fwd.forwarded_for.len() + fwd.forwarded.len();
    let (mut connection, mut length) = (false, false);
    for (n, v) in &parts.headers {
        size += n.as_str().len() + v.len() + 4;
        connection |= n == header::CONNECTION;
        length |= n == header::CONTENT_LENGTH;
    }
    // Names the client's `Connection` header lists are hop by hop too (RFC 9110 §7.6.1).
    let listed: Vec<HeaderName> = if connection {
        parts
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .filter_map(|t| HeaderName::from_bytes(t.trim_ascii()).ok())
            .collect()
    } else {
        Vec::new()
    };
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut field = |n: &[u8], v: &[u8]| {
        out.extend_from_slice(n);
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.extend_from_slice(b"\r\n");
    };
    field(b"host", fwd.host.as_bytes());
    for (n, v) in &parts.headers {
        if replaced_or_hop_by_hop(n) || listed.contains(n) {
            continue;
        }
        field(n.as_str().as_bytes(), v.as_bytes());
    }
    field(b"x-forwarded-for", fwd.forwarded_for.as_bytes());
    field(b"x-forwarded-proto", fwd.proto.as_bytes());
    field(b"forwarded", fwd.forwarded.as_bytes());
    match framing {
        BodyFraming::None => {
            // A client's `Content-Length: 0` (a POST without a body) is kept.
            if length {
                out.extend_from_slice(b"content-length: 0\r\n");
            }
        }
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            crate::framing::push_decimal(&mut out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Writes `body` as `framing` says; a body of known length must have exactly that length.
async fn write_body(
    wr: &mut OwnedWriteHalf,
    mut body: ReqBody,
    framing: BodyFraming,
) -> io::Result<()> {
    let mut sent: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| io::Error::other(format!("the client's body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            // Trailers: not forwarded.
            continue;
        };
        if data.is_empty() {
            continue;
        }
        sent += data.len() as u64;
        match framing {
            BodyFraming::Length(n) if sent > n => {
                return Err(io::Error::other(
                    "the client's body is longer than declared",
                ));
            }
            BodyFraming::Chunked => {
                let size = format!("{:x}\r\n", data.len());
                let mut chunk = size.as_bytes().chain(data).chain(&b"\r\n"[..]);
                wr.write_all_buf(&mut chunk).await?;
            }
            _ => {
                let mut data = data;
                wr.write_all_buf(&mut data).await?;
            }
        }
    }
    match framing {
        BodyFraming::Length(n) if sent != n => Err(io::Error::other(
            "the client's body is shorter than declared",
        )),
        BodyFraming::Chunked => wr.write_all(b"0\r\n\r\n").await,
        _ => Ok(()),
    }
}

/// A parsed response head.
struct Head {
    status: StatusCode,
    http11: bool,
    headers: HeaderMap,
    seen: Seen,
}

/// Which headers that need a closer look a head has, noted while parsing it: most responses
/// have none of them, and then framing costs no lookup in the map.
#[derive(Debug, Clone, Copy, Default)]
struct Seen {
    transfer_encoding: bool,
    content_length: bool,
    connection: bool,
    /// Any hop-by-hop header (`Connection` among them).
    hop_by_hop: bool,
}

/// Parses the response head at the start of `buf` and removes it from there: `None` when
/// more bytes are needed.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, String> {
    // Uninitialised slots: initialising 128 headers cost more than parsing a small head.
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let len = match config.parse_response_with_uninit_headers(&mut parsed, buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Err(format!("a response head longer than {MAX_HEAD} bytes"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("{e}")),
    };
    if len > MAX_HEAD {
        return Err(format!("a response head longer than {MAX_HEAD} bytes"));
    }
    let status = parsed
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or("no status code")?;
    let http11 = parsed.version == Some(1);
    // Where each name and value lies in `buf`, so that the values can share its bytes.
    let base = buf.as_ptr() as usize;
    let at: Vec<(usize, usize, usize, usize)> = parsed
        .headers
        .iter()
        .map(|h| {
            let n = h.name.as_ptr() as usize - base;
            let v = h.value.as_ptr() as usize - base;
            (n, n + h.name.len(), v, v + h.value.len())
        })
        .collect();
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(at.len());
    let mut seen = Seen::default();
    for &(n0, n1, v0, v1) in &at {
        let name = HeaderName::from_bytes(&head[n0..n1]).map_err(|_| {
            format!(
                "bad header name {:?}",
                String::from_utf8_lossy(&head[n0..n1])
            )
        })?;
        let value = crate::framing::header_value(head.slice(v0..v1));
        if crate::proxy::is_hop_by_hop(&name) {
            seen.hop_by_hop = true;
            seen.transfer_encoding |= name == header::TRANSFER_ENCODING;
            seen.connection |= name == header::CONNECTION;
        }
        seen.content_length |= name == header::CONTENT_LENGTH;
        headers.append(name, value);
    }
    Ok(Some(Head {
        status,
        http11,
        headers,
        seen,
    }))
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    Empty,
    Length(u64),
    Chunked,
    Close,
}

/// The response body's framing (RFC 9112 §6.3) and whether the connection may be reused;
/// removes `Transfer-Encoding` (the proxy frames the body itself) and a `Content-Length` it
/// overrides, and folds several agreeing lengths into one. `seen` says which of those headers
/// `headers` has.
fn response_framing(
    method: &Method,
    status: StatusCode,
    headers: &mut HeaderMap,
    seen: Seen,
) -> Result<(Framing, bool), String> {
    let no_body = *method == Method::HEAD
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if seen.transfer_encoding {
        let last = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(|c| c.trim_ascii())
            .rfind(|c| !c.is_empty())
            .unwrap_or(b"");
        let chunked = last.eq_ignore_ascii_case(b"chunked");
        headers.remove(header::TRANSFER_ENCODING);
        // With both, the length is ignored and the response is suspect: not reused.
        let reuse = headers.remove(header::CONTENT_LENGTH).is_none() && chunked;
        if no_body {
            return Ok((Framing::Empty, reuse));
        }
        return Ok((
            if chunked {
                Framing::Chunked
            } else {
                Framing::Close
            },
            reuse,
        ));
    }
    let length = if seen.content_length {
        content_length(headers)?
    } else {
        None
    };
    Ok(match (no_body, length) {
        (true, _) => (Framing::Empty, true),
        (false, Some(0)) => (Framing::Empty, true),
        (false, Some(n)) => (Framing::Length(n), true),
        (false, None) => (Framing::Close, false),
    })
}

/// The length `Content-Length` says: several headers, or a list in one, must agree, and are
/// folded into one header.
fn content_length(headers: &mut HeaderMap) -> Result<Option<u64>, String> {
    let mut length: Option<u64> = None;
    let mut values = 0;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        values += 1;
        for part in v.as_bytes().split(|&b| b == b',') {
            let n = parse_length(part.trim_ascii()).ok_or_else(|| {
                format!(
                    "bad Content-Length {:?}",
                    String::from_utf8_lossy(v.as_bytes())
                )
            })?;
            if length.is_some_and(|l| l != n) {
                return Err("conflicting Content-Length values".into());
            }
            length = Some(n);
        }
    }
    let listed = values > 1
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes().contains(&b','));
    if listed && let Some(n) = length {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    }
    Ok(length)
}

/// Whether the `Connection` header says `close`.
fn says_close(h: &HeaderMap) -> bool {
    h.get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// A connection being used: the socket (whole, or split while a task writes a request body)
/// and its read buffer.
struct Conn {
    io: Io,
    buf: BytesMut,
    /// The last read filled all the room it had.
    filled: bool,
}

enum Io {
    Whole(TcpStream),
    Split { rd: OwnedReadHalf, writer: Writer },
}

/// The task writing a request body, or its write half once it is done.
enum Writer {
    Running(WriterTask),
    Done(OwnedWriteHalf),
    Failed,
}

/// The writing task; dropped (the response is over or abandoned), it is stopped.
struct WriterTask(JoinHandle<io::Result<OwnedWriteHalf>>);

impl Drop for WriterTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Conn {
    /// Reads more into the buffer: the number of bytes read, 0 at the end of the stream. A
    /// request body's writer that fails meanwhile fails the read too.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let room = self.buf.capacity() - self.buf.len();
        if room < READ_CHUNK / 4 {
            // A previous read that filled its room asks for more this time.
            let want = if self.filled {
                (self.buf.capacity() * 2).clamp(READ_CHUNK, MAX_READ_CHUNK)
            } else {
                READ_CHUNK
            };
            self.buf.reserve(want);
        }
        let room = self.buf.capacity() - self.buf.len();
        let read = self.poll_read_io(cx);
        if let Poll::Ready(Ok(n)) = read {
            self.filled = n == room;
        }
        read
    }

    fn poll_read_io(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Whole(io) => tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut self.buf),
            Io::Split { rd, writer } => {
                let read = tokio_util::io::poll_read_buf(Pin::new(rd), cx, &mut self.buf);
                if read.is_ready() {
                    return read;
                }
                if let Writer::Running(task) = writer
                    && let Poll::Ready(done) = Pin::new(&mut task.0).poll(cx)
                {
                    match done {
                        Ok(Ok(wr)) => *writer = Writer::Done(wr),
                        Ok(Err(e)) => {
                            *writer = Writer::Failed;
                            return Poll::Ready(Err(e));
                        }
                        Err(e) => {
                            *writer = Writer::Failed;
                            return Poll::Ready(Err(io::Error::other(e)));
                        }
                    }
                }
                Poll::Pending
            }
        }
    }

    /// The socket whole again, if the request is entirely written.
    fn into_whole(self) -> Option<(TcpStream, BytesMut)> {
        let Conn { io, buf, .. } = self;
        match io {
            Io::Whole(io) => Some((io, buf)),
            Io::Split { rd, writer } => {
                let wr = match writer {
                    Writer::Done(wr) => wr,
                    // Finished but not yet seen: its result, taken without waiting.
                    Writer::Running(mut task) if task.0.is_finished() => {
                        let mut cx = Context::from_waker(std::task::Waker::noop());
                        match Pin::new(&mut task.0).poll(&mut cx) {
                            Poll::Ready(Ok(Ok(wr))) => wr,
                            _ => return None,
                        }
                    }
                    Writer::Running(_) | Writer::Failed => return None,
                };
                rd.reunite(wr).ok().map(|io| (io, buf))
            }
        }
    }
}

/// An upstream response body, read straight off its connection; the connection goes back to
/// the pool when the body has been read to its end.
pub struct UpBody {
    state: State,
    conn: Option<Conn>,
    reuse: bool,
    back: Option<(Arc<PoolInner>, SocketAddr)>,
}

impl std::fmt::Debug for UpBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpBody")
            .field("state", &self.state)
            .finish()
    }
}

fn body_error(why: &str) -> BoxError {
    format!("upstream response body: {why}").into()
}

impl UpBody {
    /// The body is over: the connection goes back to the pool when it can be reused.
    fn finish(&mut self) {
        self.state = State::Done;
        let Some(conn) = self.conn.take() else {
            return;
        };
        if !self.reuse || !conn.buf.is_empty() {
            return;
        }
        if let (Some((pool, to)), Some((io, buf))) = (self.back.take(), conn.into_whole()) {
            pool.give_back(to, io, buf);
        }
    }

    /// The next piece of body already in the buffer, `Ok(None)` when more must be read.
    fn decode(&mut self) -> Result<Option<Bytes>, BoxError> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let data = self.state.decode(&mut conn.buf).map_err(body_error)?;
        if self.state == State::Done {
            self.finish();
        }
        Ok(data)
    }
}

impl Body for UpBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            match self.decode() {
                Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                Ok(None) if self.state == State::Done => return Poll::Ready(None),
                Ok(None) => {}
                Err(e) => {
                    self.conn = None;
                    self.state = State::Done;
                    return Poll::Ready(Some(Err(e)));
                }
            }
            let Some(conn) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match ready!(conn.poll_read_more(cx)) {
                Ok(0) if self.state == State::Close => {
                    self.reuse = false;
                    self.finish();
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.conn = None;
                    self.state = State::Done;
                    return Poll::Ready(Some(Err(body_error(
                        "the upstream closed the connection before the body's end",
                    ))));
                }
                Ok(_) => {}
                Err(e) => {
                    self.conn = None;
                    self.state = State::Done;
                    return Poll::Ready(Some(Err(body_error(&e.to_string()))));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == State::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            State::Length(n) => SizeHint::with_exact(n),
            State::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Result<Option<Head>, String> {
        let mut b = BytesMut::from(bytes);
        parse_head(&mut b)
    }

    fn framing_of(method: Method, raw: &str) -> Result<(Framing, bool, HeaderMap), String> {
        let mut h = head(raw.as_bytes())?.ok_or("partial")?;
        let (f, reuse) = response_framing(&method, h.status, &mut h.headers, h.seen)?;
        Ok((f, reuse, h.headers))
    }

    #[test]
    fn heads_parse_and_share_the_buffer() {
        let mut b =
            BytesMut::from(&b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello"[..]);
        let h = parse_head(&mut b).unwrap().unwrap();
        assert_eq!(h.status, 200);
        assert!(h.http11);
        assert_eq!(h.headers["x-a"], "b");
        assert_eq!(&b[..], b"hello");
        assert!(head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
        assert!(!head(b"HTTP/1.0 200 OK\r\n\r\n").unwrap().unwrap().http11);
    }

    #[test]
    fn bad_heads_are_refused() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"[..], // obs-fold
            b"HTTP/1.1 200 OK\r\nA : b\r\n\r\n",           // space before colon
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/2 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA\x01: b\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n",
        ] {
            assert!(head(raw).is_err(), "{:?}", String::from_utf8_lossy(raw));
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        assert!(head(format!("HTTP/1.1 200 OK\r\n{many}\r\n").as_bytes()).is_err());
        let long = format!("HTTP/1.1 200 OK\r\nA: {}", "x".repeat(MAX_HEAD + 1));
        assert!(head(long.as_bytes()).is_err());
    }

    #[test]
    fn framing_follows_rfc9112() {
        let ok = |m: Method, raw: &str| framing_of(m, raw).unwrap();
        assert_eq!(
            ok(Method::GET, "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n").0,
            Framing::Length(7)
        );
        assert_eq!(
            ok(Method::GET, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").0,
            Framing::Empty
        );
        let (f, reuse, h) = ok(
            Method::GET,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!((f, reuse), (Framing::Chunked, true));
        assert!(!h.contains_key(header::TRANSFER_ENCODING));
        // TE wins over CL, the CL goes, the connection is not reused.
        let (f, reuse, h) = ok(
            Method::GET,
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        assert_eq!((f, reuse), (Framing::Chunked, false));
        assert!(!h.contains_key(header::CONTENT_LENGTH));
        // A last coding other than chunked: read to close.
        let (f, reuse, _) = ok(
            Method::GET,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        );
        assert_eq!((f, reuse), (Framing::Close, false));
        let (f, reuse, _) = ok(Method::GET, "HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((f, reuse), (Framing::Close, false));
        // Agreeing lengths fold into one.
        let (f, _, h) = ok(
            Method::GET,
            "HTTP/1.1 200 OK\r\nContent-Length: 4, 4\r\nContent-Length: 4\r\n\r\n",
        );
        assert_eq!(f, Framing::Length(4));
        assert_eq!(h.get_all(header::CONTENT_LENGTH).iter().count(), 1);
        assert_eq!(h[header::CONTENT_LENGTH], "4");
        // No body, whatever the headers say.
        for (m, raw) in [
            (Method::HEAD, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"),
            (Method::GET, "HTTP/1.1 204 No Content\r\n\r\n"),
            (
                Method::GET,
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            ),
        ] {
            let (f, reuse, h) = ok(m, raw);
            assert_eq!((f, reuse), (Framing::Empty, true), "{raw}");
            if raw.contains("9") {
                assert_eq!(h[header::CONTENT_LENGTH], "9");
            }
        }
        for raw in [
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 4, 5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +4\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0x4\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
        ] {
            assert!(framing_of(Method::GET, raw).is_err(), "{raw}");
        }
        assert!(says_close(
            &framing_of(
                Method::GET,
                "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n"
            )
            .unwrap()
            .2
        ));
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// No upstream bytes make the head parser panic (the body decoder's own property is in
        /// `framing`).
        #[test]
        fn no_upstream_bytes_panic(
            pieces in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "0", "5", "a", "F", "10", ";x=y", ";", "\r\n", "\n", "\r", " ",
                        "hello", "HTTP/1.1 200 OK\r\n", "Content-Length: 3\r\n",
                        "Transfer-Encoding: chunked\r\n", "X: y\r\n",
                    ]).prop_map(|s| s.as_bytes().to_vec()),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
                ],
                0..40,
            ),
        ) {
            let wire: Vec<u8> = pieces.concat();
            let _ = head(&wire);
            let _ = framing_of(Method::GET, &String::from_utf8_lossy(&wire));
        }
    }
}
