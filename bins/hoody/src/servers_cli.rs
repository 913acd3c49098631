//! `hoody servers ...` and `hoody realms ...`: the servers hoodyd manages (this one, live,
//! and the rental marketplace's answers) and the realms of what the caller sees. Parsing and
//! printing only; the calls are [`hoody::client::Client`]'s.

use std::process::ExitCode;

use clap::Subcommand;

use crate::api_cli::*;

/// `hoody servers ...`
#[derive(Subcommand, Debug)]
pub enum ServersCmd {
    /// List servers (this one, until clusters arrive).
    #[command(visible_alias = "ls")]
    List,
    /// Show a server.
    #[command(visible_aliases = ["show", "describe"])]
    Get {
        /// Its id or name.
        id: String,
    },
    /// A server live: uptime, load, memory, disk, containers.
    Runtime {
        /// Its id or name.
        id: String,
    },
    /// The rental marketplace (a self-hosted server has none).
    #[command(visible_alias = "browse")]
    Marketplace,
    /// Rent a server (a self-hosted server is refused: it is yours).
    Rent {
        /// Its id.
        id: String,
    },
}

/// `hoody realms ...`
#[derive(Subcommand, Debug)]
pub enum RealmsCmd {
    /// The realms of what you see.
    #[command(visible_alias = "ls")]
    List {
        /// Also count what carries each realm.
        #[arg(long)]
        include_usage: bool,
    },
}

/// Runs `hoody realms`.
pub fn realms(top: &TopApiOpt, sub: &ApiOpt, cmd: &RealmsCmd) -> ExitCode {
    run(top, sub, |ctx| {
        let RealmsCmd::List { include_usage } = cmd;
        let list = ctx.client.realms(*include_usage)?;
        ctx.print(&list, || {
            for r in &list.realm_ids {
                match list.usage.as_ref().and_then(|u| u.get(r)) {
                    Some(u) => println!(
                        "{r}  {} projects, {} containers, {} tokens",
                        u.projects, u.containers, u.auth_tokens
                    ),
                    None => println!("{r}"),
                }
            }
        })?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `hoody servers`.
pub fn servers(top: &TopApiOpt, sub: &ApiOpt, cmd: &ServersCmd) -> ExitCode {
    run(top, sub, |ctx| {
        let raw = match cmd {
            ServersCmd::Runtime { id } => Some(
                ctx.client
                    .server_runtime(id)
                    .map_err(naming("server", id))?,
            ),
            ServersCmd::Marketplace => Some(ctx.client.server_marketplace()?),
            ServersCmd::Rent { id } => {
                Some(ctx.client.rent_server(id).map_err(naming("server", id))?)
            }
            _ => None,
        };
        if let Some(v) = raw {
            // Shapes for machines: JSON (or YAML) either way.
            match ctx.output() {
                OutputFormat::Yaml => print!("{}", crate::yaml::to_yaml(&v)),
                _ => println!("{}", serde_json::to_string_pretty(&v)?),
            }
            return Ok(ExitCode::SUCCESS);
        }
        let list = match cmd {
            ServersCmd::List => {
                let list = ctx.client.servers()?;
                ctx.print(&list, || ())?;
                list.servers
            }
            ServersCmd::Get { id } => {
                let s = ctx.client.get_server(id).map_err(naming("server", id))?;
                ctx.print(&s, || ())?;
                vec![s]
            }
            ServersCmd::Runtime { .. } | ServersCmd::Marketplace | ServersCmd::Rent { .. } => {
                return Ok(ExitCode::SUCCESS);
            }
        };
        if !ctx.json() {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    vec![
                        s.id.clone(),
                        s.name.clone(),
                        s.status.clone(),
                        s.version.clone(),
                        s.specs.cpu_cores.to_string(),
                        format!("{:.1} GB", s.specs.ram_gb),
                        format!("{:.1} GB", s.specs.disk_gb),
                        s.container_count.to_string(),
                        if s.is_local { "yes" } else { "no" }.to_string(),
                    ]
                })
                .collect();
            table(
                &[
                    "ID",
                    "NAME",
                    "STATUS",
                    "VERSION",
                    "CPUS",
                    "RAM",
                    "DISK",
                    "CONTAINERS",
                    "LOCAL",
                ],
                &rows,
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}
