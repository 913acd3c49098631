//! Machines as a user drives them: the real Debian 13 image (built with debootstrap, cached
//! in /var/cache/hoody/images), booting systemd unprivileged, exec, console, stop, force-stop,
//! snapshot/restore, a manager killed mid-flight, and bad input.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use hoody_testkit::{cgroup_dirs, require_root, unique_name};

struct Env {
    dir: tempfile::TempDir,
    pool: PathBuf,
    run: PathBuf,
    net_name: String,
    net_pool: String,
}

impl Env {
    fn new() -> Self {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", unique_name("machines")))
            .tempdir_in("/var/tmp")
            .unwrap();
        let pool = dir.path().join("pool");
        let run = dir.path().join("run");
        // A network configuration of its own: table, namespaces, addresses.
        let net_name = unique_name("mnet");
        let net_pool = format!("10.98.{}.0/24", std::process::id() % 250);
        let e = Env {
            dir,
            pool,
            run,
            net_name,
            net_pool,
        };
        e.ok(&["pool", "init", "--size", "4G"]);
        // Cached after the first build on this machine (a real debootstrap otherwise).
        e.ok(&["image", "build", "debian-13"]);
        e
    }

    fn hoody(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hoody"))
            .args(args)
            .env("HOODY_POOL", &self.pool)
            .env("HOODY_POOL_REGISTRY", self.dir.path().join("registry.json"))
            .env("HOODY_RUN_DIR", &self.run)
            // hoody-monitor is its own package: built by `cargo build --workspace --bins`.
            .env("HOODY_MONITOR", hoody_testkit::daemon::bin("hoody-monitor"))
            .env("HOODY_NET_NAME", &self.net_name)
            .env("HOODY_NET_POOL", &self.net_pool)
            .env("HOODY_NET_STATE", self.dir.path().join("net"))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.hoody(args);
        assert!(
            out.status.success(),
            "hoody {args:?} failed: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn err(&self, args: &[&str]) -> String {
        let out = self.hoody(args);
        assert!(!out.status.success(), "hoody {args:?} should fail");
        text(&out.stderr)
    }

    fn pid(&self, name: &str) -> i32 {
        let v: serde_json::Value =
            serde_json::from_str(&self.ok(&["machine", "status", name, "--json"])).unwrap();
        v["pid"].as_i64().unwrap() as i32
    }

    fn console_log(&self, name: &str) -> String {
        std::fs::read_to_string(self.pool.join("machines").join(name).join("console.log"))
            .unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Stop whatever a failed assertion left running, then unmount the pool.
        if let Ok(rd) = std::fs::read_dir(&self.run) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let _ = self.hoody(&["machine", "stop", &name, "--force"]);
            }
        }
        let _ = self.hoody(&["net", "uninstall"]);
        let _ = Command::new("umount").arg(&self.pool).status();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn host_uid(pid: i32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn machines_boot_unprivileged_stop_cleanly_and_outlive_their_manager() {
    let env = Env::new();
    let a = unique_name("ma");
    let b = unique_name("mb");
    env.ok(&["machine", "create", &a]);
    env.ok(&["machine", "create", &b, "--memory", "512M"]);

    // Boot reaches READY=1 (start waits for it) and systemd says running.
    env.ok(&["machine", "start", &a]);
    env.ok(&["machine", "start", &b]);
    let state = env.ok(&[
        "machine",
        "exec",
        &a,
        "--",
        "systemctl",
        "is-system-running",
        "--wait",
    ]);
    assert_eq!(
        state.trim(),
        "running",
        "failed units: {}",
        env.ok(&["machine", "exec", &a, "--", "systemctl", "--failed"])
    );

    // Its own network: an address from the pool, a default route, and the world through NAT
    // (apt from the Debian mirror).
    let st: serde_json::Value =
        serde_json::from_str(&env.ok(&["machine", "status", &a, "--json"])).unwrap();
    let ip = st["ip"].as_str().unwrap().to_string();
    assert!(
        env.ok(&[
            "machine", "exec", &a, "--", "ip", "-4", "-o", "addr", "show", "eth0"
        ])
        .contains(&format!("inet {ip}/32"))
    );
    assert!(
        env.ok(&["machine", "exec", &a, "--", "ip", "route"])
            .contains("default via 169.254.1.1")
    );
    let hello = env.ok(&[
        "machine", "exec", &a, "--", "/bin/sh", "-c",
        "DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hello >/dev/null && hello",
    ]);
    assert_eq!(hello.trim(), "Hello, world!");

    // Unprivileged, with distinct ranges: root inside is the range start outside.
    let cfg = |n: &str| -> serde_json::Value {
        let s: serde_json::Value =
            serde_json::from_str(&env.ok(&["machine", "status", n, "--json"])).unwrap();
        s["config"].clone()
    };
    let (ra, rb) = (
        cfg(&a)["id_range_start"].as_u64().unwrap(),
        cfg(&b)["id_range_start"].as_u64().unwrap(),
    );
    assert_ne!(ra, rb);
    assert_eq!(ra % 65_536, 0);
    assert!(ra >= 524_288 && rb >= 524_288);
    assert_eq!(u64::from(host_uid(env.pid(&a))), ra);
    assert_eq!(u64::from(host_uid(env.pid(&b))), rb);
    // Every process of the machine runs inside its range.
    let procs = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/unified/hoody/{a}/init.scope/cgroup.procs"
    ))
    .or_else(|_| {
        std::fs::read_to_string(format!("/sys/fs/cgroup/hoody/{a}/init.scope/cgroup.procs"))
    })
    .unwrap();
    for p in procs.lines() {
        let uid = u64::from(host_uid(p.parse().unwrap()));
        assert!(
            (ra..ra + 65_536).contains(&uid),
            "pid {p} runs as uid {uid}"
        );
    }

