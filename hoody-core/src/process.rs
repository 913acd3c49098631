//! Process creation: the plan a child follows, `clone3`, the parent/child sync protocol and
//! typed child errors.
//!
//! Protocol (two `O_CLOEXEC` pipes):
//! 1. The parent builds a [`ChildPlan`] (every C string, pointer array and BPF program) and
//!    calls `clone3` with the new namespaces, `CLONE_PIDFD` and, when the group is v2,
//!    `CLONE_INTO_CGROUP`.
//! 2. The child blocks reading the *sync* pipe. Meanwhile the parent moves it into the v1
//!    cgroup hierarchies and writes its uid/gid maps, then writes one byte.
//! 3. The child runs its setup steps. If one fails it writes `(stage, index, errno)` to the
//!    *error* pipe and `_exit`s; the parent turns that record into a [`ChildError`] that names
//!    the stage and resource. If `execve` succeeds, the error pipe closes (it is CLOEXEC) and
//!    the parent reads EOF: the container is running.
//!
//! Between `clone3` and `execve` the child only runs code from this module, `rootfs`, `caps`,
//! `seccomp` and `sys`, none of which allocates.

use std::ffi::CString;
use std::os::fd::{OwnedFd, RawFd};

use crate::caps::CapPlan;
use crate::error::{ChildError, Error, Result};
use crate::rootfs::RootfsPlan;
use crate::seccomp::CompiledFilter;
use crate::spec::Rlimit;
use crate::sys::{self, CloneArgs, Forked};

/// Declares [`Stage`] and its decoding from one list, so a new stage cannot be forgotten in
/// [`Stage::from_u32`]. Numbering starts at 1 (0 is never a stage on the error pipe).
macro_rules! stages {
    ($first:ident $(, $name:ident)* $(,)?) => {
        /// Where each setup step of the child stands, reported with an errno on failure.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        pub(crate) enum Stage {
            $first = 1,
            $($name,)*
        }

        impl Stage {
            /// Every stage, in order.
            const ALL: &'static [Stage] = &[Stage::$first, $(Stage::$name,)*];

            fn from_u32(v: u32) -> Option<Stage> {
                Stage::ALL.iter().copied().find(|s| *s as u32 == v)
            }
        }
    };
}

stages!(
    Sync,
    ParentDeathSignal,
    Ksm,
    Setns,
    BecomeRoot,
    Stdio,
    Fs,
    PivotRoot,
    Hostname,
    Loopback,
    Chdir,
    Rlimit,
    NoNewPrivs,
    Seccomp,
    DropBounding,
    KeepCaps,
    SetIds,
    CapSets,
    Exec,
);

/// How the child's standard streams are set up.
#[derive(Debug, Default)]
pub(crate) struct ChildStdio {
    /// fds to dup onto 0, 1, 2 (`None`: keep the inherited one).
    pub fds: [Option<RawFd>; 3],
    /// `fds` are a pty slave: start a session and make it the controlling terminal.
    pub pty: bool,
}

/// The program to execute, with everything `execve` needs.
#[derive(Debug)]
pub(crate) struct ExecPlan {
    display: String,
    candidates: Vec<CString>,
    _argv: Vec<CString>,
    argv_ptrs: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    env_ptrs: Vec<*const libc::c_char>,
}

