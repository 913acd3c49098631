//! Test support shared by hoody's integration tests and benches.
//!
//! * [`TestRootfs`]: a minimal root file system in a temporary directory: Debian's static
//!   busybox with its applets linked in `/bin`, and `hoody-probe`, a static C helper that
//!   makes single syscalls (keyctl, kexec_load, bpf, mount, ...) and reports the errno.
//! * [`unique_name`]: `hoodytest-`-prefixed names, unique across parallel tests and processes.
//! * [`free_port`]: a loopback TCP port nothing listens on right now.
//! * [`require_root`]: fails loudly when a root-only test runs without root.
//! * Leak checks: [`cgroup_dirs`] finds a container's cgroup directories anywhere under
//!   `/sys/fs/cgroup`; [`mounts_mentioning`] searches the host's mount table.
//! * [`daemon::Daemon`]: a real hoodyd on a pool and network of its own, for end-to-end tests
//!   of hoodyd, the CLI and the proxy.
//! * [`proxy`]: SOCKS5, HTTP and HTTPS upstream proxies and a DNS server of the test's own;
//!   [`in_netns`] runs code inside a network namespace.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod daemon;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Path of the static probe binary built by this crate's build script.
pub const PROBE: &str = env!("HOODY_PROBE_PATH");

/// Panics unless the test runs as root (tests of the real thing need it; skipping silently
/// would make a green run meaningless).
pub fn require_root() {
    // SAFETY: geteuid takes no arguments and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (namespaces, cgroups, mounts); run the suite as root"
    );
}

/// A name like `hoodytest-<what>-<pid>-<n>`, unique within the machine for this process.
pub fn unique_name(what: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("hoodytest-{what}-{}-{n}", std::process::id())
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, then released), for a server a
/// test starts as a separate process.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throwaway busybox root file system, removed on drop.
#[derive(Debug)]
pub struct TestRootfs {
    dir: tempfile::TempDir,
}

fn busybox() -> PathBuf {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("busybox not found: install Debian's busybox-static (scripts/setup does)")
}

impl TestRootfs {
    /// Builds the rootfs: `/bin/busybox` plus applet links, `/bin/hoody-probe`, a minimal
    /// `/etc`, `/tmp`, `/root`.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hoodytest-rootfs-")
            .tempdir()
            .expect("create a temp dir for the test rootfs");
        let root = dir.path();
        for d in [
            "bin",
            "etc",
            "tmp",
            "root",
            "proc",
            "sys",
            "dev",
            "home/user",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        let bb = busybox();
        std::fs::copy(&bb, root.join("bin/busybox")).unwrap();
        std::fs::copy(PROBE, root.join("bin/hoody-probe")).unwrap();
        let list = std::process::Command::new(&bb)
            .arg("--list")
            .output()
            .expect("run busybox --list");
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet.is_empty() || applet == "busybox" {
                continue;
            }
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\ntty:x:5:\nuser:x:1000:\n",
        )
        .unwrap();
        TestRootfs { dir }
    }

    /// The rootfs directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for TestRootfs {
    fn default() -> Self {
        Self::new()
    }
}

/// Every directory named `name` under the cgroup hierarchies (`/sys/fs/cgroup/*/hoody/name`,
/// `/sys/fs/cgroup/hoody/name` and the unified one). Empty when nothing leaked.
pub fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let mut found = Vec::new();
    let mut candidates = vec![root.join("hoody").join(name)];
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            candidates.push(e.path().join("hoody").join(name));
        }
    }
    for c in candidates {
        if c.is_dir() {
            found.push(c);
        }
    }
    found
}

