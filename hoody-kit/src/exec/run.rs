//! Serving a request with the script that matches it: resolve the route, answer a CORS
//! preflight, check `@token`, read the body, take a run slot, run the script (JavaScript on a
//! blocking thread, `.sh` as a child process), record its console lines, and turn its outcome
//! into the response (see the module doc of [`super`] for the contract).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::js::{self, Failure, FailureKind, JsJob, Output, Stop};
use super::magic::{self, Cors, Magic};
use super::routing::{self, Kind, Resolved};
use super::shell::{self, ShJob, ShOutcome};
use super::{
    DEBUG_HEADER, DEFAULT_MEMORY_MIB, DEFAULT_TIMEOUT_MS, Exec, LOGS_HEADER, MAX_BODY,
    MAX_CONCURRENT_RUNS, MAX_QUEUE_WAIT, MAX_SCRIPT_BYTES, REQUEST_ID_HEADER, Shared, logs,
};
use crate::{ApiError, Instance};

/// The most console output the debug header carries.
const MAX_LOGS_HEADER: usize = 8 * 1024;

/// An error body in the shape of [`ApiError`], for codes that are not `'static` (a script's
/// own `err.code`).
fn error_response(status: StatusCode, code: &str, message: &str, details: Value) -> Response {
    let body = json!({
        "error": message,
        "code": code,
        "timestamp": crate::health::rfc3339(SystemTime::now()),
        "details": details,
    });
    (status, axum::Json(body)).into_response()
}

/// What the `Host` name says: the project/container ids, the node, the domain and the
/// subdomain in front of the service label (`{sub}.{P}-{C}-exec-1.{node}.containers.…`).
#[derive(Debug, Default, Clone, PartialEq)]
struct HostInfo {
    domain: String,
    project: Option<String>,
    container: Option<String>,
    node: Option<String>,
    sub: Option<String>,
}

fn is_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn host_info(headers: &HeaderMap) -> HostInfo {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let domain = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(']') => {
            h.to_string()
        }
        _ => host.clone(),
    };
    let labels: Vec<&str> = domain.split('.').collect();
    let mut info = HostInfo {
        domain: domain.clone(),
        ..HostInfo::default()
    };
    for (i, label) in labels.iter().enumerate().take(2) {
        let mut parts = label.splitn(3, '-');
        let (Some(p), Some(c), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if !(is_id(p) && is_id(c) && rest.starts_with("exec")) {
            continue;
        }
        info.project = Some(p.to_string());
        info.container = Some(c.to_string());
        if labels.get(i + 2) == Some(&"containers") {
            info.node = labels.get(i + 1).map(|s| s.to_string());
        }
        if i == 1 {
            info.sub = Some(labels[0].to_string());
        }
        break;
    }
    info
}

/// `a=1&b=x+y&a=2` → `{a: ["1", "2"], b: "x y"}`.
fn parse_query(q: Option<&str>) -> Map<String, Value> {
    let mut out = Map::new();
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let dec = |s: &str| {
            let s = s.replace('+', " ");
            routing::percent_decode(&s).unwrap_or(s)
        };
        let (k, v) = (dec(k), Value::String(dec(v)));
        match out.get_mut(&k) {
            None => {
                out.insert(k, v);
            }
            Some(Value::Array(a)) => a.push(v),
            Some(prev) => *prev = Value::Array(vec![prev.take(), v]),
        }
    }
    out
}

fn query_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.last().map(query_text).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// A matched script, read and parsed.
struct Script {
    resolved: Resolved,
    source: String,
    magic: Magic,
}

fn load_script(dir: PathBuf, path: String) -> Result<Option<Script>, ApiError> {
    let Some(resolved) =
        routing::resolve(&dir, &path).map_err(|e| ApiError::io(dir.display(), &e))?
    else {
        return Ok(None);
    };
    let file = &resolved.file;
    let len = std::fs::metadata(file)
        .map_err(|e| ApiError::io(file.display(), &e))?
        .len();
    if len > MAX_SCRIPT_BYTES as u64 {
        return Err(ApiError::internal(format!(
            "script {} is {len} bytes, more than the {MAX_SCRIPT_BYTES} allowed",
            resolved.rel
        )));
    }
    let bytes = std::fs::read(file).map_err(|e| ApiError::io(file.display(), &e))?;
    let source = String::from_utf8(bytes).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SCRIPT_ERROR",
            format!("script {} is not UTF-8", resolved.rel),
        )
    })?;
    let magic = Magic::parse(&source, resolved.kind);
    Ok(Some(Script {
        resolved,
        source,
        magic,
    }))
}

