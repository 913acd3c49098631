//! Seccomp profiles, capability drop and user namespaces.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hoody_core::{CapabilitySet, SeccompProfile, spawn};

const PROBES: [&str; 4] = ["keyctl", "kexec_load", "open_by_handle_at", "bpf"];

fn probe_all(
    rootfs: &TestRootfs,
    what: &str,
    profile: SeccompProfile,
    caps: CapabilitySet,
) -> String {
    let script: String = PROBES
        .iter()
        .map(|p| format!("hoody-probe {p}; "))
        .collect();
    let spec = builder(rootfs, what)
        .seccomp(profile)
        .capabilities(caps)
        .args(["/bin/sh", "-c", &script])
        .build()
        .unwrap();
    run(&spec).stdout
}

#[test]
fn default_seccomp_denies_with_eperm_even_with_every_capability() {
    let rootfs = TestRootfs::new();
    let out = probe_all(
        &rootfs,
        "seccomp",
        SeccompProfile::Default,
        CapabilitySet::all(),
    );
    for p in PROBES {
        assert!(out.contains(&format!("{p}: errno=EPERM")), "{p}: {out}");
    }
}

#[test]
fn unconfined_lets_the_calls_through() {
    let rootfs = TestRootfs::new();
    let out = probe_all(
        &rootfs,
        "unconfined",
        SeccompProfile::Unconfined,
        CapabilitySet::all(),
    );
    assert!(out.contains("keyctl: ok"), "{out}");
    // With the filter gone and every capability kept, the kernel itself answers (EINVAL for
    // the invalid arguments, ENOSYS where it lacks kexec), so the EPERM of the default
    // profile came from seccomp.
    for p in ["kexec_load", "open_by_handle_at", "bpf"] {
        let line = out.lines().find(|l| l.starts_with(p)).unwrap();
        assert!(!line.contains("EPERM"), "{line}");
    }
}

#[test]
fn seccomp_filter_is_installed() {
    let rootfs = TestRootfs::new();
    let out = sh(
        &rootfs,
        "seccomp-status",
        "grep ^Seccomp: /proc/self/status",
    );
    assert_eq!(out.stdout.trim(), "Seccomp:\t2");
}

#[test]
fn mount_fails_without_cap_sys_admin() {
    let rootfs = TestRootfs::new();
    let out = sh(
        &rootfs,
        "nomount",
        "hoody-probe mount-tmpfs /tmp; grep CapEff /proc/self/status",
    );
    assert!(out.stdout.contains("mount-tmpfs: errno=EPERM"), "{out:?}");
    let eff = out
        .stdout
        .lines()
        .find(|l| l.starts_with("CapEff"))
        .unwrap();
    let bits = u64::from_str_radix(eff.split_whitespace().nth(1).unwrap(), 16).unwrap();
    assert_eq!(bits, CapabilitySet::default_set().bits());
}

#[test]
fn mount_works_when_cap_sys_admin_is_kept() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "mount")
        .capabilities(CapabilitySet::default_set().with("CAP_SYS_ADMIN").unwrap())
        .args(["/bin/hoody-probe", "mount-tmpfs", "/tmp"])
        .build()
        .unwrap();
    let out = run(&spec);
    assert!(out.stdout.contains("mount-tmpfs: ok"), "{out:?}");
}

#[test]
fn non_root_user_keeps_capabilities_through_ambient() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "ambient")
        .user(1000, 1000)
        .capabilities(CapabilitySet::from_names(&["CAP_NET_BIND_SERVICE"]).unwrap())
        .args(["/bin/sh", "-c", "grep -E 'CapEff|CapAmb' /proc/self/status"])
        .build()
        .unwrap();
    let out = run(&spec);
    assert!(out.stdout.contains("CapEff:\t0000000000000400"), "{out:?}");
    assert!(out.stdout.contains("CapAmb:\t0000000000000400"), "{out:?}");
}

#[test]
fn user_namespace_root_is_unprivileged_outside() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "userns")
        .user_namespace(2_000_000_000, 65_536)
        .args([
            "/bin/sh",
            "-c",
            "id -u; cat /proc/self/uid_map; exec sleep 30",
        ])
        .build()
        .unwrap();
    let mut c = spawn(&spec).unwrap();
    let mut stdout = c.io().stdout.take().unwrap();
    // Read the two lines printed before the exec.
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    use std::io::Read;
    while buf.iter().filter(|&&x| x == b'\n').count() < 2 {
        assert_eq!(stdout.read(&mut b).unwrap(), 1);
        buf.push(b[0]);
    }
    let inside = String::from_utf8(buf).unwrap();
    assert!(inside.starts_with("0\n"), "{inside}");
    assert!(inside.contains("2000000000"), "{inside}");
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.pid())).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().skip(1).collect::<Vec<_>>(),
        vec!["2000000000"; 4],
        "host view of the container's root: {uid_line}"
    );
    c.destroy().unwrap();
}

#[test]
fn user_namespace_container_cannot_write_host_owned_files() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "userns-ro")
        .user_namespace(2_000_000_000, 65_536)
        .args(["/bin/hoody-probe", "write", "/etc/passwd"])
        .build()
        .unwrap();
    let out = run(&spec);
    // The rootfs belongs to host root, which is unmapped: root inside may not write it.
    assert!(
        out.stdout.contains("errno=EACCES") || out.stdout.contains("errno=EPERM"),
        "{out:?}"
    );
}

#[test]
fn bind_mount_points_are_made_even_in_a_rootfs_root_inside_cannot_write() {
    use std::os::unix::fs::PermissionsExt;
    let rootfs = TestRootfs::new();
    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), "hello-bind\n").unwrap();
    std::fs::set_permissions(src.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let spec = builder(&rootfs, "userns-bind")
        .user_namespace(2_000_000_000, 65_536)
        // On the rootfs (made by the host) and inside a tmpfs (made in the child).
        .bind(src.path(), "/etc/hoody/new.conf", true)
        .tmpfs("/run", None)
        .bind(src.path(), "/run/host/x", true)
        .args(["/bin/sh", "-c", "cat /etc/hoody/new.conf /run/host/x"])
        .build()
        .unwrap();
    let out = run(&spec);
    assert_eq!(out.stdout, "hello-bind\nhello-bind\n", "{out:?}");
    assert!(
        !rootfs.path().join("run/host").exists(),
        "a tmpfs mount point leaked onto the rootfs"
    );
}
