//! `hoody-echo`: a small plain HTTP/1.1 and WebSocket server for the end-to-end tests of
//! hoody's reverse proxy. It is copied into a test machine and run there as the upstream.
//!
//! `hoody-echo [--listen ADDR] [--verbose]` (default `0.0.0.0:8080`). Uses `std` only: one
//! thread per connection, HTTP/1.1 keep-alive, request bodies framed by `Content-Length` or
//! `Transfer-Encoding: chunked` (`Expect: 100-continue` is answered), every response carries
//! `Content-Length` (or is chunked where noted). Nothing is logged unless `--verbose`, which
//! writes one line per request to stderr.
//!
//! Routes:
//! - `GET /`, and any other `GET` not listed: 200 `text/plain` `hello from hoody-echo\n`.
//! - `GET /headers`: 200 `text/plain`, first line `peer: <ip:port>`, then every request header
//!   line exactly as received, one per line.
//! - `POST|PUT /sink`: reads the body streaming (64 KiB at a time) and answers
//!   `<byte count> <sha256 hex>\n`.
//! - `GET /source?bytes=N&seed=S[&chunked=1]`: N bytes of a deterministic pseudo-random
//!   sequence, streamed with `Content-Length: N` (or chunked with `chunked=1` to an HTTP/1.1
//!   client). The sequence: state = splitmix64(S) (or `0x9E3779B97F4A7C15` if that is 0), then
//!   each step applies xorshift64 (`x ^= x << 13; x ^= x >> 7; x ^= x << 17`) and emits the
//!   new state as 8 little-endian bytes; the output is truncated to N bytes.
//! - `GET /source-sha?bytes=N&seed=S`: `<sha256 hex>\n` of that same sequence.
//! - `GET /slow?ms=M`: sleeps M milliseconds (default 1000), then `slow\n`.
//! - `GET /ws` with a valid RFC 6455 upgrade: 101, then every text or binary message
//!   (reassembled from fragments) is echoed back as one unmasked frame with the same opcode;
//!   ping gets pong, close gets a close echoing the status code, then the connection ends.
//!   A bad upgrade gets 400. Protocol errors (unmasked client frame, reserved bits or
//!   opcodes, bad control frames) get close 1002, invalid UTF-8 text 1007, messages over
//!   64 MiB 1009.
//!
//! Wrong methods on the routes above get 405, malformed requests 400 (and the connection
//! closes). `HEAD` works wherever `GET` does.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const USAGE: &str = "usage: hoody-echo [--listen ADDR] [--verbose]   (default ADDR 0.0.0.0:8080)";
const HELLO: &[u8] = b"hello from hoody-echo\n";
/// Size of the buffers bodies are streamed through.
const IO_CHUNK: usize = 64 * 1024;
/// Longest request, header, chunk-size or trailer line accepted.
const MAX_LINE: usize = 64 * 1024;
/// Most header (or trailer) lines accepted in one request.
const MAX_HEADERS: usize = 256;
/// Largest WebSocket message echoed; a bigger one gets close 1009.
const MAX_WS_MESSAGE: usize = 64 * 1024 * 1024;
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

#[derive(Debug, Clone, Copy, Default)]
struct Config {
    verbose: bool,
}

