//! The files service (reference §3.3): the container's file system over HTTP.
//!
//! Two surfaces over one root ([`Context::files_root`], `/` in a container):
//!
//! - The root surface, compatible with the dufs file server: `GET /{path}` downloads a file
//!   (single byte ranges, `ETag`/`Last-Modified` validators, `?hash`, `?base64`,
//!   `?download`) or lists a directory (an HTML page, `?json` in dufs's shape, `?simple`,
//!   `?q=` name search, `?sort`/`?order`); `PUT` uploads (`?touch`), `PATCH` appends
//!   (`X-Update-Range: append` or `bytes=N-`) or changes attributes (JSON `{mode, owner,
//!   group, name}`), `DELETE` deletes recursively, and the WebDAV verbs `MKCOL`, `COPY`,
//!   `MOVE` (`Destination`, `Overwrite`), `PROPFIND`, `PROPPATCH`, `LOCK`, `UNLOCK`,
//!   `OPTIONS` let WebDAV clients (rclone, davfs, Finder) mount it.
//! - The v1 API under `/api/v1/files/`: content (`?stat`, `?base64`, `?lines=10-20`,
//!   `?hash`), directory contents as JSON, `stat/`, `realpath/`, `grep/`, `glob/`,
//!   uploads returning `{success, path, new_size}`, `POST` operations (`mkdir`, `copy_to`,
//!   `move_to`, `overwrite`), `PATCH`, `chmod/`, `chown/`, `copy/`, `move/`, `append/`,
//!   `DELETE`; plus `/api/v1/files/health` and `/api/v1/version`.
//!
//! Design choices:
//!
//! - Paths are resolved by `files::paths` (decoded once, `..` resolved lexically and refused
//!   above the root, symlinks out of a non-`/` root refused): read its module doc for the
//!   exact rules; every handler goes through it, the `Destination` header and JSON
//!   destinations too.
//! - Everything large streams with bounded memory: downloads are read in 256 KiB chunks
//!   straight into the response, uploads go from the request body through a 1 MiB buffer
//!   to a temporary file renamed into place at the end (see `files::write`), hashes and base64
//!   read in fixed chunks, searches read line by line.
//! - File-system calls run on the blocking pool (the Kit's runtime has two workers).
//! - Errors are the Kit's JSON envelope with a stable code: `PATH_OUTSIDE_ROOT`,
//!   `INVALID_PATH`, `NOT_FOUND`, `IS_A_DIRECTORY`, `DESTINATION_EXISTS`,
//!   `INVALID_PATTERN`, `RANGE_NOT_SATISFIABLE`, `NOT_IMPLEMENTED`, ...
//! - Not built: rclone backends, mounts, archives, thumbnails, the journal, background
//!   downloads and remote access (`?type=`); their parameters answer 501
//!   `NOT_IMPLEMENTED` rather than being ignored.

mod download;
mod listing;
mod meta;
mod paths;
mod root;
mod search;
mod v1;
mod write;

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::{ApiError, ApiResult, Context};

/// The files service's routes.
pub fn router(ctx: Arc<Context>) -> Router {
    let files = Arc::new(Files {
        root: ctx.files_root().to_path_buf(),
    });
    Router::new()
        .route(
            "/api/v1/files/health",
            get(move |h: HeaderMap| async move {
                axum::Json(crate::health::body(&ctx, "hoody-files", &h))
            }),
        )
        .route("/api/v1/version", get(version))
        .fallback(move |req: Request| {
            let files = files.clone();
            async move { files.handle(req).await }
        })
}

async fn version() -> axum::Json<Value> {
    axum::Json(json!({
        "service": "hoody-files",
        "version": env!("CARGO_PKG_VERSION"),
        "api_version": "v1",
        "built": crate::BUILT,
    }))
}

/// The service's state: what it serves.
#[derive(Debug)]
struct Files {
    root: PathBuf,
}

impl Files {
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        let path = req.uri().path();
        let v1_rest = if path == "/api/v1/files" {
            Some(String::new())
        } else {
            path.strip_prefix("/api/v1/files/").map(str::to_string)
        };
        let r = match v1_rest {
            Some(rest) => v1::handle(&self.root, req, &rest).await,
            None => root::handle(&self.root, req).await,
        };
        r.unwrap_or_else(IntoResponse::into_response)
    }
}

/// Runs `f` (file-system work) on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("a file task failed: {e}")))?
}

/// A query string (or a JSON body's fields) as name/value pairs, in order.
#[derive(Debug, Default, Clone)]
struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b&c=x+y` (form encoding: `+` is a space).
    fn parse(query: Option<&str>) -> Params {
        let decode = |s: &str| {
            let s = s.replace('+', " ");
            percent_encoding::percent_decode_str(&s)
                .decode_utf8_lossy()
                .into_owned()
        };
        Params(
            query
                .unwrap_or("")
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(kv), String::new()),
                })
                .collect(),
        )
    }

    /// Adds the fields of a JSON object (strings as they are, other values as JSON text);
    /// they take precedence over the query's.
    fn merge_json(&mut self, body: &Value) -> ApiResult<()> {
        let Value::Object(map) = body else {
            return Err(ApiError::validation("the JSON body must be an object"));
        };
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            self.0.insert(0, (k.clone(), v));
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Present and not `false`, `0` or `no`.
    fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| !matches!(v, "false" | "0" | "no"))
    }

    /// A number, when present and not empty.
    fn num<T: FromStr>(&self, key: &str) -> ApiResult<Option<T>> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::validation(format!("{key} {v:?} is not a valid number"))),
        }
    }
}

/// A body with an explicit length; empty for `HEAD`.
fn sized(status: StatusCode, content_type: &'static str, body: Vec<u8>, head: bool) -> Response {
    let len = body.len();
    let mut res = if head {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    res
}

/// A JSON body.
fn json_response(status: StatusCode, v: &Value, head: bool) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    sized(status, "application/json", body, head)
}

/// A status without a body.
fn empty(status: StatusCode) -> Response {
    let mut res = Response::new(Body::empty());
    *res.status_mut() = status;
    res
}

/// 501 for a feature of Hoody's files service that hoody does not have.
fn not_implemented(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        format!("{what} is not available in hoody's files service"),
    )
}

/// Query parameters of Hoody's files service that hoody does not implement.
const UNSUPPORTED: [&str; 20] = [
    "zip",
    "thumbnail",
    "preview",
    "extract",
    "extract_file",
    "view_file",
    "edit",
    "downloads",
    "download_history",
    "extraction_history",
    "extractions",
    "type",
    "history",
    "at",
    "revision",
    "diff",
    "backend",
    "from_seq",
    "from_ts",
    "journal",
];

fn refuse_unsupported(q: &Params) -> ApiResult<()> {
    match UNSUPPORTED.iter().find(|k| q.has(k)) {
        Some(k) => Err(not_implemented(&format!("?{k}"))),
        None => Ok(()),
    }
}

/// Reads a small JSON body (at most 1 MiB); `Value::Null` when empty.
async fn small_json(body: Body) -> ApiResult<Value> {
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .map_err(|e| ApiError::validation(format!("could not read the request body: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))
}
