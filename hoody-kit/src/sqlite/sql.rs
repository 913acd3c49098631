//! `POST /api/v1/sqlite/db` (one ACID transaction), `GET /api/v1/sqlite/query` (one
//! read-only query, base64 in the URL) and `POST /api/v1/sqlite/db/create`.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::types::ValueRef;
use rusqlite::{Batch, Statement};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::pool::{Conn, Db, blocking, sql_error};
use super::{Flag, Service, Svc, agree, body_bytes, json_body, kv};
use crate::{ApiError, ApiResult};

/// Rows returned per query item; past it the item says `truncated: true`.
pub(crate) const ROW_CAP: usize = 10_000;
/// Items per transaction.
const MAX_ITEMS: usize = 10_000;
/// Rows of one `valuesBatch`.
const MAX_BATCH_ROWS: usize = 100_000;
/// Rows over all `valuesBatch` of a transaction.
const MAX_TOTAL_ROWS: usize = 1_000_000;
/// Time limit of a transaction.
const TX_TIME_LIMIT: Duration = Duration::from_secs(60);
/// Time limit of a shareable query.
const QUERY_TIME_LIMIT: Duration = Duration::from_secs(30);
/// First keywords a shareable query may start with.
const READ_KEYWORDS: [&str; 3] = ["SELECT", "WITH", "VALUES"];

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
/// Standard base64, padding optional.
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
/// URL-safe base64, padding optional.
const BASE64_URL: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);

/// How query rows are returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `resultSet: [{column: value}]` (default).
    Map,
    /// `resultSetList: [[value]]`.
    List,
}

impl Format {
    fn parse(s: Option<&str>) -> ApiResult<Format> {
        match s.map(str::to_ascii_lowercase).as_deref() {
            None | Some("" | "map" | "object" | "objects") => Ok(Format::Map),
            Some("list" | "array" | "arrays") => Ok(Format::List),
            Some(other) => Err(ApiError::validation(format!(
                "resultFormat {other:?}: expected \"map\" or \"list\""
            ))),
        }
    }

    fn field(self) -> &'static str {
        match self {
            Format::Map => "resultSet",
            Format::List => "resultSetList",
        }
    }
}

/// Query string of `POST /api/v1/sqlite/db`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DbParams {
    db: Option<String>,
    create_db_if_missing: Option<Flag>,
    auto_create: Option<Flag>,
    #[serde(alias = "resultFormat")]
    result_format: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxRequest {
    #[serde(deserialize_with = "items")]
    transaction: Vec<TxItem>,
    #[serde(default, alias = "resultFormat")]
    result_format: Option<String>,
    #[serde(default)]
    create_db_if_missing: Option<bool>,
    #[serde(default)]
    auto_create: Option<bool>,
}

/// The items: an array, or an object carrying the array under `transaction` again. Hoody's
/// CLI wraps the JSON given to `db exec-transaction --transaction '{"transaction":[…]}'` under
/// `transaction`, so the body arrives as `{"transaction":{"transaction":[…]}}`; both forms are
/// the same transaction.
fn items<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<TxItem>, D::Error> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Wrapped {
        #[serde(deserialize_with = "items")]
        transaction: Vec<TxItem>,
    }
    let v = Value::deserialize(d)?;
    let r = if v.is_object() {
        serde_json::from_value::<Wrapped>(v).map(|w| w.transaction)
    } else {
        serde_json::from_value(v)
    };
    r.map_err(serde::de::Error::custom)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TxItem {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    statement: Option<String>,
    #[serde(default)]
    sql: Option<String>,
    #[serde(default)]
    values: Option<Value>,
    #[serde(default, rename = "valuesBatch", alias = "values_batch")]
    values_batch: Option<Vec<Value>>,
    #[serde(default, rename = "noFail", alias = "no_fail")]
    no_fail: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Returns rows.
    Query,
    /// Returns the number of rows changed.
    Statement,
}

