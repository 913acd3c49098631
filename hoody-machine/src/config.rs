//! A machine's persistent configuration, its paths, and the container spec it boots with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoody_core::spec::IdMap;
use hoody_core::{CapabilitySet, ContainerSpec, SeccompProfile};
use serde::{Deserialize, Serialize};

use crate::MachineError;

/// First host id handed out to machines.
pub const ID_RANGE_BASE: u32 = 524_288;
/// Ids per machine.
pub const ID_RANGE_SIZE: u32 = 65_536;

/// What a machine is (persisted as `<pool>/machines/<name>/config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineConfig {
    /// Machine name (also its root file system's name in the pool, its hostname and its
    /// cgroup's name).
    pub name: String,
    /// 24 lowercase hex digits.
    pub id: String,
    /// 32 lowercase hex digits: `/etc/machine-id` and `container_uuid`.
    pub machine_id: String,
    /// The image it was created from.
    pub image: String,
    /// First host uid/gid of its 65,536-id range (`None`: privileged, no user namespace).
    pub id_range_start: Option<u32>,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// CPU limit in CPUs.
    pub cpus: Option<f64>,
    /// Process limit.
    pub pids: Option<u64>,
    /// Opted into KSM page merging.
    #[serde(default)]
    pub ksm: bool,
    /// Has its own network (a routed veth and an address from hoody-net, NAT to the world);
    /// without, only a loopback interface.
    #[serde(default = "yes")]
    pub network: bool,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// Its hostname (default: its name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Environment variables every service inside gets (systemd's `DefaultEnvironment`,
    /// from a file on the machine's `/run`, so the user's `/etc` stays theirs). Applied at
    /// boot.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Runs hoody's Kit (`hoody-kit.service`, from the host's binary bound read-only on the
    /// machine's `/run`).
    #[serde(default)]
    pub kit: bool,
    /// A host directory (on a RAM-backed file system) bound read-write at `/ramdisk`, made at
    /// boot if missing and owned by the machine's root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk: Option<PathBuf>,
    /// Another, shared with other machines, bound at `/ramdisk/project`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk_project: Option<PathBuf>,
    /// An nft script the monitor runs in the machine's network namespace when it makes the
    /// network, before the machine boots (its firewall, kept by its manager).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<String>,
    /// `/dev/kvm` passed through (see [`crate::devices`]); the boot fails on a host without it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kvm: bool,
    /// Its egress network (see [`crate::egress`]): started by the monitor with the network,
    /// before the machine boots; `None`, egress is direct.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<hoody_net::egress::EgressConfig>,
}

/// Where a machine's ramdisk appears inside.
pub const RAMDISK_PATH: &str = "/ramdisk";
/// Where the shared one appears inside.
pub const RAMDISK_PROJECT_PATH: &str = "/ramdisk/project";

/// Makes the machine's ramdisk directories if missing: owned by its root (the first id of its
/// range), mode 1777 like `/tmp` so that every user inside may use them.
pub fn prepare_ramdisk(cfg: &MachineConfig) -> Result<(), MachineError> {
    let owner = cfg.id_range_start.unwrap_or(0);
    for dir in [&cfg.ramdisk, &cfg.ramdisk_project].into_iter().flatten() {
        if dir.is_dir() {
            continue;
        }
        let fail = |what: &str, e: std::io::Error| MachineError::Start {
            name: cfg.name.clone(),
            message: format!("{what} the ramdisk {}: {e}", dir.display()),
        };
        std::fs::create_dir_all(dir).map_err(|e| fail("create", e))?;
        std::os::unix::fs::chown(dir, Some(owner), Some(owner)).map_err(|e| fail("chown", e))?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o1777))
            .map_err(|e| fail("chmod", e))?;
    }
    Ok(())
}

/// The capabilities a machine's root keeps: systemd-nspawn's default set plus
/// `CAP_NET_ADMIN` (its network namespace is its own). Not kept: `CAP_SYS_MODULE`,
/// `CAP_SYS_RAWIO`, `CAP_SYS_TIME`, `CAP_SYS_PACCT`, `CAP_IPC_LOCK` and the rest, which either
/// reach the host or make systemd start units that cannot work in a container (the kernel
/// debug and tracing mounts check for `CAP_SYS_RAWIO`, module loading for `CAP_SYS_MODULE`).
pub const MACHINE_CAPABILITIES: &[&str] = &[
    "CAP_AUDIT_CONTROL",
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_IPC_OWNER",
    "CAP_KILL",
    "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE",
    "CAP_MKNOD",
    "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_RAW",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT",
    "CAP_SYS_NICE",
    "CAP_SYS_PTRACE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TTY_CONFIG",
];

