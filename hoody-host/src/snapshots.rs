//! Snapshots of containers: list, create, alias, delete and the journalled restore
//! (reference §1.8).

use super::*;

impl Host {
    pub(crate) fn snapshot_of(s: hoody_fs::SnapshotInfo) -> api::Snapshot {
        api::Snapshot {
            name: s.name,
            alias: s.alias,
            created_at: s.created_at,
            expires_at: s.expires_at,
            stateful: false,
            size: s.size_bytes,
        }
    }

    /// A container that no operation is making, copying or deleting (else 409
    /// `CONTAINER_BUSY`).
    pub(crate) fn existing(&self, id: &str) -> Result<Container> {
        let c = self.get_container(id)?;
        if c.status.is_busy() {
            return Err(ApiError::conflict(
                "CONTAINER_BUSY",
                format!("container {id} is {}", c.status),
            )
            .into());
        }
        Ok(c)
    }

    /// A container's snapshots, newest first.
    pub fn list_snapshots(&self, id: &str) -> Result<api::SnapshotList> {
        let c = self.existing(id)?;
        let pool = self.inner.machines.pool();
        let _ = pool.prune_expired(id);
        let mut snapshots: Vec<api::Snapshot> = pool
            .snapshots(id)?
            .into_iter()
            .map(Self::snapshot_of)
            .collect();
        snapshots.reverse();
        Ok(api::SnapshotList {
            container_id: c.id,
            project_id: c.project_id,
            snapshot_count: snapshots.len() as u64,
            snapshots,
            max_snapshots: None,
        })
    }

    /// Snapshots a container's file system (running or not: crash-consistent).
    pub fn create_snapshot(&self, id: &str, req: api::CreateSnapshot) -> Result<api::Snapshot> {
        if let Some(a) = &req.alias
            && (a.is_empty() || a.chars().count() > 100)
        {
            return Err(ApiError::validation("alias", "must be 1 to 100 characters").into());
        }
        let expiry = match req.expiry {
            None => None,
            Some(d @ 1..=3650) => Some(d as u32),
            Some(_) => return Err(ApiError::validation("expiry", "must be 1 to 3650 days").into()),
        };
        let _busy = self.claim(id)?;
        self.existing(id)?;
        let s = self
            .inner
            .machines
            .pool()
            .create_snapshot(
                id,
                &hoody_fs::SnapshotOptions {
                    name: None,
                    alias: req.alias,
                    expires_in_days: expiry,
                },
            )
            .map_err(alias_err)?;
        Ok(Self::snapshot_of(s))
    }

    /// Sets or removes a snapshot's alias.
    pub fn set_snapshot_alias(
        &self,
        id: &str,
        name: &str,
        req: api::SnapshotAlias,
    ) -> Result<api::Snapshot> {
        let _busy = self.claim(id)?;
        self.existing(id)?;
        let s = self
            .inner
            .machines
            .pool()
            .set_snapshot_alias(id, name, req.alias.as_deref())
            .map_err(alias_err)?;
        Ok(Self::snapshot_of(s))
    }

    /// Deletes a snapshot.
    pub fn delete_snapshot(&self, id: &str, name: &str) -> Result<()> {
        let _busy = self.claim(id)?;
        self.existing(id)?;
        let pool = self.inner.machines.pool();
        let (s, _) = pool.find_snapshot(id, name)?;
        Ok(pool.delete_snapshot(id, &s.name)?)
    }

    /// Rolls a container's file system back to a snapshot (name or alias). A running
    /// container is killed first and booted again from the restored file system.
    pub fn restore_snapshot(&self, id: &str, name: &str) -> Result<Container> {
        let _busy = self.claim(id)?;
        let c = self.existing(id)?;
        let (snap, _) = self.inner.machines.pool().find_snapshot(id, name)?;
        let c = self.refresh(c)?;
        let op = Journal::Restore {
            container: id.to_string(),
            snapshot: snap.name,
            was_running: matches!(c.status, ContainerStatus::Running | ContainerStatus::Paused),
            previous: c.status,
        };
        let op_id = self.store().tx(|tx| Ok(tx.begin_op(&op, &now())?))?;
        self.run_restore(&op, op_id, "api")
    }

