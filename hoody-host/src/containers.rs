//! Containers: reading, state transitions, create and copy (journalled, finished on their own
//! thread), update, environment and delete (reference §1.5-§1.7).

use super::*;

impl Host {
    /// A container.
    pub fn get_container(&self, id: &str) -> Result<Container> {
        api::id::check("container", id)?;
        let store = self.store();
        let r = store.read();
        let mut c = r
            .container(id)?
            .ok_or_else(|| ApiError::not_found("container", id))?;
        r.decorate_permissions(std::slice::from_mut(&mut c), false)?;
        Ok(c)
    }

    /// A page of containers, of one project or all (state only: no machine is asked).
    /// Sorted by `id|name|status|created_at|updated_at`, newest first by default.
    pub fn list_containers(
        &self,
        project: Option<&str>,
        q: &api::ListQuery,
    ) -> Result<api::ContainerList> {
        self.list_containers_for(&Caller::root(), project, q)
    }

    /// The containers `caller` sees (those of its realm, through a realm-scoped host).
    pub fn list_containers_for(
        &self,
        caller: &Caller,
        project: Option<&str>,
        q: &api::ListQuery,
    ) -> Result<api::ContainerList> {
        let p = paging(
            q,
            20,
            &["id", "name", "status", "created_at", "updated_at"],
            "created_at",
            Order::Desc,
        )?;
        let realms = realm_filter(caller, q)?;
        let store = self.store();
        let r = store.read();
        if let Some(pid) = project {
            api::id::check("project", pid)?;
            if r.project(pid)?.is_none_or(|p| !caller.sees(&p.realm_ids)) {
                return Err(ApiError::not_found("project", pid).into());
            }
        }
        let limit = caller.list_limit(hoody_api::tokens::perm::CONTAINERS_READ);
        let (mut containers, total) = r.containers(
            &crate::store::ContainerFilter {
                project,
                include_deleting: q.include_deleting.unwrap_or(false),
                realms: &realms,
                projects_in: limit.as_deref(),
            },
            p.sort,
            p.order,
            p.limit,
            (p.page - 1) * p.limit,
        )?;
        r.decorate_permissions(
            &mut containers,
            q.include_proxy_permissions.unwrap_or(false),
        )?;
        // The state lock is not held while the machines are asked.
        drop(store);
        self.decorate(&mut containers, q)?;
        Ok(api::ContainerList {
            containers,
            pagination: pagination(&p, total),
        })
    }

    /// `PUT /api/v1/containers/{id}/kvm`: turns `/dev/kvm` passthrough on or off for a stopped
    /// container (applied at its next start).
    pub fn set_kvm(&self, id: &str, on: bool) -> Result<Container> {
        let c = self.get_container(id)?;
        if on {
            check_kvm_host()?;
        }
        let _busy = self.claim(id)?;
        if !matches!(c.status, ContainerStatus::Stopped | ContainerStatus::Failed) {
            return Err(ApiError::conflict(
                "CONTAINER_NOT_STOPPED",
                format!(
                    "container {id} is {}: stop it before changing kvm",
                    c.status
                ),
            )
            .into());
        }
        self.inner.machines.set_kvm(id, on)?;
        let c = self.store().tx(|tx| {
            let mut c = tx
                .container(id)?
                .ok_or_else(|| ApiError::not_found("container", id))?;
            c.kvm = on;
            c.updated_at = now();
            tx.put_container(&c)?;
            Ok(c)
        })?;
        self.emit("container.updated", Some(&c), None);
        self.get_container(&c.id)
    }

    /// A page of a container's state transitions.
    pub fn status_logs(&self, id: &str, q: &api::ListQuery) -> Result<api::StatusLogList> {
        self.get_container(id)?;
        let p = paging(
            q,
            10,
            &["transition_time", "created_at", "to_status", "from_status"],
            "transition_time",
            Order::Desc,
        )?;
        let (status_logs, total) = self.store().read().status_logs(
            id,
            p.sort,
            p.order,
            p.limit,
            (p.page - 1) * p.limit,
        )?;
        Ok(api::StatusLogList {
            status_logs,
            pagination: pagination(&p, total),
        })
    }

