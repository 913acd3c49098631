//! The per-machine monitor: the process that spawns a machine's PID 1 and stays its parent.
//!
//! It holds the console pty master and PID 1's pidfd, keeps the console output (a ring buffer
//! for late readers plus `console.log`), learns when boot finished from the `NOTIFY_SOCKET`
//! (`READY=1`), records the exit status, and answers a small line protocol on
//! `<run>/<name>/monitor.sock`. Because the monitor, not the manager, is PID 1's parent, a
//! manager (the CLI today, the daemon later) can exit, crash or be restarted and the machine
//! keeps running; a new manager finds it through the socket.
//!
//! Protocol: one request line, answered with one JSON line (`CONSOLE` switches the connection
//! to a raw byte stream both ways):
//!
//! | request | answer |
//! |---|---|
//! | `STATUS` | `{"state", "pid", "ready", "monitor_pid"}` |
//! | `WAIT_READY <ms>` | the status once PID 1 sent `READY=1`, or when the time is up |
//! | `STOP <ms>` | SIGRTMIN+3 to PID 1 (clean shutdown); after `<ms>` the cgroup is killed; answers `{"exit": ...}` when PID 1 is gone |
//! | `KILL` | kills every process of the machine; answers `{"exit": ...}` |
//! | `FREEZE`, `THAW` | `{"ok": true}` |
//! | `EGRESS` | re-reads the egress network from the configuration and applies it: `{"ok": true}` |
//! | `CONSOLE` | the buffered console output, then live output; what the client writes goes to the console |
//!
//! A PID 1 that exits with SIGHUP asked for a reboot (`reboot` inside a pid namespace); the
//! monitor starts the machine again. Any other exit ends the monitor.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hoody_core::{Container, ExitStatus, spawn};
use serde_json::json;

use crate::config::{MachineConfig, MachinePaths, NetPlan, boot_spec};
use crate::egress::{EgressSlot, SharedEgress};

/// The slot, even if a thread panicked holding it (its state is still consistent: each
/// change is one assignment).
fn lock(e: &SharedEgress) -> std::sync::MutexGuard<'_, EgressSlot> {
    e.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

const RING: usize = 128 * 1024;

enum Mode {
    /// Reading the request line.
    Request(Vec<u8>),
    /// Waiting for READY=1 until the deadline.
    WaitReady(Instant),
    /// Waiting for PID 1 to exit.
    WaitExit,
    /// Raw console stream.
    Console,
}

struct Client {
    stream: UnixStream,
    mode: Mode,
}

struct Monitor {
    paths: MachinePaths,
    ip: Option<String>,
    egress: Option<SharedEgress>,
    container: Container,
    master: File,
    log: File,
    ring: VecDeque<u8>,
    ready: bool,
    stopping: Option<Instant>,
    notify: UnixDatagram,
    listener: UnixListener,
    clients: Vec<Client>,
}

fn exit_json(s: &ExitStatus) -> serde_json::Value {
    json!({
        "code": s.code,
        "signal": s.signal,
        "oom_killed": s.oom_killed,
        "finished_at": hoody_sys::time::now_secs(),
    })
}

impl Monitor {
    fn status(&self) -> serde_json::Value {
        json!({
            "state": if self.stopping.is_some() { "stopping" } else if self.ready { "running" } else { "starting" },
            "pid": self.container.pid(),
            "ready": self.ready,
            "monitor_pid": std::process::id(),
            "ip": self.ip,
            "egress": self.egress.as_ref().map(|e| lock(e).status()),
        })
    }

    fn on_console(&mut self, data: &[u8]) {
        let _ = self.log.write_all(data);
        self.ring.extend(data.iter().copied());
        while self.ring.len() > RING {
            self.ring.pop_front();
        }
        self.clients.retain_mut(|c| match c.mode {
            Mode::Console => c.stream.write_all(data).is_ok(),
            _ => true,
        });
    }

