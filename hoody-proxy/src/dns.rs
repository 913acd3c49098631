//! The pool's resolver: the platform's names resolve, inside every container, to the proxy.
//!
//! Containers reach the proxy at the gateway every one of them routes through
//! (`169.254.1.1`, hoody-net's `GATEWAY`); hoody-net redirects their DNS to the gateway's port
//! 53 here, and their resolv.conf names the gateway first and the host's upstreams after it.
//! This server is authoritative for exactly the platform's names, `api.{apex}` and everything
//! under `containers.{apex}` (every server's Kit hosts and aliases), and answers their `A`
//! question with the proxy's address; `AAAA` and other types get an empty answer. Every other
//! name is REFUSED, and the resolver library (glibc) asks the next name server, the host's
//! upstream: no recursion here, so this is no open resolver, and a proxy that is down costs a
//! container's lookups nothing but an ICMP port unreachable.
//!
//! Why here and not in each container: one server for the whole pool (nothing per container,
//! no process, no file beyond resolv.conf), and the proxy already knows the apex. Why not
//! `/etc/hosts`: names under `containers.{apex}` are a wildcard.
//!
//! UDP and TCP (RFC 7766 framing), blocking threads: lookups of these names are rare and
//! cached by whoever asks (TTL [`TTL`]).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use crate::hostname::Domains;

/// Seconds an answer may be cached.
pub const TTL: u32 = 60;
/// At most this many TCP clients at once (each holds a thread).
const MAX_TCP: usize = 64;
/// A TCP client that sends nothing for this long is dropped.
const TCP_IDLE: Duration = Duration::from_secs(10);

const TYPE_A: u16 = 1;
const TYPE_ANY: u16 = 255;
const CLASS_IN: u16 = 1;
const CLASS_ANY: u16 = 255;
const RCODE_FORMERR: u16 = 1;
const RCODE_NOTIMP: u16 = 4;
const RCODE_REFUSED: u16 = 5;

/// The zone and its one answer.
#[derive(Debug, Clone)]
pub struct Resolver {
    api: String,
    containers_suffix: String,
    answer: Ipv4Addr,
}

impl Resolver {
    /// Answers for `domains`' apex with `answer` (the proxy's address as containers reach it).
    pub fn new(domains: &Domains, answer: Ipv4Addr) -> Self {
        Resolver {
            api: format!("api.{}", domains.apex),
            containers_suffix: format!(".containers.{}", domains.apex),
            answer,
        }
    }

    /// Whether `name` (lowercase, no trailing dot) is one of the platform's.
    pub fn in_zone(&self, name: &str) -> bool {
        name == self.api
            || name.ends_with(&self.containers_suffix)
            || name
                .strip_suffix(&self.api)
                .and_then(|r| r.strip_suffix('.'))
                .is_some_and(|realm| {
                    realm.len() == 24
                        && realm
                            .bytes()
                            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                })
    }