/// Sets the stop flag when the request future is dropped (the client went away).
struct CancelOnDrop(Arc<Stop>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Runs the script matching the request.
pub(super) async fn run_script(State(s): Shared, instance: Instance, req: Request) -> Response {
    match run_script_inner(&s, instance, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn run_script_inner(
    s: &Arc<Exec>,
    instance: Instance,
    req: Request,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    let host = host_info(&parts.headers);
    let path = match &host.sub {
        Some(sub) => format!("/{sub}{}", parts.uri.path()),
        None => parts.uri.path().to_string(),
    };
    let dir = s.instance_dir(&instance);
    let script = {
        let p = path.clone();
        tokio::task::spawn_blocking(move || load_script(dir, p))
            .await
            .map_err(|e| ApiError::internal(format!("resolving {path}: {e}")))??
    };
    let Some(script) = script else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ROUTE_NOT_FOUND",
            format!("no script of exec instance {instance} answers {path}"),
        )
        .with_details(json!({ "path": path, "instance": instance.as_str() })));
    };
    let rel = script.resolved.rel.clone();
    let origin = parts.headers.get(header::ORIGIN).cloned();
    let cors = script.magic.cors;

    // A CORS preflight carries no credentials: answer it before the token check.
    if parts.method == Method::OPTIONS
        && cors.is_some()
        && parts
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut r = StatusCode::NO_CONTENT.into_response();
        add_cors(r.headers_mut(), cors, origin.as_ref());
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"),
        );
        if let Some(req_headers) = parts.headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, req_headers.clone());
        }
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        return Ok(r);
    }

    let query = parse_query(parts.uri.query());
    if let Some(expected) = &script.magic.token {
        let query_token = query.get("token").map(query_text);
        if let Err(why) = magic::check_token(expected, &parts.headers, query_token.as_deref()) {
            let mut r = ApiError::unauthorized(format!("{rel}: {why}")).into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"hoody-exec\""),
            );
            add_cors(r.headers_mut(), cors, origin.as_ref());
            return Ok(r);
        }
    }

    let body = axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the request body for {rel} is larger than {MAX_BODY} bytes or was cut off"),
        )
    })?;
    let timeout = Duration::from_millis(script.magic.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS));
    let _permit = tokio::time::timeout(
        timeout.min(MAX_QUEUE_WAIT),
        s.runs.clone().acquire_owned(),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "BUSY",
            format!(
                "{MAX_CONCURRENT_RUNS} scripts are already running; {rel} waited {} ms for a slot",
                timeout.min(MAX_QUEUE_WAIT).as_millis()
            ),
        )
    })?
    .map_err(|_| ApiError::internal("the exec run semaphore is closed"))?;

    let request_id = s.request_id();
    let debug = parts
        .headers
        .get(DEBUG_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1" || v.as_bytes().eq_ignore_ascii_case(b"true"));
    let (outcome, lines) = match script.resolved.kind {
        Kind::Js => {
            run_js(
                &script,
                &instance,
                &parts,
                &host,
                &path,
                query,
                body,
                timeout,
                &request_id,
            )
            .await?
        }
        Kind::Sh => {
            run_sh(
                &script,
                &instance,
                &parts,
                &path,
                query,
                body,
                timeout,
                &request_id,
            )
            .await
        }
    };
    let failed = outcome.as_ref().err().map(|f| f.message.clone());
    let mut entries: Vec<logs::Entry> = lines
        .iter()
        .map(|l| logs::Entry {
            timestamp: crate::health::rfc3339(SystemTime::now()),
            level: l.level.clone(),
            message: l.message.clone(),
            script: rel.clone(),
            request_id: request_id.clone(),
        })
        .collect();
    if let Some(message) = failed {
        s.failures.fetch_add(1, Ordering::Relaxed);
        entries.push(logs::Entry {
            timestamp: crate::health::rfc3339(SystemTime::now()),
            level: "error".to_string(),
            message: format!("request failed: {message}"),
            script: rel.clone(),
            request_id: request_id.clone(),
        });
    }
    s.logs.push(instance.as_str(), entries);

    let mut r = match outcome {
        Ok(out) => output_response(out, &rel)?,
        Err(f) => failure_response(&f, &rel),
    };
    let h = r.headers_mut();
    add_cors(h, cors, origin.as_ref());
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", started.elapsed().as_secs_f64() * 1e3)) {
        h.insert("x-hoody-exec-ms", v);
    }
    if debug && let Ok(v) = HeaderValue::from_str(&logs_header(&lines)) {
        h.insert(LOGS_HEADER, v);
    }
    Ok(r)
}

