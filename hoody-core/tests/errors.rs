//! Bad input: clear errors, and nothing left behind.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hoody_core::{ContainerSpec, Error, spawn};

#[test]
fn missing_rootfs() {
    require_root();
    let id = unique_name("norootfs");
    let spec = ContainerSpec::builder("/nonexistent/hoodytest-rootfs")
        .id(&id)
        .arg("/bin/true")
        .build()
        .unwrap();
    let err = spawn(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "rootfs /nonexistent/hoodytest-rootfs: does not exist"
    );
    assert!(cgroup_dirs(&id).is_empty());
}

#[test]
fn rootfs_that_is_a_file() {
    require_root();
    let f = tempfile::NamedTempFile::new().unwrap();
    let spec = ContainerSpec::builder(f.path())
        .id(unique_name("filerootfs"))
        .arg("/bin/true")
        .build()
        .unwrap();
    let err = spawn(&spec).unwrap_err();
    assert!(err.to_string().ends_with("is not a directory"), "{err}");
}

#[test]
fn missing_binary_names_the_path_and_errno() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "nobin").arg("/bin/nope").build().unwrap();
    let err = spawn(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec /bin/nope in container: ENOENT (No such file or directory)"
    );
    assert_eq!(err.shell_exit_code(), 127);
    assert_no_leaks(&spec.id, rootfs.path());
}

#[test]
fn bare_command_not_on_path() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "nocmd")
        .arg("no-such-command")
        .build()
        .unwrap();
    let err = spawn(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "exec no-such-command in container: ENOENT (No such file or directory)"
    );
    assert_no_leaks(&spec.id, rootfs.path());
}

#[test]
fn non_executable_file() {
    let rootfs = TestRootfs::new();
    std::fs::write(rootfs.path().join("notexec"), "hi").unwrap();
    let spec = builder(&rootfs, "noexec").arg("/notexec").build().unwrap();
    let err = spawn(&spec).unwrap_err();
    assert!(matches!(&err, Error::Child(c) if c.errno == 13), "{err}");
    assert_eq!(err.shell_exit_code(), 126);
    assert_no_leaks(&spec.id, rootfs.path());
}

#[test]
fn missing_working_directory() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "nocwd")
        .cwd("/does/not/exist")
        .arg("/bin/true")
        .build()
        .unwrap();
    let err = spawn(&spec).unwrap_err();
    assert_eq!(
        err.to_string(),
        "chdir to /does/not/exist in container: ENOENT (No such file or directory)"
    );
    assert_no_leaks(&spec.id, rootfs.path());
}

#[test]
fn missing_bind_source_is_refused_before_anything_starts() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "nobind")
        .bind("/nonexistent/hoodytest-src", "/mnt", false)
        .arg("/bin/true")
        .build()
        .unwrap();
    let err = spawn(&spec).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("bind mount source /nonexistent/hoodytest-src"),
        "{err}"
    );
    assert_no_leaks(&spec.id, rootfs.path());
}

#[test]
fn invalid_limit_strings() {
    for bad in ["12Q", "", "-5M", "lots"] {
        assert!(hoody_core::spec::parse_size(bad).is_err(), "{bad}");
    }
    assert!(hoody_core::spec::parse_cpus("0").is_err());
    assert!(hoody_core::spec::parse_pids("0").is_err());
}

#[test]
fn duplicate_id_is_refused_and_the_first_container_survives() {
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "dup")
        .args(["/bin/sleep", "30"])
        .build()
        .unwrap();
    let c = spawn(&spec).unwrap();
    let err = spawn(&spec).unwrap_err();
    assert!(err.to_string().contains("File exists"), "{err}");
    assert!(c.cgroup().procs().unwrap().contains(&c.pid()));
    c.destroy().unwrap();
    assert_no_leaks(&spec.id, rootfs.path());
}

#[test]
fn symlinked_mount_point_stays_inside_the_rootfs() {
    let rootfs = TestRootfs::new();
    // A hostile rootfs whose /proc points at a host directory.
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::remove_dir(rootfs.path().join("proc")).unwrap();
    std::os::unix::fs::symlink(host_dir.path(), rootfs.path().join("proc")).unwrap();
    let out = sh(&rootfs, "symlink", "ls /proc | grep -c -E '^[0-9]+$'");
    assert!(out.status.success(), "{out:?}");
    // proc was mounted inside the rootfs (at the link target resolved under the root), not
    // on the host directory.
    assert_eq!(std::fs::read_dir(host_dir.path()).unwrap().count(), 0);
}
