//! Crash injection for the recovery tests, compiled only with the `fault-injection` feature.
//!
//! With the feature, `HOODYD_CRASH_AT=create:after-row,restore:in-fs,...` (or
//! [`HostConfig::crash_points`](crate::HostConfig)) names points inside the journalled
//! operations where the process SIGKILLs itself, so a test can restart the daemon and check
//! that recovery finished or rolled back each operation. Without the feature (every normal
//! build, the release daemon included) [`Faults`] is empty, [`Faults::armed`] is a constant
//! `false` and none of this code or its strings are in the binary. hoodyd's tests turn the
//! feature on through their dev-dependency on this crate.
//!
//! Points: `create:after-row`, `create:after-machine`, `create:after-start`, the same for
//! `copy:`, `restore:after-journal`, `restore:after-stop`, `restore:in-fs`,
//! `restore:after-fs`, `delete:after-mark`, `delete:after-purge`.

/// The crash points this process was told about.
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults {
    #[cfg(feature = "fault-injection")]
    points: Vec<String>,
}

#[cfg(feature = "fault-injection")]
impl Faults {
    /// The environment variable hoodyd's tests name crash points in.
    const ENV: &'static str = "HOODYD_CRASH_AT";

    /// The configured points plus those of `HOODYD_CRASH_AT`.
    pub(crate) fn new(cfg: &crate::HostConfig) -> Faults {
        let mut points = cfg.crash_points.clone();
        if let Ok(v) = std::env::var(Self::ENV) {
            points.extend(v.split(',').filter(|p| !p.is_empty()).map(str::to_owned));
        }
        if !points.is_empty() {
            eprintln!("hoodyd: fault injection armed at {}", points.join(","));
        }
        Faults { points }
    }

    /// Whether `point` is armed.
    pub(crate) fn armed(&self, point: &str) -> bool {
        self.points.iter().any(|p| p == point)
    }

    /// Dies at once (SIGKILL to itself) when `point` is armed.
    pub(crate) fn hit(&self, point: &str) {
        if self.armed(point) {
            eprintln!("hoodyd: crash point {point} reached: killing myself");
            hoody_sys::process::kill_self();
        }
    }
}

#[cfg(not(feature = "fault-injection"))]
impl Faults {
    /// No points without the feature.
    pub(crate) fn new(_cfg: &crate::HostConfig) -> Faults {
        Faults {}
    }

    /// Never armed without the feature.
    #[inline(always)]
    pub(crate) fn armed(&self, _point: &str) -> bool {
        false
    }

    /// Nothing without the feature.
    #[inline(always)]
    pub(crate) fn hit(&self, _point: &str) {}
}
