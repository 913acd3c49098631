//! hoody-proxy end to end, as root: a real hoodyd, a booted Debian 13 container running
//! `hoody-echo` on port 8080, and the proxy in front (two worker processes), driven by curl
//! and raw sockets.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoody_testkit::daemon::{Daemon, bin};
use hoody_testkit::free_port;

const APEX: &str = "hoody.test";

struct Setup {
    d: Daemon,
    proxy: Child,
    http: u16,
    https: u16,
    tls_dir: PathBuf,
    id: String,
    project: String,
}

impl Setup {
    fn new() -> Self {
        let d = Daemon::with(&["--domain", APEX]);
        let project = d.project("hoodytest-proxy");
        let id = d.create(&project, "web");
        assert_eq!(d.settle(&id)["status"], "running");
        let s = Setup::start_proxy(d, id, project);
        s.start_echo();
        s
    }

    fn start_echo(&self) {
        self.d.start_echo(&self.id);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.get("http-8080", "/").0 != 200 {
            assert!(Instant::now() < deadline, "echo server not reachable");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn start_proxy(d: Daemon, id: String, project: String) -> Self {
        let (http, https) = (free_port(), free_port());
        let tls_dir = d.path("tls");
        let proxy = Command::new(bin("hoody-proxy"))
            .args(["--domain", APEX, "--dns", "none"])
            .arg("--hoodyd-socket")
            .arg(d.socket())
            .args(["--http", &format!("127.0.0.1:{http}")])
            .args(["--https", &format!("127.0.0.1:{https}")])
            .arg("--tls-dir")
            .arg(&tls_dir)
            .arg("--log-dir")
            .arg(d.path("proxy-logs"))
            // Two worker processes, so that everything below holds across them: route and
            // permission changes reaching each, the access log written by both. (The one-process
            // default is what hoody-kit's end-to-end test runs.)
            .args(["--workers", "2", "--threads", "1"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.path("proxy.log")).unwrap())
            .spawn()
            .unwrap();
        Setup {
            d,
            proxy,
            http,
            https,
            tls_dir,
            id,
            project,
        }
    }

    fn host(&self, service: &str) -> String {
        format!(
            "{}-{}-{service}.node-1.containers.{APEX}",
            self.project, self.id
        )
    }

    /// curl through the plain listener: (status, body).
    fn curl(&self, args: &[&str]) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = s.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn get(&self, service: &str, path: &str) -> (u16, String) {
        let host = self.host(service);
        self.curl(&[
            "--resolve",
            &format!("{host}:{}:127.0.0.1", self.http),
            &format!("http://{host}:{}{path}", self.http),
        ])
    }

    /// A raw request on the plain listener; the whole answer.
    fn raw(&self, request: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.http)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The peak resident memory of the proxy's processes (a supervisor and its workers, by
    /// default), added up.
    fn proxy_rss_peak_kb(&self) -> u64 {
        let pid = self.proxy.id();
        let workers = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
        std::iter::once(pid.to_string())
            .chain(workers.split_whitespace().map(str::to_string))
            .map(|p| {
                let st = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap();
                st.lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                    .unwrap()
            })
            .sum()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        // SIGTERM: the supervisor stops its workers and waits for them before it exits.
        // SAFETY: kill has no memory arguments; the pid is our child, not yet waited for.
        unsafe { libc::kill(self.proxy.id() as i32, libc::SIGTERM) };
        let _ = self.proxy.wait();
    }
}

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

#[test]
fn proxy_end_to_end() {
    let s = Setup::new();

    // A user port, with the forwarding headers.
    let (st, body) = s.get("http-8080", "/");
    assert_eq!((st, body.as_str()), (200, "hello from hoody-echo\n"));
    let (st, headers) = s.get("http-8080", "/headers");
    assert_eq!(st, 200);
    let h = headers.to_ascii_lowercase();
    assert!(h.contains("x-forwarded-for: 127.0.0.1"), "{headers}");
    assert!(h.contains("x-forwarded-proto: http"), "{headers}");
    assert!(
        h.contains(&format!("host: {}", s.host("http-8080"))),
        "{headers}"
    );
    assert!(
        h.contains("\nforwarded: for=127.0.0.1;proto=http\n"),
        "{headers}"
    );
    assert!(!h.contains("x-forwarded-host"), "{headers}");

    // HTTPS with the local CA, HTTP/2 by ALPN.
    let host = s.host("http-8080");
    let out = Command::new("curl")
        .args(["-s", "--http2", "-w", " %{http_version}", "--cacert"])
        .arg(s.tls_dir.join("ca.pem"))
        .args(["--resolve", &format!("{host}:{}:127.0.0.1", s.https)])
        .arg(format!("https://{host}:{}/", s.https))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from hoody-echo\n 2"
    );

    // The API through api.{apex}: a token is required there (not on hoodyd's root socket).
    let api = format!("http://127.0.0.1:{}/api/v1/servers", s.http);
    let api_host = format!("Host: api.{APEX}");
    let (st, body) = s.curl(&["-H", &api_host, "-H", "X-Hoody-Proxied: 0", &api]);
    assert_eq!(st, 401, "no token through the proxy: {body}");
    let token = s.d.api(
        "POST",
        "/api/v1/auth/tokens",
        Some(serde_json::json!({"alias": "proxy-test"})),
        201,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let bearer = format!("Authorization: Bearer {token}");
    let (st, body) = s.curl(&["-H", &api_host, "-H", &bearer, &api]);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"name\":\"node-1\""));
    // hoody's own client, set up with the API host name as its base URL, through the proxy.
    let client =
        hoody_api::client::Client::tcp(&format!("http://api.{APEX}:{}", s.http), Some(token))
            .unwrap()
            .with_resolve("127.0.0.1".parse().unwrap());
    assert_eq!(client.servers().unwrap().servers[0].name, "node-1");
    // A realm-scoped host reaches hoodyd with its realm: a token limited to the realm works
    // there (and sees no container: none carries the realm), and is refused on the bare host
    // with the client's address as the proxy forwarded it.
    const REALM: &str = "7c7c7c7c7c7c7c7c7c7c7c7c";
    let scoped = s.d.api(
        "POST",
        "/api/v1/auth/tokens",
        Some(
            serde_json::json!({"alias": "proxy-realm", "realm_ids": [REALM],
                                "allow_no_realm": false, "ip_whitelist": "127.0.0.0/8"}),
        ),
        201,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    let scoped_bearer = format!("Authorization: Bearer {scoped}");
    let list = format!("http://127.0.0.1:{}/api/v1/containers/", s.http);
    let (st, body) = s.curl(&[
        "-H",
        &format!("Host: {REALM}.api.{APEX}"),
        "-H",
        &scoped_bearer,
        &list,
    ]);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"total\":0"), "{body}");
    let (st, body) = s.curl(&["-H", &api_host, "-H", &scoped_bearer, &list]);
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("REALM_SCOPE_REQUIRED"), "{body}");

    // Unknown hosts 404; a missing container 503; a kit port nothing listens on 502.
    let (st, _) = s.curl(&[
        "-H",
        "Host: elsewhere.example",
        &format!("http://127.0.0.1:{}/", s.http),
    ]);
    assert_eq!(st, 404);
    let ghost = format!(
        "{}-0123456789abcdef01234567-http-8080.node-1.containers.{APEX}",
        s.project
    );
    let (st, _) = s.curl(&[
        "-H",
        &format!("Host: {ghost}"),
        &format!("http://127.0.0.1:{}/", s.http),
    ]);
    assert_eq!(st, 503);
    assert_eq!(s.get("http-8081", "/").0, 502);

    websocket_echo(&s);
    https_upstream(&s);
    hooks(&s);
    aliases_permissions_and_logs(&s);
    host_attacks(&s);
    big_transfers_stream(&s);

    // Stopped: 503; started again: served, with the same proxy process.
    s.d.op(&s.id, "stop");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get("http-8080", "/").0 != 503 {
        assert!(Instant::now() < deadline, "a stopped container is not 503");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.d.op(&s.id, "start");
    s.start_echo();
    assert_eq!(s.get("http-8080", "/").0, 200);
}

