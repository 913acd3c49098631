//! The API commands (`hoody containers`, `snapshots`, ...) without a real hoodyd: completions,
//! usage errors, an absent daemon, and a fake daemon on a unix socket that records what the
//! CLI sends and answers with canned responses. No root needed.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread;

const CID: &str = "65f0c0ffee0123456789abcd";
const PID: &str = "65f0c0ffee0123456789abce";
const SID: &str = "65f0c0ffee0123456789abcf";

/// `hoody` with a clean API environment pointed at `socket`.
fn hoody(socket: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hoody"));
    c.env("HOODY_SOCKET", socket)
        .env_remove("HOODY_API_URL")
        .env_remove("HOODY_TOKEN")
        .env_remove("HOODY_CONTAINER")
        .env_remove("HOODY_OUTPUT");
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(c: &mut Command) -> (Option<i32>, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().unwrap();
    (status.code(), text(&stdout), text(&stderr))
}

/// A fake hoodyd: answers each connection with the next of `answers` (status, JSON body) and
/// reports the requests it got (request line, then the body).
struct FakeDaemon {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    requests: mpsc::Receiver<(String, String)>,
}

impl FakeDaemon {
    fn new(answers: Vec<(u16, String)>) -> FakeDaemon {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("hoodyd.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let (tx, requests) = mpsc::channel();
        thread::spawn(move || {
            for (status, body) in answers {
                let Ok((mut s, _)) = listener.accept() else {
                    return;
                };
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                r.read_line(&mut first).unwrap();
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut req_body = vec![0; len];
                r.read_exact(&mut req_body).unwrap();
                let _ = tx.send((first.trim_end().to_string(), text(&req_body)));
                let answer = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        FakeDaemon {
            _dir: dir,
            socket,
            requests,
        }
    }

    fn request(&self) -> (String, String) {
        self.requests
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap()
    }
}

fn ok(data: &str) -> (u16, String) {
    (
        200,
        format!(r#"{{"statusCode":200,"message":"ok","data":{data}}}"#),
    )
}

fn container(status: &str, error: Option<&str>) -> String {
    let error = error.map_or("null".to_string(), |e| format!("{e:?}"));
    format!(
        r##"{{"id":"{CID}","project_id":"{PID}","project_alias":"web","server_id":"{SID}",
        "server_name":"node-1","name":"dev-environment","color":"#112233",
        "container_image":"debian-13","hoody_kit":true,"dev_kit":true,"ai":false,
        "autostart":true,"status":"{status}","environment_vars":{{"A":"1"}},
        "ssh_public_key":null,"comment":null,"realm_ids":[],"source_container_id":null,
        "ip":"10.88.0.2","error":{error},"created_at":"2026-01-02T03:04:05.678Z",
        "updated_at":"2026-01-02T03:04:05.678Z"}}"##
    )
}

#[test]
fn completions_cover_the_api_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = run(hoody(Path::new("/nonexistent")).args(["completions", shell]));
        assert_eq!(code, Some(0), "{err}");
        for word in [
            "containers",
            "snapshots",
            "projects",
            "tokens",
            "status-logs",
        ] {
            assert!(out.contains(word), "{shell} completions lack {word}");
        }
    }
    let (code, _, _) = run(hoody(Path::new("/nonexistent")).args(["completions", "tcsh"]));
    assert_eq!(code, Some(2));
}

#[test]
fn an_absent_daemon_exits_3_and_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("hoodyd.sock");
    let (code, out, err) = run(hoody(&socket).args([
        "containers",
        "create",
        "--project",
        PID,
        "--server-id",
        SID,
        "--name",
        "dev-environment",
        "--hoody-kit",
        "--dev-kit",
    ]));
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(out, "");
    assert_eq!(
        err.trim_end(),
        format!(
            "error: cannot reach hoodyd at {}: No such file or directory (is hoodyd running? `hoodyd` or `systemctl start hoodyd`)",
            socket.display()
        )
    );
}

#[test]
fn usage_errors_exit_2() {
    let nowhere = Path::new("/nonexistent/hoodyd.sock");
    for (args, says) in [
        (&["containers", "get"][..], "no container given"),
        (&["snapshots", "list"][..], "HOODY_CONTAINER"),
        (
            &["containers", "manage", "explode"][..],
            "unknown operation",
        ),
        (
            &["containers", "create", "--server-id", SID][..],
            "--project",
        ),
        (&["containers", "update", CID][..], "nothing to update"),
        (
            &["containers", "list", "--api-url", "https://h:7007"][..],
            "https is not supported",
        ),
        (
            &["containers", "list", "--output", "xml"][..],
            "invalid value",
        ),
        (
            &["containers", "env", "bulk-set", "-c", CID, "--body", "[1]"][..],
            "flat JSON object",
        ),
        (
            &["snapshots", "update-alias", "-c", CID, "--name", "s"][..],
            "--alias",
        ),
    ] {
        let (code, _, err) = run(hoody(nowhere).args(args));
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn create_sends_the_documented_flags_and_waits_until_made() {
    let d = FakeDaemon::new(vec![
        (
            201,
            format!(
                r#"{{"statusCode":201,"message":"created","data":{}}}"#,
                container("creating", None)
            ),
        ),
        ok(&container("creating", None)),
        ok(&container("running", None)),
    ]);
    let (code, out, err) = run(hoody(&d.socket).args([
        "containers",
        "create",
        "--project",
        PID,
        "--server-id",
        SID,
        "--name",
        "dev-environment",
        "--hoody-kit",
        "--dev-kit",
        "--autostart",
        "false",
        "-e",
        "GREETING=hi=there",
        "--wait",
        "--output",
        "json",
    ]));
    assert_eq!(code, Some(0), "{err}");
    let (line, body) = d.request();
    assert_eq!(
        line,
        format!("POST /api/v1/projects/{PID}/containers HTTP/1.1")
    );
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"server_id": SID, "name": "dev-environment", "hoody_kit": true,
            "dev_kit": true, "autostart": false,
            "environment_vars": {"GREETING": "hi=there"}})
    );
    assert_eq!(
        d.request().0,
        format!("GET /api/v1/containers/{CID} HTTP/1.1")
    );
    let printed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed["status"], "running");
}

