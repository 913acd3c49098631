//! The routes of a container's proxy hooks (reference §2.6).

use super::*;

/// `/api/v1/containers/{id}/proxy/hooks…` (reference §2.6).
pub(super) fn hook_routes() -> Router<Host> {
    type P2 = UrlPath<(String, String)>;
    type P3 = UrlPath<(String, String, String)>;
    Router::new()
        .route(
            "/api/v1/containers/{id}/proxy/hooks",
            get(|State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Proxy hooks", move || h.list_hooks(&id))
            }),
        )
        .route(
            "/api/v1/containers/{id}/proxy/hooks/{service}",
            get(|State(h): State<Host>, UrlPath((id, svc)): P2| {
                run(200, "Service hooks", move || h.service_hooks(&id, &svc))
            })
            .post(
                |State(h): State<Host>,
                 UrlPath((id, svc)): P2,
                 hd: HeaderMap,
                 b: Result<Bytes, BytesRejection>| async move {
                    let tag = if_match(&hd);
                    run_with(b, 201, "Hook added", move |v: serde_json::Value| {
                        h.add_hook(&id, &svc, tag.as_deref(), v)
                    })
                    .await
                },
            )
            .delete(
                |State(h): State<Host>, UrlPath((id, svc)): P2, hd: HeaderMap| {
                    let tag = if_match(&hd);
                    run(200, "Service hooks cleared", move || {
                        h.clear_service_hooks(&id, &svc, tag.as_deref())
                            .map(|()| serde_json::Value::Null)
                    })
                },
            ),
        )
        .route(
            "/api/v1/containers/{id}/proxy/hooks/{service}/{hookId}",
            get(|State(h): State<Host>, UrlPath((id, svc, hook)): P3| {
                run(200, "Hook", move || h.get_hook(&id, &svc, &hook))
            })
            .put(
                |State(h): State<Host>,
                 UrlPath((id, svc, hook)): P3,
                 hd: HeaderMap,
                 b: Result<Bytes, BytesRejection>| async move {
                    let tag = if_match(&hd);
                    run_with(b, 200, "Hook replaced", move |v: serde_json::Value| {
                        h.replace_hook(&id, &svc, &hook, tag.as_deref(), v)
                    })
                    .await
                },
            )
            .delete(
                |State(h): State<Host>, UrlPath((id, svc, hook)): P3, hd: HeaderMap| {
                    let tag = if_match(&hd);
                    run(200, "Hook removed", move || {
                        h.remove_hook(&id, &svc, &hook, tag.as_deref())
                            .map(|()| serde_json::Value::Null)
                    })
                },
            ),
        )
        .route(
            "/api/v1/containers/{id}/proxy/hooks/{service}/{hookId}/position",
            axum::routing::patch(
                |State(h): State<Host>,
                 UrlPath((id, svc, hook)): P3,
                 hd: HeaderMap,
                 b: Result<Bytes, BytesRejection>| async move {
                    let tag = if_match(&hd);
                    run_with(b, 200, "Hook moved", move |req: api::HookPosition| {
                        h.move_hook(&id, &svc, &hook, tag.as_deref(), req.position)
                    })
                    .await
                },
            ),
        )
}
