//! `hoody projects proxy ...` against a real hoodyd: the CLI's permission commands go through
//! the Client's permission-document methods (hoody_api::client::DocOwner), versions are read
//! when not given and checked when given. As root.
#![allow(clippy::unwrap_used)]

use hoody_testkit::daemon::Daemon;
use serde_json::Value;

fn perm(d: &Daemon, project: &str, args: &[&str]) -> Value {
    let mut all = vec!["projects", "proxy", "--project", project];
    all.extend_from_slice(args);
    serde_json::from_str(&d.hoody(&all)).unwrap()
}

#[test]
fn project_permission_documents_through_the_cli() {
    let d = Daemon::new();
    let p = d.project("hoodytest-perm-cli");

    // No --if-match: the CLI reads the current version first.
    let v = perm(
        &d,
        &p,
        &[
            "groups",
            "ip",
            "--group-name",
            "office",
            "--range",
            "203.0.113.0/24",
        ],
    );
    assert_eq!(v["etag"], "file:v1", "{v}");
    assert_eq!(v["groups"]["office"]["kind"], "ip", "{v}");
    assert_eq!(v["groups"]["office"]["range"], "203.0.113.0/24", "{v}");
    let v = perm(
        &d,
        &p,
        &[
            "groups",
            "permissions",
            "--group-name",
            "office",
            "--program",
            "terminal",
            "--access",
            "true",
        ],
    );
    assert_eq!(v["etag"], "file:v2", "{v}");
    let v = perm(&d, &p, &["default", "--default", "deny"]);
    assert_eq!(v["default"], "deny", "{v}");
    let v = perm(
        &d,
        &p,
        &["state", "--enable-proxy", "false", "--if-match", "file:v3"],
    );
    assert_eq!(v["enable_proxy"], false, "{v}");

    // A stale version is refused (412 PRECONDITION_FAILED), naming the current one.
    let out = d.hoody_out(&[
        "projects",
        "proxy",
        "--project",
        &p,
        "default",
        "--default",
        "allow",
        "--if-match",
        "file:v1",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("PRECONDITION_FAILED") && err.contains("file:v4"),
        "{err}"
    );

    let v = perm(&d, &p, &["permissions", "get"]);
    assert_eq!(v["etag"], "file:v4", "{v}");
    assert_eq!(v["enable_proxy"], false, "{v}");
    let v = perm(
        &d,
        &p,
        &[
            "groups",
            "permissions",
            "--group-name",
            "office",
            "--access",
            "clear",
        ],
    );
    assert_eq!(v["etag"], "file:v5", "{v}");
    let v = perm(&d, &p, &["groups", "delete", "--group-name", "office"]);
    assert!(v["groups"].get("office").is_none(), "{v}");
    perm(&d, &p, &["permissions", "delete"]);
}
