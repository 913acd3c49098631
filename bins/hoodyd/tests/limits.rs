//! Per-container resource limits through the API: a memory hog inside a container limited to
//! 256 MiB is OOM-killed there while the container and its neighbour run on; a fork bomb
//! inside a container limited in processes stops at the limit; limits change on a running
//! container at once; out-of-range limits are refused with the documented 422. As root.
#![allow(clippy::unwrap_used)]

use hoody_testkit::daemon::Daemon;
use serde_json::json;

#[test]
fn memory_and_process_limits_hold_inside_and_change_live() {
    let d = Daemon::new();
    let project = d.project("hoodytest-limits");
    let limited = d.create_with(
        &project,
        "limited",
        json!({"limits": {"memory": "256M", "pids": 128}}),
    );
    let neighbour = d.create(&project, "neighbour");
    for id in [&limited, &neighbour] {
        assert_eq!(d.settle(id)["status"], "running");
    }
    let c = d.get(&limited);
    assert_eq!(c["limits"], json!({"memory": 256u64 << 20, "pids": 128}));
    let stats = d.api(
        "GET",
        &format!("/api/v1/containers/{limited}/stats"),
        None,
        200,
    );
    assert_eq!(stats["memory"]["total"], 256u64 << 20, "{stats}");
    assert!(stats["memory"]["usage_percent"].as_f64().unwrap() > 0.0);

    // 400 MB held by one shell: killed by the kernel inside the container.
    let (code, out) = sh(
        &d,
        &limited,
        "bash -c 'x=$(head -c 400000000 /dev/zero | tr \"\\0\" x); echo survived ${#x}'; echo status $?",
    );
    assert!(
        !out.contains("survived 4"),
        "the hog was not stopped: {code} {out}"
    );
    assert!(
        out.contains("status 137") || out.contains("Killed"),
        "{out}"
    );
    // The container runs on, and so does its neighbour (which may use that much).
    assert_eq!(d.exec(&limited, "echo alive"), "alive\n");
    assert_eq!(d.get(&limited)["status"], "running");
    let (_, out) = sh(
        &d,
        &neighbour,
        "bash -c 'x=$(head -c 300000000 /dev/zero | tr \"\\0\" x); echo survived ${#x}'",
    );
    assert!(out.contains("survived 300000000"), "{out}");

    // A fork bomb stops at the process limit: 300 sleeps asked for at once (xargs waits for
    // one to end when the kernel refuses a fork), counted from the host while they run.
    let (_, out) = sh(
        &d,
        &limited,
        "(seq 300 | xargs -P 300 -n 1 sleep 3 >/dev/null 2>&1 &) ; sleep 1; echo started",
    );
    assert!(out.contains("started"), "{out}");
    let stats = d.api(
        "GET",
        &format!("/api/v1/containers/{limited}/stats"),
        None,
        200,
    );
    let n = stats["processes"].as_u64().unwrap();
    assert!(
        (64..=128).contains(&n),
        "{n} processes under a limit of 128: {stats}"
    );
    // A bomb never ends by itself (xargs retries its forks and reaps nothing): stopped from
    // the host, in this container's cgroup only. Then the container works again.
    kill_in_cgroup(&limited, &["xargs"]);
    kill_in_cgroup(&limited, &["sleep"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let stats = d.api(
            "GET",
            &format!("/api/v1/containers/{limited}/stats"),
            None,
            200,
        );
        if stats["processes"].as_u64().unwrap() < 60 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the bomb is still there: {stats}\nin its cgroup: {:?}",
            cgroup_commands(&limited)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    assert_eq!(d.exec(&limited, "echo alive"), "alive\n");

    // Raised live: the hog of before now fits.
    let c = d.api(
        "PATCH",
        &format!("/api/v1/containers/{limited}"),
        Some(json!({"limits": {"memory": "1G", "pids": 128}})),
        200,
    );
    assert_eq!(c["limits"]["memory"], 1u64 << 30);
    let stats = d.api(
        "GET",
        &format!("/api/v1/containers/{limited}/stats"),
        None,
        200,
    );
    assert_eq!(stats["memory"]["total"], 1u64 << 30, "{stats}");
    let (_, out) = sh(
        &d,
        &limited,
        "bash -c 'x=$(head -c 400000000 /dev/zero | tr \"\\0\" x); echo survived ${#x}'",
    );
    assert!(out.contains("survived 400000000"), "{out}");

    // Refused with the documented shape.
    for (limits, path) in [
        (json!({"memory": "1M"}), "/limits/memory"),
        (json!({"cpus": 0}), "/limits/cpus"),
        (json!({"pids": 2}), "/limits/pids"),
        (json!({"memory": "lots"}), ""),
    ] {
        let (st, v) = d.try_api(
            "PATCH",
            &format!("/api/v1/containers/{limited}"),
            Some(&json!({ "limits": limits }).to_string()),
        );
        assert_eq!(st, 422, "{limits}: {v}");
        assert_eq!(v["error"], "Validation Error", "{v}");
        if !path.is_empty() {
            assert_eq!(v["data"][0]["instancePath"], path, "{v}");
        }
    }
}

/// (pid, command) of every task in container `id`'s cgroup: the v1 pids hierarchy of a
/// hybrid host, else the v2 group.
fn cgroup_tasks(id: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    let top = [
        format!("/sys/fs/cgroup/pids/hoody/{id}"),
        format!("/sys/fs/cgroup/hoody/{id}"),
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_dir());
    let mut dirs: Vec<std::path::PathBuf> = top.into_iter().collect();
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            }
        }
        let tasks = std::fs::read_to_string(d.join("tasks"))
            .or_else(|_| std::fs::read_to_string(d.join("cgroup.threads")))
            .unwrap_or_default();
        for pid in tasks.lines() {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if let Ok(p) = pid.parse() {
                out.push((p, comm.trim().to_string()));
            }
        }
    }
    out
}

/// How many tasks of each command container `id` has (for a failure message).
fn cgroup_commands(id: &str) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for (_, comm) in cgroup_tasks(id) {
        *out.entry(comm).or_insert(0) += 1;
    }
    out
}

/// SIGKILLs the tasks of container `id` running one of `commands`.
fn kill_in_cgroup(id: &str, commands: &[&str]) {
    for (pid, comm) in cgroup_tasks(id) {
        if commands.contains(&comm.as_str()) {
            // SAFETY: kill(2) with a pid read from the container's own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// A shell command in a container through the machine layer: (exit status, output).
fn sh(d: &Daemon, id: &str, cmd: &str) -> (i32, String) {
    let out = d.hoody_out(&["machine", "exec", id, "--", "/bin/bash", "-c", cmd]);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}
