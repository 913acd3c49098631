//! Per-container firewalls (reference §5.2): ingress and egress rules, first match wins,
//! enforced by the host's kernel where the container cannot touch them.
//!
//! The rules become one nftables table, `inet hoody_firewall`, in the container's own network
//! namespace (which the host's user namespace owns: root inside has no `CAP_NET_ADMIN` over
//! it). `ingress` is a chain on the input hook for what arrives on `eth0`, `egress` one on the
//! output hook for what leaves through it (before NAT, so that an egress network's redirect
//! does not hide where a packet was going); a rule becomes one nft rule with the verdict
//! `accept`, `reject` or `drop`, in order, and anything no rule matches passes. The Kit's
//! ports, reached by the proxy from the gateway, are accepted first: the platform's own path
//! is not the user's to cut (the Kit's guard keeps everyone else out).
//!
//! The table is kept in the machine's configuration, so the monitor installs it when it makes
//! the network, before the machine boots, on every start; a change is also applied at once
//! to a running container. Rules live in the state database (`firewalls`), go with a copy and
//! stay across snapshots and restores (they are the container's settings, not its files).

use std::fmt::Write;

use crate::api::{ApiError, Firewall, FirewallRule};
use crate::{HostError, Result};

/// The table's name inside each container's namespace.
pub const TABLE: &str = "hoody_firewall";

/// At most this many rules per direction.
pub const MAX_RULES: usize = 256;

/// The gateway the proxy's connections come from (hoody-net's `GATEWAY`).
const GATEWAY: &str = "169.254.1.1";

/// Which way a rule filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Into the container.
    Ingress,
    /// Out of it.
    Egress,
}

impl Direction {
    /// From the URL segment.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "ingress" => Some(Direction::Ingress),
            "egress" => Some(Direction::Egress),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// `"443"`, `"80-90"`, `"80,443"` as an nft expression, or the error.
fn ports(field: &str, v: &str) -> Result<String> {
    let bad = || -> HostError {
        ApiError::validation(
            field,
            format!("{v:?}: a port (443), a range (80-90) or a list (80,443)"),
        )
        .into()
    };
    let mut parts = Vec::new();
    for p in v.split(',').map(str::trim) {
        let ok = match p.split_once('-') {
            Some((a, b)) => {
                matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if a >= 1 && a <= b)
            }
            None => p.parse::<u16>().is_ok_and(|n| n >= 1),
        };
        if !ok {
            return Err(bad());
        }
        parts.push(p.to_string());
    }
    Ok(if parts.len() == 1 {
        parts.remove(0)
    } else {
        format!("{{ {} }}", parts.join(", "))
    })
}

fn cidr(field: &str, v: &str) -> Result<String> {
    let (addr, prefix) = v.split_once('/').unwrap_or((v, "32"));
    let ok =
        addr.parse::<std::net::Ipv4Addr>().is_ok() && prefix.parse::<u8>().is_ok_and(|p| p <= 32);
    if !ok {
        return Err(ApiError::validation(field, format!("{v:?}: an IPv4 address or CIDR")).into());
    }
    Ok(v.to_string())
}

