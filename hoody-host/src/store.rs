//! hoodyd's state: one SQLite database (WAL) beside the pool it describes
//! (`<pool>/hoodyd/state.db`), so the record moves and is backed up with the data.
//!
//! Tables: `meta` (server identity, last boot id), `projects`, `containers` (indexed columns
//! plus the whole [`Container`] as JSON), `status_logs`, `tokens` (SHA-256 of the secret only)
//! and `operations`: the journal. A multi-step operation (create, copy, restore, delete) is
//! written there in the same transaction as its first state change, and removed in the same
//! transaction as its last, so after a crash the journal names exactly the operations to
//! complete or roll back ([`crate::Host::open`] does that at start).
//!
//! The store is a plain struct over one connection; [`crate::Host`] serialises access
//! with a mutex (SQLite writes are serial anyway, and each call here is microseconds).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::HostError;
use crate::api::{
    Alias, ApiError, Container, ContainerStatus, Project, ProjectPermission, StatusLog, Token,
};

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What can go wrong with the state database, naming it; its sources are kept.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Creating the database's directory failed.
    #[error("create state directory {}", .path.display())]
    Dir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Opening the database failed.
    #[error("open state database {}", .path.display())]
    Open {
        /// The database file.
        path: std::path::PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A statement failed.
    #[error("state database")]
    Db(#[from] rusqlite::Error),
    /// A record could not be written as JSON.
    #[error("serialize state")]
    Serialize(#[from] serde_json::Error),
}

/// The HTTP edge: a database failure is the server's fault (500), its whole chain the message.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::internal_chain(&e)
    }
}

/// A journalled operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Journal {
    /// Creating `container` (its row exists with status `creating`).
    Create {
        /// The container.
        container: String,
    },
    /// Copying `source` into `container` (its row exists with status `copying`).
    Copy {
        /// The source.
        source: String,
        /// The new container.
        container: String,
        /// A snapshot of the source to copy instead of its live file system.
        snapshot: Option<String>,
    },
    /// Restoring `container` from `snapshot`.
    Restore {
        /// The container.
        container: String,
        /// The snapshot.
        snapshot: String,
        /// Whether it ran before (it is started again afterwards).
        was_running: bool,
        /// Its state before.
        previous: ContainerStatus,
    },
    /// Deleting `container` (status `deleting`).
    Delete {
        /// The container.
        container: String,
    },
}

/// The database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE, doc TEXT NOT NULL,
    created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL,
    status TEXT NOT NULL, doc TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    UNIQUE (project_id, name));
CREATE INDEX IF NOT EXISTS containers_project ON containers(project_id);
CREATE TABLE IF NOT EXISTS status_logs (
    id TEXT PRIMARY KEY, container_id TEXT NOT NULL, transition_time TEXT NOT NULL,
    from_status TEXT, to_status TEXT NOT NULL, created_at TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS status_logs_container ON status_logs(container_id, transition_time);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (
    id TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE, container_id TEXT NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS aliases_container ON aliases(container_id);
CREATE TABLE IF NOT EXISTS proxy_docs (
    scope TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (scope, id));
CREATE TABLE IF NOT EXISTS project_permissions (
    id TEXT PRIMARY KEY, project_id TEXT NOT NULL, user_id TEXT NOT NULL, doc TEXT NOT NULL,
    UNIQUE (project_id, user_id));
CREATE INDEX IF NOT EXISTS project_permissions_user ON project_permissions(user_id);
CREATE TABLE IF NOT EXISTS firewalls (container_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS egress_networks (container_id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, container_id TEXT NOT NULL, doc TEXT NOT NULL,
    started_at TEXT NOT NULL);
";

fn to_json<T: Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string(v)?)
}

/// Which containers a page of [`Tx::containers`] holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContainerFilter<'a> {
    /// Only this project's.
    pub project: Option<&'a str>,
    /// Also those being deleted.
    pub include_deleting: bool,
    /// Only those carrying every one of these realms.
    pub realms: &'a [&'a str],
    /// Only those in one of these projects (`None`: any).
    pub projects_in: Option<&'a [&'a str]>,
}

/// ` AND <doc's realm_ids hold ?first> AND …`: one condition per realm, numbered from `first`.
fn realm_filter(realms: &[&str], first: usize) -> String {
    (0..realms.len())
        .map(|i| {
            format!(
                " AND EXISTS (SELECT 1 FROM json_each(doc, '$.realm_ids') WHERE value = ?{})",
                first + i
            )
        })
        .collect()
}

