//! Proxy hooks' API and CLI (reference §2.6) against a real hoodyd: every operation through
//! `hoody containers proxy hooks …` in Hoody's spelling, their limits and errors, and what
//! they leave in the container's permission document. (hoody-proxy running a hook on a
//! booted container is `bins/hoody-proxy/tests/proxy.rs`.)
#![allow(clippy::unwrap_used)]

use hoody_testkit::daemon::Daemon;
use serde_json::{Value, json};

#[test]
fn hooks_through_the_cli_and_the_api() {
    let d = Daemon::new();
    let p = d.project("hoodytest-hooks");
    let id = d.create_with(
        &p,
        "hooked",
        json!({"autostart": false, "hoody_kit": false}),
    );
    d.settle(&id);
    let cli = |args: &[&str]| -> Value {
        let mut all = vec!["containers", "proxy", "-c", &id, "hooks"];
        all.extend_from_slice(args);
        serde_json::from_str(&d.hoody(&all)).unwrap()
    };
    let first = cli(&[
        "create",
        "http-8080",
        "--match-method",
        "GET",
        "--match-method",
        "POST",
        "--match-path",
        "/api/*",
        "--match-headers",
        "x-team=*",
        "--script-path",
        "/hooks/a.js",
        "--script-exec-id",
        "exec_2",
        "--timeout",
        "2500",
    ]);
    let a = first["id"].as_str().unwrap().to_string();
    assert!(a.starts_with("hook_"), "{first}");
    assert_eq!(first["match"]["method"], json!(["GET", "POST"]));
    assert_eq!(first["script"]["execId"], "exec_2");
    assert_eq!(first["timeout"], 2500);
    let second = cli(&[
        "create",
        "http-8080",
        "--script-path",
        "/hooks/b.js",
        "--position",
        "0",
    ]);
    let b = second["id"].as_str().unwrap().to_string();
    assert_eq!(second["position"], 0, "inserted first");
    let order = |v: &Value| -> Vec<String> {
        v["hooks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        order(&cli(&["list-service", "http-8080"])),
        [b.clone(), a.clone()]
    );
    cli(&["move", "http-8080", &b, "--position", "5"]);
    assert_eq!(
        order(&cli(&["list-service", "http-8080"])),
        [a.clone(), b.clone()]
    );
    let replaced = cli(&["update", "http-8080", &a, "--script-path", "/hooks/c.js"]);
    assert_eq!(
        (replaced["id"].as_str(), replaced["position"].as_u64()),
        (Some(a.as_str()), Some(0))
    );
    assert_eq!(
        cli(&["get", "http-8080", &a])["script"]["path"],
        "/hooks/c.js"
    );
    let all = cli(&["list"]);
    assert_eq!(all["hooks"]["http-8080"].as_array().unwrap().len(), 2);
    // A document made by a hook write lets requests through: hooks never lock a container.
    let doc = d.api(
        "GET",
        &format!("/api/v1/containers/{id}/proxy/permissions"),
        None,
        200,
    );
    assert_eq!(doc["default"], "allow");
    assert_eq!(doc["hooks"]["http-8080"][1]["id"], b.as_str());

    // Limits and errors.
    let base = format!("/api/v1/containers/{id}/proxy/hooks");
    for n in 2..8 {
        d.api(
            "POST",
            &format!("{base}/terminal"),
            Some(json!({"script": {"path": format!("/h/{n}.js")}})),
            201,
        );
    }
    d.api(
        "POST",
        &format!("{base}/terminal"),
        Some(json!({"script": {"path": "/h/x.js"}})),
        201,
    );
    d.api(
        "POST",
        &format!("{base}/terminal"),
        Some(json!({"script": {"path": "/h/y.js"}})),
        201,
    );
    let (st, v) = d.try_api(
        "POST",
        &format!("{base}/terminal"),
        Some(r#"{"script":{"path":"/h/z.js"}}"#),
    );
    assert_eq!(st, 422, "a ninth hook on a service: {v}");
    for (body, field) in [
        (
            r#"{"script":{"path":"/h/a.js"},"timeout":30001}"#,
            "/timeout",
        ),
        (r#"{"script":{"path":"../a.js"}}"#, "/script.path"),
        (
            r#"{"script":{"path":"/h/a.js"},"applies_to":{"groups":["nobody"]}}"#,
            "/applies_to.groups",
        ),
    ] {
        let (st, v) = d.try_api("POST", &format!("{base}/http-8080"), Some(body));
        assert_eq!(
            (st, v["data"][0]["instancePath"].as_str()),
            (422, Some(field)),
            "{body}: {v}"
        );
    }
    let (st, _) = d.try_api(
        "POST",
        &format!("{base}/egress"),
        Some(r#"{"script":{"path":"/h/a.js"}}"#),
    );
    assert_eq!(st, 422, "egress takes no hooks");
    let (st, v) = d.try_api(
        "GET",
        &format!("{base}/http-8080/hook_0000000000000000"),
        None,
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (404, Some("HOOK_NOT_FOUND")),
        "{v}"
    );
    let stale = d.try_api_with(
        "POST",
        &format!("{base}/http-8080"),
        Some(r#"{"script":{"path":"/h/a.js"}}"#),
        &["If-Match: file:v1"],
    );
    assert_eq!(stale.0, 412, "{}", stale.1);

    // Removal, one and all; the CLI's --if-match is the document's version.
    let version = d.api("GET", &base, None, 200)["etag"]
        .as_str()
        .unwrap()
        .to_string();
    cli(&["delete", "http-8080", &a, "--if-match", &version]);
    assert_eq!(
        order(&cli(&["list-service", "http-8080"])),
        std::slice::from_ref(&b)
    );
    cli(&["clear-service", "terminal"]);
    cli(&["clear-service", "http-8080"]);
    assert_eq!(cli(&["list"])["hooks"], json!({}));
}