/// The request as the prelude reads it.
#[allow(clippy::too_many_arguments)]
fn js_input(
    script: &Script,
    instance: &Instance,
    parts: &axum::http::request::Parts,
    host: &HostInfo,
    path: &str,
    query: Map<String, Value>,
    body: &[u8],
    request_id: &str,
) -> String {
    let mut headers = Map::new();
    for (k, v) in &parts.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        match headers.get_mut(k.as_str()) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(&v);
            }
            _ => {
                headers.insert(k.as_str().to_string(), Value::String(v));
            }
        }
    }
    let scheme = parts
        .headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    let pq = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    json!({
        "method": parts.method.as_str(),
        "url": format!("{scheme}://{}{pq}", if host.domain.is_empty() { "localhost" } else { &host.domain }),
        "path": path,
        "headers": headers,
        "query": query,
        "parameters": script.resolved.params,
        "body": String::from_utf8_lossy(body),
        "projectId": host.project,
        "containerId": host.container,
        "nodeId": host.node,
        "domain": host.domain,
        "instance": instance.as_str(),
        "script": script.resolved.rel,
        "requestId": request_id,
    })
    .to_string()
}

#[allow(clippy::too_many_arguments)]
async fn run_js(
    script: &Script,
    instance: &Instance,
    parts: &axum::http::request::Parts,
    host: &HostInfo,
    path: &str,
    query: Map<String, Value>,
    body: bytes::Bytes,
    timeout: Duration,
    request_id: &str,
) -> Result<(Result<Output, Failure>, Vec<js::LogLine>), ApiError> {
    let stop = Arc::new(Stop::default());
    let _cancel = CancelOnDrop(stop.clone());
    let job = JsJob {
        source: script.source.clone(),
        filename: script.resolved.rel.clone(),
        input: js_input(
            script, instance, parts, host, path, query, &body, request_id,
        ),
        timeout,
        memory_limit: usize::try_from(
            script.magic.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB) * 1024 * 1024,
        )
        .unwrap_or(usize::MAX),
        stop,
    };
    let run = tokio::task::spawn_blocking(move || js::run(job))
        .await
        .map_err(|e| {
            ApiError::internal(format!("the run of {} failed: {e}", script.resolved.rel))
        })?;
    Ok((run.outcome, run.logs))
}

