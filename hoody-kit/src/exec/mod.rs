//! The exec service (reference §3.5): every script file under an instance's scripts
//! directory is an HTTP route (`exec-N`, port 7702).
//!
//! ```text
//! /hoody/storage/hoody-exec/scripts/<instance>/api/hello.js   →  GET /api/hello
//!                                              users/[id].js  →  /users/42  (parameters.id)
//!                                              run.sh         →  /run       (/bin/sh)
//! ```
//!
//! Routing rules are in `routing.rs`, magic comments (`@token`, `@timeout`, `@cors`,
//! `@memory`) in `magic.rs`, shell routes in `shell.rs`. The management API lives under
//! `/api/v1/exec/` (`api.rs`); every other path runs the script that matches it, or answers
//! 404 `ROUTE_NOT_FOUND`.
//!
//! # Runtime: QuickJS embedded, a fresh runtime per request
//!
//! Hoody runs scripts on Bun. hoody embeds QuickJS (the quickjs-ng engine through the
//! `rquickjs` crate, C compiled into the Kit binary) instead:
//!
//! - Nothing to install in the container. The Kit is bind-mounted into every container
//!   (see the crate doc); Debian's base image has no JavaScript runtime, and installing Node
//!   per container costs ~100 MB and seconds. An embedded engine works in every container
//!   the moment the Kit starts.
//! - Isolation that is cheap enough to be per request. Each request gets a new `Runtime` and
//!   `Context` on a blocking thread (serverless mode: no state survives a request). Measured
//!   in a release build on the 2-core development machine while other builds ran: runtime +
//!   context ≈ 0.17 ms, the prelude loaded from bytecode (compiled once per process; parsing
//!   it per request cost ≈ 0.65 ms) ≈ 0.08 ms, a whole hello-world run ≈ 0.35 ms
//!   (`cargo test --release -p hoody-kit --lib exec::js::timing -- --ignored --nocapture`);
//!   a hello-world request end to end over keep-alive ≈ 0.75 ms p50, 1.1 ms p99
//!   (`cargo test --release -p hoody-kit --test exec hello_latency -- --nocapture`).
//! - Limits the engine enforces: a memory limit per runtime (default [`DEFAULT_MEMORY_MIB`]
//!   MiB, `@memory`), a stack limit, and an interrupt handler that ends the script at its
//!   `@timeout` (default [`DEFAULT_TIMEOUT_MS`] ms) or when the client disconnects. An
//!   exception, an out-of-memory, an infinite loop or even a panic in the binding ends that
//!   request only (a JSON 5xx), never the Kit.
//!
//! The price: QuickJS is an interpreter (CPU-heavy scripts run far slower than on Bun's JIT), has
//! no Node/Bun APIs (`fetch`, `fs`, `Buffer`, imports), and `.ts` files are not run (a type
//! stripper would need a TypeScript parser in the Kit); `.ts` scripts are stored but not
//! routed. `@mode worker` is accepted and ignored: every request is serverless. Scripts
//! needing Node can be `.sh` routes that call `node` where it is installed.
//!
//! # The script model
//!
//! A `.js` file is the body of `async function (req, res, metadata)`: it may `await`, and
//! may simply `return` its answer. The ambient API (`assets/exec/prelude.js`):
//!
//! - `req`: `{method, url, path, headers, query, params, body, text(), json()}`. `body` is
//!   the request body as text (at most [`MAX_BODY`] bytes); `headers` are lower-case with
//!   `headers.get(name)`; `query` values are strings (arrays when repeated); `await
//!   req.json()` throws a 400 `INVALID_JSON_BODY` on a malformed body.
//! - `res`: `status(n)`, `setHeader(k, v)` (alias `header`, `set`), `appendHeader`,
//!   `getHeader`, `type(t)`, `send(body)`, `json(value)`, `redirect(url, status = 302)`,
//!   `end(body)`. All chain.
//! - `metadata`: `{query, parameters, projectId, containerId, nodeId, domain, instance,
//!   script, method, requestId}`; the ids come from the `Host` name hoody-proxy forwards
//!   (`null` when it is not one).
//! - `console.*` (captured, see below), `setTimeout`/`setInterval`/`clear*`,
//!   `queueMicrotask`, and `Response` (`new Response(body, {status, headers})`,
//!   `Response.json(value, init)`).
//!
//! The answer: if `res.send`/`json`/`redirect`/`end` was called, that; otherwise the
//! returned value — a string is `text/plain`, a `Uint8Array`/`ArrayBuffer` is
//! `application/octet-stream`, a `Response` is itself, anything else is JSON — with any
//! `res.status`/`res.setHeader` applied. Returning `undefined` without sending is 204 (or
//! the status `res.status` set). A thrown error is 500 `SCRIPT_ERROR` with
//! `error: "<Name>: <message>\n<stack>"` and `details {script, name, message, stack}`; an
//! error carrying `httpStatus` (400–599) and `code` answers with those instead. A script
//! past its timeout is 504 `TIMEOUT`, one past its memory limit 500 `MEMORY_LIMIT`.
//!
//! # Console output
//!
//! `console.*` lines (and failures) go to a per-instance ring of the last 1000
//! (`GET /api/v1/exec/logs/list`); a request with `x-hoody-exec-debug: 1` also gets its own
//! lines back, JSON-encoded, in the `x-hoody-exec-logs` response header (first 8 KiB).
//!
//! # Limits
//!
//! At most [`MAX_CONCURRENT_RUNS`] scripts run at once (a semaphore, shared by JS and shell);
//! a request waits for a slot at most [`MAX_QUEUE_WAIT`] (then 503 `BUSY`). `@token` is
//! checked before any of that, and before the body is read. Bodies are not streamed: a script
//! gets its request body whole (`req.body`, or stdin for `.sh`), so it is capped at
//! [`MAX_BODY`] (413 `PAYLOAD_TOO_LARGE`); a `.sh` script's stdout is buffered (up to
//! 16 MiB) so that a failing exit status can still become a 500.

