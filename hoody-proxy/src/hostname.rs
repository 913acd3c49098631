//! The hostname grammar of the reverse proxy (reference §2.2; alias names from §2.7).
//!
//! The proxy picks the destination of every request from its `Host` header (or HTTP/2
//! `:authority`). [`parse_host`] turns that value into a [`Target`]; [`Target::to_host`] writes
//! the canonical hostname back. With the apex `hoody.test` and the server `node-1`:
//!
//! ```text
//! api.hoody.test                                         -> Target::Api
//! {realm}.api.hoody.test (24 hex digits)                  -> Target::Api (hoodyd reads the realm)
//! {P}-{C}-{slug}[-{index}].node-1.containers.hoody.test        -> Target::Service { sub: None, .. }
//! {sub}.{P}-{C}-{slug}[-{index}].node-1.containers.hoody.test  -> Target::Service { sub: Some(..), .. }
//! {alias}.node-1.containers.hoody.test                   -> Target::Alias
//! ```
//!
//! `{P}` and `{C}` are the project and container ids (24 lowercase hex digits each). They are
//! confidential: the URL is the credential. Errors carry the host they reject, so be careful
//! where you log them.
//!
//! # Normalisation
//!
//! The input is lowercased (ASCII only, so an id written in uppercase hex is read as the same
//! id in lowercase), then one `:port` suffix (1 to 5 decimal digits, at most 65535) and then one
//! trailing dot are removed. What is left must be a DNS name: at most 253 characters, labels
//! of 1 to 63 characters from `[a-z0-9-]` that neither start nor end with `-`. Userinfo (`@`),
//! whitespace, control characters, paths, schemes and lists of hosts are rejected. An IPv6
//! literal (`[…]`) is never one of our names.
//!
//! # Service labels
//!
//! `{P}-{C}-{slug}[-{index}]`, where the slug is a [`Kit`] slug or one of its older names (see
//! [`Kit::from_slug`]), or `http`, `https`, `ssh`:
//!
//! * a kit without an index is instance 1 (`files` ≡ `files-1`); indices are decimal without
//!   leading zeros, from 1 to `u32::MAX`; `terminal-0` (the ephemeral, session-less terminal)
//!   is the only index 0;
//! * `http-PORT` / `https-PORT` reach a container port (1 to 65535, no leading zeros); bare
//!   `http` is port 80 and bare `https` port 443;
//! * `ssh` takes no index; the older `ssh-22` is read as `ssh`.
//!
//! A label whose first two `-`-separated parts are both hex digits, one of them at least 16
//! long, is always read as a service label, so a mistyped id is reported as [`HostError::BadId`]
//! rather than looked up as an alias. Such names are therefore unusable as aliases (the alias
//! API would accept them, the proxy could never route them).
//!
//! A label is at most 63 characters and the two ids with their hyphens take 50, which leaves 13
//! for `{slug}-{index}`: `terminal-9999` fits, `terminal-10000` does not. `to_host` still writes
//! such a target, but the name is not a valid hostname and `parse_host` rejects it. For the
//! same reason the reference's older `notification-server-N`, `hoody-daemon-N` and
//! `hoody-tunnel-N` never fit (bare `hoody-daemon` and `hoody-tunnel` just do).
//!
//! # Aliases
//!
//! Any other single label in front of `{server}.containers.{apex}` is an alias when it is a valid
//! alias name: 3 to 61 characters of `[a-z0-9-]`, no leading or trailing hyphen, not `containers`,
//! not `proxy` or `workspaces`, not starting with `proxy-` or `workspaces-`. Aliases take no
//! subdomain. The per-server SSH entry point `ssh.{server}.containers.{apex}` therefore parses
//! as `Target::Alias("ssh")`; the router has to claim that name before the alias table does.
//!
//! # Not ours
//!
//! Every other name is [`HostError::NotOurDomain`]: other apexes, other servers, the bare
//! `containers.{apex}` and `{server}.containers.{apex}`, realm API hosts (`{realm}.api.{apex}`),
//! the server-less marketing form `{P}-{C}-http-4000.containers.{apex}` and the older
//! `{alias}.proxy.{apex}`. Custom domains (a CNAME onto an alias) are resolved by the alias
//! table, not by this grammar.

use std::fmt;

pub use hoody_kit::ports::Kit;

/// Length of a project or container id, in hex digits.
const ID_LEN: usize = 24;
/// A label whose first two `-`-separated parts are hex, one of them at least this long, is a
/// service label (see module docs).
const ID_LIKE_MIN_LEN: usize = 16;
/// The longest DNS name, without the trailing dot.
const MAX_NAME_LEN: usize = 253;
/// The longest DNS label.
const MAX_LABEL_LEN: usize = 63;
/// Alias names are 3 to 61 characters long.
const ALIAS_LEN: std::ops::RangeInclusive<usize> = 3..=61;
/// The label between the server name and the apex.
const CONTAINERS_LABEL: &str = "containers";
/// The label in front of the apex that names hoodyd's API.
const API_LABEL: &str = "api";
/// Room the longest Kit host needs besides server and apex: a 63-character subdomain, a
/// 63-character service label, and the dots and `containers` between them
/// (`{sub}.{label}.{server}.containers.{apex}`).
const KIT_HOST_OVERHEAD: usize =
    MAX_LABEL_LEN + 1 + MAX_LABEL_LEN + 1 + 1 + CONTAINERS_LABEL.len() + 1;

/// The proxy's domain setup: Kit hosts are `…{server}.containers.{apex}`, the API is `api.{apex}`.
///
/// Build it with [`Domains::new`], which validates and lowercases both names; the fields are
/// public for reading.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domains {
    /// The platform's domain, e.g. `hoody.icu` (dot-separated DNS labels, lowercase).
    pub apex: String,
    /// This server's name, e.g. `node-us-1` (one DNS label, lowercase).
    pub server: String,
}

