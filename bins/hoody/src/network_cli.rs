//! `hoody network …` (a container's egress network, reference §5.1) and `hoody firewall …`
//! (its firewall, §5.2; also `fw`), in the official CLI's spelling. The container is a
//! positional ID or `-c`/`HOODY_CONTAINER`. Parsing and printing only; the calls are
//! [`hoody::client::Client`]'s.
//!
//! Hoody's CLI also calls `network` `net`; here `hoody net` is the host's own network
//! commands (hoody-net, direct), so that alias is not taken.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use hoody::api::{FirewallRule, NetworkConfig, UpdateNetwork};
use serde_json::Value;

use crate::api_cli::*;

/// `hoody network …`
#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// The container's egress network (never the upstream's credentials).
    Get {
        /// The container (default: -c / HOODY_CONTAINER).
        id: Option<String>,
    },
    /// Set the egress network and start it.
    #[command(visible_alias = "edit")]
    Update(UpdateArgs),
    /// Start it again after `stop`.
    Start {
        /// The container.
        id: Option<String>,
    },
    /// Stop it: egress is direct until `start`.
    Stop {
        /// The container.
        id: Option<String>,
    },
    /// Remove it: egress is direct.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// The container.
        id: Option<String>,
    },
}

/// `hoody network update` flags.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The container.
    id: Option<String>,
    /// socks5, http, https or block.
    #[arg(long = "type")]
    kind: String,
    /// The upstream: socks5://user:pass@host:1080, http://…, https://… (not for block).
    #[arg(long)]
    proxy: Option<String>,
    /// Geographic label.
    #[arg(long)]
    country: Option<String>,
    /// Geographic label.
    #[arg(long)]
    city: Option<String>,
    /// Geographic label.
    #[arg(long)]
    region: Option<String>,
    /// Free text.
    #[arg(long)]
    comment: Option<String>,
    /// DNS servers, through the upstream (up to 4; comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    dns_servers: Vec<String>,
}

fn network_details(n: &NetworkConfig) {
    if !n.configured {
        println!("container {}: no egress network (direct)", n.container_id);
        return;
    }
    let show = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            println!("{k:<13} {v}");
        }
    };
    show("container", Some(&n.container_id));
    show("type", n.kind.as_deref());
    show("status", n.status.as_deref());
    show("proxy", n.proxy.as_deref());
    if n.proxy.is_some() {
        let creds = if n.credentials_configured {
            "yes"
        } else {
            "no"
        };
        show("credentials", Some(creds));
    }
    show("dns_servers", Some(&n.dns_servers.join(", ")));
    show("country", n.country.as_deref());
    show("city", n.city.as_deref());
    show("region", n.region.as_deref());
    show("comment", n.comment.as_deref());
    show("configured_at", n.configured_at.as_deref());
    if let Some(r) = &n.remote_status {
        if let Some(e) = &r.error {
            show("error", Some(e));
        }
        if let Some(b) = &r.bridge_details {
            let carried = format!("{} relayed, {} failed", b.relayed, b.failed);
            show("traffic", Some(&carried));
            show("last_error", b.last_error.as_deref());
        }
    }
}

