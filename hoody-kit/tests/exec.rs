//! The exec service end to end: its router on 127.0.0.1:0 in-process, storage in a temp dir,
//! driven with curl.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Kit {
    addr: SocketAddr,
    tmp: tempfile::TempDir,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Kit {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn start() -> Kit {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = Arc::new(hoody_kit::Context::builder().storage(tmp.path()).build());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = hoody_kit::exec::router(ctx);
    let server = tokio::spawn(async move {
        let _ = hoody_kit::serve_on(listener, router).await;
    });
    Kit { addr, tmp, server }
}

#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// Asserts an error body: `status`, `code`, and the message containing `needle`.
    fn error(&self, status: u16, code: &str, needle: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.body);
        let v = self.json();
        assert_eq!(v["code"], code, "{v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(msg.contains(needle), "{needle:?} not in {msg:?}");
        assert!(v["timestamp"].is_string());
        v
    }
}

impl Kit {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// curl `method` `path` with extra arguments.
    async fn curl(&self, method: &str, path: &str, args: &[&str]) -> Resp {
        let out = tokio::process::Command::new("curl")
            .args([
                "-sS",
                "-g",
                "-i",
                "-H",
                "Expect:",
                "-X",
                method,
                "--max-time",
                "20",
            ])
            .args(args)
            .arg(self.url(path))
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "curl {method} {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Resp {
            status,
            headers,
            body: body.to_string(),
        }
    }

    async fn get(&self, path: &str) -> Resp {
        self.curl("GET", path, &[]).await
    }

    async fn send_json(&self, method: &str, path: &str, body: &Value, extra: &[&str]) -> Resp {
        let body = body.to_string();
        let mut args = vec![
            "-H",
            "content-type: application/json",
            "--data-binary",
            &body,
        ];
        args.extend_from_slice(extra);
        self.curl(method, path, &args).await
    }

    /// Writes a script through the API (instance 1), asserting success.
    async fn write(&self, path: &str, content: &str) -> Value {
        self.write_in("1", path, content).await
    }

    async fn write_in(&self, instance: &str, path: &str, content: &str) -> Value {
        let h = format!("x-hoody-instance: {instance}");
        let r = self
            .send_json(
                "POST",
                "/api/v1/exec/scripts/write",
                &json!({"path": path, "content": content, "createDirs": true, "validate": true}),
                &["-H", &h],
            )
            .await;
        assert_eq!(r.status, 200, "writing {path}: {}", r.body);
        r.json()
    }
}

#[tokio::test]
async fn routes_with_parameters_query_and_json_body() {
    let kit = start().await;
    let w = kit
        .write(
            "users/[id].js",
            "return {id: metadata.parameters.id, q: req.query}",
        )
        .await;
    assert_eq!(w["created"], true);
    assert_eq!(w["updated"], false);
    assert_eq!(w["validated"], true);
    assert_eq!(w["route"], "/users/[id]");
    assert_eq!(w["size"], 49);
    assert!(
        w["resolvedPath"]
            .as_str()
            .unwrap()
            .starts_with(kit.tmp.path().to_str().unwrap())
    );
    assert!(w["modified"].as_str().unwrap().ends_with('Z'));
    kit.write("users/me.js", "return 'me'").await;
    kit.write("docs/[...slug].js", "return metadata.parameters")
        .await;
    kit.write("files/[[...path]].js", "return metadata.parameters.path")
        .await;
    kit.write(
        "api/echo.js",
        "const data = await req.json();\n\
         res.status(201).setHeader('x-echo', req.headers.get('x-in'));\n\
         return {method: req.method, data, path: req.path, q: metadata.query, inst: metadata.instance}",
    )
    .await;
    kit.write("index.js", "return 'root'").await;

    let r = kit.get("/users/42?a=1&a=2&b=x+y").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(
        r.json(),
        json!({"id": "42", "q": {"a": ["1", "2"], "b": "x y"}})
    );
    let r = kit.get("/users/me").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "me"),
        "static beats dynamic"
    );
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(
        kit.get("/docs/a/b/c").await.json(),
        json!({"slug": ["a", "b", "c"]})
    );
    kit.get("/docs")
        .await
        .error(404, "ROUTE_NOT_FOUND", "/docs");
    assert_eq!(kit.get("/files").await.json(), json!([]));
    assert_eq!(kit.get("/files/x/y").await.json(), json!(["x", "y"]));
    assert_eq!(kit.get("/").await.body, "root");

    let r = kit
        .send_json(
            "POST",
            "/api/echo?z=9",
            &json!({"n": [1, 2]}),
            &["-H", "x-in: hi"],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("x-echo"), Some("hi"));
    assert!(r.header("x-hoody-request-id").is_some());
    assert_eq!(
        r.json(),
        json!({"method": "POST", "data": {"n": [1, 2]}, "path": "/api/echo", "q": {"z": "9"}, "inst": "1"})
    );
    // A malformed JSON body is the client's fault.
    let r = kit
        .curl("POST", "/api/echo", &["--data-binary", "{nope"])
        .await;
    r.error(400, "INVALID_JSON_BODY", "not valid JSON");
    kit.get("/nothing/here")
        .await
        .error(404, "ROUTE_NOT_FOUND", "/nothing/here");
}