#[allow(clippy::too_many_arguments)]
async fn run_sh(
    script: &Script,
    instance: &Instance,
    parts: &axum::http::request::Parts,
    path: &str,
    query: Map<String, Value>,
    body: bytes::Bytes,
    timeout: Duration,
    request_id: &str,
) -> (Result<Output, Failure>, Vec<js::LogLine>) {
    let mut env = vec![
        ("REQUEST_METHOD".to_string(), parts.method.to_string()),
        (
            "REQUEST_URI".to_string(),
            parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
        ),
        ("PATH_INFO".to_string(), path.to_string()),
        (
            "QUERY_STRING".to_string(),
            parts.uri.query().unwrap_or("").to_string(),
        ),
        ("CONTENT_LENGTH".to_string(), body.len().to_string()),
        ("HOODY_INSTANCE".to_string(), instance.to_string()),
        ("HOODY_SCRIPT".to_string(), script.resolved.rel.clone()),
        ("HOODY_REQUEST_ID".to_string(), request_id.to_string()),
        (
            "HOODY_PARAMS".to_string(),
            Value::Object(script.resolved.params.clone()).to_string(),
        ),
        (
            "HOODY_QUERY".to_string(),
            Value::Object(query.clone()).to_string(),
        ),
    ];
    if let Some(ct) = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        env.push(("CONTENT_TYPE".to_string(), ct.to_string()));
    }
    for (k, v) in &parts.headers {
        if k == header::AUTHORIZATION || k == header::COOKIE {
            continue;
        }
        if let Ok(v) = v.to_str() {
            env.push((
                format!("HTTP_{}", shell::env_name(k.as_str())),
                v.to_string(),
            ));
        }
    }
    for (k, v) in &script.resolved.params {
        let v = match v {
            Value::Array(a) => a.iter().map(query_text).collect::<Vec<_>>().join("/"),
            other => query_text(other),
        };
        env.push((format!("HOODY_PARAM_{}", shell::env_name(k)), v));
    }
    for (k, v) in &query {
        env.push((format!("HOODY_QUERY_{}", shell::env_name(k)), query_text(v)));
    }
    let job = ShJob {
        file: script.resolved.file.clone(),
        env,
        body,
        timeout,
    };
    let rel = &script.resolved.rel;
    let outcome = match shell::run(job).await {
        ShOutcome::Ok(stdout) => {
            let is_json = matches!(
                stdout.iter().find(|b| !b.is_ascii_whitespace()),
                Some(b'{' | b'[')
            ) && serde_json::from_slice::<serde::de::IgnoredAny>(&stdout).is_ok();
            let ct = if is_json {
                "application/json; charset=utf-8"
            } else {
                "text/plain; charset=utf-8"
            };
            Ok(Output {
                status: 200,
                headers: vec![("content-type".to_string(), ct.to_string())],
                body: stdout,
            })
        }
        ShOutcome::Failed { code, stderr } => {
            let status = code.map_or_else(
                || "was killed by a signal".to_string(),
                |c| format!("exited with status {c}"),
            );
            let msg = stderr.trim();
            let mut f = Failure::new(
                FailureKind::Script,
                if msg.is_empty() {
                    "(nothing on stderr)"
                } else {
                    msg
                },
            );
            f.name = Some(format!("{rel} {status}"));
            Err(f)
        }
        ShOutcome::Timeout => Err(Failure::new(
            FailureKind::Timeout,
            format!(
                "{rel} ran longer than its timeout of {} ms",
                timeout.as_millis()
            ),
        )),
        ShOutcome::TooLarge => Err(Failure::new(
            FailureKind::Internal,
            format!(
                "{rel} wrote more than {} bytes to stdout",
                shell::MAX_STDOUT
            ),
        )),
        ShOutcome::Spawn(e) => Err(Failure::new(FailureKind::Internal, e)),
    };
    let lines = match &outcome {
        Err(f) if f.kind == FailureKind::Script => vec![js::LogLine {
            level: "stderr".to_string(),
            message: f.message.clone(),
        }],
        _ => Vec::new(),
    };
    (outcome, lines)
}

/// Headers a script may not set: hop-by-hop ones, and the length (the Kit computes it).
fn forbidden_header(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "transfer-encoding"
            | "upgrade"
            | "te"
            | "trailer"
            | "proxy-connection"
            | "content-length"
    )
}

fn output_response(out: Output, rel: &str) -> Result<Response, ApiError> {
    // 1xx are not final responses, and above 599 no client knows what to make of it.
    let status = StatusCode::from_u16(out.status)
        .ok()
        .filter(|_| (200..=599).contains(&out.status))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SCRIPT_ERROR",
                format!("{rel} answered with status {}; use 200 to 599", out.status),
            )
        })?;
    let mut r = Response::new(Body::from(out.body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    for (k, v) in out.headers {
        let bad = || {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SCRIPT_ERROR",
                format!("{rel} set an invalid header {k:?}"),
            )
        };
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(&v).map_err(|_| bad())?;
        if !forbidden_header(&name) {
            h.append(name, value);
        }
    }
    Ok(r)
}

