//! The API contract: Hoody's published SDK (its endpoint inventory, vendored at
//! docs/reference/hoody-endpoints.md from shared/reference) against a real hoodyd.
//!
//! For every control-plane group hoodyd serves at least one operation of, every (method, path)
//! of the group must be routed exactly as written and with the trailing slash toggled, unless
//! it is listed in [`NOT_YET`]: a request that reaches no route gets hoodyd's
//! `ROUTE_NOT_FOUND` (404) or `METHOD_NOT_ALLOWED` (405), anything else (a 404 for the
//! placeholder id, a 422, a 428) means the route is there. The list of what is not served yet
//! is checked too: an entry that starts being served fails the test until it is removed, so
//! the list is always the truth. Removing a route of a served group fails the test.
//! Coverage per group is printed.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use hoody_testkit::daemon::Daemon;

/// Operations of served groups that hoodyd does not serve: Hoody's marketing counters mean
/// nothing on a self-hosted server.
const NOT_YET: &[(&str, &str)] = &[
    // Hoody's marketing counters.
    ("GET", "/api/v1/meta/social-stats"),
];

/// (method, path) as the reference writes them.
type Op = (String, String);

/// The reference's groups of the control plane: group → its operations.
fn inventory() -> BTreeMap<String, Vec<Op>> {
    let text = include_str!("../../../docs/reference/hoody-endpoints.md");
    let mut groups: BTreeMap<String, Vec<Op>> = BTreeMap::new();
    let mut group = None;
    for line in text.lines() {
        if let Some(g) = line.strip_prefix("### ") {
            group = g.trim().strip_prefix("api.").map(str::to_string);
            continue;
        }
        let Some(g) = &group else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4
            || !cells[1].chars().all(|c| c.is_ascii_uppercase())
            || cells[1].is_empty()
        {
            continue;
        }
        let path = cells[2].trim_matches('`');
        if !path.starts_with("/api/") {
            continue;
        }
        groups
            .entry(g.clone())
            .or_default()
            .push((cells[1].to_string(), path.to_string()));
    }
    groups
}

/// The path with its placeholders filled by well-formed values that name nothing.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    for seg in path.split('/') {
        if !out.is_empty() || seg.is_empty() {
            out.push('/');
        }
        let v = match seg {
            "{id}" | "{permissionId}" | "{containerId}" | "{projectId}" => {
                "000000000000000000000000"
            }
            "{operation}" => "start",
            "{name}" => "hoodytest-none",
            "{groupName}" => "hoodytest",
            "{program}" => "http",
            "{key}" => "HOODYTEST_NONE",
            s if s.starts_with('{') => "hoodytest-none",
            s => s,
        };
        out.push_str(v);
    }
    out.replace("//", "/")
}

fn toggled(path: &str) -> String {
    match path.strip_suffix('/') {
        Some(p) => p.to_string(),
        None => format!("{path}/"),
    }
}

/// Whether hoodyd routes `method path` (see the module doc).
fn served(d: &Daemon, method: &str, path: &str) -> Result<(), String> {
    let method = if method == "WS" { "GET" } else { method };
    let body = matches!(method, "POST" | "PUT" | "PATCH").then_some("{}");
    let (status, v) = d.try_api_with(method, path, body, &[]);
    let code = v["error"]
        .as_str()
        .or(v["code"].as_str())
        .unwrap_or_default();
    let text = v.to_string();
    if status == 0 {
        return Err(format!("{method} {path}: no answer"));
    }
    if (status == 404 && text.contains("ROUTE_NOT_FOUND"))
        || (status == 405 && text.contains("METHOD_NOT_ALLOWED"))
    {
        return Err(format!("{method} {path}: {status} {code}"));
    }
    Ok(())
}

