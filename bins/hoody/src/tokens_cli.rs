//! `hoody tokens ...` (also `hoody token`, and `hoody auth` as Hoody's CLI spells it): API
//! tokens with their permissions, realms, address lists and expiry. Parsing and printing
//! only; the calls are [`hoody::client::Client`]'s.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use hoody::api::{
    CopyToken, CreateToken, Expiry, GrantProjectPermission, IpList, PermissionLevel, Permissions,
    ProjectPermission, Token, UpdateToken,
};

use crate::api_cli::*;

/// `hoody tokens ...`
#[derive(Subcommand, Debug)]
pub enum TokensCmd {
    /// List the tokens you may manage (their secrets are never shown again).
    #[command(visible_alias = "ls")]
    List,
    /// Create a token; its secret is printed once.
    #[command(visible_aliases = ["new", "add"])]
    Create(CreateArgs),
    /// Show a token.
    #[command(visible_aliases = ["show", "describe"])]
    Get {
        /// The token's id.
        id: String,
    },
    /// The token this command runs with, and where it may be used.
    #[command(name = "get-current", visible_alias = "me")]
    GetCurrent,
    /// The permission templates.
    Templates,
    /// Change a token (only what is given changes).
    #[command(visible_alias = "edit")]
    Update(UpdateArgs),
    /// A new token with another's settings; its secret is printed once.
    Copy {
        /// The token to copy.
        id: String,
        /// Its alias (default "<source> copy").
        #[arg(long)]
        alias: Option<String>,
        /// Its expiry (default: the source's).
        #[arg(long, value_name = "WHEN")]
        expires_at: Option<String>,
    },
    /// Add or remove a realm of a token.
    Realms {
        #[command(subcommand)]
        cmd: RealmsCmd,
    },
    /// Revoke a token.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// The token's id.
        id: String,
    },
}

/// `hoody projects permissions ...`
#[derive(Subcommand, Debug)]
pub enum MembersCmd {
    /// Who the project is granted to.
    #[command(visible_alias = "ls")]
    List {
        /// The project.
        id: String,
    },
    /// Grant the project to a token.
    #[command(visible_aliases = ["add", "new"])]
    Create {
        /// The project.
        id: String,
        /// The token's id.
        #[arg(long)]
        user_id: String,
        /// read, edit or delete.
        #[arg(long, value_parser = parse_level)]
        permission_level: PermissionLevel,
    },
    /// Change a grant's level.
    #[command(visible_alias = "edit")]
    Update {
        /// The project.
        id: String,
        /// The grant.
        permission_id: String,
        /// read, edit or delete.
        #[arg(long, value_parser = parse_level)]
        permission_level: PermissionLevel,
    },
    /// Revoke a grant.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// The project.
        id: String,
        /// The grant.
        permission_id: String,
    },
}

fn parse_level(s: &str) -> Result<PermissionLevel, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|_| format!("{s:?}: expected read, edit or delete"))
}

/// Runs `hoody projects permissions`.
pub fn members(ctx: &Ctx, cmd: &MembersCmd) -> anyhow::Result<()> {
    let c = &ctx.client;
    let show = |g: &ProjectPermission| {
        details(&[
            ("ID", g.id.clone()),
            ("PROJECT", g.project_id.clone()),
            ("USER (TOKEN)", g.user_id.clone()),
            ("LEVEL", format!("{:?}", g.permission_level).to_lowercase()),
        ]);
    };
    match cmd {
        MembersCmd::List { id } => {
            let l = c
                .project_permissions(id, &Default::default())
                .map_err(naming("project", id))?;
            ctx.print(&l, || {
                let rows: Vec<Vec<String>> = l
                    .permissions
                    .iter()
                    .map(|g| {
                        vec![
                            g.id.clone(),
                            g.user_id.clone(),
                            format!("{:?}", g.permission_level).to_lowercase(),
                            short_time(&g.created_at),
                        ]
                    })
                    .collect();
                table(&["ID", "USER (TOKEN)", "LEVEL", "CREATED"], &rows);
            })?;
        }
        MembersCmd::Create {
            id,
            user_id,
            permission_level,
        } => {
            let g = c
                .add_project_permission(
                    id,
                    &GrantProjectPermission {
                        user_id: user_id.clone(),
                        permission_level: *permission_level,
                    },
                )
                .map_err(naming("project", id))?;
            ctx.print(&g, || show(&g))?;
        }
        MembersCmd::Update {
            id,
            permission_id,
            permission_level,
        } => {
            let g = c
                .update_project_permission(id, permission_id, *permission_level)
                .map_err(naming("permission", permission_id))?;
            ctx.print(&g, || show(&g))?;
        }
        MembersCmd::Delete { id, permission_id } => {
            c.remove_project_permission(id, permission_id)
                .map_err(naming("permission", permission_id))?;
            ctx.print(&(), || println!("revoked permission {permission_id}"))?;
        }
    }
    Ok(())
}

