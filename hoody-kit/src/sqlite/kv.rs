//! The key-value store: a table (`kv_store` unless `table=`) in the database `db` names.
//!
//! `PUT /kv/{key}` stores the request body verbatim (UTF-8 bodies as TEXT, others as BLOB)
//! with its Content-Type (inferred when absent: JSON, text or octet-stream); `GET` answers
//! it byte for byte with that type. `ttl` (seconds) makes a key expire: expired keys are
//! invisible at once and deleted by the next write to the table. `if_match` is
//! compare-and-swap on the exact stored bytes (412 when the key is missing or differs).
//! `path` reads or updates a JSON sub-value ([`super::jsonpath`]). Keys may contain `/`.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction on the writer connection, so
//! read-modify-write operations (`incr`, `push`, CAS, `path` updates) are atomic; reads use
//! reader connections.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dbpath::Target;
use super::jsonpath;
use super::pool::{Conn, Db, blocking, lock, sql_error};
use super::{Flag, Service, Svc, agree, body_bytes, json_body};
use crate::{ApiError, ApiResult};

/// The table used when `table=` is absent.
pub(crate) const DEFAULT_TABLE: &str = "kv_store";
/// Keys per batch request.
const MAX_BATCH: usize = 100;
/// Longest key (bytes).
const MAX_KEY_LEN: usize = 1024;
/// Default and largest page of `GET /kv`.
const LIST_DEFAULT: i64 = 100;
const LIST_MAX: i64 = 1000;
/// Longest TTL (seconds): 100 years.
const MAX_TTL_SECS: i64 = 100 * 365 * 86_400;
/// Time limit of one KV operation.
const KV_TIME_LIMIT: Duration = Duration::from_secs(30);
/// Columns a KV table must have.
const COLUMNS: [&str; 6] = [
    "key",
    "value",
    "content_type",
    "created_at",
    "updated_at",
    "expires_at",
];
/// What an inferred UTF-8 body is stored as.
const TEXT: &str = "text/plain; charset=utf-8";
const JSON: &str = "application/json";

/// Query string of every KV endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct KvParams {
    db: Option<String>,
    table: Option<String>,
    path: Option<String>,
    ttl: Option<i64>,
    if_match: Option<String>,
    create_db_if_missing: Option<Flag>,
    auto_create: Option<Flag>,
    delta: Option<i64>,
    by: Option<i64>,
    index: Option<i64>,
    prefix: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    /// Accepted and ignored: operation history is not recorded by this kit.
    #[allow(dead_code)]
    history: Option<Flag>,
    /// Accepted and ignored (directory mode only in Hoody).
    #[allow(dead_code)]
    rebuild: Option<Flag>,
    at_timestamp: Option<i64>,
}

impl KvParams {
    fn create(&self) -> ApiResult<bool> {
        agree(&[
            (
                "create_db_if_missing",
                self.create_db_if_missing.map(|f| f.0),
            ),
            ("auto_create", self.auto_create.map(|f| f.0)),
        ])
    }

    fn path(&self) -> ApiResult<Option<Vec<String>>> {
        self.path
            .as_deref()
            .map(jsonpath::parse)
            .transpose()
            .map_err(ApiError::validation)
    }

    fn no_time_travel(&self) -> ApiResult<()> {
        match self.at_timestamp {
            Some(_) => Err(ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "NOT_IMPLEMENTED",
                "at_timestamp (time travel) is not built in this kit: history is not recorded",
            )),
            None => Ok(()),
        }
    }
}

/// The KV table `raw` names (default `kv_store`): 1 to 64 of `[A-Za-z0-9_]`, not starting
/// with a digit or `sqlite_`.
pub(crate) fn table_name(raw: Option<&str>) -> ApiResult<String> {
    let t = raw.filter(|t| !t.is_empty()).unwrap_or(DEFAULT_TABLE);
    let ok = t.len() <= 64
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !t.as_bytes()[0].is_ascii_digit()
        && !t.to_ascii_lowercase().starts_with("sqlite_");
    if ok {
        Ok(t.to_string())
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETERS",
            format!(
                "invalid table {t:?}: 1 to 64 of [A-Za-z0-9_], not starting with a digit or sqlite_"
            ),
        ))
    }
}

