//! Terminal sessions: one shell on one PTY per `terminal_id`, its output fanned out to every
//! attached client and kept in a bounded scrollback, and the registry of sessions.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant, SystemTime};

use axum::http::StatusCode;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::unix::AsyncFd;
use tokio::sync::{broadcast, watch};
use tokio::task::AbortHandle;

use super::execute::CommandStore;
use super::pty;
use crate::{ApiError, ApiResult, Context};

/// Bytes of output each session keeps to replay to a client that attaches.
pub(super) const SCROLLBACK_BYTES: usize = 256 * 1024;
/// Output chunks a client may fall behind before it is resynchronised from the scrollback.
const BROADCAST_CHUNKS: usize = 256;
/// One read from the master.
const READ_CHUNK: usize = 16 * 1024;
/// Ephemeral sessions without clients or I/O for this long are ended.
const EPHEMERAL_IDLE: Duration = Duration::from_secs(300);
/// Ids `ephemeral=true` sessions are given.
pub(super) const EPHEMERAL_IDS: std::ops::RangeInclusive<u32> = 40_000..=65_535;
/// Execute entries each session remembers.
const HISTORY_ENTRIES: usize = 1000;
/// How long a hung-up session gets before SIGKILL.
const HANGUP_GRACE: Duration = Duration::from_millis(1000);

/// A lock that a panicking holder cannot poison for everyone else.
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The shells a session can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shell {
    Bash,
    Sh,
    Zsh,
    Fish,
}

impl Shell {
    /// `bash`, `sh`, `zsh` or `fish` (a path ending in one of them is accepted too).
    pub fn parse(s: &str) -> ApiResult<Shell> {
        let name = s.rsplit('/').next().unwrap_or(s);
        Ok(match name {
            "bash" => Shell::Bash,
            "sh" => Shell::Sh,
            "zsh" => Shell::Zsh,
            "fish" => Shell::Fish,
            _ => {
                return Err(ApiError::validation(format!(
                    "unknown shell {s:?}: one of bash, sh, zsh, fish"
                )));
            }
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Sh => "sh",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
        }
    }

    /// Where it is installed.
    pub fn path(self) -> ApiResult<PathBuf> {
        ["/bin", "/usr/bin", "/usr/local/bin"]
            .iter()
            .map(|d| Path::new(d).join(self.name()))
            .find(|p| p.is_file())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "SHELL_NOT_INSTALLED",
                    format!("shell {} is not installed in this container", self.name()),
                )
            })
    }
}

/// How to start a session that does not exist yet.
#[derive(Debug, Clone)]
pub(super) struct CreateOptions {
    pub shell: Shell,
    pub cwd: Option<PathBuf>,
    pub cwd_auto_create: bool,
    pub cols: u16,
    pub rows: u16,
    pub env: Vec<(String, String)>,
    /// Run this instead of an interactive shell (`shell -lc cmd`); the session ends with it.
    pub cmd: Option<String>,
    /// Typed into the new shell once it starts.
    pub startup_script: Option<String>,
    /// `DISPLAY=:N`.
    pub display: Option<u32>,
    pub ephemeral: bool,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            shell: Shell::Bash,
            cwd: None,
            cwd_auto_create: false,
            cols: 80,
            rows: 24,
            env: Vec::new(),
            cmd: None,
            startup_script: None,
            display: None,
            ephemeral: false,
        }
    }
}

/// The output side of a session: the scrollback and the live feed, under one lock so that a
/// client attaching gets the scrollback and a receiver positioned exactly after it (no byte
/// lost, none twice).
#[derive(Debug)]
struct Output {
    scrollback: VecDeque<u8>,
    tx: broadcast::Sender<Bytes>,
}

/// One entry of a session's `command_history` that came through `execute`.
#[derive(Debug, Clone)]
pub(super) struct ExecuteEntry {
    pub command_id: String,
    pub command: String,
    pub started_at: SystemTime,
    pub exit_code: Option<i32>,
    pub duration_ms: Option<u64>,
    /// Lines in the shell's history file when this ran (to merge the two in order).
    shell_lines_before: usize,
}

