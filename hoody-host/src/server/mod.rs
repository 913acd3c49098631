//! hoodyd's HTTP layer: the REST API of reference §1 over a [`Host`], on axum.
//!
//! Everything here is translation: parse the request (unknown fields are ignored, as Hoody's
//! clients expect, and logged with `HOODYD_LOG=debug`; wrong types, bad ids and oversized
//! bodies are errors), run the [`Host`] call on the blocking pool (host calls touch
//! disks, sockets and SQLite), wrap the result in the envelope. No decisions live here, so an
//! embedder calling [`Host`] directly gets the same behaviour.
//!
//! Listeners: a unix socket (mode 0600: root only; no token needed, the file's permissions
//! are the authentication, except for requests hoody-proxy forwards from the network, marked
//! with [`PROXIED_HEADER`]) and optionally TCP, where every request needs
//! `Authorization: Bearer <token>` (tokens from `POST /api/v1/auth/tokens`, stored hashed).
//! One middleware (`authenticate`) turns the request into a [`Caller`] (root or a verified
//! token, through a realm when the `Host` is `{realm}.api.{domain}`) and applies the route's
//! rule from [`crate::authz`] before any handler runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use axum::Extension;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::{self, ApiError, Envelope, Operation};
use crate::{Caller, Host, HostError, Scope, with_etag};

mod endpoints;
mod hooks;
mod permissions;
mod tokens;

pub use endpoints::{ENDPOINTS, Endpoint, openapi};
use hooks::hook_routes;
use permissions::{permission_routes, settings, update_settings};
use tokens::token_routes;

/// Largest request body accepted (413 above).
pub const MAX_BODY: usize = 1 << 20;

/// The HTTP edge: an [`ApiError`] as its status and `{statusCode, error, message, data?}`.
fn error_response(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (status, json_bytes(&e)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if e.status == 401 {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"hoodyd\""),
        );
    }
    r
}

fn json_bytes<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|e| {
        format!(r#"{{"statusCode":500,"error":"INTERNAL_ERROR","message":"serialize: {e}"}}"#)
            .into_bytes()
    })
}

fn envelope<T: Serialize>(status: u16, message: &str, data: T) -> Response {
    let body = json_bytes(&Envelope {
        status_code: status,
        message: message.to_string(),
        data,
    });
    let mut r = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Runs a host call on the blocking pool and wraps its result: the one place where a
/// [`HostError`] becomes the API's error (its chain in the message).
async fn run<T, F>(status: u16, message: &'static str, f: F) -> Response
where
    T: Serialize + Send + 'static,
    F: FnOnce() -> Result<T, HostError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => envelope(status, message, v),
        Ok(Err(e)) => error_response(e.into()),
        Err(e) => error_response(ApiError::internal(format!("the operation panicked: {e}"))),
    }
}

/// Parses the JSON body, then [`run`]s `f` with it; a body that does not parse is the
/// response.
async fn run_with<B, T, F>(
    b: Result<Bytes, BytesRejection>,
    status: u16,
    message: &'static str,
    f: F,
) -> Response
where
    B: DeserializeOwned + Send + 'static,
    T: Serialize + Send + 'static,
    F: FnOnce(B) -> Result<T, HostError> + Send + 'static,
{
    match body::<B>(b, false) {
        Ok(req) => run(status, message, move || f(req)).await,
        Err(e) => error_response(e),
    }
}

/// Parses a JSON request body strictly. Empty bodies read as `{}` when `empty_ok`.
fn body<T: DeserializeOwned>(
    b: Result<Bytes, BytesRejection>,
    empty_ok: bool,
) -> Result<T, ApiError> {
    let b = b.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                413,
                "PAYLOAD_TOO_LARGE",
                format!("the request body is larger than {MAX_BODY} bytes"),
            )
        } else {
            ApiError::new(400, "INVALID_BODY", format!("reading the body: {e}"))
        }
    })?;
    let text: &[u8] = if b.iter().all(u8::is_ascii_whitespace) {
        if empty_ok {
            b"{}"
        } else {
            return Err(ApiError::new(
                400,
                "INVALID_JSON",
                "a JSON body is required",
            ));
        }
    } else {
        &b
    };
    let mut de = serde_json::Deserializer::from_slice(text);
    let mut ignored = Vec::new();
    let parsed = serde_ignored::deserialize(&mut de, |path| ignored.push(path.to_string()))
        .and_then(|v| de.end().map(|()| v));
    if !ignored.is_empty() && debug_log() {
        eprintln!(
            "hoodyd: debug: ignored unknown field(s) {}",
            ignored.join(", ")
        );
    }
    parsed.map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => ApiError::new(
                400,
                "INVALID_JSON",
                format!("the body is not valid JSON: {e}"),
            ),
            Category::Data => {
                let msg = e.to_string();
                let field = msg
                    .split('`')
                    .nth(1)
                    .filter(|_| msg.contains("field"))
                    .unwrap_or("");
                ApiError::validation(field, msg.clone())
            }
        }
    })
}