/// A validated transaction item.
#[derive(Debug)]
struct Item {
    kind: Kind,
    sql: String,
    values: Option<Value>,
    batch: Option<Vec<Value>>,
    no_fail: bool,
}

/// A failed transaction: the error, and the index of the item that failed.
#[derive(Debug)]
struct TxFail {
    err: ApiError,
    idx: Option<usize>,
}

impl From<ApiError> for TxFail {
    fn from(err: ApiError) -> Self {
        TxFail { err, idx: None }
    }
}

impl TxFail {
    fn at(idx: usize, mut err: ApiError, what: &str) -> Self {
        err.message = format!("transaction[{idx}] ({what}): {}", err.message);
        TxFail {
            err,
            idx: Some(idx),
        }
    }
}

impl IntoResponse for TxFail {
    /// The Kit's error envelope, plus ws4sqlite's `reqIdx` when an item failed.
    fn into_response(self) -> Response {
        let Some(idx) = self.idx else {
            return self.err.into_response();
        };
        let mut details = self.err.details.unwrap_or_else(|| json!({}));
        details["reqIdx"] = json!(idx);
        let body = json!({
            "error": self.err.message,
            "code": self.err.code,
            "timestamp": crate::health::rfc3339(std::time::SystemTime::now()),
            "reqIdx": idx,
            "details": details,
        });
        (self.err.status, Json(body)).into_response()
    }
}

/// `POST /api/v1/sqlite/db?db=…`: the items of `transaction` in one `BEGIN IMMEDIATE`
/// transaction; any failing item (without `noFail`) rolls everything back.
pub(super) async fn transaction(
    State(svc): Svc,
    q: Result<Query<DbParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match run_transaction(svc, q, body).await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.into_response(),
    }
}

