//! Reaching a container's Kit services (terminal, files, sqlite, exec, ...) from outside it:
//! [`KitClient`].
//!
//! Two routes, chosen by [`KitClient::for_container`] from how the API is reached:
//! - **through hoody-proxy** when the API's base URL is `http://api.{domain}[:port]` (the
//!   reference's one-base-URL setup, §2.2): the Kit host
//!   `{project}-{container}-{service}-{N}.{server}.containers.{domain}` on the same address,
//!   so the proxy's permissions apply;
//! - **straight to the Kit** otherwise (hoodyd's unix socket, i.e. on the container's own
//!   server): `http://{container ip}:{port}` with the instance in [`INSTANCE_HEADER`], the
//!   header hoody-proxy would set.

use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};

use serde_json::Value;

use crate::client::{Client, ClientError, RawResponse, StreamResponse};
use crate::{ApiError, Container};

pub use hoody_kit::ports::{INSTANCE_HEADER, Kit, SERVED, kit_port};

type Result<T> = std::result::Result<T, ClientError>;

/// A client of one Kit service instance of one container.
#[derive(Debug, Clone)]
pub struct KitClient {
    http: Client,
    /// `Some(instance)` when talking to the Kit directly (the header to send).
    instance_header: Option<String>,
    what: String,
}

/// The Kit host name of `service`-`instance` of a container (reference §2.2).
pub fn kit_host(
    project: &str,
    container: &str,
    service: Kit,
    instance: &str,
    server: &str,
    domain: &str,
) -> String {
    format!(
        "{project}-{container}-{}-{instance}.{server}.containers.{domain}",
        service.slug()
    )
}

impl KitClient {
    /// Straight to the Kit at `ip` (as root on the container's server).
    pub fn direct(ip: IpAddr, service: Kit, instance: &str) -> Result<KitClient> {
        let host = match ip {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        Ok(KitClient {
            http: Client::tcp(&format!("http://{host}:{}", kit_port(service)), None)?,
            instance_header: Some(instance.to_string()),
            what: format!("{service}-{instance} at {host}"),
        })
    }

    /// Through hoody-proxy at `connect:port`, asking for `host` (a [`kit_host`] name).
    pub fn via_proxy(connect: IpAddr, port: u16, host: &str) -> Result<KitClient> {
        Ok(KitClient {
            http: Client::tcp(&format!("http://{host}:{port}"), None)?.with_resolve(connect),
            instance_header: None,
            what: host.to_string(),
        })
    }

    /// The route `api` suggests for `container` (see the module doc).
    pub fn for_container(
        api: &Client,
        container: &Container,
        service: Kit,
        instance: &str,
    ) -> Result<KitClient> {
        if let Some((host, port)) = api.tcp_host()
            && let Some(domain) = host.strip_prefix("api.")
        {
            let server = api.get_server(&container.server_id)?.name;
            let connect = (host, port)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .map(|a| a.ip())
                .ok_or_else(|| {
                    ClientError::Protocol(format!("cannot resolve {host} (the proxy's address)"))
                })?;
            let name = kit_host(
                &container.project_id,
                &container.id,
                service,
                instance,
                &server,
                domain,
            );
            return KitClient::via_proxy(connect, port, &name);
        }
        let ip = container
            .ip
            .as_deref()
            .and_then(|ip| ip.split('/').next())
            .and_then(|ip| ip.parse().ok())
            .ok_or_else(|| {
                ClientError::Api(ApiError::new(
                    409,
                    "CONTAINER_NOT_RUNNING",
                    format!(
                        "container {} has no address (is it running?): its {service} cannot be reached",
                        container.id
                    ),
                ))
            })?;
        KitClient::direct(ip, service, instance)
    }

    /// With a read timeout for long calls (`None`: wait forever).
    pub fn with_read_timeout(mut self, t: Option<std::time::Duration>) -> KitClient {
        self.http = self.http.with_read_timeout(t);
        self
    }

    /// Where requests go (for messages).
    pub fn describe(&self) -> &str {
        &self.what
    }

    fn headers<'a>(&'a self, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut h = extra.to_vec();
        if let Some(i) = &self.instance_header {
            h.push((INSTANCE_HEADER, i.as_str()));
        }
        h
    }