fn check_key(key: &str) -> ApiResult<()> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.contains('\0') {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETERS",
            format!("invalid key {key:?}: 1 to {MAX_KEY_LEN} bytes, no NUL"),
        ));
    }
    Ok(())
}

fn key_not_found(key: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "KEY_NOT_FOUND",
        format!("Key not found: {key}"),
    )
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn time(ms: i64) -> String {
    crate::health::rfc3339(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// A stored value.
#[derive(Debug)]
struct Entry {
    value: Vec<u8>,
    content_type: String,
    expires_at: Option<i64>,
}

impl Entry {
    fn json(&self, key: &str) -> ApiResult<Value> {
        serde_json::from_slice(&self.value).map_err(|e| {
            ApiError::new(
                StatusCode::CONFLICT,
                "NOT_JSON",
                format!(
                    "the value of {key} is not JSON ({}): {e}; path= needs a JSON value",
                    self.content_type
                ),
            )
        })
    }
}

fn bytes_of(v: ValueRef<'_>) -> Vec<u8> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        ValueRef::Integer(i) => i.to_string().into_bytes(),
        ValueRef::Real(f) => f.to_string().into_bytes(),
        ValueRef::Null => Vec::new(),
    }
}

/// The live (unexpired) entry of `key`.
fn read_entry(c: &Connection, table: &str, key: &str, now: i64) -> rusqlite::Result<Option<Entry>> {
    c.prepare_cached(&format!(
        "SELECT value, content_type, expires_at FROM \"{table}\" \
         WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
    ))?
    .query_row(params![key, now], |r| {
        Ok(Entry {
            value: bytes_of(r.get_ref(0)?),
            content_type: r.get(1)?,
            expires_at: r.get(2)?,
        })
    })
    .optional()
}

/// Stores `value` under `key` (UTF-8 as TEXT so SQL's JSON functions can read it, other
/// bytes as BLOB). Returns whether the key is new.
fn write_entry(
    c: &Connection,
    table: &str,
    key: &str,
    value: &[u8],
    content_type: &str,
    now: i64,
    expires_at: Option<i64>,
) -> rusqlite::Result<()> {
    let v = rusqlite::types::ToSqlOutput::Borrowed(if std::str::from_utf8(value).is_ok() {
        ValueRef::Text(value)
    } else {
        ValueRef::Blob(value)
    });
    c.prepare_cached(&format!(
        "INSERT INTO \"{table}\" (key, value, content_type, created_at, updated_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5) \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, \
         content_type = excluded.content_type, updated_at = excluded.updated_at, \
         expires_at = excluded.expires_at"
    ))?
    .execute(params![key, v, content_type, now, expires_at])?;
    Ok(())
}

fn table_exists(c: &Connection, table: &str) -> rusqlite::Result<bool> {
    c.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([table])
}

/// Creates `table` if missing (and checks its columns the first time it is seen).
fn ensure_table(db: &Db, c: &Connection, table: &str) -> ApiResult<()> {
    let err =
        |e: rusqlite::Error| sql_error(&e, format!("{}: KV table {table}: {e}", db.path.display()));
    c.prepare_cached(&format!(
        "CREATE TABLE IF NOT EXISTS \"{table}\" (key TEXT PRIMARY KEY NOT NULL, \
         value BLOB NOT NULL, content_type TEXT NOT NULL, created_at INTEGER NOT NULL, \
         updated_at INTEGER NOT NULL, expires_at INTEGER) WITHOUT ROWID"
    ))
    .and_then(|mut s| s.execute([]))
    .map_err(err)?;
    if lock(&db.kv_tables).contains(table) {
        return Ok(());
    }
    let mut have = Vec::new();
    {
        let mut s = c
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .map_err(err)?;
        let mut rows = s.query([]).map_err(err)?;
        while let Some(r) = rows.next().map_err(err)? {
            have.push(r.get::<_, String>(0).map_err(err)?);
        }
    }
    if let Some(missing) = COLUMNS
        .iter()
        .find(|c| !have.iter().any(|h| h.eq_ignore_ascii_case(c)))
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "KV_TABLE_MISMATCH",
            format!(
                "{}: table {table} exists but is not a KV table (no column {missing}); choose \
                 another with table=",
                db.path.display()
            ),
        ));
    }
    c.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS \"{table}_expires_at\" ON \"{table}\" (expires_at) \
         WHERE expires_at IS NOT NULL"
    ))
    .map_err(err)?;
    lock(&db.kv_tables).insert(table.to_string());
    Ok(())
}