async fn run_transaction(
    svc: Arc<Service>,
    q: Result<Query<DbParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, TxFail> {
    let Query(q) = q.map_err(ApiError::from)?;
    let t = svc.target(q.db.as_deref())?;
    let body = body_bytes(body)?;
    let req: TxRequest = json_body(&body, "POST /api/v1/sqlite/db")?;
    let create = agree(&[
        ("create_db_if_missing", q.create_db_if_missing.map(|f| f.0)),
        ("auto_create", q.auto_create.map(|f| f.0)),
        ("create_db_if_missing (body)", req.create_db_if_missing),
        ("auto_create (body)", req.auto_create),
    ])?;
    let format = Format::parse(req.result_format.as_deref().or(q.result_format.as_deref()))?;
    let items = plan(req.transaction)?;
    Service::count(&svc.counters.transactions, 1);
    tokio::task::spawn_blocking(move || -> Result<Value, TxFail> {
        let db = svc.pool.get(&t, create)?;
        execute(&db, &items, format)
    })
    .await
    .map_err(|e| ApiError::internal(format!("sqlite worker failed: {e}")))?
}

/// Checks every item before anything runs.
fn plan(items: Vec<TxItem>) -> Result<Vec<Item>, TxFail> {
    if items.is_empty() {
        return Err(ApiError::validation("transaction is empty: give at least one item").into());
    }
    if items.len() > MAX_ITEMS {
        return Err(ApiError::validation(format!(
            "transaction has {} items, at most {MAX_ITEMS} are allowed",
            items.len()
        ))
        .into());
    }
    let mut total_rows = 0usize;
    let mut out = Vec::with_capacity(items.len());
    for (i, it) in items.into_iter().enumerate() {
        let bad = |msg: String| TxFail::at(i, ApiError::validation(msg), "invalid item");
        let (kind, sql) = match (it.query, it.statement, it.sql) {
            (Some(q), None, None) => (Kind::Query, q),
            (None, Some(s), None) | (None, None, Some(s)) => (Kind::Statement, s),
            (None, None, None) => {
                return Err(bad(
                    "needs one of query (returns rows) or statement (alias sql)".into(),
                ));
            }
            _ => {
                return Err(bad(
                    "give exactly one of query, statement or sql: they are not interchangeable"
                        .into(),
                ));
            }
        };
        if sql.trim().is_empty() {
            return Err(bad("the SQL is empty".into()));
        }
        if it.values.is_some() && it.values_batch.is_some() {
            return Err(bad("values and valuesBatch are mutually exclusive".into()));
        }
        if let Some(b) = &it.values_batch {
            if kind == Kind::Query {
                return Err(bad("valuesBatch is for statements, not queries".into()));
            }
            if b.len() > MAX_BATCH_ROWS {
                return Err(bad(format!(
                    "valuesBatch has {} rows, at most {MAX_BATCH_ROWS} are allowed",
                    b.len()
                )));
            }
            total_rows += b.len();
            if total_rows > MAX_TOTAL_ROWS {
                return Err(bad(format!(
                    "the transaction's valuesBatch rows exceed {MAX_TOTAL_ROWS}"
                )));
            }
        }
        out.push(Item {
            kind,
            sql,
            values: it.values,
            batch: it.values_batch,
            no_fail: it.no_fail,
        });
    }
    Ok(out)
}

/// Runs `items` in one transaction on the writer connection.
fn execute(db: &Db, items: &[Item], format: Format) -> Result<Value, TxFail> {
    let w = db.writer();
    let c: &Conn = &w;
    let _deadline = c.deadline(TX_TIME_LIMIT);
    let control = |sql: &str| {
        c.conn().execute_batch(sql).map_err(|e| {
            sql_error(
                &e,
                format!("{}: {sql}: {}", db.path.display(), c.explain(&e)),
            )
        })
    };
    control("BEGIN IMMEDIATE")?;
    let mut results = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        let what = match it.kind {
            Kind::Query => "query",
            Kind::Statement => "statement",
        };
        if !it.no_fail {
            match run_item(c, it, format) {
                Ok(v) => results.push(v),
                Err(e) => {
                    let _ = control("ROLLBACK");
                    return Err(TxFail::at(i, rolled_back(e), what));
                }
            }
            continue;
        }
        if let Err(e) = control("SAVEPOINT hoody_nofail") {
            let _ = control("ROLLBACK");
            return Err(e.into());
        }
        match run_item(c, it, format) {
            Ok(v) => {
                results.push(v);
                control("RELEASE hoody_nofail")?;
            }
            Err(e) if e.code == "QUERY_TIMEOUT" || e.code == "DATABASE_BUSY" => {
                let _ = control("ROLLBACK");
                return Err(TxFail::at(i, rolled_back(e), what));
            }
            Err(e) => {
                control("ROLLBACK TO hoody_nofail")?;
                control("RELEASE hoody_nofail")?;
                results.push(json!({ "success": false, "error": e.message }));
            }
        }
    }
    if let Err(e) = control("COMMIT") {
        let _ = control("ROLLBACK");
        return Err(e.into());
    }
    Ok(json!({ "success": true, "results": results }))
}

fn rolled_back(mut e: ApiError) -> ApiError {
    e.message = format!("{}; the whole transaction was rolled back", e.message);
    e
}

/// The error for `e` on connection `c`, as SQLite phrased it.
fn failed(c: &Conn, e: rusqlite::Error) -> ApiError {
    let msg = c.explain(&e);
    sql_error(&e, msg)
}

