//! Runs a container's proxy hooks (reference §2.6; the call and the verdict are
//! [`hoody_api::hooks`]'s): before a request reaches a service that has hooks, the first hook
//! that sees it is asked, on the container's exec service, whether to forward it (changed or
//! not) or to answer it.
//!
//! Hooks are parsed and ordered when hoody-proxy loads the documents
//! ([`crate::routes::ProxyTables`]), not per request; a container without hooks costs one hash
//! lookup. The request's body is not read: the hook gets the head, and a forwarded request streams its body as it would without
//! a hook.

use foldhash::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use hoody_api::hooks::{CallHook, CallRequest, Hook, HookCall, HookVerdict, Upstream};
use hoody_api::permissions::{Document, RequestInfo};
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use crate::downstream::ReqBody;
use crate::hostname::{Kit, Service};
use crate::ports::{INSTANCE_HEADER, kit_port};
use crate::proxy::{Body, error_response};

/// The largest verdict a hook may answer.
const MAX_VERDICT: usize = 1 << 20;

/// The service names a request's hooks are listed under, most specific first.
fn services(service: Service) -> Vec<String> {
    match service {
        Service::Http(p) => vec![format!("http-{p}"), "http".into()],
        Service::Https(p) => vec![format!("https-{p}"), "https".into()],
        Service::Kit { kit, .. } => vec![kit.slug().to_string()],
        Service::Ssh => Vec::new(),
    }
}

/// The hook that sees `req`, and the service it is listed under.
fn find(
    by_service: &HashMap<String, Vec<Hook>>,
    docs: (Option<&Document>, Option<&Document>),
    service: Service,
    req: &Request<ReqBody>,
    info: &RequestInfo<'_>,
) -> Option<(Hook, String)> {
    let (pdoc, cdoc) = docs;
    for name in services(service) {
        for h in by_service.get(&name).into_iter().flatten() {
            if !h.matches(req.method().as_str(), req.uri().path(), info.headers) {
                continue;
            }
            let admitted = h.applies_to.as_ref().is_none_or(|a| {
                a.groups.is_empty()
                    || a.groups.iter().any(|g| {
                        cdoc.and_then(|c| c.groups.get(g))
                            .or_else(|| pdoc.and_then(|p| p.groups.get(g)))
                            .is_some_and(|grp| grp.authenticates(info))
                    })
            });
            if admitted {
                return Some((h.clone(), name));
            }
        }
    }
    None
}

/// Applies the container's hooks to `req` on its way to `upstream`: `None` to forward it (as
/// the hook changed it), or the response the client gets instead.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn apply(
    req: &mut Request<ReqBody>,
    by_service: &HashMap<String, Vec<Hook>>,
    docs: (Option<&Document>, Option<&Document>),
    service: Service,
    container_ip: Ipv4Addr,
    upstream_port: u16,
    info: &RequestInfo<'_>,
    connect_timeout: Duration,
) -> Option<Response<Body>> {
    let (hook, name) = find(by_service, docs, service, req, info)?;
    let call = HookCall {
        hook: CallHook {
            id: hook.id.clone(),
            service: name,
            upstream: Upstream {
                host: container_ip.to_string(),
                port: upstream_port,
            },
        },
        request: CallRequest {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
            query: req.uri().query().unwrap_or("").to_string(),
            headers: info
                .headers
                .iter()
                .fold(Default::default(), |mut m, (k, v)| {
                    m.entry(k.clone())
                        .and_modify(|e: &mut String| {
                            e.push_str(", ");
                            e.push_str(v);
                        })
                        .or_insert_with(|| v.clone());
                    m
                }),
            client_ip: info.client_ip.to_string(),
        },
    };
    let host = req.headers().get(header::HOST).cloned();
    let budget = Duration::from_millis(hook.timeout);
    let verdict = tokio::time::timeout(
        budget,
        ask(&hook, &call, container_ip, host, connect_timeout),
    )
    .await;
    let verdict = match verdict {
        Err(_) => {
            return Some(error_response(
                StatusCode::GATEWAY_TIMEOUT,
                "HOOK_TIMEOUT",
                &format!("hook {} took longer than {} ms", hook.id, hook.timeout),
            ));
        }
        Ok(Err(why)) => {
            return Some(error_response(
                StatusCode::BAD_GATEWAY,
                "HOOK_FAILED",
                &format!("hook {}: {why}", hook.id),
            ));
        }
        Ok(Ok(v)) => v,
    };
    match verdict {
        HookVerdict::Respond {
            status,
            headers,
            body,
        } => {
            let mut r = Response::new(Full::new(Bytes::from(body)).map_err(|n| match n {}).boxed());
            *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            for (k, v) in headers {
                if let (Ok(n), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
                    r.headers_mut().append(n, v);
                }
            }
            Some(r)
        }
        HookVerdict::Continue {
            set_headers,
            remove_headers,
            path,
        } => {
            let h = req.headers_mut();
            for k in remove_headers {
                if let Ok(n) = HeaderName::try_from(k) {
                    h.remove(n);
                }
            }
            for (k, v) in set_headers {
                match (HeaderName::try_from(k.as_str()), HeaderValue::try_from(v)) {
                    // The routing header stays the proxy's.
                    (Ok(n), Ok(v)) if n != header::HOST => {
                        h.insert(n, v);
                    }
                    _ => {
                        return Some(error_response(
                            StatusCode::BAD_GATEWAY,
                            "HOOK_FAILED",
                            &format!("hook {} set an invalid or forbidden header {k:?}", hook.id),
                        ));
                    }
                }
            }
            if let Some(p) = path {
                match p.parse::<Uri>() {
                    Ok(u) if p.starts_with('/') => *req.uri_mut() = u,
                    _ => {
                        return Some(error_response(
                            StatusCode::BAD_GATEWAY,
                            "HOOK_FAILED",
                            &format!("hook {} gave a path that is not one: {p:?}", hook.id),
                        ));
                    }
                }
            }
            None
        }
    }
}

/// POSTs the call to the hook's script on the container's exec service; its verdict.
async fn ask(
    hook: &Hook,
    call: &HookCall,
    ip: Ipv4Addr,
    host: Option<HeaderValue>,
    connect_timeout: Duration,
) -> Result<HookVerdict, String> {
    let to = SocketAddr::new(IpAddr::V4(ip), kit_port(Kit::Exec));
    let stream = tokio::time::timeout(connect_timeout, tokio::net::TcpStream::connect(to))
        .await
        .map_err(|_| format!("connecting to the exec service at {to} timed out"))?
        .map_err(|e| format!("the exec service at {to}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| format!("the exec service at {to}: {e}"))?;
    tokio::spawn(conn);
    let body = serde_json::to_vec(call).map_err(|e| e.to_string())?;
    let mut req = Request::post(hook.route())
        .header(header::CONTENT_TYPE, "application/json")
        .header(INSTANCE_HEADER, hook.exec_instance().to_string())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    if let Some(h) = host {
        req.headers_mut().insert(header::HOST, h);
    }
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| format!("the exec service: {e}"))?;
    let status = resp.status();
    let bytes = Limited::new(resp.into_body(), MAX_VERDICT)
        .collect()
        .await
        .map_err(|e| format!("reading its answer: {e}"))?
        .to_bytes();
    if !status.is_success() {
        return Err(format!(
            "the script {} answered {status}: {}",
            hook.route(),
            String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "the script {} answered no verdict ({e}): expected {{\"action\":\"continue\"|\"respond\", …}}",
            hook.route()
        )
    })
}
