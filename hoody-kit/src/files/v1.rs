//! The v1 API: `/api/v1/files/{path}` and its operation prefixes (`stat/`, `realpath/`,
//! `grep/`, `glob/`, `append/`, `chmod/`, `chown/`, `copy/`, `move/`).

use std::path::Path;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::listing;
use super::meta::Names;
use super::paths::{self, Follow, Jail, Target};
use super::root::{apply_patch, file_answer, stat};
use super::search;
use super::write::{self, Attrs, Transfer, WriteMode};
use super::{Params, blocking, json_response, not_implemented};
use crate::{ApiError, ApiResult};

/// The operation prefixes, each followed by the path it acts on.
const OPS: [&str; 9] = [
    "stat", "realpath", "grep", "glob", "append", "chmod", "chown", "copy", "move",
];

/// Handles `/api/v1/files/{rest}` (`rest` still percent-encoded).
pub(super) async fn handle(root: &Path, req: Request, rest: &str) -> ApiResult<Response> {
    let (op, path) = match rest.split_once('/') {
        Some((op, path)) if OPS.contains(&op) => (Some(op), path),
        _ if OPS.contains(&rest) => (Some(rest), ""),
        _ => (None, rest),
    };
    let op = op.map(str::to_string);
    let (parts, body) = req.into_parts();
    let t = paths::resolve(root, path)?;
    let mut q = Params::parse(parts.uri.query());
    let root = root.to_path_buf();
    let jail = blocking(move || Jail::new(&root)).await?;
    let method = parts.method.as_str();
    let head = method == "HEAD";
    match (op.as_deref(), method) {
        (Some("stat"), "GET" | "HEAD") => {
            let v = blocking(move || stat(&jail, &t)).await?;
            Ok(json_response(StatusCode::OK, &v, head))
        }
        (Some("realpath"), "GET" | "HEAD") => {
            let v = blocking(move || realpath(&jail, &t)).await?;
            Ok(json_response(StatusCode::OK, &v, head))
        }
        (Some("grep"), "GET" | "HEAD") => {
            let pattern = required(&q, &["pattern", "grep", "q"], "pattern")?;
            let v = blocking(move || {
                jail.check(&t, Follow::Last)?;
                search::grep(&jail, &t, &t.abs, &pattern, &q)
            })
            .await?;
            Ok(json_response(StatusCode::OK, &v, head))
        }
        (Some("glob"), "GET" | "HEAD") => {
            let pattern = required(&q, &["pattern", "glob"], "pattern")?;
            let v = blocking(move || {
                jail.check(&t, Follow::Last)?;
                search::glob(&jail, &t, &t.abs, &pattern, &q)
            })
            .await?;
            Ok(json_response(StatusCode::OK, &v, head))
        }
        (Some("append"), "PUT" | "POST") => upload(jail, t, q, body, WriteMode::Append).await,
        (Some("chmod"), "PATCH" | "POST" | "PUT") => {
            merge_body(&mut q, body).await?;
            let mode = required(&q, &["mode", "chmod"], "mode")?;
            let p = Params(vec![("mode".into(), mode)]);
            patched(jail, t, p).await
        }
        (Some("chown"), "PATCH" | "POST" | "PUT") => {
            merge_body(&mut q, body).await?;
            if !q.has("owner") && !q.has("group") && !q.has("chown") {
                return Err(ApiError::validation("chown needs owner and/or group"));
            }
            let keep = ["owner", "group", "chown"];
            let p = Params(
                q.0.into_iter()
                    .filter(|(k, _)| keep.contains(&k.as_str()))
                    .collect(),
            );
            patched(jail, t, p).await
        }
        (Some(op @ ("copy" | "move")), "POST" | "PUT") => {
            merge_body(&mut q, body).await?;
            let keys: &[&str] = if op == "copy" {
                &["copy_to", "destination", "to"]
            } else {
                &["move_to", "destination", "to"]
            };
            let to = required(&q, keys, keys[0])?;
            let op = if op == "copy" {
                Transfer::Copy
            } else {
                Transfer::Move
            };
            transfer(jail, t, op, &to, q.flag("overwrite")).await
        }
        (None, "GET" | "HEAD") => get(jail, t, q, parts.headers, head).await,
        (None, "PUT") => {
            let mode = if q.flag("append") {
                WriteMode::Append
            } else {
                WriteMode::Replace
            };
            upload(jail, t, q, body, mode).await
        }
        (None, "POST") => {
            merge_body(&mut q, body).await?;
            operate(jail, t, q).await
        }
        (None, "PATCH") => {
            merge_body(&mut q, body).await?;
            patched(jail, t, q).await
        }
        (None, "DELETE") => {
            let recursive = q.flag("recursive");
            let rel = t.rel();
            blocking(move || write::delete(&jail, &t, recursive)).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"success": true, "path": rel, "deleted": true}),
                false,
            ))
        }
        (op, m) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!(
                "{m} is not supported on /api/v1/files/{}",
                op.map(|o| format!("{o}/")).unwrap_or_default()
            ),
        )),
    }
}

/// The first of `keys` present and not empty.
fn required(q: &Params, keys: &[&str], name: &str) -> ApiResult<String> {
    keys.iter()
        .find_map(|k| q.get(k).filter(|v| !v.is_empty()))
        .map(str::to_string)
        .ok_or_else(|| ApiError::validation(format!("{name} is required")))
}

