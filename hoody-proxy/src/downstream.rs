//! The client side of HTTP/1.1, written for the proxy: reads requests off a client's
//! connection, hands each to the proxy as an `http::Request` whose body streams straight off
//! the connection, and writes the response back. HTTP/2 (ALPN `h2`, or the prior-knowledge
//! preface on a plain connection) goes to hyper's HTTP/2 server instead ([`serve`]).
//!
//! # Why not hyper's server
//!
//! Measured with callgrind, hyper's HTTP/1 server side (its dispatcher, connection state
//! machine, buffered I/O and encoder) was about 10k of the proxy's 24k instructions per
//! request, the largest part left after the upstream side was rewritten (`upstream`), and the
//! reason plain HTTP stayed below nginx's throughput. Here a request costs one read and one
//! write on the connection (the response head and a small body go out in one `write`), header
//! values share the read buffer and are not checked a second time (httparse allowed only what
//! a header value may hold), and the loop holds nothing between requests but its read and
//! write buffers.
//!
//! # What a request must look like (RFC 9112)
//!
//! The head is parsed by httparse, strictly: no obsolete line folding, no whitespace before a
//! colon, at most [`MAX_HEADERS`] fields in [`MAX_HEAD`] bytes (else 431). The body's length
//! follows §6.3: `Transfer-Encoding` must end in `chunked` and appear only in HTTP/1.1 (else
//! 400); with it, a `Content-Length` is dropped and the connection closed after the response
//! (a message with both may be an attempt to smuggle a request); `Content-Length` values must
//! agree and be digits (else 400); without either there is no body. Bad requests are answered
//! with `{statusCode, error, message}` and the connection closed; nothing after a request the
//! proxy could not frame is ever read as a request.
//!
//! A request body is read by whoever forwards it, off the connection's buffer and socket
//! ([`ReqBody`]); it hands them back when it reaches its end. A response that ends before its
//! request's body was read to the end closes the connection: the next request's start is
//! unknown. Such closes, and those after a refused request, linger: the proxy's side is shut
//! and what the client still sends is read and dropped for a while, so that the response is
//! not lost to a reset. `Expect: 100-continue` is answered at once. Responses: the length when the body
//! knows it, else chunked (HTTP/1.1) or up to the close (HTTP/1.0); none for `HEAD`, 1xx, 204
//! and 304; a `Date` when the response has none. A `101` to an upgrade request (WebSocket)
//! splices the connection with the upstream's ([`UpstreamUpgrade`]).

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;

use crate::framing::{State, lists, parse_length, push_decimal};
use crate::guard::ConnGuard;
use crate::upstream::BoxError;

/// The longest request head (request line and header fields).
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header fields in a request head.
pub const MAX_HEADERS: usize = 100;
/// Room made in the read buffer for a read.
const READ_CHUNK: usize = 8 * 1024;
/// Response body pieces up to this size are copied next to their framing and written with
/// it in one `write`; bigger ones are written on their own.
const COALESCE: usize = 16 * 1024;
/// How long a closing connection is drained ([`linger`]), and how long the proxy waits for a
/// request body a response ended before to be let go of.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);
/// The most bytes drained from a closing connection.
const LINGER_BYTES: usize = 16 << 20;
/// The HTTP/2 connection preface a prior-knowledge client opens with.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Buffer per direction of a spliced (WebSocket) tunnel. Idle WebSockets are mostly these
/// buffers; 4 KiB carries interactive traffic without a second read.
const TUNNEL_BUF: usize = 4096;

/// The read side of a client connection: the socket's read half and what was read but not
/// yet taken.
struct Reader {
    rd: Box<dyn AsyncRead + Send + Unpin>,
    buf: BytesMut,
}

impl Reader {
    /// Reads more into the buffer: the bytes read, 0 at the end of the stream.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.rd), cx, &mut self.buf)
    }
}

/// A request body: from this server, read off the client's connection; from hyper's HTTP/2
/// server, hyper's.
pub struct ReqBody(Kind);

enum Kind {
    Empty,
    Hyper(Incoming),
    Own(OwnBody),
}

struct OwnBody {
    state: State,
    reader: Option<Reader>,
    /// Where the reader goes back to: when the body has been read to its end (`true`), or
    /// when it is dropped before (`false`).
    back: Option<oneshot::Sender<(Reader, bool)>>,
}

impl Drop for OwnBody {
    fn drop(&mut self) {
        self.give_back(false);
    }
}