#[derive(Debug)]
enum Command {
    Run { listen: String, config: Config },
    Help,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut listen = String::from("0.0.0.0:8080");
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            "--verbose" | "-v" => config.verbose = true,
            "--help" | "-h" => return Ok(Command::Help),
            "--tls-self-signed" => {
                return Err("TLS is not supported; hoody-echo speaks plain HTTP".into());
            }
            other => match other.strip_prefix("--listen=") {
                Some(addr) => listen = addr.to_string(),
                None => return Err(format!("unknown argument {other:?}")),
            },
        }
    }
    Ok(Command::Run { listen, config })
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(Command::Help) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Run { listen, config }) => {
            let listener = match TcpListener::bind(&listen) {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("hoody-echo: cannot listen on {listen}: {e}");
                    return ExitCode::FAILURE;
                }
            };
            if config.verbose {
                match listener.local_addr() {
                    Ok(addr) => eprintln!("hoody-echo: listening on {addr}"),
                    Err(_) => eprintln!("hoody-echo: listening on {listen}"),
                }
            }
            serve(listener, config);
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("hoody-echo: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Accepts connections forever, one thread each.
fn serve(listener: TcpListener, config: Config) {
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let spawned = thread::Builder::new()
                    .name("hoody-echo-conn".into())
                    .spawn(move || handle_connection(stream, config));
                if let Err(e) = spawned
                    && config.verbose
                {
                    eprintln!("hoody-echo: cannot start a connection thread: {e}");
                }
            }
            Err(e) => {
                if config.verbose {
                    eprintln!("hoody-echo: accept: {e}");
                }
                // Out of descriptors and the like: don't spin.
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn handle_connection(stream: TcpStream, config: Config) {
    let peer = match stream.peer_addr() {
        Ok(a) => a.to_string(),
        Err(_) => "unknown".to_string(),
    };
    let _ = stream.set_nodelay(true);
    let socket = Socket(Arc::new(stream));
    let mut conn = Conn {
        reader: BufReader::with_capacity(16 * 1024, socket.clone()),
        writer: socket,
        peer,
        config,
    };
    if let Err(e) = conn.run()
        && config.verbose
    {
        eprintln!("hoody-echo: {}: {e}", conn.peer);
    }
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn unexpected_eof() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "connection closed mid-message",
    )
}

/// Reads one line ending in LF (CR LF or bare LF) and returns it without the terminator.
/// `None` means end of stream before any byte; a line longer than `max` is `InvalidData`.
fn read_line<R: BufRead>(r: &mut R, max: usize) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = r
        .by_ref()
        .take(max as u64 + 2)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > max {
            invalid("line too long")
        } else {
            unexpected_eof()
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.len() > max {
        return Err(invalid("line too long"));
    }
    Ok(Some(line))
}

/// One parsed request head.
#[derive(Debug)]
struct Request {
    method: String,
    target: String,
    path: String,
    query: String,
    /// The `x` of `HTTP/1.x`.
    minor: u8,
    /// Header lines exactly as received, without the line terminator.
    raw_headers: Vec<Vec<u8>>,
    /// Lower-cased names with trimmed values.
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the comma-separated list in header `name` (over all its lines) holds `token`.
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers_named(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    fn keep_alive(&self) -> bool {
        if self.has_token("connection", "close") {
            false
        } else if self.minor == 0 {
            self.has_token("connection", "keep-alive")
        } else {
            true
        }
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Parses `name` as a decimal u64; `default` when absent.
    fn u64_param(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.query_param(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("query parameter {name}={v:?} is not a number")),
        }
    }
}

/// Reads a request head. `Ok(None)` is a clean end of the connection between requests;
/// a malformed head is `InvalidData`.
fn read_request<R: BufRead>(r: &mut R) -> io::Result<Option<Request>> {
    // A client may send empty lines before a request (RFC 9112 2.2).
    let line = loop {
        match read_line(r, MAX_LINE)? {
            None => return Ok(None),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let line = String::from_utf8(line).map_err(|_| invalid("request line is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid(format!("malformed request line {line:?}")));
    };
    let minor = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        _ => return Err(invalid(format!("unsupported version {version:?}"))),
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
        return Err(invalid(format!("malformed method {method:?}")));
    }
    if target.is_empty() {
        return Err(invalid("empty request target"));
    }
    // Origin form `/path?q`; absolute form `http://host/path?q` is reduced to the path.
    let origin = match target.find("://") {
        Some(i) if !target.starts_with('/') => {
            let rest = &target[i + 3..];
            rest.find(['/', '?']).map_or("/", |j| &rest[j..])
        }
        _ => target,
    };
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    let mut raw_headers = Vec::new();
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, MAX_LINE)?.ok_or_else(unexpected_eof)?;
        if line.is_empty() {
            break;
        }
        if raw_headers.len() == MAX_HEADERS {
            return Err(invalid("too many header lines"));
        }
        headers.push(parse_header_line(&line)?);
        raw_headers.push(line);
    }
    Ok(Some(Request {
        method: method.to_string(),
        target: target.to_string(),
        path: if path.is_empty() { "/" } else { path }.to_string(),
        query: query.to_string(),
        minor,
        raw_headers,
        headers,
    }))
}

fn parse_header_line(line: &[u8]) -> io::Result<(String, String)> {
    if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return Err(invalid("obsolete header line folding"));
    }
    let colon = line
        .iter()
        .position(|b| *b == b':')
        .ok_or_else(|| invalid("header line without a colon"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|b| b.is_ascii_graphic()) {
        return Err(invalid("malformed header name"));
    }
    let value = String::from_utf8_lossy(&line[colon + 1..]);
    Ok((
        String::from_utf8_lossy(name).to_ascii_lowercase(),
        value.trim_matches([' ', '\t']).to_string(),
    ))
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
}

/// The framing of a request body (no `Content-Length` and no `Transfer-Encoding` is an empty
/// body). Works for responses too, as far as the tests' client needs.
fn body_framing(headers: &[(String, String)]) -> io::Result<Framing> {
    let named = |name: &'static str| {
        headers
            .iter()
            .filter(move |(n, _)| n == name)
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
    };
    if let Some(last) = named("transfer-encoding").rfind(|t| !t.is_empty()) {
        return if last.eq_ignore_ascii_case("chunked") {
            Ok(Framing::Chunked)
        } else {
            Err(invalid(format!("unsupported transfer coding {last:?}")))
        };
    }
    let mut length = None;
    for v in named("content-length") {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(format!("malformed Content-Length {v:?}")));
        }
        let n: u64 = v.parse().map_err(|_| invalid("Content-Length too large"))?;
        if length.is_some_and(|l| l != n) {
            return Err(invalid("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    Ok(Framing::Length(length.unwrap_or(0)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    Length(u64),
    ChunkStart,
    ChunkData(u64),
    Done,
}

/// Reads one message body from `r`, removing the chunked framing; ends (`Ok(0)`) at the end
/// of the body, leaving `r` at the start of the next message.
#[derive(Debug)]
struct Body<'a, R> {
    r: &'a mut R,
    state: BodyState,
}

impl<'a, R: BufRead> Body<'a, R> {
    fn new(r: &'a mut R, framing: Framing) -> Self {
        let state = match framing {
            Framing::Length(0) => BodyState::Done,
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::ChunkStart,
        };
        Body { r, state }
    }

    /// Reads `buf.len()` bytes at most from the underlying stream, failing on its end.
    fn read_some(&mut self, buf: &mut [u8], limit: u64) -> io::Result<usize> {
        let max = buf.len().min(usize::try_from(limit).unwrap_or(usize::MAX));
        let got = self.r.read(&mut buf[..max])?;
        if got == 0 {
            return Err(unexpected_eof());
        }
        Ok(got)
    }
}

impl<R: BufRead> Read for Body<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                BodyState::Done => return Ok(0),
                BodyState::Length(n) => {
                    let got = self.read_some(buf, n)?;
                    let left = n - got as u64;
                    self.state = if left == 0 {
                        BodyState::Done
                    } else {
                        BodyState::Length(left)
                    };
                    return Ok(got);
                }
                BodyState::ChunkStart => {
                    let line = read_line(self.r, MAX_LINE)?.ok_or_else(unexpected_eof)?;
                    let size = parse_chunk_size(&line)?;
                    if size == 0 {
                        // Trailer section, up to an empty line.
                        let mut trailers = 0;
                        while !read_line(self.r, MAX_LINE)?
                            .ok_or_else(unexpected_eof)?
                            .is_empty()
                        {
                            trailers += 1;
                            if trailers > MAX_HEADERS {
                                return Err(invalid("too many trailer lines"));
                            }
                        }
                        self.state = BodyState::Done;
                    } else {
                        self.state = BodyState::ChunkData(size);
                    }
                }
                BodyState::ChunkData(n) => {
                    let got = self.read_some(buf, n)?;
                    let left = n - got as u64;
                    if left == 0 {
                        let end = read_line(self.r, 0)?.ok_or_else(unexpected_eof)?;
                        if !end.is_empty() {
                            return Err(invalid("chunk data not followed by CRLF"));
                        }
                        self.state = BodyState::ChunkStart;
                    } else {
                        self.state = BodyState::ChunkData(left);
                    }
                    return Ok(got);
                }
            }
        }
    }
}

