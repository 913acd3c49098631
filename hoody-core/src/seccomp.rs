//! Seccomp profiles, compiled to BPF with seccompiler before the clone and loaded in the child
//! right before `execve`.
//!
//! The `default` profile is a deny list: the syscalls in [`DEFAULT_DENIED`] return `EPERM`,
//! everything else is allowed. A deny list (rather than Docker's allow list) fits system
//! containers, which run arbitrary distributions and need new syscalls the day the kernel has
//! them; what it denies is what no container needs and what widens the kernel's attack surface
//! or reaches outside the container (kernel keyrings are not namespaced, module loading and
//! kexec replace the host's kernel code, `open_by_handle_at` escapes bind mounts).
//!
//! On x86_64 the program is prefixed with a check that refuses x32-ABI syscall numbers, so the
//! deny list cannot be side-stepped through the x32 aliases. Syscalls made through another
//! architecture's ABI (i386 `int 0x80`) kill the process: seccompiler's arch check.

use std::collections::BTreeMap;

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, TargetArch};

use crate::sys::SysResult;

/// Which seccomp filter a container runs under.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SeccompProfile {
    /// [`DEFAULT_DENIED`] return EPERM; everything else is allowed.
    #[default]
    Default,
    /// No filter at all.
    Unconfined,
    /// These syscalls (by name) return EPERM, plus the default list.
    DenyExtra(Vec<String>),
}

impl std::str::FromStr for SeccompProfile {
    type Err = SeccompError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(SeccompProfile::Default),
            "unconfined" => Ok(SeccompProfile::Unconfined),
            other => Err(SeccompError::UnknownProfile(other.to_string())),
        }
    }
}

/// Syscalls the default profile refuses with EPERM.
pub const DEFAULT_DENIED: &[&str] = &[
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "swapon",
    "swapoff",
    "iopl",
    "ioperm",
    "acct",
];

/// A profile that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// Not `default` or `unconfined`.
    #[error("unknown seccomp profile {0:?}: expected default or unconfined")]
    UnknownProfile(String),
    /// A syscall name is not known on this architecture.
    #[error("unknown syscall {0:?} in seccomp profile")]
    UnknownSyscall(String),
    /// seccompiler refused the filter.
    #[error("compiling the seccomp filter: {0}")]
    Compile(String),
}

/// A compiled filter, ready to be loaded in the child.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    program: BpfProgram,
}

impl CompiledFilter {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Whether the program is empty (never true for a compiled profile).
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// Loads the filter into the calling thread with `seccomp(SECCOMP_SET_MODE_FILTER)`.
    /// Needs `no_new_privs` or CAP_SYS_ADMIN in the current user namespace. Does not allocate.
    pub(crate) fn load(&self) -> SysResult<()> {
        crate::sys::seccomp_set_filter(&self.program)
    }
}

/// Compiles a profile; `Unconfined` gives `None`.
pub fn compile(profile: &SeccompProfile) -> Result<Option<CompiledFilter>, SeccompError> {
    let extra: &[String] = match profile {
        SeccompProfile::Unconfined => return Ok(None),
        SeccompProfile::Default => &[],
        SeccompProfile::DenyExtra(v) => v,
    };
    let mut rules = BTreeMap::new();
    for name in DEFAULT_DENIED
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        let nr = syscall_number(name).ok_or_else(|| SeccompError::UnknownSyscall(name.into()))?;
        rules.insert(nr, vec![]);
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| SeccompError::Compile(format!("{e:?}")))?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| SeccompError::Compile(e.to_string()))?;
    let body: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| SeccompError::Compile(e.to_string()))?;
    Ok(Some(CompiledFilter {
        program: with_x32_guard(body),
    }))
}

#[cfg(target_arch = "x86_64")]
fn with_x32_guard(body: BpfProgram) -> BpfProgram {
    use seccompiler::sock_filter;
    const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let ret_eperm = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32);
    let mut prog = vec![
        // A = seccomp_data.nr (offset 0)
        sock_filter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
        // if A >= X32 bit: fall through to the EPERM return, else skip it
        sock_filter {
            code: BPF_JGE_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: ret_eperm,
        },
    ];
    prog.extend(body);
    prog
}

#[cfg(not(target_arch = "x86_64"))]
fn with_x32_guard(body: BpfProgram) -> BpfProgram {
    body
}

