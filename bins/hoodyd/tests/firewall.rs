//! Per-container firewalls through the API (reference §5.2), enforced in the container's own
//! network namespace: an egress `drop` to a test server's port blocks it, an `allow` above it
//! wins, disabling the allow lets the drop decide, `reset` restores; an ingress `reject`
//! refuses a connection from the host with a TCP reset; rules survive a restart and go with a
//! copy that asks for them (`copy_firewall_rules`), not with one that does not; bad rules get
//! the documented 422. As root.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use hoody_testkit::daemon::Daemon;
use hoody_testkit::free_port;
use serde_json::{Value, json};

/// A tiny HTTP server on the host at `0.0.0.0:port` (the port containers may reach: hoodyd is
/// told it is the proxy's), answering `ok` to every request.
fn test_server(port: u16) {
    let l = TcpListener::bind(("0.0.0.0", port)).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
}

/// curl from inside `id` to the test server: its exit status (0 ok, 28 timed out, 7 refused).
fn reach(d: &Daemon, id: &str, port: u16) -> String {
    let out = d.hoody_out(&[
        "machine",
        "exec",
        id,
        "--",
        "/bin/sh",
        "-c",
        &format!("curl -s -o /dev/null --max-time 2 http://169.254.1.1:{port}/; echo $?"),
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn rules(d: &Daemon, id: &str) -> Value {
    d.api(
        "GET",
        &format!("/api/v1/containers/{id}/firewall/rules"),
        None,
        200,
    )
}

#[test]
fn rules_filter_in_order_survive_restarts_and_go_with_copies() {
    let port = free_port();
    let listen = format!("0.0.0.0:{port}");
    let d = Daemon::with_env(&[], &[("HOODY_PROXY_HTTP", listen.as_str())]);
    test_server(port);
    let project = d.project("hoodytest-firewall");
    let id = d.create(&project, "walled");
    let c = d.settle(&id);
    assert_eq!(c["status"], "running");
    let ip = c["ip"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let base = format!("/api/v1/containers/{id}/firewall");
    assert_eq!(reach(&d, &id, port), "0", "the test server before any rule");
    assert_eq!(rules(&d, &id)["ingress"], json!([]));

    // Egress drop: blocked (silently: a timeout).
    let drop = json!({"action": "drop", "protocol": "tcp", "destination_port": port.to_string()});
    d.api("POST", &format!("{base}/egress"), Some(drop.clone()), 201);
    assert_eq!(reach(&d, &id, port), "28");
    // An allow above it wins.
    d.api("POST", &format!("{base}/reset"), None, 200);
    let allow = json!({"action": "allow", "protocol": "tcp", "destination_port": port.to_string(),
        "destination": "169.254.1.1", "description": "the test server"});
    d.api("POST", &format!("{base}/egress"), Some(allow.clone()), 201);
    let listed = d.api("POST", &format!("{base}/egress"), Some(drop.clone()), 201);
    assert_eq!(listed["egress"][0]["action"], "allow", "{listed}");
    assert_eq!(listed["rule_count"]["egress"], 2);
    assert_eq!(reach(&d, &id, port), "0", "allow is the first match");
    // Disabled, the allow no longer decides.
    d.api(
        "PATCH",
        &format!("{base}/egress"),
        Some(json!({"description": "the test server", "state": "disabled"})),
        200,
    );
    assert_eq!(reach(&d, &id, port), "28");
    // Reset: everything passes again.
    d.api("POST", &format!("{base}/reset"), None, 200);
    assert_eq!(reach(&d, &id, port), "0");

    // Ingress reject: the host's connection to the container's server is reset.
    d.start_echo(&id);
    let host_curl = || {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "curl -s -o /dev/null --max-time 3 http://{ip}:8080/; echo $?"
            ))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while host_curl() != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the echo server never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    d.api(
        "POST",
        &format!("{base}/ingress"),
        Some(json!({"action": "reject", "protocol": "tcp", "destination_port": "8080"})),
        201,
    );
    assert_eq!(host_curl(), "7", "refused with a TCP reset");

    // The rules survive a restart (the monitor installs them before the machine boots) and
    // go with a copy.
    d.api("POST", &format!("{base}/egress"), Some(drop.clone()), 201);
    d.op(&id, "restart");
    assert_eq!(reach(&d, &id, port), "28", "after a restart");
    let copy = d.api(
        "POST",
        &format!("/api/v1/containers/{id}/copy"),
        Some(json!({"target_project_id": project, "copy_firewall_rules": true})),
        202,
    );
    let copy_id = copy["id"].as_str().unwrap().to_string();
    assert_eq!(d.settle(&copy_id)["status"], "running");
    // Without the flag, a copy has no rules (reference §1.6).
    let bare = d.api(
        "POST",
        &format!("/api/v1/containers/{id}/copy"),
        Some(json!({"target_project_id": project})),
        202,
    );
    let bare_id = bare["id"].as_str().unwrap().to_string();
    assert_eq!(d.settle(&bare_id)["status"], "running");
    assert_eq!(
        rules(&d, &bare_id)["rule_count"],
        json!({"ingress": 0, "egress": 0})
    );
    assert_eq!(
        reach(&d, &bare_id, port),
        "0",
        "the plain copy has no firewall"
    );
    let (mine, theirs) = (rules(&d, &id), rules(&d, &copy_id));
    assert_eq!(
        (&mine["ingress"], &mine["egress"]),
        (&theirs["ingress"], &theirs["egress"])
    );
    assert_eq!(reach(&d, &copy_id, port), "28", "the copy's firewall holds");

    // Removal by fields, and the documented errors.
    d.api(
        "DELETE",
        &format!("{base}/egress"),
        Some(json!({"all": true})),
        200,
    );
    assert_eq!(reach(&d, &id, port), "0");
    for (body, field) in [
        (
            json!({"action": "allow", "protocol": "tcp"}),
            "/destination_port",
        ),
        (
            json!({"action": "allow", "protocol": "tcp", "destination_port": "99999"}),
            "/destination_port",
        ),
        (
            json!({"action": "maybe", "protocol": "udp", "destination_port": "53"}),
            "/action",
        ),
        (
            json!({"action": "allow", "protocol": "tcp", "destination_port": "80", "source": "10.0.0.0/40"}),
            "/source",
        ),
    ] {
        let (st, v) = d.try_api("POST", &format!("{base}/ingress"), Some(&body.to_string()));
        assert_eq!(st, 422, "{body}: {v}");
        assert_eq!(v["data"][0]["instancePath"], field, "{v}");
    }
    let (st, _) = d.try_api("POST", &format!("{base}/sideways"), Some("{}"));
    assert_eq!(st, 404);

    // The CLI, in Hoody's spelling: `firewall egress create|toggle|delete`, `fw list`, `reset`.
    let p = port.to_string();
    let rule = [
        "--action",
        "drop",
        "--protocol",
        "tcp",
        "--destination-port",
        p.as_str(),
    ];
    d.hoody(
        &[
            &["firewall", "egress", "create", id.as_str()][..],
            &rule[..],
        ]
        .concat(),
    );
    assert_eq!(reach(&d, &id, port), "28", "the CLI's rule holds");
    d.hoody(
        &[
            &["fw", "egress", "toggle", id.as_str(), "--state", "disabled"][..],
            &rule[..],
        ]
        .concat(),
    );
    assert_eq!(reach(&d, &id, port), "0", "disabled from the CLI");
    let listed: Value = serde_json::from_str(&d.hoody(&["fw", "list", &id, "-o", "json"])).unwrap();
    assert_eq!(listed["egress"][0]["state"], "disabled", "{listed}");
    let table = d.hoody(&["firewall", "list", &id]);
    assert!(
        table.contains("egress (1 rules)") && table.contains("(disabled)"),
        "{table}"
    );
    d.hoody(&["firewall", "egress", "delete", &id, "--all"]);
    assert_eq!(rules(&d, &id)["rule_count"]["egress"], 0);
    d.hoody(&[
        "firewall",
        "ingress",
        "create",
        &id,
        "--action",
        "reject",
        "--protocol",
        "udp",
        "--destination-port",
        "9",
    ]);
    d.hoody(&["firewall", "reset", &id]);
    assert_eq!(
        rules(&d, &id)["rule_count"],
        json!({"ingress": 0, "egress": 0})
    );
}
