//! `execute`: a command run for a terminal session with its stdout, stderr and exit code
//! kept apart (see the module doc of [`super`] for why it is its own child, not typed into
//! the PTY), and the store of results for `wait:false` and `GET /result/{command_id}`.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

use super::pty;
use super::session::{Session, lock};
use crate::{ApiError, ApiResult};

/// Bytes of stdout (and, separately, of stderr) kept per command; the rest is read and
/// dropped (the command is never blocked on a full pipe), and `truncated` says so.
pub(super) const OUTPUT_CAP: usize = 8 * 1024 * 1024;
/// Bytes of a command's output echoed into the session's screen for its watchers.
const ECHO_CAP: usize = 64 * 1024;
/// Finished results kept for `GET /result/{command_id}`.
const KEPT_RESULTS: usize = 1000;
/// Exit code reported for a command killed at its timeout (as timeout(1) does).
pub(super) const TIMEOUT_EXIT: i32 = 124;

/// What became of a command so far.
#[derive(Debug, Default)]
struct Outcome {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    /// Both streams as they arrived.
    output: Vec<u8>,
    truncated: bool,
    exit_code: Option<i32>,
    timed_out: bool,
    aborted: bool,
    error: Option<String>,
    duration_ms: Option<u64>,
}

/// One `execute`.
#[derive(Debug)]
pub(super) struct CommandRecord {
    pub id: String,
    pub terminal_id: u32,
    pub command: String,
    started: SystemTime,
    outcome: Mutex<Outcome>,
    /// The command's process group (its pid), once started.
    pgid: Mutex<Option<u32>>,
    done: watch::Sender<bool>,
}

impl CommandRecord {
    /// Waits until the command has finished.
    pub async fn wait(&self) {
        let mut rx = self.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// Whether it has finished.
    pub fn is_done(&self) -> bool {
        *self.done.borrow()
    }

    /// The synchronous `execute` answer.
    pub fn sync_body(&self) -> Value {
        let o = lock(&self.outcome);
        let exit = o.exit_code.unwrap_or(-1);
        let mut v = json!({
            "success": exit == 0 && !o.timed_out && o.error.is_none(),
            "exit_code": exit,
            "stdout": String::from_utf8_lossy(&o.stdout),
            "stderr": String::from_utf8_lossy(&o.stderr),
            "duration_ms": o.duration_ms.unwrap_or(0),
            "command_id": self.id,
            "terminal_id": self.terminal_id,
            "timed_out": o.timed_out,
            "truncated": o.truncated,
        });
        if o.aborted {
            v["aborted"] = json!(true);
        }
        if let Some(e) = &o.error {
            v["error"] = json!(e);
        }
        v
    }

    /// The `GET /result/{command_id}` answer.
    pub fn result_body(&self) -> Value {
        let o = lock(&self.outcome);
        let done = self.is_done();
        let mut v = json!({
            "command_id": self.id,
            "terminal_id": self.terminal_id,
            "command": self.command,
            "status": if done { "completed" } else { "running" },
            "started_at": crate::health::rfc3339(self.started),
            "output": String::from_utf8_lossy(&o.output),
            "stdout": String::from_utf8_lossy(&o.stdout),
            "stderr": String::from_utf8_lossy(&o.stderr),
            "exit_code": o.exit_code,
            "success": done && o.exit_code == Some(0) && !o.timed_out && o.error.is_none(),
            "duration_ms": o.duration_ms,
            "timed_out": o.timed_out,
            "truncated": o.truncated,
        });
        if o.aborted {
            v["aborted"] = json!(true);
        }
        if let Some(e) = &o.error {
            v["error"] = json!(e);
        }
        v
    }

    /// Signals the running command's process group (SIGKILL with `force`, else SIGTERM).
    pub fn abort(&self, force: bool) -> ApiResult<&'static str> {
        if self.is_done() {
            return Err(ApiError::conflict(format!(
                "command {} has already completed",
                self.id
            )));
        }
        let Some(pgid) = *lock(&self.pgid) else {
            return Err(ApiError::conflict(format!(
                "command {} has not started yet",
                self.id
            )));
        };
        lock(&self.outcome).aborted = true;
        let (sig, name) = if force {
            (libc::SIGKILL, "SIGKILL")
        } else {
            (libc::SIGTERM, "SIGTERM")
        };
        pty::signal_group(pgid, sig);
        Ok(name)
    }
}

