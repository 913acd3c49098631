//! Upstream proxies and a DNS server that tests run themselves, on this machine: a SOCKS5
//! server (RFC 1928, with RFC 1929 username/password when asked), an HTTP `CONNECT` proxy,
//! the same over TLS with a certificate of its own, and a DNS-over-TCP server. Each keeps a
//! log of what it was asked, which is how a test shows that traffic went through it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which protocol a [`TestProxy`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    /// SOCKS5.
    Socks5,
    /// HTTP `CONNECT`.
    Http,
    /// HTTP `CONNECT` over TLS.
    Https,
}

/// A proxy on the host's loopback; stops when dropped.
#[derive(Debug)]
pub struct TestProxy {
    /// Where it listens.
    pub addr: SocketAddr,
    /// For [`ProxyKind::Https`]: its certificate (PEM), to be trusted by the client.
    pub ca_pem: Option<String>,
    kind: ProxyKind,
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

type Tls = Arc<rustls::ServerConfig>;

impl TestProxy {
    /// Starts one on `127.0.0.1`, requiring `user:password` when `creds` is given.
    pub fn start(kind: ProxyKind, creds: Option<(&str, &str)>) -> TestProxy {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tls, ca_pem) = if kind == ProxyKind::Https {
            let (cfg, pem) = tls_server();
            (Some(cfg), Some(pem))
        } else {
            (None, None)
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let creds = creds.map(|(u, p)| (u.to_string(), p.to_string()));
        let (lg, st) = (log.clone(), stop.clone());
        // A blocking accept (no polling delay in what it measures); drop wakes it with a
        // connection of its own.
        std::thread::spawn(move || {
            for c in l.incoming() {
                if st.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(c) = c else { continue };
                let (lg, creds, tls) = (lg.clone(), creds.clone(), tls.clone());
                std::thread::spawn(move || serve(kind, c, creds, tls, &lg));
            }
        });
        TestProxy {
            addr,
            ca_pem,
            kind,
            log,
            stop,
        }
    }

    /// Its URL, with the credentials given.
    pub fn url(&self, creds: Option<(&str, &str)>) -> String {
        let scheme = match self.kind {
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Http => "http",
            ProxyKind::Https => "https",
        };
        let host = if self.kind == ProxyKind::Https {
            format!("localhost:{}", self.addr.port())
        } else {
            self.addr.to_string()
        };
        match creds {
            Some((u, p)) => format!("{scheme}://{u}:{p}@{host}"),
            None => format!("{scheme}://{host}"),
        }
    }

    /// What it was asked so far: `CONNECT <addr>` per tunnel made, `DENIED <why>` per
    /// refusal.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

/// A TLS server configuration for `localhost` with a fresh self-signed certificate, and that
/// certificate as PEM.
fn tls_server() -> (Tls, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    (Arc::new(cfg), pem)
}

trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

fn serve(
    kind: ProxyKind,
    c: TcpStream,
    creds: Option<(String, String)>,
    tls: Option<Tls>,
    log: &Mutex<Vec<String>>,
) {
    let note = |s: String| log.lock().unwrap().push(s);
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let raw = c.try_clone().unwrap();
    let mut s: Box<dyn Conn> = match tls {
        Some(cfg) => {
            let conn = rustls::ServerConnection::new(cfg).unwrap();
            Box::new(rustls::StreamOwned::new(conn, c))
        }
        None => Box::new(c),
    };
    let target = match kind {
        ProxyKind::Socks5 => socks5_handshake(&mut s, creds.as_ref()),
        _ => http_handshake(&mut s, creds.as_ref()),
    };
    let target = match target {
        Ok(t) => t,
        Err(why) => {
            note(format!("DENIED {why}"));
            return;
        }
    };
    let up = TcpStream::connect_timeout(&target, Duration::from_secs(3));
    let reply_ok = up.is_ok();
    note(format!("CONNECT {target}"));
    let answer: &[u8] = match (kind, reply_ok) {
        (ProxyKind::Socks5, true) => &[5, 0, 0, 1, 0, 0, 0, 0, 0, 0],
        (ProxyKind::Socks5, false) => &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0],
        (_, true) => b"HTTP/1.1 200 Connection established\r\n\r\n",
        (_, false) => b"HTTP/1.1 502 Bad Gateway\r\n\r\n",
    };
    if s.write_all(answer).and_then(|()| s.flush()).is_err() {
        return;
    }
    let Ok(up) = up else { return };
    let _ = raw.set_read_timeout(None);
    if kind == ProxyKind::Https {
        relay(s, raw, up);
    } else {
        drop(s);
        relay_plain(raw, up);
    }
}

/// Both ways at full speed: a thread per direction, each passing on the end of its stream.
fn relay_plain(client: TcpStream, up: TcpStream) {
    let (mut c2, mut u2) = (client.try_clone().unwrap(), up.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut u2, &mut c2);
        let _ = c2.shutdown(Shutdown::Write);
    });
    let (mut c, mut u) = (client, up);
    let _ = std::io::copy(&mut c, &mut u);
    let _ = u.shutdown(Shutdown::Write);
    let _ = back.join();
}