    fn on_notify(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.notify.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]);
            if text.lines().any(|l| l == "READY=1") && !self.ready {
                self.ready = true;
                let st = self.status().to_string() + "\n";
                self.clients.retain_mut(|c| match c.mode {
                    Mode::WaitReady(_) => {
                        let _ = c.stream.write_all(st.as_bytes());
                        false
                    }
                    _ => true,
                });
            }
        }
    }

    /// Handles one complete request line; returns false to drop the client.
    fn on_request(&mut self, idx: usize, line: &str) -> bool {
        let mut words = line.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let arg_ms = words.next().and_then(|w| w.parse::<u64>().ok());
        let reply = |c: &mut Client, v: serde_json::Value| {
            c.stream
                .write_all((v.to_string() + "\n").as_bytes())
                .is_ok()
        };
        match cmd {
            "STATUS" => {
                let st = self.status();
                reply(&mut self.clients[idx], st);
                false
            }
            "WAIT_READY" => {
                if self.ready {
                    let st = self.status();
                    reply(&mut self.clients[idx], st);
                    return false;
                }
                self.clients[idx].mode = Mode::WaitReady(
                    Instant::now() + Duration::from_millis(arg_ms.unwrap_or(30_000)),
                );
                true
            }
            "STOP" => {
                if self.stopping.is_none() {
                    let _ = self.container.signal(libc::SIGRTMIN() + 3);
                    self.stopping =
                        Some(Instant::now() + Duration::from_millis(arg_ms.unwrap_or(30_000)));
                }
                self.clients[idx].mode = Mode::WaitExit;
                true
            }
            "KILL" => {
                self.stopping = Some(Instant::now());
                let _ = self.container.kill_all();
                self.clients[idx].mode = Mode::WaitExit;
                true
            }
            "FREEZE" | "THAW" => {
                let r = if cmd == "FREEZE" {
                    self.container.freeze()
                } else {
                    self.container.thaw()
                };
                let v = match r {
                    Ok(()) => json!({"ok": true}),
                    Err(e) => json!({"error": e.to_string()}),
                };
                reply(&mut self.clients[idx], v);
                false
            }
            "EGRESS" => {
                let v = match (&self.egress, load_config(&self.paths)) {
                    (None, _) => json!({"error": "the machine has no network"}),
                    (_, Err(e)) => json!({"error": e}),
                    (Some(slot), Ok(cfg)) => match lock(slot).apply(cfg.egress.as_ref()) {
                        Ok(()) => json!({"ok": true}),
                        Err(e) => json!({"error": format!("egress network: {e}")}),
                    },
                };
                reply(&mut self.clients[idx], v);
                false
            }
            "CONSOLE" => {
                let (a, b) = self.ring.as_slices();
                let c = &mut self.clients[idx];
                let ok = c.stream.write_all(b"OK\n").is_ok()
                    && c.stream.write_all(a).is_ok()
                    && c.stream.write_all(b).is_ok();
                c.mode = Mode::Console;
                ok
            }
            _ => {
                reply(
                    &mut self.clients[idx],
                    json!({"error": format!("unknown request {cmd:?}")}),
                );
                false
            }
        }
    }

    fn on_client_readable(&mut self, idx: usize) -> bool {
        let mut buf = [0u8; 4096];
        let n = match self.clients[idx].stream.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) => return e.kind() == std::io::ErrorKind::WouldBlock,
        };
        match &mut self.clients[idx].mode {
            Mode::Console => self.master.write_all(&buf[..n]).is_ok(),
            Mode::Request(pending) => {
                pending.extend_from_slice(&buf[..n]);
                if let Some(pos) = pending.iter().position(|b| *b == b'\n') {
                    let line = String::from_utf8_lossy(&pending[..pos]).into_owned();
                    self.on_request(idx, line.trim())
                } else {
                    pending.len() < 4096
                }
            }
            _ => true,
        }
    }

    /// Runs until PID 1 exits; returns its status.
    fn run(&mut self) -> ExitStatus {
        loop {
            let now = Instant::now();
            let mut timeout: Option<Duration> =
                self.stopping.map(|d| d.saturating_duration_since(now));
            for c in &self.clients {
                if let Mode::WaitReady(d) = c.mode {
                    let t = d.saturating_duration_since(now);
                    timeout = Some(timeout.map_or(t, |x| x.min(t)));
                }
            }
            let mut fds = vec![
                libc::pollfd {
                    fd: self.container.pidfd().as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.master.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.notify.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            for c in &self.clients {
                fds.push(libc::pollfd {
                    fd: c.stream.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
            // SAFETY: fds is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 {
                continue;
            }
            if fds[1].revents & libc::POLLIN != 0 {
                let mut buf = [0u8; 8192];
                if let Ok(n) = self.master.read(&mut buf) {
                    self.on_console(&buf[..n]);
                }
            }
            if fds[2].revents != 0 {
                self.on_notify();
            }
            // A client that cannot be made non-blocking would stall the loop: refused.
            if fds[3].revents != 0
                && let Ok((s, _)) = self.listener.accept()
                && s.set_nonblocking(true).is_ok()
            {
                self.clients.push(Client {
                    stream: s,
                    mode: Mode::Request(Vec::new()),
                });
            }
            // Clients, from the back so removals keep indices valid.
            for i in (0..fds.len().saturating_sub(4)).rev() {
                if i >= self.clients.len() {
                    continue;
                }
                if fds[4 + i].revents != 0 && !self.on_client_readable(i) {
                    self.clients.remove(i);
                }
            }
            let now = Instant::now();
            let st = self.status().to_string() + "\n";
            self.clients.retain_mut(|c| match c.mode {
                Mode::WaitReady(d) if d <= now => {
                    let _ = c.stream.write_all(st.as_bytes());
                    false
                }
                _ => true,
            });
            if let Some(d) = self.stopping
                && d <= now
            {
                let _ = self.container.kill_all();
                self.stopping = Some(now + Duration::from_secs(3600));
            }
            if fds[0].revents != 0 {
                // Drain what PID 1 printed last (never with a blocking read: it could wait
                // forever on a console nobody writes to any more).
                let mut buf = [0u8; 8192];
                if hoody_sys::fs::set_nonblocking(self.master.as_fd()).is_ok() {
                    while let Ok(n) = self.master.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        self.on_console(&buf[..n]);
                    }
                }
                return match self.container.wait() {
                    Ok(s) => s,
                    Err(_) => ExitStatus {
                        code: None,
                        signal: None,
                        oom_killed: false,
                    },
                };
            }
        }
    }
}

/// What `hoody-monitor` was started with.
#[derive(Debug)]
pub struct MonitorArgs {
    /// `<pool>/machines/<name>`.
    pub state_dir: PathBuf,
    /// `<run>/<name>`.
    pub run_dir: PathBuf,
    /// The machine's root file system.
    pub rootfs: PathBuf,
    /// The `hoody-kit` binary to bind into machines that run the Kit.
    pub kit_exe: Option<PathBuf>,
}

/// The environment variable that names the monitor program to the CLI and hoodyd.
pub const EXE_ENV: &str = "HOODY_MONITOR";

/// Where the monitor program is unless [`EXE_ENV`] (or hoodyd's `--monitor`) says: beside
/// the running program (how the release and the test builds lay them out), else
/// `/usr/local/bin/hoody-monitor` (where `scripts/setup` installs it), else `hoody-monitor`
/// found on `PATH` when started.
pub fn default_exe() -> PathBuf {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("hoody-monitor")));
    [beside, Some(PathBuf::from("/usr/local/bin/hoody-monitor"))]
        .into_iter()
        .flatten()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("hoody-monitor"))
}