/// Runs one item; a `statement` may hold several SQL statements (run in order), a `query`
/// or an item with values exactly one.
fn run_item(c: &Conn, it: &Item, format: Format) -> ApiResult<Value> {
    let mut batch = Batch::new(c.conn(), &it.sql);
    let mut n = 0usize;
    let mut out = None;
    let mut rows_updated = 0u64;
    loop {
        let next = c.client(|| batch.next()).map_err(|e| failed(c, e))?;
        let Some(mut stmt) = next else { break };
        n += 1;
        if n > 1 && (it.kind == Kind::Query || it.values.is_some() || it.batch.is_some()) {
            return Err(ApiError::validation(
                "holds more than one SQL statement: a query, or an item with values or \
                 valuesBatch, must hold exactly one",
            ));
        }
        match (it.kind, &it.batch) {
            (Kind::Query, _) => {
                bind(c, &mut stmt, it.values.as_ref())?;
                out = Some(query_result(c, &mut stmt, format)?);
            }
            (Kind::Statement, Some(rows)) => {
                let mut counts = Vec::with_capacity(rows.len());
                for (r, values) in rows.iter().enumerate() {
                    stmt.clear_bindings();
                    bind(c, &mut stmt, Some(values)).map_err(|mut e| {
                        e.message = format!("valuesBatch[{r}]: {}", e.message);
                        e
                    })?;
                    counts.push(exec(c, &mut stmt)?);
                }
                out = Some(json!({ "success": true, "rowsUpdatedBatch": counts }));
            }
            (Kind::Statement, None) => {
                bind(c, &mut stmt, it.values.as_ref())?;
                rows_updated += exec(c, &mut stmt)?;
            }
        }
    }
    if n == 0 {
        return Err(ApiError::validation(
            "holds no SQL statement (only comments or whitespace)",
        ));
    }
    Ok(out.unwrap_or_else(|| json!({ "success": true, "rowsUpdated": rows_updated })))
}

/// Binds `values` (an array for positional `?`, an object for named parameters) to `stmt`.
fn bind(c: &Conn, stmt: &mut Statement<'_>, values: Option<&Value>) -> ApiResult<()> {
    let n = stmt.parameter_count();
    match values {
        None | Some(Value::Null) => {
            if n > 0 {
                return Err(ApiError::validation(format!(
                    "the SQL has {n} parameter(s) but no values were given"
                )));
            }
        }
        Some(Value::Array(a)) => {
            if a.len() != n {
                return Err(ApiError::validation(format!(
                    "the SQL has {n} parameter(s) but {} values were given",
                    a.len()
                )));
            }
            for (i, v) in a.iter().enumerate() {
                stmt.raw_bind_parameter(i + 1, to_sql(v))
                    .map_err(|e| failed(c, e))?;
            }
        }
        Some(Value::Object(m)) => {
            for i in 1..=n {
                let Some(name) = stmt.parameter_name(i).map(str::to_string) else {
                    return Err(ApiError::validation(format!(
                        "parameter {i} is positional (?): give values as an array"
                    )));
                };
                let v = m.get(&name).or_else(|| m.get(&name[1..])).ok_or_else(|| {
                    ApiError::validation(format!("no value for parameter {name}"))
                })?;
                stmt.raw_bind_parameter(i, to_sql(v))
                    .map_err(|e| failed(c, e))?;
            }
        }
        Some(other) => {
            return Err(ApiError::validation(format!(
                "values must be an array (positional ?) or an object (named :name), not {}",
                super::jsonpath::kind(other)
            )));
        }
    }
    Ok(())
}

/// A JSON value as an SQLite value.
fn to_sql(v: &Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as Sql;
    match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Sql::Integer(i),
            None => Sql::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Sql::Text(s.clone()),
        other => Sql::Text(other.to_string()),
    }
}