/// A terminal session.
#[derive(Debug)]
pub(super) struct Session {
    pub id: u32,
    pub shell: Shell,
    pub shell_path: PathBuf,
    /// `cmd` or the shell's name: the window title's first half.
    pub program: String,
    pub initial_cwd: PathBuf,
    pub started: SystemTime,
    pub pid: u32,
    pub ephemeral: bool,
    master: Arc<AsyncFd<OwnedFd>>,
    input: tokio::sync::Mutex<()>,
    output: Mutex<Output>,
    size: Mutex<(u16, u16)>,
    clients: AtomicUsize,
    history: Mutex<VecDeque<ExecuteEntry>>,
    histfile: Option<PathBuf>,
    histfile_start: usize,
    /// `Some(exit code)` once the shell has exited (128+N for signal N).
    ended: watch::Sender<Option<i32>>,
    last_activity: Mutex<Instant>,
    /// Process groups of `execute` commands still running for this session.
    commands: Mutex<HashSet<u32>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl Session {
    /// The scrollback and a receiver of everything after it; counts a client in until the
    /// returned guard drops.
    pub fn attach(self: &Arc<Self>) -> (Vec<u8>, broadcast::Receiver<Bytes>, ClientGuard) {
        let (snap, rx) = self.resubscribe();
        self.clients.fetch_add(1, Ordering::SeqCst);
        self.touch();
        (snap, rx, ClientGuard(self.clone()))
    }

    /// The scrollback and a fresh receiver positioned right after it.
    pub fn resubscribe(&self) -> (Vec<u8>, broadcast::Receiver<Bytes>) {
        let out = lock(&self.output);
        let (a, b) = out.scrollback.as_slices();
        let mut snap = Vec::with_capacity(a.len() + b.len());
        snap.extend_from_slice(a);
        snap.extend_from_slice(b);
        (snap, out.tx.subscribe())
    }

    /// Appends `data` to the scrollback and sends it to every attached client.
    pub fn push_output(&self, data: &[u8]) {
        let mut out = lock(&self.output);
        out.scrollback.extend(data);
        if out.scrollback.len() > SCROLLBACK_BYTES {
            let excess = out.scrollback.len() - SCROLLBACK_BYTES;
            out.scrollback.drain(..excess);
            // Start the replay at a line boundary rather than inside an escape sequence or
            // a UTF-8 character.
            if let Some(nl) = out.scrollback.iter().take(4096).position(|&b| b == b'\n') {
                out.scrollback.drain(..=nl);
            }
        }
        // No receivers is fine: the scrollback has it.
        let _ = out.tx.send(Bytes::copy_from_slice(data));
    }

    /// Everything in the scrollback.
    pub fn scrollback(&self) -> Vec<u8> {
        self.resubscribe().0
    }

    /// Writes `data` to the terminal's input, whole (concurrent writers do not interleave).
    pub async fn write_input(&self, data: &[u8]) -> ApiResult<()> {
        let _one = self.input.lock().await;
        self.touch();
        pty::write_all(&self.master, data)
            .await
            .map_err(|e| ApiError::io(format!("terminal {} input", self.id), &e))
    }

    /// Resizes the terminal (clamped to 1..=1000 each way).
    pub fn resize(&self, cols: u16, rows: u16) -> ApiResult<()> {
        let (cols, rows) = (cols.clamp(1, 1000), rows.clamp(1, 1000));
        use std::os::fd::AsFd;
        pty::set_size(self.master.get_ref().as_fd(), cols, rows)
            .map_err(|e| ApiError::io(format!("terminal {} resize", self.id), &e))?;
        *lock(&self.size) = (cols, rows);
        Ok(())
    }

    /// Columns and rows.
    pub fn size(&self) -> (u16, u16) {
        *lock(&self.size)
    }

    /// Clients attached now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::SeqCst)
    }

    /// Watches the shell's exit.
    pub fn ended(&self) -> watch::Receiver<Option<i32>> {
        self.ended.subscribe()
    }

    /// Whether the shell has exited.
    pub fn is_ended(&self) -> bool {
        self.ended.borrow().is_some()
    }

    fn touch(&self) {
        *lock(&self.last_activity) = Instant::now();
    }

