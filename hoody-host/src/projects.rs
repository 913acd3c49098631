//! Projects: create, read, list, update, delete (reference §1.4).

use super::*;

impl Host {
    /// Creates a project.
    pub fn create_project(&self, req: api::CreateProject) -> Result<api::Project> {
        check_alias(&req.alias)?;
        let realm_ids = req.realm_ids.unwrap_or_default();
        check_realms(&realm_ids)?;
        let t = now();
        let p = api::Project {
            id: new_id()?,
            alias: req.alias,
            color: color(req.color.as_deref())?,
            max_containers: req.max_containers,
            realm_ids,
            container_count: 0,
            created_at: t.clone(),
            updated_at: t,
        };
        self.store().tx(|tx| {
            if tx.project_by_alias(&p.alias)?.is_some() {
                return Err(ApiError::conflict(
                    "PROJECT_ALIAS_TAKEN",
                    format!("a project named {:?} already exists", p.alias),
                )
                .into());
            }
            Ok(tx.put_project(&p)?)
        })?;
        self.emit("project.created", None, Some(&p.id));
        Ok(p)
    }

    /// A project.
    pub fn get_project(&self, id: &str) -> Result<api::Project> {
        api::id::check("project", id)?;
        self.store()
            .read()
            .project(id)?
            .ok_or_else(|| ApiError::not_found("project", id).into())
    }

    /// A page of projects (sorted by `id|alias|created_at|updated_at`, newest first by default).
    pub fn list_projects(&self, q: &api::ListQuery) -> Result<api::ProjectList> {
        self.list_projects_for(&Caller::root(), q)
    }

    /// The projects `caller` sees (those of its realm, through a realm-scoped host).
    pub fn list_projects_for(
        &self,
        caller: &Caller,
        q: &api::ListQuery,
    ) -> Result<api::ProjectList> {
        let p = paging(
            q,
            10,
            &["id", "alias", "created_at", "updated_at"],
            "created_at",
            Order::Desc,
        )?;
        let realms = realm_filter(caller, q)?;
        let limit = caller.list_limit(hoody_api::tokens::perm::PROJECTS_READ);
        let (projects, total) = self.store().read().projects(
            limit.as_deref(),
            &realms,
            p.sort,
            p.order,
            p.limit,
            (p.page - 1) * p.limit,
        )?;
        Ok(api::ProjectList {
            projects,
            pagination: pagination(&p, total),
        })
    }

    /// Updates a project.
    pub fn update_project(&self, id: &str, req: api::UpdateProject) -> Result<api::Project> {
        api::id::check("project", id)?;
        if let Some(a) = &req.alias {
            check_alias(a)?;
        }
        if let Some(r) = &req.realm_ids {
            check_realms(r)?;
        }
        let color = req.color.as_deref().map(|c| color(Some(c))).transpose()?;
        let p = self.store().tx(|tx| {
            let mut p = tx
                .project(id)?
                .ok_or_else(|| ApiError::not_found("project", id))?;
            if let Some(a) = req.alias {
                if a != p.alias && tx.project_by_alias(&a)?.is_some() {
                    return Err(ApiError::conflict(
                        "PROJECT_ALIAS_TAKEN",
                        format!("a project named {a:?} already exists"),
                    )
                    .into());
                }
                p.alias = a;
            }
            if let Some(c) = color {
                p.color = c;
            }
            if let Some(m) = req.max_containers {
                p.max_containers = m;
            }
            if let Some(r) = req.realm_ids {
                p.realm_ids = r;
            }
            p.updated_at = now();
            tx.put_project(&p)?;
            Ok(p)
        })?;
        self.emit("project.updated", None, Some(id));
        Ok(p)
    }

    /// `GET /api/v1/projects/{id}/stats`: how many containers the project has in each state,
    /// and the live counters of those running or paused (each as `GET …/containers/{id}/stats`
    /// has them).
    pub fn project_stats(&self, id: &str) -> Result<serde_json::Value> {
        let p = self.get_project(id)?;
        let all = self
            .store()
            .read()
            .containers(
                &crate::store::ContainerFilter {
                    project: Some(id),
                    ..Default::default()
                },
                "created_at",
                crate::store::Order::Asc,
                u64::MAX >> 1,
                0,
            )?
            .0;
        let mut by_status = serde_json::Map::new();
        let mut stats = Vec::new();
        for c in &all {
            let n = by_status
                .entry(c.status.to_string())
                .or_insert(serde_json::json!(0));
            *n = serde_json::json!(n.as_u64().unwrap_or(0) + 1);
            if matches!(
                c.status,
                api::ContainerStatus::Running | api::ContainerStatus::Paused
            ) && let Ok(s) = self.stats(&c.id)
            {
                stats.push(s);
            }
        }
        let memory: u64 = stats.iter().map(|s| s.memory.usage).sum();
        let processes: u64 = stats.iter().map(|s| s.processes).sum();
        Ok(serde_json::json!({
            "project_id": p.id,
            "project_name": p.alias,
            "total_containers": all.len(),
            "by_status": by_status,
            "totals": {"memory_usage": memory, "processes": processes},
            "containers": stats,
        }))
    }

    /// Deletes an empty project.
    pub fn delete_project(&self, id: &str) -> Result<()> {
        api::id::check("project", id)?;
        self.store().tx(|tx| {
            let p = tx
                .project(id)?
                .ok_or_else(|| ApiError::not_found("project", id))?;
            if p.container_count > 0 {
                return Err(ApiError::conflict(
                    "PROJECT_NOT_EMPTY",
                    format!(
                        "project {id} ({}) still has {} container(s); delete them first",
                        p.alias, p.container_count
                    ),
                )
                .into());
            }
            Ok(tx.delete_project(id)?)
        })?;
        self.inner
            .ramdisk
            .remove(&self.inner.ramdisk.project_dir(id))?;
        self.emit("project.deleted", None, Some(id));
        Ok(())
    }
}
