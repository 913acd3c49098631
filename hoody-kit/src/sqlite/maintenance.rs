//! `POST /api/v1/sqlite/maintenance?db=…&timeout=…` `{op, dest_path?}`:
//!
//! - `quick_check`: `PRAGMA quick_check` on a reader → `{ok, messages}`.
//! - `wal_checkpoint_truncate`: `PRAGMA wal_checkpoint(TRUNCATE)` on the writer →
//!   `{busy, log_frames, checkpointed_frames}` (`busy` when a reader kept it from finishing).
//! - `vacuum_into`: `VACUUM INTO dest_path` (a bare name or an absolute path, like `db`;
//!   it must not exist) — a compact, consistent copy taken while the database stays in use.
//!
//! `timeout` (seconds, 1 to 300, default 60) bounds the operation.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::pool::blocking;
use super::{Svc, body_bytes, json_body};
use crate::{ApiError, ApiResult};

/// Query string of the maintenance endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MaintenanceParams {
    db: Option<String>,
    timeout: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceRequest {
    op: String,
    #[serde(default)]
    dest_path: Option<String>,
}

/// `POST /api/v1/sqlite/maintenance`.
pub(super) async fn maintenance(
    State(svc): Svc,
    q: Result<Query<MaintenanceParams>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q?;
    let t = svc.target(q.db.as_deref())?;
    let req: MaintenanceRequest = json_body(&body_bytes(body)?, "POST /api/v1/sqlite/maintenance")?;
    let limit = Duration::from_secs(q.timeout.unwrap_or(60).clamp(1, 300));
    let dest = match (req.op.as_str(), req.dest_path.as_deref()) {
        ("vacuum_into", None) => {
            return Err(ApiError::validation("vacuum_into needs dest_path"));
        }
        ("vacuum_into", Some(d)) => Some(svc.target(Some(d))?),
        ("quick_check" | "wal_checkpoint_truncate", None) => None,
        ("quick_check" | "wal_checkpoint_truncate", Some(_)) => {
            return Err(ApiError::validation(format!(
                "{}: dest_path is only for vacuum_into",
                req.op
            )));
        }
        (other, _) => {
            return Err(ApiError::validation(format!(
                "unknown op {other:?}: expected quick_check, wal_checkpoint_truncate or \
                 vacuum_into"
            )));
        }
    };
    let op = req.op;
    let out = blocking(move || {
        let db = svc.pool.get(&t, false)?;
        match (op.as_str(), dest) {
            ("quick_check", _) => {
                let r = db.reader()?;
                let _d = r.deadline(limit);
                let mut s = r
                    .conn()
                    .prepare("PRAGMA quick_check")
                    .map_err(|e| r.error(&db.path, e))?;
                let messages = s
                    .query_map([], |row| row.get::<_, String>(0))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(|e| r.error(&db.path, e))?;
                let ok = messages == ["ok"];
                Ok(json!({ "success": true, "op": op, "ok": ok, "messages": messages }))
            }
            ("wal_checkpoint_truncate", _) => {
                let w = db.writer();
                let _d = w.deadline(limit);
                let (busy, log, done): (i64, i64, i64) = w
                    .conn()
                    .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(|e| w.error(&db.path, e))?;
                Ok(json!({
                    "success": true,
                    "op": op,
                    "busy": busy != 0,
                    "log_frames": log,
                    "checkpointed_frames": done,
                }))
            }
            (_, Some(dest)) => {
                if svc.pool.exists(&dest)? {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "ALREADY_EXISTS",
                        format!("dest_path {} already exists", dest.path.display()),
                    ));
                }
                if dest.bare {
                    let dir = svc.ctx.databases();
                    std::fs::create_dir_all(dir).map_err(|e| ApiError::io(dir.display(), &e))?;
                }
                let w = db.writer();
                let _d = w.deadline(limit);
                let to = dest.path.display().to_string();
                w.conn()
                    .execute("VACUUM INTO ?1", [&to])
                    .map_err(|e| w.error(&db.path, e))?;
                Ok(json!({ "success": true, "op": op, "dest_path": to }))
            }
            _ => Err(ApiError::internal("maintenance op checked above")),
        }
    })
    .await?;
    Ok(Json(out))
}
