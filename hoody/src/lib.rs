//! # hoody: the SDK facade
//!
//! What an embedder `cargo add`s: one crate that re-exports the others under short names, so
//! that `hoody::core`, `hoody::host::Host` or `hoody::client::Client` is all there is to
//! learn. It holds no code of its own; each concern lives in one crate
//! (docs/ARCHITECTURE.md draws them):
//!
//! | path | crate | what |
//! |---|---|---|
//! | [`sys`] | `hoody-sys` | the shared system interface (random bytes, file locks, time formatting) |
//! | [`core`] | `hoody-core` | the isolation engine: a spec becomes an isolated process tree |
//! | [`fs`] | `hoody-fs` | storage: pools, images, root file systems, snapshots, send/receive |
//! | [`net`] | `hoody-net` | networking: routed veths, IPAM, nftables, DNS |
//! | [`machine`] | `hoody-machine` | machines: Debian 13 booting systemd, kept by a monitor |
//! | [`host`], [`server`], [`store`] | `hoody-host` | the server in process ([`host::Host`]), hoodyd's REST API over it, its SQLite record |
//! | [`api`], [`client`], [`kit`], [`permissions`] | `hoody-api` | the API's types, the HTTP [`client::Client`] and Kit clients, the permission engine |
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

pub use hoody_api as api;
pub use hoody_api::{client, kit, permissions};
pub use hoody_core as core;
pub use hoody_fs as fs;
pub use hoody_host as host;
pub use hoody_host::{server, store};
pub use hoody_machine as machine;
pub use hoody_net as net;
pub use hoody_sys as sys;
