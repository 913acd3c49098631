//! Networking verbs: `hoody net ls|gc|uninstall` and the `--net auto` part of `hoody run`.
//! Argument parsing and printing only; the work is hoody-net.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use hoody::core::{ContainerSpec, spec::Mount, spec::MountKind};
use hoody_net::{Ipv4Cidr, NetConfig, Network, Owner};

/// Options that select a hoody-net configuration (the defaults are the host's).
#[derive(Args, Debug, Clone)]
pub struct NetOpt {
    /// Name of hoody's nftables table (also the namespace-name prefix and interface tag).
    #[arg(long, env = "HOODY_NET_NAME", default_value = hoody_net::config::DEFAULT_NAME)]
    pub net_name: String,
    /// Container address pool.
    #[arg(long, env = "HOODY_NET_POOL", default_value = hoody_net::config::DEFAULT_POOL)]
    pub net_pool: Ipv4Cidr,
    /// IPAM state directory (default /var/lib/hoody/net/<name>); `HOODY_NET_STATE`, the name
    /// the machines' monitors read too.
    #[arg(long, env = "HOODY_NET_STATE")]
    pub net_state_dir: Option<PathBuf>,
    /// Host port containers may reach on the host (repeatable), applied when the table is
    /// created.
    #[arg(long = "net-expose", env = "HOODY_NET_EXPOSE", value_delimiter = ',')]
    pub net_expose: Vec<u16>,
}

impl NetOpt {
    fn config(&self) -> NetConfig {
        let mut c = NetConfig::named(&self.net_name)
            .pool(self.net_pool)
            .exposed_ports(self.net_expose.clone());
        if let Some(d) = &self.net_state_dir {
            c = c.state_dir(d);
        }
        c
    }

    /// Opens the manager.
    pub fn open(&self) -> anyhow::Result<Network> {
        Network::new(self.config()).context("open hoody-net")
    }
}

/// `hoody net ...`
#[derive(Subcommand, Debug)]
pub enum NetCmd {
    /// List container networks: id, address, host interface, namespace, owner.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove orphans: networks whose owner process has exited, and interfaces and
    /// namespaces of this configuration that no record claims.
    Gc,
    /// Remove every network of this configuration and hoody's nftables table.
    Uninstall,
}

/// Runs a `hoody net` command.
pub fn net(opt: &NetOpt, cmd: &NetCmd) -> anyhow::Result<ExitCode> {
    let mut net = opt.open()?;
    match cmd {
        NetCmd::Ls { json } => {
            let list = net.list()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!(
                    "{:<28} {:<15} {:<15} {:<8} NETNS",
                    "ID", "ADDRESS", "INTERFACE", "OWNER"
                );
                for a in list {
                    let owner = match a.owner {
                        Some(o) if o.is_alive() => o.pid.to_string(),
                        Some(o) => format!("{}(gone)", o.pid),
                        None => "-".into(),
                    };
                    println!(
                        "{:<28} {:<15} {:<15} {:<8} {}",
                        a.id,
                        a.ip,
                        a.ifname,
                        owner,
                        a.netns.display()
                    );
                }
            }
        }
        NetCmd::Gc => {
            let r = net.gc_dead_owners()?;
            for id in &r.attachments {
                println!("removed network of {id}");
            }
            for l in &r.links {
                println!("removed interface {l}");
            }
            for n in &r.namespaces {
                println!("removed namespace {}", n.display());
            }
            if r.is_empty() {
                println!("nothing to remove");
            }
        }
        NetCmd::Uninstall => {
            let r = net.uninstall()?;
            println!(
                "removed {} networks, {} interfaces, {} namespaces and table inet {}",
                r.attachments.len(),
                r.links.len(),
                r.namespaces.len(),
                opt.net_name
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A network for one `hoody run --net auto`: created before the container, destroyed when
/// the value is dropped (after the container exits).
#[derive(Debug)]
pub struct AutoNetwork {
    net: Network,
    id: String,
}

impl AutoNetwork {
    /// Sweeps orphans of crashed runs, creates the network for `spec`'s container, and makes
    /// `spec` join it with the generated resolv.conf bound read-only on /etc/resolv.conf.
    pub fn setup(opt: &NetOpt, spec: &mut ContainerSpec) -> anyhow::Result<AutoNetwork> {
        let net = opt.open()?;
        net.gc_dead_owners().context("sweep orphaned networks")?;
        let att = net
            .create(&spec.id, Owner::current())
            .with_context(|| format!("create the network of container {}", spec.id))?;
        let auto = AutoNetwork {
            net,
            id: spec.id.clone(),
        };
        let resolv = auto.net.write_resolv_conf(&spec.id)?;
        spec.join_network = Some(att.netns);
        spec.mounts.push(Mount {
            kind: MountKind::Bind { source: resolv },
            destination: PathBuf::from("/etc/resolv.conf"),
            readonly: true,
        });
        Ok(auto)
    }
}

impl Drop for AutoNetwork {
    fn drop(&mut self) {
        if let Err(e) = self.net.destroy(&self.id) {
            eprintln!("hoody: remove the network of {}: {e}", self.id);
        }
    }
}
