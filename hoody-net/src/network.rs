//! [`Network`]: the manager that creates, attaches, lists, destroys and sweeps container
//! networks, with its warm pool of ready namespaces.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{GATEWAY, NetConfig};
use crate::error::{NetError, Result};
use crate::ids;
use crate::ipam::{Attachment, Ipam, Owner, process_start_time};
use crate::netns;
use crate::rtnl::{self, Rtnl, VethSpec};

/// Name of the container end of every veth.
pub const CONTAINER_IFNAME: &str = "eth0";

/// What [`Network::gc`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct GcReport {
    /// Containers whose network (record, interface, owned namespace) was destroyed.
    pub attachments: Vec<String>,
    /// Host interfaces removed that no record claimed.
    pub links: Vec<String>,
    /// Namespace files removed that no record claimed.
    pub namespaces: Vec<PathBuf>,
}

impl GcReport {
    /// Whether nothing was removed.
    pub fn is_empty(&self) -> bool {
        self.attachments.is_empty() && self.links.is_empty() && self.namespaces.is_empty()
    }
}

/// A pre-created namespace with its veth: host end down under a temporary name (with the
/// gateway address and rp_filter already set), container end `eth0` up, `lo` up.
#[derive(Debug)]
struct WarmEntry {
    netns: PathBuf,
    host_index: u32,
    host_name: String,
    peer_index: u32,
}

#[derive(Debug, Default)]
struct WarmState {
    entries: VecDeque<WarmEntry>,
    /// Creates that took an entry and are still configuring it: the refill waits for them,
    /// so it never competes with a create for the rtnl lock and the CPU.
    in_flight: usize,
    stop: bool,
    last_error: Option<String>,
}

#[derive(Debug)]
struct WarmPool {
    state: Mutex<WarmState>,
    changed: Condvar,
    target: usize,
}

impl WarmPool {
    fn lock(&self) -> MutexGuard<'_, WarmState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The identity of this process in warm-pool names, so a sweep can tell a live pool's
/// entries from a crashed one's.
#[derive(Debug, Clone)]
struct PoolTag {
    pid: u32,
    start: u64,
}

impl PoolTag {
    fn current() -> Self {
        let pid = std::process::id();
        PoolTag {
            pid,
            start: process_start_time(pid).unwrap_or(0),
        }
    }

    fn text(&self) -> String {
        format!("{}-{}", self.pid, self.start)
    }

    /// Whether the pool tagged `text` (`pid-start`) belongs to a live process.
    fn is_live(text: &str) -> bool {
        let Some((pid, start)) = text.split_once('-') else {
            return false;
        };
        match (pid.parse::<u32>(), start.parse::<u64>()) {
            (Ok(pid), Ok(start)) => process_start_time(pid) == Some(start),
            _ => false,
        }
    }
}

/// Manages the networks of one [`NetConfig`]: address pool, nftables table, namespaces and
/// veths. Safe to share between threads; several processes may use the same configuration
/// at once (the IPAM store is locked).
#[derive(Debug)]
pub struct Network {
    cfg: NetConfig,
    ipam: Ipam,
    rtnl: Mutex<Rtnl>,
    firewall_ready: Mutex<bool>,
    tag: PoolTag,
    warm: Option<Arc<WarmPool>>,
    refill: Option<JoinHandle<()>>,
}

fn alias_for(name: &str, id: &str) -> String {
    format!("hoody:{name}:{id}")
}

impl Network {
    /// Opens the manager for `cfg`: checks it, opens (or creates) the IPAM store and the
    /// namespace directory, and starts the warm pool when `cfg.warm_pool > 0`. The nftables
    /// table is created on first use (the first create or attach).
    pub fn new(cfg: NetConfig) -> Result<Self> {
        cfg.validate()?;
        let ipam = Ipam::open(&cfg.state_dir, cfg.pool)?;
        netns::prepare_dir(&cfg.netns_dir)?;
        let rtnl = Rtnl::new()?;
        let tag = PoolTag::current();
        let mut net = Network {
            cfg,
            ipam,
            rtnl: Mutex::new(rtnl),
            firewall_ready: Mutex::new(false),
            tag,
            warm: None,
            refill: None,
        };
        if net.cfg.warm_pool > 0 {
            let pool = Arc::new(WarmPool {
                state: Mutex::new(WarmState::default()),
                changed: Condvar::new(),
                target: net.cfg.warm_pool,
            });
            let (cfg, tag, p) = (net.cfg.clone(), net.tag.clone(), pool.clone());
            let handle = std::thread::Builder::new()
                .name("hoody-net-warm".into())
                .spawn(move || refill_loop(&cfg, &tag, &p))
                .map_err(NetError::Runtime)?;
            net.warm = Some(pool);
            net.refill = Some(handle);
        }
        Ok(net)
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.cfg
    }

