//! The dufs-compatible root surface: `/{path}` with GET, HEAD, PUT, PATCH, DELETE and the
//! WebDAV verbs.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

use super::download::{self, Lines};
use super::listing;
use super::meta::{Info, Names};
use super::paths::{self, Follow, Jail, Target};
use super::search;
use super::write::{self, Attrs, Transfer, WriteMode};
use super::{Params, blocking, empty, json_response, not_implemented, sized};
use crate::{ApiError, ApiResult};

/// The methods the root surface answers.
const ALLOW: &str = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK, CHECKAUTH, LOGOUT";

pub(super) async fn handle(root: &Path, req: Request) -> ApiResult<Response> {
    let (parts, body) = req.into_parts();
    let t = paths::resolve(root, parts.uri.path())?;
    let q = Params::parse(parts.uri.query());
    let root = root.to_path_buf();
    let jail = blocking(move || Jail::new(&root)).await?;
    let h = parts.headers;
    match parts.method.as_str() {
        "GET" => get(jail, t, q, h, false).await,
        "HEAD" => get(jail, t, q, h, true).await,
        "PUT" => put(jail, t, q, body).await,
        "PATCH" => patch(jail, t, h, body).await,
        "DELETE" => {
            blocking(move || write::delete(&jail, &t, true)).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        "MKCOL" => {
            blocking(move || {
                let exists = ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "ALREADY_EXISTS",
                    format!("{} already exists", t.rel()),
                );
                write::mkdir(&jail, &t, Some(exists))
            })
            .await?;
            Ok(empty(StatusCode::CREATED))
        }
        "COPY" => transfer(jail, t, &h, Transfer::Copy).await,
        "MOVE" => transfer(jail, t, &h, Transfer::Move).await,
        "OPTIONS" => {
            let mut res = empty(StatusCode::OK);
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
            res.headers_mut()
                .insert("dav", HeaderValue::from_static("1, 2"));
            Ok(res)
        }
        "PROPFIND" => propfind(jail, t, &h).await,
        "PROPPATCH" => {
            let body = format!(
                "<D:response>\n<D:href>{}</D:href>\n<D:propstat>\n<D:prop>\n</D:prop>\n\
                 <D:status>HTTP/1.1 403 Forbidden</D:status>\n</D:propstat>\n</D:response>\n",
                listing::escape(&listing::href(&t, false))
            );
            Ok(multistatus(listing::multistatus(&body)))
        }
        "LOCK" => lock(t),
        "UNLOCK" => Ok(empty(StatusCode::NO_CONTENT)),
        // Authentication happens in hoody-proxy before a request gets here.
        "CHECKAUTH" => Ok(sized(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            b"OK".to_vec(),
            false,
        )),
        "LOGOUT" => Err(ApiError::unauthorized(
            "logged out (authentication is hoody-proxy's)",
        )),
        other => {
            let mut res = axum::response::IntoResponse::into_response(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("{other} is not supported on {}", t.rel()),
            ));
            res.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
            Ok(res)
        }
    }
}

