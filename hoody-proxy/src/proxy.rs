//! The forwarding core: accept HTTP/1.1 and HTTP/2 (plain or TLS with ALPN), find the target
//! from the host name and the [`RouteMap`], forward with bodies streamed both ways and
//! WebSocket (HTTP/1.1 Upgrade) tunnels spliced, through keep-alive connection pools.
//!
//! Host handling is strict, because a host that is read two ways can be routed to the wrong
//! container: more than one `Host` header, or an absolute-form target (or HTTP/2
//! `:authority`) that disagrees with `Host`, is a 400; the host is then parsed by
//! [`crate::hostname`], which rejects anything outside the grammar. HTTP/1.1 requests are read
//! by the proxy's own client side (`downstream`: strict framing, a request with both
//! `Content-Length` and `Transfer-Encoding` read as chunked and its connection closed after
//! the answer, conflicting lengths refused), HTTP/2 ones by hyper; either way the upstream
//! receives exactly the body that was read, re-framed, so proxy and upstream cannot disagree
//! about where a request ends. Plain upstreams are spoken to by the proxy's own HTTP/1.1
//! upstream side (`upstream`: strict about what containers answer); upgrades, `https-PORT` and
//! the API go through hyper's client, and a WebSocket's `101` is spliced by `downstream`.
//!
//! The client's address reaches the upstream in `X-Forwarded-For`, `X-Forwarded-Proto` and
//! `Forwarded` (`for=…;proto=…`), set by the proxy; values a client sent in these headers, and
//! in `X-Forwarded-Host`, are dropped, not trusted. `Host` goes to the upstream as the client
//! sent it, so the host needs no header of its own.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::accesslog::AccessLogger;
use crate::downstream::{ReqBody, UpstreamUpgrade, is_upgrade};
use crate::guard::{ConnGuard, Ticket};
use crate::hostname::{Domains, Kit, Service, Target, parse_host};
use crate::metrics::{Label, UpstreamFailure};
use crate::permissions;
use crate::ports::{INSTANCE_HEADER, kit_port};
use crate::routes::RouteMap;
use crate::upstream;

/// Response body: upstream bodies streamed as they come, or the proxy's own small answers.
pub type Body = BoxBody<Bytes, BoxError>;

pub use crate::upstream::BoxError;

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
    /// A connection with no request in flight (idle, or still sending a request head) is
    /// closed after this long (the slow-client guard); a TLS handshake may take this long too.
    pub header_timeout: Duration,
}

