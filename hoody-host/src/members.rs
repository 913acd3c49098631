//! Project permissions (reference §5.5, `GET|POST /api/v1/projects/{id}/permissions`,
//! `PUT|DELETE …/permissions/{permissionId}`): a project granted to a user at `read`, `edit`
//! or `delete`.
//!
//! A hoody server has no user accounts: its users are its API tokens, so `user_id` names a
//! token. A grant adds to what the token's own permissions allow, for that project only (see
//! [`crate::access::level_covers`] for what each level reaches); lists then show the
//! token the granted projects and their containers. Revoking the token or deleting the
//! project removes its grants.

use super::*;

impl Host {
    /// A page of a project's permissions (oldest first unless sorted otherwise).
    pub fn list_project_permissions(
        &self,
        project: &str,
        q: &api::ListQuery,
    ) -> Result<api::ProjectPermissionList> {
        self.get_project(project)?;
        let p = paging(
            q,
            10,
            &[
                "id",
                "user_id",
                "permission_level",
                "created_at",
                "updated_at",
            ],
            "created_at",
            Order::Asc,
        )?;
        let mut all = self
            .store()
            .read()
            .project_permissions(Some(project), None)?;
        let key = |g: &api::ProjectPermission| -> String {
            match p.sort {
                "id" => g.id.clone(),
                "user_id" => g.user_id.clone(),
                "permission_level" => (g.permission_level as u8).to_string(),
                "updated_at" => g.updated_at.clone(),
                _ => g.created_at.clone(),
            }
        };
        all.sort_by_key(key);
        if matches!(p.order, Order::Desc) {
            all.reverse();
        }
        let total = all.len() as u64;
        let permissions = all
            .into_iter()
            .skip(((p.page - 1) * p.limit) as usize)
            .take(p.limit as usize)
            .collect();
        Ok(api::ProjectPermissionList {
            permissions,
            pagination: pagination(&p, total),
        })
    }

    /// Grants `project` to a token (409 when it already has a grant there: change that one).
    pub fn add_project_permission(
        &self,
        project: &str,
        req: api::GrantProjectPermission,
    ) -> Result<api::ProjectPermission> {
        self.get_project(project)?;
        if !api::id::is_valid(&req.user_id) {
            return Err(ApiError::validation(
                "user_id",
                format!(
                    "{:?} is not a token id (24 lowercase hex digits)",
                    req.user_id
                ),
            )
            .into());
        }
        let stamp = now();
        let grant = api::ProjectPermission {
            id: new_id()?,
            project_id: project.to_string(),
            user_id: req.user_id,
            permission_level: req.permission_level,
            created_at: stamp.clone(),
            updated_at: stamp,
        };
        self.store().tx(|tx| {
            if tx.token(&grant.user_id)?.is_none() {
                return Err(ApiError::new(
                    404,
                    "USER_NOT_FOUND",
                    format!(
                        "user {} not found (on hoody a user is an API token: `hoody tokens list`)",
                        grant.user_id
                    ),
                )
                .into());
            }
            if !tx
                .project_permissions(Some(project), Some(&grant.user_id))?
                .is_empty()
            {
                return Err(ApiError::conflict(
                    "PERMISSION_EXISTS",
                    format!(
                        "user {} already has a permission on project {project}; update it instead",
                        grant.user_id
                    ),
                )
                .into());
            }
            Ok(tx.put_project_permission(&grant)?)
        })?;
        Ok(grant)
    }

    /// Changes a grant's level.
    pub fn update_project_permission(
        &self,
        project: &str,
        id: &str,
        req: api::UpdateProjectPermission,
    ) -> Result<api::ProjectPermission> {
        api::id::check("permission", id)?;
        self.store().tx(|tx| {
            let mut g = grant_of(tx, project, id)?;
            g.permission_level = req.permission_level;
            g.updated_at = now();
            tx.put_project_permission(&g)?;
            Ok(g)
        })
    }

    /// Revokes a grant.
    pub fn remove_project_permission(&self, project: &str, id: &str) -> Result<()> {
        api::id::check("permission", id)?;
        self.store().tx(|tx| {
            grant_of(tx, project, id)?;
            tx.delete_project_permission(id)?;
            Ok(())
        })
    }
}

/// Grant `id` of `project`, or 404.
fn grant_of(tx: &store::Tx<'_>, project: &str, id: &str) -> Result<api::ProjectPermission> {
    tx.project_permissions(Some(project), None)?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or_else(|| ApiError::not_found("permission", id).into())
}