impl std::fmt::Debug for ReqBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.0 {
            Kind::Empty => "ReqBody::Empty",
            Kind::Hyper(_) => "ReqBody::Hyper",
            Kind::Own(_) => "ReqBody::Own",
        })
    }
}

impl ReqBody {
    /// No body.
    pub fn empty() -> Self {
        ReqBody(Kind::Empty)
    }
}

impl From<Incoming> for ReqBody {
    fn from(b: Incoming) -> Self {
        ReqBody(Kind::Hyper(b))
    }
}

impl OwnBody {
    /// The reader goes back to the connection; `complete`: the body was read to its end.
    fn give_back(&mut self, complete: bool) {
        if let (Some(r), Some(tx)) = (self.reader.take(), self.back.take()) {
            let _ = tx.send((r, complete));
        }
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            let Some(r) = self.reader.as_mut() else {
                return Poll::Ready(None);
            };
            match self.state.decode(&mut r.buf) {
                Err(why) => {
                    self.reader = None;
                    return Poll::Ready(Some(Err(format!("the client's body: {why}").into())));
                }
                Ok(Some(data)) => {
                    if self.state == State::Done {
                        self.give_back(true);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(None) if self.state == State::Done => {
                    self.give_back(true);
                    return Poll::Ready(None);
                }
                Ok(None) => {}
            }
            match ready!(r.poll_read_more(cx)) {
                Ok(0) => {
                    self.reader = None;
                    return Poll::Ready(Some(Err(
                        "the client closed the connection before its body's end".into(),
                    )));
                }
                Ok(_) => {}
                Err(e) => {
                    self.reader = None;
                    return Poll::Ready(Some(Err(format!("the client's body: {e}").into())));
                }
            }
        }
    }
}

impl Body for ReqBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.0 {
            Kind::Empty => Poll::Ready(None),
            Kind::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(BoxError::from),
            Kind::Own(b) => b.poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Empty => true,
            Kind::Hyper(b) => b.is_end_stream(),
            Kind::Own(b) => b.state == State::Done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Hyper(b) => b.size_hint(),
            Kind::Own(b) => match b.state {
                State::Length(n) => SizeHint::with_exact(n),
                State::Done => SizeHint::with_exact(0),
                _ => SizeHint::default(),
            },
        }
    }
}

/// The upstream's side of a `101 Switching Protocols`, put in the response's extensions by
/// whoever sent the upgrade request on: the connection splices the client with it. (Shared
/// only because extensions must be `Clone`; it is taken once.)
#[derive(Debug, Clone)]
pub struct UpstreamUpgrade(Arc<Mutex<Option<hyper::upgrade::OnUpgrade>>>);

impl UpstreamUpgrade {
    /// Wraps the upstream's side.
    pub fn new(up: hyper::upgrade::OnUpgrade) -> Self {
        UpstreamUpgrade(Arc::new(Mutex::new(Some(up))))
    }

    /// The upstream's side, once.
    pub fn take(&mut self) -> Option<hyper::upgrade::OnUpgrade> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Whether a head asks to upgrade the connection (`Connection: upgrade` with `Upgrade`).
pub fn is_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION)
            .iter()
            .any(|v| lists(v.as_bytes(), b"upgrade"))
}

/// A request head as parsed, with what the connection needs to know of it.
struct Parsed {
    req: Request<()>,
    /// How its body is framed on the connection.
    body: State,
    /// The connection may carry another request after this one.
    keep_alive: bool,
    /// `Expect: 100-continue` (HTTP/1.1, with a body).
    expect_continue: bool,
    /// An upgrade request (see [`is_upgrade`]).
    upgrade: bool,
}

