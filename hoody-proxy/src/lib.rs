//! # hoody-proxy: every service of every container is a URL
//!
//! One proxy per server. It parses the host name ([`hostname`]: reference §2.2's grammar),
//! finds the container in a live in-memory [`routes::RouteMap`] fed by hoodyd's event stream,
//! and forwards ([`proxy`]) to the service inside: a user port (`http-8080`) or a Kit service
//! at its reserved port ([`ports`]). HTTP/1.1 and HTTP/2, WebSocket upgrades, streamed bodies,
//! keep-alive pools, TLS with rustls ([`tls`]). `api.{apex}` reaches hoodyd's API, so one base
//! URL serves the API and every Kit host. Permission documents and aliases come with the route
//! map; every request to a container is written to its access log ([`accesslog`]). A container's
//! proxy hooks run on its exec service before the service sees a request (`hooks`).
//!
//! [`server`] runs it: listening sockets shared with `SO_REUSEPORT`, one single-threaded
//! runtime per serving thread, and worker processes under a supervisor (so that one server
//! holds more connections than one process may have open files).
//!
//! Built for throughput (docs/PERFORMANCE.md): one proxy per serving thread, each with its own
//! upstream pool; HTTP/1.1 spoken by the proxy's own code on both sides (`downstream`: a
//! request read and its response written with one read and one write; `upstream`: the request
//! head written straight into one buffer, the response head parsed in place), hyper for
//! HTTP/2; per request one timer (the upstream's response deadline; the slow-client guard is
//! per connection), no host parse on a kept-alive connection, and an access log entry that is
//! a copy into a buffer.
//!
//! [`dns`] is the pool's resolver: inside every container the platform's names resolve to the
//! proxy, so containers talk to each other through URLs, hairpinning through here.
//!
//! Not yet: `ssh` upstreams.

pub mod accesslog;
pub mod dns;
mod downstream;
mod framing;
mod guard;
mod hooks;
pub mod hostname;
pub mod metrics;
/// Permission documents and their evaluation (shared with hoodyd, which validates them).
pub use hoody_api::permissions;
pub mod ports;
pub mod proxy;
pub mod routes;
pub mod server;
pub mod tls;
mod upstream;

pub use proxy::{Proxy, ProxyConfig};
