//! Containers' egress networks through the API (reference §5.1), end to end with a booted
//! container and a SOCKS5 server the test runs: the container's HTTP request reaches a test
//! server only through that SOCKS server (its log shows it), its DNS goes through it too,
//! credentials are never echoed, stop/start/delete switch it off and on, it survives a
//! restart, `block` lets nothing out, copies carry it only when asked, and bad input gets
//! the documented 422. As root.
//!
//! The test server listens on an address the test adds to the host's `lo`:
//! containers have no path to the host's addresses (only to the ports it exposes), so the
//! only way there is through the upstream proxy, which runs on the host.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use hoody_testkit::daemon::Daemon;
use hoody_testkit::proxy::{DnsServer, ProxyKind, TestProxy};
use serde_json::{Value, json};

/// An address of the host's own (on `lo`), removed on drop.
struct HostAddr {
    ip: Ipv4Addr,
}

impl HostAddr {
    fn new() -> HostAddr {
        let ip = Ipv4Addr::new(203, 0, 113, (std::process::id() % 250 + 1) as u8);
        let ok = Command::new("ip")
            .args(["addr", "add", &format!("{ip}/32"), "dev", "lo"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "add the test's host address {ip}");
        HostAddr { ip }
    }
}

impl Drop for HostAddr {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["addr", "del", &format!("{}/32", self.ip), "dev", "lo"])
            .status();
    }
}

/// An HTTP server answering `egress-ok` to every request.
fn test_server(ip: Ipv4Addr) -> u16 {
    let l = TcpListener::bind((ip, 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 1024];
            let _ = c.read(&mut buf);
            let _ = c.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\negress-ok",
            );
        }
    });
    port
}

