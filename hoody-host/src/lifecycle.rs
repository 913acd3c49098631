//! Containers' lifecycle: start, stop, restart, pause, resume and the status they report
//! (reference §1.5 `manage`).

use super::*;

impl Host {
    /// Brings the record in line with the machine (it may have powered off by itself).
    pub(crate) fn refresh(&self, c: Container) -> Result<Container> {
        let runs = self.inner.machines.is_running(&c.id);
        match c.status {
            ContainerStatus::Running | ContainerStatus::Paused if !runs => self.transition(
                &c.id,
                ContainerStatus::Stopped,
                "machine",
                json!({"reason": "the machine is no longer running"}),
                None,
                None,
                |c| c.ip = None,
            ),
            ContainerStatus::Stopped | ContainerStatus::Failed if runs => {
                let ip = self.inner.machines.status(&c.id).ok().and_then(|s| s.ip);
                self.transition(
                    &c.id,
                    ContainerStatus::Running,
                    "machine",
                    json!({"reason": "the machine was started outside hoodyd"}),
                    None,
                    None,
                    |c| c.ip = ip,
                )
            }
            _ => Ok(c),
        }
    }

    /// Runs a lifecycle operation and waits for it: 409 `INVALID_STATE_TRANSITION` when the
    /// container's state does not allow it (reference §1.4).
    pub fn operate(&self, id: &str, op: Operation) -> Result<api::OperationResult> {
        api::id::check("container", id)?;
        let _busy = self.claim(id)?;
        let c = self.existing(id)?;
        let c = self.refresh(c)?;
        use ContainerStatus as S;
        let allowed = match op {
            Operation::Start => matches!(c.status, S::Stopped | S::Failed),
            Operation::Stop | Operation::ForceStop => matches!(c.status, S::Running | S::Paused),
            Operation::Restart => {
                matches!(c.status, S::Running | S::Paused | S::Stopped | S::Failed)
            }
            Operation::Pause => c.status == S::Running,
            Operation::Resume => c.status == S::Paused,
        };
        if !allowed {
            return Err(ApiError::conflict(
                "INVALID_STATE_TRANSITION",
                format!("cannot {} container {id}: it is {}", op.as_str(), c.status),
            )
            .into());
        }
        let started = Instant::now();
        let m = &self.inner.machines;
        let meta = json!({"operation": op.as_str()});
        let stop_timeout = self.inner.cfg.stop_timeout;
        let (to, ip, message) = match op {
            Operation::Start | Operation::Restart => {
                if m.is_running(id) {
                    if c.status == S::Paused {
                        m.resume(id)?;
                    }
                    m.stop(id, stop_timeout)?;
                }
                match self.boot(id) {
                    Ok(ip) => (
                        S::Running,
                        ip,
                        format!("Container {}ed successfully", op_verb(op)),
                    ),
                    Err(e) => {
                        self.transition(
                            id,
                            S::Failed,
                            "api",
                            json!({"operation": op.as_str(), "error": e.message()}),
                            Some(started),
                            None,
                            |c| {
                                c.ip = None;
                                c.error = Some(e.message());
                            },
                        )?;
                        return Err(ApiError::new(
                            500,
                            "START_FAILED",
                            format!("container {id} failed to boot: {}", e.message()),
                        )
                        .into());
                    }
                }
            }
            Operation::Stop => {
                if c.status == S::Paused {
                    m.resume(id)?;
                }
                m.stop(id, stop_timeout)?;
                (S::Stopped, None, "Container stopped successfully".into())
            }
            Operation::ForceStop => {
                m.force_stop(id)?;
                (
                    S::Stopped,
                    None,
                    "Container force-stopped successfully".into(),
                )
            }
            Operation::Pause => {
                m.pause(id)?;
                (
                    S::Paused,
                    c.ip.clone(),
                    "Container paused successfully".into(),
                )
            }
            Operation::Resume => {
                m.resume(id)?;
                (
                    S::Running,
                    c.ip.clone(),
                    "Container resumed successfully".into(),
                )
            }
        };
        let c = self.transition(id, to, "api", meta, Some(started), None, |c| {
            c.ip = ip;
            c.error = None;
        })?;
        Ok(api::OperationResult {
            operation: op,
            container_id: c.id,
            project_id: c.project_id,
            message,
            status: c.status,
        })
    }
}

pub(crate) fn op_verb(op: Operation) -> &'static str {
    match op {
        Operation::Restart => "restart",
        _ => "start",
    }
}
