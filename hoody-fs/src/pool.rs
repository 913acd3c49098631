//! [`Pool`]: the storage root, its layout, images and container root file systems.
//!
//! Layout under the pool root:
//!
//! ```text
//! pool.json                         {version, backend}
//! images/<image>                    read-only subvolume (or directory)
//! images/<image>.json               ImageInfo metadata
//! containers/<container>            writable snapshot of an image: the container's rootfs
//! containers/<container>.json       ContainerInfo metadata
//! snapshots/<container>/<snap>      read-only snapshot of the container
//! snapshots/<container>/<snap>.json SnapshotInfo metadata
//! staging/                          work in progress (restores, imports, receives)
//! ```
//!
//! Anything under `staging/` belongs to an operation in progress or interrupted by a crash;
//! [`Pool::open`] finishes or rolls back interrupted restores (see `snapshot`) and removes the
//! rest, so a crash never leaves a half-made image, container or snapshot visible.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::error::{FsError, Result};
use crate::name::validate;
use hoody_sys::time;

const POOL_META: &str = "pool.json";
const LAYOUT_VERSION: u32 = 1;

/// Metadata of a pool (`pool.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PoolMeta {
    version: u32,
    backend: Backend,
}

/// An image: a read-only tree containers are created from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// Image name.
    pub name: String,
    /// When it was stored (RFC 3339, UTC).
    pub created_at: String,
    /// Where it came from (a file, a build description).
    pub source: String,
}

/// A container's root file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Container name.
    pub name: String,
    /// The image it was created from (`None` for a branch of a snapshot or a received one
    /// whose image is not in this pool).
    pub image: Option<String>,
    /// The container and snapshot it was branched from, if any.
    pub branched_from: Option<String>,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
}

/// A storage pool: a handle that either holds the pool's write lock or only reads (see
/// [`crate::lock`]). Clones share the lock.
#[derive(Debug, Clone)]
pub struct Pool {
    root: PathBuf,
    backend: Backend,
    lock: Option<std::sync::Arc<crate::lock::WriteLock>>,
}

