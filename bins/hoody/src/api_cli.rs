//! The commands that drive hoodyd over its API: `hoody containers`, `snapshots`, `projects`,
//! `tokens`, `events` and `completions` (`servers` and `realms`: servers_cli.rs). They parse, call
//! [`hoody::client::Client`] and print; everything an embedder needs lives in the client.
//!
//! Where: `--api-url` (`http://HOST:PORT` or `unix:/PATH`), else `--socket`, else the
//! environment (`HOODY_API_URL`, `HOODY_SOCKET`, then `/run/hoody/hoodyd.sock`). The options
//! are accepted before the command (`hoody -c ID snapshots list`) and after it
//! (`hoody snapshots list -c ID`); the latter wins.
//!
//! Exit status: 0 done, 1 hoodyd refused (or anything else failed), 2 bad command line,
//! 3 hoodyd could not be reached.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand, ValueEnum};
use hoody::api::{
    Container, ContainerStatus, CopyContainer, CreateContainer, CreateProject, EnvVars, Limits,
    ListQuery, Operation, Project, RamdiskScope, UpdateContainer, UpdateProject,
};
use hoody::client::{Client, ClientError};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Exit status when hoodyd refuses (or anything but the two below fails).
const EXIT_FAILED: u8 = 1;
/// Exit status for a bad command line (clap's too).
const EXIT_USAGE: u8 = 2;
/// Exit status when hoodyd cannot be reached.
const EXIT_UNREACHABLE: u8 = 3;

const HEADING: &str = "hoodyd API options";

/// How results are printed.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The same columns (hoody's tables already show every column).
    Wide,
    /// The API's `data`, as pretty JSON.
    Json,
    /// The API's `data`, as YAML.
    Yaml,
    /// A string result verbatim (for pipes); anything else as one line of JSON.
    Raw,
}

