//! Snapshots of a container: create, list, restore (crash-safe), delete, branch, expiry.
//!
//! ## Crash-safe restore
//!
//! A restore is journalled in `staging/restore-<container>.json` before it touches anything,
//! then runs these steps:
//!
//! 1. snapshot the snapshot into `staging/.restore-new-…` (writable);
//! 2. rename the live `containers/<c>` aside to `staging/.restore-old-…`;
//! 3. rename the new tree to `containers/<c>`;
//! 4. delete the old tree and the journal.
//!
//! Renames within one file system are atomic, so after a crash at any point [`Pool::open`]
//! finds one of: the live tree untouched (roll back: drop the new tree), the live tree aside
//! and the new one ready (roll forward: move it in), or the new tree in place (finish: drop
//! the old one). Either the old or the new state survives; nothing is lost.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{FsError, Result};
use crate::name::validate;
use crate::pool::{ContainerInfo, Pool, read_json, remove_file_if_exists, write_json};
use hoody_sys::time;

/// A snapshot of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Snapshot name (`snap-YYYYMMDD-HHMMSS` by default).
    pub name: String,
    /// Optional second name.
    pub alias: Option<String>,
    /// When it was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Seconds since the epoch when it was taken.
    pub created_at_secs: i64,
    /// When it expires (RFC 3339, UTC), if it does.
    pub expires_at: Option<String>,
    /// Seconds since the epoch when it expires.
    pub expires_at_secs: Option<i64>,
    /// Bytes of the files it holds (computed on first listing, then cached: a snapshot never
    /// changes).
    pub size_bytes: Option<u64>,
}

/// Options for [`Pool::create_snapshot`].
#[derive(Debug, Clone, Default)]
pub struct SnapshotOptions {
    /// Name; `snap-YYYYMMDD-HHMMSS` (UTC) when `None`.
    pub name: Option<String>,
    /// Alias.
    pub alias: Option<String>,
    /// Expiry in days from now.
    pub expires_in_days: Option<u32>,
}

/// The steps of a restore, for failure injection in tests (see
/// [`Pool::restore_interrupted_after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RestoreStep {
    /// The journal is written.
    Journal,
    /// The new tree exists in staging.
    NewTreeReady,
    /// The live tree has been renamed aside.
    OldMovedAside,
    /// The new tree is in place; the old one not yet deleted.
    NewInPlace,
}

#[derive(Debug, Serialize, Deserialize)]
struct RestoreJournal {
    container: String,
    snapshot: String,
    new_tree: PathBuf,
    old_tree: PathBuf,
}

fn journal_path(pool: &Pool, container: &str) -> PathBuf {
    pool.staging().join(format!("restore-{container}.json"))
}

impl Pool {
    fn snapshots_dir(&self, container: &str) -> PathBuf {
        self.root().join("snapshots").join(container)
    }

    /// Takes a read-only snapshot of `container`.
    pub fn create_snapshot(&self, container: &str, opts: &SnapshotOptions) -> Result<SnapshotInfo> {
        self.snapshot_of(container, container, opts)
    }

    /// Takes a read-only snapshot of `source`'s current file system and keeps it among
    /// `container`'s snapshots (one copy-on-write snapshot on btrfs): what a copy is synced
    /// to from its source, by restoring it.
    pub fn snapshot_of(
        &self,
        container: &str,
        source: &str,
        opts: &SnapshotOptions,
    ) -> Result<SnapshotInfo> {
        self.check_writable()?;
        self.container_path(container)?;
        let live = self.container_path(source)?;
        let now = time::now_secs();
        let dir = self.snapshots_dir(container);
        std::fs::create_dir_all(&dir).map_err(|e| FsError::io("create", &dir, e))?;
        let name = match &opts.name {
            Some(n) => {
                validate("snapshot", n)?;
                if dir.join(n).exists() {
                    return Err(self.exists("snapshot", &format!("{container}/{n}")));
                }
                n.clone()
            }
            None => {
                let base = time::snapshot_name(now);
                let mut n = base.clone();
                let mut i = 2;
                while dir.join(&n).exists() {
                    n = format!("{base}-{i}");
                    i += 1;
                }
                n
            }
        };
        if let Some(a) = &opts.alias {
            validate("snapshot alias", a)?;
            if self.find_snapshot(container, a).is_ok() {
                return Err(self.exists("snapshot alias", &format!("{container}/{a}")));
            }
        }
        let expires = opts.expires_in_days.map(|d| now + i64::from(d) * 86_400);
        let info = SnapshotInfo {
            name: name.clone(),
            alias: opts.alias.clone(),
            created_at: time::rfc3339(now),
            created_at_secs: now,
            expires_at: expires.map(time::rfc3339),
            expires_at_secs: expires,
            size_bytes: None,
        };
        self.place_snapshot(&live, &dir.join(&name), &info)?;
        Ok(info)
    }

