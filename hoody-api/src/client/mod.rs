//! The blocking HTTP client of hoodyd's REST API: the same [`crate`] types the server
//! speaks, one method per route.
//!
//! ```no_run
//! use hoody_api::{CreateContainer, ContainerStatus};
//! use hoody_api::client::Client;
//!
//! let client = Client::from_env()?;
//! let c = client.create_container(
//!     "65f0c0ffee0123456789abcd",
//!     &CreateContainer { server_id: "local".into(), hoody_kit: Some(true), ..Default::default() },
//! )?;
//! let c = client.wait_for(&c.id, |c| !c.status.is_busy(), std::time::Duration::from_secs(600))?;
//! assert_eq!(c.status, ContainerStatus::Running);
//! # Ok::<(), hoody_api::client::ClientError>(())
//! ```
//!
//! # Why a hand-written HTTP/1.1 client
//!
//! Embedders who drive a local hoodyd should not have to pull an async runtime and an HTTP
//! stack into their program to send a few JSON requests over a unix socket. So this client is
//! std + serde_json: one connection per request (`Connection: close`), a request written in
//! one go, and a response read as HTTP/1.1 allows (status line, headers, then a body delimited
//! by `Content-Length`, by chunked transfer-encoding, or by the end of the connection). Plain
//! `http://` only: TLS belongs to the proxy in front of hoodyd. A keep-alive pool can come
//! later without changing this API.
//!
//! # Where it connects
//!
//! [`Client::from_env`] reads `HOODY_API_URL` (`http://HOST:PORT` for TCP, `unix:/PATH` for a
//! socket), else `HOODY_SOCKET`, else [`DEFAULT_SOCKET`]; the bearer token comes from
//! `HOODY_TOKEN` (needed over TCP; the root-only socket needs none).
//!
//! # Errors
//!
//! A non-2xx answer is [`ClientError::Api`] carrying the server's [`ApiError`] (its stable
//! `code`, e.g. `CONTAINER_NOT_FOUND`); a daemon that cannot be reached is
//! [`ClientError::Connect`], whose message says where it looked and what to do.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{
    AccessLog, Alias, AliasList, AliasQuery, AliasState, ApiError, Container, ContainerList,
    ContainerStats, CopyContainer, CopyToken, CreateAlias, CreateContainer, CreateProject,
    CreateSnapshot, CreateToken, CreatedToken, CurrentToken, EnvValue, EnvVars, Envelope, Event,
    GrantProjectPermission, ListQuery, Operation, OperationResult, PermissionLevel, Project,
    ProjectList, ProjectPermission, ProjectPermissionList, ProxyState, Server, ServerList, SetKvm,
    Snapshot, SnapshotAlias, SnapshotList, StatusLogList, Token, TokenRealm, TokenTemplate,
    UpdateAlias, UpdateContainer, UpdateProject, UpdateProjectPermission, UpdateToken,
};

mod events;
mod http;
mod network;
mod permissions;

pub use events::Events;
use http::*;
pub use permissions::DocOwner;

/// hoodyd's unix socket when nothing else is configured.
pub const DEFAULT_SOCKET: &str = "/run/hoody/hoodyd.sock";
/// How long a request may wait for its answer by default (creating and copying return at
/// once; stop and restart can take a while).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(120);
/// How long connecting over TCP may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often [`Client::wait_for`] polls.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Largest status line plus headers accepted.
const MAX_HEAD: usize = 64 * 1024;
/// Largest response body accepted (hoodyd's are a few kilobytes).
const MAX_BODY: u64 = 64 << 20;
/// Largest line of a chunked body's framing or of an event stream.
const MAX_LINE: u64 = 1 << 20;
/// How much of an unexpected body an error message quotes.
const MAX_QUOTE: usize = 500;

/// A client result.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// What can go wrong talking to hoodyd.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// hoodyd answered with an error (any non-2xx status).
    #[error(transparent)]
    Api(#[from] ApiError),
    /// hoodyd could not be reached at all.
    #[error("cannot reach hoodyd at {addr}: {} ({})", io_reason(.source), connect_hint(.source))]
    Connect {
        /// The socket path or URL tried.
        addr: String,
        /// Why connecting failed.
        #[source]
        source: io::Error,
    },
    /// Sending the request or reading the answer failed after connecting (including read
    /// timeouts).
    #[error("{request}: {source}")]
    Io {
        /// The request and where it went, e.g. `GET /api/v1/containers on /run/hoody/hoodyd.sock`.
        request: String,
        /// What failed.
        #[source]
        source: io::Error,
    },
    /// The answer was not the HTTP or JSON the API promises.
    #[error("{0}")]
    Protocol(String),
    /// An address (`HOODY_API_URL`, [`Client::tcp`]) that this client cannot use.
    #[error("invalid hoodyd address {url:?}: {reason}")]
    InvalidUrl {
        /// The address given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// [`Client::wait_for`] gave up.
    #[error("{0}")]
    Timeout(String),
    /// The event stream dropped events because this reader was too slow; re-list what you
    /// track, then keep reading.
    #[error("the event stream lagged: {missed} event(s) were dropped (re-list to catch up)")]
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// The stable code of an API error (`CONTAINER_NOT_FOUND`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(e) => Some(&e.code),
            _ => None,
        }
    }

    /// Whether hoodyd answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }
}