/// The syscall number of `name` on this architecture.
pub fn syscall_number(name: &str) -> Option<i64> {
    macro_rules! table {
        ($($n:ident),* $(,)?) => {
            match name {
                $(stringify!($n) => Some(paste_sys!($n)),)*
                _ => None,
            }
        };
    }
    macro_rules! paste_sys {
        (kexec_load) => {
            libc::SYS_kexec_load
        };
        (kexec_file_load) => {
            libc::SYS_kexec_file_load
        };
        (init_module) => {
            libc::SYS_init_module
        };
        (finit_module) => {
            libc::SYS_finit_module
        };
        (delete_module) => {
            libc::SYS_delete_module
        };
        (open_by_handle_at) => {
            libc::SYS_open_by_handle_at
        };
        (keyctl) => {
            libc::SYS_keyctl
        };
        (add_key) => {
            libc::SYS_add_key
        };
        (request_key) => {
            libc::SYS_request_key
        };
        (bpf) => {
            libc::SYS_bpf
        };
        (perf_event_open) => {
            libc::SYS_perf_event_open
        };
        (userfaultfd) => {
            libc::SYS_userfaultfd
        };
        (swapon) => {
            libc::SYS_swapon
        };
        (swapoff) => {
            libc::SYS_swapoff
        };
        (iopl) => {
            libc::SYS_iopl
        };
        (ioperm) => {
            libc::SYS_ioperm
        };
        (acct) => {
            libc::SYS_acct
        };
        (reboot) => {
            libc::SYS_reboot
        };
        (settimeofday) => {
            libc::SYS_settimeofday
        };
        (clock_settime) => {
            libc::SYS_clock_settime
        };
        (clock_adjtime) => {
            libc::SYS_clock_adjtime
        };
        (adjtimex) => {
            libc::SYS_adjtimex
        };
        (ptrace) => {
            libc::SYS_ptrace
        };
        (mount) => {
            libc::SYS_mount
        };
        (umount2) => {
            libc::SYS_umount2
        };
        (pivot_root) => {
            libc::SYS_pivot_root
        };
        (unshare) => {
            libc::SYS_unshare
        };
        (setns) => {
            libc::SYS_setns
        };
        (personality) => {
            libc::SYS_personality
        };
        (syslog) => {
            libc::SYS_syslog
        };
        (lookup_dcookie) => {
            libc::SYS_lookup_dcookie
        };
        (quotactl) => {
            libc::SYS_quotactl
        };
        (name_to_handle_at) => {
            libc::SYS_name_to_handle_at
        };
        (fanotify_init) => {
            libc::SYS_fanotify_init
        };
        (process_vm_readv) => {
            libc::SYS_process_vm_readv
        };
        (process_vm_writev) => {
            libc::SYS_process_vm_writev
        };
    }
    table!(
        kexec_load,
        kexec_file_load,
        init_module,
        finit_module,
        delete_module,
        open_by_handle_at,
        keyctl,
        add_key,
        request_key,
        bpf,
        perf_event_open,
        userfaultfd,
        swapon,
        swapoff,
        iopl,
        ioperm,
        acct,
        reboot,
        settimeofday,
        clock_settime,
        clock_adjtime,
        adjtimex,
        ptrace,
        mount,
        umount2,
        pivot_root,
        unshare,
        setns,
        personality,
        syslog,
        lookup_dcookie,
        quotactl,
        name_to_handle_at,
        fanotify_init,
        process_vm_readv,
        process_vm_writev,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_compiles() {
        let f = compile(&SeccompProfile::Default)
            .expect("compiles")
            .expect("a filter");
        assert!(f.len() > DEFAULT_DENIED.len());
    }

    #[test]
    fn unconfined_has_no_filter() {
        assert!(compile(&SeccompProfile::Unconfined).expect("ok").is_none());
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!("strict".parse::<SeccompProfile>().is_err());
        assert!(matches!(
            compile(&SeccompProfile::DenyExtra(vec!["nosuchcall".into()])),
            Err(SeccompError::UnknownSyscall(_))
        ));
    }

    #[test]
    fn every_default_name_resolves() {
        for n in DEFAULT_DENIED {
            assert!(syscall_number(n).is_some(), "{n}");
        }
    }
}