    /// The shell's current working directory (its initial one if /proc cannot tell).
    pub fn cwd(&self) -> PathBuf {
        pty::cwd_of(self.pid).unwrap_or_else(|| self.initial_cwd.clone())
    }

    /// The shell's environment (what it started with).
    pub fn environ(&self) -> Vec<(OsString, OsString)> {
        pty::environ_of(self.pid).unwrap_or_default()
    }

    /// Records an `execute` in the command history.
    pub fn record_execute(&self, command_id: &str, command: &str) {
        let entry = ExecuteEntry {
            command_id: command_id.to_string(),
            command: command.to_string(),
            started_at: SystemTime::now(),
            exit_code: None,
            duration_ms: None,
            shell_lines_before: self.shell_history().len(),
        };
        let mut h = lock(&self.history);
        h.push_back(entry);
        while h.len() > HISTORY_ENTRIES {
            h.pop_front();
        }
    }

    /// Records how an `execute` ended.
    pub fn finish_execute(&self, command_id: &str, exit_code: i32, duration_ms: u64) {
        let mut h = lock(&self.history);
        if let Some(e) = h.iter_mut().rev().find(|e| e.command_id == command_id) {
            e.exit_code = Some(exit_code);
            e.duration_ms = Some(duration_ms);
        }
    }

    /// Tracks a running `execute` process group (killed with the session).
    pub fn track_command(&self, pgid: u32, running: bool) {
        let mut c = lock(&self.commands);
        if running {
            c.insert(pgid);
        } else {
            c.remove(&pgid);
        }
    }

    /// Commands typed into this session's shell (bash only: its history file, appended
    /// after every command).
    fn shell_history(&self) -> Vec<String> {
        let Some(f) = &self.histfile else {
            return Vec::new();
        };
        let Ok(text) = std::fs::read(f) else {
            return Vec::new();
        };
        String::from_utf8_lossy(&text)
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .skip(self.histfile_start)
            .map(str::to_string)
            .collect()
    }

    /// The last `limit` commands run in this session, oldest first: typed ones
    /// (`source:"shell"`) and `execute`d ones (`source:"execute"`), merged in order.
    pub fn command_history(&self, limit: usize) -> Vec<Value> {
        let typed = self.shell_history();
        let executed: Vec<ExecuteEntry> = lock(&self.history).iter().cloned().collect();
        let mut all = Vec::with_capacity(typed.len() + executed.len());
        let mut t = 0;
        let shell_entry = |c: &String| json!({"command": c, "source": "shell"});
        for e in executed {
            while t < typed.len() && t < e.shell_lines_before {
                all.push(shell_entry(&typed[t]));
                t += 1;
            }
            all.push(json!({
                "command": e.command,
                "source": "execute",
                "command_id": e.command_id,
                "started_at": crate::health::rfc3339(e.started_at),
                "exit_code": e.exit_code,
                "duration_ms": e.duration_ms,
                "status": if e.exit_code.is_some() { "completed" } else { "running" },
            }));
        }
        all.extend(typed[t..].iter().map(shell_entry));
        let skip = all.len().saturating_sub(limit);
        all.split_off(skip)
    }

    /// The session as `GET /sessions` lists it.
    pub fn describe(&self, history_limit: usize) -> Value {
        let (cols, rows) = self.size();
        json!({
            "id": self.id,
            "terminal_id": self.id,
            "shell": self.shell.name(),
            "cwd": self.cwd(),
            "started_at": crate::health::rfc3339(self.started),
            "command_history": self.command_history(history_limit),
            "pid": self.pid,
            "clients": self.clients(),
            "cols": cols,
            "rows": rows,
            "ephemeral": self.ephemeral,
            "title": self.title(),
        })
    }

    /// The window title: `command (hostname)`, as ttyd has it.
    pub fn title(&self) -> String {
        format!("{} ({})", self.program, pty::hostname())
    }

