//! The sqlite service (reference §3.4, port 5): SQLite databases over HTTP. One ACID
//! transaction per request, a read-only shareable query URL, and a key-value store kept in
//! an ordinary table of the same database.
//!
//! ## Endpoints
//!
//! Every call names its database with `?db=` (`dbpath`: bare names under
//! `/hoody/databases`, absolute paths allowed, `..` refused).
//!
//! | Method | Path | |
//! |---|---|---|
//! | POST | `/api/v1/sqlite/db` | `{transaction:[{query\|statement\|sql, values?\|valuesBatch?, noFail?}], resultFormat?, create_db_if_missing?}` |
//! | POST | `/api/v1/sqlite/db/create` | `path`, `init_kv`, `kv_table` (query string or JSON body) |
//! | GET | `/api/v1/sqlite/query` | `sql` = base64 (standard or URL-safe, padding optional) of one read-only `SELECT`/`WITH` |
//! | PUT / GET / HEAD / DELETE | `/api/v1/sqlite/kv/{key}` | raw body stored verbatim; `ttl`, `if_match`, `path` |
//! | GET | `/api/v1/sqlite/kv` | `prefix`, `limit`, `offset` |
//! | POST | `/api/v1/sqlite/kv/{key}/incr\|decr\|push\|pop\|remove` | atomic |
//! | POST | `/api/v1/sqlite/kv/batch/get\|set\|delete` | up to 100 keys, one transaction |
//! | POST | `/api/v1/sqlite/maintenance` | `{op: quick_check\|wal_checkpoint_truncate\|vacuum_into, dest_path?}` |
//! | GET | `/api/v1/sqlite/health`, `/api/v1/sqlite/health/cache` | |
//!
//! Not built (501 `NOT_IMPLEMENTED`, naming the endpoint): query history, KV history / time
//! travel / snapshots / rollback, the OpenAPI documents, directory mode, and the web UI at
//! `/`.
//!
//! ## Wire shapes (reconciling the reference)
//!
//! The reference's docs text says reads return `{success, results:[[rows]]}`; Hoody's
//! live-tested skill pages and the ws4sqlite lineage of the kit (its `main_wsError {reqIdx,
//! error}` type is in Hoody's generated SDK) say each result item is an object. We follow the
//! latter, which is what clients parse: `{success:true, results:[item…]}` where a `query`
//! item is `{success, resultHeaders:[…], resultSet:[{col:value}…]}` (or `resultSetList`
//! of arrays with `resultFormat:"list"`, plus `truncated:true` past 10 000 rows), a
//! `statement` item is `{success, rowsUpdated}` (`rowsUpdatedBatch:[…]` with `valuesBatch`)
//! and a failed `noFail` item is `{success:false, error}`. A failing item rolls the whole
//! transaction back and answers the Kit's error envelope plus ws4sqlite's `reqIdx`:
//! `{error, code, timestamp, reqIdx, details:{reqIdx, sqlite_code}}`.
//!
//! Values: JSON numbers become INTEGER or REAL, strings TEXT, `null` NULL, booleans 0/1, and
//! arrays/objects their JSON text; `values` is an array (positional `?`) or an object (named
//! `:name`/`@name`/`$name`, keys with or without the prefix). BLOB columns come back as
//! base64 strings.
//!
//! ## Design
//!
//! - `pool`: per database file one writer connection behind a mutex plus a few readers,
//!   WAL, `busy_timeout`, `SQLITE_OPEN_NOFOLLOW`, an authorizer refusing transaction control
//!   and `ATTACH` in client SQL, and a deadline on every statement.
//! - All SQLite work runs on tokio's blocking pool; handlers only parse and answer.
//! - The KV store (`kv`) is a table (`kv_store` by default, `table=` to choose) of
//!   `key, value, content_type, created_at, updated_at, expires_at`, so SQL can read it too.
//!   Expired rows are invisible at once and purged by the next write to the table.
//! - Request bodies are limited to [`BODY_LIMIT`]: SQL values and KV values live in
//!   SQLite rows, so they are buffered, but never unboundedly.

mod dbpath;
mod jsonpath;
mod kv;
mod maintenance;
mod pool;
mod sql;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, Context};

/// Largest request body accepted (a transaction's JSON, a KV value).
pub const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Absolute `db` paths outside the databases directory are allowed: Hoody runs the kit with
/// `--allow-any-absolute-db-path` in containers (reference §3.4).
const ALLOW_ANY_ABSOLUTE_DB_PATH: bool = true;

/// Counters for the health body.
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    kv_ops: AtomicU64,
    transactions: AtomicU64,
    queries: AtomicU64,
}

/// The service's shared state.
#[derive(Debug)]
struct Service {
    ctx: Arc<Context>,
    pool: pool::Pool,
    counters: Counters,
}

type Svc = State<Arc<Service>>;

impl Service {
    /// The database `raw` names.
    fn target(&self, raw: Option<&str>) -> ApiResult<dbpath::Target> {
        dbpath::resolve(self.ctx.databases(), raw, ALLOW_ANY_ABSOLUTE_DB_PATH)
    }

