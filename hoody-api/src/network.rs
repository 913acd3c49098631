//! A container's egress network as the API has it (reference §5.1): the request, the
//! configuration shown (never the upstream's credentials), the forwarder's state.

use serde::{Deserialize, Serialize};

/// `PUT /api/v1/containers/{id}/network` (reference §5.1): the container's egress through
/// an upstream proxy, or none.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateNetwork {
    /// `socks5`, `http`, `https` or `block` (required).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The upstream's URL, such as `socks5://user:pass@host:1080` (required unless `block`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    /// Geographic label of the upstream (recorded and shown; the upstream is the one named).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// As `country`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// As `country`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Where DNS queries go, through the upstream (at most 4; default `1.1.1.1`, `8.8.8.8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<String>>,
}

/// A container's egress network as `GET /api/v1/containers/{id}/network` shows it: never the
/// upstream's credentials, only whether it has some.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The container.
    pub container_id: String,
    /// Whether it has an egress network.
    pub configured: bool,
    /// `socks5`, `http`, `https` or `block`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The upstream's URL without credentials.
    #[serde(default)]
    pub proxy: Option<String>,
    /// Whether the upstream's URL carried credentials.
    #[serde(default)]
    pub credentials_configured: bool,
    /// Geographic label.
    #[serde(default)]
    pub country: Option<String>,
    /// Geographic label.
    #[serde(default)]
    pub city: Option<String>,
    /// Geographic label.
    #[serde(default)]
    pub region: Option<String>,
    /// Free text.
    #[serde(default)]
    pub comment: Option<String>,
    /// DNS servers.
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// `configured` (applies when the container runs), `running`, `stopped` or `error`.
    #[serde(default)]
    pub status: Option<String>,
    /// When it was set (RFC 3339).
    #[serde(default)]
    pub configured_at: Option<String>,
    /// When its state was last read from the machine.
    #[serde(default)]
    pub last_status_check: Option<String>,
    /// What the machine says, when it runs.
    #[serde(default)]
    pub remote_status: Option<NetworkRemoteStatus>,
}

/// The machine's side of an egress network.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkRemoteStatus {
    /// Whether the forwarder (or `block`'s kill switch) is in force.
    pub is_running: bool,
    /// When this was read.
    pub last_check: String,
    /// Why it is not running, when it should be.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The forwarder.
    #[serde(default)]
    pub bridge_details: Option<BridgeDetails>,
}

/// The forwarder of an egress network. hoody has no bridge: the forwarder listens inside the
/// container's own network namespace (`bridge_name` is null, `bridge_ip` is the container's
/// gateway, `gost_listener_ip`/`port` where redirected connections arrive).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BridgeDetails {
    /// Always null: no bridge.
    pub bridge_name: Option<String>,
    /// The container's gateway.
    pub bridge_ip: String,
    /// The forwarder's address inside the container's namespace.
    pub gost_listener_ip: String,
    /// Its TCP port.
    pub port: u16,
    /// Its DNS port.
    pub dns_port: u16,
    /// Connections and DNS queries carried so far.
    pub relayed: u64,
    /// Those the upstream could not carry.
    pub failed: u64,
    /// The last such failure.
    pub last_error: Option<String>,
}

/// `POST /api/v1/containers/{id}/network/start|stop`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkState {
    /// The container.
    pub container_id: String,
    /// As [`NetworkConfig::status`].
    pub status: String,
    /// Whether it is in force on the running machine.
    pub is_running: bool,
    /// When this was read.
    pub last_check: String,
}
