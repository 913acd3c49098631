//! The management API under `/api/v1/exec/`: scripts (write, read, list, delete), exec ids,
//! magic comments, the console ring, route resolution and syntax checks. Every path names a
//! script relative to the instance's scripts directory; [`routing::script_path`] refuses
//! anything that could leave it, and writes/reads also check the resolved directory (a
//! symlink inside cannot lead out).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use serde::Deserialize;
use serde_json::{Value, json};

use super::js;
use super::magic::{self, Magic};
use super::routing::{self, Kind};
use super::{Exec, MAX_SCRIPT_BYTES, Shared};
use crate::{ApiError, ApiResult, Instance};

/// Entries listed at most by `scripts/list`.
const MAX_LISTED: usize = 10_000;
/// Directory depth walked at most by `scripts/list`.
const MAX_DEPTH: usize = 32;

async fn blocking<T: Send + 'static>(
    what: &str,
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("{what}: {e}")))?
}

fn rfc3339_of(meta: &std::fs::Metadata) -> String {
    meta.modified()
        .map(crate::health::rfc3339)
        .unwrap_or_default()
}

fn kind_name(rel: &str) -> &'static str {
    match rel.rsplit_once('.').map(|(_, e)| e) {
        Some("js") => "js",
        Some("sh") => "sh",
        Some("ts") => "ts",
        _ => "other",
    }
}

/// A script path inside `instance`'s directory, its parent checked to resolve inside it.
/// `create_root` makes the instance directory first.
fn locate(s: &Exec, instance: &Instance, path: &str) -> ApiResult<(PathBuf, PathBuf)> {
    let rel = routing::script_path(path)?;
    let root = s.instance_dir(instance);
    Ok((root.join(&rel), root))
}

/// Refuses `target` when its parent directory resolves outside `root` (a symlink out).
fn check_inside(root: &Path, target: &Path, path: &str) -> ApiResult<()> {
    let root = root
        .canonicalize()
        .map_err(|e| ApiError::io(format!("script {path}"), &e))?;
    let parent = target.parent().unwrap_or(target);
    let parent = parent
        .canonicalize()
        .map_err(|e| ApiError::io(format!("script {path}"), &e))?;
    if parent.starts_with(&root) {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "script path {path:?} leads outside the scripts directory"
        )))
    }
}

/// Creates `dir` (below `root`) one level at a time, refusing an existing component that
/// resolves outside `root` (a symlink out).
fn create_dirs_inside(root: &Path, dir: &Path, path: &str) -> ApiResult<()> {
    let canon_root = root
        .canonicalize()
        .map_err(|e| ApiError::io(root.display(), &e))?;
    let rel = dir.strip_prefix(root).map_err(|_| {
        ApiError::validation(format!(
            "script path {path:?} leads outside the scripts directory"
        ))
    })?;
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match std::fs::canonicalize(&at) {
            Ok(real) if real.starts_with(&canon_root) && real.is_dir() => {}
            Ok(real) if real.starts_with(&canon_root) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "NOT_A_DIRECTORY",
                    format!("a component of script path {path} is a file"),
                ));
            }
            Ok(_) => {
                return Err(ApiError::validation(format!(
                    "script path {path:?} leads outside the scripts directory"
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::create_dir(&at) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(ApiError::io(format!("the directory of script {path}"), &e));
                }
            },
            Err(e) => return Err(ApiError::io(format!("the directory of script {path}"), &e)),
        }
    }
    Ok(())
}

/// `GET /api/v1/exec/list`: the instances that have scripts, in the reference's shape.
pub(super) async fn list_exec_ids(State(s): Shared) -> ApiResult<Json<Value>> {
    let scripts = s.scripts.clone();
    blocking("listing exec ids", move || {
        let mut ids = Vec::new();
        let entries = match std::fs::read_dir(&scripts) {
            Ok(e) => Some(e),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(ApiError::io(scripts.display(), &e)),
        };
        for entry in entries.into_iter().flatten().flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if Instance::parse(&name).is_err() || !entry.path().is_dir() {
                continue;
            }
            let mut files = Vec::new();
            walk(&entry.path(), "", 0, &mut files);
            ids.push(json!({
                "id": format!("exec_{name}"),
                "instance": name,
                "type": "custom",
                "files": files.len(),
            }));
        }
        ids.sort_by(|a, b| a["instance"].as_str().cmp(&b["instance"].as_str()));
        let total = ids.len();
        Ok(Json(json!({
            "execIds": ids,
            "total": total,
            "summary": {"sdk": 0, "custom": total},
        })))
    })
    .await
}