mod api;
mod js;
mod logs;
mod magic;
mod routing;
mod run;
mod shell;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::{any, delete, get, post};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::{Context, Instance};

/// Default `@timeout`, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// Default memory limit of one JavaScript request, in MiB (`@memory` overrides).
pub const DEFAULT_MEMORY_MIB: u64 = 64;
/// Scripts running at once.
pub const MAX_CONCURRENT_RUNS: usize = 16;
/// How long a request waits for a free slot before 503 `BUSY`.
pub const MAX_QUEUE_WAIT: Duration = Duration::from_secs(30);
/// The largest request body a script gets (it is handed over as a whole).
pub const MAX_BODY: usize = 16 * 1024 * 1024;
/// The largest script file.
pub const MAX_SCRIPT_BYTES: usize = 8 * 1024 * 1024;
/// Request header asking for the request's console lines in [`LOGS_HEADER`].
pub const DEBUG_HEADER: &str = "x-hoody-exec-debug";
/// Response header with the request's console lines (JSON, ASCII-escaped).
pub const LOGS_HEADER: &str = "x-hoody-exec-logs";
/// Response header with the request's id (also in `metadata.requestId` and the log ring).
pub const REQUEST_ID_HEADER: &str = "x-hoody-request-id";

/// The service's shared state.
#[derive(Debug)]
struct Exec {
    ctx: Arc<Context>,
    /// `<storage>/hoody-exec/scripts`.
    scripts: PathBuf,
    runs: Arc<Semaphore>,
    logs: logs::Logs,
    requests: AtomicU64,
    failures: AtomicU64,
}

impl Exec {
    /// The scripts directory of `instance`.
    fn instance_dir(&self, instance: &Instance) -> PathBuf {
        self.scripts.join(instance.as_str())
    }

    fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        format!("exec-{t:x}-{n}")
    }
}

type Shared = State<Arc<Exec>>;

/// The exec service's routes.
pub fn router(ctx: Arc<Context>) -> Router {
    let state = Arc::new(Exec {
        scripts: ctx.service_dir("hoody-exec").join("scripts"),
        ctx,
        runs: Arc::new(Semaphore::new(MAX_CONCURRENT_RUNS)),
        logs: logs::Logs::default(),
        requests: AtomicU64::new(0),
        failures: AtomicU64::new(0),
    });
    Router::new()
        .route("/api/v1/exec/health", get(health))
        .route("/api/v1/exec/list", get(api::list_exec_ids))
        .route("/api/v1/exec/scripts/list", get(api::list_scripts))
        .route("/api/v1/exec/scripts/read", get(api::read_script))
        .route("/api/v1/exec/scripts/write", post(api::write_script))
        .route("/api/v1/exec/scripts/delete", delete(api::delete_script))
        .route("/api/v1/exec/magic-comments/read", get(api::read_magic))
        .route("/api/v1/exec/magic-comments/schema", get(api::magic_schema))
        .route("/api/v1/exec/logs/list", get(api::list_logs))
        .route("/api/v1/exec/logs/clear", delete(api::clear_logs))
        .route(
            "/api/v1/exec/route/resolve",
            get(api::resolve_route).post(api::resolve_route_post),
        )
        .route("/api/v1/exec/validate/syntax", post(api::validate_syntax))
        .route("/api/v1/exec/{*rest}", any(api::unknown))
        .method_not_allowed_fallback(api::method_not_allowed)
        .fallback(run::run_script)
        .layer(DefaultBodyLimit::max(MAX_SCRIPT_BYTES + 64 * 1024))
        .with_state(state)
}

async fn health(State(s): Shared, h: HeaderMap) -> axum::Json<Value> {
    let mut body = crate::health::body(&s.ctx, "hoody-exec", &h);
    body["exec"] = json!({
        "runtime": "quickjs",
        "scriptsDir": s.scripts.display().to_string(),
        "running": MAX_CONCURRENT_RUNS - s.runs.available_permits(),
        "maxConcurrent": MAX_CONCURRENT_RUNS,
        "requests": s.requests.load(Ordering::Relaxed),
        "failures": s.failures.load(Ordering::Relaxed),
    });
    axum::Json(body)
}