/// For TLS: both ways until both ends are done, one thread per direction, the TLS side shared
/// behind a lock (reads poll with a short timeout so writes get their turn).
fn relay(s: Box<dyn Conn>, raw: TcpStream, up: TcpStream) {
    let _ = raw.set_read_timeout(Some(Duration::from_millis(20)));
    let s = Arc::new(Mutex::new(s));
    let (s2, mut up2) = (s.clone(), up.try_clone().unwrap());
    let back = std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match up2.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut g = s2.lock().unwrap();
                    if g.write_all(&buf[..n]).and_then(|()| g.flush()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut up = up;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let r = s.lock().unwrap().read(&mut buf);
        match r {
            Ok(0) => break,
            Ok(n) => {
                if up.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if back.is_finished() {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let _ = up.shutdown(Shutdown::Write);
    let _ = back.join();
    let _ = raw.shutdown(Shutdown::Both);
}

fn socks5_handshake(
    s: &mut Box<dyn Conn>,
    creds: Option<&(String, String)>,
) -> Result<SocketAddr, String> {
    let io = |e: std::io::Error| e.to_string();
    let mut head = [0u8; 2];
    s.read_exact(&mut head).map_err(io)?;
    let mut methods = vec![0u8; head[1] as usize];
    s.read_exact(&mut methods).map_err(io)?;
    let want = if creds.is_some() { 2 } else { 0 };
    if !methods.contains(&want) {
        let _ = s.write_all(&[5, 0xff]);
        return Err("no acceptable method".into());
    }
    s.write_all(&[5, want]).map_err(io)?;
    if let Some((u, p)) = creds {
        let mut v = [0u8; 2];
        s.read_exact(&mut v).map_err(io)?;
        let mut user = vec![0u8; v[1] as usize];
        s.read_exact(&mut user).map_err(io)?;
        let mut n = [0u8; 1];
        s.read_exact(&mut n).map_err(io)?;
        let mut pass = vec![0u8; n[0] as usize];
        s.read_exact(&mut pass).map_err(io)?;
        if user != u.as_bytes() || pass != p.as_bytes() {
            let _ = s.write_all(&[1, 1]);
            return Err(format!(
                "bad credentials for {:?}",
                String::from_utf8_lossy(&user)
            ));
        }
        s.write_all(&[1, 0]).map_err(io)?;
    }
    let mut req = [0u8; 4];
    s.read_exact(&mut req).map_err(io)?;
    if req[1] != 1 || req[3] != 1 {
        return Err(format!("unsupported request {req:?}"));
    }
    let mut a = [0u8; 6];
    s.read_exact(&mut a).map_err(io)?;
    let ip = Ipv4Addr::new(a[0], a[1], a[2], a[3]);
    Ok(SocketAddr::from((ip, u16::from_be_bytes([a[4], a[5]]))))
}

fn http_handshake(
    s: &mut Box<dyn Conn>,
    creds: Option<&(String, String)>,
) -> Result<SocketAddr, String> {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).map_err(|e| e.to_string())?;
        head.push(b[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let mut words = first.split_whitespace();
    if words.next() != Some("CONNECT") {
        let _ = s.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return Err(format!("not a CONNECT: {first}"));
    }
    let target = words.next().unwrap_or_default().to_string();
    if let Some((u, p)) = creds {
        use base64::Engine;
        let want = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        let ok = lines.any(|l| {
            l.to_ascii_lowercase().starts_with("proxy-authorization:")
                && l.split_whitespace().nth(2) == Some(want.as_str())
        });
        if !ok {
            let _ = s.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
            return Err("bad credentials".into());
        }
    }
    target.parse().map_err(|_| format!("bad target {target:?}"))
}

/// A DNS server over TCP that answers every `A` question with one address, and logs the
/// names asked; stops when dropped.
#[derive(Debug)]
pub struct DnsServer {
    log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl DnsServer {
    /// Listens on `listen` (TCP) inside the network namespace file `ns` (`None`: the host's),
    /// answering `answer`.
    pub fn start(ns: Option<&Path>, listen: SocketAddr, answer: Ipv4Addr) -> DnsServer {
        let bind = move || TcpListener::bind(listen).unwrap();
        let l = match ns {
            Some(ns) => crate::in_netns(ns, bind),
            None => bind(),
        };
        l.set_nonblocking(true).unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (lg, st) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                        let lg = lg.clone();
                        std::thread::spawn(move || {
                            while let Some(name) = answer_one(&mut c, answer) {
                                lg.lock().unwrap().push(name);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        DnsServer { log, stop }
    }

    /// The names asked so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one length-prefixed query and answers it; the name asked, or `None` at the end.
fn answer_one(c: &mut TcpStream, answer: Ipv4Addr) -> Option<String> {
    let mut len = [0u8; 2];
    c.read_exact(&mut len).ok()?;
    let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
    c.read_exact(&mut q).ok()?;
    let (name, end) = question(&q)?;
    let mut r = Vec::new();
    r.extend_from_slice(&q[0..2]);
    r.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    r.extend_from_slice(&q[12..end]);
    r.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
    r.extend_from_slice(&answer.octets());
    let mut msg = (r.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(&r);
    c.write_all(&msg).ok()?;
    Some(name)
}

/// The first question's name and where the question ends.
fn question(q: &[u8]) -> Option<(String, usize)> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let n = *q.get(i)? as usize;
        i += 1;
        if n == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + n)?).into_owned());
        i += n;
    }
    Some((labels.join("."), i + 4))
}

/// A DNS query for `name`'s `A` record (id 0x1234, recursion desired).
pub fn dns_query(name: &str) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}
