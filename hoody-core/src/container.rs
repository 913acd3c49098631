//! [`spawn`] a [`ContainerSpec`] into a running [`Container`], and manage it: wait, signal,
//! freeze, stats, kill-all, exec another process into it, destroy.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use crate::caps::CapPlan;
use crate::cgroup::{self, CgroupConfig, CgroupManager, Stats};
use crate::error::{Error, Result};
use crate::process::{BeforeRelease, ChildKind, ChildPlan, ChildStdio, ExecPlan, Launched};
use crate::seccomp::{self, CompiledFilter};
use crate::spec::{ContainerSpec, IdMap, Rlimit, Stdio};
use crate::sys;

/// How a container's PID 1 (or an exec'd process) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// Exit code, when it exited normally.
    pub code: Option<i32>,
    /// Signal number, when it was killed by a signal.
    pub signal: Option<i32>,
    /// The kernel's OOM killer killed a process of the container (its memory limit was hit).
    pub oom_killed: bool,
}

impl ExitStatus {
    fn from_wait(w: sys::WaitResult, oom_killed: bool) -> Self {
        match w {
            sys::WaitResult::Exited(c) => ExitStatus {
                code: Some(c),
                signal: None,
                oom_killed,
            },
            sys::WaitResult::Signaled(s) => ExitStatus {
                code: None,
                signal: Some(s),
                oom_killed,
            },
        }
    }

    /// The status as a shell reports it: the exit code, or 128 + the signal number.
    pub fn shell_code(&self) -> i32 {
        match (self.code, self.signal) {
            (Some(c), _) => c,
            (None, Some(s)) => 128 + s,
            (None, None) => 255,
        }
    }

    /// Exited with code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// The parent's ends of a process's standard streams.
#[derive(Debug, Default)]
pub struct ProcessIo {
    /// Write end of stdin ([`Stdio::Piped`]).
    pub stdin: Option<File>,
    /// Read end of stdout ([`Stdio::Piped`]).
    pub stdout: Option<File>,
    /// Read end of stderr ([`Stdio::Piped`]).
    pub stderr: Option<File>,
    /// The pty master ([`Stdio::Pty`]).
    pub pty: Option<File>,
}

/// The child's ends of the streams; closed in the parent once the child has them.
struct StdioSetup {
    io: ProcessIo,
    pty_slave: Option<std::os::fd::RawFd>,
    child_ends: Vec<OwnedFd>,
    child: ChildStdio,
}

fn prepare_stdio(stdio: Stdio) -> Result<StdioSetup> {
    let mut io = ProcessIo::default();
    let mut child_ends = Vec::new();
    let mut child = ChildStdio::default();
    let mut pty_slave = None;
    match stdio {
        Stdio::Inherit => {}
        Stdio::Null => {
            let null = File::options()
                .read(true)
                .write(true)
                .open("/dev/null")
                .map_err(|e| Error::io("open /dev/null for stdio", e))?;
            let fd: OwnedFd = null.into();
            child.fds = [Some(fd.as_raw_fd()); 3];
            child_ends.push(fd);
        }
        Stdio::Piped => {
            let pipe = || -> Result<(OwnedFd, OwnedFd)> {
                sys::pipe_cloexec().map_err(|e| Error::errno("create a stdio pipe", e))
            };
            let (in_r, in_w) = pipe()?;
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            child.fds = [
                Some(in_r.as_raw_fd()),
                Some(out_w.as_raw_fd()),
                Some(err_w.as_raw_fd()),
            ];
            child_ends.extend([in_r, out_w, err_w]);
            io.stdin = Some(in_w.into());
            io.stdout = Some(out_r.into());
            io.stderr = Some(err_r.into());
        }
        Stdio::Pty => {
            let (master, slave) = open_pty()?;
            child.fds = [Some(slave.as_raw_fd()); 3];
            child.pty = true;
            pty_slave = Some(slave.as_raw_fd());
            child_ends.push(slave);
            io.pty = Some(master.into());
        }
    }
    Ok(StdioSetup {
        io,
        pty_slave,
        child_ends,
        child,
    })
}

/// Opens a new pty pair on the host's `/dev/ptmx`: (master, slave), both close-on-exec.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    hoody_sys::pty::open().map_err(|e| Error::io("open a pty pair", e))
}