/// Checks a rule to add (every field valid, the ones its direction takes) and returns its nft
/// expression (without the interface match).
pub fn rule_expr(dir: Direction, r: &FirewallRule) -> Result<String> {
    let action = r
        .action
        .as_deref()
        .ok_or_else(|| ApiError::validation("action", "required: allow, reject or drop"))?;
    let protocol = r
        .protocol
        .as_deref()
        .ok_or_else(|| ApiError::validation("protocol", "required: tcp, udp or icmp4"))?;
    let mut e = String::new();
    match dir {
        Direction::Ingress if r.destination.is_some() => {
            return Err(ApiError::validation("destination", "egress rules only").into());
        }
        Direction::Egress if r.source.is_some() => {
            return Err(ApiError::validation("source", "ingress rules only").into());
        }
        _ => {}
    }
    if let Some(s) = &r.source {
        let _ = write!(e, "ip saddr {} ", cidr("source", s)?);
    }
    if let Some(d) = &r.destination {
        let _ = write!(e, "ip daddr {} ", cidr("destination", d)?);
    }
    match protocol {
        "tcp" | "udp" => {
            let dport = r.destination_port.as_deref().ok_or_else(|| {
                ApiError::validation("destination_port", "required for tcp and udp")
            })?;
            let _ = write!(e, "meta l4proto {protocol} ");
            if let Some(sp) = &r.source_port {
                let _ = write!(e, "{protocol} sport {} ", ports("source_port", sp)?);
            }
            let _ = write!(e, "{protocol} dport {} ", ports("destination_port", dport)?);
            if r.icmp_type.is_some() || r.icmp_code.is_some() {
                return Err(ApiError::validation("icmp_type", "icmp4 rules only").into());
            }
        }
        "icmp4" => {
            e.push_str("meta l4proto icmp ");
            if let Some(t) = r.icmp_type {
                let _ = write!(e, "icmp type {t} ");
            }
            if let Some(c) = r.icmp_code {
                let _ = write!(e, "icmp code {c} ");
            }
            if r.destination_port.is_some() || r.source_port.is_some() {
                return Err(
                    ApiError::validation("destination_port", "tcp and udp rules only").into(),
                );
            }
        }
        p => {
            return Err(
                ApiError::validation("protocol", format!("{p:?}: tcp, udp or icmp4")).into(),
            );
        }
    }
    let verdict = match (action, protocol) {
        ("allow", _) => "accept",
        ("drop", _) => "drop",
        ("reject", "tcp") => "reject with tcp reset",
        ("reject", _) => "reject",
        (a, _) => {
            return Err(
                ApiError::validation("action", format!("{a:?}: allow, reject or drop")).into(),
            );
        }
    };
    match r.state.as_deref() {
        None | Some("enabled") | Some("disabled") => {}
        Some(s) => {
            return Err(
                ApiError::validation("state", format!("{s:?}: enabled or disabled")).into(),
            );
        }
    }
    if r.description.as_ref().is_some_and(|d| d.len() > 1000) {
        return Err(ApiError::validation("description", "at most 1000 characters").into());
    }
    e.push_str(verdict);
    Ok(e)
}

/// Whether rule `r` has every field `pattern` gives (rules have no ids).
pub fn matches(r: &FirewallRule, pattern: &FirewallRule) -> bool {
    fn same<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
        want.is_none() || want == have
    }
    same(&pattern.action, &r.action)
        && same(&pattern.protocol, &r.protocol)
        && same(&pattern.destination_port, &r.destination_port)
        && same(&pattern.source, &r.source)
        && same(&pattern.destination, &r.destination)
        && same(&pattern.source_port, &r.source_port)
        && same(&pattern.icmp_type, &r.icmp_type)
        && same(&pattern.icmp_code, &r.icmp_code)
        && same(&pattern.description, &r.description)
}