/// An I/O error's text without the `(os error N)` suffix.
fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match e.raw_os_error() {
        Some(n) => text
            .strip_suffix(&format!(" (os error {n})"))
            .unwrap_or(&text)
            .to_string(),
        None => text,
    }
}

fn connect_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            "the socket is root-only: run as root, or reach hoodyd over TCP with HOODY_API_URL and HOODY_TOKEN"
        }
        _ => "is hoodyd running? `hoodyd` or `systemctl start hoodyd`",
    }
}

/// Where hoodyd listens.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// A unix socket.
    Unix(PathBuf),
    /// TCP: `authority` is `host:port` as given (the `Host` header), `prefix` a path the API
    /// is mounted under (empty, or `/x` without a trailing slash).
    Tcp {
        host: String,
        port: u16,
        authority: String,
        prefix: String,
    },
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp {
                authority, prefix, ..
            } => write!(f, "http://{authority}{prefix}"),
        }
    }
}

/// A client of one hoodyd. Cheap to clone; every request opens its own connection, so one
/// client can be used from many threads.
#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    /// Connect here instead of resolving the URL's host (which still names the `Host`).
    resolve: Option<std::net::IpAddr>,
    token: Option<String>,
    connect_timeout: Duration,
    read_timeout: Option<Duration>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint.to_string())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// An answer as received, whatever its status (see [`Client::request_raw`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// The HTTP status.
    pub status: u16,
    /// The reason phrase of the status line.
    pub reason: String,
    /// Headers in the order received (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body, with any transfer coding removed.
    pub body: Vec<u8>,
}

/// An answer whose body is read as it arrives (see [`Client::request_stream`]).
pub struct StreamResponse {
    /// The HTTP status.
    pub status: u16,
    /// The reason phrase of the status line.
    pub reason: String,
    /// Headers in the order received.
    pub headers: Vec<(String, String)>,
    /// The body, with any transfer coding removed.
    pub body: Box<dyn Read + Send>,
}

impl fmt::Debug for StreamResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl StreamResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Reads the whole body and turns a non-2xx answer into its error.
    pub fn into_raw(mut self) -> io::Result<RawResponse> {
        let mut body = Vec::new();
        self.body.read_to_end(&mut body)?;
        Ok(RawResponse {
            status: self.status,
            reason: self.reason,
            headers: self.headers,
            body,
        })
    }
}

