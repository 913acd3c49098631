//! Open databases: per database file, one writer connection and a few idle readers.
//!
//! - Files are keyed by (device, inode), so `app`, `app.db` and `/hoody/databases/app.db`
//!   share connections. Each request `stat`s the path: a file replaced or deleted behind our
//!   back (by the files service, a restore) is noticed at once, its old connections are
//!   dropped (freeing the old file) and the new file gets fresh ones. (An inode cannot be
//!   reused while our connections hold the old file open.)
//! - Writes go through the one writer connection, behind a mutex: this process's writers queue
//!   there instead of spinning on `SQLITE_BUSY`. `busy_timeout` (5 s) covers other processes
//!   (other containers share `/hoody/databases`). Every database is switched to WAL, so
//!   readers never wait for the writer.
//! - Readers are opened with `PRAGMA query_only`; up to [`MAX_IDLE_READERS`] are kept.
//! - Files are opened with `SQLITE_OPEN_NOFOLLOW` after resolving symlinks ourselves, and a
//!   non-empty file must start with the SQLite header (`INVALID_SQLITE_HEADER` otherwise).
//! - Every connection carries a [`Guard`]: an authorizer that, while client SQL is being
//!   prepared, refuses transaction control (`BEGIN`, `COMMIT`, `SAVEPOINT`, ...), `ATTACH` /
//!   `DETACH` and pragmas that would change how the pool works; and a progress handler that
//!   interrupts a statement past its deadline.
//! - All of this is blocking: callers run it on tokio's blocking pool ([`blocking`]).

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::dbpath::{Target, invalid};
use crate::{ApiError, ApiResult};

/// Idle reader connections kept per database.
pub(crate) const MAX_IDLE_READERS: usize = 4;
/// Databases kept open; beyond this the least recently used idle ones are closed.
const MAX_OPEN_DATABASES: usize = 32;
/// How long a connection waits for a lock held by another process.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements cached per connection.
const STATEMENT_CACHE: usize = 64;
/// SQLite's page cache per connection (its default), for the health body.
pub(crate) const PAGE_CACHE_BYTES: u64 = 2000 * 1024;
/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";
/// Pragmas client SQL may read but not set: setting them would break the pool's
/// assumptions (WAL, a writable writer, shared locking).
const PROTECTED_PRAGMAS: [&str; 4] = ["journal_mode", "locking_mode", "query_only", "busy_timeout"];

/// Locks `m`, recovering from a poisoned lock (the data is SQLite's, which stays consistent;
/// an interrupted transaction is rolled back by [`Conn::reset`]).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> ApiResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("sqlite worker failed: {e}")))?
}

/// Milliseconds on a monotonic clock (since the first call).
fn mono_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// Per-connection state shared with its authorizer and progress handler.
#[derive(Debug, Default)]
struct Guard {
    /// Set while client SQL is being prepared.
    client_sql: AtomicBool,
    /// [`mono_ms`] after which the running statement is interrupted (0: none).
    deadline_ms: AtomicU64,
    /// Why the authorizer last refused something (SQLite only says "not authorized").
    denied: Mutex<Option<String>>,
}

impl Guard {
    fn authorize(&self, ctx: AuthContext<'_>) -> Authorization {
        if !self.client_sql.load(Ordering::Relaxed) {
            return Authorization::Allow;
        }
        let why = match ctx.action {
            AuthAction::Transaction { .. } => {
                "BEGIN/COMMIT/ROLLBACK: each request already runs as one transaction"
            }
            AuthAction::Savepoint { .. } => {
                "SAVEPOINT/RELEASE: each request already runs as one transaction (use noFail for \
                 statements allowed to fail)"
            }
            AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
                "ATTACH/DETACH: address each database with its own db parameter"
            }
            AuthAction::Pragma {
                pragma_name,
                pragma_value: Some(_),
            } if PROTECTED_PRAGMAS
                .iter()
                .any(|p| p.eq_ignore_ascii_case(pragma_name)) =>
            {
                "setting journal_mode, locking_mode, query_only or busy_timeout: the service \
                 manages them"
            }
            _ => return Authorization::Allow,
        };
        *lock(&self.denied) = Some(why.to_string());
        Authorization::Deny
    }
}