/// The parent's work between clone and release: v1 cgroups, then id maps.
struct Release<'a> {
    cgroup: &'a dyn CgroupManager,
    maps: Option<(&'a [IdMap], &'a [IdMap])>,
}

fn map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

impl BeforeRelease for Release<'_> {
    fn before_release(&self, pid: libc::pid_t) -> Result<()> {
        self.cgroup.attach_after_clone(pid)?;
        if let Some((uid_map, gid_map)) = self.maps {
            for (file, maps) in [("uid_map", uid_map), ("gid_map", gid_map)] {
                let path = format!("/proc/{pid}/{file}");
                std::fs::write(&path, map_text(maps))
                    .map_err(|e| Error::io(format!("write {path}"), e))?;
            }
        }
        Ok(())
    }
}

/// The spawning thread inside a container's existing network namespace (for
/// [`ContainerSpec::join_network`]): `clone3` without `CLONE_NEWNET` then starts the child
/// there, before it creates its user namespace, which a `setns` in the child could not do.
/// Only the calling thread moves (network namespaces may be entered per thread).
struct JoinedNetns {
    original: File,
}

impl JoinedNetns {
    fn enter(path: &std::path::Path) -> Result<Self> {
        let target = File::open(path)
            .map_err(|e| Error::io(format!("open network namespace {}", path.display()), e))?;
        let original = File::open("/proc/thread-self/ns/net")
            .map_err(|e| Error::io("open /proc/thread-self/ns/net", e))?;
        sys::setns(target.as_raw_fd(), libc::CLONE_NEWNET)
            .map_err(|e| Error::errno(format!("enter network namespace {}", path.display()), e))?;
        Ok(JoinedNetns { original })
    }

    fn leave(self) -> Result<()> {
        sys::setns(self.original.as_raw_fd(), libc::CLONE_NEWNET)
            .map_err(|e| Error::errno("return to the host network namespace", e))
    }
}

fn ensure_root(action: &'static str) -> Result<()> {
    let euid = hoody_sys::process::geteuid();
    if euid != 0 {
        return Err(Error::NotRoot { action, euid });
    }
    Ok(())
}

fn cstring(field: &'static str, s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| {
        Error::Spec(crate::spec::SpecError::Nul {
            field,
            value: s.to_string(),
        })
    })
}

/// What an `exec` into the container inherits from its spec.
#[derive(Debug, Clone)]
struct JoinContext {
    ns_flags: libc::c_int,
    userns: bool,
    caps: CapPlan,
    seccomp: Option<CompiledFilter>,
    env: Vec<String>,
    no_new_privs: bool,
    rlimits: Vec<Rlimit>,
    uid: u32,
    gid: u32,
}

/// Options for a process started inside a running container with [`Container::exec`].
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    /// Command and arguments.
    pub args: Vec<String>,
    /// Extra `KEY=VALUE` entries on top of the container's environment.
    pub env: Vec<String>,
    /// Working directory (default `/`).
    pub cwd: Option<PathBuf>,
    /// User and group (default: the container's).
    pub user: Option<(u32, u32)>,
    /// Standard streams.
    pub stdio: Stdio,
}

impl ExecSpec {
    /// A process running `args` with inherited stdio.
    pub fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ExecSpec {
            args: args.into_iter().map(Into::into).collect(),
            ..ExecSpec::default()
        }
    }

    /// Sets the standard streams.
    pub fn stdio(mut self, stdio: Stdio) -> Self {
        self.stdio = stdio;
        self
    }
}

/// A running container: its PID 1, its pidfd and its cgroup.
///
/// Dropping a `Container` that was not [`destroy`](Container::destroy)ed kills every process in
/// it, reaps PID 1 and removes the cgroup.
#[derive(Debug)]
pub struct Container {
    id: String,
    pid: libc::pid_t,
    pidfd: OwnedFd,
    cgroup: Box<dyn CgroupManager>,
    join: JoinContext,
    io: ProcessIo,
    /// An open console slave: systemd closes its stdio and reopens `/dev/console` later; were
    /// no slave open in between, the pty would hang up and the reopen fail.
    #[allow(dead_code)] // held, never read: its being open is the point
    console_keepalive: Option<OwnedFd>,
    exit: Option<ExitStatus>,
    destroyed: bool,
}

