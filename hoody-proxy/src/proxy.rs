//! The forwarding core: accept HTTP/1.1 and HTTP/2 (plain or TLS with ALPN), find the target
//! from the host name and the [`RouteMap`], forward with bodies streamed both ways and
//! WebSocket (HTTP/1.1 Upgrade) tunnels spliced, through keep-alive connection pools.
//!
//! Host handling is strict, because a host that is read two ways can be routed to the wrong
//! container: more than one `Host` header, or an absolute-form target (or HTTP/2
//! `:authority`) that disagrees with `Host`, is a 400; the host is then parsed by
//! [`crate::hostname`], which rejects anything outside the grammar. Requests are parsed by
//! hyper and re-framed on the way out: a request with both `Content-Length` and
//! `Transfer-Encoding` is read as chunked with the length dropped (RFC 9112 §6.3, what an
//! intermediary must do), conflicting lengths are refused, and the upstream receives exactly
//! the body hyper read, so proxy and upstream cannot disagree about where a request ends (and
//! hyper closes such a connection after answering: bytes a client hid behind it are never read).
//!
//! The client's address reaches the upstream in `X-Forwarded-For`, `X-Forwarded-Proto`,
//! `X-Forwarded-Host` and `Forwarded` (set by the proxy; values a client sent in these
//! headers are dropped, not trusted).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::Client as PoolClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::accesslog::AccessLogger;
use crate::hostname::{Domains, Kit, Service, Target, parse_host};
use crate::permissions;
use crate::ports::{INSTANCE_HEADER, kit_port};
use crate::routes::RouteMap;

/// Buffer per direction of a spliced (WebSocket) tunnel. Idle WebSockets are mostly these
/// buffers; 4 KiB carries interactive traffic without a second read.
const TUNNEL_BUF: usize = 4096;

/// Response body: upstream bodies streamed as they come, or the proxy's own small answers.
pub type Body = BoxBody<Bytes, hyper::Error>;

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Apex domain and server name.
    pub domains: Domains,
    /// hoodyd's unix socket (`api.{apex}` is forwarded there).
    pub api_socket: PathBuf,
    /// Connecting to an upstream may take this long (then 502).
    pub connect_timeout: Duration,
    /// An upstream may take this long to send its response head (then 504).
    pub response_timeout: Duration,
    /// A client may take this long to send a request head.
    pub header_timeout: Duration,
}

impl ProxyConfig {
    /// Defaults for `domains`, with hoodyd at its default socket.
    pub fn new(domains: Domains) -> Self {
        ProxyConfig {
            domains,
            api_socket: PathBuf::from(hoody::client::DEFAULT_SOCKET),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(300),
            header_timeout: Duration::from_secs(30),
        }
    }
}

/// The proxy (cheap to clone, shared).
#[derive(Debug, Clone)]
pub struct Proxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cfg: ProxyConfig,
    routes: RouteMap,
    pool: PoolClient<HttpConnector, Incoming>,
    log: Option<AccessLogger>,
}

/// The service an alias's program names.
fn alias_service(program: &str, port: Option<u16>, index: u64) -> Option<Service> {
    let index = u32::try_from(index).ok()?;
    Some(match program {
        "http" => Service::Http(port?),
        "https" => Service::Https(port?),
        "ssh" => Service::Ssh,
        "notifications" => Service::Kit {
            kit: Kit::Notifications,
            index,
        },
        other => Service::Kit {
            kit: Kit::from_slug(other)?,
            index,
        },
    })
}

/// A response body that, when it ends or is dropped, records the request with the bytes it
/// carried and how long it took.
struct Logged {
    inner: Body,
    pending: Option<(AccessLogger, crate::accesslog::Request, std::time::Instant)>,
}

impl hyper::body::Body for Logged {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(f))) = &polled
            && let Some(d) = f.data_ref()
            && let Some((_, e, _)) = self.pending.as_mut()
        {
            e.bytes += d.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        if let Some((log, mut e, started)) = self.pending.take() {
            e.duration = started.elapsed();
            log.record(e);
        }
    }
}

/// The proxy's own answer: `{statusCode, error, message}`, like hoodyd's errors.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "statusCode": status.as_u16(),
        "error": code,
        "message": message,
    })
    .to_string();
    let mut r = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// The request's path and query as an origin-form target (`None`: answer [`bad_target`]).
fn origin_form<B>(req: &Request<B>) -> Option<Uri> {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    Uri::try_from(path).ok()
}

