//! The netlink layer: veth pairs, addresses, routes and links through rtnetlink.
//!
//! rtnetlink is async; each [`Rtnl`] owns a small current-thread tokio runtime and blocks on
//! it, so the crate's API stays synchronous and no thread pool is started. A connection to
//! another namespace is opened by entering it on the calling thread just long enough to
//! create the socket ([`NetnsGuard`]).

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use futures_util::TryStreamExt;
use netlink_packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{NetError, Result};
use crate::netns::NetnsGuard;

/// A host link as listed for the sweep.
#[derive(Debug, Clone)]
pub(crate) struct LinkInfo {
    pub index: u32,
    pub name: String,
    pub alias: Option<String>,
}

/// A runtime and a connection to the host's (the calling thread's) namespace.
#[derive(Debug)]
pub(crate) struct Rtnl {
    rt: tokio::runtime::Runtime,
    host: Handle,
}

impl Rtnl {
    pub(crate) fn new() -> Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(NetError::Runtime)?;
        let host = connect(&rt)?;
        Ok(Rtnl { rt, host })
    }

    /// The host namespace handle.
    pub(crate) fn host(&self) -> &Handle {
        &self.host
    }

    /// A handle to the namespace `ns` (named `what` in errors).
    pub(crate) fn handle_in(&self, ns: BorrowedFd<'_>, what: &Path) -> Result<Handle> {
        let _guard = NetnsGuard::enter(ns, what)?;
        connect(&self.rt)
    }

    /// Runs a future to completion.
    pub(crate) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

fn connect(rt: &tokio::runtime::Runtime) -> Result<Handle> {
    let _enter = rt.enter();
    let (conn, handle, _) = rtnetlink::new_connection().map_err(NetError::Runtime)?;
    rt.spawn(conn);
    Ok(handle)
}

/// What a veth pair looks like when it is created.
#[derive(Debug)]
pub(crate) struct VethSpec<'a> {
    pub host_name: &'a str,
    pub host_mac: Option<[u8; 6]>,
    pub peer_name: &'a str,
    pub peer_mac: Option<[u8; 6]>,
    pub peer_ns: BorrowedFd<'a>,
}

/// Creates a veth pair with the host end here and the peer directly in `peer_ns`; returns
/// the host end's index.
pub(crate) async fn create_veth(h: &Handle, v: &VethSpec<'_>) -> Result<u32> {
    let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(v.peer_name.to_string())
        .setns_by_fd(v.peer_ns.as_raw_fd());
    if let Some(mac) = v.peer_mac {
        peer = peer.address(mac.to_vec());
    }
    let mut b = LinkVeth::new(v.host_name, v.peer_name)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
    if let Some(mac) = v.host_mac {
        b = b.address(mac.to_vec());
    }
    h.link()
        .add(b.build())
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("create veth {}", v.host_name), e))?;
    link_index(h, v.host_name)
        .await?
        .ok_or_else(|| NetError::InvalidConfig(format!("veth {} vanished", v.host_name)))
}

/// The index of link `name`, if it exists.
pub(crate) async fn link_index(h: &Handle, name: &str) -> Result<Option<u32>> {
    let mut s = h.link().get().match_name(name.to_string()).execute();
    match s.try_next().await {
        Ok(Some(m)) => Ok(Some(m.header.index)),
        Ok(None) => Ok(None),
        Err(rtnetlink::Error::NetlinkError(e))
            if e.code.map(|c| c.get()) == Some(-libc::ENODEV) =>
        {
            Ok(None)
        }
        Err(e) => Err(NetError::netlink(format!("look up interface {name}"), e)),
    }
}

/// Changes link `index` (named `what` in errors) as `f` describes.
pub(crate) async fn set_link(
    h: &Handle,
    index: u32,
    what: &str,
    f: impl FnOnce(LinkMessageBuilder<LinkUnspec>) -> LinkMessageBuilder<LinkUnspec>,
) -> Result<()> {
    let msg = f(LinkUnspec::new_with_index(index)).build();
    h.link()
        .set(msg)
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("configure interface {what}"), e))
}

/// Sets link `index` up.
pub(crate) async fn link_up(h: &Handle, index: u32, what: &str) -> Result<()> {
    set_link(h, index, what, |b| b.up()).await
}

/// Adds `ip/prefix` to link `index`.
pub(crate) async fn add_address(
    h: &Handle,
    index: u32,
    what: &str,
    ip: Ipv4Addr,
    prefix: u8,
) -> Result<()> {
    h.address()
        .add(index, IpAddr::V4(ip), prefix)
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("add address {ip}/{prefix} to {what}"), e))
}

/// Adds the host route `ip/32 dev index scope link src GATEWAY`: what the host sends to the
/// container (the proxy's connections) comes from [`GATEWAY`], the one source the
/// container's guarded ports accept (see [`crate::Ingress`]).
pub(crate) async fn add_host_route(h: &Handle, index: u32, what: &str, ip: Ipv4Addr) -> Result<()> {
    let msg = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(ip, 32)
        .output_interface(index)
        .pref_source(crate::GATEWAY)
        .scope(netlink_packet_route::route::RouteScope::Link)
        .build();
    h.route()
        .add(msg)
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("add route {ip}/32 dev {what}"), e))
}

/// Adds `default via gw dev index onlink`.
pub(crate) async fn add_default_route(
    h: &Handle,
    index: u32,
    what: &str,
    gw: Ipv4Addr,
) -> Result<()> {
    let msg = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(gw)
        .output_interface(index)
        .onlink()
        .build();
    h.route()
        .add(msg)
        .execute()
        .await
        .map_err(|e| NetError::netlink(format!("add default route via {gw} dev {what}"), e))
}

/// Deletes link `index`; a link that is already gone is not an error.
pub(crate) async fn delete_link(h: &Handle, index: u32, what: &str) -> Result<()> {
    match h.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(e))
            if e.code.map(|c| c.get()) == Some(-libc::ENODEV) =>
        {
            Ok(())
        }
        Err(e) => Err(NetError::netlink(format!("delete interface {what}"), e)),
    }
}

/// Every link with its name and alias.
pub(crate) async fn list_links(h: &Handle) -> Result<Vec<LinkInfo>> {
    let msgs: Vec<LinkMessage> = h
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| NetError::netlink("list interfaces", e))?;
    Ok(msgs
        .into_iter()
        .map(|m| {
            let mut info = LinkInfo {
                index: m.header.index,
                name: String::new(),
                alias: None,
            };
            for a in m.attributes {
                match a {
                    LinkAttribute::IfName(n) => info.name = n,
                    LinkAttribute::IfAlias(al) => info.alias = Some(al),
                    _ => {}
                }
            }
            info
        })
        .collect())
}

/// Writes a per-interface IPv4 sysctl (`/proc/sys/net/ipv4/conf/<ifname>/<key>`).
pub(crate) fn set_conf(ifname: &str, key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/net/ipv4/conf/{ifname}/{key}");
    std::fs::write(&path, value).map_err(|e| NetError::io("write", path, e))
}
