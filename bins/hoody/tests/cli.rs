//! `hoody run` as a user runs it: the real binary, exit codes, messages, leftovers.
#![allow(clippy::unwrap_used)]

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use hoody_testkit::{TestRootfs, cgroup_dirs, require_root, unique_name};

fn hoody() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hoody"))
}

fn run(rootfs: &TestRootfs, id: &str, extra: &[&str], cmd: &[&str]) -> Output {
    require_root();
    let mut c = hoody();
    c.args(["run", "--rootfs"])
        .arg(rootfs.path())
        .args(["--id", id]);
    c.args(extra).arg("--").args(cmd);
    let out = c.output().unwrap();
    assert!(cgroup_dirs(id).is_empty(), "hoody run left cgroups of {id}");
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn runs_a_command_and_exits_with_its_status() {
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-exit");
    let out = run(
        &rootfs,
        &id,
        &["--hostname", "hoodytest-cli"],
        &["/bin/sh", "-c", "echo $$ $(hostname); exit 7"],
    );
    assert_eq!(text(&out.stdout), "1 hoodytest-cli\n");
    assert_eq!(out.status.code(), Some(7));
}

#[test]
fn oom_kill_exits_137_and_says_so() {
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-oom");
    let out = run(
        &rootfs,
        &id,
        &["--memory", "32M"],
        &["hoody-probe", "alloc", "256"],
    );
    assert_eq!(out.status.code(), Some(137));
    assert!(
        text(&out.stderr).contains("killed by the OOM killer"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn limits_env_user_and_userns_flags() {
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-flags");
    let out = run(
        &rootfs,
        &id,
        &[
            "--pids",
            "50",
            "--cpus",
            "0.5",
            "-e",
            "A=b",
            "--userns",
            "-u",
            "1000:1000",
            "-w",
            "/tmp",
        ],
        &[
            "/bin/sh",
            "-c",
            "echo $A $(id -u) $(pwd); cat /proc/self/uid_map",
        ],
    );
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s} {}", text(&out.stderr));
    assert!(s.starts_with("b 1000 /tmp\n"), "{s}");
    assert!(s.contains("2000000000"), "{s}");
}

#[test]
fn missing_rootfs_is_a_clear_error() {
    require_root();
    let id = unique_name("cli-norootfs");
    let out = hoody()
        .args([
            "run",
            "--rootfs",
            "/nonexistent/hoodytest",
            "--id",
            &id,
            "--",
            "/bin/true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "hoody: rootfs /nonexistent/hoodytest: does not exist\n"
    );
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn missing_binary_exits_127() {
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-nobin");
    let out = run(&rootfs, &id, &[], &["/bin/nope"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        text(&out.stderr),
        "hoody: exec /bin/nope in container: ENOENT (No such file or directory)\n"
    );
}

#[test]
fn invalid_limit_string_is_refused() {
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-badlimit");
    let out = run(&rootfs, &id, &["--memory", "12Q"], &["/bin/true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid size \"12Q\""),
        "{}",
        text(&out.stderr)
    );
    let out = run(&rootfs, &id, &["--cpus=-1"], &["/bin/true"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("invalid cpu limit"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn non_root_caller_is_refused_without_leftovers() {
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-nonroot");
    let out = hoody()
        .args(["run", "--rootfs"])
        .arg(rootfs.path())
        .args(["--id", &id, "--", "/bin/true"])
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(
        text(&out.stderr),
        "hoody: creating a container needs root (effective uid 0), but this process runs as uid 65534\n"
    );
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn sigterm_is_forwarded_and_a_second_one_kills() {
    let rootfs = TestRootfs::new();
    let id = unique_name("cli-signal");
    require_root();
    // PID 1 traps TERM: the first one reaches it and it exits 42.
    let mut child = hoody()
        .args(["run", "--rootfs"])
        .arg(rootfs.path())
        .args([
            "--id",
            &id,
            "--",
            "/bin/sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    use std::io::Read;
    stdout.read_exact(&mut buf).unwrap();
    // SAFETY: signalling the child we spawned.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(child.wait().unwrap().code(), Some(42));
    assert!(cgroup_dirs(&id).is_empty());

    // PID 1 ignores TERM (no handler in a pid namespace): the second one kills everything.
    let id = unique_name("cli-signal2");
    let mut child = hoody()
        .args(["run", "--rootfs"])
        .arg(rootfs.path())
        .args([
            "--id",
            &id,
            "--",
            "/bin/sh",
            "-c",
            "echo ready; exec sleep 60",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let mut stdout = child.stdout.take().unwrap();
    stdout.read_exact(&mut buf).unwrap();
    for _ in 0..2 {
        // SAFETY: signalling the child we spawned.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(cgroup_dirs(&id).is_empty());
}