#[test]
fn every_operation_of_a_served_group_is_routed_as_written() {
    let d = Daemon::new();
    let groups = inventory();
    assert!(groups.len() > 20, "the inventory did not parse: {groups:?}");
    let mut failures = Vec::new();
    let mut still_missing = Vec::new();
    let (mut total_served, mut total) = (0, 0);
    for (group, ops) in &groups {
        let results: Vec<(&Op, Result<(), String>)> = ops
            .iter()
            .map(|op| (op, served(&d, &op.0, &concrete(&op.1))))
            .collect();
        let n = results.iter().filter(|(_, r)| r.is_ok()).count();
        total += ops.len();
        total_served += n;
        println!("{group}: {n} of {} served", ops.len());
        if n == 0 {
            continue;
        }
        for ((method, path), r) in results {
            let not_yet = NOT_YET.contains(&(method.as_str(), path.as_str()));
            match (r, not_yet) {
                (Ok(()), true) => failures.push(format!(
                    "{method} {path} is served now: remove it from NOT_YET"
                )),
                (Err(e), false) => failures.push(e),
                (Err(_), true) => still_missing.push(format!("{method} {path}")),
                (Ok(()), false) => {
                    // Served as written: also with the trailing slash toggled.
                    let other = toggled(&concrete(path));
                    if let Err(e) = served(&d, method, &other) {
                        failures.push(format!("{e} (the trailing slash toggled)"));
                    }
                }
            }
        }
    }
    println!(
        "control plane: {total_served} of {total} operations served; not yet in served groups: {}",
        still_missing.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The body Hoody's published CLI sends for the seed's
/// `containers create --project P --server-id S --name dev-environment --hoody-kit --dev-kit`.
fn seed_body(server: &str, name: &str, dev_kit: bool) -> serde_json::Value {
    let mut b = serde_json::json!({"server_id": server, "name": name, "ai": true,
        "hoody_kit": true, "autostart": true, "ramdisk": true, "cache": true,
        "cache_image": false, "prespawn": false, "bypass_prespawn": false});
    if dev_kit {
        b["dev_kit"] = serde_json::json!(true);
    }
    b
}

#[test]
fn the_seeds_create_bodies_make_running_containers_with_kit_and_ramdisk() {
    let d = Daemon::new();
    let sid = d.server_id();
    let project = d.project("hoodytest-seed");
    // Hoody's clients list with the trailing slash.
    for path in ["/api/v1/containers/", "/api/v1/projects/"] {
        let (st, v) = d.try_api("GET", path, None);
        assert_eq!(st, 200, "{path}: {v}");
        assert!(v["data"]["pagination"]["total"].is_u64(), "{path}: {v}");
    }
    let base = format!("/api/v1/projects/{project}/containers");
    let c = d.api(
        "POST",
        &base,
        Some(seed_body(&sid, "dev-environment", true)),
        201,
    );
    let id = c["id"].as_str().unwrap().to_string();
    let c = d.settle(&id);
    assert_eq!(c["status"], "running", "{c}");
    assert_eq!(
        (&c["hoody_kit"], &c["dev_kit"]),
        (&serde_json::json!(true), &serde_json::json!(true))
    );
    assert_eq!(
        (&c["ramdisk"], &c["ramdisk_scope"]),
        (&serde_json::json!(true), &serde_json::json!("container"))
    );

    // /ramdisk: RAM-backed, writable by the default user, kept across stop and start.
    let out = d.exec(
        &id,
        "stat -f -c %T /ramdisk; su user -c 'echo kept > /ramdisk/note' && cat /ramdisk/note",
    );
    assert_eq!(out, "tmpfs\nkept\n");
    let stats = d.api("GET", &format!("/api/v1/containers/{id}/stats"), None, 200);
    assert!(
        stats["ramdisk"]["usage"]["private"].as_u64().unwrap() > 0,
        "{stats}"
    );
    assert_eq!(stats["ramdisk"]["shared_pool_maximum"], 64 << 20, "{stats}");
    // The project's stats and the proxy's discovery.
    let ps = d.api(
        "GET",
        &format!("/api/v1/projects/{project}/stats"),
        None,
        200,
    );
    assert_eq!(ps["by_status"]["running"], 1, "{ps}");
    assert_eq!(ps["containers"][0]["id"], id.as_str(), "{ps}");
    let g = d.api(
        "GET",
        &format!("/api/v1/containers/{id}/proxy/groups"),
        None,
        200,
    );
    assert_eq!(
        (g["groups"].as_array().map(Vec::len), &g["etag"]),
        (Some(0), &serde_json::json!("file:v0")),
        "{g}"
    );
    let sv = d.api(
        "GET",
        &format!("/api/v1/containers/{id}/proxy/services"),
        None,
        200,
    );
    assert!(
        sv["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "terminal"),
        "{sv}"
    );
    let one = d.api(
        "GET",
        &format!("/api/v1/containers/{id}/proxy/services/terminal"),
        None,
        200,
    );
    assert_eq!(
        (&one["effective_default"], &one["is_reject_listed"]),
        (&serde_json::json!("deny"), &serde_json::json!(false)),
        "{one}"
    );
    // A signed container claim, verified offline with the published key.
    let claim = d.api(
        "POST",
        &format!("/api/v1/containers/{id}/authorize"),
        None,
        200,
    );
    let keys = d.api("GET", "/api/v1/meta/public-key", None, 200);
    assert_eq!(claim["container_claim"]["kid"], keys["keys"][0]["kid"]);
    assert_eq!(claim["expires_in"], 3600);
    verify_claim(&claim["container_claim"], &keys["keys"][0], &id);
    let by_cli: serde_json::Value =
        serde_json::from_str(&d.hoody(&["containers", "authorize", &id])).unwrap();
    verify_claim(&by_cli["container_claim"], &keys["keys"][0], &id);
    let (st, _) = d.try_api(
        "POST",
        "/api/v1/containers/000000000000000000000000/authorize",
        None,
    );
    assert_eq!(st, 404);
    d.op(&id, "stop");
    d.op(&id, "start");
    assert_eq!(d.exec(&id, "cat /ramdisk/note"), "kept\n");
    let on_host = d.path("ramdisk").join("containers").join(&id);
    assert!(on_host.join("note").exists());
    d.api("DELETE", &format!("/api/v1/containers/{id}"), None, 200);
    assert!(!on_host.exists(), "the deleted container's ramdisk is gone");

    // The seed's "spawn 10 containers" loop (the same body without --dev-kit).
    let ids: Vec<String> = (0..10)
        .map(|i| {
            let c = d.api(
                "POST",
                &base,
                Some(seed_body(&sid, &format!("seed-{i}"), false)),
                201,
            );
            c["id"].as_str().unwrap().to_string()
        })
        .collect();
    for id in &ids {
        let c = d.settle(id);
        assert_eq!(c["status"], "running", "{c}");
        assert_eq!(c["hoody_kit"], true);
    }
    for id in &ids {
        d.api("DELETE", &format!("/api/v1/containers/{id}"), None, 200);
    }
}

/// Checks a container claim's Ed25519 signature with the published key, and its payload.
fn verify_claim(claim: &serde_json::Value, key: &serde_json::Value, id: &str) {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let public = b64.decode(key["public_key_b64"].as_str().unwrap()).unwrap();
    let payload = b64.decode(claim["payload_b64"].as_str().unwrap()).unwrap();
    let hex = claim["signature_hex"].as_str().unwrap();
    let sig: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public)
        .verify(&payload, &sig)
        .expect("the claim's signature verifies with the published key");
    let p: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(p["container_id"], id);
    assert_eq!(
        p["exp"].as_u64().unwrap() - p["iat"].as_u64().unwrap(),
        3600
    );
}