async fn merge_body(q: &mut Params, body: Body) -> ApiResult<()> {
    let v = super::small_json(body).await?;
    if !v.is_null() {
        q.merge_json(&v)?;
    }
    Ok(())
}

async fn get(jail: Jail, t: Target, q: Params, h: HeaderMap, head: bool) -> ApiResult<Response> {
    super::refuse_unsupported(&q)?;
    if q.has("stat") {
        let v = blocking(move || stat(&jail, &t)).await?;
        return Ok(json_response(StatusCode::OK, &v, head));
    }
    if let Some(pattern) = q.get("grep").map(str::to_string) {
        let v = blocking(move || {
            jail.check(&t, Follow::Last)?;
            search::grep(&jail, &t, &t.abs, &pattern, &q)
        })
        .await?;
        return Ok(json_response(StatusCode::OK, &v, head));
    }
    blocking(move || {
        jail.check(&t, Follow::Last)?;
        let m = std::fs::metadata(&t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
        if m.is_dir() {
            if q.has("hash") || q.has("sha256") || q.has("base64") || q.has("lines") {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "IS_A_DIRECTORY",
                    format!("{} is a directory", t.rel()),
                ));
            }
            let mut items = listing::list(&jail, &t, &t.abs)?;
            listing::sort(&mut items, &q)?;
            let entries: Vec<Value> = items
                .iter()
                .map(|it| {
                    json!({
                        "name": it.name,
                        "path": t.child(&it.raw).rel(),
                        "path_type": it.path_type,
                        "size": it.size,
                        "mtime": it.mtime,
                    })
                })
                .collect();
            let v = json!({
                "path": t.rel(),
                "path_type": "Dir",
                "entries": entries,
                "total": entries.len(),
            });
            return Ok(json_response(StatusCode::OK, &v, head));
        }
        file_answer(&t, &h, &q, head)
    })
    .await
}

async fn upload(
    jail: Jail,
    t: Target,
    q: Params,
    body: Body,
    mode: WriteMode,
) -> ApiResult<Response> {
    // Resolve the owner before taking the body, so a bad name fails fast.
    let owner = match q.get("owner").filter(|o| !o.is_empty()) {
        Some(spec) => {
            let names = Names::load();
            let (o, g) = spec.split_once(':').unwrap_or((spec, ""));
            Some(Attrs {
                mode: None,
                uid: Some(names.uid_of(o)?),
                gid: if g.is_empty() {
                    None
                } else {
                    Some(names.gid_of(g)?)
                },
            })
        }
        None => None,
    };
    let w = write::write_body(&jail, &t, body, mode).await?;
    if let Some(a) = owner {
        let (jail, t) = (jail.clone(), t.clone());
        blocking(move || write::set_attrs(&jail, &t, &a)).await?;
    }
    let status = if w.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        &json!({"success": true, "path": t.rel(), "new_size": w.size, "created": w.created}),
        false,
    ))
}

async fn operate(jail: Jail, t: Target, q: Params) -> ApiResult<Response> {
    for k in ["extract", "download_from", "dest"] {
        if q.has(k) {
            return Err(not_implemented(&format!("POST {k}")));
        }
    }
    if q.flag("mkdir") {
        let rel = t.rel();
        let created = blocking(move || write::mkdir(&jail, &t, None)).await?;
        return Ok(json_response(
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            &json!({"success": true, "operation": "mkdir", "path": rel, "created": created}),
            false,
        ));
    }
    let overwrite = q.flag("overwrite");
    if let Some(to) = q.get("copy_to").filter(|s| !s.is_empty()) {
        return transfer(jail, t, Transfer::Copy, to, overwrite).await;
    }
    if let Some(to) = q.get("move_to").filter(|s| !s.is_empty()) {
        return transfer(jail, t, Transfer::Move, to, overwrite).await;
    }
    Err(ApiError::validation(
        "POST needs an operation: mkdir, copy_to or move_to",
    ))
}

async fn transfer(
    jail: Jail,
    src: Target,
    op: Transfer,
    to: &str,
    overwrite: bool,
) -> ApiResult<Response> {
    let dst = paths::resolve_plain(jail.root(), to)?;
    let (src_rel, dst_rel) = (src.rel(), dst.rel());
    let created =
        blocking(move || write::transfer(&jail, op, &src, &dst, overwrite, StatusCode::CONFLICT))
            .await?;
    let name = match op {
        Transfer::Copy => "copy",
        Transfer::Move => "move",
    };
    Ok(json_response(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        &json!({
            "success": true,
            "operation": name,
            "path": src_rel,
            "destination": dst_rel,
            "overwritten": !created,
        }),
        false,
    ))
}

async fn patched(jail: Jail, t: Target, p: Params) -> ApiResult<Response> {
    let mut v = blocking(move || apply_patch(&jail, &t, &p)).await?;
    v["success"] = json!(true);
    Ok(json_response(StatusCode::OK, &v, false))
}

fn realpath(jail: &Jail, t: &Target) -> ApiResult<Value> {
    jail.check(t, Follow::Last)?;
    let real = std::fs::canonicalize(&t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
    let shown = match jail.real_root() {
        None => real.to_string_lossy().into_owned(),
        Some(r) => {
            let rest = real.strip_prefix(r).map_err(|_| {
                paths::outside(format!("{} resolves outside the served root", t.rel()))
            })?;
            format!("/{}", rest.to_string_lossy())
        }
    };
    Ok(json!({"path": t.rel(), "realpath": shown}))
}