/// Every file under `dir` (relative paths with metadata), depth-first, dot names skipped.
fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<(String, std::fs::Metadata)>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        if out.len() >= MAX_LISTED {
            return;
        }
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let Ok(meta) = std::fs::metadata(e.path()) else {
            continue;
        };
        let rel = format!("{prefix}{name}");
        if meta.is_dir() {
            walk(&e.path(), &format!("{rel}/"), depth + 1, out);
        } else if meta.is_file() {
            out.push((rel, meta));
        }
    }
}

/// `GET /api/v1/exec/scripts/list`: every file of the instance with its route.
pub(super) async fn list_scripts(State(s): Shared, instance: Instance) -> ApiResult<Json<Value>> {
    let root = s.instance_dir(&instance);
    blocking("listing scripts", move || {
        let mut files = Vec::new();
        walk(&root, "", 0, &mut files);
        let truncated = files.len() >= MAX_LISTED;
        let scripts: Vec<Value> = files
            .into_iter()
            .map(|(rel, meta)| {
                json!({
                    "path": rel,
                    "route": routing::route_of(&rel),
                    "type": kind_name(&rel),
                    "size": meta.len(),
                    "modified": rfc3339_of(&meta),
                })
            })
            .collect();
        Ok(Json(json!({
            "instance": instance.as_str(),
            "scriptsDir": root.display().to_string(),
            "total": scripts.len(),
            "truncated": truncated,
            "scripts": scripts,
        })))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct PathQuery {
    path: Option<String>,
}

fn required_path(q: Option<String>) -> ApiResult<String> {
    q.filter(|p| !p.is_empty())
        .ok_or_else(|| ApiError::validation("the `path` parameter is required"))
}

/// `GET /api/v1/exec/scripts/read?path=`.
pub(super) async fn read_script(
    State(s): Shared,
    instance: Instance,
    q: Result<Query<PathQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let path = required_path(q?.0.path)?;
    let (target, root) = locate(&s, &instance, &path)?;
    blocking("reading a script", move || {
        check_inside(&root, &target, &path)?;
        let meta =
            std::fs::metadata(&target).map_err(|e| ApiError::io(format!("script {path}"), &e))?;
        if meta.is_dir() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "IS_A_DIRECTORY",
                format!("script path {path} is a directory"),
            ));
        }
        if meta.len() > MAX_SCRIPT_BYTES as u64 {
            return Err(ApiError::validation(format!(
                "script {path} is {} bytes, more than the {MAX_SCRIPT_BYTES} this API returns",
                meta.len()
            )));
        }
        let bytes =
            std::fs::read(&target).map_err(|e| ApiError::io(format!("script {path}"), &e))?;
        let content = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Json(json!({
            "path": path,
            "resolvedPath": target.display().to_string(),
            "route": routing::route_of(&path),
            "type": kind_name(&path),
            "size": meta.len(),
            "modified": rfc3339_of(&meta),
            "content": content,
        })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WriteBody {
    path: String,
    content: String,
    #[serde(default, alias = "create_dirs")]
    create_dirs: bool,
    #[serde(default)]
    validate: bool,
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// `sh -n`: a shell script's syntax, without running it.
fn check_sh_syntax(content: &str, path: &str) -> ApiResult<()> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("/bin/sh")
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| ApiError::internal(format!("checking {path} with /bin/sh -n: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(content.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| ApiError::internal(format!("checking {path} with /bin/sh -n: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(
            ApiError::validation(format!("{path} has a shell syntax error: {err}"))
                .with_details(json!({"path": path, "message": err})),
        )
    }
}

/// The 400 for a script that does not compile, with the line when the stack names one
/// (an error at the end of input is reported on the file's last line).
fn syntax_error(path: &str, content: &str, f: &js::Failure) -> ApiError {
    let line = f
        .stack
        .as_deref()
        .and_then(|st| st.split(&format!("{path}:")).nth(1))
        .and_then(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()
                .and_then(|n| n.parse::<usize>().ok())
        })
        .map(|n| n.min(content.lines().count().max(1)));
    let name = f.name.as_deref().unwrap_or("Error");
    ApiError::validation(format!("{path} does not compile: {name}: {}", f.message)).with_details(
        json!({"path": path, "name": name, "message": f.message, "line": line, "stack": f.stack}),
    )
}

/// Compiles `content` for `path`'s kind; `Ok(false)` when there is nothing to check with.
fn validate(path: &str, content: &str) -> ApiResult<bool> {
    match path
        .rsplit_once('.')
        .and_then(|(_, e)| Kind::of_extension(e))
    {
        Some(Kind::Js) => match js::check_syntax(content, path) {
            Ok(()) => Ok(true),
            Err(f) if f.kind == js::FailureKind::Script => Err(syntax_error(path, content, &f)),
            Err(f) => Err(ApiError::internal(format!(
                "checking {path}: {}",
                f.message
            ))),
        },
        Some(Kind::Sh) => check_sh_syntax(content, path).map(|()| true),
        None => Ok(false),
    }
}

/// `POST /api/v1/exec/scripts/write {path, content, createDirs?, validate?}`.
pub(super) async fn write_script(
    State(s): Shared,
    instance: Instance,
    body: Result<Json<WriteBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let Json(b) = body?;
    let (target, root) = locate(&s, &instance, &b.path)?;
    if b.content.len() > MAX_SCRIPT_BYTES {
        return Err(ApiError::validation(format!(
            "script {} is {} bytes, more than the {MAX_SCRIPT_BYTES} allowed",
            b.path,
            b.content.len()
        )));
    }
    blocking("writing a script", move || {
        let path = b.path;
        let validated = if b.validate {
            validate(&path, &b.content)?
        } else {
            false
        };
        std::fs::create_dir_all(&root).map_err(|e| ApiError::io(root.display(), &e))?;
        let parent = target.parent().unwrap_or(&root).to_path_buf();
        if !parent.is_dir() {
            if b.create_dirs {
                create_dirs_inside(&root, &parent, &path)?;
            } else {
                return Err(ApiError::not_found(format!(
                    "the directory of script {path} does not exist (pass createDirs: true)"
                )));
            }
        }
        check_inside(&root, &target, &path)?;
        let existed = match std::fs::symlink_metadata(&target) {
            Ok(m) if m.is_dir() => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "IS_A_DIRECTORY",
                    format!("script path {path} is a directory"),
                ));
            }
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(ApiError::io(format!("script {path}"), &e)),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = parent.join(format!(
            ".{name}.tmp-{}-{}",
            std::process::id(),
            TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::write(&tmp, b.content.as_bytes())
            .and_then(|()| std::fs::rename(&tmp, &target));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(ApiError::io(format!("script {path}"), &e));
        }
        let meta =
            std::fs::metadata(&target).map_err(|e| ApiError::io(format!("script {path}"), &e))?;
        let mut out = json!({
            "path": path,
            "resolvedPath": target.display().to_string(),
            "instance": instance.as_str(),
            "route": routing::route_of(&path),
            "created": !existed,
            "updated": existed,
            "size": meta.len(),
            "modified": rfc3339_of(&meta),
            "validated": validated,
        });
        if path.ends_with(".ts") {
            out["warning"] = json!(
                "TypeScript is not run by hoody's exec (QuickJS runs .js): this file is stored \
                 but has no route; write it as .js"
            );
        }
        Ok(Json(out))
    })
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct PathBody {
    path: String,
}

/// `DELETE /api/v1/exec/scripts/delete?path=` (or `{path}` in the body).
pub(super) async fn delete_script(
    State(s): Shared,
    instance: Instance,
    q: Result<Query<PathQuery>, QueryRejection>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let path = match q?.0.path.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None if !body.is_empty() => {
            serde_json::from_slice::<PathBody>(&body)
                .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))?
                .path
        }
        None => return Err(ApiError::validation("the `path` parameter is required")),
    };
    let (target, root) = locate(&s, &instance, &path)?;
    blocking("deleting a script", move || {
        check_inside(&root, &target, &path)?;
        let meta = std::fs::symlink_metadata(&target)
            .map_err(|e| ApiError::io(format!("script {path}"), &e))?;
        if meta.is_dir() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "IS_A_DIRECTORY",
                format!("script path {path} is a directory; delete the scripts in it"),
            ));
        }
        std::fs::remove_file(&target).map_err(|e| ApiError::io(format!("script {path}"), &e))?;
        Ok(Json(json!({
            "path": path,
            "resolvedPath": target.display().to_string(),
            "deleted": true,
        })))
    })
    .await
}