#[tokio::test]
async fn response_shapes() {
    let kit = start().await;
    kit.write("empty.js", "const x = 1").await;
    kit.write("redirect.js", "res.redirect('/elsewhere', 301)")
        .await;
    kit.write("bytes.js", "return new Uint8Array([104, 105])")
        .await;
    kit.write(
        "response.js",
        "return new Response('made', {status: 202, headers: {'X-Kind': 'response'}})",
    )
    .await;
    kit.write(
        "timers.js",
        "const t0 = Date.now(); await new Promise(r => setTimeout(r, 50));\n\
         return {waited: Date.now() - t0 >= 45}",
    )
    .await;
    kit.write(
        "console.js",
        "console.log('hello', {a: 1}); console.warn('ünïcode'); return 1",
    )
    .await;
    kit.write("badstatus.js", "return new Response('x', {status: 101})")
        .await;
    kit.write(
        "badheader.js",
        "res.setHeader('x-a', 'line\\nbreak'); return 1",
    )
    .await;
    assert_eq!(kit.get("/empty").await.status, 204);
    kit.get("/badstatus")
        .await
        .error(500, "SCRIPT_ERROR", "status 101");
    kit.get("/badheader")
        .await
        .error(500, "SCRIPT_ERROR", "invalid header \"x-a\"");
    let r = kit.get("/redirect").await;
    assert_eq!((r.status, r.header("location")), (301, Some("/elsewhere")));
    let r = kit.get("/bytes").await;
    assert_eq!(
        (r.body.as_str(), r.header("content-type")),
        ("hi", Some("application/octet-stream"))
    );
    let r = kit.get("/response").await;
    assert_eq!(
        (r.status, r.body.as_str(), r.header("x-kind")),
        (202, "made", Some("response"))
    );
    assert_eq!(kit.get("/timers").await.json(), json!({"waited": true}));

    // Console lines: in the debug header on request, and in the instance's ring.
    let r = kit
        .curl("GET", "/console", &["-H", "x-hoody-exec-debug: 1"])
        .await;
    let lines: Value = serde_json::from_str(r.header("x-hoody-exec-logs").unwrap()).unwrap();
    assert_eq!(
        lines[0],
        json!({"level": "log", "message": "hello {\"a\":1}"})
    );
    assert_eq!(lines[1]["message"], "ünïcode");
    assert!(
        kit.get("/console")
            .await
            .header("x-hoody-exec-logs")
            .is_none()
    );
    let logs = kit
        .get("/api/v1/exec/logs/list?script=console.js&level=warn")
        .await
        .json();
    assert_eq!(logs["total"], 2, "{logs}");
    assert_eq!(logs["logs"][1]["message"], "ünïcode");
    assert!(
        logs["logs"][0]["requestId"]
            .as_str()
            .unwrap()
            .starts_with("exec-")
    );
    let cleared = kit
        .curl("DELETE", "/api/v1/exec/logs/clear", &[])
        .await
        .json();
    assert_eq!(cleared["cleared"], 4);
    assert_eq!(kit.get("/api/v1/exec/logs/list").await.json()["total"], 0);
}