    fn rtnl(&self) -> MutexGuard<'_, Rtnl> {
        self.rtnl.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates the nftables table if this manager has not yet made sure it exists.
    pub fn ensure_firewall(&self) -> Result<()> {
        let mut ready = self
            .firewall_ready
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !*ready {
            crate::nft::ensure(&self.cfg)?;
            *ready = true;
        }
        Ok(())
    }

    fn netns_path(&self, id: &str) -> PathBuf {
        self.cfg.netns_dir.join(format!("{}-{id}", self.cfg.name))
    }

    /// Creates a network namespace for container `id` with its network: a veth (`eth0`
    /// inside, `hv<short id>` on the host), a /32 from the pool, the default route via
    /// [`GATEWAY`], the host route, `lo` up. Takes a ready namespace from the warm pool when
    /// one is there. `owner`: the process whose exit makes the network an orphan for
    /// [`gc_dead_owners`](Self::gc_dead_owners) (`None`: only an explicit destroy frees it).
    ///
    /// The container joins the namespace file [`Attachment::netns`] (for hoody-core:
    /// `ContainerSpec::join_network`). On error nothing is left behind.
    pub fn create(&self, id: &str, owner: Option<Owner>) -> Result<Attachment> {
        if !ids::valid_id(id) {
            return Err(NetError::InvalidId(id.to_string()));
        }
        self.ensure_firewall()?;
        if let Some(entry) = self.take_warm() {
            let r = self.create_from_warm(id, owner, entry);
            self.warm_done();
            return r;
        }
        let path = self.netns_path(id);
        let att = self.record(id, &path, true, owner)?;
        let made = netns::create(&path).and_then(|()| self.configure_cold(&att));
        if let Err(e) = made {
            self.rollback(&att);
            return Err(e);
        }
        Ok(att)
    }

    /// Gives the existing network namespace at `netns` (for example `/proc/<pid>/ns/net` of
    /// a running container) a network for container `id`. The namespace is not hoody's: it
    /// is left in place by [`destroy`](Self::destroy).
    pub fn attach(&self, id: &str, netns: &Path, owner: Option<Owner>) -> Result<Attachment> {
        if !ids::valid_id(id) {
            return Err(NetError::InvalidId(id.to_string()));
        }
        // Fail before recording anything when the namespace cannot be opened.
        drop(netns::open(netns)?);
        self.ensure_firewall()?;
        let att = self.record(id, netns, false, owner)?;
        if let Err(e) = self.configure_cold(&att) {
            self.rollback(&att);
            return Err(e);
        }
        Ok(att)
    }

    fn record(
        &self,
        id: &str,
        netns: &Path,
        owns_netns: bool,
        owner: Option<Owner>,
    ) -> Result<Attachment> {
        let ifname = ids::host_ifname(&self.cfg.ifname_prefix, id);
        self.ipam.allocate(id, |ip| Attachment {
            id: id.to_string(),
            ip,
            ifname,
            netns: netns.to_path_buf(),
            owns_netns,
            owner,
        })
    }

    /// Undoes a failed create: whatever exists of the network, then the record.
    fn rollback(&self, att: &Attachment) {
        let _ = self.remove_objects(att, att.owns_netns);
        let _ = self.ipam.release(&att.id);
    }