impl Domains {
    /// Validates and lowercases the apex (dot-separated DNS labels; one trailing dot is
    /// dropped) and the server name (one DNS label).
    ///
    /// Also rejects a pair so long that the longest Kit host (a 63-character subdomain in front
    /// of a 63-character service label) would exceed 253 characters, so that every valid
    /// [`Target`] has a valid hostname.
    pub fn new(apex: &str, server: &str) -> Result<Self, HostError> {
        let bad = |value: &str, reason| HostError::BadDomains {
            value: value.to_owned(),
            reason,
        };
        let apex_lower = apex.to_ascii_lowercase();
        let apex_lower = apex_lower
            .strip_suffix('.')
            .unwrap_or(&apex_lower)
            .to_owned();
        if apex_lower.is_empty() {
            return Err(bad(apex, "the apex domain is empty"));
        }
        if let Some(reason) = apex_lower.split('.').find_map(label_problem) {
            return Err(bad(apex, reason));
        }
        let server_lower = server.to_ascii_lowercase();
        if server_lower.is_empty() {
            return Err(bad(server, "the server name is empty"));
        }
        if server_lower.contains('.') {
            return Err(bad(server, "the server name must be a single DNS label"));
        }
        if let Some(reason) = label_problem(&server_lower) {
            return Err(bad(server, reason));
        }
        if KIT_HOST_OVERHEAD + server_lower.len() + apex_lower.len() > MAX_NAME_LEN {
            return Err(bad(
                &format!("{server_lower}.{CONTAINERS_LABEL}.{apex_lower}"),
                "apex and server name leave no room for the longest Kit hostname (253 characters)",
            ));
        }
        Ok(Self {
            apex: apex_lower,
            server: server_lower,
        })
    }
}

/// What a hostname addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `api.{apex}`: hoodyd's API.
    Api,
    /// `{project}-{container}-{service}.{server}.containers.{apex}`, optionally with a leftmost
    /// `{sub}.` subdomain (exec: scripts/{sub}/).
    Service {
        /// The project id: 24 lowercase hex digits.
        project: String,
        /// The container id: 24 lowercase hex digits.
        container: String,
        /// The service inside the container.
        service: Service,
        /// The leftmost subdomain, if any (one lowercase DNS label). Exec maps it to
        /// `scripts/{sub}/`; the grammar allows it in front of every service.
        sub: Option<String>,
    },
    /// `{alias}.{server}.containers.{apex}`: an alias registered with the alias API.
    Alias(String),
}

impl Target {
    /// Writes the canonical hostname: kit indices always written (`files-1`), ports always
    /// written (`http-80`, `https-443`), `ssh` without a port, everything lowercase as stored.
    ///
    /// Targets built by [`parse_host`] always give a name that parses back to them; a
    /// hand-built target whose service label exceeds 63 characters (e.g. `terminal-10000`)
    /// gives a name that [`parse_host`] rejects.
    pub fn to_host(&self, d: &Domains) -> String {
        match self {
            Target::Api => format!("{API_LABEL}.{}", d.apex),
            Target::Service {
                project,
                container,
                service,
                sub,
            } => {
                let sub = sub.as_deref().map(|s| format!("{s}.")).unwrap_or_default();
                format!(
                    "{sub}{project}-{container}-{service}.{}.{CONTAINERS_LABEL}.{}",
                    d.server, d.apex
                )
            }
            Target::Alias(alias) => {
                format!("{alias}.{}.{CONTAINERS_LABEL}.{}", d.server, d.apex)
            }
        }
    }
}

/// A service inside a container, as named by the last part of a service label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// `{slug}-{index}`: instance `index` of a kit. A missing index is 1; index 0 exists only
    /// for the terminal (`terminal-0`, the ephemeral session).
    Kit {
        /// Which kit.
        kit: Kit,
        /// The instance (terminal session, display number…).
        index: u32,
    },
    /// `http-PORT`: plain HTTP to a container port (1..=65535); bare `http` is 80.
    Http(u16),
    /// `https-PORT`: HTTPS to a container port (1..=65535); bare `https` is 443.
    Https(u16),
    /// `ssh`: the container's SSH server (the older `ssh-22` is the same).
    Ssh,
}

impl fmt::Display for Service {
    /// The canonical slug part of a service label: `files-1`, `http-80`, `ssh`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Service::Kit { kit, index } => write!(f, "{}-{index}", kit.slug()),
            Service::Http(port) => write!(f, "http-{port}"),
            Service::Https(port) => write!(f, "https-{port}"),
            Service::Ssh => f.write_str("ssh"),
        }
    }
}

