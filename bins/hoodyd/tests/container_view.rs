//! The container object as get and list answer it (reference §1.3), against a booted
//! container with its Kit: `server{…}`, `snapshot_count`, `last_used_snapshot`, `warnings`,
//! `proxy_domains` with `include_proxy_domains`, `runtime_info` with `runtime` (its
//! listening ports read from the kernel, its Kit services, its terminal sessions) in both
//! spellings, the documented 422 for a bad `runtime`, and the CLI's flags. As root.
#![allow(clippy::unwrap_used)]

use hoody_testkit::daemon::Daemon;
use serde_json::{Value, json};

const APEX: &str = "hoody.test";

#[test]
fn the_container_object_carries_what_the_reference_lists() {
    let d = Daemon::with(&["--domain", APEX]);
    let project = d.project("hoodytest-view");
    let id = d.create(&project, "looked-at");
    let c = d.settle(&id);
    assert_eq!(c["status"], "running");
    let server = d.api("GET", "/api/v1/servers", None, 200)["servers"][0].clone();
    assert_eq!(c["server"]["name"], server["name"], "{c}");
    assert_eq!(c["server"]["is_free"], true);
    assert_eq!(
        c["server"]["specs"]["cpu_cores"],
        server["specs"]["cpu_cores"]
    );
    assert_eq!(c["server"]["specs"]["shared_compute"], true);
    assert_eq!(
        (&c["snapshot_count"], &c["warnings"]),
        (&json!(0), &json!([]))
    );
    assert_eq!(c["last_used_snapshot"], Value::Null);
    for field in ["subserver_name", "ssh_hostname", "pool_id", "kvm_note"] {
        assert!(c.get(field).is_some(), "{field} missing: {c}");
    }
    assert!(c.get("runtime_info").is_none() && c.get("proxy_domains").is_none());

    // Snapshots: counted; a restore is remembered.
    let s = d.api(
        "POST",
        &format!("/api/v1/containers/{id}/snapshots"),
        Some(json!({})),
        201,
    );
    let name = s["name"].as_str().unwrap().to_string();
    d.api(
        "PUT",
        &format!("/api/v1/containers/{id}/snapshots/{name}"),
        None,
        200,
    );
    let c = d.get(&id);
    assert_eq!(
        (&c["snapshot_count"], &c["last_used_snapshot"]),
        (&json!(1), &json!(name))
    );

    // URLs: the Kit's services and the aliases.
    d.api(
        "POST",
        "/api/v1/proxy/aliases",
        Some(json!({"container_id": id, "program": "http", "port": 8080, "alias": "hoodytest-view-web"})),
        201,
    );
    let c = d.api(
        "GET",
        &format!("/api/v1/containers/{id}?include_proxy_domains=true"),
        None,
        200,
    );
    let sname = server["name"].as_str().unwrap();
    let domains: Vec<&str> = c["proxy_domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        domains.contains(&format!("{project}-{id}-terminal-1.{sname}.containers.{APEX}").as_str()),
        "{domains:?}"
    );
    assert!(
        domains.contains(&format!("hoodytest-view-web.{sname}.containers.{APEX}").as_str()),
        "{domains:?}"
    );

    // Runtime: a server listening on 8080, a terminal session, the Kit's services.
    d.start_echo(&id);
    let out = d.hoody_out(&[
        "terminal",
        "sessions",
        "exec",
        "-c",
        &id,
        "--command",
        "echo hi",
    ]);
    assert!(out.status.success(), "{out:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let info = loop {
        let c = d.api(
            "GET",
            &format!("/api/v1/containers/{id}?runtime=true"),
            None,
            200,
        );
        let info = c["runtime_info"].clone();
        let ports: Vec<u64> = info["network_services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["port"].as_u64().unwrap())
            .collect();
        if ports.contains(&8080) {
            break info;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "8080 never listed: {info}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let web = info["network_services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["port"] == 8080)
        .unwrap();
    assert_eq!(
        web["domain"],
        format!("{project}-{id}-http-8080.{sname}.containers.{APEX}"),
        "{info}"
    );
    let terminal = info["network_services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kit"] == "terminal");
    assert!(terminal.is_some(), "the Kit's terminal port: {info}");
    let services: Vec<&str> = info["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(services, ["terminal", "files", "exec", "sqlite"]);
    assert!(!info["terminals"].as_array().unwrap().is_empty(), "{info}");
    assert_eq!(info["displays"], json!([]));

    // The JSON form names the parts; a list carries it too; bad values are a 422.
    let only = d.api(
        "GET",
        &format!("/api/v1/containers/{id}?runtime=%7B%22displays%22%3Atrue%7D"),
        None,
        200,
    );
    let keys: Vec<&String> = only["runtime_info"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["displays"], "{only}");
    let list = d.api(
        "GET",
        &format!("/api/v1/projects/{project}/containers?runtime=%7B%7D"),
        None,
        200,
    );
    assert!(
        list["containers"][0]["runtime_info"]["network_services"].is_array(),
        "{list}"
    );
    let (st, e) = d.try_api(
        "GET",
        &format!("/api/v1/containers/{id}?runtime=sometimes"),
        None,
    );
    assert_eq!(
        (st, e["data"][0]["instancePath"].as_str()),
        (422, Some("/runtime")),
        "{e}"
    );

    // The CLI's flags, in Hoody's spelling.
    let shown: Value = serde_json::from_str(&d.hoody(&[
        "containers",
        "get",
        &id,
        "--runtime",
        "--include-proxy-domains",
        "true",
        "-o",
        "json",
    ]))
    .unwrap();
    assert!(
        shown["runtime_info"]["network_services"].is_array(),
        "{shown}"
    );
    assert!(shown["proxy_domains"].is_array(), "{shown}");
    let table = d.hoody(&["containers", "get", &id, "--runtime"]);
    assert!(
        table.contains("LISTENING") && table.contains("SNAPSHOTS"),
        "{table}"
    );
}