    /// `POST /api/v1/containers/{id}/sync` (reference §1.6): a copy pulls its source's
    /// current file system. A snapshot of the source's live file system is taken into the
    /// copy's snapshots (the sync point, `last_used_snapshot` afterwards), what the copy had
    /// is kept as a snapshot aliased `before-sync-{point}` (nothing it changed is lost), and
    /// the copy is restored to the point through the journalled restore (crash-safe; a
    /// running copy is stopped and booted again). On one server a copy-on-write snapshot
    /// costs only what changed; across servers (the cluster) it becomes an incremental send.
    /// Returns when done.
    pub fn sync_container(&self, id: &str) -> Result<Container> {
        let _busy = self.claim(id)?;
        let c = self.existing(id)?;
        let Some(src) = c.source_container_id.clone() else {
            return Err(ApiError::conflict(
                "NOT_A_COPY",
                format!("container {id} was not made by a copy: there is no source to sync from"),
            )
            .into());
        };
        if self.store().read().container(&src)?.is_none() {
            return Err(ApiError::new(
                404,
                "SOURCE_NOT_FOUND",
                format!("the source of container {id}, container {src}, no longer exists"),
            )
            .into());
        }
        let pool = self.inner.machines.pool();
        let point = {
            let _source_busy = self.claim(&src)?;
            pool.snapshot_of(id, &src, &hoody_fs::SnapshotOptions::default())?
        };
        let keep = hoody_fs::SnapshotOptions {
            alias: Some(format!("before-sync-{}", point.name)),
            ..Default::default()
        };
        if let Err(e) = pool.create_snapshot(id, &keep) {
            let _ = pool.delete_snapshot(id, &point.name);
            return Err(e.into());
        }
        let c = self.refresh(c)?;
        let op = Journal::Restore {
            container: id.to_string(),
            snapshot: point.name,
            was_running: matches!(c.status, ContainerStatus::Running | ContainerStatus::Paused),
            previous: c.status,
        };
        let op_id = self.store().tx(|tx| Ok(tx.begin_op(&op, &now())?))?;
        self.run_restore(&op, op_id, "api")
    }

    pub(crate) fn run_restore(&self, op: &Journal, op_id: i64, by: &str) -> Result<Container> {
        let Journal::Restore {
            container: id,
            snapshot,
            was_running,
            previous,
        } = op
        else {
            return Err(ApiError::internal("run_restore on another operation").into());
        };
        let started = Instant::now();
        let m = &self.inner.machines;
        self.fault("restore:after-journal");
        if m.is_running(id) {
            if *previous == ContainerStatus::Paused {
                let _ = m.resume(id);
            }
            m.force_stop(id)?;
        }
        self.fault("restore:after-stop");
        if self.inner.faults.armed("restore:in-fs") {
            let _ = m.pool().restore_interrupted_after(
                id,
                snapshot,
                hoody_fs::snapshot::RestoreStep::OldMovedAside,
            );
            self.fault("restore:in-fs");
        }
        m.pool().restore(id, snapshot)?;
        self.fault("restore:after-fs");
        self.store().tx(|tx| {
            if let Some(mut c) = tx.container(id)? {
                c.last_used_snapshot = Some(snapshot.clone());
                tx.put_container(&c)?;
            }
            Ok(())
        })?;
        let outcome = if *was_running {
            self.boot(id).map(Some)
        } else {
            Ok(None)
        };
        let otherwise = if *previous == ContainerStatus::Failed {
            ContainerStatus::Stopped
        } else {
            *previous
        };
        self.record_outcome(
            id,
            outcome,
            otherwise,
            by,
            json!({"operation": "restore", "snapshot": snapshot}),
            started,
            op_id,
        )
    }
}
