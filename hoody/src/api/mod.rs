//! The control API's shared vocabulary: the request and response types of hoodyd's REST API
//! (shaped like Hoody's documented control plane, reference §1), its envelope and its errors.
//!
//! [`crate::host::Host`] takes and returns these types in process; [`crate::client::Client`]
//! sends and receives the very same types over HTTP, and hoodyd's [`crate::server`] is the thin
//! layer between the two. So an embedder can switch between driving the server in process and
//! over the network without changing a type.
//!
//! Conventions (reference §1.3):
//! * every response is an envelope `{statusCode, message, data}` ([`Envelope`]);
//! * errors are `{statusCode, error, message, data?}` where `error` is a stable code such as
//!   `CONTAINER_NOT_FOUND` ([`ApiError`]);
//! * ids are 24 lowercase hex digits ([`id`]);
//! * lists are `{<resource>: [...], pagination: {total, page, limit, totalPages}}`.

pub mod error;
pub mod id;
pub mod types;

pub use error::{ApiError, ValidationIssue};
pub use types::*;