/// Creates the KV table `table` in `db` now (for `db/create?init_kv=true`).
pub(crate) fn ensure_table_now(db: &Db, table: &str) -> ApiResult<()> {
    write_tx(db, |c| ensure_table(db, c, table))
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction on `db`'s writer.
fn write_tx<T>(db: &Db, f: impl FnOnce(&Connection) -> ApiResult<T>) -> ApiResult<T> {
    let w = db.writer();
    let c: &Conn = &w;
    let _deadline = c.deadline(KV_TIME_LIMIT);
    let control = |sql: &str| {
        c.conn().execute_batch(sql).map_err(|e| {
            sql_error(
                &e,
                format!("{}: {sql}: {}", db.path.display(), c.explain(&e)),
            )
        })
    };
    control("BEGIN IMMEDIATE")?;
    match f(c.conn()) {
        Ok(v) => match control("COMMIT") {
            Ok(()) => Ok(v),
            Err(e) => {
                let _ = control("ROLLBACK");
                Err(e)
            }
        },
        Err(e) => {
            let _ = control("ROLLBACK");
            Err(e)
        }
    }
}

/// A write to `table` in the database `t` names: the table is created if missing and
/// expired keys purged first; `f` gets the connection, the table and the time.
async fn write<T, F>(
    svc: &Arc<Service>,
    t: Target,
    create: bool,
    table: String,
    f: F,
) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Connection, &str, i64) -> ApiResult<T> + Send + 'static,
{
    let svc = svc.clone();
    blocking(move || {
        let db = svc.pool.get(&t, create)?;
        let path = db.path.clone();
        write_tx(&db, |c| {
            ensure_table(&db, c, &table)?;
            let now = now_ms();
            c.prepare_cached(&format!(
                "DELETE FROM \"{table}\" WHERE expires_at IS NOT NULL AND expires_at <= ?1"
            ))
            .and_then(|mut s| s.execute([now]))
            .map_err(|e| sql_error(&e, format!("{}: {table}: {e}", path.display())))?;
            f(c, &table, now).map_err(|e| at(&path, e))
        })
    })
    .await
}

/// A read of `table` in the database `t` names on a reader connection; `f` gets `None`
/// when the table does not exist.
async fn read<T, F>(svc: &Arc<Service>, t: Target, table: String, f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce(Option<&Connection>, &str, i64) -> ApiResult<T> + Send + 'static,
{
    let svc = svc.clone();
    blocking(move || {
        let db = svc.pool.get(&t, false)?;
        let r = db.reader()?;
        let _deadline = r.deadline(KV_TIME_LIMIT);
        let c = r.conn();
        let exists = table_exists(c, &table).map_err(|e| r.error(&db.path, e))?;
        f(exists.then_some(c), &table, now_ms()).map_err(|e| at(&db.path, e))
    })
    .await
}

/// Names the database in SQLite errors that do not already.
fn at(path: &std::path::Path, mut e: ApiError) -> ApiError {
    if e.code == "SQL_ERROR" || e.code == "DATABASE_ERROR" || e.code == "DATABASE_BUSY" {
        e.message = format!("{}: {}", path.display(), e.message);
    }
    e
}

fn sqlerr(e: rusqlite::Error) -> ApiError {
    let msg = e.to_string();
    sql_error(&e, msg)
}

/// The Content-Type to store: the request's, unless absent or a form encoding, else
/// inferred from the bytes.
fn content_type(headers: &HeaderMap, body: &[u8]) -> String {
    if let Some(ct) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let base = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !base.is_empty()
            && base != "application/x-www-form-urlencoded"
            && !base.starts_with("multipart/")
        {
            return ct.trim().to_string();
        }
    }
    infer(body).to_string()
}

fn infer(body: &[u8]) -> &'static str {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        JSON
    } else if std::str::from_utf8(body).is_ok() {
        TEXT
    } else {
        "application/octet-stream"
    }
}

fn expiry(ttl: Option<i64>, now: i64) -> ApiResult<Option<i64>> {
    match ttl {
        None => Ok(None),
        Some(s) if s > 0 && s <= MAX_TTL_SECS => Ok(Some(now + s * 1000)),
        Some(s) => Err(ApiError::validation(format!(
            "ttl {s}: a positive number of seconds up to {MAX_TTL_SECS} is expected"
        ))),
    }
}

