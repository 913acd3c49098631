//! The container's `/etc/resolv.conf`, from the host's upstream resolvers.
//!
//! The host's `/etc/resolv.conf` is read; loopback name servers (a local stub such as
//! systemd-resolved's 127.0.0.53, or dnsmasq on 127.0.0.1) mean nothing inside a container's
//! own network namespace, so they are dropped and, when that leaves none, the upstreams are
//! read from systemd-resolved's `/run/systemd/resolve/resolv.conf`. If there are still none
//! (a host whose only resolver is a loopback stub that is not systemd-resolved), the file
//! carries a comment saying so and no `nameserver` line: set [`NetConfig::dns`]
//! (`crate::NetConfig::dns`) to name servers the containers can reach, or expose the stub on
//! a host address and port 53 with [`NetConfig::exposed_ports`](crate::NetConfig).
//! `search` and `options` lines are kept.

use std::net::IpAddr;
use std::path::Path;

/// Host files consulted, in order.
pub const HOST_RESOLV: &str = "/etc/resolv.conf";
/// systemd-resolved's list of real upstreams.
pub const RESOLVED_UPSTREAMS: &str = "/run/systemd/resolve/resolv.conf";

#[derive(Debug, Default)]
struct Parsed {
    servers: Vec<IpAddr>,
    other: Vec<String>,
}

fn parse(text: &str) -> Parsed {
    let mut p = Parsed::default();
    for line in text.lines() {
        let l = line.trim();
        let mut words = l.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    p.servers.push(ip);
                }
            }
            Some("search") | Some("domain") | Some("options") => p.other.push(l.to_string()),
            _ => {}
        }
    }
    p
}

/// The resolv.conf text for containers: `servers` when given, else the host's upstreams
/// found through `host_file` and `resolved_file`; with `resolver` (the pool's resolver,
/// [`crate::Ingress::resolver_port`]) first. The pool's resolver answers the platform's names
/// and refuses every other, which the resolver library then asks the next server (glibc
/// moves on after REFUSED, or at once on ICMP port unreachable when the resolver is down).
pub fn resolv_conf_from(
    servers: Option<&[IpAddr]>,
    resolver: Option<IpAddr>,
    host_file: &Path,
    resolved_file: &Path,
) -> String {
    let host = parse(&std::fs::read_to_string(host_file).unwrap_or_default());
    let mut chosen: Vec<IpAddr> = match servers {
        Some(s) => s.to_vec(),
        None => host
            .servers
            .iter()
            .copied()
            .filter(|ip| !ip.is_loopback())
            .collect(),
    };
    let mut source = host_file.display().to_string();
    if chosen.is_empty() && servers.is_none() {
        let resolved = parse(&std::fs::read_to_string(resolved_file).unwrap_or_default());
        chosen = resolved
            .servers
            .into_iter()
            .filter(|ip| !ip.is_loopback())
            .collect();
        source = resolved_file.display().to_string();
    }
    let mut out = String::from("# written by hoody-net");
    if servers.is_some() {
        out.push_str(" from its configuration\n");
    } else {
        out.push_str(&format!(" from the host's upstream resolvers ({source})\n"));
    }
    if chosen.is_empty() {
        out.push_str(
            "# the host has only loopback resolvers, unreachable from a container: \
             configure hoody-net's dns servers\n",
        );
    }
    // glibc reads three name servers at most.
    let mut room = 3;
    if let Some(r) = resolver {
        out.push_str(&format!(
            "nameserver {r}\n# the platform's names (*.containers.<domain>, api.<domain>); the rest below\n"
        ));
        room -= 1;
    }
    for ip in chosen.iter().filter(|ip| Some(**ip) != resolver).take(room) {
        out.push_str(&format!("nameserver {ip}\n"));
    }
    for l in &host.other {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The resolv.conf text for containers from the host's files.
pub fn resolv_conf(servers: Option<&[IpAddr]>, resolver: Option<IpAddr>) -> String {
    resolv_conf_from(
        servers,
        resolver,
        Path::new(HOST_RESOLV),
        Path::new(RESOLVED_UPSTREAMS),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loopback_stub_resolves_to_upstreams() {
        let d = tempfile::tempdir().unwrap();
        let host = d.path().join("resolv.conf");
        let up = d.path().join("upstream.conf");
        std::fs::write(
            &host,
            "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n",
        )
        .unwrap();
        std::fs::write(&up, "nameserver 192.0.2.53\nnameserver 127.0.0.1\n").unwrap();
        let r = resolv_conf_from(None, None, &host, &up);
        assert!(r.contains("nameserver 192.0.2.53\n"), "{r}");
        assert!(!r.contains("127.0.0"), "{r}");
        assert!(r.contains("search lan"));
        std::fs::remove_file(&up).unwrap();
        let r = resolv_conf_from(None, None, &host, &up);
        assert!(!r.contains("nameserver"), "{r}");
        assert!(r.contains("only loopback"));
        std::fs::write(&host, "nameserver 198.51.100.1\n").unwrap();
        assert!(resolv_conf_from(None, None, &host, &up).contains("nameserver 198.51.100.1"));
        let cfg: Vec<IpAddr> = vec!["203.0.113.9".parse().unwrap()];
        assert!(resolv_conf_from(Some(&cfg), None, &host, &up).contains("nameserver 203.0.113.9"));
        let gw: IpAddr = "169.254.1.1".parse().unwrap();
        let many: Vec<IpAddr> = ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let r = resolv_conf_from(Some(&many), Some(gw), &host, &up);
        let servers: Vec<&str> = r.lines().filter(|l| l.starts_with("nameserver")).collect();
        assert_eq!(
            servers,
            [
                "nameserver 169.254.1.1",
                "nameserver 203.0.113.1",
                "nameserver 203.0.113.2"
            ]
        );
    }
}
