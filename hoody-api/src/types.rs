//! Request and response bodies. Requests ignore fields they do not know, as Hoody's API does
//! (its published clients send fields a given server may not have; hoodyd logs the ignored
//! ones at debug level); a known field of the wrong type or out of range is still a 422.
//! Responses are plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// The response envelope: `{statusCode, message, data}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The HTTP status.
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    /// What happened, for people.
    pub message: String,
    /// The payload.
    pub data: T,
}

/// A container's state (reference §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerStatus {
    /// Being made; it starts by itself when done (unless `autostart` is false).
    Creating,
    /// Booted.
    Running,
    /// Every process frozen.
    Paused,
    /// Powered off, storage kept.
    Stopped,
    /// An operation failed; `error` says which. It can be started again or deleted.
    Failed,
    /// Being made as a copy of another container.
    Copying,
    /// Being deleted.
    Deleting,
}

impl ContainerStatus {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Creating => "creating",
            ContainerStatus::Running => "running",
            ContainerStatus::Paused => "paused",
            ContainerStatus::Stopped => "stopped",
            ContainerStatus::Failed => "failed",
            ContainerStatus::Copying => "copying",
            ContainerStatus::Deleting => "deleting",
        }
    }

    /// Parses a lowercase name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "creating" => ContainerStatus::Creating,
            "running" => ContainerStatus::Running,
            "paused" => ContainerStatus::Paused,
            "stopped" => ContainerStatus::Stopped,
            "failed" => ContainerStatus::Failed,
            "copying" => ContainerStatus::Copying,
            "deleting" => ContainerStatus::Deleting,
            _ => return None,
        })
    }

    /// Whether an operation is in progress (no other operation is accepted meanwhile).
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            ContainerStatus::Creating | ContainerStatus::Copying | ContainerStatus::Deleting
        )
    }
}

impl std::fmt::Display for ContainerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lifecycle operation (`POST /api/v1/containers/{id}/{operation}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Boot a stopped container.
    Start,
    /// Clean shutdown.
    Stop,
    /// Kill every process at once.
    ForceStop,
    /// Stop (if running) and start.
    Restart,
    /// Freeze every process.
    Pause,
    /// Thaw.
    Resume,
}

impl Operation {
    /// Every operation.
    pub const ALL: [Operation; 6] = [
        Operation::Start,
        Operation::Stop,
        Operation::ForceStop,
        Operation::Restart,
        Operation::Pause,
        Operation::Resume,
    ];

    /// The path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Start => "start",
            Operation::Stop => "stop",
            Operation::ForceStop => "force-stop",
            Operation::Restart => "restart",
            Operation::Pause => "pause",
            Operation::Resume => "resume",
        }
    }

    /// Parses a path segment.
    pub fn parse(s: &str) -> Option<Self> {
        Operation::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Pagination of a list (`page` from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// Items in all pages.
    pub total: u64,
    /// This page.
    pub page: u64,
    /// Items per page.
    pub limit: u64,
    /// Number of pages.
    #[serde(rename = "totalPages")]
    pub total_pages: u64,
}

/// Query of a paginated list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListQuery {
    /// Page, from 1 (default 1).
    pub page: Option<u64>,
    /// Items per page, at most 100 (default 20 for containers, 10 for projects and logs).
    pub limit: Option<u64>,
    /// Field to sort by.
    pub sort_by: Option<String>,
    /// `asc` or `desc`.
    pub sort_order: Option<String>,
    /// Include containers being deleted (containers only).
    pub include_deleting: Option<bool>,
    /// Only resources carrying this realm.
    pub realm_id: Option<String>,
    /// Embed each container's and its project's permission documents (containers only).
    pub include_proxy_permissions: Option<bool>,
    /// Add `runtime_info` to running containers: `true`, or JSON naming the parts
    /// (`{"displays":true}`; `{}` = everything) (containers only).
    pub runtime: Option<String>,
    /// Add `proxy_domains` (containers only).
    pub include_proxy_domains: Option<bool>,
    /// Include prespawned containers (none exist on this server yet; accepted).
    pub include_prespawn: Option<bool>,
    /// Include containers whose server's rental expired (no rentals here; accepted).
    pub include_expired: Option<bool>,
}

// ---- server ------------------------------------------------------------------------------

/// This server (`GET /api/v1/servers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// 24 hex digits, fixed at first start.
    pub id: String,
    /// Its DNS label, used in Kit hostnames (`…{server}.containers.{domain}`).
    pub name: String,
    /// `ready` while hoodyd serves.
    pub status: String,
    /// hoody's version.
    pub version: String,
    /// CPUs, memory and disk of the machine.
    pub specs: ServerSpecs,
    /// Containers on this server.
    pub container_count: u64,
    /// Whether this is the server answering (always true until clusters arrive).
    pub is_local: bool,
}

