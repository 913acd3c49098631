//! `hoody`: the command-line tool. It parses arguments, calls the `hoody` SDK and prints.

mod api_cli;
mod hooks_cli;
mod kit_cli;
mod machine;
mod net;
mod network_cli;
mod permissions_cli;
mod proxy_cli;
mod servers_cli;
mod snapshots_cli;
mod storage;
mod tokens_cli;
mod yaml;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use hoody::core::{
    CapabilitySet, ContainerSpec, SeccompProfile, foreground,
    spec::{self, parse_cpus, parse_pids, parse_size},
};

/// Exit code for errors of hoody itself (bad arguments, setup failures), as docker uses.
const EXIT_HOODY_ERROR: u8 = 125;

#[derive(Parser, Debug)]
#[command(
    name = "hoody",
    version,
    about = "Computers as URLs: hoody containers from the command line"
)]
struct Cli {
    #[command(flatten)]
    api: api_cli::TopApiOpt,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a command in a new, isolated container in the foreground and exit with its status.
    Run(Box<RunArgs>),
    /// Container networks (hoody-net): list, sweep orphans, uninstall.
    Net {
        #[command(flatten)]
        opt: net::NetOpt,
        #[command(subcommand)]
        cmd: net::NetCmd,
    },
    /// Machines: Debian 13 containers booting systemd, unprivileged.
    Machine {
        #[command(flatten)]
        opt: storage::PoolOpt,
        #[command(subcommand)]
        cmd: machine::MachineCmd,
    },
    /// Storage pool: create it (a loop-mounted btrfs by default) and show its status.
    Pool {
        #[command(flatten)]
        opt: storage::PoolOpt,
        #[command(subcommand)]
        cmd: storage::PoolCmd,
    },
    /// Images containers are created from.
    Image {
        #[command(flatten)]
        opt: storage::PoolOpt,
        #[command(subcommand)]
        cmd: storage::ImageCmd,
    },
    /// Container root file systems (writable snapshots of an image).
    Rootfs {
        #[command(flatten)]
        opt: storage::PoolOpt,
        #[command(subcommand)]
        cmd: storage::RootfsCmd,
    },
    /// Snapshots of a container: create, list, restore, delete, alias, branch.
    Snapshot {
        #[command(flatten)]
        opt: storage::PoolOpt,
        #[command(subcommand)]
        cmd: storage::SnapshotCmd,
    },
    /// Write a container and its snapshots as a stream (for `hoody receive` on another pool).
    Send {
        #[command(flatten)]
        opt: storage::PoolOpt,
        #[command(flatten)]
        args: storage::SendArgs,
    },
    /// Create (or update) a container from a `hoody send` stream.
    Receive {
        #[command(flatten)]
        opt: storage::PoolOpt,
        #[command(flatten)]
        args: storage::ReceiveArgs,
    },
    /// Containers managed by hoodyd: create, list, get, update, delete, manage, copy, env.
    #[command(visible_aliases = ["container", "c"])]
    Containers {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: api_cli::ContainersCmd,
    },
    /// Snapshots of a hoodyd container (-c): list, create, restore, update-alias, delete.
    #[command(visible_alias = "snap")]
    Snapshots {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: snapshots_cli::SnapshotsCmd,
    },
    /// Projects (groups of containers) on hoodyd.
    #[command(visible_aliases = ["project", "proj"])]
    Projects {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: api_cli::ProjectsCmd,
    },
    /// A container's terminal (Kit): run commands, list sessions.
    #[command(visible_aliases = ["term", "t"])]
    Terminal {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: kit_cli::TerminalCmd,
    },
    /// A container's files (Kit): read files, list directories.
    #[command(visible_aliases = ["file", "f", "fs"])]
    Files {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: kit_cli::FilesCmd,
    },
    /// A container's SQLite databases (Kit): transactions, read-only queries.
    #[command(visible_aliases = ["sql", "sqlite"])]
    Db {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: kit_cli::DbCmd,
    },
    /// Proxy aliases: `{alias}.{server}.containers.{domain}` for a container's service.
    Proxy {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: proxy_cli::ProxyCmd,
    },
    /// API tokens for hoodyd's TCP listener and hoody-proxy's `api.{domain}`: scoped by
    /// permissions, realms, addresses and expiry (`hoody auth …` in Hoody's spelling).
    #[command(visible_aliases = ["token", "auth"])]
    Tokens {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: tokens_cli::TokensCmd,
    },
    /// A container's egress network: everything it sends goes through an upstream proxy
    /// (socks5, http, https) or nowhere (block).
    Network {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: network_cli::NetworkCmd,
    },
    /// A container's firewall: ingress and egress rules, the first match decides.
    #[command(visible_alias = "fw")]
    Firewall {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: network_cli::FirewallCmd,
    },
    /// Realms: the 24-hex labels that scope the API (`{realm}.api.{domain}`).
    #[command(visible_alias = "realm")]
    Realms {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: servers_cli::RealmsCmd,
    },
    /// The servers hoodyd manages (this one).
    #[command(visible_aliases = ["server", "srv"])]
    Servers {
        #[command(flatten)]
        api: api_cli::ApiOpt,
        #[command(subcommand)]
        cmd: servers_cli::ServersCmd,
    },
    /// Follow hoodyd's state changes as they happen.
    Events {
        #[command(flatten)]
        api: api_cli::ApiOpt,
    },
    /// Print a shell completion script (e.g. `hoody completions bash > /etc/bash_completion.d/hoody`).
    #[command(visible_alias = "completion")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum NetMode {
    /// A new network namespace with only the loopback interface.
    None,
    /// Share the host's network stack.
    Host,
    /// Its own routed network from hoody-net (address, NAT, DNS), removed when it exits.
    Auto,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// Root file system directory (default: the `demo` container that scripts/setup creates).
    #[arg(long, default_value = "/var/lib/hoody/containers/demo")]
    rootfs: PathBuf,
    /// Container id (names its cgroup); random when not given.
    #[arg(long)]
    id: Option<String>,
    /// Hostname inside the container (default: the container id).
    #[arg(long)]
    hostname: Option<String>,
    /// Memory limit, e.g. 512M or 2G.
    #[arg(long, value_parser = parse_size)]
    memory: Option<u64>,
    /// Maximum number of processes and threads.
    #[arg(long, value_parser = parse_pids)]
    pids: Option<u64>,
    /// CPU limit in CPUs, e.g. 0.5 or 2.
    #[arg(long, value_parser = parse_cpus)]
    cpus: Option<spec::CpuQuota>,
    /// Network: a private namespace with only lo, the host's, or auto (its own network).
    #[arg(long, value_enum, default_value = "none")]
    net: NetMode,
    #[command(flatten)]
    net_opt: net::NetOpt,
    /// Run in a user namespace: root inside is an unprivileged uid outside (host ids from
    /// --userns-base, 65536 of them).
    #[arg(long)]
    userns: bool,
    /// First host id of the --userns range.
    #[arg(long, default_value_t = 2_000_000_000, requires = "userns")]
    userns_base: u32,
    /// Seccomp profile.
    #[arg(long, default_value = "default", value_parser = parse_seccomp)]
    seccomp: SeccompProfile,
    /// Environment variable KEY=VALUE (repeatable).
    #[arg(long = "env", short = 'e')]
    env: Vec<String>,
    /// Working directory inside the container.
    #[arg(long, short = 'w', default_value = "/")]
    workdir: PathBuf,
    /// UID[:GID] to run as inside the container.
    #[arg(long, short = 'u', value_parser = parse_user)]
    user: Option<(u32, u32)>,
    /// Bind mount HOST:CONTAINER[:ro] (repeatable).
    #[arg(long = "volume", short = 'v')]
    volumes: Vec<String>,
    /// Mount the root file system read-only.
    #[arg(long)]
    read_only: bool,
    /// Add a capability to the default set (repeatable; ALL for every capability).
    #[arg(long)]
    cap_add: Vec<String>,
    /// Drop a capability from the set (repeatable).
    #[arg(long)]
    cap_drop: Vec<String>,
    /// Command and arguments.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

fn parse_seccomp(s: &str) -> Result<SeccompProfile, String> {
    s.parse()
        .map_err(|e: hoody::core::seccomp::SeccompError| e.to_string())
}

fn parse_user(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("invalid user {s:?}: expected UID or UID:GID (numbers)");
    let (u, g) = s.split_once(':').unwrap_or((s, s));
    Ok((u.parse().map_err(|_| bad())?, g.parse().map_err(|_| bad())?))
}

fn build_spec(a: &RunArgs) -> anyhow::Result<ContainerSpec> {
    let mut b = ContainerSpec::builder(&a.rootfs)
        .args(a.command.iter().cloned())
        .seccomp(a.seccomp.clone())
        .cwd(&a.workdir)
        .readonly_rootfs(a.read_only)
        .kill_on_parent_death(true);
    if let Some(id) = &a.id {
        b = b.id(id);
    }
    if let Some(h) = &a.hostname {
        b = b.hostname(h);
    }
    if let Some(m) = a.memory {
        b = b.memory_limit(m);
    }
    if let Some(p) = a.pids {
        b = b.pids_limit(p);
    }
    if let Some(q) = a.cpus {
        b = b.cpu_quota(q);
    }
    if a.net == NetMode::Host {
        b = b.host_network();
    }
    if a.userns {
        b = b.user_namespace(a.userns_base, 65_536);
    }
    for kv in &a.env {
        b = b.env_pair(kv);
    }
    if let Some((u, g)) = a.user {
        b = b.user(u, g);
    }
    for v in &a.volumes {
        let parts: Vec<&str> = v.split(':').collect();
        let (src, dst, ro) = match parts.as_slice() {
            [s, d] => (*s, *d, false),
            [s, d, "ro"] => (*s, *d, true),
            [s, d, "rw"] => (*s, *d, false),
            _ => anyhow::bail!("invalid volume {v:?}: expected HOST:CONTAINER[:ro]"),
        };
        b = b.bind(src, dst, ro);
    }
    let mut caps = CapabilitySet::default_set();
    for c in &a.cap_add {
        caps = if c.eq_ignore_ascii_case("all") {
            CapabilitySet::all()
        } else {
            caps.with(c)?
        };
    }
    for c in &a.cap_drop {
        caps = caps.without(c)?;
    }
    Ok(b.capabilities(caps).build()?)
}

fn run(a: &RunArgs) -> ExitCode {
    let mut spec = match build_spec(a) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hoody: {e:#}");
            return ExitCode::from(EXIT_HOODY_ERROR);
        }
    };
    // Dropped after the container exits: tears its network down.
    let _network = match a.net {
        NetMode::Auto => match net::AutoNetwork::setup(&a.net_opt, &mut spec) {
            Ok(n) => Some(n),
            Err(e) => {
                eprintln!("hoody: {e:#}");
                return ExitCode::from(EXIT_HOODY_ERROR);
            }
        },
        _ => None,
    };
    match foreground::run(&spec) {
        Ok(status) => {
            if status.oom_killed {
                eprintln!(
                    "hoody: container {} was killed by the OOM killer (memory limit {})",
                    spec.id,
                    spec.limits
                        .memory
                        .map_or("none".into(), |m| format!("{} MiB", m >> 20))
                );
            }
            ExitCode::from(status.shell_code().clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("hoody: {e}");
            ExitCode::from(e.shell_exit_code())
        }
    }
}

fn main() -> ExitCode {
    // Like every Unix tool: a closed pipe ends us quietly (`hoody containers list | head`)
    // instead of a panic on the next write.
    hoody::sys::process::default_sigpipe();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Run(a) => return run(a),
        Command::Net { opt, cmd } => net::net(opt, cmd),
        Command::Machine { opt, cmd } => machine::machine(opt, cmd),
        Command::Pool { opt, cmd } => storage::pool(opt, cmd),
        Command::Image { opt, cmd } => storage::image(opt, cmd),
        Command::Rootfs { opt, cmd } => storage::rootfs(opt, cmd),
        Command::Snapshot { opt, cmd } => storage::snapshot(opt, cmd),
        Command::Send { opt, args } => storage::send(opt, args),
        Command::Receive { opt, args } => storage::receive(opt, args),
        Command::Containers { api, cmd } => return api_cli::containers(&cli.api, api, cmd),
        Command::Snapshots { api, cmd } => return snapshots_cli::snapshots(&cli.api, api, cmd),
        Command::Projects { api, cmd } => return api_cli::projects(&cli.api, api, cmd),
        Command::Tokens { api, cmd } => return tokens_cli::tokens(&cli.api, api, cmd),
        Command::Proxy { api, cmd } => return proxy_cli::proxy(&cli.api, api, cmd),
        Command::Terminal { api, cmd } => return kit_cli::terminal(&cli.api, api, cmd),
        Command::Files { api, cmd } => return kit_cli::files(&cli.api, api, cmd),
        Command::Db { api, cmd } => return kit_cli::db(&cli.api, api, cmd),
        Command::Servers { api, cmd } => return servers_cli::servers(&cli.api, api, cmd),
        Command::Network { api, cmd } => return network_cli::network(&cli.api, api, cmd),
        Command::Realms { api, cmd } => return servers_cli::realms(&cli.api, api, cmd),
        Command::Firewall { api, cmd } => return network_cli::firewall(&cli.api, api, cmd),
        Command::Events { api } => return api_cli::events(&cli.api, api),
        Command::Completions { shell } => {
            return api_cli::completions(*shell, &mut Cli::command());
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("hoody: {e:#}");
        ExitCode::FAILURE
    })
}
