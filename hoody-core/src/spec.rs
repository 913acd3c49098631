//! [`ContainerSpec`]: everything needed to start an isolated process tree, and its builder.
//!
//! A spec is plain data, validated once by [`ContainerSpecBuilder::build`]; spawning it does
//! not re-check what the builder already guaranteed.

use std::path::{Path, PathBuf};

use crate::caps::CapabilitySet;
use crate::seccomp::SeccompProfile;

/// An invalid spec, naming the offending field and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// No command was given.
    #[error("the container needs a command to run (args is empty)")]
    NoCommand,
    /// The container id cannot name a cgroup.
    #[error(
        "invalid container id {0:?}: use 1-64 characters from [A-Za-z0-9_.-], not starting with '.'"
    )]
    InvalidId(String),
    /// The hostname is not a valid host name.
    #[error("invalid hostname {0:?}: 1-64 characters, letters, digits, '-' and '.'")]
    InvalidHostname(String),
    /// A device name is not one file name under `/dev`.
    #[error("invalid device name {0:?}: one file name under /dev")]
    InvalidDevice(String),
    /// An environment variable is malformed.
    #[error("invalid environment variable {0:?}: expected KEY=VALUE with a non-empty KEY")]
    InvalidEnv(String),
    /// A value contains a NUL byte.
    #[error("{field} contains a NUL byte: {value:?}")]
    Nul {
        /// The field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// A size string could not be parsed.
    #[error("invalid size {0:?}: expected bytes with an optional K, M, G or T suffix (e.g. 512M)")]
    InvalidSize(String),
    /// A CPU limit could not be parsed or is out of range.
    #[error("invalid cpu limit {0:?}: expected a positive number of CPUs such as 0.5 or 2")]
    InvalidCpus(String),
    /// A pids limit is out of range.
    #[error("invalid pids limit {0:?}: expected a positive integer")]
    InvalidPids(String),
    /// The cpu weight is outside 1..=10000.
    #[error("invalid cpu weight {0}: expected 1..=10000")]
    InvalidCpuWeight(u64),
    /// A path that must be absolute is not.
    #[error("{field} must be an absolute path, got {path}")]
    NotAbsolute {
        /// The field.
        field: &'static str,
        /// The path.
        path: PathBuf,
    },
    /// A user namespace was asked for without id maps, or maps without a user namespace.
    #[error("{0}")]
    UserNamespace(&'static str),
    /// Two options that do not go together.
    #[error("{0}")]
    Conflict(&'static str),
    /// A capability name is unknown.
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    /// The mount namespace cannot be turned off: the rootfs is entered with pivot_root.
    #[error("the mount namespace is required (pivot_root into the rootfs needs it)")]
    MountNamespaceRequired,
    /// `join_network` was set together with the host's network.
    #[error(
        "join_network {0} needs the network namespace option on (it replaces the new namespace; the host network has none)"
    )]
    JoinNetworkWithHostNetwork(PathBuf),
}

/// The set of namespaces a container gets. The mount namespace is always on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    /// Mount namespace (required).
    pub mount: bool,
    /// PID namespace: the command is PID 1.
    pub pid: bool,
    /// UTS namespace: own hostname.
    pub uts: bool,
    /// IPC namespace: own SysV IPC and POSIX message queues.
    pub ipc: bool,
    /// Network namespace: own network stack (only `lo` until hoody-net adds interfaces).
    pub net: bool,
    /// Cgroup namespace: `/proc/self/cgroup` shows the container's group as `/`.
    pub cgroup: bool,
    /// User namespace: root inside is an unprivileged id outside (needs id maps).
    pub user: bool,
}

impl Namespaces {
    /// mount, pid, uts, ipc, net and cgroup; no user namespace.
    pub const ALL_BUT_USER: Namespaces = Namespaces {
        mount: true,
        pid: true,
        uts: true,
        ipc: true,
        net: true,
        cgroup: true,
        user: false,
    };