    /// Hangs the session up (SIGHUP to all its processes, as a closed terminal would), then
    /// SIGKILL after a grace period if the shell is still there; waits for the end, at most
    /// `wait`.
    pub async fn hang_up(&self, wait: Duration) {
        if self.is_ended() {
            return;
        }
        pty::signal_session(self.pid, libc::SIGHUP);
        pty::signal_session(self.pid, libc::SIGCONT);
        let mut ended = self.ended();
        let over = tokio::time::timeout(HANGUP_GRACE, ended.wait_for(Option::is_some))
            .await
            .is_err();
        if over {
            pty::signal_session(self.pid, libc::SIGKILL);
            let _ = tokio::time::timeout(wait, ended.wait_for(Option::is_some)).await;
        }
        self.kill_commands();
    }

    fn kill_commands(&self) {
        for pgid in lock(&self.commands).drain() {
            pty::signal_group(pgid, libc::SIGKILL);
        }
    }
}

impl Drop for Session {
    /// A session that goes away with its shell still running (the Kit shutting down, a
    /// test's runtime ending) takes every process of the terminal with it.
    fn drop(&mut self) {
        if !self.is_ended() {
            pty::signal_session(self.pid, libc::SIGKILL);
        }
        self.kill_commands();
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

/// Counts one attached client while it lives.
#[derive(Debug)]
pub(super) struct ClientGuard(Arc<Session>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::SeqCst);
        self.0.touch();
    }
}

/// Every session of this Kit, by terminal id, and the `execute` results.
#[derive(Debug)]
pub(super) struct Terminals {
    pub ctx: Arc<Context>,
    sessions: Mutex<HashMap<u32, Arc<Session>>>,
    /// Creation is serialised so that concurrent first attaches start one shell.
    create: tokio::sync::Mutex<u32>,
    pub commands: Mutex<CommandStore>,
}

impl Terminals {
    /// No sessions yet.
    pub fn new(ctx: Arc<Context>) -> Arc<Terminals> {
        Arc::new(Terminals {
            ctx,
            sessions: Mutex::new(HashMap::new()),
            create: tokio::sync::Mutex::new(*EPHEMERAL_IDS.start()),
            commands: Mutex::new(CommandStore::default()),
        })
    }

    /// Session `id`, if it is running.
    pub fn get(&self, id: u32) -> Option<Arc<Session>> {
        lock(&self.sessions).get(&id).cloned()
    }

    /// Session `id`, or 404 naming it.
    pub fn require(&self, id: u32) -> ApiResult<Arc<Session>> {
        self.get(id)
            .ok_or_else(|| ApiError::not_found(format!("terminal session {id} not found")))
    }

    /// Every session, by id.
    pub fn list(&self) -> Vec<Arc<Session>> {
        let mut v: Vec<_> = lock(&self.sessions).values().cloned().collect();
        v.sort_by_key(|s| s.id);
        v
    }

