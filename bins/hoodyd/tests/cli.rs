//! The `hoody` CLI against a real hoodyd: the seed's create example as written, lifecycle,
//! snapshots, copy and delete, with `--output json` read back.
#![allow(clippy::unwrap_used)]

use hoody_testkit::daemon::Daemon;
use serde_json::Value;

fn json(d: &Daemon, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["--output", "json"]);
    serde_json::from_str(&d.hoody(&a)).unwrap()
}

#[test]
fn the_cli_drives_containers_through_hoodyd() {
    let d = Daemon::new();
    let sid = json(&d, &["servers", "list"])["servers"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pid = json(&d, &["projects", "create", "--alias", "hoodytest-cli"])["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The seed's example, as written, plus --wait.
    let c = json(
        &d,
        &[
            "containers",
            "create",
            "--project",
            &pid,
            "--server-id",
            &sid,
            "--name",
            "dev-environment",
            "--hoody-kit",
            "--dev-kit",
            "--wait",
        ],
    );
    assert_eq!(c["status"], "running", "{c}");
    assert_eq!(c["hoody_kit"], true);
    let id = c["id"].as_str().unwrap().to_string();
    let table = d.hoody(&["containers", "list"]);
    assert!(
        table.contains("dev-environment") && table.contains("running"),
        "{table}"
    );

    for (op, want) in [
        ("stop", "stopped"),
        ("start", "running"),
        ("pause", "paused"),
        ("resume", "running"),
        ("restart", "running"),
    ] {
        d.hoody(&["containers", "manage", &id, op]);
        assert_eq!(
            json(&d, &["containers", "get", &id])["status"],
            want,
            "{op}"
        );
    }
    // Invalid transition: a clear error and a non-zero exit.
    let out = d.hoody_out(&["containers", "manage", &id, "resume"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("INVALID_STATE_TRANSITION"));

    d.exec(&id, "echo one > /root/f");
    d.hoody(&["snapshots", "create", "-c", &id, "--alias", "one"]);
    d.exec(&id, "echo two > /root/f");
    let snaps = json(&d, &["snapshots", "list", "-c", &id]);
    assert_eq!(snaps["snapshot_count"], 1);
    d.hoody(&["snapshots", "restore", "-c", &id, "--name", "one"]);
    assert_eq!(d.exec(&id, "cat /root/f").trim(), "one");

    let copy = json(
        &d,
        &[
            "containers",
            "copy",
            &id,
            "--target-project-id",
            &pid,
            "--wait",
        ],
    );
    assert_eq!(copy["status"], "running", "{copy}");
    let cid = copy["id"].as_str().unwrap().to_string();
    assert_eq!(d.exec(&cid, "cat /root/f").trim(), "one");

    d.hoody(&[
        "containers",
        "env",
        "set",
        "-c",
        &id,
        "--key",
        "K",
        "--value",
        "v",
    ]);
    assert_eq!(
        json(&d, &["containers", "env", "list", "-c", &id])["environment_vars"]["K"],
        "v"
    );
    let stats = json(&d, &["containers", "stats", &id]);
    assert!(stats["processes"].as_u64().unwrap() > 0);

    for c in [&id, &cid] {
        d.hoody(&["containers", "delete", c]);
        assert!(d.traces(c).is_empty(), "{:?}", d.traces(c));
    }
    let out = d.hoody_out(&["containers", "get", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CONTAINER_NOT_FOUND"));
}