    /// The `CLONE_NEW*` flags for these namespaces.
    pub fn clone_flags(&self) -> u64 {
        let mut f = 0;
        let mut add = |on: bool, flag: libc::c_int| {
            if on {
                f |= flag as u64;
            }
        };
        add(self.mount, libc::CLONE_NEWNS);
        add(self.pid, libc::CLONE_NEWPID);
        add(self.uts, libc::CLONE_NEWUTS);
        add(self.ipc, libc::CLONE_NEWIPC);
        add(self.net, libc::CLONE_NEWNET);
        add(self.cgroup, libc::CLONE_NEWCGROUP);
        add(self.user, libc::CLONE_NEWUSER);
        f
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces::ALL_BUT_USER
    }
}

/// One line of a uid or gid map: `size` ids starting at `container_id` inside map to ids
/// starting at `host_id` outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdMap {
    /// First id inside the container.
    pub container_id: u32,
    /// First id on the host.
    pub host_id: u32,
    /// Number of ids.
    pub size: u32,
}

impl IdMap {
    /// Maps container ids `0..size` to host ids `host_start..host_start+size`.
    pub fn range(host_start: u32, size: u32) -> Self {
        IdMap {
            container_id: 0,
            host_id: host_start,
            size,
        }
    }

    /// Whether `id` inside the container is covered by this map line.
    pub fn contains(&self, id: u32) -> bool {
        id >= self.container_id && (id - self.container_id) < self.size
    }
}

/// What the container's stdin, stdout and stderr are connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// The caller's own stdin/stdout/stderr.
    #[default]
    Inherit,
    /// `/dev/null` (the host's, opened before entering the container).
    Null,
    /// Three pipes; the [`Container`](crate::Container) hands out the parent ends.
    Piped,
    /// A new pseudo-terminal: the container gets the slave as stdio and controlling terminal,
    /// the [`Container`](crate::Container) hands out the master.
    Pty,
}

/// The kind of an extra mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// Bind-mount a host path (recursively).
    Bind {
        /// Host path to bind.
        source: PathBuf,
    },
    /// A fresh tmpfs.
    Tmpfs {
        /// Size limit in bytes (`None`: the kernel default, half of RAM).
        size: Option<u64>,
        /// Mode of the tmpfs root, e.g. `0o1777`.
        mode: u32,
    },
}

/// An extra mount inside the container, applied after the standard ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What to mount.
    pub kind: MountKind,
    /// Absolute path inside the container.
    pub destination: PathBuf,
    /// Mount read-only.
    pub readonly: bool,
}

/// Cgroup limits. `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// CPU bandwidth: `quota_us` of CPU time per `period_us`.
    pub cpu_quota: Option<CpuQuota>,
    /// CPU weight, 1..=10000 (cgroup v2 semantics; converted to shares on v1).
    pub cpu_weight: Option<u64>,
    /// Maximum number of processes and threads.
    pub pids: Option<u64>,
}

/// CPU bandwidth limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuQuota {
    /// Microseconds of CPU time allowed per period.
    pub quota_us: u64,
    /// Period length in microseconds.
    pub period_us: u64,
}

impl CpuQuota {
    /// The default period: 100 ms.
    pub const DEFAULT_PERIOD_US: u64 = 100_000;

    /// A quota of `cpus` CPUs (e.g. 0.5 or 2) over the default period.
    pub fn from_cpus(cpus: f64) -> Result<Self, SpecError> {
        if !cpus.is_finite() || cpus <= 0.0 || cpus > 100_000.0 {
            return Err(SpecError::InvalidCpus(cpus.to_string()));
        }
        let quota_us = (cpus * Self::DEFAULT_PERIOD_US as f64).round() as u64;
        // The kernel refuses quotas under 1 ms.
        Ok(CpuQuota {
            quota_us: quota_us.max(1000),
            period_us: Self::DEFAULT_PERIOD_US,
        })
    }
}