    /// Makes `dst` a read-only snapshot of `src` described by `info`, visible only once
    /// complete (metadata last).
    fn place_snapshot(&self, src: &Path, dst: &Path, info: &SnapshotInfo) -> Result<()> {
        match self.backend() {
            // Atomic: the read-only snapshot appears complete or not at all (and a read-only
            // subvolume could not be moved in from staging).
            Backend::Btrfs => self.backend().snapshot(src, dst, true)?,
            Backend::Directory => {
                let stage = self.staging_path("snapshot")?;
                self.backend().snapshot(src, &stage, true)?;
                if let Err(e) = std::fs::rename(&stage, dst) {
                    self.backend().delete(&stage)?;
                    return Err(FsError::io("move snapshot into place", dst, e));
                }
            }
        }
        if let Err(e) = write_json(&crate::pool::meta_path(dst), info) {
            self.backend().delete(dst)?;
            return Err(e);
        }
        Ok(())
    }

    /// Creates container `new_container` as a writable copy of `container`'s current file
    /// system (a copy-on-write snapshot on btrfs: instant whatever the size; a running
    /// container's copy is crash-consistent).
    pub fn copy_container(&self, container: &str, new_container: &str) -> Result<ContainerInfo> {
        self.check_writable()?;
        validate("container", new_container)?;
        let src = self.container_path(container)?;
        let image = self.container(container).ok().and_then(|c| c.image);
        let info = ContainerInfo {
            name: new_container.to_string(),
            image,
            branched_from: Some(container.to_string()),
            created_at: time::rfc3339(time::now_secs()),
        };
        self.place_container(&src, &info)?;
        Ok(info)
    }

    /// Copies every snapshot of `from` to `to` (names, aliases and expiry kept). Snapshots
    /// `to` already has are skipped, so an interrupted copy can simply be run again.
    pub fn copy_snapshots(&self, from: &str, to: &str) -> Result<usize> {
        self.check_writable()?;
        self.container_path(to)?;
        let dir = self.snapshots_dir(to);
        std::fs::create_dir_all(&dir).map_err(|e| FsError::io("create", &dir, e))?;
        let mut n = 0;
        for s in self.snapshots(from)? {
            let dst = dir.join(&s.name);
            if dst.exists() && crate::pool::meta_path(&dst).exists() {
                continue;
            }
            if dst.exists() {
                self.backend().delete(&dst)?;
            }
            let (_, src) = self.find_snapshot(from, &s.name)?;
            self.place_snapshot(&src, &dst, &s)?;
            n += 1;
        }
        Ok(n)
    }