/// The endpoint a GET/POST on `/kv/{key}/{op}` names, when `op` is one of Hoody's.
fn split_op<'a>(key: &'a str, ops: &[&str]) -> Option<(&'a str, &'a str)> {
    key.rsplit_once('/')
        .filter(|(k, op)| !k.is_empty() && ops.contains(op))
}

fn not_built(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        format!("KV {what} is not built in this kit: operation history is not recorded"),
    )
}

fn count(svc: &Service, n: usize) {
    Service::count(&svc.counters.kv_ops, n as u64);
}

/// `GET /api/v1/sqlite/kv/{key}`: the stored bytes with their Content-Type; with `path`,
/// the JSON sub-value.
pub(super) async fn get(
    State(svc): Svc,
    Path(key): Path<String>,
    q: Result<Query<KvParams>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(p) = q?;
    if let Some((_, op)) = split_op(&key, &["history", "snapshot"]) {
        return Err(not_built(op));
    }
    p.no_time_travel()?;
    check_key(&key)?;
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    let segs = p.path()?;
    count(&svc, 1);
    let k = key.clone();
    let entry = read(&svc, t, table, move |c, table, now| match c {
        Some(c) => read_entry(c, table, &k, now).map_err(sqlerr),
        None => Ok(None),
    })
    .await?
    .ok_or_else(|| key_not_found(&key))?;
    let Some(segs) = segs else {
        let ct = HeaderValue::from_str(&entry.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        return Ok(([(CONTENT_TYPE, ct)], entry.value).into_response());
    };
    let doc = entry.json(&key)?;
    let sub = jsonpath::get(&doc, &segs).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "PATH_NOT_FOUND",
            format!("{key} has nothing at path {}", jsonpath::shown(&segs)),
        )
    })?;
    Ok(Json(sub.clone()).into_response())
}

/// `HEAD /api/v1/sqlite/kv/{key}`: 200 when the key exists (and has not expired), else 404.
pub(super) async fn exists(
    State(svc): Svc,
    Path(key): Path<String>,
    q: Result<Query<KvParams>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(p) = q?;
    check_key(&key)?;
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    count(&svc, 1);
    let k = key.clone();
    let found = read(&svc, t, table, move |c, table, now| match c {
        Some(c) => c
            .prepare_cached(&format!(
                "SELECT 1 FROM \"{table}\" WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)"
            ))
            .and_then(|mut s| s.exists(params![k, now]))
            .map_err(sqlerr),
        None => Ok(false),
    })
    .await?;
    if found {
        Ok(StatusCode::OK)
    } else {
        Err(key_not_found(&key))
    }
}

/// `PUT /api/v1/sqlite/kv/{key}`: stores the body verbatim (or, with `path`, sets that
/// JSON sub-value to the body parsed as JSON). `ttl` sets an expiry (a plain PUT without
/// `ttl` clears it; a `path` update keeps it); `if_match` is compare-and-swap.
pub(super) async fn put(
    State(svc): Svc,
    Path(key): Path<String>,
    q: Result<Query<KvParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = q?;
    check_key(&key)?;
    let body = body_bytes(body)?;
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    let create = p.create()?;
    let segs = p.path()?;
    expiry(p.ttl, 0)?;
    let new_sub: Option<Value> = match &segs {
        Some(_) => Some(json_body(
            &body,
            "PUT with path= (the body is the new JSON sub-value)",
        )?),
        None => None,
    };
    let ct = if segs.is_some() {
        JSON.to_string()
    } else {
        content_type(&headers, &body)
    };
    count(&svc, 1);
    let (ttl, if_match, k) = (p.ttl, p.if_match, key.clone());
    let out = write(&svc, t, create, table, move |c, table, now| {
        let cur = read_entry(c, table, &k, now).map_err(sqlerr)?;
        if let Some(expected) = &if_match {
            match &cur {
                None => {
                    return Err(ApiError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED",
                        format!("Key does not exist for CAS: {k}"),
                    ));
                }
                Some(e) if e.value != expected.as_bytes() => {
                    return Err(ApiError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "PRECONDITION_FAILED",
                        format!("Value mismatch for CAS: {k}"),
                    ));
                }
                Some(_) => {}
            }
        }
        let (value, expires) = match (&segs, new_sub) {
            (Some(segs), Some(sub)) => {
                let mut doc = match &cur {
                    Some(e) => e.json(&k)?,
                    None => Value::Null,
                };
                *jsonpath::slot(&mut doc, segs).map_err(ApiError::validation)? = sub;
                let expires = match ttl {
                    Some(_) => expiry(ttl, now)?,
                    None => cur.as_ref().and_then(|e| e.expires_at),
                };
                (
                    serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?,
                    expires,
                )
            }
            _ => (body.to_vec(), expiry(ttl, now)?),
        };
        write_entry(c, table, &k, &value, &ct, now, expires).map_err(sqlerr)?;
        Ok(json!({
            "success": true,
            "key": k,
            "created": cur.is_none(),
            "content_type": ct,
            "size": value.len(),
            "expires_at": expires.map(time),
        }))
    })
    .await?;
    Ok(Json(out))
}

