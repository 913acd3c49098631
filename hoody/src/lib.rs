//! # hoody: the SDK facade
//!
//! What an embedder `cargo add`s. Today it re-exports the isolation engine
//! ([`hoody_core`], as [`core`]) and storage ([`hoody_fs`], as [`fs`]); the `Host` (pool + network + state store + machine
//! lifecycle) and the HTTP `Client` arrive with issues #5 and #6.
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