    /// The container's snapshots, oldest first, with sizes.
    pub fn snapshots(&self, container: &str) -> Result<Vec<SnapshotInfo>> {
        self.container_path(container)?;
        let dir = self.snapshots_dir(container);
        let mut out: Vec<SnapshotInfo> = Vec::new();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(out);
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let tree = p.with_extension("");
            if !tree.exists() {
                continue;
            }
            let mut info: SnapshotInfo = read_json(&p)?;
            if info.size_bytes.is_none() {
                info.size_bytes = Some(crate::usage::tree_bytes(&tree)?);
                write_json(&p, &info)?;
            }
            out.push(info);
        }
        out.sort_by(|a, b| (a.created_at_secs, &a.name).cmp(&(b.created_at_secs, &b.name)));
        Ok(out)
    }

    /// How many snapshots the container has (a directory listing: no snapshot is read).
    pub fn snapshot_count(&self, container: &str) -> Result<usize> {
        self.container_path(container)?;
        let Ok(entries) = std::fs::read_dir(self.snapshots_dir(container)) else {
            return Ok(0);
        };
        Ok(entries
            .flatten()
            .filter(|e| {
                let p = e.path();
                p.extension().is_some_and(|x| x == "json") && p.with_extension("").exists()
            })
            .count())
    }

    /// Finds a snapshot by name or alias.
    pub fn find_snapshot(
        &self,
        container: &str,
        name_or_alias: &str,
    ) -> Result<(SnapshotInfo, PathBuf)> {
        let dir = self.snapshots_dir(container);
        if validate("snapshot", name_or_alias).is_ok() {
            let p = dir.join(name_or_alias);
            if p.exists() {
                let info: SnapshotInfo = read_json(&crate::pool::meta_path(&p))?;
                return Ok((info, p));
            }
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json") && p.with_extension("").exists() {
                    let info: SnapshotInfo = read_json(&p)?;
                    if info.alias.as_deref() == Some(name_or_alias) {
                        return Ok((info, p.with_extension("")));
                    }
                }
            }
        }
        Err(self.not_found("snapshot", &format!("{container}/{name_or_alias}")))
    }

    /// Sets or clears a snapshot's alias.
    pub fn set_snapshot_alias(
        &self,
        container: &str,
        snapshot: &str,
        alias: Option<&str>,
    ) -> Result<SnapshotInfo> {
        self.check_writable()?;
        let (mut info, path) = self.find_snapshot(container, snapshot)?;
        if let Some(a) = alias {
            validate("snapshot alias", a)?;
            if let Ok((other, _)) = self.find_snapshot(container, a)
                && other.name != info.name
            {
                return Err(self.exists("snapshot alias", &format!("{container}/{a}")));
            }
        }
        info.alias = alias.map(str::to_string);
        write_json(&crate::pool::meta_path(&path), &info)?;
        Ok(info)
    }

    /// Deletes a snapshot.
    pub fn delete_snapshot(&self, container: &str, snapshot: &str) -> Result<()> {
        self.check_writable()?;
        let (_, path) = self.find_snapshot(container, snapshot)?;
        // Metadata first: a crash in between leaves an unlisted tree, never a listed ghost.
        remove_file_if_exists(&crate::pool::meta_path(&path))?;
        self.backend().delete(&path)
    }

    /// Deletes the container's snapshots whose expiry has passed; returns their names.
    pub fn prune_expired(&self, container: &str) -> Result<Vec<String>> {
        self.check_writable()?;
        let now = time::now_secs();
        let mut gone = Vec::new();
        for s in self.snapshots(container)? {
            if s.expires_at_secs.is_some_and(|t| t <= now) {
                self.delete_snapshot(container, &s.name)?;
                gone.push(s.name);
            }
        }
        Ok(gone)
    }

    /// Creates container `new_container` from a snapshot of `container`.
    pub fn branch(
        &self,
        container: &str,
        snapshot: &str,
        new_container: &str,
    ) -> Result<ContainerInfo> {
        self.check_writable()?;
        validate("container", new_container)?;
        let (snap, path) = self.find_snapshot(container, snapshot)?;
        let image = self.container(container).ok().and_then(|c| c.image);
        let info = ContainerInfo {
            name: new_container.to_string(),
            image,
            branched_from: Some(format!("{container}@{}", snap.name)),
            created_at: time::rfc3339(time::now_secs()),
        };
        self.place_container(&path, &info)?;
        Ok(info)
    }

    /// Replaces the container's root file system with a snapshot's content (crash-safe; see the
    /// module docs).
    pub fn restore(&self, container: &str, snapshot: &str) -> Result<()> {
        self.check_writable()?;
        self.restore_steps(container, snapshot, None)
    }

    /// Runs a restore but stops right after `step`, as if the process had crashed there: the
    /// pool is left exactly as a crash would leave it, for the next [`Pool::open`] to repair.
    /// For crash-safety tests.
    #[doc(hidden)]
    pub fn restore_interrupted_after(
        &self,
        container: &str,
        snapshot: &str,
        step: RestoreStep,
    ) -> Result<()> {
        self.check_writable()?;
        self.restore_steps(container, snapshot, Some(step))
    }

    fn restore_steps(
        &self,
        container: &str,
        snapshot: &str,
        stop: Option<RestoreStep>,
    ) -> Result<()> {
        let live = self.container_path(container)?;
        let (_, snap_path) = self.find_snapshot(container, snapshot)?;
        let journal = RestoreJournal {
            container: container.to_string(),
            snapshot: snapshot.to_string(),
            new_tree: self.staging_path("restore-new")?,
            old_tree: self.staging_path("restore-old")?,
        };
        let jpath = journal_path(self, container);
        if jpath.exists() {
            return Err(FsError::Io {
                action: "start restore: another restore is in progress for",
                path: live,
                source: std::io::ErrorKind::ResourceBusy.into(),
            });
        }
        write_json(&jpath, &journal)?;
        if stop == Some(RestoreStep::Journal) {
            return Ok(());
        }
        if let Err(e) = self
            .backend()
            .snapshot(&snap_path, &journal.new_tree, false)
        {
            remove_file_if_exists(&jpath)?;
            return Err(e);
        }
        if stop == Some(RestoreStep::NewTreeReady) {
            return Ok(());
        }
        std::fs::rename(&live, &journal.old_tree)
            .map_err(|e| FsError::io("move the live tree aside", &live, e))?;
        if stop == Some(RestoreStep::OldMovedAside) {
            return Ok(());
        }
        std::fs::rename(&journal.new_tree, &live)
            .map_err(|e| FsError::io("move the restored tree into place", &live, e))?;
        if stop == Some(RestoreStep::NewInPlace) {
            return Ok(());
        }
        self.backend().delete(&journal.old_tree)?;
        remove_file_if_exists(&jpath)
    }
}

