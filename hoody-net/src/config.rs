//! [`NetConfig`]: the address pool, the names hoody owns and the exposed host ports, and
//! [`Ipv4Cidr`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::str::FromStr;

use crate::error::{NetError, Result};

/// The default container address pool: `10.77.0.0/16`.
///
/// Chosen to stay clear of the ranges other software and networks use by default: Docker
/// (172.17.0.0/16 and up, 192.168.x), Podman (10.88/10.89), libvirt (192.168.122.0/24),
/// Kubernetes (10.96.0.0/12 services, 10.244.0.0/16 flannel, 10.42/10.43 k3s), GCP auto-mode
/// VPCs (10.128.0.0/9), AWS default VPCs (172.31.0.0/16), WSL2 (172.16.0.0/12), home routers
/// (192.168.0.0/16) and Tailscale/carrier-grade NAT (100.64.0.0/10). Change it with
/// [`NetConfig::pool`] when a host's own network uses it.
pub const DEFAULT_POOL: &str = "10.77.0.0/16";

/// The gateway address every container routes through: link-local, put on the host end of
/// each veth (the same address on every host end, like Calico), so it never collides with a
/// real network and the container needs no subnet.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// The default name of hoody's nftables table, netns-name prefix and interface alias tag.
pub const DEFAULT_NAME: &str = "hoody";

/// An IPv4 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Cidr {
    /// The network `addr/prefix`; `addr` must have no host bits and `prefix` be in 8..=30.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Self> {
        let bad = || NetError::InvalidCidr(format!("{addr}/{prefix}"));
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let mask = u32::MAX << (32 - prefix);
        if u32::from(addr) & !mask != 0 {
            return Err(bad());
        }
        Ok(Ipv4Cidr {
            network: addr,
            prefix,
        })
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(ip) & mask == u32::from(self.network)
    }

    /// The allocatable addresses: every address but the first (network) and the last
    /// (broadcast), which are skipped so that nothing mistakes a container for either.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network) + 1;
        let last = u32::from(self.network) + (1u32 << (32 - self.prefix)) - 2;
        (first..=last).map(Ipv4Addr::from)
    }

    /// Number of allocatable addresses.
    pub fn host_count(&self) -> u32 {
        (1u32 << (32 - self.prefix)) - 2
    }
}

impl FromStr for Ipv4Cidr {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || NetError::InvalidCidr(s.to_string());
        let (a, p) = s.trim().split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad())?;
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        Ipv4Cidr::new(addr, prefix).map_err(|_| bad())
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Everything a [`Network`](crate::Network) manager needs to know.
///
/// Two managers with different `name`s never touch each other's resources: the name is the
/// nftables table, the prefix of every network namespace file and the tag in every host
/// interface's alias (`hoody:<name>:<container id>`), which is how [`gc`](crate::Network::gc)
/// recognises what it owns. Tests use a unique name, pool and state directory each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetConfig {
    /// Name of the nftables table (family `inet`), netns prefix and alias tag.
    pub name: String,
    /// Container addresses are /32s from this pool.
    pub pool: Ipv4Cidr,
    /// Host ports a container may reach on the host's own addresses (TCP and UDP), e.g. 53
    /// for a resolver on the host. Everything else from the pool to the host is dropped.
    pub exposed_ports: Vec<u16>,
    /// Directory of the IPAM state (`ipam.json`, `ipam.lock`) and generated resolv.conf
    /// files. Default `/var/lib/hoody/net/<name>`.
    pub state_dir: PathBuf,
    /// Directory of the network namespace files (bind mounts); default `/run/netns`, where
    /// `ip netns` finds them.
    pub netns_dir: PathBuf,
    /// Prefix of host-side interface names (`<prefix><short id>`, at most 15 bytes): `hv`.
    pub ifname_prefix: String,
    /// DNS servers written into containers' resolv.conf; `None`: the host's upstreams.
    pub dns: Option<Vec<IpAddr>>,
    /// Number of ready namespaces the warm pool keeps (0: no pool).
    pub warm_pool: usize,
    /// The server's front door as containers see it (see [`Ingress`]): the proxy's ports
    /// they may reach on the host, the pool's resolver, what the container's loopback
    /// leads to, and the ports inside each container only the proxy may reach.
    pub ingress: Ingress,
}

