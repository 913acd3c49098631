//! The table of every endpoint hoodyd serves ([`ENDPOINTS`]: what the permission rules are
//! checked against and `/api/v1/openapi.json` is made from).

/// One implemented endpoint (also the source of `/api/v1/openapi.json`).
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// HTTP method.
    pub method: &'static str,
    /// Path template (`{id}` parameters).
    pub path: &'static str,
    /// What it does.
    pub summary: &'static str,
}

macro_rules! endpoints {
    ($($m:literal $p:literal $s:literal;)*) => {
        /// Every endpoint hoodyd serves.
        pub const ENDPOINTS: &[Endpoint] = &[$(Endpoint { method: $m, path: $p, summary: $s }),*];
    };
}

endpoints! {
    "GET" "/api/v1/health" "Liveness: hoodyd answers";
    "GET" "/metrics" "Prometheus metrics: containers by status, operations in flight, API requests and latency";
    "GET" "/api/v1/servers" "List servers (this one)";
    "GET" "/api/v1/realms" "The realms of what the caller sees (include_usage=true: counts)";
    "GET" "/api/v1/servers/{id}/runtime" "This server live: uptime, load, memory, disk, containers";
    "GET" "/api/v1/rentals/{id}/runtime" "The same as /servers/{id}/runtime";
    "POST" "/api/v1/servers/{id}/rent" "Refused: a self-hosted server is not for rent";
    "GET" "/api/v1/servers/available" "The rental marketplace: none on a self-hosted server";
    "GET" "/api/v1/offers" "The marketplace's offers: none on a self-hosted server";
    "POST" "/api/v1/offers/{id}/reserve" "Refused: no offers";
    "GET" "/api/v1/reservations" "Reservations: none";
    "GET" "/api/v1/reservations/{id}" "Refused: no reservations";
    "GET" "/api/v1/servers/{id}" "Get a server by id or name";
    "GET" "/api/v1/projects" "List projects";
    "POST" "/api/v1/projects" "Create a project";
    "GET" "/api/v1/projects/{id}" "Get a project";
    "PUT" "/api/v1/projects/{id}" "Update a project";
    "PATCH" "/api/v1/projects/{id}" "Update a project";
    "DELETE" "/api/v1/projects/{id}" "Delete an empty project";
    "GET" "/api/v1/projects/{id}/containers" "List a project's containers";
    "POST" "/api/v1/projects/{id}/containers" "Create a container (returns with status creating)";
    "GET" "/api/v1/containers" "List all containers";
    "GET" "/api/v1/containers/{id}" "Get a container";
    "PUT" "/api/v1/containers/{id}" "Update a container";
    "PATCH" "/api/v1/containers/{id}" "Update a container";
    "DELETE" "/api/v1/containers/{id}" "Delete a container and all its data";
    "POST" "/api/v1/containers/{id}/start" "Boot a stopped container";
    "POST" "/api/v1/containers/{id}/stop" "Shut a container down cleanly";
    "POST" "/api/v1/containers/{id}/force-stop" "Kill every process of a container";
    "POST" "/api/v1/containers/{id}/restart" "Stop (if running) and start";
    "POST" "/api/v1/containers/{id}/pause" "Freeze every process";
    "POST" "/api/v1/containers/{id}/resume" "Thaw a paused container";
    "GET" "/api/v1/containers/{id}/stats" "Live counters";
    "GET" "/api/v1/containers/{id}/status-logs" "State transitions";
    "GET" "/api/v1/containers/{id}/env" "Environment variables";
    "PUT" "/api/v1/containers/{id}/env" "Merge environment variables";
    "PUT" "/api/v1/containers/{id}/env/{key}" "Set one environment variable";
    "DELETE" "/api/v1/containers/{id}/env/{key}" "Remove one environment variable";
    "GET" "/api/v1/containers/{id}/snapshots" "List snapshots";
    "POST" "/api/v1/containers/{id}/snapshots" "Create a snapshot";
    "PUT" "/api/v1/containers/{id}/snapshots/{name}" "Restore a snapshot";
    "PATCH" "/api/v1/containers/{id}/snapshots/{name}" "Restore a snapshot";
    "DELETE" "/api/v1/containers/{id}/snapshots/{name}" "Delete a snapshot";
    "PUT" "/api/v1/containers/{id}/snapshots/{name}/alias" "Set or remove a snapshot's alias";
    "PATCH" "/api/v1/containers/{id}/snapshots/{name}/alias" "Set or remove a snapshot's alias";
    "POST" "/api/v1/containers/{id}/copy" "Copy a container into a project (returns with status copying)";
    "GET" "/api/v1/auth/tokens" "List the tokens the caller may manage";
    "POST" "/api/v1/auth/tokens" "Create an API token (its secret is shown once)";
    "GET" "/api/v1/auth/tokens/templates" "The permission templates";
    "GET" "/api/v1/auth/tokens/me" "The calling token and its realm restrictions";
    "PUT" "/api/v1/auth/tokens/me/public-profile" "Set the calling token's public key and storage";
    "GET" "/api/v1/auth/tokens/public-profiles/{public_key}" "A token's public profile by its key";
    "GET" "/api/v1/auth/tokens/{id}" "Get an API token";
    "PUT" "/api/v1/auth/tokens/{id}" "Update an API token";
    "DELETE" "/api/v1/auth/tokens/{id}" "Revoke an API token";
    "POST" "/api/v1/auth/tokens/{id}/copy" "A new token with the same settings";
    "POST" "/api/v1/auth/tokens/{id}/add-realm" "Add a realm to a token";
    "POST" "/api/v1/auth/tokens/{id}/remove-realm" "Remove a realm from a token";
    "GET" "/api/v1/events/stream" "Server-sent events of state changes";
    "GET" "/api/v1/proxy/aliases" "List proxy aliases";
    "POST" "/api/v1/proxy/aliases" "Create a proxy alias";
    "GET" "/api/v1/proxy/aliases/{id}" "Get a proxy alias";
    "PATCH" "/api/v1/proxy/aliases/{id}" "Update a proxy alias";
    "PUT" "/api/v1/proxy/aliases/{id}" "Update a proxy alias";
    "DELETE" "/api/v1/proxy/aliases/{id}" "Delete a proxy alias";
    "PATCH" "/api/v1/proxy/aliases/{id}/state" "Enable or disable a proxy alias";
    "GET" "/api/v1/proxy/state" "Aliases and permission documents (what hoody-proxy loads)";
    "GET" "/api/v1/containers/{id}/proxy/logs" "The proxy's access log of a container";
    "GET" "/api/v1/projects/{id}/proxy/permissions" "A project's permission document";
    "PUT" "/api/v1/projects/{id}/proxy/permissions" "Replace a project's permission document (If-Match)";
    "DELETE" "/api/v1/projects/{id}/proxy/permissions" "Delete a project's permission document (If-Match)";
    "PATCH" "/api/v1/projects/{id}/proxy/permissions/default" "Set default allow|deny (If-Match)";
    "PATCH" "/api/v1/projects/{id}/proxy/permissions/state" "Set enable_proxy (If-Match)";
    "PUT" "/api/v1/projects/{id}/proxy/permissions/groups/{name}/{kind}" "Set a jwt|password|ip|token group (If-Match)";
    "DELETE" "/api/v1/projects/{id}/proxy/permissions/groups/{name}" "Delete a group (If-Match)";
    "PUT" "/api/v1/projects/{id}/proxy/permissions/permissions/{name}" "Grant a group a program {program, access} (If-Match)";
    "DELETE" "/api/v1/projects/{id}/proxy/permissions/permissions/{name}" "Clear a group's rules (If-Match)";
    "DELETE" "/api/v1/projects/{id}/proxy/permissions/permissions/{name}/{program}" "Remove one rule (If-Match)";
    "GET" "/api/v1/containers/{id}/proxy/permissions" "A container's permission document";
    "PUT" "/api/v1/containers/{id}/proxy/permissions" "Replace a container's permission document (If-Match)";
    "DELETE" "/api/v1/containers/{id}/proxy/permissions" "Delete a container's permission document (If-Match)";
    "PATCH" "/api/v1/containers/{id}/proxy/permissions/default" "Set default allow|deny (If-Match)";
    "PATCH" "/api/v1/containers/{id}/proxy/permissions/state" "Set enable_proxy (If-Match)";
    "PUT" "/api/v1/containers/{id}/proxy/permissions/groups/{name}/{kind}" "Set a jwt|password|ip|token group (If-Match)";
    "DELETE" "/api/v1/containers/{id}/proxy/permissions/groups/{name}" "Delete a group (If-Match)";
    "PUT" "/api/v1/containers/{id}/proxy/permissions/permissions/{name}" "Grant a group a program {program, access} (If-Match)";
    "DELETE" "/api/v1/containers/{id}/proxy/permissions/permissions/{name}" "Clear a group's rules (If-Match)";
    "DELETE" "/api/v1/containers/{id}/proxy/permissions/permissions/{name}/{program}" "Remove one rule (If-Match)";
    "GET" "/api/v1/containers/{id}/proxy/settings" "enable_proxy, default and the document version";
    "GET" "/api/v1/containers/{id}/proxy/groups" "Discovery: the document's groups and their rule counts";
    "GET" "/api/v1/containers/{id}/proxy/services" "Discovery: the services rules and hooks name";
    "GET" "/api/v1/containers/{id}/proxy/services/{service}" "Discovery: one service's rules, hooks and effective default";
    "GET" "/api/v1/projects/{id}/stats" "Containers by state and the live counters of the running ones";
    "GET" "/api/v1/projects/{id}/permissions" "Who the project is granted to (users are API tokens)";
    "POST" "/api/v1/projects/{id}/permissions" "Grant the project to a token: read|edit|delete";
    "PUT" "/api/v1/projects/{id}/permissions/{permissionId}" "Change a grant's level";
    "DELETE" "/api/v1/projects/{id}/permissions/{permissionId}" "Revoke a grant";
    "POST" "/api/v1/containers/{id}/authorize" "A signed one-hour container claim";
    "PUT" "/api/v1/containers/{id}/kvm" "Pass /dev/kvm through (or not) on a stopped container";
    "GET" "/api/v1/containers/{id}/proxy/hooks" "The container's proxy hooks by service";
    "GET" "/api/v1/containers/{id}/proxy/hooks/{service}" "One service's hooks, in order";
    "POST" "/api/v1/containers/{id}/proxy/hooks/{service}" "Add a hook (at position, default last)";
    "DELETE" "/api/v1/containers/{id}/proxy/hooks/{service}" "Remove every hook of a service";
    "GET" "/api/v1/containers/{id}/proxy/hooks/{service}/{hookId}" "One hook";
    "PUT" "/api/v1/containers/{id}/proxy/hooks/{service}/{hookId}" "Replace a hook in place";
    "DELETE" "/api/v1/containers/{id}/proxy/hooks/{service}/{hookId}" "Remove a hook";
    "PATCH" "/api/v1/containers/{id}/proxy/hooks/{service}/{hookId}/position" "Move a hook";
    "POST" "/api/v1/containers/{id}/sync" "Pull the source's current file system into a copy (what it had is kept as a snapshot)";
    "GET" "/api/v1/containers/{id}/network" "The container's egress network (never its credentials)";
    "PUT" "/api/v1/containers/{id}/network" "Set and start the egress network (socks5|http|https|block)";
    "DELETE" "/api/v1/containers/{id}/network" "Remove the egress network: egress is direct";
    "POST" "/api/v1/containers/{id}/network/start" "Start the egress network";
    "POST" "/api/v1/containers/{id}/network/stop" "Stop the egress network: egress is direct";
    "GET" "/api/v1/containers/{id}/firewall/rules" "The container's ingress and egress rules";
    "POST" "/api/v1/containers/{id}/firewall/reset" "Remove every firewall rule";
    "POST" "/api/v1/containers/{id}/firewall/{direction}" "Append an ingress|egress rule";
    "PATCH" "/api/v1/containers/{id}/firewall/{direction}" "Set state on the matching rules";
    "DELETE" "/api/v1/containers/{id}/firewall/{direction}" "Remove the matching rules (or all: true)";
    "GET" "/api/v1/meta/public-key" "The Ed25519 key claims are signed with, by kid";
    "PUT" "/api/v1/containers/{id}/proxy/settings" "Set enable_proxy and/or default (If-Match)";
    "PATCH" "/api/v1/containers/{id}/proxy/settings" "Set enable_proxy and/or default (If-Match)";
    "GET" "/api/v1/openapi.json" "This document";
}

/// The OpenAPI 3.1 document of [`ENDPOINTS`].
pub fn openapi() -> serde_json::Value {
    let mut paths = serde_json::Map::new();
    for e in ENDPOINTS {
        let params: Vec<serde_json::Value> = e
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|p| {
                serde_json::json!({"name": p, "in": "path", "required": true,
                    "schema": {"type": "string"}})
            })
            .collect();
        let entry = paths
            .entry(e.path.to_string())
            .or_insert_with(|| serde_json::json!({}));
        entry[e.method.to_ascii_lowercase()] = serde_json::json!({
            "summary": e.summary,
            "parameters": params,
            "responses": {
                "default": {"description": "Envelope {statusCode, message, data} or error {statusCode, error, message}"}
            }
        });
    }
    serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": "hoodyd", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The hoody control API (shaped like Hoody's control plane)"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    })
}