/// An SQLite value as JSON (BLOBs as base64, non-finite reals as `null`).
pub(crate) fn to_json(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

/// Runs `stmt` to completion (discarding any rows) and returns the rows it changed (0 for
/// DDL and queries).
fn exec(c: &Conn, stmt: &mut Statement<'_>) -> ApiResult<u64> {
    let conn = c.conn();
    let before = conn.total_changes();
    {
        let mut rows = stmt.raw_query();
        while rows.next().map_err(|e| failed(c, e))?.is_some() {}
    }
    Ok(if conn.total_changes() == before {
        0
    } else {
        conn.changes()
    })
}

/// `{success, resultHeaders, resultSet|resultSetList, truncated?}` of a query.
fn query_result(c: &Conn, stmt: &mut Statement<'_>, format: Format) -> ApiResult<Value> {
    let headers: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let (rows, truncated) = collect(c, stmt, &headers, format)?;
    let mut item = json!({ "success": true, "resultHeaders": headers });
    item[format.field()] = Value::Array(rows);
    if truncated {
        item["truncated"] = json!(true);
    }
    Ok(item)
}

/// The rows of `stmt`, at most [`ROW_CAP`] (and whether there were more).
fn collect(
    c: &Conn,
    stmt: &mut Statement<'_>,
    headers: &[String],
    format: Format,
) -> ApiResult<(Vec<Value>, bool)> {
    let mut out = Vec::new();
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(|e| failed(c, e))? {
        if out.len() == ROW_CAP {
            return Ok((out, true));
        }
        let cell = |i: usize| row.get_ref(i).map(to_json).map_err(|e| failed(c, e));
        out.push(match format {
            Format::Map => {
                let mut m = Map::with_capacity(headers.len());
                for (i, h) in headers.iter().enumerate() {
                    m.insert(h.clone(), cell(i)?);
                }
                Value::Object(m)
            }
            Format::List => Value::Array((0..headers.len()).map(cell).collect::<ApiResult<_>>()?),
        });
    }
    Ok((out, false))
}

/// Query string of `GET /api/v1/sqlite/query`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct QueryParams {
    db: Option<String>,
    sql: Option<String>,
    #[serde(alias = "resultFormat")]
    result_format: Option<String>,
}

/// `GET /api/v1/sqlite/query?db=…&sql=<base64>`: one read-only statement on a reader
/// connection. Anything that would write is refused with 400 `READ_ONLY_QUERY`.
pub(super) async fn shareable(
    State(svc): Svc,
    q: Result<Query<QueryParams>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q?;
    let t = svc.target(q.db.as_deref())?;
    let format = Format::parse(q.result_format.as_deref())?;
    let sql = decode_sql(q.sql.as_deref())?;
    if !first_keyword(&sql).is_some_and(|k| READ_KEYWORDS.iter().any(|r| r.eq_ignore_ascii_case(k)))
    {
        return Err(read_only());
    }
    Service::count(&svc.counters.queries, 1);
    let out = blocking(move || {
        let db = svc.pool.get(&t, false)?;
        let r = db.reader()?;
        let _deadline = r.deadline(QUERY_TIME_LIMIT);
        let mut stmt = r
            .client(|| r.conn().prepare_cached(&sql))
            .map_err(|e| failed(&r, e))?;
        if !stmt.readonly() {
            stmt.discard();
            return Err(read_only());
        }
        if stmt.parameter_count() > 0 {
            return Err(ApiError::validation(
                "a shareable query takes no parameters: write the values into the SQL",
            ));
        }
        let headers: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let (rows, truncated) = collect(&r, &mut stmt, &headers, format)?;
        let mut out = json!({
            "success": true,
            "columns": headers,
            "resultHeaders": headers,
            "rowCount": rows.len(),
            "truncated": truncated,
        });
        out[format.field()] = Value::Array(rows);
        Ok(out)
    })
    .await?;
    Ok(Json(out))
}

fn read_only() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "READ_ONLY_QUERY",
        "GET /api/v1/sqlite/query only accepts one read-only SELECT/WITH query; use POST \
         /api/v1/sqlite/db for SQL that writes",
    )
}

