//! The upstream proxy: its URL, and a connection through it to one destination (SOCKS5
//! `CONNECT`, RFC 1928 with RFC 1929 username/password; HTTP `CONNECT`, RFC 9110 §9.3.6,
//! plain or over TLS).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde::{Deserialize, Serialize};

use super::EgressKind;

/// The system's trust store (Debian's `ca-certificates`).
pub const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// An upstream proxy, parsed from its URL.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name, if the URL has one.
    pub username: Option<String>,
    /// Password, if the URL has one.
    pub password: Option<String>,
}

impl std::fmt::Debug for Upstream {
    /// Never shows the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .finish()
    }
}

fn decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "credentials are not UTF-8 once percent-decoded".to_string())
}

impl Upstream {
    /// Parses `scheme://[user[:password]@]host[:port][/]` for `kind`: the scheme must be the
    /// kind's (`socks5` or `socks5h`, `http`, `https`); the port defaults to 1080, 80 and 443.
    /// Credentials may be percent-encoded. The error says what is wrong, without echoing the
    /// URL (it may carry a password).
    pub fn parse(kind: EgressKind, url: &str) -> Result<Upstream, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or("not a URL: expected scheme://[user:pass@]host:port")?;
        let scheme = scheme.to_ascii_lowercase();
        let ok = match kind {
            EgressKind::Socks5 => scheme == "socks5" || scheme == "socks5h",
            EgressKind::Http => scheme == "http",
            EgressKind::Https => scheme == "https",
            EgressKind::Block => false,
        };
        if !ok {
            return Err(format!(
                "scheme {scheme:?} does not match type {}: use {}://",
                kind.as_str(),
                kind.as_str()
            ));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err("a proxy URL has no path, query or fragment".into());
        }
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let (username, password) = match creds {
            None => (None, None),
            Some(c) => {
                let (u, p) = match c.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (c, None),
                };
                (Some(decode(u)?), p.map(decode).transpose()?)
            }
        };
        if username.as_ref().is_some_and(|u| u.len() > 255)
            || password.as_ref().is_some_and(|p| p.len() > 255)
        {
            return Err("user name and password are at most 255 bytes each".into());
        }
        let default_port = match kind {
            EgressKind::Socks5 => 1080,
            EgressKind::Http => 80,
            _ => 443,
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| format!("bad port {p:?}"))?,
                None if after.is_empty() => default_port,
                None => return Err("junk after the IPv6 address".into()),
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
        if !host_ok {
            return Err(format!("bad host {host:?}"));
        }
        if port == 0 {
            return Err("port 0".into());
        }
        Ok(Upstream {
            host,
            port,
            username,
            password,
        })
    }

    /// The URL without credentials: what the API shows.
    pub fn public_url(&self, kind: EgressKind) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{}://{host}:{}", kind.as_str(), self.port)
    }

    /// Whether the URL carried credentials.
    pub fn has_credentials(&self) -> bool {
        self.username.is_some()
    }

    /// A connection to `target` through this proxy, ready to carry the destination's bytes.
    /// `tls` is required for `https`.
    pub fn connect(
        &self,
        kind: EgressKind,
        target: SocketAddr,
        tls: Option<&Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> io::Result<Stream> {
        let mut tcp = Err(io::Error::other(format!(
            "{} resolves to nothing",
            self.host
        )));
        for addr in (self.host.as_str(), self.port).to_socket_addrs()? {
            tcp = TcpStream::connect_timeout(&addr, timeout);
            if tcp.is_ok() {
                break;
            }
        }
        let tcp = tcp?;
        tcp.set_nodelay(true)?;
        // The handshake is bounded; the relay afterwards waits as long as the two ends do.
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let mut stream = match kind {
            EgressKind::Https => {
                let cfg = tls.ok_or_else(|| io::Error::other("no TLS configuration"))?;
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| io::Error::other(format!("TLS name {}: {e}", self.host)))?;
                let conn =
                    rustls::ClientConnection::new(cfg.clone(), name).map_err(io::Error::other)?;
                Stream::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
            _ => Stream::Plain(tcp),
        };
        match kind {
            EgressKind::Socks5 => self.socks5(&mut stream, target)?,
            EgressKind::Http | EgressKind::Https => self.http_connect(&mut stream, target)?,
            EgressKind::Block => return Err(io::Error::other("type block has no upstream")),
        }
        let tcp = stream.tcp();
        tcp.set_read_timeout(None)?;
        tcp.set_write_timeout(None)?;
        Ok(stream)
    }

    fn socks5(&self, s: &mut Stream, target: SocketAddr) -> io::Result<()> {
        let bad = |m: &str| io::Error::other(format!("SOCKS5 proxy {}: {m}", self.host));
        let auth = self.username.is_some();
        s.write_all(if auth { &[5, 2, 0, 2] } else { &[5, 1, 0] })?;
        let mut two = [0u8; 2];
        s.read_exact(&mut two)?;
        match two {
            [5, 0] => {}
            [5, 2] if auth => {
                let u = self.username.as_deref().unwrap_or_default().as_bytes();
                let p = self.password.as_deref().unwrap_or_default().as_bytes();
                let mut msg = vec![1, u.len() as u8];
                msg.extend_from_slice(u);
                msg.push(p.len() as u8);
                msg.extend_from_slice(p);
                s.write_all(&msg)?;
                s.read_exact(&mut two)?;
                if two[1] != 0 {
                    return Err(bad("refused the user name and password"));
                }
            }
            [5, 0xff] => return Err(bad("accepts none of our authentication methods")),
            _ => return Err(bad("answered the greeting with something else")),
        }
        let mut req = vec![5, 1, 0];
        match target {
            SocketAddr::V4(a) => {
                req.push(1);
                req.extend_from_slice(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                req.push(4);
                req.extend_from_slice(&a.ip().octets());
            }
        }
        req.extend_from_slice(&target.port().to_be_bytes());
        s.write_all(&req)?;
        let mut head = [0u8; 4];
        s.read_exact(&mut head)?;
        if head[0] != 5 {
            return Err(bad("answered CONNECT with something else"));
        }
        if head[1] != 0 {
            let why = match head[1] {
                1 => "general failure",
                2 => "not allowed by its rules",
                3 => "network unreachable",
                4 => "host unreachable",
                5 => "connection refused",
                6 => "TTL expired",
                7 => "command not supported",
                8 => "address type not supported",
                _ => "unknown error",
            };
            return Err(bad(&format!("CONNECT {target}: {why}")));
        }
        let rest = match head[3] {
            1 => 4 + 2,
            4 => 16 + 2,
            3 => {
                let mut n = [0u8; 1];
                s.read_exact(&mut n)?;
                n[0] as usize + 2
            }
            _ => return Err(bad("bad address type in its answer")),
        };
        let mut skip = vec![0u8; rest];
        s.read_exact(&mut skip)
    }

    fn http_connect(&self, s: &mut Stream, target: SocketAddr) -> io::Result<()> {
        let mut req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(u) = &self.username {
            let cred = format!("{u}:{}", self.password.as_deref().unwrap_or_default());
            let b64 = base64::engine::general_purpose::STANDARD.encode(cred);
            req.push_str(&format!("Proxy-Authorization: Basic {b64}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes())?;
        s.flush()?;
        // The answer's head, byte by byte: nothing after it may be consumed.
        let mut head = Vec::with_capacity(256);
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() > 16 * 1024 {
                return Err(io::Error::other(format!(
                    "HTTP proxy {}: answer head over 16 KiB",
                    self.host
                )));
            }
            s.read_exact(&mut b)?;
            head.push(b[0]);
        }
        let line = String::from_utf8_lossy(&head);
        let status = line.lines().next().unwrap_or_default();
        let code = status.split_whitespace().nth(1).unwrap_or_default();
        if code != "200" {
            return Err(io::Error::other(format!(
                "HTTP proxy {}: CONNECT {target}: {status}",
                self.host
            )));
        }
        Ok(())
    }
}

/// A connection through the upstream.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP (SOCKS5, HTTP).
    Plain(TcpStream),
    /// TLS to the proxy (HTTPS).
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP connection underneath.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(t) => t,
            Stream::Tls(t) => &t.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.read(buf),
            Stream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(t) => t.write(buf),
            Stream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(t) => t.flush(),
            Stream::Tls(t) => t.flush(),
        }
    }
}