#[tokio::test]
async fn a_throwing_script_is_a_500_and_the_next_request_works() {
    let kit = start().await;
    kit.write(
        "boom.js",
        "\n\nthrow new TypeError('kaboom ' + req.query.n)",
    )
    .await;
    kit.write("ok.js", "return {ok: true}").await;
    kit.write(
        "custom.js",
        "throw Object.assign(new Error('no such user'), {httpStatus: 404, code: 'USER_NOT_FOUND'})",
    )
    .await;
    kit.write("string.js", "throw 'a bare string'").await;
    for n in 0..3 {
        let v = kit.get(&format!("/boom?n={n}")).await.error(
            500,
            "SCRIPT_ERROR",
            &format!("TypeError: kaboom {n}"),
        );
        assert!(
            v["error"].as_str().unwrap().contains("boom.js:3"),
            "stack in error: {v}"
        );
        assert_eq!(v["details"]["script"], "boom.js");
        assert_eq!(v["details"]["name"], "TypeError");
        assert_eq!(kit.get("/ok").await.json(), json!({"ok": true}));
    }
    kit.get("/custom")
        .await
        .error(404, "USER_NOT_FOUND", "no such user");
    kit.get("/string")
        .await
        .error(500, "SCRIPT_ERROR", "a bare string");
    let logs = kit.get("/api/v1/exec/logs/list?level=error").await.json();
    assert!(logs["total"].as_u64().unwrap() >= 3, "{logs}");
    let health = kit.get("/api/v1/exec/health").await.json();
    assert_eq!(health["status"], "ok");
    assert!(health["exec"]["failures"].as_u64().unwrap() >= 5);
}

#[tokio::test]
async fn an_infinite_loop_is_cut_off_and_the_kit_keeps_serving() {
    let kit = start().await;
    kit.write("spin.js", "// @timeout 200\nwhile (true) {}")
        .await;
    kit.write(
        "spin-async.js",
        "// @timeout 300\nawait null; for (;;) { await Promise.resolve(); }",
    )
    .await;
    kit.write(
        "sleepy.js",
        "// @timeout 200\nawait new Promise(r => setTimeout(r, 5000))",
    )
    .await;
    kit.write("ok.js", "return 'fine'").await;
    let t = Instant::now();
    let (spin, ok) = tokio::join!(kit.get("/spin"), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        (kit.get("/ok").await, t.elapsed())
    });
    spin.error(504, "TIMEOUT", "200 ms");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "cut off: {:?}",
        t.elapsed()
    );
    assert_eq!(ok.0.body, "fine");
    assert!(
        ok.1 < Duration::from_millis(1000),
        "served meanwhile in {:?}",
        ok.1
    );
    kit.get("/spin-async").await.error(504, "TIMEOUT", "300 ms");
    let t = Instant::now();
    kit.get("/sleepy").await.error(504, "TIMEOUT", "200 ms");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(kit.get("/ok").await.body, "fine");
    assert_eq!(kit.get("/api/v1/exec/health").await.status, 200);
}

#[tokio::test]
async fn a_memory_hog_is_refused() {
    let kit = start().await;
    kit.write(
        "hog.js",
        "const a = []; while (true) a.push('x'.repeat(1 << 20) + a.length); return a.length",
    )
    .await;
    kit.write(
        "small.js",
        "// @memory 8\nconst a = new Array(4 * 1024 * 1024).fill(1.5); return a.length",
    )
    .await;
    kit.write("ok.js", "return 'fine'").await;
    let v = kit
        .get("/hog")
        .await
        .error(500, "MEMORY_LIMIT", "memory limit");
    assert_eq!(v["details"]["script"], "hog.js");
    kit.get("/small").await.error(500, "MEMORY_LIMIT", "memory");
    assert_eq!(kit.get("/ok").await.body, "fine");
    // Deep recursion is a script error, not a crash.
    kit.write(
        "deep.js",
        "function f(n) { return f(n + 1) + 1 } return f(0)",
    )
    .await;
    kit.get("/deep")
        .await
        .error(500, "SCRIPT_ERROR", "RangeError");
    assert_eq!(kit.get("/ok").await.body, "fine");
}