/// `DELETE /api/v1/sqlite/kv/{key}`: `{success, deleted:true}`, 404 when absent.
pub(super) async fn delete(
    State(svc): Svc,
    Path(key): Path<String>,
    q: Result<Query<KvParams>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = q?;
    check_key(&key)?;
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    count(&svc, 1);
    let k = key.clone();
    // The database must exist; a missing table is created (empty), so the key is absent.
    let n = write(&svc, t, false, table, move |c, table, _| {
        c.prepare_cached(&format!("DELETE FROM \"{table}\" WHERE key = ?1"))
            .and_then(|mut s| s.execute([&k]))
            .map_err(sqlerr)
    })
    .await?;
    if n == 0 {
        return Err(key_not_found(&key));
    }
    Ok(Json(
        json!({ "success": true, "deleted": true, "key": key }),
    ))
}

/// `GET /api/v1/sqlite/kv?prefix=&limit=&offset=`: `{items:[{key, content_type, size,
/// created_at, updated_at, expires_at}], count, has_more, limit, offset}` in key order;
/// `count` is the number of keys matching `prefix`.
pub(super) async fn list(
    State(svc): Svc,
    q: Result<Query<KvParams>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = q?;
    p.no_time_travel()?;
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    let limit = p.limit.unwrap_or(LIST_DEFAULT);
    let offset = p.offset.unwrap_or(0);
    if !(1..=LIST_MAX).contains(&limit) || offset < 0 {
        return Err(ApiError::validation(format!(
            "limit must be 1 to {LIST_MAX} and offset at least 0 (got limit {limit}, offset {offset})"
        )));
    }
    let prefix = p.prefix.unwrap_or_default();
    count(&svc, 1);
    let (items, total) = read(&svc, t, table, move |c, table, now| {
        let Some(c) = c else {
            return Ok((Vec::new(), 0i64));
        };
        let end = prefix_end(&prefix);
        let filter =
            "key >= ?1 AND (?2 IS NULL OR key < ?2) AND (expires_at IS NULL OR expires_at > ?3)";
        let total: i64 = c
            .prepare_cached(&format!("SELECT count(*) FROM \"{table}\" WHERE {filter}"))
            .and_then(|mut s| s.query_row(params![prefix, end, now], |r| r.get(0)))
            .map_err(sqlerr)?;
        let mut s = c
            .prepare_cached(&format!(
                "SELECT key, content_type, length(value), created_at, updated_at, expires_at \
                 FROM \"{table}\" WHERE {filter} ORDER BY key LIMIT ?4 OFFSET ?5"
            ))
            .map_err(sqlerr)?;
        let rows = s
            .query_map(params![prefix, end, now, limit, offset], |r| {
                Ok(json!({
                    "key": r.get::<_, String>(0)?,
                    "content_type": r.get::<_, String>(1)?,
                    "size": r.get::<_, i64>(2)?,
                    "created_at": time(r.get(3)?),
                    "updated_at": time(r.get(4)?),
                    "expires_at": r.get::<_, Option<i64>>(5)?.map(time),
                }))
            })
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sqlerr)?;
        Ok((rows, total))
    })
    .await?;
    let has_more = offset + (items.len() as i64) < total;
    Ok(Json(json!({
        "success": true,
        "items": items,
        "count": total,
        "limit": limit,
        "offset": offset,
        "has_more": has_more,
    })))
}