/// The environment variable the starter passes the Kit's binary in.
pub const KIT_EXE_ENV: &str = "HOODY_KIT_EXE";

/// The `hoody-monitor` program. Detaches (fork, setsid), starts the machine, reports
/// `OK <pid>` or `ERR <message>` on its original stdout for the starter, then runs until the
/// machine powers off.
///
/// # Safety
///
/// The calling process must be single-threaded (call it first thing in `main` of a program
/// of its own, as `hoody-monitor` does): it forks, and the child goes on to allocate and run
/// code that a lock held by another thread at the fork would deadlock. It also takes over the
/// process: stdout is the report channel and the process becomes a session leader.
pub unsafe fn monitor_main(args: MonitorArgs) -> i32 {
    // SAFETY: the caller guarantees a single-threaded process, so fork cannot copy a held
    // lock; the parent exits at once so the starter reaps it and the monitor is re-parented,
    // never left a zombie.
    match unsafe { libc::fork() } {
        -1 => {
            println!("ERR fork: {}", std::io::Error::last_os_error());
            return 1;
        }
        0 => {}
        _ => return 0,
    }
    // SAFETY: no arguments; makes the monitor its own session, away from the starter's terminal.
    unsafe { libc::setsid() };
    let paths = MachinePaths {
        state: args.state_dir.clone(),
        run: args.run_dir.clone(),
    };
    let cfg: MachineConfig = match load_config(&paths) {
        Ok(c) => c,
        Err(e) => {
            println!("ERR {e}");
            return 1;
        }
    };
    // The network lives as long as the monitor (across reboots of the machine).
    let mut network = if cfg.network {
        match MachineNetwork::create(&cfg) {
            Ok(n) => Some(n),
            Err(e) => {
                println!("ERR network: {e}");
                return 1;
            }
        }
    } else {
        None
    };
    let mut restarts = 0;
    loop {
        let kit = args.kit_exe.as_deref();
        let mut m = match start(&paths, &cfg, &args.rootfs, network.as_ref(), kit) {
            Ok(m) => m,
            Err(e) => {
                println!("ERR {e}");
                drop(network);
                let _ = std::fs::remove_dir_all(&paths.run);
                return 1;
            }
        };
        if restarts == 0 {
            println!("OK {}", m.container.pid());
            // The starter stops reading now: detach from its pipe.
            if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
                for fd in 0..3 {
                    // SAFETY: dup2 onto the standard descriptors.
                    unsafe { libc::dup2(null.as_raw_fd(), fd) };
                }
            }
        }
        let status = m.run();
        let exit = exit_json(&status);
        let _ = std::fs::write(paths.exit(), exit.to_string());
        let reboot = status.signal == Some(libc::SIGHUP) && m.stopping.is_none();
        let mut clients = std::mem::take(&mut m.clients);
        // Dropping the monitor state tears the container down (remaining processes, cgroups)
        // before anyone is told it stopped.
        drop(m);
        let rebooting = reboot && restarts < 100;
        if !rebooting {
            // Everything of the machine is gone before the waiters hear it stopped, so that a
            // start right after a stop finds no network and no runtime directory in its way.
            drop(network.take());
            let _ = std::fs::remove_dir_all(&paths.run);
        }
        let reply = json!({ "exit": exit }).to_string() + "\n";
        for c in &mut clients {
            if matches!(c.mode, Mode::WaitExit) {
                let _ = c.stream.write_all(reply.as_bytes());
            }
        }
        if rebooting {
            restarts += 1;
            continue;
        }
        return 0;
    }
}