/// One SQLite connection with its [`Guard`].
pub(crate) struct Conn {
    conn: Connection,
    guard: Arc<Guard>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("path", &self.conn.path())
            .finish()
    }
}

/// Clears a connection's deadline when dropped.
pub(crate) struct DeadlineScope<'a>(&'a Conn);

impl Drop for DeadlineScope<'_> {
    fn drop(&mut self) {
        self.0.guard.deadline_ms.store(0, Ordering::Relaxed);
    }
}

impl Conn {
    fn open(path: &Path, create: bool, reader: bool) -> rusqlite::Result<Conn> {
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        if create {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        }
        let conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        if reader {
            conn.pragma_update(None, "query_only", true)?;
        }
        let guard = Arc::new(Guard::default());
        let g = guard.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| g.authorize(ctx)));
        let g = guard.clone();
        conn.progress_handler(
            10_000,
            Some(move || {
                let d = g.deadline_ms.load(Ordering::Relaxed);
                d != 0 && mono_ms() > d
            }),
        );
        Ok(Conn { conn, guard })
    }

    /// The connection.
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Interrupts statements running longer than `limit` until the scope is dropped.
    pub(crate) fn deadline(&self, limit: Duration) -> DeadlineScope<'_> {
        self.guard
            .deadline_ms
            .store(mono_ms() + limit.as_millis() as u64, Ordering::Relaxed);
        DeadlineScope(self)
    }

    /// Runs `f` (which prepares client SQL) with the authorizer's restrictions on.
    pub(crate) fn client<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Off<'a>(&'a AtomicBool);
        impl Drop for Off<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Relaxed);
            }
        }
        self.guard.client_sql.store(true, Ordering::Relaxed);
        let _off = Off(&self.guard.client_sql);
        f()
    }

    /// What SQLite said about `e`, with the authorizer's reason when it refused something.
    pub(crate) fn explain(&self, e: &rusqlite::Error) -> String {
        let reason = lock(&self.guard.denied).take();
        match (e.sqlite_error_code(), reason) {
            (Some(ErrorCode::AuthorizationForStatementDenied), Some(why)) => {
                format!("not allowed: {why}")
            }
            (Some(ErrorCode::OperationInterrupted), _) => {
                "interrupted: the statement ran past its time limit".to_string()
            }
            _ => match e {
                rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
                rusqlite::Error::MultipleStatement => {
                    "more than one SQL statement given where one is expected".to_string()
                }
                other => other.to_string(),
            },
        }
    }

    /// The HTTP error for `e`, naming database `db`.
    pub(crate) fn error(&self, db: &Path, e: rusqlite::Error) -> ApiError {
        sql_error(&e, format!("{}: {}", db.display(), self.explain(&e)))
    }

    /// Rolls back a transaction a failed request left open.
    fn reset(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        self.guard.deadline_ms.store(0, Ordering::Relaxed);
    }
}

/// The HTTP error for SQLite error `e` on database `db`, with message `msg`.
pub(crate) fn sql_error(e: &rusqlite::Error, msg: String) -> ApiError {
    use ErrorCode::*;
    let (status, code) = match e.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked) => (StatusCode::SERVICE_UNAVAILABLE, "DATABASE_BUSY"),
        Some(DiskFull) => (StatusCode::INSUFFICIENT_STORAGE, "NO_SPACE"),
        Some(NotADatabase) => (StatusCode::BAD_REQUEST, "INVALID_SQLITE_HEADER"),
        Some(ConstraintViolation) => (StatusCode::CONFLICT, "CONSTRAINT_VIOLATION"),
        Some(OperationInterrupted) => (StatusCode::GATEWAY_TIMEOUT, "QUERY_TIMEOUT"),
        Some(ReadOnly) => (StatusCode::FORBIDDEN, "READ_ONLY"),
        Some(AuthorizationForStatementDenied) => (StatusCode::BAD_REQUEST, "STATEMENT_NOT_ALLOWED"),
        Some(TooBig) => (StatusCode::PAYLOAD_TOO_LARGE, "TOO_BIG"),
        Some(
            SystemIoFailure
            | DatabaseCorrupt
            | CannotOpen
            | PermissionDenied
            | OutOfMemory
            | InternalMalfunction
            | FileLockingProtocolFailed
            | NoLargeFileSupport,
        ) => (StatusCode::INTERNAL_SERVER_ERROR, "DATABASE_ERROR"),
        _ => (StatusCode::BAD_REQUEST, "SQL_ERROR"),
    };
    let mut err = ApiError::new(status, code, msg);
    if let rusqlite::Error::SqliteFailure(f, _) = e {
        err = err.with_details(serde_json::json!({ "sqlite_code": f.extended_code }));
    }
    err
}

