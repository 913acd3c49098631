//! Containers talk through URLs, and the Kit has no local back door: two booted containers
//! (A and B, each with its Kit), hoodyd and a hoody-proxy that the containers reach (its
//! listener on every address, its resolver for the pool), under the default `localhost`
//! apex. From inside A: B's `http-8080` and `terminal-1` URLs, B's permission document
//! applied to A as to anyone, A's address in B's access log, `hoody` inside A with and
//! without a token; A's own Kit ports refused to every local user, the rule out of root's
//! reach; the host's other ports out of reach. As root.
#![allow(clippy::unwrap_used)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoody_testkit::daemon::{Daemon, bin};
use hoody_testkit::free_port;
use serde_json::{Value, json};

const APEX: &str = "localhost";

/// A child process killed when dropped (also when a test panics halfway through its setup).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Setup {
    // Dropped first: the proxy, then the daemon (which deletes the containers).
    _proxy: Killed,
    d: Daemon,
    http: u16,
    https: u16,
    project: String,
    a: String,
    b: String,
    a_ip: String,
}

impl Setup {
    fn new() -> Setup {
        let (http, https, dns) = (free_port(), free_port(), free_port());
        let http_addr = format!("0.0.0.0:{http}");
        let https_addr = format!("0.0.0.0:{https}");
        let dns_addr = format!("169.254.1.1:{dns}");
        let d = Daemon::with_env(
            &["--domain", APEX],
            &[
                ("HOODY_PROXY_HTTP", http_addr.as_str()),
                ("HOODY_PROXY_HTTPS", https_addr.as_str()),
                ("HOODY_PROXY_DNS", dns_addr.as_str()),
            ],
        );
        let proxy = Killed(
            Command::new(bin("hoody-proxy"))
                .args([
                    "--domain",
                    APEX,
                    "--http",
                    &http_addr,
                    "--https",
                    &https_addr,
                ])
                .args(["--dns", &dns_addr])
                .arg("--tls-dir")
                .arg(d.path("tls"))
                .arg("--hoodyd-socket")
                .arg(d.socket())
                .arg("--log-dir")
                .arg(d.path("proxy-logs"))
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(d.path("proxy.log")).unwrap())
                .spawn()
                .unwrap(),
        );
        let project = d.project("hoodytest-hairpin");
        let a = d.create_with(&project, "box-a", json!({"hoody_kit": true}));
        let b = d.create_with(&project, "box-b", json!({"hoody_kit": true}));
        let ca = d.settle(&a);
        assert_eq!(ca["status"], "running", "{ca}");
        assert_eq!(d.settle(&b)["status"], "running");
        let a_ip = ca["ip"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        // B serves a page on 8080: the echo server, copied in and run as a transient unit.
        d.start_echo(&b);
        let s = Setup {
            _proxy: proxy,
            d,
            http,
            https,
            project,
            a,
            b,
            a_ip,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while s.host_curl(&s.url(&s.b, "http-8080", "/")).0 != 200 {
            assert!(
                Instant::now() < deadline,
                "B's page never answered through the proxy: {}",
                std::fs::read_to_string(s.d.path("proxy.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        s
    }

    fn host(&self, id: &str, service: &str) -> String {
        format!("{}-{id}-{service}.node-1.containers.{APEX}", self.project)
    }

    fn url(&self, id: &str, service: &str, path: &str) -> String {
        format!("http://{}:{}{path}", self.host(id, service), self.http)
    }

    /// curl on the host: (status, body). `*.localhost` is loopback for curl.
    fn host_curl(&self, url: &str) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", url])
            .output()
            .unwrap();
        split_status(&String::from_utf8_lossy(&out.stdout))
    }

    /// A shell command inside container `id` as root (the machine layer, not the Kit);
    /// (exit status, stdout + stderr).
    fn sh(&self, id: &str, cmd: &str) -> (i32, String) {
        let out = self
            .d
            .hoody_out(&["machine", "exec", id, "--", "/bin/sh", "-c", cmd]);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }

    /// curl inside A: (status, body).
    fn curl_in_a(&self, args: &str) -> (u16, String) {
        let (_, out) = self.sh(
            &self.a,
            &format!("curl -s --max-time 10 -w '\\n%{{http_code}}' {args}"),
        );
        split_status(&out)
    }

    /// Runs `command` in A's terminal, as a person inside A would (the Kit's processes have
    /// the container's environment: `HOODY_API_URL`, `HOODY_CONTAINER_ID`); reached from the
    /// host through the proxy. Returns the execute response.
    fn run_in_a_terminal(&self, command: &str) -> Value {
        let body = json!({"command": command, "timeout": 60}).to_string();
        let out = Command::new("curl")
            .args(["-s", "--max-time", "90", "-X", "POST", "-d", &body])
            .arg(self.url(&self.a, "terminal-1", "/api/v1/terminal/execute"))
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)))
    }
}

fn split_status(s: &str) -> (u16, String) {
    let (body, code) = s.rsplit_once('\n').unwrap_or(("", s));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn eventually(what: &str, want: u16, f: impl Fn() -> u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = f();
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {got}, wanted {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn containers_talk_through_urls_and_the_kit_has_no_back_door() {
    let s = Setup::new();
    through_urls(&s);
    names_resolve_to_the_proxy(&s);
    hoody_inside(&s);
    no_back_door(&s);
    host_stays_closed(&s);
    permissions_and_logs_apply(&s);
}

/// B's page and B's terminal from inside A, by the URL a person on the host uses.
fn through_urls(s: &Setup) {
    let page = s.url(&s.b, "http-8080", "/hello");
    let (st, from_host) = s.host_curl(&page);
    assert_eq!(st, 200, "{from_host}");
    let (st, from_a) = s.curl_in_a(&page);
    assert_eq!(st, 200, "from A: {from_a}");
    assert_eq!(from_a, from_host, "B's page, from A as from the host");
    assert!(from_a.contains("hoody-echo"), "B's echo page: {from_a}");
    // And over HTTPS (the proxy's local CA, copied into A as a person would install it).
    let ca = std::fs::read(s.d.path("tls").join("ca.pem")).unwrap();
    std::fs::write(
        s.d.pool()
            .join("containers")
            .join(&s.a)
            .join("root/hoody-ca.pem"),
        ca,
    )
    .unwrap();
    let secure = format!("https://{}:{}/hello", s.host(&s.b, "http-8080"), s.https);
    let (st, body) = s.curl_in_a(&format!("--cacert /root/hoody-ca.pem {secure}"));
    assert_eq!(
        (st, body.as_str()),
        (200, from_host.as_str()),
        "over HTTPS from A"
    );
    let exec = s.url(&s.b, "terminal-1", "/api/v1/terminal/execute");
    let (st, out) = s.curl_in_a(&format!(
        "-X POST -d '{{\"command\":\"cat /etc/hostname\"}}' {exec}"
    ));
    assert_eq!(st, 200, "{out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["stdout"], "box-b\n", "B's output: {v}");
}

/// Inside A the platform's names resolve to the proxy (through the pool's resolver), and a
/// client that asks DNS reaches B through the gateway.
fn names_resolve_to_the_proxy(s: &Setup) {
    for name in [s.host(&s.b, "terminal-1"), format!("api.{APEX}")] {
        let (code, out) = s.sh(&s.a, &format!("getent ahostsv4 {name}"));
        assert_eq!(code, 0, "{name}: {out}");
        assert!(out.starts_with("169.254.1.1 "), "{name}: {out}");
    }
    let (st, body) = s.curl_in_a(&format!(
        "-H 'Host: {}' http://169.254.1.1:{}/x",
        s.host(&s.b, "http-8080"),
        s.http
    ));
    assert_eq!(st, 200, "{body}");
}

/// `hoody` inside A: credential-less until given a token; with one, the API and B's terminal.
fn hoody_inside(s: &Setup) {
    let r = s.run_in_a_terminal("hoody containers list --json");
    assert_ne!(r["exit_code"], 0, "{r}");
    let err = r["stderr"].as_str().unwrap_or_default();
    assert!(
        err.contains("MISSING_TOKEN") && err.contains("HOODY_TOKEN"),
        "{r}"
    );
    let token =
        s.d.hoody(&["tokens", "create", "--alias", "hoodytest-inside"]);
    let token = token.trim();
    let r = s.run_in_a_terminal(&format!("HOODY_TOKEN={token} hoody containers list --json"));
    assert_eq!(r["exit_code"], 0, "{r}");
    let out = r["stdout"].as_str().unwrap();
    assert!(out.contains(&s.a) && out.contains(&s.b), "{out}");
    let r = s.run_in_a_terminal(&format!(
        "HOODY_TOKEN={token} hoody terminal sessions exec -c {} --command 'cat /etc/hostname'",
        s.b
    ));
    assert_eq!(r["exit_code"], 0, "{r}");
    assert_eq!(r["stdout"], "box-b\n", "{r}");
    // Without -c the container itself (HOODY_CONTAINER_ID).
    let r = s.run_in_a_terminal(&format!(
        "HOODY_TOKEN={token} hoody terminal exec --command 'echo $HOODY_CONTAINER_ID'"
    ));
    assert_eq!(r["stdout"], format!("{}\n", s.a), "{r}");
}

/// Every Kit port of A refuses local connections, root's and nobody's, on 127.0.0.1, ::1 and
/// A's own address; the proxy still reaches them; root inside cannot lift the rule.
fn no_back_door(s: &Setup) {
    let mut ports: Vec<u16> = hoody_kit::ports::Kit::ALL
        .iter()
        .map(|k| hoody_kit::ports::kit_port(*k))
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let probe = format!(
        "for p in {}; do for h in 127.0.0.1 '[::1]' {}; do \
         curl -s -o /dev/null --max-time 5 http://$h:$p/; echo \"$h:$p $?\"; done; done",
        list.join(" "),
        s.a_ip
    );
    for who in ["", "setpriv --reuid=nobody --regid=nogroup --clear-groups "] {
        let (_, out) = s.sh(
            &s.a,
            &format!("{who}sh -c '{}'", probe.replace('\'', "'\\''")),
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), ports.len() * 3, "{out}");
        for l in lines {
            // 7: connection refused (a reset), at once.
            assert!(l.ends_with(" 7"), "{who:?}: {l} is not refused:\n{out}");
        }
    }
    // The Kit does listen: the proxy (from the gateway) reaches A's terminal.
    let (st, _) = s.host_curl(&s.url(&s.a, "terminal-1", "/api/v1/terminal/health"));
    assert_ne!(st, 0);
    assert_ne!(st, 502, "A's terminal unreachable through the proxy");
    // Root inside A (its user namespace and full capabilities there) cannot remove the rule.
    let pid = s.d.pid1(&s.a).unwrap().to_string();
    let flush = Command::new("nsenter")
        .args([
            "-t", &pid, "-n", "-U", "-S", "0", "-G", "0", "nft", "flush", "ruleset",
        ])
        .output()
        .unwrap();
    assert!(
        !flush.status.success(),
        "root inside flushed the rules: {}",
        String::from_utf8_lossy(&flush.stdout)
    );
    let listed = Command::new("nsenter")
        .args([
            "-t",
            &pid,
            "-n",
            "nft",
            "list",
            "table",
            "inet",
            &s.d.net_name,
        ])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("reject with tcp reset"), "{listed}");
    let (_, out) = s.sh(
        &s.a,
        "curl -s -o /dev/null --max-time 5 http://127.0.0.1:76/; echo $?",
    );
    assert_eq!(out.trim(), "7", "{out}");
}

/// From A only the proxy's ports of the host answer: a listener the test opens on the host
/// does not.
fn host_stays_closed(s: &Setup) {
    let l = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (_, out) = s.sh(
        &s.a,
        &format!("curl -s -o /dev/null --max-time 2 http://169.254.1.1:{port}/; echo $?"),
    );
    assert_ne!(out.trim(), "0", "the host's port {port} answered A: {out}");
    assert_ne!(
        out.trim(),
        "7",
        "the host's port {port} is refused, not dropped: {out}"
    );
    let (_, out) = s.sh(
        &s.a,
        &format!(
            "curl -s -o /dev/null --max-time 5 -H 'Host: api.{APEX}' http://169.254.1.1:{}/api/v1/health; echo $?",
            s.http
        ),
    );
    assert_eq!(out.trim(), "0", "the proxy's port: {out}");
}

/// B's permission document applies to A exactly as to the host, and B's access log shows A.
fn permissions_and_logs_apply(s: &Setup) {
    let page = s.url(&s.b, "http-8080", "/from-a");
    let (st, body) = s.curl_in_a(&page);
    assert_eq!(st, 200, "{body}");
    let log = s.d.path("proxy-logs").join(format!("{}.jsonl", s.b));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let seen = text.lines().any(|l| {
            let e: Value = serde_json::from_str(l).unwrap_or(Value::Null);
            e["client_ip"] == s.a_ip.as_str() && e["path"] == "/from-a"
        });
        if seen {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "B's access log has no request from A's {}:\n{text}",
            s.a_ip
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (st, v) = s.d.try_api_with(
        "PATCH",
        &format!("/api/v1/containers/{}/proxy/permissions/default", s.b),
        Some(r#"{"default":"deny"}"#),
        &["If-Match: file:v0"],
    );
    assert_eq!(st, 200, "{v}");
    eventually("from the host", 403, || s.host_curl(&page).0);
    assert_eq!(s.curl_in_a(&page).0, 403);
}
