//! A container's egress network (reference §5.1): everything the container sends to the world
//! goes through an upstream proxy the user names (`socks5`, `http`, `https`), or nowhere
//! (`block`).
//!
//! ## How
//!
//! Hoody describes a per-container bridge with a GOST forwarder. hoody needs neither: the
//! container already has its own network namespace, which the host's user namespace owns (root
//! inside has no `CAP_NET_ADMIN` over it), so the redirect lives there, where the container
//! cannot touch it, as its firewall does:
//!
//! * one nftables table, [`TABLE`], in the container's namespace. A `nat` chain on the output
//!   hook rewrites every new TCP connection leaving `eth0` to the forwarder's listener,
//!   [`LISTEN`]`:`[`TCP_PORT`], and every UDP query to port 53 to [`LISTEN`]`:`[`DNS_PORT`];
//!   a `filter` chain after it is the kill switch: on `eth0` only replies, redirected
//!   connections and the platform's gateway ([`crate::GATEWAY`]: the server's proxy, its
//!   resolver for the platform's own names, the Kit's path in) pass; the rest (other UDP,
//!   ICMP, IPv6) is dropped. `block` is the kill switch alone.
//! * the forwarder ([`Egress`]): listening sockets made *inside* the container's namespace by
//!   a host process (the machine's monitor, which lives exactly as long as the namespace) and
//!   served from the host's namespace. A redirected connection's original destination is
//!   read from the container's conntrack (`SO_ORIGINAL_DST`) and asked of the upstream proxy
//!   (SOCKS5 `CONNECT` with username/password auth, or HTTP `CONNECT` with `Proxy-
//!   Authorization: Basic`, over TLS for `https`); bytes then flow both ways until either side
//!   closes. A DNS query goes as DNS over TCP through the same proxy to the configured
//!   `dns_servers`, in order: names do not leak to the server's own resolvers.
//!
//! Nothing is bridged, no extra interface or address is needed, a machine without an egress
//! network pays nothing, and the listeners go with the namespace. The ports are outside
//! Linux's ephemeral range and the address is not `127.0.0.1`, so a program in the container
//! binding a port of its own does not collide with them.
//!
//! Upstream proxies are reached from the host's network namespace: an upstream on the host's
//! loopback works, as does any the host can route to.

mod relay;
mod upstream;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use relay::{Egress, EgressStats};
pub use upstream::{Upstream, tls_config};

/// The TLS client configuration an `https` upstream is reached with ([`tls_config`]).
pub type TlsConfig = std::sync::Arc<rustls::ClientConfig>;

/// The nftables table in the container's namespace.
pub const TABLE: &str = "hoody_egress";
/// The forwarder's address inside the container's namespace.
pub const LISTEN: Ipv4Addr = Ipv4Addr::new(127, 255, 0, 1);
/// The forwarder's TCP port (outside Linux's default ephemeral range, 32768-60999).
pub const TCP_PORT: u16 = 65080;
/// The forwarder's DNS (UDP) port.
pub const DNS_PORT: u16 = 65053;
/// At most this many DNS servers (the reference's limit).
pub const MAX_DNS_SERVERS: usize = 4;
/// The DNS servers when none are given (the reference's default).
pub const DEFAULT_DNS_SERVERS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
    IpAddr::V4(Ipv4Addr::new(8, 8, 8, 8)),
];

/// What a container's egress goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EgressKind {
    /// A SOCKS5 proxy.
    Socks5,
    /// An HTTP proxy (`CONNECT`).
    Http,
    /// An HTTP proxy spoken to over TLS.
    Https,
    /// Nothing leaves.
    Block,
}

impl EgressKind {
    /// The reference's name.
    pub fn as_str(self) -> &'static str {
        match self {
            EgressKind::Socks5 => "socks5",
            EgressKind::Http => "http",
            EgressKind::Https => "https",
            EgressKind::Block => "block",
        }
    }

    /// From the reference's name.
    pub fn parse(s: &str) -> Option<EgressKind> {
        match s {
            "socks5" => Some(EgressKind::Socks5),
            "http" => Some(EgressKind::Http),
            "https" => Some(EgressKind::Https),
            "block" => Some(EgressKind::Block),
            _ => None,
        }
    }
}

/// A container's egress network, as the forwarder runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressConfig {
    /// Through what.
    pub kind: EgressKind,
    /// The upstream proxy (`None` for `block`).
    pub upstream: Option<Upstream>,
    /// Where DNS queries go, through the upstream, in order.
    pub dns_servers: Vec<IpAddr>,
}