fn bad_target() -> Response<Body> {
    error_response(StatusCode::BAD_REQUEST, "BAD_TARGET", "bad path")
}

fn unreachable_upstream(why: String) -> Response<Body> {
    error_response(StatusCode::BAD_GATEWAY, "UPSTREAM_UNREACHABLE", &why)
}

fn timed_out(upstream: &str) -> Response<Body> {
    error_response(
        StatusCode::GATEWAY_TIMEOUT,
        "UPSTREAM_TIMEOUT",
        &format!("{upstream} did not answer in time"),
    )
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[HeaderName] = &[
    header::CONNECTION,
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for n in listed.iter().chain(HOP_BY_HOP) {
        if keep_upgrade && (n == header::UPGRADE || n == header::CONNECTION) {
            continue;
        }
        h.remove(n);
    }
    h.remove("keep-alive");
    h.remove("proxy-connection");
}

fn is_upgrade(h: &HeaderMap) -> bool {
    h.contains_key(header::UPGRADE)
        && h.get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// The one host a request names, or why it is refused.
fn request_host<B>(req: &Request<B>) -> Result<String, &'static str> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let header = hosts.next();
    if hosts.next().is_some() {
        return Err("more than one Host header");
    }
    let header = header
        .map(|h| h.to_str().map_err(|_| "the Host header is not text"))
        .transpose()?;
    let authority = req.uri().authority().map(|a| a.as_str());
    match (authority, header) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => {
            Err("the request target and the Host header name different hosts")
        }
        (Some(a), _) => Ok(a.to_string()),
        (None, Some(h)) => Ok(h.to_string()),
        (None, None) => Err("no Host header"),
    }
}