/// Proxy hooks (reference §2.6): a script on the container's exec service sees requests of
/// `http-8080` before the server does, rewrites their headers or answers them itself; the
/// container's server (hoody-echo's `/headers`) shows what reached it.
fn hooks(s: &Setup) {
    let d = &s.d;
    s.d.exec(
        &s.id,
        r#"mkdir -p /hoody/storage/hoody-exec/scripts/1/hooks && cat > /hoody/storage/hoody-exec/scripts/1/hooks/tag.js <<'EOF'
const call = await req.json();
const h = call.request.headers;
if (h["x-block"]) {
  return {action: "respond", status: 418, headers: {"x-hooked-by": call.hook.id}, body: "blocked by a hook"};
}
return {action: "continue",
        set_headers: {"x-hooked": "yes", "x-upstream": call.hook.upstream.host + ":" + call.hook.upstream.port},
        remove_headers: ["x-secret"]};
EOF"#,
    );
    let base = format!("/api/v1/containers/{}/proxy/hooks", s.id);
    let hook = d.api(
        "POST",
        &format!("{base}/http-8080"),
        Some(
            serde_json::json!({"match": {"method": "GET", "path": "/headers"},
                                "script": {"path": "/hooks/tag.js", "execId": "exec_1"},
                                "timeout": 5000}),
        ),
        201,
    );
    let hook_id = hook["id"].as_str().unwrap().to_string();
    assert_eq!(hook["position"], 0);
    let listed = d.api("GET", &base, None, 200);
    assert_eq!(listed["hooks"]["http-8080"][0]["id"], hook_id.as_str());
    let (st, v) = d.try_api(
        "POST",
        &format!("{base}/logs"),
        Some(r#"{"script":{"path":"/hooks/tag.js"}}"#),
    );
    assert_eq!(st, 422, "logs takes no hooks: {v}");

    let host = s.host("http-8080");
    let url = format!("http://{host}:{}/headers", s.http);
    let resolve = format!("{host}:{}:127.0.0.1", s.http);
    let fetch = |extra: &[&str]| {
        let mut args = vec!["--resolve", &resolve, "-H", "X-Secret: hoodytest"];
        args.extend_from_slice(extra);
        args.push(&url);
        s.curl(&args)
    };
    // The proxy learns the hook from hoodyd's event stream.
    let deadline = Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let (st, body) = fetch(&[]);
        if st == 200 && body.to_ascii_lowercase().contains("x-hooked: yes") {
            break body.to_ascii_lowercase();
        }
        assert!(Instant::now() < deadline, "the hook never ran: {st} {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        !seen.contains("x-secret"),
        "the hook removed x-secret: {seen}"
    );
    assert!(
        seen.contains(":8080\n") && seen.contains("x-upstream: 10."),
        "{seen}"
    );
    // Short-circuit: the server never sees it.
    let (st, body) = fetch(&["-H", "X-Block: 1"]);
    assert_eq!((st, body.as_str()), (418, "blocked by a hook"));
    // Unmatched requests pass untouched.
    let (st, body) = s.get("http-8080", "/");
    assert_eq!((st, body.as_str()), (200, "hello from hoody-echo\n"));
    // A hook whose script is missing fails closed.
    let hook_url = format!("{base}/http-8080/{hook_id}");
    d.api(
        "PUT",
        &hook_url,
        Some(serde_json::json!({"match": {"path": "/headers"}, "script": {"path": "/hooks/missing.js"}})),
        200,
    );
    eventually("a failing hook", 502, || fetch(&[]).0);
    let (_, body) = fetch(&[]);
    assert!(body.contains("HOOK_FAILED"), "{body}");
    // A stale If-Match is refused; clearing the service lets requests through unhooked.
    let (st, _) = d.try_api_with(
        "DELETE",
        &format!("{base}/http-8080"),
        None,
        &["If-Match: file:v0"],
    );
    assert_eq!(st, 412);
    d.api("DELETE", &format!("{base}/http-8080"), None, 200);
    eventually("no hook", 200, || fetch(&[]).0);
    assert!(!fetch(&[]).1.to_ascii_lowercase().contains("x-hooked"));
    // Leave no document behind for the permission tests that follow.
    let doc = d.api(
        "GET",
        &format!("/api/v1/containers/{}/proxy/permissions", s.id),
        None,
        200,
    );
    let v = doc["file_version"].as_u64().unwrap();
    let (st, _) = d.try_api_with(
        "DELETE",
        &format!("/api/v1/containers/{}/proxy/permissions", s.id),
        None,
        &[&format!("If-Match: file:v{v}")],
    );
    assert_eq!(st, 200);
}

/// An HS256 JWT with `claims`, signed with `secret`.
fn hs256(secret: &str, claims: serde_json::Value) -> String {
    let b64 = |b: &[u8]| -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..=c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    };
    let head = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let body = b64(claims.to_string().as_bytes());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let sig = ring::hmac::sign(&key, format!("{head}.{body}").as_bytes());
    format!("{head}.{body}.{}", b64(sig.as_ref()))
}