    /// Session `id` (or, for `ephemeral`, a new id from [`EPHEMERAL_IDS`]), started with
    /// `opts` unless it runs already; `true` when it was started now.
    pub async fn ensure(
        self: &Arc<Self>,
        id: Option<u32>,
        opts: &CreateOptions,
    ) -> ApiResult<(Arc<Session>, bool)> {
        let mut next_ephemeral = self.create.lock().await;
        let id = match id {
            Some(id) => {
                if let Some(s) = self.get(id)
                    && !s.is_ended()
                {
                    return Ok((s, false));
                }
                id
            }
            None => {
                let sessions = lock(&self.sessions);
                let span = EPHEMERAL_IDS.end() - EPHEMERAL_IDS.start() + 1;
                let found = (0..span)
                    .map(|i| {
                        EPHEMERAL_IDS.start() + (*next_ephemeral - EPHEMERAL_IDS.start() + i) % span
                    })
                    .find(|c| !sessions.contains_key(c))
                    .ok_or_else(|| {
                        ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "NO_EPHEMERAL_IDS",
                            "every ephemeral terminal id (40000-65535) is in use",
                        )
                    })?;
                *next_ephemeral = if found == *EPHEMERAL_IDS.end() {
                    *EPHEMERAL_IDS.start()
                } else {
                    found + 1
                };
                found
            }
        };
        let session = self.start(id, opts)?;
        lock(&self.sessions).insert(id, session.clone());
        if let Some(script) = &opts.startup_script {
            let mut s = script.clone().into_bytes();
            if !s.ends_with(b"\n") {
                s.push(b'\n');
            }
            session.write_input(&s).await?;
        }
        Ok((session, true))
    }

    /// Ends session `id` (404 when there is none): hangs it up and forgets it.
    pub async fn delete(&self, id: u32) -> ApiResult<Arc<Session>> {
        let s = lock(&self.sessions)
            .remove(&id)
            .ok_or_else(|| ApiError::not_found(format!("terminal session {id} not found")))?;
        s.hang_up(Duration::from_secs(2)).await;
        Ok(s)
    }

    fn forget(&self, s: &Arc<Session>) {
        let mut m = lock(&self.sessions);
        if m.get(&s.id).is_some_and(|cur| Arc::ptr_eq(cur, s)) {
            m.remove(&s.id);
        }
    }

    fn start(self: &Arc<Self>, id: u32, opts: &CreateOptions) -> ApiResult<Arc<Session>> {
        let shell_path = opts.shell.path()?;
        let home = home_dir();
        let cwd = match &opts.cwd {
            Some(c) => {
                if opts.cwd_auto_create && !c.exists() {
                    std::fs::create_dir_all(c)
                        .map_err(|e| ApiError::io(format!("create cwd {}", c.display()), &e))?;
                }
                if !c.is_dir() {
                    return Err(ApiError::validation(format!(
                        "cwd {} is not an existing directory",
                        c.display()
                    )));
                }
                c.clone()
            }
            None => home.clone(),
        };

        let mut env: Vec<(OsString, OsString)> = Vec::new();
        let mut set = |k: &str, v: OsString| env.push((k.into(), v));
        set(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        );
        set("HOME", home.clone().into());
        let user = user_name();
        set("USER", user.clone().into());
        set("LOGNAME", user.into());
        set("SHELL", shell_path.clone().into());
        set("TERM", "xterm-256color".into());
        set("COLORTERM", "truecolor".into());
        set(
            "LANG",
            std::env::var_os("LANG").unwrap_or_else(|| "C.UTF-8".into()),
        );
        // The platform's variables from the Kit's own environment (the machine's, through
        // systemd): HOODY_CONTAINER_ID, HOODY_PROJECT_ID, HOODY_API_URL, and a HOODY_TOKEN
        // the user gave the container, so `hoody` inside works as the user set it up.
        for (k, v) in std::env::vars_os() {
            if let Some(k) = k.to_str()
                && k.starts_with("HOODY_")
                && k != "HOODY_TERMINAL_ID"
            {
                set(k, v);
            }
        }
        set("HOODY_TERMINAL_ID", id.to_string().into());
        if let Some(d) = opts.display {
            set("DISPLAY", format!(":{d}").into());
        }
        let mut histfile = None;
        if opts.shell == Shell::Bash && !opts.ephemeral && opts.cmd.is_none() {
            let dir = self.ctx.service_dir("hoody-terminal").join("history");
            if std::fs::create_dir_all(&dir).is_ok() {
                let f = dir.join(format!("{id}.bash_history"));
                set("HISTFILE", f.clone().into());
                // Append each command as it is run, so the Kit can list it.
                set("PROMPT_COMMAND", "history -a".into());
                histfile = Some(f);
            }
        }
        for (k, v) in &opts.env {
            env.retain(|(ek, _)| ek != k.as_str());
            env.push((k.into(), v.into()));
        }

        let mut args: Vec<OsString> = vec!["-l".into()];
        if let Some(c) = &opts.cmd {
            args.push("-c".into());
            args.push(c.into());
        }
        let pty = pty::open(opts.cols, opts.rows)
            .map_err(|e| ApiError::io(format!("terminal {id}: open a pty"), &e))?;
        let mut child = pty::spawn(
            &pty,
            &pty::Spawn {
                program: &shell_path,
                args,
                env,
                cwd: &cwd,
            },
        )
        .map_err(|e| ApiError::io(format!("terminal {id}"), &e))?;
        let pty::Pty { master, slave } = pty;
        drop(slave);
        let pid = child.id().unwrap_or(0);
        let master = pty::register(master)
            .map(Arc::new)
            .map_err(|e| ApiError::io(format!("terminal {id}: register the pty"), &e))?;

        let histfile_start = histfile
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .map(|t| {
                String::from_utf8_lossy(&t)
                    .lines()
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .count()
            })
            .unwrap_or(0);
        let (tx, _) = broadcast::channel(BROADCAST_CHUNKS);
        let (ended, _) = watch::channel(None);
        let session = Arc::new(Session {
            id,
            shell: opts.shell,
            shell_path,
            program: opts
                .cmd
                .clone()
                .unwrap_or_else(|| opts.shell.name().to_string()),
            initial_cwd: cwd,
            started: SystemTime::now(),
            pid,
            ephemeral: opts.ephemeral,
            master,
            input: tokio::sync::Mutex::new(()),
            output: Mutex::new(Output {
                scrollback: VecDeque::new(),
                tx,
            }),
            size: Mutex::new((opts.cols, opts.rows)),
            clients: AtomicUsize::new(0),
            history: Mutex::new(VecDeque::new()),
            histfile,
            histfile_start,
            ended,
            last_activity: Mutex::new(Instant::now()),
            commands: Mutex::new(HashSet::new()),
            tasks: Mutex::new(Vec::new()),
        });

        // The reader: PTY output into the scrollback and out to every client. It holds only a
        // weak reference so that dropping the registry drops (and kills) the session.
        let (drained_tx, drained_rx) = tokio::sync::oneshot::channel::<()>();
        let weak = Arc::downgrade(&session);
        let master = session.master.clone();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                match pty::read(&master, &mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let Some(s) = weak.upgrade() else { break };
                        s.push_output(&buf[..n]);
                        s.touch();
                    }
                }
            }
            let _ = drained_tx.send(());
        });

        // The waiter: when the shell exits, let the reader drain, mark the session ended,
        // hang up what is left of it, and forget it.
        let weak = Arc::downgrade(&session);
        let terms: Weak<Terminals> = Arc::downgrade(self);
        let reader_abort = reader.abort_handle();
        let waiter = tokio::spawn(async move {
            let status = child.wait().await;
            let _ = tokio::time::timeout(Duration::from_millis(300), drained_rx).await;
            reader_abort.abort();
            let code = match status {
                Ok(st) => {
                    use std::os::unix::process::ExitStatusExt;
                    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
                }
                Err(_) => -1,
            };
            pty::signal_session(pid, libc::SIGHUP);
            if let Some(s) = weak.upgrade() {
                s.ended.send_replace(Some(code));
                if let Some(t) = terms.upgrade() {
                    t.forget(&s);
                }
            }
        });
        // Only the reader is aborted with the session; the waiter runs on to reap the shell.
        lock(&session.tasks).push(reader.abort_handle());
        drop(waiter);

        if opts.ephemeral {
            let weak = Arc::downgrade(&session);
            let terms = Arc::downgrade(self);
            let janitor = tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_secs(15)).await;
                    let (Some(s), Some(t)) = (weak.upgrade(), terms.upgrade()) else {
                        break;
                    };
                    let idle = lock(&s.last_activity).elapsed();
                    if s.clients() == 0 && idle >= EPHEMERAL_IDLE {
                        let _ = t.delete(s.id).await;
                        break;
                    }
                }
            });
            lock(&session.tasks).push(janitor.abort_handle());
        }
        Ok(session)
    }
}

impl Drop for Terminals {
    fn drop(&mut self) {
        // Dropping the map drops every session, each of which kills its processes.
        lock(&self.sessions).clear();
    }
}

/// The Kit user's home directory (`$HOME`, else `/root` for root, else `/`).
fn home_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("HOME").map(PathBuf::from)
        && h.is_dir()
    {
        return h;
    }
    if hoody_sys::process::geteuid() == 0 && Path::new("/root").is_dir() {
        return PathBuf::from("/root");
    }
    PathBuf::from("/")
}

fn user_name() -> String {
    if hoody_sys::process::geteuid() == 0 {
        return "root".to_string();
    }
    std::env::var("USER").unwrap_or_else(|_| "user".to_string())
}
