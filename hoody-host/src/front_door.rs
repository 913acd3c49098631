//! The server's front door as its containers see it: the proxy's listeners (which every
//! container may reach, hairpinning through the proxy like any client on the internet), the
//! pool's resolver (hoody-proxy's `--dns`), and what that means for the machines' network
//! (`hoody_net::Ingress`, passed to the monitors in their environment) and for the
//! programs inside (`HOODY_API_URL`).
//!
//! hoodyd reads the proxy's own settings (`HOODY_PROXY_HTTP`, `HOODY_PROXY_HTTPS`,
//! `HOODY_PROXY_DNS`, with the proxy's defaults) so that one environment file configures
//! both daemons.

use hoody_machine::monitor::{LOOPBACK_PORTS_ENV, PROXY_PORTS_ENV, RESOLVER_PORT_ENV};

use crate::HostError;

pub use hoody_api::DEFAULT_PROXY_DNS as DEFAULT_DNS;

/// The proxy's listeners as containers reach them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrontDoor {
    /// Port of the proxy's plain HTTP listener.
    pub http_port: Option<u16>,
    /// Port of its HTTPS listener.
    pub https_port: Option<u16>,
    /// Port of the pool's resolver on the gateway.
    pub resolver_port: Option<u16>,
}

/// The port of a listener setting (`ADDR:PORT`, `[V6]:PORT`, `:PORT`), `None` for `none`.
fn listener_port(what: &str, v: &str) -> Result<Option<u16>, HostError> {
    let v = v.trim();
    if v.is_empty() || v == "none" {
        return Ok(None);
    }
    let bad = || {
        HostError::Config(format!(
            "{what} {v:?}: expected ADDRESS:PORT (as hoody-proxy takes it) or none"
        ))
    };
    let (_, port) = v.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad()),
        Ok(p) => Ok(Some(p)),
    }
}

impl FrontDoor {
    /// From the proxy's listener settings (`none` for one it does not open).
    pub fn from_listeners(http: &str, https: &str, dns: &str) -> Result<Self, HostError> {
        Ok(FrontDoor {
            http_port: listener_port("the proxy's HTTP listener", http)?,
            https_port: listener_port("the proxy's HTTPS listener", https)?,
            resolver_port: listener_port("the proxy's resolver", dns)?,
        })
    }

    fn ports(&self) -> Vec<u16> {
        self.http_port.into_iter().chain(self.https_port).collect()
    }

    /// The monitors' environment for it (see `hoody_machine::monitor::PROXY_PORTS_ENV`).
    /// Under the `localhost` apex the proxy's ports on each container's loopback lead to the
    /// proxy too: clients such as curl resolve `*.localhost` to loopback without asking DNS.
    pub fn monitor_env(&self, domain: &str) -> Vec<(String, String)> {
        let list = |p: &[u16]| p.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        let mut env = Vec::new();
        let ports = self.ports();
        if !ports.is_empty() {
            env.push((PROXY_PORTS_ENV.to_string(), list(&ports)));
            if is_localhost(domain) {
                env.push((LOOPBACK_PORTS_ENV.to_string(), list(&ports)));
            }
        }
        if let Some(r) = self.resolver_port {
            env.push((RESOLVER_PORT_ENV.to_string(), r.to_string()));
        }
        env
    }

    /// hoodyd's API as programs inside containers reach it: `api.{domain}` through the proxy
    /// (plain HTTP when it listens, else HTTPS); `None` without a listener.
    pub fn api_url(&self, domain: &str) -> Option<String> {
        match (self.http_port, self.https_port) {
            (Some(80), _) => Some(format!("http://api.{domain}")),
            (Some(p), _) => Some(format!("http://api.{domain}:{p}")),
            (None, Some(443)) => Some(format!("https://api.{domain}")),
            (None, Some(p)) => Some(format!("https://api.{domain}:{p}")),
            (None, None) => None,
        }
    }
}

/// Whether `domain` is `localhost` or under it.
pub fn is_localhost(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_give_ports_and_environment() {
        let f = FrontDoor::from_listeners("0.0.0.0:8088", "none", DEFAULT_DNS).expect("valid");
        assert_eq!(
            f,
            FrontDoor {
                http_port: Some(8088),
                https_port: None,
                resolver_port: Some(10053)
            }
        );
        assert_eq!(
            f.api_url("localhost").as_deref(),
            Some("http://api.localhost:8088")
        );
        let env = f.monitor_env("localhost");
        assert!(env.contains(&(PROXY_PORTS_ENV.into(), "8088".into())));
        assert!(env.contains(&(LOOPBACK_PORTS_ENV.into(), "8088".into())));
        assert!(env.contains(&(RESOLVER_PORT_ENV.into(), "10053".into())));
        let env = f.monitor_env("example.com");
        assert!(!env.iter().any(|(k, _)| k == LOOPBACK_PORTS_ENV));
        let f = FrontDoor::from_listeners("[::]:80", "0.0.0.0:443", "none").expect("valid");
        assert_eq!(
            f.api_url("example.com").as_deref(),
            Some("http://api.example.com")
        );
        assert_eq!(f.ports(), vec![80, 443]);
        for bad in ["8088", "0.0.0.0:x", "0.0.0.0:0"] {
            assert!(
                FrontDoor::from_listeners(bad, "none", "none").is_err(),
                "{bad}"
            );
        }
        assert!(is_localhost("LOCALHOST.") && is_localhost("dev.localhost"));
        assert!(!is_localhost("notlocalhost"));
    }
}