    fn count(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

/// The sqlite service's routes.
pub fn router(ctx: Arc<Context>) -> Router {
    let svc = Arc::new(Service {
        pool: pool::Pool::new(ctx.databases().to_path_buf()),
        ctx,
        counters: Counters::default(),
    });
    let mut r = Router::new()
        .route("/api/v1/sqlite/health", get(health))
        .route("/api/v1/sqlite/health/cache", get(health_cache))
        .route("/api/v1/sqlite/db", post(sql::transaction))
        .route("/api/v1/sqlite/db/create", post(sql::create))
        .route("/api/v1/sqlite/query", get(sql::shareable))
        .route("/api/v1/sqlite/maintenance", post(maintenance::maintenance))
        .route("/api/v1/sqlite/kv", get(kv::list))
        .route("/api/v1/sqlite/kv/batch/get", post(kv::batch_get))
        .route("/api/v1/sqlite/kv/batch/set", post(kv::batch_set))
        .route("/api/v1/sqlite/kv/batch/delete", post(kv::batch_delete))
        .route(
            "/api/v1/sqlite/kv/{*key}",
            get(kv::get)
                .head(kv::exists)
                .put(kv::put)
                .delete(kv::delete)
                .post(kv::post_op),
        );
    for path in [
        "/api/v1/sqlite/history",
        "/api/v1/sqlite/history/stats",
        "/api/v1/sqlite/history/{index}",
        "/api/v1/sqlite/openapi.json",
        "/api/v1/sqlite/openapi.yaml",
        "/api/v1/sqlite/kv/diff",
        "/api/v1/sqlite/kv/snapshot",
        "/api/v1/sqlite/kv/rollback",
    ] {
        r = r.route(path, any(not_built));
    }
    r.fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(svc.clone(), count_requests))
        .with_state(svc)
}

async fn count_requests(State(svc): Svc, req: Request, next: Next) -> Response {
    Service::count(&svc.counters.requests, 1);
    let resp = next.run(req).await;
    if resp.status().is_client_error() || resp.status().is_server_error() {
        Service::count(&svc.counters.errors, 1);
    }
    resp
}

async fn health(State(svc): Svc, headers: HeaderMap) -> axum::Json<Value> {
    let mut b = crate::health::body(&svc.ctx, "sqlite", &headers);
    b["memory"]["heap_used_bytes"] = json!(sqlite_memory_used());
    b["memory"]["heap_total_bytes"] = json!(sqlite_memory_highwater());
    b["cache"] = cache_body(&svc);
    let c = &svc.counters;
    b["counters"] = json!({
        "requests_total": c.requests.load(Ordering::Relaxed),
        "errors_total": c.errors.load(Ordering::Relaxed),
        "kv_ops_total": c.kv_ops.load(Ordering::Relaxed),
        "transactions_total": c.transactions.load(Ordering::Relaxed),
        "queries_total": c.queries.load(Ordering::Relaxed),
    });
    b["sqlite_version"] = json!(rusqlite::version());
    axum::Json(b)
}

async fn health_cache(State(svc): Svc) -> axum::Json<Value> {
    axum::Json(cache_body(&svc))
}

/// The connection cache: open databases, SQLite's memory against the page caches' capacity,
/// and how often a request found its database already open.
fn cache_body(svc: &Service) -> Value {
    let s = svc.pool.stats();
    let lookups = s.hits + s.misses;
    json!({
        "size_bytes": sqlite_memory_used(),
        "capacity_bytes": s.connections as u64 * pool::PAGE_CACHE_BYTES,
        "entries": s.databases,
        "connections": s.connections,
        "hits": s.hits,
        "misses": s.misses,
        "hit_ratio": if lookups == 0 { 0.0 } else { s.hits as f64 / lookups as f64 },
    })
}

fn sqlite_memory_used() -> i64 {
    // SAFETY: sqlite3_memory_used only reads SQLite's global counters.
    unsafe { rusqlite::ffi::sqlite3_memory_used() }
}

fn sqlite_memory_highwater() -> i64 {
    // SAFETY: reading the high-water mark (resetFlag 0) only reads a global counter.
    unsafe { rusqlite::ffi::sqlite3_memory_highwater(0) }
}

async fn not_built(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        format!(
            "{} is not built in this kit yet (query history, KV time travel and the OpenAPI \
             documents are not available)",
            uri.path()
        ),
    )
}

async fn unknown_route(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no sqlite endpoint at {}", uri.path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} is not allowed on {}", req.method(), req.uri().path()),
    )
}

/// A boolean query parameter: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, or empty
/// (`?init_kv`) for true.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Flag, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(b) => Ok(Flag(b)),
            Raw::Str(s) => match s.to_ascii_lowercase().as_str() {
                "" | "true" | "1" | "yes" | "on" => Ok(Flag(true)),
                "false" | "0" | "no" | "off" => Ok(Flag(false)),
                other => Err(serde::de::Error::custom(format!(
                    "expected a boolean (true/false/1/0), got {other:?}"
                ))),
            },
        }
    }
}

/// The value of a flag given as any of `flags` (`create_db_if_missing` and its alias
/// `auto_create`, from the query string or the body): they must agree.
fn agree(flags: &[(&str, Option<bool>)]) -> ApiResult<bool> {
    let mut seen: Option<(&str, bool)> = None;
    for &(name, v) in flags {
        let Some(v) = v else { continue };
        match seen {
            Some((other, w)) if w != v => {
                return Err(ApiError::validation(format!(
                    "conflicting flags: {other}={w} and {name}={v} must match"
                )));
            }
            _ => seen = Some((name, v)),
        }
    }
    Ok(seen.is_some_and(|(_, v)| v))
}

/// The request body, or the reason it could not be read (413 past [`BODY_LIMIT`]).
fn body_bytes(body: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    body.map_err(|r| {
        let status = r.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "PAYLOAD_TOO_LARGE"
        } else {
            "VALIDATION_ERROR"
        };
        ApiError::new(
            status,
            code,
            format!(
                "cannot read the request body (limit {BODY_LIMIT} bytes): {}",
                r.body_text()
            ),
        )
    })
}

/// Parses a JSON body (whatever its Content-Type) into `T`, naming `what` on failure.
fn json_body<T: DeserializeOwned>(body: &[u8], what: &str) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::validation(format!(
            "{what}: the request body is empty, expected a JSON object"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::validation(format!("{what}: invalid JSON body: {e}")))
}
