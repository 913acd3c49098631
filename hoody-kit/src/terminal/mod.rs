//! The terminal service (reference §3.1, `terminal-N`, port 76): real PTY sessions keyed by
//! `terminal_id`, shared by any number of clients, a ttyd-compatible WebSocket, a REST API
//! and a web terminal.
//!
//! ## Sessions
//!
//! A session is one shell (`bash -l` by default; `sh`, `zsh`, `fish`) on a pseudo-terminal
//! the Kit opened itself (`pty.rs`: `posix_openpt`, then the shell started with `setsid` and
//! `TIOCSCTTY` so it leads its own session with the PTY as controlling terminal). It lives in
//! the Kit process, keyed by `terminal_id` (1-65535; `ephemeral=true` allocates from
//! 40000-65535 and is ended after 300 s without clients or I/O). It survives its clients:
//! it ends when the shell exits (then it is forgotten and the next attach starts a new one)
//! or on `DELETE` (SIGHUP to every process of the terminal's session, as a closed terminal
//! would, SIGKILL after a second). Dropping the session map (the Kit stopping, a test's
//! runtime ending) kills every session's processes.
//!
//! The shell gets a clean login-like environment (`PATH`, `HOME`, `USER`, `SHELL`,
//! `TERM=xterm-256color`, `COLORTERM`, `LANG`, `HOODY_TERMINAL_ID`, `DISPLAY` when asked, and
//! the Kit's own `HOODY_*` variables: the container's id, `HOODY_API_URL`, ...) plus the
//! create call's `env`, in the given `cwd` or the user's home.
//!
//! ## Output: broadcast and scrollback
//!
//! One task reads the PTY master (non-blocking, on tokio's reactor) whether or not anyone
//! is attached, so a shell never blocks on its output. Each chunk is appended to a bounded
//! scrollback (`SCROLLBACK_BYTES`, 256 KiB, trimmed at a line start) and sent on
//! a broadcast channel, both under one lock: a client attaching takes the scrollback and a
//! receiver at the same instant, so its replay and the live feed join without loss or
//! repetition. The replay is raw output, not a rendered screen: full-screen programs
//! repaint on the next resize (which a web client sends when it fits itself).
//!
//! ## Which terminal a request is for
//!
//! hoody-proxy passes the `N` of `terminal-N` in `x-hoody-instance` ([`crate::Instance`]).
//! A numeric instance other than 0 *is* the terminal id and overrides what the client sent
//! (the reference: "`terminal-N` forces `terminal_id=N`"), except for `ephemeral=true`.
//! Without the header (a client talking to the Kit directly) the `terminal_id` query or body
//! field is honoured, and defaults to 1 except for `/create`, which requires it (400
//! "Missing 'terminal_id' field", as the reference has it).
//!
//! ## execute
//!
//! `execute` must answer with stdout and stderr apart and an exit code. Typing the command
//! into the PTY cannot give that (one stream, interleaved with the prompt, and the shell may
//! be busy in an editor), so the command runs as a child of its own: `<session shell> -c
//! COMMAND`, in the session shell's *current* directory (`/proc/<pid>/cwd`, so a `cd` typed
//! in the terminal applies) and environment (`/proc/<pid>/environ`), plus the request's
//! `cwd`/`env`, stdin `/dev/null`, in a process group of its own. Its stdout and stderr are
//! read concurrently (8 MiB kept of each, the rest drained so the command never blocks);
//! the timeout (`timeout` seconds, default 300) kills the whole group and reports exit code
//! 124 with `timed_out:true`. Each command is recorded in the session's `command_history`,
//! and echoed (command, first 64 KiB of output, exit code) into the session's output so
//! that people watching the terminal see it ran. It runs in a task of its own, so a
//! synchronous caller that disconnects does not stop it; its result stays available at
//! `GET /result/{command_id}` (the last 1000 finished are kept). What a command changes in
//! its own shell (`cd`, `export`) does not carry over to the session's shell.
//!
//! `command_history` merges these with the commands typed into a bash session: bash
//! sessions get `HISTFILE=<storage>/hoody-terminal/history/<id>.bash_history` and
//! `PROMPT_COMMAND="history -a"`, so each command is in the file as soon as it ran (and
//! a terminal id keeps its readline history across Kit restarts).
//!
//! ## Endpoints
//!
//! | | |
//! | --- | --- |
//! | `GET /` | the web terminal (xterm.js, built in; `?terminal_id`, `fontSize`, `readonly`, `title`, `shell`) |
//! | `GET /assets/{xterm.js,xterm.css,addon-fit.js}` | its assets |
//! | `GET /api/v1/terminal/ws` | ttyd's protocol (`ws.rs`); query `terminal_id`, `readonly`, `cwd`, `cwd_auto_create`, `shell`, `cmd`, `display`, `env` (JSON object) |
//! | `POST /api/v1/terminal/create` | `{terminal_id, ephemeral, shell, cwd, cols, rows, env, startup_script, display}` |
//! | `POST /api/v1/terminal/execute` | `{command, id?, timeout?, wait?, cwd?, env?}` |
//! | `GET /api/v1/terminal/result/{command_id}` | an execute's state and output |
//! | `POST /api/v1/terminal/execute/{command_id}/abort` | `{force}`: SIGTERM (SIGKILL) its process group |
//! | `POST /api/v1/terminal/write` | `{input, enter, terminal_id}`: raw input |
//! | `GET /api/v1/terminal/sessions` | every session (`history_limit`) |
//! | `GET /api/v1/terminal/history/{id}` | a session's command history |
//! | `GET /api/v1/terminal/raw` | a session's scrollback (`terminal_id`, `tail`, `format=text|download`) |
//! | `DELETE /api/v1/terminal/{id}` | ends a session |
//! | `GET /api/v1/terminal/health` | the standard health body |