    /// The response to the DNS message `query`; `None` for something not to answer at all
    /// (too short to carry an id, or itself a response).
    pub fn respond(&self, query: &[u8]) -> Option<Vec<u8>> {
        if query.len() < 12 {
            return None;
        }
        let flags = u16::from_be_bytes([query[2], query[3]]);
        if flags & 0x8000 != 0 {
            return None;
        }
        let opcode = (flags >> 11) & 0xf;
        let rd = flags & 0x0100;
        let header = |rcode: u16, aa: bool, qd: u16, an: u16| {
            let mut h = Vec::with_capacity(64);
            h.extend_from_slice(&query[0..2]);
            let f = 0x8000 | (opcode << 11) | if aa { 0x0400 } else { 0 } | rd | rcode;
            h.extend_from_slice(&f.to_be_bytes());
            for n in [qd, an, 0, 0] {
                h.extend_from_slice(&n.to_be_bytes());
            }
            h
        };
        if opcode != 0 {
            return Some(header(RCODE_NOTIMP, false, 0, 0));
        }
        if u16::from_be_bytes([query[4], query[5]]) != 1 {
            return Some(header(RCODE_FORMERR, false, 0, 0));
        }
        let Some((name, end)) = question_name(query) else {
            return Some(header(RCODE_FORMERR, false, 0, 0));
        };
        let Some(fixed) = query.get(end..end + 4) else {
            return Some(header(RCODE_FORMERR, false, 0, 0));
        };
        let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
        let question = &query[12..end + 4];
        if !self.in_zone(&name) {
            let mut r = header(RCODE_REFUSED, false, 1, 0);
            r.extend_from_slice(question);
            return Some(r);
        }
        let a = matches!(qtype, TYPE_A | TYPE_ANY) && matches!(qclass, CLASS_IN | CLASS_ANY);
        let mut r = header(0, true, 1, u16::from(a));
        r.extend_from_slice(question);
        if a {
            // The name by pointer to the question (offset 12), A, IN, TTL, 4 bytes.
            r.extend_from_slice(&[0xc0, 12]);
            r.extend_from_slice(&TYPE_A.to_be_bytes());
            r.extend_from_slice(&CLASS_IN.to_be_bytes());
            r.extend_from_slice(&TTL.to_be_bytes());
            r.extend_from_slice(&4u16.to_be_bytes());
            r.extend_from_slice(&self.answer.octets());
        }
        Some(r)
    }
}

/// The question's name (lowercased, dot-separated) and the offset just after it. Queries
/// carry no compression pointers in their question; one is refused as malformed.
fn question_name(msg: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut name = String::new();
    loop {
        let len = usize::from(*msg.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        let label = msg.get(at..at + len)?;
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
        at += len;
        if name.len() > 253 {
            return None;
        }
    }
    Some((name, at))
}

/// Sockets bound to `addr` for UDP and TCP, with `IP_FREEBIND`: the gateway address exists on
/// the host only while some container's veth carries it, and the resolver must be ready
/// before the first container starts.
pub fn bind(addr: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let domain = Domain::for_address(addr);
    let freebind = |s: &Socket| {
        if addr.is_ipv4() {
            s.set_freebind_v4(true)
        } else {
            s.set_freebind_v6(true)
        }
    };
    let udp = Socket::new(domain, Type::DGRAM, None)?;
    freebind(&udp)?;
    udp.bind(&addr.into())?;
    let tcp = Socket::new(domain, Type::STREAM, None)?;
    freebind(&tcp)?;
    tcp.set_reuse_address(true)?;
    tcp.bind(&addr.into())?;
    tcp.listen(128)?;
    Ok((udp.into(), tcp.into()))
}

/// Serves `resolver` on the two sockets, on threads of their own, for the life of the
/// process.
pub fn spawn(resolver: Resolver, udp: UdpSocket, tcp: TcpListener) -> std::io::Result<()> {
    let resolver = Arc::new(resolver);
    let r = resolver.clone();
    std::thread::Builder::new()
        .name("dns-udp".into())
        .spawn(move || serve_udp(&r, &udp))?;
    std::thread::Builder::new()
        .name("dns-tcp".into())
        .spawn(move || serve_tcp(&resolver, &tcp))?;
    Ok(())
}

fn serve_udp(r: &Resolver, sock: &UdpSocket) {
    let mut buf = [0u8; 4096];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        if let Some(resp) = r.respond(&buf[..n]) {
            let _ = sock.send_to(&resp, from);
        }
    }
}