/// A request that cannot be served: the status and why.
struct Refusal(StatusCode, &'static str, String);

/// Parses the request head at the start of `buf` and takes it off: `None` when more is needed.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Parsed>, Refusal> {
    let bad = |why: String| Refusal(StatusCode::BAD_REQUEST, "BAD_REQUEST", why);
    let mut slots =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut []);
    let too_big = || {
        Refusal(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HEAD_TOO_LARGE",
            format!(
                "a request head longer than {MAX_HEAD} bytes or with more than {MAX_HEADERS} fields"
            ),
        )
    };
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut parsed,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(too_big()),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_big()),
        Err(e) => return Err(bad(format!("a malformed request head: {e}"))),
    };
    if len > MAX_HEAD {
        return Err(too_big());
    }
    let method = Method::from_bytes(parsed.method.unwrap_or("").as_bytes())
        .map_err(|_| bad("a malformed method".into()))?;
    let http11 = parsed.version == Some(1);
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let path = parsed.path.unwrap_or("");
    let target = (offset(path.as_bytes()), path.len());
    // Where each name and value lies, so that values (and the target) share the head's bytes.
    let mut at = [(0u32, 0u32, 0u32, 0u32); MAX_HEADERS];
    let count = parsed.headers.len();
    for (slot, h) in at.iter_mut().zip(parsed.headers.iter()) {
        let (n, v) = (offset(h.name.as_bytes()), offset(h.value));
        *slot = (
            n as u32,
            h.name.len() as u32,
            v as u32,
            h.value.len() as u32,
        );
    }
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(target.0..target.0 + target.1))
        .map_err(|_| bad("a malformed request target".into()))?;
    let mut headers = HeaderMap::with_capacity(count);
    let (mut te, mut cl, mut connection, mut expect, mut upgrade) =
        (false, false, false, false, false);
    for &(n, nl, v, vl) in &at[..count] {
        let (n, v) = (n as usize, v as usize);
        let name = HeaderName::from_bytes(&head[n..n + nl as usize])
            .map_err(|_| bad("a malformed header name".into()))?;
        let value = crate::framing::header_value(head.slice(v..v + vl as usize));
        te |= name == header::TRANSFER_ENCODING;
        upgrade |= name == header::UPGRADE;
        cl |= name == header::CONTENT_LENGTH;
        connection |= name == header::CONNECTION;
        expect |= name == header::EXPECT;
        headers.append(name, value);
    }
    let mut keep_alive = http11;
    if connection {
        let mut says_upgrade = false;
        for v in headers.get_all(header::CONNECTION) {
            if lists(v.as_bytes(), b"close") {
                keep_alive = false;
            } else if !http11 && lists(v.as_bytes(), b"keep-alive") {
                keep_alive = true;
            }
            says_upgrade |= lists(v.as_bytes(), b"upgrade");
        }
        upgrade &= says_upgrade;
    } else {
        upgrade = false;
    }
    let body = if te {
        if !http11 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request".into()));
        }
        let codings: Vec<&[u8]> = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(<[u8]>::trim_ascii)
            .filter(|c| !c.is_empty())
            .collect();
        let chunked = |c: &[u8]| c.eq_ignore_ascii_case(b"chunked");
        let times = codings.iter().filter(|c| chunked(c)).count();
        if codings.last().is_none_or(|c| !chunked(c)) || times > 1 {
            return Err(bad("Transfer-Encoding must end in chunked, once".into()));
        }
        if cl {
            // Both: the length is ignored (RFC 9112 §6.3), and the connection is not trusted
            // with another request.
            headers.remove(header::CONTENT_LENGTH);
            keep_alive = false;
        }
        State::chunked()
    } else if cl {
        let mut length = None;
        for v in headers.get_all(header::CONTENT_LENGTH) {
            for part in v.as_bytes().split(|&b| b == b',') {
                let n = parse_length(part.trim_ascii())
                    .ok_or_else(|| bad("a malformed Content-Length".into()))?;
                if length.is_some_and(|l| l != n) {
                    return Err(bad("conflicting Content-Length values".into()));
                }
                length = Some(n);
            }
        }
        State::length(length.unwrap_or(0))
    } else {
        State::Done
    };
    let expect_continue = expect
        && http11
        && body != State::Done
        && headers
            .get_all(header::EXPECT)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = if http11 {
        Version::HTTP_11
    } else {
        Version::HTTP_10
    };
    *req.headers_mut() = headers;
    Ok(Some(Parsed {
        req,
        body,
        keep_alive,
        expect_continue,
        upgrade,
    }))
}