impl ExecPlan {
    /// Prepares `args` for exec with `env`; a bare command name is searched in `env`'s PATH.
    pub(crate) fn new(args: &[String], env: &[String]) -> Result<Self> {
        let to_c = |field: &'static str, s: &str| {
            CString::new(s).map_err(|_| {
                Error::Spec(crate::spec::SpecError::Nul {
                    field,
                    value: s.to_string(),
                })
            })
        };
        let cmd = args
            .first()
            .ok_or(Error::Spec(crate::spec::SpecError::NoCommand))?;
        let candidates = if cmd.contains('/') {
            vec![to_c("args", cmd)?]
        } else {
            let path = env
                .iter()
                .rev()
                .find_map(|kv| kv.strip_prefix("PATH="))
                .unwrap_or(crate::spec::DEFAULT_PATH);
            path.split(':')
                .filter(|d| !d.is_empty())
                .map(|d| to_c("args", &format!("{}/{cmd}", d.trim_end_matches('/'))))
                .collect::<Result<Vec<_>>>()?
        };
        let argv = args
            .iter()
            .map(|a| to_c("args", a))
            .collect::<Result<Vec<_>>>()?;
        let envc = env
            .iter()
            .map(|a| to_c("env", a))
            .collect::<Result<Vec<_>>>()?;
        let ptrs = |v: &[CString]| {
            v.iter()
                .map(|c| c.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        Ok(ExecPlan {
            display: cmd.clone(),
            candidates,
            argv_ptrs: ptrs(&argv),
            _argv: argv,
            env_ptrs: ptrs(&envc),
            _env: envc,
        })
    }

    /// Tries every candidate path like `execvp`; returns the errno to report.
    fn exec(&self) -> i32 {
        let mut err = libc::ENOENT;
        let mut eacces = false;
        for c in &self.candidates {
            // SAFETY: argv_ptrs and env_ptrs are NULL-terminated arrays of pointers into
            // CStrings owned by self, alive for the duration of the call.
            let e = unsafe { sys::execve(c, self.argv_ptrs.as_ptr(), self.env_ptrs.as_ptr()) };
            match e {
                libc::ENOENT | libc::ENOTDIR | libc::ESTALE => {}
                libc::EACCES => eacces = true,
                other => {
                    err = other;
                    break;
                }
            }
        }
        if eacces && err == libc::ENOENT {
            libc::EACCES
        } else {
            err
        }
    }
}

/// What kind of child this is.
#[derive(Debug)]
pub(crate) enum ChildKind {
    /// PID 1 of a new container: build the mount namespace and pivot into it.
    Init {
        rootfs: RootfsPlan,
        hostname: Option<CString>,
        loopback_up: bool,
    },
    /// A process entering a running container through its pidfd (`setns`), with the
    /// namespaces in `ns_flags` (the pid namespace was already entered by the parent thread).
    Join { pidfd: RawFd, ns_flags: libc::c_int },
}

/// Everything the child does between `clone3` and `execve`, prepared in advance.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    pub kind: ChildKind,
    pub stdio: ChildStdio,
    pub become_root: bool,
    pub cwd: CString,
    pub rlimits: Vec<Rlimit>,
    pub no_new_privs: bool,
    pub seccomp: Option<CompiledFilter>,
    pub caps: CapPlan,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<libc::gid_t>,
    pub exec: ExecPlan,
    pub parent_death_signal: bool,
    pub ksm: bool,
}

/// What the parent must do between the clone and letting the child run.
pub(crate) trait BeforeRelease {
    fn before_release(&self, pid: libc::pid_t) -> Result<()>;
}

/// A freshly cloned and released child that got to `execve`.
#[derive(Debug)]
pub(crate) struct Launched {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
}

impl ChildPlan {
    /// Describes a failed (stage, index) for an error message.
    fn describe(&self, stage: Stage, index: u32) -> String {
        match stage {
            Stage::Sync => "wait for the parent".into(),
            Stage::ParentDeathSignal => "set the parent-death signal".into(),
            Stage::Ksm => "opt into KSM (PR_SET_MEMORY_MERGE, Linux 6.4+)".into(),
            Stage::Setns => "enter the container's namespaces".into(),
            Stage::BecomeRoot => "become root in the user namespace".into(),
            Stage::Stdio => "set up stdio".into(),
            Stage::Fs => match &self.kind {
                ChildKind::Init { rootfs, .. } => rootfs
                    .steps
                    .get(index as usize)
                    .map_or_else(|| "set up the file system".into(), |s| s.what.clone()),
                ChildKind::Join { .. } => "set up the file system".into(),
            },
            Stage::PivotRoot => match &self.kind {
                ChildKind::Init { rootfs, .. } => {
                    format!("pivot_root into {}", rootfs.root_display)
                }
                ChildKind::Join { .. } => "pivot_root".into(),
            },
            Stage::Hostname => "set the hostname".into(),
            Stage::Loopback => "bring up lo".into(),
            Stage::Chdir => format!("chdir to {}", self.cwd.to_string_lossy()),
            Stage::Rlimit => self.rlimits.get(index as usize).map_or_else(
                || "set rlimit".into(),
                |r| format!("set rlimit {} to {}/{}", r.resource, r.soft, r.hard),
            ),
            Stage::NoNewPrivs => "set no_new_privs".into(),
            Stage::Seccomp => "load the seccomp filter".into(),
            Stage::DropBounding => "drop capabilities from the bounding set".into(),
            Stage::KeepCaps => "keep capabilities across the uid change".into(),
            Stage::SetIds => format!("switch to uid {} gid {}", self.uid, self.gid),
            Stage::CapSets => "set capabilities".into(),
            Stage::Exec => format!("exec {}", self.exec.display),
        }
    }