/// Why a hostname (or a domain setup) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostError {
    /// The host is empty (or only a port or a dot).
    Empty,
    /// The host is not a well-formed name of our grammar.
    Invalid {
        /// The host as received.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A well-formed name that this proxy does not serve (other domain, other server, IP
    /// literal…).
    NotOurDomain {
        /// The host as received.
        host: String,
    },
    /// A service label whose slug names no service.
    UnknownService {
        /// The slug, without the index.
        slug: String,
    },
    /// A port in an `http-PORT`/`https-PORT`/`ssh-PORT` slug that is out of range or badly written.
    BadPort {
        /// The port as written.
        port: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A kit index that is out of range or badly written.
    BadIndex {
        /// The index as written.
        index: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A project or container id that is not 24 hex digits.
    BadId {
        /// `"project"` or `"container"`.
        which: &'static str,
        /// The id as written (lowercased).
        id: String,
    },
    /// [`Domains::new`] was given an unusable apex or server name.
    BadDomains {
        /// The name as given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Empty => f.write_str("empty host"),
            HostError::Invalid { host, reason } => write!(f, "invalid host {host:?}: {reason}"),
            HostError::NotOurDomain { host } => {
                write!(f, "host {host:?} is not served by this proxy")
            }
            HostError::UnknownService { slug } => write!(f, "unknown service slug {slug:?}"),
            HostError::BadPort { port, reason } => write!(f, "bad port {port:?}: {reason}"),
            HostError::BadIndex { index, reason } => {
                write!(f, "bad instance index {index:?}: {reason}")
            }
            HostError::BadId { which, id } => write!(
                f,
                "bad {which} id {id:?}: expected {ID_LEN} hex digits, got {}",
                id.len()
            ),
            HostError::BadDomains { value, reason } => {
                write!(f, "bad domain setup {value:?}: {reason}")
            }
        }
    }
}

impl std::error::Error for HostError {}

/// Parses an HTTP `Host` header value (or an authority) into the [`Target`] it addresses.
///
/// See the module docs for the grammar. Never panics.
pub fn parse_host(host: &str, d: &Domains) -> Result<Target, HostError> {
    let name = normalise(host)?;
    let not_ours = || HostError::NotOurDomain {
        host: host.to_owned(),
    };
    let under_apex = strip_parent(&name, &d.apex).ok_or_else(not_ours)?;
    if under_apex == API_LABEL {
        return Ok(Target::Api);
    }
    // `{realm}.api.{apex}`: the API seen through a realm (24 lowercase hex digits; hoodyd
    // reads the realm from the Host header, which is forwarded as sent).
    if let Some(realm) = under_apex
        .strip_suffix(API_LABEL)
        .and_then(|r| r.strip_suffix('.'))
        && realm.len() == 24
        && realm
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Ok(Target::Api);
    }
    let front = strip_parent(under_apex, CONTAINERS_LABEL)
        .and_then(|under_containers| strip_parent(under_containers, &d.server))
        .ok_or_else(not_ours)?;
    let invalid = |reason| HostError::Invalid {
        host: host.to_owned(),
        reason,
    };
    let mut labels = front.rsplitn(3, '.');
    let label = labels.next().unwrap_or(front);
    match (labels.next(), labels.next()) {
        (None, _) => match split_service_label(label) {
            Some(parts) => service_target(parts, None, host),
            None => match alias_problem(label) {
                None => Ok(Target::Alias(label.to_owned())),
                Some(reason) => Err(invalid(reason)),
            },
        },
        (Some(sub), None) => match split_service_label(label) {
            Some(parts) => service_target(parts, Some(sub), host),
            None => Err(invalid("only a service host takes a subdomain")),
        },
        (Some(_), Some(_)) => Err(invalid("more than one label in front of a service host")),
    }
}

/// Lowercases `input`, strips one `:port` and one trailing dot, and checks that the rest is a
/// DNS name.
fn normalise(input: &str) -> Result<String, HostError> {
    if input.is_empty() {
        return Err(HostError::Empty);
    }
    let invalid = |reason| HostError::Invalid {
        host: input.to_owned(),
        reason,
    };
    if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("contains whitespace or a control character"));
    }
    if input.contains('@') {
        return Err(invalid("contains userinfo (`@`)"));
    }
    if input.starts_with('[') {
        return Err(HostError::NotOurDomain {
            host: input.to_owned(),
        });
    }
    let mut lower = input.to_ascii_lowercase();
    let name = match lower.split_once(':') {
        None => lower.as_str(),
        Some((name, port)) if is_authority_port(port) => name,
        Some(_) => {
            return Err(invalid(
                "only a decimal port (1 to 5 digits) may follow `:`",
            ));
        }
    };
    let name_len = name.strip_suffix('.').unwrap_or(name).len();
    lower.truncate(name_len);
    if lower.is_empty() {
        return Err(HostError::Empty);
    }
    if lower.len() > MAX_NAME_LEN {
        return Err(invalid("longer than 253 characters"));
    }
    if let Some(reason) = lower.split('.').find_map(label_problem) {
        return Err(invalid(reason));
    }
    Ok(lower)
}

/// Whether `port` is the port of an authority: 1 to 5 decimal digits, at most 65535.
fn is_authority_port(port: &str) -> bool {
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok()
}

/// What is wrong with a lowercase DNS label, if anything.
fn label_problem(label: &str) -> Option<&'static str> {
    if label.is_empty() {
        Some("empty label (leading dot or two dots in a row)")
    } else if label.len() > MAX_LABEL_LEN {
        Some("label longer than 63 characters")
    } else if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("character outside [a-z0-9.-]")
    } else if label.starts_with('-') || label.ends_with('-') {
        Some("label starts or ends with `-`")
    } else {
        None
    }
}

/// `child` when `name` is `child.parent` (parent compared ignoring ASCII case).
fn strip_parent<'a>(name: &'a str, parent: &str) -> Option<&'a str> {
    let cut = name.len().checked_sub(parent.len().checked_add(1)?)?;
    let (child, dot_parent) = name.split_at_checked(cut)?;
    let tail = dot_parent.strip_prefix('.')?;
    (!child.is_empty() && tail.eq_ignore_ascii_case(parent)).then_some(child)
}

/// What is wrong with a label (already a valid DNS label) as an alias name, if anything.
fn alias_problem(label: &str) -> Option<&'static str> {
    if !ALIAS_LEN.contains(&label.len()) {
        Some("alias names are 3 to 61 characters long")
    } else if label == CONTAINERS_LABEL
        || label == "proxy"
        || label == "workspaces"
        || label.starts_with("proxy-")
        || label.starts_with("workspaces-")
    {
        Some("reserved alias name")
    } else {
        None
    }
}

/// The parts of a service label: project id, container id, and the slug part if present.
type ServiceLabel<'a> = (&'a str, &'a str, Option<&'a str>);

/// Splits `{project}-{container}[-{rest}]` when the label has the service shape: its first
/// two parts are hex digits and one of them is at least [`ID_LIKE_MIN_LEN`] long.
fn split_service_label(label: &str) -> Option<ServiceLabel<'_>> {
    let mut parts = label.splitn(3, '-');
    let project = parts.next()?;
    let container = parts.next()?;
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    (is_hex(project) && is_hex(container) && project.len().max(container.len()) >= ID_LIKE_MIN_LEN)
        .then_some((project, container, parts.next()))
}

