//! Helpers shared by hoody-core's integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::Read;
use std::path::Path;

use hoody_core::{ContainerSpec, ContainerSpecBuilder, ExitStatus, Stdio, spawn};
pub use hoody_testkit::{TestRootfs, cgroup_dirs, mounts_mentioning, require_root, unique_name};

/// A builder for a container in `rootfs` with a unique test id and piped stdio.
pub fn builder(rootfs: &TestRootfs, what: &str) -> ContainerSpecBuilder {
    require_root();
    ContainerSpec::builder(rootfs.path())
        .id(unique_name(what))
        .stdio(Stdio::Piped)
}

/// Output of a container run to completion.
#[derive(Debug)]
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Spawns the spec, collects stdout and stderr, waits, destroys, and checks nothing leaked.
pub fn run(spec: &ContainerSpec) -> Output {
    let mut c = spawn(spec).unwrap_or_else(|e| panic!("spawn {}: {e}", spec.id));
    let mut stdout_pipe = c.io().stdout.take().unwrap();
    let mut stderr_pipe = c.io().stderr.take().unwrap();
    drop(c.io().stdin.take());
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        stderr_pipe.read_to_string(&mut s).unwrap();
        s
    });
    let mut stdout = String::new();
    stdout_pipe.read_to_string(&mut stdout).unwrap();
    let stderr = err_reader.join().unwrap();
    let status = c.wait().unwrap();
    c.destroy().unwrap();
    assert_no_leaks(&spec.id, &spec.rootfs);
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Runs `/bin/sh -c script` in a default container and returns its output.
pub fn sh(rootfs: &TestRootfs, what: &str, script: &str) -> Output {
    run(&builder(rootfs, what)
        .args(["/bin/sh", "-c", script])
        .build()
        .unwrap())
}

/// No cgroup directory for `id`, no host mount under `rootfs`, no process rooted in it.
pub fn assert_no_leaks(id: &str, rootfs: &Path) {
    assert_eq!(
        cgroup_dirs(id),
        Vec::<std::path::PathBuf>::new(),
        "cgroups of {id} leaked"
    );
    let root = std::fs::canonicalize(rootfs).unwrap_or_else(|_| rootfs.to_path_buf());
    let root_s = root.to_string_lossy().to_string();
    assert!(
        mounts_mentioning(&root_s).is_empty(),
        "mounts under {root_s} leaked"
    );
    assert!(
        processes_rooted_in(&root).is_empty(),
        "processes rooted in {root_s} leaked"
    );
}

/// Pids whose cwd or root lies in `dir` (a process left behind in a container's rootfs).
pub fn processes_rooted_in(dir: &Path) -> Vec<i32> {
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        for link in ["cwd", "root"] {
            if let Ok(t) = std::fs::read_link(e.path().join(link))
                && t.starts_with(dir)
            {
                pids.push(pid);
            }
        }
    }
    pids
}