/// Whether hoodyd logs at debug level (`HOODYD_LOG=debug`).
fn debug_log() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("HOODYD_LOG").is_ok_and(|v| v == "debug"))
}

/// Parses a list query, then [`run`]s `f` with it; a query that does not parse is the
/// response (422).
async fn run_query<Q, T, F>(
    q: Result<Query<Q>, QueryRejection>,
    status: u16,
    message: &'static str,
    f: F,
) -> Response
where
    Q: Send + 'static,
    T: Serialize + Send + 'static,
    F: FnOnce(Q) -> Result<T, HostError> + Send + 'static,
{
    match q {
        Ok(Query(q)) => run(status, message, move || f(q)).await,
        Err(e) => error_response(ApiError::validation("query", e.body_text())),
    }
}

fn op_route(op: Operation) -> axum::routing::MethodRouter<Host> {
    post(
        move |State(h): State<Host>,
              UrlPath(id): UrlPath<String>,
              b: Result<Bytes, BytesRejection>| async move {
            if let Err(e) = body::<serde_json::Value>(b, true) {
                return error_response(e);
            }
            run(200, "Operation completed", move || h.operate(&id, op)).await
        },
    )
}

/// Counts a request in the API's metrics by its route pattern.
async fn track(
    State(m): State<std::sync::Arc<crate::metrics::ApiMetrics>>,
    req: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().to_string();
    // `/api/v1/containers/:id`: the pattern, written without braces (valid in a label value,
    // but simple exposition parsers read `}` as the end of the labels).
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(
            || "unmatched".to_string(),
            |p| p.as_str().replace('{', ":").replace('}', ""),
        );
    let resp = next.run(req).await;
    m.record(&method, &route, resp.status().as_u16(), started.elapsed());
    resp
}