impl ProxyConfig {
    /// Defaults for `domains`, with hoodyd at its default socket.
    pub fn new(domains: Domains) -> Self {
        ProxyConfig {
            domains,
            api_socket: PathBuf::from(hoody_api::client::DEFAULT_SOCKET),
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
    upstreams: upstream::Pool,
    log: Option<AccessLogger>,
    metrics: Option<crate::metrics::Recorder>,
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

/// Every response body, as it goes to the client: when it ends or is dropped, the request is
/// over, so it gives back the connection's [`Ticket`] (the slow-client guard) and records the
/// request in the access log with the bytes it carried and how long it took.
struct Finished {
    inner: Body,
    log: Option<LogPending>,
    metrics: Option<MetricsPending>,
    bytes: u64,
    _ticket: Ticket,
}

/// What the metrics are to count of a request once its response is sent.
struct MetricsPending {
    recorder: crate::metrics::Recorder,
    label: Label,
    status: u16,
    failure: Option<UpstreamFailure>,
    started: std::time::Instant,
}

impl hyper::body::Body for Finished {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if let std::task::Poll::Ready(Some(Ok(f))) = &polled
            && let Some(d) = f.data_ref()
        {
            self.bytes += d.len() as u64;
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

impl Drop for Finished {
    fn drop(&mut self) {
        if let Some(m) = self.metrics.take() {
            let took = m.started.elapsed();
            m.recorder
                .record(m.label, m.status, self.bytes, took, m.failure);
        }
        if let Some(mut l) = self.log.take() {
            l.bytes = self.bytes;
            l.log.record(&crate::accesslog::Request {
                container: &l.container,
                at: l.at,
                client_ip: l.client_ip,
                method: l.method.as_str(),
                host: &l.host,
                path: &l.path,
                status: l.status,
                bytes: l.bytes,
                duration: l.started.elapsed(),
                service: &l.service,
            });
        }
    }
}

/// The proxy's own answer: `{statusCode, error, message}`, like hoodyd's errors.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let (head, body) = error_parts(status, code, message);
    head.map(|()| Full::new(body).map_err(|never| match never {}).boxed())
}

/// [`error_response`]'s head and JSON body, apart (for a connection that writes them itself).
pub(crate) fn error_parts(status: StatusCode, code: &str, message: &str) -> (Response<()>, Bytes) {
    let body = serde_json::json!({
        "statusCode": status.as_u16(),
        "error": code,
        "message": message,
    })
    .to_string();
    let mut r = Response::new(());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (r, Bytes::from(body))
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
    let mut r = error_response(StatusCode::BAD_GATEWAY, "UPSTREAM_UNREACHABLE", &why);
    r.extensions_mut().insert(UpstreamFailure::Unreachable);
    r
}

fn timed_out(upstream: &str) -> Response<Body> {
    let mut r = error_response(
        StatusCode::GATEWAY_TIMEOUT,
        "UPSTREAM_TIMEOUT",
        &format!("{upstream} did not answer in time"),
    );
    r.extensions_mut().insert(UpstreamFailure::Timeout);
    r
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
pub(crate) fn is_hop_by_hop(n: &HeaderName) -> bool {
    matches!(
        n.as_str(),
        "connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "keep-alive"
            | "proxy-connection"
    )
}

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const X_FORWARDED_PROTO: &str = "x-forwarded-proto";
const X_FORWARDED_HOST: &str = "x-forwarded-host";
const FORWARDED: &str = "forwarded";

/// The forwarding headers the proxy sets: a client's own values are dropped, not trusted.
const FORWARDING: [&str; 4] = [
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    FORWARDED,
];

/// Drops the hop-by-hop headers and those the `Connection` header names; with `keep_upgrade`
/// (a WebSocket handshake) `Connection` and `Upgrade` stay. Most messages carry none of them,
/// which one pass over the names finds out without a lookup per name.
pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) {
    if !h.keys().any(is_hop_by_hop) {
        return;
    }
    let listed: Vec<HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    let all = [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
    ];
    for n in listed.iter().chain(&all) {
        if keep_upgrade && (n == header::UPGRADE || n == header::CONNECTION) {
            continue;
        }
        h.remove(n);
    }
}

/// The one host a request names, or why it is refused.
fn request_host<B>(req: &Request<B>) -> Result<&[u8], &'static str> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let header = hosts.next().map(HeaderValue::as_bytes);
    if hosts.next().is_some() {
        return Err("more than one Host header");
    }
    let authority = req.uri().authority().map(|a| a.as_str().as_bytes());
    match (authority, header) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => {
            Err("the request target and the Host header name different hosts")
        }
        (Some(a), _) => Ok(a),
        (None, Some(h)) => Ok(h),
        (None, None) => Err("no Host header"),
    }
}

/// `https` over TLS, else `http`.
fn scheme(tls: bool) -> &'static str {
    if tls { "https" } else { "http" }
}

/// One client connection, as its requests see it.
struct Client {
    peer: SocketAddr,
    tls: bool,
    /// `X-Forwarded-For`: the client's address.
    forwarded_for: HeaderValue,
    /// `Forwarded`: the client's address and the scheme (RFC 7239).
    forwarded: HeaderValue,
    /// The slow-client guard's view of the connection.
    guard: Arc<ConnGuard>,
    /// The host the last request named, parsed: keep-alive clients name the same host on every
    /// request, so it is parsed once per connection, not once per request.
    last_host: Mutex<Option<Arc<HostInfo>>>,
}

impl Client {
    fn new(peer: SocketAddr, tls: bool) -> Self {
        let ip = peer.ip().to_string();
        let proto = scheme(tls);
        let forwarded = match peer.ip() {
            IpAddr::V4(_) => format!("for={ip};proto={proto}"),
            IpAddr::V6(_) => format!("for=\"[{ip}]\";proto={proto}"),
        };
        Client {
            peer,
            tls,
            forwarded_for: HeaderValue::from_str(&ip)
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            forwarded: HeaderValue::from_str(&forwarded)
                .unwrap_or_else(|_| HeaderValue::from_static("for=unknown")),
            guard: ConnGuard::new(),
            last_host: Mutex::new(None),
        }
    }