/// What a server has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerSpecs {
    /// CPUs online.
    pub cpu_cores: u64,
    /// Memory, GB.
    pub ram_gb: f64,
    /// The pool's size, GB.
    pub disk_gb: f64,
}

/// `GET /api/v1/servers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerList {
    /// The servers.
    pub servers: Vec<Server>,
    /// Paging.
    pub pagination: Pagination,
}

// ---- projects ----------------------------------------------------------------------------

/// A project: a group of containers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// 24 hex digits.
    pub id: String,
    /// Its name, unique on this server (1–100 characters).
    pub alias: String,
    /// `#RRGGBB`.
    pub color: String,
    /// Most containers it may hold (`null`: unlimited).
    pub max_containers: Option<u64>,
    /// Realm labels.
    pub realm_ids: Vec<String>,
    /// Containers it holds.
    pub container_count: u64,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// `POST /api/v1/projects`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateProject {
    /// Name, 1–100 characters, unique.
    pub alias: String,
    /// `#RGB` or `#RRGGBB` (`#` optional); random when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Most containers (`null`: unlimited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_containers: Option<u64>,
    /// Realm labels (24 hex each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_ids: Option<Vec<String>>,
}

/// `PUT /api/v1/projects/{id}`: omitted fields are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateProject {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// New color.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// New limit; `null` removes it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_containers: Option<Option<u64>>,
    /// New realm labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_ids: Option<Vec<String>>,
}

/// `GET /api/v1/projects`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectList {
    /// This page.
    pub projects: Vec<Project>,
    /// Paging.
    pub pagination: Pagination,
}

/// How far a project permission reaches (`permission_level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PermissionLevel {
    /// See the project and its containers, their stats and logs.
    Read,
    /// Also change them: create, update, start/stop/restart, exec, snapshots, firewalls.
    Edit,
    /// Also delete its containers.
    Delete,
}

/// One grant of a project to a user (reference §5.5). On a hoody server the users are its
/// API tokens: `user_id` is a token's id, and the grant adds to what the token's own
/// permissions allow, for this project only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectPermission {
    /// 24 hex digits.
    pub id: String,
    /// The project.
    pub project_id: String,
    /// The token granted.
    pub user_id: String,
    /// What it may do there.
    pub permission_level: PermissionLevel,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// `POST /api/v1/projects/{id}/permissions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantProjectPermission {
    /// The token to grant (24 hex digits).
    pub user_id: String,
    /// What it may do.
    pub permission_level: PermissionLevel,
}

/// `PUT /api/v1/projects/{id}/permissions/{permissionId}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UpdateProjectPermission {
    /// The new level.
    pub permission_level: PermissionLevel,
}

/// `GET /api/v1/projects/{id}/permissions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProjectPermissionList {
    /// This page.
    pub permissions: Vec<ProjectPermission>,
    /// Paging.
    pub pagination: Pagination,
}

// ---- containers --------------------------------------------------------------------------

