//! The live route map: container id → where and whether to forward, kept in memory and fed by
//! hoodyd's event stream, so a request costs one hash lookup under a read lock: no database
//! query and no daemon round trip.
//!
//! [`spawn_feed`] keeps a map in sync: it subscribes to `/api/v1/events/stream` first, then
//! lists every container (so nothing that changes in between is missed), then applies each
//! event. When the stream breaks or lags, it does the same again after a short pause; until the
//! first list has arrived, [`RouteMap::is_ready`] is false.
//!
//! The maps hash with foldhash: several times cheaper than std's SipHash on short keys (a
//! request does up to four lookups), and still seeded per process. Their keys are made by
//! hoodyd (container ids, project ids, alias names); a request only looks them up.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use foldhash::HashMap;
use hoody_api::client::{Client, ClientError};
use hoody_api::permissions::Document;
use hoody_api::{Alias, Container, ContainerStatus, Event, ListQuery, ProxyState};

/// Where a container is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Its project (the host names it too, and must agree).
    pub project_id: String,
    /// Its address while running.
    pub ip: Option<Ipv4Addr>,
    /// Its state.
    pub status: ContainerStatus,
}

impl Route {
    /// The address to forward to, when the container can take requests.
    pub fn upstream(&self) -> Option<Ipv4Addr> {
        match self.status {
            ContainerStatus::Running => self.ip,
            _ => None,
        }
    }
}

/// Aliases and permission documents, as hoodyd last gave them.
#[derive(Debug, Clone, Default)]
pub struct ProxyTables {
    /// Aliases by name.
    pub aliases: HashMap<String, Alias>,
    /// Permission documents of projects, by project id.
    pub project_docs: HashMap<String, Document>,
    /// Permission documents of containers, by container id.
    pub container_docs: HashMap<String, Document>,
    /// Their hooks, parsed and in order: container id → service → hooks (containers with
    /// hooks only).
    pub container_hooks: HashMap<String, HashMap<String, Vec<hoody_api::hooks::Hook>>>,
}

impl ProxyTables {
    /// Indexes hoodyd's state.
    pub fn from_state(s: ProxyState) -> Self {
        let mut t = ProxyTables::default();
        for a in s.aliases {
            t.aliases.insert(a.alias.clone(), a);
        }
        for d in s.permissions {
            // Parsed once here, not per request. A document this proxy cannot read fails
            // closed: its owner's traffic is refused until it is fixed.
            let doc = serde_json::from_value(d.document).unwrap_or_else(|e| {
                eprintln!(
                    "hoody-proxy: permission document of {} {}: {e}; refusing its traffic",
                    d.scope, d.id
                );
                Document {
                    enable_proxy: false,
                    ..Default::default()
                }
            });
            if d.scope != "project"
                && let Some(by_service) = doc.hooks.as_object()
            {
                let parsed: HashMap<_, _> = by_service
                    .keys()
                    .map(|svc| (svc.clone(), hoody_api::hooks::of_service(&doc.hooks, svc)))
                    .filter(|(_, l)| !l.is_empty())
                    .collect();
                if !parsed.is_empty() {
                    t.container_hooks.insert(d.id.clone(), parsed);
                }
            }
            match d.scope.as_str() {
                "project" => t.project_docs.insert(d.id, doc),
                _ => t.container_docs.insert(d.id, doc),
            };
        }
        t
    }
}

/// The map (cheap to clone, shared).
#[derive(Debug, Clone, Default)]
pub struct RouteMap {
    routes: Arc<RwLock<HashMap<String, Arc<Route>>>>,
    tables: Arc<RwLock<Arc<ProxyTables>>>,
    ready: Arc<AtomicBool>,
}