fn yes() -> bool {
    true
}

/// A machine's network, as the monitor set it up.
#[derive(Debug, Clone)]
pub struct NetPlan {
    /// The network namespace file PID 1 joins.
    pub netns: PathBuf,
    /// The resolv.conf to bind on `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
}

/// Where a machine's files are.
#[derive(Debug, Clone)]
pub struct MachinePaths {
    /// `<pool>/machines/<name>`: config, console log, last exit status.
    pub state: PathBuf,
    /// `<run>/<name>`: the monitor's control socket, the notify socket, runtime state.
    pub run: PathBuf,
}

impl MachinePaths {
    /// The config file.
    pub fn config(&self) -> PathBuf {
        self.state.join("config.json")
    }
    /// The console log.
    pub fn console_log(&self) -> PathBuf {
        self.state.join("console.log")
    }
    /// The last exit status.
    pub fn exit(&self) -> PathBuf {
        self.state.join("exit.json")
    }
    /// The monitor's control socket.
    pub fn control_socket(&self) -> PathBuf {
        self.run.join("monitor.sock")
    }
    /// The sd_notify socket PID 1 reports READY=1 to.
    pub fn notify_socket(&self) -> PathBuf {
        self.run.join("notify.sock")
    }
}

/// The container spec a machine boots with.
pub fn boot_spec(
    cfg: &MachineConfig,
    rootfs: &Path,
    paths: &MachinePaths,
    net: Option<&NetPlan>,
    kit_exe: Option<&Path>,
    kvm_node: Option<&Path>,
) -> Result<ContainerSpec, MachineError> {
    let uuid = &cfg.machine_id;
    let container_uuid = format!(
        "{}-{}-{}-{}-{}",
        &uuid[0..8],
        &uuid[8..12],
        &uuid[12..16],
        &uuid[16..20],
        &uuid[20..32]
    );
    let hostname: String = cfg
        .hostname
        .as_deref()
        .unwrap_or(&cfg.name)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut b = ContainerSpec::builder(rootfs)
        .id(&cfg.name)
        .hostname(hostname)
        .arg("/sbin/init")
        .env("container", "hoody")
        .env("container_uuid", &container_uuid)
        .env("NOTIFY_SOCKET", "/run/host/notify")
        .console(true)
        .cgroup_delegation(true)
        .capabilities(CapabilitySet::from_names(MACHINE_CAPABILITIES)?)
        .seccomp(SeccompProfile::Default)
        .tmpfs("/run", None)
        .tmpfs("/run/lock", Some(5 << 20))
        .bind("/etc/os-release", "/run/host/os-release", true)
        .bind(paths.notify_socket(), "/run/host/notify", false)
        .file("/run/host/container-manager", "hoody\n")
        .readwrite_path("/proc/sys/net");
    if !cfg.env.is_empty() {
        b = b.file(ENV_DROP_IN, default_environment(&cfg.env));
    }
    if cfg.kit {
        let exe = kit_exe.ok_or_else(|| MachineError::Start {
            name: cfg.name.clone(),
            message: "the machine runs the Kit but no hoody-kit binary was given".into(),
        })?;
        b = b
            .bind(exe, KIT_EXE, true)
            .file(KIT_UNIT_PATH, KIT_UNIT)
            .file(KIT_WANTS_PATH, "[Unit]\nWants=hoody-kit.service\n");
        // The hoody CLI beside the Kit's binary, on the machine's PATH: code inside calls
        // api.{domain} and the Kit URLs through the proxy like everyone else.
        let cli = exe.with_file_name("hoody");
        if cli.is_file() {
            b = b.bind(cli, CLI_PATH, true);
            for lib in CLI_LIBS {
                if let Some(found) = host_library(lib) {
                    b = b.bind(found, Path::new(CLI_LIB_DIR).join(lib), true);
                }
            }
        }
    }
    if let Some(node) = kvm_node {
        b = b.device(node, "kvm");
    }
    if let Some(dir) = &cfg.ramdisk {
        b = b.bind(dir, RAMDISK_PATH, false);
        if let Some(shared) = &cfg.ramdisk_project {
            b = b.bind(shared, RAMDISK_PROJECT_PATH, false);
        }
    }
    if let Some(n) = net {
        b = b
            .join_network(&n.netns)
            .bind(&n.resolv_conf, "/etc/resolv.conf", true);
    }
    if let Some(start) = cfg.id_range_start {
        b = b.id_maps(
            vec![IdMap::range(start, ID_RANGE_SIZE)],
            vec![IdMap::range(start, ID_RANGE_SIZE)],
        );
        b = b.idmapped_rootfs(true);
    }
    if let Some(m) = cfg.memory {
        b = b.memory_limit(m);
    }
    if let Some(c) = cfg.cpus {
        b = b.cpu_quota(hoody_core::CpuQuota::from_cpus(c)?);
    }
    if let Some(p) = cfg.pids {
        b = b.pids_limit(p);
    }
    Ok(b.ksm(cfg.ksm).build()?)
}

