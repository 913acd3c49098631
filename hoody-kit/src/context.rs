//! What every service of one Kit process shares: where state lives, what it serves, when it
//! started.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

/// The Kit's configuration and process-wide facts, shared (behind an `Arc`) by every
/// service's router.
#[derive(Debug, Clone)]
pub struct Context {
    storage: PathBuf,
    databases: PathBuf,
    files_root: PathBuf,
    started: SystemTime,
    started_at: Instant,
}

impl Context {
    /// The defaults inside a container: state under `/hoody/storage`, SQLite databases under
    /// `/hoody/databases`, the files service over `/`.
    pub fn builder() -> ContextBuilder {
        ContextBuilder {
            storage: PathBuf::from("/hoody/storage"),
            databases: PathBuf::from("/hoody/databases"),
            files_root: PathBuf::from("/"),
        }
    }

    /// `/hoody/storage` (or as configured): every service keeps its state in a directory of
    /// its own below.
    pub fn storage(&self) -> &Path {
        &self.storage
    }

    /// The state directory of `service` (`hoody-terminal`, `hoody-exec`, ...).
    pub fn service_dir(&self, service: &str) -> PathBuf {
        self.storage.join(service)
    }

    /// Where bare SQLite database names resolve (`/hoody/databases`).
    pub fn databases(&self) -> &Path {
        &self.databases
    }

    /// The directory the files service serves (`/` in a container).
    pub fn files_root(&self) -> &Path {
        &self.files_root
    }

    /// When this Kit process started (wall clock).
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// Seconds since this Kit process started.
    pub fn uptime_secs(&self) -> f64 {
        self.started_at.elapsed().as_secs_f64()
    }
}

/// Builds a [`Context`]; see [`Context::builder`] for the defaults.
#[derive(Debug, Clone)]
pub struct ContextBuilder {
    storage: PathBuf,
    databases: PathBuf,
    files_root: PathBuf,
}

impl ContextBuilder {
    /// Where services keep state (default `/hoody/storage`).
    pub fn storage(mut self, p: impl Into<PathBuf>) -> Self {
        self.storage = p.into();
        self
    }
    /// Where bare database names resolve (default `/hoody/databases`).
    pub fn databases(mut self, p: impl Into<PathBuf>) -> Self {
        self.databases = p.into();
        self
    }
    /// What the files service serves (default `/`).
    pub fn files_root(mut self, p: impl Into<PathBuf>) -> Self {
        self.files_root = p.into();
        self
    }
    /// The context, started now.
    pub fn build(self) -> Context {
        Context {
            storage: self.storage,
            databases: self.databases,
            files_root: self.files_root,
            started: SystemTime::now(),
            started_at: Instant::now(),
        }
    }
}
