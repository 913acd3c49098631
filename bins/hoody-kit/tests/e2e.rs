//! The Kit end to end, as root: a real hoodyd, a booted Debian 13 container created with
//! `hoody_kit`, and hoody-proxy in front. Every service is reached through the proxy by its
//! Kit host name (`{project}-{container}-{service}-{N}.node-1.containers.hoody.test`), and
//! the CLI verbs straight to the Kit (hoodyd's socket → the container's address).
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoody_testkit::daemon::{Daemon, bin};
use hoody_testkit::free_port;
use serde_json::{Value, json};

const APEX: &str = "hoody.test";

struct Setup {
    d: Daemon,
    proxy: Child,
    http: u16,
    id: String,
    project: String,
}

impl Setup {
    fn new() -> Self {
        let d = Daemon::with(&["--domain", APEX]);
        let project = d.project("hoodytest-kit");
        let id = d.create_with(&project, "kit", json!({"hoody_kit": true}));
        assert_eq!(d.settle(&id)["status"], "running");
        let http = free_port();
        let proxy = Command::new(bin("hoody-proxy"))
            .args(["--domain", APEX, "--https", "none", "--dns", "none"])
            .arg("--hoodyd-socket")
            .arg(d.socket())
            .args(["--http", &format!("127.0.0.1:{http}")])
            .arg("--log-dir")
            .arg(d.path("proxy-logs"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.path("proxy.log")).unwrap())
            .spawn()
            .unwrap();
        let s = Setup {
            d,
            proxy,
            http,
            id,
            project,
        };
        // Running means systemd reached multi-user.target, which waits for the Kit (a
        // Type=notify unit ordered before it): it answers at once, once the proxy has its route.
        let deadline = Instant::now() + Duration::from_secs(20);
        while s.get("terminal-1", "/api/v1/terminal/health").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "the Kit never answered through the proxy: {}",
                std::fs::read_to_string(s.d.path("proxy.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn host(&self, service: &str) -> String {
        format!(
            "{}-{}-{service}.node-1.containers.{APEX}",
            self.project, self.id
        )
    }

    fn url(&self, service: &str, path: &str) -> String {
        format!("http://{}:{}{path}", self.host(service), self.http)
    }

    fn resolve(&self, service: &str) -> String {
        format!("{}:{}:127.0.0.1", self.host(service), self.http)
    }

    /// curl through the proxy: (status, body).
    fn curl(&self, service: &str, path: &str, args: &[&str]) -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--resolve"])
            .arg(self.resolve(service))
            .args(args)
            .arg(self.url(service, path))
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = s.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn get(&self, service: &str, path: &str) -> (u16, String) {
        self.curl(service, path, &[])
    }

    fn json(&self, service: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let b = body.map(|b| b.to_string());
        let mut args = vec!["-X", method];
        if let Some(b) = &b {
            args.extend(["-H", "content-type: application/json", "--data-binary", b]);
        }
        let (st, text) = self.curl(service, path, &args);
        (
            st,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The CLI against this daemon (hoodyd's socket: straight to the Kit).
    fn cli(&self, args: &[&str]) -> std::process::Output {
        self.d.hoody_out(args)
    }

    /// The Kit's peak RSS, as its health reports it.
    fn kit_peak_rss(&self) -> u64 {
        let (st, h) = self.json("files-1", "GET", "/api/v1/files/health", None);
        assert_eq!(st, 200, "{h}");
        h["memory"]["rss_peak_bytes"].as_u64().unwrap()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.proxy.kill();
        let _ = self.proxy.wait();
    }
}

#[test]
fn kit_end_to_end() {
    let s = Setup::new();

    // Every service answers its health through the proxy; instances share the process.
    for (svc, path) in [
        ("terminal-1", "/api/v1/terminal/health"),
        ("files-1", "/api/v1/files/health"),
        ("exec-1", "/api/v1/exec/health"),
        ("sqlite-1", "/api/v1/sqlite/health"),
        ("sqlite-2", "/api/v1/sqlite/health"),
    ] {
        let (st, h) = s.json(svc, "GET", path, None);
        assert_eq!(st, 200, "{svc}: {h}");
        assert_eq!(h["status"], "ok", "{svc}: {h}");
    }

    cli_verbs(&s);
    terminal_websockets(&s);
    files_through_proxy(&s);
    exec_through_proxy(&s);
    sqlite_through_proxy(&s);
    stop_and_start(&s);
}

/// The seed's three CLI examples, against the fresh container.
fn cli_verbs(s: &Setup) {
    let out = s.cli(&[
        "terminal",
        "sessions",
        "exec",
        "-c",
        &s.id,
        "--command",
        "echo out; echo err >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    // Node.js from Debian, installed with apt through the terminal service.
    let out = s.cli(&[
        "terminal",
        "sessions",
        "exec",
        "-c",
        &s.id,
        "--timeout",
        "600",
        "--command",
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
         --no-install-recommends nodejs >/dev/null && node -e 'console.log(6*7)'",
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("42\n"),
        "{out:?}"
    );

    let out = s.cli(&["files", "get", "/etc/os-release", "-c", &s.id]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("VERSION_CODENAME=trixie"));
    let out = s.cli(&["files", "get", "/", "-c", &s.id]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("etc"),
        "{out:?}"
    );
    let out = s.cli(&["files", "get", "/no/such/file", "-c", &s.id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("NOT_FOUND"),
        "{out:?}"
    );

    let tx = json!({"transaction": [
        {"statement": "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT)"},
        {"statement": "INSERT INTO t (name) VALUES (?)", "values": ["hoody"]},
        {"query": "SELECT name FROM t"},
    ]})
    .to_string();
    let out = s.cli(&[
        "db",
        "exec-transaction",
        "-c",
        &s.id,
        "--db",
        "cli",
        "--transaction",
        &tx,
    ]);
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("\"hoody\""), "{v}");
}

/// One WebSocket client of the terminal through the proxy, ttyd's protocol.
struct Tty {
    ws: tungstenite::WebSocket<TcpStream>,
    seen: String,
}

impl Tty {
    fn connect(s: &Setup, service: &str, terminal_id: u32) -> Tty {
        let tcp = TcpStream::connect(("127.0.0.1", s.http)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let req = tungstenite::http::Request::builder()
            .uri(format!(
                "ws://{}:{}/api/v1/terminal/ws?terminal_id={terminal_id}",
                s.host(service),
                s.http
            ))
            .header("Host", s.host(service))
            .header("Sec-WebSocket-Protocol", "tty")
            .header(
                "Sec-WebSocket-Key",
                tungstenite::handshake::client::generate_key(),
            )
            .header("Sec-WebSocket-Version", "13")
            .header("Connection", "Upgrade")
            .header("Upgrade", "websocket")
            .body(())
            .unwrap();
        let (mut ws, resp) = tungstenite::client(req, tcp).unwrap();
        assert_eq!(resp.status(), 101);
        ws.send(tungstenite::Message::text(r#"{"columns":100,"rows":30}"#))
            .unwrap();
        Tty {
            ws,
            seen: String::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        let mut frame = b"0".to_vec();
        frame.extend_from_slice(line.as_bytes());
        frame.push(b'\r');
        self.ws.send(tungstenite::Message::binary(frame)).unwrap();
    }

    /// Reads output frames until `want` has been seen (panics after 15 s).
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while !self.seen.contains(want) {
            assert!(
                Instant::now() < deadline,
                "never saw {want:?}; got {:?}",
                self.seen
            );
            match self.ws.read() {
                Ok(m) => {
                    let data = m.into_data();
                    if data.first() == Some(&b'0') {
                        self.seen.push_str(&String::from_utf8_lossy(&data[1..]));
                    }
                }
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("terminal WebSocket: {e}; seen {:?}", self.seen),
            }
        }
    }
}

/// Two clients on terminal-1 both see what one types; terminal-2 is another shell; a client
/// that comes back finds its session.
fn terminal_websockets(s: &Setup) {
    let mut a = Tty::connect(s, "terminal-1", 1);
    let mut b = Tty::connect(s, "terminal-1", 1);
    a.type_line("echo hi-$((40+2)) pid=$$");
    a.expect("hi-42 pid=");
    b.expect("hi-42 pid=");
    let pid_of = |seen: &str| {
        let i = seen.rfind("hi-42 pid=").unwrap() + "hi-42 pid=".len();
        seen[i..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    };
    let pid1 = pid_of(&a.seen);
    assert!(!pid1.is_empty());

    let mut c = Tty::connect(s, "terminal-2", 2);
    c.type_line("echo other-$((1+1)) pid=$$");
    c.expect("other-2 pid=");
    let i = c.seen.rfind("other-2 pid=").unwrap() + "other-2 pid=".len();
    let pid2: String = c.seen[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_ne!(pid1, pid2, "terminal-2 must be another shell");

    drop(a);
    drop(b);
    let mut again = Tty::connect(s, "terminal-1", 1);
    again.type_line("echo back pid=$$");
    again.expect(&format!("back pid={pid1}"));
}

fn files_through_proxy(s: &Setup) {
    let (st, body) = s.get("files-1", "/etc/hostname");
    assert_eq!((st, body.as_str()), (200, "kit\n"));
    let (st, body) = s.curl("files-1", "/etc/os-release", &["-H", "Range: bytes=0-11"]);
    assert_eq!((st, body.as_str()), (206, "PRETTY_NAME="));

    // 1 GiB up and down through the proxy, streamed: the Kit's peak memory stays flat.
    let dir = tempfile_dir();
    let src = dir.join("big");
    let back = dir.join("back");
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c 1073741824 /dev/urandom > {}",
            src.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let before = s.kit_peak_rss();
    let (st, body) = s.curl(
        "files-1",
        "/var/tmp/hoody-big",
        &["-T", src.to_str().unwrap()],
    );
    assert!(st == 201 || st == 200 || st == 204, "upload: {st} {body}");
    let out = Command::new("curl")
        .args(["-s", "-o"])
        .arg(&back)
        .arg("--resolve")
        .arg(s.resolve("files-1"))
        .arg(s.url("files-1", "/var/tmp/hoody-big"))
        .status()
        .unwrap();
    assert!(out.success());
    assert_eq!(sha256_file(&src), sha256_file(&back));
    let after = s.kit_peak_rss();
    assert!(
        after < before + 64 * 1024 * 1024,
        "the Kit's peak RSS grew from {before} to {after} bytes over a 1 GiB transfer"
    );
    let (st, sum) = s.get("files-1", "/var/tmp/hoody-big?hash");
    assert_eq!(st, 200);
    assert_eq!(sum.trim(), sha256_file(&src));
    let (st, _) = s.curl("files-1", "/var/tmp/hoody-big", &["-X", "DELETE"]);
    assert!((200..300).contains(&st));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::path::PathBuf::from(format!("/var/tmp/hoodytest-kit-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn sha256_file(p: &std::path::Path) -> String {
    use sha2::Digest;
    let mut f = std::fs::File::open(p).unwrap();
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn exec_through_proxy(s: &Setup) {
    let (st, w) = s.json(
        "exec-1",
        "POST",
        "/api/v1/exec/scripts/write",
        Some(json!({
            "path": "api/users/[id].js",
            "content": "return { id: metadata.parameters.id, q: metadata.query.q };",
            "createDirs": true,
        })),
    );
    assert!((200..300).contains(&st), "{w}");
    let (st, v) = s.json("exec-1", "GET", "/api/users/7?q=x", None);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v, json!({"id": "7", "q": "x"}));
    // Instance 2 has scripts of its own.
    let (st, _) = s.json("exec-2", "GET", "/api/users/7", None);
    assert_eq!(st, 404);
}

fn sqlite_through_proxy(s: &Setup) {
    let (st, v) = s.json(
        "sqlite-1",
        "POST",
        "/api/v1/sqlite/db?db=e2e&create_db_if_missing=true",
        Some(json!({"create_db_if_missing": true, "transaction": [
            {"statement": "CREATE TABLE n (v INTEGER)"}
        ]})),
    );
    assert_eq!(st, 200, "{v}");
    // Ten writers at once, each ten inserts, through the proxy.
    let threads: Vec<_> = (0..10)
        .map(|i| {
            let (url, resolve) = (
                s.url("sqlite-1", "/api/v1/sqlite/db?db=e2e"),
                s.resolve("sqlite-1"),
            );
            std::thread::spawn(move || {
                for j in 0..10 {
                    let body = json!({"transaction": [
                        {"statement": "INSERT INTO n (v) VALUES (?)", "values": [i * 10 + j]}
                    ]})
                    .to_string();
                    let out = Command::new("curl")
                        .args([
                            "-s",
                            "-f",
                            "--resolve",
                            &resolve,
                            "-H",
                            "content-type: application/json",
                        ])
                        .args(["--data-binary", &body, &url])
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{out:?}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (st, v) = s.json(
        "sqlite-1",
        "POST",
        "/api/v1/sqlite/db?db=e2e",
        Some(json!({"transaction": [{"query": "SELECT count(*) AS c, sum(v) AS s FROM n"}]})),
    );
    assert_eq!(st, 200, "{v}");
    let text = v.to_string();
    assert!(text.contains("100") && text.contains("4950"), "{v}");
}

/// A stopped container's Kit is 503 at the proxy; started again, it serves without the proxy
/// restarting.
fn stop_and_start(s: &Setup) {
    s.d.op(&s.id, "stop");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.get("files-1", "/api/v1/files/health").0 != 503 {
        assert!(Instant::now() < deadline, "not 503 after stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    s.d.op(&s.id, "start");
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.get("files-1", "/api/v1/files/health").0 != 200 {
        assert!(Instant::now() < deadline, "not serving after start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The terminal-1 session did not survive the stop: a new shell answers.
    let mut t = Tty::connect(s, "terminal-1", 1);
    t.type_line("echo fresh");
    t.expect("fresh");
}
