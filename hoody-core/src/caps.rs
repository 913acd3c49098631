//! Capabilities: the set a container keeps, and dropping to it in the child.
//!
//! A [`CapabilitySet`] is a bitmask over capability numbers. The child drops every other
//! capability from its bounding set, then sets permitted, effective and inheritable to the
//! set (and ambient too when it runs as a non-root uid, so the capabilities survive `execve`).
//!
//! The default set is Docker's default minus `CAP_MKNOD`: hoody gives containers a tmpfs
//! `/dev` with a fixed list of nodes and does not install a device cgroup policy, so creating
//! device nodes is not something a default container may do.

use std::str::FromStr;

use crate::spec::SpecError;
use crate::sys::{self, SysResult};

/// A set of Linux capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapabilitySet(u64);

/// Names of the default set.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

impl CapabilitySet {
    /// No capabilities.
    pub const EMPTY: CapabilitySet = CapabilitySet(0);

    /// The documented default set ([`DEFAULT_CAPABILITIES`]).
    pub fn default_set() -> Self {
        Self::from_names(DEFAULT_CAPABILITIES).unwrap_or(Self::EMPTY)
    }

    /// Every capability the `caps` crate knows (for privileged or user-namespaced system
    /// containers, where the kernel confines them to the container's own namespaces).
    pub fn all() -> Self {
        let mut s = Self::EMPTY;
        for c in caps::all() {
            s.insert_index(c.index());
        }
        s
    }

    /// Parses names such as `CAP_SYS_ADMIN` or `sys_admin` (case-insensitive, prefix optional).
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Self, SpecError> {
        let mut s = Self::EMPTY;
        for n in names {
            s.insert_index(parse_cap(n.as_ref())?);
        }
        Ok(s)
    }

    /// Adds a capability by name.
    pub fn with(mut self, name: &str) -> Result<Self, SpecError> {
        self.insert_index(parse_cap(name)?);
        Ok(self)
    }

    /// Removes a capability by name.
    pub fn without(mut self, name: &str) -> Result<Self, SpecError> {
        let i = parse_cap(name)?;
        self.0 &= !(1u64 << i);
        Ok(self)
    }

    /// Whether the capability with this number is in the set.
    pub fn contains_index(&self, index: u8) -> bool {
        index < 64 && self.0 & (1u64 << index) != 0
    }

    /// Whether the named capability is in the set.
    pub fn contains(&self, name: &str) -> bool {
        parse_cap(name).is_ok_and(|i| self.contains_index(i))
    }

    /// The raw bitmask (bit N = capability number N).
    pub fn bits(&self) -> u64 {
        self.0
    }

    fn insert_index(&mut self, index: u8) {
        if index < 64 {
            self.0 |= 1u64 << index;
        }
    }
}

fn parse_cap(name: &str) -> Result<u8, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    caps::Capability::from_str(&full)
        .map(|c| c.index())
        .map_err(|_| SpecError::UnknownCapability(name.to_string()))
}

/// The highest capability number the running kernel knows.
pub(crate) fn last_cap() -> u32 {
    static LAST: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// The calling thread's bounding set: no process can gain a capability outside it, so a
/// container's set is clipped to it (a host whose bounding set lacks CAP_SYS_RESOURCE cannot
/// give it to a container).
pub(crate) fn current_bounding_set(last_cap: u32) -> u64 {
    let mut set = 0u64;
    for cap in 0..=last_cap.min(63) {
        if sys::prctl_get(libc::PR_CAPBSET_READ, cap as libc::c_ulong) == Ok(1) {
            set |= 1u64 << cap;
        }
    }
    set
}

impl CapPlan {
    /// The plan for keeping `set`, clipped to what this process can grant.
    pub(crate) fn for_set(set: CapabilitySet) -> Self {
        let last_cap = last_cap();
        CapPlan {
            keep: set.bits() & current_bounding_set(last_cap),
            last_cap,
        }
    }
}

/// What the child needs to drop capabilities; prepared before clone, used without allocating.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CapPlan {
    pub keep: u64,
    pub last_cap: u32,
}

impl CapPlan {
    /// Drops everything not in `keep` from the bounding set. Runs while the process still
    /// has CAP_SETPCAP.
    pub(crate) fn drop_bounding(&self) -> SysResult<()> {
        for cap in 0..=self.last_cap.min(63) {
            if self.keep & (1u64 << cap) == 0 {
                match sys::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0) {
                    // EINVAL: the kernel does not know this capability.
                    Ok(()) | Err(libc::EINVAL) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Sets permitted, effective and inheritable to `keep`, and ambient too when `ambient`.
    pub(crate) fn apply_sets(&self, ambient: bool) -> SysResult<()> {
        sys::capset_v3(self.keep, self.keep, self.keep)?;
        match sys::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
        ) {
            Ok(()) | Err(libc::EINVAL) => {}
            Err(e) => return Err(e),
        }
        if ambient {
            for cap in 0..=self.last_cap.min(63) {
                if self.keep & (1u64 << cap) != 0 {
                    sys::prctl(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                        cap as libc::c_ulong,
                    )?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_or_without_prefix() {
        let s = CapabilitySet::from_names(&["CAP_SYS_ADMIN", "net_admin"]).expect("known caps");
        assert!(s.contains("SYS_ADMIN"));
        assert!(s.contains("CAP_NET_ADMIN"));
        assert!(!s.contains("CAP_CHOWN"));
        assert!(CapabilitySet::from_names(&["CAP_NOPE"]).is_err());
    }

    #[test]
    fn default_set_excludes_sys_admin_and_mknod() {
        let d = CapabilitySet::default_set();
        assert!(d.contains("CAP_CHOWN"));
        assert!(!d.contains("CAP_SYS_ADMIN"));
        assert!(!d.contains("CAP_MKNOD"));
        assert_eq!(d.bits().count_ones() as usize, DEFAULT_CAPABILITIES.len());
    }
}
