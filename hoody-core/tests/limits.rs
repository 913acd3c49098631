//! Cgroup limits, stats, freeze and kill-all.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hoody_core::{CpuQuota, spawn};

#[test]
fn memory_limit_oom_kills_and_is_reported() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "oom")
        .memory_limit(32 << 20)
        .args(["/bin/hoody-probe", "alloc", "256"])
        .build()
        .unwrap();
    let out = run(&spec);
    assert_eq!(out.status.signal, Some(libc_sigkill()), "{out:?}");
    assert!(out.status.oom_killed, "{out:?}");
    assert_eq!(out.status.shell_code(), 137);
    assert!(!out.stdout.contains("alloc: ok"));
}

#[test]
fn allocation_under_the_limit_is_fine() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "mem-ok")
        .memory_limit(64 << 20)
        .args(["/bin/hoody-probe", "alloc", "16"])
        .build()
        .unwrap();
    let out = run(&spec);
    assert!(out.status.success(), "{out:?}");
    assert!(!out.status.oom_killed);
}

fn libc_sigkill() -> i32 {
    9
}

#[test]
fn pids_limit_stops_a_fork_bomb_and_the_host_is_fine() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "forkbomb")
        .pids_limit(16)
        .args(["/bin/hoody-probe", "forkbomb", "10000"])
        .build()
        .unwrap();
    let out = run(&spec);
    // PID 1 itself counts: at most 15 children.
    assert!(out.stdout.contains("error=EAGAIN"), "{out:?}");
    let forked: u32 = out
        .stdout
        .trim()
        .strip_prefix("forkbomb: forked=")
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(forked < 16, "forked {forked}");
    // The host can still fork.
    assert!(
        std::process::Command::new("/bin/true")
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn cpu_quota_and_weight_are_applied() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "cpu")
        .cpu_quota(CpuQuota::from_cpus(0.5).unwrap())
        .cpu_weight(100)
        .args(["/bin/sleep", "10"])
        .build()
        .unwrap();
    let c = spawn(&spec).unwrap();
    let v1 = std::path::Path::new("/sys/fs/cgroup/cpu/hoody").join(&spec.id);
    let v2 = std::path::Path::new("/sys/fs/cgroup/hoody").join(&spec.id);
    if v1.is_dir() {
        let read = |f: &str| {
            std::fs::read_to_string(v1.join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(read("cpu.cfs_quota_us"), "50000");
        assert_eq!(read("cpu.cfs_period_us"), "100000");
        assert_eq!(read("cpu.shares"), "2597");
        // PID 1 is in the group.
        assert!(
            read("cgroup.procs")
                .lines()
                .any(|p| p == c.pid().to_string())
        );
    } else {
        let read = |f: &str| {
            std::fs::read_to_string(v2.join(f))
                .unwrap()
                .trim()
                .to_string()
        };
        assert_eq!(read("cpu.max"), "50000 100000");
        assert_eq!(read("cpu.weight"), "100");
    }
    let id = spec.id.clone();
    c.destroy().unwrap();
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn stats_freeze_thaw_and_kill_all() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "freeze")
        .args(["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"])
        .build()
        .unwrap();
    let mut c = spawn(&spec).unwrap();
    // Wait until both sleeps run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.stats().unwrap().pids_current < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "children never appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let stats = c.stats().unwrap();
    assert!(stats.memory_current > 0, "{stats:?}");
    assert_eq!(stats.pids_current, 3);

    c.freeze().unwrap();
    let state = std::fs::read_to_string(format!("/proc/{}/status", c.pid())).unwrap();
    let events = std::fs::read_to_string(c.cgroup().path().join("cgroup.events"))
        .or_else(|_| std::fs::read_to_string(c.cgroup().path().join("freezer.state")))
        .unwrap();
    assert!(
        events.contains("frozen 1") || events.contains("FROZEN"),
        "{events}"
    );
    assert!(state.contains("State:"), "{state}");
    c.thaw().unwrap();

    c.kill_all().unwrap();
    let status = c.wait().unwrap();
    assert_eq!(status.signal, Some(9));
    let id = spec.id.clone();
    c.destroy().unwrap();
    assert!(cgroup_dirs(&id).is_empty());
}