/// The nft script that makes the container's table as `fw` says (an empty firewall removes
/// the table). `kit_ports`: the Kit's ports, accepted from the gateway before any rule.
pub fn script(fw: &Firewall, kit_ports: &[u16]) -> Result<String> {
    let mut out = format!("table inet {TABLE}\ndelete table inet {TABLE}\n");
    let enabled = |r: &&FirewallRule| r.state.as_deref() != Some("disabled");
    if fw.ingress.iter().filter(enabled).count() + fw.egress.iter().filter(enabled).count() == 0 {
        return Ok(out);
    }
    let _ = writeln!(out, "table inet {TABLE} {{");
    // Egress is filtered before NAT (priority -150, NAT is -100): the rules see where the
    // program sent a packet even when an egress network steers it to its forwarder.
    for (dir, rules, hook, priority, iface) in [
        (
            Direction::Ingress,
            &fw.ingress,
            "input",
            "filter",
            "iifname",
        ),
        (Direction::Egress, &fw.egress, "output", "-150", "oifname"),
    ] {
        let _ = writeln!(
            out,
            "\tchain {} {{\n\t\ttype filter hook {hook} priority {priority}; policy accept;",
            dir.as_str()
        );
        if dir == Direction::Ingress && !kit_ports.is_empty() {
            let set: Vec<String> = kit_ports.iter().map(u16::to_string).collect();
            let _ = writeln!(
                out,
                "\t\t{iface} \"eth0\" ip saddr {GATEWAY} tcp dport {{ {} }} accept comment \"the Kit, through the proxy\"",
                set.join(", ")
            );
        }
        for r in rules.iter().filter(enabled) {
            let _ = writeln!(out, "\t\t{iface} \"eth0\" {}", rule_expr(dir, r)?);
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
    Ok(out)
}

/// The listing `GET …/firewall/rules` answers.
fn listing(fw: &Firewall) -> serde_json::Value {
    serde_json::json!({
        "ingress": fw.ingress,
        "egress": fw.egress,
        "rule_count": {"ingress": fw.ingress.len(), "egress": fw.egress.len()},
        "max_rules": MAX_RULES,
    })
}

impl crate::Host {
    /// `GET /api/v1/containers/{id}/firewall/rules`.
    pub fn get_firewall(&self, id: &str) -> Result<serde_json::Value> {
        self.get_container(id)?;
        Ok(listing(&self.store().read().firewall(id)?))
    }

    /// `POST /api/v1/containers/{id}/firewall/{direction}`: appends a rule.
    pub fn add_firewall_rule(
        &self,
        id: &str,
        dir: Direction,
        rule: FirewallRule,
    ) -> Result<serde_json::Value> {
        rule_expr(dir, &rule)?;
        self.change_firewall(id, |fw| {
            let rules = rules_mut(fw, dir);
            if rules.len() >= MAX_RULES {
                return Err(ApiError::conflict(
                    "FIREWALL_FULL",
                    format!("at most {MAX_RULES} {} rules", dir.as_str()),
                )
                .into());
            }
            rules.push(rule);
            Ok(())
        })
    }

    /// `DELETE /api/v1/containers/{id}/firewall/{direction}`: removes the rules with every
    /// field `pattern` gives, or all of them with `all`.
    pub fn remove_firewall_rules(
        &self,
        id: &str,
        dir: Direction,
        pattern: FirewallRule,
        all: bool,
    ) -> Result<serde_json::Value> {
        if !all && pattern == FirewallRule::default() {
            return Err(ApiError::validation(
                "all",
                "give the fields of the rule(s) to remove, or all: true",
            )
            .into());
        }
        self.change_firewall(id, |fw| {
            let rules = rules_mut(fw, dir);
            let before = rules.len();
            rules.retain(|r| !(all || matches(r, &pattern)));
            if rules.len() == before {
                return Err(ApiError::new(404, "RULE_NOT_FOUND", "no rule matches").into());
            }
            Ok(())
        })
    }

    /// `PATCH /api/v1/containers/{id}/firewall/{direction}`: sets `state` (`enabled` or
    /// `disabled`) on the rules with every other field `pattern` gives.
    pub fn toggle_firewall_rules(
        &self,
        id: &str,
        dir: Direction,
        pattern: FirewallRule,
    ) -> Result<serde_json::Value> {
        let state = match pattern.state.as_deref() {
            Some(s @ ("enabled" | "disabled")) => s.to_string(),
            _ => {
                return Err(ApiError::validation("state", "required: enabled or disabled").into());
            }
        };
        self.change_firewall(id, |fw| {
            let mut n = 0;
            for r in rules_mut(fw, dir)
                .iter_mut()
                .filter(|r| matches(r, &pattern))
            {
                r.state = Some(state.clone());
                n += 1;
            }
            if n == 0 {
                return Err(ApiError::new(404, "RULE_NOT_FOUND", "no rule matches").into());
            }
            Ok(())
        })
    }

    /// `POST /api/v1/containers/{id}/firewall/reset`: no rules at all.
    pub fn reset_firewall(&self, id: &str) -> Result<serde_json::Value> {
        self.change_firewall(id, |fw| {
            *fw = Firewall::default();
            Ok(())
        })
    }

    /// The firewall script of container `id` for its machine (`None`: no rules).
    pub(crate) fn firewall_script(&self, id: &str) -> Result<Option<String>> {
        let fw = self.store().read().firewall(id)?;
        if fw == Firewall::default() {
            return Ok(None);
        }
        script(&fw, &hoody_machine::Machines::kit_ports()).map(Some)
    }

    fn change_firewall(
        &self,
        id: &str,
        f: impl FnOnce(&mut Firewall) -> Result<()>,
    ) -> Result<serde_json::Value> {
        self.get_container(id)?;
        let _busy = self.claim(id)?;
        let mut fw = self.store().read().firewall(id)?;
        f(&mut fw)?;
        let text = script(&fw, &hoody_machine::Machines::kit_ports())?;
        // The machine first: a rule the kernel refuses is not recorded.
        crate::containers::unless_unmade(self.inner.machines.set_firewall(id, Some(text)))?;
        self.store().tx(|tx| Ok(tx.put_firewall(id, &fw)?))?;
        Ok(listing(&fw))
    }
}

fn rules_mut(fw: &mut Firewall, dir: Direction) -> &mut Vec<FirewallRule> {
    match dir {
        Direction::Ingress => &mut fw.ingress,
        Direction::Egress => &mut fw.egress,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rule(action: &str, protocol: &str, port: Option<&str>) -> FirewallRule {
        FirewallRule {
            action: Some(action.into()),
            protocol: Some(protocol.into()),
            destination_port: port.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn rules_become_ordered_nft_rules() {
        let mut allow = rule("allow", "tcp", Some("80,443"));
        allow.destination = Some("10.0.0.0/8".into());
        let fw = Firewall {
            ingress: vec![rule("reject", "tcp", Some("8080"))],
            egress: vec![allow, rule("drop", "tcp", Some("1-65535"))],
        };
        let s = script(&fw, &[76, 7701]).unwrap();
        assert!(
            s.contains("iifname \"eth0\" ip saddr 169.254.1.1 tcp dport { 76, 7701 } accept"),
            "{s}"
        );
        assert!(
            s.contains("iifname \"eth0\" meta l4proto tcp tcp dport 8080 reject with tcp reset"),
            "{s}"
        );
        let allow_at = s
            .find("ip daddr 10.0.0.0/8 meta l4proto tcp tcp dport { 80, 443 } accept")
            .unwrap();
        let drop_at = s.find("tcp dport 1-65535 drop").unwrap();
        assert!(allow_at < drop_at, "first match wins: order kept\n{s}");
        let empty = script(&Firewall::default(), &[76]).unwrap();
        assert!(
            !empty.contains('{'),
            "no rules: the table is only removed\n{empty}"
        );
    }

    #[test]
    fn bad_rules_name_their_field() {
        for (r, field) in [
            (rule("allow", "tcp", None), "destination_port"),
            (rule("allow", "tcp", Some("0")), "destination_port"),
            (rule("allow", "tcp", Some("90-80")), "destination_port"),
            (rule("bless", "tcp", Some("80")), "action"),
            (rule("allow", "sctp", Some("80")), "protocol"),
        ] {
            let e = ApiError::from(rule_expr(Direction::Ingress, &r).unwrap_err());
            assert_eq!(e.data[0].instance_path, format!("/{field}"), "{r:?}");
        }
        let mut r = rule("allow", "tcp", Some("80"));
        r.destination = Some("1.2.3.4".into());
        assert!(
            rule_expr(Direction::Ingress, &r).is_err(),
            "destination is egress only"
        );
        assert!(matches(&r, &rule("allow", "tcp", Some("80"))));
        assert!(!matches(&r, &rule("drop", "tcp", Some("80"))));
    }
}