impl RouteMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// The route of container `id` (shared: taking it copies nothing).
    pub fn get(&self, id: &str) -> Option<Arc<Route>> {
        self.routes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// The current aliases and permission documents (a snapshot: cheap to take, never
    /// blocks a writer for long).
    pub fn tables(&self) -> Arc<ProxyTables> {
        self.tables
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the aliases and permission documents.
    pub fn set_tables(&self, t: ProxyTables) {
        *self.tables.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(t);
    }

    /// How many containers it knows.
    pub fn len(&self) -> usize {
        self.routes.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Whether it knows none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the first full list from hoodyd has arrived.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Sets (or replaces) a container's route.
    pub fn apply_container(&self, c: &Container) {
        self.routes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                c.id.clone(),
                route_of(&c.project_id, c.status, c.ip.as_deref()),
            );
    }

    /// Replaces the whole map with `containers`.
    pub fn replace_all(&self, containers: &[Container]) {
        let fresh: HashMap<String, Arc<Route>> = containers
            .iter()
            .map(|c| {
                (
                    c.id.clone(),
                    route_of(&c.project_id, c.status, c.ip.as_deref()),
                )
            })
            .collect();
        *self.routes.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        self.ready.store(true, Ordering::Release);
    }

    /// Applies one event from hoodyd.
    pub fn apply_event(&self, e: &Event) {
        let (Some(id), Some(project)) = (&e.container_id, &e.project_id) else {
            return;
        };
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        if e.kind == "container.deleted" {
            routes.remove(id);
        } else if let Some(status) = e.status {
            routes.insert(id.clone(), route_of(project, status, e.ip.as_deref()));
        }
    }
}

fn route_of(project: &str, status: ContainerStatus, ip: Option<&str>) -> Arc<Route> {
    Arc::new(Route {
        project_id: project.to_string(),
        ip: ip.and_then(|i| i.parse().ok()),
        status,
    })
}

/// Lists every container, page by page.
fn list_all(client: &Client) -> Result<Vec<Container>, ClientError> {
    let mut all = Vec::new();
    let mut page = 1;
    loop {
        let q = ListQuery {
            page: Some(page),
            limit: Some(100),
            ..Default::default()
        };
        let l = client.list_containers(None, &q)?;
        all.extend(l.containers);
        if page >= l.pagination.total_pages {
            return Ok(all);
        }
        page += 1;
    }
}

/// One subscribe-list-follow round; returns why it ended.
fn follow(client: &Client, map: &RouteMap) -> ClientError {
    let events = match client.events() {
        Ok(e) => e,
        Err(e) => return e,
    };
    match client.proxy_state() {
        Ok(s) => map.set_tables(ProxyTables::from_state(s)),
        Err(e) => return e,
    }
    match list_all(client) {
        Ok(all) => map.replace_all(&all),
        Err(e) => return e,
    }
    for ev in events {
        match ev {
            Ok(ev) if ev.kind == "proxy.changed" => match client.proxy_state() {
                Ok(s) => map.set_tables(ProxyTables::from_state(s)),
                Err(e) => return e,
            },
            Ok(ev) => map.apply_event(&ev),
            Err(e) => return e,
        }
    }
    ClientError::Protocol("hoodyd closed the event stream".into())
}

/// Keeps `map` in sync with the hoodyd behind `client`, forever, on a thread of its own.
/// Problems are reported on stderr once per change of message, then retried every second.
pub fn spawn_feed(client: Client, map: RouteMap) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("route-feed".into())
        .spawn(move || {
            let mut last = String::new();
            loop {
                let why = follow(&client, &map).to_string();
                if why != last {
                    eprintln!("hoody-proxy: route feed from hoodyd: {why}; retrying");
                    last = why;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
        .unwrap_or_else(|e| panic!("cannot start the route feed thread: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ev(kind: &str, status: Option<ContainerStatus>, ip: Option<&str>) -> Event {
        Event {
            seq: 1,
            kind: kind.into(),
            project_id: Some("p".into()),
            container_id: Some("c".into()),
            status,
            ip: ip.map(str::to_string),
            time: String::new(),
        }
    }

    #[test]
    fn events_move_a_route_through_its_states() {
        let m = RouteMap::new();
        assert!(!m.is_ready());
        m.replace_all(&[]);
        assert!(m.is_ready());
        m.apply_event(&ev(
            "container.created",
            Some(ContainerStatus::Creating),
            None,
        ));
        assert_eq!(m.get("c").unwrap().upstream(), None);
        m.apply_event(&ev(
            "container.status",
            Some(ContainerStatus::Running),
            Some("10.77.0.5"),
        ));
        assert_eq!(
            m.get("c").unwrap().upstream(),
            Some(Ipv4Addr::new(10, 77, 0, 5))
        );
        m.apply_event(&ev(
            "container.status",
            Some(ContainerStatus::Paused),
            Some("10.77.0.5"),
        ));
        assert_eq!(m.get("c").unwrap().upstream(), None);
        m.apply_event(&ev(
            "container.deleted",
            Some(ContainerStatus::Deleting),
            None,
        ));
        assert!(m.get("c").is_none());
    }
}
