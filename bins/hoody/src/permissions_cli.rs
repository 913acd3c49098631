//! `hoody containers proxy ...` and `hoody projects proxy ...`: permission documents (reference
//! §2.5), with the flags of Hoody's CLI. Every write takes `--if-match file:vN`; without it the
//! current version is read first (the server still refuses a write that lost a race: 412).

use clap::Subcommand;
use hoody::client::DocOwner;
use serde_json::{Value, json};

use crate::api_cli::Ctx;

/// The permission commands of a project or a container.
#[derive(Subcommand, Debug)]
pub enum ProxyPermCmd {
    /// The whole document.
    Permissions {
        #[command(subcommand)]
        cmd: DocCmd,
    },
    /// What happens to requests no group admits: allow or deny.
    Default {
        /// allow or deny.
        #[arg(long, value_parser = ["allow", "deny"])]
        default: String,
        /// The version being changed (`file:vN`).
        #[arg(long)]
        if_match: Option<String>,
    },
    /// The kill switch: `--enable-proxy false` refuses every request (403).
    State {
        /// true or false.
        #[arg(long, action = clap::ArgAction::Set)]
        enable_proxy: bool,
        /// The version being changed (`file:vN`).
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Auth groups and their rules.
    Groups {
        #[command(subcommand)]
        cmd: GroupsCmd,
    },
    /// enable_proxy, default and version (containers).
    Settings,
    /// Proxy hooks: the container's scripts that see a service's requests first (containers).
    Hooks {
        #[command(subcommand)]
        cmd: crate::hooks_cli::HooksCmd,
    },
}

/// `… proxy permissions ...`
#[derive(Subcommand, Debug)]
pub enum DocCmd {
    /// Show the document.
    Get,
    /// Replace it with a JSON document.
    Replace {
        /// The document.
        #[arg(long)]
        body: String,
        /// The version being replaced (`file:vN`).
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Delete it (requests then pass unless the project's document says otherwise).
    Delete {
        /// The version being deleted (`file:vN`).
        #[arg(long)]
        if_match: Option<String>,
    },
}

/// `… proxy groups ...`
#[derive(Subcommand, Debug)]
pub enum GroupsCmd {
    /// An IPv4 range group.
    Ip {
        /// The group.
        #[arg(long)]
        group_name: String,
        /// CIDR, e.g. 203.0.113.0/24.
        #[arg(long)]
        range: String,
        /// The version being changed.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// A JWT group.
    Jwt {
        /// The group.
        #[arg(long)]
        group_name: String,
        /// HS256 secret, or PEM public key for RS256/ES256.
        #[arg(long)]
        secret: String,
        /// HS256, RS256 or ES256.
        #[arg(long, default_value = "HS256")]
        algorithm: String,
        /// Where the token is: header:NAME or cookie:NAME (repeat or comma-separate).
        #[arg(long, value_delimiter = ',', required = true)]
        sources: Vec<String>,
        /// Required claims, k=v (repeat).
        #[arg(long)]
        claims: Vec<String>,
        /// The version being changed.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// An HTTP Basic group.
    Password {
        /// The group.
        #[arg(long)]
        group_name: String,
        /// User name.
        #[arg(long)]
        auth_username: String,
        /// Password (hashed with the salt before it is stored).
        #[arg(long)]
        auth_password: String,
        /// Salt.
        #[arg(long)]
        salt: String,
        /// Hash algorithm.
        #[arg(long, default_value = "sha256")]
        algorithm: String,
        /// The version being changed.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// A static token group: --body '{"header":"X-Key","value":"..."}' (or cookie / param).
    Token {
        /// The group.
        #[arg(long)]
        group_name: String,
        /// The token selector and value.
        #[arg(long)]
        body: String,
        /// The version being changed.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// A group's rules.
    Permissions {
        /// The group.
        #[arg(long)]
        group_name: String,
        /// The program (http, terminal, files, logs, ...); required with --access / delete.
        #[arg(long)]
        program: Option<String>,
        /// true|false, '*', a number, 1,2,3 or 8000-8100; `clear` removes all the group's
        /// rules, `delete` the one for --program.
        #[arg(long)]
        access: String,
        /// The version being changed.
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Delete a group and its rules.
    Delete {
        /// The group.
        #[arg(long)]
        group_name: String,
        /// The version being changed.
        #[arg(long)]
        if_match: Option<String>,
    },
}

/// `--access` as JSON.
pub fn parse_access(s: &str) -> Value {
    match s {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "*" => Value::String("*".into()),
        _ if s.contains(',') => Value::Array(
            s.split(',')
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .map(Value::from)
                .collect(),
        ),
        _ => s
            .parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(s.to_string())),
    }
}

/// Runs a permission command on `owner`'s document.
pub fn run_perm(ctx: &Ctx, owner: DocOwner<'_>, cmd: &ProxyPermCmd) -> anyhow::Result<()> {
    let c = &ctx.client;
    // The given version, or the current one.
    let version = |given: &Option<String>| -> anyhow::Result<String> {
        match given {
            Some(t) => Ok(t.clone()),
            None => Ok(c.permissions_version(owner)?),
        }
    };
    let out = match cmd {
        ProxyPermCmd::Permissions { cmd } => match cmd {
            DocCmd::Get => c.permissions(owner)?,
            DocCmd::Replace { body, if_match } => {
                let b: Value = serde_json::from_str(body)?;
                c.replace_permissions(owner, &b, &version(if_match)?)?
            }
            DocCmd::Delete { if_match } => c.delete_permissions(owner, &version(if_match)?)?,
        },
        ProxyPermCmd::Default { default, if_match } => {
            c.set_permissions_default(owner, default, &version(if_match)?)?
        }
        ProxyPermCmd::State {
            enable_proxy,
            if_match,
        } => c.set_proxy_enabled(owner, *enable_proxy, &version(if_match)?)?,
        ProxyPermCmd::Settings => c.proxy_settings(owner)?,
        ProxyPermCmd::Hooks { cmd } => {
            let DocOwner::Container(id) = owner else {
                anyhow::bail!("only containers have proxy hooks: `hoody containers proxy hooks …`");
            };
            return crate::hooks_cli::run(ctx, id, cmd);
        }
        ProxyPermCmd::Groups { cmd } => {
            let group = |name: &str, kind: &str, body: Value, if_match: &Option<String>| {
                anyhow::Ok(c.put_auth_group(owner, name, kind, &body, &version(if_match)?)?)
            };
            match cmd {
                GroupsCmd::Ip {
                    group_name,
                    range,
                    if_match,
                } => group(group_name, "ip", json!({ "range": range }), if_match)?,
                GroupsCmd::Jwt {
                    group_name,
                    secret,
                    algorithm,
                    sources,
                    claims,
                    if_match,
                } => {
                    let claims: serde_json::Map<String, Value> = claims
                        .iter()
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| {
                            let v = serde_json::from_str(v)
                                .unwrap_or_else(|_| Value::String(v.to_string()));
                            (k.to_string(), v)
                        })
                        .collect();
                    group(
                        group_name,
                        "jwt",
                        json!({"secret": secret, "algorithm": algorithm, "sources": sources, "claims": claims}),
                        if_match,
                    )?
                }
                GroupsCmd::Password {
                    group_name,
                    auth_username,
                    auth_password,
                    salt,
                    algorithm,
                    if_match,
                } => group(
                    group_name,
                    "password",
                    json!({"username": auth_username, "password": auth_password, "salt": salt, "algorithm": algorithm}),
                    if_match,
                )?,
                GroupsCmd::Token {
                    group_name,
                    body,
                    if_match,
                } => group(group_name, "token", serde_json::from_str(body)?, if_match)?,
                GroupsCmd::Permissions {
                    group_name,
                    program,
                    access,
                    if_match,
                } => {
                    let tag = version(if_match)?;
                    match (access.as_str(), program) {
                        ("clear", _) => c.revoke(owner, group_name, None, &tag)?,
                        ("delete", Some(p)) => c.revoke(owner, group_name, Some(p), &tag)?,
                        (_, Some(p)) => {
                            c.grant(owner, group_name, p, &parse_access(access), &tag)?
                        }
                        (_, None) => anyhow::bail!("--program is required with --access {access}"),
                    }
                }
                GroupsCmd::Delete {
                    group_name,
                    if_match,
                } => c.delete_auth_group(owner, group_name, &version(if_match)?)?,
            }
        }
    };
    // Documents are nested structures: JSON is the readable form either way.
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
