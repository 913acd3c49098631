//! `POST /api/v1/containers/{id}/sync` (reference §1.6) on one server, as root: a copy pulls
//! its source's current files (a running copy is stopped and booted again), what the copy had
//! is kept as a snapshot aliased `before-sync-…` and can be restored, the CLI's `containers
//! sync` does the same, and the documented refusals: a container that is not a copy (409
//! `NOT_A_COPY`), a copy whose source is gone (404 `SOURCE_NOT_FOUND`).
#![allow(clippy::unwrap_used)]

use hoody_testkit::daemon::Daemon;
use serde_json::json;

fn read(d: &Daemon, id: &str, path: &str) -> String {
    d.exec(id, &format!("cat {path} 2>/dev/null || echo missing"))
        .trim()
        .to_string()
}

#[test]
fn a_copy_pulls_its_sources_files_and_keeps_its_own() {
    let d = Daemon::new();
    let project = d.project("hoodytest-sync");
    let src = d.create_with(&project, "origin", json!({"hoody_kit": false}));
    assert_eq!(d.settle(&src)["status"], "running");
    d.exec(&src, "echo v1 > /root/data");
    let copy = d.api(
        "POST",
        &format!("/api/v1/containers/{src}/copy"),
        Some(json!({"target_project_id": project})),
        202,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(d.settle(&copy)["status"], "running");
    assert_eq!(read(&d, &copy, "/root/data"), "v1");

    // Both move on; the copy syncs.
    d.exec(&src, "echo v2 > /root/data; echo new > /root/new");
    d.exec(&copy, "echo mine > /root/mine");
    let c = d.api(
        "POST",
        &format!("/api/v1/containers/{copy}/sync"),
        None,
        200,
    );
    assert_eq!(c["status"], "running", "{c}");
    let point = c["last_used_snapshot"].as_str().unwrap().to_string();
    assert_eq!(read(&d, &copy, "/root/data"), "v2");
    assert_eq!(read(&d, &copy, "/root/new"), "new");
    assert_eq!(read(&d, &copy, "/root/mine"), "missing");
    assert_eq!(
        read(&d, &src, "/root/mine"),
        "missing",
        "the source is untouched"
    );

    // What the copy had is kept, and comes back with a restore.
    let kept = format!("before-sync-{point}");
    let snaps = d.api(
        "GET",
        &format!("/api/v1/containers/{copy}/snapshots"),
        None,
        200,
    );
    assert!(snaps.to_string().contains(&kept), "{snaps}");
    d.api(
        "PUT",
        &format!("/api/v1/containers/{copy}/snapshots/{kept}"),
        None,
        200,
    );
    assert_eq!(read(&d, &copy, "/root/mine"), "mine");

    // The CLI, a stopped copy: it stays stopped.
    d.exec(&src, "echo v3 > /root/data");
    d.op(&copy, "stop");
    d.hoody(&["containers", "sync", &copy]);
    assert_eq!(d.get(&copy)["status"], "stopped");
    d.op(&copy, "start");
    assert_eq!(read(&d, &copy, "/root/data"), "v3");

    // Refusals.
    let (st, v) = d.try_api("POST", &format!("/api/v1/containers/{src}/sync"), None);
    assert_eq!((st, v["error"].as_str()), (409, Some("NOT_A_COPY")), "{v}");
    d.api("DELETE", &format!("/api/v1/containers/{src}"), None, 200);
    let (st, v) = d.try_api("POST", &format!("/api/v1/containers/{copy}/sync"), None);
    assert_eq!(
        (st, v["error"].as_str()),
        (404, Some("SOURCE_NOT_FOUND")),
        "{v}"
    );
}
