//! A server live (`GET /api/v1/servers/{id}/runtime`).

use serde::{Deserialize, Serialize};

/// `GET /api/v1/servers/{id}/runtime` (and `/api/v1/rentals/{id}/runtime`): the server live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerRuntime {
    /// The server.
    pub server_id: String,
    /// Its name.
    pub server_name: String,
    /// `ready` while hoodyd serves.
    pub status: String,
    /// Since the machine booted.
    pub uptime_seconds: u64,
    /// 1, 5 and 15 minute load averages.
    pub load_average: [f64; 3],
    /// CPUs.
    pub cpu_cores: u64,
    /// Memory, bytes.
    pub memory: RuntimeUsage,
    /// The pool's disk, bytes.
    pub disk: RuntimeUsage,
    /// Containers on it.
    pub containers: RuntimeContainers,
    /// When this was read.
    pub checked_at: String,
}

/// Total and used, bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeUsage {
    /// Total.
    pub total: u64,
    /// Used.
    pub used: u64,
}

/// Containers of a server by state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeContainers {
    /// All.
    pub total: u64,
    /// Running.
    pub running: u64,
}
