//! # hoody-api: hoodyd's control API as a library
//!
//! The control API's shared vocabulary: the request and response types of hoodyd's REST API
//! (shaped like Hoody's documented control plane, reference §1), its envelope and its errors;
//! the [`permissions`] engine that decides who may reach a container's URLs; and the blocking
//! [`client::Client`] (with the Kit's [`kit`] clients) that speaks that API over HTTP.
//!
//! `hoody_host::Host` takes and returns these types in process; [`client::Client`] sends and
//! receives the very same types over HTTP, and hoodyd's server (`hoody_host::server`) is the
//! thin layer between the two. So an embedder can switch between driving the server in process
//! and over the network without changing a type.
//!
//! This crate links none of the host side (no namespaces, btrfs, netlink or SQLite): hoody-proxy
//! and the CLI's remote verbs depend on it alone.
//!
//! Conventions (reference §1.3):
//! * every response is an envelope `{statusCode, message, data}` ([`Envelope`]);
//! * errors are `{statusCode, error, message, data?}` where `error` is a stable code such as
//!   `CONTAINER_NOT_FOUND` ([`ApiError`]);
//! * ids are 24 lowercase hex digits ([`id`]);
//! * lists are `{<resource>: [...], pagination: {total, page, limit, totalPages}}`.

pub mod client;
pub mod error;
pub mod hooks;
pub mod id;
pub mod kit;
pub mod network;
pub mod permissions;
pub mod server_runtime;
pub mod tokens;
pub mod types;
pub mod url;

pub use error::{ApiError, ValidationIssue};
pub use network::*;
pub use server_runtime::*;
pub use tokens::{
    CopyToken, CreateToken, CreatedToken, CurrentToken, Expiry, IpList, Permissions, PublicProfile,
    Token, TokenRealm, TokenRestrictions, TokenTemplate, UpdatePublicProfile, UpdateToken,
};
pub use types::*;

/// Header hoody-proxy sets on requests it forwards from the network to hoodyd's unix socket
/// (and strips from what clients send). Such requests need a token like on TCP: the socket's
/// root-only permission vouches for the proxy, not for whoever is behind it.
pub const PROXIED_HEADER: &str = "x-hoody-proxied";

/// Where hoody-proxy writes access logs (and hoodyd reads them) unless told otherwise.
pub const DEFAULT_PROXY_LOG_DIR: &str = "/var/log/hoody/proxy";

/// Where hoody-proxy's resolver for the pool listens by default (hoody-proxy `--dns`, read by
/// hoodyd too): the gateway every container routes through (hoody-net's `GATEWAY`), on a
/// port away from the host's own DNS; hoody-net redirects the containers' port 53 there.
pub const DEFAULT_PROXY_DNS: &str = "169.254.1.1:10053";