async fn get(jail: Jail, t: Target, q: Params, h: HeaderMap, head: bool) -> ApiResult<Response> {
    super::refuse_unsupported(&q)?;
    blocking(move || {
        jail.check(&t, Follow::Last)?;
        let m = std::fs::metadata(&t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
        if m.is_dir() {
            return directory(&jail, &t, &q, head);
        }
        file_answer(&t, &h, &q, head)
    })
    .await
}

/// A regular file's answer, shared by both surfaces: `?hash`/`?sha256`, `?base64`,
/// `?lines`, else the file itself (ranges and validators).
pub(super) fn file_answer(
    t: &Target,
    h: &HeaderMap,
    q: &Params,
    head: bool,
) -> ApiResult<Response> {
    if q.has("hash") || q.has("sha256") {
        let hex = download::sha256_hex(t, &t.abs)?;
        return Ok(sized(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            hex.into_bytes(),
            head,
        ));
    }
    if q.has("base64") {
        return Ok(streamed(
            "text/plain; charset=utf-8",
            download::base64_body(t, t.abs.clone())?,
            head,
        ));
    }
    if let Some(lines) = q.get("lines") {
        let lines = Lines::parse(lines)?;
        return Ok(streamed(
            "text/plain; charset=utf-8",
            download::lines_body(t, t.abs.clone(), lines)?,
            head,
        ));
    }
    let opened = download::open(t, &t.abs)?;
    download::respond(t, opened, h, q, head)
}

/// A streamed body of unknown length (empty for `HEAD`).
pub(super) fn streamed(content_type: &'static str, body: Body, head: bool) -> Response {
    let mut res = Response::new(if head { Body::empty() } else { body });
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

fn directory(jail: &Jail, t: &Target, q: &Params, head: bool) -> ApiResult<Response> {
    if q.has("download") {
        return Err(not_implemented(
            "?download on a directory (the download manager)",
        ));
    }
    if q.has("hash") || q.has("sha256") || q.has("base64") || q.has("lines") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "IS_A_DIRECTORY",
            format!("{} is a directory", t.rel()),
        ));
    }
    let mut items = match q.get("q") {
        Some(needle) if !needle.is_empty() => search::name_search(jail, &t.abs, needle),
        _ => listing::list(jail, t, &t.abs)?,
    };
    listing::sort(&mut items, q)?;
    if q.has("json") {
        let v = listing::index_json(t, &items);
        let body = serde_json::to_vec_pretty(&v).unwrap_or_default();
        return Ok(sized(StatusCode::OK, "application/json", body, head));
    }
    if q.has("simple") {
        return Ok(sized(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            listing::simple(&items).into_bytes(),
            head,
        ));
    }
    Ok(sized(
        StatusCode::OK,
        "text/html; charset=utf-8",
        listing::index_html(t, &items).into_bytes(),
        head,
    ))
}

async fn put(jail: Jail, t: Target, q: Params, body: Body) -> ApiResult<Response> {
    if q.has("touch") {
        let created = blocking(move || write::touch(&jail, &t)).await?;
        return Ok(empty(if created {
            StatusCode::CREATED
        } else {
            StatusCode::NO_CONTENT
        }));
    }
    super::refuse_unsupported(&q)?;
    write::write_body(&jail, &t, body, WriteMode::Replace).await?;
    Ok(empty(StatusCode::CREATED))
}

async fn patch(jail: Jail, t: Target, h: HeaderMap, body: Body) -> ApiResult<Response> {
    if let Some(v) = h.get("x-update-range") {
        let v = v.to_str().unwrap_or("").trim();
        let mode = if v.eq_ignore_ascii_case("append") {
            WriteMode::Append
        } else if let Some(off) = v
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.trim().parse::<u64>().ok())
        {
            WriteMode::At(off)
        } else {
            return Err(ApiError::validation(format!(
                "X-Update-Range {v:?} must be \"append\" or \"bytes=N-\""
            )));
        };
        write::write_body(&jail, &t, body, mode).await?;
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    let body = super::small_json(body).await?;
    if body.is_null() {
        return Err(ApiError::validation(
            "PATCH needs X-Update-Range (append, bytes=N-) or a JSON body {mode, owner, group, name}",
        ));
    }
    let mut p = Params::default();
    p.merge_json(&body)?;
    let v = blocking(move || apply_patch(&jail, &t, &p)).await?;
    Ok(json_response(StatusCode::OK, &v, false))
}

/// `{mode, owner, group, name, move_to, overwrite}` (also the v1 API's PATCH); the stat of
/// the result.
pub(super) fn apply_patch(jail: &Jail, t: &Target, p: &Params) -> ApiResult<Value> {
    let names = Names::load();
    let mut attrs = Attrs::default();
    if let Some(m) = p.get("mode").or(p.get("chmod")) {
        attrs.mode = Some(super::meta::parse_mode(&Value::String(m.to_string()))?);
    }
    let (mut owner, mut group) = (p.get("owner"), p.get("group"));
    if let Some(spec) = p.get("chown") {
        let (o, g) = spec.split_once(':').unwrap_or((spec, ""));
        owner = Some(o).filter(|s| !s.is_empty()).or(owner);
        group = Some(g).filter(|s| !s.is_empty()).or(group);
    }
    if let Some(o) = owner {
        attrs.uid = Some(names.uid_of(o)?);
    }
    if let Some(g) = group {
        attrs.gid = Some(names.gid_of(g)?);
    }
    let dest = match (p.get("name"), p.get("move_to")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::validation(
                "give either name or move_to, not both",
            ));
        }
        (Some(name), None) => Some(write::sibling(t, name)?),
        (None, Some(to)) => Some(paths::resolve_plain(jail.root(), to)?),
        (None, None) => None,
    };
    if dest.is_none() && attrs.mode.is_none() && attrs.uid.is_none() && attrs.gid.is_none() {
        return Err(ApiError::validation(
            "nothing to change: give mode, owner, group, name or move_to",
        ));
    }
    let mut at = t.clone();
    if let Some(dest) = dest {
        std::fs::symlink_metadata(&t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
        write::transfer(
            jail,
            Transfer::Move,
            t,
            &dest,
            p.flag("overwrite"),
            StatusCode::CONFLICT,
        )?;
        at = dest;
    }
    write::set_attrs(jail, &at, &attrs)?;
    stat(jail, &at)
}