/// Creates the container described by `spec` and starts its command as PID 1.
///
/// Uses the default cgroup location (`/sys/fs/cgroup/.../hoody/<id>`). On error nothing is
/// left behind: no process, no cgroup, no mount (mounts live in the child's mount namespace).
pub fn spawn(spec: &ContainerSpec) -> Result<Container> {
    spawn_with(spec, &CgroupConfig::default())
}

/// [`spawn`] with an explicit cgroup location.
pub fn spawn_with(spec: &ContainerSpec, cgroups: &CgroupConfig) -> Result<Container> {
    ensure_root("creating a container")?;
    let seccomp = seccomp::compile(&spec.seccomp)?;
    let caps = CapPlan::for_set(spec.capabilities);
    let hostname = match (&spec.hostname, spec.namespaces.uts) {
        (Some(h), true) => Some(cstring("hostname", h)?),
        _ => None,
    };
    let exec = ExecPlan::new(&spec.args, &spec.env)?;
    let cwd = cstring("cwd", &spec.cwd.to_string_lossy())?;
    let stdio = prepare_stdio(spec.stdio)?;
    let become_root = spec.namespaces.user
        && spec.uid_map.iter().any(|m| m.contains(0))
        && spec.gid_map.iter().any(|m| m.contains(0));
    // Root inside, as seen from the host.
    let (root_uid, root_gid) = if spec.namespaces.user {
        (host_id(&spec.uid_map, 0), host_id(&spec.gid_map, 0))
    } else {
        (0, 0)
    };
    let (console, console_keepalive) = match (spec.console, stdio.pty_slave, &stdio.io.pty) {
        (true, Some(slave), Some(master)) => {
            let gid = host_id(&spec.gid_map, 5).max(root_gid);
            let path = console_path(master, slave, root_uid, gid)?;
            let dup =
                sys::dup_cloexec(slave, 3).map_err(|e| Error::errno("keep the console open", e))?;
            (Some(path), Some(dup))
        }
        _ => (None, None),
    };
    let idmapped = if spec.idmapped_rootfs {
        let root = crate::rootfs::canonical_root(spec)?;
        Some(crate::idmap::idmapped_root(
            &root,
            &spec.id,
            &spec.uid_map,
            &spec.gid_map,
        )?)
    } else {
        None
    };
    let rootfs = crate::rootfs::plan(
        spec,
        idmapped.as_ref().map(|i| i.path()),
        console.as_deref(),
    )?;
    let plan = ChildPlan {
        kind: ChildKind::Init {
            rootfs,
            hostname,
            loopback_up: spec.namespaces.net && spec.join_network.is_none(),
        },
        stdio: stdio.child,
        become_root,
        cwd,
        rlimits: spec.rlimits.clone(),
        no_new_privs: spec.no_new_privs,
        seccomp: seccomp.clone(),
        caps,
        uid: spec.uid,
        gid: spec.gid,
        groups: spec.additional_gids.clone(),
        exec,
        parent_death_signal: spec.kill_on_parent_death,
        ksm: spec.ksm,
    };
    let cgroup = cgroup::create(cgroups, &spec.id, &spec.limits)?;
    if spec.cgroup_delegation
        && let Err(e) = cgroup.delegate(root_uid, root_gid)
    {
        let _ = cgroup.destroy();
        return Err(e.into());
    }
    let release = Release {
        cgroup: cgroup.as_ref(),
        maps: spec
            .namespaces
            .user
            .then_some((spec.uid_map.as_slice(), spec.gid_map.as_slice())),
    };
    let mut flags = spec.namespaces.clone_flags();
    let joined = match &spec.join_network {
        Some(path) => {
            flags &= !(libc::CLONE_NEWNET as u64);
            match JoinedNetns::enter(path) {
                Ok(j) => Some(j),
                Err(e) => {
                    let _ = cgroup.destroy();
                    return Err(e);
                }
            }
        }
        None => None,
    };
    let launched = plan.launch(flags, cgroup.clone_into_fd(), &release);
    let restored = joined.map_or(Ok(()), JoinedNetns::leave);
    let launched = match (launched, restored) {
        (Ok(l), Err(e)) => {
            let _ = sys::pidfd_send_signal(l.pidfd.as_raw_fd(), libc::SIGKILL);
            let _ = sys::waitid_pidfd(l.pidfd.as_raw_fd(), false);
            Err(e)
        }
        (l, _) => l,
    };
    // The container has its own copy of the idmapped mount now (or failed).
    drop(idmapped);
    drop(stdio.child_ends);
    let Launched { pid, pidfd } = match launched {
        Ok(l) => l,
        Err(e) => {
            // The child is reaped; an exec failure leaves no process in the group.
            let _ = cgroup.kill_all();
            let _ = cgroup.destroy();
            return Err(e);
        }
    };
    Ok(Container {
        id: spec.id.clone(),
        pid,
        pidfd,
        cgroup,
        join: join_context(spec, caps, seccomp, become_root),
        io: stdio.io,
        console_keepalive,
        exit: None,
        destroyed: false,
    })
}