impl RawResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The error this answer stands for: its [`ApiError`] body, or one made of the status
    /// and the body's text when the body is not one.
    pub fn api_error(&self) -> ApiError {
        if let Ok(e) = serde_json::from_slice::<ApiError>(&self.body) {
            return e;
        }
        let text = self.text();
        let text = text.trim();
        let message = if text.is_empty() {
            format!("HTTP {} {}", self.status, self.reason)
        } else {
            quote(text)
        };
        ApiError::new(self.status, &format!("HTTP_{}", self.status), message)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// At most [`MAX_QUOTE`] characters of `s`.
fn quote(s: &str) -> String {
    match s.char_indices().nth(MAX_QUOTE) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl Client {
    /// A client of the hoodyd listening on the unix socket `path`.
    pub fn unix(path: impl Into<PathBuf>) -> Client {
        Client {
            endpoint: Endpoint::Unix(path.into()),
            resolve: None,
            token: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
        }
    }

    /// A client of the hoodyd at `base_url` (`http://HOST[:PORT][/PREFIX]`), sending `token`
    /// as `Authorization: Bearer`. `https://` is refused: TLS is the proxy's job.
    pub fn tcp(base_url: &str, token: Option<String>) -> Result<Client> {
        let bad = |reason: &str| ClientError::InvalidUrl {
            url: base_url.to_string(),
            reason: reason.to_string(),
        };
        let (scheme, rest) = base_url
            .split_once("://")
            .ok_or_else(|| bad("expected http://HOST:PORT"))?;
        if scheme.eq_ignore_ascii_case("https") {
            return Err(bad(
                "https is not supported by this client: hoodyd speaks plain HTTP (TLS is the \
                 proxy's job); use http:// on a trusted network, or the unix socket",
            ));
        }
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(bad("expected http://HOST:PORT (or unix:/PATH)"));
        }
        if rest.contains(['?', '#']) {
            return Err(bad("a base URL has no query or fragment"));
        }
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(bad(
                "credentials do not go in the URL: use the token (HOODY_TOKEN)",
            ));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in the host"))?;
            match after {
                "" => (h, None),
                p => (
                    h,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| bad("expected :PORT after ]"))?,
                    ),
                ),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
            None => 80,
        };
        Ok(Client {
            endpoint: Endpoint::Tcp {
                host: host.to_string(),
                port,
                authority: authority.to_string(),
                prefix: prefix.to_string(),
            },
            resolve: None,
            token,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
        })
    }

    /// A client of the address `url`: `http://HOST:PORT` (see [`Client::tcp`]) or
    /// `unix:/PATH` (also `unix:///PATH`).
    pub fn from_url(url: &str, token: Option<String>) -> Result<Client> {
        if let Some(path) = url.strip_prefix("unix:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if !path.starts_with('/') {
                return Err(ClientError::InvalidUrl {
                    url: url.to_string(),
                    reason: "expected unix:/ABSOLUTE/PATH".into(),
                });
            }
            return Ok(Client::unix(path).with_token(token));
        }
        Client::tcp(url, token)
    }

    /// The client the environment asks for: `HOODY_API_URL` (`http://…` or `unix:/…`), else
    /// the socket `HOODY_SOCKET`, else [`DEFAULT_SOCKET`]; the token from `HOODY_TOKEN`.
    pub fn from_env() -> Result<Client> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let token = var("HOODY_TOKEN");
        if let Some(url) = var("HOODY_API_URL") {
            return Client::from_url(&url, token);
        }
        let socket = var("HOODY_SOCKET").unwrap_or_else(|| DEFAULT_SOCKET.to_string());
        Ok(Client::unix(socket).with_token(token))
    }

    /// Connects to `ip` instead of resolving the base URL's host, which still names the
    /// `Host` header (like `curl --resolve`): for a proxy reached by a name DNS does not know.
    pub fn with_resolve(mut self, ip: std::net::IpAddr) -> Client {
        self.resolve = Some(ip);
        self
    }

    /// Sends `token` as `Authorization: Bearer` (over the socket it is not needed, and
    /// harmless).
    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token;
        self
    }

    /// How long connecting over TCP may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Client {
        self.connect_timeout = timeout;
        self
    }

    /// How long a request may wait for data of its answer (`None` or zero: forever).
    pub fn with_read_timeout(mut self, timeout: Option<Duration>) -> Client {
        self.read_timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// Where this client connects: the socket's path or the base URL.
    pub fn address(&self) -> String {
        self.endpoint.to_string()
    }

    // ---- the routes ----------------------------------------------------------------------

    /// `GET /api/v1/health`: whether hoodyd answers.
    pub fn health(&self) -> Result<serde_json::Value> {
        self.get("/api/v1/health")
    }

    /// `GET /api/v1/servers`.
    pub fn servers(&self) -> Result<ServerList> {
        self.get("/api/v1/servers")
    }

    /// `GET /api/v1/servers/{id}/runtime`: the server live.
    pub fn server_runtime(&self, id: &str) -> Result<serde_json::Value> {
        self.get(&format!(
            "/api/v1/servers/{}/runtime",
            segment("server", id)?
        ))
    }

    /// `GET /api/v1/servers/available`: the rental marketplace.
    pub fn server_marketplace(&self) -> Result<serde_json::Value> {
        self.get("/api/v1/servers/available")
    }

    /// `POST /api/v1/servers/{id}/rent`.
    pub fn rent_server(&self, id: &str) -> Result<serde_json::Value> {
        let path = format!("/api/v1/servers/{}/rent", segment("server", id)?);
        self.call("POST", &path, Some(b"{}"))
    }

    /// `GET /api/v1/realms/`: the realms of what the caller sees (with `usage`: counts).
    pub fn realms(&self, usage: bool) -> Result<crate::RealmList> {
        self.get(if usage {
            "/api/v1/realms?include_usage=true"
        } else {
            "/api/v1/realms"
        })
    }

    /// `GET /api/v1/servers/{id}` (an id or a name).
    pub fn get_server(&self, id: &str) -> Result<Server> {
        self.get(&format!("/api/v1/servers/{}", segment("server", id)?))
    }

    /// `GET /api/v1/projects`.
    pub fn list_projects(&self, q: &ListQuery) -> Result<ProjectList> {
        self.get(&format!("/api/v1/projects{}", query_string(q)))
    }

    /// `POST /api/v1/projects`.
    pub fn create_project(&self, req: &CreateProject) -> Result<Project> {
        self.send_json("POST", "/api/v1/projects", req)
    }

    /// `GET /api/v1/projects/{id}`.
    pub fn get_project(&self, id: &str) -> Result<Project> {
        self.get(&project_path(id)?)
    }

    /// `PUT /api/v1/projects/{id}`: omitted fields are kept.
    pub fn update_project(&self, id: &str, req: &UpdateProject) -> Result<Project> {
        self.send_json("PUT", &project_path(id)?, req)
    }

    /// `DELETE /api/v1/projects/{id}` (the project must be empty).
    pub fn delete_project(&self, id: &str) -> Result<()> {
        self.call("DELETE", &project_path(id)?, None)
    }

    /// `GET /api/v1/projects/{id}/stats`: containers by state and the live counters of the
    /// running ones.
    pub fn project_stats(&self, id: &str) -> Result<serde_json::Value> {
        self.get(&format!("{}/stats", project_path(id)?))
    }

    /// `GET /api/v1/projects/{id}/permissions`: who the project is granted to.
    pub fn project_permissions(&self, id: &str, q: &ListQuery) -> Result<ProjectPermissionList> {
        self.get(&format!(
            "{}/permissions{}",
            project_path(id)?,
            query_string(q)
        ))
    }

    /// `POST /api/v1/projects/{id}/permissions`: grants the project to a token.
    pub fn add_project_permission(
        &self,
        id: &str,
        req: &GrantProjectPermission,
    ) -> Result<ProjectPermission> {
        self.send_json("POST", &format!("{}/permissions", project_path(id)?), req)
    }

    /// `PUT /api/v1/projects/{id}/permissions/{permissionId}`.
    pub fn update_project_permission(
        &self,
        id: &str,
        permission: &str,
        level: PermissionLevel,
    ) -> Result<ProjectPermission> {
        self.send_json(
            "PUT",
            &format!(
                "{}/permissions/{}",
                project_path(id)?,
                segment("permission", permission)?
            ),
            &UpdateProjectPermission {
                permission_level: level,
            },
        )
    }

    /// `DELETE /api/v1/projects/{id}/permissions/{permissionId}`.
    pub fn remove_project_permission(&self, id: &str, permission: &str) -> Result<()> {
        self.call(
            "DELETE",
            &format!(
                "{}/permissions/{}",
                project_path(id)?,
                segment("permission", permission)?
            ),
            None,
        )
    }

    /// `GET /api/v1/projects/{project}/containers`, or `GET /api/v1/containers` (every
    /// project's) when `project` is `None`.
    pub fn list_containers(&self, project: Option<&str>, q: &ListQuery) -> Result<ContainerList> {
        let base = match project {
            Some(p) => format!("{}/containers", project_path(p)?),
            None => "/api/v1/containers".to_string(),
        };
        self.get(&format!("{base}{}", query_string(q)))
    }

    /// `POST /api/v1/projects/{project_id}/containers`: returns at once with status
    /// `creating`; creation continues in hoodyd (see [`Client::wait_for`]).
    pub fn create_container(&self, project_id: &str, req: &CreateContainer) -> Result<Container> {
        self.send_json(
            "POST",
            &format!("{}/containers", project_path(project_id)?),
            req,
        )
    }

    /// `GET /api/v1/containers/{id}`.
    pub fn get_container(&self, id: &str) -> Result<Container> {
        self.get(&container_path(id, "")?)
    }

    /// `GET /api/v1/containers/{id}` with the list's `runtime` and `include_*` parameters
    /// (paging fields of `q` are ignored by the server).
    pub fn get_container_with(&self, id: &str, q: &ListQuery) -> Result<Container> {
        self.get(&format!("{}{}", container_path(id, "")?, query_string(q)))
    }

    /// `PUT /api/v1/containers/{id}`: omitted fields are kept.
    pub fn update_container(&self, id: &str, req: &UpdateContainer) -> Result<Container> {
        self.send_json("PUT", &container_path(id, "")?, req)
    }

    /// `DELETE /api/v1/containers/{id}`: the container and all its data.
    pub fn delete_container(&self, id: &str) -> Result<()> {
        self.call("DELETE", &container_path(id, "")?, None)
    }

    /// `POST /api/v1/containers/{id}/{operation}`: returns when the operation is done.
    pub fn operate(&self, id: &str, op: Operation) -> Result<OperationResult> {
        self.call(
            "POST",
            &container_path(id, &format!("/{}", op.as_str()))?,
            Some(b"{}"),
        )
    }

    /// `POST /api/v1/containers/{id}/sync`: a copy pulls its source's current file system
    /// (returns when done; what the copy had is kept as a snapshot).
    pub fn sync_container(&self, id: &str) -> Result<Container> {
        self.call("POST", &container_path(id, "/sync")?, Some(b"{}"))
    }

    /// `POST /api/v1/containers/{id}/authorize`: a signed one-hour container claim
    /// (`{container_claim{kid, payload_b64, signature_hex}, expires_in, container_id,
    /// project_id}`).
    pub fn authorize_container(&self, id: &str) -> Result<serde_json::Value> {
        self.call("POST", &container_path(id, "/authorize")?, Some(b"{}"))
    }

    /// `PUT /api/v1/containers/{id}/kvm`: `/dev/kvm` passthrough of a stopped container.
    pub fn set_kvm(&self, id: &str, on: bool) -> Result<Container> {
        self.send_json("PUT", &container_path(id, "/kvm")?, &SetKvm { kvm: on })
    }

    /// `GET /api/v1/containers/{id}/stats`.
    pub fn stats(&self, id: &str) -> Result<ContainerStats> {
        self.get(&container_path(id, "/stats")?)
    }

    /// `GET /api/v1/containers/{id}/status-logs`.
    pub fn status_logs(&self, id: &str, q: &ListQuery) -> Result<StatusLogList> {
        self.get(&format!(
            "{}{}",
            container_path(id, "/status-logs")?,
            query_string(q)
        ))
    }

    /// `GET /api/v1/containers/{id}/env`.
    pub fn get_env(&self, id: &str) -> Result<EnvVars> {
        self.get(&container_path(id, "/env")?)
    }

    /// `PUT /api/v1/containers/{id}/env`: merges `vars` into the container's variables
    /// (applied at its next start).
    pub fn set_env(&self, id: &str, vars: &BTreeMap<String, String>) -> Result<EnvVars> {
        self.send_json("PUT", &container_path(id, "/env")?, vars)
    }

    /// `PUT /api/v1/containers/{id}/env/{key}`.
    pub fn set_env_var(&self, id: &str, key: &str, value: &str) -> Result<EnvVars> {
        let path = container_path(id, &format!("/env/{}", name_segment("key", key)?))?;
        self.send_json(
            "PUT",
            &path,
            &EnvValue {
                value: value.to_string(),
            },
        )
    }

    /// `DELETE /api/v1/containers/{id}/env/{key}`.
    pub fn delete_env_var(&self, id: &str, key: &str) -> Result<EnvVars> {
        let path = container_path(id, &format!("/env/{}", name_segment("key", key)?))?;
        self.call("DELETE", &path, None)
    }

    /// `GET /api/v1/containers/{id}/snapshots`.
    pub fn list_snapshots(&self, id: &str) -> Result<SnapshotList> {
        self.get(&container_path(id, "/snapshots")?)
    }

    /// `POST /api/v1/containers/{id}/snapshots`.
    pub fn create_snapshot(&self, id: &str, req: &CreateSnapshot) -> Result<Snapshot> {
        self.send_json("POST", &container_path(id, "/snapshots")?, req)
    }

    /// `PUT /api/v1/containers/{id}/snapshots/{name}`: rolls the container's files back to
    /// the snapshot `name` (a name or an alias); returns the container afterwards.
    pub fn restore_snapshot(&self, id: &str, name: &str) -> Result<Container> {
        self.call("PUT", &snapshot_path(id, name, "")?, None)
    }

    /// `PUT /api/v1/containers/{id}/snapshots/{name}/alias` (`alias: None` removes it).
    pub fn set_snapshot_alias(
        &self,
        id: &str,
        name: &str,
        alias: &SnapshotAlias,
    ) -> Result<Snapshot> {
        self.send_json("PUT", &snapshot_path(id, name, "/alias")?, alias)
    }

    /// `DELETE /api/v1/containers/{id}/snapshots/{name}`.
    pub fn delete_snapshot(&self, id: &str, name: &str) -> Result<()> {
        self.call("DELETE", &snapshot_path(id, name, "")?, None)
    }

    /// `POST /api/v1/containers/{id}/copy`: returns at once with the new container, status
    /// `copying` (see [`Client::wait_for`]).
    pub fn copy_container(&self, id: &str, req: &CopyContainer) -> Result<Container> {
        self.send_json("POST", &container_path(id, "/copy")?, req)
    }

    /// `GET /api/v1/auth/tokens`: every token the caller may see (never their secrets).
    pub fn list_tokens(&self) -> Result<Vec<Token>> {
        self.get("/api/v1/auth/tokens")
    }

    /// `POST /api/v1/auth/tokens`: the answer holds the secret, which is never shown again.
    pub fn create_token(&self, req: &CreateToken) -> Result<CreatedToken> {
        self.send_json("POST", "/api/v1/auth/tokens", req)
    }

    /// `GET /api/v1/auth/tokens/{id}`.
    pub fn get_token(&self, id: &str) -> Result<Token> {
        self.get(&token_path(id, "")?)
    }

    /// `PUT /api/v1/auth/tokens/{id}`.
    pub fn update_token(&self, id: &str, req: &UpdateToken) -> Result<Token> {
        self.send_json("PUT", &token_path(id, "")?, req)
    }

    /// `POST /api/v1/auth/tokens/{id}/copy`: a new secret with the source's settings.
    pub fn copy_token(&self, id: &str, req: &CopyToken) -> Result<CreatedToken> {
        self.send_json("POST", &token_path(id, "/copy")?, req)
    }

    /// `POST /api/v1/auth/tokens/{id}/add-realm` (or `remove-realm` when `add` is false).
    pub fn token_realm(&self, id: &str, realm_id: &str, add: bool) -> Result<Token> {
        let verb = if add { "/add-realm" } else { "/remove-realm" };
        let req = TokenRealm {
            realm_id: realm_id.to_string(),
            otp_code: None,
        };
        self.send_json("POST", &token_path(id, verb)?, &req)
    }

    /// `GET /api/v1/auth/tokens/me`: the calling token and its restrictions.
    pub fn current_token(&self) -> Result<CurrentToken> {
        self.get("/api/v1/auth/tokens/me")
    }

    /// `GET /api/v1/auth/tokens/templates`.
    pub fn token_templates(&self) -> Result<Vec<TokenTemplate>> {
        self.get("/api/v1/auth/tokens/templates")
    }

    /// `DELETE /api/v1/auth/tokens/{id}`: revokes the token.
    pub fn delete_token(&self, id: &str) -> Result<()> {
        self.call("DELETE", &token_path(id, "")?, None)
    }

    /// `GET /api/v1/proxy/aliases` (filters as given).
    pub fn list_aliases(&self, q: &AliasQuery) -> Result<AliasList> {
        let mut parts = Vec::new();
        if let Some(p) = &q.project_id {
            parts.push(format!("project_id={}", encode(p)));
        }
        if let Some(c) = &q.container_id {
            parts.push(format!("container_id={}", encode(c)));
        }
        if let Some(e) = q.enabled {
            parts.push(format!("enabled={e}"));
        }
        if let Some(e) = q.expired {
            parts.push(format!("expired={e}"));
        }
        let query = if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        };
        self.get(&format!("/api/v1/proxy/aliases{query}"))
    }

    /// `POST /api/v1/proxy/aliases`.
    pub fn create_alias(&self, req: &CreateAlias) -> Result<Alias> {
        self.send_json("POST", "/api/v1/proxy/aliases", req)
    }

    /// `GET /api/v1/proxy/aliases/{id}`.
    pub fn get_alias(&self, id: &str) -> Result<Alias> {
        self.get(&format!("/api/v1/proxy/aliases/{}", segment("alias", id)?))
    }

    /// `PATCH /api/v1/proxy/aliases/{id}`.
    pub fn update_alias(&self, id: &str, req: &UpdateAlias) -> Result<Alias> {
        let path = format!("/api/v1/proxy/aliases/{}", segment("alias", id)?);
        self.send_json("PATCH", &path, req)
    }

    /// `PATCH /api/v1/proxy/aliases/{id}/state`.
    pub fn set_alias_state(&self, id: &str, enabled: bool) -> Result<Alias> {
        let path = format!("/api/v1/proxy/aliases/{}/state", segment("alias", id)?);
        self.send_json("PATCH", &path, &AliasState { enabled })
    }

    /// `DELETE /api/v1/proxy/aliases/{id}`.
    pub fn delete_alias(&self, id: &str) -> Result<()> {
        let path = format!("/api/v1/proxy/aliases/{}", segment("alias", id)?);
        self.call("DELETE", &path, None)
    }

    /// `GET /api/v1/proxy/state`: aliases and permission documents (what hoody-proxy loads).
    pub fn proxy_state(&self) -> Result<ProxyState> {
        self.get("/api/v1/proxy/state")
    }

    /// `GET /api/v1/containers/{id}/proxy/logs?limit=N`.
    pub fn access_log(&self, id: &str, limit: usize) -> Result<AccessLog> {
        self.get(&format!(
            "{}?limit={limit}",
            container_path(id, "/proxy/logs")?
        ))
    }

    /// `GET /api/v1/openapi.json`: the OpenAPI document (not enveloped).
    pub fn openapi(&self) -> Result<serde_json::Value> {
        let path = "/api/v1/openapi.json";
        let r = self.request_raw("GET", path, None, &[])?;
        if !r.is_success() {
            return Err(ClientError::Api(r.api_error()));
        }
        serde_json::from_slice(&r.body).map_err(|e| bad_body("GET", path, &r, &e))
    }

    /// `GET /api/v1/events/stream`: state changes as they happen, until hoodyd stops or the
    /// [`Events`] is dropped. Reads have no timeout (hoodyd sends a keep-alive every 15 s).
    pub fn events(&self) -> Result<Events> {
        let path = "/api/v1/events/stream";
        let (head, mut body) = self.open("GET", path, None, &[("Accept", "text/event-stream")])?;
        if !(200..300).contains(&head.status) {
            let body = read_body(&mut body, &self.describe("GET", path))?;
            let r = RawResponse {
                status: head.status,
                reason: head.reason,
                headers: head.headers,
                body,
            };
            return Err(ClientError::Api(r.api_error()));
        }
        body.set_read_timeout(None).map_err(|e| ClientError::Io {
            request: self.describe("GET", path),
            source: e,
        })?;
        Ok(Events {
            reader: BufReader::new(body),
            request: self.describe("GET", path),
            last_event_id: None,
            done: false,
        })
    }

    /// Polls the container every [`POLL_INTERVAL`] until `pred` holds for it, and returns it
    /// then; [`ClientError::Timeout`] after `timeout`. Typical predicate:
    /// `|c| !c.status.is_busy()` (creation or copying finished).
    pub fn wait_for(
        &self,
        id: &str,
        pred: impl Fn(&Container) -> bool,
        timeout: Duration,
    ) -> Result<Container> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.get_container(id)?;
            if pred(&c) {
                return Ok(c);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ClientError::Timeout(format!(
                    "container {id} did not reach the awaited state within {}s (it is {})",
                    timeout.as_secs_f64(),
                    c.status
                )));
            }
            std::thread::sleep(POLL_INTERVAL.min(deadline - now));
        }
    }

    // ---- HTTP ------------------------------------------------------------------------------

    /// Sends one request and returns the answer whatever its status. `path` (with any query)
    /// is sent as given, after the base URL's prefix; `headers` replace the defaults of the
    /// same name (`Host`, `User-Agent`, `Accept`, `Connection`, `Authorization`,
    /// `Content-Type: application/json`, `Content-Length`), so tests can send malformed
    /// requests on purpose. Only CR and LF are refused (they would split the request).
    pub fn request_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<RawResponse> {
        let (head, mut reader) = self.open(method, path, body, headers)?;
        let body = if method.eq_ignore_ascii_case("HEAD") {
            Vec::new()
        } else {
            read_body(&mut reader, &self.describe(method, path))?
        };
        Ok(RawResponse {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body,
        })
    }

    /// Like [`Client::request_raw`], but the body is left to read as it arrives (a file
    /// download of any size, in constant memory).
    pub fn request_stream(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<StreamResponse> {
        let (head, reader) = self.open(method, path, body, headers)?;
        Ok(StreamResponse {
            status: head.status,
            reason: head.reason,
            headers: head.headers,
            body: Box::new(reader),
        })
    }

    /// The host and port of a TCP client's base URL (`None` over a unix socket).
    pub fn tcp_host(&self) -> Option<(&str, u16)> {
        match &self.endpoint {
            Endpoint::Tcp { host, port, .. } => Some((host, *port)),
            Endpoint::Unix(_) => None,
        }
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call("GET", path, None)
    }

    fn send_json<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        let body = serde_json::to_vec(body).map_err(|e| {
            ClientError::Protocol(format!("{method} {path}: encoding the request body: {e}"))
        })?;
        self.call(method, path, Some(&body))
    }

    /// Sends a request and unwraps the envelope's `data`.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<T> {
        let r = self.request_raw(method, path, body, &[])?;
        if !r.is_success() {
            return Err(ClientError::Api(r.api_error()));
        }
        serde_json::from_slice::<Envelope<T>>(&r.body)
            .map(|e| e.data)
            .map_err(|e| bad_body(method, path, &r, &e))
    }

    fn describe(&self, method: &str, path: &str) -> String {
        format!("{method} {path} on {}", self.endpoint)
    }

    /// Connects, sends the request and reads the answer's head; the body is left to read.
    fn open(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<(Head, BodyReader<BufReader<Conn>>)> {
        let request = self.encode_request(method, path, body, headers)?;
        let mut conn = self.connect()?;
        let io_err = |source: io::Error| ClientError::Io {
            request: self.describe(method, path),
            source: timeout_message(source, self.read_timeout),
        };
        conn.write_all(&request).map_err(io_err)?;
        conn.flush().map_err(io_err)?;
        let mut reader = BufReader::new(conn);
        let head = read_head(&mut reader).map_err(|e| match e {
            HeadError::Io(e) => io_err(e),
            HeadError::Protocol(m) => {
                ClientError::Protocol(format!("{}: {m}", self.describe(method, path)))
            }
        })?;
        let no_body = method.eq_ignore_ascii_case("HEAD") || matches!(head.status, 204 | 304);
        let body = BodyReader::new(reader, &head.headers, no_body)
            .map_err(|m| ClientError::Protocol(format!("{}: {m}", self.describe(method, path))))?;
        Ok((head, body))
    }

    fn encode_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> Result<Vec<u8>> {
        let bad = |what: &str| {
            ClientError::Protocol(format!("{method} {path}: {what} must not contain CR or LF"))
        };
        let crlf = |s: &str| s.contains(['\r', '\n']);
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic() || b == b'-') {
            return Err(ClientError::Protocol(format!(
                "invalid HTTP method {method:?}"
            )));
        }
        if crlf(path) {
            return Err(bad("the path"));
        }
        for (n, v) in headers {
            if crlf(n) || crlf(v) || n.contains(':') {
                return Err(bad("a header"));
            }
        }
        let (authority, prefix) = match &self.endpoint {
            Endpoint::Unix(_) => ("localhost", ""),
            Endpoint::Tcp {
                authority, prefix, ..
            } => (authority.as_str(), prefix.as_str()),
        };
        let mut out = format!("{method} {prefix}{path} HTTP/1.1\r\n");
        let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut default = |name: &str, value: &str| {
            if !given(name) {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
        };
        default("Host", authority);
        default(
            "User-Agent",
            concat!("hoody-client/", env!("CARGO_PKG_VERSION")),
        );
        default("Accept", "application/json");
        default("Connection", "close");
        if let Some(t) = &self.token {
            if crlf(t) {
                return Err(bad("the token"));
            }
            default("Authorization", &format!("Bearer {t}"));
        }
        if body.is_some() {
            default("Content-Type", "application/json");
        }
        let sends_body = body.is_some()
            || ["POST", "PUT", "PATCH"]
                .iter()
                .any(|m| method.eq_ignore_ascii_case(m));
        if sends_body {
            default("Content-Length", &body.map_or(0, <[u8]>::len).to_string());
        }
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut out = out.into_bytes();
        out.extend_from_slice(body.unwrap_or_default());
        Ok(out)
    }

    fn connect(&self) -> Result<Conn> {
        let connect_err = |source: io::Error| ClientError::Connect {
            addr: self.endpoint.to_string(),
            source,
        };
        let conn = match &self.endpoint {
            Endpoint::Unix(path) => Conn::Unix(UnixStream::connect(path).map_err(connect_err)?),
            Endpoint::Tcp { host, port, .. } => {
                let addrs: Vec<SocketAddr> = match self.resolve {
                    Some(ip) => vec![SocketAddr::new(ip, *port)],
                    None => (host.as_str(), *port)
                        .to_socket_addrs()
                        .map_err(connect_err)?
                        .collect(),
                };
                let mut last = io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{host} resolves to no address"),
                );
                let mut stream = None;
                for a in addrs {
                    match TcpStream::connect_timeout(&a, self.connect_timeout) {
                        Ok(s) => {
                            stream = Some(s);
                            break;
                        }
                        Err(e) => last = e,
                    }
                }
                let s = stream.ok_or_else(|| connect_err(last))?;
                // Requests are written in one go; no point delaying them.
                let _ = s.set_nodelay(true);
                Conn::Tcp(s)
            }
        };
        conn.set_read_timeout(self.read_timeout)
            .and_then(|()| conn.set_write_timeout(self.read_timeout))
            .map_err(connect_err)?;
        Ok(conn)
    }
}