    fn configure_cold(&self, att: &Attachment) -> Result<()> {
        let ns = netns::open(&att.netns)?;
        let r = self.rtnl();
        let host = r.host().clone();
        let inner = r.handle_in(ns.as_fd(), &att.netns)?;
        let alias = alias_for(&self.cfg.name, &att.id);
        let ifname = att.ifname.clone();
        let (ip, nsp) = (att.ip, att.netns.display().to_string());
        let host_index = r.block_on(async {
            let idx = rtnl::create_veth(
                &host,
                &VethSpec {
                    host_name: &ifname,
                    host_mac: Some(ids::mac(&att.id, 1)),
                    peer_name: CONTAINER_IFNAME,
                    peer_mac: Some(ids::mac(&att.id, 0)),
                    peer_ns: ns.as_fd(),
                },
            )
            .await?;
            rtnl::set_link(&host, idx, &ifname, |b| b.alias(alias).up()).await?;
            rtnl::add_address(&host, idx, &ifname, GATEWAY, 32).await?;
            Ok::<u32, NetError>(idx)
        })?;
        rtnl::set_conf(&ifname, "rp_filter", "1")?;
        r.block_on(async {
            rtnl::add_host_route(&host, host_index, &ifname, ip).await?;
            let what = format!("{CONTAINER_IFNAME} in {nsp}");
            if let Some(lo) = rtnl::link_index(&inner, "lo").await? {
                rtnl::link_up(&inner, lo, &format!("lo in {nsp}")).await?;
            }
            let eth = rtnl::link_index(&inner, CONTAINER_IFNAME)
                .await?
                .ok_or_else(|| NetError::InvalidConfig(format!("{what} vanished")))?;
            rtnl::link_up(&inner, eth, &what).await?;
            rtnl::add_address(&inner, eth, &what, ip, 32).await?;
            rtnl::add_default_route(&inner, eth, &what, GATEWAY).await
        })?;
        drop(r);
        install_container_rules(&self.cfg, &ns, &att.netns)
    }

    fn take_warm(&self) -> Option<WarmEntry> {
        let pool = self.warm.as_ref()?;
        let mut st = pool.lock();
        let e = st.entries.pop_front();
        if e.is_some() {
            st.in_flight += 1;
        }
        e
    }

    fn warm_done(&self) {
        if let Some(pool) = &self.warm {
            let mut st = pool.lock();
            st.in_flight = st.in_flight.saturating_sub(1);
            drop(st);
            pool.changed.notify_all();
        }
    }

    fn create_from_warm(
        &self,
        id: &str,
        owner: Option<Owner>,
        entry: WarmEntry,
    ) -> Result<Attachment> {
        let att = match self.record(id, &entry.netns, true, owner) {
            Ok(a) => a,
            Err(e) => {
                let r = self.rtnl();
                destroy_warm(&r, &entry);
                return Err(e);
            }
        };
        if let Err(e) = self.configure_warm(&att, &entry) {
            // The interface may still carry its temporary name.
            let r = self.rtnl();
            destroy_warm(&r, &entry);
            drop(r);
            self.rollback(&att);
            return Err(e);
        }
        Ok(att)
    }

    fn configure_warm(&self, att: &Attachment, entry: &WarmEntry) -> Result<()> {
        let ns = netns::open(&att.netns)?;
        let r = self.rtnl();
        let host = r.host().clone();
        let inner = r.handle_in(ns.as_fd(), &att.netns)?;
        let alias = alias_for(&self.cfg.name, &att.id);
        let (ifname, ip) = (att.ifname.clone(), att.ip);
        let what = format!("{CONTAINER_IFNAME} in {}", att.netns.display());
        let host_mac = ids::mac(&att.id, 1).to_vec();
        let peer_mac = ids::mac(&att.id, 0).to_vec();
        r.block_on(async {
            rtnl::set_link(&host, entry.host_index, &entry.host_name, |b| {
                b.name(ifname.clone()).address(host_mac).alias(alias)
            })
            .await?;
            rtnl::link_up(&host, entry.host_index, &ifname).await?;
            rtnl::add_host_route(&host, entry.host_index, &ifname, ip).await?;
            rtnl::set_link(&inner, entry.peer_index, &what, |b| b.address(peer_mac)).await?;
            rtnl::add_address(&inner, entry.peer_index, &what, ip, 32).await?;
            rtnl::add_default_route(&inner, entry.peer_index, &what, GATEWAY).await
        })
    }