/// The host id that `id` inside maps to (`id` itself without a map).
fn host_id(maps: &[IdMap], id: u32) -> u32 {
    maps.iter()
        .find(|m| m.contains(id))
        .map_or(id, |m| m.host_id + (id - m.container_id))
}

/// The host path of the pty slave, after giving it to root inside (so the container's root can
/// open it as `/dev/console`).
fn console_path(master: &File, slave: std::os::fd::RawFd, uid: u32, gid: u32) -> Result<PathBuf> {
    let path = sys::ptsname(master.as_raw_fd())
        .map_err(|e| Error::errno("find the console pty's name", e))?;
    if uid != 0 {
        sys::fchown(slave, uid, gid).map_err(|e| {
            Error::errno(
                format!("give the console {} to uid {uid}", path.display()),
                e,
            )
        })?;
    }
    Ok(path)
}

fn join_context(
    spec: &ContainerSpec,
    caps: CapPlan,
    seccomp: Option<CompiledFilter>,
    become_root: bool,
) -> JoinContext {
    let ns = spec.namespaces;
    let mut ns_flags = 0;
    for (on, flag) in [
        (ns.user, libc::CLONE_NEWUSER),
        (ns.mount, libc::CLONE_NEWNS),
        (ns.uts, libc::CLONE_NEWUTS),
        (ns.ipc, libc::CLONE_NEWIPC),
        (ns.net, libc::CLONE_NEWNET),
        (ns.cgroup, libc::CLONE_NEWCGROUP),
        (ns.pid, libc::CLONE_NEWPID),
    ] {
        if on {
            ns_flags |= flag;
        }
    }
    JoinContext {
        ns_flags,
        userns: become_root,
        caps,
        seccomp,
        env: spec.env.clone(),
        no_new_privs: spec.no_new_privs,
        rlimits: spec.rlimits.clone(),
        uid: spec.uid,
        gid: spec.gid,
    }
}

/// Starts a process inside a running container that this process did not spawn (another
/// process, or an earlier run of this one, did): `pid` is the container's PID 1 on the host
/// and `spec` the spec it was started with (for namespaces, capabilities, seccomp and
/// environment). The new process is a child of the caller.
pub fn exec_in(
    spec: &ContainerSpec,
    cgroups: &CgroupConfig,
    pid: libc::pid_t,
    exec: &ExecSpec,
) -> Result<Process> {
    ensure_root("entering a container")?;
    let pidfd = sys::pidfd_open(pid)
        .map_err(|e| Error::errno(format!("open pid {pid} of container {}", spec.id), e))?;
    let cgroup = cgroup::open(cgroups, &spec.id)?;
    let become_root = spec.namespaces.user
        && spec.uid_map.iter().any(|m| m.contains(0))
        && spec.gid_map.iter().any(|m| m.contains(0));
    let join = join_context(
        spec,
        CapPlan::for_set(spec.capabilities),
        seccomp::compile(&spec.seccomp)?,
        become_root,
    );
    exec_with(&join, pidfd.as_raw_fd(), cgroup.as_ref(), exec)
}

