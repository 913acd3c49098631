//! Shared helpers for hoody-net's root-only integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hoody_net::{NetConfig, Network};

/// The test's network slot (pool and outside link), shared with the CLI tests.
pub use hoody_testkit::NetSlot as Slot;

/// A network manager with a unique name, its own pool and state; uninstalled on drop.
pub struct TestNet {
    pub net: Network,
    pub name: String,
    pub state: tempfile::TempDir,
    pub slot: Slot,
}

impl TestNet {
    pub fn new(configure: impl FnOnce(NetConfig) -> NetConfig) -> TestNet {
        hoody_testkit::require_root();
        let slot = Slot::take();
        let name = hoody_testkit::unique_name("net");
        let state = tempfile::Builder::new()
            .prefix("hoodytest-netstate-")
            .tempdir()
            .unwrap();
        let cfg = configure(
            NetConfig::named(&name)
                .pool(slot.pool().parse().unwrap())
                .state_dir(state.path()),
        );
        let net = Network::new(cfg).unwrap();
        TestNet {
            net,
            name,
            state,
            slot,
        }
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        self.net.uninstall().unwrap();
    }
}

pub fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn sh_ok(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

pub use hoody_testkit::in_netns as in_ns;

/// A TCP server that answers every connection with the client's address as it sees it.
pub struct EchoPeer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoPeer {
    /// Listens on `addr` (port 0: any) in namespace `ns` (`None`: the host's).
    pub fn start(ns: Option<&Path>, addr: Ipv4Addr) -> EchoPeer {
        let bind = move || TcpListener::bind(SocketAddr::from((addr, 0))).unwrap();
        let listener = match ns {
            Some(ns) => in_ns(ns, bind),
            None => bind(),
        };
        EchoPeer::from_listener(listener)
    }

    /// Serves on an already bound listener.
    pub fn from_listener(listener: TcpListener) -> EchoPeer {
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, peer)) => {
                        let _ = c.write_all(peer.ip().to_string().as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        EchoPeer {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Connects from namespace `ns` (`None`: the host) to `ip:port` and returns what the
/// server says (the address it saw), or the error.
pub fn connect_from(ns: Option<&Path>, ip: Ipv4Addr, port: u16) -> std::io::Result<String> {
    let go = move || {
        let mut c =
            TcpStream::connect_timeout(&SocketAddr::from((ip, port)), Duration::from_millis(700))?;
        c.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut s = String::new();
        c.read_to_string(&mut s)?;
        Ok(s)
    };
    match ns {
        Some(ns) => in_ns(ns, go),
        None => go(),
    }
}

pub use hoody_testkit::Outside;