/// A container (reference §1.3's container object; fields hoody does not have yet, such as
/// kvm, are absent rather than faked).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Container {
    /// 24 hex digits.
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Its project's name.
    pub project_alias: String,
    /// The server it lives on.
    pub server_id: String,
    /// That server's DNS label.
    pub server_name: String,
    /// Unique within its project.
    pub name: String,
    /// `#RRGGBB`.
    pub color: String,
    /// The image its root file system came from.
    pub container_image: String,
    /// Kit services requested.
    pub hoody_kit: bool,
    /// Developer toolchain requested (fixed at creation).
    pub dev_kit: bool,
    /// AI features requested.
    pub ai: bool,
    /// Started when hoodyd starts after a reboot (and right after creation).
    pub autostart: bool,
    /// Its state.
    pub status: ContainerStatus,
    /// Environment of its services (applied at its next start).
    pub environment_vars: BTreeMap<String, String>,
    /// An SSH public key for the container.
    pub ssh_public_key: Option<String>,
    /// Free text.
    pub comment: Option<String>,
    /// Realm labels.
    pub realm_ids: Vec<String>,
    /// Has a RAM-backed `/ramdisk` (kept across stop and start, lost when the server
    /// reboots). Records made before hoody had ramdisks read as `false`.
    #[serde(default)]
    pub ramdisk: bool,
    /// Whose `/ramdisk`: the container's alone, or also `/ramdisk/project` shared with the
    /// project's other containers on this server.
    #[serde(default)]
    pub ramdisk_scope: RamdiskScope,
    /// Its resource limits (applied to the running container when changed).
    #[serde(default)]
    pub limits: Limits,
    /// The container it was copied from.
    pub source_container_id: Option<String>,
    /// Its IPv4 address while running.
    pub ip: Option<String>,
    /// Why the last operation failed (status `failed`).
    pub error: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// `/dev/kvm` passed through (run VMs inside); change it with `PUT …/kvm` while stopped.
    #[serde(default)]
    pub kvm: bool,
    /// Whether a proxy permission document applies to it (its own or its project's). Filled
    /// in by gets and lists.
    #[serde(default)]
    pub has_proxy_permissions: bool,
    /// `none`, `container`, `project` or `both`: whose documents apply.
    #[serde(default = "no_scope")]
    pub proxy_permissions_scope: String,
    /// The documents themselves, with `include_proxy_permissions=true` on a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_permissions: Option<ProxyPermissions>,
    /// A slice label of the server (none here: servers are not sliced).
    #[serde(default)]
    pub subserver_name: Option<String>,
    /// The SSH entry point's host (none until hoody has one).
    #[serde(default)]
    pub ssh_hostname: Option<String>,
    /// Why `kvm` cannot be honoured, when it cannot.
    #[serde(default)]
    pub kvm_note: Option<String>,
    /// Made from the prespawn pool (there is none yet: always false).
    #[serde(default)]
    pub prespawn: bool,
    /// Storage shares mounted in it (none yet).
    #[serde(default)]
    pub volumes: Vec<serde_json::Value>,
    /// Its server (as the API shows it: added on reading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ContainerServer>,
    /// Whether its server's rental ended (never, self-hosted).
    #[serde(default)]
    pub server_expired: bool,
    /// Its snapshots (added on reading).
    #[serde(default)]
    pub snapshot_count: u64,
    /// The snapshot it was last restored from.
    #[serde(default)]
    pub last_used_snapshot: Option<String>,
    /// What a person should know about it (added on reading).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The storage pool it belongs to (pools are not built yet: none).
    #[serde(default)]
    pub pool_id: Option<String>,
    /// Its URLs' host names, with `include_proxy_domains=true`: each Kit service's
    /// (instance 1) and each alias's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_domains: Option<Vec<String>>,
    /// What runs in it, with `runtime` (running containers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_info: Option<RuntimeInfo>,
}

/// A container's server, as its object shows it (reference §1.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerServer {
    /// DNS label.
    pub name: String,
    /// Location labels (not configured on a self-hosted server: null).
    pub country: Option<String>,
    /// As `country`.
    pub country_name: Option<String>,
    /// As `country`.
    pub city: Option<String>,
    /// As `country`.
    pub region: Option<String>,
    /// As `country`.
    pub datacenter: Option<String>,
    /// Self-hosted: true.
    pub is_free: bool,
    /// What it has.
    pub specs: ContainerServerSpecs,
    /// When a rental ends (never, self-hosted).
    pub expires_at: Option<String>,
}

/// [`ContainerServer::specs`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerServerSpecs {
    /// CPUs.
    pub cpu_cores: u64,
    /// Memory, GB.
    pub ram_gb: f64,
    /// The pool's disk, GB.
    pub disk_gb: f64,
    /// Whether containers share the CPUs (they do).
    pub shared_compute: bool,
}

