//! A real hoodyd for end-to-end tests: its own loop-mounted pool (with the cached Debian 13
//! image), its own network (name, address range, state), its own runtime directory and
//! socket; driven over HTTP with curl. Dropping it stops hoodyd, deletes every container it
//! still knows, removes the network and unmounts the pool.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{require_root, unique_name};
use serde_json::{Value, json};

/// A binary of the workspace, beside the running test's directory (`target/<profile>/`;
/// scripts/test builds them all before testing).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let p = exe.parent().and_then(Path::parent).unwrap().join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        p.display()
    );
    p
}

#[derive(Debug)]
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub net_name: String,
    pub net_pool: String,
    child: Option<Child>,
    pub tcp: Option<String>,
}

impl Default for Daemon {
    fn default() -> Self {
        Self::new()
    }
}

impl Daemon {
    /// A pool with the image, and hoodyd running on it.
    pub fn new() -> Self {
        Self::with(&[])
    }

    pub fn with(extra: &[&str]) -> Self {
        Self::with_env(extra, &[])
    }

    /// A pool with the image, and hoodyd running on it with extra arguments and environment
    /// variables (`HOODY_PROXY_HTTP`, ... for a test that runs a proxy containers reach).
    pub fn with_env(extra: &[&str], env: &[(&str, &str)]) -> Self {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", unique_name("hoodyd")))
            .tempdir_in("/var/tmp")
            .unwrap();
        // Each daemon its own /24 inside 10.96.0.0/12, from the pid and a counter.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slot = (std::process::id() * 7 + n * 31) % 4000;
        let mut d = Daemon {
            net_name: unique_name("dnet"),
            net_pool: format!("10.{}.{}.0/24", 96 + slot / 256 % 16, slot % 256),
            dir,
            child: None,
            tcp: None,
        };
        d.hoody(&["pool", "init", "--size", "6G"]);
        d.hoody(&["image", "build", "debian-13"]);
        d.start_env(extra, env);
        d
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    pub fn pool(&self) -> PathBuf {
        self.path("pool")
    }

    pub fn socket(&self) -> PathBuf {
        self.path("hoodyd.sock")
    }

    fn env(&self, c: &mut Command) {
        c.env("HOODY_POOL", self.pool())
            .env("HOODY_POOL_REGISTRY", self.path("registry.json"))
            .env("HOODY_RUN_DIR", self.path("run"))
            .env("HOODY_MONITOR", bin("hoody-monitor"))
            .env("HOODY_NET_NAME", &self.net_name)
            .env("HOODY_NET_POOL", &self.net_pool)
            .env("HOODY_NET_STATE", self.path("net"))
            .env("HOODY_SOCKET", self.socket())
            .env("HOODY_PROXY_LOG_DIR", self.path("proxy-logs"))
            .env("HOODY_RAMDISK_DIR", self.path("ramdisk"))
            .env("HOODY_RAMDISK_SIZE", "64M")
            // No proxy that containers reach unless a test says so (its own ports, its own
            // resolver): the defaults are the deployed proxy's.
            .env("HOODY_PROXY_HTTP", "none")
            .env("HOODY_PROXY_HTTPS", "none")
            .env("HOODY_PROXY_DNS", "none")
            .env_remove("HOODY_API_URL")
            .env_remove("HOODY_CONTAINER");
    }

    /// Runs the hoody CLI against this daemon's pool and socket; panics on failure.
    pub fn hoody(&self, args: &[&str]) -> String {
        let out = self.hoody_out(args);
        assert!(
            out.status.success(),
            "hoody {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn hoody_out(&self, args: &[&str]) -> std::process::Output {
        let mut c = Command::new(bin("hoody"));
        self.env(&mut c);
        c.args(args).output().unwrap()
    }

    /// Starts hoodyd (with extra arguments) and waits until it answers.
    pub fn start(&mut self, extra: &[&str]) {
        self.start_env(extra, &[]);
    }

    /// Starts hoodyd armed to SIGKILL itself at crash point `point` (`HOODYD_CRASH_AT`) and
    /// checks that it is: the recovery tests need a hoodyd built with hoody-host's
    /// `fault-injection` feature, which `cargo test` turns on (hoodyd's dev-dependency) and a
    /// plain `cargo build` does not.
    pub fn start_crashing_at(&mut self, point: &str) {
        self.start_env(&[], &[("HOODYD_CRASH_AT", point)]);
        let log = std::fs::read_to_string(self.path("hoodyd.log")).unwrap_or_default();
        assert!(
            log.contains("fault injection armed"),
            "hoodyd was built without fault injection (hoody-host's `fault-injection` feature): \
             build it with `cargo test` or `cargo build --workspace --bins --features \
             hoody-host/fault-injection`; its log:\n{log}"
        );
    }

    /// Starts hoodyd with extra arguments and environment variables and waits until it answers.
    pub fn start_env(&mut self, extra: &[&str], env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "hoodyd already runs");
        let mut c = Command::new(bin("hoodyd"));
        self.env(&mut c);
        c.envs(env.iter().copied());
        c.arg("--server-name")
            .arg("node-1")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.path("hoodyd.log")).unwrap());
        if let Some(addr) = &self.tcp {
            c.arg("--listen").arg(addr);
        }
        self.child = Some(c.spawn().unwrap());
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (st, _) = self.try_api("GET", "/api/v1/health", None);
            if st == 200 {
                return;
            }
            if let Some(ch) = self.child.as_mut()
                && let Ok(Some(status)) = ch.try_wait()
            {
                panic!(
                    "hoodyd exited ({status}) while starting: {}",
                    std::fs::read_to_string(self.path("hoodyd.log")).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "hoodyd did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILLs hoodyd (containers must survive).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    /// Waits for hoodyd to die by itself (a crash point).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("hoodyd is not running");
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "hoodyd did not crash at its crash point"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("hoodyd.log")).unwrap_or_default()
    }