/// `hoody tokens realms ...`
#[derive(Subcommand, Debug)]
pub enum RealmsCmd {
    /// Let the token work on a realm's host.
    Add {
        /// The token's id.
        id: String,
        /// The realm (24 hex digits).
        #[arg(long)]
        realm_id: String,
    },
    /// Take a realm from the token.
    Remove {
        /// The token's id.
        id: String,
        /// The realm.
        #[arg(long)]
        realm_id: String,
    },
}

/// `hoody tokens create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Its name (default: a random `adjective-animal`).
    #[arg(long)]
    alias: Option<String>,
    /// full_access, external_customer, dev_team, finance_team or read_only.
    #[arg(
        long = "permission-template",
        visible_alias = "template",
        value_name = "NAME"
    )]
    template: Option<String>,
    /// The permission tree as JSON (`{"containers":{"read":true}}`; missing leaves deny).
    #[arg(long, value_name = "JSON", value_parser = parse_permissions)]
    permissions: Option<Permissions>,
    /// Realms it is limited to (repeat).
    #[arg(long = "realm-id", value_name = "REALM")]
    realm_ids: Vec<String>,
    /// Only on realm-scoped hosts (`{realm}.api.{domain}`), never the bare one.
    #[arg(long)]
    no_bare_host: bool,
    /// Addresses or CIDR ranges it may be used from (comma-separated; default anywhere).
    #[arg(long = "ip-whitelist", value_name = "LIST")]
    ip_whitelist: Option<String>,
    /// When it expires: RFC 3339, a Unix time, `today` or `tomorrow` (default never).
    #[arg(long, value_name = "WHEN", conflicts_with = "expires_in_days")]
    expires_at: Option<String>,
    /// Expire after this many days.
    #[arg(long, value_name = "DAYS")]
    expires_in_days: Option<u64>,
    /// No token creation and no vault for it, and a bounded expiry.
    #[arg(long)]
    deny_reauthorization: bool,
}

/// `hoody tokens update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The token's id.
    id: String,
    /// New alias.
    #[arg(long)]
    alias: Option<String>,
    /// New permission tree (JSON).
    #[arg(long, value_name = "JSON", value_parser = parse_permissions)]
    permissions: Option<Permissions>,
    /// New address list (comma-separated; `*` for anywhere).
    #[arg(long = "ip-whitelist", value_name = "LIST")]
    ip_whitelist: Option<String>,
    /// New expiry (`never` removes it).
    #[arg(long, value_name = "WHEN")]
    expires_at: Option<String>,
    /// Disable the token.
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    /// Enable the token.
    #[arg(long)]
    enable: bool,
}

fn parse_permissions(s: &str) -> Result<Permissions, String> {
    serde_json::from_str(s).map_err(|e| format!("not a permission tree: {e}"))
}

fn expiry(s: &str) -> Expiry {
    s.parse()
        .map_or_else(|_| Expiry::Text(s.to_string()), Expiry::Unix)
}