/// What runs in a container (`runtime` on get and list); each part only when asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Graphical displays (no display service yet: empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub displays: Option<Vec<serde_json::Value>>,
    /// The Kit services it runs, with their host names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<RuntimeService>>,
    /// TCP ports something listens on inside, with the `http-PORT` host name to reach them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_services: Option<Vec<NetworkService>>,
    /// The terminal service's sessions, as it lists them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminals: Option<Vec<serde_json::Value>>,
}

/// A Kit service in [`RuntimeInfo::services`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeService {
    /// Its slug (`terminal`).
    pub name: String,
    /// Its port inside.
    pub port: u16,
    /// Instance 1's host name.
    pub domain: String,
}

/// A listening port in [`RuntimeInfo::network_services`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkService {
    /// The port.
    pub port: u16,
    /// The address it listens on (`0.0.0.0`, `::`, `127.0.0.1`, ...).
    pub address: String,
    /// `tcp` or `tcp6`.
    pub protocol: String,
    /// The Kit service on that port, if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kit: Option<String>,
    /// The `http-PORT` host name that reaches it (only for ports on every address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

fn no_scope() -> String {
    "none".to_string()
}

/// `proxy_permissions` of a [`Container`]: the documents hoody-proxy applies to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyPermissions {
    /// The container's own document (`null`: none).
    pub container: Option<serde_json::Value>,
    /// Its project's (`null`: none).
    pub project: Option<serde_json::Value>,
}

/// A container's resource limits (beyond Hoody's API: it has no way to limit a container).
/// Every field optional; absent means no limit (or the server's default at creation).
/// `memory` takes bytes or a size such as `"256M"` / `"2G"`.
///
/// No disk limit yet. btrfs's classic quota groups would enforce one, but they account every
/// shared extent by walking back references on each snapshot create and delete, which hoody
/// does all the time (snapshots, copies, restores, syncs): not cheap. Simple quotas (kernel
/// 6.7+) charge each extent to the subvolume that wrote it and cost almost nothing; they are
/// the way, through their ioctls (the build machine's btrfs-progs 6.2 cannot enable them), and
/// are left for a change of their own with its measurement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory in bytes; above it the kernel reclaims and then kills inside the container.
    #[serde(
        default,
        deserialize_with = "size_or_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<u64>,
    /// CPUs (0.5 = half a CPU's time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Processes and threads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

impl Limits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.cpus.is_none() && self.pids.is_none()
    }
}

/// `256M`, `2G`, `512K` or a number of bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim().to_ascii_uppercase();
    let t = t.strip_suffix('B').unwrap_or(&t).to_string();
    let (num, mult) = match t.chars().last()? {
        'K' => (&t[..t.len() - 1], 1u64 << 10),
        'M' => (&t[..t.len() - 1], 1 << 20),
        'G' => (&t[..t.len() - 1], 1 << 30),
        'T' => (&t[..t.len() - 1], 1 << 40),
        _ => (t.as_str(), 1),
    };
    num.trim().parse::<u64>().ok()?.checked_mul(mult)
}

fn size_or_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Option::<Size>::deserialize(d)? {
        None => Ok(None),
        Some(Size::Bytes(n)) => Ok(Some(n)),
        Some(Size::Text(t)) => parse_size(&t).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{t:?} is not a size: bytes, or a number with K, M, G or T"
            ))
        }),
    }
}

/// One firewall rule of a container (reference §5.2). Rules have no ids: they are matched by
/// their fields; the first rule that matches a packet decides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallRule {
    /// `allow`, `reject` (an active refusal: TCP reset or ICMP unreachable) or `drop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `tcp`, `udp` or `icmp4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `"443"`, `"80-90"` or `"80,443"` (required for tcp and udp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<String>,
    /// Where traffic comes from (ingress only): an IPv4 address or CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Where traffic goes (egress only): an IPv4 address or CIDR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
    /// The source port(s), same syntax as `destination_port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_port: Option<String>,
    /// `enabled` (default) or `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// ICMP type (icmp4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<u8>,
    /// ICMP code (icmp4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<u8>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A container's firewall: ingress and egress rules, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firewall {
    /// Traffic into the container.
    #[serde(default)]
    pub ingress: Vec<FirewallRule>,
    /// Traffic out of it.
    #[serde(default)]
    pub egress: Vec<FirewallRule>,
}