    fn proto(&self) -> &'static str {
        scheme(self.tls)
    }
}

/// A host as a request named it, and what follows from it for this connection.
struct HostInfo {
    /// As sent (how [`Client::last_host`] is matched).
    raw: String,
    target: Target,
    /// `Host` for the upstream.
    value: HeaderValue,
    /// The access log's host, container and service (the latter two for container services).
    log_host: Arc<str>,
    log_names: Option<(Arc<str>, Arc<str>)>,
}

impl HostInfo {
    fn new(raw: &str, target: Target) -> Option<Self> {
        let log_names = match &target {
            Target::Service {
                container, service, ..
            } => Some((
                Arc::from(container.as_str()),
                Arc::from(service.to_string()),
            )),
            _ => None,
        };
        Some(HostInfo {
            raw: raw.to_string(),
            value: HeaderValue::from_str(raw).ok()?,
            log_host: Arc::from(raw),
            log_names,
            target,
        })
    }
}

/// What the access log will record of a request to a container, once its response is sent.
struct LogPending {
    log: AccessLogger,
    container: Arc<str>,
    host: Arc<str>,
    service: Arc<str>,
    method: Method,
    path: String,
    client_ip: IpAddr,
    at: std::time::SystemTime,
    started: std::time::Instant,
    status: u16,
    bytes: u64,
}

impl Proxy {
    /// A proxy over `routes`, logging requests to containers in `log` when given.
    pub fn new(cfg: ProxyConfig, routes: RouteMap, log: Option<AccessLogger>) -> Self {
        let upstreams = upstream::Pool::new(cfg.connect_timeout);
        Proxy {
            inner: Arc::new(Inner {
                cfg,
                routes,
                upstreams,
                log,
                metrics: None,
            }),
        }
    }