/// The stat JSON of `t` (the link itself for a symlink, with its target's metadata when
/// that is inside).
pub(super) fn stat(jail: &Jail, t: &Target) -> ApiResult<Value> {
    jail.check(t, Follow::Parent)?;
    let info = Info::read(jail, &t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
    Ok(info.stat_json(t, &Names::load()))
}

async fn transfer(jail: Jail, src: Target, h: &HeaderMap, op: Transfer) -> ApiResult<Response> {
    let dest = h
        .get("destination")
        .ok_or_else(|| ApiError::validation("the Destination header is missing"))?
        .to_str()
        .map_err(|_| ApiError::validation("the Destination header is not ASCII"))?;
    let dst = paths::resolve_destination(jail.root(), dest)?;
    let overwrite = match h.get("overwrite").map(|v| v.to_str().unwrap_or("").trim()) {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("T") => true,
        Some(v) if v.eq_ignore_ascii_case("F") => false,
        Some(v) => {
            return Err(ApiError::validation(format!(
                "Overwrite {v:?} must be T or F"
            )));
        }
    };
    let created = blocking(move || {
        write::transfer(
            &jail,
            op,
            &src,
            &dst,
            overwrite,
            StatusCode::PRECONDITION_FAILED,
        )
    })
    .await?;
    Ok(empty(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    }))
}

async fn propfind(jail: Jail, t: Target, h: &HeaderMap) -> ApiResult<Response> {
    let depth = match h.get("depth").map(|v| v.to_str().unwrap_or("").trim()) {
        None => 1,
        Some("0") => 0,
        Some("1") | Some("infinity") => 1,
        Some(v) => {
            return Err(ApiError::validation(format!(
                "Depth {v:?} must be 0, 1 or infinity"
            )));
        }
    };
    let xml = blocking(move || {
        jail.check(&t, Follow::Last)?;
        let info = Info::read(&jail, &t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
        let mut out = listing::dav_response(&t, &info);
        if depth == 1 && info.path_type.is_dir() {
            let rd = std::fs::read_dir(&t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
            for entry in rd.flatten() {
                use std::os::unix::ffi::OsStrExt;
                let child = t.child(entry.file_name().as_bytes());
                if let Ok(info) = Info::read(&jail, &child.abs) {
                    out.push_str(&listing::dav_response(&child, &info));
                }
            }
        }
        Ok(listing::multistatus(&out))
    })
    .await?;
    Ok(multistatus(xml))
}

fn multistatus(xml: String) -> Response {
    sized(
        StatusCode::MULTI_STATUS,
        "application/xml; charset=utf-8",
        xml.into_bytes(),
        false,
    )
}

/// A lock that locks nothing (as dufs does): enough for clients that insist on locking.
fn lock(t: Target) -> ApiResult<Response> {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let token = format!(
        "opaquelocktoken:{nanos:x}-{:x}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:prop xmlns:D=\"DAV:\"><D:lockdiscovery><D:activelock>\n\
         <D:locktoken><D:href>{token}</D:href></D:locktoken>\n\
         <D:lockroot><D:href>{}</D:href></D:lockroot>\n\
         </D:activelock></D:lockdiscovery></D:prop>\n",
        listing::escape(&listing::href(&t, false))
    );
    let mut res = sized(
        StatusCode::OK,
        "application/xml; charset=utf-8",
        body.into_bytes(),
        false,
    );
    if let Ok(v) = HeaderValue::from_str(&format!("<{token}>")) {
        res.headers_mut().insert("lock-token", v);
    }
    Ok(res)
}