/// The scope of a container's `/ramdisk`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RamdiskScope {
    /// `/ramdisk` is the container's own.
    #[default]
    Container,
    /// Also `/ramdisk/project`, shared with the project's other containers on this server.
    Project,
}

/// `POST /api/v1/projects/{id}/containers` (reference §1.3's create body). Fields hoody does
/// not implement yet are refused when they ask for the feature (`kvm: true`) and accepted when
/// they decline it, so clients that send Hoody's defaults still work.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateContainer {
    /// The server to place it on: this server's id or name.
    pub server_id: String,
    /// 3–100 of `[A-Za-z0-9_-]`; absent or `"rand"`: a random name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `#RGB` / `#RRGGBB`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Image name (`debian`, `debian-13`, `debian:13`, `debian/13` all mean `debian-13`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_image: Option<String>,
    /// AI features (recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<bool>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_vars: Option<BTreeMap<String, String>>,
    /// SSH public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
    /// Free text, at most 16,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Kit services (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hoody_kit: Option<bool>,
    /// Developer toolchain (defaults to `hoody_kit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_kit: Option<bool>,
    /// Start now and on every host boot (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autostart: Option<bool>,
    /// Realm labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_ids: Option<Vec<String>>,
    /// `/dev/kvm` passthrough (403 `KVM_UNAVAILABLE` on a server without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvm: Option<bool>,
    /// Alias of `kvm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev_kvm: Option<bool>,
    /// A RAM-backed `/ramdisk` (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk: Option<bool>,
    /// Its scope (default `container`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk_scope: Option<RamdiskScope>,
    /// Resource limits (default: the server's defaults, if any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Cached images: every image is cached in hoody; accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// Create from the cached image of the Kit tiers (Hoody's CLI sends `false` by default):
    /// hoody's images are always cached; accepted and ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_image: Option<bool>,
    /// Internal to Hoody: `true` is refused (403).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prespawn: Option<bool>,
    /// No prespawn pool exists yet, so always bypassed; accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bypass_prespawn: Option<bool>,
}

/// `PUT|PATCH /api/v1/containers/{id}`: omitted fields are kept; `null` clears the nullable
/// ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateContainer {
    /// New name (unique within the project).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// New color.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// AI features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<bool>,
    /// Autostart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autostart: Option<bool>,
    /// `/ramdisk` on or off (applied at the next start; its contents are kept until the
    /// container is deleted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk: Option<bool>,
    /// `/ramdisk`'s scope (applied at the next start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk_scope: Option<RamdiskScope>,
    /// Replaces the resource limits (a field left out: no limit); applied at once to a
    /// running container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Replaces all environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_vars: Option<BTreeMap<String, String>>,
    /// New SSH key; `null` clears.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub ssh_public_key: Option<Option<String>>,
    /// New comment; `null` clears.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub comment: Option<Option<String>>,
    /// New realm labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_ids: Option<Vec<String>>,
}

/// `PATCH /api/v1/containers/{id}/proxy/hooks/{service}/{hookId}/position`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookPosition {
    /// The new place, from 0 (past the end: last).
    pub position: usize,
}

/// `PUT /api/v1/containers/{id}/kvm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SetKvm {
    /// Pass `/dev/kvm` through.
    pub kvm: bool,
}

/// `GET /api/v1/realms/` (reference §5.5): the realms of what the caller sees.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealmList {
    /// The realm ids, sorted.
    pub realm_ids: Vec<String>,
    /// How many.
    pub total: u64,
    /// With `include_usage=true`: what carries each realm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<BTreeMap<String, RealmUsage>>,
}

/// What carries one realm.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealmUsage {
    /// Projects.
    pub projects: u64,
    /// Containers.
    pub containers: u64,
    /// Servers (servers carry no realms here: 0).
    pub servers: u64,
    /// API tokens limited to it.
    pub auth_tokens: u64,
}

/// `GET /api/v1/realms/`'s query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealmQuery {
    /// Add `usage`.
    pub include_usage: Option<bool>,
}

/// A container list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerList {
    /// This page.
    pub containers: Vec<Container>,
    /// Paging.
    pub pagination: Pagination,
}

