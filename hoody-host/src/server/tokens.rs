//! The routes of API tokens (reference §5.8, the auth-tokens group).

use super::*;

/// `/api/v1/auth/tokens…` (reference §5.8): every call runs as the request's [`Caller`].
pub(super) fn token_routes() -> Router<Host> {
    Router::new()
        .route(
            "/api/v1/auth/tokens",
            get(|State(h): State<Host>, Extension(c): Extension<Caller>| {
                run(200, "Tokens", move || h.list_tokens(&c))
            })
            .post(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(
                        b,
                        201,
                        "Token created: store its secret now, it is not shown again",
                        move |req| h.create_token(req, &c),
                    )
                    .await
                },
            ),
        )
        .route(
            "/api/v1/auth/tokens/templates",
            get(|State(h): State<Host>| async move {
                envelope(200, "Permission templates", h.token_templates())
            }),
        )
        .route(
            "/api/v1/auth/tokens/me",
            get(|State(h): State<Host>, Extension(c): Extension<Caller>| {
                run(200, "Current token", move || h.current_token(&c))
            }),
        )
        .route(
            "/api/v1/auth/tokens/me/public-profile",
            put(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(b, 200, "Public profile updated", move |req| {
                        h.update_public_profile(req, &c)
                    })
                    .await
                },
            ),
        )
        .route(
            "/api/v1/auth/tokens/public-profiles/{public_key}",
            get(|State(h): State<Host>, UrlPath(key): UrlPath<String>| {
                run(200, "Public profile", move || h.public_profile(&key))
            }),
        )
        .route(
            "/api/v1/auth/tokens/{id}",
            get(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>| {
                    run(200, "Token", move || h.get_token(&id, &c))
                },
            )
            .put(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(b, 200, "Token updated", move |req| {
                        h.update_token(&id, req, &c)
                    })
                    .await
                },
            )
            .delete(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>| {
                    run(200, "Token revoked", move || {
                        h.delete_token(&id, &c).map(|()| serde_json::Value::Null)
                    })
                },
            ),
        )
        .route(
            "/api/v1/auth/tokens/{id}/copy",
            post(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    match body::<api::CopyToken>(b, true) {
                        Ok(req) => {
                            run(
                                201,
                                "Token copied: store its secret now, it is not shown again",
                                move || h.copy_token(&id, req, &c),
                            )
                            .await
                        }
                        Err(e) => error_response(e),
                    }
                },
            ),
        )
        .route(
            "/api/v1/auth/tokens/{id}/add-realm",
            post(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(b, 200, "Realm added", move |req: api::TokenRealm| {
                        h.token_realm(&id, &req.realm_id, true, &c)
                    })
                    .await
                },
            ),
        )
        .route(
            "/api/v1/auth/tokens/{id}/remove-realm",
            post(
                |State(h): State<Host>,
                 Extension(c): Extension<Caller>,
                 UrlPath(id): UrlPath<String>,
                 b: Result<Bytes, BytesRejection>| async move {
                    run_with(b, 200, "Realm removed", move |req: api::TokenRealm| {
                        h.token_realm(&id, &req.realm_id, false, &c)
                    })
                    .await
                },
            ),
        )
}
