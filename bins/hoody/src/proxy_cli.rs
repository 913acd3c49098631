//! `hoody proxy ...`: proxy aliases through hoodyd (reference §2.7; the flags of Hoody's CLI).

use std::process::ExitCode;

use clap::Subcommand;
use hoody::api::{Alias, AliasQuery, CreateAlias, UpdateAlias};

use crate::api_cli::{ApiOpt, TopApiOpt, details, naming, run, short_time, table};

/// `hoody proxy ...`
#[derive(Subcommand, Debug)]
pub enum ProxyCmd {
    /// Create an alias: `{alias}.{server}.containers.{domain}` → one service of a container.
    #[command(visible_aliases = ["new", "add"])]
    Create {
        /// The container (default: -c / HOODY_CONTAINER).
        #[arg(long)]
        container_id: Option<String>,
        /// The program: http, https, terminal, files, ... (or http-3000).
        #[arg(long)]
        program: String,
        /// The name (3-61 of a-z, 0-9, '-'); default: random.
        #[arg(long)]
        alias: Option<String>,
        /// Port, for http/https.
        #[arg(long)]
        port: Option<u16>,
        /// Kit instance (default 1).
        #[arg(long)]
        index: Option<u64>,
        /// Landing path for requests to `/`.
        #[arg(long)]
        target_path: Option<String>,
        /// Honour visitors' paths (default true).
        #[arg(long)]
        allow_path_override: Option<bool>,
        /// Expiry, RFC 3339 UTC (e.g. 2027-01-31T12:00:00Z).
        #[arg(long)]
        expires_at: Option<String>,
        /// Enabled (default true).
        #[arg(long)]
        enabled: Option<bool>,
    },
    /// List aliases.
    #[command(visible_alias = "ls")]
    List {
        /// Only this project's.
        #[arg(long)]
        project_id: Option<String>,
        /// Only this container's.
        #[arg(long)]
        container_id: Option<String>,
        /// Only enabled (true) or disabled (false) ones.
        #[arg(long)]
        enabled: Option<bool>,
        /// Only expired (true) or unexpired (false) ones.
        #[arg(long)]
        expired: Option<bool>,
    },
    /// Show an alias.
    #[command(visible_aliases = ["show", "describe"])]
    Get {
        /// Its id.
        id: String,
    },
    /// Change an alias.
    #[command(visible_alias = "edit")]
    Update {
        /// Its id.
        id: String,
        /// New name.
        #[arg(long)]
        alias: Option<String>,
        /// New program.
        #[arg(long)]
        program: Option<String>,
        /// New port.
        #[arg(long)]
        port: Option<u16>,
        /// New instance.
        #[arg(long)]
        index: Option<u64>,
        /// New landing path.
        #[arg(long)]
        target_path: Option<String>,
        /// Honour visitors' paths.
        #[arg(long)]
        allow_path_override: Option<bool>,
        /// New expiry.
        #[arg(long)]
        expires_at: Option<String>,
        /// Enable or disable.
        #[arg(long)]
        enabled: Option<bool>,
    },
    /// Delete an alias.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// Its id.
        id: String,
    },
    /// Enable or disable an alias (a disabled alias answers 404).
    SetState {
        /// Its id.
        id: String,
        /// true or false.
        #[arg(long, action = clap::ArgAction::Set)]
        enabled: bool,
    },
}

fn alias_details(a: &Alias) {
    let target = match a.port {
        Some(p) => format!("{}-{p}", a.program),
        None => format!("{}-{}", a.program, a.index),
    };
    details(&[
        ("ID", a.id.clone()),
        ("ALIAS", a.alias.clone()),
        ("URL", a.url.clone()),
        ("CONTAINER", a.container_id.clone()),
        ("TARGET", target),
        ("PATH", a.target_path.clone().unwrap_or_else(|| "-".into())),
        ("ENABLED", if a.enabled { "yes" } else { "no" }.into()),
        (
            "EXPIRES",
            a.expires_at.as_deref().map_or("never".into(), short_time),
        ),
    ]);
}

/// Runs `hoody proxy`.
pub fn proxy(top: &TopApiOpt, sub: &ApiOpt, cmd: &ProxyCmd) -> ExitCode {
    run(top, sub, |ctx| {
        let c = &ctx.client;
        match cmd {
            ProxyCmd::Create {
                container_id,
                program,
                alias,
                port,
                index,
                target_path,
                allow_path_override,
                expires_at,
                enabled,
            } => {
                let a = c.create_alias(&CreateAlias {
                    container_id: ctx.container(container_id.as_deref())?,
                    alias: alias.clone(),
                    program: program.clone(),
                    port: *port,
                    index: *index,
                    target_path: target_path.clone(),
                    allow_path_override: *allow_path_override,
                    expires_at: expires_at.clone(),
                    enabled: *enabled,
                })?;
                ctx.print(&a, || alias_details(&a))?;
            }
            ProxyCmd::List {
                project_id,
                container_id,
                enabled,
                expired,
            } => {
                let list = c.list_aliases(&AliasQuery {
                    project_id: project_id.clone(),
                    container_id: container_id.clone(),
                    enabled: *enabled,
                    expired: *expired,
                })?;
                ctx.print(&list, || {
                    let rows: Vec<Vec<String>> = list
                        .aliases
                        .iter()
                        .map(|a| {
                            vec![
                                a.id.clone(),
                                a.alias.clone(),
                                a.container_id.clone(),
                                match a.port {
                                    Some(p) => format!("{}-{p}", a.program),
                                    None => format!("{}-{}", a.program, a.index),
                                },
                                if a.enabled { "yes" } else { "no" }.into(),
                                a.url.clone(),
                            ]
                        })
                        .collect();
                    table(
                        &["ID", "ALIAS", "CONTAINER", "TARGET", "ENABLED", "URL"],
                        &rows,
                    );
                })?;
            }
            ProxyCmd::Get { id } => {
                let a = c.get_alias(id).map_err(naming("alias", id))?;
                ctx.print(&a, || alias_details(&a))?;
            }
            ProxyCmd::Update {
                id,
                alias,
                program,
                port,
                index,
                target_path,
                allow_path_override,
                expires_at,
                enabled,
            } => {
                let a = c
                    .update_alias(
                        id,
                        &UpdateAlias {
                            alias: alias.clone(),
                            program: program.clone(),
                            port: *port,
                            index: *index,
                            target_path: target_path.clone().map(Some),
                            allow_path_override: *allow_path_override,
                            expires_at: expires_at.clone().map(Some),
                            enabled: *enabled,
                        },
                    )
                    .map_err(naming("alias", id))?;
                ctx.print(&a, || alias_details(&a))?;
            }
            ProxyCmd::Delete { id } => {
                c.delete_alias(id).map_err(naming("alias", id))?;
                ctx.print(&(), || println!("deleted alias {id}"))?;
            }
            ProxyCmd::SetState { id, enabled } => {
                let a = c
                    .set_alias_state(id, *enabled)
                    .map_err(naming("alias", id))?;
                ctx.print(&a, || alias_details(&a))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
