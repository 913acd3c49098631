//! `hoody snapshots ...`: a container's snapshots through hoodyd (list, create, restore,
//! alias, delete). Parsing and printing only; the calls are [`hoody::client::Client`]'s.

use std::process::ExitCode;

use clap::Subcommand;

use hoody::api::{CreateSnapshot, Snapshot, SnapshotAlias};

use crate::api_cli::*;

/// `hoody snapshots ...` (container from -c / HOODY_CONTAINER)
#[derive(Subcommand, Debug)]
pub enum SnapshotsCmd {
    /// List the container's snapshots, newest first.
    #[command(visible_alias = "ls")]
    List,
    /// Take a snapshot of the container's files.
    Create {
        /// A second name.
        #[arg(long)]
        alias: Option<String>,
        /// Delete it after this many days (1-3650).
        #[arg(long, value_name = "DAYS")]
        expiry: Option<u64>,
    },
    /// Roll the container's files back to a snapshot (its processes restart).
    Restore {
        /// The snapshot's name or alias.
        #[arg(long)]
        name: String,
    },
    /// Set or (with --clear) remove a snapshot's alias.
    UpdateAlias {
        /// The snapshot's name.
        #[arg(long)]
        name: String,
        /// The alias.
        #[arg(long, required_unless_present = "clear")]
        alias: Option<String>,
        /// Remove the alias.
        #[arg(long, conflicts_with = "alias")]
        clear: bool,
    },
    /// Delete a snapshot.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// The snapshot's name or alias.
        #[arg(long)]
        name: String,
    },
}

/// Runs `hoody snapshots`.
pub fn snapshots(top: &TopApiOpt, sub: &ApiOpt, cmd: &SnapshotsCmd) -> ExitCode {
    run(top, sub, |ctx| {
        let id = ctx.container(None)?;
        let c = &ctx.client;
        match cmd {
            SnapshotsCmd::List => {
                let list = c.list_snapshots(&id).map_err(naming("container", &id))?;
                ctx.print(&list, || {
                    let rows: Vec<Vec<String>> = list
                        .snapshots
                        .iter()
                        .map(|s| {
                            vec![
                                s.name.clone(),
                                s.alias.clone().unwrap_or_else(|| "-".into()),
                                short_time(&s.created_at),
                                s.expires_at.as_deref().map_or("never".into(), short_time),
                                s.size.map_or("-".into(), bytes),
                            ]
                        })
                        .collect();
                    table(&["NAME", "ALIAS", "CREATED", "EXPIRES", "SIZE"], &rows);
                })?;
            }
            SnapshotsCmd::Create { alias, expiry } => {
                let req = CreateSnapshot {
                    alias: alias.clone(),
                    expiry: *expiry,
                };
                let s = with_spinner(format!("snapshotting container {id}"), || {
                    c.create_snapshot(&id, &req)
                })
                .map_err(naming("container", &id))?;
                ctx.print(&s, || snapshot_details(&s))?;
            }
            SnapshotsCmd::Restore { name } => {
                let after = with_spinner(format!("restoring container {id} to {name}"), || {
                    c.restore_snapshot(&id, name)
                })
                .map_err(naming("container", &id))?;
                ctx.print(&after, || {
                    println!(
                        "restored container {id} to snapshot {name} (now {})",
                        after.status
                    )
                })?;
            }
            SnapshotsCmd::UpdateAlias { name, alias, clear } => {
                let alias = if *clear { None } else { alias.clone() };
                let s = c
                    .set_snapshot_alias(&id, name, &SnapshotAlias { alias })
                    .map_err(naming("container", &id))?;
                ctx.print(&s, || snapshot_details(&s))?;
            }
            SnapshotsCmd::Delete { name } => {
                c.delete_snapshot(&id, name)
                    .map_err(naming("container", &id))?;
                ctx.print(&(), || {
                    println!("deleted snapshot {name} of container {id}")
                })?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn snapshot_details(s: &Snapshot) {
    details(&[
        ("NAME", s.name.clone()),
        ("ALIAS", s.alias.clone().unwrap_or_else(|| "-".into())),
        ("CREATED", short_time(&s.created_at)),
        (
            "EXPIRES",
            s.expires_at.as_deref().map_or("never".into(), short_time),
        ),
        ("SIZE", s.size.map_or("-".into(), bytes)),
    ]);
}
