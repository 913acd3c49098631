//! # hoody-kit
//!
//! The Kit: the services inside every hoody container that make it "a computer as URLs"
//! (reference §3). One process, `hoody-kit`, serves every service on its own port inside
//! the container (the table is [`ports`], which hoody-proxy reads too); hoody-proxy routes
//! `{project}-{container}-{service}-{N}.{server}.containers.{domain}` to
//! `container-ip:port` and passes `N` in the [`ports::INSTANCE_HEADER`] header.
//!
//! Built so far: [`terminal`], [`files`], [`exec`] and [`sqlite`].
//!
//! ## Layout inside a container
//!
//! hoody bind-mounts the host's `hoody-kit` binary read-only on the machine's `/run` (a tmpfs
//! of hoody's, so nothing in the user's file system is touched) and adds a runtime systemd
//! unit, `/run/systemd/system/hoody-kit.service`, pulled in by `multi-user.target`. State
//! lives under `/hoody/storage/<service>/` (the container's own, persistent, file system).
//!
//! ## Features
//!
//! - `server` (default): the services. Without it the crate is only the [`ports`] table.

pub mod ports;

#[cfg(feature = "server")]
mod context;
#[cfg(feature = "server")]
mod error;
#[cfg(feature = "server")]
pub mod health;
#[cfg(feature = "server")]
mod instance;
#[cfg(feature = "server")]
mod serve;

#[cfg(feature = "server")]
pub mod exec;
#[cfg(feature = "server")]
pub mod files;
#[cfg(feature = "server")]
pub mod sqlite;
#[cfg(feature = "server")]
pub mod terminal;

#[cfg(feature = "server")]
pub use context::{Context, ContextBuilder};
#[cfg(feature = "server")]
pub use error::{ApiError, ApiResult};
#[cfg(feature = "server")]
pub use instance::Instance;
#[cfg(feature = "server")]
pub use serve::{BUILT, Bound, SERVICES, bind, router, serve, serve_on};