/// A resource limit set with `setrlimit` before exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimit {
    /// One of the `libc::RLIMIT_*` constants.
    pub resource: u32,
    /// Soft limit.
    pub soft: u64,
    /// Hard limit.
    pub hard: u64,
}

/// Everything needed to start a container. Build one with [`ContainerSpec::builder`].
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// Container id: names the cgroup. Defaults to `hoody-<random>`.
    pub id: String,
    /// Root filesystem directory on the host.
    pub rootfs: PathBuf,
    /// Mount the rootfs read-only.
    pub readonly_rootfs: bool,
    /// Hostname inside (needs the UTS namespace). Defaults to the id.
    pub hostname: Option<String>,
    /// Command and arguments. A command without '/' is searched in the container's `PATH`.
    pub args: Vec<String>,
    /// Environment as `KEY=VALUE` strings. `PATH` gets a default if missing.
    pub env: Vec<String>,
    /// Working directory inside.
    pub cwd: PathBuf,
    /// User id inside.
    pub uid: u32,
    /// Group id inside.
    pub gid: u32,
    /// Supplementary groups inside.
    pub additional_gids: Vec<u32>,
    /// Standard streams.
    pub stdio: Stdio,
    /// Namespaces.
    pub namespaces: Namespaces,
    /// uid map (user namespace only).
    pub uid_map: Vec<IdMap>,
    /// gid map (user namespace only).
    pub gid_map: Vec<IdMap>,
    /// Extra mounts after the standard ones.
    pub mounts: Vec<Mount>,
    /// Capabilities the process keeps (bounding, permitted, effective, inheritable; ambient
    /// too for a non-root uid).
    pub capabilities: CapabilitySet,
    /// Seccomp profile.
    pub seccomp: SeccompProfile,
    /// Cgroup limits.
    pub limits: Limits,
    /// Resource limits.
    pub rlimits: Vec<Rlimit>,
    /// Set `PR_SET_NO_NEW_PRIVS` (setuid binaries and file capabilities stop working).
    pub no_new_privs: bool,
    /// Paths hidden from the container (a file gets `/dev/null` bound over it, a directory an
    /// empty read-only tmpfs).
    pub masked_paths: Vec<PathBuf>,
    /// Paths made read-only.
    pub readonly_paths: Vec<PathBuf>,
    /// Kill the container's PID 1 when the thread that spawned it exits (`PR_SET_PDEATHSIG`).
    pub kill_on_parent_death: bool,
    /// Join this existing network namespace (a file such as `/run/netns/NAME`, as hoody-net
    /// creates them, or `/proc/PID/ns/net`) instead of creating a new one. Needs
    /// `namespaces.net` (the joined namespace takes the new one's place). The spawning thread
    /// enters it just for the clone, so the container's first process starts inside it even
    /// with a user namespace; the namespace stays owned by the host's user namespace, so root
    /// in a user-namespaced container cannot reconfigure its interfaces. `lo` is not touched
    /// (the namespace's owner brought it up).
    pub join_network: Option<PathBuf>,
    /// With a user namespace: give the container its rootfs through an idmapped mount (files
    /// owned by uid 0 on disk are root inside), instead of requiring a rootfs chowned to the
    /// id range. Snapshots stay unshifted and portable.
    pub idmapped_rootfs: bool,
    /// Mount cgroup2 at `/sys/fs/cgroup` inside (needs the cgroup namespace) and delegate the
    /// container's cgroup2 group to its root user, as systemd's container interface asks.
    pub cgroup_delegation: bool,
    /// With [`Stdio::Pty`]: the pty is also the container's `/dev/console`.
    pub console: bool,
    /// Files written inside the container after the mounts (path inside, content).
    pub files: Vec<(PathBuf, Vec<u8>)>,
    /// Paths made writable again after the read-only paths (e.g. `/proc/sys/net`, which the
    /// container's own network namespace makes safe).
    pub readwrite_paths: Vec<PathBuf>,
    /// Let the kernel merge identical pages of every process in the container
    /// (`prctl(PR_SET_MEMORY_MERGE)`, Linux 6.4+; inherited by children, kept across exec).
    /// Takes effect when the host runs KSM (`/sys/kernel/mm/ksm/run` = 1).
    pub ksm: bool,
    /// Device nodes of the host bound into the container's `/dev` beside the standard ones:
    /// (node on the host, name under `/dev`). The node's owner and mode on the host decide
    /// who inside may open it (make one owned by the container's root for a user namespace).
    pub devices: Vec<(PathBuf, String)>,
}