/// `GET /api/v1/exec/magic-comments/read?path=`: the directives, secrets redacted.
pub(super) async fn read_magic(
    State(s): Shared,
    instance: Instance,
    q: Result<Query<PathQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let path = required_path(q?.0.path)?;
    let (target, root) = locate(&s, &instance, &path)?;
    blocking("reading magic comments", move || {
        check_inside(&root, &target, &path)?;
        let text = std::fs::read_to_string(&target)
            .map_err(|e| ApiError::io(format!("script {path}"), &e))?;
        let kind = if path.ends_with(".sh") {
            Kind::Sh
        } else {
            Kind::Js
        };
        let m = Magic::parse(&text, kind);
        Ok(Json(json!({
            "path": path,
            "comments": m.redacted(),
            "problems": m.problems,
        })))
    })
    .await
}

/// `GET /api/v1/exec/magic-comments/schema`: the directives hoody understands.
pub(super) async fn magic_schema() -> Json<Value> {
    Json(json!({
        "comments": {
            "token": {"type": "string", "effect": "requests must present it: Authorization Bearer, Basic password, X-Token or ?token= (only the highest-priority source present is checked)"},
            "timeout": {"type": "integer", "unit": "ms", "default": super::DEFAULT_TIMEOUT_MS, "max": magic::MAX_TIMEOUT_MS},
            "cors": {"type": "string", "enum": ["*", "reflective"]},
            "memory": {"type": "integer", "unit": "MiB", "default": super::DEFAULT_MEMORY_MIB, "max": magic::MAX_MEMORY_MIB, "effect": "JavaScript only"},
            "mode": {"type": "string", "enum": ["serverless", "worker"], "effect": "recorded only: every request runs in a fresh runtime"},
            "concurrent": {"type": "integer", "effect": "recorded only"},
            "schedule": {"type": "string", "effect": "recorded only"},
        },
        "syntax": "`// @name value` lines (`# @name value` in .sh) at the top of the file",
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct LogsQuery {
    limit: Option<usize>,
    script: Option<String>,
    level: Option<String>,
}

/// `GET /api/v1/exec/logs/list?limit=&script=&level=`: the instance's console ring.
pub(super) async fn list_logs(
    State(s): Shared,
    instance: Instance,
    q: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = q?.0;
    let limit = q.limit.unwrap_or(100).min(super::logs::CAPACITY);
    let (logs, total) = s.logs.list(
        instance.as_str(),
        limit,
        q.script.as_deref(),
        q.level.as_deref(),
    );
    Ok(Json(json!({
        "instance": instance.as_str(),
        "total": total,
        "logs": logs,
    })))
}

/// `DELETE /api/v1/exec/logs/clear`.
pub(super) async fn clear_logs(State(s): Shared, instance: Instance) -> Json<Value> {
    Json(json!({"instance": instance.as_str(), "cleared": s.logs.clear(instance.as_str())}))
}

async fn resolve(s: Arc<Exec>, instance: Instance, url_path: String) -> ApiResult<Json<Value>> {
    let root = s.instance_dir(&instance);
    blocking("resolving a route", move || {
        let path = if url_path.starts_with('/') {
            url_path
        } else {
            format!("/{url_path}")
        };
        let found = routing::resolve(&root, &path).map_err(|e| ApiError::io(root.display(), &e))?;
        Ok(Json(match found {
            Some(r) => json!({
                "path": path,
                "matched": true,
                "script": r.rel,
                "route": routing::route_of(&r.rel),
                "type": r.kind.as_str(),
                "parameters": r.params,
            }),
            None => json!({"path": path, "matched": false}),
        }))
    })
    .await
}

/// `GET /api/v1/exec/route/resolve?path=/users/42`: which script answers a path.
pub(super) async fn resolve_route(
    State(s): Shared,
    instance: Instance,
    q: Result<Query<PathQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let path = required_path(q?.0.path)?;
    resolve(s, instance, path).await
}

/// `POST /api/v1/exec/route/resolve {path}`.
pub(super) async fn resolve_route_post(
    State(s): Shared,
    instance: Instance,
    body: Result<Json<PathBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    resolve(s, instance, body?.0.path).await
}

#[derive(Debug, Deserialize)]
pub(super) struct SyntaxBody {
    content: String,
    path: Option<String>,
}

/// `POST /api/v1/exec/validate/syntax {content, path?}` → `{valid, error?}`.
pub(super) async fn validate_syntax(
    body: Result<Json<SyntaxBody>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let b = body?.0;
    let path = b.path.unwrap_or_else(|| "script.js".to_string());
    blocking("checking syntax", move || {
        Ok(Json(match validate(&path, &b.content) {
            Ok(checked) => json!({"path": path, "valid": true, "checked": checked}),
            Err(e) if e.status == StatusCode::BAD_REQUEST => json!({
                "path": path, "valid": false, "error": e.message, "details": e.details,
            }),
            Err(e) => return Err(e),
        }))
    })
    .await
}

/// Any other path under `/api/v1/exec/`.
pub(super) async fn unknown(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no exec management endpoint {} (scripts cannot be served under /api/v1/exec/)",
        uri.path()
    ))
}

/// A management path called with the wrong method.
pub(super) async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        format!("{} does not take this method", uri.path()),
    )
}
