//! The forwarder: listeners inside a container's namespace, one thread per redirected
//! connection or DNS query, bytes relayed through the upstream proxy.
//!
//! Threads, not an async runtime: the forwarder runs in the machine's monitor, which is a
//! small synchronous process, and a container's egress is tens of connections, not tens of
//! thousands. Each connection is one thread polling both of its sockets; a connection that
//! cannot be made through the upstream is closed at once (the program inside sees a reset
//! or an early EOF, as with any failed proxy) and counted.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::upstream::Stream;
use super::{DNS_PORT, EgressConfig, EgressKind, LISTEN, TCP_PORT};
use crate::error::{NetError, Result};

/// How long making a connection through the upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many connections relayed at once; more are refused.
const MAX_CONNECTIONS: usize = 1024;
/// At most this many DNS queries in flight; more are dropped (the resolver asks again).
const MAX_QUERIES: usize = 64;
/// How often the DNS listener looks at the stop flag.
const UDP_TICK: Duration = Duration::from_millis(200);

/// What the forwarder has done so far.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EgressStats {
    /// Connections and queries carried through the upstream.
    pub relayed: u64,
    /// Connections and queries the upstream could not carry.
    pub failed: u64,
    /// The last failure, if any.
    pub last_error: Option<String>,
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    relayed: AtomicU64,
    failed: AtomicU64,
    active: AtomicUsize,
    queries: AtomicUsize,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn fail(&self, e: impl std::fmt::Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut l) = self.last_error.lock() {
            *l = Some(e.to_string());
        }
    }
}

struct Ctx {
    cfg: EgressConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    shared: Arc<Shared>,
}

impl Ctx {
    fn connect(&self, target: SocketAddr) -> io::Result<Stream> {
        let up = self
            .cfg
            .upstream
            .as_ref()
            .ok_or_else(|| io::Error::other("no upstream proxy"))?;
        up.connect(self.cfg.kind, target, self.tls.as_ref(), CONNECT_TIMEOUT)
    }
}

/// A running egress network for one namespace: its rules and (unless `block`) its listeners.
/// Dropping it closes the listeners (connections already relayed go on until they end) and
/// leaves the rules: the next [`Egress::start`] replaces them atomically, and
/// [`Egress::remove`] takes them away.
#[derive(Debug)]
pub struct Egress {
    netns: PathBuf,
    cfg: EgressConfig,
    shared: Arc<Shared>,
    tcp: Option<Arc<TcpListener>>,
    threads: Vec<JoinHandle<()>>,
}