/// Runs `hoody network …`.
pub fn network(top: &TopApiOpt, sub: &ApiOpt, cmd: &NetworkCmd) -> ExitCode {
    run(top, sub, |ctx| {
        let c = &ctx.client;
        match cmd {
            NetworkCmd::Get { id } => {
                let id = ctx.container(id.as_deref())?;
                let n = c.network(&id).map_err(naming("container", &id))?;
                ctx.print(&n, || network_details(&n))?;
            }
            NetworkCmd::Update(a) => {
                let id = ctx.container(a.id.as_deref())?;
                let req = UpdateNetwork {
                    kind: Some(a.kind.clone()),
                    proxy: a.proxy.clone(),
                    country: a.country.clone(),
                    city: a.city.clone(),
                    region: a.region.clone(),
                    comment: a.comment.clone(),
                    dns_servers: (!a.dns_servers.is_empty()).then(|| a.dns_servers.clone()),
                };
                let n = c
                    .update_network(&id, &req)
                    .map_err(naming("container", &id))?;
                ctx.print(&n, || network_details(&n))?;
            }
            NetworkCmd::Start { id } | NetworkCmd::Stop { id } => {
                let id = ctx.container(id.as_deref())?;
                let on = matches!(cmd, NetworkCmd::Start { .. });
                let s = c
                    .set_network_running(&id, on)
                    .map_err(naming("container", &id))?;
                ctx.print(&s, || {
                    println!("container {}: egress network {}", s.container_id, s.status)
                })?;
            }
            NetworkCmd::Delete { id } => {
                let id = ctx.container(id.as_deref())?;
                c.delete_network(&id).map_err(naming("container", &id))?;
                ctx.print(&Value::Null, || {
                    println!("container {id}: egress network removed (direct)")
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `hoody firewall …`
#[derive(Subcommand, Debug)]
pub enum FirewallCmd {
    /// Every rule, ingress and egress, in order.
    #[command(visible_alias = "ls")]
    List {
        /// The container (default: -c / HOODY_CONTAINER).
        id: Option<String>,
    },
    /// Remove every rule.
    Reset {
        /// The container.
        id: Option<String>,
    },
    /// Rules for traffic into the container.
    Ingress {
        #[command(subcommand)]
        cmd: RuleCmd,
    },
    /// Rules for traffic out of it.
    Egress {
        #[command(subcommand)]
        cmd: RuleCmd,
    },
}

/// `hoody firewall ingress|egress …`
#[derive(Subcommand, Debug)]
pub enum RuleCmd {
    /// Append a rule (the first rule that matches decides).
    #[command(visible_aliases = ["new", "add"])]
    Create(RuleArgs),
    /// Remove the rules matching the fields given (or every rule: --all).
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        #[command(flatten)]
        rule: RuleArgs,
        /// Every rule of this direction.
        #[arg(long)]
        all: bool,
    },
    /// Set --state on the rules matching the other fields given.
    Toggle(RuleArgs),
}

/// A rule as flags.
#[derive(Args, Debug)]
pub struct RuleArgs {
    /// The container.
    id: Option<String>,
    /// allow, reject or drop.
    #[arg(long)]
    action: Option<String>,
    /// tcp, udp or icmp4.
    #[arg(long)]
    protocol: Option<String>,
    /// 443, 80-90 or 80,443.
    #[arg(long)]
    destination_port: Option<String>,
    /// Where traffic comes from (ingress): address or CIDR.
    #[arg(long)]
    source: Option<String>,
    /// Where traffic goes (egress): address or CIDR.
    #[arg(long)]
    destination: Option<String>,
    /// Source port(s).
    #[arg(long)]
    source_port: Option<String>,
    /// enabled or disabled.
    #[arg(long)]
    state: Option<String>,
    /// ICMP type (icmp4).
    #[arg(long)]
    icmp_type: Option<u8>,
    /// ICMP code (icmp4).
    #[arg(long)]
    icmp_code: Option<u8>,
    /// Free text.
    #[arg(long)]
    description: Option<String>,
}

impl RuleArgs {
    fn rule(&self) -> FirewallRule {
        FirewallRule {
            action: self.action.clone(),
            protocol: self.protocol.clone(),
            destination_port: self.destination_port.clone(),
            source: self.source.clone(),
            destination: self.destination.clone(),
            source_port: self.source_port.clone(),
            state: self.state.clone(),
            icmp_type: self.icmp_type,
            icmp_code: self.icmp_code,
            description: self.description.clone(),
        }
    }
}

fn rules_table(v: &Value) {
    for dir in ["ingress", "egress"] {
        let rules = v[dir].as_array().cloned().unwrap_or_default();
        println!("{dir} ({} rules)", rules.len());
        for (i, r) in rules.iter().enumerate() {
            let f = |k: &str| r[k].as_str().unwrap_or("").to_string();
            let mut line = format!(
                "  {i:>3}  {:<7} {:<6} {}",
                f("action"),
                f("protocol"),
                f("destination_port")
            );
            for k in ["source", "destination", "source_port", "description"] {
                if !f(k).is_empty() {
                    line.push_str(&format!("  {k}={}", f(k)));
                }
            }
            if f("state") == "disabled" {
                line.push_str("  (disabled)");
            }
            println!("{line}");
        }
    }
}

/// Runs `hoody firewall …`.
pub fn firewall(top: &TopApiOpt, sub: &ApiOpt, cmd: &FirewallCmd) -> ExitCode {
    run(top, sub, |ctx| {
        let c = &ctx.client;
        let (dir, rule_cmd) = match cmd {
            FirewallCmd::Ingress { cmd } => ("ingress", cmd),
            FirewallCmd::Egress { cmd } => ("egress", cmd),
            FirewallCmd::List { id } | FirewallCmd::Reset { id } => {
                let id = ctx.container(id.as_deref())?;
                let rules = if matches!(cmd, FirewallCmd::List { .. }) {
                    c.firewall(&id)
                } else {
                    c.reset_firewall(&id)
                }
                .map_err(naming("container", &id))?;
                ctx.print(&rules, || rules_table(&rules))?;
                return Ok(ExitCode::SUCCESS);
            }
        };
        let args = match rule_cmd {
            RuleCmd::Create(a) | RuleCmd::Toggle(a) | RuleCmd::Delete { rule: a, .. } => a,
        };
        let id = ctx.container(args.id.as_deref())?;
        let rule = args.rule();
        let rules = match rule_cmd {
            RuleCmd::Create(_) => c.add_firewall_rule(&id, dir, &rule),
            RuleCmd::Toggle(_) => c.toggle_firewall_rules(&id, dir, &rule),
            RuleCmd::Delete { all, .. } => c.remove_firewall_rules(&id, dir, &rule, *all),
        }
        .map_err(naming("container", &id))?;
        ctx.print(&rules, || rules_table(&rules))?;
        Ok(ExitCode::SUCCESS)
    })
}
