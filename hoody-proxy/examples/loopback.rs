//! hoody-proxy's forwarding path without hoodyd or a container, for profiling and A/B runs:
//! one made-up running container whose address is 127.0.0.1, so that
//! `{P}-{C}-http-{PORT}.node-1.containers.hoody.bench` reaches `127.0.0.1:{PORT}`.
//!
//! ```text
//! cargo run --release -p hoody-proxy --example loopback -- 127.0.0.1:47000 [threads] [log dir]
//! curl -H 'Host: 0123456789abcdef01234567-89abcdef0123456789abcdef-http-8080.node-1.containers.hoody.bench' 127.0.0.1:47000/
//! ```
//!
//! Like the binary: mimalloc, one single-threaded runtime per thread, each with its own proxy and its own
//! SO_REUSEPORT listener; with a log directory, the access log is on.

#![allow(clippy::unwrap_used)]

use hoody_api::{ContainerStatus, Event};

/// The binary's allocator, so that profiles match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hoody_proxy::hostname::Domains;
use hoody_proxy::routes::RouteMap;
use hoody_proxy::{Proxy, ProxyConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: std::net::SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:47000".into())
        .parse()
        .unwrap();
    let threads: usize = args.next().map_or(1, |t| t.parse().unwrap());
    let log = args
        .next()
        .map(|d| hoody_proxy::accesslog::AccessLogger::start(d.into()).unwrap());
    let routes = RouteMap::new();
    routes.replace_all(&[]);
    routes.apply_event(&Event {
        seq: 1,
        kind: "container.status".into(),
        project_id: Some("0123456789abcdef01234567".into()),
        container_id: Some("89abcdef0123456789abcdef".into()),
        status: Some(ContainerStatus::Running),
        ip: Some("127.0.0.1".into()),
        time: String::new(),
    });
    let cfg = ProxyConfig::new(Domains::new("hoody.bench", "node-1").unwrap());
    let mut handles = Vec::new();
    for _ in 0..threads {
        let proxy = Proxy::new(
            cfg.clone(),
            routes.clone(),
            log.as_ref().map(|l| l.for_thread()),
        );
        handles.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let s = tokio::net::TcpSocket::new_v4().unwrap();
                s.set_reuseport(true).unwrap();
                s.set_reuseaddr(true).unwrap();
                s.bind(addr).unwrap();
                let _ = proxy.serve_plain(s.listen(1024).unwrap()).await;
            });
        }));
    }
    for h in handles {
        let _ = h.join();
    }
}