/// The smallest string greater than every string starting with `p` (`None`: no bound).
fn prefix_end(p: &str) -> Option<String> {
    let mut chars: Vec<char> = p.chars().collect();
    while let Some(c) = chars.pop() {
        let mut u = c as u32 + 1;
        if (0xD800..=0xDFFF).contains(&u) {
            u = 0xE000;
        }
        if let Some(n) = char::from_u32(u) {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `POST /api/v1/sqlite/kv/{key}/{incr|decr|push|pop|remove}`.
pub(super) async fn post_op(
    State(svc): Svc,
    Path(key): Path<String>,
    q: Result<Query<KvParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = q?;
    let Some((base, op)) = split_op(&key, &["incr", "decr", "push", "pop", "remove", "rollback"])
    else {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!(
                "POST /api/v1/sqlite/kv/{key}: name an operation: /incr, /decr, /push, /pop or \
                 /remove (PUT stores a value)"
            ),
        ));
    };
    if op == "rollback" {
        return Err(not_built("rollback"));
    }
    let key = base.to_string();
    check_key(&key)?;
    let body = body_bytes(body)?;
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    let create = p.create()?;
    let segs = p.path()?.unwrap_or_default();
    count(&svc, 1);
    let out = match op {
        "incr" | "decr" => {
            let delta = p.delta.or(p.by).unwrap_or(1);
            if delta <= 0 {
                return Err(ApiError::validation(format!(
                    "delta {delta}: must be a positive integer (use /decr to subtract)"
                )));
            }
            let delta = if op == "decr" { -delta } else { delta };
            write(&svc, t, create, table, move |c, table, now| {
                add(c, table, &key, &segs, delta, now)
            })
            .await?
        }
        "push" => {
            let v: Value = json_body(
                &body,
                "POST /kv/{key}/push (the body is the JSON value to append)",
            )?;
            write(&svc, t, create, table, move |c, table, now| {
                update_array(c, table, &key, &segs, now, true, |a, _| {
                    a.push(v);
                    Ok(json!({ "success": true, "key": key, "length": a.len() }))
                })
            })
            .await?
        }
        "pop" => {
            write(&svc, t, false, table, move |c, table, now| {
                update_array(c, table, &key, &segs, now, false, |a, _| {
                    let v = a.pop().unwrap_or(Value::Null);
                    Ok(json!({ "success": true, "key": key, "value": v, "length": a.len() }))
                })
            })
            .await?
        }
        _ => {
            let spec = removal(p.index, &body)?;
            write(&svc, t, false, table, move |c, table, now| {
                update_array(c, table, &key, &segs, now, false, |a, at| {
                    let i = match &spec {
                        Removal::Index(i) => usize::try_from(*i).ok().filter(|i| *i < a.len()).ok_or_else(|| {
                            ApiError::new(
                                StatusCode::NOT_FOUND,
                                "INDEX_OUT_OF_RANGE",
                                format!("{key}{at}: index {i} is outside the array of {}", a.len()),
                            )
                        })?,
                        Removal::Value(v) => a.iter().position(|e| e == v).ok_or_else(|| {
                            ApiError::new(
                                StatusCode::NOT_FOUND,
                                "VALUE_NOT_FOUND",
                                format!("{key}{at}: no element equals {v}"),
                            )
                        })?,
                    };
                    let removed = a.remove(i);
                    Ok(json!({ "success": true, "key": key, "removed": removed, "length": a.len() }))
                })
            })
            .await?
        }
    };
    Ok(Json(out))
}

/// `incr`/`decr`: adds `delta` to the integer at `segs` (the whole value when empty),
/// creating the key (or the path) at 0.
fn add(
    c: &Connection,
    table: &str,
    key: &str,
    segs: &[String],
    delta: i64,
    now: i64,
) -> ApiResult<Value> {
    let cur = read_entry(c, table, key, now).map_err(sqlerr)?;
    let not_int = |what: String| {
        ApiError::new(
            StatusCode::CONFLICT,
            "NOT_A_NUMBER",
            format!("{key}: {what} is not an integer, cannot add to it"),
        )
    };
    let overflow =
        || ApiError::validation(format!("{key}: adding {delta} overflows a 64-bit integer"));
    let expires = cur.as_ref().and_then(|e| e.expires_at);
    let (value, ct, n) = if segs.is_empty() {
        let n = match &cur {
            None => 0,
            Some(e) => std::str::from_utf8(&e.value)
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| not_int("the value".into()))?,
        };
        let n = n.checked_add(delta).ok_or_else(overflow)?;
        let ct = cur.map_or_else(|| TEXT.to_string(), |e| e.content_type);
        (n.to_string().into_bytes(), ct, n)
    } else {
        let mut doc = match &cur {
            Some(e) => e.json(key)?,
            None => Value::Null,
        };
        let slot = jsonpath::slot(&mut doc, segs).map_err(ApiError::validation)?;
        let n = match slot {
            Value::Null => 0,
            Value::Number(n) => n
                .as_i64()
                .ok_or_else(|| not_int(format!("path {}", jsonpath::shown(segs))))?,
            other => {
                return Err(not_int(format!(
                    "path {} holds {}, which",
                    jsonpath::shown(segs),
                    jsonpath::kind(other)
                )));
            }
        };
        let n = n.checked_add(delta).ok_or_else(overflow)?;
        *slot = json!(n);
        (
            serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?,
            JSON.to_string(),
            n,
        )
    };
    write_entry(c, table, key, &value, &ct, now, expires).map_err(sqlerr)?;
    Ok(json!({ "success": true, "key": key, "value": n }))
}