impl Proxy {
    /// A proxy over `routes`, logging requests to containers in `log` when given.
    pub fn new(cfg: ProxyConfig, routes: RouteMap, log: Option<AccessLogger>) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        conn.set_connect_timeout(Some(cfg.connect_timeout));
        let pool = PoolClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(conn);
        Proxy {
            inner: Arc::new(Inner {
                cfg,
                routes,
                pool,
                log,
            }),
        }
    }

    /// The route map.
    pub fn routes(&self) -> &RouteMap {
        &self.inner.routes
    }

    /// Answers one request from `peer` (over TLS when `tls`).
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        peer: SocketAddr,
        tls: bool,
    ) -> Response<Body> {
        let host = match request_host(&req) {
            Ok(h) => h,
            Err(why) => return error_response(StatusCode::BAD_REQUEST, "BAD_HOST", why),
        };
        let target = match parse_host(&host, &self.inner.cfg.domains) {
            Ok(t) => t,
            Err(e) => {
                return error_response(
                    StatusCode::NOT_FOUND,
                    "UNKNOWN_HOST",
                    &format!("no service at {host}: {e}"),
                );
            }
        };
        match target {
            Target::Api => self.forward_api(req, peer, tls, &host).await,
            Target::Alias(name) => {
                let tables = self.inner.routes.tables();
                let now = crate::accesslog::now_rfc3339();
                let Some(a) = tables.aliases.get(&name).filter(|a| {
                    a.enabled
                        && a.expires_at
                            .as_ref()
                            .is_none_or(|e| e.as_str() > now.as_str())
                }) else {
                    return error_response(
                        StatusCode::NOT_FOUND,
                        "ALIAS_NOT_FOUND",
                        &format!("no alias {name} on this server"),
                    );
                };
                let Some(service) = alias_service(&a.program, a.port, a.index) else {
                    return error_response(
                        StatusCode::NOT_FOUND,
                        "ALIAS_NOT_FOUND",
                        &format!(
                            "alias {name} names program {} which this proxy does not know",
                            a.program
                        ),
                    );
                };
                let mut req = req;
                if let Some(t) = &a.target_path
                    && req.uri().path() == "/"
                    && let Ok(u) = Uri::try_from(t.as_str())
                {
                    *req.uri_mut() = u;
                }
                let (container, project) = (a.container_id.clone(), a.project_id.clone());
                self.to_service(req, &project, &container, service, peer, tls, &host)
                    .await
            }
            Target::Service {
                project,
                container,
                service,
                sub: _,
            } => {
                self.to_service(req, &project, &container, service, peer, tls, &host)
                    .await
            }
        }
    }

    /// Forwards to `service` of `container` (which must belong to `project`), logging the
    /// request in the container's access log.
    #[allow(clippy::too_many_arguments)]
    async fn to_service(
        &self,
        mut req: Request<Incoming>,
        project: &str,
        container: &str,
        service: Service,
        peer: SocketAddr,
        tls: bool,
        host: &str,
    ) -> Response<Body> {
        let started = std::time::Instant::now();
        let method = req.method().to_string();
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string();
        let unavailable = |why: String| {
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "CONTAINER_UNAVAILABLE",
                &why,
            )
        };
        let resp = match self.inner.routes.get(container) {
            Some(route) if route.project_id == project => match route.upstream() {
                None => unavailable(format!("container {container} is {}", route.status)),
                Some(ip) => match self.authorize(&req, peer, project, container, service) {
                    Some(refused) => refused,
                    None => match service {
                        Service::Http(p) => {
                            self.forward(req, SocketAddr::new(IpAddr::V4(ip), p), peer, tls, host)
                                .await
                        }
                        Service::Kit { kit, index } => {
                            req.headers_mut()
                                .insert(INSTANCE_HEADER, HeaderValue::from(index));
                            let to = SocketAddr::new(IpAddr::V4(ip), kit_port(kit));
                            self.forward(req, to, peer, tls, host).await
                        }
                        Service::Https(p) => {
                            let to = SocketAddr::new(IpAddr::V4(ip), p);
                            self.forward_tls(req, to, peer, tls, host).await
                        }
                        Service::Ssh => error_response(
                            StatusCode::NOT_IMPLEMENTED,
                            "NOT_IMPLEMENTED",
                            "ssh is not HTTP: hoody-proxy does not route it yet",
                        ),
                    },
                },
            },
            // A container of another project is as absent as a missing one: nothing leaks.
            _ => unavailable(format!("container {container} is not on this server")),
        };
        match &self.inner.log {
            None => resp,
            Some(log) => {
                let (parts, body) = resp.into_parts();
                let pending = crate::accesslog::Request {
                    container: container.to_string(),
                    at: std::time::SystemTime::now(),
                    client_ip: peer.ip(),
                    method,
                    host: host.to_string(),
                    path,
                    status: parts.status.as_u16(),
                    bytes: 0,
                    duration: Duration::ZERO,
                    service: service.to_string(),
                };
                let body = Logged {
                    inner: body,
                    pending: Some((log.clone(), pending, started)),
                };
                Response::from_parts(parts, body.boxed())
            }
        }
    }

    /// Applies the project's and the container's permission documents: `None` to forward,
    /// else the refusal (403, or 401 with a Basic challenge). Without documents this costs two
    /// hash lookups.
    fn authorize(
        &self,
        req: &Request<Incoming>,
        peer: SocketAddr,
        project: &str,
        container: &str,
        service: Service,
    ) -> Option<Response<Body>> {
        let tables = self.inner.routes.tables();
        let (pdoc, cdoc) = (
            tables.project_docs.get(project),
            tables.container_docs.get(container),
        );
        if pdoc.is_none() && cdoc.is_none() {
            return None;
        }
        let (program, instance) = match service {
            Service::Http(p) => ("http", u64::from(p)),
            Service::Https(p) => ("https", u64::from(p)),
            Service::Ssh => ("ssh", 22),
            Service::Kit { kit, index } => (kit.slug(), u64::from(index)),
        };
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let info = permissions::RequestInfo {
            client_ip: peer.ip(),
            headers: &headers,
            query: req.uri().query().unwrap_or(""),
            program,
            instance,
            now_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        match permissions::evaluate(pdoc, cdoc, &info) {
            permissions::Decision::Allow => None,
            permissions::Decision::Deny { reason } => Some(error_response(
                StatusCode::FORBIDDEN,
                "ACCESS_DENIED",
                &reason,
            )),
            permissions::Decision::Disabled => Some(error_response(
                StatusCode::FORBIDDEN,
                "PROXY_DISABLED",
                "the proxy is disabled for this container (enable_proxy: false)",
            )),
            permissions::Decision::Challenge { realm } => {
                let mut r = error_response(
                    StatusCode::UNAUTHORIZED,
                    "AUTHENTICATION_REQUIRED",
                    "credentials required",
                );
                if let Ok(v) = HeaderValue::from_str(&format!("Basic realm=\"{realm}\"")) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                Some(r)
            }
        }
    }

    /// Sets the forwarding headers, drops hop-by-hop ones, makes the request HTTP/1.1.
    fn prepare(req: &mut Request<Incoming>, peer: SocketAddr, tls: bool, host: &str) -> bool {
        let upgrade = is_upgrade(req.headers());
        let h = req.headers_mut();
        strip_hop_by_hop(h, upgrade);
        for n in [
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-forwarded-host",
            "forwarded",
        ] {
            h.remove(n);
        }
        let proto = if tls { "https" } else { "http" };
        let ip = peer.ip().to_string();
        let forwarded = match peer.ip() {
            IpAddr::V4(_) => format!("for={ip};proto={proto};host={host}"),
            IpAddr::V6(_) => format!("for=\"[{ip}]\";proto={proto};host={host}"),
        };
        for (n, v) in [
            ("x-forwarded-for", ip),
            ("x-forwarded-proto", proto.to_string()),
            ("x-forwarded-host", host.to_string()),
            ("forwarded", forwarded),
        ] {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(n, v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(host) {
            h.insert(header::HOST, v);
        }
        *req.version_mut() = Version::HTTP_11;
        upgrade
    }

    async fn forward(
        &self,
        mut req: Request<Incoming>,
        upstream: SocketAddr,
        peer: SocketAddr,
        tls: bool,
        host: &str,
    ) -> Response<Body> {
        let upgrade = Self::prepare(&mut req, peer, tls, host);
        let path = match origin_form(&req) {
            Some(p) => p,
            None => return bad_target(),
        };
        if upgrade {
            // An Upgrade (WebSocket) gets a connection of its own, spliced on 101.
            *req.uri_mut() = path;
            return match self.connect(upstream).await {
                Ok(s) => self.send_on(s, req, &upstream.to_string()).await,
                Err(why) => unreachable_upstream(why),
            };
        }
        *req.uri_mut() = match Uri::try_from(format!("http://{upstream}{path}")) {
            Ok(u) => u,
            Err(_) => return error_response(StatusCode::BAD_REQUEST, "BAD_TARGET", "bad path"),
        };
        let sent = tokio::time::timeout(
            self.inner.cfg.response_timeout,
            self.inner.pool.request(req),
        );
        match sent.await {
            Err(_) => timed_out(&upstream.to_string()),
            Ok(Err(e)) => unreachable_upstream(format!("{upstream}: {e}")),
            Ok(Ok(resp)) => {
                let (mut parts, body) = resp.into_parts();
                strip_hop_by_hop(&mut parts.headers, false);
                Response::from_parts(parts, body.boxed())
            }
        }
    }

    /// A TCP connection to `upstream`, within the connect timeout.
    async fn connect(&self, upstream: SocketAddr) -> Result<tokio::net::TcpStream, String> {
        match tokio::time::timeout(
            self.inner.cfg.connect_timeout,
            tokio::net::TcpStream::connect(upstream),
        )
        .await
        {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                Ok(s)
            }
            Ok(Err(e)) => Err(format!("{upstream}: {e}")),
            Err(_) => Err(format!("{upstream}: connect timed out")),
        }
    }

    /// Sends `req` (origin-form) as the only request on connection `io`; on 101 the client's
    /// and the upstream's upgraded connections are spliced until either side closes.
    async fn send_on<I>(&self, io: I, mut req: Request<Incoming>, label: &str) -> Response<Body>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) =
            match hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(io)).await {
                Ok(x) => x,
                Err(e) => return unreachable_upstream(format!("{label}: {e}")),
            };
        tokio::spawn(conn.with_upgrades());
        let client_side = is_upgrade(req.headers()).then(|| hyper::upgrade::on(&mut req));
        let sent = tokio::time::timeout(self.inner.cfg.response_timeout, sender.send_request(req));
        let mut resp = match sent.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return unreachable_upstream(format!("{label}: {e}")),
            Err(_) => return timed_out(label),
        };
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if let (true, Some(client_side)) = (switching, client_side) {
            let upstream_side = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                if let (Ok(c), Ok(u)) = (client_side.await, upstream_side.await) {
                    let _ = tokio::io::copy_bidirectional_with_sizes(
                        &mut TokioIo::new(c),
                        &mut TokioIo::new(u),
                        TUNNEL_BUF,
                        TUNNEL_BUF,
                    )
                    .await;
                }
            });
        }
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers, switching);
        Response::from_parts(parts, body.boxed())
    }

    /// `https-PORT`: the upstream speaks TLS inside the container. Its certificate is not
    /// verified: it is the app's own (self-signed, as a rule), reached over the container's
    /// routed link on this host, and the client's TLS ends at this proxy's verified
    /// certificate. One connection per request (no pool for TLS upstreams yet); upgrades
    /// (WebSocket) work as on plain upstreams.
    async fn forward_tls(
        &self,
        mut req: Request<Incoming>,
        upstream: SocketAddr,
        peer: SocketAddr,
        tls: bool,
        host: &str,
    ) -> Response<Body> {
        Self::prepare(&mut req, peer, tls, host);
        *req.uri_mut() = match origin_form(&req) {
            Some(p) => p,
            None => return bad_target(),
        };
        let stream = match self.connect(upstream).await {
            Ok(s) => s,
            Err(why) => return unreachable_upstream(why),
        };
        let name = rustls_pki_types::ServerName::try_from(host.to_string())
            .unwrap_or_else(|_| rustls_pki_types::ServerName::from(upstream.ip()));
        let connector = tokio_rustls::TlsConnector::from(upstream_tls());
        match connector.connect(name, stream).await {
            Ok(s) => self.send_on(s, req, &upstream.to_string()).await,
            Err(e) => unreachable_upstream(format!("{upstream}: TLS: {e}")),
        }
    }

    /// `api.{apex}`: forwarded to hoodyd's unix socket.
    async fn forward_api(
        &self,
        mut req: Request<Incoming>,
        peer: SocketAddr,
        tls: bool,
        host: &str,
    ) -> Response<Body> {
        Self::prepare(&mut req, peer, tls, host);
        // hoodyd's socket trusts its (root) callers; this marks the request as coming from the
        // network, so hoodyd asks for a token. A client's own copy of the header is replaced.
        req.headers_mut()
            .insert(hoody::server::PROXIED_HEADER, HeaderValue::from_static("1"));
        *req.uri_mut() = match origin_form(&req) {
            Some(p) => p,
            None => return bad_target(),
        };
        let sock = &self.inner.cfg.api_socket;
        match tokio::net::UnixStream::connect(sock).await {
            Ok(s) => self.send_on(s, req, "hoodyd").await,
            Err(e) => error_response(
                StatusCode::BAD_GATEWAY,
                "API_UNREACHABLE",
                &format!("hoodyd at {}: {e}", sock.display()),
            ),
        }
    }

    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut b = auto::Builder::new(TokioExecutor::new());
        b.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.inner.cfg.header_timeout);
        b
    }

    /// Serves one accepted connection (plain or TLS) until it closes.
    async fn serve_conn<I>(self, io: I, peer: SocketAddr, tls: bool)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let this = self.clone();
        let svc = hyper::service::service_fn(move |req| {
            let this = this.clone();
            async move { Ok::<_, Infallible>(this.handle(req, peer, tls).await) }
        });
        let _ = self
            .builder()
            .serve_connection_with_upgrades(TokioIo::new(io), svc)
            .await;
    }

    /// Serves plain HTTP (1.1, and HTTP/2 with prior knowledge) on `listener`, forever.
    pub async fn serve_plain(self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: wait, do not spin.
                    eprintln!("hoody-proxy: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(self.clone().serve_conn(stream, peer, false));
        }
    }

    /// Serves HTTPS (ALPN h2 or http/1.1) on `listener`, forever.
    pub async fn serve_tls(
        self,
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<()> {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    eprintln!("hoody-proxy: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let this = self.clone();
            tokio::spawn(async move {
                let handshake =
                    tokio::time::timeout(this.inner.cfg.header_timeout, acceptor.accept(stream));
                if let Ok(Ok(tls)) = handshake.await {
                    this.serve_conn(tls, peer, true).await;
                }
            });
        }
    }
}

/// The TLS client setup for `https-PORT` upstreams: certificates not verified (see
/// [`Proxy::forward_tls`]), HTTP/1.1 by ALPN. Built once.
fn upstream_tls() -> Arc<rustls::ClientConfig> {
    static CONFIG: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = Arc::new(AcceptAnyCert(provider.clone()));
            let mut c = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap_or_else(|e| panic!("rustls protocol versions: {e}"))
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(c)
        })
        .clone()
}

/// Accepts any upstream certificate (the upstream is the container's own app; see
/// [`Proxy::forward_tls`]); handshake signatures are still checked, so the session is a real
/// TLS session with whoever holds the presented key.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