    /// Clones a child that follows this plan. `flags` are the `CLONE_NEW*` flags; `cgroup_fd`
    /// is a v2 group for `CLONE_INTO_CGROUP`. `hook` runs after the clone and before the child
    /// is released (cgroup v1 attach, id maps). On any failure the child is killed and reaped.
    pub(crate) fn launch(
        &self,
        flags: u64,
        cgroup_fd: Option<RawFd>,
        hook: &dyn BeforeRelease,
    ) -> Result<Launched> {
        let (sync_r, sync_w) =
            sys::pipe_cloexec().map_err(|e| Error::errno("create the sync pipe", e))?;
        let (err_r, err_w) =
            sys::pipe_cloexec().map_err(|e| Error::errno("create the error pipe", e))?;
        use std::os::fd::AsRawFd;
        let (sync_fd, err_fd) = (sync_r.as_raw_fd(), err_w.as_raw_fd());

        let mut args = CloneArgs {
            flags,
            exit_signal: libc::SIGCHLD as u64,
            ..CloneArgs::default()
        };
        if let Some(fd) = cgroup_fd {
            args.flags |= sys::CLONE_INTO_CGROUP;
            args.cgroup = fd as u64;
        }
        // SAFETY: the child runs only `child_main`, which follows the post-fork rules (no
        // allocation, no locks) and ends in execve or _exit.
        let forked = unsafe { sys::clone3(&mut args) }.map_err(|e| {
            Error::errno(
                match e {
                    libc::ENOSPC | libc::EUSERS => "clone3: too many namespaces of this kind",
                    _ => "clone3 the container's first process",
                },
                e,
            )
        })?;
        let (pid, pidfd) = match forked {
            Forked::Child => {
                // The child's copies of the parent's ends: were they kept, a parent that dies
                // before releasing the child would leave it blocked on the sync pipe forever
                // instead of reading EOF.
                sys::close(sync_w.as_raw_fd());
                sys::close(err_r.as_raw_fd());
                self.child_main(sync_fd, err_fd)
            }
            Forked::Parent(pid, pidfd) => (pid, pidfd),
        };
        drop(sync_r);
        drop(err_w);
        let abort = |e: Error| {
            let _ = sys::pidfd_send_signal(pidfd.as_raw_fd(), libc::SIGKILL);
            let _ = sys::waitid_pidfd(pidfd.as_raw_fd(), false);
            Err(e)
        };
        if let Err(e) = hook.before_release(pid) {
            return abort(e);
        }
        if let Err(e) = sys::write_all(sync_w.as_raw_fd(), &[1]) {
            return abort(Error::errno("release the container's first process", e));
        }
        drop(sync_w);
        let mut rec = [0u8; 12];
        let n = match sys::read_full(err_r.as_raw_fd(), &mut rec) {
            Ok(n) => n,
            Err(e) => return abort(Error::errno("read the container's setup result", e)),
        };
        if n == 0 {
            return Ok(Launched { pid, pidfd });
        }
        let word = |i: usize| u32::from_ne_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]);
        let err = if n == rec.len() {
            let stage = Stage::from_u32(word(0));
            ChildError {
                what: stage.map_or_else(
                    || "set up the container".into(),
                    |s| self.describe(s, word(4)),
                ),
                errno: word(8) as i32,
                is_exec: stage == Some(Stage::Exec),
            }
        } else {
            ChildError {
                what: "set up the container (truncated error report)".into(),
                errno: libc::EIO,
                is_exec: false,
            }
        };
        // The child has exited or is about to; reap it.
        let _ = sys::waitid_pidfd(pidfd.as_raw_fd(), false);
        Err(Error::Child(err))
    }

    /// The child side. Never returns.
    fn child_main(&self, sync_fd: RawFd, err_fd: RawFd) -> ! {
        let fail = |stage: Stage, index: u32, errno: i32| -> ! {
            let mut rec = [0u8; 12];
            rec[0..4].copy_from_slice(&(stage as u32).to_ne_bytes());
            rec[4..8].copy_from_slice(&index.to_ne_bytes());
            rec[8..12].copy_from_slice(&errno.to_ne_bytes());
            let _ = sys::write_all(err_fd, &rec);
            sys::exit_immediately(127)
        };
        let mut byte = [0u8; 1];
        match sys::read_full(sync_fd, &mut byte) {
            Ok(1) => {}
            // The parent went away or decided to abort.
            Ok(_) => sys::exit_immediately(127),
            Err(e) => fail(Stage::Sync, 0, e),
        }
        sys::close(sync_fd);
        if let Err(e) = sys::unblock_all_signals() {
            fail(Stage::Sync, 1, e);
        }
        if self.parent_death_signal
            && let Err(e) = sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0)
        {
            fail(Stage::ParentDeathSignal, 0, e);
        }
        // PR_SET_MEMORY_MERGE (67): inherited by every process the container starts.
        if self.ksm
            && let Err(e) = sys::prctl(67, 1, 0)
        {
            fail(Stage::Ksm, 0, e);
        }
        if let ChildKind::Join { pidfd, ns_flags } = &self.kind
            && let Err(e) = sys::setns(*pidfd, *ns_flags)
        {
            fail(Stage::Setns, 0, e);
        }
        if self.become_root
            && let Err(e) = sys::set_ids(0, 0, &[])
        {
            fail(Stage::BecomeRoot, 0, e);
        }
        if let Err(e) = self.setup_stdio() {
            fail(Stage::Stdio, 0, e);
        }
        if let ChildKind::Init {
            rootfs,
            hostname,
            loopback_up,
        } = &self.kind
        {
            sys::umask(0);
            for (i, step) in rootfs.steps.iter().enumerate() {
                if let Err(e) = step.op.run() {
                    fail(Stage::Fs, i as u32, e);
                }
            }
            if let Err(e) = crate::rootfs::pivot(&rootfs.root) {
                fail(Stage::PivotRoot, 0, e);
            }
            sys::umask(0o022);
            if let Some(h) = hostname
                && let Err(e) = sys::sethostname(h.as_bytes())
            {
                fail(Stage::Hostname, 0, e);
            }
            if *loopback_up && let Err(e) = sys::loopback_up() {
                fail(Stage::Loopback, 0, e);
            }
        }
        if let Err(e) = sys::chdir(&self.cwd) {
            fail(Stage::Chdir, 0, e);
        }
        for (i, r) in self.rlimits.iter().enumerate() {
            if let Err(e) = sys::setrlimit(r.resource, r.soft, r.hard) {
                fail(Stage::Rlimit, i as u32, e);
            }
        }
        if self.no_new_privs
            && let Err(e) = sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0)
        {
            fail(Stage::NoNewPrivs, 0, e);
        }
        if let Some(f) = &self.seccomp
            && let Err(e) = f.load()
        {
            fail(Stage::Seccomp, 0, e);
        }
        if let Err(e) = self.caps.drop_bounding() {
            fail(Stage::DropBounding, 0, e);
        }
        let non_root = self.uid != 0;
        if non_root && let Err(e) = sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0) {
            fail(Stage::KeepCaps, 0, e);
        }
        if let Err(e) = sys::set_ids(self.uid, self.gid, &self.groups) {
            fail(Stage::SetIds, 0, e);
        }
        if let Err(e) = self.caps.apply_sets(non_root) {
            fail(Stage::CapSets, 0, e);
        }
        let e = self.exec.exec();
        fail(Stage::Exec, 0, e)
    }

    fn setup_stdio(&self) -> sys::SysResult<()> {
        if self.stdio.pty {
            sys::setsid()?;
            if let Some(fd) = self.stdio.fds[0] {
                sys::set_controlling_tty(fd)?;
            }
        }
        for (target, fd) in self.stdio.fds.iter().enumerate() {
            if let Some(fd) = fd {
                sys::dup2(*fd, target as RawFd)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_decodes_to_itself() {
        for (i, s) in Stage::ALL.iter().enumerate() {
            assert_eq!(*s as u32, i as u32 + 1);
            assert_eq!(Stage::from_u32(*s as u32), Some(*s));
        }
        assert_eq!(Stage::from_u32(0), None);
        assert_eq!(Stage::from_u32(Stage::ALL.len() as u32 + 1), None);
    }

    #[test]
    fn bare_commands_search_path() {
        let p = ExecPlan::new(&["sh".into(), "-c".into()], &["PATH=/a:/b/".into()]).expect("plan");
        let c: Vec<_> = p
            .candidates
            .iter()
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        assert_eq!(c, vec!["/a/sh", "/b/sh"]);
        assert_eq!(p.argv_ptrs.len(), 3);
        assert!(p.argv_ptrs[2].is_null());
    }

    #[test]
    fn paths_are_taken_as_is() {
        let p = ExecPlan::new(&["/bin/nope".into()], &[]).expect("plan");
        assert_eq!(p.candidates.len(), 1);
        assert_eq!(p.display, "/bin/nope");
    }

    #[test]
    fn stage_codes_round_trip() {
        for s in [Stage::Sync, Stage::Fs, Stage::Exec] {
            assert_eq!(Stage::from_u32(s as u32), Some(s));
        }
        assert_eq!(Stage::from_u32(0), None);
    }
}