mod execute;
mod pty;
mod session;
mod web;
mod ws;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value, json};

use crate::ports::INSTANCE_HEADER;
use crate::{ApiError, ApiResult, Context, Instance};
use session::{CreateOptions, Shell, Terminals};

/// Seconds an `execute` may run by default.
const DEFAULT_TIMEOUT_SECS: f64 = 300.0;
/// The longest `timeout` accepted (a day).
const MAX_TIMEOUT_SECS: f64 = 86_400.0;

/// The terminal service's routes.
pub fn router(ctx: Arc<Context>) -> Router {
    let terms = Terminals::new(ctx);
    Router::new()
        .route("/", get(web::page))
        .route("/assets/{name}", get(web::asset))
        .route("/api/v1/terminal/health", get(health))
        .route("/api/v1/terminal/ws", get(ws_attach))
        .route("/api/v1/terminal/create", post(create))
        .route("/api/v1/terminal/execute", post(execute))
        .route("/api/v1/terminal/result/{command_id}", get(result))
        .route("/api/v1/terminal/execute/{command_id}/abort", post(abort))
        .route("/api/v1/terminal/write", post(write))
        .route("/api/v1/terminal/sessions", get(sessions))
        .route("/api/v1/terminal/history/{terminal_id}", get(history))
        .route("/api/v1/terminal/raw", get(raw))
        .route("/api/v1/terminal/{terminal_id}", delete(remove))
        .with_state(terms)
}

type Params = Result<Query<HashMap<String, String>>, QueryRejection>;

fn params(q: Params) -> ApiResult<HashMap<String, String>> {
    Ok(q?.0)
}

/// The terminal id a numeric `x-hoody-instance` forces (`terminal-N`), if any.
fn forced_id(headers: &HeaderMap, inst: &Instance) -> Option<u32> {
    if !headers.contains_key(INSTANCE_HEADER) {
        return None;
    }
    inst.number().filter(|n| (1..=65_535).contains(n))
}

/// Parses a terminal id given as `field`: 1-65535, 0 meaning absent.
fn parse_id(field: &str, v: &Value) -> ApiResult<Option<u32>> {
    let n = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64(),
        Value::String(s) if s.is_empty() => return Ok(None),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    match n {
        Some(0) => Ok(None),
        Some(n @ 1..=65_535) => Ok(Some(n as u32)),
        _ => Err(ApiError::validation(format!(
            "invalid {field} {v}: a number from 1 to 65535"
        ))),
    }
}