impl EgressConfig {
    /// Checks `kind`, `proxy` (required unless `block`, and of the kind's scheme) and
    /// `dns_servers` (at most [`MAX_DNS_SERVERS`]; empty means [`DEFAULT_DNS_SERVERS`]).
    /// The error names the field and what is wrong with it.
    pub fn new(
        kind: EgressKind,
        proxy: Option<&str>,
        dns_servers: &[IpAddr],
    ) -> Result<EgressConfig, (&'static str, String)> {
        let upstream = match (kind, proxy.filter(|p| !p.is_empty())) {
            (EgressKind::Block, _) => None,
            (_, None) => {
                return Err((
                    "proxy",
                    format!(
                        "required for type {}: a URL such as socks5://user:pass@host:1080",
                        kind.as_str()
                    ),
                ));
            }
            (_, Some(url)) => Some(Upstream::parse(kind, url).map_err(|e| ("proxy", e))?),
        };
        if dns_servers.len() > MAX_DNS_SERVERS {
            return Err((
                "dns_servers",
                format!("{} given: at most {MAX_DNS_SERVERS}", dns_servers.len()),
            ));
        }
        let dns_servers = if dns_servers.is_empty() {
            DEFAULT_DNS_SERVERS.to_vec()
        } else {
            dns_servers.to_vec()
        };
        Ok(EgressConfig {
            kind,
            upstream,
            dns_servers,
        })
    }
}

/// The `nft -f` script that installs (or atomically replaces) [`TABLE`] for `kind`.
pub fn nft_script(kind: EgressKind) -> String {
    let gw = crate::GATEWAY;
    let redirect = if kind == EgressKind::Block {
        String::new()
    } else {
        format!(
            "  chain steer {{\n\
             \x20   type nat hook output priority -100; policy accept;\n\
             \x20   oifname != \"eth0\" return\n\
             \x20   ip daddr {gw} return\n\
             \x20   meta nfproto ipv4 udp dport 53 dnat ip to {LISTEN}:{DNS_PORT}\n\
             \x20   meta nfproto ipv4 meta l4proto tcp dnat ip to {LISTEN}:{TCP_PORT}\n\
             \x20 }}\n"
        )
    };
    format!(
        "table inet {TABLE} {{}}\n\
         delete table inet {TABLE}\n\
         table inet {TABLE} {{\n\
         {redirect}\
         \x20 chain guard {{\n\
         \x20   type filter hook output priority 0; policy accept;\n\
         \x20   oifname != \"eth0\" accept\n\
         \x20   ct direction reply accept\n\
         \x20   ct status dnat accept\n\
         \x20   ip daddr {gw} accept\n\
         \x20   drop\n\
         \x20 }}\n\
         }}\n"
    )
}

/// The `nft -f` script that removes [`TABLE`] (whether or not it is there).
pub fn nft_remove_script() -> String {
    format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n")
}

/// Installs the rules for `kind` in the namespace `netns`.
pub fn install_rules(netns: &Path, kind: EgressKind) -> crate::Result<()> {
    crate::nft::apply_in(netns, &nft_script(kind), "the machine's egress network")
}

/// Removes the rules from the namespace `netns`.
pub fn remove_rules(netns: &Path) -> crate::Result<()> {
    crate::nft::apply_in(netns, &nft_remove_script(), "the machine's egress network")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_are_checked_field_by_field() {
        let c = EgressConfig::new(EgressKind::Socks5, Some("socks5://u:p@127.0.0.1:1080"), &[])
            .unwrap();
        assert_eq!(c.dns_servers, DEFAULT_DNS_SERVERS.to_vec());
        let up = c.upstream.unwrap();
        assert_eq!((up.host.as_str(), up.port), ("127.0.0.1", 1080));
        assert_eq!(up.username.as_deref(), Some("u"));
        assert!(
            EgressConfig::new(EgressKind::Block, None, &[])
                .unwrap()
                .upstream
                .is_none()
        );
        assert_eq!(
            EgressConfig::new(EgressKind::Http, None, &[])
                .unwrap_err()
                .0,
            "proxy"
        );
        let five = [IpAddr::V4(Ipv4Addr::LOCALHOST); 5];
        assert_eq!(
            EgressConfig::new(EgressKind::Block, None, &five)
                .unwrap_err()
                .0,
            "dns_servers"
        );
        // The scheme must be the type's.
        assert!(EgressConfig::new(EgressKind::Http, Some("socks5://h:1"), &[]).is_err());
    }

    #[test]
    fn block_has_no_redirect_and_every_kind_a_kill_switch() {
        let block = nft_script(EgressKind::Block);
        assert!(!block.contains("dnat ip to"), "{block}");
        assert!(block.contains("chain guard"));
        let socks = nft_script(EgressKind::Socks5);
        assert!(
            socks.contains(&format!("dnat ip to {LISTEN}:{TCP_PORT}")),
            "{socks}"
        );
        assert!(socks.contains("ct status dnat accept"));
    }
}
