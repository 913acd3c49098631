//! The sqlite service over real HTTP: the router served in-process on 127.0.0.1:0, databases
//! in a temp dir, driven with a hyper client.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use hoody_kit::Context;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

struct Kit {
    addr: SocketAddr,
    databases: PathBuf,
    tmp: tempfile::TempDir,
}

async fn start() -> Kit {
    let tmp = tempfile::tempdir().unwrap();
    let databases = tmp.path().join("databases");
    let ctx = Context::builder()
        .storage(tmp.path().join("storage"))
        .databases(&databases)
        .build();
    let router = hoody_kit::sqlite::router(Arc::new(ctx));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(hoody_kit::serve_on(listener, router));
    Kit {
        addr,
        databases,
        tmp,
    }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: hyper::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {} body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts an error envelope with `status` and `code`, and returns it.
    fn err(&self, status: u16, code: &str) -> Value {
        let j = self.json();
        assert_eq!(self.status, status, "{j}");
        assert_eq!(j["code"], code, "{j}");
        assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
        assert!(j["timestamp"].is_string(), "{j}");
        j
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Client {
    send: SendRequest<Full<Bytes>>,
}

impl Client {
    async fn new(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Client { send }
    }

    async fn send(&mut self, method: &str, uri: &str, ctype: Option<&str>, body: Vec<u8>) -> Resp {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "sqlite.test");
        if let Some(ct) = ctype {
            b = b.header("content-type", ct);
        }
        self.send.ready().await.unwrap();
        let resp = self
            .send
            .send_request(b.body(Full::new(Bytes::from(body))).unwrap())
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, uri: &str) -> Resp {
        self.send("GET", uri, None, Vec::new()).await
    }

    async fn json(&mut self, method: &str, uri: &str, body: &Value) -> Resp {
        self.send(
            method,
            uri,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await
    }
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn tx(c: &mut Client, db: &str, items: Value) -> Resp {
    c.json(
        "POST",
        &format!("/api/v1/sqlite/db?db={}", enc(db)),
        &json!({ "transaction": items }),
    )
    .await
}

async fn count_rows(c: &mut Client, db: &str, table: &str) -> i64 {
    let r = tx(
        c,
        db,
        json!([{ "query": format!("SELECT count(*) AS n FROM {table}") }]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["results"][0]["resultSet"][0]["n"]
        .as_i64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_reports_the_sqlite_fields() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let r = c.get("/api/v1/sqlite/health").await;
    assert_eq!(r.status, 200);
    let h = r.json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["service"], "sqlite");
    assert!(h["built"].is_string() && h["started"].is_string());
    assert_eq!(h["pid"], std::process::id());
    assert!(h["memory"]["rss_bytes"].as_u64().unwrap() > 0);
    assert!(h["memory"]["heap_used_bytes"].is_i64());
    assert!(h["memory"]["heap_total_bytes"].is_i64());
    assert!(h["fds"]["open"].as_u64().unwrap() > 0);
    assert!(h["fds"]["limit"].as_u64().unwrap() > 0);
    for f in ["size_bytes", "capacity_bytes", "entries", "hit_ratio"] {
        assert!(h["cache"][f].is_number(), "cache.{f}: {h}");
    }
    let before = h["counters"]["requests_total"].as_u64().unwrap();
    let errors = h["counters"]["errors_total"].as_u64().unwrap();
    c.get("/api/v1/sqlite/kv/x?db=missing")
        .await
        .err(404, "DATABASE_NOT_FOUND");
    let h = c.get("/api/v1/sqlite/health").await.json();
    assert!(h["counters"]["requests_total"].as_u64().unwrap() >= before + 2);
    assert_eq!(h["counters"]["errors_total"].as_u64().unwrap(), errors + 1);
    assert_eq!(h["counters"]["kv_ops_total"].as_u64().unwrap(), 1);
    let cache = c.get("/api/v1/sqlite/health/cache").await.json();
    assert!(cache["entries"].is_number());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_then_a_transaction_returns_the_documented_shapes() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;

    let r = c
        .send(
            "POST",
            "/api/v1/sqlite/db/create?path=app&init_kv=true",
            None,
            vec![],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(j["created"], true);
    assert_eq!(j["kv_table"], "kv_store");
    let file = kit.databases.join("app.db");
    let head = std::fs::read(&file).unwrap();
    assert_eq!(&head[..16], b"SQLite format 3\0");
    // Again (JSON body this time): it exists.
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/db/create",
            &json!({ "path": "app.db" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["created"], false);

    let r = tx(
        &mut c,
        "app",
        json!([
            { "statement": "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, flag INTEGER, data BLOB, doc TEXT)" },
            { "statement": "INSERT INTO t (id, name, score, flag, doc) VALUES (?, ?, ?, ?, ?)", "values": [1, "ada", 1.5, true, { "k": [1, 2] }] },
            { "statement": "INSERT INTO t (id, name, score, data) VALUES (:id, @name, $score, X'0102')", "values": { ":id": 2, "name": "bob", "$score": null } },
            { "sql": "INSERT INTO t (id, name) VALUES (?, ?)", "valuesBatch": [[3, "c"], [4, "d"]] },
            { "statement": "UPDATE t SET flag = 0 WHERE id >= 3" },
            { "query": "SELECT id, name, score, flag, data, doc FROM t WHERE id <= ? ORDER BY id", "values": [2] },
            { "statement": "SELECT * FROM t" },
            { "query": "INSERT INTO t (id, name) VALUES (5, 'e') RETURNING id" }
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["success"], true);
    let res = j["results"].as_array().unwrap();
    assert_eq!(res.len(), 8);
    assert_eq!(res[0], json!({ "success": true, "rowsUpdated": 0 }));
    assert_eq!(res[1], json!({ "success": true, "rowsUpdated": 1 }));
    assert_eq!(res[2], json!({ "success": true, "rowsUpdated": 1 }));
    assert_eq!(
        res[3],
        json!({ "success": true, "rowsUpdatedBatch": [1, 1] })
    );
    assert_eq!(res[4], json!({ "success": true, "rowsUpdated": 2 }));
    assert_eq!(res[5]["success"], true);
    assert_eq!(
        res[5]["resultHeaders"],
        json!(["id", "name", "score", "flag", "data", "doc"])
    );
    assert_eq!(
        res[5]["resultSet"],
        json!([
            { "id": 1, "name": "ada", "score": 1.5, "flag": 1, "data": null, "doc": "{\"k\":[1,2]}" },
            { "id": 2, "name": "bob", "score": null, "flag": null, "data": "AQI=", "doc": null }
        ])
    );
    assert_eq!(
        res[6],
        json!({ "success": true, "rowsUpdated": 0 }),
        "a SELECT as a statement"
    );
    assert_eq!(
        res[7]["resultSet"],
        json!([{ "id": 5 }]),
        "RETURNING as a query"
    );

    // resultFormat list.
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/db?db=app",
            &json!({ "resultFormat": "list", "transaction": [{ "query": "SELECT id, name FROM t WHERE id < 3 ORDER BY id" }] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let item = &r.json()["results"][0];
    assert_eq!(item["resultSetList"], json!([[1, "ada"], [2, "bob"]]));
    assert!(item.get("resultSet").is_none());

    // The body Hoody's CLI sends for `db exec-transaction --transaction '{"transaction":[…]}'`
    // (the option's JSON wrapped under `transaction`) is the same transaction as the array.
    let q = json!([{ "query": "SELECT id, name FROM t WHERE id < 3 ORDER BY id" }]);
    let flat = tx(&mut c, "app", q.clone()).await;
    let nested = tx(&mut c, "app", json!({ "transaction": q })).await;
    assert_eq!(nested.status, 200, "{}", nested.text());
    assert_eq!(nested.json()["results"], flat.json()["results"]);
    let r = tx(&mut c, "app", json!({ "transaction": 5 })).await;
    assert_eq!(r.status, 400, "{}", r.text());

    // A statement item may hold several statements; the data is really in the file.
    let abs = file.display().to_string();
    let r = tx(&mut c, &abs, json!([{ "statement": "CREATE TABLE u (x); INSERT INTO u VALUES (1); INSERT INTO u VALUES (2);" }])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["results"][0]["rowsUpdated"], 2);
    let conn = rusqlite::Connection::open(&file).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 5);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_statement_rolls_back_the_whole_transaction() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/db?db=rb&create_db_if_missing=true",
            &json!({ "transaction": [{ "statement": "CREATE TABLE t (id INTEGER PRIMARY KEY)" }] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let r = tx(
        &mut c,
        "rb",
        json!([
            { "statement": "INSERT INTO t VALUES (1)" },
            { "statement": "INSERT INTO t VALUES (2)" },
            { "statement": "INSERT INTO t VALUES (1)" },
            { "statement": "INSERT INTO t VALUES (3)" }
        ]),
    )
    .await;
    let j = r.err(409, "CONSTRAINT_VIOLATION");
    assert_eq!(j["reqIdx"], 2, "{j}");
    assert_eq!(j["details"]["reqIdx"], 2, "{j}");
    let msg = j["error"].as_str().unwrap();
    assert!(
        msg.contains("transaction[2]") && msg.contains("UNIQUE constraint failed"),
        "{msg}"
    );
    assert!(msg.contains("rolled back"), "{msg}");
    assert_eq!(
        count_rows(&mut c, "rb", "t").await,
        0,
        "earlier inserts must be gone"
    );

    // A syntax error in the middle: 400 naming the item, nothing kept.
    let r = tx(
        &mut c,
        "rb",
        json!([{ "statement": "INSERT INTO t VALUES (7)" }, { "query": "SELEC oops" }]),
    )
    .await;
    let j = r.err(400, "SQL_ERROR");
    assert_eq!(j["reqIdx"], 1);
    assert!(j["error"].as_str().unwrap().contains("syntax error"), "{j}");
    assert_eq!(count_rows(&mut c, "rb", "t").await, 0);

    // A parameter mismatch is an error of that item, too.
    let r = tx(
        &mut c,
        "rb",
        json!([{ "statement": "INSERT INTO t VALUES (8)" }, { "statement": "INSERT INTO t VALUES (?)", "values": [1, 2] }]),
    )
    .await;
    assert_eq!(r.err(400, "VALIDATION_ERROR")["reqIdx"], 1);
    assert_eq!(count_rows(&mut c, "rb", "t").await, 0);

    // noFail: the failure is reported in place and the rest commits.
    let r = tx(
        &mut c,
        "rb",
        json!([
            { "statement": "INSERT INTO t VALUES (10)" },
            { "statement": "INSERT INTO t VALUES (10)", "noFail": true },
            { "statement": "INSERT INTO t VALUES (11)" }
        ]),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let res = r.json()["results"].clone();
    assert_eq!(res[1]["success"], false);
    assert!(res[1]["error"].as_str().unwrap().contains("UNIQUE"));
    assert_eq!(res[2], json!({ "success": true, "rowsUpdated": 1 }));
    assert_eq!(count_rows(&mut c, "rb", "t").await, 2);

    // Transaction control and ATTACH are refused, and what came before is rolled back.
    for sql in [
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT x",
        "BEGIN",
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA journal_mode=DELETE",
    ] {
        let r = tx(
            &mut c,
            "rb",
            json!([{ "statement": "INSERT INTO t VALUES (20)" }, { "statement": sql }]),
        )
        .await;
        let j = r.err(400, "STATEMENT_NOT_ALLOWED");
        assert_eq!(j["reqIdx"], 1, "{sql}: {j}");
        assert!(j["error"].as_str().unwrap().contains("not allowed"), "{j}");
        assert_eq!(count_rows(&mut c, "rb", "t").await, 2, "{sql}");
    }
    // Reading a protected pragma is fine.
    let r = tx(&mut c, "rb", json!([{ "query": "PRAGMA journal_mode" }])).await;
    assert_eq!(
        r.json()["results"][0]["resultSet"],
        json!([{ "journal_mode": "wal" }])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_writers_all_succeed_with_exact_totals() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/db?db=conc&create_db_if_missing=true",
            &json!({ "transaction": [
                { "statement": "CREATE TABLE ev (client INTEGER, n INTEGER)" },
                { "statement": "CREATE TABLE counter (id INTEGER PRIMARY KEY, v INTEGER)" },
                { "statement": "INSERT INTO counter VALUES (1, 0)" }
            ] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let mut tasks = Vec::new();
    for client in 0..10 {
        let addr = kit.addr;
        tasks.push(tokio::spawn(async move {
            let mut c = Client::new(addr).await;
            for n in 0..50 {
                // A read-modify-write in one transaction, an insert, and a KV increment.
                let r = tx(
                    &mut c,
                    "conc",
                    json!([
                        { "query": "SELECT v FROM counter WHERE id = 1" },
                        { "statement": "UPDATE counter SET v = v + 1 WHERE id = 1" },
                        { "statement": "INSERT INTO ev VALUES (?, ?)", "values": [client, n] }
                    ]),
                )
                .await;
                assert_eq!(r.status, 200, "{}", r.text());
                let r = c
                    .send("POST", "/api/v1/sqlite/kv/hits/incr?db=conc", None, vec![])
                    .await;
                assert_eq!(r.status, 200, "{}", r.text());
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(count_rows(&mut c, "conc", "ev").await, 500);
    let r = tx(&mut c, "conc", json!([{ "query": "SELECT v FROM counter" }, { "query": "SELECT count(DISTINCT client * 100 + n) AS d FROM ev" }])).await;
    let j = r.json();
    assert_eq!(j["results"][0]["resultSet"][0]["v"], 500);
    assert_eq!(j["results"][1]["resultSet"][0]["d"], 500);
    let r = c.get("/api/v1/sqlite/kv/hits?db=conc").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "500");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shareable_query_reads_rows_and_refuses_writes() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/db?db=q&create_db_if_missing=true",
            &json!({ "transaction": [
                { "statement": "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" },
                { "statement": "INSERT INTO t VALUES (?, ?)", "valuesBatch": [[1, "a>b?"], [2, "c"], [3, "d"]] }
            ] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let sql = "SELECT id, v FROM t WHERE v <> 'zz?>' ORDER BY id";
    let std = b64(sql);
    assert!(
        std.contains('+') || std.contains('/') || std.contains('='),
        "{std}"
    );
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sql);
    for encoded in [enc(&std), url.clone(), std.replace('=', "")] {
        let r = c
            .get(&format!("/api/v1/sqlite/query?db=q&sql={encoded}"))
            .await;
        assert_eq!(r.status, 200, "{encoded}: {}", r.text());
        let j = r.json();
        assert_eq!(j["columns"], json!(["id", "v"]));
        assert_eq!(j["resultHeaders"], json!(["id", "v"]));
        assert_eq!(j["rowCount"], 3);
        assert_eq!(j["truncated"], false);
        assert_eq!(j["resultSet"][0], json!({ "id": 1, "v": "a>b?" }));
    }
    // Plain SQL is accepted too (Hoody does).
    let r = c
        .get(&format!(
            "/api/v1/sqlite/query?db=q&sql={}",
            enc("SELECT count(*) AS n FROM t")
        ))
        .await;
    assert_eq!(r.json()["resultSet"], json!([{ "n": 3 }]));

    for write in [
        "DELETE FROM t",
        "UPDATE t SET v = 'x'",
        "INSERT INTO t VALUES (9, 'x') RETURNING id",
        "WITH x AS (SELECT 1) DELETE FROM t",
        "SELECT 1; DELETE FROM t",
        "DROP TABLE t",
        "PRAGMA query_only=0",
        "ATTACH DATABASE '/tmp/a.db' AS a",
    ] {
        let r = c
            .get(&format!(
                "/api/v1/sqlite/query?db=q&sql={}",
                enc(&b64(write))
            ))
            .await;
        assert_eq!(r.status, 400, "{write}: {}", r.text());
        let code = r.json()["code"].clone();
        assert!(
            code == "READ_ONLY_QUERY" || code == "SQL_ERROR",
            "{write}: {}",
            r.text()
        );
    }
    assert_eq!(count_rows(&mut c, "q", "t").await, 3, "nothing was written");

    c.get("/api/v1/sqlite/query?db=q&sql=%21%21%21")
        .await
        .err(400, "INVALID_BASE64");
    c.get("/api/v1/sqlite/query?db=q")
        .await
        .err(400, "VALIDATION_ERROR");
    c.get(&format!(
        "/api/v1/sqlite/query?db=nope&sql={}",
        enc(&b64("SELECT 1"))
    ))
    .await
    .err(404, "DATABASE_NOT_FOUND");
    c.get(&format!(
        "/api/v1/sqlite/query?db=q&sql={}",
        enc(&b64("SELECT * FROM nope"))
    ))
    .await
    .err(400, "SQL_ERROR");
    c.get(&format!(
        "/api/v1/sqlite/query?db=q&sql={}",
        enc(&b64("SELECT ?"))
    ))
    .await
    .err(400, "VALIDATION_ERROR");
    // Runaway queries are cut off... only past 30 s, so just check a big one is truncated.
    let r = c
        .get(&format!(
            "/api/v1/sqlite/query?db=q&sql={}",
            enc(&b64("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n LIMIT 20000) SELECT i FROM n"))
        ))
        .await;
    let j = r.json();
    assert_eq!(j["rowCount"], 10_000);
    assert_eq!(j["truncated"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_put_get_head_delete_and_list() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    c.send("POST", "/api/v1/sqlite/db/create?path=kv", None, vec![])
        .await;

    let doc = br#"{"name":"Ada","prefs":{"theme":"dark"}}"#.to_vec();
    let r = c
        .send(
            "PUT",
            "/api/v1/sqlite/kv/user%3A1?db=kv",
            Some("application/json"),
            doc.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["created"], true);
    assert_eq!(j["size"], doc.len());
    let r = c.get("/api/v1/sqlite/kv/user:1?db=kv").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.as_ref(), doc.as_slice(), "stored verbatim");
    assert_eq!(r.headers["content-type"], "application/json");
    // JSON sub-paths, both spellings.
    for p in [".prefs.theme", "prefs.theme", "$.prefs.theme"] {
        let r = c
            .get(&format!("/api/v1/sqlite/kv/user:1?db=kv&path={}", enc(p)))
            .await;
        assert_eq!(r.status, 200, "{p}");
        assert_eq!(r.json(), json!("dark"));
    }
    c.get("/api/v1/sqlite/kv/user:1?db=kv&path=.nope")
        .await
        .err(404, "PATH_NOT_FOUND");
    let r = c
        .send(
            "PUT",
            "/api/v1/sqlite/kv/user:1?db=kv&path=.prefs.theme",
            None,
            br#""light""#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.get("/api/v1/sqlite/kv/user:1?db=kv").await;
    assert_eq!(
        r.json(),
        json!({ "name": "Ada", "prefs": { "theme": "light" } })
    );

    // Binary and text bodies, keys with slashes; no Content-Type: inferred.
    let bin = vec![0u8, 159, 146, 150, 255];
    let r = c
        .send(
            "PUT",
            "/api/v1/sqlite/kv/files/a/b.bin?db=kv",
            Some("application/octet-stream"),
            bin.clone(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.get("/api/v1/sqlite/kv/files/a/b.bin?db=kv").await;
    assert_eq!(r.body.as_ref(), bin.as_slice());
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    let r = c
        .send(
            "PUT",
            "/api/v1/sqlite/kv/files/note?db=kv",
            None,
            b"hello".to_vec(),
        )
        .await;
    assert_eq!(r.json()["content_type"], "text/plain; charset=utf-8");
    let r = c
        .send(
            "PUT",
            "/api/v1/sqlite/kv/files/n2?db=kv",
            Some("application/x-www-form-urlencoded"),
            b"[1,2]".to_vec(),
        )
        .await;
    assert_eq!(r.json()["content_type"], "application/json");

    // SQL sees the table.
    let r = tx(&mut c, "kv", json!([{ "query": "SELECT json_extract(value, '$.name') AS n FROM kv_store WHERE key = 'user:1'" }])).await;
    assert_eq!(r.json()["results"][0]["resultSet"], json!([{ "n": "Ada" }]));

    let r = c
        .send("HEAD", "/api/v1/sqlite/kv/files/note?db=kv", None, vec![])
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let r = c
        .send("HEAD", "/api/v1/sqlite/kv/nope?db=kv", None, vec![])
        .await;
    assert_eq!(r.status, 404);

    // List: prefix, limit, offset, has_more, count.
    for i in 0..5 {
        c.send(
            "PUT",
            &format!("/api/v1/sqlite/kv/p:{i}?db=kv"),
            None,
            format!("{i}").into_bytes(),
        )
        .await;
    }
    let r = c
        .get("/api/v1/sqlite/kv?db=kv&prefix=p%3A&limit=2&offset=1")
        .await;
    let j = r.json();
    assert_eq!(r.status, 200, "{j}");
    let keys: Vec<&str> = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["p:1", "p:2"]);
    assert_eq!(j["count"], 5);
    assert_eq!(j["has_more"], true);
    assert_eq!(j["items"][0]["size"], 1);
    let j = c
        .get("/api/v1/sqlite/kv?db=kv&prefix=files%2F")
        .await
        .json();
    assert_eq!(j["count"], 3);
    assert_eq!(j["has_more"], false);
    let j = c.get("/api/v1/sqlite/kv?db=kv").await.json();
    assert_eq!(j["count"], 9);
    c.get("/api/v1/sqlite/kv?db=kv&limit=0")
        .await
        .err(400, "VALIDATION_ERROR");

    let r = c
        .send("DELETE", "/api/v1/sqlite/kv/p:0?db=kv", None, vec![])
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["deleted"], true);
    c.send("DELETE", "/api/v1/sqlite/kv/p:0?db=kv", None, vec![])
        .await
        .err(404, "KEY_NOT_FOUND");
    c.get("/api/v1/sqlite/kv/p:0?db=kv")
        .await
        .err(404, "KEY_NOT_FOUND");
    // Another table.
    let r = c
        .send(
            "PUT",
            "/api/v1/sqlite/kv/a?db=kv&table=other",
            None,
            b"1".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200);
    c.get("/api/v1/sqlite/kv/a?db=kv")
        .await
        .err(404, "KEY_NOT_FOUND");
    assert_eq!(
        c.get("/api/v1/sqlite/kv/a?db=kv&table=other").await.text(),
        "1"
    );
    // A table that is not a KV table.
    tx(
        &mut c,
        "kv",
        json!([{ "statement": "CREATE TABLE plain (x)" }]),
    )
    .await;
    c.send(
        "PUT",
        "/api/v1/sqlite/kv/a?db=kv&table=plain",
        None,
        b"1".to_vec(),
    )
    .await
    .err(409, "KV_TABLE_MISMATCH");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_ttl_and_compare_and_swap() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let r = c
        .send(
            "PUT",
            "/api/v1/sqlite/kv/s?db=ttl&ttl=1&create_db_if_missing=true",
            None,
            b"v".to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["expires_at"].is_string());
    c.send("PUT", "/api/v1/sqlite/kv/keep?db=ttl", None, b"k".to_vec())
        .await;
    assert_eq!(c.get("/api/v1/sqlite/kv/s?db=ttl").await.status, 200);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    c.get("/api/v1/sqlite/kv/s?db=ttl")
        .await
        .err(404, "KEY_NOT_FOUND");
    assert_eq!(
        c.send("HEAD", "/api/v1/sqlite/kv/s?db=ttl", None, vec![])
            .await
            .status,
        404
    );
    assert_eq!(c.get("/api/v1/sqlite/kv?db=ttl").await.json()["count"], 1);
    // The next write purges it from the table.
    c.send("PUT", "/api/v1/sqlite/kv/other?db=ttl", None, b"o".to_vec())
        .await;
    let r = tx(
        &mut c,
        "ttl",
        json!([{ "query": "SELECT key FROM kv_store ORDER BY key" }]),
    )
    .await;
    assert_eq!(
        r.json()["results"][0]["resultSet"],
        json!([{ "key": "keep" }, { "key": "other" }])
    );
    c.send(
        "PUT",
        "/api/v1/sqlite/kv/s?db=ttl&ttl=0",
        None,
        b"v".to_vec(),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.send(
        "PUT",
        "/api/v1/sqlite/kv/s?db=ttl&ttl=abc",
        None,
        b"v".to_vec(),
    )
    .await
    .err(400, "VALIDATION_ERROR");

    // CAS on the exact stored bytes.
    let cur = r#"{"version":1}"#;
    c.send(
        "PUT",
        "/api/v1/sqlite/kv/cfg?db=ttl",
        Some("application/json"),
        cur.as_bytes().to_vec(),
    )
    .await;
    let r = c
        .send(
            "PUT",
            &format!("/api/v1/sqlite/kv/cfg?db=ttl&if_match={}", enc(cur)),
            Some("application/json"),
            br#"{"version":2}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = c
        .send(
            "PUT",
            &format!("/api/v1/sqlite/kv/cfg?db=ttl&if_match={}", enc(cur)),
            None,
            br#"{"version":3}"#.to_vec(),
        )
        .await
        .err(412, "PRECONDITION_FAILED");
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("Value mismatch for CAS")
    );
    let j = c
        .send(
            "PUT",
            "/api/v1/sqlite/kv/absent?db=ttl&if_match=x",
            None,
            b"1".to_vec(),
        )
        .await
        .err(412, "PRECONDITION_FAILED");
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains("Key does not exist for CAS")
    );
    assert_eq!(
        c.get("/api/v1/sqlite/kv/cfg?db=ttl").await.text(),
        r#"{"version":2}"#
    );
    c.get("/api/v1/sqlite/kv/absent?db=ttl")
        .await
        .err(404, "KEY_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_counters_and_arrays() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let base = "/api/v1/sqlite/kv";
    let r = c
        .send(
            "POST",
            &format!("{base}/n/incr?db=cnt&create_db_if_missing=1"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.json(), json!({ "success": true, "key": "n", "value": 1 }));
    assert_eq!(
        c.send(
            "POST",
            &format!("{base}/n/incr?db=cnt&delta=10"),
            None,
            vec![]
        )
        .await
        .json()["value"],
        11
    );
    assert_eq!(
        c.send(
            "POST",
            &format!("{base}/n/decr?db=cnt&delta=3"),
            None,
            vec![]
        )
        .await
        .json()["value"],
        8
    );
    assert_eq!(
        c.send("POST", &format!("{base}/n/decr?db=cnt&by=10"), None, vec![])
            .await
            .json()["value"],
        -2
    );
    let r = c.get(&format!("{base}/n?db=cnt")).await;
    assert_eq!(r.text(), "-2");
    assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
    c.send(
        "POST",
        &format!("{base}/n/incr?db=cnt&delta=0"),
        None,
        vec![],
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.send(
        "POST",
        &format!("{base}/n/incr?db=cnt&delta=-1"),
        None,
        vec![],
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.send(
        "POST",
        &format!("{base}/n/incr?db=cnt&delta=1.5"),
        None,
        vec![],
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.send("PUT", &format!("{base}/word?db=cnt"), None, b"abc".to_vec())
        .await;
    c.send("POST", &format!("{base}/word/incr?db=cnt"), None, vec![])
        .await
        .err(409, "NOT_A_NUMBER");
    c.send(
        "PUT",
        &format!("{base}/big?db=cnt"),
        None,
        i64::MAX.to_string().into_bytes(),
    )
    .await;
    c.send("POST", &format!("{base}/big/incr?db=cnt"), None, vec![])
        .await
        .err(400, "VALIDATION_ERROR");
    // Nested counters.
    c.send(
        "PUT",
        &format!("{base}/doc?db=cnt"),
        None,
        br#"{"stats":{"views":5},"tags":["a"]}"#.to_vec(),
    )
    .await;
    let r = c
        .send(
            "POST",
            &format!("{base}/doc/incr?db=cnt&path=.stats.views&delta=2"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.json()["value"], 7);
    let r = c
        .send(
            "POST",
            &format!("{base}/doc/incr?db=cnt&path=stats.likes"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.json()["value"], 1);
    c.send(
        "POST",
        &format!("{base}/doc/incr?db=cnt&path=tags"),
        None,
        vec![],
    )
    .await
    .err(409, "NOT_A_NUMBER");
    // Arrays.
    let r = c
        .send(
            "POST",
            &format!("{base}/doc/push?db=cnt&path=tags"),
            None,
            br#""b""#.to_vec(),
        )
        .await;
    assert_eq!(r.json()["length"], 2);
    let r = c
        .send(
            "POST",
            &format!("{base}/list/push?db=cnt"),
            None,
            br#"{"id":1}"#.to_vec(),
        )
        .await;
    assert_eq!(r.json()["length"], 1, "a missing key starts as []");
    c.send(
        "POST",
        &format!("{base}/list/push?db=cnt"),
        None,
        br#"{"id":2}"#.to_vec(),
    )
    .await;
    c.send(
        "POST",
        &format!("{base}/list/push?db=cnt"),
        None,
        br#"{"id":3}"#.to_vec(),
    )
    .await;
    let r = c
        .send("POST", &format!("{base}/list/pop?db=cnt"), None, vec![])
        .await;
    assert_eq!(r.json()["value"], json!({ "id": 3 }));
    let r = c
        .json(
            "POST",
            &format!("{base}/list/remove?db=cnt"),
            &json!({ "value": { "id": 1 } }),
        )
        .await;
    assert_eq!(r.json()["removed"], json!({ "id": 1 }));
    let r = c
        .send(
            "POST",
            &format!("{base}/list/remove?db=cnt&index=0"),
            None,
            vec![],
        )
        .await;
    assert_eq!(r.json()["removed"], json!({ "id": 2 }));
    assert_eq!(r.json()["length"], 0);
    c.send(
        "POST",
        &format!("{base}/list/remove?db=cnt&index=0"),
        None,
        vec![],
    )
    .await
    .err(404, "INDEX_OUT_OF_RANGE");
    c.send(
        "POST",
        &format!("{base}/word/push?db=cnt"),
        None,
        b"1".to_vec(),
    )
    .await
    .err(409, "NOT_JSON");
    c.send(
        "POST",
        &format!("{base}/n/push?db=cnt"),
        None,
        b"1".to_vec(),
    )
    .await
    .err(409, "NOT_AN_ARRAY");
    c.send("POST", &format!("{base}/absent/pop?db=cnt"), None, vec![])
        .await
        .err(404, "KEY_NOT_FOUND");
    let j = c.get(&format!("{base}/doc?db=cnt")).await.json();
    assert_eq!(
        j,
        json!({ "stats": { "views": 7, "likes": 1 }, "tags": ["a", "b"] })
    );
    // Unknown operations and time travel.
    c.send("POST", &format!("{base}/doc?db=cnt"), None, vec![])
        .await
        .err(405, "METHOD_NOT_ALLOWED");
    c.send("POST", &format!("{base}/doc/rollback?db=cnt"), None, vec![])
        .await
        .err(501, "NOT_IMPLEMENTED");
    c.get(&format!("{base}/doc/history?db=cnt"))
        .await
        .err(501, "NOT_IMPLEMENTED");
    c.get(&format!("{base}/doc?db=cnt&at_timestamp=1"))
        .await
        .err(501, "NOT_IMPLEMENTED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_batches() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/kv/batch/set?db=b&create_db_if_missing=true",
            &json!({ "items": [
                { "key": "u:1", "value": "{\"name\":\"alice\"}", "content_type": "application/json" },
                { "key": "u:2", "value": "bob" },
                { "key": "u:3", "value": { "name": "carol" }, "ttl": 3600 }
            ] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["count"], 3);
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/kv/batch/get?db=b",
            &json!({ "keys": ["u:1", "u:2", "u:3", "u:404"] }),
        )
        .await;
    let j = r.json();
    assert_eq!(j["found"], 3);
    assert_eq!(
        j["results"]["u:1"],
        json!({ "value": "{\"name\":\"alice\"}", "content_type": "application/json" })
    );
    assert_eq!(
        j["results"]["u:2"]["content_type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(j["results"]["u:3"]["value"], "{\"name\":\"carol\"}");
    assert_eq!(j["results"]["u:404"], Value::Null);
    assert_eq!(c.get("/api/v1/sqlite/kv/u:2?db=b").await.text(), "bob");
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/kv/batch/delete?db=b",
            &json!({ "keys": ["u:1", "u:2", "u:3", "u:404"] }),
        )
        .await;
    assert_eq!(r.json(), json!({ "success": true, "deleted": 3 }));
    let keys: Vec<String> = (0..101).map(|i| format!("k{i}")).collect();
    c.json(
        "POST",
        "/api/v1/sqlite/kv/batch/get?db=b",
        &json!({ "keys": keys }),
    )
    .await
    .err(400, "INVALID_PARAMETERS");
    c.json(
        "POST",
        "/api/v1/sqlite/kv/batch/delete?db=b",
        &json!({ "keys": [] }),
    )
    .await
    .err(400, "INVALID_PARAMETERS");
    c.json(
        "POST",
        "/api/v1/sqlite/kv/batch/set?db=b",
        &json!({ "items": [{ "key": "a" }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_everywhere_is_a_4xx_with_a_code_and_the_kit_keeps_serving() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let db = "/api/v1/sqlite/db";
    // Body problems.
    c.send(
        "POST",
        &format!("{db}?db=x&create_db_if_missing=true"),
        Some("application/json"),
        b"{not json".to_vec(),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.send("POST", &format!("{db}?db=x"), None, vec![])
        .await
        .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x"),
        &json!({ "transaction": [], "extra": 1 }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x"),
        &json!({ "transaction": [{ "statement": "SELECT 1", "bogus": 1 }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x"),
        &json!({ "transactions": [] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x&create_db_if_missing=true"),
        &json!({ "transaction": [] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    let j = c
        .json("POST", &format!("{db}?db=x&create_db_if_missing=true"), &json!({ "transaction": [{ "statement": "SELECT 1" }, { "query": "SELECT 1", "statement": "SELECT 2" }] }))
        .await
        .err(400, "VALIDATION_ERROR");
    assert_eq!(j["reqIdx"], 1);
    c.json(
        "POST",
        &format!("{db}?db=x&create_db_if_missing=true"),
        &json!({ "transaction": [{ "query": "SELECT 1", "valuesBatch": [[1]] }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x&create_db_if_missing=true"),
        &json!({ "transaction": [{ "statement": "SELECT ?", "values": 5 }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x&create_db_if_missing=true"),
        &json!({ "transaction": [{ "statement": "SELECT :a", "values": { "b": 1 } }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x&create_db_if_missing=true&auto_create=false"),
        &json!({ "transaction": [{ "statement": "SELECT 1" }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x&create_db_if_missing=maybe"),
        &json!({ "transaction": [{ "statement": "SELECT 1" }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        &format!("{db}?db=x&resultFormat=csv"),
        &json!({ "transaction": [{ "statement": "SELECT 1" }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    // Query problems.
    c.json(
        "POST",
        &format!("{db}?db=x&nope=1"),
        &json!({ "transaction": [{ "statement": "SELECT 1" }] }),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.get("/api/v1/sqlite/kv/k?db=x&colour=red")
        .await
        .err(400, "VALIDATION_ERROR");
    // Database paths.
    let body = json!({ "transaction": [{ "query": "SELECT 1" }] });
    c.json("POST", db, &body).await.err(400, "INVALID_DB_PATH");
    c.json("POST", &format!("{db}?db=..%2Fetc%2Fx"), &body)
        .await
        .err(400, "INVALID_DB_PATH");
    c.json("POST", &format!("{db}?db=%2Ftmp%2F..%2Fx.db"), &body)
        .await
        .err(400, "INVALID_DB_PATH");
    c.json("POST", &format!("{db}?db=a%2Fb.db"), &body)
        .await
        .err(400, "INVALID_DB_PATH");
    c.json("POST", &format!("{db}?db=%3Amemory%3A"), &body)
        .await
        .err(400, "INVALID_DB_PATH");
    c.json("POST", &format!("{db}?db=missing"), &body)
        .await
        .err(404, "DATABASE_NOT_FOUND");
    let nodir = kit.tmp.path().join("no/such/dir/x.db");
    c.json(
        "POST",
        &format!(
            "{db}?db={}&create_db_if_missing=true",
            enc(&nodir.display().to_string())
        ),
        &body,
    )
    .await
    .err(404, "DATABASE_NOT_FOUND");
    std::fs::create_dir_all(kit.databases.join("dir.db")).unwrap();
    c.json("POST", &format!("{db}?db=dir.db"), &body)
        .await
        .err(400, "PATH_IS_DIRECTORY");
    std::fs::write(
        kit.databases.join("text.db"),
        "this is not a database, just some text that is long enough",
    )
    .unwrap();
    c.json("POST", &format!("{db}?db=text"), &body)
        .await
        .err(400, "INVALID_SQLITE_HEADER");
    c.get("/api/v1/sqlite/kv/k?db=text")
        .await
        .err(400, "INVALID_SQLITE_HEADER");
    std::fs::write(kit.databases.join("short.db"), "tiny").unwrap();
    c.json("POST", &format!("{db}?db=short"), &body)
        .await
        .err(400, "INVALID_SQLITE_HEADER");
    // An empty file is an empty database.
    std::fs::write(kit.databases.join("empty.db"), "").unwrap();
    assert_eq!(
        c.json("POST", &format!("{db}?db=empty"), &body)
            .await
            .status,
        200
    );
    // KV parameters.
    c.send(
        "PUT",
        "/api/v1/sqlite/kv/k?db=empty&table=bad-name",
        None,
        b"1".to_vec(),
    )
    .await
    .err(400, "INVALID_PARAMETERS");
    c.send(
        "PUT",
        "/api/v1/sqlite/kv/k?db=empty&path=a%5B0",
        None,
        b"1".to_vec(),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.send(
        "PUT",
        "/api/v1/sqlite/kv/k?db=empty&path=a",
        None,
        b"not json".to_vec(),
    )
    .await
    .err(400, "VALIDATION_ERROR");
    c.send(
        "PUT",
        &format!("/api/v1/sqlite/kv/{}?db=empty", "k".repeat(1100)),
        None,
        b"1".to_vec(),
    )
    .await
    .err(400, "INVALID_PARAMETERS");
    c.send("PUT", "/api/v1/sqlite/kv/k?db=nowhere", None, b"1".to_vec())
        .await
        .err(404, "DATABASE_NOT_FOUND");
    // Routes and methods.
    c.get("/api/v1/sqlite/nope").await.err(404, "NOT_FOUND");
    c.send("DELETE", "/api/v1/sqlite/db?db=x", None, vec![])
        .await
        .err(405, "METHOD_NOT_ALLOWED");
    c.get("/api/v1/sqlite/history?db=x")
        .await
        .err(501, "NOT_IMPLEMENTED");
    // Too large.
    let big = vec![b'a'; hoody_kit::sqlite::BODY_LIMIT + 1];
    c.send("PUT", "/api/v1/sqlite/kv/big?db=empty", None, big)
        .await
        .err(413, "PAYLOAD_TOO_LARGE");

    // Still serving, correctly.
    let mut c = Client::new(kit.addr).await;
    assert_eq!(c.get("/api/v1/sqlite/health").await.status, 200);
    let r = tx(&mut c, "empty", json!([{ "query": "SELECT 40 + 2 AS x" }])).await;
    assert_eq!(r.json()["results"][0]["resultSet"], json!([{ "x": 42 }]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symlinks_and_files_replaced_on_disk() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let outside = kit.tmp.path().join("outside.db");
    rusqlite::Connection::open(&outside)
        .unwrap()
        .execute_batch("CREATE TABLE o (x); INSERT INTO o VALUES (1);")
        .unwrap();
    std::fs::create_dir_all(&kit.databases).unwrap();
    std::os::unix::fs::symlink(&outside, kit.databases.join("escape.db")).unwrap();
    let body = json!({ "transaction": [{ "query": "SELECT x FROM o" }] });
    let j = c
        .json("POST", "/api/v1/sqlite/db?db=escape", &body)
        .await
        .err(400, "INVALID_DB_PATH");
    assert!(j["error"].as_str().unwrap().contains("outside"), "{j}");
    // By absolute path it is allowed (containers run with --allow-any-absolute-db-path).
    let r = c
        .json(
            "POST",
            &format!(
                "/api/v1/sqlite/db?db={}",
                enc(&outside.display().to_string())
            ),
            &body,
        )
        .await;
    assert_eq!(r.json()["results"][0]["resultSet"], json!([{ "x": 1 }]));
    // A symlink inside the databases directory is followed.
    std::fs::copy(&outside, kit.databases.join("real.db")).unwrap();
    std::os::unix::fs::symlink(
        kit.databases.join("real.db"),
        kit.databases.join("alias.db"),
    )
    .unwrap();
    let r = c.json("POST", "/api/v1/sqlite/db?db=alias", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // A dangling symlink is refused, not created through.
    std::os::unix::fs::symlink(
        kit.tmp.path().join("nothing.db"),
        kit.databases.join("dangling.db"),
    )
    .unwrap();
    c.json(
        "POST",
        "/api/v1/sqlite/db?db=dangling&create_db_if_missing=true",
        &body,
    )
    .await
    .err(400, "INVALID_DB_PATH");
    assert!(!kit.tmp.path().join("nothing.db").exists());

    // The file is deleted and recreated behind the kit's back: the new one is served.
    let r = tx(
        &mut c,
        "real",
        json!([{ "statement": "INSERT INTO o VALUES (2)" }]),
    )
    .await;
    assert_eq!(r.status, 200);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(kit.databases.join(format!("real.db{ext}")));
    }
    c.json("POST", "/api/v1/sqlite/db?db=real", &body)
        .await
        .err(404, "DATABASE_NOT_FOUND");
    // ...and the deleted file's connections are closed (its space freed) at once.
    let held: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .filter(|p| p.contains(&kit.databases.display().to_string()) && p.contains("(deleted)"))
        .collect();
    assert!(held.is_empty(), "still open: {held:?}");
    rusqlite::Connection::open(kit.databases.join("real.db"))
        .unwrap()
        .execute_batch("CREATE TABLE o (x); INSERT INTO o VALUES (99);")
        .unwrap();
    let r = c.json("POST", "/api/v1/sqlite/db?db=real", &body).await;
    assert_eq!(r.json()["results"][0]["resultSet"], json!([{ "x": 99 }]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_by_another_process_is_waited_for_and_readers_are_not_blocked() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/db?db=shared&create_db_if_missing=true",
            &json!({ "transaction": [{ "statement": "CREATE TABLE t (x)" }, { "statement": "INSERT INTO t VALUES (0)" }] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Another process (another container on the SQLite Drive) holds the write lock.
    let other = rusqlite::Connection::open(kit.databases.join("shared.db")).unwrap();
    other
        .execute_batch("BEGIN IMMEDIATE; INSERT INTO t VALUES (100);")
        .unwrap();
    let addr = kit.addr;
    let started = Instant::now();
    let write = tokio::spawn(async move {
        let mut c = Client::new(addr).await;
        tx(
            &mut c,
            "shared",
            json!([{ "statement": "INSERT INTO t VALUES (1)" }]),
        )
        .await
    });
    // Readers see the last committed state meanwhile, at once.
    let sql = enc(&b64("SELECT count(*) AS n FROM t"));
    let r = c
        .get(&format!("/api/v1/sqlite/query?db=shared&sql={sql}"))
        .await;
    assert_eq!(r.json()["resultSet"], json!([{ "n": 1 }]));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!write.is_finished(), "the write waits for the lock");
    other.execute_batch("COMMIT").unwrap();
    let r = write.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(started.elapsed() >= Duration::from_millis(400));
    let r = c
        .get(&format!("/api/v1/sqlite/query?db=shared&sql={sql}"))
        .await;
    assert_eq!(r.json()["resultSet"], json!([{ "n": 3 }]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_checks_checkpoints_and_copies() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/db?db=m&create_db_if_missing=true",
            &json!({ "transaction": [
                { "statement": "CREATE TABLE t (x)" },
                { "statement": "INSERT INTO t VALUES (?)", "valuesBatch": [[1], [2], [3]] }
            ] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m = "/api/v1/sqlite/maintenance?db=m";
    let r = c.json("POST", m, &json!({ "op": "quick_check" })).await;
    assert_eq!(r.json()["ok"], true, "{}", r.text());
    assert!(
        std::fs::metadata(kit.databases.join("m.db-wal"))
            .unwrap()
            .len()
            > 0
    );
    let r = c
        .json(
            "POST",
            &format!("{m}&timeout=5"),
            &json!({ "op": "wal_checkpoint_truncate" }),
        )
        .await;
    assert_eq!(r.json()["busy"], false, "{}", r.text());
    assert_eq!(
        std::fs::metadata(kit.databases.join("m.db-wal"))
            .unwrap()
            .len(),
        0
    );
    let r = c
        .json(
            "POST",
            m,
            &json!({ "op": "vacuum_into", "dest_path": "copy" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(count_rows(&mut c, "copy", "t").await, 3);
    c.json(
        "POST",
        m,
        &json!({ "op": "vacuum_into", "dest_path": "copy" }),
    )
    .await
    .err(409, "ALREADY_EXISTS");
    c.json("POST", m, &json!({ "op": "vacuum_into" }))
        .await
        .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        m,
        &json!({ "op": "vacuum_into", "dest_path": "../x" }),
    )
    .await
    .err(400, "INVALID_DB_PATH");
    c.json("POST", m, &json!({ "op": "defrag" }))
        .await
        .err(400, "VALIDATION_ERROR");
    c.json(
        "POST",
        "/api/v1/sqlite/maintenance?db=none",
        &json!({ "op": "quick_check" }),
    )
    .await
    .err(404, "DATABASE_NOT_FOUND");
}

/// Point SELECTs per second through the whole HTTP stack, in-process (run with
/// `cargo test -p hoody-kit --release --test sqlite -- --ignored --nocapture`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn bench_point_selects() {
    let kit = start().await;
    let mut c = Client::new(kit.addr).await;
    let rows: Vec<Value> = (0..10_000)
        .map(|i| json!([i, format!("name-{i}")]))
        .collect();
    let r = c
        .json(
            "POST",
            "/api/v1/sqlite/db?db=bench&create_db_if_missing=true",
            &json!({ "transaction": [
                { "statement": "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)" },
                { "statement": "INSERT INTO t VALUES (?, ?)", "valuesBatch": rows }
            ] }),
        )
        .await;
    assert_eq!(r.status, 200);
    for (label, conns) in [
        ("GET /query", 8usize),
        ("POST /db query item", 8),
        ("GET /kv/{key}", 8),
    ] {
        if label.starts_with("GET /kv") {
            for i in 0..100 {
                c.send(
                    "PUT",
                    &format!("/api/v1/sqlite/kv/k{i}?db=bench"),
                    None,
                    format!("v{i}").into_bytes(),
                )
                .await;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut tasks = Vec::new();
        for w in 0..conns {
            let addr = kit.addr;
            tasks.push(tokio::spawn(async move {
                let mut c = Client::new(addr).await;
                let mut n = 0u64;
                let mut i = w as u64;
                while Instant::now() < deadline {
                    i = (i * 7919 + 13) % 10_000;
                    let r = match label {
                        "GET /query" => {
                            let sql = b64(&format!("SELECT name FROM t WHERE id = {i}"));
                            c.get(&format!("/api/v1/sqlite/query?db=bench&sql={}", enc(&sql)))
                                .await
                        }
                        "POST /db query item" => tx(
                            &mut c,
                            "bench",
                            json!([{ "query": "SELECT name FROM t WHERE id = ?", "values": [i] }]),
                        )
                        .await,
                        _ => {
                            c.get(&format!("/api/v1/sqlite/kv/k{}?db=bench", i % 100))
                                .await
                        }
                    };
                    assert_eq!(r.status, 200);
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        println!("{label}: {} req/s ({conns} connections, 3 s)", total / 3);
    }
}