/// How containers reach the server's proxy, and how the proxy alone reaches the Kit.
///
/// * `proxy_ports`: TCP ports of the host (the proxy's HTTP, HTTPS and SSH listeners) every
///   container may connect to, at [`GATEWAY`] or any host address. A request arriving there
///   comes from the container's own address: the proxy treats it as one from the internet.
/// * `resolver_port`: a DNS server for the pool listens on [`GATEWAY`] at this port (UDP and
///   TCP; hoody-proxy's `--dns`). Containers' DNS to `GATEWAY:53` is redirected there, and
///   resolv.conf names [`GATEWAY`] first, the host's upstreams after it: the resolver
///   answers the platform's names and refuses the rest, which the resolver library then
///   asks the upstreams.
/// * `loopback_ports`: inside every container, TCP to `127.0.0.0/8` at these ports goes to
///   the proxy at [`GATEWAY`] (DNAT, then masquerade to the container's address). For the
///   `localhost` apex: clients such as curl resolve `*.localhost` to loopback themselves.
/// * `guarded_ports`: inside every container, these TCP ports (the Kit's) accept only
///   connections from [`GATEWAY`] arriving on `eth0`, which is where the proxy's come from
///   (the host route's preferred source); loopback, `::1` and the container's own address
///   are refused with a reset. The rules live in the container's network namespace, which
///   the host's user namespace owns: the container's root cannot change them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingress {
    /// Host TCP ports containers may reach (the proxy's listeners).
    pub proxy_ports: Vec<u16>,
    /// Port of the pool's resolver on [`GATEWAY`].
    pub resolver_port: Option<u16>,
    /// Loopback TCP ports inside containers that lead to the proxy.
    pub loopback_ports: Vec<u16>,
    /// TCP ports inside containers only the proxy may reach.
    pub guarded_ports: Vec<u16>,
}

impl Ingress {
    /// Whether containers need rules in their own namespace.
    pub fn has_container_rules(&self) -> bool {
        !self.loopback_ports.is_empty() || !self.guarded_ports.is_empty()
    }
}

impl NetConfig {
    /// The defaults: name `hoody`, pool [`DEFAULT_POOL`], no exposed ports, state in
    /// `/var/lib/hoody/net/hoody`, namespaces in `/run/netns`, interfaces `hv…`, host DNS,
    /// no warm pool.
    pub fn new() -> Self {
        NetConfig::named(DEFAULT_NAME)
    }

    /// The defaults with another `name` (and the state directory that goes with it).
    pub fn named(name: impl Into<String>) -> Self {
        let name = name.into();
        NetConfig {
            state_dir: PathBuf::from("/var/lib/hoody/net").join(&name),
            name,
            // The constant parses; the fallback is never used.
            pool: DEFAULT_POOL.parse().unwrap_or(Ipv4Cidr {
                network: Ipv4Addr::new(10, 77, 0, 0),
                prefix: 16,
            }),
            exposed_ports: Vec::new(),
            netns_dir: PathBuf::from("/run/netns"),
            ifname_prefix: "hv".into(),
            dns: None,
            warm_pool: 0,
            ingress: Ingress::default(),
        }
    }

    /// Sets the pool.
    pub fn pool(mut self, pool: Ipv4Cidr) -> Self {
        self.pool = pool;
        self
    }

    /// Sets the exposed host ports.
    pub fn exposed_ports(mut self, ports: Vec<u16>) -> Self {
        self.exposed_ports = ports;
        self
    }

    /// Sets the state directory.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// Sets the number of warm namespaces.
    pub fn warm_pool(mut self, n: usize) -> Self {
        self.warm_pool = n;
        self
    }

    /// Sets the front door (see [`Ingress`]).
    pub fn ingress(mut self, ingress: Ingress) -> Self {
        self.ingress = ingress;
        self
    }

    /// Sets the DNS servers for containers.
    pub fn dns(mut self, servers: Vec<IpAddr>) -> Self {
        self.dns = Some(servers);
        self
    }

    /// Checks the names: the table name must be a valid nft identifier and usable in file
    /// names, the interface prefix short enough for a 15-byte interface name.
    pub fn validate(&self) -> Result<()> {
        let ok_name = !self.name.is_empty()
            && self.name.len() <= 64
            && self.name.starts_with(|c: char| c.is_ascii_alphabetic())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok_name {
            return Err(NetError::InvalidConfig(format!(
                "name {:?}: 1-64 characters [A-Za-z0-9_-] starting with a letter",
                self.name
            )));
        }
        if self.ifname_prefix.is_empty()
            || self.ifname_prefix.len() > 3
            || !self.ifname_prefix.bytes().all(|b| b.is_ascii_lowercase())
        {
            return Err(NetError::InvalidConfig(format!(
                "interface prefix {:?}: 1-3 lowercase letters",
                self.ifname_prefix
            )));
        }
        Ok(())
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_iterate() {
        let c: Ipv4Cidr = "10.77.0.0/16".parse().expect("valid");
        assert_eq!(c.host_count(), 65_534);
        assert!(c.contains(Ipv4Addr::new(10, 77, 255, 255)));
        assert!(!c.contains(Ipv4Addr::new(10, 78, 0, 0)));
        let small: Ipv4Cidr = "10.1.2.0/30".parse().expect("valid");
        let hosts: Vec<_> = small.hosts().collect();
        assert_eq!(
            hosts,
            vec![Ipv4Addr::new(10, 1, 2, 1), Ipv4Addr::new(10, 1, 2, 2)]
        );
        for bad in [
            "10.77.0.1/16",
            "10.77.0.0",
            "10.77.0.0/33",
            "10.77.0.0/31",
            "x/16",
            "10.0.0.0/7",
            "",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad} should not parse");
        }
        assert_eq!(NetConfig::new().pool.to_string(), DEFAULT_POOL);
    }

    #[test]
    fn names_are_checked() {
        assert!(NetConfig::new().validate().is_ok());
        assert!(NetConfig::named("bad name").validate().is_err());
        assert!(NetConfig::named("1x").validate().is_err());
    }
}