fn serve_tcp(r: &Arc<Resolver>, l: &TcpListener) {
    let open = Arc::new(AtomicUsize::new(0));
    for conn in l.incoming() {
        let Ok(conn) = conn else { continue };
        if open.fetch_add(1, Ordering::AcqRel) >= MAX_TCP {
            open.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let (r, open) = (r.clone(), open.clone());
        let spawned = std::thread::Builder::new()
            .name("dns-tcp-client".into())
            .spawn(move || {
                let _ = serve_tcp_client(&r, conn);
                open.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            // The closure (and the connection) are gone; give the slot back.
            continue;
        }
    }
}

fn serve_tcp_client(r: &Resolver, mut c: TcpStream) -> std::io::Result<()> {
    c.set_read_timeout(Some(TCP_IDLE))?;
    c.set_write_timeout(Some(TCP_IDLE))?;
    loop {
        let mut len = [0u8; 2];
        c.read_exact(&mut len)?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        c.read_exact(&mut msg)?;
        let Some(resp) = r.respond(&msg) else {
            return Ok(());
        };
        let n = u16::try_from(resp.len()).map_err(std::io::Error::other)?;
        let mut out = Vec::with_capacity(resp.len() + 2);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&resp);
        c.write_all(&out)?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    fn resolver() -> Resolver {
        let d = Domains::new("Example.COM", "node-1").unwrap();
        Resolver::new(&d, Ipv4Addr::new(169, 254, 1, 1))
    }

    #[test]
    fn platform_names_answer_the_proxy() {
        let r = resolver();
        let host = "AAAAAAAAAAAAAAAAAAAAAAAA-bbbbbbbbbbbbbbbbbbbbbbbb-terminal-1.node-1.containers.example.com";
        let q = query(host, TYPE_A);
        let a = r.respond(&q).unwrap();
        assert_eq!(&a[0..2], &[0xab, 0xcd], "the id is kept");
        assert_eq!(a[2] & 0x84, 0x84, "a response, authoritative");
        assert_eq!(a[3] & 0x0f, 0, "NOERROR");
        assert_eq!(&a[6..8], &[0, 1], "one answer");
        assert_eq!(&a[a.len() - 4..], &[169, 254, 1, 1]);
        assert_eq!(&a[12..q.len()], &q[12..], "the question is echoed");
        // api.{apex}, another server's host and an alias are the platform's too.
        for n in [
            "api.example.com",
            "507f1f77bcf86cd799439011.api.example.com",
            "x.node-2.containers.example.com",
        ] {
            let a = r.respond(&query(n, TYPE_A)).unwrap();
            assert_eq!(&a[a.len() - 4..], &[169, 254, 1, 1], "{n}");
        }
        // AAAA: no data, not an error.
        let a = r.respond(&query("api.example.com", 28)).unwrap();
        assert_eq!((a[3] & 0x0f, a[7]), (0, 0));
    }

    #[test]
    fn other_names_are_refused_and_garbage_is_formerr() {
        let r = resolver();
        for n in [
            "deb.debian.org",
            "example.com",
            "containers.example.com.evil",
        ] {
            let a = r.respond(&query(n, TYPE_A)).unwrap();
            assert_eq!(a[3] & 0x0f, RCODE_REFUSED as u8, "{n}");
            assert_eq!(a[7], 0, "{n}: no answer");
        }
        let mut q = query("api.example.com", TYPE_A);
        q.truncate(20);
        assert_eq!(r.respond(&q).unwrap()[3] & 0x0f, RCODE_FORMERR as u8);
        assert!(r.respond(&[1, 2, 3]).is_none());
        let mut resp = query("api.example.com", TYPE_A);
        resp[2] |= 0x80;
        assert!(r.respond(&resp).is_none(), "responses are not answered");
    }

    #[test]
    fn serves_udp_and_tcp() {
        let (udp, tcp) = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (ua, ta) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        spawn(resolver(), udp, tcp).unwrap();
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.send_to(&query("api.example.com", TYPE_A), ua).unwrap();
        let mut buf = [0u8; 512];
        let n = c.recv(&mut buf).unwrap();
        assert_eq!(&buf[n - 4..n], &[169, 254, 1, 1]);
        let mut t = TcpStream::connect(ta).unwrap();
        t.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        for _ in 0..2 {
            let q = query("api.example.com", TYPE_A);
            t.write_all(&(q.len() as u16).to_be_bytes()).unwrap();
            t.write_all(&q).unwrap();
            let mut len = [0u8; 2];
            t.read_exact(&mut len).unwrap();
            let mut a = vec![0u8; usize::from(u16::from_be_bytes(len))];
            t.read_exact(&mut a).unwrap();
            assert_eq!(&a[a.len() - 4..], &[169, 254, 1, 1]);
        }
    }
}
