//! The crate's error type: every variant names the resource (interface, namespace, address,
//! file, table) it concerns.

use std::net::Ipv4Addr;
use std::path::PathBuf;

/// A networking failure.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A pool or address string is not a valid IPv4 CIDR.
    #[error("invalid CIDR {0:?}: expected an IPv4 network such as 10.77.0.0/16 (prefix 8..=30)")]
    InvalidCidr(String),
    /// A configuration value is unusable.
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    /// Every address of the pool is allocated.
    #[error("address pool {pool} is exhausted ({size} addresses, all allocated)")]
    PoolExhausted {
        /// The pool, as CIDR.
        pool: String,
        /// Number of allocatable addresses.
        size: u32,
    },
    /// The container already has a network.
    #[error("container {id} already has a network (address {ip}, interface {ifname})")]
    AlreadyAttached {
        /// Container id.
        id: String,
        /// Its address.
        ip: Ipv4Addr,
        /// Its host-side interface.
        ifname: String,
    },
    /// The container has no network.
    #[error("container {0} has no network")]
    NotAttached(String),
    /// The container id cannot be used.
    #[error("invalid container id {0:?}: use 1-64 characters from [A-Za-z0-9_.-]")]
    InvalidId(String),
    /// A netlink request failed.
    #[error("netlink: {what}: {source}")]
    Netlink {
        /// What was being done, naming the interface or address.
        what: String,
        /// The netlink error.
        #[source]
        source: rtnetlink::Error,
    },
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done, naming the namespace or path.
        what: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },
    /// A file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The IPAM state file is corrupt.
    #[error("IPAM state {path} is corrupt: {reason}")]
    CorruptState {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// `nft` failed.
    #[error("nftables table {table}: {what} failed: {stderr}")]
    Nft {
        /// The table.
        table: String,
        /// What was being done.
        what: &'static str,
        /// nft's error output.
        stderr: String,
    },
    /// The netlink runtime could not be started.
    #[error("start the netlink runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl NetError {
    pub(crate) fn netlink(what: impl Into<String>, source: rtnetlink::Error) -> Self {
        NetError::Netlink {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        NetError::Sys {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NetError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = NetError> = std::result::Result<T, E>;