fn from_json<T: for<'de> Deserialize<'de>>(s: &str) -> rusqlite::Result<T> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Sort order of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

impl Order {
    fn sql(self) -> &'static str {
        match self {
            Order::Asc => "ASC",
            Order::Desc => "DESC",
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    /// A transaction: everything `f` writes lands together or not at all. `f` fails with the
    /// host's error (a check inside the transaction may refuse the request).
    pub fn tx<T>(
        &mut self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, HostError>,
    ) -> Result<T, HostError> {
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let out = f(&Tx { tx: &tx })?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }

    /// Reads (outside any transaction).
    pub fn read(&self) -> Tx<'_> {
        Tx { tx: &self.conn }
    }
}

/// Reads and writes, inside [`Store::tx`] or from [`Store::read`].
#[derive(Debug)]
pub struct Tx<'a> {
    tx: &'a Connection,
}

impl Tx<'_> {
    /// A `meta` value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Sets a `meta` value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    // ---- projects ----

    /// Inserts or replaces a project.
    pub fn put_project(&self, p: &Project) -> Result<()> {
        self.tx.execute(
            "INSERT INTO projects(id, alias, doc, created_at, updated_at) VALUES (?1,?2,?3,?4,?5)
             ON CONFLICT(id) DO UPDATE SET alias=excluded.alias, doc=excluded.doc,
             updated_at=excluded.updated_at",
            params![p.id, p.alias, to_json(p)?, p.created_at, p.updated_at],
        )?;
        Ok(())
    }

    /// A project (with its current container count).
    pub fn project(&self, id: &str) -> Result<Option<Project>> {
        let p: Option<String> = self
            .tx
            .query_row("SELECT doc FROM projects WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        match p {
            None => Ok(None),
            Some(doc) => {
                let mut p: Project = from_json(&doc)?;
                p.container_count = self.count_containers(Some(id))?;
                Ok(Some(p))
            }
        }
    }

    /// The project named `alias`.
    pub fn project_by_alias(&self, alias: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .query_row("SELECT id FROM projects WHERE alias = ?1", [alias], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// A page of projects; `sort` is a column name already validated by the caller.
    pub fn projects(
        &self,
        ids_in: Option<&[&str]>,
        realms: &[&str],
        sort: &str,
        order: Order,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<Project>, u64)> {
        let filter = format!(
            "WHERE (?1 IS NULL OR p.id IN (SELECT value FROM json_each(?1))){}",
            realm_filter(realms, 2)
        );
        let mut args: Vec<rusqlite::types::Value> =
            vec![ids_in.map(|v| to_json(&v)).transpose()?.into()];
        args.extend(realms.iter().map(|r| r.to_string().into()));
        let total: u64 = self.tx.query_row(
            &format!("SELECT COUNT(*) FROM projects p {filter}"),
            rusqlite::params_from_iter(&args),
            |r| r.get(0),
        )?;
        let n = args.len();
        let sql = format!(
            "SELECT p.doc, (SELECT COUNT(*) FROM containers c WHERE c.project_id = p.id)
             FROM projects p {filter} ORDER BY p.{sort} {}, p.id LIMIT ?{} OFFSET ?{}",
            order.sql(),
            n + 1,
            n + 2
        );
        args.push((limit as i64).into());
        args.push((offset as i64).into());
        let mut st = self.tx.prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(&args), |r| {
            let mut p: Project = from_json(&r.get::<_, String>(0)?)?;
            p.container_count = r.get(1)?;
            Ok(p)
        })?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, total))
    }

    /// Deletes a project.
    pub fn delete_project(&self, id: &str) -> Result<()> {
        self.tx.execute(
            "DELETE FROM project_permissions WHERE project_id = ?1",
            [id],
        )?;
        self.tx
            .execute("DELETE FROM projects WHERE id = ?1", [id])?;
        Ok(())
    }

    // ---- containers ----

    /// Inserts or replaces a container.
    pub fn put_container(&self, c: &Container) -> Result<()> {
        self.tx.execute(
            "INSERT INTO containers(id, project_id, name, status, doc, created_at, updated_at)
             VALUES (?1,?2,?3,?4,?5,?6,?7)
             ON CONFLICT(id) DO UPDATE SET project_id=excluded.project_id, name=excluded.name,
             status=excluded.status, doc=excluded.doc, updated_at=excluded.updated_at",
            params![
                c.id,
                c.project_id,
                c.name,
                c.status.as_str(),
                to_json(c)?,
                c.created_at,
                c.updated_at
            ],
        )?;
        Ok(())
    }

    /// A container.
    pub fn container(&self, id: &str) -> Result<Option<Container>> {
        let doc: Option<String> = self
            .tx
            .query_row("SELECT doc FROM containers WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(doc.map(|d| from_json(&d)).transpose()?)
    }

    /// The container named `name` in `project`.
    pub fn container_by_name(&self, project: &str, name: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .query_row(
                "SELECT id FROM containers WHERE project_id = ?1 AND name = ?2",
                [project, name],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// How many containers there are in each status.
    pub fn count_by_status(&self) -> Result<Vec<(String, u64)>> {
        let mut st = self
            .tx
            .prepare("SELECT status, COUNT(*) FROM containers GROUP BY status ORDER BY status")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// How many containers (in `project`, or all).
    pub fn count_containers(&self, project: Option<&str>) -> Result<u64> {
        Ok(match project {
            Some(p) => self.tx.query_row(
                "SELECT COUNT(*) FROM containers WHERE project_id = ?1",
                [p],
                |r| r.get(0),
            )?,
            None => self
                .tx
                .query_row("SELECT COUNT(*) FROM containers", [], |r| r.get(0))?,
        })
    }

    /// A page of containers; `sort` is a column name already validated by the caller.
    pub fn containers(
        &self,
        which: &ContainerFilter<'_>,
        sort: &str,
        order: Order,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<Container>, u64)> {
        let ContainerFilter {
            project,
            include_deleting,
            realms,
            projects_in,
        } = *which;
        let filter = format!(
            "WHERE (?1 IS NULL OR project_id = ?1)
             AND (?2 IS NULL OR project_id IN (SELECT value FROM json_each(?2))) {}{}",
            if include_deleting {
                ""
            } else {
                "AND status <> 'deleting'"
            },
            realm_filter(realms, 3)
        );
        let mut args: Vec<rusqlite::types::Value> = vec![
            project.map(str::to_string).into(),
            projects_in.map(|v| to_json(&v)).transpose()?.into(),
        ];
        args.extend(realms.iter().map(|r| r.to_string().into()));
        let total: u64 = self.tx.query_row(
            &format!("SELECT COUNT(*) FROM containers {filter}"),
            rusqlite::params_from_iter(&args),
            |r| r.get(0),
        )?;
        let n = args.len();
        let sql = format!(
            "SELECT doc FROM containers {filter} ORDER BY {sort} {}, id LIMIT ?{} OFFSET ?{}",
            order.sql(),
            n + 1,
            n + 2
        );
        args.push((limit as i64).into());
        args.push((offset as i64).into());
        let mut st = self.tx.prepare_cached(&sql)?;
        let rows = st.query_map(rusqlite::params_from_iter(&args), |r| {
            from_json::<Container>(&r.get::<_, String>(0)?)
        })?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, total))
    }

    /// Every container.
    pub fn all_containers(&self) -> Result<Vec<Container>> {
        let mut st = self.tx.prepare_cached("SELECT doc FROM containers")?;
        let rows = st.query_map([], |r| from_json::<Container>(&r.get::<_, String>(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes a container and its status logs.
    pub fn delete_container(&self, id: &str) -> Result<()> {
        self.tx
            .execute("DELETE FROM status_logs WHERE container_id = ?1", [id])?;
        self.tx
            .execute("DELETE FROM firewalls WHERE container_id = ?1", [id])?;
        self.delete_egress(id)?;
        self.tx
            .execute("DELETE FROM aliases WHERE container_id = ?1", [id])?;
        self.tx.execute(
            "DELETE FROM proxy_docs WHERE scope = 'container' AND id = ?1",
            [id],
        )?;
        self.tx
            .execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    }

    // ---- status logs ----

    /// Records a transition.
    pub fn add_status_log(&self, l: &StatusLog) -> Result<()> {
        self.tx.execute(
            "INSERT INTO status_logs(id, container_id, transition_time, from_status, to_status,
             created_at, doc) VALUES (?1,?2,?3,?4,?5,?3,?6)",
            params![
                l.id,
                l.container_id,
                l.transition_time,
                l.from_status.map(|s| s.as_str()),
                l.to_status.as_str(),
                to_json(l)?
            ],
        )?;
        Ok(())
    }

    /// A page of a container's transitions.
    pub fn status_logs(
        &self,
        container: &str,
        sort: &str,
        order: Order,
        limit: u64,
        offset: u64,
    ) -> Result<(Vec<StatusLog>, u64)> {
        let total: u64 = self.tx.query_row(
            "SELECT COUNT(*) FROM status_logs WHERE container_id = ?1",
            [container],
            |r| r.get(0),
        )?;
        let sql = format!(
            "SELECT doc FROM status_logs WHERE container_id = ?1
             ORDER BY {sort} {o}, rowid {o} LIMIT ?2 OFFSET ?3",
            o = order.sql()
        );
        let mut st = self.tx.prepare_cached(&sql)?;
        let rows = st.query_map(params![container, limit, offset], |r| {
            from_json::<StatusLog>(&r.get::<_, String>(0)?)
        })?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, total))
    }

    // ---- project permissions ----

    /// Stores a project permission (new or changed).
    pub fn put_project_permission(&self, p: &ProjectPermission) -> Result<()> {
        self.tx.execute(
            "INSERT INTO project_permissions(id, project_id, user_id, doc) VALUES (?1,?2,?3,?4)
             ON CONFLICT(id) DO UPDATE SET doc=excluded.doc",
            params![p.id, p.project_id, p.user_id, to_json(p)?],
        )?;
        Ok(())
    }

    /// The permissions of a project (`project`), or held by a token (`user`), oldest first.
    pub fn project_permissions(
        &self,
        project: Option<&str>,
        user: Option<&str>,
    ) -> Result<Vec<ProjectPermission>> {
        let mut st = self.tx.prepare_cached(
            "SELECT doc FROM project_permissions
             WHERE (?1 IS NULL OR project_id = ?1) AND (?2 IS NULL OR user_id = ?2)
             ORDER BY json_extract(doc, '$.created_at'), id",
        )?;
        let rows = st.query_map(params![project, user], |r| {
            from_json::<ProjectPermission>(&r.get::<_, String>(0)?)
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes a project permission; whether it existed.
    pub fn delete_project_permission(&self, id: &str) -> Result<bool> {
        Ok(self
            .tx
            .execute("DELETE FROM project_permissions WHERE id = ?1", [id])?
            > 0)
    }

    // ---- tokens ----

    /// Stores a token under the hash of its secret.
    pub fn put_token(&self, t: &Token, hash: &str) -> Result<()> {
        self.tx.execute(
            "INSERT INTO tokens(id, hash, doc) VALUES (?1,?2,?3)
             ON CONFLICT(id) DO UPDATE SET doc=excluded.doc",
            params![t.id, hash, to_json(t)?],
        )?;
        Ok(())
    }

    /// The token whose secret hashes to `hash`.
    pub fn token_by_hash(&self, hash: &str) -> Result<Option<Token>> {
        let doc: Option<String> = self
            .tx
            .query_row("SELECT doc FROM tokens WHERE hash = ?1", [hash], |r| {
                r.get(0)
            })
            .optional()?;
        Ok(doc.map(|d| from_json(&d)).transpose()?)
    }

    /// A token by id, with the hash of its secret.
    pub fn token(&self, id: &str) -> Result<Option<(Token, String)>> {
        let row: Option<(String, String)> = self
            .tx
            .query_row("SELECT doc, hash FROM tokens WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        row.map(|(d, h)| Ok((from_json(&d)?, h))).transpose()
    }

    /// Every token.
    pub fn tokens(&self) -> Result<Vec<Token>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT doc FROM tokens ORDER BY id")?;
        let rows = st.query_map([], |r| from_json::<Token>(&r.get::<_, String>(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes a token (and the project permissions it held); whether it existed.
    pub fn delete_token(&self, id: &str) -> Result<bool> {
        self.tx
            .execute("DELETE FROM project_permissions WHERE user_id = ?1", [id])?;
        Ok(self.tx.execute("DELETE FROM tokens WHERE id = ?1", [id])? > 0)
    }

    // ---- proxy aliases and permission documents ----

    /// Inserts or replaces an alias.
    pub fn put_alias(&self, a: &Alias) -> Result<()> {
        self.tx.execute(
            "INSERT INTO aliases(id, alias, container_id, doc) VALUES (?1,?2,?3,?4)
             ON CONFLICT(id) DO UPDATE SET alias=excluded.alias, doc=excluded.doc",
            params![a.id, a.alias, a.container_id, to_json(a)?],
        )?;
        Ok(())
    }

    /// An alias by id.
    pub fn alias(&self, id: &str) -> Result<Option<Alias>> {
        let doc: Option<String> = self
            .tx
            .query_row("SELECT doc FROM aliases WHERE id = ?1", [id], |r| r.get(0))
            .optional()?;
        Ok(doc.map(|d| from_json(&d)).transpose()?)
    }

    /// The id of the alias named `alias`.
    pub fn alias_by_name(&self, alias: &str) -> Result<Option<String>> {
        Ok(self
            .tx
            .query_row("SELECT id FROM aliases WHERE alias = ?1", [alias], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Every alias, by name.
    pub fn aliases(&self) -> Result<Vec<Alias>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT doc FROM aliases ORDER BY alias")?;
        let rows = st.query_map([], |r| from_json::<Alias>(&r.get::<_, String>(0)?))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Deletes an alias; whether it existed.
    pub fn delete_alias(&self, id: &str) -> Result<bool> {
        Ok(self.tx.execute("DELETE FROM aliases WHERE id = ?1", [id])? > 0)
    }

    /// A permission document.
    pub fn proxy_doc(&self, scope: &str, id: &str) -> Result<Option<serde_json::Value>> {
        let doc: Option<String> = self
            .tx
            .query_row(
                "SELECT doc FROM proxy_docs WHERE scope = ?1 AND id = ?2",
                [scope, id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(doc.map(|d| from_json(&d)).transpose()?)
    }

    /// Fills in whose permission documents apply to each container (and, with `embed`, the
    /// documents): one query for the whole page.
    pub fn decorate_permissions(&self, containers: &mut [Container], embed: bool) -> Result<()> {
        if containers.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = containers
            .iter()
            .flat_map(|c| [c.id.as_str(), c.project_id.as_str()])
            .collect();
        let mut st = self.tx.prepare_cached(
            "SELECT scope, id, CASE WHEN ?2 THEN doc END FROM proxy_docs
             WHERE id IN (SELECT value FROM json_each(?1))",
        )?;
        let mut docs: std::collections::HashMap<(String, String), Option<String>> =
            std::collections::HashMap::new();
        let rows = st.query_map(params![to_json(&ids)?, embed], |r| {
            Ok(((r.get::<_, String>(0)?, r.get::<_, String>(1)?), r.get(2)?))
        })?;
        for row in rows {
            let (k, v) = row?;
            docs.insert(k, v);
        }
        let parse = |d: Option<&Option<String>>| -> Result<Option<serde_json::Value>> {
            Ok(d.and_then(Option::as_deref)
                .map(from_json::<serde_json::Value>)
                .transpose()?)
        };
        for c in containers {
            let own = docs.get(&("container".to_string(), c.id.clone()));
            let parent = docs.get(&("project".to_string(), c.project_id.clone()));
            c.has_proxy_permissions = own.is_some() || parent.is_some();
            c.proxy_permissions_scope = match (own.is_some(), parent.is_some()) {
                (true, true) => "both",
                (true, false) => "container",
                (false, true) => "project",
                (false, false) => "none",
            }
            .to_string();
            c.proxy_permissions = if embed {
                Some(crate::api::ProxyPermissions {
                    container: parse(own)?,
                    project: parse(parent)?,
                })
            } else {
                None
            };
        }
        Ok(())
    }

    /// A container's firewall (empty when it has none).
    pub fn firewall(&self, id: &str) -> Result<crate::api::Firewall> {
        let doc: Option<String> = self
            .tx
            .query_row(
                "SELECT doc FROM firewalls WHERE container_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(doc.map(|d| from_json(&d)).transpose()?.unwrap_or_default())
    }

    /// Stores a container's firewall.
    pub fn put_firewall(&self, id: &str, fw: &crate::api::Firewall) -> Result<()> {
        self.tx.execute(
            "INSERT INTO firewalls(container_id, doc) VALUES (?1,?2)
             ON CONFLICT(container_id) DO UPDATE SET doc=excluded.doc",
            params![id, to_json(fw)?],
        )?;
        Ok(())
    }

    /// Every realm some project, container or token carries, with how many of each.
    pub fn realm_usage(
        &self,
    ) -> Result<std::collections::BTreeMap<String, crate::api::RealmUsage>> {
        let mut st = self.tx.prepare_cached(
            "SELECT j.value, 'p' FROM projects, json_each(projects.doc, '$.realm_ids') AS j
             UNION ALL
             SELECT j.value, 'c' FROM containers, json_each(containers.doc, '$.realm_ids') AS j
             UNION ALL
             SELECT j.value, 't' FROM tokens, json_each(tokens.doc, '$.realm_ids') AS j",
        )?;
        let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut usage: std::collections::BTreeMap<String, crate::api::RealmUsage> =
            std::collections::BTreeMap::new();
        for row in rows {
            let (realm, kind) = row?;
            let u = usage.entry(realm).or_default();
            match kind.as_str() {
                "p" => u.projects += 1,
                "c" => u.containers += 1,
                _ => u.auth_tokens += 1,
            }
        }
        Ok(usage)
    }

    /// A container's egress network, if it has one.
    pub fn egress(&self, id: &str) -> Result<Option<crate::egress::EgressRecord>> {
        let doc: Option<String> = self
            .tx
            .query_row(
                "SELECT doc FROM egress_networks WHERE container_id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(doc.map(|d| from_json(&d)).transpose()?)
    }

    /// Stores a container's egress network.
    pub fn put_egress(&self, id: &str, rec: &crate::egress::EgressRecord) -> Result<()> {
        self.tx.execute(
            "INSERT INTO egress_networks(container_id, doc) VALUES (?1,?2)
             ON CONFLICT(container_id) DO UPDATE SET doc=excluded.doc",
            params![id, to_json(rec)?],
        )?;
        Ok(())
    }

    /// Removes a container's egress network.
    pub fn delete_egress(&self, id: &str) -> Result<()> {
        self.tx
            .execute("DELETE FROM egress_networks WHERE container_id = ?1", [id])?;
        Ok(())
    }

    /// Stores a permission document.
    pub fn put_proxy_doc(&self, scope: &str, id: &str, doc: &serde_json::Value) -> Result<()> {
        self.tx.execute(
            "INSERT INTO proxy_docs(scope, id, doc) VALUES (?1,?2,?3)
             ON CONFLICT(scope, id) DO UPDATE SET doc=excluded.doc",
            params![scope, id, to_json(doc)?],
        )?;
        Ok(())
    }

    /// Deletes a permission document; whether it existed.
    pub fn delete_proxy_doc(&self, scope: &str, id: &str) -> Result<bool> {
        Ok(self.tx.execute(
            "DELETE FROM proxy_docs WHERE scope = ?1 AND id = ?2",
            [scope, id],
        )? > 0)
    }

    /// Every permission document: (scope, id, document).
    pub fn proxy_docs(&self) -> Result<Vec<(String, String, serde_json::Value)>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT scope, id, doc FROM proxy_docs ORDER BY scope, id")?;
        let rows = st.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, from_json(&r.get::<_, String>(2)?)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    // ---- journal ----

    /// Journals an operation; its number.
    pub fn begin_op(&self, op: &Journal, now: &str) -> Result<i64> {
        let container = match op {
            Journal::Create { container }
            | Journal::Copy { container, .. }
            | Journal::Restore { container, .. }
            | Journal::Delete { container } => container,
        };
        self.tx.execute(
            "INSERT INTO operations(container_id, doc, started_at) VALUES (?1,?2,?3)",
            params![container, to_json(op)?, now],
        )?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Removes a finished operation.
    pub fn end_op(&self, id: i64) -> Result<()> {
        self.tx
            .execute("DELETE FROM operations WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Unfinished operations, oldest first.
    pub fn pending_ops(&self) -> Result<Vec<(i64, Journal)>> {
        let mut st = self
            .tx
            .prepare_cached("SELECT id, doc FROM operations ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?, from_json(&r.get::<_, String>(1)?)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn journal_round_trip_and_transactions_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(&dir.path().join("s.db")).unwrap();
        let op = Journal::Restore {
            container: "c".into(),
            snapshot: "snap".into(),
            was_running: true,
            previous: ContainerStatus::Running,
        };
        let id = s.tx(|t| Ok(t.begin_op(&op, "now")?)).unwrap();
        assert_eq!(s.read().pending_ops().unwrap(), vec![(id, op)]);
        // A failing transaction leaves nothing.
        let r: Result<(), HostError> = s.tx(|t| {
            t.set_meta("k", "v")?;
            Err(ApiError::internal("boom").into())
        });
        assert!(r.is_err());
        assert_eq!(s.read().meta("k").unwrap(), None);
        s.tx(|t| Ok(t.end_op(id)?)).unwrap();
        assert!(s.read().pending_ops().unwrap().is_empty());
    }
}