/// Defines the API options twice: before the command (`TopApiOpt`, on `hoody` itself) and
/// after it (`ApiOpt`, global within each API command). One global set on `hoody` would clash
/// with older commands' own `--output` and `container` arguments.
macro_rules! api_options {
    ($(#[$meta:meta])* $name:ident, global = $global:literal) => {
        $(#[$meta])*
        #[derive(Args, Debug, Clone, Default)]
        pub struct $name {
            /// hoodyd's address: http://HOST:PORT or unix:/PATH [env: HOODY_API_URL]
            #[arg(long, value_name = "URL", global = $global, help_heading = HEADING)]
            pub api_url: Option<String>,
            /// hoodyd's unix socket [env: HOODY_SOCKET; default: /run/hoody/hoodyd.sock]
            #[arg(long, value_name = "PATH", global = $global, help_heading = HEADING)]
            pub socket: Option<PathBuf>,
            /// API token, for TCP [env: HOODY_TOKEN]
            #[arg(long, value_name = "TOKEN", global = $global, help_heading = HEADING)]
            pub token: Option<String>,
            /// The container to act on [env: HOODY_CONTAINER, then HOODY_CONTAINER_ID (set inside containers)]
            #[arg(short = 'c', long, value_name = "ID", global = $global, help_heading = HEADING)]
            pub container: Option<String>,
            /// Output format [env: HOODY_OUTPUT; default: table]
            #[arg(short = 'o', long, value_enum, global = $global, help_heading = HEADING)]
            pub output: Option<OutputFormat>,
            /// Same as --output json
            #[arg(long, global = $global, help_heading = HEADING)]
            pub json: bool,
        }
    };
}

api_options!(
    /// API options given before the command (`hoody -c ID snapshots list`).
    TopApiOpt,
    global = false
);
api_options!(
    /// API options given after the command (`hoody snapshots list -c ID`).
    ApiOpt,
    global = true
);

/// `hoody containers ...`
#[derive(Subcommand, Debug)]
pub enum ContainersCmd {
    /// Create a container in a project; it is made in the background (see --wait) and starts
    /// by itself unless --autostart false.
    #[command(visible_aliases = ["new", "add"])]
    Create(Box<CreateArgs>),
    /// List containers: every project's, or one's with --project.
    #[command(visible_alias = "ls")]
    List {
        /// Only this project's containers.
        #[arg(long, visible_alias = "project-id", value_name = "ID")]
        project: Option<String>,
        #[command(flatten)]
        page: PageArgs,
        /// Include containers being deleted.
        #[arg(long)]
        include_deleting: bool,
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Show a container.
    #[command(visible_aliases = ["show", "describe"])]
    Get {
        /// The container (default: -c / HOODY_CONTAINER).
        id: Option<String>,
        #[command(flatten)]
        view: ViewArgs,
    },
    /// Change a container's settings (omitted ones are kept).
    #[command(visible_alias = "edit")]
    Update(UpdateArgs),
    /// Delete a container and all its data.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// The container (default: -c / HOODY_CONTAINER).
        id: Option<String>,
    },
    /// Pass /dev/kvm through (`--kvm`) or not (`--kvm=false`); the container must be stopped.
    Kvm {
        /// The container (default: -c / HOODY_CONTAINER).
        id: Option<String>,
        /// On or off.
        #[arg(long, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
        kvm: bool,
    },
    /// Pull the source's current file system into a copy (what the copy had is kept as a
    /// snapshot aliased before-sync-…).
    Sync {
        /// The copy (default: -c / HOODY_CONTAINER).
        id: Option<String>,
    },
    /// A signed one-hour claim for the container (verify it with GET /api/v1/meta/public-key).
    Authorize {
        /// The container (default: -c / HOODY_CONTAINER).
        id: Option<String>,
    },
    /// Live counters: processes, CPU, memory, disk, network.
    Stats {
        /// The container (default: -c / HOODY_CONTAINER).
        id: Option<String>,
    },
    /// The container's state transitions.
    StatusLogs {
        /// The container (default: -c / HOODY_CONTAINER).
        id: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Run a lifecycle operation: start, stop, force-stop, restart, pause or resume.
    #[command(override_usage = "hoody containers manage [ID] <OPERATION>")]
    Manage {
        /// [ID] OPERATION (the container defaults to -c / HOODY_CONTAINER).
        #[arg(num_args = 1..=2, required = true, value_name = "ID|OPERATION")]
        args: Vec<String>,
    },
    /// Copy a container (files, settings, snapshots) into a project.
    Copy(CopyArgs),
    /// A container's environment variables (applied at its next start; container from -c).
    Env {
        #[command(subcommand)]
        cmd: EnvCmd,
    },
    /// The proxy's permission document of a container (container from -c).
    Proxy {
        #[command(subcommand)]
        cmd: crate::permissions_cli::ProxyPermCmd,
    },
}

/// `hoody containers create`
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The project to create it in.
    #[arg(long, visible_alias = "project-id", value_name = "ID")]
    project: String,
    /// The server: its id or name (default: this server).
    #[arg(long, value_name = "ID")]
    server_id: Option<String>,
    /// 3-100 of A-Z a-z 0-9 _ - (default: a random name).
    #[arg(long)]
    name: Option<String>,
    /// Its color, #RGB or #RRGGBB (default: random).
    #[arg(long)]
    color: Option<String>,
    /// The image (default: debian-13).
    #[arg(long, visible_alias = "image", value_name = "IMAGE")]
    container_image: Option<String>,
    /// The Kit's services (terminal, files, ...; default: on, as hoodyd's).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    hoody_kit: Option<bool>,
    /// The developer toolchain (default: as --hoody-kit).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    dev_kit: Option<bool>,
    /// AI features.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    ai: Option<bool>,
    /// Start it once created and whenever hoodyd starts (default: true).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    autostart: Option<bool>,
    /// An environment variable KEY=VALUE (repeatable).
    #[arg(long = "environment-vars", short = 'e', visible_alias = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    environment_vars: Vec<(String, String)>,
    /// An SSH public key for it.
    #[arg(long, value_name = "KEY")]
    ssh_public_key: Option<String>,
    /// Free text.
    #[arg(long)]
    comment: Option<String>,
    /// Realm labels (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    realm_ids: Vec<String>,
    /// A RAM-backed /ramdisk, kept across restarts, lost when the server reboots (default: on).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    ramdisk: Option<bool>,
    /// container (default) or project (adds /ramdisk/project, shared in the project).
    #[arg(long, value_name = "SCOPE", value_parser = parse_ramdisk_scope)]
    ramdisk_scope: Option<RamdiskScope>,
    /// /dev/kvm passthrough (not supported by hoody yet: only false is accepted).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    kvm: Option<bool>,
    /// Alias of --kvm.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    dev_kvm: Option<bool>,
    /// Use cached images (every image is cached in hoody).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    cache: Option<bool>,
    /// Build a new cached image (accepted; hoody's images are always cached).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    cache_image: Option<bool>,
    /// Internal to the platform: true is refused.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    prespawn: Option<bool>,
    /// Do not claim a prespawned container.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    bypass_prespawn: Option<bool>,
    /// Memory limit (e.g. 512M, 2G; beyond Hoody's API).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    memory: Option<u64>,
    /// CPU limit (e.g. 0.5, 2).
    #[arg(long, value_name = "CPUS")]
    cpus: Option<f64>,
    /// Process limit.
    #[arg(long, value_name = "N")]
    pids: Option<u64>,
    #[command(flatten)]
    wait: WaitArgs,
}

fn parse_size_arg(s: &str) -> Result<u64, String> {
    hoody::api::parse_size(s).ok_or_else(|| format!("{s:?}: a size such as 512M, 2G or bytes"))
}

fn parse_ramdisk_scope(s: &str) -> Result<RamdiskScope, String> {
    match s {
        "container" => Ok(RamdiskScope::Container),
        "project" => Ok(RamdiskScope::Project),
        _ => Err(format!("{s:?}: expected container or project")),
    }
}

/// `hoody containers update`
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The container (default: -c / HOODY_CONTAINER).
    id: Option<String>,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// New color.
    #[arg(long)]
    color: Option<String>,
    /// New comment ("" clears it).
    #[arg(long)]
    comment: Option<String>,
    /// New SSH public key ("" clears it).
    #[arg(long, value_name = "KEY")]
    ssh_public_key: Option<String>,
    /// Autostart.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    autostart: Option<bool>,
    /// AI features.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    ai: Option<bool>,
    /// New realm labels (comma-separated or repeated).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    realm_ids: Option<Vec<String>>,
    /// /ramdisk on or off (at the next start; off discards its contents).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    ramdisk: Option<bool>,
    /// container or project (at the next start).
    #[arg(long, value_name = "SCOPE", value_parser = parse_ramdisk_scope)]
    ramdisk_scope: Option<RamdiskScope>,
    /// New memory limit, applied at once (the others are kept).
    #[arg(long, value_name = "SIZE", value_parser = parse_size_arg)]
    memory: Option<u64>,
    /// New CPU limit.
    #[arg(long, value_name = "CPUS")]
    cpus: Option<f64>,
    /// New process limit.
    #[arg(long, value_name = "N")]
    pids: Option<u64>,
}

/// `hoody containers copy`
#[derive(Args, Debug)]
pub struct CopyArgs {
    /// The container to copy (default: -c / HOODY_CONTAINER).
    id: Option<String>,
    /// The project the copy goes to.
    #[arg(long, value_name = "ID")]
    target_project_id: String,
    /// The server (default: the source's).
    #[arg(long, value_name = "ID")]
    target_server_id: Option<String>,
    /// The copy's name (default: <source>-copy).
    #[arg(long)]
    name: Option<String>,
    /// The copy's SSH public key (not inherited).
    #[arg(long, value_name = "KEY")]
    ssh_public_key: Option<String>,
    /// Copy this snapshot's files instead of the current ones.
    #[arg(long, value_name = "NAME")]
    source_snapshot: Option<String>,
    /// Copy the firewall rules too (default: the copy has none).
    #[arg(long)]
    copy_firewall_rules: bool,
    /// Copy the egress network too (default: the copy has none).
    #[arg(long)]
    copy_network_rules: bool,
    #[command(flatten)]
    wait: WaitArgs,
}

/// `--wait` and its limit.
#[derive(Args, Debug)]
pub struct WaitArgs {
    /// Wait until it is made (a spinner shows its status); fail if it ends `failed`.
    #[arg(long)]
    wait: bool,
    /// With --wait: give up after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600, requires = "wait")]
    timeout: u64,
}

/// What the container objects carry besides their record.
#[derive(Args, Debug)]
pub struct ViewArgs {
    /// Add runtime_info (running containers): `true`, or JSON such as '{"displays":true}'.
    #[arg(long, value_name = "JSON", num_args = 0..=1, default_missing_value = "true")]
    runtime: Option<String>,
    /// Add proxy_domains (the URLs' host names).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    include_proxy_domains: Option<bool>,
    /// Embed the container's and its project's permission documents.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_parser = BoolishValueParser::new())]
    include_proxy_permissions: Option<bool>,
    /// Only containers of this realm.
    #[arg(long, value_name = "ID")]
    realm_id: Option<String>,
}

impl ViewArgs {
    fn apply(&self, q: &mut ListQuery) {
        q.runtime = self.runtime.clone();
        q.include_proxy_domains = self.include_proxy_domains;
        q.include_proxy_permissions = self.include_proxy_permissions;
        q.realm_id = self.realm_id.clone();
    }
}

/// Paging and sorting of a list.
#[derive(Args, Debug)]
pub struct PageArgs {
    /// Page, from 1.
    #[arg(long)]
    page: Option<u64>,
    /// Items per page (at most 100).
    #[arg(long)]
    limit: Option<u64>,
    /// Field to sort by (e.g. name, status, created_at).
    #[arg(long, value_name = "FIELD")]
    sort_by: Option<String>,
    /// asc or desc.
    #[arg(long, value_name = "ORDER", value_parser = ["asc", "desc"])]
    sort_order: Option<String>,
}

impl PageArgs {
    fn query(&self) -> ListQuery {
        ListQuery {
            page: self.page,
            limit: self.limit,
            sort_by: self.sort_by.clone(),
            sort_order: self.sort_order.clone(),
            ..Default::default()
        }
    }
}

/// `hoody containers env ...`
#[derive(Subcommand, Debug)]
pub enum EnvCmd {
    /// List the variables.
    #[command(visible_alias = "ls")]
    List,
    /// Set one variable.
    Set {
        /// Its name.
        #[arg(long)]
        key: String,
        /// Its value.
        #[arg(long)]
        value: String,
    },
    /// Set several: a flat JSON object, merged into the variables.
    BulkSet {
        /// E.g. '{"A":"1","B":"2"}'.
        #[arg(long, value_name = "JSON")]
        body: String,
    },
    /// Remove one variable.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// Its name.
        #[arg(long)]
        key: String,
    },
}

