//! TEMPORARY stub of the hostname grammar (the real module is being written).
#![allow(missing_docs, dead_code)]

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domains {
    pub apex: String,
    pub server: String,
}
impl Domains {
    pub fn new(apex: &str, server: &str) -> Result<Self, HostError> {
        Ok(Domains {
            apex: apex.to_ascii_lowercase(),
            server: server.to_ascii_lowercase(),
        })
    }
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Api,
    Service {
        project: String,
        container: String,
        service: Service,
        sub: Option<String>,
    },
    Alias(String),
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Kit { kit: Kit, index: u32 },
    Http(u16),
    Https(u16),
    Ssh,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kit {
    Terminal,
    Display,
    Desktop,
    Files,
    Sqlite,
    Exec,
    Browser,
    Cdp,
    Agent,
    Code,
    Curl,
    Notifications,
    Daemon,
    Cron,
    Pipe,
    Notes,
    Watch,
    Run,
    Tunnel,
    Logs,
    Egress,
    Bot,
}
impl Kit {
    pub fn slug(self) -> &'static str {
        "terminal"
    }
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    Invalid(String),
    NotOurDomain(String),
}
impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}
impl std::error::Error for HostError {}
pub fn parse_host(host: &str, d: &Domains) -> Result<Target, HostError> {
    let h = host.to_ascii_lowercase();
    let h = h
        .split(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('.')
        .to_string();
    if h == format!("api.{}", d.apex) {
        return Ok(Target::Api);
    }
    let suffix = format!(".{}.containers.{}", d.server, d.apex);
    let Some(x) = h.strip_suffix(&suffix) else {
        return Err(HostError::NotOurDomain(h));
    };
    let parts: Vec<&str> = x.splitn(3, '-').collect();
    if parts.len() == 3 && parts[0].len() == 24 && parts[1].len() == 24 {
        let rest = parts[2];
        let service = if let Some(p) = rest.strip_prefix("http-") {
            Service::Http(p.parse().map_err(|_| HostError::Invalid(h.clone()))?)
        } else {
            Service::Kit {
                kit: Kit::Terminal,
                index: 1,
            }
        };
        return Ok(Target::Service {
            project: parts[0].into(),
            container: parts[1].into(),
            service,
            sub: None,
        });
    }
    Ok(Target::Alias(x.to_string()))
}