    /// Number of ready namespaces in the warm pool.
    pub fn warm_ready(&self) -> usize {
        self.warm.as_ref().map_or(0, |p| p.lock().entries.len())
    }

    /// Waits until the warm pool holds `n` ready namespaces (or its target, if smaller);
    /// returns whether it got there within `timeout`.
    pub fn wait_warm(&self, n: usize, timeout: Duration) -> bool {
        let Some(pool) = &self.warm else {
            return n == 0;
        };
        let n = n.min(pool.target);
        let deadline = Instant::now() + timeout;
        let mut st = pool.lock();
        while st.entries.len() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            st = match pool.changed.wait_timeout(st, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        true
    }

    /// The last error the warm pool's refill met, if any.
    pub fn warm_error(&self) -> Option<String> {
        self.warm.as_ref().and_then(|p| p.lock().last_error.clone())
    }

    /// Removes container `id`'s network: its veth (both ends; its addresses and routes go
    /// with it), the namespace if hoody created it, its resolv.conf and its address.
    pub fn destroy(&self, id: &str) -> Result<()> {
        let att = self
            .ipam
            .get(id)?
            .ok_or_else(|| NetError::NotAttached(id.to_string()))?;
        self.remove_objects(&att, att.owns_netns)?;
        self.ipam.release(id).map(drop)
    }

    /// Removes container `id`'s network from its namespace. The same as
    /// [`destroy`](Self::destroy) (a namespace hoody created has no other use and goes too);
    /// named for the attach/detach pair.
    pub fn detach(&self, id: &str) -> Result<()> {
        self.destroy(id)
    }

    fn remove_objects(&self, att: &Attachment, remove_netns: bool) -> Result<()> {
        let r = self.rtnl();
        let host = r.host().clone();
        r.block_on(async {
            if let Some(idx) = rtnl::link_index(&host, &att.ifname).await? {
                rtnl::delete_link(&host, idx, &att.ifname).await?;
            }
            Ok::<(), NetError>(())
        })?;
        drop(r);
        if remove_netns {
            netns::remove(&att.netns)?;
        }
        let resolv = self.resolv_path(&att.id);
        match std::fs::remove_file(&resolv) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetError::io("remove", resolv, e)),
        }
    }

    /// Every recorded network.
    pub fn list(&self) -> Result<Vec<Attachment>> {
        self.ipam.list()
    }

    /// Container `id`'s network, if it has one.
    pub fn get(&self, id: &str) -> Result<Option<Attachment>> {
        self.ipam.get(id)
    }

    /// Container `id`'s address, if it has a network.
    pub fn ip(&self, id: &str) -> Result<Option<Ipv4Addr>> {
        Ok(self.ipam.get(id)?.map(|a| a.ip))
    }

    /// The resolv.conf text for containers (see [`crate::dns`]).
    pub fn resolv_conf(&self) -> String {
        let resolver = self.cfg.ingress.resolver_port.map(|_| IpAddr::V4(GATEWAY));
        crate::dns::resolv_conf(self.cfg.dns.as_deref(), resolver)
    }

    fn resolv_path(&self, id: &str) -> PathBuf {
        self.cfg.state_dir.join("resolv").join(format!("{id}.conf"))
    }