/// `hoody projects ...`
#[derive(Subcommand, Debug)]
pub enum ProjectsCmd {
    /// List projects.
    #[command(visible_alias = "ls")]
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a project.
    #[command(visible_aliases = ["new", "add"])]
    Create {
        /// Its name (unique).
        #[arg(long)]
        alias: String,
        /// #RGB or #RRGGBB (default: random).
        #[arg(long)]
        color: Option<String>,
        /// Most containers it may hold (default: unlimited).
        #[arg(long, value_name = "N")]
        max_containers: Option<u64>,
    },
    /// Show a project.
    #[command(visible_aliases = ["show", "describe"])]
    Get {
        /// The project.
        id: String,
    },
    /// Change a project (omitted settings are kept).
    #[command(visible_alias = "edit")]
    Update {
        /// The project.
        id: String,
        /// New name.
        #[arg(long)]
        alias: Option<String>,
        /// New color.
        #[arg(long)]
        color: Option<String>,
        /// New limit, or `none` to remove it.
        #[arg(long, value_name = "N|none", value_parser = parse_limit)]
        max_containers: Option<Limit>,
    },
    /// Delete an empty project.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// The project.
        id: String,
    },
    /// The proxy's permission document of a project (applies to all its containers).
    Proxy {
        /// The project.
        #[arg(long)]
        project: String,
        #[command(subcommand)]
        cmd: crate::permissions_cli::ProxyPermCmd,
    },
    /// Who the project is granted to (users are API tokens): read, edit or delete.
    Permissions {
        #[command(subcommand)]
        cmd: crate::tokens_cli::MembersCmd,
    },
    /// Containers by state and the live counters of the running ones.
    Stats {
        /// The project.
        id: String,
    },
}

/// A limit or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(Option<u64>);

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