#[test]
fn a_failed_creation_exits_1_with_its_error() {
    let d = FakeDaemon::new(vec![
        (
            201,
            format!(
                r#"{{"statusCode":201,"message":"created","data":{}}}"#,
                container("creating", None)
            ),
        ),
        ok(&container("failed", Some("debootstrap: no network"))),
    ]);
    let (code, out, err) = run(hoody(&d.socket).args([
        "containers",
        "create",
        "--project",
        PID,
        "--server-id",
        SID,
        "--wait",
    ]));
    assert_eq!(code, Some(1), "{err}");
    assert!(out.contains("ERROR"), "{out}");
    assert!(err.contains("failed: debootstrap: no network"), "{err}");
}

#[test]
fn tables_and_json() {
    let list = format!(
        r#"{{"containers":[{}],"pagination":{{"total":1,"page":1,"limit":20,"totalPages":1}}}}"#,
        container("running", None)
    );
    let d = FakeDaemon::new(vec![ok(&list), ok(&list)]);
    let (code, out, err) = run(hoody(&d.socket).args(["containers", "ls", "--sort-order", "asc"]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        d.request().0,
        "GET /api/v1/containers?sort_order=asc HTTP/1.1"
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("ID  "), "{out}");
    // Columns line up: every header starts where its value starts.
    for h in ["NAME", "STATUS", "PROJECT", "IP", "IMAGE", "CREATED"] {
        let at = lines[0].find(h).unwrap();
        assert_ne!(lines[1].as_bytes()[at], b' ', "{h} misaligned:\n{out}");
        assert_eq!(lines[1].as_bytes()[at - 1], b' ', "{h} misaligned:\n{out}");
    }
    assert!(lines[1].contains("2026-01-02 03:04:05"), "{out}");

    // Options before the command work too, and HOODY_OUTPUT is read.
    let (code, out, err) = run(hoody(&d.socket)
        .env("HOODY_OUTPUT", "json")
        .args(["containers", "list"]));
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["containers"][0]["id"], CID);
}

#[test]
fn api_errors_exit_1_and_name_the_container() {
    let d = FakeDaemon::new(vec![
        (
            404,
            r#"{"statusCode":404,"error":"CONTAINER_NOT_FOUND","message":"not found"}"#.into(),
        ),
        (
            404,
            format!(
                r#"{{"statusCode":404,"error":"CONTAINER_NOT_FOUND","message":"container {CID} not found"}}"#
            ),
        ),
        ok(&format!(
            r#"{{"operation":"stop","container_id":"{CID}","project_id":"{PID}","message":"Container stopped","status":"stopped"}}"#
        )),
    ]);
    let (code, _, err) = run(hoody(&d.socket).args(["-c", CID, "containers", "get"]));
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim_end(),
        format!("error: container {CID}: not found (CONTAINER_NOT_FOUND)")
    );
    assert_eq!(
        d.request().0,
        format!("GET /api/v1/containers/{CID} HTTP/1.1")
    );

    let (code, _, err) = run(hoody(&d.socket)
        .env("HOODY_CONTAINER", CID)
        .args(["snapshots", "list"]));
    assert_eq!(code, Some(1));
    assert_eq!(
        err.trim_end(),
        format!("error: container {CID} not found (CONTAINER_NOT_FOUND)")
    );

    let (code, out, err) = run(hoody(&d.socket).args(["containers", "manage", CID, "stop"]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out.trim_end(),
        format!("container {CID}: Container stopped (now stopped)")
    );
    let _ = d.request();
    let (line, body) = d.request();
    assert_eq!(line, format!("POST /api/v1/containers/{CID}/stop HTTP/1.1"));
    assert_eq!(body, "{}");
}

#[test]
fn token_secret_alone_on_stdout() {
    let created = r#"{"token":"hdy_0123456789abcdef0123456789abcdef0123456789abcdef","id":"65f0c0ffee0123456789abc0","alias":"ci","prefix":"hdy_0123","created_at":"2026-01-02T03:04:05Z","expires_at":null,"last_used_at":null}"#;
    let d = FakeDaemon::new(vec![(
        201,
        format!(r#"{{"statusCode":201,"message":"created","data":{created}}}"#),
    )]);
    let (code, out, err) = run(hoody(&d.socket).args(["tokens", "create", "--alias", "ci"]));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        "hdy_0123456789abcdef0123456789abcdef0123456789abcdef\n"
    );
    assert!(err.contains("shown only this once"), "{err}");
    let (line, body) = d.request();
    assert_eq!(line, "POST /api/v1/auth/tokens HTTP/1.1");
    assert_eq!(body, r#"{"alias":"ci"}"#);
}
