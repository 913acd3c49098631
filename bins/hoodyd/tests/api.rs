//! hoodyd end to end, as root: a real daemon over HTTP (curl on its unix socket and TCP),
//! real booted Debian 13 containers, real crashes (SIGKILL at injected points).
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use hoody_testkit::daemon::Daemon;
use serde_json::{Value, json};

fn status(d: &Daemon, id: &str) -> String {
    d.get(id)["status"].as_str().unwrap().to_string()
}

fn listed(d: &Daemon) -> Vec<Value> {
    d.api("GET", "/api/v1/containers?limit=100", None, 200)["containers"]
        .as_array()
        .unwrap()
        .clone()
}

fn listed_status(d: &Daemon, id: &str) -> String {
    listed(d)
        .iter()
        .find(|c| c["id"] == id)
        .map(|c| c["status"].as_str().unwrap().to_string())
        .unwrap_or_else(|| "<not listed>".into())
}

#[test]
fn lifecycle_snapshots_copy_env_through_the_api() {
    let d = Daemon::new();
    let p = d.project("hoodytest-life");
    let id = d.create(&p, "dev-environment");
    let c = d.settle(&id);
    assert_eq!(c["status"], "running", "{c}");
    assert_eq!(c["server_name"], "node-1");
    assert!(c["ip"].as_str().unwrap().starts_with("10."));
    assert_eq!(d.exec(&id, "hostname").trim(), "dev-environment");
    assert_eq!(
        d.exec(&id, "systemctl show-environment | grep HOODY_CONTAINER_ID")
            .trim(),
        format!("HOODY_CONTAINER_ID={id}")
    );

    for (op, want) in [
        ("pause", "paused"),
        ("resume", "running"),
        ("stop", "stopped"),
        ("start", "running"),
        ("restart", "running"),
        ("force-stop", "stopped"),
        ("start", "running"),
    ] {
        let r = d.op(&id, op);
        assert_eq!(r["status"], want, "{op}: {r}");
        assert_eq!(r["operation"], op);
        assert_eq!(status(&d, &id), want, "get after {op}");
        assert_eq!(listed_status(&d, &id), want, "list after {op}");
    }
    let pid = d.pid1(&id).unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());

    // Env: set, visible after a restart.
    d.api(
        "PUT",
        &format!("/api/v1/containers/{id}/env"),
        Some(json!({"GREETING": "hello world"})),
        200,
    );
    d.api(
        "PUT",
        &format!("/api/v1/containers/{id}/env/OTHER"),
        Some(json!({"value": "x"})),
        200,
    );
    let env = d.api("GET", &format!("/api/v1/containers/{id}/env"), None, 200);
    assert_eq!(env["environment_vars"]["GREETING"], "hello world");
    d.api(
        "DELETE",
        &format!("/api/v1/containers/{id}/env/OTHER"),
        None,
        200,
    );
    d.op(&id, "restart");
    assert!(
        d.exec(&id, "systemctl show-environment")
            .contains("GREETING=$'hello world'")
    );

    // Snapshot, change, restore: the change is gone and it runs again.
    d.exec(&id, "echo before > /root/marker");
    let s = d.api(
        "POST",
        &format!("/api/v1/containers/{id}/snapshots"),
        Some(json!({"alias": "clean"})),
        201,
    );
    assert!(s["name"].as_str().unwrap().starts_with("snap-"));
    d.exec(&id, "echo after > /root/marker");
    let list = d.api(
        "GET",
        &format!("/api/v1/containers/{id}/snapshots"),
        None,
        200,
    );
    assert_eq!(list["snapshot_count"], 1);
    let r = d.api(
        "PUT",
        &format!("/api/v1/containers/{id}/snapshots/clean"),
        None,
        200,
    );
    assert_eq!(r["status"], "running");
    assert_eq!(d.exec(&id, "cat /root/marker").trim(), "before");

    // Copy to another project: own id, address, machine-id, the same files and snapshots.
    let p2 = d.project("hoodytest-life-2");
    let copy = d.api(
        "POST",
        &format!("/api/v1/containers/{id}/copy"),
        Some(json!({"target_project_id": p2})),
        202,
    );
    assert_eq!(copy["status"], "copying");
    assert_eq!(copy["source_container_id"], id.as_str());
    let cid = copy["id"].as_str().unwrap().to_string();
    let c2 = d.settle(&cid);
    assert_eq!(c2["status"], "running", "{c2}");
    assert_ne!(c2["ip"], d.get(&id)["ip"]);
    assert_eq!(d.exec(&cid, "cat /root/marker").trim(), "before");
    assert_ne!(
        d.exec(&cid, "cat /etc/machine-id"),
        d.exec(&id, "cat /etc/machine-id")
    );
    let snaps = d.api(
        "GET",
        &format!("/api/v1/containers/{cid}/snapshots"),
        None,
        200,
    );
    assert_eq!(snaps["snapshot_count"], 1, "snapshots are copied too");

    // Stats and status logs.
    let st = d.api("GET", &format!("/api/v1/containers/{id}/stats"), None, 200);
    assert!(st["processes"].as_u64().unwrap() > 0);
    assert!(st["memory"]["usage"].as_u64().unwrap() > 0);
    let logs = d.api(
        "GET",
        &format!("/api/v1/containers/{id}/status-logs?limit=100&sort_order=asc"),
        None,
        200,
    );
    let to: Vec<&str> = logs["status_logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["to_status"].as_str().unwrap())
        .collect();
    assert_eq!(&to[..3], &["creating", "running", "paused"], "{to:?}");

    // Update.
    let u = d.api(
        "PATCH",
        &format!("/api/v1/containers/{id}"),
        Some(json!({"comment": "hi", "autostart": false})),
        200,
    );
    assert_eq!(u["comment"], "hi");
    assert_eq!(u["autostart"], false);

    // Delete both: nothing left.
    for c in [&id, &cid] {
        d.api("DELETE", &format!("/api/v1/containers/{c}"), None, 200);
        d.api("GET", &format!("/api/v1/containers/{c}"), None, 404);
        assert!(d.traces(c).is_empty(), "{:?}", d.traces(c));
    }
    d.api("DELETE", &format!("/api/v1/projects/{p}"), None, 200);
}