/// The API's routes over `host`; with `require_token`, every request needs a valid bearer
/// token (for TCP listeners).
pub fn router(host: Host, require_token: bool) -> Router {
    let metrics = std::sync::Arc::new(crate::metrics::ApiMetrics::default());
    let scrape = metrics.clone();
    let mut r = Router::new()
        .route(
            "/metrics",
            get(|State(h): State<Host>| async move {
                let m = scrape.clone();
                match tokio::task::spawn_blocking(move || m.render(&h)).await {
                    Ok(Ok(text)) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
                        .into_response(),
                    Ok(Err(e)) => error_response(ApiError::from(e)),
                    Err(e) => error_response(ApiError::internal(format!("metrics: {e}"))),
                }
            }),
        )
        .route(
            "/api/v1/health",
            get(|| async { envelope(200, "ok", serde_json::json!({"status": "ok"})) }),
        )
        .route(
            "/api/v1/servers",
            get(|State(h): State<Host>| run(200, "Servers", move || h.servers())),
        )
        .route(
            "/api/v1/servers/{id}",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Server", move || {
                    let s = h.server()?;
                    if id == s.id || id == s.name {
                        Ok(s)
                    } else {
                        Err(ApiError::not_found("server", &id).into())
                    }
                })
            }),
        )
        .route(
            "/api/v1/servers/{id}/runtime",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Server runtime", move || h.server_runtime(&id))
            }),
        )
        .route(
            "/api/v1/rentals/{id}/runtime",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Server runtime", move || h.server_runtime(&id))
            }),
        )
        .route(
            "/api/v1/servers/{id}/rent",
            post(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Server rented", move || h.rent_server(&id))
            }),
        )
        .route(
            "/api/v1/servers/available",
            get(|State(h): State<Host>| async move {
                envelope(200, "Available servers", h.list_marketplace())
            }),
        )
        .route(
            "/api/v1/offers",
            get(|State(h): State<Host>| async move { envelope(200, "Offers", h.list_offers()) }),
        )
        .route(
            "/api/v1/offers/{id}/reserve",
            post(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Offer reserved", move || h.reserve_offer(&id))
            }),
        )
        .route(
            "/api/v1/reservations",
            get(|State(h): State<Host>| async move {
                envelope(200, "Reservations", h.list_reservations())
            }),
        )
        .route(
            "/api/v1/reservations/{id}",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Reservation", move || h.get_reservation(&id))
            }),
        )
        .route(
            "/api/v1/projects",
            get(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 q: Result<Query<api::ListQuery>, QueryRejection>| async move {
                    run_query(q, 200, "Projects", move |q| h.list_projects_for(&c, &q)).await
                },
            )
            .post(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(
                        b,
                        201,
                        "Project created successfully",
                        move |mut req: api::CreateProject| {
                            c.tag(&mut req.realm_ids);
                            h.create_project(req)
                        },
                    )
                    .await
                },
            ),
        )
        .route(
            "/api/v1/projects/{id}",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Project", move || h.get_project(&id))
            })
            .put(update_project)
            .patch(update_project)
            .delete(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Project deleted successfully", move || {
                    h.delete_project(&id)
                })
            }),
        )
        .route(
            "/api/v1/projects/{id}/containers",
            get(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>,
                 q: Result<Query<api::ListQuery>, QueryRejection>| async move {
                    run_query(q, 200, "Containers", move |q| {
                        h.list_containers_for(&c, Some(&id), &q)
                    })
                    .await
                },
            )
            .post(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(
                        b,
                        201,
                        "Container created successfully",
                        move |mut req: api::CreateContainer| {
                            c.check_features(&mut req)?;
                            c.tag(&mut req.realm_ids);
                            h.create_container(&id, req)
                        },
                    )
                    .await
                },
            ),
        )
        .route(
            "/api/v1/realms",
            get(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 q: Result<Query<api::RealmQuery>, QueryRejection>| async move {
                    run_query(q, 200, "Realms", move |q| h.list_realms(&c, &q)).await
                },
            ),
        )
        .route(
            "/api/v1/containers",
            get(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 q: Result<Query<api::ListQuery>, QueryRejection>| async move {
                    run_query(q, 200, "Containers", move |q| {
                        h.list_containers_for(&c, None, &q)
                    })
                    .await
                },
            ),
        )
        .route(
            "/api/v1/containers/{id}",
            get(
                |State(h): State<Host>,
                 UrlPath(id): UrlPath<String>,
                 q: Result<Query<api::ListQuery>, QueryRejection>| async move {
                    run_query(q, 200, "Container", move |q| h.get_container_view(&id, &q)).await
                },
            )
            .put(update_container)
            .patch(update_container)
            .delete(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Container deleted successfully", move || {
                    h.delete_container(&id)
                })
            }),
        )
        .route(
            "/api/v1/containers/{id}/stats",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Container stats", move || h.stats(&id))
            }),
        )
        .route(
            "/api/v1/containers/{id}/status-logs",
            get(
                |State(h): State<Host>,
                 UrlPath(id): UrlPath<String>,
                 q: Result<Query<api::ListQuery>, QueryRejection>| async move {
                    run_query(q, 200, "Status logs", move |q| h.status_logs(&id, &q)).await
                },
            ),
        )
        .route(
            "/api/v1/containers/{id}/env",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Environment variables", move || h.get_env(&id))
            })
            .put(
                |State(h): State<Host>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with::<BTreeMap<String, String>, _, _>(
                        b,
                        200,
                        "Environment variables updated",
                        move |vars| h.set_env(&id, vars),
                    )
                    .await
                },
            ),
        )
        .route(
            "/api/v1/containers/{id}/env/{key}",
            put(
                |State(h): State<Host>,
                 UrlPath((id, key)): UrlPath<(String, String)>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with::<api::EnvValue, _, _>(b, 200, "Environment variable set", move |v| {
                        h.set_env_var(&id, &key, v.value)
                    })
                    .await
                },
            )
            .delete(
                |State(h): State<Host>, UrlPath((id, key)): UrlPath<(String, String)>| {
                    run(200, "Environment variable deleted", move || {
                        h.delete_env_var(&id, &key)
                    })
                },
            ),
        )
        .route(
            "/api/v1/containers/{id}/snapshots",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Snapshots", move || h.list_snapshots(&id))
            })
            .post(
                |State(h): State<Host>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(b, 201, "Snapshot created successfully", move |req| {
                        h.create_snapshot(&id, req)
                    })
                    .await
                },
            ),
        )
        .route(
            "/api/v1/containers/{id}/snapshots/{name}",
            put(restore_snapshot).patch(restore_snapshot).delete(
                |State(h): State<Host>, UrlPath((id, name)): UrlPath<(String, String)>| {
                    run(200, "Snapshot deleted successfully", move || {
                        h.delete_snapshot(&id, &name)
                    })
                },
            ),
        )
        .route(
            "/api/v1/containers/{id}/snapshots/{name}/alias",
            put(snapshot_alias).patch(snapshot_alias),
        )
        .route(
            "/api/v1/containers/{id}/copy",
            post(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(
                        b,
                        202,
                        "Container copy started",
                        move |req: api::CopyContainer| {
                            h.authorize(
                                &c,
                                "POST",
                                "/api/v1/projects/{id}/containers",
                                Some(&req.target_project_id),
                            )?;
                            h.copy_container(&id, req)
                        },
                    )
                    .await
                },
            ),
        )
        .merge(token_routes())
        .route("/api/v1/events/stream", get(events))
        .route(
            "/api/v1/proxy/aliases",
            get(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 q: Result<Query<api::AliasQuery>, QueryRejection>| async move {
                    run_query(q, 200, "Aliases", move |q| h.list_aliases_for(&c, &q)).await
                },
            )
            .post(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(b, 201, "Alias created", move |req| {
                        h.create_alias_for(&c, req)
                    })
                    .await
                },
            ),
        )
        .route(
            "/api/v1/proxy/aliases/{id}",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Alias", move || h.get_alias(&id))
            })
            .patch(update_alias)
            .put(update_alias)
            .delete(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Alias deleted", move || h.delete_alias(&id))
            }),
        )
        .route(
            "/api/v1/proxy/aliases/{id}/state",
            axum::routing::patch(
                |State(h): State<Host>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(
                        b,
                        200,
                        "Alias state updated",
                        move |req: api::AliasState| h.set_alias_state(&id, req.enabled),
                    )
                    .await
                },
            ),
        )
        .route(
            "/api/v1/proxy/state",
            get(|State(h): State<Host>| run(200, "Proxy state", move || h.proxy_state())),
        )
        .route(
            "/api/v1/containers/{id}/proxy/logs",
            get(
                |State(h): State<Host>,
                 UrlPath(id): UrlPath<String>,
                 q: Result<Query<LogQuery>, QueryRejection>| async move {
                    match q {
                        Ok(Query(q)) => {
                            run(200, "Proxy access log", move || {
                                h.access_log(&id, q.limit.unwrap_or(100))
                            })
                            .await
                        }
                        Err(e) => error_response(ApiError::validation("query", e.body_text())),
                    }
                },
            ),
        )
        .route(
            "/api/v1/openapi.json",
            get(|| async {
                let mut r = json_bytes(&openapi()).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                r
            }),
        );
    r =
        r.merge(permission_routes(Scope::Project, "/api/v1/projects/{id}"))
            .merge(permission_routes(
                Scope::Container,
                "/api/v1/containers/{id}",
            ))
            .route(
                "/api/v1/containers/{id}/proxy/groups",
                get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Proxy groups", move || h.proxy_groups(&id))
                }),
            )
            .route(
                "/api/v1/containers/{id}/proxy/services",
                get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Proxy services", move || h.proxy_services(&id))
                }),
            )
            .route(
                "/api/v1/containers/{id}/proxy/services/{service}",
                get(
                    |State(h): State<Host>, UrlPath((id, service)): UrlPath<(String, String)>| {
                        run(200, "Proxy service", move || h.proxy_service(&id, &service))
                    },
                ),
            )
            .route(
                "/api/v1/containers/{id}/sync",
                post(
                    |State(h): State<Host>,
                     UrlPath(id): UrlPath<String>,
                     b: Result<Bytes, BytesRejection>| async move {
                        if let Err(e) = body::<serde_json::Value>(b, true) {
                            return error_response(e);
                        }
                        run(200, "Container synced", move || h.sync_container(&id)).await
                    },
                ),
            )
            .route(
                "/api/v1/containers/{id}/network",
                get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Network configuration", move || h.get_network(&id))
                })
                .put(
                    |State(h): State<Host>,
                     UrlPath(id): UrlPath<String>,
                     b: Result<Bytes, BytesRejection>| async move {
                        run_with(b, 200, "Network configuration updated", move |req| {
                            h.update_network(&id, req)
                        })
                        .await
                    },
                )
                .delete(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Network configuration removed", move || {
                        h.delete_network(&id)
                    })
                }),
            )
            .route(
                "/api/v1/containers/{id}/network/start",
                post(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Network started", move || {
                        h.set_network_running(&id, true)
                    })
                }),
            )
            .route(
                "/api/v1/containers/{id}/network/stop",
                post(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Network stopped", move || {
                        h.set_network_running(&id, false)
                    })
                }),
            )
            .route(
                "/api/v1/containers/{id}/firewall/rules",
                get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Firewall rules", move || h.get_firewall(&id))
                }),
            )
            .route(
                "/api/v1/containers/{id}/firewall/reset",
                post(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Firewall reset", move || h.reset_firewall(&id))
                }),
            )
            .route(
                "/api/v1/containers/{id}/firewall/{direction}",
                post(firewall_add)
                    .patch(firewall_toggle)
                    .delete(firewall_remove),
            )
            .merge(hook_routes())
            .route(
                "/api/v1/containers/{id}/kvm",
                put(
                    |State(h): State<Host>,
                     UrlPath(id): UrlPath<String>,
                     b: Result<Bytes, BytesRejection>| async move {
                        run_with(b, 200, "KVM setting updated", move |req: api::SetKvm| {
                            h.set_kvm(&id, req.kvm)
                        })
                        .await
                    },
                ),
            )
            .route(
                "/api/v1/containers/{id}/authorize",
                post(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Container authorized", move || {
                        h.authorize_container(&id)
                    })
                }),
            )
            .route(
                "/api/v1/meta/public-key",
                get(|State(h): State<Host>| async move {
                    envelope(200, "Public keys", h.public_keys())
                }),
            )
            .route(
                "/api/v1/projects/{id}/permissions",
                get(
                    |State(h): State<Host>,
                     UrlPath(id): UrlPath<String>,
                     q: Result<Query<api::ListQuery>, QueryRejection>| async move {
                        run_query(q, 200, "Project permissions", move |q| {
                            h.list_project_permissions(&id, &q)
                        })
                        .await
                    },
                )
                .post(
                    |State(h): State<Host>,
                     UrlPath(id): UrlPath<String>,
                     b: Result<Bytes, BytesRejection>| async move {
                        run_with(b, 201, "Permission granted", move |req| {
                            h.add_project_permission(&id, req)
                        })
                        .await
                    },
                ),
            )
            .route(
                "/api/v1/projects/{id}/permissions/{permissionId}",
                put(
                    |State(h): State<Host>,
                     UrlPath((id, pid)): UrlPath<(String, String)>,
                     b: Result<Bytes, BytesRejection>| async move {
                        run_with(b, 200, "Permission updated", move |req| {
                            h.update_project_permission(&id, &pid, req)
                        })
                        .await
                    },
                )
                .delete(
                    |State(h): State<Host>, UrlPath((id, pid)): UrlPath<(String, String)>| {
                        run(200, "Permission revoked", move || {
                            h.remove_project_permission(&id, &pid)
                                .map(|()| serde_json::Value::Null)
                        })
                    },
                ),
            )
            .route(
                "/api/v1/projects/{id}/stats",
                get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Project statistics", move || h.project_stats(&id))
                }),
            )
            .route(
                "/api/v1/containers/{id}/proxy/settings",
                get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                    run(200, "Proxy settings", move || {
                        h.get_permissions(Scope::Container, &id)
                            .map(|d| settings(&d))
                    })
                })
                .put(update_settings)
                .patch(update_settings),
            );
    for op in Operation::ALL {
        r = r.route(
            &format!("/api/v1/containers/{{id}}/{}", op.as_str()),
            op_route(op),
        );
    }
    let mut r = r
        .fallback(|req: Request| async move {
            error_response(ApiError::new(
                404,
                "ROUTE_NOT_FOUND",
                format!("no endpoint {} {}", req.method(), req.uri().path()),
            ))
        })
        .method_not_allowed_fallback(|req: Request| async move {
            error_response(ApiError::new(
                405,
                "METHOD_NOT_ALLOWED",
                format!("{} is not allowed on {}", req.method(), req.uri().path()),
            ))
        })
        .layer(DefaultBodyLimit::max(MAX_BODY));
    r = r.layer(middleware::from_fn_with_state(
        (host.clone(), require_token),
        authenticate,
    ));
    // Outermost: every request is counted, refused ones too.
    let r = r.layer(middleware::from_fn_with_state(metrics, track));
    // Hoody's clients write some paths with a trailing slash (`GET /api/v1/containers/`) and
    // others without: every path is served both ways. The slash is trimmed before routing,
    // by an outer router whose only route is the API's router as its fallback (a layer on
    // the API's router itself would run after its routing).
    Router::new()
        .fallback_service(r.with_state(host))
        .layer(middleware::map_request(trim_trailing_slash))
}