fn parse_chunk_size(line: &[u8]) -> io::Result<u64> {
    let size = match line.iter().position(|b| *b == b';') {
        Some(i) => &line[..i],
        None => line,
    };
    let size = size.trim_ascii();
    if size.is_empty() {
        return Err(invalid("empty chunk size"));
    }
    let mut n: u64 = 0;
    for b in size {
        let digit = char::from(*b)
            .to_digit(16)
            .ok_or_else(|| invalid("malformed chunk size"))?;
        n = n
            .checked_mul(16)
            .and_then(|n| n.checked_add(u64::from(digit)))
            .ok_or_else(|| invalid("chunk size too large"))?;
    }
    Ok(n)
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Unknown",
    }
}

/// What the connection needs to know about the request being answered.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    keep_alive: bool,
    head: bool,
    http10: bool,
}

/// Status line and headers, through the blank line. Adds `Server` and, as needed, `Connection`.
fn response_head(ctx: &Ctx, status: u16, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nServer: hoody-echo\r\n",
        reason(status)
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !ctx.keep_alive {
        out.push_str("Connection: close\r\n");
    } else if ctx.http10 {
        out.push_str("Connection: keep-alive\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// How a request ended, for the connection loop.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    status: u16,
    close: bool,
}

/// A connection's socket, read (through the buffer) and written through the same descriptor:
/// a `try_clone` per connection would hold two, and the proxy benchmark's ten thousand idle
/// WebSockets have to fit in a limit of 20,000 open files.
#[derive(Debug, Clone)]
struct Socket(Arc<TcpStream>);

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.0).flush()
    }
}