/// Builds the [`Target::Service`] of a service-shaped label.
fn service_target(
    (project, container, rest): ServiceLabel<'_>,
    sub: Option<&str>,
    host: &str,
) -> Result<Target, HostError> {
    for (which, id) in [("project", project), ("container", container)] {
        if id.len() != ID_LEN {
            return Err(HostError::BadId {
                which,
                id: id.to_owned(),
            });
        }
    }
    let rest = rest.ok_or_else(|| HostError::Invalid {
        host: host.to_owned(),
        reason: "missing service slug after the container id",
    })?;
    let service = parse_service(rest, host)?;
    Ok(Target::Service {
        project: project.to_owned(),
        container: container.to_owned(),
        service,
        sub: sub.map(str::to_owned),
    })
}

/// Parses the part of a service label after the ids: `{slug}[-{number}]`.
fn parse_service(rest: &str, host: &str) -> Result<Service, HostError> {
    let (slug, number) = match rest.rsplit_once('-') {
        Some((slug, number))
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (slug, Some(number))
        }
        _ => (rest, None),
    };
    if slug.is_empty() {
        return Err(HostError::Invalid {
            host: host.to_owned(),
            reason: "missing service slug after the container id",
        });
    }
    match slug {
        "http" => Ok(Service::Http(number.map_or(Ok(80), parse_port)?)),
        "https" => Ok(Service::Https(number.map_or(Ok(443), parse_port)?)),
        "ssh" => match number {
            None | Some("22") => Ok(Service::Ssh),
            Some(port) => Err(HostError::BadPort {
                port: port.to_owned(),
                reason: "ssh is only reachable on port 22",
            }),
        },
        _ => {
            let kit = Kit::from_slug(slug).ok_or_else(|| HostError::UnknownService {
                slug: slug.to_owned(),
            })?;
            let index = number.map_or(Ok(1), |n| parse_index(kit, n))?;
            Ok(Service::Kit { kit, index })
        }
    }
}

/// Parses a container port written in a slug (decimal digits only, checked by the caller).
fn parse_port(digits: &str) -> Result<u16, HostError> {
    let bad = |reason| HostError::BadPort {
        port: digits.to_owned(),
        reason,
    };
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(bad("leading zero"));
    }
    match digits.parse::<u16>() {
        Ok(0) => Err(bad("port 0")),
        Ok(port) => Ok(port),
        Err(_) => Err(bad("above 65535")),
    }
}