/// `/a/b/` → `/a/b` (the query kept); `/` stays.
async fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let pq = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        let mut parts = req.uri().clone().into_parts();
        if let Ok(p) = pq.parse() {
            parts.path_and_query = Some(p);
            if let Ok(uri) = axum::http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    req
}

/// The firewall direction of a path (`ingress` or `egress`).
fn direction(d: &str) -> Result<crate::firewall::Direction, ApiError> {
    crate::firewall::Direction::parse(d).ok_or_else(|| {
        ApiError::new(
            404,
            "ROUTE_NOT_FOUND",
            format!("no firewall direction {d:?}: ingress or egress"),
        )
    })
}

async fn firewall_add(
    State(h): State<Host>,
    UrlPath((id, d)): UrlPath<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let dir = match direction(&d) {
        Ok(d) => d,
        Err(e) => return error_response(e),
    };
    run_with(b, 201, "Firewall rule added", move |rule| {
        h.add_firewall_rule(&id, dir, rule)
    })
    .await
}

async fn firewall_toggle(
    State(h): State<Host>,
    UrlPath((id, d)): UrlPath<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let dir = match direction(&d) {
        Ok(d) => d,
        Err(e) => return error_response(e),
    };
    run_with(b, 200, "Firewall rules toggled", move |pattern| {
        h.toggle_firewall_rules(&id, dir, pattern)
    })
    .await
}

