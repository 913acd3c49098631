//! The web terminal at `/`: an HTML page running xterm.js (vendored under
//! `hoody-kit/assets/terminal/`, built into the binary: no CDN) that speaks ttyd's protocol
//! to `/api/v1/terminal/ws`, fits itself to the window and sends resizes. Query parameters:
//! `terminal_id`, `fontSize`, `readonly`, `title`, `shell`, `cwd`, `cmd`. The page exposes
//! its xterm.js `Terminal` as `window.term` (and `window.termConnected`) for automation.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};

use super::session::Terminals;
use super::{Params, forced_id, params, query_id};
use crate::{ApiError, ApiResult, Instance};

const PAGE: &str = include_str!("../../assets/terminal/index.html");
const XTERM_JS: &[u8] = include_bytes!("../../assets/terminal/xterm.js");
const XTERM_CSS: &[u8] = include_bytes!("../../assets/terminal/xterm.css");
const FIT_JS: &[u8] = include_bytes!("../../assets/terminal/addon-fit.js");

/// `GET /`: the page, with the terminal id this request resolves to filled in.
pub(super) async fn page(
    State(_t): State<Arc<Terminals>>,
    headers: HeaderMap,
    inst: Instance,
    q: Params,
) -> ApiResult<Response> {
    let q: HashMap<String, String> = params(q)?;
    let id = forced_id(&headers, &inst).or(query_id(&q)?).unwrap_or(1);
    let html = PAGE.replace("__TERMINAL_ID__", &id.to_string());
    Ok(([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response())
}

/// `GET /assets/{name}`: xterm.js, its stylesheet and the fit addon.
pub(super) async fn asset(Path(name): Path<String>) -> ApiResult<Response> {
    let (body, mime) = match name.as_str() {
        "xterm.js" => (XTERM_JS, "text/javascript; charset=utf-8"),
        "addon-fit.js" => (FIT_JS, "text/javascript; charset=utf-8"),
        "xterm.css" => (XTERM_CSS, "text/css; charset=utf-8"),
        _ => return Err(ApiError::not_found(format!("asset {name} not found"))),
    };
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
    )
        .into_response())
}