/// One open database file.
#[derive(Debug)]
pub(crate) struct Db {
    /// The file (symlinks resolved).
    pub path: PathBuf,
    writer: Mutex<Conn>,
    readers: Mutex<Vec<Conn>>,
    /// KV tables known to exist with the expected columns.
    pub kv_tables: Mutex<HashSet<String>>,
    last_used: AtomicU64,
}

/// A reader connection, returned to the idle list when dropped.
pub(crate) struct Reader<'a> {
    db: &'a Db,
    conn: Option<Conn>,
}

impl std::ops::Deref for Reader<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        // Only `drop` takes it.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("reader used after drop"))
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.conn.take() {
            c.reset();
            let mut idle = lock(&self.db.readers);
            if idle.len() < MAX_IDLE_READERS {
                idle.push(c);
            }
        }
    }
}

impl Db {
    fn open(path: &Path, create: bool) -> rusqlite::Result<Db> {
        let writer = Conn::open(path, create, false)?;
        // WAL is persistent in the file; a file system without shared memory keeps the
        // rollback journal, which is still correct, just slower for concurrent readers.
        let _mode: rusqlite::Result<String> =
            writer
                .conn
                .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0));
        writer.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(Db {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            kv_tables: Mutex::new(HashSet::new()),
            last_used: AtomicU64::new(mono_ms()),
        })
    }

    /// The writer connection (this process's writers queue here).
    pub(crate) fn writer(&self) -> MutexGuard<'_, Conn> {
        let w = lock(&self.writer);
        w.reset();
        w
    }

    /// A reader connection (`PRAGMA query_only`).
    pub(crate) fn reader(&self) -> ApiResult<Reader<'_>> {
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => Conn::open(&self.path, false, true).map_err(|e| {
                sql_error(
                    &e,
                    format!("{}: cannot open a reader: {e}", self.path.display()),
                )
            })?,
        };
        Ok(Reader {
            db: self,
            conn: Some(conn),
        })
    }

    /// Open connections (writer + idle readers).
    fn connections(&self) -> usize {
        1 + lock(&self.readers).len()
    }
}

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(m: &fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
        }
    }
}

/// What the pool reports in the health body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolStats {
    /// Open databases.
    pub databases: usize,
    /// Open connections.
    pub connections: usize,
    /// Lookups served by an open database.
    pub hits: u64,
    /// Lookups that had to open one.
    pub misses: u64,
}