/// `DELETE …/firewall/{direction}`'s body: the fields of the rules to remove, or `all`.
#[derive(Debug, Default, serde::Deserialize)]
struct RemoveRules {
    #[serde(default)]
    all: bool,
    #[serde(flatten)]
    pattern: api::FirewallRule,
}

async fn firewall_remove(
    State(h): State<Host>,
    UrlPath((id, d)): UrlPath<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let dir = match direction(&d) {
        Ok(d) => d,
        Err(e) => return error_response(e),
    };
    run_with(b, 200, "Firewall rules removed", move |r: RemoveRules| {
        h.remove_firewall_rules(&id, dir, r.pattern, r.all)
    })
    .await
}

async fn update_project(
    State(h): State<Host>,
    UrlPath(id): UrlPath<String>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    run_with(b, 200, "Project updated successfully", move |req| {
        h.update_project(&id, req)
    })
    .await
}

async fn update_container(
    State(h): State<Host>,
    UrlPath(id): UrlPath<String>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    run_with(b, 200, "Container updated successfully", move |req| {
        h.update_container(&id, req)
    })
    .await
}

async fn update_alias(
    State(h): State<Host>,
    UrlPath(id): UrlPath<String>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    run_with(b, 200, "Alias updated", move |req| h.update_alias(&id, req)).await
}

