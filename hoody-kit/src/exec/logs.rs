//! The console ring: the last [`CAPACITY`] `console.*` lines (and script failures) of each
//! instance, in memory. It is a debugging aid, not an archive: a Kit restart empties it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// Lines kept per instance.
pub(crate) const CAPACITY: usize = 1000;

/// One line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Entry {
    /// When it was recorded (RFC 3339).
    pub timestamp: String,
    /// `log`, `info`, `warn`, `error`, `debug`; `stderr` for shell scripts.
    pub level: String,
    /// The text.
    pub message: String,
    /// The script, relative to the instance's scripts directory.
    pub script: String,
    /// The request that produced it.
    pub request_id: String,
}

/// Every instance's ring.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    rings: Mutex<HashMap<String, VecDeque<Entry>>>,
}

impl Logs {
    /// Appends `entries` to `instance`'s ring, dropping the oldest past [`CAPACITY`].
    pub(crate) fn push(&self, instance: &str, entries: impl IntoIterator<Item = Entry>) {
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let ring = rings.entry(instance.to_string()).or_default();
        for e in entries {
            if ring.len() == CAPACITY {
                ring.pop_front();
            }
            ring.push_back(e);
        }
    }

    /// The newest `limit` lines of `instance` (oldest first) that match the filters, and how
    /// many matched in all.
    pub(crate) fn list(
        &self,
        instance: &str,
        limit: usize,
        script: Option<&str>,
        level: Option<&str>,
    ) -> (Vec<Entry>, usize) {
        let rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        let Some(ring) = rings.get(instance) else {
            return (Vec::new(), 0);
        };
        let matching: Vec<&Entry> = ring
            .iter()
            .filter(|e| script.is_none_or(|s| e.script == s))
            .filter(|e| level.is_none_or(|l| e.level == l))
            .collect();
        let total = matching.len();
        let skip = total.saturating_sub(limit);
        (matching.into_iter().skip(skip).cloned().collect(), total)
    }

    /// Empties `instance`'s ring; how many lines it held.
    pub(crate) fn clear(&self, instance: &str) -> usize {
        let mut rings = self.rings.lock().unwrap_or_else(|p| p.into_inner());
        rings.remove(instance).map_or(0, |r| r.len())
    }
}
