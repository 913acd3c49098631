//! Which permission each route of the API needs, and whether the resource it names exists
//! for the caller (reference §5.8): the rule table hoodyd's server consults before any
//! handler runs.
//!
//! Every route has a rule ([`rule`]); a route without one is refused to every token (root
//! only), so a new endpoint is closed until someone decides who may use it (a unit test
//! checks that every endpoint of [`crate::server::ENDPOINTS`] has a rule). Through a realm,
//! a container or project that does not carry the realm is 404, as if it did not exist (an
//! alias is seen with its container; lists and the event stream keep to the realm's); routes
//! that cannot tell realms apart (metrics, the proxy's state: the server's own) are 403
//! `REALM_UNSUPPORTED` there rather than showing other realms' resources.

use hoody_api::tokens::{Perm, perm};

use crate::access::Caller;

use super::*;

/// What the `{id}` of a route names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Nothing to look up (lists filter by themselves; tokens check their own ownership).
    None,
    /// A container.
    Container,
    /// A project.
    Project,
    /// A proxy alias (seen through a realm when its container is).
    Alias,
}

/// What a route needs.
#[derive(Debug, Clone, Copy)]
pub struct Need {
    /// The permission (`None`: any accepted token).
    pub perm: Option<Perm>,
    /// What `{id}` names.
    pub target: Target,
    /// Whether the route keeps realms apart (else it is refused through a realm).
    pub realm_aware: bool,
}

const fn need(perm: Option<Perm>, target: Target) -> Option<Need> {
    Some(Need {
        perm,
        target,
        realm_aware: true,
    })
}

const fn unscoped(perm: Perm) -> Option<Need> {
    Some(Need {
        perm: Some(perm),
        target: Target::None,
        realm_aware: false,
    })
}