    // Files created inside: right owners inside, and unshifted (0 and 1000) on disk.
    env.ok(&[
        "machine",
        "exec",
        &a,
        "--",
        "/bin/sh",
        "-c",
        "touch /root/by-root && runuser -u user -- touch /home/user/by-user",
    ]);
    let inside = env.ok(&[
        "machine",
        "exec",
        &a,
        "--",
        "stat",
        "-c",
        "%u %n",
        "/root/by-root",
        "/home/user/by-user",
    ]);
    assert_eq!(inside, "0 /root/by-root\n1000 /home/user/by-user\n");
    let rootfs = env.pool.join("containers").join(&a);
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(rootfs.join("root/by-root"))
            .unwrap()
            .uid(),
        0
    );
    assert_eq!(
        std::fs::metadata(rootfs.join("home/user/by-user"))
            .unwrap()
            .uid(),
        1000
    );

    // A manager killed with SIGKILL: the machine keeps running and logging, a new manager
    // finds it.
    let mut follower = Command::new(env!("CARGO_BIN_EXE_hoody"))
        .args(["machine", "console", &a, "--follow"])
        .env("HOODY_POOL", &env.pool)
        .env("HOODY_POOL_REGISTRY", env.dir.path().join("registry.json"))
        .env("HOODY_RUN_DIR", &env.run)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    follower.kill().unwrap();
    follower.wait().unwrap();
    let marker = unique_name("console-marker");
    env.ok(&[
        "machine",
        "exec",
        &a,
        "--",
        "/bin/sh",
        "-c",
        &format!("echo {marker} > /dev/console"),
    ]);
    wait_for(
        "the console marker in console.log",
        Duration::from_secs(10),
        || env.console_log(&a).contains(&marker),
    );
    assert!(env.ok(&["machine", "ls"]).contains("running"));

    // Snapshot while running, change, clean stop with systemd's shutdown on the console.
    env.ok(&[
        "machine",
        "exec",
        &a,
        "--",
        "/bin/sh",
        "-c",
        "echo before > /root/data",
    ]);
    env.ok(&["snapshot", "create", &a, "--name", "s1"]);
    env.ok(&[
        "machine",
        "exec",
        &a,
        "--",
        "/bin/sh",
        "-c",
        "echo after > /root/data",
    ]);
    let started = Instant::now();
    env.ok(&["machine", "stop", &a, "--timeout", "30"]);
    assert!(started.elapsed() < Duration::from_secs(30));
    let log = env.console_log(&a);
    assert!(
        log.contains("System Halt") || log.contains("Halting system"),
        "no shutdown on the console:\n{log}"
    );
    assert!(
        cgroup_dirs(&a).is_empty(),
        "cgroups of a stopped machine remain"
    );
    // Data persists across stop/start.
    env.ok(&["machine", "start", &a]);
    assert_eq!(
        env.ok(&["machine", "exec", &a, "--", "cat", "/root/data"]),
        "after\n"
    );
    env.ok(&["machine", "stop", &a]);
    // The snapshot taken while running restores to a machine that boots.
    env.ok(&["snapshot", "restore", &a, "s1"]);
    env.ok(&["machine", "start", &a]);
    assert_eq!(
        env.ok(&["machine", "exec", &a, "--", "cat", "/root/data"]),
        "before\n"
    );

    // Bad input.
    assert!(
        env.err(&[
            "machine",
            "create",
            "x-hoodytest",
            "--image",
            "no-such-image"
        ])
        .contains("image \"no-such-image\" not found")
    );
    assert!(
        env.err(&["machine", "create", &a])
            .contains("already exists")
    );
    assert!(env.err(&["machine", "start", &a]).contains("is running"));
    assert!(env.err(&["machine", "rm", &a]).contains("is running"));
    assert!(
        env.err(&["machine", "start", "hoodytest-nope"])
            .contains("not found")
    );

    // Limits go through the cgroup layer (v1 memory on a hybrid host, memory.max on v2).
    let limit = std::fs::read_to_string(format!(
        "/sys/fs/cgroup/memory/hoody/{b}/memory.limit_in_bytes"
    ))
    .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/hoody/{b}/memory.max")))
    .unwrap();
    assert_eq!(limit.trim(), (512u64 << 20).to_string());

    // Pause and resume freeze and thaw every process.
    env.ok(&["machine", "pause", &b]);
    let events = || {
        std::fs::read_to_string(format!("/sys/fs/cgroup/unified/hoody/{b}/cgroup.events"))
            .or_else(|_| std::fs::read_to_string(format!("/sys/fs/cgroup/hoody/{b}/cgroup.events")))
            .unwrap()
    };
    assert!(events().contains("frozen 1"), "{}", events());
    env.ok(&["machine", "resume", &b]);
    assert!(events().contains("frozen 0"), "{}", events());
    assert_eq!(
        env.ok(&["machine", "exec", &b, "--", "echo", "thawed"]),
        "thawed\n"
    );

    // Force-stop leaves no process, cgroup or network.
    let pid_b = env.pid(&b);
    env.ok(&["machine", "stop", &b, "--force"]);
    assert!(!Path::new(&format!("/proc/{pid_b}")).exists());
    assert!(cgroup_dirs(&b).is_empty());
    assert!(
        !env.ok(&["net", "ls"]).contains(&b),
        "the network of a stopped machine remains"
    );
    assert!(
        env.err(&["machine", "exec", &b, "--", "true"])
            .contains("is not running")
    );

    // The explicit privileged mode: no user namespace, root inside is root outside.
    let p = unique_name("mp");
    env.ok(&["machine", "create", &p, "--privileged", "--no-network"]);
    env.ok(&["machine", "start", &p]);
    assert_eq!(host_uid(env.pid(&p)), 0);
    assert_eq!(
        env.ok(&["machine", "exec", &p, "--", "cat", "/proc/self/uid_map"])
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );
    env.ok(&["machine", "stop", &p]);
    env.ok(&["machine", "rm", &p]);

    env.ok(&["machine", "stop", &a]);
    env.ok(&["machine", "rm", &a]);
    env.ok(&["machine", "rm", &b]);
    assert!(env.ok(&["machine", "ls"]).lines().count() <= 1);
    assert!(cgroup_dirs(&a).is_empty());
}