/// Polls `f` until it returns `want` five times in a row. The proxy learns of changes through
/// hoodyd's events, each worker process on its own stream: a request (each on a new
/// connection, which the kernel gives to any worker) may meet a worker that has not yet.
fn eventually(what: &str, want: u16, f: impl Fn() -> u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut in_a_row = 0;
    loop {
        let got = f();
        in_a_row = if got == want { in_a_row + 1 } else { 0 };
        if in_a_row == 5 {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: got {got}, want {want}");
        if in_a_row == 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn aliases_permissions_and_logs(s: &Setup) {
    let d = &s.d;
    // An alias: its own host name, then disabled: 404.
    let a = d.api(
        "POST",
        "/api/v1/proxy/aliases",
        Some(serde_json::json!({"container_id": s.id, "alias": "hoodytest-web", "program": "http", "port": 8080})),
        201,
    );
    assert_eq!(
        a["url"],
        format!("https://hoodytest-web.node-1.containers.{APEX}")
    );
    let alias_host = format!("hoodytest-web.node-1.containers.{APEX}");
    let via_alias = |auth: Option<&str>| {
        let mut args = vec![
            "-H".to_string(),
            format!("Host: {alias_host}"),
            format!("http://127.0.0.1:{}/", s.http),
        ];
        if let Some(u) = auth {
            args.extend(["-u".to_string(), u.to_string()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        s.curl(&refs).0
    };
    eventually("alias", 200, || via_alias(None));
    let aid = a["id"].as_str().unwrap();
    d.api(
        "PATCH",
        &format!("/api/v1/proxy/aliases/{aid}/state"),
        Some(serde_json::json!({"enabled": false})),
        200,
    );
    eventually("disabled alias", 404, || via_alias(None));
    d.api(
        "PATCH",
        &format!("/api/v1/proxy/aliases/{aid}/state"),
        Some(serde_json::json!({"enabled": true})),
        200,
    );
    let (st, v) = d.try_api(
        "POST",
        "/api/v1/proxy/aliases",
        Some(
            &serde_json::json!({"container_id": s.id, "alias": "hoodytest-web", "program": "web"})
                .to_string(),
        ),
    );
    assert_eq!(
        (st, v["error"].as_str()),
        (400, Some("UNKNOWN_PROGRAM")),
        "{v}"
    );

    // Permission documents: If-Match required (428) and checked (412).
    let base = format!("/api/v1/containers/{}/proxy/permissions", s.id);
    let put = |path: &str, tag: Option<&str>, body: serde_json::Value| {
        let h = tag.map(|t| format!("If-Match: {t}"));
        let headers: Vec<&str> = h.iter().map(String::as_str).collect();
        d.try_api_with(
            "PUT",
            &format!("{base}{path}"),
            Some(&body.to_string()),
            &headers,
        )
    };
    let pw = serde_json::json!({"username": "alice", "password": "s3cret", "salt": "pepper"});
    assert_eq!(put("/groups/team/password", None, pw.clone()).0, 428);
    let (st, v) = put("/groups/team/password", Some("file:v0"), pw);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["data"]["etag"], "file:v1");
    assert_ne!(
        v["data"]["groups"]["team"]["password"], "s3cret",
        "stored hashed"
    );
    let rule = serde_json::json!({"program": "http", "access": "*"});
    assert_eq!(
        put("/permissions/team", Some("file:v0"), rule.clone()).0,
        412
    );
    assert_eq!(put("/permissions/team", Some("file:v1"), rule).0, 200);
    let (st, _) = d.try_api_with(
        "PATCH",
        &format!("{base}/default"),
        Some(r#"{"default":"deny"}"#),
        &["If-Match: file:v2"],
    );
    assert_eq!(st, 200);
    // The password group challenges; the right password passes, a wrong one does not.
    eventually("no credentials", 401, || s.get("http-8080", "/").0);
    assert_eq!(via_alias(Some("alice:s3cret")), 200);
    assert_eq!(via_alias(Some("alice:wrong")), 401);
    let out = Command::new("curl")
        .args([
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "-H",
            &format!("Host: {}", s.host("http-8080")),
        ])
        .arg(format!("http://127.0.0.1:{}/", s.http))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .to_ascii_lowercase()
            .contains("www-authenticate: basic realm="),
        "a Basic challenge"
    );
    // A jwt group (HS256 from the Authorization header, with a required claim) and a token
    // group (a query parameter), each granting http 8080. Refusals stay 401: the password
    // group could still admit the request.
    let jwt_group = serde_json::json!({
        "secret": "hoodytest-jwt-secret",
        "algorithm": "HS256",
        "sources": ["header:Authorization"],
        "claims": {"role": "admin"},
    });
    assert_eq!(put("/groups/sso/jwt", Some("file:v3"), jwt_group).0, 200);
    let http_8080 = serde_json::json!({"program": "http", "access": [8080]});
    assert_eq!(
        put("/permissions/sso", Some("file:v4"), http_8080.clone()).0,
        200
    );
    let token_group = serde_json::json!({"param": "key", "value": "hoodytest-token"});
    assert_eq!(
        put("/groups/key/token", Some("file:v5"), token_group).0,
        200
    );
    assert_eq!(put("/permissions/key", Some("file:v6"), http_8080).0, 200);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let with_jwt = |token: &str| {
        let host = s.host("http-8080");
        s.curl(&[
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--resolve",
            &format!("{host}:{}:127.0.0.1", s.http),
            &format!("http://{host}:{}/", s.http),
        ])
        .0
    };
    let good = hs256(
        "hoodytest-jwt-secret",
        serde_json::json!({"role": "admin", "exp": now + 600}),
    );
    eventually("a valid jwt", 200, || with_jwt(&good));
    for (what, token) in [
        (
            "expired",
            hs256(
                "hoodytest-jwt-secret",
                serde_json::json!({"role": "admin", "exp": now - 3600}),
            ),
        ),
        (
            "not yet valid",
            hs256(
                "hoodytest-jwt-secret",
                serde_json::json!({"role": "admin", "nbf": now + 3600}),
            ),
        ),
        (
            "wrong claim",
            hs256("hoodytest-jwt-secret", serde_json::json!({"role": "user"})),
        ),
        (
            "missing claim",
            hs256("hoodytest-jwt-secret", serde_json::json!({})),
        ),
        (
            "wrong key",
            hs256("another-secret", serde_json::json!({"role": "admin"})),
        ),
    ] {
        assert_eq!(with_jwt(&token), 401, "{what} jwt");
    }
    assert_eq!(s.get("http-8080", "/?key=hoodytest-token").0, 200);
    assert_eq!(s.get("http-8080", "/?key=hoodytest-tokeN").0, 401);
    assert_eq!(s.get("http-8080", "/?other=hoodytest-token").0, 401);
    // An ip group admitting loopback: passes without credentials.
    assert_eq!(
        put(
            "/groups/office/ip",
            Some("file:v7"),
            serde_json::json!({"range": "127.0.0.0/8"})
        )
        .0,
        200
    );
    assert_eq!(
        put(
            "/permissions/office",
            Some("file:v8"),
            serde_json::json!({"program": "http", "access": [8080]})
        )
        .0,
        200
    );
    eventually("ip group", 200, || s.get("http-8080", "/").0);
    // The kill switch.
    let (st, _) = d.try_api_with(
        "PATCH",
        &format!("{base}/state"),
        Some(r#"{"enable_proxy":false}"#),
        &["If-Match: file:v9"],
    );
    assert_eq!(st, 200);
    eventually("enable_proxy false", 403, || s.get("http-8080", "/").0);
    // Deleting the document opens it again.
    let (st, _) = d.try_api_with("DELETE", &base, None, &["If-Match: file:v10"]);
    assert_eq!(st, 200);
    eventually("no document", 200, || s.get("http-8080", "/").0);

    // The access log, through hoodyd.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = d.api(
            "GET",
            &format!("/api/v1/containers/{}/proxy/logs?limit=50", s.id),
            None,
            200,
        );
        let entries = log["logs"].as_array().unwrap();
        let found = entries.iter().any(|e| {
            e["status"] == 401 && e["client_ip"] == "127.0.0.1" && e["service"] == "http-8080"
        });
        if found {
            let e = entries.last().unwrap();
            assert!(e["method"].is_string() && e["path"].is_string() && e["time"].is_string());
            break;
        }
        assert!(Instant::now() < deadline, "no 401 in the access log: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `https-PORT`: a TLS server inside the container (openssl's, self-signed) through the proxy.
fn https_upstream(s: &Setup) {
    s.d.exec(
        &s.id,
        "cd /root && openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=inside \
         -keyout k.pem -out c.pem -days 2 2>/dev/null && \
         systemd-run --unit tls-inside openssl s_server -accept 8443 -cert /root/c.pem \
         -key /root/k.pem -www",
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (st, body) = s.get("https-8443", "/");
        if st == 200 {
            assert!(body.contains("s_server"), "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "https-8443: {st} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A WebSocket through the proxy: upgrade, masked frames out, echoes back.
fn websocket_echo(s: &Setup) {
    let host = s.host("http-8080");
    let mut c = TcpStream::connect(("127.0.0.1", s.http)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        c,
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        c.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    for msg in ["hello", "second message through the tunnel"] {
        let mask = [1u8, 2, 3, 4];
        let mut frame = vec![0x81, 0x80 | msg.len() as u8];
        frame.extend(mask);
        frame.extend(msg.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        c.write_all(&frame).unwrap();
        let mut hdr = [0u8; 2];
        c.read_exact(&mut hdr).unwrap();
        assert_eq!(hdr[0], 0x81);
        let mut payload = vec![0u8; (hdr[1] & 0x7f) as usize];
        c.read_exact(&mut payload).unwrap();
        assert_eq!(String::from_utf8(payload).unwrap(), msg);
    }
}

/// Host tricks must never reach the wrong container (or any container when ambiguous).
fn host_attacks(s: &Setup) {
    let host = s.host("http-8080");
    // Tolerated spellings of the right host.
    for h in [
        format!("{host}:{}", s.http),
        format!("{host}."),
        host.to_ascii_uppercase(),
    ] {
        let r = s.raw(&format!(
            "GET / HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n"
        ));
        assert!(status_line(&r).contains(" 200 "), "{h}: {r}");
    }
    let other = format!(
        "{}-0123456789abcdef01234567-http-8080.node-1.containers.{APEX}",
        s.project
    );
    for (what, req) in [
        (
            "userinfo",
            format!("GET / HTTP/1.1\r\nHost: user@{host}\r\nConnection: close\r\n\r\n"),
        ),
        (
            "two Host headers",
            format!("GET / HTTP/1.1\r\nHost: {host}\r\nHost: {other}\r\nConnection: close\r\n\r\n"),
        ),
        (
            "absolute-form disagreeing with Host",
            format!("GET http://{other}/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        ),
        (
            "comma-joined hosts",
            format!("GET / HTTP/1.1\r\nHost: {host}, {other}\r\nConnection: close\r\n\r\n"),
        ),
    ] {
        let r = s.raw(&req);
        let line = status_line(&r);
        assert!(
            line.contains(" 400 ") || line.contains(" 404 "),
            "{what}: {line}"
        );
        assert!(
            !r.contains("hello from hoody-echo"),
            "{what} reached a container"
        );
    }
    // Smuggling: Content-Length and Transfer-Encoding together. The body is read as chunked
    // (empty) and re-framed, so the upstream sees an empty body, not the hidden request.
    let smuggled = format!("GET /headers HTTP/1.1\r\nHost: {other}\r\nConnection: close\r\n\r\n");
    let r = s.raw(&format!(
        "POST /sink HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\
         Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}",
        5 + smuggled.len()
    ));
    let empty_sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    assert!(status_line(&r).contains(" 200 "), "CL+TE: {r}");
    assert!(
        r.contains(&format!("\r\n\r\n0 {empty_sha}\n")),
        "upstream saw the smuggled bytes: {r}"
    );
    // hyper closes a connection after such a request, so the trailing bytes are never read;
    // in no case does a container answer them.
    assert_eq!(r.matches("HTTP/1.1 ").count(), 1, "{r}");
}

/// 1 GiB up and 1 GiB down through the proxy, bytes verified by SHA-256, and the proxy's peak
/// memory stays small: bodies stream, they are not held.
fn big_transfers_stream(s: &Setup) {
    const GIB: u64 = 1 << 30;
    let before = s.proxy_rss_peak_kb();
    let host = s.host("http-8080");
    let resolve = format!("{host}:{}:127.0.0.1", s.http);
    let up = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c {GIB} /dev/zero | curl -s -T - -H 'Expect:' --resolve {resolve} http://{host}:{}/sink",
            s.http
        ))
        .output()
        .unwrap();
    let up = String::from_utf8_lossy(&up.stdout).into_owned();
    let zero_sha = Command::new("sh")
        .arg("-c")
        .arg(format!("head -c {GIB} /dev/zero | sha256sum"))
        .output()
        .unwrap();
    let zero_sha = String::from_utf8_lossy(&zero_sha.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert_eq!(up.trim(), format!("{GIB} {zero_sha}"), "upload");

    let down = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "curl -s --resolve {resolve} 'http://{host}:{}/source?bytes={GIB}&seed=7' | sha256sum",
            s.http
        ))
        .output()
        .unwrap();
    let down = String::from_utf8_lossy(&down.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (st, want) = s.get("http-8080", &format!("/source-sha?bytes={GIB}&seed=7"));
    assert_eq!(st, 200);
    assert_eq!(down, want.trim(), "download");
    let after = s.proxy_rss_peak_kb();
    assert!(
        after < before + 64 * 1024,
        "proxy peak RSS grew from {before} kB to {after} kB over 2 GiB of transfers"
    );
}