#[derive(Debug)]
struct Conn {
    reader: BufReader<Socket>,
    writer: Socket,
    peer: String,
    config: Config,
}

impl Conn {
    fn run(&mut self) -> io::Result<()> {
        loop {
            let req = match read_request(&mut self.reader) {
                Ok(Some(req)) => req,
                Ok(None) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.bad_request_and_close(None, &e);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            match self.handle(&req) {
                Ok(outcome) => {
                    if outcome.status != 101 {
                        self.log(&req, outcome.status);
                    }
                    if outcome.close {
                        self.close_gracefully();
                        return Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    self.bad_request_and_close(Some(&req), &e);
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn log(&self, req: &Request, status: u16) {
        if self.config.verbose {
            eprintln!(
                "hoody-echo: {} \"{} {} HTTP/1.{}\" {status}",
                self.peer, req.method, req.target, req.minor
            );
        }
    }

    fn bad_request_and_close(&mut self, req: Option<&Request>, e: &io::Error) {
        let ctx = Ctx {
            keep_alive: false,
            head: false,
            http10: false,
        };
        let _ = self.respond(&ctx, 400, &[], format!("bad request: {e}\n").as_bytes());
        match req {
            Some(req) => self.log(req, 400),
            None if self.config.verbose => eprintln!("hoody-echo: {} bad request: {e}", self.peer),
            None => {}
        }
        self.close_gracefully();
    }

    /// Ends our side, then reads (briefly) whatever the client still sends, so that unread
    /// input doesn't turn the close into a reset that could destroy the last response.
    fn close_gracefully(&mut self) {
        let _ = self.writer.flush();
        let _ = self.writer.0.shutdown(Shutdown::Write);
        let _ = self
            .reader
            .get_ref()
            .0
            .set_read_timeout(Some(Duration::from_secs(1)));
        let _ = io::copy(&mut self.reader.by_ref().take(1 << 20), &mut io::sink());
    }

    /// A complete `text/plain` response (headers only for `HEAD`).
    fn respond(
        &mut self,
        ctx: &Ctx,
        status: u16,
        extra: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<u16> {
        let len = body.len().to_string();
        let mut headers = vec![
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Length", len.as_str()),
        ];
        headers.extend_from_slice(extra);
        let mut out = response_head(ctx, status, &headers);
        if !ctx.head {
            out.extend_from_slice(body);
        }
        self.writer.write_all(&out)?;
        Ok(status)
    }

    /// The request body, after sending `100 Continue` if the client waits for it.
    fn body(&mut self, req: &Request, framing: Framing) -> io::Result<Body<'_, BufReader<Socket>>> {
        if framing != Framing::Length(0)
            && req.minor == 1
            && req.has_token("expect", "100-continue")
        {
            self.writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        Ok(Body::new(&mut self.reader, framing))
    }

    fn drain(&mut self, req: &Request, framing: Framing) -> io::Result<()> {
        if framing != Framing::Length(0) {
            io::copy(&mut self.body(req, framing)?, &mut io::sink())?;
        }
        Ok(())
    }

    fn handle(&mut self, req: &Request) -> io::Result<Outcome> {
        let mut ctx = Ctx {
            keep_alive: req.keep_alive(),
            head: req.method == "HEAD",
            http10: req.minor == 0,
        };
        let framing = body_framing(&req.headers)?;
        if framing == Framing::Chunked && req.header("content-length").is_some() {
            // Ambiguous framing (RFC 9112 6.1): answer, but don't reuse the connection.
            ctx.keep_alive = false;
        }
        let path = req.path.as_str();
        let method = req.method.as_str();
        if path == "/ws" {
            return self.websocket(req, framing, &ctx);
        }
        let status = if path == "/sink" && matches!(method, "POST" | "PUT") {
            self.sink(req, framing, &ctx)?
        } else {
            self.drain(req, framing)?;
            if path == "/sink" {
                self.respond(
                    &ctx,
                    405,
                    &[("Allow", "POST, PUT")],
                    b"method not allowed\n",
                )?
            } else if !matches!(method, "GET" | "HEAD") {
                self.respond(
                    &ctx,
                    405,
                    &[("Allow", "GET, HEAD")],
                    b"method not allowed\n",
                )?
            } else {
                match path {
                    "/headers" => self.headers(req, &ctx)?,
                    "/source" => self.source(req, &ctx)?,
                    "/source-sha" => self.source_sha(req, &ctx)?,
                    "/slow" => self.slow(req, &ctx)?,
                    _ => self.respond(&ctx, 200, &[], HELLO)?,
                }
            }
        };
        Ok(Outcome {
            status,
            close: !ctx.keep_alive,
        })
    }

    fn headers(&mut self, req: &Request, ctx: &Ctx) -> io::Result<u16> {
        let mut body = format!("peer: {}\n", self.peer).into_bytes();
        for line in &req.raw_headers {
            body.extend_from_slice(line);
            body.push(b'\n');
        }
        self.respond(ctx, 200, &[], &body)
    }

    fn sink(&mut self, req: &Request, framing: Framing, ctx: &Ctx) -> io::Result<u16> {
        let mut body = self.body(req, framing)?;
        let mut hasher = Sha256::new();
        let mut count: u64 = 0;
        let mut buf = vec![0u8; IO_CHUNK];
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            count += n as u64;
        }
        let answer = format!("{count} {}\n", hex(&hasher.finish()));
        self.respond(ctx, 200, &[], answer.as_bytes())
    }

    fn source(&mut self, req: &Request, ctx: &Ctx) -> io::Result<u16> {
        let params = req.u64_param("bytes", 0).and_then(|bytes| {
            let seed = req.u64_param("seed", 0)?;
            let chunked = req.u64_param("chunked", 0)? != 0;
            Ok((bytes, seed, chunked))
        });
        let (bytes, seed, chunked) = match params {
            Ok(p) => p,
            Err(msg) => return self.respond(ctx, 400, &[], format!("{msg}\n").as_bytes()),
        };
        let chunked = chunked && !ctx.http10;
        let len = bytes.to_string();
        let framing = if chunked {
            ("Transfer-Encoding", "chunked")
        } else {
            ("Content-Length", len.as_str())
        };
        let head = response_head(
            ctx,
            200,
            &[("Content-Type", "application/octet-stream"), framing],
        );
        self.writer.write_all(&head)?;
        if ctx.head {
            return Ok(200);
        }
        let mut generator = Source::new(seed);
        let mut buf = vec![0u8; IO_CHUNK];
        let mut left = bytes;
        while left > 0 {
            let n = usize::try_from(left).unwrap_or(IO_CHUNK).min(IO_CHUNK);
            generator.fill(&mut buf[..n]);
            if chunked {
                self.writer.write_all(format!("{n:x}\r\n").as_bytes())?;
                self.writer.write_all(&buf[..n])?;
                self.writer.write_all(b"\r\n")?;
            } else {
                self.writer.write_all(&buf[..n])?;
            }
            left -= n as u64;
        }
        if chunked {
            self.writer.write_all(b"0\r\n\r\n")?;
        }
        Ok(200)
    }

    fn source_sha(&mut self, req: &Request, ctx: &Ctx) -> io::Result<u16> {
        let params = req
            .u64_param("bytes", 0)
            .and_then(|bytes| Ok((bytes, req.u64_param("seed", 0)?)));
        let (bytes, seed) = match params {
            Ok(p) => p,
            Err(msg) => return self.respond(ctx, 400, &[], format!("{msg}\n").as_bytes()),
        };
        let answer = format!("{}\n", hex(&source_sha256(bytes, seed)));
        self.respond(ctx, 200, &[], answer.as_bytes())
    }

    fn slow(&mut self, req: &Request, ctx: &Ctx) -> io::Result<u16> {
        match req.u64_param("ms", 1000) {
            Ok(ms) => {
                thread::sleep(Duration::from_millis(ms));
                self.respond(ctx, 200, &[], b"slow\n")
            }
            Err(msg) => self.respond(ctx, 400, &[], format!("{msg}\n").as_bytes()),
        }
    }

    fn websocket(&mut self, req: &Request, framing: Framing, ctx: &Ctx) -> io::Result<Outcome> {
        let accept = match websocket_accept_for(req, framing) {
            Ok(accept) => accept,
            Err(why) => {
                self.drain(req, framing)?;
                let body = format!("bad websocket upgrade: {why}\n");
                let status = self.respond(
                    ctx,
                    400,
                    &[("Sec-WebSocket-Version", "13")],
                    body.as_bytes(),
                )?;
                return Ok(Outcome {
                    status,
                    close: !ctx.keep_alive,
                });
            }
        };
        let upgrade = Ctx {
            keep_alive: true,
            head: false,
            http10: false,
        };
        let head = response_head(
            &upgrade,
            101,
            &[
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", &accept),
            ],
        );
        self.writer.write_all(&head)?;
        self.log(req, 101);
        websocket_echo(&mut self.reader, &mut self.writer)?;
        Ok(Outcome {
            status: 101,
            close: true,
        })
    }
}

/// The `Sec-WebSocket-Accept` value for a valid upgrade request, or why it isn't one.
fn websocket_accept_for(req: &Request, framing: Framing) -> Result<String, &'static str> {
    if req.method != "GET" {
        return Err("method is not GET");
    }
    if req.minor != 1 {
        return Err("not HTTP/1.1");
    }
    if framing != Framing::Length(0) {
        return Err("request has a body");
    }
    if !req.has_token("upgrade", "websocket") {
        return Err("no Upgrade: websocket");
    }
    if !req.has_token("connection", "upgrade") {
        return Err("no Connection: upgrade");
    }
    if req.header("sec-websocket-version") != Some("13") {
        return Err("Sec-WebSocket-Version is not 13");
    }
    let mut keys = req.headers_named("sec-websocket-key");
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err("not exactly one Sec-WebSocket-Key");
    };
    match base64_decode(key) {
        Some(nonce) if nonce.len() == 16 => Ok(websocket_accept(key)),
        _ => Err("Sec-WebSocket-Key is not 16 bytes in base64"),
    }
}

fn websocket_accept(key: &str) -> String {
    base64_encode(&sha1(format!("{key}{WS_GUID}").as_bytes()))
}

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// One WebSocket frame, payload unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    fin: bool,
    /// The three RSV bits, in the low bits.
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
}

/// Why a WebSocket session ends abnormally.
#[derive(Debug)]
enum WsError {
    Io(io::Error),
    /// Close code 1002.
    Protocol(&'static str),
    /// Close code 1007.
    BadUtf8,
    /// Close code 1009.
    TooBig,
}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> Self {
        WsError::Io(e)
    }
}

fn encode_frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | (opcode & 0x0F));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xFFFF => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Reads one frame; `Ok(None)` is a clean end of stream before it starts. Payloads over
/// `max_payload` are refused before anything is allocated.
fn read_frame<R: Read>(r: &mut R, max_payload: u64) -> Result<Option<Frame>, WsError> {
    let mut first = [0u8; 1];
    loop {
        match r.read(&mut first) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let mut second = [0u8; 1];
    r.read_exact(&mut second)?;
    let (b0, b1) = (first[0], second[0]);
    let len = match b1 & 0x7F {
        126 => {
            let mut n = [0u8; 2];
            r.read_exact(&mut n)?;
            u64::from(u16::from_be_bytes(n))
        }
        127 => {
            let mut n = [0u8; 8];
            r.read_exact(&mut n)?;
            let n = u64::from_be_bytes(n);
            if n >> 63 != 0 {
                return Err(WsError::Protocol(
                    "64-bit payload length has its top bit set",
                ));
            }
            n
        }
        n => u64::from(n),
    };
    let mask = if b1 & 0x80 != 0 {
        let mut key = [0u8; 4];
        r.read_exact(&mut key)?;
        Some(key)
    } else {
        None
    };
    if len > max_payload {
        return Err(WsError::TooBig);
    }
    let len = usize::try_from(len).map_err(|_| WsError::TooBig)?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)?;
    if let Some(key) = mask {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Ok(Some(Frame {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x07,
        opcode: b0 & 0x0F,
        mask,
        payload,
    }))
}

/// Echoes messages until the client closes (or breaks the protocol, which gets a close frame
/// with the matching status code).
fn websocket_echo<R: Read, W: Write>(r: &mut R, w: &mut W) -> io::Result<()> {
    match websocket_session(r, w) {
        Ok(()) => Ok(()),
        Err(WsError::Io(e)) => Err(e),
        Err(error) => {
            let (code, why): (u16, &str) = match error {
                WsError::Protocol(why) => (1002, why),
                WsError::BadUtf8 => (1007, "text message is not UTF-8"),
                WsError::TooBig => (1009, "message too big"),
                WsError::Io(_) => (1011, ""),
            };
            let mut payload = code.to_be_bytes().to_vec();
            payload.extend_from_slice(&why.as_bytes()[..why.len().min(123)]);
            let _ = w.write_all(&encode_frame(true, OP_CLOSE, &payload, None));
            Ok(())
        }
    }
}

fn websocket_session<R: Read, W: Write>(r: &mut R, w: &mut W) -> Result<(), WsError> {
    // The data message being reassembled: opcode and payload so far.
    let mut message: Option<(u8, Vec<u8>)> = None;
    loop {
        let Some(frame) = read_frame(r, MAX_WS_MESSAGE as u64)? else {
            return Ok(());
        };
        if frame.rsv != 0 {
            return Err(WsError::Protocol("reserved bits set"));
        }
        if frame.mask.is_none() {
            return Err(WsError::Protocol("client frame not masked"));
        }
        if frame.opcode >= 0x8 && (!frame.fin || frame.payload.len() > 125) {
            return Err(WsError::Protocol("fragmented or oversized control frame"));
        }
        match frame.opcode {
            OP_CONTINUATION => {
                let Some((_, buf)) = message.as_mut() else {
                    return Err(WsError::Protocol("continuation frame outside a message"));
                };
                if buf.len() + frame.payload.len() > MAX_WS_MESSAGE {
                    return Err(WsError::TooBig);
                }
                buf.extend_from_slice(&frame.payload);
                if frame.fin
                    && let Some((opcode, buf)) = message.take()
                {
                    echo_message(w, opcode, &buf)?;
                }
            }
            OP_TEXT | OP_BINARY => {
                if message.is_some() {
                    return Err(WsError::Protocol("new message before the last one ended"));
                }
                if frame.fin {
                    echo_message(w, frame.opcode, &frame.payload)?;
                } else {
                    message = Some((frame.opcode, frame.payload));
                }
            }
            OP_CLOSE => {
                let reply: &[u8] = match frame.payload.len() {
                    0 => &[],
                    1 => return Err(WsError::Protocol("close frame with a 1-byte payload")),
                    _ => {
                        let code = u16::from_be_bytes([frame.payload[0], frame.payload[1]]);
                        if !valid_close_code(code) {
                            return Err(WsError::Protocol("invalid close code"));
                        }
                        if std::str::from_utf8(&frame.payload[2..]).is_err() {
                            return Err(WsError::BadUtf8);
                        }
                        &frame.payload[..2]
                    }
                };
                w.write_all(&encode_frame(true, OP_CLOSE, reply, None))?;
                w.flush()?;
                return Ok(());
            }
            OP_PING => w.write_all(&encode_frame(true, OP_PONG, &frame.payload, None))?,
            OP_PONG => {}
            _ => return Err(WsError::Protocol("reserved opcode")),
        }
    }
}

fn echo_message<W: Write>(w: &mut W, opcode: u8, payload: &[u8]) -> Result<(), WsError> {
    if opcode == OP_TEXT && std::str::from_utf8(payload).is_err() {
        return Err(WsError::BadUtf8);
    }
    w.write_all(&encode_frame(true, opcode, payload, None))?;
    Ok(())
}

/// Status codes a peer may send in a close frame (RFC 6455 7.4).
fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999)
}

/// The `/source` byte sequence: xorshift64 over a splitmix64-mixed seed, little-endian words.
#[derive(Debug, Clone)]
struct Source {
    state: u64,
}

impl Source {
    fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Source {
            state: if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z },
        }
    }

    fn next_word(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// Fills `out` with the next bytes. Every call but the last must ask for a multiple of 8
    /// bytes (a partial word's remaining bytes are dropped).
    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let word = self.next_word().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

fn source_sha256(bytes: u64, seed: u64) -> [u8; 32] {
    let mut generator = Source::new(seed);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; IO_CHUNK];
    let mut left = bytes;
    while left > 0 {
        let n = usize::try_from(left).unwrap_or(IO_CHUNK).min(IO_CHUNK);
        generator.fill(&mut buf[..n]);
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    hasher.finish()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0F)]));
    }
    s
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(BASE64[((n >> (18 - 6 * i)) & 0x3F) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict padded standard base64; `None` if `s` isn't that.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.as_bytes();
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (index, quad) in s.chunks(4).enumerate() {
        let last = index == s.len() / 4 - 1;
        let pad = quad.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n: u32 = 0;
        for c in &quad[..4 - pad] {
            let v = BASE64.iter().position(|a| a == c)?;
            n = (n << 6) | v as u32;
        }
        n <<= 6 * pad;
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    Some(out)
}

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (hi, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hi = hi.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (o, hi) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&hi.to_be_bytes());
    }
    out
}