#[tokio::test]
async fn token_sources_in_priority_order() {
    let kit = start().await;
    kit.write("secret.js", "// @token s3cret\n// @cors *\nreturn 'in'")
        .await;
    kit.get("/secret")
        .await
        .error(401, "UNAUTHORIZED", "needs a token");
    let r = kit
        .curl("GET", "/secret", &["-H", "authorization: Bearer wrong"])
        .await;
    r.error(401, "UNAUTHORIZED", "bearer token is wrong");
    assert!(r.header("www-authenticate").is_some());
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    for args in [
        vec!["-H", "authorization: Bearer s3cret"],
        vec!["-u", "anyone:s3cret"],
        vec!["-H", "x-token: s3cret"],
    ] {
        let r = kit.curl("GET", "/secret", &args).await;
        assert_eq!((r.status, r.body.as_str()), (200, "in"), "{args:?}");
    }
    assert_eq!(kit.get("/secret?token=s3cret").await.body, "in");
    // Only the highest-priority source present counts.
    let r = kit
        .curl("GET", "/secret?token=s3cret", &["-H", "x-token: nope"])
        .await;
    r.error(401, "UNAUTHORIZED", "X-Token header is wrong");
    let r = kit
        .curl(
            "GET",
            "/secret?token=s3cret",
            &["-u", "u:nope", "-H", "x-token: s3cret"],
        )
        .await;
    r.error(401, "UNAUTHORIZED", "basic password is wrong");
    kit.get("/secret?token=nope")
        .await
        .error(401, "UNAUTHORIZED", "query parameter is wrong");
    // The token never shows in the magic comments.
    let m = kit
        .get("/api/v1/exec/magic-comments/read?path=secret.js")
        .await
        .json();
    assert_eq!(m["comments"], json!({"token": "[REDACTED]", "cors": "*"}));
    assert!(!m.to_string().contains("s3cret"));
    // A preflight needs no token.
    let r = kit
        .curl(
            "OPTIONS",
            "/secret",
            &[
                "-H",
                "origin: https://a.example",
                "-H",
                "access-control-request-method: POST",
            ],
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
}

#[tokio::test]
async fn reflective_cors() {
    let kit = start().await;
    kit.write("c.js", "// @cors reflective\nreturn 1").await;
    let r = kit
        .curl("GET", "/c", &["-H", "origin: https://app.example"])
        .await;
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
}

#[tokio::test]
async fn concurrent_requests_run_side_by_side() {
    let kit = start().await;
    kit.write(
        "slow.js",
        "await new Promise(r => setTimeout(r, 400)); return {n: Number(req.query.n)}",
    )
    .await;
    let t = Instant::now();
    let all = futures_util::future::join_all((0..12).map(|n| {
        let kit = &kit;
        async move { (n, kit.get(&format!("/slow?n={n}")).await) }
    }))
    .await;
    for (n, r) in all {
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json(), json!({"n": n}));
    }
    // 12 × 200 ms one after the other would be 2.4 s.
    assert!(
        t.elapsed() < Duration::from_millis(1800),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn shell_scripts() {
    let kit = start().await;
    kit.write(
        "sh/[name].sh",
        "#!/bin/sh\n# @timeout 3000\necho \"hello $HOODY_PARAM_NAME $REQUEST_METHOD q=$HOODY_QUERY_X\"\n\
         printf 'body=%s\\n' \"$(cat)\"\necho \"$HTTP_X_IN\"",
    )
    .await;
    kit.write("sh/json.sh", "echo '{\"a\": [1, 2]}'").await;
    kit.write("sh/fail.sh", "echo partial; echo 'it broke' >&2; exit 3")
        .await;
    kit.write("sh/slow.sh", "# @timeout 300\nsleep 10; echo late")
        .await;
    kit.write("sh/catch/[...rest].sh", "echo \"$HOODY_PARAM_REST\"")
        .await;
    kit.write("sh/token.sh", "# @token t0k\necho in").await;

    let r = kit
        .curl(
            "POST",
            "/sh/bob?x=1",
            &["--data-binary", "payload", "-H", "x-in: hdr"],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "hello bob POST q=1\nbody=payload\nhdr\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    let r = kit.get("/sh/json").await;
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(r.json(), json!({"a": [1, 2]}));
    let v = kit
        .get("/sh/fail")
        .await
        .error(500, "SCRIPT_ERROR", "it broke");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("exited with status 3"),
        "{v}"
    );
    let t = Instant::now();
    kit.get("/sh/slow").await.error(504, "TIMEOUT", "300 ms");
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(kit.get("/sh/catch/a/b").await.body, "a/b\n");
    kit.get("/sh/token")
        .await
        .error(401, "UNAUTHORIZED", "token");
    assert_eq!(kit.get("/sh/token?token=t0k").await.body, "in\n");
    // The killed `sleep` does not linger.
    let ps = std::process::Command::new("pgrep")
        .args(["-f", &format!("{}.*slow.sh", kit.tmp.path().display())])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "left running: {:?}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

#[tokio::test]
async fn write_validation_and_management() {
    let kit = start().await;
    let r = kit
        .send_json(
            "POST",
            "/api/v1/exec/scripts/write",
            &json!({"path": "bad.js", "content": "const a = 1;\nconst = 2;\nreturn a", "validate": true}),
            &[],
        )
        .await;
    let v = r.error(
        400,
        "VALIDATION_ERROR",
        "bad.js does not compile: SyntaxError",
    );
    assert_eq!(v["details"]["line"], 2, "{v}");
    let r = kit
        .send_json(
            "POST",
            "/api/v1/exec/scripts/write",
            &json!({"path": "bad.sh", "content": "if then fi (", "validate": true}),
            &[],
        )
        .await;
    r.error(400, "VALIDATION_ERROR", "shell syntax error");
    kit.get("/api/v1/exec/scripts/read?path=bad.js")
        .await
        .error(404, "NOT_FOUND", "bad.js");
    // Without validation a broken script is stored, and fails when run.
    let r = kit
        .send_json(
            "POST",
            "/api/v1/exec/scripts/write",
            &json!({"path": "bad.js", "content": "return {"}),
            &[],
        )
        .await;
    assert_eq!((r.status, &r.json()["validated"]), (200, &json!(false)));
    kit.get("/bad")
        .await
        .error(500, "SCRIPT_ERROR", "SyntaxError");
    // The parent must exist unless createDirs.
    let r = kit
        .send_json(
            "POST",
            "/api/v1/exec/scripts/write",
            &json!({"path": "deep/er/x.js", "content": "return 1"}),
            &[],
        )
        .await;
    r.error(404, "NOT_FOUND", "createDirs");
    // Update.
    kit.write("a/hello.js", "return 'v1'").await;
    let w = kit.write("a/hello.js", "return 'v2'").await;
    assert_eq!(
        (&w["created"], &w["updated"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(kit.get("/a/hello").await.body, "v2");
    let r = kit
        .get("/api/v1/exec/scripts/read?path=a/hello.js")
        .await
        .json();
    assert_eq!(
        (&r["content"], &r["route"], &r["size"]),
        (&json!("return 'v2'"), &json!("/a/hello"), &json!(11))
    );
    let ts = kit.write("t.ts", "export default 1").await;
    assert!(ts["warning"].as_str().unwrap().contains("TypeScript"));
    assert_eq!(ts["route"], Value::Null);

    let list = kit.get("/api/v1/exec/scripts/list").await.json();
    let paths: Vec<&str> = list["scripts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a/hello.js", "bad.js", "t.ts"]);
    assert_eq!(list["scripts"][0]["route"], "/a/hello");
    assert_eq!(list["scripts"][0]["type"], "js");
    assert_eq!(list["total"], 3);

    let ids = kit.get("/api/v1/exec/list").await.json();
    assert_eq!(ids["total"], 1);
    assert_eq!(ids["execIds"][0]["id"], "exec_1");
    assert_eq!(ids["execIds"][0]["files"], 3);
    assert_eq!(ids["summary"], json!({"sdk": 0, "custom": 1}));

    let r = kit
        .get("/api/v1/exec/route/resolve?path=/a/hello")
        .await
        .json();
    assert_eq!(
        (&r["matched"], &r["script"]),
        (&json!(true), &json!("a/hello.js"))
    );
    let r = kit
        .send_json(
            "POST",
            "/api/v1/exec/validate/syntax",
            &json!({"content": "return ("}),
            &[],
        )
        .await
        .json();
    assert_eq!(r["valid"], false);

    // Delete, by query and by body.
    let d = kit
        .curl("DELETE", "/api/v1/exec/scripts/delete?path=a/hello.js", &[])
        .await;
    assert_eq!((d.status, &d.json()["deleted"]), (200, &json!(true)));
    kit.get("/a/hello")
        .await
        .error(404, "ROUTE_NOT_FOUND", "/a/hello");
    let d = kit
        .send_json(
            "DELETE",
            "/api/v1/exec/scripts/delete",
            &json!({"path": "bad.js"}),
            &[],
        )
        .await;
    assert_eq!(d.status, 200, "{}", d.body);
    kit.curl("DELETE", "/api/v1/exec/scripts/delete?path=bad.js", &[])
        .await
        .error(404, "NOT_FOUND", "bad.js");
    kit.curl("DELETE", "/api/v1/exec/scripts/delete?path=a", &[])
        .await
        .error(400, "IS_A_DIRECTORY", "a");
}

#[tokio::test]
async fn paths_cannot_escape_the_scripts_directory() {
    let kit = start().await;
    let outside = kit.tmp.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    kit.write("ok.js", "return 1").await;
    let root = kit.tmp.path().join("hoody-exec/scripts/1");
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    for path in [
        "../x.js",
        "/etc/x.js",
        "a/../../x.js",
        "./x.js",
        "a//x.js",
        "",
        "link/x.js",
        "link/sub/x.js",
    ] {
        let r = kit
            .send_json(
                "POST",
                "/api/v1/exec/scripts/write",
                &json!({"path": path, "content": "return 1", "createDirs": true}),
                &[],
            )
            .await;
        r.error(400, "VALIDATION_ERROR", "");
        let q = format!("/api/v1/exec/scripts/read?path={path}");
        let r = kit.get(&q).await;
        // Through the symlink the file does not exist: 404 is as good as 400 there.
        let ok = r.status == 400 || (path.starts_with("link/") && r.status == 404);
        assert!(ok, "{path}: {}", r.body);
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        0,
        "nothing written outside"
    );
    std::fs::write(outside.join("secret.js"), "return 'leaked'").unwrap();
    kit.get("/api/v1/exec/scripts/read?path=link/secret.js")
        .await
        .error(400, "VALIDATION_ERROR", "outside");
    kit.curl(
        "DELETE",
        "/api/v1/exec/scripts/delete?path=link/secret.js",
        &[],
    )
    .await
    .error(400, "VALIDATION_ERROR", "outside");
    assert!(outside.join("secret.js").exists());
    // URL paths with dot segments never reach outside either.
    kit.get("/%2e%2e/outside/secret")
        .await
        .error(404, "ROUTE_NOT_FOUND", "");
}

#[tokio::test]
async fn instances_have_separate_scripts() {
    let kit = start().await;
    kit.write_in("1", "who.js", "return 'one ' + metadata.instance")
        .await;
    kit.write_in("2", "who.js", "return 'two ' + metadata.instance")
        .await;
    kit.write_in("2", "only2.js", "return 2").await;
    assert_eq!(kit.get("/who").await.body, "one 1");
    let r = kit
        .curl("GET", "/who", &["-H", "x-hoody-instance: 2"])
        .await;
    assert_eq!(r.body, "two 2");
    kit.get("/only2")
        .await
        .error(404, "ROUTE_NOT_FOUND", "instance 1");
    let r = kit
        .curl("GET", "/only2", &["-H", "x-hoody-instance: 2"])
        .await;
    assert_eq!(r.body, "2");
    let l = kit
        .curl(
            "GET",
            "/api/v1/exec/scripts/list",
            &["-H", "x-hoody-instance: 2"],
        )
        .await
        .json();
    assert_eq!(l["total"], 2);
    let ids = kit.get("/api/v1/exec/list").await.json();
    assert_eq!(ids["total"], 2);
    assert_eq!(
        ids["execIds"][1],
        json!({"id": "exec_2", "instance": "2", "type": "custom", "files": 2})
    );
}

#[tokio::test]
async fn bad_input_is_a_4xx_with_a_code() {
    let kit = start().await;
    kit.curl(
        "POST",
        "/api/v1/exec/scripts/write",
        &[
            "-H",
            "content-type: application/json",
            "--data-binary",
            "{not json",
        ],
    )
    .await
    .error(400, "VALIDATION_ERROR", "invalid JSON body");
    kit.send_json(
        "POST",
        "/api/v1/exec/scripts/write",
        &json!({"path": "x.js"}),
        &[],
    )
    .await
    .error(400, "VALIDATION_ERROR", "content");
    kit.get("/api/v1/exec/scripts/read")
        .await
        .error(400, "VALIDATION_ERROR", "path");
    kit.get("/api/v1/exec/magic-comments/read?path=nope.js")
        .await
        .error(404, "NOT_FOUND", "nope.js");
    kit.curl("GET", "/x", &["-H", "x-hoody-instance: ../1"])
        .await
        .error(400, "VALIDATION_ERROR", "instance");
    kit.get("/api/v1/exec/nope")
        .await
        .error(404, "NOT_FOUND", "/api/v1/exec/nope");
    kit.get("/api/v1/exec/scripts/write")
        .await
        .error(405, "METHOD_NOT_ALLOWED", "scripts/write");
    kit.get("/api/v1/exec/logs/list?limit=x")
        .await
        .error(400, "VALIDATION_ERROR", "limit");
    let schema = kit.get("/api/v1/exec/magic-comments/schema").await.json();
    assert!(schema["comments"]["token"].is_object());
}

/// Per-request overhead: sequential hello-world requests on one keep-alive connection (curl
/// given many URLs reuses it). Prints the numbers; fails only if a request fails or the median
/// is absurd (> 50 ms, even in a debug build).
#[tokio::test]
async fn hello_latency() {
    let kit = start().await;
    kit.write("hello.js", "return {hello: 'world'}").await;
    let n = 200;
    let url = kit.url("/hello");
    let mut args = vec![
        "-sS".to_string(),
        "-w".to_string(),
        "%{http_code} %{time_total}\\n".to_string(),
    ];
    for _ in 0..n {
        args.extend(["-o".to_string(), "/dev/null".to_string(), url.clone()]);
    }
    let out = tokio::process::Command::new("curl")
        .args(&args)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut times: Vec<f64> = text
        .lines()
        .map(|l| {
            let (code, t) = l.split_once(' ').unwrap();
            assert_eq!(code, "200");
            t.parse::<f64>().unwrap() * 1e3
        })
        .collect();
    assert_eq!(times.len(), n);
    times.sort_by(f64::total_cmp);
    let (p50, p99) = (times[n / 2], times[n * 99 / 100]);
    // The server's own view: the x-hoody-exec-ms header of one more request.
    let r = kit.get("/hello").await;
    eprintln!(
        "exec hello-world over keep-alive: p50 {p50:.3} ms, p99 {p99:.3} ms; server-side {} ms",
        r.header("x-hoody-exec-ms").unwrap_or("?")
    );
    assert!(p50 < 50.0, "p50 {p50} ms");
}

#[tokio::test]
async fn a_flood_waits_for_a_slot_then_is_refused_busy() {
    let kit = start().await;
    kit.write(
        "hold.js",
        "// @timeout 5000\nawait new Promise(r => setTimeout(r, 1500)); return 'held'",
    )
    .await;
    kit.write("quick.js", "// @timeout 150\nreturn 'quick'")
        .await;
    let limit = hoody_kit::exec::MAX_CONCURRENT_RUNS;
    let holders = futures_util::future::join_all((0..limit).map(|_| kit.get("/hold")));
    let probe = async {
        // Let every holder take its slot first.
        for _ in 0..100 {
            let h = kit.get("/api/v1/exec/health").await.json();
            if h["exec"]["running"] == limit {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let t = Instant::now();
        let r = kit.get("/quick").await;
        (r, t.elapsed())
    };
    let (held, (busy, waited)) = tokio::join!(holders, probe);
    busy.error(503, "BUSY", "already running");
    assert!(waited < Duration::from_millis(1200), "waited {waited:?}");
    assert!(held.iter().all(|r| r.body == "held"));
    assert_eq!(kit.get("/quick").await.body, "quick");
}

#[tokio::test]
async fn a_client_going_away_stops_its_script() {
    let kit = start().await;
    // A sleep with a duration of its own, so pgrep finds exactly this test's child (the
    // grandchild of the Kit: only killing the process group ends it).
    let sleep = format!("sleep 30.{}", std::process::id());
    kit.write("gone.sh", &format!("# @timeout 30000\n{sleep}\necho late"))
        .await;
    let out = tokio::process::Command::new("curl")
        .args(["-sS", "--max-time", "0.5", &kit.url("/gone")])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(28), "curl timed out");
    let mut gone = false;
    for _ in 0..50 {
        let script = kit.tmp.path().join("hoody-exec/scripts/1/gone.sh");
        let pgrep = |pattern: &str| {
            let out = std::process::Command::new("pgrep")
                .args(["-f", pattern])
                .output()
                .unwrap();
            out.stdout.is_empty()
        };
        if pgrep(&script.display().to_string()) && pgrep(&format!("^{sleep}$")) {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(gone, "the script's process group outlived its client");
    let h = kit.get("/api/v1/exec/health").await.json();
    assert_eq!(h["exec"]["running"], 0);
}

#[tokio::test]
async fn host_names_give_metadata_and_subdomain_routes() {
    let kit = start().await;
    kit.write(
        "blog/post.js",
        "return {p: metadata.projectId, c: metadata.containerId, n: metadata.nodeId, \
         d: metadata.domain, path: req.path, url: req.url}",
    )
    .await;
    let (p, c) = ("0123456789abcdef01234567", "76543210fedcba9876543210");
    let host = format!("{p}-{c}-exec-1.node-1.containers.hoody.test");
    let r = kit
        .curl("GET", "/blog/post?x=1", &["-H", &format!("host: {host}")])
        .await
        .json();
    assert_eq!(
        r,
        json!({"p": p, "c": c, "n": "node-1", "d": host, "path": "/blog/post",
               "url": format!("http://{host}/blog/post?x=1")})
    );
    // `blog.{P}-{C}-exec-1…` serves scripts/1/blog/.
    let r = kit
        .curl(
            "GET",
            "/post",
            &[
                "-H",
                &format!("host: blog.{host}"),
                "-H",
                "x-forwarded-proto: https",
            ],
        )
        .await
        .json();
    assert_eq!(r["path"], "/blog/post");
    assert_eq!(r["url"], format!("https://blog.{host}/post"));
    // Without a hoody name the ids are null.
    let r = kit.get("/blog/post").await.json();
    assert_eq!((&r["p"], &r["c"]), (&Value::Null, &Value::Null));
}
