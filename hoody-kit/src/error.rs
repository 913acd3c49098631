//! The error body every Kit service answers with: `{error, code, timestamp, details?}`
//! (reference §3.5's shape, used by all of hoody's services), with an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A request that failed: its status, a stable machine-readable `code`
/// (`VALIDATION_ERROR`, `NOT_FOUND`, `INVALID_DB_PATH`, ...) and a message naming what was
/// wrong.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// Stable, upper-case code.
    pub code: &'static str,
    /// What went wrong, naming the resource.
    pub message: String,
    /// Extra structured detail.
    pub details: Option<Value>,
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }
    /// 400 `VALIDATION_ERROR`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }
    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }
    /// 409 `CONFLICT`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }
    /// 401 `UNAUTHORIZED`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }
    /// 500 `INTERNAL_ERROR`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", message)
    }
    /// An I/O error on `what` (a path, a session), mapped to 404 / 403 / 409 / 500 by kind.
    pub fn io(what: impl std::fmt::Display, e: &std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let (status, code) = match e.kind() {
            NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            PermissionDenied => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            AlreadyExists => (StatusCode::CONFLICT, "ALREADY_EXISTS"),
            IsADirectory => (StatusCode::BAD_REQUEST, "IS_A_DIRECTORY"),
            NotADirectory => (StatusCode::BAD_REQUEST, "NOT_A_DIRECTORY"),
            DirectoryNotEmpty => (StatusCode::CONFLICT, "DIRECTORY_NOT_EMPTY"),
            InvalidInput | InvalidFilename => (StatusCode::BAD_REQUEST, "VALIDATION_ERROR"),
            StorageFull | QuotaExceeded => (StatusCode::INSUFFICIENT_STORAGE, "NO_SPACE"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "IO_ERROR"),
        };
        Self::new(status, code, format!("{what}: {e}"))
    }
    /// With structured `details`.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "error": self.message,
            "code": self.code,
            "timestamp": crate::health::rfc3339(std::time::SystemTime::now()),
        });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        (self.status, Json(body)).into_response()
    }
}

/// JSON bodies that fail to parse become 400 `VALIDATION_ERROR` naming the problem, not
/// axum's plain-text rejection.
impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::validation(format!("invalid JSON body: {}", r.body_text()))
    }
}

/// Query strings that fail to parse become 400 `VALIDATION_ERROR`.
impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(r: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::validation(format!("invalid query: {}", r.body_text()))
    }
}