    /// Live counters of a running (or paused) container.
    pub fn stats(&self, id: &str) -> Result<api::ContainerStats> {
        let started = Instant::now();
        let c = self.get_container(id)?;
        if !matches!(c.status, ContainerStatus::Running | ContainerStatus::Paused) {
            return Err(ApiError::conflict(
                "CONTAINER_NOT_RUNNING",
                format!("container {id} is {}: stats need it running", c.status),
            )
            .into());
        }
        let s = self.inner.machines.stats(id)?;
        let cfg = self
            .inner
            .machines
            .configs()
            .ok()
            .and_then(|v| v.into_iter().find(|m| m.name == id));
        let disk = self.inner.machines.pool().disk_usage(id).unwrap_or(0);
        let ramdisk = c.ramdisk.then(|| {
            self.inner
                .ramdisk
                .stats(&c.id, &c.project_id, c.ramdisk_scope)
        });
        Ok(api::ContainerStats {
            id: c.id,
            project_id: c.project_id,
            project_name: c.project_alias,
            server_name: self.inner.server_name.clone(),
            status: c.status,
            processes: s.cgroup.pids_current,
            cpu: api::CpuStats {
                usage: s.cgroup.cpu_usage_usec * 1000,
            },
            memory: api::MemoryStats {
                usage: s.cgroup.memory_current,
                usage_peak: s.cgroup.memory_peak,
                total: cfg.as_ref().and_then(|c| c.memory),
                usage_percent: cfg
                    .and_then(|c| c.memory)
                    .filter(|t| *t > 0)
                    .map(|t| s.cgroup.memory_current as f64 * 100.0 / t as f64),
            },
            disk: api::DiskStats {
                root: api::DiskUsage { usage: disk },
            },
            ramdisk,
            network: s
                .interfaces
                .into_iter()
                .map(|(interface, rx, tx, prx, ptx)| api::NetworkStats {
                    interface,
                    counters: api::NetworkCounters {
                        bytes_received: rx,
                        bytes_sent: tx,
                        packets_received: prx,
                        packets_sent: ptx,
                    },
                })
                .collect(),
            processing_time: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    // ---- state transitions -----------------------------------------------------------

    /// Sets a container's status (recording the transition) and whatever `change` does to
    /// it, in one transaction, then tells subscribers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn transition(
        &self,
        id: &str,
        to: ContainerStatus,
        triggered_by: &str,
        metadata: serde_json::Value,
        started: Option<Instant>,
        end_op: Option<i64>,
        change: impl FnOnce(&mut Container),
    ) -> Result<Container> {
        let c = self.store().tx(|tx| {
            let mut c = tx
                .container(id)?
                .ok_or_else(|| ApiError::not_found("container", id))?;
            let from = c.status;
            c.status = to;
            change(&mut c);
            c.updated_at = now();
            tx.put_container(&c)?;
            if from != to {
                tx.add_status_log(&api::StatusLog {
                    id: new_id()?,
                    container_id: id.to_string(),
                    from_status: Some(from),
                    to_status: to,
                    transition_time: c.updated_at.clone(),
                    duration_ms: started.map(|s| s.elapsed().as_millis() as u64),
                    triggered_by: triggered_by.to_string(),
                    metadata,
                })?;
            }
            if let Some(op) = end_op {
                tx.end_op(op)?;
            }
            Ok(c)
        })?;
        self.emit("container.status", Some(&c), None);
        Ok(c)
    }

    /// Boots a container's machine: `Ok(ip)` or the failure.
    pub(crate) fn boot(&self, id: &str) -> Result<Option<String>> {
        match self.inner.machines.start(id, self.inner.cfg.boot_timeout) {
            Ok(st) => Ok(st.ip),
            Err(e) => {
                // A machine that started but did not finish booting is killed: `failed` means
                // nothing of it runs.
                let _ = self.inner.machines.force_stop(id);
                Err(e.into())
            }
        }
    }

    /// Every program's environment in container `c`: the user's variables and the
    /// platform's (`HOODY_CONTAINER_ID`, `HOODY_PROJECT_ID`; `HOODY_API_URL`, hoodyd's API
    /// through the proxy, when the proxy has a listener and the user set none). No token:
    /// the CLI inside is credential-less until the user gives one (`HOODY_TOKEN`).
    pub(crate) fn machine_env(&self, c: &Container) -> BTreeMap<String, String> {
        let mut env = c.environment_vars.clone();
        env.insert("HOODY_CONTAINER_ID".into(), c.id.clone());
        env.insert("HOODY_PROJECT_ID".into(), c.project_id.clone());
        let cfg = &self.inner.cfg;
        if let Some(url) = cfg.front_door.api_url(&cfg.domain) {
            env.entry("HOODY_API_URL".into()).or_insert(url);
        }
        env
    }

    // ---- containers: create, copy --------------------------------------------------------

    /// Creates a container in `project_id`. Returns at once with status `creating`; the
    /// machine is made (and started, unless `autostart` is false) on a thread of its own.
    pub fn create_container(
        &self,
        project_id: &str,
        req: api::CreateContainer,
    ) -> Result<Container> {
        api::id::check("project", project_id)?;
        self.check_server("server_id", &req.server_id)?;
        let kvm = req.kvm == Some(true) || req.dev_kvm == Some(true);
        if kvm {
            check_kvm_host()?;
        }
        if req.prespawn == Some(true) {
            return Err(ApiError::new(
                403,
                "PRESPAWN_FORBIDDEN",
                "prespawn: true is internal to the platform",
            )
            .into());
        }
        let name = match req.name.as_deref() {
            None | Some("rand") => {
                let b: [u8; 3] = random_bytes()?;
                format!("container-{}", hoody_sys::random::to_hex(&b))
            }
            Some(n) => n.to_string(),
        };
        check_name("name", &name, 3)?;
        if req
            .comment
            .as_ref()
            .is_some_and(|c| c.chars().count() > 16_000)
        {
            return Err(ApiError::validation("comment", "longer than 16,000 characters").into());
        }
        let env = req.environment_vars.unwrap_or_default();
        check_env(&env)?;
        let limits = req.limits.unwrap_or(self.inner.cfg.default_limits);
        check_limits(&limits)?;
        let realm_ids = req.realm_ids.unwrap_or_default();
        check_realms(&realm_ids)?;
        let image = image_name(req.container_image.as_deref().unwrap_or(DEFAULT_IMAGE));
        if self.inner.machines.pool().image_path(&image).is_err() {
            return Err(ApiError::new(
                404,
                "IMAGE_NOT_FOUND",
                format!(
                    "image {image:?} is not in this server's pool (build it: `hoody image build {image}`)"
                ),
            ).into());
        }
        // Reference §1.3: the Kit is on unless the request says otherwise.
        let hoody_kit = req.hoody_kit.unwrap_or(true);
        let t = now();
        let c = Container {
            kvm,
            id: new_id()?,
            project_id: project_id.to_string(),
            project_alias: String::new(),
            server_id: self.inner.server_id.clone(),
            server_name: self.inner.server_name.clone(),
            name,
            color: color(req.color.as_deref())?,
            container_image: image,
            hoody_kit,
            dev_kit: req.dev_kit.unwrap_or(hoody_kit),
            ai: req.ai.unwrap_or(false),
            autostart: req.autostart.unwrap_or(true),
            status: ContainerStatus::Creating,
            environment_vars: env,
            ssh_public_key: req.ssh_public_key,
            comment: req.comment,
            realm_ids,
            ramdisk: req.ramdisk.unwrap_or(true),
            ramdisk_scope: req.ramdisk_scope.unwrap_or_default(),
            limits,
            source_container_id: None,
            ip: None,
            error: None,
            created_at: t.clone(),
            updated_at: t,
            has_proxy_permissions: false,
            proxy_permissions_scope: "none".into(),
            proxy_permissions: None,
            subserver_name: None,
            ssh_hostname: None,
            kvm_note: None,
            prespawn: false,
            volumes: Vec::new(),
            server: None,
            server_expired: false,
            snapshot_count: 0,
            last_used_snapshot: None,
            warnings: Vec::new(),
            pool_id: None,
            proxy_domains: None,
            runtime_info: None,
        };
        let busy = self.claim(&c.id)?;
        let (c, op) = self.insert_new(
            c,
            Journal::Create {
                container: String::new(),
            },
        )?;
        let host = self.clone();
        let c2 = c.clone();
        std::thread::Builder::new()
            .name(format!("create-{}", c.id))
            .spawn(move || {
                let _busy = busy;
                host.run_create(&c2, op, None);
            })
            .map_err(|e| HostError::io("start a create thread", e))?;
        Ok(c)
    }

    /// Inserts a new container row (checking project, quota and name) with its first status
    /// log and its journal entry, in one transaction.
    pub(crate) fn insert_new(&self, mut c: Container, op: Journal) -> Result<(Container, i64)> {
        let op = match op {
            Journal::Create { .. } => Journal::Create {
                container: c.id.clone(),
            },
            Journal::Copy {
                source, snapshot, ..
            } => Journal::Copy {
                source,
                container: c.id.clone(),
                snapshot,
            },
            other => other,
        };
        let r = self.store().tx(|tx| {
            let p = tx
                .project(&c.project_id)?
                .ok_or_else(|| ApiError::not_found("project", &c.project_id))?;
            if let Some(max) = p.max_containers
                && p.container_count >= max
            {
                return Err(ApiError::new(
                    403,
                    "PROJECT_CONTAINER_LIMIT",
                    format!(
                        "project {} ({}) already holds its maximum of {max} containers",
                        p.id, p.alias
                    ),
                )
                .into());
            }
            if tx.container_by_name(&c.project_id, &c.name)?.is_some() {
                return Err(ApiError::conflict(
                    "CONTAINER_NAME_TAKEN",
                    format!(
                        "project {} already has a container named {:?}",
                        p.alias, c.name
                    ),
                )
                .into());
            }
            c.project_alias = p.alias;
            tx.put_container(&c)?;
            tx.add_status_log(&api::StatusLog {
                id: new_id()?,
                container_id: c.id.clone(),
                from_status: None,
                to_status: c.status,
                transition_time: c.created_at.clone(),
                duration_ms: None,
                triggered_by: "api".into(),
                metadata: json!({}),
            })?;
            let op = tx.begin_op(&op, &c.created_at)?;
            Ok((c, op))
        })?;
        self.emit("container.created", Some(&r.0), None);
        Ok(r)
    }

    /// The firewall script and egress network a new container's machine gets (a copy's were
    /// copied from its source by [`Host::copy_container`] when asked to).
    fn network_settings(
        &self,
        id: &str,
    ) -> Result<(Option<String>, Option<hoody_net::egress::EgressConfig>)> {
        Ok((self.firewall_script(id)?, self.egress_config(id)?))
    }

    /// Makes (or copies) the machine and starts it; records the outcome and ends the journal
    /// entry. `source`: copy from (machine, snapshot).
    pub(crate) fn run_create(&self, c: &Container, op: i64, source: Option<(&str, Option<&str>)>) {
        let started = Instant::now();
        let kind = if source.is_some() { "copy" } else { "create" };
        self.fault(&format!("{kind}:after-row"));
        let (ramdisk, ramdisk_project) =
            self.inner
                .ramdisk
                .dirs(&c.id, &c.project_id, c.ramdisk, c.ramdisk_scope);
        let (firewall, egress) = match self.network_settings(&c.id) {
            Ok(f) => f,
            Err(e) => {
                let _ = self.record_outcome(
                    &c.id,
                    Err(ApiError::internal(format!("{kind} failed: {}", e.message())).into()),
                    ContainerStatus::Failed,
                    "hoodyd",
                    json!({"operation": kind}),
                    started,
                    op,
                );
                return;
            }
        };
        let opts = CreateOptions {
            hostname: Some(c.name.clone()),
            firewall,
            env: self.machine_env(c),
            kit: c.hoody_kit,
            ramdisk,
            ramdisk_project,
            memory: c.limits.memory,
            cpus: c.limits.cpus,
            pids: c.limits.pids,
            kvm: c.kvm,
            egress,
            ..Default::default()
        };
        let made = match source {
            None => self.inner.machines.create(&c.id, &c.container_image, &opts),
            Some((m, None)) => self
                .inner
                .machines
                .create_from(&c.id, Source::Machine(m), &opts),
            Some((m, Some(s))) => self.inner.machines.create_from(
                &c.id,
                Source::Snapshot {
                    machine: m,
                    snapshot: s,
                },
                &opts,
            ),
        };
        if let Err(e) = made {
            let _ = self.record_outcome(
                &c.id,
                Err(ApiError::internal(format!("{kind} failed: {}", api::error::chain(&e))).into()),
                ContainerStatus::Failed,
                "hoodyd",
                json!({"operation": kind}),
                started,
                op,
            );
            return;
        }
        self.fault(&format!("{kind}:after-machine"));
        self.finish_create(c, op, kind, started);
    }

    /// Second half of create/copy (also run by recovery): start when asked, record.
    pub(crate) fn finish_create(&self, c: &Container, op: i64, kind: &str, started: Instant) {
        // A copy always starts (reference §1.6); a create when `autostart`.
        let start = kind == "copy" || c.autostart;
        let outcome = if start && self.inner.machines.is_running(&c.id) {
            // Recovery after a crash between boot and record: it runs; adopt it.
            Ok(Some(
                self.inner.machines.status(&c.id).ok().and_then(|s| s.ip),
            ))
        } else if start {
            self.boot(&c.id).map(Some)
        } else {
            Ok(None)
        };
        self.fault(&format!("{kind}:after-start"));
        let _ = self.record_outcome(
            &c.id,
            outcome,
            ContainerStatus::Stopped,
            "hoodyd",
            json!({"operation": kind}),
            started,
            op,
        );
    }

    /// Records how an operation ended, with its journal entry: `Ok(Some(ip))` running,
    /// `Ok(None)` `otherwise`, `Err` failed (the error kept on the container and in the
    /// status log).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_outcome(
        &self,
        id: &str,
        outcome: Result<Option<Option<String>>>,
        otherwise: ContainerStatus,
        by: &str,
        mut metadata: serde_json::Value,
        started: Instant,
        op: i64,
    ) -> Result<Container> {
        let (to, ip, error) = match outcome {
            Ok(Some(ip)) => (ContainerStatus::Running, ip, None),
            Ok(None) => (otherwise, None, None),
            Err(e) => {
                let message = e.message();
                metadata["error"] = message.clone().into();
                (ContainerStatus::Failed, None, Some(message))
            }
        };
        self.transition(id, to, by, metadata, Some(started), Some(op), |c| {
            c.ip = ip;
            c.error = error;
        })
    }

    /// Copies a container (its current file system, or one of its snapshots, and all its
    /// snapshots) into a new container of `target_project_id` on this server. Returns at once
    /// with the new container in status `copying`; it starts when the copy is done.
    pub fn copy_container(&self, id: &str, req: api::CopyContainer) -> Result<Container> {
        let src = self.existing(id)?;
        api::id::check("project", &req.target_project_id)?;
        if let Some(s) = &req.target_server_id {
            self.check_server("target_server_id", s)?;
        }
        if let Some(s) = &req.source_snapshot {
            self.inner.machines.pool().find_snapshot(id, s)?;
        }
        let name = match &req.name {
            Some(n) => {
                check_name("name", n, 3)?;
                n.clone()
            }
            None => {
                let store = self.store();
                let r = store.read();
                let base: String = format!("{}-copy", src.name).chars().take(95).collect();
                let mut n = base.clone();
                let mut i = 2;
                while r.container_by_name(&req.target_project_id, &n)?.is_some() {
                    n = format!("{base}-{i}");
                    i += 1;
                }
                n
            }
        };
        let src_busy = self.claim(id)?;
        let t = now();
        let c = Container {
            id: new_id()?,
            project_id: req.target_project_id.clone(),
            project_alias: String::new(),
            name,
            status: ContainerStatus::Copying,
            ssh_public_key: req.ssh_public_key.clone(),
            source_container_id: Some(src.id.clone()),
            ip: None,
            error: None,
            created_at: t.clone(),
            updated_at: t,
            has_proxy_permissions: false,
            proxy_permissions_scope: "none".into(),
            proxy_permissions: None,
            last_used_snapshot: None,
            ..src.clone()
        };
        let busy = self.claim(&c.id)?;
        let (c, op) = self.insert_new(
            c,
            Journal::Copy {
                source: src.id.clone(),
                container: String::new(),
                snapshot: req.source_snapshot.clone(),
            },
        )?;
        // Firewall rules and the egress network go only when asked (reference §1.6).
        let (copy_fw, copy_net) = (
            req.copy_firewall_rules.unwrap_or(false),
            req.copy_network_rules.unwrap_or(false),
        );
        if copy_fw || copy_net {
            self.store().tx(|tx| {
                if copy_fw {
                    tx.put_firewall(&c.id, &tx.firewall(&src.id)?)?;
                }
                if let Some(rec) = tx.egress(&src.id)?.filter(|_| copy_net) {
                    tx.put_egress(&c.id, &rec)?;
                }
                Ok(())
            })?;
        }
        let host = self.clone();
        let snapshot = req.source_snapshot;
        let c2 = c.clone();
        std::thread::Builder::new()
            .name(format!("copy-{}", c.id))
            .spawn(move || {
                let (_b1, _b2) = (busy, src_busy);
                host.run_create(&c2, op, Some((&src.id, snapshot.as_deref())));
            })
            .map_err(|e| HostError::io("start a copy thread", e))?;
        Ok(c)
    }

    // ---- containers: update, env, delete -------------------------------------------------

    /// Updates a container's settings (omitted fields are kept).
    pub fn update_container(&self, id: &str, req: api::UpdateContainer) -> Result<Container> {
        api::id::check("container", id)?;
        if let Some(n) = &req.name {
            check_name("name", n, 1)?;
        }
        if let Some(e) = &req.environment_vars {
            check_env(e)?;
        }
        if let Some(r) = &req.realm_ids {
            check_realms(r)?;
        }
        if let Some(l) = &req.limits {
            check_limits(l)?;
        }
        if let Some(Some(c)) = &req.comment
            && c.chars().count() > 16_000
        {
            return Err(ApiError::validation("comment", "longer than 16,000 characters").into());
        }
        let color = req.color.as_deref().map(|c| color(Some(c))).transpose()?;
        let _busy = self.claim(id)?;
        let c = self.store().tx(|tx| {
            let mut c = tx
                .container(id)?
                .ok_or_else(|| ApiError::not_found("container", id))?;
            if c.status == ContainerStatus::Deleting {
                return Err(ApiError::conflict(
                    "CONTAINER_BUSY",
                    format!("container {id} is being deleted"),
                )
                .into());
            }
            if let Some(n) = req.name {
                if n != c.name && tx.container_by_name(&c.project_id, &n)?.is_some() {
                    return Err(ApiError::conflict(
                        "CONTAINER_NAME_TAKEN",
                        format!("the project already has a container named {n:?}"),
                    )
                    .into());
                }
                c.name = n;
            }
            if let Some(v) = color {
                c.color = v;
            }
            if let Some(v) = req.ai {
                c.ai = v;
            }
            if let Some(v) = req.autostart {
                c.autostart = v;
            }
            if let Some(v) = req.environment_vars {
                c.environment_vars = v;
            }
            if let Some(v) = req.ssh_public_key {
                c.ssh_public_key = v;
            }
            if let Some(v) = req.comment {
                c.comment = v;
            }
            if let Some(v) = req.realm_ids {
                c.realm_ids = v;
            }
            if let Some(v) = req.ramdisk {
                c.ramdisk = v;
            }
            if let Some(v) = req.ramdisk_scope {
                c.ramdisk_scope = v;
            }
            if let Some(v) = req.limits {
                c.limits = v;
            }
            c.updated_at = now();
            tx.put_container(&c)?;
            Ok(c)
        })?;
        self.sync_machine_env(&c)?;
        self.sync_machine_ramdisk(&c)?;
        if req.limits.is_some() {
            let l = c.limits;
            unless_unmade(
                self.inner
                    .machines
                    .set_limits(&c.id, l.memory, l.cpus, l.pids),
            )?;
        }
        self.emit("container.updated", Some(&c), None);
        Ok(c)
    }

    /// The machine's ramdisk directories as the record says, applied at its next start. A
    /// ramdisk switched off is no longer mounted from then on; its contents stay in the pool
    /// until the container is deleted (a running container keeps using it until it stops).
    fn sync_machine_ramdisk(&self, c: &Container) -> Result<()> {
        let (own, shared) =
            self.inner
                .ramdisk
                .dirs(&c.id, &c.project_id, c.ramdisk, c.ramdisk_scope);
        unless_unmade(self.inner.machines.set_ramdisk(&c.id, own, shared))
    }

    pub(crate) fn sync_machine_env(&self, c: &Container) -> Result<()> {
        unless_unmade(self.inner.machines.set_env(&c.id, self.machine_env(c)))
    }

    /// A container's environment variables.
    pub fn get_env(&self, id: &str) -> Result<api::EnvVars> {
        Ok(api::EnvVars {
            environment_vars: self.get_container(id)?.environment_vars,
        })
    }

    pub(crate) fn edit_env(
        &self,
        id: &str,
        f: impl FnOnce(&mut BTreeMap<String, String>) -> Result<()>,
    ) -> Result<api::EnvVars> {
        api::id::check("container", id)?;
        let _busy = self.claim(id)?;
        let c = self.store().tx(|tx| {
            let mut c = tx
                .container(id)?
                .ok_or_else(|| ApiError::not_found("container", id))?;
            f(&mut c.environment_vars)?;
            check_env(&c.environment_vars)?;
            c.updated_at = now();
            tx.put_container(&c)?;
            Ok(c)
        })?;
        self.sync_machine_env(&c)?;
        self.emit("container.updated", Some(&c), None);
        Ok(api::EnvVars {
            environment_vars: c.environment_vars,
        })
    }

    /// Merges `vars` into a container's environment (applied at its next start).
    pub fn set_env(&self, id: &str, vars: BTreeMap<String, String>) -> Result<api::EnvVars> {
        if vars.is_empty() {
            return Err(ApiError::validation("environment_vars", "give 1 to 200 variables").into());
        }
        check_env(&vars)?;
        self.edit_env(id, |env| {
            env.extend(vars);
            Ok(())
        })
    }

    /// Sets one environment variable.
    pub fn set_env_var(&self, id: &str, key: &str, value: String) -> Result<api::EnvVars> {
        check_env_var(key, &value)?;
        self.edit_env(id, |env| {
            env.insert(key.to_string(), value);
            Ok(())
        })
    }

    /// Removes one environment variable.
    pub fn delete_env_var(&self, id: &str, key: &str) -> Result<api::EnvVars> {
        self.edit_env(id, |env| {
            env.remove(key).map(drop).ok_or_else(|| {
                ApiError::new(
                    404,
                    "ENV_VAR_NOT_FOUND",
                    format!("container {id} has no environment variable {key:?}"),
                )
                .into()
            })
        })
    }

    /// Deletes a container, in any state but mid-operation: its machine is killed if it
    /// runs, its file system, snapshots, network and row are removed.
    pub fn delete_container(&self, id: &str) -> Result<()> {
        api::id::check("container", id)?;
        let _busy = self.claim(id)?;
        let c = self.existing(id)?;
        let op = self.store().tx(|tx| {
            let mut c2 = c.clone();
            c2.status = ContainerStatus::Deleting;
            c2.updated_at = now();
            tx.put_container(&c2)?;
            tx.begin_op(
                &Journal::Delete {
                    container: id.to_string(),
                },
                &c2.updated_at,
            )
            .map_err(HostError::from)
        })?;
        self.run_delete(&c, op)
    }

    pub(crate) fn run_delete(&self, c: &Container, op: i64) -> Result<()> {
        self.fault("delete:after-mark");
        self.inner.machines.purge(&c.id)?;
        self.inner
            .ramdisk
            .remove(&self.inner.ramdisk.container_dir(&c.id))?;
        self.fault("delete:after-purge");
        self.store().tx(|tx| {
            tx.delete_container(&c.id)?;
            Ok(tx.end_op(op)?)
        })?;
        let mut gone = c.clone();
        gone.status = ContainerStatus::Deleting;
        gone.ip = None;
        self.emit("container.deleted", Some(&gone), None);
        Ok(())
    }
}

/// A machine setting written to a container's machine: fine when the machine is not made yet
/// (a create in progress reads the record when it makes it).
pub(crate) fn unless_unmade(r: std::result::Result<(), MachineError>) -> Result<()> {
    match r {
        Ok(()) | Err(MachineError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// 403 `KVM_UNAVAILABLE` unless this server has `/dev/kvm` to pass through.
fn check_kvm_host() -> Result<()> {
    if machine::devices::host_has_kvm() {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            "KVM_UNAVAILABLE",
            "this server has no /dev/kvm (no hardware virtualisation, or the kvm module is not loaded)",
        )
        .into())
    }
}
