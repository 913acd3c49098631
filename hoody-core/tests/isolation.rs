//! What a process sees inside a container: its own pid namespace, hostname, mounts and root.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn command_is_pid_1() {
    let rootfs = TestRootfs::new();
    let out = sh(&rootfs, "pid1", "echo $$");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout.trim(), "1");
}

#[test]
fn hostname_is_the_specs() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "host")
        .hostname("hoodytest-box")
        .args(["/bin/sh", "-c", "hostname; cat /proc/sys/kernel/hostname"])
        .build()
        .unwrap();
    let out = run(&spec);
    assert_eq!(out.stdout, "hoodytest-box\nhoodytest-box\n");
    // The host's hostname is untouched.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim(),
        "hoodytest-box"
    );
}

#[test]
fn only_the_containers_processes_are_visible() {
    let rootfs = TestRootfs::new();
    let out = sh(
        &rootfs,
        "ps",
        "sleep 5 & ls /proc | grep -E '^[0-9]+$' | sort -n; kill %1",
    );
    let pids: Vec<&str> = out.stdout.lines().collect();
    // sh (1), sleep, ls and grep/sort run; never hundreds of host processes and no host pid 2
    // (kthreadd) style entries beyond our own.
    assert!(pids.contains(&"1"), "{pids:?}");
    assert!(pids.len() <= 6, "container sees host processes: {pids:?}");
    let host_count = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .count();
    assert!(host_count > pids.len());
}

#[test]
fn host_mounts_are_not_visible() {
    let rootfs = TestRootfs::new();
    let out = sh(&rootfs, "mounts", "cat /proc/self/mountinfo");
    assert!(out.status.success(), "{out:?}");
    // The host has /sys/fs/cgroup mounts and /dev/vda-style devtmpfs; the container has its
    // own /dev tmpfs and no cgroup mounts.
    assert!(!out.stdout.contains("/sys/fs/cgroup"), "{}", out.stdout);
    assert!(!out.stdout.contains("devtmpfs"), "{}", out.stdout);
    let targets: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .collect();
    for expected in [
        "/",
        "/proc",
        "/sys",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
    ] {
        assert!(
            targets.contains(&expected),
            "{expected} missing: {targets:?}"
        );
    }
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for t in &targets {
        assert!(
            !t.starts_with(&*rootfs.path().to_string_lossy()),
            "rootfs path leaks into the view: {t}"
        );
    }
    assert!(!host_mounts.contains(&*rootfs.path().to_string_lossy()));
}

#[test]
fn writes_outside_the_rootfs_are_impossible() {
    let rootfs = TestRootfs::new();
    let marker = unique_name("escape");
    let host_target = std::path::Path::new("/tmp").join(&marker);
    let script = format!(
        "hoody-probe write /../../../tmp/{marker}; hoody-probe write /tmp/../../{marker}; \
         ls /../../.. | head -50"
    );
    let out = sh(&rootfs, "escape", &script);
    assert!(
        !host_target.exists(),
        "container wrote {}",
        host_target.display()
    );
    // The writes landed inside the rootfs instead.
    assert!(rootfs.path().join("tmp").join(&marker).exists());
    assert!(rootfs.path().join(&marker).exists());
    // `/..` is `/`: the listing is the rootfs, which has no /work or /usr of the host.
    assert!(out.stdout.contains("bin"));
    assert!(!out.stdout.contains("work"), "{}", out.stdout);
}

#[test]
fn standard_devices_exist_and_work() {
    let rootfs = TestRootfs::new();
    let out = sh(
        &rootfs,
        "dev",
        "ls /dev; head -c 4 /dev/zero | wc -c; head -c 4 /dev/urandom | wc -c; \
         echo x > /dev/null && echo null-ok; readlink /dev/ptmx",
    );
    assert!(out.status.success(), "{out:?}");
    for d in [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue",
    ] {
        assert!(
            out.stdout.lines().any(|l| l == d),
            "/dev/{d} missing: {}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("null-ok"));
    assert!(out.stdout.contains("pts/ptmx"));
}

#[test]
fn masked_and_readonly_paths() {
    let rootfs = TestRootfs::new();
    let out = sh(
        &rootfs,
        "masked",
        "wc -c < /proc/keys; ls /sys/firmware | wc -l; \
         echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo WROTE || echo ro-ok; \
         touch /sys/x 2>/dev/null && echo WROTE || echo sys-ro-ok",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, vec!["0", "0", "ro-ok", "sys-ro-ok"], "{out:?}");
}

#[test]
fn environment_cwd_and_user() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "env")
        .env("HOODY_TEST", "yes")
        .cwd("/tmp")
        .user(1000, 1000)
        .args([
            "/bin/sh",
            "-c",
            "echo $HOODY_TEST; pwd; id -u; id -g; echo $PATH",
        ])
        .build()
        .unwrap();
    let out = run(&spec);
    assert_eq!(
        out.stdout,
        format!(
            "yes\n/tmp\n1000\n1000\n{}\n",
            hoody_core::spec::DEFAULT_PATH
        )
    );
}

#[test]
fn loopback_is_up_in_a_private_network_namespace() {
    let rootfs = TestRootfs::new();
    let out = sh(
        &rootfs,
        "lo",
        "ls /sys/class/net; cat /sys/class/net/lo/operstate; ip -o addr 2>/dev/null | grep -c inet",
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "lo", "only lo exists: {out:?}");
    assert_eq!(lines[1], "unknown"); // lo reports "unknown" when up
}

#[test]
fn pty_stdio_is_a_terminal() {
    use std::io::Read;
    let rootfs = TestRootfs::new();
    let spec = hoody_core::ContainerSpec::builder(rootfs.path())
        .id(unique_name("pty"))
        .stdio(hoody_core::Stdio::Pty)
        .args([
            "/bin/sh",
            "-c",
            "tty >/dev/null && echo is-a-tty; test -t 0 && echo stdin-tty",
        ])
        .build()
        .unwrap();
    let mut c = hoody_core::spawn(&spec).unwrap();
    let mut master = c.io().pty.take().unwrap();
    let status = c.wait().unwrap();
    let mut out = Vec::new();
    // Reading a pty master after the slave closed ends with EIO; take what came before.
    let mut buf = [0u8; 256];
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    c.destroy().unwrap();
    let out = String::from_utf8_lossy(&out);
    assert!(status.success());
    assert!(out.contains("stdin-tty"), "{out:?}");
}