impl Container {
    /// The container id (its cgroup's name).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// PID 1's pid on the host.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// PID 1's pidfd.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The container's cgroup.
    pub fn cgroup(&self) -> &dyn CgroupManager {
        self.cgroup.as_ref()
    }

    /// The parent's ends of PID 1's streams (take them out to use them).
    pub fn io(&mut self) -> &mut ProcessIo {
        &mut self.io
    }

    /// Waits for PID 1 to exit and reaps it. Calling it again returns the same status.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.exit {
            return Ok(s);
        }
        let w = sys::waitid_pidfd(self.pidfd.as_raw_fd(), false)
            .map_err(|e| Error::errno(format!("wait for container {}", self.id), e))?
            .ok_or_else(|| Error::errno(format!("wait for container {}", self.id), libc::ECHILD))?;
        let oom = self
            .cgroup
            .stats()
            .map(|s| s.oom_kills > 0)
            .unwrap_or(false);
        let status = ExitStatus::from_wait(w, oom);
        self.exit = Some(status);
        Ok(status)
    }

    /// Returns the exit status if PID 1 has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        if let Some(s) = self.exit {
            return Ok(Some(s));
        }
        match sys::waitid_pidfd(self.pidfd.as_raw_fd(), true)
            .map_err(|e| Error::errno(format!("wait for container {}", self.id), e))?
        {
            None => Ok(None),
            Some(w) => {
                let oom = self
                    .cgroup
                    .stats()
                    .map(|s| s.oom_kills > 0)
                    .unwrap_or(false);
                let status = ExitStatus::from_wait(w, oom);
                self.exit = Some(status);
                Ok(Some(status))
            }
        }
    }

    /// Sends `signal` to PID 1. (PID 1 of a pid namespace ignores signals it has no handler
    /// for, except SIGKILL and SIGSTOP sent from outside.)
    pub fn signal(&self, signal: i32) -> Result<()> {
        if self.exit.is_some() {
            return Err(Error::Exited {
                id: self.id.clone(),
            });
        }
        sys::pidfd_send_signal(self.pidfd.as_raw_fd(), signal)
            .map_err(|e| Error::errno(format!("signal {signal} to container {}", self.id), e))
    }

    /// SIGKILLs every process in the container's cgroup.
    pub fn kill_all(&self) -> Result<()> {
        Ok(self.cgroup.kill_all()?)
    }

    /// Freezes every process of the container.
    pub fn freeze(&self) -> Result<()> {
        Ok(self.cgroup.freeze()?)
    }

    /// Thaws a frozen container.
    pub fn thaw(&self) -> Result<()> {
        Ok(self.cgroup.thaw()?)
    }

    /// Memory, CPU and pid usage.
    pub fn stats(&self) -> Result<Stats> {
        Ok(self.cgroup.stats()?)
    }

    /// Starts another process inside the running container: same namespaces (entered with
    /// `setns` on PID 1's pidfd), same cgroup, capabilities, seccomp filter and environment.
    pub fn exec(&self, spec: &ExecSpec) -> Result<Process> {
        ensure_root("entering a container")?;
        if self.exit.is_some() {
            return Err(Error::Exited {
                id: self.id.clone(),
            });
        }
        exec_with(
            &self.join,
            self.pidfd.as_raw_fd(),
            self.cgroup.as_ref(),
            spec,
        )
    }

    /// Kills every process, reaps PID 1 and removes the cgroup. Returns PID 1's status.
    pub fn destroy(mut self) -> Result<ExitStatus> {
        self.destroyed = true;
        self.teardown()
    }

    fn teardown(&mut self) -> Result<ExitStatus> {
        if self.exit.is_none() {
            let _ = self.cgroup.kill_all();
        }
        let status = self.wait();
        // Processes outside PID 1's pid namespace (no pid namespace) may still be there.
        let _ = self.cgroup.kill_all();
        self.cgroup.destroy()?;
        status
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if !self.destroyed {
            let _ = self.teardown();
        }
    }
}