fn bad_body(method: &str, path: &str, r: &RawResponse, e: &serde_json::Error) -> ClientError {
    ClientError::Protocol(format!(
        "{method} {path}: unexpected answer (HTTP {}): {e}: {}",
        r.status,
        quote(r.text().trim())
    ))
}

/// Says which timeout expired instead of "Resource temporarily unavailable".
fn timeout_message(e: io::Error, timeout: Option<Duration>) -> io::Error {
    match (e.kind(), timeout) {
        (io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut, Some(t)) => io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {}s", t.as_secs_f64()),
        ),
        _ => e,
    }
}

fn read_body(body: &mut impl Read, request: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    body.take(MAX_BODY + 1)
        .read_to_end(&mut out)
        .map_err(|e| ClientError::Io {
            request: request.to_string(),
            source: e,
        })?;
    if out.len() as u64 > MAX_BODY {
        return Err(ClientError::Protocol(format!(
            "{request}: the answer is larger than {MAX_BODY} bytes"
        )));
    }
    Ok(out)
}

// ---- paths -------------------------------------------------------------------------------

/// Percent-encodes `s` for a path segment or a query value: everything but `A-Z a-z 0-9 - . _
/// ~`, and the dots too when the segment is `.` or `..` (which URL normalisers would remove).
fn encode(s: &str) -> String {
    crate::url::segment(s)
}