fn failure_response(f: &Failure, rel: &str) -> Response {
    let mut details = json!({
        "script": rel,
        "message": f.message,
    });
    if let Some(n) = &f.name {
        details["name"] = json!(n);
    }
    if let Some(st) = &f.stack {
        details["stack"] = json!(st);
    }
    match f.kind {
        FailureKind::Script => {
            let mut text = match &f.name {
                Some(n) if !n.is_empty() => format!("{n}: {}", f.message),
                _ => f.message.clone(),
            };
            if let Some(st) = &f.stack {
                text.push('\n');
                text.push_str(st.trim_end());
            }
            let status = f
                .http_status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = match &f.code {
                Some(c)
                    if f.http_status.is_some()
                        && !c.is_empty()
                        && c.len() <= 64
                        && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    c.as_str()
                }
                _ => "SCRIPT_ERROR",
            };
            error_response(status, code, &text, details)
        }
        FailureKind::Timeout => {
            error_response(StatusCode::GATEWAY_TIMEOUT, "TIMEOUT", &f.message, details)
        }
        FailureKind::Memory => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "MEMORY_LIMIT",
            &format!("{rel} exceeded its memory limit: {}", f.message),
            details,
        ),
        FailureKind::Cancelled | FailureKind::Internal => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            &f.message,
            details,
        ),
    }
}

fn add_cors(h: &mut HeaderMap, cors: Option<Cors>, origin: Option<&HeaderValue>) {
    match cors {
        Some(Cors::Any) => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        Some(Cors::Reflective) => {
            if let Some(o) = origin {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o.clone());
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {}
    }
}

/// The request's console lines as ASCII JSON, at most [`MAX_LOGS_HEADER`] bytes.
fn logs_header(lines: &[js::LogLine]) -> String {
    let mut out = String::from("[");
    for l in lines {
        let item = json!({"level": l.level, "message": l.message}).to_string();
        let mut ascii = String::with_capacity(item.len());
        for c in item.chars() {
            if c.is_ascii() && !c.is_ascii_control() {
                ascii.push(c);
            } else {
                let mut buf = [0u16; 2];
                for u in c.encode_utf16(&mut buf) {
                    ascii.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
        if out.len() + ascii.len() + 2 > MAX_LOGS_HEADER {
            break;
        }
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&ascii);
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        let p = "0123456789abcdef01234567";
        let c = "76543210fedcba9876543210";
        let mut h = HeaderMap::new();
        h.insert(
            header::HOST,
            format!("{p}-{c}-exec-2.node-1.containers.hoody.test:443")
                .parse()
                .unwrap(),
        );
        let i = host_info(&h);
        assert_eq!(i.project.as_deref(), Some(p));
        assert_eq!(i.container.as_deref(), Some(c));
        assert_eq!(i.node.as_deref(), Some("node-1"));
        assert_eq!(i.sub, None);
        assert_eq!(
            i.domain,
            format!("{p}-{c}-exec-2.node-1.containers.hoody.test")
        );
        h.insert(
            header::HOST,
            format!("blog.{p}-{c}-exec.node-1.containers.hoody.test")
                .parse()
                .unwrap(),
        );
        assert_eq!(host_info(&h).sub.as_deref(), Some("blog"));
        h.insert(header::HOST, "127.0.0.1:7702".parse().unwrap());
        let i = host_info(&h);
        assert_eq!(
            (i.domain.as_str(), i.project, i.sub),
            ("127.0.0.1", None, None)
        );
    }

    #[test]
    fn queries() {
        let q = parse_query(Some("a=1&b=x+y%21&a=2&c"));
        assert_eq!(
            Value::Object(q),
            json!({"a": ["1", "2"], "b": "x y!", "c": ""})
        );
    }

    #[test]
    fn logs_header_is_ascii() {
        let h = logs_header(&[js::LogLine {
            level: "log".into(),
            message: "héllo\n".into(),
        }]);
        assert!(h.is_ascii());
        let v: Value = serde_json::from_str(&h).unwrap();
        assert_eq!(v[0]["message"], "héllo\n");
    }
}