fn load_config(paths: &MachinePaths) -> Result<MachineConfig, String> {
    serde_json::from_slice(
        &std::fs::read(paths.config())
            .map_err(|e| format!("read {}: {e}", paths.config().display()))?,
    )
    .map_err(|e| format!("parse {}: {e}", paths.config().display()))
}

/// The variables of the front door ([`hoody_net::Ingress`]) in the monitor's environment,
/// each a comma-separated list of ports: the proxy's ports containers may reach, the port
/// of the pool's resolver on the gateway, the loopback ports inside containers that lead to
/// the proxy (for the `localhost` apex).
pub const PROXY_PORTS_ENV: &str = "HOODY_NET_PROXY_PORTS";
/// See [`PROXY_PORTS_ENV`].
pub const RESOLVER_PORT_ENV: &str = "HOODY_NET_RESOLVER_PORT";
/// See [`PROXY_PORTS_ENV`].
pub const LOOPBACK_PORTS_ENV: &str = "HOODY_NET_LOOPBACK_PORTS";

fn ports_env(name: &str) -> Result<Vec<u16>, String> {
    let Ok(v) = std::env::var(name) else {
        return Ok(Vec::new());
    };
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("{name}={v:?}: {p:?} is not a port"))
        })
        .collect()
}

/// Every Kit service's port, sorted, once each.
pub(crate) fn kit_ports() -> Vec<u16> {
    let mut p: Vec<u16> = hoody_kit::ports::Kit::ALL
        .iter()
        .map(|k| hoody_kit::ports::kit_port(*k))
        .collect();
    p.sort_unstable();
    p.dedup();
    p
}

/// The front door from the environment; a machine with the Kit has the Kit's ports guarded
/// (reachable only through the proxy).
fn ingress_from_env(kit: bool) -> Result<hoody_net::Ingress, String> {
    let guarded = if kit { kit_ports() } else { Vec::new() };
    let resolver = ports_env(RESOLVER_PORT_ENV)?;
    Ok(hoody_net::Ingress {
        proxy_ports: ports_env(PROXY_PORTS_ENV)?,
        resolver_port: resolver.first().copied(),
        loopback_ports: ports_env(LOOPBACK_PORTS_ENV)?,
        guarded_ports: guarded,
    })
}

/// A machine's network from hoody-net, destroyed on drop. The configuration comes from the
/// environment the monitor was started with: `HOODY_NET_NAME` (table, namespace and alias
/// tag; default `hoody`), `HOODY_NET_POOL` (CIDR), `HOODY_NET_STATE` (IPAM directory), and
/// the front door's ports ([`PROXY_PORTS_ENV`] and the two after it).
struct MachineNetwork {
    net: hoody_net::Network,
    id: String,
    plan: NetPlan,
    ip: String,
    egress: SharedEgress,
}