/// The open databases.
#[derive(Debug)]
pub(crate) struct Pool {
    /// Where bare names resolve.
    databases: PathBuf,
    open: Mutex<HashMap<FileId, Arc<Db>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

enum Located {
    Exists { path: PathBuf, id: FileId, len: u64 },
    Missing,
}

impl Pool {
    /// An empty pool; bare names resolve under `databases`.
    pub(crate) fn new(databases: PathBuf) -> Pool {
        Pool {
            databases,
            open: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The database `t` names, opened (and created when missing if `create`).
    /// Missing and not `create`: 404 `DATABASE_NOT_FOUND`.
    pub(crate) fn get(&self, t: &Target, create: bool) -> ApiResult<Arc<Db>> {
        match self.locate(t)? {
            Located::Exists { path, id, len } => {
                let mut open = lock(&self.open);
                if let Some(db) = open.get(&id) {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    db.last_used.store(mono_ms(), Ordering::Relaxed);
                    return Ok(db.clone());
                }
                self.misses.fetch_add(1, Ordering::Relaxed);
                forget(&mut open, &path);
                check_header(t, &path, len)?;
                let db = Db::open(&path, false).map_err(|e| open_error(t, &e))?;
                Ok(insert(&mut open, id, db))
            }
            Located::Missing => {
                forget(&mut lock(&self.open), &t.path);
                if !create {
                    return Err(ApiError::new(
                        StatusCode::NOT_FOUND,
                        "DATABASE_NOT_FOUND",
                        format!(
                            "database {:?} ({}) does not exist; pass create_db_if_missing=true \
                             or POST /api/v1/sqlite/db/create to create it",
                            t.raw,
                            t.path.display()
                        ),
                    ));
                }
                if t.bare {
                    fs::create_dir_all(&self.databases)
                        .map_err(|e| ApiError::io(self.databases.display(), &e))?;
                }
                let mut open = lock(&self.open);
                self.misses.fetch_add(1, Ordering::Relaxed);
                let db = Db::open(&t.path, true).map_err(|e| open_error(t, &e))?;
                let m = fs::metadata(&t.path).map_err(|e| ApiError::io(t.path.display(), &e))?;
                let id = FileId::of(&m);
                if let Some(existing) = open.get(&id) {
                    return Ok(existing.clone());
                }
                Ok(insert(&mut open, id, db))
            }
        }
    }

    /// Whether `t` names an existing file (checked like [`Pool::get`]).
    pub(crate) fn exists(&self, t: &Target) -> ApiResult<bool> {
        Ok(matches!(self.locate(t)?, Located::Exists { .. }))
    }

    /// Counts for the health body.
    pub(crate) fn stats(&self) -> PoolStats {
        let open = lock(&self.open);
        PoolStats {
            databases: open.len(),
            connections: open.values().map(|d| d.connections()).sum(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Where `t` is on disk: the file (symlinks resolved) or missing. Directories, special
    /// files, dangling symlinks and (for bare names) symlinks out of the databases
    /// directory are refused.
    fn locate(&self, t: &Target) -> ApiResult<Located> {
        let lmeta = match fs::symlink_metadata(&t.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !t.bare {
                    let parent = t.path.parent().unwrap_or(Path::new("/"));
                    if !parent.is_dir() {
                        return Err(ApiError::new(
                            StatusCode::NOT_FOUND,
                            "DATABASE_NOT_FOUND",
                            format!(
                                "database {:?}: directory {} does not exist",
                                t.raw,
                                parent.display()
                            ),
                        ));
                    }
                }
                return Ok(Located::Missing);
            }
            Err(e) => return Err(ApiError::io(t.path.display(), &e)),
        };
        let (path, meta) = if lmeta.file_type().is_symlink() {
            let real = fs::canonicalize(&t.path).map_err(|e| {
                invalid(
                    &t.raw,
                    format!("{}: dangling symlink ({e})", t.path.display()),
                )
            })?;
            if t.bare {
                let root =
                    fs::canonicalize(&self.databases).unwrap_or_else(|_| self.databases.clone());
                if !real.starts_with(&root) {
                    return Err(invalid(
                        &t.raw,
                        format!(
                            "{} is a symlink to {}, outside {}",
                            t.path.display(),
                            real.display(),
                            self.databases.display()
                        ),
                    ));
                }
            }
            let meta = fs::metadata(&real).map_err(|e| ApiError::io(real.display(), &e))?;
            (real, meta)
        } else {
            (t.path.clone(), lmeta)
        };
        if meta.is_dir() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "PATH_IS_DIRECTORY",
                format!(
                    "database {:?}: {} is a directory, not a database file",
                    t.raw,
                    path.display()
                ),
            ));
        }
        if !meta.is_file() {
            return Err(invalid(
                &t.raw,
                format!("{} is not a regular file", path.display()),
            ));
        }
        Ok(Located::Exists {
            id: FileId::of(&meta),
            len: meta.len(),
            path,
        })
    }
}

/// Refuses a non-empty file that does not start with the SQLite header.
fn check_header(t: &Target, path: &Path, len: u64) -> ApiResult<()> {
    if len == 0 {
        return Ok(()); // SQLite treats an empty file as an empty database.
    }
    let mut head = [0u8; 16];
    let not_sqlite = || {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_SQLITE_HEADER",
            format!(
                "database {:?}: {} is not an SQLite database (no SQLite header)",
                t.raw,
                path.display()
            ),
        )
    };
    match fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)) {
        Ok(()) if &head == SQLITE_HEADER => Ok(()),
        Ok(()) => Err(not_sqlite()),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(not_sqlite()),
        Err(e) => Err(ApiError::io(path.display(), &e)),
    }
}

