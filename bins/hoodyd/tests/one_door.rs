//! The pool's one door (hoody_fs::lock): while hoodyd serves a pool, direct `hoody` verbs
//! that read it work at any time and disturb nothing, and direct verbs that would change it
//! are refused with an error naming hoodyd, so hoodyd's record never points at nothing.
//! As root, with real booted containers.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hoody_testkit::daemon::Daemon;

fn status(d: &Daemon, id: &str) -> String {
    d.get(id)["status"].as_str().unwrap().to_string()
}

/// 20 creates through hoodyd while `hoody rootfs ls`, `hoody snapshot ls` and `hoody machine
/// ls` run directly on the same pool in a loop: every create completes, every read succeeds,
/// and nothing in `staging/` is swept from under hoodyd (before the one door, any direct verb
/// opened the pool as a writer and deleted `staging/`).
#[test]
fn direct_readers_never_disturb_hoodyd_creates() {
    let d = Daemon::new();
    let p = d.project("hoodytest-door-read");
    let first = d.create(&p, "first");
    assert_eq!(d.settle(&first)["status"], "running");
    d.api(
        "POST",
        &format!("/api/v1/containers/{first}/snapshots"),
        Some(serde_json::json!({"alias": "before"})),
        201,
    );
    // Work in progress of the pool's writer, as a create's staging tree looks: only a
    // writer's repair may remove it, and hoodyd's ran before this existed.
    let planted = d.pool().join("staging").join(".hoodytest-in-progress");
    std::fs::create_dir_all(planted.join("etc")).unwrap();

    let done = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    let ids = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let verbs: [&[&str]; 3] = [
                &["rootfs", "ls"],
                &["snapshot", "ls", &first],
                &["machine", "ls"],
            ];
            let deadline = Instant::now() + Duration::from_secs(600);
            while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                for v in verbs {
                    let out = d.hoody_out(v);
                    assert!(
                        out.status.success(),
                        "hoody {v:?} failed while hoodyd serves the pool: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let ids: Vec<String> = (0..20)
            .map(|i| d.create(&p, &format!("door-{i}")))
            .collect();
        for id in &ids {
            let c = d.settle(id);
            assert_eq!(c["status"], "running", "create {id} did not complete: {c}");
        }
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        ids
    });
    assert!(
        reads.load(Ordering::Relaxed) >= 6,
        "the readers ran only {} times during the creates",
        reads.load(Ordering::Relaxed)
    );
    assert!(
        planted.exists(),
        "a direct read-only verb removed {} from the pool's staging",
        planted.display()
    );
    std::fs::remove_dir_all(&planted).unwrap();
    // What the readers listed is what hoodyd made.
    let listed = d.hoody(&["rootfs", "ls"]);
    for id in &ids {
        assert!(listed.contains(id.as_str()), "{id} missing from:\n{listed}");
    }
    assert!(d.hoody(&["snapshot", "ls", &first]).contains("before"));
}

/// Direct `hoody machine stop --force` / `machine rm` (and the other changing verbs) on a
/// container hoodyd manages are refused, naming hoodyd and its socket; the container runs on
/// untouched and hoodyd's record says so. Once hoodyd is stopped the door is the CLI's again,
/// and the restarted hoodyd's record follows what was done.
#[test]
fn direct_writers_are_refused_while_hoodyd_serves() {
    let mut d = Daemon::new();
    let p = d.project("hoodytest-door-write");
    let c = d.create(&p, "victim");
    assert_eq!(d.settle(&c)["status"], "running");
    let pid1 = d.pid1(&c).unwrap();
    let socket = d.socket().display().to_string();

    for verb in [
        vec!["machine", "stop", "--force", &c],
        vec!["machine", "rm", &c],
        vec!["machine", "pause", &c],
        vec!["machine", "create", "hoodytest-direct"],
        vec!["rootfs", "rm", &c],
        vec!["snapshot", "create", &c, "--name", "direct"],
        vec!["image", "rm", "debian-13"],
    ] {
        let out = d.hoody_out(&verb);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "hoody {verb:?} was not refused");
        assert!(
            err.contains("served by hoodyd") && err.contains(&socket),
            "hoody {verb:?}: the refusal does not name hoodyd and {socket}: {err}"
        );
    }
    // Nothing happened: same PID 1, the record says running, no snapshot, no new machine.
    assert_eq!(d.pid1(&c), Some(pid1));
    assert_eq!(status(&d, &c), "running");
    assert!(!d.hoody(&["snapshot", "ls", &c]).contains("direct"));
    assert!(!d.hoody(&["machine", "ls"]).contains("hoodytest-direct"));

    // Without hoodyd, a direct writer may change the pool again; hoodyd's record follows
    // what it finds when it comes back.
    d.stop();
    d.hoody(&["machine", "stop", "--force", &c]);
    d.start(&[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(&d, &c) != "stopped" {
        assert!(
            Instant::now() < deadline,
            "hoodyd's record of {c} did not follow the direct stop: {}",
            status(&d, &c)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    d.op(&c, "start");
    assert_eq!(status(&d, &c), "running");
}