/// Parses a kit index (decimal digits only, checked by the caller).
fn parse_index(kit: Kit, digits: &str) -> Result<u32, HostError> {
    let bad = |reason| HostError::BadIndex {
        index: digits.to_owned(),
        reason,
    };
    if digits.len() > 1 && digits.starts_with('0') {
        return Err(bad("leading zero"));
    }
    match digits.parse::<u32>() {
        Ok(0) if kit != Kit::Terminal => Err(bad("index 0 exists only as terminal-0")),
        Ok(index) => Ok(index),
        Err(_) => Err(bad("above 4294967295")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;

    const P: &str = "0123456789abcdef01234567";
    const C: &str = "89abcdef0123456789abcdef";

    fn d() -> Domains {
        Domains::new("hoody.test", "node-1").unwrap()
    }

    fn parse(host: &str) -> Result<Target, HostError> {
        parse_host(host, &d())
    }

    /// `{label}.node-1.containers.hoody.test`
    fn kit_host(label: &str) -> String {
        format!("{label}.node-1.containers.hoody.test")
    }

    /// `{P}-{C}-{rest}.node-1.containers.hoody.test`
    fn service_host(rest: &str) -> String {
        kit_host(&format!("{P}-{C}-{rest}"))
    }

    fn service(service: Service) -> Target {
        Target::Service {
            project: P.to_owned(),
            container: C.to_owned(),
            service,
            sub: None,
        }
    }

    fn kit(kit: Kit, index: u32) -> Target {
        service(Service::Kit { kit, index })
    }

    #[track_caller]
    fn assert_invalid(host: &str) {
        let got = parse(host);
        assert!(
            matches!(got, Err(HostError::Invalid { .. })),
            "{host:?}: {got:?}"
        );
    }

    #[track_caller]
    fn assert_not_ours(host: &str) {
        let got = parse(host);
        assert!(
            matches!(got, Err(HostError::NotOurDomain { .. })),
            "{host:?}: {got:?}"
        );
    }

    #[test]
    fn ids_are_24_hex() {
        assert_eq!(P.len(), ID_LEN);
        assert_eq!(C.len(), ID_LEN);
    }

    #[test]
    fn api_host() {
        assert_eq!(parse("api.hoody.test"), Ok(Target::Api));
        assert_eq!(
            parse("507f1f77bcf86cd799439011.api.hoody.test"),
            Ok(Target::Api)
        );
        assert!(parse("507f1f77bcf86cd79943901.api.hoody.test").is_err());
        assert_eq!(Target::Api.to_host(&d()), "api.hoody.test");
    }

    #[test]
    fn reference_examples() {
        let cases = [
            ("terminal-1", kit(Kit::Terminal, 1)),
            ("terminal-2", kit(Kit::Terminal, 2)),
            ("terminal-0", kit(Kit::Terminal, 0)),
            ("display-1601", kit(Kit::Display, 1601)),
            ("desktop-1", kit(Kit::Desktop, 1)),
            ("files", kit(Kit::Files, 1)),
            ("files-1", kit(Kit::Files, 1)),
            ("files-3", kit(Kit::Files, 3)),
            ("exec-1", kit(Kit::Exec, 1)),
            ("cdp-2", kit(Kit::Cdp, 2)),
            ("n-1", kit(Kit::Notifications, 1)),
            ("egress", kit(Kit::Egress, 1)),
            ("egress-1", kit(Kit::Egress, 1)),
            ("bot-1", kit(Kit::Bot, 1)),
            ("http-8080", service(Service::Http(8080))),
            ("http-4000", service(Service::Http(4000))),
            ("http-60007", service(Service::Http(60007))),
            ("http", service(Service::Http(80))),
            ("http-65535", service(Service::Http(65535))),
            ("http-1", service(Service::Http(1))),
            ("https", service(Service::Https(443))),
            ("https-8443", service(Service::Https(8443))),
            ("ssh", service(Service::Ssh)),
            ("ssh-22", service(Service::Ssh)),
        ];
        for (rest, want) in cases {
            assert_eq!(parse(&service_host(rest)), Ok(want), "{rest}");
        }
    }

    #[test]
    fn older_slugs_name_the_same_kits() {
        let cases = [
            ("workspaces-1", Kit::Agent, 1, "agent-1"),
            ("workspace-2", Kit::Agent, 2, "agent-2"),
            ("workspaces", Kit::Agent, 1, "agent-1"),
            ("hoody-daemon", Kit::Daemon, 1, "daemon-1"),
            ("hoody-tunnel", Kit::Tunnel, 1, "tunnel-1"),
            ("proxy-logs-1", Kit::Logs, 1, "logs-1"),
            ("app-4", Kit::Run, 4, "run-4"),
        ];
        for (rest, want_kit, index, canonical) in cases {
            let target = parse(&service_host(rest)).unwrap();
            assert_eq!(target, kit(want_kit, index), "{rest}");
            assert_eq!(target.to_host(&d()), service_host(canonical), "{rest}");
        }
    }

    #[test]
    fn canonical_hosts_write_indices_and_ports() {
        let d = d();
        let cases = [
            ("files", "files-1"),
            ("egress", "egress-1"),
            ("http", "http-80"),
            ("https", "https-443"),
            ("ssh-22", "ssh"),
            ("terminal-0", "terminal-0"),
            ("http-8080", "http-8080"),
        ];
        for (rest, canonical) in cases {
            let target = parse(&service_host(rest)).unwrap();
            assert_eq!(target.to_host(&d), service_host(canonical), "{rest}");
        }
    }

    #[test]
    fn every_kit_by_slug_with_and_without_index() {
        let d = d();
        for k in Kit::ALL {
            let bare = parse(&service_host(k.slug())).unwrap();
            assert_eq!(bare, kit(k, 1));
            let target = kit(k, 7);
            let host = target.to_host(&d);
            assert_eq!(host, service_host(&format!("{}-7", k.slug())));
            assert_eq!(parse(&host), Ok(target));
        }
    }

    #[test]
    fn host_header_decorations_are_stripped() {
        let want = kit(Kit::Terminal, 1);
        let plain = service_host("terminal-1");
        for host in [
            format!("{plain}:443"),
            format!("{plain}."),
            format!("{plain}.:8443"),
            plain.to_uppercase(),
            format!("{}:1", plain.to_uppercase()),
        ] {
            assert_eq!(parse(&host), Ok(want.clone()), "{host}");
        }
        assert_eq!(parse("API.Hoody.Test.:65535"), Ok(Target::Api));
    }

    #[test]
    fn uppercase_ids_are_read_as_lowercase() {
        let host = kit_host(&format!(
            "{}-{}-files-1",
            P.to_uppercase(),
            C.to_uppercase()
        ));
        assert_eq!(parse(&host), Ok(kit(Kit::Files, 1)));
    }

    #[test]
    fn leftmost_subdomain() {
        let want = Target::Service {
            project: P.to_owned(),
            container: C.to_owned(),
            service: Service::Kit {
                kit: Kit::Exec,
                index: 1,
            },
            sub: Some("sub".to_owned()),
        };
        let host = format!("SUB.{}", service_host("exec-1"));
        assert_eq!(parse(&host), Ok(want.clone()));
        assert_eq!(
            want.to_host(&d()),
            format!("sub.{}", service_host("exec-1"))
        );
        // Bare exec is exec-1 with a subdomain too.
        assert_eq!(parse(&format!("sub.{}", service_host("exec"))), Ok(want));
        // A subdomain in front of a broken service label reports the label's problem.
        assert!(matches!(
            parse(&format!("sub.{}", service_host("nope-1"))),
            Err(HostError::UnknownService { .. })
        ));
        assert_invalid(&format!("a.b.{}", service_host("exec-1")));
        assert_invalid(&format!("sub.{}", kit_host("myapp")));
        assert_invalid(&format!("-sub.{}", service_host("exec-1")));
    }

    #[test]
    fn aliases() {
        let d = d();
        for alias in [
            "myapp",
            "abc",
            "my-app-2",
            "123",
            "containers-my-app",
            "proxymyapp",
            "workspacesx",
            "ssh",
            "api",
            "xn--bcher-kva",
            "0123456789abcdef0123456789abcdef0123456789abcdef",
            "0123-4567-files",
            &"a".repeat(61),
        ] {
            let target = parse(&kit_host(alias)).unwrap();
            assert_eq!(target, Target::Alias(alias.to_owned()));
            assert_eq!(target.to_host(&d), kit_host(alias));
        }
        assert_eq!(
            parse("MyApp.node-1.containers.hoody.test:443"),
            Ok(Target::Alias("myapp".to_owned()))
        );
    }

    #[test]
    fn reserved_and_malformed_aliases() {
        for alias in [
            "proxy",
            "proxy-x",
            "proxy-my-app",
            "workspaces",
            "workspaces-1",
            "containers",
            "ab",
            "a",
            &"a".repeat(62),
            "-myapp",
            "myapp-",
            "my_app",
        ] {
            assert_invalid(&kit_host(alias));
        }
    }

    #[test]
    fn rejects_malformed_hosts() {
        let good = service_host("files-1");
        let hosts = [
            format!("user@{good}"),
            format!("user:pw@{good}"),
            format!("@{good}"),
            kit_host(&format!("{P}-{C}-files-1.")),
            format!(".{good}"),
            format!("{good}.."),
            good.replace("node-1", "node-1."),
            format!("{good}/"),
            format!("{good}/path"),
            format!("http://{good}"),
            format!("https://{good}/x"),
            format!("{good}:"),
            format!("{good}:abc"),
            format!("{good}:99999"),
            format!("{good}:123456"),
            format!("{good}:80:80"),
            format!("{good}:+80"),
            format!("{good}:443."),
            format!("{good},api.hoody.test"),
            format!("{good}, api.hoody.test"),
            format!("{good} api.hoody.test"),
            format!(" {good}"),
            format!("{good}\t"),
            format!("{good}\r\n"),
            format!("{good}\0"),
            "my_app.node-1.containers.hoody.test".to_owned(),
            "m\u{fc}nchen.node-1.containers.hoody.test".to_owned(),
            format!("{good}\u{a0}"),
            "myapp.-node-1.containers.hoody.test".to_owned(),
            "*.node-1.containers.hoody.test".to_owned(),
            format!("{}.node-1.containers.hoody.test", "a".repeat(64)),
            format!("{}.api.hoody.test", ["a"; 125].join(".")),
            "api.hoody.test:65536".to_owned(),
        ];
        for host in &hosts {
            assert_invalid(host);
        }
    }

    #[test]
    fn rejects_empty() {
        for host in ["", ".", ":80", ".:80"] {
            assert_eq!(parse(host), Err(HostError::Empty), "{host:?}");
        }
    }

    #[test]
    fn other_names_are_not_ours() {
        let label = format!("{P}-{C}-files-1");
        for host in [
            format!("{label}.node-2.containers.hoody.test"),
            format!("{label}.node-1.containers.hoody.com"),
            format!("{label}.node-1.containers.evilhoody.test"),
            format!("{label}.node-1.containers.hoody.test.evil.example"),
            format!("{label}.node-1.other.hoody.test"),
            format!("{label}.containers.hoody.test"),
            format!("{label}.node-11.containers.hoody.test"),
            "myapp.proxy.hoody.test".to_owned(),
            "node-1.containers.hoody.test".to_owned(),
            "containers.hoody.test".to_owned(),
            "hoody.test".to_owned(),
            "test".to_owned(),
            "realm1.api.hoody.test".to_owned(),
            "api.hoody.test.evil.example".to_owned(),
            "api.evilhoody.test".to_owned(),
            "127.0.0.1".to_owned(),
            "127.0.0.1:8080".to_owned(),
            "[::1]".to_owned(),
            "[::1]:443".to_owned(),
            "[2001:db8::1]:8080".to_owned(),
            "localhost".to_owned(),
        ] {
            assert_not_ours(&host);
        }
    }

    #[test]
    fn bad_ports() {
        for (rest, port) in [
            ("http-0", "0"),
            ("http-65536", "65536"),
            ("http-080", "080"),
            ("http-00", "00"),
            ("https-0", "0"),
            ("https-99999", "99999"),
            ("https-0443", "0443"),
            ("ssh-23", "23"),
            ("ssh-0", "0"),
        ] {
            let got = parse(&service_host(rest));
            assert!(
                matches!(&got, Err(HostError::BadPort { port: p, .. }) if p == port),
                "{rest}: {got:?}"
            );
        }
    }

    #[test]
    fn bad_indices() {
        for (rest, index) in [
            ("files-0", "0"),
            ("exec-0", "0"),
            ("desktop-0", "0"),
            ("terminal-01", "01"),
            ("terminal-00", "00"),
            ("files-007", "007"),
            ("n-4294967296", "4294967296"),
            ("n-9999999999", "9999999999"),
        ] {
            let got = parse(&service_host(rest));
            assert!(
                matches!(&got, Err(HostError::BadIndex { index: i, .. }) if i == index),
                "{rest}: {got:?}"
            );
        }
        assert_eq!(
            parse(&service_host("n-4294967295")),
            Ok(kit(Kit::Notifications, u32::MAX))
        );
    }

    #[test]
    fn bad_ids() {
        let short_p = &P[..23];
        let long_c = format!("{C}0");
        let cases = [
            (format!("{short_p}-{C}-files-1"), "project"),
            (format!("{P}0-{C}-files-1"), "project"),
            (format!("{P}-{long_c}-files-1"), "container"),
            (format!("{P}-{}-files-1", &C[..16]), "container"),
            (format!("{}-{C}-files", &P[..3]), "project"),
            (format!("{P}-abc-files"), "container"),
        ];
        for (label, which_want) in cases {
            let got = parse(&kit_host(&label));
            assert!(
                matches!(&got, Err(HostError::BadId { which, .. }) if *which == which_want),
                "{label}: {got:?}"
            );
        }
        // Not hex: the label is not service-shaped, so it is (a valid) alias name.
        let label = format!("{}g-{C}-files-1", &P[..23]);
        assert_eq!(parse(&kit_host(&label)), Ok(Target::Alias(label)));
    }

    #[test]
    fn unknown_services() {
        for (rest, slug) in [
            ("proxy", "proxy"),
            ("exec-test", "exec-test"),
            ("web", "web"),
            ("foo-1", "foo"),
            ("tty-1", "tty"),
            ("notifications", "notifications"),
            ("http-x", "http-x"),
            ("files--1", "files-"),
        ] {
            let got = parse(&service_host(rest));
            assert_eq!(
                got,
                Err(HostError::UnknownService {
                    slug: slug.to_owned()
                }),
                "{rest}"
            );
        }
        assert_invalid(&kit_host(&format!("{P}-{C}")));
        assert_invalid(&kit_host(&format!("{P}-{C}--1")));
    }

    #[test]
    fn labels_longer_than_63_are_rejected() {
        // 50 characters of ids and hyphens leave 13 for `{slug}-{index}`.
        assert_eq!(
            parse(&service_host("terminal-9999")),
            Ok(kit(Kit::Terminal, 9999))
        );
        let too_long = kit(Kit::Terminal, 10_000).to_host(&d());
        assert_invalid(&too_long);
        // The reference's older `notification-server-N`, `hoody-daemon-N` and `hoody-tunnel-N`
        // never fit with two 24-digit ids (the bare `hoody-daemon`/`hoody-tunnel` just do).
        for rest in [
            "notification-server",
            "notification-server-1",
            "hoody-daemon-1",
            "hoody-tunnel-1",
        ] {
            assert_invalid(&service_host(rest));
        }
    }

    #[test]
    fn domains_are_validated_and_lowercased() {
        let d = Domains::new("Hoody.ICU.", "Node-US-1").unwrap();
        assert_eq!(d.apex, "hoody.icu");
        assert_eq!(d.server, "node-us-1");
        assert!(Domains::new("localhost", "n").is_ok());
        for (apex, server) in [
            ("", "node-1"),
            (".", "node-1"),
            ("hoody..test", "node-1"),
            (".hoody.test", "node-1"),
            ("hoody.test..", "node-1"),
            ("-hoody.test", "node-1"),
            ("hoody_test", "node-1"),
            ("hoody.test:443", "node-1"),
            ("hoody.test", ""),
            ("hoody.test", "node.1"),
            ("hoody.test", "node-"),
            ("hoody.test", "node 1"),
            ("hoody.test", &"n".repeat(64)),
            (&["a"; 60].join("."), "node-1"),
        ] {
            let got = Domains::new(apex, server);
            assert!(
                matches!(got, Err(HostError::BadDomains { .. })),
                "{apex:?} {server:?}: {got:?}"
            );
        }
    }

    #[test]
    fn kit_slugs() {
        let mut slugs: Vec<_> = Kit::ALL.iter().map(|k| k.slug()).collect();
        slugs.sort_unstable();
        slugs.dedup();
        assert_eq!(slugs.len(), Kit::ALL.len());
        for k in Kit::ALL {
            assert_eq!(Kit::from_slug(k.slug()), Some(k));
            assert_eq!(k.to_string(), k.slug());
        }
        assert_eq!(Kit::from_slug("Files"), None);
        assert_eq!(Kit::from_slug("notifications"), None);
        assert_eq!(Kit::from_slug("proxy"), None);
        assert_eq!(Kit::from_slug(""), None);
    }

    #[test]
    fn errors_display_what_is_wrong() {
        let err: Box<dyn std::error::Error> = Box::new(parse(&service_host("http-0")).unwrap_err());
        assert_eq!(err.to_string(), "bad port \"0\": port 0");
        assert_eq!(
            parse("x.example").unwrap_err().to_string(),
            "host \"x.example\" is not served by this proxy"
        );
        assert_eq!(
            parse(&kit_host(&format!("{}-{C}-files", &P[..20])))
                .unwrap_err()
                .to_string(),
            format!(
                "bad project id \"{}\": expected 24 hex digits, got 20",
                &P[..20]
            )
        );
        assert_eq!(HostError::Empty.to_string(), "empty host");
    }

    // ---- property tests -------------------------------------------------------------------

    /// A DNS label of 1 to `max` characters.
    fn label(max: usize) -> impl Strategy<Value = String> {
        prop::string::string_regex(&format!("[a-z0-9]([a-z0-9-]{{0,{}}}[a-z0-9])?", max - 2))
            .unwrap()
    }

    fn domains() -> impl Strategy<Value = Domains> {
        prop_oneof![
            Just(("hoody.test".to_owned(), "node-1".to_owned())),
            (prop::collection::vec(label(20), 1..4), label(20))
                .prop_map(|(apex, server)| (apex.join("."), server)),
            // Near the length limit Domains::new allows.
            (prop::collection::vec(label(20), 1..3), label(63)).prop_map(|(apex, server)| (
                format!("{}.{}", apex.join("."), "x".repeat(30)),
                server
            )),
        ]
        .prop_filter_map("Domains::new accepts it", |(apex, server)| {
            Domains::new(&apex, &server).ok()
        })
    }

    fn id() -> impl Strategy<Value = String> {
        "[0-9a-f]{24}"
    }

    fn any_service() -> impl Strategy<Value = Service> {
        let index = prop_oneof![1..=20u32, 1..=9_999u32, 1..=u32::MAX];
        let port = prop_oneof![1..=100u16, 1..=u16::MAX];
        prop_oneof![
            (prop::sample::select(Kit::ALL.to_vec()), index)
                .prop_map(|(kit, index)| Service::Kit { kit, index }),
            Just(Service::Kit {
                kit: Kit::Terminal,
                index: 0
            }),
            port.clone().prop_map(Service::Http),
            port.prop_map(Service::Https),
            Just(Service::Ssh),
        ]
    }

    /// A valid alias name: 3 to 61 characters, not reserved, not shaped like a service label.
    fn alias() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z0-9][a-z0-9-]{1,59}[a-z0-9]",
            "[a-z]{3,12}(-[a-z0-9]{1,8}){0,3}",
            "[0-9a-f]{48}",
            "[0-9a-f]{1,15}-[0-9a-f]{1,15}-[a-z]{1,10}",
        ]
        .prop_filter("valid, unreserved alias", |a| {
            a.len() <= 61
                && !a.ends_with('-')
                && !["containers", "proxy", "workspaces"].contains(&a.as_str())
                && !a.starts_with("proxy-")
                && !a.starts_with("workspaces-")
                && split_service_label(a).is_none()
        })
    }

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![
            1 => Just(Target::Api),
            6 => (id(), id(), any_service(), prop::option::of(label(63))).prop_map(
                |(project, container, service, sub)| Target::Service {
                    project,
                    container,
                    service,
                    sub,
                }
            ),
            3 => alias().prop_map(Target::Alias),
        ]
    }

    /// Hosts assembled from plausible pieces, so that many are accepted and the rest fail in
    /// interesting places.
    fn plausible_host() -> impl Strategy<Value = String> {
        let id = prop_oneof![
            12 => "[0-9a-f]{24}",
            1 => "[0-9a-fA-F]{24}",
            1 => "[0-9a-f]{1,30}",
        ];
        let mut slugs: Vec<&'static str> = Kit::ALL.iter().map(|k| k.slug()).collect();
        slugs.extend([
            "workspaces",
            "workspace",
            "notification-server",
            "hoody-daemon",
            "hoody-tunnel",
            "proxy-logs",
            "app",
            "http",
            "https",
            "ssh",
            "ssh",
            "http",
            "https",
            "proxy",
            "exec-test",
            "web",
            "",
            "notifications",
            "tty",
            "-",
            "http-x",
            "Files",
            "SSH",
        ]);
        let number = prop_oneof![
            3 => Just(String::new()),
            3 => (1..10_000u32).prop_map(|n| format!("-{n}")),
            1 => prop::sample::select(vec![
                "-0", "-1", "-2", "-01", "-22", "-80", "-443", "-8080", "-65535", "-65536",
                "-4294967295", "-4294967296", "-", "--1",
            ])
            .prop_map(str::to_owned),
            1 => (0u64..100_000).prop_map(|n| format!("-{n}")),
            1 => any::<u64>().prop_map(|n| format!("-{n}")),
        ];
        let service_label = (id.clone(), id, prop::sample::select(slugs), number)
            .prop_map(|(p, c, slug, n)| format!("{p}-{c}-{slug}{n}"));
        let alias_label = prop_oneof![
            "[a-zA-Z0-9][a-zA-Z0-9-]{0,64}",
            prop::sample::select(vec![
                "proxy",
                "proxy-x",
                "workspaces",
                "containers",
                "myapp",
                "ab",
                "api",
                "ssh",
            ])
            .prop_map(str::to_owned),
        ];
        let front = prop_oneof![
            4 => service_label.clone(),
            3 => ("[a-zA-Z0-9-]{1,10}", service_label.clone())
                .prop_map(|(sub, l)| format!("{sub}.{l}")),
            3 => alias_label.clone(),
            1 => ("[a-z]{1,5}", alias_label).prop_map(|(sub, l)| format!("{sub}.{l}")),
            1 => ("[a-z]{1,5}", service_label).prop_map(|(a, l)| format!("{a}.b.{l}")),
        ];
        let tail = prop_oneof![
            6 => Just(".node-1.containers.hoody.test"),
            1 => prop::sample::select(vec![
                ".NODE-1.Containers.Hoody.Test",
                ".node-2.containers.hoody.test",
                ".containers.hoody.test",
                ".node-1.containers.hoody.com",
                ".node-1..containers.hoody.test",
                "",
            ]),
        ];
        let end = prop_oneof![
            6 => prop::sample::select(vec!["", ".", ":443", ".:8080", ":0"]),
            1 => prop::sample::select(vec![
                ":", ":x", "..", " ", ",api.hoody.test", "/", ":65536", "@x",
            ]),
        ];
        prop_oneof![
            9 => (front, tail, end.clone()).prop_map(|(f, t, e)| format!("{f}{t}{e}")),
            1 => end.prop_map(|e| format!("api.hoody.test{e}")),
        ]
    }

    /// Random labels joined with dots, then our suffix.
    fn dotted_junk() -> impl Strategy<Value = String> {
        (
            prop::collection::vec("[a-z0-9A-Z_-]{0,70}", 0..6),
            prop::sample::select(vec![
                "",
                ".node-1.containers.hoody.test",
                ".hoody.test",
                ".containers.hoody.test",
            ]),
        )
            .prop_map(|(labels, suffix)| format!("{}{suffix}", labels.join(".")))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn never_panics_on_any_string(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_host_like_strings(
            s in "[a-zA-Z0-9.:@\\[\\]/ ,_-]{0,300}",
            d in domains(),
        ) {
            let _ = parse_host(&s, &d);
        }

        #[test]
        fn never_panics_on_plausible_hosts(h in plausible_host(), j in dotted_junk()) {
            let _ = parse(&h);
            let _ = parse(&j);
        }

        #[test]
        fn targets_round_trip(t in target(), d in domains()) {
            let host = t.to_host(&d);
            let label_fits = host.split('.').all(|l| l.len() <= MAX_LABEL_LEN);
            prop_assert!(host.len() <= MAX_NAME_LEN, "{host}");
            if label_fits {
                prop_assert_eq!(parse_host(&host, &d), Ok(t));
            } else {
                let got = parse_host(&host, &d);
                prop_assert!(matches!(got, Err(HostError::Invalid { .. })), "{}: {:?}", host, got);
            }
        }

        #[test]
        fn parsing_is_stable_under_canonicalisation(h in plausible_host()) {
            let d = d();
            if let Ok(first) = parse_host(&h, &d) {
                let canonical = first.to_host(&d);
                prop_assert_eq!(parse_host(&canonical, &d), Ok(first), "{} -> {}", h, canonical);
            }
        }

        #[test]
        fn accepted_junk_is_stable_too(j in dotted_junk()) {
            let d = d();
            if let Ok(first) = parse_host(&j, &d) {
                prop_assert_eq!(parse_host(&first.to_host(&d), &d), Ok(first));
            }
        }
    }

    /// The plausible-host generator must reach the accepting paths, or the stability property
    /// tests nothing.
    #[test]
    fn plausible_hosts_are_often_accepted() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let strategy = plausible_host();
        let d = d();
        let (mut services, mut subs, mut aliases) = (0, 0, 0);
        for _ in 0..2000 {
            let host = strategy.new_tree(&mut runner).unwrap().current();
            match parse_host(&host, &d) {
                Ok(Target::Service { sub: None, .. }) => services += 1,
                Ok(Target::Service { sub: Some(_), .. }) => subs += 1,
                Ok(Target::Alias(_)) => aliases += 1,
                _ => {}
            }
        }
        assert!(
            services > 100 && subs > 50 && aliases > 50,
            "{services} {subs} {aliases}"
        );
    }
}