/// Result of a lifecycle operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationResult {
    /// What was done.
    pub operation: Operation,
    /// The container.
    pub container_id: String,
    /// Its project.
    pub project_id: String,
    /// What happened.
    pub message: String,
    /// The state afterwards.
    pub status: ContainerStatus,
}

/// One recorded state transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusLog {
    /// 24 hex digits.
    pub id: String,
    /// The container.
    pub container_id: String,
    /// The state before (`null` for the first).
    pub from_status: Option<ContainerStatus>,
    /// The state after.
    pub to_status: ContainerStatus,
    /// RFC 3339 with milliseconds.
    pub transition_time: String,
    /// How long the operation took.
    pub duration_ms: Option<u64>,
    /// `api`, `hoodyd` (recovery, autostart) or `machine` (it stopped by itself).
    pub triggered_by: String,
    /// Details (the operation, an error).
    pub metadata: serde_json::Value,
}

/// `GET /api/v1/containers/{id}/status-logs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusLogList {
    /// This page.
    pub status_logs: Vec<StatusLog>,
    /// Paging.
    pub pagination: Pagination,
}

/// Live counters (`GET /api/v1/containers/{id}/stats`; names as in the reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerStats {
    /// The container.
    pub id: String,
    /// Its project.
    pub project_id: String,
    /// Its project's name.
    pub project_name: String,
    /// The server.
    pub server_name: String,
    /// Its state.
    pub status: ContainerStatus,
    /// Processes and threads in it.
    pub processes: u64,
    /// CPU.
    pub cpu: CpuStats,
    /// Memory.
    pub memory: MemoryStats,
    /// Disk.
    pub disk: DiskStats,
    /// Its `/ramdisk`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk: Option<RamdiskStats>,
    /// Interfaces inside it.
    pub network: Vec<NetworkStats>,
    /// How long gathering these took, ms.
    pub processing_time: f64,
}

/// A container's `/ramdisk` in its stats (reference §1.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RamdiskStats {
    /// Its scope.
    pub scope: RamdiskScope,
    /// The size of the server's ramdisk pool, bytes (shared by every container's).
    pub shared_pool_maximum: u64,
    /// Bytes of the pool in use, all containers together.
    pub capacity_reserved: u64,
    /// What this container's files take.
    pub usage: RamdiskUsage,
}

/// Bytes used in a container's `/ramdisk`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RamdiskUsage {
    /// `/ramdisk` itself.
    pub private: u64,
    /// Secrets (hoody keeps none there: always 0).
    pub secrets: u64,
    /// `/ramdisk/project` (project scope).
    pub project: u64,
}

/// CPU counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuStats {
    /// CPU time used, nanoseconds.
    pub usage: u64,
}

/// Memory counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Bytes in use.
    pub usage: u64,
    /// Highest use seen, bytes.
    pub usage_peak: u64,
    /// The limit, bytes (`null`: none).
    pub total: Option<u64>,
    /// `usage` as a percentage of `total` (`null` without a limit).
    #[serde(default)]
    pub usage_percent: Option<f64>,
}

/// Disk counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskStats {
    /// The root file system.
    pub root: DiskUsage,
}

/// One file system's use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiskUsage {
    /// Bytes used.
    pub usage: u64,
}

/// One interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    /// Its name inside the container.
    pub interface: String,
    /// Counters.
    pub counters: NetworkCounters,
}

/// Interface counters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkCounters {
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Packets received.
    pub packets_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
}

/// `GET /api/v1/containers/{id}/env`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnvVars {
    /// The variables.
    pub environment_vars: BTreeMap<String, String>,
}

/// `PUT /api/v1/containers/{id}/env/{key}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvValue {
    /// The value.
    pub value: String,
}

/// `POST /api/v1/containers/{id}/copy`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CopyContainer {
    /// The project the copy goes to.
    pub target_project_id: String,
    /// The server (default: the source's; must be this server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_server_id: Option<String>,
    /// The copy's name (default: `<source>-copy`, made unique).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The copy's SSH key (not inherited).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_public_key: Option<String>,
    /// Copy this snapshot's content instead of the current file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_snapshot: Option<String>,
    /// Copy the source's firewall rules (default false: the copy has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_firewall_rules: Option<bool>,
    /// Copy the source's egress network (default false: the copy has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_network_rules: Option<bool>,
}

