//! Binding the services on their ports and serving them.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::Context;
use crate::ports::{Kit as Service, kit_port};

/// What `built` reports in health bodies.
pub const BUILT: &str = concat!("hoody-kit ", env!("CARGO_PKG_VERSION"));

/// The services this Kit serves.
pub const SERVICES: [Service; 4] = crate::ports::SERVED;

/// The router of `service` (`None` for a service this Kit does not have yet).
pub fn router(service: Service, ctx: Arc<Context>) -> Option<Router> {
    Some(match service {
        Service::Terminal => crate::terminal::router(ctx),
        Service::Files => crate::files::router(ctx),
        Service::Exec => crate::exec::router(ctx),
        Service::Sqlite => crate::sqlite::router(ctx),
        _ => return None,
    })
}

/// Serves `router` on `listener` until the listener fails.
pub async fn serve_on(listener: TcpListener, router: Router) -> io::Result<()> {
    axum::serve(listener, router).await
}

/// Every service of `services` bound on `bind:port` ([`kit_port`]), ready to [`Bound::run`].
#[derive(Debug)]
pub struct Bound {
    listeners: Vec<(Service, SocketAddr, TcpListener, Router)>,
}

/// Binds every service of `services` on `bind:port` ([`kit_port`]). A port already in use is
/// reported at once, naming the service and the address.
pub async fn bind(ctx: Arc<Context>, bind: IpAddr, services: &[Service]) -> io::Result<Bound> {
    let mut listeners = Vec::new();
    for &s in services {
        let Some(r) = router(s, ctx.clone()) else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("the Kit has no {s} service yet"),
            ));
        };
        let addr = SocketAddr::new(bind, kit_port(s));
        let l = TcpListener::bind(addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{s}: bind {addr}: {e}")))?;
        listeners.push((s, addr, l, r));
    }
    Ok(Bound { listeners })
}

impl Bound {
    /// Serves every bound service until one fails.
    pub async fn run(self) -> io::Result<()> {
        let mut set = tokio::task::JoinSet::new();
        for (s, addr, l, r) in self.listeners {
            set.spawn(async move {
                serve_on(l, r)
                    .await
                    .map_err(|e| io::Error::new(e.kind(), format!("{s} on {addr}: {e}")))
            });
        }
        match set.join_next().await {
            Some(Ok(r)) => r,
            Some(Err(e)) => Err(io::Error::other(format!("a Kit service task failed: {e}"))),
            None => Ok(()),
        }
    }
}

/// [`bind`], then [`Bound::run`].
pub async fn serve(ctx: Arc<Context>, bind_ip: IpAddr, services: &[Service]) -> io::Result<()> {
    bind(ctx, bind_ip, services).await?.run().await
}
