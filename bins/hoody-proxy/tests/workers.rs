//! hoody-proxy's worker processes, as root: a real hoodyd (no container: the requests go to
//! hoodyd's API through `api.{apex}`, proxied by whichever worker the kernel gives the
//! connection to) and the proxy with `--workers 2`: both workers serve, a worker killed with
//! SIGKILL is restarted and serves again, SIGTERM to the supervisor stops it with no worker
//! left behind, and SIGKILL to the supervisor takes the workers with it.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hoody_testkit::daemon::{Daemon, bin};
use hoody_testkit::free_port;

const APEX: &str = "hoody.test";

/// The proxy, killed (with its workers, through their parent-death signal) if a test fails.
struct Proxy {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn start(d: &Daemon, name: &str) -> Proxy {
        let port = free_port();
        let log = d.path(&format!("{name}.log"));
        let child = Command::new(bin("hoody-proxy"))
            .args(["--domain", APEX, "--dns", "none"])
            .arg("--hoodyd-socket")
            .arg(d.socket())
            .args(["--http", &format!("127.0.0.1:{port}"), "--https", "none"])
            .arg("--log-dir")
            .arg(d.path("proxy-logs"))
            .args(["--workers", "2", "--threads", "1"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Proxy { child, port, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn workers(&self) -> Vec<u32> {
        children(self.pid())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the proxy has two workers and answers.
    fn wait_serving(&self, token: &str) -> Vec<u32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let w = self.workers();
            if w.len() == 2 && request(self.port, token).is_some_and(|r| r.contains(" 200 ")) {
                return w;
            }
            assert!(
                Instant::now() < deadline,
                "the proxy never served with two workers ({w:?}): {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// Gone, or a zombie waiting for whoever inherited it.
fn is_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn socket_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|l| l.to_string_lossy().starts_with("socket:"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn kill(pid: u32, signal: i32) {
    // SAFETY: kill has no memory arguments; the pid is a process this test started (or one of
    // its workers).
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0, "kill {pid}");
}

/// `GET /api/v1/servers` on `api.{APEX}` over a new connection, kept open afterwards (so that
/// the worker that accepted it holds it); the answer and the connection.
fn request_kept(port: u16, token: &str) -> Option<(String, TcpStream)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /api/v1/servers HTTP/1.1\r\nHost: api.{APEX}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .ok()?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("node-1") {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Some((String::from_utf8_lossy(&got).into_owned(), s))
}

fn request(port: u16, token: &str) -> Option<String> {
    request_kept(port, token).map(|(r, _)| r)
}

/// Opens 20 connections with a request each and keeps them: each of `workers` must have
/// accepted some (the kernel spreads connections over the workers' sockets by their
/// addresses; all 20 on one of two workers would happen once in half a million runs).
fn both_serve(port: u16, token: &str, workers: &[u32]) {
    let before: Vec<usize> = workers.iter().map(|&w| socket_count(w)).collect();
    let mut kept = Vec::new();
    for _ in 0..20 {
        let (r, s) = request_kept(port, token).expect("a request through the proxy");
        assert!(r.starts_with("HTTP/1.1 200 "), "{r}");
        assert!(r.contains("\"name\":\"node-1\""), "{r}");
        kept.push(s);
    }
    for (w, before) in workers.iter().zip(before) {
        let now = socket_count(*w);
        assert!(
            now > before,
            "worker {w} holds {now} sockets, {before} before 20 connections: it served none"
        );
    }
}

#[test]
fn workers_serve_restart_and_stop() {
    let d = Daemon::with(&["--domain", APEX]);
    let token = d.api(
        "POST",
        "/api/v1/auth/tokens",
        Some(serde_json::json!({"alias": "hoodytest-workers"})),
        201,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();

    let mut p = Proxy::start(&d, "proxy");
    let workers = p.wait_serving(&token);
    for (i, w) in workers.iter().enumerate() {
        let cmdline = std::fs::read(format!("/proc/{w}/cmdline")).unwrap();
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        assert!(
            args.windows(2)
                .any(|a| a[0] == b"--worker" && a[1] == i.to_string().as_bytes()),
            "worker {w}: {}",
            String::from_utf8_lossy(&cmdline)
        );
    }
    // The supervisor serves nothing and has no runtime: one thread (this proxy runs no
    // resolver, which would be two threads of the supervisor's).
    let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid())).unwrap();
    assert!(status.contains("\nThreads:\t1\n"), "{status}");
    both_serve(p.port, &token, &workers);

    // A worker killed: restarted (logged), and the new one serves its share.
    kill(workers[0], libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let restarted = loop {
        let now = p.workers();
        if now.len() == 2 && !now.contains(&workers[0]) {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "worker 0 not restarted: {now:?}; {}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(restarted.contains(&workers[1]), "{restarted:?}");
    assert!(
        p.log().contains(&format!(
            "worker 0 (pid {}) was killed by signal 9; restarting it in",
            workers[0]
        )),
        "{}",
        p.log()
    );
    p.wait_serving(&token);
    both_serve(p.port, &token, &restarted);

    // SIGTERM: the supervisor stops its workers, waits for them, and exits successfully.
    kill(p.pid(), libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = p.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the supervisor did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}: {}", p.log());
    for w in &restarted {
        assert!(
            !std::path::Path::new(&format!("/proc/{w}")).exists(),
            "worker {w} left behind"
        );
    }
    assert!(request(p.port, &token).is_none(), "still answering");

    // SIGKILL to the supervisor: the workers die with it (their parent-death signal).
    let p = Proxy::start(&d, "proxy-2");
    let workers = p.wait_serving(&token);
    kill(p.pid(), libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !workers.iter().all(|&w| is_gone(w)) {
        assert!(
            Instant::now() < deadline,
            "workers {workers:?} outlived their supervisor"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