fn parse_limit(s: &str) -> Result<Limit, String> {
    if s.eq_ignore_ascii_case("none") || s.eq_ignore_ascii_case("unlimited") {
        return Ok(Limit(None));
    }
    s.parse()
        .map(|n| Limit(Some(n)))
        .map_err(|_| format!("expected a number or `none`, got {s:?}"))
}

/// A command-line mistake found after parsing (exit status 2).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

pub(crate) fn usage(msg: impl Into<String>) -> anyhow::Error {
    Usage(msg.into()).into()
}

/// Prints `error: ...` and picks the exit status.
fn report(e: &anyhow::Error) -> ExitCode {
    if let Some(u) = e.downcast_ref::<Usage>() {
        eprintln!("error: {u}");
        return ExitCode::from(EXIT_USAGE);
    }
    if let Some(c) = e.downcast_ref::<ClientError>() {
        return match c {
            ClientError::Api(a) => {
                eprintln!("error: {} ({})", a.message, a.code);
                if a.status == 401 {
                    eprintln!(
                        "hint: this API needs a token: pass --token or set HOODY_TOKEN (made on \
                         the server with `hoody tokens create`)"
                    );
                }
                if a.data.len() > 1 {
                    for i in &a.data {
                        eprintln!("  {}: {}", i.instance_path, i.message);
                    }
                }
                ExitCode::from(EXIT_FAILED)
            }
            ClientError::Connect { .. } => {
                eprintln!("error: {c}");
                ExitCode::from(EXIT_UNREACHABLE)
            }
            ClientError::InvalidUrl { .. } => {
                eprintln!("error: {c}");
                ExitCode::from(EXIT_USAGE)
            }
            _ => {
                eprintln!("error: {c}");
                ExitCode::from(EXIT_FAILED)
            }
        };
    }
    eprintln!("error: {e:#}");
    ExitCode::from(EXIT_FAILED)
}

/// Makes a 404's message name what was asked for, when hoodyd's does not already.
pub(crate) fn naming<'a>(
    what: &'static str,
    id: &'a str,
) -> impl FnOnce(ClientError) -> ClientError + 'a {
    move |e| match e {
        ClientError::Api(mut a) if a.status == 404 && !a.message.contains(id) => {
            a.message = format!("{what} {id}: {}", a.message);
            ClientError::Api(a)
        }
        e => e,
    }
}

/// A resolved command context: the client, the target container, the output format.
pub(crate) struct Ctx {
    pub(crate) client: Client,
    container: Option<String>,
    output: OutputFormat,
}

fn env_var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

impl Ctx {
    fn new(top: &TopApiOpt, sub: &ApiOpt) -> anyhow::Result<Ctx> {
        let token = sub
            .token
            .clone()
            .or_else(|| top.token.clone())
            .or_else(|| env_var("HOODY_TOKEN"));
        let url = sub.api_url.clone().or_else(|| top.api_url.clone());
        let socket = sub.socket.clone().or_else(|| top.socket.clone());
        let client = match (url, socket) {
            (Some(_), Some(_)) => return Err(usage("give either --api-url or --socket, not both")),
            (Some(url), None) => Client::from_url(&url, token)?,
            (None, Some(socket)) => Client::unix(socket).with_token(token),
            (None, None) => Client::from_env()?.with_token(token),
        };
        let output = if sub.json || top.json {
            OutputFormat::Json
        } else if let Some(o) = sub.output.or(top.output) {
            o
        } else if let Some(v) = env_var("HOODY_OUTPUT") {
            OutputFormat::from_str(&v, true).map_err(|_| {
                usage(format!(
                    "HOODY_OUTPUT={v:?}: expected table, wide, json, yaml or raw"
                ))
            })?
        } else {
            OutputFormat::Table
        };
        let container = sub
            .container
            .clone()
            .or_else(|| top.container.clone())
            .or_else(|| env_var("HOODY_CONTAINER"))
            // Inside a container: the container itself.
            .or_else(|| env_var("HOODY_CONTAINER_ID"));
        Ok(Ctx {
            client,
            container,
            output,
        })
    }

    /// The container: `id` if given, else -c / HOODY_CONTAINER.
    pub(crate) fn container(&self, id: Option<&str>) -> anyhow::Result<String> {
        id.map(str::to_string)
            .or_else(|| self.container.clone())
            .ok_or_else(|| {
                usage(
                    "no container given: pass its ID, or -c/--container ID, or set HOODY_CONTAINER",
                )
            })
    }

    /// The output format asked for.
    pub(crate) fn output(&self) -> OutputFormat {
        self.output
    }

    /// Whether the output is for programs (json, yaml, raw): no notes for people on stdout.
    pub(crate) fn json(&self) -> bool {
        matches!(
            self.output,
            OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Raw
        )
    }

    /// Prints `data` as JSON, YAML or raw, or runs `table`.
    pub(crate) fn print<T: Serialize>(&self, data: &T, table: impl FnOnce()) -> anyhow::Result<()> {
        if self.json() {
            let v = serde_json::to_value(data)?;
            match (self.output, &v) {
                (OutputFormat::Yaml, _) => print!("{}", crate::yaml::to_yaml(&v)),
                (OutputFormat::Raw, serde_json::Value::String(s)) => println!("{s}"),
                (OutputFormat::Raw, _) => println!("{v}"),
                _ => println!("{}", serde_json::to_string_pretty(&v)?),
            }
        } else {
            table();
        }
        Ok(())
    }
}

