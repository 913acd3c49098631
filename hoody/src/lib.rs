//! # hoody: the SDK facade
//!
//! What an embedder `cargo add`s. It re-exports the isolation engine ([`hoody_core`], as
//! [`core`]), storage ([`hoody_fs`], as [`fs`]) and networking ([`hoody_net`], as [`net`]),
//! composes them into [`machine`]s (Debian 13 containers booting systemd, unprivileged, kept
//! by a monitor process that outlives their manager), and runs a server of them:
//!
//! * [`host::Host`]: the server in process: a pool, its machines and a SQLite record of
//!   projects and containers, with journalled, crash-safe create/copy/restore/delete;
//! * [`server`]: hoodyd's REST API over a `Host` (reference §1's paths, fields and envelope);
//! * [`client::Client`]: the same operations over HTTP, with the same [`api`] types.
//!
//! An embedder picks `Host` (no daemon) or `Client` (talk to hoodyd) and keeps its code.
//!
//! ```no_run
//! let spec = hoody::core::ContainerSpec::builder("/var/lib/hoody/containers/demo")
//!     .args(["/bin/true"])
//!     .build()?;
//! let status = hoody::core::foreground::run(&spec)?;
//! assert!(status.success());
//! # Ok::<(), hoody::core::Error>(())
//! ```

pub use hoody_core as core;
pub use hoody_fs as fs;
pub use hoody_net as net;

pub mod api;
pub mod client;
pub mod host;
pub mod kit;
pub mod machine;
pub mod permissions;
pub mod server;
pub mod store;