fn query_id(q: &HashMap<String, String>) -> ApiResult<Option<u32>> {
    match q.get("terminal_id") {
        Some(s) => parse_id("terminal_id", &Value::String(s.clone())),
        None => Ok(None),
    }
}

fn parse_bool(field: &str, s: &str) -> ApiResult<bool> {
    match s.to_ascii_lowercase().as_str() {
        "" | "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(ApiError::validation(format!(
            "invalid {field} {s:?}: true or false"
        ))),
    }
}

fn query_bool(q: &HashMap<String, String>, field: &str) -> ApiResult<bool> {
    q.get(field)
        .map(|s| parse_bool(field, s))
        .transpose()
        .map(|b| b.unwrap_or(false))
}

fn body_bool(body: &Map<String, Value>, field: &str) -> ApiResult<Option<bool>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => parse_bool(field, s).map(Some),
        Some(other) => Err(ApiError::validation(format!(
            "invalid '{field}' {other}: true or false"
        ))),
    }
}

fn body_str<'a>(body: &'a Map<String, Value>, field: &str) -> ApiResult<Option<&'a str>> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(ApiError::validation(format!(
            "invalid '{field}' {other}: a string"
        ))),
    }
}

fn body_env(body: &Map<String, Value>) -> ApiResult<Vec<(String, String)>> {
    match body.get("env") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                if k.is_empty() || k.contains('=') || k.contains('\0') {
                    return Err(ApiError::validation(format!(
                        "invalid environment variable name {k:?}"
                    )));
                }
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    other => {
                        return Err(ApiError::validation(format!(
                            "invalid value for env {k}: {other} (a string)"
                        )));
                    }
                };
                if v.contains('\0') {
                    return Err(ApiError::validation(format!("env {k} contains a NUL byte")));
                }
                Ok((k.clone(), v))
            })
            .collect(),
        Some(other) => Err(ApiError::validation(format!(
            "invalid 'env' {other}: an object of strings"
        ))),
    }
}

fn body_dim(body: &Map<String, Value>, field: &str, default: u16) -> ApiResult<u16> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=1000).contains(n))
            .map(|n| n as u16)
            .ok_or_else(|| {
                ApiError::validation(format!("invalid '{field}' {v}: a number from 1 to 1000"))
            }),
    }
}

fn parse_display(v: &str) -> ApiResult<u32> {
    v.trim_start_matches(':')
        .parse::<u32>()
        .ok()
        .filter(|n| *n <= 999_999)
        .ok_or_else(|| ApiError::validation(format!("invalid display {v:?}: \"N\" or \":N\"")))
}

fn cwd_path(s: &str) -> ApiResult<PathBuf> {
    let p = PathBuf::from(s);
    if !p.is_absolute() || s.contains('\0') {
        return Err(ApiError::validation(format!(
            "invalid cwd {s:?}: an absolute path"
        )));
    }
    Ok(p)
}

