//! The routes of proxy permission documents (projects' and containers'), and a container's
//! proxy settings.

use super::*;

pub(super) fn settings(d: &crate::permissions::Document) -> serde_json::Value {
    serde_json::json!({
        "enable_proxy": d.enable_proxy,
        "default": d.default,
        "file_version": d.file_version,
        "etag": format!("file:v{}", d.file_version),
    })
}

/// `PUT|PATCH /api/v1/containers/{id}/proxy/settings` body.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    enable_proxy: Option<bool>,
    default: Option<crate::permissions::DefaultPolicy>,
}

pub(super) async fn update_settings(
    State(h): State<Host>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let tag = if_match(&headers);
    run_with(
        b,
        200,
        "Proxy settings updated",
        move |req: SettingsBody| {
            if req.enable_proxy.is_none() && req.default.is_none() {
                return Err(
                    ApiError::validation("settings", "give enable_proxy and/or default").into(),
                );
            }
            let mut tag = tag;
            let mut d = h.get_permissions(Scope::Container, &id)?;
            if let Some(e) = req.enable_proxy {
                d = h.set_permissions_state(Scope::Container, &id, tag.as_deref(), e)?;
                // One update, two writes: the second follows the first's version.
                tag = Some(format!("file:v{}", d.file_version));
            }
            if let Some(def) = req.default {
                d = h.set_permissions_default(Scope::Container, &id, tag.as_deref(), def)?;
            }
            Ok(settings(&d))
        },
    )
    .await
}

/// `{program, access}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    program: String,
    access: crate::permissions::Access,
}

/// The permission document routes of one scope under `base` (`…/projects/{id}` or
/// `…/containers/{id}`).
pub(super) fn permission_routes(scope: Scope, base: &str) -> Router<Host> {
    let p = format!("{base}/proxy/permissions");
    Router::new()
        .route(
            &p,
            get(move |State(h): State<Host>, UrlPath(id): UrlPath<String>| {
                run(200, "Permission document", move || {
                    h.get_permissions(scope, &id).map(|d| with_etag(&d))
                })
            })
            .put(move |State(h): State<Host>, UrlPath(id): UrlPath<String>, hm: HeaderMap, b: Result<Bytes, BytesRejection>| async move {
                let tag = if_match(&hm);
                run_with(b, 200, "Permission document replaced", move |doc: serde_json::Value| {
                    h.replace_permissions(scope, &id, tag.as_deref(), doc).map(|d| with_etag(&d))
                })
                .await
            })
            .delete(move |State(h): State<Host>, UrlPath(id): UrlPath<String>, hm: HeaderMap| async move {
                let tag = if_match(&hm);
                run(200, "Permission document deleted", move || {
                    h.delete_permissions(scope, &id, tag.as_deref())
                })
                .await
            }),
        )
        .route(
            &format!("{p}/default"),
            axum::routing::patch(move |State(h): State<Host>, UrlPath(id): UrlPath<String>, hm: HeaderMap, b: Result<Bytes, BytesRejection>| async move {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct B {
                    default: crate::permissions::DefaultPolicy,
                }
                let tag = if_match(&hm);
                run_with(b, 200, "Default updated", move |req: B| {
                    h.set_permissions_default(scope, &id, tag.as_deref(), req.default)
                        .map(|d| with_etag(&d))
                })
                .await
            }),
        )
        .route(
            &format!("{p}/state"),
            axum::routing::patch(move |State(h): State<Host>, UrlPath(id): UrlPath<String>, hm: HeaderMap, b: Result<Bytes, BytesRejection>| async move {
                #[derive(serde::Deserialize)]
                #[serde(deny_unknown_fields)]
                struct B {
                    enable_proxy: bool,
                }
                let tag = if_match(&hm);
                run_with(b, 200, "Proxy state updated", move |req: B| {
                    h.set_permissions_state(scope, &id, tag.as_deref(), req.enable_proxy)
                        .map(|d| with_etag(&d))
                })
                .await
            }),
        )
        .route(
            &format!("{p}/groups/{{name}}/{{kind}}"),
            put(move |State(h): State<Host>, UrlPath((id, name, kind)): UrlPath<(String, String, String)>, hm: HeaderMap, b: Result<Bytes, BytesRejection>| async move {
                let tag = if_match(&hm);
                run_with(b, 200, "Group set", move |body: serde_json::Value| {
                    h.put_group(scope, &id, tag.as_deref(), &name, &kind, &body)
                        .map(|d| with_etag(&d))
                })
                .await
            }),
        )
        .route(
            &format!("{p}/groups/{{name}}"),
            axum::routing::delete(move |State(h): State<Host>, UrlPath((id, name)): UrlPath<(String, String)>, hm: HeaderMap| async move {
                let tag = if_match(&hm);
                run(200, "Group deleted", move || {
                    h.delete_group(scope, &id, tag.as_deref(), &name).map(|d| with_etag(&d))
                })
                .await
            }),
        )
        .route(
            &format!("{p}/permissions/{{name}}"),
            put(move |State(h): State<Host>, UrlPath((id, name)): UrlPath<(String, String)>, hm: HeaderMap, b: Result<Bytes, BytesRejection>| async move {
                let tag = if_match(&hm);
                run_with(b, 200, "Rule set", move |req: RuleBody| {
                    h.put_rule(scope, &id, tag.as_deref(), &name, &req.program, req.access)
                        .map(|d| with_etag(&d))
                })
                .await
            })
            .delete(move |State(h): State<Host>, UrlPath((id, name)): UrlPath<(String, String)>, hm: HeaderMap| async move {
                let tag = if_match(&hm);
                run(200, "Rules cleared", move || {
                    h.delete_rules(scope, &id, tag.as_deref(), &name, None).map(|d| with_etag(&d))
                })
                .await
            }),
        )
        .route(
            &format!("{p}/permissions/{{name}}/{{program}}"),
            axum::routing::delete(move |State(h): State<Host>, UrlPath((id, name, program)): UrlPath<(String, String, String)>, hm: HeaderMap| async move {
                let tag = if_match(&hm);
                run(200, "Rule removed", move || {
                    h.delete_rules(scope, &id, tag.as_deref(), &name, Some(&program))
                        .map(|d| with_etag(&d))
                })
                .await
            }),
        )
}