/// Runs `hoody tokens`.
pub fn tokens(top: &TopApiOpt, sub: &ApiOpt, cmd: &TokensCmd) -> ExitCode {
    run(top, sub, |ctx| {
        let c = &ctx.client;
        match cmd {
            TokensCmd::List => {
                let list = c.list_tokens()?;
                ctx.print(&list, || tokens_table(&list))?;
            }
            TokensCmd::Create(a) => {
                let t = c.create_token(&CreateToken {
                    alias: a.alias.clone(),
                    permission_template: a.template.clone(),
                    permissions: a.permissions.clone(),
                    realm_ids: (!a.realm_ids.is_empty()).then(|| a.realm_ids.clone()),
                    allow_no_realm: a.no_bare_host.then_some(false),
                    ip_whitelist: a.ip_whitelist.clone().map(IpList::Text),
                    expires_at: a.expires_at.as_deref().map(expiry),
                    expires_in_days: a.expires_in_days,
                    deny_reauthorization: a.deny_reauthorization.then_some(true),
                    ..Default::default()
                })?;
                print_secret(ctx, &t)?;
            }
            TokensCmd::Get { id } => {
                let t = c.get_token(id).map_err(naming("token", id))?;
                ctx.print(&t, || token_details(&t))?;
            }
            TokensCmd::GetCurrent => {
                let me = c.current_token()?;
                ctx.print(&me, || {
                    token_details(&me.token);
                    details(&[(
                        "ACTIVE REALM",
                        me.restrictions
                            .active_realm_id
                            .clone()
                            .unwrap_or_else(|| "-".into()),
                    )]);
                })?;
            }
            TokensCmd::Templates => {
                let list = c.token_templates()?;
                ctx.print(&list, || {
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|t| vec![t.name.clone(), t.description.clone()])
                        .collect();
                    table(&["TEMPLATE", "GRANTS"], &rows);
                })?;
            }
            TokensCmd::Update(a) => {
                let t = c
                    .update_token(
                        &a.id,
                        &UpdateToken {
                            alias: a.alias.clone(),
                            permissions: a.permissions.clone(),
                            ip_whitelist: a.ip_whitelist.clone().map(IpList::Text),
                            expires_at: a
                                .expires_at
                                .as_deref()
                                .map(|e| (e != "never").then(|| expiry(e))),
                            is_enabled: if a.disable {
                                Some(false)
                            } else {
                                a.enable.then_some(true)
                            },
                            ..Default::default()
                        },
                    )
                    .map_err(naming("token", &a.id))?;
                ctx.print(&t, || token_details(&t))?;
            }
            TokensCmd::Copy {
                id,
                alias,
                expires_at,
            } => {
                let t = c
                    .copy_token(
                        id,
                        &CopyToken {
                            alias: alias.clone(),
                            expires_at: expires_at.as_deref().map(|e| Some(expiry(e))),
                            otp_code: None,
                        },
                    )
                    .map_err(naming("token", id))?;
                print_secret(ctx, &t)?;
            }
            TokensCmd::Realms { cmd } => {
                let (id, realm, add) = match cmd {
                    RealmsCmd::Add { id, realm_id } => (id, realm_id, true),
                    RealmsCmd::Remove { id, realm_id } => (id, realm_id, false),
                };
                let t = c.token_realm(id, realm, add).map_err(naming("token", id))?;
                ctx.print(&t, || token_details(&t))?;
            }
            TokensCmd::Delete { id } => {
                c.delete_token(id).map_err(naming("token", id))?;
                ctx.print(&(), || println!("revoked token {id}"))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// The secret alone on stdout (`TOKEN=$(hoody tokens create --alias ci)`), the rest on
/// stderr.
fn print_secret(ctx: &Ctx, t: &hoody::api::CreatedToken) -> anyhow::Result<()> {
    ctx.print(t, || {
        eprintln!(
            "created token {} ({}), expires {}",
            t.info.alias,
            t.info.id,
            t.info
                .expires_at
                .as_deref()
                .map_or("never".into(), short_time)
        );
        println!("{}", t.token);
    })?;
    eprintln!("note: the secret is shown only this once (hoodyd keeps only a hash); store it now");
    Ok(())
}

fn tokens_table(list: &[Token]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.alias.clone(),
                format!("{}…", t.prefix),
                if t.is_enabled { "yes" } else { "no" }.into(),
                if t.realm_ids.is_empty() {
                    "-".into()
                } else {
                    t.realm_ids.join(",")
                },
                short_time(&t.created_at),
                t.expires_at.as_deref().map_or("never".into(), short_time),
                t.last_used_at.as_deref().map_or("-".into(), short_time),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "ALIAS",
            "PREFIX",
            "ENABLED",
            "REALMS",
            "CREATED",
            "EXPIRES",
            "LAST USED",
        ],
        &rows,
    );
}

fn token_details(t: &Token) {
    details(&[
        ("ID", t.id.clone()),
        ("ALIAS", t.alias.clone()),
        ("PREFIX", format!("{}…", t.prefix)),
        ("ENABLED", t.is_enabled.to_string()),
        ("REALMS", t.realm_ids.join(",")),
        ("BARE HOST", t.allow_no_realm.to_string()),
        ("IP WHITELIST", t.ip_whitelist.join(",")),
        (
            "EXPIRES",
            t.expires_at.as_deref().map_or("never".into(), short_time),
        ),
        (
            "PERMISSIONS",
            serde_json::to_string(&t.permissions).unwrap_or_default(),
        ),
        (
            "CREATED BY",
            t.created_by_token_id
                .clone()
                .unwrap_or_else(|| "root".into()),
        ),
    ]);
}