/// The SQL of the `sql` parameter: base64 (standard or URL-safe, padding optional) of UTF-8
/// text, or (as Hoody accepts) plain SQL starting with SELECT/WITH/VALUES.
fn decode_sql(raw: Option<&str>) -> ApiResult<String> {
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ApiError::validation("the sql parameter is required: base64 of one SELECT query")
        })?;
    // A '+' the client did not percent-encode arrives as a space.
    let b64 = raw.replace(' ', "+");
    for engine in [&BASE64_STANDARD, &BASE64_URL] {
        if let Ok(text) = engine.decode(&b64).map(String::from_utf8) {
            match text {
                Ok(s) if !s.trim().is_empty() => return Ok(s),
                _ => {}
            }
        }
    }
    if first_keyword(raw).is_some_and(|k| READ_KEYWORDS.iter().any(|r| r.eq_ignore_ascii_case(k))) {
        return Ok(raw.to_string());
    }
    let shown: String = raw.chars().take(64).collect();
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "INVALID_BASE64",
        format!(
            "sql {shown:?} is not base64 (standard or URL-safe, padding optional) of UTF-8 SQL"
        ),
    ))
}

/// The first keyword of `sql`, skipping whitespace and comments.
fn first_keyword(sql: &str) -> Option<&str> {
    let mut s = sql;
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.split_once('\n').map_or("", |(_, r)| r);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r);
        } else {
            break;
        }
    }
    let end = s
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// Query string or JSON body of `POST /api/v1/sqlite/db/create`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateParams {
    path: Option<String>,
    db: Option<String>,
    init_kv: Option<Flag>,
    kv_table: Option<String>,
}

/// `POST /api/v1/sqlite/db/create?path=…&init_kv=true`: creates the database (201), or
/// answers 200 `created:false` when it exists; `init_kv` (or `kv_table`) creates the KV
/// table too.
pub(super) async fn create(
    State(svc): Svc,
    q: Result<Query<CreateParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let Query(q) = q?;
    let body = body_bytes(body)?;
    let b: CreateParams = if body.iter().all(u8::is_ascii_whitespace) {
        CreateParams::default()
    } else {
        json_body(&body, "POST /api/v1/sqlite/db/create")?
    };
    let raw = q.path.or(q.db).or(b.path).or(b.db);
    let t = svc.target(raw.as_deref())?;
    let table = q.kv_table.or(b.kv_table);
    let init = q.init_kv.or(b.init_kv).is_some_and(|f| f.0) || table.is_some();
    let table = kv::table_name(table.as_deref())?;
    let (existed, path) = blocking({
        let table = table.clone();
        move || {
            let existed = svc.pool.exists(&t)?;
            let db = svc.pool.get(&t, true)?;
            if init {
                kv::ensure_table_now(&db, &table)?;
            }
            Ok((existed, db.path.clone()))
        }
    })
    .await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = json!({
        "success": true,
        "path": path,
        "created": !existed,
        "kv_table": if init { Some(table) } else { None },
    });
    Ok((status, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords() {
        assert_eq!(first_keyword("  select 1"), Some("select"));
        assert_eq!(
            first_keyword("-- c\n/* x */ WITH a AS (SELECT 1) SELECT * FROM a"),
            Some("WITH")
        );
        assert_eq!(first_keyword("/* only"), None);
        assert_eq!(first_keyword("(select 1)"), None);
    }

    #[test]
    fn sql_decoding() {
        let b = base64::engine::general_purpose::STANDARD.encode("SELECT 1 AS a -- ?>");
        assert_eq!(decode_sql(Some(&b)).unwrap(), "SELECT 1 AS a -- ?>");
        assert_eq!(
            decode_sql(Some(&b.replace('+', " "))).unwrap(),
            "SELECT 1 AS a -- ?>"
        );
        let u = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("SELECT 1 AS a -- ?>");
        assert_eq!(decode_sql(Some(&u)).unwrap(), "SELECT 1 AS a -- ?>");
        assert_eq!(decode_sql(Some("SELECT 2")).unwrap(), "SELECT 2");
        assert_eq!(
            decode_sql(Some("!!!not")).unwrap_err().code,
            "INVALID_BASE64"
        );
        assert_eq!(decode_sql(None).unwrap_err().code, "VALIDATION_ERROR");
    }
}