/// The TLS client configuration for `https` upstreams: the system's trust store
/// ([`SYSTEM_ROOTS`], if present) plus the PEM certificates in `extra` (a server's private
/// CA). Fails if that leaves no root at all.
pub fn tls_config(extra: Option<&Path>) -> io::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    let mut files: Vec<&Path> = Vec::new();
    if Path::new(SYSTEM_ROOTS).exists() {
        files.push(Path::new(SYSTEM_ROOTS));
    }
    files.extend(extra);
    for f in files {
        let certs = CertificateDer::pem_file_iter(f)
            .map_err(|e| io::Error::other(format!("read {}: {e}", f.display())))?;
        for c in certs {
            let c = c.map_err(|e| io::Error::other(format!("parse {}: {e}", f.display())))?;
            // A certificate the store cannot use is skipped, as TLS clients do.
            let _ = roots.add(c);
        }
    }
    if roots.is_empty() {
        return Err(io::Error::other(format!(
            "no trusted root certificates ({SYSTEM_ROOTS} is missing; install ca-certificates)"
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_defaults_and_hide_their_password() {
        let u = Upstream::parse(
            EgressKind::Socks5,
            "socks5h://a%40b:p%3Ass@proxy.example:9050",
        )
        .unwrap();
        assert_eq!(u.username.as_deref(), Some("a@b"));
        assert_eq!(u.password.as_deref(), Some("p:ss"));
        assert_eq!(
            u.public_url(EgressKind::Socks5),
            "socks5://proxy.example:9050"
        );
        assert!(!format!("{u:?}").contains("p:ss"));
        let h = Upstream::parse(EgressKind::Https, "https://[::1]/").unwrap();
        assert_eq!((h.host.as_str(), h.port), ("::1", 443));
        assert_eq!(h.public_url(EgressKind::Https), "https://[::1]:443");
        assert!(!h.has_credentials());
        for bad in [
            "proxy:1",
            "http://h:99999",
            "http://h/path",
            "http://",
            "http://a b",
        ] {
            assert!(Upstream::parse(EgressKind::Http, bad).is_err(), "{bad}");
        }
        let e = Upstream::parse(EgressKind::Http, "http://u:secret@h:x").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }
}