/// Query of the access log endpoint.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    limit: Option<usize>,
}

fn if_match(h: &HeaderMap) -> Option<String> {
    h.get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn restore_snapshot(
    State(h): State<Host>,
    UrlPath((id, name)): UrlPath<(String, String)>,
) -> Response {
    run(200, "Snapshot restored successfully", move || {
        h.restore_snapshot(&id, &name)
    })
    .await
}

async fn snapshot_alias(
    State(h): State<Host>,
    UrlPath((id, name)): UrlPath<(String, String)>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    run_with(b, 200, "Snapshot alias updated", move |req| {
        h.set_snapshot_alias(&id, &name, req)
    })
    .await
}

/// `GET /api/v1/events/stream`: server-sent events, a keep-alive comment every 15 s.
async fn events(State(h): State<Host>, Extension(caller): Extension<Caller>) -> Response {
    let rx = h.subscribe();
    let stream = futures_util::stream::unfold((rx, h, caller), |(mut rx, h, caller)| async move {
        let chunk = match tokio::time::timeout(Duration::from_secs(15), rx.recv()).await {
            Err(_) => Bytes::from_static(b": keepalive\n\n"),
            // Through a realm, only its containers' and projects' events.
            Ok(Ok(ev)) if !h.event_visible(&caller, &ev) => Bytes::new(),
            Ok(Ok(ev)) => {
                let data = String::from_utf8_lossy(&json_bytes(&ev)).into_owned();
                Bytes::from(format!(
                    "id: {}\nevent: {}\ndata: {data}\n\n",
                    ev.seq, ev.kind
                ))
            }
            // A slow reader missed events: tell it (it should re-list).
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                Bytes::from(format!("event: lagged\ndata: {{\"missed\":{n}}}\n\n"))
            }
            Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
        };
        Some((Ok::<_, std::io::Error>(chunk), (rx, h, caller)))
    });
    let mut r = Body::from_stream(stream).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub use hoody_api::PROXIED_HEADER;

/// Who a request runs as, and whether it may: the unix socket's own requests are root (their
/// realm from the `Host` header); TCP requests and those hoody-proxy forwards
/// ([`PROXIED_HEADER`]) need a token, checked with the client's address (the peer, or the
/// proxy's `X-Forwarded-For`). Then the route's rule ([`crate::authz`]) is applied before any
/// handler runs, and the [`Caller`] is left in the request's extensions for the handlers that
/// filter or tag by realm.
async fn authenticate(
    State((h, require_token)): State<(Host, bool)>,
    mut req: Request,
    next: Next,
) -> Response {
    let realm = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::access::realm_of_host);
    let proxied = req.headers().contains_key(PROXIED_HEADER);
    let caller = if require_token || proxied {
        let Some(secret) = bearer(req.headers()) else {
            return error_response(ApiError::new(
                401,
                "MISSING_TOKEN",
                "this listener needs Authorization: Bearer <token> (create one with `hoody tokens create`)",
            ));
        };
        let ip = if proxied {
            req.headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok())
        } else {
            req.extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip())
        };
        let h = h.clone();
        match tokio::task::spawn_blocking(move || h.verify_token(&secret, realm, ip)).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return error_response(e.into()),
            Err(e) => {
                return error_response(ApiError::internal(format!("token check panicked: {e}")));
            }
        }
    } else {
        Caller::root_in(realm)
    };
    if let Some(route) = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_string())
        && !(caller.is_root() && caller.realm.is_none())
    {
        let (mut parts, body) = req.into_parts();
        let id = match axum::extract::RawPathParams::from_request_parts(&mut parts, &()).await {
            Ok(p) => p
                .iter()
                .find(|(k, _)| *k == "id")
                .map(|(_, v)| v.to_string()),
            Err(_) => None,
        };
        let method = parts.method.to_string();
        let (h2, c2) = (h.clone(), caller.clone());
        let verdict =
            tokio::task::spawn_blocking(move || h2.authorize(&c2, &method, &route, id.as_deref()))
                .await;
        match verdict {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return error_response(e.into()),
            Err(e) => {
                return error_response(ApiError::internal(format!("authorization panicked: {e}")));
            }
        }
        req = Request::from_parts(parts, body);
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// The secret of `Authorization: Bearer <secret>` (exactly one space), or a bare `hdy_`
/// token (reference §5.8).
fn bearer(h: &HeaderMap) -> Option<String> {
    let v = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    match v.strip_prefix("Bearer ") {
        Some(s) => Some(s.to_string()),
        None if v.starts_with("hdy_") => Some(v.to_string()),
        None => None,
    }
}

/// Binds the API's unix socket at `path` (mode 0600: root only), replacing a stale one.
pub fn bind_unix(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    // Created with no permissions for group and others from the start.
    let old = hoody_sys::fs::umask(0o077);
    let l = tokio::net::UnixListener::bind(path);
    hoody_sys::fs::umask(old);
    l
}

/// Serves the API on a bound unix socket (no token: the socket's permissions are the
/// authentication) until `shutdown` resolves.
pub async fn serve_unix(
    host: Host,
    listener: tokio::net::UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(host, false))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves the API on TCP (bearer tokens required) until `shutdown` resolves.
pub async fn serve_tcp(
    host: Host,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer's address reaches `authenticate` for tokens' `ip_whitelist`.
    let app = router(host, true).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
