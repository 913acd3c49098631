//! # hoody-net
//!
//! hoody's networking: every container gets its own network namespace, its own routed veth
//! and a /32, with NAT to the world, no path to other containers and no path to the host
//! except the ports the host exposes.
//!
//! ```text
//!   container netns                       host
//!   eth0 10.77.0.5/32  ─── veth ───  hv3f2a9c0e71b4  (169.254.1.1/32, rp_filter=1)
//!   default via 169.254.1.1 onlink        route 10.77.0.5/32 dev hv3f2a9c0e71b4
//!                                         nft table inet hoody: forward / input / masquerade
//! ```
//!
//! ## Design and choices
//!
//! * **Routed, no bridge.** Each container's veth is a point-to-point link: the container has
//!   a /32 ([`config::DEFAULT_POOL`] `10.77.0.0/16` by default, configurable; see the
//!   constant for why that range) and a default route to a link-local gateway,
//!   [`GATEWAY`] `169.254.1.1`, `onlink`. Every host end carries that same gateway address,
//!   so the container's ARP for it is answered by the host and no subnet is shared. The host
//!   routes the container's /32 to the host end. Containers cannot reach each other at layer
//!   2 at all, and the nftables `forward` rule drops pool-to-pool routed traffic.
//! * **Ends created in place.** The veth is created with one `RTM_NEWLINK` whose peer
//!   carries the target namespace's fd (`IFLA_NET_NS_FD`): the container end is born as
//!   `eth0` inside the container's namespace, nothing is moved. Container-side addresses and
//!   routes go through a netlink socket opened inside the namespace by the calling thread
//!   (see `netns`), without forking `ip`.
//! * **Stable names.** The host end is `hv` + 12 hex digits of a hash of the container id
//!   ([`ids::short_id`]), the MACs (both locally administered) derive from the same hash:
//!   the same container always gets the same interface name and MAC.
//! * **IPAM** ([`ipam`]): a JSON file store under an exclusive `flock`, written atomically;
//!   records are written before the kernel objects they describe (write-ahead), which is
//!   what makes the sweep safe and crash recovery complete.
//! * **nftables** ([`nft`]): one table (`inet hoody`, name configurable) generated as an
//!   `nft -f -` script, applied atomically; rules match the pool, so nothing changes per
//!   container. Created on first use, removed by [`Network::uninstall`].
//! * **DNS** ([`dns`]): the host's upstream resolvers (a loopback stub is resolved to
//!   systemd-resolved's upstreams; the fallback is documented there), after the pool's own
//!   resolver when the configuration has one.
//! * **The front door** ([`Ingress`]): containers reach the server's proxy (its ports on the
//!   host, its resolver redirected from the gateway's port 53, their own loopback under the
//!   `localhost` apex) and nothing else of the host; inside each container the Kit's ports
//!   accept the proxy alone. The container side is a second small nftables table the host
//!   installs in the container's namespace (one `nft -f` per network, done ahead in the warm
//!   pool); the container's root, whose user namespace does not own that network namespace,
//!   cannot remove it.
//! * **Warm pool**: [`NetConfig::warm_pool`] namespaces are kept ready (namespace made,
//!   veth made, `lo` and `eth0` up, gateway address on the host end) by a background
//!   thread; [`Network::create`] then only renames the host end, sets the MACs, the address
//!   and the two routes.
//! * **Ownership and the sweep.** Every host end carries the alias
//!   `hoody:<name>:<container id>` (`hoody:<name>:warm:<pid>-<start>` for warm entries) and
//!   every namespace file is named `<name>-…`, so [`Network::gc`] finds exactly what this
//!   configuration owns, removes what no record claims, and frees the records a caller says
//!   are dead ([`Network::gc_dead_owners`]: the owner process has exited).
//! * Blocking API: rtnetlink is driven by a private current-thread tokio runtime; callers
//!   need no async runtime.
//!
//! Host requirements: root, `nft` (package nftables), a kernel with veth and nf_tables. IPv4
//! forwarding is turned on when the table is installed. If another firewall on the host
//! drops forwarded traffic (e.g. an iptables FORWARD policy of DROP), allow the pool there.
//!
//! ```no_run
//! use hoody_net::{NetConfig, Network, Owner};
//!
//! let net = Network::new(NetConfig::new())?;
//! let att = net.create("web-1", Owner::current())?;
//! println!("{} in {} via {}", att.ip, att.netns.display(), att.ifname);
//! // spawn the container with hoody-core's `ContainerSpec::join_network(&att.netns)`
//! net.destroy("web-1")?;
//! # Ok::<(), hoody_net::NetError>(())
//! ```

pub mod config;
pub mod dns;
pub mod egress;
mod error;
pub mod ids;
pub mod ipam;
mod netns;
mod network;
pub mod nft;
mod rtnl;

pub use config::{GATEWAY, Ingress, Ipv4Cidr, NetConfig};
pub use error::{NetError, Result};
pub use ipam::{Attachment, Owner};
pub use network::{CONTAINER_IFNAME, GcReport, Network};