/// Serves one client connection: HTTP/2 (by hyper) when `h2` (ALPN said so) or when the
/// client opens with the prior-knowledge preface, else HTTP/1.1 here. Each request is answered
/// by `service`. Returns when the connection is over; `guard` closes it when idle for long
/// (see [`crate::guard`]).
pub async fn serve<I, S, F, B>(
    io: I,
    h2: bool,
    guard: &ConnGuard,
    idle_timeout: std::time::Duration,
    service: S,
) where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Fn(Request<ReqBody>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes, Error = BoxError> + Send + 'static,
{
    let mut io = io;
    let mut buf = BytesMut::new();
    if !h2 {
        // Enough of the first bytes to tell an HTTP/2 preface from an HTTP/1 request line,
        // within the idle timeout (the guard watches the connection only after this).
        let detect = async {
            loop {
                let n = buf.len().min(H2_PREFACE.len());
                if buf[..n] != H2_PREFACE[..n] || n == H2_PREFACE.len() {
                    return true;
                }
                buf.reserve(READ_CHUNK);
                match tokio_util::io::read_buf(&mut io, &mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(_) => {}
                }
            }
        };
        if !matches!(tokio::time::timeout(idle_timeout, detect).await, Ok(true)) {
            return;
        }
    }
    if h2 || buf.starts_with(H2_PREFACE) {
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let f = service(req.map(ReqBody::from));
            async move { Ok::<_, std::convert::Infallible>(f.await) }
        });
        let io = Prefixed {
            prefix: buf.freeze(),
            io,
        };
        let conn = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .serve_connection(hyper_util::rt::TokioIo::new(io), svc);
        let conn = pin!(conn);
        crate::guard::watch(conn, guard, idle_timeout, |c| c.graceful_shutdown()).await;
        return;
    }
    let (rd, wr) = tokio::io::split(io);
    let reader = Reader {
        rd: Box::new(rd),
        buf,
    };
    let conn = pin!(serve_http1(reader, wr, guard, service));
    // Closing an idle HTTP/1 connection is closing it: the loop sees the flag while it waits.
    crate::guard::watch(conn, guard, idle_timeout, |_| guard.close()).await;
}

/// The HTTP/1.1 loop: a request, its response, the next request.
async fn serve_http1<W, S, F, B>(mut reader: Reader, mut wr: W, guard: &ConnGuard, service: S)
where
    W: AsyncWrite + Send + Unpin + 'static,
    S: Fn(Request<ReqBody>) -> F,
    F: Future<Output = Response<B>>,
    B: Body<Data = Bytes, Error = BoxError>,
{
    let mut out = Vec::with_capacity(1024);
    loop {
        // The next request head.
        let parsed = loop {
            if !reader.buf.is_empty() {
                match parse_head(&mut reader.buf) {
                    Ok(Some(p)) => break p,
                    Ok(None) => {}
                    Err(Refusal(status, code, why)) => {
                        refuse(&mut wr, &mut out, status, code, &why).await;
                        return linger(reader, wr).await;
                    }
                }
            }
            let read = poll_fn(|cx| {
                if guard.is_closing() {
                    return Poll::Ready(Ok(0));
                }
                reader.poll_read_more(cx)
            });
            match read.await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let Parsed {
            req,
            body,
            mut keep_alive,
            expect_continue,
            upgrade,
        } = parsed;
        if req.method() == Method::CONNECT {
            let why = "CONNECT: this is a reverse proxy, not a forward one";
            refuse(
                &mut wr,
                &mut out,
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                why,
            )
            .await;
            return linger(reader, wr).await;
        }
        let http10 = req.version() == Version::HTTP_10;
        let head_request = req.method() == Method::HEAD;
        if expect_continue
            && wr
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await
                .is_err()
        {
            return;
        }
        // A body takes the reader with it and gives it back at its end.
        let (req, back, kept) = if body == State::Done {
            (req.map(|()| ReqBody::empty()), None, Some(reader))
        } else {
            let (tx, rx) = oneshot::channel();
            let own = OwnBody {
                state: body,
                reader: Some(reader),
                back: Some(tx),
            };
            (req.map(|()| ReqBody(Kind::Own(own))), Some(rx), None)
        };
        let mut resp = service(req).await;
        let status = resp.status();
        if status == StatusCode::SWITCHING_PROTOCOLS
            && upgrade
            && let Some(up) = resp
                .extensions_mut()
                .get_mut::<UpstreamUpgrade>()
                .and_then(UpstreamUpgrade::take)
        {
            // An upgrade request has no body: the reader is here.
            let Some(reader) = kept else {
                return;
            };
            out.clear();
            encode_head(&mut out, &resp, http10, Framing::None, true);
            drop(resp);
            if wr.write_all(&out).await.is_err() || wr.flush().await.is_err() {
                return;
            }
            // The tunnel outlives this connection's loop (and its idle guard).
            tokio::spawn(tunnel(reader, wr, up));
            return;
        }
        if status.is_informational() {
            // A 101 that splices nothing: the connection is no longer HTTP.
            keep_alive = false;
        }
        let no_body = head_request
            || status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED;
        let framing = if no_body {
            Framing::None
        } else if let Some(n) = resp.body().size_hint().exact() {
            Framing::Length(n)
        } else if http10 {
            keep_alive = false;
            Framing::Close
        } else {
            Framing::Chunked
        };
        out.clear();
        encode_head(&mut out, &resp, http10, framing, keep_alive);
        let written = {
            // Dropped at the end of this block: the request is over (logged) once its response
            // has been written, not when the connection has found out about the request body.
            let body = pin!(resp.into_body());
            if no_body {
                wr.write_all(&out).await
            } else {
                write_body(&mut wr, &mut out, body, framing).await
            }
        };
        if written.is_err() || wr.flush().await.is_err() {
            return;
        }
        // The request's body: back with the reader when it was read to its end; else the
        // next request's start is unknown, and the connection is closed.
        reader = match (kept, back) {
            (Some(r), _) => r,
            (None, Some(mut rx)) => {
                let returned = match rx.try_recv() {
                    Ok(r) => Some(r),
                    // Whoever holds the body lets go of it soon (a forwarding task stopping).
                    Err(oneshot::error::TryRecvError::Empty) => tokio::time::timeout(LINGER, rx)
                        .await
                        .ok()
                        .and_then(Result::ok),
                    Err(oneshot::error::TryRecvError::Closed) => None,
                };
                match returned {
                    Some((r, true)) => r,
                    Some((r, false)) => return linger(r, wr).await,
                    None => return,
                }
            }
            (None, None) => return,
        };
        if !keep_alive {
            let _ = wr.shutdown().await;
            return;
        }
        if out.capacity() > 4 * COALESCE {
            // Not kept for the connection's life after one big head.
            out = Vec::with_capacity(1024);
        }
    }
}

/// How a response body goes on the connection.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    Close,
}

