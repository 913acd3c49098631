//! The terminal service end to end: its router served in-process on 127.0.0.1:0, driven by
//! real WebSocket clients (ttyd's protocol), curl, and headless Chromium over CDP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const WAIT: Duration = Duration::from_secs(20);

/// A terminal service on 127.0.0.1:0 with its state in a temp dir.
struct Kit {
    addr: SocketAddr,
    _tmp: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Kit {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn kit() -> Kit {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Shells get a home of their own: login shells run the user's profile, and this
    // machine's may do slow things (pyenv rehash takes a lock every shell start waits on).
    std::fs::create_dir(tmp.path().join("home")).expect("home");
    let ctx = Arc::new(hoody_kit::Context::builder().storage(tmp.path()).build());
    let router = hoody_kit::terminal::router(ctx);
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = hoody_kit::serve_on(l, router).await;
    });
    Kit {
        addr,
        _tmp: tmp,
        server,
    }
}

/// `curl` `method url` with a JSON `body` and extra `headers`: status and JSON body.
async fn http(method: &str, url: &str, body: Option<&str>, headers: &[&str]) -> (u16, Value) {
    let mut c = tokio::process::Command::new("curl");
    c.args([
        "-sS",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        "--max-time",
        "60",
    ]);
    for h in headers {
        c.args(["-H", h]);
    }
    if let Some(b) = body {
        c.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    c.arg(url);
    let out = c.output().await.expect("run curl");
    assert!(out.status.success(), "curl {url}: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    let v = serde_json::from_str(body).unwrap_or(Value::String(body.to_string()));
    (code.trim().parse().expect("status"), v)
}

impl Kit {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    async fn get(&self, path: &str) -> (u16, Value) {
        http("GET", &self.url(path), None, &[]).await
    }
    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        http("POST", &self.url(path), Some(body), &[]).await
    }
    async fn delete(&self, path: &str) -> (u16, Value) {
        http("DELETE", &self.url(path), None, &[]).await
    }
    fn home(&self) -> String {
        self._tmp.path().join("home").display().to_string()
    }
    /// `env` that gives a session the test's home.
    fn env(&self) -> String {
        json!({"HOME": self.home()}).to_string()
    }
    /// Creates session `id` with the test's home.
    async fn create(&self, id: u32) -> Value {
        let (st, v) = self
            .post(
                "/api/v1/terminal/create",
                &json!({"terminal_id": id, "env": {"HOME": self.home()}}).to_string(),
            )
            .await;
        assert!(st == 201 || st == 200, "create {id}: {st} {v}");
        v
    }
    async fn tty(&self, query: &str) -> Tty {
        let env = self.env();
        let q = format!("{query}&env={}", urlencode(&env));
        Tty::connect(self.addr, &q).await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The lines a terminal would show for `raw` output, roughly: escape sequences removed,
/// carriage returns honoured within a line.
fn screen_lines(raw: &[u8]) -> Vec<String> {
    let s = String::from_utf8_lossy(raw);
    let mut clean = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\x1b' {
            clean.push(c);
            continue;
        }
        match it.next() {
            Some('[') => {
                for d in it.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(d) = it.next() {
                    if d == '\x07' {
                        break;
                    }
                    if d == '\x1b' {
                        it.next();
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    clean
        .split('\n')
        .map(|l| {
            let l = l.trim_end_matches('\r');
            l.rsplit('\r').next().unwrap_or(l).to_string()
        })
        .collect()
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A ttyd-protocol client.
struct Tty {
    ws: Ws,
    out: Vec<u8>,
    title: String,
    id: String,
    shell: String,
}

impl Tty {
    async fn connect(addr: SocketAddr, query: &str) -> Tty {
        let mut req = format!("ws://{addr}/api/v1/terminal/ws?{query}")
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("sec-websocket-protocol", "tty".parse().expect("header"));
        let (mut ws, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket connect");
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .map(|v| v.to_str().unwrap_or("")),
            Some("tty")
        );
        ws.send(Message::Text(r#"{"columns":80,"rows":24}"#.into()))
            .await
            .expect("send size");
        let mut t = Tty {
            ws,
            out: Vec::new(),
            title: String::new(),
            id: String::new(),
            shell: String::new(),
        };
        // Title, preferences, terminal id, shell come first.
        let mut seen = 0;
        while seen < 4 {
            let (cmd, body) = t.frame().await.expect("initial frames");
            let text = String::from_utf8_lossy(&body).to_string();
            match cmd {
                b'1' => t.title = text,
                b'2' => {
                    serde_json::from_str::<Value>(&text).expect("preferences are JSON");
                }
                b'3' => t.id = text,
                b'4' => t.shell = text,
                b'0' => {
                    t.out.extend_from_slice(&body);
                    continue;
                }
                other => panic!("unexpected frame type {other}"),
            }
            seen += 1;
        }
        t
    }

    /// The next data frame: (type, payload); `None` when the socket closed.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame within the wait")?;
            match m.ok()? {
                Message::Binary(b) => {
                    let (cmd, body) = b.split_first().expect("non-empty frame");
                    return Some((*cmd, body.to_vec()));
                }
                Message::Text(t) => panic!("server sent a text frame: {t}"),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    async fn send(&mut self, cmd: u8, body: &[u8]) {
        let mut b = vec![cmd];
        b.extend_from_slice(body);
        self.ws
            .send(Message::Binary(Bytes::from(b)))
            .await
            .expect("send frame");
    }

    async fn type_line(&mut self, line: &str) {
        self.send(b'0', format!("{line}\r").as_bytes()).await;
    }

    /// Reads output until a screen line satisfies `pred`; returns that line.
    async fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        // Lines before `scanned` were looked at already (output can be megabytes).
        let mut scanned = 0;
        loop {
            if let Some(l) = screen_lines(&self.out[scanned..])
                .into_iter()
                .find(|l| pred(l))
            {
                return l;
            }
            if let Some(nl) = self.out.iter().rposition(|&b| b == b'\n') {
                scanned = scanned.max(nl + 1);
            }
            assert!(
                Instant::now() < deadline,
                "no line {what} in output: {:?}",
                String::from_utf8_lossy(&self.out[self.out.len().saturating_sub(4096)..])
            );
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(f) = tokio::time::timeout(left, self.frame()).await else {
                continue;
            };
            match f {
                Some((b'0', body)) => self.out.extend_from_slice(&body),
                Some(_) => {}
                None => panic!(
                    "socket closed waiting for {what}; output: {:?}",
                    String::from_utf8_lossy(&self.out)
                ),
            }
        }
    }

    /// Types `echo <tag>=$$` and returns the shell's pid.
    async fn shell_pid(&mut self, tag: &str) -> u32 {
        self.type_line(&format!("echo {tag}=$$")).await;
        let l = self
            .wait_line(tag, |l| {
                l.strip_prefix(&format!("{tag}="))
                    .is_some_and(|r| r.parse::<u32>().is_ok())
            })
            .await;
        l[tag.len() + 1..].parse().expect("pid")
    }

    /// Waits for the close frame; its code and reason.
    async fn closed(&mut self) -> (u16, String) {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close within the wait");
            match m {
                Some(Ok(Message::Close(Some(f)))) => return (f.code.into(), f.reason.to_string()),
                Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("socket error instead of a close: {e}"),
            }
        }
    }
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) is dead: only its exit status is left to collect.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, r)| !r.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

async fn wait_dead(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} still alive");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_on_terminal_1_both_see_echo_hi() {
    let k = kit().await;
    // No terminal_id: terminal 1.
    let mut a = k.tty("").await;
    let mut b = k.tty("terminal_id=1").await;
    assert_eq!(a.id, "1");
    assert_eq!(b.id, "1");
    assert_eq!(a.shell, "bash");
    assert!(a.title.starts_with("bash ("), "title {:?}", a.title);
    a.type_line("echo hi").await;
    a.wait_line("hi", |l| l == "hi").await;
    b.wait_line("hi", |l| l == "hi").await;
    // Input from the other client too.
    b.type_line("echo from-$((40+2))").await;
    a.wait_line("from-42", |l| l == "from-42").await;
    b.wait_line("from-42", |l| l == "from-42").await;

    let (st, list) = k.get("/api/v1/terminal/sessions").await;
    assert_eq!(st, 200);
    let s = &list.as_array().expect("array")[0];
    assert_eq!(s["id"], 1);
    assert_eq!(s["clients"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_client_that_falls_behind_is_resynchronised() {
    let k = kit().await;
    let mut slow = k.tty("terminal_id=10").await;
    let mut fast = k.tty("terminal_id=10").await;
    slow.shell_pid("ready").await;
    slow.send(b'2', b"").await; // pause
    // Megabytes of output: far more chunks than a client may fall behind.
    fast.type_line("seq -f 'n%g' 1 300000; echo end-$((1+1))")
        .await;
    fast.wait_line("end-2", |l| l == "end-2").await;
    let before = slow.out.len();
    slow.send(b'3', b"").await; // resume
    slow.wait_line("end-2", |l| l == "end-2").await;
    let got = &slow.out[before..];
    // It was reset and given the scrollback (bounded), not every byte it missed.
    assert!(
        got.windows(2).any(|w| w == b"\x1bc"),
        "no terminal reset in the resync"
    );
    assert!(got.len() < 2 * 1024 * 1024, "{} bytes replayed", got.len());
    assert!(screen_lines(got).iter().any(|l| l == "n300000"));
    // And it is live again.
    fast.type_line("echo after-$((2+2))").await;
    slow.wait_line("after-4", |l| l == "after-4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_2_is_a_different_shell() {
    let k = kit().await;
    let mut one = k.tty("terminal_id=1").await;
    let mut two = k.tty("terminal_id=2").await;
    assert_eq!(two.id, "2");
    let p1 = one.shell_pid("pid1").await;
    let p2 = two.shell_pid("pid2").await;
    assert_ne!(p1, p2);
    // Each session's output stays its own.
    assert!(
        !screen_lines(&one.out)
            .iter()
            .any(|l| l.starts_with("pid2="))
    );

    let (_, list) = k.get("/api/v1/terminal/sessions").await;
    let pids: Vec<(u64, u64)> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|s| (s["id"].as_u64().unwrap(), s["pid"].as_u64().unwrap()))
        .collect();
    assert_eq!(pids, vec![(1, u64::from(p1)), (2, u64::from(p2))]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reconnects_finds_its_session_and_screen() {
    let k = kit().await;
    let mut a = k.tty("terminal_id=3").await;
    let pid = a.shell_pid("before").await;
    a.type_line("echo marker-$((7*6))-kept").await;
    a.wait_line("marker", |l| l == "marker-42-kept").await;
    drop(a);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, list) = k.get("/api/v1/terminal/sessions").await;
    assert_eq!(list[0]["clients"], 0, "{list}");
    assert!(alive(pid));

    let mut b = k.tty("terminal_id=3").await;
    // The scrollback replay shows the screen again...
    b.wait_line("replayed marker", |l| l == "marker-42-kept")
        .await;
    // ...and it is the same shell.
    assert_eq!(b.shell_pid("after").await, pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_changes_stty_size() {
    let k = kit().await;
    let mut a = k.tty("terminal_id=4").await;
    a.type_line("stty size").await;
    a.wait_line("24 80", |l| l == "24 80").await;
    a.send(b'1', br#"{"columns":123,"rows":37}"#).await;
    a.type_line("stty size").await;
    a.wait_line("37 123", |l| l == "37 123").await;
    let (_, list) = k.get("/api/v1/terminal/sessions").await;
    assert_eq!(
        (list[0]["cols"].clone(), list[0]["rows"].clone()),
        (json!(123), json!(37))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_sync_separates_stdout_stderr_and_exit_code() {
    let k = kit().await;
    k.create(5).await;
    let (st, r) = k
        .post(
            "/api/v1/terminal/execute?terminal_id=5",
            r#"{"command":"echo out; echo err >&2; exit 3"}"#,
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["success"], false);
    assert_eq!(r["exit_code"], 3);
    assert_eq!(r["stdout"], "out\n");
    assert_eq!(r["stderr"], "err\n");
    assert!(r["duration_ms"].as_u64().is_some());

    let (_, ok) = k
        .post(
            "/api/v1/terminal/execute",
            r#"{"command":"printf '%s' \"$HOODY_TERMINAL_ID:$FOO\"","terminal_id":5,"env":{"FOO":"bar"}}"#,
        )
        .await;
    assert_eq!(ok["success"], true, "{ok}");
    assert_eq!(ok["exit_code"], 0);
    assert_eq!(ok["stdout"], "5:bar");
    assert_eq!(ok["stderr"], "");

    // It runs where the session's shell is now.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8");
    let (st, w) = k
        .post(
            "/api/v1/terminal/write",
            &json!({"terminal_id": 5, "input": format!("cd {d}"), "enter": true}).to_string(),
        )
        .await;
    assert_eq!(st, 200, "{w}");
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, r) = k
            .post(
                "/api/v1/terminal/execute?terminal_id=5",
                r#"{"command":"pwd"}"#,
            )
            .await;
        if r["stdout"] == format!("{d}\n") {
            break;
        }
        assert!(Instant::now() < deadline, "pwd never became {d}: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Watchers of the terminal see that it ran.
    let mut t = k.tty("terminal_id=5").await;
    t.wait_line("execute echo", |l| {
        l.contains("[execute ") && l.ends_with("$ echo out; echo err >&2; exit 3")
    })
    .await;
    t.wait_line("exit line", |l| l.starts_with("[exit 3,"))
        .await;

    // And it is in the history.
    let (st, h) = k.get("/api/v1/terminal/history/5").await;
    assert_eq!(st, 200);
    let executed: Vec<&Value> = h["command_history"]
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["source"] == "execute")
        .collect();
    assert_eq!(executed[0]["command"], "echo out; echo err >&2; exit 3");
    assert_eq!(executed[0]["exit_code"], 3);
    // The typed `cd` is there too (bash history, appended per command).
    assert!(
        h["command_history"]
            .as_array()
            .expect("array")
            .iter()
            .any(|e| e["source"] == "shell" && e["command"] == format!("cd {d}")),
        "{h}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_async_then_result() {
    let k = kit().await;
    k.create(6).await;
    let (st, r) = k
        .post(
            "/api/v1/terminal/execute?terminal_id=6",
            r#"{"command":"sleep 0.5; echo done; echo oops >&2","wait":false,"id":"job-1"}"#,
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["command_id"], "job-1");
    assert_eq!(r["status"], "running");
    let (_, running) = k.get("/api/v1/terminal/result/job-1").await;
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["exit_code"], Value::Null);
    // The same id cannot be reused while it runs.
    let (st, dup) = k
        .post(
            "/api/v1/terminal/execute?terminal_id=6",
            r#"{"command":"true","wait":false,"id":"job-1"}"#,
        )
        .await;
    assert_eq!((st, dup["code"].clone()), (409, json!("CONFLICT")), "{dup}");

    let deadline = Instant::now() + WAIT;
    let done = loop {
        let (st, r) = k.get("/api/v1/terminal/result/job-1").await;
        assert_eq!(st, 200);
        if r["status"] == "completed" {
            break r;
        }
        assert!(Instant::now() < deadline, "never completed: {r}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["exit_code"], 0);
    assert_eq!(done["stdout"], "done\n");
    assert_eq!(done["stderr"], "oops\n");
    // `output` interleaves the two streams as they arrived: either order is right.
    let mut lines: Vec<&str> = done["output"].as_str().expect("output").lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["done", "oops"], "{done}");

    // Abort: a long command is stopped.
    let (_, r) = k
        .post(
            "/api/v1/terminal/execute?terminal_id=6",
            r#"{"command":"sleep 60","wait":false}"#,
        )
        .await;
    let id = r["command_id"].as_str().expect("id").to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (st, a) = k
        .post(&format!("/api/v1/terminal/execute/{id}/abort"), "{}")
        .await;
    assert_eq!(st, 200, "{a}");
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, r) = k.get(&format!("/api/v1/terminal/result/{id}")).await;
        if r["status"] == "completed" {
            assert_eq!(r["exit_code"], 128 + 15, "{r}");
            assert_eq!(r["aborted"], true);
            break;
        }
        assert!(Instant::now() < deadline, "abort did not stop it: {r}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_timeout_kills_the_process_group() {
    let k = kit().await;
    k.create(7).await;
    let t0 = Instant::now();
    let (st, r) = k
        .post(
            "/api/v1/terminal/execute?terminal_id=7",
            r#"{"command":"sleep 30 & echo $! > /dev/stderr; sleep 30","timeout":0.5}"#,
        )
        .await;
    assert_eq!(st, 200, "{r}");
    assert!(t0.elapsed() < Duration::from_secs(10));
    assert_eq!(r["timed_out"], true, "{r}");
    assert_eq!(r["exit_code"], 124);
    assert_eq!(r["success"], false);
    // The background child of the command died with it.
    let bg: u32 = r["stderr"]
        .as_str()
        .expect("stderr")
        .trim()
        .parse()
        .expect("pid");
    wait_dead(bg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_create_sessions_delete() {
    let k = kit().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf-8");
    let body = json!({"terminal_id": 8, "cwd": d, "cols": 100, "rows": 30, "env": {"GREETING": "hey", "HOME": k.home()}});
    let (st, c) = k.post("/api/v1/terminal/create", &body.to_string()).await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["created"], true);
    assert_eq!(c["terminal_id"], 8);
    let pid = c["pid"].as_u64().expect("pid") as u32;
    // Idempotent.
    let (st, again) = k.post("/api/v1/terminal/create", &body.to_string()).await;
    assert_eq!(st, 200);
    assert_eq!(again["created"], false);
    assert_eq!(again["pid"], pid);

    let mut t = k.tty("terminal_id=8").await;
    let (st, w) = k
        .post(
            "/api/v1/terminal/write",
            r#"{"terminal_id":8,"input":"echo \"$GREETING $((2+3)) $(pwd) $(stty size)\"","enter":true}"#,
        )
        .await;
    assert_eq!(st, 200, "{w}");
    // The resize from the client's first frame (80x24) applies to the running session.
    let want = format!("hey 5 {d} 24 80");
    t.wait_line(&want, |l| l == want).await;

    let (st, list) = k.get("/api/v1/terminal/sessions?history_limit=5").await;
    assert_eq!(st, 200);
    let s = &list[0];
    for f in [
        "id",
        "shell",
        "cwd",
        "started_at",
        "command_history",
        "pid",
        "clients",
    ] {
        assert!(s.get(f).is_some(), "sessions entry lacks {f}: {s}");
    }
    assert_eq!(s["cwd"], d);
    assert_eq!(s["pid"], pid);

    let (st, raw) = http(
        "GET",
        &k.url("/api/v1/terminal/raw?terminal_id=8"),
        None,
        &[],
    )
    .await;
    assert_eq!(st, 200);
    assert!(raw.as_str().expect("text").contains("hey 5"));

    let (st, del) = k.delete("/api/v1/terminal/8").await;
    assert_eq!(st, 200, "{del}");
    assert_eq!(del["success"], true);
    wait_dead(pid).await;
    // The attached client is told.
    let (code, _) = t.closed().await;
    assert_eq!(code, 1000);
    let (st, gone) = k.delete("/api/v1/terminal/8").await;
    assert_eq!((st, gone["code"].clone()), (404, json!("NOT_FOUND")));
    let (_, list) = k.get("/api/v1/terminal/sessions").await;
    assert_eq!(list, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_exit_ends_the_session() {
    let k = kit().await;
    let mut t = k.tty("terminal_id=9").await;
    let pid = t.shell_pid("p").await;
    t.type_line("exit 7").await;
    let (code, reason) = t.closed().await;
    assert_eq!(code, 1000);
    assert_eq!(reason, "process exited with code 7");
    wait_dead(pid).await;
    let (_, list) = k.get("/api/v1/terminal/sessions").await;
    assert_eq!(list, json!([]));
    // The next attach starts a fresh shell.
    let mut again = k.tty("terminal_id=9").await;
    assert_ne!(again.shell_pid("q").await, pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_header_forces_the_terminal_id() {
    let k = kit().await;
    let (st, c) = http(
        "POST",
        &k.url("/api/v1/terminal/create"),
        Some(&json!({"terminal_id": 3, "env": {"HOME": k.home()}}).to_string()),
        &["x-hoody-instance: 12"],
    )
    .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["terminal_id"], 12);
    // Without a body id too.
    let (st, c) = http(
        "POST",
        &k.url("/api/v1/terminal/create"),
        Some("{}"),
        &["x-hoody-instance: 12"],
    )
    .await;
    assert_eq!((st, c["terminal_id"].clone()), (200, json!(12)));
    let (_, r) = http(
        "POST",
        &k.url("/api/v1/terminal/execute?terminal_id=1"),
        Some(r#"{"command":"echo $HOODY_TERMINAL_ID"}"#),
        &["x-hoody-instance: 12"],
    )
    .await;
    assert_eq!(r["stdout"], "12\n");
    // Ephemeral sessions get an id of their own.
    let (st, e) = k
        .post(
            "/api/v1/terminal/create",
            &json!({"ephemeral": true, "env": {"HOME": k.home()}}).to_string(),
        )
        .await;
    assert_eq!(st, 201, "{e}");
    let id = e["terminal_id"].as_u64().expect("id");
    assert!((40_000..=65_535).contains(&id), "{e}");
    let (_, list) = k.get("/api/v1/terminal/sessions").await;
    assert_eq!(list.as_array().expect("array").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_4xx_and_the_kit_keeps_serving() {
    let k = kit().await;
    /// method, path, body, status, code, a piece of the message.
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, u16, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "POST",
            "/api/v1/terminal/create",
            Some(r#"{"shell":"bash"}"#),
            400,
            "VALIDATION_ERROR",
            "Missing 'terminal_id' field",
        ),
        (
            "POST",
            "/api/v1/terminal/create",
            Some("{not json"),
            400,
            "VALIDATION_ERROR",
            "invalid JSON body",
        ),
        (
            "POST",
            "/api/v1/terminal/create",
            Some("[1]"),
            400,
            "VALIDATION_ERROR",
            "JSON object",
        ),
        (
            "POST",
            "/api/v1/terminal/create",
            Some(r#"{"terminal_id":70000}"#),
            400,
            "VALIDATION_ERROR",
            "1 to 65535",
        ),
        (
            "POST",
            "/api/v1/terminal/create",
            Some(r#"{"terminal_id":"abc"}"#),
            400,
            "VALIDATION_ERROR",
            "terminal_id",
        ),
        (
            "POST",
            "/api/v1/terminal/create",
            Some(r#"{"terminal_id":1,"shell":"pwsh"}"#),
            400,
            "VALIDATION_ERROR",
            "unknown shell",
        ),
        (
            "POST",
            "/api/v1/terminal/create",
            Some(r#"{"terminal_id":1,"cwd":"/nonexistent/x"}"#),
            400,
            "VALIDATION_ERROR",
            "/nonexistent/x",
        ),
        (
            "POST",
            "/api/v1/terminal/create",
            Some(r#"{"terminal_id":1,"cols":0}"#),
            400,
            "VALIDATION_ERROR",
            "cols",
        ),
        (
            "POST",
            "/api/v1/terminal/execute",
            Some("{}"),
            400,
            "VALIDATION_ERROR",
            "Missing 'command' field",
        ),
        (
            "POST",
            "/api/v1/terminal/execute",
            Some(r#"{"command":"true","timeout":-1}"#),
            400,
            "VALIDATION_ERROR",
            "timeout",
        ),
        (
            "POST",
            "/api/v1/terminal/execute",
            Some(r#"{"command":"true","id":"../x"}"#),
            400,
            "VALIDATION_ERROR",
            "command id",
        ),
        (
            "POST",
            "/api/v1/terminal/execute",
            Some(r#"{"command":"true","env":{"A":[1]}}"#),
            400,
            "VALIDATION_ERROR",
            "env A",
        ),
        (
            "GET",
            "/api/v1/terminal/result/nope",
            None,
            404,
            "NOT_FOUND",
            "command nope not found",
        ),
        (
            "POST",
            "/api/v1/terminal/execute/nope/abort",
            Some("{}"),
            404,
            "NOT_FOUND",
            "command nope",
        ),
        (
            "POST",
            "/api/v1/terminal/write",
            Some(r#"{"terminal_id":77,"input":"x"}"#),
            404,
            "NOT_FOUND",
            "terminal session 77 not found",
        ),
        (
            "POST",
            "/api/v1/terminal/write",
            Some(r#"{"terminal_id":77}"#),
            400,
            "VALIDATION_ERROR",
            "Missing 'input' field",
        ),
        (
            "GET",
            "/api/v1/terminal/history/77",
            None,
            404,
            "NOT_FOUND",
            "terminal session 77",
        ),
        (
            "GET",
            "/api/v1/terminal/history/x",
            None,
            400,
            "VALIDATION_ERROR",
            "terminal id",
        ),
        (
            "DELETE",
            "/api/v1/terminal/77",
            None,
            404,
            "NOT_FOUND",
            "terminal session 77",
        ),
        (
            "DELETE",
            "/api/v1/terminal/0",
            None,
            400,
            "VALIDATION_ERROR",
            "terminal id",
        ),
        (
            "GET",
            "/api/v1/terminal/sessions?history_limit=lots",
            None,
            400,
            "VALIDATION_ERROR",
            "history_limit",
        ),
        (
            "GET",
            "/api/v1/terminal/ws?terminal_id=abc",
            None,
            400,
            "VALIDATION_ERROR",
            "terminal_id",
        ),
        (
            "GET",
            "/api/v1/terminal/ws?shell=tcsh",
            None,
            400,
            "VALIDATION_ERROR",
            "unknown shell",
        ),
        (
            "GET",
            "/api/v1/terminal/ws",
            None,
            426,
            "WEBSOCKET_REQUIRED",
            "WebSocket",
        ),
        (
            "GET",
            "/assets/nope.js",
            None,
            404,
            "NOT_FOUND",
            "asset nope.js",
        ),
    ];
    for (method, path, body, status, code, msg) in cases {
        let (st, v) = http(method, &k.url(path), body, &[]).await;
        assert_eq!(st, status, "{method} {path} {body:?}: {v}");
        assert_eq!(v["code"], code, "{method} {path}: {v}");
        let err = v["error"].as_str().unwrap_or("");
        assert!(err.contains(msg), "{method} {path}: {err:?} lacks {msg:?}");
        assert!(v["timestamp"].is_string(), "{v}");
    }

    // Bad frames close the socket with 1008 and say why.
    let bad_first = async |first: Message| {
        let mut req = format!("ws://{}/api/v1/terminal/ws?terminal_id=20", k.addr)
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("sec-websocket-protocol", "tty".parse().expect("header"));
        let (mut ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("connect");
        ws.send(first).await.expect("send");
        loop {
            match tokio::time::timeout(WAIT, ws.next()).await.expect("close") {
                Some(Ok(Message::Close(Some(f)))) => return (f.code, f.reason.to_string()),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    };
    let (code, reason) = bad_first(Message::Text("0hello".into())).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("first frame must be JSON"), "{reason}");
    let (code, reason) = bad_first(Message::Text("{\"columns\":".into())).await;
    assert_eq!(code, CloseCode::Policy);
    assert!(reason.contains("invalid initial JSON"), "{reason}");

    let mut t = k.tty("terminal_id=21").await;
    t.send(b'9', b"").await;
    let (code, reason) = t.closed().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("unknown frame type '9'"), "{reason}");
    let mut t = k.tty("terminal_id=21").await;
    t.send(b'1', b"{\"columns\":\"wide\"}").await;
    let (code, reason) = t.closed().await;
    assert_eq!(code, 1008);
    assert!(reason.contains("invalid resize JSON"), "{reason}");

    // Readonly clients' input is ignored; a writer's is not.
    let mut ro = k.tty("terminal_id=21&readonly=true").await;
    ro.type_line("echo from-readonly-$((1+1))").await;
    let mut rw = k.tty("terminal_id=21").await;
    rw.type_line("echo from-writer-$((1+1))").await;
    rw.wait_line("writer", |l| l == "from-writer-2").await;
    ro.wait_line("writer", |l| l == "from-writer-2").await;
    assert!(!screen_lines(&rw.out).iter().any(|l| l == "from-readonly-2"));

    // Still serving.
    k.create(1).await;
    let (st, h) = k.get("/api/v1/terminal/health").await;
    assert_eq!(st, 200);
    assert_eq!(h["status"], "ok");
    assert_eq!(h["service"], "hoody-terminal");
    let (_, r) = k
        .post("/api/v1/terminal/execute", r#"{"command":"echo still"}"#)
        .await;
    assert_eq!(r["stdout"], "still\n");
}

#[test]
fn sessions_die_with_the_service() {
    // A runtime of its own, dropped while a session and an execute command run.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (shell, cmd, k) = rt.block_on(async {
        let k = kit().await;
        let mut t = k.tty("terminal_id=30").await;
        let shell = t.shell_pid("s").await;
        t.type_line("sleep 300 & echo bg=$!").await;
        let l = t
            .wait_line("bg", |l| {
                l.strip_prefix("bg=")
                    .is_some_and(|p| p.parse::<u32>().is_ok())
            })
            .await;
        let bg: u32 = l[3..].parse().expect("pid");
        let (_, r) = k
            .post(
                "/api/v1/terminal/execute?terminal_id=30",
                r#"{"command":"sleep 300","wait":false,"id":"long"}"#,
            )
            .await;
        assert_eq!(r["status"], "running");
        tokio::time::sleep(Duration::from_millis(300)).await;
        // The server task is left to the runtime's shutdown.
        (shell, bg, k)
    });
    assert!(alive(shell) && alive(cmd));
    drop(rt);
    drop(k);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(shell) || alive(cmd) {
        assert!(
            Instant::now() < deadline,
            "shell {shell} or job {cmd} outlived the service"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- headless Chromium over the DevTools protocol ----

/// Chromium, killed (with its whole process group) on drop.
struct Chromium {
    child: std::process::Child,
    _profile: tempfile::TempDir,
    ws_url: String,
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill has no memory preconditions; -pid names Chromium's process group.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromium() -> Chromium {
    use std::os::unix::process::CommandExt;
    let profile = tempfile::tempdir().expect("profile dir");
    let child = std::process::Command::new("/usr/bin/chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1000,700",
            &format!("--user-data-dir={}", profile.path().display()),
            "--remote-debugging-port=0",
            "about:blank",
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("start chromium");
    let mut c = Chromium {
        child,
        _profile: profile,
        ws_url: String::new(),
    };
    let file = c._profile.path().join("DevToolsActivePort");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::fs::read_to_string(&file) {
            let mut lines = s.lines();
            if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                c.ws_url = format!("ws://127.0.0.1:{port}{path}");
                return c;
            }
        }
        assert!(
            Instant::now() < deadline,
            "chromium wrote no DevToolsActivePort"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A CDP connection with one flat page session.
struct Cdp {
    ws: Ws,
    next: u64,
    session: String,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .expect("cdp send");
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("cdp answer in time")
                .expect("cdp open")
                .expect("cdp frame");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).expect("cdp json");
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true}),
            )
            .await;
        r["result"]["value"].clone()
    }
}

/// Waits until the page's screen (xterm's DOM rows) shows the command and its answer.
async fn screen_shows_42(cdp: &mut Cdp) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = cdp
            .eval("Array.from(document.querySelectorAll('.xterm-rows > div')).map(d => d.textContent.replace(/\\u00a0/g, ' ').trimEnd()).join('\\n')")
            .await;
        let text = text.as_str().unwrap_or("").to_string();
        if text.lines().any(|l| l.trim() == "42") {
            assert!(text.contains("echo $((6*7))"), "{text}");
            return;
        }
        assert!(Instant::now() < deadline, "no 42 on screen:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_uses_the_web_terminal_in_chromium() {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        eprintln!(
            "NOTICE: /usr/bin/chromium is absent (apt-get install chromium); skipping the browser test"
        );
        return;
    }
    let k = kit().await;
    k.create(40).await;
    // The page and its built-in assets.
    let page = tokio::process::Command::new("curl")
        .args(["-sS", &k.url("/?terminal_id=40")])
        .output()
        .await
        .expect("curl");
    let html = String::from_utf8_lossy(&page.stdout);
    assert!(
        html.contains("/assets/xterm.js") && html.contains("\"40\""),
        "{html}"
    );

    let chromium = tokio::task::spawn_blocking(start_chromium)
        .await
        .expect("start chromium");
    let (ws, _) = tokio_tungstenite::connect_async(chromium.ws_url.as_str())
        .await
        .expect("cdp connect");
    let mut cdp = Cdp {
        ws,
        next: 0,
        session: String::new(),
    };
    let target = cdp
        .call("Target.createTarget", json!({"url": "about:blank"}))
        .await;
    let attached = cdp
        .call(
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        )
        .await;
    cdp.session = attached["sessionId"].as_str().expect("session").to_string();
    cdp.call("Page.enable", json!({})).await;
    cdp.call("Runtime.enable", json!({})).await;
    cdp.call(
        "Page.navigate",
        json!({"url": k.url("/?terminal_id=40&fontSize=16&title=hoody-test")}),
    )
    .await;

    let deadline = Instant::now() + WAIT;
    while cdp
        .eval("!!(window.term && window.termConnected && window.termShell === 'bash')")
        .await
        != json!(true)
    {
        assert!(Instant::now() < deadline, "the page never connected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cdp.eval("document.title").await, "hoody-test");
    assert_eq!(cdp.eval("window.termId").await, "40");
    assert_eq!(cdp.eval("term.options.fontSize").await, 16);
    // The terminal fitted the window: more than the default 80 columns at 1000 px? Either
    // way, the PTY has the page's size.
    let cols = cdp.eval("term.cols").await.as_u64().expect("cols");
    let rows = cdp.eval("term.rows").await.as_u64().expect("rows");

    cdp.eval("term.focus()").await;
    cdp.call("Input.insertText", json!({"text": "echo $((6*7))"}))
        .await;
    for kind in ["keyDown", "keyUp"] {
        let mut ev = json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "nativeVirtualKeyCode": 13});
        if kind == "keyDown" {
            ev["text"] = json!("\r");
        }
        cdp.call("Input.dispatchKeyEvent", ev).await;
    }
    screen_shows_42(&mut cdp).await;
    // What a person sees (HOODY_TERMINAL_SCREENSHOT=path.png keeps it).
    let shot = cdp
        .call("Page.captureScreenshot", json!({"format": "png"}))
        .await;
    let b64 = shot["data"].as_str().expect("screenshot data");
    assert!(b64.starts_with("iVBORw0KGgo"), "not a PNG");
    if let Ok(path) = std::env::var("HOODY_TERMINAL_SCREENSHOT") {
        let png = tokio::process::Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("base64");
        let mut png = png;
        use tokio::io::AsyncWriteExt;
        let mut stdin = png.stdin.take().expect("stdin");
        stdin.write_all(b64.as_bytes()).await.expect("write");
        drop(stdin);
        let out = png.wait_with_output().await.expect("base64 -d");
        std::fs::write(&path, out.stdout).expect("write screenshot");
    }
    // Reloading the page (a person coming back) shows the same screen again.
    cdp.call("Page.reload", json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let deadline = Instant::now() + WAIT;
    while cdp.eval("!!(window.term && window.termConnected)").await != json!(true) {
        assert!(
            Instant::now() < deadline,
            "the reloaded page never connected"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    screen_shows_42(&mut cdp).await;
    // The PTY got the page's size.
    let (_, r) = k
        .post(
            "/api/v1/terminal/execute?terminal_id=40",
            r#"{"command":"true"}"#,
        )
        .await;
    assert_eq!(r["exit_code"], 0);
    let (_, list) = k.get("/api/v1/terminal/sessions").await;
    assert_eq!(list[0]["cols"], cols, "{list}");
    assert_eq!(list[0]["rows"], rows, "{list}");
    drop(cdp);
    drop(chromium);
}