/// Names under `/dev` the standard setup uses (not available to [`ContainerSpec::devices`]).
const DEVICE_NAMES_TAKEN: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "tty", "console", "pts", "ptmx", "shm", "mqueue",
    "fd", "stdin", "stdout", "stderr",
];

/// Paths masked by default (the OCI runtime-spec defaults, with /proc/sysrq-trigger masked
/// rather than read-only).
pub const DEFAULT_MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/sysrq-trigger",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths read-only by default.
pub const DEFAULT_READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"];

/// The `PATH` a container gets when its environment has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl ContainerSpec {
    /// Starts a builder for a container rooted at `rootfs`.
    pub fn builder(rootfs: impl Into<PathBuf>) -> ContainerSpecBuilder {
        ContainerSpecBuilder::new(rootfs.into())
    }

    /// The value of `KEY` in the spec's environment.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        self.env.iter().rev().find_map(|kv| {
            kv.split_once('=')
                .filter(|(k, _)| *k == key)
                .map(|(_, v)| v)
        })
    }
}

/// Builder for [`ContainerSpec`]; [`build`](Self::build) validates.
#[derive(Debug, Clone)]
pub struct ContainerSpecBuilder {
    spec: ContainerSpec,
}

impl ContainerSpecBuilder {
    fn new(rootfs: PathBuf) -> Self {
        ContainerSpecBuilder {
            spec: ContainerSpec {
                id: random_id("hoody-"),
                rootfs,
                readonly_rootfs: false,
                hostname: None,
                args: Vec::new(),
                env: Vec::new(),
                cwd: PathBuf::from("/"),
                uid: 0,
                gid: 0,
                additional_gids: Vec::new(),
                stdio: Stdio::Inherit,
                namespaces: Namespaces::default(),
                uid_map: Vec::new(),
                gid_map: Vec::new(),
                mounts: Vec::new(),
                capabilities: CapabilitySet::default_set(),
                seccomp: SeccompProfile::Default,
                limits: Limits::default(),
                rlimits: Vec::new(),
                no_new_privs: false,
                masked_paths: DEFAULT_MASKED_PATHS.iter().map(PathBuf::from).collect(),
                readonly_paths: DEFAULT_READONLY_PATHS.iter().map(PathBuf::from).collect(),
                kill_on_parent_death: false,
                join_network: None,
                idmapped_rootfs: false,
                cgroup_delegation: false,
                console: false,
                files: Vec::new(),
                readwrite_paths: Vec::new(),
                ksm: false,
                devices: Vec::new(),
            },
        }
    }