/// The status line and the fields of `resp`, then the framing's and the connection's.
fn encode_head<B>(
    out: &mut Vec<u8>,
    resp: &Response<B>,
    http10: bool,
    framing: Framing,
    keep_alive: bool,
) {
    let status = resp.status();
    out.extend_from_slice(if http10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let own_framing = !matches!(framing, Framing::None);
    let (mut date, mut connection) = (false, false);
    for (n, v) in resp.headers() {
        if own_framing && (n == header::CONTENT_LENGTH || n == header::TRANSFER_ENCODING) {
            continue;
        }
        date |= n == header::DATE;
        connection |= n == header::CONNECTION;
        out.extend_from_slice(n.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    match framing {
        Framing::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        Framing::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
        Framing::None | Framing::Close => {}
    }
    if !date {
        out.extend_from_slice(b"date: ");
        http_date(out);
        out.extend_from_slice(b"\r\n");
    }
    if !connection {
        if !keep_alive {
            out.extend_from_slice(b"connection: close\r\n");
        } else if http10 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the current time as an HTTP date, formatted once a second per thread.
fn http_date(out: &mut Vec<u8>) {
    thread_local! {
        static CACHED: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    CACHED.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != now {
            *c = (now, hoody_sys::time::http_date(now as i64));
        }
        out.extend_from_slice(c.1.as_bytes());
    });
}

/// Writes the head in `out` and the body after it, framed: the head goes out with the first
/// piece of body when that piece is there already and small.
async fn write_body<W, B>(
    wr: &mut W,
    out: &mut Vec<u8>,
    mut body: Pin<&mut B>,
    framing: Framing,
) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
    B: Body<Data = Bytes, Error = BoxError>,
{
    let mut sent: u64 = 0;
    let mut head_pending = true;
    loop {
        let frame = if head_pending {
            // What the body has at once, without waiting: else the head goes out alone.
            match poll_fn(|cx| Poll::Ready(body.as_mut().poll_frame(cx))).await {
                Poll::Ready(f) => f,
                Poll::Pending => {
                    wr.write_all(out).await?;
                    out.clear();
                    wr.flush().await?;
                    head_pending = false;
                    poll_fn(|cx| body.as_mut().poll_frame(cx)).await
                }
            }
        } else {
            poll_fn(|cx| body.as_mut().poll_frame(cx)).await
        };
        let data = match frame {
            None => break,
            Some(Err(_)) => {
                // Nothing tells the client the body broke but the connection's end.
                return Err(io::Error::other("the response body failed"));
            }
            Some(Ok(f)) => match f.into_data() {
                Ok(d) if !d.is_empty() => d,
                // Trailers (not forwarded) and empty pieces.
                _ => continue,
            },
        };
        sent += data.len() as u64;
        if let Framing::Length(n) = framing
            && sent > n
        {
            return Err(io::Error::other(
                "the response body is longer than its length",
            ));
        }
        let chunked = framing == Framing::Chunked;
        if chunked {
            out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
        }
        if data.len() <= COALESCE {
            out.extend_from_slice(&data);
            if chunked {
                out.extend_from_slice(b"\r\n");
            }
            wr.write_all(out).await?;
            out.clear();
        } else {
            if !out.is_empty() {
                wr.write_all(out).await?;
                out.clear();
            }
            wr.write_all(&data).await?;
            if chunked {
                wr.write_all(b"\r\n").await?;
            }
        }
        head_pending = false;
    }
    if let Framing::Length(n) = framing
        && sent != n
    {
        return Err(io::Error::other(
            "the response body is shorter than its length",
        ));
    }
    if framing == Framing::Chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    if !out.is_empty() {
        wr.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

/// Answers a request the proxy will not serve, and closes.
async fn refuse<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &mut Vec<u8>,
    status: StatusCode,
    code: &str,
    why: &str,
) {
    let (resp, body) = crate::proxy::error_parts(status, code, why);
    out.clear();
    encode_head(out, &resp, false, Framing::Length(body.len() as u64), false);
    out.extend_from_slice(&body);
    let _ = wr.write_all(out).await;
}

/// Closes a connection whose client may still be sending (a body the proxy did not read, a
/// request it refused): the proxy's side is shut first, then what arrives is read and dropped
/// for a while. Closing a socket with unread bytes would reset the connection, and the client
/// could lose the response it was sent (nginx's lingering close).
async fn linger<W: AsyncWrite + Unpin>(mut reader: Reader, mut wr: W) {
    if wr.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut left = LINGER_BYTES;
        loop {
            reader.buf.clear();
            match poll_fn(|cx| reader.poll_read_more(cx)).await {
                Ok(0) | Err(_) => return,
                Ok(n) if n >= left => return,
                Ok(n) => left -= n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Splices the client's connection with the upstream's once its upgrade completes.
async fn tunnel<W>(reader: Reader, wr: W, up: hyper::upgrade::OnUpgrade)
where
    W: AsyncWrite + Send + Unpin + 'static,
{
    let Ok(up) = up.await else {
        return;
    };
    let Reader { rd, buf } = reader;
    // What the client sent after its handshake, in a buffer of its own size: the read buffer
    // is not kept for the tunnel's life (idle WebSockets are many).
    let mut client = Joined {
        rd: Prefixed {
            prefix: Bytes::copy_from_slice(&buf),
            io: rd,
        },
        wr,
    };
    drop(buf);
    let mut up = hyper_util::rt::TokioIo::new(up);
    let _ = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut up, TUNNEL_BUF, TUNNEL_BUF)
        .await;
}

/// An I/O object whose first reads return `prefix` (bytes already read off it).
struct Prefixed<I> {
    prefix: Bytes,
    io: I,
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(out.remaining());
            out.put_slice(&self.prefix.split_to(n));
            if self.prefix.is_empty() {
                // Lets go of the buffer it was part of.
                self.prefix = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, out)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, b)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// A read side and a write side as one I/O object.
struct Joined<R, W> {
    rd: R,
    wr: W,
}

impl<R: AsyncRead + Unpin, W: Unpin> AsyncRead for Joined<R, W> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.rd).poll_read(cx, out)
    }
}

impl<R: Unpin, W: AsyncWrite + Unpin> AsyncWrite for Joined<R, W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.wr).poll_write(cx, b)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.wr).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.wr).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::time::Duration;
    use tokio::io::AsyncReadExt;

    fn parse(raw: &str) -> Result<Option<Parsed>, u16> {
        let mut b = BytesMut::from(raw.as_bytes());
        parse_head(&mut b).map_err(|Refusal(s, _, _)| s.as_u16())
    }

    fn parsed(raw: &str) -> Parsed {
        parse(raw).unwrap().unwrap()
    }

    #[test]
    fn heads_parse_with_their_framing() {
        let p = parsed("GET /a?b HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n");
        assert_eq!(p.req.method(), Method::GET);
        assert_eq!(p.req.uri(), "/a?b");
        assert_eq!(p.req.version(), Version::HTTP_11);
        assert_eq!(p.req.headers()["x-a"], "1");
        assert!(p.keep_alive && !p.upgrade && !p.expect_continue);
        assert_eq!(p.body, State::Done);
        assert!(!parsed("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive);
        assert!(!parsed("GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(parsed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        let p = parsed("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        assert_eq!(p.body, State::Length(5));
        let p = parsed("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n");
        assert_eq!(p.body, State::Length(5));
        let p = parsed("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(p.body, State::chunked());
        assert!(p.keep_alive);
        // Both: chunked, the length dropped, and no further request on this connection.
        let p =
            parsed("POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(p.body, State::chunked());
        assert!(!p.keep_alive);
        assert!(!p.req.headers().contains_key(header::CONTENT_LENGTH));
        let p = parsed(
            "GET /ws HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        );
        assert!(p.upgrade);
        assert!(!parsed("GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").upgrade);
        let p = parsed("PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(p.expect_continue);
        assert!(!parsed("GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expect_continue);
        let p = parsed("GET http://h.example/x HTTP/1.1\r\nHost: h.example\r\n\r\n");
        assert_eq!(p.req.uri().authority().unwrap(), "h.example");
    }

    #[test]
    fn bad_heads_are_refused() {
        for (raw, status) in [
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nContent-Length: 0x5\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                400,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n",
                400,
            ),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nA : b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400),
            ("GET  / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\n\r\n", 400),
            ("G\u{1}T / HTTP/1.1\r\n\r\n", 400),
        ] {
            assert_eq!(parse(raw).err(), Some(status), "{raw:?}");
        }
        let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
        assert_eq!(
            parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).err(),
            Some(431)
        );
        let long = format!("GET / HTTP/1.1\r\nA: {}", "x".repeat(MAX_HEAD + 1));
        assert_eq!(parse(&long).err(), Some(431));
    }

    #[test]
    fn a_partial_head_waits_and_leaves_the_buffer_alone() {
        let mut b = BytesMut::from(&b"GET / HTTP/1.1\r\nHost: h\r\n"[..]);
        assert!(parse_head(&mut b).map_err(|_| ()).unwrap().is_none());
        assert_eq!(&b[..], b"GET / HTTP/1.1\r\nHost: h\r\n");
        b.extend_from_slice(b"\r\nGET /next");
        let p = parse_head(&mut b).map_err(|_| ()).unwrap().unwrap();
        assert_eq!(p.req.uri(), "/");
        assert_eq!(&b[..], b"GET /next");
    }

    #[test]
    fn http_dates_are_http_dates() {
        let mut out = Vec::new();
        http_date(&mut out);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s.len(), 29, "{s}");
        assert!(s.ends_with(" GMT"), "{s}");
    }

    proptest::proptest! {
        /// No bytes make the head parser panic.
        #[test]
        fn no_request_bytes_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            prefix in proptest::sample::select(vec![
                "", "GET / HTTP/1.1\r\n", "POST /x HTTP/1.1\r\nContent-Length: ",
                "POST / HTTP/1.1\r\nTransfer-Encoding: ",
            ]),
        ) {
            let mut b = BytesMut::from(prefix.as_bytes());
            b.extend_from_slice(&bytes);
            let _ = parse_head(&mut b);
        }
    }

    /// A server on a local port whose service answers `{method} {path} {body length}`
    /// (reading the body), except on `/ignore` where it answers without reading it, and on
    /// `/chunked` with a body of unknown length.
    async fn server() -> std::net::SocketAddr {
        server_with(Duration::from_secs(30)).await
    }

    /// [`server`] closing connections idle for `idle`.
    async fn server_with(idle: Duration) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (s, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let guard = ConnGuard::new();
                    let service = |req: Request<ReqBody>| async move {
                        let (parts, body) = req.into_parts();
                        let text = if parts.uri.path() == "/ignore" {
                            "ignored".to_string()
                        } else {
                            let n = body.collect().await.map(|b| b.to_bytes().len());
                            format!("{} {} {:?}", parts.method, parts.uri.path(), n.ok())
                        };
                        let body: http_body_util::combinators::BoxBody<Bytes, BoxError> =
                            if parts.uri.path() == "/chunked" {
                                Unsized(Some(Bytes::from(text))).boxed()
                            } else {
                                Full::new(Bytes::from(text)).map_err(|n| match n {}).boxed()
                            };
                        Response::new(body)
                    };
                    serve(s, false, &guard, idle, service).await;
                });
            }
        });
        addr
    }

    /// One piece of data, its length not told (a body without a known length).
    struct Unsized(Option<Bytes>);

    impl Body for Unsized {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Ready(self.0.take().map(|d| Ok(Frame::data(d))))
        }
    }

    /// Sends `raw` and reads until the server closes or `until` appears (counted `times`).
    async fn exchange(addr: std::net::SocketAddr, raw: &[u8], until: &str, times: usize) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut got = Vec::new();
        let read = async {
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if !until.is_empty()
                    && String::from_utf8_lossy(&got).matches(until).count() >= times
                {
                    break;
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .unwrap();
        String::from_utf8(got).unwrap()
    }

    #[tokio::test]
    async fn pipelined_requests_are_answered_in_order() {
        let addr = server().await;
        let raw = b"GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloPOST /3 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /4 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
        let got = exchange(addr, raw, "", 0).await;
        let bodies: Vec<&str> = got
            .split("HTTP/1.1 200 OK\r\n")
            .skip(1)
            .map(|r| r.split("\r\n\r\n").nth(1).unwrap())
            .collect();
        assert_eq!(
            bodies,
            [
                "GET /1 Some(0)",
                "POST /2 Some(5)",
                "POST /3 Some(3)",
                "GET /4 Some(0)"
            ],
            "{got}"
        );
        assert!(got.contains("content-length: 14\r\n"), "{got}");
        assert!(got.contains("date: "), "{got}");
        // Only the last one, which asked for it, closes the connection.
        assert_eq!(got.matches("connection: close\r\n").count(), 1, "{got}");
        assert!(
            got.ends_with("connection: close\r\n\r\nGET /4 Some(0)"),
            "{got}"
        );
    }

    #[tokio::test]
    async fn bodies_of_unknown_length_are_chunked_or_end_with_the_connection() {
        let addr = server().await;
        let got = exchange(
            addr,
            b"GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n",
            "0\r\n\r\n",
            1,
        )
        .await;
        assert!(got.contains("transfer-encoding: chunked\r\n"), "{got}");
        assert!(
            got.ends_with("\r\n\r\n14\r\nGET /chunked Some(0)\r\n0\r\n\r\n"),
            "{got}"
        );
        let got = exchange(
            addr,
            b"GET /chunked HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            "",
            0,
        )
        .await;
        assert!(got.starts_with("HTTP/1.0 200 OK\r\n"), "{got}");
        assert!(got.contains("connection: close\r\n"), "{got}");
        assert!(got.ends_with("\r\n\r\nGET /chunked Some(0)"), "{got}");
        let got = exchange(
            addr,
            b"HEAD / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
            "",
            0,
        )
        .await;
        assert!(
            got.ends_with("\r\n\r\n"),
            "a HEAD response has no body: {got}"
        );
    }

    #[tokio::test]
    async fn a_body_left_unread_closes_the_connection_after_the_response() {
        let addr = server().await;
        // The second request hides in the first one's unread body: it must never be served.
        let raw = b"POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: 38\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
        let got = exchange(addr, raw, "", 0).await;
        assert!(got.ends_with("\r\n\r\nignored"), "{got}");
        assert!(!got.contains("smuggled"), "{got}");
        assert_eq!(got.matches("HTTP/1.1").count(), 1, "{got}");
    }

    #[tokio::test]
    async fn bad_requests_get_a_400_and_nothing_after_them_is_read() {
        let addr = server().await;
        let raw = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\nhelloGET /next HTTP/1.1\r\nHost: h\r\n\r\n";
        let got = exchange(addr, raw, "", 0).await;
        assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
        assert!(got.contains("\"statusCode\":400"), "{got}");
        assert!(got.contains("connection: close\r\n"), "{got}");
        assert!(!got.contains("/next"), "{got}");
        let got = exchange(
            addr,
            b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
            "",
            0,
        )
        .await;
        assert!(
            got.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{got}"
        );
    }

    #[tokio::test]
    async fn expect_continue_is_answered_before_the_body() {
        let addr = server().await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(
            b"PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = [0u8; 64];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
        s.write_all(b"abc").await.unwrap();
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("PUT /up Some(3)") {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "{}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    }

    #[tokio::test]
    async fn idle_and_slow_connections_are_closed_after_the_timeout() {
        let addr = server_with(Duration::from_millis(300)).await;
        for (what, sent) in [
            (
                "idle after a request",
                &b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"[..],
            ),
            ("half a head", b"GET / HTTP/1.1\r\nHo"),
            ("nothing", b""),
        ] {
            let started = std::time::Instant::now();
            let got = exchange(addr, sent, "", 0).await;
            let took = started.elapsed();
            assert!(
                took >= Duration::from_millis(300),
                "{what}: closed after {took:?}"
            );
            assert!(
                took < Duration::from_secs(3),
                "{what}: closed after {took:?}"
            );
            assert_eq!(
                got.contains("200 OK"),
                !sent.ends_with(b"Ho") && !sent.is_empty(),
                "{what}"
            );
        }
    }

    #[tokio::test]
    async fn http2_with_prior_knowledge_goes_to_hyper() {
        let addr = server().await;
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("curl")
                .args(["-s", "--http2-prior-knowledge", "-d", "abcd"])
                .arg(format!("http://{addr}/h2"))
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "POST /h2 Some(4)");
    }
}