// ---- snapshots ---------------------------------------------------------------------------

/// A snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// `snap-YYYYMMDD-HHMMSS` unless named.
    pub name: String,
    /// A second name.
    pub alias: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// When it expires (RFC 3339).
    pub expires_at: Option<String>,
    /// Always false: snapshots hold the file system, not processes.
    pub stateful: bool,
    /// Bytes it holds exclusively (`null` when not known).
    pub size: Option<u64>,
}

/// `GET /api/v1/containers/{id}/snapshots`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotList {
    /// The container.
    pub container_id: String,
    /// Its project.
    pub project_id: String,
    /// Newest first.
    pub snapshots: Vec<Snapshot>,
    /// How many.
    pub snapshot_count: u64,
    /// No cap (`null`).
    pub max_snapshots: Option<u64>,
}

/// `POST /api/v1/containers/{id}/snapshots` (a JSON body is required, `{}` is fine).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateSnapshot {
    /// A second name, at most 100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Days until it is deleted, 1–3650.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry: Option<u64>,
}

/// `PUT|PATCH /api/v1/containers/{id}/snapshots/{name}/alias`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SnapshotAlias {
    /// The alias; `null` removes it.
    pub alias: Option<String>,
}

// ---- events ------------------------------------------------------------------------------

/// A state change, as streamed by `GET /api/v1/events/stream` (server-sent events; the SSE
/// `event` is [`Event::kind`], `id` is [`Event::seq`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increasing number within one hoodyd run.
    pub seq: u64,
    /// `container.created`, `container.status`, `container.updated`, `container.deleted`,
    /// `project.created`, `project.updated`, `project.deleted`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The project.
    pub project_id: Option<String>,
    /// The container.
    pub container_id: Option<String>,
    /// The container's state after the change.
    pub status: Option<ContainerStatus>,
    /// The container's address.
    pub ip: Option<String>,
    /// RFC 3339 with milliseconds.
    pub time: String,
}

/// Deserializes a field that distinguishes absent (`None`) from `null` (`Some(None)`).
pub(crate) fn double_option<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

// ---- proxy: aliases, state, access logs ------------------------------------------------

/// Programs an alias (and a permission rule) can name, canonical first, then the synonyms the
/// reference accepts (§2.2). [`program_name`] maps a synonym to its canonical name.
pub const PROGRAMS: &[&str] = &[
    "http",
    "https",
    "ssh",
    "terminal",
    "display",
    "desktop",
    "cron",
    "watch",
    "notifications",
    "files",
    "daemon",
    "code",
    "agent",
    "exec",
    "browser",
    "cdp",
    "curl",
    "run",
    "sqlite",
    "logs",
    "egress",
    "pipe",
    "notes",
    "tunnel",
    "bot",
];

/// The canonical program name of `name` (`tty` → `terminal`), or `None` when unknown.
pub fn program_name(name: &str) -> Option<&'static str> {
    let canonical = match name {
        "tty" | "ttyd" | "t" => "terminal",
        "d" => "display",
        "w" => "watch",
        "notification" | "n" => "notifications",
        "f" => "files",
        "e" => "exec",
        "b" => "browser",
        "log" | "l" => "logs",
        "note" => "notes",
        other => other,
    };
    PROGRAMS.iter().copied().find(|p| *p == canonical)
}