/// Starts `spec` in the container whose PID 1 is behind `pidfd`.
fn exec_with(
    join: &JoinContext,
    pidfd: std::os::fd::RawFd,
    cgroup: &dyn CgroupManager,
    spec: &ExecSpec,
) -> Result<Process> {
    if spec.args.is_empty() {
        return Err(Error::Spec(crate::spec::SpecError::NoCommand));
    }
    let mut env = join.env.clone();
    env.extend(spec.env.iter().cloned());
    let (uid, gid) = spec.user.unwrap_or((join.uid, join.gid));
    let cwd = spec
        .cwd
        .as_ref()
        .map_or_else(|| "/".to_string(), |p| p.to_string_lossy().into_owned());
    let stdio = prepare_stdio(spec.stdio)?;
    let child_stdio = stdio.child;
    // Entering the pid namespace only affects children of the calling thread, so the
    // clone happens on a short-lived thread that first joins PID 1's pid namespace: the
    // new process is then our own child, with its own pidfd, and no double fork is needed.
    let launched = std::thread::scope(|s| {
        s.spawn(move || -> Result<Launched> {
            let plan = ChildPlan {
                kind: ChildKind::Join {
                    pidfd,
                    ns_flags: join.ns_flags & !libc::CLONE_NEWPID,
                },
                stdio: child_stdio,
                become_root: join.userns,
                cwd: cstring("cwd", &cwd)?,
                rlimits: join.rlimits.clone(),
                no_new_privs: join.no_new_privs,
                seccomp: join.seccomp.clone(),
                caps: join.caps,
                uid,
                gid,
                groups: Vec::new(),
                exec: ExecPlan::new(&spec.args, &env)?,
                parent_death_signal: false,
                ksm: false,
            };
            if join.ns_flags & libc::CLONE_NEWPID != 0 {
                sys::setns(pidfd, libc::CLONE_NEWPID)
                    .map_err(|e| Error::errno("enter the container's pid namespace", e))?;
            }
            let release = Release { cgroup, maps: None };
            plan.launch(0, cgroup.clone_into_fd(), &release)
        })
        .join()
        .unwrap_or_else(|_| Err(Error::errno("exec thread panicked", libc::EIO)))
    });
    drop(stdio.child_ends);
    let Launched { pid, pidfd } = launched?;
    Ok(Process {
        pid,
        pidfd,
        io: stdio.io,
        exit: None,
    })
}

/// A process started in a running container by [`Container::exec`].
#[derive(Debug)]
pub struct Process {
    pid: libc::pid_t,
    pidfd: OwnedFd,
    io: ProcessIo,
    exit: Option<ExitStatus>,
}

impl Process {
    /// Its pid on the host.
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// Its pidfd.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The parent's ends of its streams.
    pub fn io(&mut self) -> &mut ProcessIo {
        &mut self.io
    }

    /// Sends a signal.
    pub fn signal(&self, signal: i32) -> Result<()> {
        sys::pidfd_send_signal(self.pidfd.as_raw_fd(), signal)
            .map_err(|e| Error::errno(format!("signal {signal} to pid {}", self.pid), e))
    }

    /// Waits for it to exit and reaps it.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        if let Some(s) = self.exit {
            return Ok(s);
        }
        let w = sys::waitid_pidfd(self.pidfd.as_raw_fd(), false)
            .map_err(|e| Error::errno(format!("wait for pid {}", self.pid), e))?
            .ok_or_else(|| Error::errno(format!("wait for pid {}", self.pid), libc::ECHILD))?;
        let s = ExitStatus::from_wait(w, false);
        self.exit = Some(s);
        Ok(s)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = sys::pidfd_send_signal(self.pidfd.as_raw_fd(), libc::SIGKILL);
            let _ = sys::waitid_pidfd(self.pidfd.as_raw_fd(), false);
        }
    }
}