/// A JSON object body; empty means `{}`. Parsed here rather than by axum's `Json` so that
/// clients that send no `Content-Type` (curl -d) are understood too.
fn object_body(body: &Bytes) -> ApiResult<Map<String, Value>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(ApiError::validation(format!(
            "the body must be a JSON object, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        ))),
        Err(e) => Err(ApiError::validation(format!("invalid JSON body: {e}"))),
    }
}

async fn health(State(t): State<Arc<Terminals>>, h: HeaderMap) -> axum::Json<Value> {
    axum::Json(crate::health::body(&t.ctx, "hoody-terminal", &h))
}

/// `GET /api/v1/terminal/ws`: validates the query, then upgrades (subprotocol `tty`).
async fn ws_attach(
    State(t): State<Arc<Terminals>>,
    headers: HeaderMap,
    inst: Instance,
    q: Params,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let q = params(q)?;
    let terminal_id = forced_id(&headers, &inst).or(query_id(&q)?).unwrap_or(1);
    let mut opts = CreateOptions::default();
    if let Some(s) = q.get("shell").filter(|s| !s.is_empty()) {
        opts.shell = Shell::parse(s)?;
    }
    if let Some(c) = q.get("cwd").filter(|s| !s.is_empty()) {
        opts.cwd = Some(cwd_path(c)?);
    }
    opts.cwd_auto_create = query_bool(&q, "cwd_auto_create")?;
    opts.cmd = q.get("cmd").filter(|s| !s.is_empty()).cloned();
    if let Some(d) = q.get("display").filter(|s| !s.is_empty()) {
        opts.display = Some(parse_display(d)?);
    }
    if let Some(e) = q.get("env").filter(|s| !s.is_empty()) {
        let m = match serde_json::from_str::<Value>(e) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(ApiError::validation(format!(
                    "invalid env {e:?}: a JSON object of strings"
                )));
            }
        };
        let mut b = Map::new();
        b.insert("env".to_string(), Value::Object(m));
        opts.env = body_env(&b)?;
    }
    let readonly = query_bool(&q, "readonly")?;
    if t.get(terminal_id).is_none() {
        // What would stop the session from starting is told as a 4xx now, not after the
        // upgrade.
        opts.shell.path()?;
        if let Some(c) = &opts.cwd
            && !opts.cwd_auto_create
            && !c.is_dir()
        {
            return Err(ApiError::validation(format!(
                "cwd {} is not an existing directory",
                c.display()
            )));
        }
    }
    let upgrade = upgrade.map_err(|r| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "WEBSOCKET_REQUIRED",
            format!(
                "/api/v1/terminal/ws is a WebSocket (subprotocol tty): {}",
                r.body_text()
            ),
        )
    })?;
    Ok(upgrade
        .protocols(["tty"])
        .on_upgrade(move |socket| {
            ws::serve(
                socket,
                t,
                ws::Attach {
                    terminal_id,
                    opts,
                    readonly,
                },
            )
        })
        .into_response())
}

/// `POST /api/v1/terminal/create`: starts a session unless it runs (idempotent).
async fn create(
    State(t): State<Arc<Terminals>>,
    headers: HeaderMap,
    inst: Instance,
    body: Bytes,
) -> ApiResult<Response> {
    let b = object_body(&body)?;
    let ephemeral = body_bool(&b, "ephemeral")?.unwrap_or(false);
    let id = if ephemeral {
        None
    } else {
        let client = parse_id("terminal_id", b.get("terminal_id").unwrap_or(&Value::Null))?;
        Some(
            forced_id(&headers, &inst)
                .or(client)
                .ok_or_else(|| ApiError::validation("Missing 'terminal_id' field"))?,
        )
    };
    let mut opts = CreateOptions {
        ephemeral,
        ..CreateOptions::default()
    };
    if let Some(s) = body_str(&b, "shell")?.filter(|s| !s.is_empty()) {
        opts.shell = Shell::parse(s)?;
    }
    if let Some(c) = body_str(&b, "cwd")?.filter(|s| !s.is_empty()) {
        opts.cwd = Some(cwd_path(c)?);
    }
    opts.cwd_auto_create = body_bool(&b, "cwd_auto_create")?.unwrap_or(false);
    opts.cols = body_dim(&b, "cols", 80)?;
    opts.rows = body_dim(&b, "rows", 24)?;
    opts.env = body_env(&b)?;
    opts.startup_script = body_str(&b, "startup_script")?
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    opts.display = match b.get("display") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(parse_display(s)?),
        Some(Value::Number(n)) => Some(parse_display(&n.to_string())?),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "invalid 'display' {other}: \"N\" or \":N\""
            )));
        }
    };
    let (s, created) = t.ensure(id, &opts).await?;
    let (cols, rows) = s.size();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        axum::Json(json!({
            "success": true,
            "created": created,
            "terminal_id": s.id,
            "id": s.id,
            "pid": s.pid,
            "shell": s.shell.name(),
            "cwd": s.cwd(),
            "cols": cols,
            "rows": rows,
            "ephemeral": s.ephemeral,
            "started_at": crate::health::rfc3339(s.started),
        })),
    )
        .into_response())
}