/// A proxy alias: `{alias}.{server}.containers.{domain}` → one service of one container
/// (reference §2.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alias {
    /// 24 hex digits.
    pub id: String,
    /// The container's project.
    pub project_id: String,
    /// The container.
    pub container_id: String,
    /// The host name's first label.
    pub alias: String,
    /// Canonical program name ([`PROGRAMS`]).
    pub program: String,
    /// Kit instance (1 unless given).
    pub index: u64,
    /// Port, for `http` / `https`.
    pub port: Option<u16>,
    /// Landing path for requests to `/`.
    pub target_path: Option<String>,
    /// Whether visitors' paths are honoured (recorded; the reference notes it is not enforced).
    pub allow_path_override: bool,
    /// After this (RFC 3339) the alias answers 404.
    pub expires_at: Option<String>,
    /// Disabled aliases answer 404.
    pub enabled: bool,
    /// The server.
    pub server_id: String,
    /// Its name.
    pub server_name: String,
    /// `https://{alias}.{server}.containers.{domain}` (when hoodyd knows the domain), else
    /// the host name without scheme and domain.
    pub url: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// `POST /api/v1/proxy/aliases`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateAlias {
    /// The container.
    pub container_id: String,
    /// 3–61 of `[a-z0-9-]`, not starting or ending with `-`; absent: 48 random hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// A program name (or synonym), or `http-PORT` / `https-PORT`.
    pub program: String,
    /// Port for http/https.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Kit instance (default 1); for http/https a legacy way to give the port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// Landing path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_path_override: Option<bool>,
    /// RFC 3339 in the future, or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/proxy/aliases/{id}`: omitted fields are kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateAlias {
    /// New name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// New program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// New port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// New instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// New landing path; `null` clears.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub target_path: Option<Option<String>>,
    /// New setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_path_override: Option<bool>,
    /// New expiry; `null` clears.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_at: Option<Option<String>>,
    /// Enable or disable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/proxy/aliases/{id}/state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasState {
    /// Enabled or not.
    pub enabled: bool,
}

/// `GET /api/v1/proxy/aliases`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AliasList {
    /// The aliases.
    pub aliases: Vec<Alias>,
}

/// Query of `GET /api/v1/proxy/aliases`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AliasQuery {
    /// Only this project's.
    pub project_id: Option<String>,
    /// Only this container's.
    pub container_id: Option<String>,
    /// Only enabled (or disabled) ones.
    pub enabled: Option<bool>,
    /// Only expired (or unexpired) ones.
    pub expired: Option<bool>,
}

/// A permission document as stored (reference §2.5), with its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScopedDocument {
    /// `project` or `container`.
    pub scope: String,
    /// The project's or container's id.
    pub id: String,
    /// The document.
    pub document: serde_json::Value,
}

/// `GET /api/v1/proxy/state`: everything the proxy needs besides the containers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProxyState {
    /// Every alias.
    pub aliases: Vec<Alias>,
    /// Every permission document.
    pub permissions: Vec<ScopedDocument>,
}

/// One proxied request, as the proxy logs it (`GET /api/v1/containers/{id}/proxy/logs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessLogEntry {
    /// RFC 3339 with milliseconds.
    pub time: String,
    /// The client's address.
    pub client_ip: String,
    /// Request method.
    pub method: String,
    /// Host name as sent.
    pub host: String,
    /// Path and query.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Response body bytes sent.
    pub bytes: u64,
    /// From request head to the end of the response body, ms.
    pub duration_ms: f64,
    /// The service (`http-8080`, `terminal-1`, ...).
    pub service: String,
}

/// `GET /api/v1/containers/{id}/proxy/logs`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessLog {
    /// The container.
    pub container_id: String,
    /// Newest last.
    pub logs: Vec<AccessLogEntry>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn limits_take_bytes_or_sizes() {
        assert_eq!(parse_size("256M"), Some(256 << 20));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("512KB"), Some(512 << 10));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("lots"), None);
        let l: Limits = serde_json::from_str(r#"{"memory":"1G","cpus":0.5,"pids":100}"#).unwrap();
        assert_eq!(
            l,
            Limits {
                memory: Some(1 << 30),
                cpus: Some(0.5),
                pids: Some(100)
            }
        );
        let l: Limits = serde_json::from_str(r#"{"memory":1048576}"#).unwrap();
        assert_eq!(l.memory, Some(1 << 20));
        assert!(serde_json::from_str::<Limits>(r#"{"memory":"x"}"#).is_err());
        assert!(Limits::default().is_empty());
    }

    #[test]
    fn unknown_request_fields_are_ignored_and_wrong_types_refused() {
        let c: CreateContainer = serde_json::from_str(
            r#"{"server_id":"s","name":"n","cache_image":false,"ramdisk":true,"future_field":1}"#,
        )
        .unwrap();
        assert_eq!((c.ramdisk, c.cache_image), (Some(true), Some(false)));
        assert!(
            serde_json::from_str::<CreateContainer>(r#"{"server_id":"s","hoody_kit":"yes"}"#)
                .is_err()
        );
    }
}