/// Runs `f` with the context of `top` and `sub`, reporting its error.
pub(crate) fn run(
    top: &TopApiOpt,
    sub: &ApiOpt,
    f: impl FnOnce(&Ctx) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    Ctx::new(top, sub)
        .and_then(|ctx| f(&ctx))
        .unwrap_or_else(|e| report(&e))
}

fn spinner(msg: String) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        pb.set_style(style);
    }
    pb.set_message(msg);
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// Runs `f` under a spinner saying `msg`.
pub(crate) fn with_spinner<T>(msg: String, f: impl FnOnce() -> T) -> T {
    let pb = spinner(msg);
    let r = f();
    pb.finish_and_clear();
    r
}

// ---- containers ------------------------------------------------------------------------------

/// Runs `hoody containers`.
pub fn containers(top: &TopApiOpt, sub: &ApiOpt, cmd: &ContainersCmd) -> ExitCode {
    run(top, sub, |ctx| match cmd {
        ContainersCmd::Create(a) => create(ctx, a),
        ContainersCmd::List {
            project,
            page,
            include_deleting,
            view,
        } => {
            let mut q = page.query();
            q.include_deleting = include_deleting.then_some(true);
            view.apply(&mut q);
            let list = ctx
                .client
                .list_containers(project.as_deref(), &q)
                .map_err(naming("project", project.as_deref().unwrap_or_default()))?;
            ctx.print(&list, || {
                containers_table(&list.containers);
                pagination_note(&list.pagination, "container");
            })?;
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::Get { id, view } => {
            let id = ctx.container(id.as_deref())?;
            let mut q = ListQuery::default();
            view.apply(&mut q);
            let c = ctx
                .client
                .get_container_with(&id, &q)
                .map_err(naming("container", &id))?;
            ctx.print(&c, || container_details(&c))?;
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::Update(a) => update(ctx, a),
        ContainersCmd::Delete { id } => {
            let id = ctx.container(id.as_deref())?;
            with_spinner(format!("deleting container {id}"), || {
                ctx.client.delete_container(&id)
            })
            .map_err(naming("container", &id))?;
            ctx.print(&(), || println!("deleted container {id}"))?;
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::Kvm { id, kvm } => {
            let id = ctx.container(id.as_deref())?;
            let c = ctx
                .client
                .set_kvm(&id, *kvm)
                .map_err(naming("container", &id))?;
            ctx.print(&c, || container_details(&c))?;
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::Sync { id } => {
            let id = ctx.container(id.as_deref())?;
            let c = with_spinner(format!("syncing container {id} from its source"), || {
                ctx.client.sync_container(&id)
            })
            .map_err(naming("container", &id))?;
            ctx.print(&c, || container_details(&c))?;
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::Authorize { id } => {
            let id = ctx.container(id.as_deref())?;
            let c = ctx
                .client
                .authorize_container(&id)
                .map_err(naming("container", &id))?;
            // The claim is for machines: JSON either way.
            println!("{}", serde_json::to_string_pretty(&c)?);
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::Stats { id } => {
            let id = ctx.container(id.as_deref())?;
            let s = ctx.client.stats(&id).map_err(naming("container", &id))?;
            ctx.print(&s, || {
                let mut rows = vec![
                    ("CONTAINER", s.id.clone()),
                    ("PROJECT", s.project_name.clone()),
                    ("SERVER", s.server_name.clone()),
                    ("STATUS", s.status.to_string()),
                    ("PROCESSES", s.processes.to_string()),
                    (
                        "CPU",
                        format!("{:.2}s", Duration::from_nanos(s.cpu.usage).as_secs_f64()),
                    ),
                    (
                        "MEMORY",
                        format!(
                            "{} (peak {}, limit {})",
                            bytes(s.memory.usage),
                            bytes(s.memory.usage_peak),
                            s.memory.total.map_or("none".into(), bytes)
                        ),
                    ),
                    ("DISK", bytes(s.disk.root.usage)),
                ];
                for n in &s.network {
                    rows.push((
                        "NETWORK",
                        format!(
                            "{}: received {} ({} packets), sent {} ({} packets)",
                            n.interface,
                            bytes(n.counters.bytes_received),
                            n.counters.packets_received,
                            bytes(n.counters.bytes_sent),
                            n.counters.packets_sent
                        ),
                    ));
                }
                details(&rows);
            })?;
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::StatusLogs { id, page } => {
            let id = ctx.container(id.as_deref())?;
            let logs = ctx
                .client
                .status_logs(&id, &page.query())
                .map_err(naming("container", &id))?;
            ctx.print(&logs, || {
                let rows = logs
                    .status_logs
                    .iter()
                    .map(|l| {
                        vec![
                            short_time(&l.transition_time),
                            l.from_status.map_or("-".into(), |s| s.to_string()),
                            l.to_status.to_string(),
                            l.duration_ms.map_or("-".into(), |d| format!("{d} ms")),
                            l.triggered_by.clone(),
                        ]
                    })
                    .collect::<Vec<_>>();
                table(&["TIME", "FROM", "TO", "DURATION", "BY"], &rows);
                pagination_note(&logs.pagination, "transition");
            })?;
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::Manage { args } => {
            let (id, op) = match args.as_slice() {
                [op] => (None, op),
                [id, op] => (Some(id.as_str()), op),
                _ => return Err(usage("expected [ID] OPERATION")),
            };
            let op = Operation::parse(op).ok_or_else(|| {
                let all: Vec<_> = Operation::ALL.iter().map(|o| o.as_str()).collect();
                usage(format!(
                    "unknown operation {op:?}: expected one of {}",
                    all.join(", ")
                ))
            })?;
            let id = ctx.container(id)?;
            let r = with_spinner(format!("{} container {id}", progressive(op)), || {
                ctx.client.operate(&id, op)
            })
            .map_err(naming("container", &id))?;
            ctx.print(&r, || {
                println!(
                    "container {}: {} (now {})",
                    r.container_id, r.message, r.status
                )
            })?;
            Ok(ExitCode::SUCCESS)
        }
        ContainersCmd::Copy(a) => copy(ctx, a),
        ContainersCmd::Env { cmd } => env(ctx, cmd),
        ContainersCmd::Proxy { cmd } => {
            let id = ctx.container(None)?;
            crate::permissions_cli::run_perm(ctx, hoody::client::DocOwner::Container(&id), cmd)?;
            Ok(ExitCode::SUCCESS)
        }
    })
}

/// "starting", "stopping", ... for a spinner.
fn progressive(op: Operation) -> &'static str {
    match op {
        Operation::Start => "starting",
        Operation::Stop => "stopping",
        Operation::ForceStop => "force-stopping",
        Operation::Restart => "restarting",
        Operation::Pause => "pausing",
        Operation::Resume => "resuming",
    }
}

fn create(ctx: &Ctx, a: &CreateArgs) -> anyhow::Result<ExitCode> {
    let server_id = match &a.server_id {
        Some(s) => s.clone(),
        None => local_server(ctx)?,
    };
    let req = CreateContainer {
        server_id,
        name: a.name.clone(),
        color: a.color.clone(),
        container_image: a.container_image.clone(),
        ai: a.ai,
        environment_vars: (!a.environment_vars.is_empty())
            .then(|| a.environment_vars.iter().cloned().collect()),
        ssh_public_key: a.ssh_public_key.clone(),
        comment: a.comment.clone(),
        hoody_kit: a.hoody_kit,
        dev_kit: a.dev_kit,
        autostart: a.autostart,
        realm_ids: (!a.realm_ids.is_empty()).then(|| a.realm_ids.clone()),
        ramdisk: a.ramdisk,
        ramdisk_scope: a.ramdisk_scope,
        kvm: a.kvm,
        dev_kvm: a.dev_kvm,
        cache: a.cache,
        cache_image: a.cache_image,
        prespawn: a.prespawn,
        bypass_prespawn: a.bypass_prespawn,
        limits: (a.memory.is_some() || a.cpus.is_some() || a.pids.is_some()).then_some(Limits {
            memory: a.memory,
            cpus: a.cpus,
            pids: a.pids,
        }),
    };
    let c = ctx
        .client
        .create_container(&a.project, &req)
        .map_err(naming("project", &a.project))?;
    finish_making(ctx, c, &a.wait, "creating")
}

fn copy(ctx: &Ctx, a: &CopyArgs) -> anyhow::Result<ExitCode> {
    let id = ctx.container(a.id.as_deref())?;
    let req = CopyContainer {
        target_project_id: a.target_project_id.clone(),
        target_server_id: a.target_server_id.clone(),
        name: a.name.clone(),
        ssh_public_key: a.ssh_public_key.clone(),
        source_snapshot: a.source_snapshot.clone(),
        copy_firewall_rules: a.copy_firewall_rules.then_some(true),
        copy_network_rules: a.copy_network_rules.then_some(true),
    };
    let c = ctx
        .client
        .copy_container(&id, &req)
        .map_err(naming("container", &id))?;
    finish_making(ctx, c, &a.wait, "copying")
}

/// After create or copy: print the new container, or with --wait wait until it is made and
/// fail if it ended `failed`.
fn finish_making(
    ctx: &Ctx,
    c: Container,
    wait: &WaitArgs,
    doing: &str,
) -> anyhow::Result<ExitCode> {
    if !wait.wait {
        ctx.print(&c, || {
            container_details(&c);
            eprintln!(
                "{doing} in the background: `hoody containers get {}` shows its status (or use --wait)",
                c.id
            );
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let pb = spinner(format!("{doing} {}: {}", c.name, c.status));
    let done = ctx.client.wait_for(
        &c.id,
        |now| {
            pb.set_message(format!("{doing} {}: {}", now.name, now.status));
            !matches!(
                now.status,
                ContainerStatus::Creating | ContainerStatus::Copying
            )
        },
        Duration::from_secs(wait.timeout),
    );
    pb.finish_and_clear();
    let c = done.map_err(naming("container", &c.id))?;
    ctx.print(&c, || container_details(&c))?;
    if c.status == ContainerStatus::Failed {
        return Err(anyhow!(
            "container {} ({}) failed: {}",
            c.name,
            c.id,
            c.error.as_deref().unwrap_or("no reason recorded")
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// This server's id (for create without --server-id).
fn local_server(ctx: &Ctx) -> anyhow::Result<String> {
    let list = ctx.client.servers()?;
    list.servers
        .iter()
        .find(|s| s.is_local)
        .or(list.servers.first())
        .map(|s| s.id.clone())
        .ok_or_else(|| anyhow!("hoodyd lists no server: pass --server-id"))
}

fn update(ctx: &Ctx, a: &UpdateArgs) -> anyhow::Result<ExitCode> {
    let id = ctx.container(a.id.as_deref())?;
    let clearable = |v: &Option<String>| v.clone().map(|s| (!s.is_empty()).then_some(s));
    let req = UpdateContainer {
        name: a.name.clone(),
        color: a.color.clone(),
        ai: a.ai,
        autostart: a.autostart,
        environment_vars: None,
        ssh_public_key: clearable(&a.ssh_public_key),
        comment: clearable(&a.comment),
        realm_ids: a.realm_ids.clone(),
        ramdisk: a.ramdisk,
        ramdisk_scope: a.ramdisk_scope,
        limits: if a.memory.is_some() || a.cpus.is_some() || a.pids.is_some() {
            // The API replaces the limits as a whole: keep the ones not given.
            let now = ctx
                .client
                .get_container(&id)
                .map_err(naming("container", &id))?
                .limits;
            Some(Limits {
                memory: a.memory.or(now.memory),
                cpus: a.cpus.or(now.cpus),
                pids: a.pids.or(now.pids),
            })
        } else {
            None
        },
    };
    if serde_json::to_value(&req)?
        .as_object()
        .is_some_and(|o| o.is_empty())
    {
        return Err(usage(
            "nothing to update: give --name, --color, --comment, --ssh-public-key, --autostart, --ai, --realm-ids, --ramdisk, --ramdisk-scope, --memory, --cpus or --pids",
        ));
    }
    let c = ctx
        .client
        .update_container(&id, &req)
        .map_err(naming("container", &id))?;
    ctx.print(&c, || container_details(&c))?;
    Ok(ExitCode::SUCCESS)
}

fn env(ctx: &Ctx, cmd: &EnvCmd) -> anyhow::Result<ExitCode> {
    let id = ctx.container(None)?;
    let c = &ctx.client;
    let vars = match cmd {
        EnvCmd::List => c.get_env(&id),
        EnvCmd::Set { key, value } => c.set_env_var(&id, key, value),
        EnvCmd::BulkSet { body } => {
            let vars: BTreeMap<String, String> = serde_json::from_str(body).map_err(|e| {
                usage(format!(
                    "--body must be a flat JSON object of strings, like '{{\"A\":\"1\"}}': {e}"
                ))
            })?;
            c.set_env(&id, &vars)
        }
        EnvCmd::Delete { key } => c.delete_env_var(&id, key),
    }
    .map_err(naming("container", &id))?;
    ctx.print(&vars, || env_table(&vars))?;
    if !matches!(cmd, EnvCmd::List) && !ctx.json() {
        eprintln!("changes apply at the container's next start");
    }
    Ok(ExitCode::SUCCESS)
}

fn env_table(vars: &EnvVars) {
    let rows: Vec<Vec<String>> = vars
        .environment_vars
        .iter()
        .map(|(k, v)| vec![k.clone(), v.clone()])
        .collect();
    table(&["KEY", "VALUE"], &rows);
}

fn containers_table(list: &[Container]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.name.clone(),
                c.status.to_string(),
                c.project_alias.clone(),
                c.ip.clone().unwrap_or_else(|| "-".into()),
                c.container_image.clone(),
                short_time(&c.created_at),
            ]
        })
        .collect();
    table(
        &["ID", "NAME", "STATUS", "PROJECT", "IP", "IMAGE", "CREATED"],
        &rows,
    );
}

fn container_details(c: &Container) {
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut rows = vec![
        ("ID", c.id.clone()),
        ("NAME", c.name.clone()),
        ("STATUS", c.status.to_string()),
        ("PROJECT", format!("{} ({})", c.project_alias, c.project_id)),
        ("SERVER", format!("{} ({})", c.server_name, c.server_id)),
        ("IMAGE", c.container_image.clone()),
        ("IP", c.ip.clone().unwrap_or_else(|| "-".into())),
        ("HOODY KIT", yes(c.hoody_kit)),
        ("DEV KIT", yes(c.dev_kit)),
        ("AI", yes(c.ai)),
        ("AUTOSTART", yes(c.autostart)),
        ("COLOR", c.color.clone()),
    ];
    if !c.environment_vars.is_empty() {
        let keys: Vec<&str> = c.environment_vars.keys().map(String::as_str).collect();
        rows.push(("ENV", keys.join(", ")));
    }
    if let Some(k) = &c.ssh_public_key {
        rows.push(("SSH KEY", k.clone()));
    }
    if let Some(t) = &c.comment {
        rows.push(("COMMENT", t.clone()));
    }
    if !c.realm_ids.is_empty() {
        rows.push(("REALMS", c.realm_ids.join(", ")));
    }
    if let Some(s) = &c.source_container_id {
        rows.push(("COPIED FROM", s.clone()));
    }
    if let Some(e) = &c.error {
        rows.push(("ERROR", e.clone()));
    }
    rows.push(("SNAPSHOTS", c.snapshot_count.to_string()));
    if let Some(s) = &c.last_used_snapshot {
        rows.push(("RESTORED FROM", s.clone()));
    }
    for w in &c.warnings {
        rows.push(("WARNING", w.clone()));
    }
    for d in c.proxy_domains.iter().flatten() {
        rows.push(("URL", format!("http://{d}/")));
    }
    if let Some(r) = &c.runtime_info {
        for n in r.network_services.iter().flatten() {
            let what = n
                .kit
                .clone()
                .or_else(|| n.domain.clone())
                .unwrap_or_default();
            rows.push(("LISTENING", format!("{}:{} {what}", n.address, n.port)));
        }
        for t in r.terminals.iter().flatten() {
            rows.push(("TERMINAL", t.to_string()));
        }
    }
    rows.push(("CREATED", short_time(&c.created_at)));
    rows.push(("UPDATED", short_time(&c.updated_at)));
    details(&rows);
}

// ---- projects, tokens, events (snapshots: snapshots_cli.rs; servers: servers_cli.rs) ------------

/// Runs `hoody projects`.
pub fn projects(top: &TopApiOpt, sub: &ApiOpt, cmd: &ProjectsCmd) -> ExitCode {
    run(top, sub, |ctx| {
        let c = &ctx.client;
        match cmd {
            ProjectsCmd::List { page } => {
                let list = c.list_projects(&page.query())?;
                ctx.print(&list, || {
                    let rows: Vec<Vec<String>> = list
                        .projects
                        .iter()
                        .map(|p| {
                            vec![
                                p.id.clone(),
                                p.alias.clone(),
                                p.color.clone(),
                                p.container_count.to_string(),
                                p.max_containers.map_or("-".into(), |m| m.to_string()),
                                short_time(&p.created_at),
                            ]
                        })
                        .collect();
                    table(
                        &["ID", "ALIAS", "COLOR", "CONTAINERS", "MAX", "CREATED"],
                        &rows,
                    );
                    pagination_note(&list.pagination, "project");
                })?;
            }
            ProjectsCmd::Create {
                alias,
                color,
                max_containers,
            } => {
                let p = c.create_project(&CreateProject {
                    alias: alias.clone(),
                    color: color.clone(),
                    max_containers: *max_containers,
                    realm_ids: None,
                })?;
                ctx.print(&p, || project_details(&p))?;
            }
            ProjectsCmd::Get { id } => {
                let p = c.get_project(id).map_err(naming("project", id))?;
                ctx.print(&p, || project_details(&p))?;
            }
            ProjectsCmd::Update {
                id,
                alias,
                color,
                max_containers,
            } => {
                if alias.is_none() && color.is_none() && max_containers.is_none() {
                    return Err(usage(
                        "nothing to update: give --alias, --color or --max-containers",
                    ));
                }
                let req = UpdateProject {
                    alias: alias.clone(),
                    color: color.clone(),
                    max_containers: max_containers.map(|l| l.0),
                    realm_ids: None,
                };
                let p = c.update_project(id, &req).map_err(naming("project", id))?;
                ctx.print(&p, || project_details(&p))?;
            }
            ProjectsCmd::Delete { id } => {
                c.delete_project(id).map_err(naming("project", id))?;
                ctx.print(&(), || println!("deleted project {id}"))?;
            }
            ProjectsCmd::Permissions { cmd } => crate::tokens_cli::members(ctx, cmd)?,
            ProjectsCmd::Stats { id } => {
                let s = c.project_stats(id).map_err(naming("project", id))?;
                ctx.print(&s, || {
                    println!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
                })?;
            }
            ProjectsCmd::Proxy { project, cmd } => {
                crate::permissions_cli::run_perm(
                    ctx,
                    hoody::client::DocOwner::Project(project),
                    cmd,
                )?;
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn project_details(p: &Project) {
    details(&[
        ("ID", p.id.clone()),
        ("ALIAS", p.alias.clone()),
        ("COLOR", p.color.clone()),
        ("CONTAINERS", p.container_count.to_string()),
        (
            "MAX CONTAINERS",
            p.max_containers
                .map_or("unlimited".into(), |m| m.to_string()),
        ),
        ("CREATED", short_time(&p.created_at)),
        ("UPDATED", short_time(&p.updated_at)),
    ]);
}

/// Runs `hoody events`: prints state changes as they happen (one JSON object a line with
/// --output json) until interrupted.
pub fn events(top: &TopApiOpt, sub: &ApiOpt) -> ExitCode {
    run(top, sub, |ctx| {
        let mut out = std::io::stdout().lock();
        for ev in ctx.client.events()? {
            match ev {
                Ok(ev) if ctx.json() => writeln!(out, "{}", serde_json::to_string(&ev)?)?,
                Ok(ev) => {
                    let line = format!(
                        "{}  {:<18} {:<24} {:<9} {}",
                        short_time(&ev.time),
                        ev.kind,
                        ev.container_id
                            .as_deref()
                            .or(ev.project_id.as_deref())
                            .unwrap_or("-"),
                        ev.status.map_or("-".into(), |s| s.to_string()),
                        ev.ip.as_deref().unwrap_or("")
                    );
                    writeln!(out, "{}", line.trim_end())?
                }
                Err(e @ ClientError::Lagged { .. }) => eprintln!("warning: {e}"),
                Err(e) => return Err(e.into()),
            }
            out.flush()?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `hoody completions SHELL`.
pub fn completions(shell: clap_complete::Shell, cmd: &mut clap::Command) -> ExitCode {
    clap_complete::generate(shell, cmd, "hoody", &mut std::io::stdout());
    ExitCode::SUCCESS
}

// ---- printing --------------------------------------------------------------------------------

/// Prints aligned columns, two spaces apart.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (cell, w) in cells.zip(&widths) {
            s.push_str(cell);
            let pad = w.saturating_sub(cell.chars().count()) + 2;
            s.extend(std::iter::repeat_n(' ', pad));
        }
        println!("{}", s.trim_end());
    };
    line(&mut headers.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
}

/// Prints `KEY  value` lines, aligned.
pub(crate) fn details(rows: &[(&str, String)]) {
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("{k:<w$}  {v}");
    }
}

/// Tells on stderr that more pages exist.
pub(crate) fn pagination_note(p: &hoody::api::Pagination, what: &str) {
    if p.total_pages > 1 {
        eprintln!(
            "page {} of {} ({} {what}s; --page N for more)",
            p.page, p.total_pages, p.total
        );
    }
}

/// `2026-01-02T03:04:05.678Z` as `2026-01-02 03:04:05`.
pub(crate) fn short_time(t: &str) -> String {
    match t.get(..19) {
        Some(s) if t.as_bytes().get(10) == Some(&b'T') => s.replacen('T', " ", 1),
        _ => t.to_string(),
    }
}

/// Bytes for people (binary units).
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests;
