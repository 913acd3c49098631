//! `hoody run --net auto` and `hoody net ls|gc|uninstall` as a user runs them: a real
//! container (busybox rootfs) with its own routed network, reaching a TCP server in an
//! "outside" namespace this test creates, and nothing left afterwards, even after a crash.
//!
//! Traffic goes only to the namespace this test creates.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hoody_testkit::{NetSlot as Slot, TestRootfs, require_root, unique_name};

fn hoody() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hoody"))
}

fn sh(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The net options of one test, and the "outside" namespace with a server answering with
/// the client's address; everything removed on drop (`hoody net uninstall` included).
struct Env {
    slot: Slot,
    name: String,
    state: tempfile::TempDir,
    outside: String,
    link: String,
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Env {
    fn new() -> Env {
        require_root();
        let slot = Slot::take();
        let name = unique_name("clinet");
        let outside = unique_name("cliout");
        let link = format!("htc{}-{}", slot.n, std::process::id() % 10000);
        let (h, o) = (slot.n * 4 + 1, slot.n * 4 + 2);
        sh(&format!(
            "ip netns add {outside} && ip link add {link} type veth peer name eth0 netns {outside} && \
             ip addr add 198.51.100.{h}/30 dev {link} && ip link set {link} up && \
             ip -n {outside} addr add 198.51.100.{o}/30 dev eth0 && ip -n {outside} link set eth0 up"
        ));
        let ns = std::fs::File::open(format!("/run/netns/{outside}")).unwrap();
        let listener = std::thread::spawn(move || {
            // SAFETY: setns on this short-lived thread with a valid namespace fd.
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0);
            TcpListener::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))).unwrap()
        })
        .join()
        .unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut c, peer)) => {
                        let _ = writeln!(c, "seen-from {}", peer.ip());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Env {
            state: tempfile::Builder::new()
                .prefix("hoodytest-clinet-")
                .tempdir()
                .unwrap(),
            slot,
            name,
            outside,
            link,
            port,
            stop,
        }
    }

    fn net_args(&self) -> Vec<String> {
        vec![
            "--net-name".into(),
            self.name.clone(),
            "--net-pool".into(),
            self.slot.pool(),
            "--net-state-dir".into(),
            self.state.path().display().to_string(),
        ]
    }

    fn outside_ip(&self) -> String {
        self.slot.outside_ip().to_string()
    }

    fn host_ip(&self) -> String {
        self.slot.outside_host_ip().to_string()
    }

    fn net(&self, verb: &str) -> String {
        let out = hoody()
            .arg("net")
            .args(self.net_args())
            .arg(verb)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hoody net {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Host interfaces and namespace files of this configuration.
    fn leftovers(&self) -> Vec<String> {
        let mut left: Vec<String> = sh("ip -d link show")
            .lines()
            .filter(|l| l.contains(&format!("hoody:{}:", self.name)))
            .map(str::to_string)
            .collect();
        left.extend(
            std::fs::read_dir("/run/netns")
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&format!("{}-", self.name))),
        );
        left
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = hoody()
            .arg("net")
            .args(self.net_args())
            .arg("uninstall")
            .output();
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.outside])
            .status();
    }
}

#[test]
fn run_net_auto_gives_a_container_its_own_network_and_removes_it() {
    let env = Env::new();
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-net");
    let script = format!(
        "ip -4 -o addr show eth0; ip route; cat /etc/resolv.conf; nc {} {} </dev/null",
        env.outside_ip(),
        env.port
    );
    let out = hoody()
        .args(["run", "--rootfs"])
        .arg(rootfs.path())
        .args(["--id", &id, "--net", "auto"])
        .args(env.net_args())
        .args(["--", "/bin/sh", "-c", &script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool_prefix = format!("inet 10.78.{}.", env.slot.n);
    assert!(stdout.contains(&pool_prefix), "{stdout}");
    assert!(
        stdout.contains("default via 169.254.1.1 dev eth0"),
        "{stdout}"
    );
    assert!(stdout.contains("written by hoody-net"), "{stdout}");
    // Through the host's NAT: the outside server saw the host's address.
    assert!(
        stdout.contains(&format!("seen-from {}", env.host_ip())),
        "{stdout}"
    );
    // Torn down when it exited.
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    assert!(!env.net("ls").contains(&id));
    assert!(sh("nft list tables").contains(&env.name));
    env.net("uninstall");
    assert!(!sh("nft list tables").contains(&env.name));
}

#[test]
fn gc_sweeps_the_network_of_a_crashed_run() {
    let env = Env::new();
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-crash");
    let mut child = hoody()
        .args(["run", "--rootfs"])
        .arg(rootfs.path())
        .args(["--id", &id, "--net", "auto"])
        .args(env.net_args())
        .args(["--", "/bin/sleep", "30"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !env.net("ls").contains(&id) {
        assert!(Instant::now() < deadline, "the network never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !env.leftovers().is_empty(),
        "nothing to sweep: the test proves nothing"
    );
    let gc = env.net("gc");
    assert!(gc.contains(&format!("removed network of {id}")), "{gc}");
    assert!(env.leftovers().is_empty(), "{:?}", env.leftovers());
    assert!(!env.net("ls").contains(&id));
    assert!(env.net("gc").contains("nothing to remove"));
    // The crashed run's cgroups are the daemon's sweep to remove (issue #6); remove them here.
    hoody_testkit::remove_cgroups(&id);
    assert!(hoody_testkit::cgroup_dirs(&id).is_empty());
}
