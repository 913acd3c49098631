//! The egress forwarder against the real kernel (root): a container namespace's TCP and DNS
//! go through SOCKS5, HTTP and HTTPS upstreams the test runs itself, or nowhere (`block`);
//! wrong credentials fail closed; removing the egress network makes egress direct again.
//!
//! Traffic goes only to the test's "outside" namespace and to the host's loopback.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use common::*;
use hoody_net::egress::{Egress, EgressConfig, EgressKind, tls_config};
use hoody_testkit::proxy::{DnsServer, ProxyKind, TestProxy, dns_query};

/// A DNS question for `name` sent over UDP from namespace `ns` to `server` (redirected to
/// the forwarder whatever the server): the answer, or the error.
fn ask(ns: &Path, server: Ipv4Addr, name: &str) -> std::io::Result<Vec<u8>> {
    in_ns(ns, || {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.send_to(&dns_query(name), (server, 53))?;
        let mut buf = [0u8; 1500];
        let n = s.recv(&mut buf)?;
        Ok(buf[..n].to_vec())
    })
}

#[test]
fn egress_goes_through_the_upstream_or_nowhere() {
    let t = TestNet::new(|c| c);
    let outside = Outside::new(&t.slot);
    let c = t
        .net
        .create(&hoody_testkit::unique_name("egress"), None)
        .unwrap();
    let dst = t.slot.outside_ip();
    let host_side = t.slot.outside_host_ip().to_string();
    let echo = EchoPeer::start(Some(&outside.ns), Ipv4Addr::UNSPECIFIED);
    let answer = Ipv4Addr::new(192, 0, 2, 77);
    let dns = DnsServer::start(Some(&outside.ns), SocketAddr::from((dst, 53)), answer);
    assert_eq!(
        connect_from(Some(&c.netns), dst, echo.port).unwrap(),
        host_side,
        "direct before any egress network"
    );

    let creds = Some(("hoody", "s3cret"));
    for kind in [ProxyKind::Socks5, ProxyKind::Http, ProxyKind::Https] {
        let proxy = TestProxy::start(kind, creds);
        let (ek, tls) = match kind {
            ProxyKind::Socks5 => (EgressKind::Socks5, None),
            ProxyKind::Http => (EgressKind::Http, None),
            ProxyKind::Https => {
                let mut ca = tempfile::NamedTempFile::new().unwrap();
                ca.write_all(proxy.ca_pem.as_ref().unwrap().as_bytes())
                    .unwrap();
                (
                    EgressKind::Https,
                    Some(tls_config(Some(ca.path())).unwrap()),
                )
            }
        };
        let cfg = EgressConfig::new(ek, Some(&proxy.url(creds)), &[dst.into()]).unwrap();
        let eg = Egress::start(&c.netns, cfg, tls).unwrap();

        // TCP: through the proxy, which made the connection to the echo server.
        assert_eq!(
            connect_from(Some(&c.netns), dst, echo.port).unwrap(),
            host_side,
            "{kind:?}"
        );
        let want = format!("CONNECT {dst}:{}", echo.port);
        assert!(proxy.log().contains(&want), "{kind:?}: {:?}", proxy.log());

        // DNS: whatever server the program asks, the question goes as DNS over TCP through
        // the proxy to the configured server.
        let name = format!("{kind:?}.egress.test").to_lowercase();
        let a = ask(&c.netns, Ipv4Addr::new(192, 0, 2, 53), &name).unwrap();
        assert!(a.ends_with(&answer.octets()), "{kind:?}: {a:?}");
        assert!(dns.log().contains(&name), "{:?}", dns.log());
        assert!(
            proxy.log().contains(&format!("CONNECT {dst}:53")),
            "{:?}",
            proxy.log()
        );
        assert!(eg.stats().relayed >= 2, "{:?}", eg.stats());
        eg.remove().unwrap();
    }

    // Wrong credentials: the connection fails, nothing gets out, the failure is counted.
    let proxy = TestProxy::start(ProxyKind::Socks5, creds);
    let cfg = EgressConfig::new(
        EgressKind::Socks5,
        Some(&proxy.url(Some(("hoody", "wrong")))),
        &[],
    )
    .unwrap();
    let eg = Egress::start(&c.netns, cfg, None).unwrap();
    // (the program's connection is accepted by the forwarder, then closed without a byte)
    let seen = connect_from(Some(&c.netns), dst, echo.port).unwrap_or_default();
    assert_eq!(seen, "", "nothing reached the echo server");
    assert!(proxy.log()[0].starts_with("DENIED"), "{:?}", proxy.log());
    let stats = eg.stats();
    assert_eq!(stats.relayed, 0);
    assert!(
        stats
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("refused the user name"),
        "{stats:?}"
    );
    // Replacing the configuration in place: block.
    drop(eg);
    let eg = Egress::start(
        &c.netns,
        EgressConfig::new(EgressKind::Block, None, &[]).unwrap(),
        None,
    )
    .unwrap();
    assert!(connect_from(Some(&c.netns), dst, echo.port).is_err());
    assert!(ask(&c.netns, dst, "blocked.egress.test").is_err());
    assert!(!dns.log().contains(&"blocked.egress.test".to_string()));

    // Removed: direct again.
    eg.remove().unwrap();
    assert_eq!(
        connect_from(Some(&c.netns), dst, echo.port).unwrap(),
        host_side
    );
    t.net.destroy(&c.id).unwrap();
}
