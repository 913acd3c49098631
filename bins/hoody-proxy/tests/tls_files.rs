//! hoody-proxy with a certificate from files (`--tls-cert`, `--tls-key`), as root, in front of
//! a real hoodyd: clients that trust the certificate's CA reach the API through `api.{apex}`
//! over HTTPS, by HTTP/1.1 and by HTTP/2 (ALPN), and no local CA is made; a certificate path
//! that does not exist stops the proxy with an error naming it.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoody_proxy::hostname::Domains;
use hoody_testkit::daemon::{Daemon, bin};
use hoody_testkit::free_port;

const APEX: &str = "hoody.test";

struct Proxy(Child);

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `curl` over HTTPS to `api.{APEX}` on `port`, trusting `ca`: (HTTP version, status, body).
fn curl(port: u16, ca: &std::path::Path, token: &str, http: &str) -> (String, u16, String) {
    let out = Command::new("curl")
        .args([
            "-s",
            http,
            "--max-time",
            "10",
            "-w",
            "\n%{http_version} %{http_code}",
        ])
        .arg("--cacert")
        .arg(ca)
        .args(["--resolve", &format!("api.{APEX}:{port}:127.0.0.1")])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("https://api.{APEX}:{port}/api/v1/servers"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, tail) = text.rsplit_once('\n').unwrap_or(("", &text));
    let (version, code) = tail.split_once(' ').unwrap_or(("", "0"));
    (
        version.to_string(),
        code.parse().unwrap_or(0),
        body.to_string(),
    )
}

#[test]
fn a_certificate_from_files_serves_http1_and_http2() {
    let d = Daemon::with(&["--domain", APEX]);
    let token = d.api(
        "POST",
        "/api/v1/auth/tokens",
        Some(serde_json::json!({"alias": "hoodytest-tlsfiles"})),
        201,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    // A CA and a certificate made elsewhere (here by the proxy's own helper, in a directory the
    // proxy is not told about): the files are all it gets.
    let elsewhere = d.path("issued");
    let domains = Domains::new(APEX, "node-1").unwrap();
    let (cert, key) = hoody_proxy::tls::ensure_local_ca(&elsewhere, &domains).unwrap();
    let ca = elsewhere.join("ca.pem");
    let unused_dir = d.path("proxy-tls");
    let port = free_port();
    let log = d.path("proxy.log");
    let _p = Proxy(
        Command::new(bin("hoody-proxy"))
            .args(["--domain", APEX, "--dns", "none"])
            .arg("--hoodyd-socket")
            .arg(d.socket())
            .args(["--http", "none", "--https", &format!("127.0.0.1:{port}")])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .arg("--tls-dir")
            .arg(&unused_dir)
            .arg("--log-dir")
            .arg(d.path("proxy-logs"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (version, code, body) = curl(port, &ca, &token, "--http1.1");
        if code == 200 {
            assert_eq!(version, "1.1");
            assert!(body.contains("\"name\":\"node-1\""), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no answer over HTTPS: {code} {body}; {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (version, code, body) = curl(port, &ca, &token, "--http2");
    assert_eq!((version.as_str(), code), ("2", 200), "{body}");
    assert!(body.contains("\"name\":\"node-1\""), "{body}");
    assert!(
        !unused_dir.join("ca.pem").exists(),
        "a local CA was made although a certificate was given"
    );
}

#[test]
fn a_missing_certificate_file_is_named() {
    let d = Daemon::with(&["--domain", APEX]);
    let missing = d.path("no-such-cert.pem");
    let out = Command::new(bin("hoody-proxy"))
        .args(["--domain", APEX, "--dns", "none"])
        .arg("--hoodyd-socket")
        .arg(d.socket())
        .args(["--http", "none"])
        .args(["--https", &format!("127.0.0.1:{}", free_port())])
        .arg("--tls-cert")
        .arg(&missing)
        .arg("--tls-key")
        .arg(&missing)
        .arg("--log-dir")
        .arg(d.path("proxy-logs"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&missing.display().to_string()), "{err}");
}