    /// Container id (names the cgroup).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.spec.id = id.into();
        self
    }

    /// Mounts the rootfs read-only.
    pub fn readonly_rootfs(mut self, ro: bool) -> Self {
        self.spec.readonly_rootfs = ro;
        self
    }

    /// Hostname inside the container.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.spec.hostname = Some(hostname.into());
        self
    }

    /// Appends one argument (the first is the command).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.spec.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.spec.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.spec
            .env
            .push(format!("{}={}", key.as_ref(), value.as_ref()));
        self
    }

    /// Adds a `KEY=VALUE` environment entry (validated by `build`).
    pub fn env_pair(mut self, kv: impl Into<String>) -> Self {
        self.spec.env.push(kv.into());
        self
    }

    /// Working directory inside the container.
    pub fn cwd(mut self, cwd: impl Into<PathBuf>) -> Self {
        self.spec.cwd = cwd.into();
        self
    }

    /// User and group inside the container.
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.spec.uid = uid;
        self.spec.gid = gid;
        self
    }

    /// Supplementary groups.
    pub fn additional_gids(mut self, gids: Vec<u32>) -> Self {
        self.spec.additional_gids = gids;
        self
    }

    /// Standard streams.
    pub fn stdio(mut self, stdio: Stdio) -> Self {
        self.spec.stdio = stdio;
        self
    }

    /// Namespaces.
    pub fn namespaces(mut self, ns: Namespaces) -> Self {
        self.spec.namespaces = ns;
        self
    }

    /// Gives the rootfs through an idmapped mount (see [`ContainerSpec::idmapped_rootfs`]).
    pub fn idmapped_rootfs(mut self, on: bool) -> Self {
        self.spec.idmapped_rootfs = on;
        self
    }

    /// Mounts and delegates the cgroup2 subtree (see [`ContainerSpec::cgroup_delegation`]).
    pub fn cgroup_delegation(mut self, on: bool) -> Self {
        self.spec.cgroup_delegation = on;
        self
    }

    /// Makes the pty the container's `/dev/console` (sets [`Stdio::Pty`]).
    pub fn console(mut self, on: bool) -> Self {
        self.spec.console = on;
        if on {
            self.spec.stdio = Stdio::Pty;
        }
        self
    }

    /// Writes a file inside the container (after the mounts).
    pub fn file(mut self, path: impl Into<PathBuf>, content: impl Into<Vec<u8>>) -> Self {
        self.spec.files.push((path.into(), content.into()));
        self
    }

    /// Makes a path writable again after the read-only paths.
    pub fn readwrite_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.spec.readwrite_paths.push(path.into());
        self
    }

    /// Opts the container into KSM page merging (see [`ContainerSpec::ksm`]).
    pub fn ksm(mut self, on: bool) -> Self {
        self.spec.ksm = on;
        self
    }

    /// Binds the host's device node `source` at `/dev/{name}` (see
    /// [`ContainerSpec::devices`]).
    pub fn device(mut self, source: impl Into<PathBuf>, name: impl Into<String>) -> Self {
        self.spec.devices.push((source.into(), name.into()));
        self
    }

    /// Joins an existing network namespace instead of creating one (see
    /// [`ContainerSpec::join_network`]).
    pub fn join_network(mut self, netns: impl Into<PathBuf>) -> Self {
        self.spec.join_network = Some(netns.into());
        self
    }

    /// Shares the host's network stack (no network namespace).
    pub fn host_network(mut self) -> Self {
        self.spec.namespaces.net = false;
        self
    }

    /// Turns on the user namespace with the same map for uids and gids: container ids
    /// `0..size` are host ids `host_start..host_start+size`.
    pub fn user_namespace(mut self, host_start: u32, size: u32) -> Self {
        self.spec.namespaces.user = true;
        self.spec.uid_map = vec![IdMap::range(host_start, size)];
        self.spec.gid_map = vec![IdMap::range(host_start, size)];
        self
    }

    /// Turns on the user namespace with explicit maps.
    pub fn id_maps(mut self, uid_map: Vec<IdMap>, gid_map: Vec<IdMap>) -> Self {
        self.spec.namespaces.user = true;
        self.spec.uid_map = uid_map;
        self.spec.gid_map = gid_map;
        self
    }

    /// Adds a mount.
    pub fn mount(mut self, mount: Mount) -> Self {
        self.spec.mounts.push(mount);
        self
    }

    /// Bind-mounts host `source` at `destination` inside.
    pub fn bind(
        self,
        source: impl Into<PathBuf>,
        destination: impl Into<PathBuf>,
        readonly: bool,
    ) -> Self {
        self.mount(Mount {
            kind: MountKind::Bind {
                source: source.into(),
            },
            destination: destination.into(),
            readonly,
        })
    }

    /// Mounts a tmpfs at `destination`.
    pub fn tmpfs(self, destination: impl Into<PathBuf>, size: Option<u64>) -> Self {
        self.mount(Mount {
            kind: MountKind::Tmpfs { size, mode: 0o1777 },
            destination: destination.into(),
            readonly: false,
        })
    }

    /// Capabilities to keep.
    pub fn capabilities(mut self, caps: CapabilitySet) -> Self {
        self.spec.capabilities = caps;
        self
    }

    /// Seccomp profile.
    pub fn seccomp(mut self, profile: SeccompProfile) -> Self {
        self.spec.seccomp = profile;
        self
    }

    /// Cgroup limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.spec.limits = limits;
        self
    }

    /// Memory limit in bytes.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.spec.limits.memory = Some(bytes);
        self
    }

    /// Process limit.
    pub fn pids_limit(mut self, pids: u64) -> Self {
        self.spec.limits.pids = Some(pids);
        self
    }

    /// CPU bandwidth limit.
    pub fn cpu_quota(mut self, quota: CpuQuota) -> Self {
        self.spec.limits.cpu_quota = Some(quota);
        self
    }

    /// CPU weight (1..=10000).
    pub fn cpu_weight(mut self, weight: u64) -> Self {
        self.spec.limits.cpu_weight = Some(weight);
        self
    }

    /// Adds a resource limit.
    pub fn rlimit(mut self, resource: u32, soft: u64, hard: u64) -> Self {
        self.spec.rlimits.push(Rlimit {
            resource,
            soft,
            hard,
        });
        self
    }

    /// Sets `no_new_privs`.
    pub fn no_new_privs(mut self, on: bool) -> Self {
        self.spec.no_new_privs = on;
        self
    }

    /// Replaces the masked paths.
    pub fn masked_paths(mut self, paths: Vec<PathBuf>) -> Self {
        self.spec.masked_paths = paths;
        self
    }

    /// Replaces the read-only paths.
    pub fn readonly_paths(mut self, paths: Vec<PathBuf>) -> Self {
        self.spec.readonly_paths = paths;
        self
    }

    /// Kills PID 1 when the spawning thread exits.
    pub fn kill_on_parent_death(mut self, on: bool) -> Self {
        self.spec.kill_on_parent_death = on;
        self
    }

    /// Validates and returns the spec.
    pub fn build(self) -> Result<ContainerSpec, SpecError> {
        let mut spec = self.spec;
        if spec.args.is_empty() {
            return Err(SpecError::NoCommand);
        }
        validate_id(&spec.id)?;
        if let Some(h) = &spec.hostname {
            validate_hostname(h)?;
        }
        for (_, name) in &spec.devices {
            if name.is_empty()
                || name.contains('/')
                || name.starts_with('.')
                || DEVICE_NAMES_TAKEN.contains(&name.as_str())
            {
                return Err(SpecError::InvalidDevice(name.clone()));
            }
        }
        for kv in &spec.env {
            match kv.split_once('=') {
                Some((k, _)) if !k.is_empty() => {}
                _ => return Err(SpecError::InvalidEnv(kv.clone())),
            }
        }
        no_nul("args", &spec.args)?;
        no_nul("env", &spec.env)?;
        if !spec.namespaces.mount {
            return Err(SpecError::MountNamespaceRequired);
        }
        absolute("cwd", &spec.cwd)?;
        if let Some(n) = &spec.join_network {
            absolute("join_network", n)?;
            if !spec.namespaces.net {
                return Err(SpecError::JoinNetworkWithHostNetwork(n.clone()));
            }
        }
        for m in &spec.mounts {
            absolute("mount destination", &m.destination)?;
            if let MountKind::Bind { source } = &m.kind {
                absolute("bind mount source", source)?;
            }
        }
        for p in spec.masked_paths.iter().chain(&spec.readonly_paths) {
            absolute("masked/readonly path", p)?;
        }
        if spec.namespaces.user {
            if spec.uid_map.is_empty() || spec.gid_map.is_empty() {
                return Err(SpecError::UserNamespace(
                    "a user namespace needs a uid map and a gid map",
                ));
            }
            if !spec.uid_map.iter().any(|m| m.contains(spec.uid))
                || !spec.gid_map.iter().any(|m| m.contains(spec.gid))
            {
                return Err(SpecError::UserNamespace(
                    "the container's uid and gid must be inside the id maps",
                ));
            }
        } else if !spec.uid_map.is_empty() || !spec.gid_map.is_empty() {
            return Err(SpecError::UserNamespace(
                "id maps were given but the user namespace is off",
            ));
        }
        if spec.idmapped_rootfs && !spec.namespaces.user {
            return Err(SpecError::Conflict(
                "an idmapped rootfs needs the user namespace (it maps through its id map)",
            ));
        }
        if spec.cgroup_delegation && !spec.namespaces.cgroup {
            return Err(SpecError::Conflict(
                "cgroup delegation needs the cgroup namespace",
            ));
        }
        if spec.console && spec.stdio != Stdio::Pty {
            return Err(SpecError::Conflict("a console needs Stdio::Pty"));
        }
        for (p, _) in &spec.files {
            absolute("file path", p)?;
        }
        for p in &spec.readwrite_paths {
            absolute("read-write path", p)?;
        }
        if let Some(w) = spec.limits.cpu_weight
            && !(1..=10_000).contains(&w)
        {
            return Err(SpecError::InvalidCpuWeight(w));
        }
        if spec.limits.pids == Some(0) {
            return Err(SpecError::InvalidPids("0".into()));
        }
        if spec.env_var("PATH").is_none() {
            spec.env.push(format!("PATH={DEFAULT_PATH}"));
        }
        if spec.hostname.is_none() && spec.namespaces.uts {
            let h: String = spec
                .id
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            spec.hostname = Some(h);
        }
        Ok(spec)
    }
}