impl MachineNetwork {
    fn create(cfg: &MachineConfig) -> Result<Self, String> {
        let (id, kit, firewall) = (cfg.name.as_str(), cfg.kit, cfg.firewall.as_deref());
        let mut nc = match std::env::var("HOODY_NET_NAME") {
            Ok(n) => hoody_net::NetConfig::named(n),
            Err(_) => hoody_net::NetConfig::new(),
        };
        nc = nc.ingress(ingress_from_env(kit)?);
        if let Ok(p) = std::env::var("HOODY_NET_POOL") {
            nc = nc.pool(
                p.parse()
                    .map_err(|e| format!("HOODY_NET_POOL {p:?}: {e}"))?,
            );
        }
        if let Ok(d) = std::env::var("HOODY_NET_STATE") {
            nc = nc.state_dir(d);
        }
        let net = hoody_net::Network::new(nc).map_err(|e| e.to_string())?;
        let att = net
            .create(id, hoody_net::Owner::current())
            .map_err(|e| e.to_string())?;
        if let Some(script) = firewall
            && let Err(e) = hoody_net::nft::apply_in(&att.netns, script, "the machine's firewall")
        {
            let _ = net.destroy(id);
            return Err(format!("firewall: {e}"));
        }
        let egress = EgressSlot::new(&att.netns);
        if let Some(e) = &cfg.egress {
            // Fails closed (the kill switch stays) and is reported by STATUS: the machine
            // still boots.
            let _ = lock(&egress).apply(Some(e));
        }
        let resolv_conf = match net.write_resolv_conf(id) {
            Ok(p) => p,
            Err(e) => {
                let _ = net.destroy(id);
                return Err(e.to_string());
            }
        };
        Ok(MachineNetwork {
            ip: att.ip.to_string(),
            plan: NetPlan {
                netns: att.netns,
                resolv_conf,
            },
            net,
            id: id.to_string(),
            egress,
        })
    }
}

impl Drop for MachineNetwork {
    fn drop(&mut self) {
        // The forwarder's listeners hold the namespace: they go first.
        lock(&self.egress).running_stop();
        let _ = self.net.destroy(&self.id);
    }
}

fn start(
    paths: &MachinePaths,
    cfg: &MachineConfig,
    rootfs: &Path,
    network: Option<&MachineNetwork>,
    kit_exe: Option<&Path>,
) -> Result<Monitor, String> {
    std::fs::create_dir_all(&paths.run)
        .map_err(|e| format!("create {}: {e}", paths.run.display()))?;
    let _ = std::fs::remove_file(paths.notify_socket());
    let notify = UnixDatagram::bind(paths.notify_socket())
        .map_err(|e| format!("bind {}: {e}", paths.notify_socket().display()))?;
    // Root inside is an unprivileged uid on the host: let it send.
    std::fs::set_permissions(
        paths.notify_socket(),
        std::fs::Permissions::from_mode(0o666),
    )
    .map_err(|e| format!("chmod {}: {e}", paths.notify_socket().display()))?;
    notify.set_nonblocking(true).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(paths.control_socket());
    let listener = UnixListener::bind(paths.control_socket())
        .map_err(|e| format!("bind {}: {e}", paths.control_socket().display()))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.console_log())
        .map_err(|e| format!("open {}: {e}", paths.console_log().display()))?;
    crate::config::prepare_ramdisk(cfg).map_err(|e| e.to_string())?;
    let dev_dir = paths.run.join("dev");
    let kvm = if cfg.kvm {
        Some(crate::devices::prepare_kvm(cfg, &dev_dir).map_err(|e| e.to_string())?)
    } else {
        None
    };
    let spawned = boot_spec(
        cfg,
        rootfs,
        paths,
        network.map(|n| &n.plan),
        kit_exe,
        kvm.as_deref(),
    )
    .map_err(|e| e.to_string())
    .and_then(|spec| spawn(&spec).map_err(|e| e.to_string()));
    // The machine has bound its devices (or failed): the host keeps no node.
    if kvm.is_some() {
        crate::devices::release(&dev_dir);
    }
    let mut container = spawned?;
    let master = container
        .io()
        .pty
        .take()
        .ok_or("the machine has no console")?;
    Ok(Monitor {
        paths: paths.clone(),
        ip: network.map(|n| n.ip.clone()),
        egress: network.map(|n| n.egress.clone()),
        container,
        master,
        log,
        ring: VecDeque::new(),
        ready: false,
        stopping: None,
        notify,
        listener,
        clients: Vec::new(),
    })
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.paths.control_socket());
    }
}