    /// Writes container `id`'s resolv.conf under the state directory and returns its path,
    /// to be bind-mounted read-only at `/etc/resolv.conf`; removed by destroy.
    pub fn write_resolv_conf(&self, id: &str) -> Result<PathBuf> {
        if !ids::valid_id(id) {
            return Err(NetError::InvalidId(id.to_string()));
        }
        let path = self.resolv_path(id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| NetError::io("create", dir, e))?;
        }
        std::fs::write(&path, self.resolv_conf()).map_err(|e| NetError::io("write", &path, e))?;
        Ok(path)
    }

    /// Sweeps: destroys every recorded network for which `keep` is false, then removes host
    /// interfaces and namespace files of this configuration that no record claims (left by
    /// a crash between creating them and recording, or after the record was lost), except a
    /// live process's warm pool.
    ///
    /// Objects are listed *before* records are read: every object is created after its
    /// record (write-ahead), so a create running concurrently in another process is never
    /// mistaken for an orphan.
    pub fn gc(&self, keep: &dyn Fn(&Attachment) -> bool) -> Result<GcReport> {
        let mut report = GcReport::default();
        let links = {
            let r = self.rtnl();
            let host = r.host().clone();
            r.block_on(rtnl::list_links(&host))?
        };
        let ns_files = self.namespace_files()?;
        let records = self.ipam.list()?;
        let mut kept = Vec::new();
        for att in records {
            if keep(&att) {
                kept.push(att);
            } else {
                self.remove_objects(&att, att.owns_netns)?;
                self.ipam.release(&att.id)?;
                report.attachments.push(att.id);
            }
        }
        let alias_prefix = format!("hoody:{}:", self.cfg.name);
        let r = self.rtnl();
        let host = r.host().clone();
        for l in links {
            let Some(rest) = l
                .alias
                .as_deref()
                .and_then(|a| a.strip_prefix(&alias_prefix))
            else {
                continue;
            };
            let claimed = match rest.strip_prefix("warm:") {
                Some(tag) => tag == self.tag.text() || PoolTag::is_live(tag),
                None => kept.iter().any(|a| a.id == rest && a.ifname == l.name),
            };
            if !claimed {
                r.block_on(rtnl::delete_link(&host, l.index, &l.name))?;
                report.links.push(l.name);
            }
        }
        drop(r);
        let warm_prefix = format!("{}-warm-", self.cfg.name);
        for path in ns_files {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let claimed = match name.strip_prefix(&warm_prefix) {
                Some(rest) => {
                    let tag = rest.rsplit_once('-').map_or("", |(tag, _)| tag);
                    tag == self.tag.text() || PoolTag::is_live(tag)
                }
                None => kept.iter().any(|a| a.netns == path),
            };
            if !claimed {
                netns::remove(&path)?;
                report.namespaces.push(path);
            }
        }
        Ok(report)
    }

    /// [`gc`](Self::gc) that frees the networks whose owner process has exited (records
    /// without an owner are kept).
    pub fn gc_dead_owners(&self) -> Result<GcReport> {
        self.gc(&|a| a.owner.is_none_or(|o| o.is_alive()))
    }

    fn namespace_files(&self) -> Result<Vec<PathBuf>> {
        let prefix = format!("{}-", self.cfg.name);
        let rd = match std::fs::read_dir(&self.cfg.netns_dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NetError::io("list", &self.cfg.netns_dir, e)),
        };
        Ok(rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .collect())
    }

    /// Removes everything of this configuration: every network (recorded or orphaned, this
    /// process's warm pool included) and the nftables table. IPv4 forwarding stays on.
    pub fn uninstall(&mut self) -> Result<GcReport> {
        self.stop_warm_pool();
        let report = self.gc(&|_| false)?;
        crate::nft::remove(&self.cfg)?;
        *self
            .firewall_ready
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = false;
        Ok(report)
    }

    fn stop_warm_pool(&mut self) {
        if let Some(pool) = &self.warm {
            pool.lock().stop = true;
            pool.changed.notify_all();
        }
        if let Some(h) = self.refill.take() {
            let _ = h.join();
        }
        if let Some(pool) = self.warm.take() {
            let entries: Vec<WarmEntry> = pool.lock().entries.drain(..).collect();
            let r = self.rtnl();
            for e in &entries {
                destroy_warm(&r, e);
            }
        }
    }
}

impl Drop for Network {
    /// Stops the refill thread and removes the ready namespaces nobody took. Container
    /// networks are left alone: they belong to their containers until destroyed.
    fn drop(&mut self) {
        self.stop_warm_pool();
    }
}

/// The container side of the front door ([`crate::Ingress`]) in namespace `ns`: the guard on
/// the Kit's ports and the loopback path to the proxy, as an nftables table the host
/// installs there (the container's root, whose user namespace does not own this network
/// namespace, cannot remove it). `nft` runs from this thread while it is inside.
fn install_container_rules(cfg: &NetConfig, ns: &std::fs::File, path: &Path) -> Result<()> {
    if !cfg.ingress.has_container_rules() {
        return Ok(());
    }
    let _inside = netns::NetnsGuard::enter(ns.as_fd(), path)?;
    if !cfg.ingress.loopback_ports.is_empty() {
        // Loopback-sourced packets may leave through eth0 once DNAT points them at the
        // proxy (the masquerade then gives them the container's address).
        let conf = format!("/proc/sys/net/ipv4/conf/{CONTAINER_IFNAME}/route_localnet");
        std::fs::write(&conf, "1").map_err(|e| NetError::io("write", PathBuf::from(&conf), e))?;
    }
    crate::nft::install_here(cfg, &format!("{} in {}", cfg.name, path.display()))
}