/// The rule of `method` on the route pattern `route` (as routed: `/api/v1/containers/{id}`);
/// `None` when there is none.
pub fn rule(method: &str, route: &str) -> Option<Need> {
    use Target::{Container as C, None as N, Project as P};
    let read = matches!(method, "GET" | "HEAD");
    if let Some(rest) = route.strip_prefix("/api/v1/containers/{id}") {
        let p = match rest {
            "" => match method {
                "GET" => perm::CONTAINERS_READ,
                "PUT" | "PATCH" => perm::CONTAINERS_UPDATE,
                "DELETE" => perm::CONTAINERS_DELETE,
                _ => return None,
            },
            "/start" | "/resume" => perm::CONTAINERS_START,
            "/stop" | "/force-stop" | "/pause" => perm::CONTAINERS_STOP,
            "/restart" => perm::CONTAINERS_RESTART,
            "/status-logs" | "/proxy/logs" => perm::CONTAINERS_LOGS,
            "/authorize" => perm::CONTAINERS_EXEC,
            "/copy" => perm::CONTAINERS_CREATE,
            "/sync" => perm::CONTAINERS_UPDATE,
            "/kvm" => perm::FEATURE_KVM,
            r if r.starts_with("/snapshots") => {
                if read {
                    perm::CONTAINERS_READ
                } else {
                    perm::FEATURE_SNAPSHOTS
                }
            }
            r if r.starts_with("/firewall") => perm::FIREWALLS,
            r if r.starts_with("/network") => {
                if read {
                    perm::CONTAINERS_READ
                } else {
                    perm::FEATURE_NETWORKING
                }
            }
            "/stats"
            | "/env"
            | "/env/{key}"
            | "/proxy/groups"
            | "/proxy/services"
            | "/proxy/services/{service}"
            | "/proxy/settings" => {
                if read {
                    perm::CONTAINERS_READ
                } else {
                    perm::CONTAINERS_UPDATE
                }
            }
            r if r.starts_with("/proxy/permissions") || r.starts_with("/proxy/hooks") => {
                if read {
                    perm::CONTAINERS_READ
                } else {
                    perm::CONTAINERS_UPDATE
                }
            }
            _ => return None,
        };
        return need(Some(p), C);
    }
    if let Some(rest) = route.strip_prefix("/api/v1/projects/{id}") {
        let p = match rest {
            "" => match method {
                "GET" => perm::PROJECTS_READ,
                "PUT" | "PATCH" => perm::PROJECTS_UPDATE,
                "DELETE" => perm::PROJECTS_DELETE,
                _ => return None,
            },
            "/containers" if read => perm::CONTAINERS_READ,
            "/containers" => perm::CONTAINERS_CREATE,
            "/stats" => perm::PROJECTS_READ,
            "/permissions" if read => perm::PROJECTS_READ,
            "/permissions" => perm::MEMBERS_INVITE,
            "/permissions/{permissionId}" if method == "DELETE" => perm::MEMBERS_REMOVE,
            "/permissions/{permissionId}" => perm::MEMBERS_CHANGE_ROLES,
            r if r.starts_with("/proxy/permissions") => {
                if read {
                    perm::PROJECTS_READ
                } else {
                    perm::PROJECTS_UPDATE
                }
            }
            _ => return None,
        };
        return need(Some(p), P);
    }
    match (method, route) {
        ("GET", "/api/v1/health" | "/api/v1/openapi.json" | "/api/v1/meta/public-key") => {
            need(None, N)
        }
        ("GET", "/api/v1/servers" | "/api/v1/servers/{id}") => need(None, N),
        ("GET", "/api/v1/servers/{id}/runtime" | "/api/v1/rentals/{id}/runtime") => need(None, N),
        (
            "GET",
            "/api/v1/servers/available"
            | "/api/v1/offers"
            | "/api/v1/reservations"
            | "/api/v1/reservations/{id}",
        ) => need(Some(perm::VIEW_MARKETPLACE), N),
        ("POST", "/api/v1/servers/{id}/rent" | "/api/v1/offers/{id}/reserve") => {
            need(Some(perm::RENT_SERVERS), N)
        }
        ("GET", "/api/v1/projects") => need(Some(perm::PROJECTS_READ), N),
        ("POST", "/api/v1/projects") => need(Some(perm::PROJECTS_CREATE), N),
        ("GET", "/api/v1/containers") => need(Some(perm::CONTAINERS_READ), N),
        ("GET", "/api/v1/auth/tokens/me" | "/api/v1/auth/tokens/templates") => need(None, N),
        ("GET", "/api/v1/auth/tokens/public-profiles/{public_key}") => need(None, N),
        ("PUT", "/api/v1/auth/tokens/me/public-profile") => need(Some(perm::PUBLIC_PROFILE), N),
        ("GET", "/api/v1/auth/tokens" | "/api/v1/auth/tokens/{id}") => {
            need(Some(perm::READ_ACCOUNT), N)
        }
        (
            "POST" | "PUT" | "DELETE",
            "/api/v1/auth/tokens"
            | "/api/v1/auth/tokens/{id}"
            | "/api/v1/auth/tokens/{id}/copy"
            | "/api/v1/auth/tokens/{id}/add-realm"
            | "/api/v1/auth/tokens/{id}/remove-realm",
        ) => need(Some(perm::CREATE_TOKENS), N),
        ("GET", "/api/v1/realms") => need(Some(perm::REALMS), N),
        ("GET", "/api/v1/events/stream") => need(Some(perm::EVENTS), N),
        (_, "/api/v1/proxy/aliases") => need(Some(perm::PROXY_ALIASES), N),
        (_, r) if r.starts_with("/api/v1/proxy/aliases/{id}") => {
            need(Some(perm::PROXY_ALIASES), Target::Alias)
        }
        ("GET", "/api/v1/proxy/state") => unscoped(perm::ADMIN_SYSTEM),
        ("GET", "/metrics") => unscoped(perm::MONITORING),
        _ => None,
    }
}