fn no_nul(field: &'static str, values: &[String]) -> Result<(), SpecError> {
    match values.iter().find(|v| v.contains('\0')) {
        Some(v) => Err(SpecError::Nul {
            field,
            value: v.clone(),
        }),
        None => Ok(()),
    }
}

fn absolute(field: &'static str, p: &Path) -> Result<(), SpecError> {
    if p.is_absolute() {
        Ok(())
    } else {
        Err(SpecError::NotAbsolute {
            field,
            path: p.to_path_buf(),
        })
    }
}

/// Checks that `id` can name a cgroup directory.
pub fn validate_id(id: &str) -> Result<(), SpecError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(SpecError::InvalidId(id.to_string()))
    }
}

fn validate_hostname(h: &str) -> Result<(), SpecError> {
    let ok = !h.is_empty()
        && h.len() <= 64
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(SpecError::InvalidHostname(h.to_string()))
    }
}

/// Parses a size such as `1048576`, `512K`, `512M`, `1.5G`, `2T` (binary units; an optional
/// trailing `B` or `iB` is accepted).
pub fn parse_size(s: &str) -> Result<u64, SpecError> {
    let err = || SpecError::InvalidSize(s.to_string());
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix("ib"))
        .or_else(|| t.strip_suffix('B'))
        .or_else(|| t.strip_suffix('b'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some(c @ ('k' | 'K' | 'm' | 'M' | 'g' | 'G' | 't' | 'T')) => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                _ => 40,
            };
            (&t[..t.len() - 1], 1u64 << shift)
        }
        _ => (t, 1),
    };
    if num.is_empty() {
        return Err(err());
    }
    let bytes = if num.contains('.') {
        let f: f64 = num.parse().map_err(|_| err())?;
        if !f.is_finite() || f <= 0.0 {
            return Err(err());
        }
        (f * mult as f64) as u64
    } else {
        num.parse::<u64>()
            .map_err(|_| err())?
            .checked_mul(mult)
            .ok_or_else(err)?
    };
    if bytes == 0 {
        return Err(err());
    }
    Ok(bytes)
}