/// curl from inside `id`: its exit status and body (`0 egress-ok` when it got through).
fn fetch(d: &Daemon, id: &str, url: &str) -> String {
    let out = d.hoody_out(&[
        "machine",
        "exec",
        id,
        "--",
        "/bin/sh",
        "-c",
        &format!("b=$(curl -s --max-time 3 {url}); echo \"$? $b\""),
    ]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A DNS question for `name` over UDP from inside `id` to 192.0.2.53 (any server: the
/// egress network sends every query to its own servers), with perl: the answer in hex, or
/// `none`.
fn ask(d: &Daemon, id: &str, name: &str) -> String {
    let mut q = vec![0x12u8, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    let hex: String = q.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "use IO::Socket::INET; $s = IO::Socket::INET->new(PeerAddr => '192.0.2.53:53', \
         Proto => 'udp') or die; $s->send(pack('H*', '{hex}')); $r = ''; \
         eval {{ local $SIG{{ALRM}} = sub {{ die }}; alarm 4; $s->recv($r, 1500); alarm 0 }}; \
         print length($r) ? unpack('H*', $r) : 'none'"
    );
    let out = d.hoody_out(&["machine", "exec", id, "--", "perl", "-e", &script]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn network(d: &Daemon, id: &str) -> Value {
    d.api(
        "GET",
        &format!("/api/v1/containers/{id}/network"),
        None,
        200,
    )
}

#[test]
fn egress_goes_through_the_users_proxy_or_nowhere() {
    let host = HostAddr::new();
    let port = test_server(host.ip);
    let url = format!("http://{}:{port}/", host.ip);
    let secret = "hunter2-egress";
    let creds = Some(("hoody", secret));
    let socks = TestProxy::start(ProxyKind::Socks5, creds);
    let dns_ip = Ipv4Addr::new(127, 0, 0, 77);
    let dns = DnsServer::start(
        None,
        SocketAddr::from((dns_ip, 53)),
        Ipv4Addr::new(192, 0, 2, 99),
    );

    let d = Daemon::new();
    let project = d.project("hoodytest-egress");
    let id = d.create(&project, "behind-a-proxy");
    assert_eq!(d.settle(&id)["status"], "running");
    let base = format!("/api/v1/containers/{id}/network");
    assert_eq!(network(&d, &id)["configured"], false);
    assert!(
        !fetch(&d, &id, &url).starts_with("0 "),
        "the test server is out of reach without the proxy"
    );

    // Set: through the SOCKS server, which made the connection.
    let body = json!({"type": "socks5", "proxy": socks.url(creds), "country": "NL",
        "comment": "the test's own SOCKS server", "dns_servers": [dns_ip.to_string()],
        "unknown_field": "ignored"});
    let raw = d.api("PUT", &base, Some(body), 200);
    assert!(
        !raw.to_string().contains(secret),
        "credentials echoed: {raw}"
    );
    assert_eq!(raw["proxy"], format!("socks5://{}", socks.addr));
    assert_eq!(raw["credentials_configured"], true);
    assert_eq!(raw["status"], "running", "{raw}");
    assert_eq!(raw["remote_status"]["is_running"], true);
    assert_eq!(raw["country"], "NL");
    assert_eq!(fetch(&d, &id, &url), "0 egress-ok");
    let want = format!("CONNECT {}:{port}", host.ip);
    assert!(socks.log().contains(&want), "{:?}", socks.log());
    // DNS: through the SOCKS server to the configured server.
    let answer = ask(&d, &id, "through.egress.test");
    assert!(answer.ends_with("c0000263"), "{answer}");
    assert!(dns.log().contains(&"through.egress.test".to_string()));
    assert!(socks.log().contains(&format!("CONNECT {dns_ip}:53")));
    let n = network(&d, &id);
    assert!(!n.to_string().contains(secret));
    assert!(
        n["remote_status"]["bridge_details"]["relayed"]
            .as_u64()
            .unwrap()
            >= 2,
        "{n}"
    );

    // Stop: direct again (and so out of reach); start: through the proxy again.
    let st = d.api("POST", &format!("{base}/stop"), None, 200);
    assert_eq!(
        (&st["status"], &st["is_running"]),
        (&json!("stopped"), &json!(false))
    );
    let seen = socks.log().len();
    assert!(!fetch(&d, &id, &url).starts_with("0 "));
    assert_eq!(
        socks.log().len(),
        seen,
        "nothing through the proxy while stopped"
    );
    let st = d.api("POST", &format!("{base}/start"), None, 200);
    assert_eq!(
        (&st["status"], &st["is_running"]),
        (&json!("running"), &json!(true))
    );
    assert_eq!(fetch(&d, &id, &url), "0 egress-ok");

    // A restart: the monitor starts it before the machine boots.
    d.op(&id, "restart");
    assert_eq!(fetch(&d, &id, &url), "0 egress-ok", "after a restart");

    // The firewall still decides first: its egress rules see where the program sent the
    // packet, not the forwarder it is steered to.
    let fw = format!("/api/v1/containers/{id}/firewall");
    let drop_rule = json!({"action": "drop", "protocol": "tcp",
        "destination": host.ip.to_string(), "destination_port": port.to_string()});
    d.api("POST", &format!("{fw}/egress"), Some(drop_rule), 201);
    let seen = socks.log().len();
    assert!(
        fetch(&d, &id, &url).starts_with("28"),
        "the firewall's drop holds"
    );
    assert_eq!(socks.log().len(), seen);
    d.api("POST", &format!("{fw}/reset"), None, 200);
    assert_eq!(fetch(&d, &id, &url), "0 egress-ok");

    // The CLI, in Hoody's spelling.
    let shown = d.hoody(&["network", "get", &id]);
    assert!(
        shown.contains("credentials") && shown.contains("yes"),
        "{shown}"
    );
    assert!(!shown.contains(secret));

    // Block: nothing gets out, DNS included.
    d.hoody(&["network", "update", &id, "--type", "block"]);
    let n = network(&d, &id);
    assert_eq!(
        (&n["type"], &n["proxy"]),
        (&json!("block"), &Value::Null),
        "{n}"
    );
    assert!(fetch(&d, &id, &url).starts_with("28"), "blocked: a timeout");
    assert_eq!(ask(&d, &id, "blocked.egress.test"), "none");
    assert!(!dns.log().contains(&"blocked.egress.test".to_string()));

    // Copies carry it only when asked.
    let copy = |flag: bool| {
        let c = d.api(
            "POST",
            &format!("/api/v1/containers/{id}/copy"),
            Some(json!({"target_project_id": project, "copy_network_rules": flag})),
            202,
        );
        let cid = c["id"].as_str().unwrap().to_string();
        assert_eq!(d.settle(&cid)["status"], "running");
        cid
    };
    let with = copy(true);
    assert_eq!(network(&d, &with)["type"], "block");
    assert!(
        fetch(&d, &with, &url).starts_with("28"),
        "the copy is blocked too"
    );
    let without = copy(false);
    assert_eq!(network(&d, &without)["configured"], false);

    // Bad input: the documented 422, nothing changed.
    for (body, field) in [
        (json!({}), "/type"),
        (json!({"type": "vpn"}), "/type"),
        (json!({"type": "http"}), "/proxy"),
        (json!({"type": "socks5", "proxy": "http://h:1"}), "/proxy"),
        (
            json!({"type": "block", "dns_servers": ["1.1.1.1", "dns.example"]}),
            "/dns_servers/1",
        ),
        (
            json!({"type": "block", "dns_servers": vec!["1.1.1.1"; 5]}),
            "/dns_servers",
        ),
    ] {
        let (st, e) = d.try_api("PUT", &base, Some(&body.to_string()));
        assert_eq!(st, 422, "{body}: {e}");
        assert_eq!(e["data"][0]["instancePath"], field, "{body}: {e}");
    }
    assert_eq!(network(&d, &id)["type"], "block");
    let (st, e) = d.try_api(
        "POST",
        &format!("/api/v1/containers/{without}/network/start"),
        None,
    );
    assert_eq!(
        (st, e["error"].as_str()),
        (404, Some("NETWORK_NOT_CONFIGURED")),
        "{e}"
    );

    // Delete: no egress network; the host is out of reach again, now directly.
    let gone = d.api("DELETE", &base, None, 200);
    assert_eq!(gone, Value::Null);
    assert_eq!(network(&d, &id)["configured"], false);
    let direct = fetch(&d, &id, &url);
    assert!(!direct.starts_with("0 "), "{direct}");
}