/// Kills whatever is left in the cgroups named `name` and removes them (deepest first): the
/// cleanup for tests that crash a manager on purpose, which leaves its container's groups.
pub fn remove_cgroups(name: &str) {
    for dir in cgroup_dirs(name) {
        let kill = dir.join("cgroup.kill");
        if kill.exists() {
            let _ = std::fs::write(&kill, "1");
        }
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                // SAFETY: kill with a pid read from the test's own cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let mut stack = vec![dir.clone()];
        let mut all = Vec::new();
        while let Some(d) = stack.pop() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
            }
            all.push(d);
        }
        for d in all.iter().rev() {
            while std::fs::remove_dir(d).is_err()
                && d.exists()
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}

/// Lines of the host's `/proc/self/mountinfo` that mention `needle`.
pub fn mounts_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// A network slot 0..64 reserved across test processes (a lock file under
/// `/run/hoodytest-net-slots` holding our pid, reclaimed when its holder died). It picks the
/// test's container pool (`10.78.<n>.0/24`) and its "outside" link (`198.51.100.<4n>/30`), so
/// parallel network tests, in any test binary, never share addresses.
#[derive(Debug)]
pub struct NetSlot {
    /// The slot number.
    pub n: u8,
    file: PathBuf,
}

impl NetSlot {
    /// Takes a free slot (waits up to 10 s for one).
    pub fn take() -> NetSlot {
        let dir = Path::new("/run/hoodytest-net-slots");
        std::fs::create_dir_all(dir).unwrap();
        for _ in 0..200 {
            for n in 0..64u8 {
                let file = dir.join(n.to_string());
                match std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&file)
                {
                    Ok(mut f) => {
                        use std::io::Write;
                        write!(f, "{}", std::process::id()).unwrap();
                        return NetSlot { n, file };
                    }
                    Err(_) => {
                        // Reclaim a slot whose holder died.
                        let pid = std::fs::read_to_string(&file).unwrap_or_default();
                        if let Ok(pid) = pid.trim().parse::<u32>()
                            && !Path::new(&format!("/proc/{pid}")).exists()
                        {
                            let _ = std::fs::remove_file(&file);
                        }
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("no free test network slot");
    }

    /// The container pool of this slot.
    pub fn pool(&self) -> String {
        format!("10.78.{}.0/24", self.n)
    }

    /// The host's end of the outside link.
    pub fn outside_host_ip(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(198, 51, 100, self.n * 4 + 1)
    }

    /// The outside namespace's end of the link.
    pub fn outside_ip(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::new(198, 51, 100, self.n * 4 + 2)
    }
}

impl Drop for NetSlot {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.file);
    }
}

/// The test's "outside" network: a namespace with a veth to the host, addresses from the
/// slot's 198.51.100.x/30 (TEST-NET-2), removed on drop.
#[derive(Debug)]
pub struct Outside {
    /// The namespace's file.
    pub ns: PathBuf,
    name: String,
    link: String,
}

impl Outside {
    /// Makes it for `slot`.
    pub fn new(slot: &NetSlot) -> Outside {
        let name = unique_name("out");
        let link = format!("hto{}-{}", slot.n, std::process::id() % 10000);
        let (h, o) = (slot.outside_host_ip(), slot.outside_ip());
        let cmd = format!(
            "ip netns add {name} && ip link add {link} type veth peer name eth0 netns {name} && \
             ip addr add {h}/30 dev {link} && ip link set {link} up && \
             ip -n {name} addr add {o}/30 dev eth0 && ip -n {name} link set eth0 up && \
             ip -n {name} link set lo up"
        );
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "{cmd} failed");
        Outside {
            ns: PathBuf::from("/run/netns").join(&name),
            name,
            link,
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Whether a process with this pid still exists (zombies count as existing).
pub fn pid_exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Runs `f` on a thread that has entered the network namespace file `ns`.
pub fn in_netns<T: Send>(ns: &Path, f: impl FnOnce() -> T + Send) -> T {
    let file = std::fs::File::open(ns).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns on this scoped, short-lived thread with a valid namespace fd.
            let r =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns into {}", ns.display());
            f()
        })
        .join()
        .unwrap()
    })
}
