//! Entering a running container.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::io::Read;

use hoody_core::{ExecSpec, Stdio, spawn};

fn exec_output(c: &hoody_core::Container, args: &[&str]) -> (hoody_core::ExitStatus, String) {
    let mut p = c
        .exec(&ExecSpec::new(args.iter().copied()).stdio(Stdio::Piped))
        .unwrap();
    let mut out = String::new();
    p.io()
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (p.wait().unwrap(), out)
}

fn check_exec_sees_the_container(userns: bool) {
    let rootfs = TestRootfs::new();
    std::fs::write(rootfs.path().join("marker"), "in-the-rootfs\n").unwrap();
    let mut b = builder(&rootfs, "exec")
        .hostname("hoodytest-exec")
        .args(["/bin/sleep", "60"]);
    if userns {
        b = b.user_namespace(2_000_000_000, 65_536);
    }
    let spec = b.build().unwrap();
    let c = spawn(&spec).unwrap();
    let (st, out) = exec_output(
        &c,
        &[
            "/bin/sh",
            "-c",
            "hostname; cat /marker; cat /proc/1/cmdline | tr '\\0' ' '; echo; echo $$; id -u",
        ],
    );
    assert!(st.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "hoodytest-exec");
    assert_eq!(lines[1], "in-the-rootfs");
    assert_eq!(lines[2].trim(), "/bin/sleep 60", "pid 1 is the container's");
    let pid_inside: u32 = lines[3].parse().unwrap();
    assert!(
        pid_inside > 1 && pid_inside < 100,
        "pid in the container's namespace: {pid_inside}"
    );
    assert_eq!(lines[4], "0");
    // Same namespaces as PID 1.
    let (_, ns) = exec_output(
        &c,
        &[
            "/bin/sh",
            "-c",
            "readlink /proc/self/ns/pid /proc/self/ns/mnt /proc/self/ns/uts /proc/self/ns/net",
        ],
    );
    for (kind, line) in ["pid", "mnt", "uts", "net"].iter().zip(ns.lines()) {
        let pid1 = std::fs::read_link(format!("/proc/{}/ns/{kind}", c.pid())).unwrap();
        assert_eq!(line, pid1.to_string_lossy(), "{kind} namespace differs");
    }
    // Same cgroup and seccomp.
    let (_, sec) = exec_output(&c, &["/bin/hoody-probe", "keyctl"]);
    assert!(sec.contains("errno=EPERM"), "{sec}");
    let procs = c.cgroup().procs().unwrap();
    assert!(procs.contains(&c.pid()));
    let id = spec.id.clone();
    c.destroy().unwrap();
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn exec_sees_same_pid_namespace_hostname_and_root() {
    check_exec_sees_the_container(false);
}

#[test]
fn exec_into_a_user_namespaced_container() {
    check_exec_sees_the_container(true);
}

#[test]
fn exec_of_a_missing_binary_is_a_typed_error() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "exec-missing")
        .args(["/bin/sleep", "60"])
        .build()
        .unwrap();
    let c = spawn(&spec).unwrap();
    let err = c.exec(&ExecSpec::new(["/bin/nope"])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec /bin/nope in container: ENOENT (No such file or directory)"
    );
    c.destroy().unwrap();
}

#[test]
fn exec_into_an_exited_container_is_refused() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "exec-exited")
        .args(["/bin/true"])
        .build()
        .unwrap();
    let mut c = spawn(&spec).unwrap();
    c.wait().unwrap();
    assert!(matches!(
        c.exec(&ExecSpec::new(["/bin/true"])),
        Err(hoody_core::Error::Exited { .. })
    ));
    c.destroy().unwrap();
}