/// Runs `f` on the JSON array at `segs` of `key` and stores the result. With `create`, a
/// missing key or path starts as `[]`; without, they are 404.
fn update_array(
    c: &Connection,
    table: &str,
    key: &str,
    segs: &[String],
    now: i64,
    create: bool,
    f: impl FnOnce(&mut Vec<Value>, &str) -> ApiResult<Value>,
) -> ApiResult<Value> {
    let cur = read_entry(c, table, key, now).map_err(sqlerr)?;
    let at = if segs.is_empty() {
        String::new()
    } else {
        format!(" at path {}", jsonpath::shown(segs))
    };
    let mut doc = match &cur {
        Some(e) => e.json(key)?,
        None if create => Value::Null,
        None => return Err(key_not_found(key)),
    };
    let target = if create {
        jsonpath::slot(&mut doc, segs).map_err(ApiError::validation)?
    } else {
        jsonpath::get_mut(&mut doc, segs).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "PATH_NOT_FOUND",
                format!("{key} has nothing{at}"),
            )
        })?
    };
    if target.is_null() && create {
        *target = Value::Array(Vec::new());
    }
    let Value::Array(a) = target else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "NOT_AN_ARRAY",
            format!("{key}{at} holds {}, not an array", jsonpath::kind(target)),
        ));
    };
    let out = f(a, &at)?;
    let value = serde_json::to_vec(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    let expires = cur.as_ref().and_then(|e| e.expires_at);
    write_entry(c, table, key, &value, JSON, now, expires).map_err(sqlerr)?;
    Ok(out)
}

/// What `/remove` removes.
#[derive(Debug)]
enum Removal {
    Index(i64),
    Value(Value),
}

/// `?index=N`, or a body `{"index": N}`, `{"value": V}`, or the value itself.
fn removal(index: Option<i64>, body: &[u8]) -> ApiResult<Removal> {
    if let Some(i) = index {
        return Ok(Removal::Index(i));
    }
    let v: Value = json_body(
        body,
        "POST /kv/{key}/remove (give ?index=N, or a body {\"value\": V} or {\"index\": N})",
    )?;
    if let Value::Object(m) = &v
        && m.len() == 1
    {
        if let Some(i) = m.get("index") {
            return i
                .as_i64()
                .map(Removal::Index)
                .ok_or_else(|| ApiError::validation("index must be an integer"));
        }
        if let Some(v) = m.get("value") {
            return Ok(Removal::Value(v.clone()));
        }
    }
    Ok(Removal::Value(v))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchSet {
    items: Vec<BatchItem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchItem {
    key: String,
    value: Value,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    ttl: Option<i64>,
}

fn batch_size(n: usize) -> ApiResult<()> {
    if n == 0 || n > MAX_BATCH {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_PARAMETERS",
            format!("a batch takes 1 to {MAX_BATCH} keys, got {n}"),
        ));
    }
    Ok(())
}