fn destroy_warm(r: &Rtnl, e: &WarmEntry) {
    let host = r.host().clone();
    let _ = r.block_on(rtnl::delete_link(&host, e.host_index, &e.host_name));
    let _ = netns::remove(&e.netns);
}

fn make_warm(cfg: &NetConfig, tag: &PoolTag, r: &Rtnl) -> Result<WarmEntry> {
    let token = ids::random_token();
    let path = cfg
        .netns_dir
        .join(format!("{}-warm-{}-{token}", cfg.name, tag.text()));
    let mut host_name = format!("{}w{token}", cfg.ifname_prefix);
    host_name.truncate(15);
    netns::create(&path)?;
    let mut entry = WarmEntry {
        netns: path,
        host_index: 0,
        host_name,
        peer_index: 0,
    };
    let made = (|| {
        let ns = netns::open(&entry.netns)?;
        let host = r.host().clone();
        let inner = r.handle_in(ns.as_fd(), &entry.netns)?;
        let alias = format!("hoody:{}:warm:{}", cfg.name, tag.text());
        let nsp = entry.netns.display().to_string();
        let (hi, pi) = r.block_on(async {
            let hi = rtnl::create_veth(
                &host,
                &VethSpec {
                    host_name: &entry.host_name,
                    host_mac: None,
                    peer_name: CONTAINER_IFNAME,
                    peer_mac: None,
                    peer_ns: ns.as_fd(),
                },
            )
            .await?;
            rtnl::set_link(&host, hi, &entry.host_name, |b| b.alias(alias)).await?;
            rtnl::add_address(&host, hi, &entry.host_name, GATEWAY, 32).await?;
            if let Some(lo) = rtnl::link_index(&inner, "lo").await? {
                rtnl::link_up(&inner, lo, &format!("lo in {nsp}")).await?;
            }
            let what = format!("{CONTAINER_IFNAME} in {nsp}");
            let pi = rtnl::link_index(&inner, CONTAINER_IFNAME)
                .await?
                .ok_or_else(|| NetError::InvalidConfig(format!("{what} vanished")))?;
            rtnl::link_up(&inner, pi, &what).await?;
            Ok::<_, NetError>((hi, pi))
        })?;
        entry.host_index = hi;
        entry.peer_index = pi;
        rtnl::set_conf(&entry.host_name, "rp_filter", "1")?;
        install_container_rules(cfg, &ns, &entry.netns)
    })();
    if let Err(e) = made {
        let host = r.host().clone();
        r.block_on(async {
            if let Ok(Some(i)) = rtnl::link_index(&host, &entry.host_name).await {
                let _ = rtnl::delete_link(&host, i, &entry.host_name).await;
            }
        });
        let _ = netns::remove(&entry.netns);
        return Err(e);
    }
    Ok(entry)
}

fn refill_loop(cfg: &NetConfig, tag: &PoolTag, pool: &WarmPool) {
    let rtnl = match Rtnl::new() {
        Ok(r) => r,
        Err(e) => {
            pool.lock().last_error = Some(e.to_string());
            return;
        }
    };
    loop {
        {
            let mut st = pool.lock();
            while !st.stop && (st.entries.len() >= pool.target || st.in_flight > 0) {
                st = pool.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            if st.stop {
                return;
            }
        }
        match make_warm(cfg, tag, &rtnl) {
            Ok(e) => {
                let mut st = pool.lock();
                if st.stop {
                    drop(st);
                    destroy_warm(&rtnl, &e);
                    return;
                }
                st.entries.push_back(e);
                drop(st);
                pool.changed.notify_all();
            }
            Err(e) => {
                pool.lock().last_error = Some(e.to_string());
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}