    /// Counts this proxy's requests in `recorder` ([`crate::metrics`]); for a proxy not yet
    /// shared (`self` is the only handle).
    pub fn with_metrics(mut self, recorder: crate::metrics::Recorder) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.metrics = Some(recorder);
        }
        self
    }

    /// The route map.
    pub fn routes(&self) -> &RouteMap {
        &self.inner.routes
    }

    /// The host `req` names, parsed (from the connection's last request when it named the
    /// same), or the refusal.
    fn host_of<B>(
        &self,
        req: &Request<B>,
        client: &Client,
    ) -> Result<Arc<HostInfo>, Box<Response<Body>>> {
        let host = request_host(req)
            .map_err(|why| Box::new(error_response(StatusCode::BAD_REQUEST, "BAD_HOST", why)))?;
        let mut last = client.last_host.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(info) = last.as_ref().filter(|i| i.raw.as_bytes() == host) {
            return Ok(info.clone());
        }
        // Visible ASCII, as `HeaderValue::to_str` has it (then the grammar decides).
        let text = host.iter().all(|&b| (32..127).contains(&b) || b == b'\t');
        let host = std::str::from_utf8(host)
            .ok()
            .filter(|_| text)
            .ok_or_else(|| {
                Box::new(error_response(
                    StatusCode::BAD_REQUEST,
                    "BAD_HOST",
                    "the Host header is not text",
                ))
            })?;
        let target = parse_host(host, &self.inner.cfg.domains).map_err(|e| {
            Box::new(error_response(
                StatusCode::NOT_FOUND,
                "UNKNOWN_HOST",
                &format!("no service at {host}: {e}"),
            ))
        })?;
        let info = HostInfo::new(host, target).map(Arc::new).ok_or_else(|| {
            Box::new(error_response(
                StatusCode::BAD_REQUEST,
                "BAD_HOST",
                "the host is not a header value",
            ))
        })?;
        *last = Some(info.clone());
        Ok(info)
    }

    /// Answers one request on `client`'s connection, with what the access log is to record
    /// once the response has been sent.
    async fn handle(
        &self,
        req: Request<ReqBody>,
        client: &Client,
    ) -> (Response<Body>, Option<LogPending>, Label) {
        let info = match self.host_of(&req, client) {
            Ok(i) => i,
            Err(refused) => return (*refused, None, Label::UNKNOWN),
        };
        match &info.target {
            // Rare paths are boxed: every request's future is as big as its largest path.
            Target::Api => (
                Box::pin(self.forward_api(req, client, &info)).await,
                None,
                Label::API,
            ),
            Target::Alias(name) => {
                let tables = self.inner.routes.tables();
                let now = crate::accesslog::now_rfc3339();
                let Some(a) = tables.aliases.get(name).filter(|a| {
                    a.enabled
                        && a.expires_at
                            .as_ref()
                            .is_none_or(|e| e.as_str() > now.as_str())
                }) else {
                    let why = format!("no alias {name} on this server");
                    return (
                        error_response(StatusCode::NOT_FOUND, "ALIAS_NOT_FOUND", &why),
                        None,
                        Label::UNKNOWN,
                    );
                };
                let Some(service) = alias_service(&a.program, a.port, a.index) else {
                    let why = format!(
                        "alias {name} names program {} which this proxy does not know",
                        a.program
                    );
                    return (
                        error_response(StatusCode::NOT_FOUND, "ALIAS_NOT_FOUND", &why),
                        None,
                        Label::UNKNOWN,
                    );
                };
                let mut req = req;
                if let Some(t) = &a.target_path
                    && req.uri().path() == "/"
                    && let Ok(u) = Uri::try_from(t.as_str())
                {
                    *req.uri_mut() = u;
                }
                let names = (
                    Arc::from(a.container_id.as_str()),
                    Arc::from(service.to_string()),
                );
                let project = a.project_id.clone();
                let (resp, log) =
                    Box::pin(self.to_service(req, &project, service, client, &info, names)).await;
                (resp, log, Label::of(service))
            }
            Target::Service {
                project, service, ..
            } => {
                let names = info
                    .log_names
                    .clone()
                    .unwrap_or_else(|| (Arc::from(""), Arc::from("")));
                let (resp, log) = self
                    .to_service(req, project, *service, client, &info, names)
                    .await;
                (resp, log, Label::of(*service))
            }
        }
    }

    /// Forwards to `service` of container `names.0` (which must belong to `project`), with what
    /// its access log is to record.
    async fn to_service(
        &self,
        mut req: Request<ReqBody>,
        project: &str,
        service: Service,
        client: &Client,
        info: &HostInfo,
        names: (Arc<str>, Arc<str>),
    ) -> (Response<Body>, Option<LogPending>) {
        let started = std::time::Instant::now();
        let container: &str = &names.0;
        let log = self.inner.log.as_ref().map(|log| LogPending {
            log: log.clone(),
            container: names.0.clone(),
            host: info.log_host.clone(),
            service: names.1.clone(),
            method: req.method().clone(),
            path: req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_string(),
            client_ip: client.peer.ip(),
            at: std::time::SystemTime::now(),
            started,
            status: 0,
            bytes: 0,
        });
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
                Some(ip) => match self
                    .gate(&mut req, client.peer, project, container, service, ip)
                    .await
                {
                    Some(refused) => refused,
                    None => match service {
                        Service::Http(p) => {
                            let to = SocketAddr::new(IpAddr::V4(ip), p);
                            self.forward(req, to, client, info).await
                        }
                        Service::Kit { kit, index } => {
                            req.headers_mut()
                                .insert(INSTANCE_HEADER, HeaderValue::from(index));
                            let to = SocketAddr::new(IpAddr::V4(ip), kit_port(kit));
                            self.forward(req, to, client, info).await
                        }
                        Service::Https(p) => {
                            let to = SocketAddr::new(IpAddr::V4(ip), p);
                            Box::pin(self.forward_tls(req, to, client, info)).await
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
        let log = log.map(|mut l| {
            l.status = resp.status().as_u16();
            l
        });
        (resp, log)
    }

    /// Applies the project's and the container's permission documents, then the container's
    /// hooks ([`crate::hooks`]): `None` to forward (as a hook changed it), else the answer
    /// (403, 401 with a Basic challenge, or a hook's). Without documents this costs two hash
    /// lookups.
    async fn gate(
        &self,
        req: &mut Request<ReqBody>,
        peer: SocketAddr,
        project: &str,
        container: &str,
        service: Service,
        ip: std::net::Ipv4Addr,
    ) -> Option<Response<Body>> {
        let tables = self.inner.routes.tables();
        let (pdoc, cdoc) = (
            tables.project_docs.get(project),
            tables.container_docs.get(container),
        );
        if pdoc.is_none() && cdoc.is_none() {
            return None;
        }
        let (program, instance, port) = match service {
            Service::Http(p) => ("http", u64::from(p), p),
            Service::Https(p) => ("https", u64::from(p), p),
            Service::Ssh => ("ssh", 22, 22),
            Service::Kit { kit, index } => (kit.slug(), u64::from(index), kit_port(kit)),
        };
        let headers: Vec<(String, String)> = req
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let query = req.uri().query().unwrap_or("").to_string();
        let info = permissions::RequestInfo {
            client_ip: peer.ip(),
            headers: &headers,
            query: &query,
            program,
            instance,
            now_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        if let Some(refused) = Self::authorize(pdoc, cdoc, &info) {
            return Some(refused);
        }
        let hooks = tables.container_hooks.get(container)?;
        crate::hooks::apply(
            req,
            hooks,
            (pdoc, cdoc),
            service,
            ip,
            port,
            &info,
            self.inner.cfg.connect_timeout,
        )
        .await
    }

    /// The permission documents' decision: `None` to go on, else the refusal.
    fn authorize(
        pdoc: Option<&permissions::Document>,
        cdoc: Option<&permissions::Document>,
        info: &permissions::RequestInfo<'_>,
    ) -> Option<Response<Body>> {
        match permissions::evaluate(pdoc, cdoc, info) {
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

    /// Sets the forwarding headers (a client's own are dropped), drops hop-by-hop ones, makes
    /// the request HTTP/1.1; true for an upgrade (WebSocket) handshake.
    fn prepare(req: &mut Request<ReqBody>, client: &Client, info: &HostInfo) -> bool {
        let upgrade = is_upgrade(req.headers());
        let h = req.headers_mut();
        strip_hop_by_hop(h, upgrade);
        if h.keys().any(|n| FORWARDING.contains(&n.as_str())) {
            for n in FORWARDING {
                h.remove(n);
            }
        }
        h.insert(
            HeaderName::from_static(X_FORWARDED_FOR),
            client.forwarded_for.clone(),
        );
        h.insert(
            HeaderName::from_static(X_FORWARDED_PROTO),
            HeaderValue::from_static(client.proto()),
        );
        h.insert(HeaderName::from_static(FORWARDED), client.forwarded.clone());
        h.insert(header::HOST, info.value.clone());
        *req.version_mut() = Version::HTTP_11;
        upgrade
    }

    /// Makes the request target origin-form (`/path?query`), as upstreams expect it; false
    /// when it cannot be.
    fn to_origin_form(req: &mut Request<ReqBody>) -> bool {
        if req.uri().scheme().is_none() && req.uri().authority().is_none() {
            return true;
        }
        match origin_form(req) {
            Some(u) => {
                *req.uri_mut() = u;
                true
            }
            None => false,
        }
    }

    async fn forward(
        &self,
        mut req: Request<ReqBody>,
        upstream: SocketAddr,
        client: &Client,
        info: &HostInfo,
    ) -> Response<Body> {
        if is_upgrade(req.headers()) {
            // An Upgrade (WebSocket) gets a connection of its own, spliced on 101.
            return Box::pin(async move {
                Self::prepare(&mut req, client, info);
                if !Self::to_origin_form(&mut req) {
                    return bad_target();
                }
                match self.connect(upstream).await {
                    Ok(s) => self.send_on(s, req, &upstream.to_string()).await,
                    Err(why) => unreachable_upstream(why),
                }
            })
            .await;
        }
        // The upstream side writes the head itself, forwarding headers included.
        let fwd = upstream::Forwarding {
            host: &info.value,
            forwarded_for: &client.forwarded_for,
            proto: client.proto(),
            forwarded: &client.forwarded,
        };
        let sent = tokio::time::timeout(
            self.inner.cfg.response_timeout,
            self.inner.upstreams.send(upstream, req, &fwd),
        );
        match sent.await {
            Err(_) => timed_out(&upstream.to_string()),
            Ok(Err(why)) => unreachable_upstream(why),
            // Hop-by-hop headers are gone already (the upstream side drops them).
            Ok(Ok(resp)) => resp.map(|body| body.boxed()),
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

    /// Sends `req` (origin-form) as the only request on connection `io`; on 101 the response
    /// carries the upstream's side of the upgrade ([`UpstreamUpgrade`]), which the client's
    /// connection splices itself with.
    async fn send_on<I>(&self, io: I, req: Request<ReqBody>, label: &str) -> Response<Body>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) =
            match hyper::client::conn::http1::handshake::<_, ReqBody>(TokioIo::new(io)).await {
                Ok(x) => x,
                Err(e) => return unreachable_upstream(format!("{label}: {e}")),
            };
        tokio::spawn(conn.with_upgrades());
        let upgrade = is_upgrade(req.headers());
        let sent = tokio::time::timeout(self.inner.cfg.response_timeout, sender.send_request(req));
        let mut resp = match sent.await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return unreachable_upstream(format!("{label}: {e}")),
            Err(_) => return timed_out(label),
        };
        let switching = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        if switching && upgrade {
            let upstream_side = hyper::upgrade::on(&mut resp);
            resp.extensions_mut()
                .insert(UpstreamUpgrade::new(upstream_side));
        }
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers, switching);
        Response::from_parts(parts, body.map_err(BoxError::from).boxed())
    }

    /// `https-PORT`: the upstream speaks TLS inside the container. Its certificate is not
    /// verified: it is the app's own (self-signed, as a rule), reached over the container's
    /// routed link on this host, and the client's TLS ends at this proxy's verified
    /// certificate. One connection per request (no pool for TLS upstreams yet); upgrades
    /// (WebSocket) work as on plain upstreams.
    async fn forward_tls(
        &self,
        mut req: Request<ReqBody>,
        upstream: SocketAddr,
        client: &Client,
        info: &HostInfo,
    ) -> Response<Body> {
        Self::prepare(&mut req, client, info);
        if !Self::to_origin_form(&mut req) {
            return bad_target();
        }
        let stream = match self.connect(upstream).await {
            Ok(s) => s,
            Err(why) => return unreachable_upstream(why),
        };
        let name = rustls_pki_types::ServerName::try_from(info.raw.clone())
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
        mut req: Request<ReqBody>,
        client: &Client,
        info: &HostInfo,
    ) -> Response<Body> {
        Self::prepare(&mut req, client, info);
        // hoodyd's socket trusts its (root) callers; this marks the request as coming from the
        // network, so hoodyd asks for a token. A client's own copy of the header is replaced.
        req.headers_mut()
            .insert(hoody_api::PROXIED_HEADER, HeaderValue::from_static("1"));
        if !Self::to_origin_form(&mut req) {
            return bad_target();
        }
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

    /// Serves one accepted connection (plain or TLS; `h2` when ALPN chose HTTP/2) until it
    /// closes, or until the slow-client guard closes it ([`crate::guard`]).
    async fn serve_conn<I>(self, io: I, peer: SocketAddr, tls: bool, h2: bool)
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let client = Arc::new(Client::new(peer, tls));
        let timeout = self.inner.cfg.header_timeout;
        let c = client.clone();
        let service = move |req: Request<ReqBody>| {
            // The head is in: the request is in flight until its response body is done.
            let ticket = c.guard.ticket();
            let (this, c) = (self.clone(), c.clone());
            async move {
                let started = std::time::Instant::now();
                let (resp, log, label) = this.handle(req, &c).await;
                let metrics = this.inner.metrics.clone().map(|recorder| MetricsPending {
                    recorder,
                    label,
                    status: resp.status().as_u16(),
                    failure: resp.extensions().get::<UpstreamFailure>().copied(),
                    started,
                });
                resp.map(|inner| Finished {
                    inner,
                    log,
                    metrics,
                    bytes: 0,
                    _ticket: ticket,
                })
            }
        };
        crate::downstream::serve(io, h2, &client.guard, timeout, service).await;
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
            tokio::spawn(self.clone().serve_conn(stream, peer, false, false));
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
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    this.serve_conn(tls, peer, true, h2).await;
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