    /// One request, whatever its status.
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>) -> Result<RawResponse> {
        self.http
            .request_raw(method, path, body, &self.headers(&[]))
    }

    /// One request whose body is read as it arrives.
    pub fn stream(&self, method: &str, path: &str) -> Result<StreamResponse> {
        self.http
            .request_stream(method, path, None, &self.headers(&[]))
    }

    /// A JSON request; a non-2xx answer becomes [`ClientError::Api`] with the Kit's code and
    /// message.
    pub fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value> {
        let bytes = match body {
            Some(b) => Some(serde_json::to_vec(b).map_err(|e| {
                ClientError::Protocol(format!("{method} {path}: encoding the body: {e}"))
            })?),
            None => None,
        };
        let r = self.request(method, path, bytes.as_deref())?;
        if !r.is_success() {
            return Err(ClientError::Api(kit_error(&r)));
        }
        serde_json::from_slice(&r.body).map_err(|e| {
            ClientError::Protocol(format!(
                "{method} {path} on {}: the answer is not JSON: {e}",
                self.what
            ))
        })
    }

    /// `POST /api/v1/terminal/execute` (terminal service): `request` is
    /// `{command, timeout?, wait?, cwd?, env?}`.
    pub fn terminal_execute(&self, terminal_id: Option<u32>, request: &Value) -> Result<Value> {
        let path = match terminal_id {
            Some(id) => format!("/api/v1/terminal/execute?terminal_id={id}"),
            None => "/api/v1/terminal/execute".to_string(),
        };
        self.json("POST", &path, Some(request))
    }

    /// `GET /api/v1/terminal/sessions` (terminal service).
    pub fn terminal_sessions(&self) -> Result<Value> {
        self.json("GET", "/api/v1/terminal/sessions", None)
    }

    /// `POST /api/v1/sqlite/db?db=` (sqlite service): `request` is
    /// `{transaction:[{statement|query, values?}], ...}`; `create`: make the database when it
    /// does not exist.
    pub fn db_transaction(&self, db: &str, request: &Value, create: bool) -> Result<Value> {
        let mut path = format!("/api/v1/sqlite/db?db={}", encode_query(db));
        if create {
            path.push_str("&create_db_if_missing=true");
        }
        self.json("POST", &path, Some(request))
    }

    /// `GET /api/v1/sqlite/query?db=&sql=` (sqlite service): a read-only query given as a
    /// shareable URL, the SQL in standard base64.
    pub fn db_query_url(&self, db: &str, sql: &str) -> Result<Value> {
        self.json("GET", &db_query_path(db, sql), None)
    }

    /// `GET /{path}` (files service): a file's bytes as they arrive, or a directory's
    /// listing with `?json`.
    pub fn files_get(&self, path: &str, json: bool) -> Result<StreamResponse> {
        let mut p = encode_path(path);
        if json {
            p.push_str("?json");
        }
        let r = self.stream("GET", &p)?;
        if !(200..300).contains(&r.status) {
            let raw = r.into_raw().map_err(|e| ClientError::Io {
                request: format!("GET {p} on {}", self.what),
                source: e,
            })?;
            return Err(ClientError::Api(kit_error(&raw)));
        }
        Ok(r)
    }
}

/// The error a Kit answer stands for: Kit services answer `{error, code}`; anything else
/// keeps the status and the text.
pub fn kit_error(r: &RawResponse) -> ApiError {
    if let Ok(v) = serde_json::from_slice::<Value>(&r.body)
        && let (Some(msg), Some(code)) = (v["error"].as_str(), v["code"].as_str())
    {
        return ApiError::new(r.status, code, msg);
    }
    r.api_error()
}

/// Percent-encodes a file path for a URL path (keeps `/` and unreserved characters).
pub fn encode_path(path: &str) -> String {
    crate::url::path(path)
}

fn encode_query(s: &str) -> String {
    crate::url::component(s)
}

/// The path of a shareable read-only query: `db` and the SQL in standard base64, both
/// percent-encoded.
fn db_query_path(db: &str, sql: &str) -> String {
    use base64::Engine as _;
    let sql = base64::engine::general_purpose::STANDARD.encode(sql);
    format!(
        "/api/v1/sqlite/query?db={}&sql={}",
        encode_query(db),
        encode_query(&sql)
    )
}

/// Copies a streamed body to `out`; the number of bytes.
pub fn copy_body(r: &mut StreamResponse, out: &mut impl std::io::Write) -> std::io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.body.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        out.write_all(&buf[..k])?;
        n += k as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_and_paths() {
        assert_eq!(
            kit_host("p1", "c1", Kit::Terminal, "2", "node-1", "hoody.test"),
            "p1-c1-terminal-2.node-1.containers.hoody.test"
        );
        assert_eq!(encode_path("etc/os release"), "/etc/os%20release");
        assert_eq!(encode_path("/a/b?c#d"), "/a/b%3Fc%23d");
        assert_eq!(
            db_query_path("data/app.db", "SELECT 1"),
            "/api/v1/sqlite/query?db=data%2Fapp.db&sql=U0VMRUNUIDE%3D"
        );
        assert!(db_query_path("a", "ab").ends_with("&sql=YWI%3D"));
        assert!(db_query_path("a", "abc").ends_with("&sql=YWJj"));
        assert_eq!(encode_query("/x/y.db"), "%2Fx%2Fy.db");
    }
}