const SHA256_K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// Streaming SHA-256.
#[derive(Debug, Clone)]
struct Sha256 {
    h: [u32; 8],
    block: [u8; 64],
    block_len: usize,
    total: u64,
}

impl Sha256 {
    fn new() -> Self {
        Sha256 {
            h: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            block: [0; 64],
            block_len: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.block_len > 0 {
            let take = (64 - self.block_len).min(data.len());
            self.block[self.block_len..self.block_len + take].copy_from_slice(&data[..take]);
            self.block_len += take;
            data = &data[take..];
            if self.block_len < 64 {
                return;
            }
            let block = self.block;
            self.compress(&block);
            self.block_len = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            self.compress(block);
        }
        let rest = blocks.remainder();
        self.block[..rest.len()].copy_from_slice(rest);
        self.block_len = rest.len();
    }

    fn finish(mut self) -> [u8; 32] {
        let bits = self.total.wrapping_mul(8);
        self.update(&[0x80]);
        while self.block_len != 56 {
            self.update(&[0]);
        }
        self.update(&bits.to_be_bytes());
        let mut out = [0u8; 32];
        for (o, hi) in out.chunks_exact_mut(4).zip(self.h) {
            o.copy_from_slice(&hi.to_be_bytes());
        }
        out
    }

    fn compress(&mut self, block: &[u8]) {
        let mut w = [0u32; 64];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = self.h;
        for (k, wi) in SHA256_K.iter().zip(w) {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let ch = (e & f) ^ (!e & g);
            let t1 = h
                .wrapping_add(s1)
                .wrapping_add(ch)
                .wrapping_add(*k)
                .wrapping_add(wi);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let maj = (a & b) ^ (a & c) ^ (b & c);
            let t2 = s0.wrapping_add(maj);
            h = g;
            g = f;
            f = e;
            e = d.wrapping_add(t1);
            d = c;
            c = b;
            b = a;
            a = t1.wrapping_add(t2);
        }
        for (hi, v) in self.h.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *hi = hi.wrapping_add(v);
        }
    }
}

#[cfg(test)]
mod tests;
