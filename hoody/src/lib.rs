//! # hoody: the SDK facade
//!
//! What an embedder `cargo add`s. It re-exports the isolation engine ([`hoody_core`], as
//! [`core`]), storage ([`hoody_fs`], as [`fs`]) and networking ([`hoody_net`], as [`net`]), and composes them into [`machine`]s:
//! Debian 13 containers booting systemd, unprivileged, kept by a monitor process that outlives
//! their manager. The `Host` (state store, network, API) and the HTTP `Client` arrive with
//! issue #6.
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
pub mod machine;
pub mod server;
pub mod store;