/// `POST /api/v1/terminal/execute`.
async fn execute(
    State(t): State<Arc<Terminals>>,
    headers: HeaderMap,
    inst: Instance,
    q: Params,
    body: Bytes,
) -> ApiResult<Response> {
    let q = params(q)?;
    let b = object_body(&body)?;
    let command = body_str(&b, "command")?
        .filter(|c| !c.trim().is_empty())
        .ok_or_else(|| ApiError::validation("Missing 'command' field"))?
        .to_string();
    if command.contains('\0') {
        return Err(ApiError::validation("'command' contains a NUL byte"));
    }
    let command_id = match b.get("id") {
        None | Some(Value::Null) => execute::new_command_id(),
        Some(Value::String(s)) => {
            execute::check_command_id(s)?;
            s.clone()
        }
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "invalid 'id' {other}: a command id string"
            )));
        }
    };
    let timeout = match b.get("timeout") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_SECS,
        Some(v) => v
            .as_f64()
            .filter(|s| *s > 0.0 && *s <= MAX_TIMEOUT_SECS)
            .ok_or_else(|| {
                ApiError::validation(format!(
                    "invalid 'timeout' {v}: seconds, above 0 and at most {MAX_TIMEOUT_SECS}"
                ))
            })?,
    };
    let wait = body_bool(&b, "wait")?.unwrap_or(true);
    let cwd = match body_str(&b, "cwd")?.or(q.get("cwd").map(String::as_str)) {
        Some(c) if !c.is_empty() => Some(cwd_path(c)?),
        _ => None,
    };
    let env = body_env(&b)?;
    let ephemeral = query_bool(&q, "ephemeral")? || body_bool(&b, "ephemeral")?.unwrap_or(false);
    let id = if ephemeral {
        None
    } else {
        let body_id = parse_id("terminal_id", b.get("terminal_id").unwrap_or(&Value::Null))?;
        Some(
            forced_id(&headers, &inst)
                .or(query_id(&q)?)
                .or(body_id)
                .unwrap_or(1),
        )
    };
    let opts = CreateOptions {
        ephemeral,
        ..CreateOptions::default()
    };
    let (session, _) = t.ensure(id, &opts).await?;
    let rec = execute::start(
        &t.commands,
        session,
        execute::Request {
            id: command_id,
            command,
            cwd,
            env,
            timeout: Duration::from_secs_f64(timeout),
        },
    )?;
    if !wait {
        return Ok(axum::Json(json!({
            "command_id": rec.id,
            "status": "running",
            "terminal_id": rec.terminal_id,
        }))
        .into_response());
    }
    rec.wait().await;
    Ok(axum::Json(rec.sync_body()).into_response())
}

fn command(t: &Terminals, id: &str) -> ApiResult<Arc<execute::CommandRecord>> {
    session::lock(&t.commands)
        .get(id)
        .ok_or_else(|| ApiError::not_found(format!("command {id} not found")))
}

/// `GET /api/v1/terminal/result/{command_id}`.
async fn result(
    State(t): State<Arc<Terminals>>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(command(&t, &id)?.result_body()))
}

/// `POST /api/v1/terminal/execute/{command_id}/abort` `{force}`.
async fn abort(
    State(t): State<Arc<Terminals>>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let b = object_body(&body)?;
    let force = body_bool(&b, "force")?.unwrap_or(false);
    let rec = command(&t, &id)?;
    let signal = rec.abort(force)?;
    Ok(axum::Json(json!({
        "success": true,
        "command_id": rec.id,
        "signal": signal,
    })))
}