    /// One request over the unix socket: (status, body as JSON or Null).
    pub fn try_api(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        self.try_api_with(method, path, body, &[])
    }

    /// [`Daemon::try_api`] with extra request headers (`"If-Match: file:v1"`).
    pub fn try_api_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[&str],
    ) -> (u16, Value) {
        let mut c = Command::new("curl");
        for h in headers {
            c.args(["-H", h]);
        }
        c.args([
            "-s",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
            "--unix-socket",
        ])
        .arg(self.socket())
        .arg(format!("http://hoodyd{path}"));
        if body.is_some() {
            c.args([
                "-H",
                "content-type: application/json",
                "--data-binary",
                "@-",
            ]);
        }
        raw(c, body)
    }

    /// Like [`try_api`] over TCP with an optional bearer token.
    pub fn tcp_api(&self, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut c = Command::new("curl");
        c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method])
            .arg(format!("http://{}{path}", self.tcp.as_deref().unwrap()));
        if let Some(t) = token {
            c.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        raw(c, None)
    }

    /// A request that must answer `want`; returns `data`.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>, want: u16) -> Value {
        let b = body.map(|b| b.to_string());
        let (st, v) = self.try_api(method, path, b.as_deref());
        assert_eq!(
            st,
            want,
            "{method} {path}: {v}\nhoodyd log:\n{}",
            self.log()
        );
        v["data"].clone()
    }

    pub fn server_id(&self) -> String {
        self.api("GET", "/api/v1/servers", None, 200)["servers"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn project(&self, alias: &str) -> String {
        self.api(
            "POST",
            "/api/v1/projects",
            Some(json!({"alias": alias})),
            201,
        )["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a container and returns its id (status `creating`).
    pub fn create(&self, project: &str, name: &str) -> String {
        self.create_with(project, name, json!({}))
    }

    /// Creates a container with extra fields in the request (`{"hoody_kit": true}`).
    pub fn create_with(&self, project: &str, name: &str, extra: Value) -> String {
        let sid = self.server_id();
        let mut body = json!({"server_id": sid, "name": name});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let c = self.api(
            "POST",
            &format!("/api/v1/projects/{project}/containers"),
            Some(body),
            201,
        );
        assert_eq!(c["status"], "creating");
        c["id"].as_str().unwrap().to_string()
    }

    pub fn get(&self, id: &str) -> Value {
        self.api("GET", &format!("/api/v1/containers/{id}"), None, 200)
    }

    /// Waits until the container leaves creating/copying; returns it.
    pub fn settle(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(240);
        loop {
            let c = self.get(id);
            if c["status"] != "creating" && c["status"] != "copying" {
                return c;
            }
            assert!(Instant::now() < deadline, "container {id} stuck: {c}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn op(&self, id: &str, op: &str) -> Value {
        self.api("POST", &format!("/api/v1/containers/{id}/{op}"), None, 200)
    }

    /// Runs a command in a container (through the machine layer).
    pub fn exec(&self, id: &str, cmd: &str) -> String {
        self.hoody(&["machine", "exec", id, "--", "/bin/sh", "-c", cmd])
    }

    /// Runs `hoody-echo` in container `id` on `0.0.0.0:8080` as a transient systemd unit,
    /// copying the binary in first when it is not there yet (ids on disk are unshifted: root's
    /// file is root's inside). Returns at once: the caller waits for it to answer.
    pub fn start_echo(&self, id: &str) {
        let dst = self
            .pool()
            .join("containers")
            .join(id)
            .join("usr/local/bin/hoody-echo");
        if !dst.exists() {
            std::fs::copy(bin("hoody-echo"), &dst).unwrap();
        }
        self.exec(
            id,
            "systemd-run --unit hoody-echo /usr/local/bin/hoody-echo --listen 0.0.0.0:8080",
        );
    }

    /// PID 1 of a running container's machine.
    pub fn pid1(&self, id: &str) -> Option<i64> {
        let v: Value =
            serde_json::from_str(&self.hoody(&["machine", "status", id, "--json"])).unwrap();
        v["pid"].as_i64()
    }

    /// Everything that exists of container `id` on disk and in the kernel.
    pub fn traces(&self, id: &str) -> Vec<String> {
        let mut t = Vec::new();
        for p in [
            self.pool().join("containers").join(id),
            self.pool().join("machines").join(id),
            self.path("run").join(id),
            PathBuf::from("/sys/fs/cgroup/unified/hoody").join(id),
            PathBuf::from("/sys/fs/cgroup/memory/hoody").join(id),
            PathBuf::from("/sys/fs/cgroup/unified/hoody").join(format!("{id}.payload")),
        ] {
            if p.exists() {
                t.push(p.display().to_string());
            }
        }
        let net = std::fs::read_to_string(self.path("net").join("ipam.json")).unwrap_or_default();
        if net.contains(id) {
            t.push(format!(
                "an address of network {} is still held",
                self.net_name
            ));
        }
        t
    }
}

fn raw(mut c: Command, body: Option<&str>) -> (u16, Value) {
    use std::io::Write;
    c.stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let body = body.unwrap_or_default().to_string();
    let writer = std::thread::spawn(move || {
        // curl may stop reading early (a 413): ignore a broken pipe.
        let _ = stdin.write_all(body.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = s.rsplit_once('\n').unwrap_or(("", "0"));
    let v = serde_json::from_str(body).unwrap_or(Value::Null);
    (code.trim().parse().unwrap_or(0), v)
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A test that failed while hoodyd was down (crashed at a crash point, not yet
        // restarted): bring it back so it recovers and everything can be deleted through it.
        if let Some(c) = self.child.as_mut()
            && !matches!(c.try_wait(), Ok(None))
        {
            self.child = None;
        }
        if self.child.is_none() && self.socket().exists() {
            // Crashed test: bring it back so everything can be deleted through it.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.start(&[])));
        }
        if self.child.is_some() {
            // Until none is left: a test that failed while a container was still being made
            // gets 409 CONTAINER_BUSY for it at first (a machine left running would keep the
            // pool mounted after the test).
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                let (_, v) = self.try_api(
                    "GET",
                    "/api/v1/containers?limit=100&include_deleting=true",
                    None,
                );
                let Some(list) = v["data"]["containers"].as_array().filter(|l| !l.is_empty())
                else {
                    break;
                };
                for c in list {
                    let id = c["id"].as_str().unwrap_or_default();
                    let _ = self.try_api("DELETE", &format!("/api/v1/containers/{id}"), None);
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        self.stop();
        let mut c = Command::new(bin("hoody"));
        self.env(&mut c);
        let _ = c.args(["net", "uninstall"]).output();
        let _ = Command::new("umount").arg(self.pool()).status();
        let _ = Command::new("umount")
            .arg(self.path("ramdisk"))
            .stderr(Stdio::null())
            .status();
    }
}