impl Egress {
    /// Starts `cfg` for the namespace `netns`: binds the listeners inside it, starts serving
    /// them, then installs the rules (so nothing is redirected to a port nobody serves).
    /// `tls` is needed for `https` upstreams (see [`super::tls_config`]).
    pub fn start(
        netns: &Path,
        cfg: EgressConfig,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<Egress> {
        if cfg.kind == EgressKind::Https && tls.is_none() {
            return Err(NetError::InvalidConfig(
                "an https upstream needs a TLS configuration".into(),
            ));
        }
        let shared = Arc::new(Shared::default());
        let mut egress = Egress {
            netns: netns.to_path_buf(),
            cfg: cfg.clone(),
            shared: shared.clone(),
            tcp: None,
            threads: Vec::new(),
        };
        if cfg.kind != EgressKind::Block {
            let (tcp, udp) = bind_inside(netns)?;
            let tcp = Arc::new(tcp);
            let ctx = Arc::new(Ctx { cfg, tls, shared });
            egress.tcp = Some(tcp.clone());
            let c = ctx.clone();
            egress
                .threads
                .push(spawn("hoody-egress-tcp", move || accept_loop(&tcp, &c))?);
            egress
                .threads
                .push(spawn("hoody-egress-dns", move || dns_loop(&udp, &ctx))?);
        }
        super::install_rules(netns, egress.cfg.kind)?;
        Ok(egress)
    }

    /// The configuration it runs.
    pub fn config(&self) -> &EgressConfig {
        &self.cfg
    }

    /// What it has done so far.
    pub fn stats(&self) -> EgressStats {
        EgressStats {
            relayed: self.shared.relayed.load(Ordering::Relaxed),
            failed: self.shared.failed.load(Ordering::Relaxed),
            last_error: self.shared.last_error.lock().ok().and_then(|l| l.clone()),
        }
    }

    /// Stops it and removes its rules: the namespace's egress is direct again.
    pub fn remove(mut self) -> Result<()> {
        self.close();
        super::remove_rules(&self.netns)
    }

    fn close(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(l) = self.tcp.take() {
            // SAFETY: shutdown on a descriptor the listener owns and keeps open; it wakes the
            // thread blocked in accept(), which then sees the stop flag.
            unsafe { libc::shutdown(l.as_raw_fd(), libc::SHUT_RDWR) };
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Egress {
    fn drop(&mut self) {
        self.close();
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| NetError::io("start a thread for", PathBuf::from(name), e))
}

/// The listeners, made inside the namespace (sockets keep the namespace they were made in).
fn bind_inside(netns: &Path) -> Result<(TcpListener, UdpSocket)> {
    let ns = crate::netns::open(netns)?;
    let _inside = crate::netns::NetnsGuard::enter(std::os::fd::AsFd::as_fd(&ns), netns)?;
    let what = |port: u16| PathBuf::from(format!("{LISTEN}:{port} in {}", netns.display()));
    let tcp = TcpListener::bind((LISTEN, TCP_PORT))
        .map_err(|e| NetError::io("listen on", what(TCP_PORT), e))?;
    let udp = UdpSocket::bind((LISTEN, DNS_PORT))
        .map_err(|e| NetError::io("listen on", what(DNS_PORT), e))?;
    udp.set_read_timeout(Some(UDP_TICK))
        .map_err(|e| NetError::io("set a timeout on", what(DNS_PORT), e))?;
    Ok((tcp, udp))
}

fn accept_loop(l: &TcpListener, ctx: &Arc<Ctx>) {
    loop {
        let accepted = l.accept();
        if ctx.shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok((client, _)) = accepted else {
            // Out of descriptors or a connection reset before accept: try again shortly.
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if ctx.shared.active.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            ctx.shared.active.fetch_sub(1, Ordering::SeqCst);
            ctx.shared
                .fail(format!("more than {MAX_CONNECTIONS} connections at once"));
            continue;
        }
        let c = ctx.clone();
        let started = std::thread::Builder::new()
            .name("hoody-egress-conn".into())
            .spawn(move || {
                if let Err(e) = serve(client, &c) {
                    c.shared.fail(e);
                }
                c.shared.active.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = started {
            ctx.shared.active.fetch_sub(1, Ordering::SeqCst);
            ctx.shared.fail(format!("start a connection thread: {e}"));
        }
    }
}

/// Where a redirected connection was going (the container's conntrack remembers).
fn original_dst(s: &TcpStream) -> io::Result<SocketAddr> {
    // SAFETY: an all-zero sockaddr_in is a valid value of the type.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `addr`, which is that large, and
    // updates `len`; the descriptor is the stream's own.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_IP,
            libc::SO_ORIGINAL_DST,
            (&raw mut addr).cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let ip = Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
    Ok(SocketAddr::V4(SocketAddrV4::new(
        ip,
        u16::from_be(addr.sin_port),
    )))
}

fn serve(client: TcpStream, ctx: &Ctx) -> io::Result<()> {
    let target = original_dst(&client)?;
    let up = ctx
        .connect(target)
        .map_err(|e| io::Error::other(format!("to {target}: {e}")))?;
    ctx.shared.relayed.fetch_add(1, Ordering::Relaxed);
    client.set_nodelay(true)?;
    match up {
        Stream::Plain(up) => relay_plain(client, up),
        Stream::Tls(tls) => {
            let rustls::StreamOwned { conn, sock } = *tls;
            relay_tls(client, conn, sock)
        }
    }
}

fn poll2(a: &impl AsRawFd, a_in: bool, b: &impl AsRawFd, b_in: bool) -> io::Result<(bool, bool)> {
    let mut fds = [
        libc::pollfd {
            fd: if a_in { a.as_raw_fd() } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: if b_in { b.as_raw_fd() } else { -1 },
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: `fds` is a valid array of two pollfd for the duration of the call.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if r >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    let ready = |p: &libc::pollfd| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0;
    Ok((ready(&fds[0]), ready(&fds[1])))
}

/// Both ways until both ends have closed (a half-close is passed on).
fn relay_plain(mut client: TcpStream, mut up: TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut client_open, mut up_open) = (true, true);
    while client_open || up_open {
        let (c, u) = poll2(&client, client_open, &up, up_open)?;
        if c {
            match client.read(&mut buf)? {
                0 => {
                    client_open = false;
                    let _ = up.shutdown(Shutdown::Write);
                }
                n => up.write_all(&buf[..n])?,
            }
        }
        if u {
            match up.read(&mut buf)? {
                0 => {
                    up_open = false;
                    let _ = client.shutdown(Shutdown::Write);
                }
                n => client.write_all(&buf[..n])?,
            }
        }
    }
    Ok(())
}

/// As [`relay_plain`], with TLS records to and from the upstream.
fn relay_tls(
    mut client: TcpStream,
    mut conn: rustls::ClientConnection,
    mut sock: TcpStream,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut client_open, mut up_open) = (true, true);
    // Plaintext the handshake's last read may already have decrypted.
    drain_plaintext(&mut conn, &mut client, &mut buf, &mut up_open)?;
    while client_open || up_open {
        while conn.wants_write() {
            conn.write_tls(&mut sock)?;
        }
        let (c, u) = poll2(&client, client_open, &sock, up_open)?;
        if c {
            match client.read(&mut buf)? {
                0 => {
                    client_open = false;
                    conn.send_close_notify();
                }
                n => conn.writer().write_all(&buf[..n])?,
            }
        }
        if u {
            if conn.read_tls(&mut sock)? == 0 {
                up_open = false;
                let _ = client.shutdown(Shutdown::Write);
                continue;
            }
            conn.process_new_packets().map_err(io::Error::other)?;
            drain_plaintext(&mut conn, &mut client, &mut buf, &mut up_open)?;
        }
    }
    while conn.wants_write() {
        conn.write_tls(&mut sock)?;
    }
    Ok(())
}

fn drain_plaintext(
    conn: &mut rustls::ClientConnection,
    client: &mut TcpStream,
    buf: &mut [u8],
    up_open: &mut bool,
) -> io::Result<()> {
    loop {
        match conn.reader().read(buf) {
            Ok(0) => {
                *up_open = false;
                let _ = client.shutdown(Shutdown::Write);
                return Ok(());
            }
            Ok(n) => client.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

fn dns_loop(sock: &UdpSocket, ctx: &Arc<Ctx>) {
    let sock = match sock.try_clone() {
        Ok(s) => Arc::new(s),
        Err(e) => {
            ctx.shared.fail(format!("DNS listener: {e}"));
            return;
        }
    };
    let mut buf = [0u8; 4096];
    while !ctx.shared.stop.load(Ordering::SeqCst) {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if n < 12 || ctx.shared.queries.fetch_add(1, Ordering::SeqCst) >= MAX_QUERIES {
            if n >= 12 {
                ctx.shared.queries.fetch_sub(1, Ordering::SeqCst);
            }
            continue;
        }
        let query = buf[..n].to_vec();
        let (c, s) = (ctx.clone(), sock.clone());
        let started = std::thread::Builder::new()
            .name("hoody-egress-query".into())
            .spawn(move || {
                match resolve(&c, &query) {
                    Ok(answer) => {
                        c.shared.relayed.fetch_add(1, Ordering::Relaxed);
                        let _ = s.send_to(&fit_udp(answer), from);
                    }
                    Err(e) => c.shared.fail(format!("DNS: {e}")),
                }
                c.shared.queries.fetch_sub(1, Ordering::SeqCst);
            });
        if started.is_err() {
            ctx.shared.queries.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// The largest answer sent back over UDP (the DNS flag day's safe size).
const UDP_ANSWER_MAX: usize = 1232;

/// An answer too large for UDP becomes its header with TC set and no records: the resolver
/// asks again over TCP, which is relayed like any other connection.
fn fit_udp(mut answer: Vec<u8>) -> Vec<u8> {
    if answer.len() > UDP_ANSWER_MAX {
        answer.truncate(12);
        answer[2] |= 0x02;
        answer[4..12].fill(0);
    }
    answer
}

/// `query` as DNS over TCP (RFC 7766) through the upstream, to each server in turn.
fn resolve(ctx: &Ctx, query: &[u8]) -> io::Result<Vec<u8>> {
    let mut last = io::Error::other("no DNS servers");
    for server in &ctx.cfg.dns_servers {
        let attempt = (|| {
            let mut s = ctx.connect(SocketAddr::new(*server, 53))?;
            s.tcp().set_read_timeout(Some(CONNECT_TIMEOUT))?;
            let mut msg = (query.len() as u16).to_be_bytes().to_vec();
            msg.extend_from_slice(query);
            s.write_all(&msg)?;
            s.flush()?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len)?;
            let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut answer)?;
            if answer.len() < 12 {
                return Err(io::Error::other("an answer shorter than a DNS header"));
            }
            Ok::<_, io::Error>(answer)
        })();
        match attempt {
            Ok(a) => return Ok(a),
            Err(e) => last = io::Error::other(format!("{server}: {e}")),
        }
    }
    Err(last)
}