impl Host {
    /// Whether `caller` may run `method` on `route` for the resource `id` names: `Ok`, 403
    /// (`INSUFFICIENT_PERMISSIONS`, `REALM_UNSUPPORTED`) or 404 (the resource is outside the
    /// caller's realm). A resource that does not exist at all passes: the handler says so.
    pub fn authorize(
        &self,
        caller: &Caller,
        method: &str,
        route: &str,
        id: Option<&str>,
    ) -> Result<()> {
        if caller.is_root() && caller.realm.is_none() {
            return Ok(());
        }
        let Some(need) = rule(method, route) else {
            if caller.is_root() {
                return Ok(());
            }
            return Err(ApiError::new(
                403,
                "INSUFFICIENT_PERMISSIONS",
                format!("{method} {route} is reserved to the server's root (hoodyd's unix socket)"),
            )
            .into());
        };
        if let Some(p) = need.perm
            && !p.granted(caller.permissions())
            && !self.granted_by_project(caller, p, need.target, route, id)?
        {
            caller.require(p)?;
        }
        if route == "/api/v1/events/stream"
            && caller.token.as_ref().is_some_and(|t| !t.event_access)
        {
            return Err(ApiError::new(
                403,
                "INSUFFICIENT_PERMISSIONS",
                "this token has no event_access",
            )
            .into());
        }
        let Some(realm) = &caller.realm else {
            return Ok(());
        };
        if !need.realm_aware {
            return Err(ApiError::new(
                403,
                "REALM_UNSUPPORTED",
                format!("{method} {route} is not available on a realm-scoped host ({realm})"),
            )
            .into());
        }
        let Some(id) = id else { return Ok(()) };
        let r = self.store();
        let r = r.read();
        match need.target {
            Target::None => Ok(()),
            Target::Container => match r.container(id)? {
                Some(c) if !caller.sees(&c.realm_ids) => {
                    Err(ApiError::not_found("container", id).into())
                }
                _ => Ok(()),
            },
            Target::Project => match r.project(id)? {
                Some(p) if !caller.sees(&p.realm_ids) => {
                    Err(ApiError::not_found("project", id).into())
                }
                _ => Ok(()),
            },
            Target::Alias => {
                let hidden = match r.alias(id)? {
                    Some(a) => !r
                        .container(&a.container_id)?
                        .is_some_and(|c| caller.sees(&c.realm_ids)),
                    None => false,
                };
                if hidden {
                    Err(ApiError::not_found("alias", id).into())
                } else {
                    Ok(())
                }
            }
        }
    }
}

impl Host {
    /// Whether a project permission of `caller` allows `p` on what `id` names (for lists:
    /// whether any does; the list then keeps to those projects).
    fn granted_by_project(
        &self,
        caller: &Caller,
        p: Perm,
        target: Target,
        route: &str,
        id: Option<&str>,
    ) -> Result<bool> {
        if caller.grants.is_empty() {
            return Ok(false);
        }
        Ok(match (target, id) {
            (Target::None, _) => {
                matches!(route, "/api/v1/containers" | "/api/v1/projects")
                    && caller.list_limit(p).is_some_and(|l| !l.is_empty())
            }
            (Target::Project, Some(id)) => caller.granted_on(id, p),
            (Target::Container, Some(id)) => self
                .store()
                .read()
                .container(id)?
                .is_some_and(|c| caller.granted_on(&c.project_id, p)),
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_has_a_rule() {
        for e in crate::server::ENDPOINTS {
            assert!(
                rule(e.method, e.path).is_some(),
                "{} {} has no permission rule",
                e.method,
                e.path
            );
        }
        for op in Operation::ALL {
            let route = format!("/api/v1/containers/{{id}}/{}", op.as_str());
            assert!(rule("POST", &route).is_some(), "{route}");
        }
    }

    #[test]
    fn reads_and_writes_differ() {
        let p = |m, r| rule(m, r).unwrap().perm.unwrap().name;
        assert_eq!(p("GET", "/api/v1/containers/{id}"), "containers.read");
        assert_eq!(p("DELETE", "/api/v1/containers/{id}"), "containers.delete");
        assert_eq!(
            p("POST", "/api/v1/containers/{id}/start"),
            "containers.actions.start"
        );
        assert_eq!(
            p("POST", "/api/v1/projects/{id}/containers"),
            "containers.create"
        );
        assert_eq!(
            p("GET", "/api/v1/projects/{id}/containers"),
            "containers.read"
        );
        assert_eq!(
            p("PUT", "/api/v1/containers/{id}/proxy/permissions"),
            "containers.update"
        );
        assert_eq!(p("POST", "/api/v1/auth/tokens"), "resources.create_tokens");
        assert!(rule("POST", "/api/v1/nothing").is_none());
    }
}