/// Parses a CPU count such as `0.5` or `2` into a quota.
pub fn parse_cpus(s: &str) -> Result<CpuQuota, SpecError> {
    let f: f64 = s
        .trim()
        .parse()
        .map_err(|_| SpecError::InvalidCpus(s.to_string()))?;
    CpuQuota::from_cpus(f).map_err(|_| SpecError::InvalidCpus(s.to_string()))
}

/// Parses a pids limit (a positive integer).
pub fn parse_pids(s: &str) -> Result<u64, SpecError> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(SpecError::InvalidPids(s.to_string())),
    }
}

/// A random id `prefix` + 12 hex digits, from the kernel's random source.
pub fn random_id(prefix: &str) -> String {
    // getrandom cannot fail for 6 bytes once the pool is initialised (a seccomp filter could
    // still refuse it); the id only has to be unique among live containers, so fall back to
    // time and pid rather than fail.
    let buf: [u8; 6] = hoody_sys::random::bytes().unwrap_or_else(|_| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mixed = (t as u64) ^ ((std::process::id() as u64) << 32);
        let mut b = [0u8; 6];
        b.copy_from_slice(&mixed.to_le_bytes()[..6]);
        b
    });
    format!("{prefix}{}", hoody_sys::random::to_hex(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("2k"), Ok(2048));
        for bad in [
            "",
            "M",
            "12Q",
            "-1",
            "0",
            "abc",
            "1.5.5G",
            "99999999999999999999T",
        ] {
            assert!(parse_size(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn cpus_parse() {
        assert_eq!(
            parse_cpus("0.5"),
            Ok(CpuQuota {
                quota_us: 50_000,
                period_us: 100_000
            })
        );
        assert_eq!(parse_cpus("2").map(|q| q.quota_us), Ok(200_000));
        assert!(parse_cpus("0").is_err());
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus("lots").is_err());
        assert!(parse_cpus("NaN").is_err());
    }

    #[test]
    fn builder_validates() {
        assert_eq!(
            ContainerSpec::builder("/r").build().err(),
            Some(SpecError::NoCommand)
        );
        assert!(matches!(
            ContainerSpec::builder("/r").arg("x").id("a/b").build(),
            Err(SpecError::InvalidId(_))
        ));
        assert!(matches!(
            ContainerSpec::builder("/r").arg("x").env_pair("=x").build(),
            Err(SpecError::InvalidEnv(_))
        ));
        assert!(matches!(
            ContainerSpec::builder("/r")
                .arg("x")
                .hostname("bad host")
                .build(),
            Err(SpecError::InvalidHostname(_))
        ));
        assert!(matches!(
            ContainerSpec::builder("/r").arg("x").cwd("rel").build(),
            Err(SpecError::NotAbsolute { .. })
        ));
        let spec = ContainerSpec::builder("/r")
            .arg("x")
            .id("hoodytest-abc")
            .build()
            .expect("valid spec");
        assert_eq!(spec.env_var("PATH"), Some(DEFAULT_PATH));
        assert_eq!(spec.hostname.as_deref(), Some("hoodytest-abc"));
    }

    #[test]
    fn user_namespace_needs_maps_covering_the_user() {
        let spec = ContainerSpec::builder("/r")
            .arg("x")
            .user_namespace(524_288, 65_536)
            .user(1000, 1000)
            .build()
            .expect("valid");
        assert!(spec.namespaces.user);
        assert!(
            ContainerSpec::builder("/r")
                .arg("x")
                .user_namespace(524_288, 10)
                .user(1000, 1000)
                .build()
                .is_err()
        );
    }

    #[test]
    fn random_ids_differ() {
        assert_ne!(random_id("x-"), random_id("x-"));
        assert_eq!(random_id("x-").len(), 14);
    }
}