/// The metadata file of a tree: `<tree>.json` (appended, so names with dots work).
pub(crate) fn meta_path(tree: &Path) -> PathBuf {
    let mut s = tree.as_os_str().to_os_string();
    s.push(".json");
    PathBuf::from(s)
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let data = serde_json::to_vec_pretty(value)
        .map_err(|e| FsError::io("serialize", path, std::io::Error::other(e)))?;
    std::fs::write(&tmp, data).map_err(|e| FsError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| FsError::io("rename into place", path, e))
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let data = std::fs::read(path).map_err(|e| FsError::io("read", path, e))?;
    serde_json::from_slice(&data).map_err(|e| {
        FsError::io(
            "parse",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })
}

impl Pool {
    /// Creates the pool layout at `root` (which must exist) with the backend its file system
    /// allows. Idempotent: an existing pool is opened unchanged.
    pub fn create(root: impl Into<PathBuf>) -> Result<Pool> {
        let root: PathBuf = root.into();
        if root.join(POOL_META).exists() {
            return Pool::open(root);
        }
        std::fs::create_dir_all(&root)
            .map_err(|e| FsError::io("create pool directory", &root, e))?;
        let backend = Backend::detect(&root)?;
        for d in ["images", "containers", "snapshots", "staging"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).map_err(|e| FsError::io("create", &p, e))?;
        }
        write_json(
            &root.join(POOL_META),
            &PoolMeta {
                version: LAYOUT_VERSION,
                backend,
            },
        )?;
        Pool::open(root)
    }

    /// Opens an existing pool to change it, as a direct writer: takes the pool's write lock
    /// (waiting for another direct writer, refused with [`FsError::Served`] while a daemon
    /// serves the pool; see [`crate::lock`]) and repairs what an interrupted operation left
    /// behind.
    pub fn open(root: impl Into<PathBuf>) -> Result<Pool> {
        Pool::open_with(root.into(), None)
    }

    /// Opens an existing pool to read it: no lock, no repair, never waits; every method that
    /// would change the pool returns [`FsError::ReadOnly`]. Safe while a daemon serves it.
    pub fn open_read_only(root: impl Into<PathBuf>) -> Result<Pool> {
        let (root, backend) = Pool::read_meta(root.into())?;
        Ok(Pool {
            root,
            backend,
            lock: None,
        })
    }

    pub(crate) fn open_with(root: PathBuf, serves: Option<String>) -> Result<Pool> {
        let (root, backend) = Pool::read_meta(root)?;
        let lock = crate::lock::acquire(&root, serves)?;
        let pool = Pool {
            root,
            backend,
            lock: Some(lock),
        };
        pool.repair()?;
        Ok(pool)
    }

    /// Whether `root` holds a pool (its `pool.json`; a loop pool must be mounted to show it).
    pub fn is_pool(root: impl AsRef<Path>) -> bool {
        root.as_ref().join(POOL_META).exists()
    }

    /// Whether this handle holds the pool's write lock.
    pub fn is_writable(&self) -> bool {
        self.lock.is_some()
    }

    fn read_meta(root: PathBuf) -> Result<(PathBuf, Backend)> {
        let meta_path = root.join(POOL_META);
        if !meta_path.exists() {
            return Err(FsError::NotAPool {
                path: root,
                reason: format!("no {POOL_META}"),
            });
        }
        let meta: PoolMeta = read_json(&meta_path)?;
        if meta.version != LAYOUT_VERSION {
            return Err(FsError::NotAPool {
                path: root,
                reason: format!("layout version {} is not {LAYOUT_VERSION}", meta.version),
            });
        }
        Ok((root, meta.backend))
    }

    /// The pool root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn staging(&self) -> PathBuf {
        self.root.join("staging")
    }

    /// A fresh, unused path under `staging/` (never a valid object name: it starts with '.').
    pub(crate) fn staging_path(&self, what: &str) -> Result<PathBuf> {
        let staging = self.staging();
        let hex = hoody_sys::random::hex(6)
            .map_err(|e| FsError::io("draw a random name in", &staging, e))?;
        Ok(staging.join(format!(".{what}-{hex}")))
    }

    /// Repairs what an interrupted operation left behind. Only under the write lock.
    fn repair(&self) -> Result<()> {
        self.check_writable()?;
        crate::snapshot::repair_restores(self)?;
        // Objects become visible when their metadata is written, last. A tree without
        // metadata was being created when the process died; metadata without a tree was
        // being deleted.
        self.remove_orphans(&self.root.join("images"))?;
        self.remove_orphans(&self.root.join("containers"))?;
        let snaps = self.root.join("snapshots");
        if let Ok(entries) = std::fs::read_dir(&snaps) {
            for e in entries.flatten() {
                if e.path().is_dir() {
                    self.remove_orphans(&e.path())?;
                }
            }
        }
        // Whatever else is in staging/ is an import, build or receive that never finished.
        let staging = self.staging();
        let entries = std::fs::read_dir(&staging).map_err(|e| FsError::io("read", &staging, e))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                continue;
            }
            self.backend.set_readonly(&p, false).ok();
            self.backend.delete(&p)?;
        }
        Ok(())
    }

    fn remove_orphans(&self, dir: &Path) -> Result<()> {
        let entries = std::fs::read_dir(dir).map_err(|e| FsError::io("read", dir, e))?;
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") {
                if std::fs::symlink_metadata(p.with_extension("")).is_err() {
                    remove_file_if_exists(&p)?;
                }
            } else if p.is_file() {
                // A metadata write that never got renamed into place.
                remove_file_if_exists(&p)?;
            } else if !meta_path(&p).exists() {
                self.backend.set_readonly(&p, false).ok();
                self.backend.delete(&p)?;
            }
        }
        Ok(())
    }

    // ---- images -------------------------------------------------------------------------

    /// Path of an image's tree.
    pub fn image_path(&self, name: &str) -> Result<PathBuf> {
        validate("image", name)?;
        let p = self.root.join("images").join(name);
        if !p.exists() {
            return Err(self.not_found("image", name));
        }
        Ok(p)
    }

    /// Every image, sorted by name.
    pub fn images(&self) -> Result<Vec<ImageInfo>> {
        let mut v: Vec<ImageInfo> = self.list_meta("images")?;
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// Stores the tree at `tree` (a staging path of this pool, filled by the caller) as image
    /// `name`: renames it into place, marks it read-only, then writes its metadata, which is
    /// what makes it visible (a read-only subvolume cannot be moved to another directory, so
    /// the flag is set after the move).
    pub(crate) fn commit_image(&self, name: &str, tree: &Path, source: &str) -> Result<ImageInfo> {
        let dst = self.root.join("images").join(name);
        if dst.exists() {
            self.backend.delete(tree)?;
            return Err(self.exists("image", name));
        }
        std::fs::rename(tree, &dst).map_err(|e| FsError::io("move image into place", &dst, e))?;
        let info = ImageInfo {
            name: name.to_string(),
            created_at: time::rfc3339(time::now_secs()),
            source: source.to_string(),
        };
        let published = self
            .backend
            .set_readonly(&dst, true)
            .and_then(|()| write_json(&meta_path(&dst), &info));
        if let Err(e) = published {
            let _ = self.backend.delete(&dst);
            return Err(e);
        }
        Ok(info)
    }

    /// Creates image `name` from a directory tree on the host (copied, not moved).
    pub fn import_image_dir(&self, name: &str, dir: &Path) -> Result<ImageInfo> {
        self.check_writable()?;
        validate("image", name)?;
        if self.root.join("images").join(name).exists() {
            return Err(self.exists("image", name));
        }
        let stage = self.staging_path("image")?;
        self.backend.create(&stage)?;
        let out = std::process::Command::new("cp")
            .args(["-a", "--reflink=auto", "-T"])
            .arg(dir)
            .arg(&stage)
            .output()
            .map_err(|e| FsError::io("run cp from", dir, e))?;
        if !out.status.success() {
            self.backend.delete(&stage)?;
            return Err(FsError::Tool {
                tool: format!("cp -a {}", dir.display()),
                message: crate::backend::tool_message(&out),
            });
        }
        self.commit_image(name, &stage, &format!("directory {}", dir.display()))
    }

    /// Removes an image; refused while a container uses it.
    pub fn remove_image(&self, name: &str) -> Result<()> {
        self.check_writable()?;
        let path = self.image_path(name)?;
        let users: Vec<String> = self
            .containers()?
            .into_iter()
            .filter(|c| c.image.as_deref() == Some(name))
            .map(|c| c.name)
            .collect();
        if !users.is_empty() {
            return Err(FsError::ImageInUse {
                image: name.to_string(),
                containers: users.join(", "),
            });
        }
        self.backend.delete(&path)?;
        remove_file_if_exists(&meta_path(&path))
    }

    // ---- containers ---------------------------------------------------------------------

    /// Path of a container's root file system.
    pub fn container_path(&self, name: &str) -> Result<PathBuf> {
        validate("container", name)?;
        let p = self.root.join("containers").join(name);
        if !p.exists() {
            return Err(self.not_found("container", name));
        }
        Ok(p)
    }

    /// Creates container `name`'s root file system as a writable snapshot of `image`.
    pub fn create_container(&self, name: &str, image: &str) -> Result<ContainerInfo> {
        self.check_writable()?;
        validate("container", name)?;
        let image_path = self.image_path(image)?;
        let info = ContainerInfo {
            name: name.to_string(),
            image: Some(image.to_string()),
            branched_from: None,
            created_at: time::rfc3339(time::now_secs()),
        };
        self.place_container(&image_path, &info)?;
        Ok(info)
    }

    /// Snapshots `src` into `containers/<info.name>` (through staging) and writes its
    /// metadata last: the container is visible only once complete.
    pub(crate) fn place_container(&self, src: &Path, info: &ContainerInfo) -> Result<()> {
        let dst = self.root.join("containers").join(&info.name);
        if dst.exists() {
            return Err(self.exists("container", &info.name));
        }
        let stage = self.staging_path("container")?;
        self.backend.snapshot(src, &stage, false)?;
        if let Err(e) = std::fs::rename(&stage, &dst) {
            self.backend.delete(&stage)?;
            return Err(FsError::io("move container into place", &dst, e));
        }
        if let Err(e) = write_json(&meta_path(&dst), info) {
            self.backend.delete(&dst)?;
            return Err(e);
        }
        Ok(())
    }

    /// Every container, sorted by name.
    pub fn containers(&self) -> Result<Vec<ContainerInfo>> {
        let mut v: Vec<ContainerInfo> = self.list_meta("containers")?;
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// One container's metadata.
    pub fn container(&self, name: &str) -> Result<ContainerInfo> {
        let p = self.container_path(name)?;
        read_json(&meta_path(&p))
    }

    /// Deletes a container's root file system and all its snapshots.
    pub fn remove_container(&self, name: &str) -> Result<()> {
        self.check_writable()?;
        let path = self.container_path(name)?;
        let snaps = self.root.join("snapshots").join(name);
        if snaps.exists() {
            for s in self.snapshots(name)? {
                self.delete_snapshot(name, &s.name)?;
            }
            std::fs::remove_dir_all(&snaps).map_err(|e| FsError::io("remove", &snaps, e))?;
        }
        self.backend.delete(&path)?;
        remove_file_if_exists(&meta_path(&path))
    }

    /// Bytes used by a container's files (apparent sizes of regular files, each hard-linked
    /// inode once). On btrfs this counts shared extents fully: it is what the container
    /// holds, not what it alone costs the pool.
    pub fn disk_usage(&self, name: &str) -> Result<u64> {
        crate::usage::tree_bytes(&self.container_path(name)?)
    }

    // ---- helpers ------------------------------------------------------------------------

    fn list_meta<T: for<'de> Deserialize<'de>>(&self, dir: &str) -> Result<Vec<T>> {
        let d = self.root.join(dir);
        let mut out = Vec::new();
        for e in std::fs::read_dir(&d)
            .map_err(|e| FsError::io("read", &d, e))?
            .flatten()
        {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "json") && p.with_extension("").exists() {
                out.push(read_json(&p)?);
            }
        }
        Ok(out)
    }

    pub(crate) fn not_found(&self, kind: &'static str, name: &str) -> FsError {
        FsError::NotFound {
            kind,
            name: name.to_string(),
            pool: self.root.clone(),
        }
    }

    pub(crate) fn exists(&self, kind: &'static str, name: &str) -> FsError {
        FsError::AlreadyExists {
            kind,
            name: name.to_string(),
            pool: self.root.clone(),
        }
    }
}

pub(crate) fn remove_file_if_exists(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FsError::io("remove", p, e)),
    }
}