/// Results by command id, finished ones evicted oldest first beyond [`KEPT_RESULTS`].
#[derive(Debug, Default)]
pub(super) struct CommandStore {
    by_id: HashMap<String, Arc<CommandRecord>>,
    order: VecDeque<String>,
}

impl CommandStore {
    /// The record of `id`.
    pub fn get(&self, id: &str) -> Option<Arc<CommandRecord>> {
        self.by_id.get(id).cloned()
    }

    fn insert(&mut self, rec: Arc<CommandRecord>) -> ApiResult<()> {
        if let Some(old) = self.by_id.get(&rec.id)
            && !old.is_done()
        {
            return Err(ApiError::conflict(format!(
                "command {} is still running",
                rec.id
            )));
        }
        self.order.retain(|i| i != &rec.id);
        self.order.push_back(rec.id.clone());
        self.by_id.insert(rec.id.clone(), rec);
        let mut finished = self
            .order
            .iter()
            .filter(|i| self.by_id.get(*i).is_some_and(|r| r.is_done()))
            .count();
        while finished > KEPT_RESULTS {
            let Some(pos) = self
                .order
                .iter()
                .position(|i| self.by_id.get(i).is_some_and(|r| r.is_done()))
            else {
                break;
            };
            if let Some(i) = self.order.remove(pos) {
                self.by_id.remove(&i);
            }
            finished -= 1;
        }
        Ok(())
    }
}

/// A new command id: `cmd_<ms since epoch>_<counter>`.
pub(super) fn new_command_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("cmd_{ms}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Checks a client-chosen command id: 1 to 128 of `[A-Za-z0-9_.-]`.
pub(super) fn check_command_id(id: &str) -> ApiResult<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "invalid command id {id:?}: 1 to 128 of [A-Za-z0-9_.-]"
        )))
    }
}

/// What to run.
#[derive(Debug)]
pub(super) struct Request {
    pub id: String,
    pub command: String,
    pub cwd: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
}

/// Starts `req` for `session`, registered in `store`; returns its record at once (the
/// command runs in a task of its own, so a client that goes away does not stop it).
pub(super) fn start(
    store: &Mutex<super::execute::CommandStore>,
    session: Arc<Session>,
    req: Request,
) -> ApiResult<Arc<CommandRecord>> {
    let cwd = match req.cwd {
        Some(c) => {
            if !c.is_dir() {
                return Err(ApiError::validation(format!(
                    "cwd {} is not an existing directory",
                    c.display()
                )));
            }
            c
        }
        None => session.cwd(),
    };
    let (done, _) = watch::channel(false);
    let rec = Arc::new(CommandRecord {
        id: req.id,
        terminal_id: session.id,
        command: req.command,
        started: SystemTime::now(),
        outcome: Mutex::new(Outcome::default()),
        pgid: Mutex::new(None),
        done,
    });
    lock(store).insert(rec.clone())?;
    session.record_execute(&rec.id, &rec.command);

    let mut env: Vec<(OsString, OsString)> = session.environ();
    for (k, v) in req.env {
        env.retain(|(ek, _)| ek.as_os_str() != k.as_str());
        env.push((k.into(), v.into()));
    }
    let r = rec.clone();
    tokio::spawn(async move {
        run(&r, &session, cwd, env, req.timeout).await;
    });
    Ok(rec)
}