/// `POST /api/v1/sqlite/kv/batch/get` `{keys}`: `{results: {key: {value, content_type} |
/// null}, found}` (values as text; non-UTF-8 ones as base64 with `encoding:"base64"`).
pub(super) async fn batch_get(
    State(svc): Svc,
    q: Result<Query<KvParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = q?;
    let req: Keys = json_body(&body_bytes(body)?, "POST /api/v1/sqlite/kv/batch/get")?;
    batch_size(req.keys.len())?;
    req.keys.iter().try_for_each(|k| check_key(k))?;
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    count(&svc, req.keys.len());
    let results = read(&svc, t, table, move |c, table, now| {
        let mut out = Map::new();
        for k in req.keys {
            let e = match c {
                Some(c) => read_entry(c, table, &k, now).map_err(sqlerr)?,
                None => None,
            };
            let v = match e {
                None => Value::Null,
                Some(e) => match String::from_utf8(e.value) {
                    Ok(s) => json!({ "value": s, "content_type": e.content_type }),
                    Err(raw) => json!({
                        "value": super::sql::to_json(ValueRef::Blob(raw.as_bytes())),
                        "content_type": e.content_type,
                        "encoding": "base64",
                    }),
                },
            };
            out.insert(k, v);
        }
        Ok(out)
    })
    .await?;
    let found = results.values().filter(|v| !v.is_null()).count();
    Ok(Json(
        json!({ "success": true, "results": results, "found": found }),
    ))
}

/// `POST /api/v1/sqlite/kv/batch/set` `{items:[{key, value, content_type?, ttl?}]}`: one
/// transaction. A string `value` is stored as its text; any other JSON as its JSON text.
pub(super) async fn batch_set(
    State(svc): Svc,
    q: Result<Query<KvParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = q?;
    let req: BatchSet = json_body(&body_bytes(body)?, "POST /api/v1/sqlite/kv/batch/set")?;
    batch_size(req.items.len())?;
    for it in &req.items {
        check_key(&it.key)?;
        expiry(it.ttl, 0)?;
    }
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    let create = p.create()?;
    count(&svc, req.items.len());
    let n = write(&svc, t, create, table, move |c, table, now| {
        for it in &req.items {
            let (value, inferred) = match &it.value {
                Value::String(s) => (s.clone().into_bytes(), infer(s.as_bytes())),
                other => (other.to_string().into_bytes(), JSON),
            };
            let ct = it.content_type.as_deref().unwrap_or(inferred);
            write_entry(c, table, &it.key, &value, ct, now, expiry(it.ttl, now)?)
                .map_err(sqlerr)?;
        }
        Ok(req.items.len())
    })
    .await?;
    Ok(Json(json!({ "success": true, "count": n })))
}

/// `POST /api/v1/sqlite/kv/batch/delete` `{keys}`: `{success, deleted}` (missing keys are
/// no-ops).
pub(super) async fn batch_delete(
    State(svc): Svc,
    q: Result<Query<KvParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let Query(p) = q?;
    let req: Keys = json_body(&body_bytes(body)?, "POST /api/v1/sqlite/kv/batch/delete")?;
    batch_size(req.keys.len())?;
    req.keys.iter().try_for_each(|k| check_key(k))?;
    let t = svc.target(p.db.as_deref())?;
    let table = table_name(p.table.as_deref())?;
    count(&svc, req.keys.len());
    let n = write(&svc, t, false, table, move |c, table, _| {
        let mut s = c
            .prepare_cached(&format!("DELETE FROM \"{table}\" WHERE key = ?1"))
            .map_err(sqlerr)?;
        let mut n = 0;
        for k in &req.keys {
            n += s.execute([k]).map_err(sqlerr)?;
        }
        Ok(n)
    })
    .await?;
    Ok(Json(json!({ "success": true, "deleted": n })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn table_names() {
        assert_eq!(table_name(None).unwrap(), "kv_store");
        assert_eq!(table_name(Some("t_1")).unwrap(), "t_1");
        for bad in ["1t", "a-b", "a\"b", "sqlite_master", &"x".repeat(65)] {
            assert_eq!(
                table_name(Some(bad)).unwrap_err().code,
                "INVALID_PARAMETERS",
                "{bad}"
            );
        }
    }

    #[test]
    fn inference() {
        assert_eq!(infer(br#"{"a":1}"#), JSON);
        assert_eq!(infer(b"hello"), TEXT);
        assert_eq!(infer(&[0xff, 0xfe]), "application/octet-stream");
    }
}