/// Finishes or rolls back every journalled restore (called by [`Pool::open`]).
pub(crate) fn repair_restores(pool: &Pool) -> Result<()> {
    let staging = pool.staging();
    let entries = std::fs::read_dir(&staging).map_err(|e| FsError::io("read", &staging, e))?;
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("restore-") && name.ends_with(".json")) {
            continue;
        }
        let j: RestoreJournal = read_json(&p)?;
        repair_one(pool, &j)?;
        remove_file_if_exists(&p)?;
    }
    Ok(())
}

fn repair_one(pool: &Pool, j: &RestoreJournal) -> Result<()> {
    let live = pool.root().join("containers").join(&j.container);
    let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    match (exists(&live), exists(&j.old_tree), exists(&j.new_tree)) {
        // New tree in place: finish by dropping the old one.
        (true, true, _) => pool.backend().delete(&j.old_tree)?,
        // Crashed before the live tree moved: roll back.
        (true, false, _) => {}
        // Live tree aside, new tree complete: roll forward.
        (false, true, true) => std::fs::rename(&j.new_tree, &live).map_err(|e| {
            FsError::io(
                "repair restore: move the restored tree into place",
                &live,
                e,
            )
        })?,
        // Live tree aside and no new tree: put the old one back.
        (false, true, false) => std::fs::rename(&j.old_tree, &live)
            .map_err(|e| FsError::io("repair restore: move the old tree back", &live, e))?,
        // The container was deleted meanwhile: nothing to restore into.
        (false, false, _) => {}
    }
    pool.backend().delete(&j.new_tree)?;
    pool.backend().delete(&j.old_tree)
}
