//! Scoped API tokens against a real hoodyd on TCP (reference §5.8, §5.5): permissions on
//! every route, realms seen through `{realm}.api.{domain}` hosts, IP lists, expiry, disabling,
//! delegation, copies and the token's own view of itself.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use hoody_testkit::daemon::Daemon;
use hoody_testkit::free_port;
use serde_json::{Value, json};

const REALM: &str = "5a5a5a5a5a5a5a5a5a5a5a5a";
const OTHER_REALM: &str = "6b6b6b6b6b6b6b6b6b6b6b6b";

/// One request over TCP as `token`, addressed to `host` (the realm's or the bare host).
struct Tcp {
    addr: String,
}

impl Tcp {
    fn call(
        &self,
        token: &str,
        realm: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let host = realm.map_or_else(
            || "api.localhost".to_string(),
            |r| format!("{r}.api.localhost"),
        );
        let mut c = Command::new("curl");
        c.args([
            "-s",
            "-m",
            "30",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
        ])
        .args(["-H", &format!("Host: {host}")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("http://{}{path}", self.addr));
        if let Some(b) = body {
            c.args(["-H", "content-type: application/json", "--data-binary"])
                .arg(b.to_string());
        }
        let out = c.output().unwrap();
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = s.rsplit_once('\n').unwrap_or(("", "0"));
        (
            code.trim().parse().unwrap_or(0),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    /// A request that must answer `want`; returns the whole response body.
    fn want(
        &self,
        want: u16,
        token: &str,
        realm: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (st, v) = self.call(token, realm, method, path, body);
        assert_eq!(st, want, "{method} {path} (realm {realm:?}): {v}");
        v
    }
}

/// A token made by root over the unix socket: (secret, id).
fn token(d: &Daemon, body: Value) -> (String, String) {
    let t = d.api("POST", "/api/v1/auth/tokens", Some(body), 201);
    (
        t["token"].as_str().unwrap().to_string(),
        t["id"].as_str().unwrap().to_string(),
    )
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v["data"][key]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn scoped_tokens_on_every_route() {
    let addr = format!("127.0.0.1:{}", free_port());
    let d = Daemon::with(&["--listen", &addr]);
    let tcp = Tcp { addr };
    let sid = d.server_id();
    let quiet = |name: &str, realms: Value| {
        json!({"server_id": sid, "name": name, "autostart": false, "hoody_kit": false,
               "realm_ids": realms})
    };
    let pa = d.api(
        "POST",
        "/api/v1/projects/",
        Some(json!({"alias": "hoodytest-tok-a", "realm_ids": [REALM]})),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let pb = d.project("hoodytest-tok-b");
    let a1 = d.api(
        "POST",
        &format!("/api/v1/projects/{pa}/containers"),
        Some(quiet("box-a1", json!([REALM]))),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b1 = d.api(
        "POST",
        &format!("/api/v1/projects/{pb}/containers"),
        Some(quiet("box-b1", json!([]))),
        201,
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    d.settle(&a1);
    d.settle(&b1);

    // Whose permission documents apply, on gets and lists; the documents on request.
    let (st, v) = d.try_api_with(
        "PATCH",
        &format!("/api/v1/projects/{pa}/proxy/permissions/default"),
        Some(r#"{"default":"deny"}"#),
        &["If-Match: file:v0"],
    );
    assert_eq!(st, 200, "{v}");
    let c = d.get(&a1);
    assert_eq!(
        (&c["has_proxy_permissions"], &c["proxy_permissions_scope"]),
        (&json!(true), &json!("project"))
    );
    assert!(
        c.get("proxy_permissions").is_none(),
        "documents only on request"
    );
    assert_eq!(d.get(&b1)["proxy_permissions_scope"], "none");
    let l = d.api(
        "GET",
        &format!("/api/v1/projects/{pa}/containers?include_proxy_permissions=true"),
        None,
        200,
    );
    let embedded = &l["containers"][0]["proxy_permissions"];
    assert_eq!(embedded["project"]["default"], "deny", "{embedded}");
    assert_eq!(embedded["container"], Value::Null);

    // A customer's token: its realm only, never the bare host.
    let (cust, cust_id) = token(
        &d,
        json!({"alias": "hoodytest customer", "permission_template": "external_customer",
               "realm_ids": [REALM], "allow_no_realm": false}),
    );
    let r = Some(REALM);
    let v = tcp.want(403, &cust, None, "GET", "/api/v1/containers/", None);
    assert_eq!(v["error"], "REALM_SCOPE_REQUIRED");
    let v = tcp.want(
        403,
        &cust,
        Some(OTHER_REALM),
        "GET",
        "/api/v1/containers/",
        None,
    );
    assert_eq!(v["error"], "REALM_NOT_ALLOWED");
    let v = tcp.want(200, &cust, r, "GET", "/api/v1/containers/", None);
    assert_eq!(
        ids(&v, "containers"),
        std::slice::from_ref(&a1),
        "only the realm's containers"
    );
    assert_eq!(v["data"]["pagination"]["total"], 1);
    let v = tcp.want(200, &cust, r, "GET", "/api/v1/projects/", None);
    assert_eq!(ids(&v, "projects"), std::slice::from_ref(&pa));
    tcp.want(
        200,
        &cust,
        r,
        "GET",
        &format!("/api/v1/containers/{a1}"),
        None,
    );
    // The other project's container does not exist for it, whatever the verb.
    for (m, p) in [
        ("GET", format!("/api/v1/containers/{b1}")),
        ("POST", format!("/api/v1/containers/{b1}/start")),
        ("DELETE", format!("/api/v1/containers/{b1}")),
        ("GET", format!("/api/v1/containers/{b1}/stats")),
    ] {
        let v = tcp.want(404, &cust, r, m, &p, None);
        assert_eq!(v["error"], "CONTAINER_NOT_FOUND", "{m} {p}");
    }
    let v = tcp.want(
        404,
        &cust,
        r,
        "GET",
        &format!("/api/v1/projects/{pb}/containers"),
        None,
    );
    assert_eq!(v["error"], "PROJECT_NOT_FOUND");
    // What it creates carries the realm; it may not create projects.
    let c = tcp.want(
        201,
        &cust,
        r,
        "POST",
        &format!("/api/v1/projects/{pa}/containers"),
        Some(quiet("box-a2", json!([]))),
    );
    assert_eq!(c["data"]["realm_ids"], json!([REALM]));
    assert_eq!(c["data"]["hoody_kit"], false);
    let v = tcp.want(
        403,
        &cust,
        r,
        "POST",
        "/api/v1/projects",
        Some(json!({"alias": "x"})),
    );
    assert_eq!(v["error"], "INSUFFICIENT_PERMISSIONS");
    // Routes that cannot keep realms apart are closed through a realm.
    let v = tcp.want(403, &cust, r, "GET", "/api/v1/proxy/aliases", None);
    assert!(matches!(
        v["error"].as_str(),
        Some("INSUFFICIENT_PERMISSIONS" | "REALM_UNSUPPORTED")
    ));
    // Its own view of itself.
    let me = tcp.want(200, &cust, r, "GET", "/api/v1/auth/tokens/me", None);
    assert_eq!(me["data"]["token"]["id"], cust_id.as_str());
    assert_eq!(me["data"]["restrictions"]["active_realm_id"], REALM);
    assert_eq!(me["data"]["restrictions"]["requires_realm_scope"], true);
    // It cannot mint tokens (the template has no create_tokens).
    let v = tcp.want(
        403,
        &cust,
        r,
        "POST",
        "/api/v1/auth/tokens",
        Some(json!({})),
    );
    assert_eq!(v["error"], "INSUFFICIENT_PERMISSIONS");

    // Realms: root sees every realm with what carries it; a dev_team token through a realm's
    // host sees only that one; the customer's template has no `resources.realms`.
    let all = d.api("GET", "/api/v1/realms/?include_usage=true", None, 200);
    assert!(
        all["realm_ids"].as_array().unwrap().contains(&json!(REALM)),
        "{all}"
    );
    let u = &all["usage"][REALM];
    assert_eq!(
        (&u["projects"], &u["containers"]),
        (&json!(1), &json!(2)),
        "{all}"
    );
    assert!(u["auth_tokens"].as_u64().unwrap() >= 1, "{all}");
    let (dev, _) = token(
        &d,
        json!({"alias": "hoodytest dev", "permission_template": "dev_team"}),
    );
    let v = tcp.want(200, &dev, Some(OTHER_REALM), "GET", "/api/v1/realms/", None);
    assert_eq!(v["data"]["realm_ids"], json!([OTHER_REALM]));
    let v = tcp.want(200, &dev, None, "GET", "/api/v1/realms", None);
    assert!(
        v["data"]["realm_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(REALM))
    );
    tcp.want(403, &cust, r, "GET", "/api/v1/realms/", None);
    let listed = d.hoody(&["realms", "list", "--include-usage"]);
    assert!(
        listed.contains(&format!("{REALM}  1 projects, 2 containers")),
        "{listed}"
    );

    // Aliases through a realm: those of its containers only.
    let alias = |c: &str, name: &str| json!({"container_id": c, "program": "http", "port": 8080, "alias": name});
    let mine = tcp.want(
        201,
        &dev,
        r,
        "POST",
        "/api/v1/proxy/aliases",
        Some(alias(&a1, "hoodytest-tok-mine")),
    );
    tcp.want(
        404,
        &dev,
        r,
        "POST",
        "/api/v1/proxy/aliases",
        Some(alias(&b1, "hoodytest-tok-x")),
    );
    let theirs = d.api(
        "POST",
        "/api/v1/proxy/aliases",
        Some(alias(&b1, "hoodytest-tok-theirs")),
        201,
    );
    let seen = tcp.want(200, &dev, r, "GET", "/api/v1/proxy/aliases/", None);
    let names: Vec<&str> = seen["data"]["aliases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alias"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hoodytest-tok-mine"], "{seen}");
    let theirs_id = theirs["id"].as_str().unwrap();
    for m in ["GET", "DELETE"] {
        let v = tcp.want(
            404,
            &dev,
            r,
            m,
            &format!("/api/v1/proxy/aliases/{theirs_id}"),
            None,
        );
        assert_eq!(v["error"], "ALIAS_NOT_FOUND", "{v}");
    }
    let mine_id = mine["data"]["id"].as_str().unwrap();
    tcp.want(
        200,
        &dev,
        r,
        "GET",
        &format!("/api/v1/proxy/aliases/{mine_id}"),
        None,
    );
    assert_eq!(
        d.api("GET", "/api/v1/proxy/aliases", None, 200)["aliases"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // The event stream through a realm: its containers' events only.
    let stream = {
        let (addr, dev) = (tcp.addr.clone(), dev.clone());
        std::thread::spawn(move || {
            let out = Command::new("curl")
                .args(["-s", "-N", "-m", "8"])
                .args(["-H", &format!("Host: {REALM}.api.localhost")])
                .args(["-H", &format!("Authorization: Bearer {dev}")])
                .arg(format!("http://{addr}/api/v1/events/stream"))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    // Two rounds of changes, in case the stream took long to open on a busy machine.
    for wait in [1500, 2500] {
        std::thread::sleep(std::time::Duration::from_millis(wait));
        for c in [&a1, &b1] {
            d.api(
                "PUT",
                &format!("/api/v1/containers/{c}"),
                Some(json!({"comment": format!("touched after {wait} ms")})),
                200,
            );
        }
    }
    let events = stream.join().unwrap();
    assert!(events.contains(a1.as_str()), "{events}");
    assert!(
        !events.contains(b1.as_str()),
        "another realm's event leaked: {events}"
    );

    // Read-only: sees everything on the bare host, changes nothing.
    let (ro, _) = token(&d, json!({"permission_template": "read_only"}));
    let v = tcp.want(200, &ro, None, "GET", "/api/v1/containers", None);
    assert!(v["data"]["pagination"]["total"].as_u64().unwrap() >= 3);
    for (m, p, b) in [
        ("POST", format!("/api/v1/containers/{a1}/start"), None),
        (
            "PUT",
            format!("/api/v1/containers/{a1}"),
            Some(json!({"comment": "x"})),
        ),
        (
            "POST",
            "/api/v1/projects".to_string(),
            Some(json!({"alias": "hoodytest-ro"})),
        ),
        ("DELETE", format!("/api/v1/containers/{b1}"), None),
    ] {
        let v = tcp.want(403, &ro, None, m, &p, b);
        assert_eq!(v["error"], "INSUFFICIENT_PERMISSIONS", "{m} {p}");
        assert!(
            v["message"].as_str().unwrap().contains("containers.")
                || v["message"].as_str().unwrap().contains("projects."),
            "{v}"
        );
    }

    // Addresses.
    let (far, _) = token(&d, json!({"ip_whitelist": "192.0.2.0/24"}));
    let v = tcp.want(403, &far, None, "GET", "/api/v1/containers", None);
    assert_eq!(v["error"], "IP_NOT_ALLOWED");
    let (near, _) = token(&d, json!({"ip_whitelist": ["192.0.2.0/24", "127.0.0.1"]}));
    tcp.want(200, &near, None, "GET", "/api/v1/containers", None);
    let v = d.try_api(
        "POST",
        "/api/v1/auth/tokens",
        Some(r#"{"ip_whitelist":"10.0.0.0/40"}"#),
    );
    assert_eq!(v.0, 422, "{}", v.1);

    // Expiry and disabling.
    let soon = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    let (brief, _) = token(&d, json!({"expires_at": soon}));
    tcp.want(200, &brief, None, "GET", "/api/v1/containers", None);
    let (st, v) = d.try_api(
        "POST",
        "/api/v1/auth/tokens",
        Some(r#"{"expires_at":"2001-01-01T00:00:00Z"}"#),
    );
    assert_eq!(st, 422, "an expiry in the past: {v}");
    let (full, full_id) = token(
        &d,
        json!({"alias": "hoodytest full", "expires_at": "tomorrow"}),
    );
    tcp.want(200, &full, None, "GET", "/api/v1/servers", None);
    d.api(
        "PUT",
        &format!("/api/v1/auth/tokens/{full_id}"),
        Some(json!({"is_enabled": false})),
        200,
    );
    let v = tcp.want(401, &full, None, "GET", "/api/v1/servers", None);
    assert_eq!(v["error"], "TOKEN_DISABLED");
    d.api(
        "PUT",
        &format!("/api/v1/auth/tokens/{full_id}"),
        Some(json!({"is_enabled": true})),
        200,
    );
    tcp.want(200, &full, None, "GET", "/api/v1/servers", None);
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        <= soon
    {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let v = tcp.want(401, &brief, None, "GET", "/api/v1/containers", None);
    assert_eq!(v["error"], "TOKEN_EXPIRED");

    // Delegation: a child never holds more than its parent, and sees only its own tokens.
    let child = tcp.want(
        201,
        &full,
        None,
        "POST",
        "/api/v1/auth/tokens",
        Some(
            json!({"alias": "hoodytest child", "permissions": {"containers": {"read": true}},
                    "realm_ids": [REALM]}),
        ),
    );
    let child_secret = child["data"]["token"].as_str().unwrap().to_string();
    let child_id = child["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(child["data"]["created_by_token_id"], full_id.as_str());
    assert_eq!(child["data"]["delegation_depth"], 1);
    assert_eq!(child["data"]["permissions"]["containers"]["create"], false);
    let v = tcp.want(200, &child_secret, r, "GET", "/api/v1/containers", None);
    assert_eq!(v["data"]["pagination"]["total"], 2, "a1 and a2: {v}");
    let v = tcp.want(
        403,
        &child_secret,
        r,
        "POST",
        &format!("/api/v1/containers/{a1}/stop"),
        None,
    );
    assert_eq!(v["error"], "INSUFFICIENT_PERMISSIONS");
    let grand = tcp.call(
        &child_secret,
        r,
        "POST",
        "/api/v1/auth/tokens",
        Some(json!({})),
    );
    assert_eq!(grand.0, 403, "no create_tokens: {}", grand.1);
    let listed = tcp.want(200, &full, None, "GET", "/api/v1/auth/tokens", None);
    let mut seen: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    seen.sort_unstable();
    let mut expect = vec![full_id.as_str(), child_id.as_str()];
    expect.sort_unstable();
    assert_eq!(seen, expect, "a token lists itself and what it made");
    tcp.want(
        404,
        &full,
        None,
        "GET",
        &format!("/api/v1/auth/tokens/{cust_id}"),
        None,
    );
    // A realm the parent does not have cannot be given.
    let (rp, _) = token(&d, json!({"realm_ids": [REALM]}));
    let v = tcp.want(
        403,
        &rp,
        Some(REALM),
        "POST",
        "/api/v1/auth/tokens",
        Some(json!({"realm_ids": [OTHER_REALM]})),
    );
    assert_eq!(v["error"], "REALM_NOT_ALLOWED");

    // Realms of a token, copies and templates.
    let t = d.api(
        "POST",
        &format!("/api/v1/auth/tokens/{child_id}/add-realm"),
        Some(json!({"realm_id": OTHER_REALM})),
        200,
    );
    assert_eq!(t["realm_ids"], json!([REALM, OTHER_REALM]));
    let t = d.api(
        "POST",
        &format!("/api/v1/auth/tokens/{child_id}/remove-realm"),
        Some(json!({"realm_id": REALM})),
        200,
    );
    assert_eq!(t["realm_ids"], json!([OTHER_REALM]));
    let copy = d.api(
        "POST",
        &format!("/api/v1/auth/tokens/{cust_id}/copy/"),
        Some(json!({})),
        201,
    );
    assert_eq!(copy["alias"], "hoodytest customer copy");
    assert_eq!(copy["realm_ids"], json!([REALM]));
    let v = tcp.want(
        200,
        copy["token"].as_str().unwrap(),
        r,
        "GET",
        "/api/v1/containers",
        None,
    );
    assert_eq!(v["data"]["pagination"]["total"], 2);
    let templates = d.api("GET", "/api/v1/auth/tokens/templates", None, 200);
    assert_eq!(templates.as_array().unwrap().len(), 5);

    // Project permissions: a token with no permissions of its own, granted project B.
    let (member, member_id) = token(&d, json!({"alias": "hoodytest member", "permissions": {}}));
    tcp.want(403, &member, None, "GET", "/api/v1/containers", None);
    let grant = d.api(
        "POST",
        &format!("/api/v1/projects/{pb}/permissions/"),
        Some(json!({"user_id": member_id, "permission_level": "read"})),
        201,
    );
    let gid = grant["id"].as_str().unwrap().to_string();
    let (st, v) = d.try_api(
        "POST",
        &format!("/api/v1/projects/{pb}/permissions"),
        Some(&json!({"user_id": member_id, "permission_level": "edit"}).to_string()),
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (409, Some("PERMISSION_EXISTS")),
        "{v}"
    );
    let (st, v) = d.try_api(
        "POST",
        &format!("/api/v1/projects/{pb}/permissions"),
        Some(r#"{"user_id":"0123456789abcdef01234567","permission_level":"read"}"#),
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (404, Some("USER_NOT_FOUND")),
        "{v}"
    );
    let listed = d.api(
        "GET",
        &format!("/api/v1/projects/{pb}/permissions"),
        None,
        200,
    );
    assert_eq!(listed["pagination"]["total"], 1);
    // The CLI in Hoody's spelling, as JSON and as YAML.
    let by_cli: Value =
        serde_json::from_str(&d.hoody(&["projects", "permissions", "list", &pb, "--json"]))
            .unwrap();
    assert_eq!(by_cli["permissions"][0]["user_id"], member_id.as_str());
    let yaml = d.hoody(&["auth", "get", &member_id, "-o", "yaml"]);
    assert!(yaml.contains(&format!("id: {member_id}\n")), "{yaml}");
    assert!(yaml.contains("alias: \"hoodytest member\"\n"), "{yaml}");
    let v = tcp.want(200, &member, None, "GET", "/api/v1/containers", None);
    assert_eq!(
        ids(&v, "containers"),
        std::slice::from_ref(&b1),
        "only the granted project's"
    );
    let v = tcp.want(200, &member, None, "GET", "/api/v1/projects", None);
    assert_eq!(ids(&v, "projects"), std::slice::from_ref(&pb));
    tcp.want(
        200,
        &member,
        None,
        "GET",
        &format!("/api/v1/containers/{b1}"),
        None,
    );
    tcp.want(
        403,
        &member,
        None,
        "GET",
        &format!("/api/v1/containers/{a1}"),
        None,
    );
    let note = Some(json!({"comment": "hoodytest member"}));
    tcp.want(
        403,
        &member,
        None,
        "PUT",
        &format!("/api/v1/containers/{b1}"),
        note.clone(),
    );
    d.api(
        "PUT",
        &format!("/api/v1/projects/{pb}/permissions/{gid}"),
        Some(json!({"permission_level": "edit"})),
        200,
    );
    tcp.want(
        200,
        &member,
        None,
        "PUT",
        &format!("/api/v1/containers/{b1}"),
        note,
    );
    tcp.want(
        403,
        &member,
        None,
        "DELETE",
        &format!("/api/v1/containers/{b1}"),
        None,
    );
    tcp.want(
        403,
        &member,
        None,
        "POST",
        &format!("/api/v1/projects/{pb}/permissions"),
        Some(json!({})),
    );
    d.api(
        "DELETE",
        &format!("/api/v1/projects/{pb}/permissions/{gid}"),
        None,
        200,
    );
    tcp.want(
        403,
        &member,
        None,
        "GET",
        &format!("/api/v1/containers/{b1}"),
        None,
    );

    // A leaf token: no re-delegation, no vault, never permanent; an explicit grant of what
    // it strips is refused.
    let leaf = d.api(
        "POST",
        "/api/v1/auth/tokens",
        Some(json!({"deny_reauthorization": true})),
        201,
    );
    assert_eq!(leaf["permissions"]["resources"]["create_tokens"], false);
    assert_eq!(
        leaf["permissions"]["containers"]["create"], true,
        "the rest kept"
    );
    assert!(
        leaf["expires_at"].is_string(),
        "a leaf token expires: {leaf}"
    );
    let (st, v) = d.try_api(
        "POST",
        "/api/v1/auth/tokens",
        Some(r#"{"deny_reauthorization":true,"permissions":{"resources":{"create_tokens":true}}}"#),
    );
    assert_eq!(st, 400, "{v}");

    // Revocation.
    d.api(
        "DELETE",
        &format!("/api/v1/auth/tokens/{cust_id}"),
        None,
        200,
    );
    let v = tcp.want(401, &cust, r, "GET", "/api/v1/containers", None);
    assert_eq!(v["error"], "INVALID_TOKEN");
}