#[test]
fn restart_adopts_five_running_containers() {
    let mut d = Daemon::new();
    let p = d.project("hoodytest-adopt");
    let ids: Vec<String> = (0..5)
        .map(|i| d.create(&p, &format!("adopt-{i}")))
        .collect();
    let mut pids = Vec::new();
    for id in &ids {
        assert_eq!(d.settle(id)["status"], "running");
        pids.push(d.pid1(id).unwrap());
    }
    // A clean stop, then a crash: containers keep running either way.
    d.stop();
    d.start(&[]);
    d.kill9();
    for pid in &pids {
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    }
    d.start(&[]);
    for (id, pid) in ids.iter().zip(&pids) {
        assert_eq!(status(&d, id), "running");
        assert_eq!(d.pid1(id), Some(*pid), "the same machine still runs");
        // Adopted: hoodyd controls it.
        assert_eq!(d.op(id, "pause")["status"], "paused");
        assert_eq!(d.op(id, "resume")["status"], "running");
    }
    // A machine powered off from inside is noticed.
    let _ = d.hoody_out(&[
        "machine",
        "exec",
        &ids[0],
        "--",
        "/bin/systemctl",
        "poweroff",
    ]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while status(&d, &ids[0]) != "stopped" {
        assert!(std::time::Instant::now() < deadline, "poweroff not noticed");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn twenty_concurrent_creates() {
    let d = Daemon::new();
    let p = d.project("hoodytest-twenty");
    let sid = d.server_id();
    let ids: Vec<String> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..20)
            .map(|i| {
                let (d, p, sid) = (&d, &p, &sid);
                s.spawn(move || {
                    d.api(
                        "POST",
                        &format!("/api/v1/projects/{p}/containers"),
                        Some(json!({"server_id": sid, "name": format!("c{i:02}")})),
                        201,
                    )["id"]
                        .as_str()
                        .unwrap()
                        .to_string()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 20);
    let mut ips = HashSet::new();
    let mut ranges = HashSet::new();
    for id in &ids {
        let c = d.settle(id);
        assert_eq!(c["status"], "running", "{c}");
        ips.insert(c["ip"].as_str().unwrap().to_string());
        let cfg: Value = serde_json::from_str(
            &std::fs::read_to_string(d.pool().join("machines").join(id).join("config.json"))
                .unwrap(),
        )
        .unwrap();
        ranges.insert(cfg["id_range_start"].as_u64().unwrap());
    }
    assert_eq!(ips.len(), 20, "distinct addresses");
    assert_eq!(ranges.len(), 20, "distinct id ranges");
    let list = d.api(
        "GET",
        &format!("/api/v1/projects/{p}/containers?limit=100"),
        None,
        200,
    );
    assert_eq!(list["pagination"]["total"], 20);
}

/// Kill -9 inside create, restore and delete; after a restart nothing is half-made, the
/// operation is finished or rolled back, and a bystander container runs on.
#[test]
fn crash_at_every_point_is_recovered() {
    let mut d = Daemon::new();
    let p = d.project("hoodytest-crash");
    let bystander = d.create(&p, "bystander");
    assert_eq!(d.settle(&bystander)["status"], "running");
    let by_pid = d.pid1(&bystander).unwrap();
    let sid = d.server_id();
    let check_bystander = |d: &Daemon| {
        assert_eq!(status(d, &bystander), "running");
        assert_eq!(d.pid1(&bystander), Some(by_pid));
    };

    // Create: before the machine exists → rolled back; after → completed.
    for (point, completed) in [
        ("create:after-row", false),
        ("create:after-machine", true),
        ("create:after-start", true),
    ] {
        d.stop();
        d.start_crashing_at(point);
        let name = point.replace(':', "-");
        let (st, v) = d.try_api(
            "POST",
            &format!("/api/v1/projects/{p}/containers"),
            Some(&json!({"server_id": sid, "name": name}).to_string()),
        );
        // The crash may beat the response out of the door (status 0: connection reset).
        assert!(st == 201 || st == 0, "{st} {v}");
        d.wait_exit();
        d.start(&[]);
        let found = listed(&d).into_iter().find(|c| c["name"] == name.as_str());
        if completed {
            let c = found.unwrap_or_else(|| panic!("{point}: container missing"));
            let id = c["id"].as_str().unwrap();
            assert_eq!(status(&d, id), "running", "{point}: completed");
            assert!(d.pid1(id).is_some());
        } else {
            assert!(found.is_none(), "{point}: should be rolled back");
            if st == 201 {
                let id = v["data"]["id"].as_str().unwrap();
                d.api("GET", &format!("/api/v1/containers/{id}"), None, 404);
                assert!(d.traces(id).is_empty(), "{point}: {:?}", d.traces(id));
            }
        }
        assert_consistent(&d);
        check_bystander(&d);
    }

    // Restore: always completed (file system restored, running again).
    let id = d.create(&p, "restored");
    assert_eq!(d.settle(&id)["status"], "running");
    d.exec(&id, "echo snap > /root/m");
    d.api(
        "POST",
        &format!("/api/v1/containers/{id}/snapshots"),
        Some(json!({"alias": "s1"})),
        201,
    );
    for point in [
        "restore:after-journal",
        "restore:after-stop",
        "restore:in-fs",
        "restore:after-fs",
    ] {
        d.exec(&id, "echo changed > /root/m");
        d.stop();
        d.start_crashing_at(point);
        let _ = d.try_api(
            "PUT",
            &format!("/api/v1/containers/{id}/snapshots/s1"),
            None,
        );
        d.wait_exit();
        d.start(&[]);
        assert_eq!(status(&d, &id), "running", "{point}");
        assert_eq!(d.exec(&id, "cat /root/m").trim(), "snap", "{point}");
        assert_consistent(&d);
        check_bystander(&d);
    }

    // Copy: before the copy's machine exists → rolled back; after → completed and running.
    for (point, completed) in [("copy:after-row", false), ("copy:after-machine", true)] {
        d.stop();
        d.start_crashing_at(point);
        let name = point.replace(':', "-");
        let (st, v) = d.try_api(
            "POST",
            &format!("/api/v1/containers/{bystander}/copy"),
            Some(&json!({"target_project_id": p, "name": name}).to_string()),
        );
        assert!(st == 202 || st == 0, "{st} {v}");
        d.wait_exit();
        d.start(&[]);
        let found = listed(&d).into_iter().find(|c| c["name"] == name.as_str());
        if completed {
            let c = found.unwrap_or_else(|| panic!("{point}: copy missing"));
            assert_eq!(status(&d, c["id"].as_str().unwrap()), "running", "{point}");
            assert_eq!(c["source_container_id"], bystander.as_str());
        } else {
            assert!(found.is_none(), "{point}: should be rolled back");
        }
        assert_consistent(&d);
        check_bystander(&d);
    }

    // Delete: always completed.
    for point in ["delete:after-mark", "delete:after-purge"] {
        let id = d.create(&p, &point.replace(':', "-"));
        assert_eq!(d.settle(&id)["status"], "running");
        d.stop();
        d.start_crashing_at(point);
        let _ = d.try_api("DELETE", &format!("/api/v1/containers/{id}"), None);
        d.wait_exit();
        d.start(&[]);
        d.api("GET", &format!("/api/v1/containers/{id}"), None, 404);
        assert!(d.traces(&id).is_empty(), "{point}: {:?}", d.traces(&id));
        assert_consistent(&d);
        check_bystander(&d);
    }
}

/// The record and the pool agree: the same containers listed, with file systems and machine
/// state, and no file system or machine without a row.
fn assert_consistent(d: &Daemon) {
    let dirs = |sub: &str| -> HashSet<String> {
        std::fs::read_dir(d.pool().join(sub))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.') && !n.ends_with(".json"))
            .collect()
    };
    let rows: HashSet<String> = listed(d)
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(dirs("containers"), rows, "file systems vs rows");
    assert_eq!(dirs("machines"), rows, "machines vs rows");
}

#[test]
fn bad_input_is_refused_without_state_change() {
    let mut d = Daemon::new();
    let p = d.project("hoodytest-bad");
    let sid = d.server_id();
    let id = d.create(&p, "victim");
    assert_eq!(d.settle(&id)["status"], "running");
    let before = listed(&d);
    let base = format!("/api/v1/projects/{p}/containers");

    let cases: Vec<(&str, String, Option<String>, u16, &str)> = vec![
        (
            "POST",
            base.clone(),
            Some("{not json".into()),
            400,
            "INVALID_JSON",
        ),
        (
            "POST",
            base.clone(),
            // An unknown field is ignored (Hoody's clients send fields a server may not
            // know); a known one of the wrong type is refused.
            Some(
                json!({"server_id": sid, "name": "ok-name", "colour": "#fff", "hoody_kit": "yes"})
                    .to_string(),
            ),
            422,
            "Validation Error",
        ),
        (
            "POST",
            base.clone(),
            Some(json!({"server_id": sid, "name": "no spaces allowed"}).to_string()),
            422,
            "Validation Error",
        ),
        (
            "POST",
            base.clone(),
            Some(json!({"server_id": "ffffffffffffffffffffffff", "name": "abc"}).to_string()),
            404,
            "SERVER_NOT_FOUND",
        ),
        (
            "POST",
            base.clone(),
            Some(json!({"server_id": sid, "name": "victim"}).to_string()),
            409,
            "CONTAINER_NAME_TAKEN",
        ),
        (
            "POST",
            base.clone(),
            Some(json!({"server_id": sid, "container_image": "nope-9"}).to_string()),
            404,
            "IMAGE_NOT_FOUND",
        ),
        (
            "POST",
            base.clone(),
            Some(json!({"server_id": sid, "environment_vars": {"HOODY_X": "1"}}).to_string()),
            400,
            "RESERVED_ENV_PREFIX",
        ),
        (
            "GET",
            "/api/v1/containers/not-an-id".into(),
            None,
            400,
            "INVALID_ID_FORMAT",
        ),
        (
            "POST",
            "/api/v1/containers/XYZ/start".into(),
            None,
            400,
            "INVALID_ID_FORMAT",
        ),
        (
            "GET",
            "/api/v1/containers/0123456789abcdef01234567".into(),
            None,
            404,
            "CONTAINER_NOT_FOUND",
        ),
        (
            "POST",
            format!("/api/v1/containers/{id}/resume"),
            None,
            409,
            "INVALID_STATE_TRANSITION",
        ),
        (
            "POST",
            format!("/api/v1/containers/{id}/start"),
            None,
            409,
            "INVALID_STATE_TRANSITION",
        ),
        (
            "POST",
            format!("/api/v1/projects/{p}/containers"),
            Some(format!(
                "{{\"server_id\":\"{sid}\",\"comment\":\"{}\"}}",
                "x".repeat(2 << 20)
            )),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "DELETE",
            format!("/api/v1/projects/{p}"),
            None,
            409,
            "PROJECT_NOT_EMPTY",
        ),
        (
            "GET",
            "/api/v1/containers?limit=1000".into(),
            None,
            422,
            "Validation Error",
        ),
        (
            "GET",
            "/api/v1/nowhere".into(),
            None,
            404,
            "ROUTE_NOT_FOUND",
        ),
    ];
    for (method, path, body, want, code) in &cases {
        let (st, v) = d.try_api(method, path, body.as_deref());
        assert_eq!(st, *want, "{method} {path}: {v}");
        assert_eq!(v["statusCode"], *want, "{v}");
        assert_eq!(v["error"], *code, "{method} {path}: {v}");
        assert!(!v["message"].as_str().unwrap().is_empty());
    }
    let after = listed(&d);
    assert_eq!(
        before
            .iter()
            .map(|c| (&c["id"], &c["status"]))
            .collect::<Vec<_>>(),
        after
            .iter()
            .map(|c| (&c["id"], &c["status"]))
            .collect::<Vec<_>>(),
        "no state change"
    );
    assert_eq!(status(&d, &id), "running");

    // TCP: tokens.
    d.stop();
    let port = 20_000 + std::process::id() % 20_000;
    d.tcp = Some(format!("127.0.0.1:{port}"));
    d.start(&[]);
    let (st, v) = d.tcp_api("GET", "/api/v1/containers", None);
    assert_eq!((st, v["error"].as_str()), (401, Some("MISSING_TOKEN")));
    let (st, v) = d.tcp_api("GET", "/api/v1/containers", Some("hdy_wrong"));
    assert_eq!((st, v["error"].as_str()), (401, Some("INVALID_TOKEN")));
    let t = d.api(
        "POST",
        "/api/v1/auth/tokens",
        Some(json!({"alias": "ci"})),
        201,
    );
    let secret = t["token"].as_str().unwrap();
    assert!(secret.starts_with("hdy_"));
    let (st, v) = d.tcp_api("GET", "/api/v1/containers", Some(secret));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["pagination"]["total"], 1);
    // Stored hashed: the secret is nowhere in the database.
    let db = std::fs::read(d.pool().join("hoodyd/state.db")).unwrap();
    let wal = std::fs::read(d.pool().join("hoodyd/state.db-wal")).unwrap_or_default();
    let hay = [db, wal].concat();
    assert!(
        !hay.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "token secret stored in clear"
    );
    let tid = t["id"].as_str().unwrap();
    d.api("DELETE", &format!("/api/v1/auth/tokens/{tid}"), None, 200);
    let (st, _) = d.tcp_api("GET", "/api/v1/containers", Some(secret));
    assert_eq!(st, 401, "a revoked token is refused");
}

#[test]
fn openapi_lists_every_served_endpoint() {
    let d = Daemon::new();
    let (st, doc) = d.try_api("GET", "/api/v1/openapi.json", None);
    assert_eq!(st, 200);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/projects/{id}/containers"));
    for (path, methods) in paths {
        for method in methods.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "0123456789abcdef01234567")
                .replace("{key}", "K")
                .replace("{name}", "n")
                .replace("{direction}", "ingress")
                .replace("{permissionId}", "0123456789abcdef01234567")
                .replace("{public_key}", &"ab".repeat(32));
            if concrete.ends_with("/events/stream") {
                continue;
            }
            let (_, v) = d.try_api(&method.to_uppercase(), &concrete, Some("{}"));
            assert_ne!(v["error"], "ROUTE_NOT_FOUND", "{method} {path}");
            assert_ne!(v["error"], "METHOD_NOT_ALLOWED", "{method} {path}");
        }
    }
}

/// After a host reboot (a new kernel boot id), hoodyd starts the `autostart` containers and
/// leaves the others stopped.
#[test]
fn autostart_containers_start_after_a_reboot() {
    let mut d = Daemon::new();
    let p = d.project("hoodytest-boot");
    let sid = d.server_id();
    let on = d.create(&p, "autostart-on");
    let off = d.api(
        "POST",
        &format!("/api/v1/projects/{p}/containers"),
        Some(json!({"server_id": sid, "name": "autostart-off", "autostart": false})),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(d.settle(&on)["status"], "running");
    assert_eq!(d.settle(&off)["status"], "stopped");
    d.op(&off, "start");
    // "Reboot": hoodyd gone, every machine gone, and the recorded boot id is not this boot's.
    d.stop();
    for id in [&on, &off] {
        d.hoody(&["machine", "stop", "--force", id]);
    }
    let db = rusqlite::Connection::open(d.pool().join("hoodyd/state.db")).unwrap();
    db.execute(
        "UPDATE meta SET value = 'an-earlier-boot' WHERE key = 'boot_id'",
        [],
    )
    .unwrap();
    drop(db);
    d.start(&[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while status(&d, &on) != "running" {
        assert!(
            std::time::Instant::now() < deadline,
            "autostart did not start {on}: {}\nhoodyd log:\n{}",
            d.get(&on),
            d.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(d.pid1(&on).is_some());
    assert_eq!(
        status(&d, &off),
        "stopped",
        "autostart: false stays stopped"
    );
    // A plain restart of hoodyd (same boot) starts nothing.
    d.op(&on, "stop");
    d.stop();
    d.start(&[]);
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert_eq!(status(&d, &on), "stopped");
}

/// One writer per pool: a second hoodyd on the same pool refuses to start, naming the first.
#[test]
fn a_second_hoodyd_on_the_same_pool_is_refused() {
    let d = Daemon::new();
    let out = std::process::Command::new(hoody_testkit::daemon::bin("hoodyd"))
        .env("HOODY_POOL", d.pool())
        .env("HOODY_POOL_REGISTRY", d.path("registry.json"))
        .arg("--socket")
        .arg(d.path("second.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another hoodyd"), "{err}");
    // The first one still serves.
    d.api("GET", "/api/v1/servers", None, 200);
}

/// An open event stream (the proxy keeps one) does not keep hoodyd from stopping.
#[test]
fn hoodyd_stops_with_an_event_stream_open() {
    let mut d = Daemon::new();
    let mut sse = std::process::Command::new("curl")
        .args(["-s", "-N", "--unix-socket"])
        .arg(d.socket())
        .arg("http://hoodyd/api/v1/events/stream")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let t = std::time::Instant::now();
    d.stop();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(15),
        "hoodyd took {:?} to stop",
        t.elapsed()
    );
    let _ = sse.kill();
    let _ = sse.wait();
    d.start(&[]);
}