/// An id as a path segment; empty is the server's own `INVALID_ID_FORMAT` (an empty segment
/// would name another route).
fn segment(what: &str, id: &str) -> Result<String> {
    if id.is_empty() {
        crate::id::check(what, id)?;
    }
    Ok(encode(id))
}

/// A name (snapshot, env key) as a path segment.
fn name_segment(what: &str, name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(ApiError::validation(what, "must not be empty").into());
    }
    Ok(encode(name))
}

fn project_path(id: &str) -> Result<String> {
    Ok(format!("/api/v1/projects/{}", segment("project", id)?))
}

fn container_path(id: &str, rest: &str) -> Result<String> {
    Ok(format!(
        "/api/v1/containers/{}{rest}",
        segment("container", id)?
    ))
}

/// `/api/v1/auth/tokens/{id}{rest}`.
fn token_path(id: &str, rest: &str) -> Result<String> {
    Ok(format!(
        "/api/v1/auth/tokens/{}{rest}",
        segment("token", id)?
    ))
}

fn snapshot_path(id: &str, name: &str, rest: &str) -> Result<String> {
    container_path(
        id,
        &format!("/snapshots/{}{rest}", name_segment("name", name)?),
    )
}

/// `?page=…&limit=…` of the fields set (empty when none is).
fn query_string(q: &ListQuery) -> String {
    let mut parts = Vec::new();
    if let Some(p) = q.page {
        parts.push(format!("page={p}"));
    }
    if let Some(l) = q.limit {
        parts.push(format!("limit={l}"));
    }
    if let Some(s) = &q.sort_by {
        parts.push(format!("sort_by={}", encode(s)));
    }
    if let Some(s) = &q.sort_order {
        parts.push(format!("sort_order={}", encode(s)));
    }
    if let Some(d) = q.include_deleting {
        parts.push(format!("include_deleting={d}"));
    }
    if let Some(r) = &q.realm_id {
        parts.push(format!("realm_id={}", encode(r)));
    }
    if let Some(p) = q.include_proxy_permissions {
        parts.push(format!("include_proxy_permissions={p}"));
    }
    if let Some(r) = &q.runtime {
        parts.push(format!("runtime={}", encode(r)));
    }
    for (name, v) in [
        ("include_proxy_domains", q.include_proxy_domains),
        ("include_prespawn", q.include_prespawn),
        ("include_expired", q.include_expired),
    ] {
        if let Some(v) = v {
            parts.push(format!("{name}={v}"));
        }
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

#[cfg(test)]
mod tests;