/// `POST /api/v1/terminal/write` `{input, enter, terminal_id}`.
async fn write(
    State(t): State<Arc<Terminals>>,
    headers: HeaderMap,
    inst: Instance,
    q: Params,
    body: Bytes,
) -> ApiResult<axum::Json<Value>> {
    let q = params(q)?;
    let b = object_body(&body)?;
    let input =
        body_str(&b, "input")?.ok_or_else(|| ApiError::validation("Missing 'input' field"))?;
    let enter = body_bool(&b, "enter")?.unwrap_or(false);
    let body_id = parse_id("terminal_id", b.get("terminal_id").unwrap_or(&Value::Null))?;
    let id = forced_id(&headers, &inst)
        .or(query_id(&q)?)
        .or(body_id)
        .unwrap_or(1);
    let session = t.require(id)?;
    let mut data = input.as_bytes().to_vec();
    if enter {
        data.push(b'\r');
    }
    session.write_input(&data).await?;
    Ok(axum::Json(json!({
        "success": true,
        "terminal_id": id,
        "bytes": data.len(),
    })))
}

fn history_limit(q: &HashMap<String, String>) -> ApiResult<usize> {
    let Some((field, v)) = ["history_limit", "history_lines", "limit"]
        .iter()
        .find_map(|f| q.get(*f).map(|v| (*f, v)))
    else {
        return Ok(50);
    };
    v.parse::<usize>()
        .map(|n| n.min(1000))
        .map_err(|_| ApiError::validation(format!("invalid {field} {v:?}: a number up to 1000")))
}

/// `GET /api/v1/terminal/sessions?history_limit=50`.
async fn sessions(State(t): State<Arc<Terminals>>, q: Params) -> ApiResult<axum::Json<Value>> {
    let q = params(q)?;
    let limit = history_limit(&q)?;
    Ok(axum::Json(Value::Array(
        t.list().iter().map(|s| s.describe(limit)).collect(),
    )))
}

fn path_id(s: &str) -> ApiResult<u32> {
    parse_id("terminal id", &Value::String(s.to_string()))?
        .ok_or_else(|| ApiError::validation(format!("invalid terminal id {s:?}: 1 to 65535")))
}

/// `GET /api/v1/terminal/history/{terminal_id}`.
async fn history(
    State(t): State<Arc<Terminals>>,
    Path(id): Path<String>,
    q: Params,
) -> ApiResult<axum::Json<Value>> {
    let q = params(q)?;
    let limit = history_limit(&q)?;
    let s = t.require(path_id(&id)?)?;
    let h = s.command_history(limit);
    Ok(axum::Json(json!({
        "terminal_id": s.id,
        "count": h.len(),
        "command_history": h,
    })))
}

/// `GET /api/v1/terminal/raw?terminal_id&tail&format=text|download`: the scrollback.
async fn raw(
    State(t): State<Arc<Terminals>>,
    headers: HeaderMap,
    inst: Instance,
    q: Params,
) -> ApiResult<Response> {
    let q = params(q)?;
    let id = forced_id(&headers, &inst).or(query_id(&q)?).unwrap_or(1);
    let s = t.require(id)?;
    let mut data = s.scrollback();
    if let Some(tail) = q.get("tail") {
        let n: usize = tail
            .parse()
            .map_err(|_| ApiError::validation(format!("invalid tail {tail:?}: a line count")))?;
        let end = data.len() - usize::from(data.ends_with(b"\n"));
        let mut start = 0;
        let mut lines = 0;
        if n == 0 {
            start = data.len();
        } else {
            for i in (0..end).rev() {
                if data[i] == b'\n' {
                    lines += 1;
                    if lines == n {
                        start = i + 1;
                        break;
                    }
                }
            }
        }
        data.drain(..start);
    }
    let disposition = match q.get("format").map(String::as_str) {
        None | Some("text") => "inline".to_string(),
        Some("download") => format!("attachment; filename=\"terminal-{id}.txt\""),
        Some(other) => {
            return Err(ApiError::validation(format!(
                "invalid format {other:?}: text or download"
            )));
        }
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        data,
    )
        .into_response())
}

/// `DELETE /api/v1/terminal/{terminal_id}`.
async fn remove(
    State(t): State<Arc<Terminals>>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let id = path_id(&id)?;
    let s = t.delete(id).await?;
    Ok(axum::Json(json!({
        "success": true,
        "terminal_id": id,
        "pid": s.pid,
        "message": format!("terminal session {id} ended"),
    })))
}