/// Where the host's `hoody-kit` binary appears inside a machine (read-only bind mount on the
/// machine's own `/run` tmpfs: nothing is written to the user's file system).
pub const KIT_EXE: &str = "/run/hoody/kit/hoody-kit";

/// Where the host's `hoody` CLI (the file `hoody` beside the Kit's binary) appears inside a
/// machine with the Kit, read-only. The bind needs a mount point: an empty file is made
/// there once if the machine has none.
pub const CLI_PATH: &str = "/usr/local/bin/hoody";

/// Where the libraries the CLI needs beyond glibc appear inside (the CLI's run path; see
/// bins/hoody/build.rs).
pub const CLI_LIB_DIR: &str = "/run/hoody/kit/lib";

/// The libraries the CLI links that a container's Debian need not have.
const CLI_LIBS: &[&str] = &["libbtrfsutil.so.1"];

/// The host's copy of shared library `name`, from the usual library directories.
fn host_library(name: &str) -> Option<PathBuf> {
    [
        "/lib/x86_64-linux-gnu",
        "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/lib64",
        "/usr/lib64",
        "/usr/lib",
    ]
    .iter()
    .map(|d| Path::new(d).join(name))
    .find(|p| p.exists())
    .and_then(|p| std::fs::canonicalize(p).ok())
}

/// The Kit's runtime unit (`/run/systemd/system` is in systemd's unit search path).
pub const KIT_UNIT_PATH: &str = "/run/systemd/system/hoody-kit.service";

/// A `multi-user.target` drop-in that pulls the Kit in (a drop-in, not a `.wants` symlink:
/// the spec writes plain files).
pub const KIT_WANTS_PATH: &str = "/run/systemd/system/multi-user.target.d/50-hoody-kit.conf";

/// The Kit's unit. Early and light: no default dependencies (it needs only the local file
/// systems, and binds `0.0.0.0`, so it need not wait for the network, which hoody configured
/// before PID 1 started), `Type=notify` (ready once every port is bound) and ordered before
/// `multi-user.target`, so the machine reports ready only when its Kit answers.
pub const KIT_UNIT: &str = "\
[Unit]
Description=hoody Kit (terminal, files, exec, sqlite)
DefaultDependencies=no
After=local-fs.target
Before=multi-user.target shutdown.target
Conflicts=shutdown.target

[Service]
Type=notify
ExecStart=/run/hoody/kit/hoody-kit
Restart=always
RestartSec=500ms
Environment=HOME=/root
LimitNOFILE=65536
WorkingDirectory=/root
";

/// Where a machine's environment variables are given to its systemd.
pub const ENV_DROP_IN: &str = "/run/systemd/system.conf.d/50-hoody-env.conf";

/// A `system.conf` drop-in setting `DefaultEnvironment=` to `env` (each assignment quoted,
/// `"` and `\` escaped, as systemd's config parser unquotes them).
pub fn default_environment(env: &BTreeMap<String, String>) -> String {
    let mut line = String::from("[Manager]\nDefaultEnvironment=");
    for (i, (k, v)) in env.iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push('"');
        for c in format!("{k}={v}").chars() {
            match c {
                '"' | '\\' => {
                    line.push('\\');
                    line.push(c);
                }
                '\n' => line.push_str("\\n"),
                c => line.push(c),
            }
        }
        line.push('"');
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_environment_quotes_values() {
        let env = BTreeMap::from([
            ("A".to_string(), "plain".to_string()),
            ("B".to_string(), "with space \"q\" \\".to_string()),
        ]);
        assert_eq!(
            default_environment(&env),
            "[Manager]\nDefaultEnvironment=\"A=plain\" \"B=with space \\\"q\\\" \\\\\"\n"
        );
    }
}
