//! API errors: one type for the server (which renders it) and the client (which parses it).

use serde::{Deserialize, Serialize};

/// One problem found in a request body (422 responses carry a list of these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationIssue {
    /// JSON pointer to the offending field, e.g. `/name`.
    pub instance_path: String,
    /// What is wrong with it.
    pub message: String,
}

/// An error as the API reports it: `{statusCode, error, message, data?}`.
///
/// `error` is a stable, documented code (`CONTAINER_NOT_FOUND`, `INVALID_ID_FORMAT`, ...)
/// for programs; `message` names the resource and the problem for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} ({code}, HTTP {status})")]
pub struct ApiError {
    /// The HTTP status.
    #[serde(rename = "statusCode")]
    pub status: u16,
    /// The stable code.
    #[serde(rename = "error")]
    pub code: String,
    /// What went wrong, for people.
    pub message: String,
    /// Per-field problems (validation errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ValidationIssue>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_string(),
            message: message.into(),
            data: Vec::new(),
        }
    }

    /// 422: a field is invalid.
    pub fn validation(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError {
            status: 422,
            code: "Validation Error".into(),
            message: format!("{field}: {message}"),
            data: vec![ValidationIssue {
                instance_path: format!("/{field}"),
                message,
            }],
        }
    }

    /// 404 for a missing resource of kind `what` (code `<WHAT>_NOT_FOUND`).
    pub fn not_found(what: &str, id: &str) -> Self {
        ApiError::new(
            404,
            &format!("{}_NOT_FOUND", what.to_ascii_uppercase()),
            format!("{what} {id} not found"),
        )
    }

    /// 409: the operation is not allowed in the resource's current state.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        ApiError::new(409, code, message)
    }

    /// 500: something failed on the server; the message names what.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(500, "INTERNAL_ERROR", message)
    }

    /// 500 for `e`, with its whole chain of sources in the message (`open state database
    /// /x: unable to open database file: ...`), so that nothing the server knew about the
    /// cause is lost at the HTTP edge.
    pub fn internal_chain(e: &(dyn std::error::Error + 'static)) -> Self {
        ApiError::internal(chain(e))
    }
}

/// `e` and each of its sources, joined with ": " (a source whose text its parent already
/// ends with is not repeated).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}
