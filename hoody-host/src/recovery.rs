//! Recovery and reconciliation: finishing journalled operations after a crash, matching the
//! record with the machines that run, autostart after a reboot, and the watcher thread.

use super::*;

impl Host {
    /// Finishes every journalled operation (see the module docs).
    pub(crate) fn recover(&self) -> Result<()> {
        let ops = self.store().read().pending_ops()?;
        for (op_id, op) in ops {
            eprintln!("hoodyd: recovering interrupted operation {op:?}");
            match &op {
                Journal::Create { container } | Journal::Copy { container, .. } => {
                    let kind = if matches!(op, Journal::Create { .. }) {
                        "create"
                    } else {
                        "copy"
                    };
                    let row = self.store().read().container(container)?;
                    let complete = self
                        .inner
                        .machines
                        .configs()?
                        .iter()
                        .any(|m| &m.name == container);
                    match row {
                        Some(c) if complete => {
                            self.finish_create(&c, op_id, kind, Instant::now());
                        }
                        _ => {
                            self.inner.machines.purge(container)?;
                            let dir = self.inner.ramdisk.container_dir(container);
                            self.inner.ramdisk.remove(&dir)?;
                            self.store().tx(|tx| {
                                tx.delete_container(container)?;
                                Ok(tx.end_op(op_id)?)
                            })?;
                            eprintln!("hoodyd: rolled back the {kind} of {container}");
                        }
                    }
                }
                Journal::Restore { container, .. } => {
                    if self.store().read().container(container)?.is_none() {
                        self.store().tx(|tx| Ok(tx.end_op(op_id)?))?;
                        continue;
                    }
                    let _busy = self.claim(container)?;
                    if let Err(e) = self.run_restore(&op, op_id, "hoodyd") {
                        eprintln!("hoodyd: finishing the restore of {container}: {e}");
                        self.transition(
                            container,
                            ContainerStatus::Failed,
                            "hoodyd",
                            json!({"operation": "restore", "error": e.message()}),
                            None,
                            Some(op_id),
                            |c| c.error = Some(e.message()),
                        )?;
                    }
                }
                Journal::Delete { container } => {
                    let c = self.store().read().container(container)?;
                    match c {
                        Some(c) => self.run_delete(&c, op_id)?,
                        None => {
                            self.inner.machines.purge(container)?;
                            let dir = self.inner.ramdisk.container_dir(container);
                            self.inner.ramdisk.remove(&dir)?;
                            self.store().tx(|tx| Ok(tx.end_op(op_id)?))?;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Aligns every container's recorded state with its machine.
    pub(crate) fn reconcile(&self) -> Result<()> {
        let all = self.store().read().all_containers()?;
        for c in all {
            if c.status.is_busy() {
                continue;
            }
            self.refresh(c)?;
        }
        Ok(())
    }

    /// Starts `autostart` containers that are not running, one after the other, on a thread.
    pub(crate) fn autostart(&self) {
        let host = self.clone();
        let _ = std::thread::Builder::new()
            .name("autostart".into())
            .spawn(move || {
                let Ok(all) = host.store().read().all_containers() else {
                    return;
                };
                for c in all {
                    if c.autostart
                        && c.status == ContainerStatus::Stopped
                        && let Err(e) = host.operate(&c.id, Operation::Start)
                    {
                        eprintln!("hoodyd: autostart of {}: {e}", c.id);
                    }
                }
            });
    }

    /// Every `watch_interval`, notices containers whose machine stopped by itself.
    pub(crate) fn spawn_watcher(&self) {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        let every = self.inner.cfg.watch_interval;
        let _ = std::thread::Builder::new()
            .name("watcher".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(inner) = weak.upgrade() else { return };
                    let host = Host { inner };
                    let Ok(all) = host.store().read().all_containers() else {
                        continue;
                    };
                    for c in all {
                        if !matches!(c.status, ContainerStatus::Running | ContainerStatus::Paused) {
                            continue;
                        }
                        // Skip containers mid-operation: the operation records the outcome.
                        let Ok(_busy) = host.claim_as(&c.id, true) else {
                            continue;
                        };
                        if let Ok(fresh) = host.get_container(&c.id) {
                            let _ = host.refresh(fresh);
                        }
                    }
                }
            });
    }
}