fn open_error(t: &Target, e: &rusqlite::Error) -> ApiError {
    sql_error(
        e,
        format!(
            "database {:?} ({}): cannot open: {e}",
            t.raw,
            t.path.display()
        ),
    )
}

/// Drops the databases that were open at `path`: the file there was deleted or replaced.
/// Their connections close once the requests using them finish (SQLite does not checkpoint
/// or delete the WAL of a database file that has moved), so the old file's space is freed.
fn forget(open: &mut HashMap<FileId, Arc<Db>>, path: &Path) {
    open.retain(|_, d| d.path != path);
}

/// Adds `db`, closing the least recently used idle databases beyond the limit.
fn insert(open: &mut HashMap<FileId, Arc<Db>>, id: FileId, db: Db) -> Arc<Db> {
    let db = Arc::new(db);
    open.insert(id, db.clone());
    if open.len() > MAX_OPEN_DATABASES {
        let mut idle: Vec<(u64, FileId)> = open
            .iter()
            .filter(|(_, d)| Arc::strong_count(d) == 1)
            .map(|(k, d)| (d.last_used.load(Ordering::Relaxed), *k))
            .collect();
        idle.sort_unstable_by_key(|(t, _)| *t);
        let excess = open.len() - MAX_OPEN_DATABASES;
        for (_, k) in idle.into_iter().take(excess) {
            open.remove(&k);
        }
    }
    db
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> (tempfile::TempDir, Conn) {
        let dir = tempfile::tempdir().unwrap();
        let c = Conn::open(&dir.path().join("t.db"), true, false).unwrap();
        (dir, c)
    }

    #[test]
    fn deadline_interrupts_a_runaway_statement() {
        let (_dir, c) = conn();
        let start = Instant::now();
        let e = {
            let _d = c.deadline(Duration::from_millis(100));
            c.conn()
                .query_row(
                    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) \
                     SELECT count(*) FROM n",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .unwrap_err()
        };
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(sql_error(&e, c.explain(&e)).code, "QUERY_TIMEOUT");
        assert!(c.explain(&e).contains("time limit"));
        // The scope ended: the connection works again.
        let one: i64 = c.conn().query_row("SELECT 1", [], |r| r.get(0)).unwrap();
        assert_eq!(one, 1);
    }

    #[test]
    fn authorizer_refuses_transaction_control_in_client_sql_only() {
        let (_dir, c) = conn();
        for sql in [
            "BEGIN",
            "COMMIT",
            "SAVEPOINT a",
            "ATTACH ':memory:' AS x",
            "PRAGMA query_only = 1",
        ] {
            let e = c.client(|| c.conn().prepare(sql).map(|_| ())).unwrap_err();
            assert!(c.explain(&e).starts_with("not allowed:"), "{sql}");
            assert_eq!(sql_error(&e, String::new()).code, "STATEMENT_NOT_ALLOWED");
        }
        assert!(
            c.client(|| c.conn().prepare("PRAGMA query_only").map(|_| ()))
                .is_ok()
        );
        // The service's own statements are not restricted.
        c.conn()
            .execute_batch("BEGIN; COMMIT; PRAGMA query_only = 0")
            .unwrap();
    }
}