async fn run(
    rec: &Arc<CommandRecord>,
    session: &Arc<Session>,
    cwd: PathBuf,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
) {
    let t0 = Instant::now();
    session.push_output(
        format!(
            "\r\n\x1b[2m[execute {}]\x1b[0m $ {}\r\n",
            rec.id,
            rec.command.replace('\n', "\r\n")
        )
        .as_bytes(),
    );
    let mut cmd = tokio::process::Command::new(&session.shell_path);
    cmd.arg("-c")
        .arg(&rec.command)
        .env_clear()
        .envs(env)
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!(
                "start {} -c for command {} in {}: {e}",
                session.shell_path.display(),
                rec.id,
                cwd.display()
            );
            finish(rec, session, t0, 127, false, Some(msg));
            return;
        }
    };
    let pgid = child.id().unwrap_or(0);
    *lock(&rec.pgid) = Some(pgid);
    session.track_command(pgid, true);
    let _group = GroupGuard(pgid);

    let out = child.stdout.take().map(|s| pump(rec.clone(), s, false));
    let err = child.stderr.take().map(|s| pump(rec.clone(), s, true));
    let status = tokio::time::timeout(timeout, child.wait()).await;
    let (code, timed_out) = match status {
        Ok(Ok(st)) => {
            use std::os::unix::process::ExitStatusExt;
            (
                st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)),
                false,
            )
        }
        Ok(Err(_)) => (-1, false),
        Err(_) => {
            pty::signal_group(pgid, libc::SIGKILL);
            let _ = child.wait().await;
            (TIMEOUT_EXIT, true)
        }
    };
    // The pipes close when the last process holding them ends; a background job left
    // running still holds them, so the rest of the output is only waited for briefly.
    for h in [out, err].into_iter().flatten() {
        let abort = h.abort_handle();
        if tokio::time::timeout(Duration::from_millis(500), h)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
    session.track_command(pgid, false);
    if timed_out {
        let msg = format!(
            "command {} timed out after {} s; its process group was killed",
            rec.id,
            timeout.as_secs_f64()
        );
        finish(rec, session, t0, code, true, Some(msg));
    } else {
        finish(rec, session, t0, code, false, None);
    }
}

/// Kills the command's process group if the run is dropped half way (the Kit stopping).
struct GroupGuard(u32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        // The group is gone already after a normal end; this only matters when the task
        // is dropped while the command runs. A group id is not reused while any member lives.
        if std::path::Path::new(&format!("/proc/{}", self.0)).exists() {
            pty::signal_group(self.0, libc::SIGKILL);
        }
    }
}

fn pump(
    rec: Arc<CommandRecord>,
    mut r: impl AsyncRead + Unpin + Send + 'static,
    is_err: bool,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match r.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let mut o = lock(&rec.outcome);
            let stream_len = if is_err {
                o.stderr.len()
            } else {
                o.stdout.len()
            };
            let keep = n.min(OUTPUT_CAP.saturating_sub(stream_len));
            if keep < n {
                o.truncated = true;
            }
            let chunk = &buf[..keep];
            if is_err {
                o.stderr.extend_from_slice(chunk);
            } else {
                o.stdout.extend_from_slice(chunk);
            }
            if o.output.len() < 2 * OUTPUT_CAP {
                o.output.extend_from_slice(chunk);
            }
        }
    })
}

fn finish(
    rec: &CommandRecord,
    session: &Session,
    t0: Instant,
    code: i32,
    timed_out: bool,
    error: Option<String>,
) {
    let ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
    let echo = {
        let mut o = lock(&rec.outcome);
        o.exit_code = Some(code);
        o.timed_out = timed_out;
        o.duration_ms = Some(ms);
        if let Some(e) = &error {
            o.error = Some(e.clone());
        }
        let shown = &o.output[..o.output.len().min(ECHO_CAP)];
        let mut echo = String::from_utf8_lossy(shown).replace('\n', "\r\n");
        if !echo.is_empty() && !echo.ends_with('\n') {
            echo.push_str("\r\n");
        }
        if o.output.len() > ECHO_CAP {
            echo.push_str("\x1b[2m[...]\x1b[0m\r\n");
        }
        echo
    };
    let mut tail = format!("\x1b[2m[exit {code}, {ms} ms");
    if let Some(e) = &error {
        tail.push_str(": ");
        tail.push_str(e);
    }
    tail.push_str("]\x1b[0m\r\n");
    session.push_output(format!("{echo}{tail}").as_bytes());
    session.finish_execute(&rec.id, code, ms);
    rec.done.send_replace(true);
}
