//! Changing files: streamed uploads (replace, append, write at an offset), touch, mkdir,
//! delete, copy, move and attribute changes.
//!
//! A replacing upload streams into a temporary file in the destination's directory and is
//! renamed over the destination only once the whole body has arrived, so a failed or
//! abandoned upload (the client disconnects and the handler is dropped) leaves the old file
//! untouched and no partial file behind: the temporary file is removed by a guard on drop.
//! An append is rolled back (truncated to the old length) the same way. Writing at an offset
//! (`X-Update-Range: bytes=N-`, for resumable uploads) keeps what arrived.

use std::fs::{self, Metadata};
use std::io::{self, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use axum::body::Body;
use axum::http::StatusCode;
use futures_util::StreamExt;
use tokio::io::{AsyncSeekExt, AsyncWriteExt, BufWriter};

use super::paths::{Follow, Jail, Target};
use crate::{ApiError, ApiResult};

/// Write buffer between the request body and the file.
const WRITE_BUF: usize = 1 << 20;

/// How an upload lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteMode {
    /// Replace the file atomically (temporary file, then rename).
    Replace,
    /// Append to the file (created when missing).
    Append,
    /// Write at this offset (at most the current size).
    At(u64),
}

/// The result of an upload.
#[derive(Debug, Clone, Copy)]
pub(super) struct Written {
    /// The file's size afterwards.
    pub size: u64,
    /// Whether the file did not exist before.
    pub created: bool,
}

/// 403 `PATH_IS_ROOT`.
pub(super) fn root_refused(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "PATH_IS_ROOT",
        format!("the served root itself cannot be {what}"),
    )
}

fn is_a_directory(t: &Target) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "IS_A_DIRECTORY",
        format!("{} is a directory", t.rel()),
    )
}

/// Creates the parent directories of `t`, naming a parent that is not a directory.
fn make_parents(t: &Target) -> ApiResult<()> {
    let Some(parent) = t.abs.parent() else {
        return Ok(());
    };
    fs::create_dir_all(parent).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => ApiError::new(
            StatusCode::CONFLICT,
            "PARENT_NOT_A_DIRECTORY",
            format!("a parent of {} is not a directory", t.rel()),
        ),
        _ => ApiError::io(format!("creating the parents of {}", t.rel()), &e),
    })
}

/// Removes a temporary upload file unless disarmed (also when the request is dropped
/// mid-body).
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Truncates an appended file back to its old length unless disarmed.
/// (A file the append created is removed instead.)
struct AppendGuard {
    file: Option<fs::File>,
    len: u64,
    created: Option<PathBuf>,
}

impl Drop for AppendGuard {
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            match self.created.take() {
                Some(p) => {
                    let _ = fs::remove_file(p);
                }
                None => {
                    let _ = f.set_len(self.len);
                }
            }
        }
    }
}

fn temp_name(dir: &Path) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(
        ".hoody-upload-{}-{n}-{nanos:08x}",
        std::process::id()
    ))
}

/// Where a replacing upload goes: through a symlink to its (inside) target, else `t`
/// itself; with the metadata of what it replaces.
fn replace_destination(jail: &Jail, t: &Target) -> ApiResult<(PathBuf, Option<Metadata>)> {
    match fs::symlink_metadata(&t.abs) {
        Ok(m) if m.file_type().is_symlink() => {
            jail.check(t, Follow::Last)?;
            match fs::canonicalize(&t.abs) {
                Ok(real) => {
                    let m = fs::metadata(&real).map_err(|e| ApiError::io(t.rel(), &e))?;
                    if m.is_dir() {
                        return Err(is_a_directory(t));
                    }
                    Ok((real, Some(m)))
                }
                Err(_) => Err(ApiError::conflict(format!(
                    "{} is a symlink that points nowhere",
                    t.rel()
                ))),
            }
        }
        Ok(m) if m.is_dir() => Err(is_a_directory(t)),
        Ok(m) => Ok((t.abs.clone(), Some(m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            make_parents(t)?;
            Ok((t.abs.clone(), None))
        }
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => Err(ApiError::new(
            StatusCode::CONFLICT,
            "PARENT_NOT_A_DIRECTORY",
            format!("a parent of {} is not a directory", t.rel()),
        )),
        Err(e) => Err(ApiError::io(t.rel(), &e)),
    }
}

/// Streams `body` into `t` as `mode` says.
pub(super) async fn write_body(
    jail: &Jail,
    t: &Target,
    body: Body,
    mode: WriteMode,
) -> ApiResult<Written> {
    if t.is_root() {
        return Err(is_a_directory(t));
    }
    match mode {
        WriteMode::Replace => replace(jail, t, body).await,
        WriteMode::Append | WriteMode::At(_) => in_place(jail, t, body, mode).await,
    }
}

async fn replace(jail: &Jail, t: &Target, body: Body) -> ApiResult<Written> {
    let (jail2, t2) = (jail.clone(), t.clone());
    let (dest, old, temp, file) = super::blocking(move || {
        jail2.check(&t2, Follow::Parent)?;
        let (dest, old) = replace_destination(&jail2, &t2)?;
        let dir = dest.parent().unwrap_or(Path::new("/"));
        let temp = temp_name(dir);
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| ApiError::io(format!("creating the upload file for {}", t2.rel()), &e))?;
        Ok((dest, old, temp, file))
    })
    .await?;
    let created = old.is_none();
    let mut guard = TempGuard(Some(temp.clone()));
    let size = stream_into(t, body, tokio::fs::File::from_std(file)).await?;
    let t2 = t.clone();
    super::blocking(move || {
        if let Some(old) = &old {
            // Keep what the replaced file had: its mode and, when we may, its owner.
            let _ = fs::set_permissions(&temp, fs::Permissions::from_mode(old.mode() & 0o7777));
            let _ = std::os::unix::fs::chown(&temp, Some(old.uid()), Some(old.gid()));
        }
        match fs::rename(&temp, &dest) {
            Ok(()) => Ok(()),
            // A bind-mounted file (/etc/resolv.conf, /etc/hostname in a container) cannot
            // be renamed over: copy the complete upload into it instead.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => fs::copy(&temp, &dest)
                .map(|_| ())
                .map_err(|e| ApiError::io(t2.rel(), &e)),
            Err(e) => Err(ApiError::io(t2.rel(), &e)),
        }
    })
    .await?;
    guard.0 = None;
    Ok(Written { size, created })
}

/// Copies the request body into `file`; the number of bytes written.
async fn stream_into(t: &Target, body: Body, file: tokio::fs::File) -> ApiResult<u64> {
    let mut w = BufWriter::with_capacity(WRITE_BUF, file);
    let mut stream = body.into_data_stream();
    let mut n = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::validation(format!("the upload of {} was interrupted: {e}", t.rel()))
                .with_details(serde_json::json!({"received": n}))
        })?;
        w.write_all(&chunk)
            .await
            .map_err(|e| ApiError::io(t.rel(), &e))?;
        n += chunk.len() as u64;
    }
    w.flush().await.map_err(|e| ApiError::io(t.rel(), &e))?;
    Ok(n)
}

async fn in_place(jail: &Jail, t: &Target, body: Body, mode: WriteMode) -> ApiResult<Written> {
    let (jail2, t2) = (jail.clone(), t.clone());
    let (file, old_len, created) = super::blocking(move || {
        jail2.check(&t2, Follow::Last)?;
        let existing = match fs::metadata(&t2.abs) {
            Ok(m) if m.is_dir() => return Err(is_a_directory(&t2)),
            Ok(m) => Some(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(ApiError::io(t2.rel(), &e)),
        };
        if let WriteMode::At(off) = mode {
            let len = existing.unwrap_or(0);
            if off > len {
                return Err(ApiError::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "RANGE_NOT_SATISFIABLE",
                    format!("{} has {len} bytes; cannot write at offset {off}", t2.rel()),
                ));
            }
        }
        let created = existing.is_none();
        if created {
            make_parents(&t2)?;
        }
        let mut o = fs::OpenOptions::new();
        o.create(true);
        if mode == WriteMode::Append {
            o.append(true);
        } else {
            o.write(true);
        }
        let file = o.open(&t2.abs).map_err(|e| ApiError::io(t2.rel(), &e))?;
        let len = file
            .metadata()
            .map_err(|e| ApiError::io(t2.rel(), &e))?
            .len();
        Ok((file, len, created))
    })
    .await?;
    let mut guard = AppendGuard {
        file: None,
        len: old_len,
        created: created.then(|| t.abs.clone()),
    };
    let mut f = tokio::fs::File::from_std(file.try_clone().map_err(|e| ApiError::io(t.rel(), &e))?);
    match mode {
        WriteMode::At(off) => {
            f.seek(SeekFrom::Start(off))
                .await
                .map_err(|e| ApiError::io(t.rel(), &e))?;
        }
        _ => guard.file = Some(file),
    }
    stream_into(t, body, f).await?;
    guard.file = None;
    let t2 = t.clone();
    let size = super::blocking(move || {
        fs::metadata(&t2.abs)
            .map(|m| m.len())
            .map_err(|e| ApiError::io(t2.rel(), &e))
    })
    .await?;
    Ok(Written { size, created })
}

/// `PUT ?touch`: creates an empty file (and its parents) or sets its mtime to now.
pub(super) fn touch(jail: &Jail, t: &Target) -> ApiResult<bool> {
    jail.check(t, Follow::Last)?;
    let existed = fs::symlink_metadata(&t.abs).is_ok();
    if !existed {
        make_parents(t)?;
    }
    let f = match fs::metadata(&t.abs) {
        Ok(m) if m.is_dir() => fs::File::open(&t.abs),
        _ => fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&t.abs),
    }
    .map_err(|e| ApiError::io(t.rel(), &e))?;
    f.set_modified(SystemTime::now())
        .map_err(|e| ApiError::io(t.rel(), &e))?;
    Ok(!existed)
}

/// Creates directory `t` and its parents; `Ok(false)` when it already was a directory.
/// `exists_error`: what to answer when something already exists there (MKCOL: 405).
pub(super) fn mkdir(jail: &Jail, t: &Target, exists_error: Option<ApiError>) -> ApiResult<bool> {
    if t.is_root() {
        return match exists_error {
            Some(e) => Err(e),
            None => Ok(false),
        };
    }
    jail.check(t, Follow::Last)?;
    match fs::symlink_metadata(&t.abs) {
        Ok(m) => {
            if let Some(e) = exists_error {
                return Err(e);
            }
            if fs::metadata(&t.abs).is_ok_and(|m| m.is_dir()) || m.is_dir() {
                return Ok(false);
            }
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "ALREADY_EXISTS",
                format!("{} exists and is not a directory", t.rel()),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "PARENT_NOT_A_DIRECTORY",
                format!("a parent of {} is not a directory", t.rel()),
            ));
        }
        Err(e) => return Err(ApiError::io(t.rel(), &e)),
    }
    make_parents(t)?;
    fs::create_dir(&t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
    Ok(true)
}

/// Deletes `t` (a file, a symlink itself, or a directory: recursively when `recursive`).
pub(super) fn delete(jail: &Jail, t: &Target, recursive: bool) -> ApiResult<()> {
    if t.is_root() {
        return Err(root_refused("deleted"));
    }
    jail.check(t, Follow::Parent)?;
    let m = fs::symlink_metadata(&t.abs).map_err(|e| ApiError::io(t.rel(), &e))?;
    let r = if m.is_dir() {
        if recursive {
            fs::remove_dir_all(&t.abs)
        } else {
            fs::remove_dir(&t.abs)
        }
    } else {
        fs::remove_file(&t.abs)
    };
    r.map_err(|e| ApiError::io(t.rel(), &e))
}

/// Copy or move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transfer {
    /// Copy (directories recursively; symlinks inside a tree are copied as symlinks).
    Copy,
    /// Move (rename; across file systems: copy, then delete).
    Move,
}

/// Copies or moves `src` to `dst`. When `dst` exists: replaced when `overwrite`, else
/// `exists_status` (WebDAV: 412, API: 409). `Ok(true)` when `dst` was created, `Ok(false)`
/// when it replaced something.
pub(super) fn transfer(
    jail: &Jail,
    op: Transfer,
    src: &Target,
    dst: &Target,
    overwrite: bool,
    exists_status: StatusCode,
) -> ApiResult<bool> {
    let verb = match op {
        Transfer::Copy => "copied",
        Transfer::Move => "moved",
    };
    if src.is_root() {
        return Err(root_refused(verb));
    }
    if dst.is_root() {
        return Err(root_refused("replaced"));
    }
    if src.segments == dst.segments {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "SAME_PATH",
            format!("source and destination are both {}", src.rel()),
        ));
    }
    let follow_src = match op {
        Transfer::Copy => Follow::Last,
        Transfer::Move => Follow::Parent,
    };
    jail.check(src, follow_src)?;
    jail.check(dst, Follow::Parent)?;
    let src_meta = match op {
        Transfer::Copy => fs::metadata(&src.abs),
        Transfer::Move => fs::symlink_metadata(&src.abs),
    }
    .map_err(|e| ApiError::io(src.rel(), &e))?;
    if src_meta.is_dir() && dst.is_within(src) || inside_real(&src.abs, &dst.abs) {
        return Err(ApiError::conflict(format!(
            "cannot {} {} into itself ({})",
            if op == Transfer::Copy { "copy" } else { "move" },
            src.rel(),
            dst.rel()
        )));
    }
    let existing = fs::symlink_metadata(&dst.abs).ok();
    if let Some(m) = &existing {
        if !overwrite {
            return Err(ApiError::new(
                exists_status,
                "DESTINATION_EXISTS",
                format!("{} already exists (overwrite not allowed)", dst.rel()),
            ));
        }
        // A directory cannot be renamed or copied over in one step: remove it first.
        // Files and symlinks are replaced by the rename itself (atomically) for a move.
        if m.is_dir() || op == Transfer::Copy || src_meta.is_dir() {
            let r = if m.is_dir() {
                fs::remove_dir_all(&dst.abs)
            } else {
                fs::remove_file(&dst.abs)
            };
            r.map_err(|e| ApiError::io(dst.rel(), &e))?;
        }
    } else {
        make_parents(dst)?;
    }
    match op {
        Transfer::Move => match fs::rename(&src.abs, &dst.abs) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
                copy_tree(&src.abs, &dst.abs, false, true).map_err(|e| {
                    ApiError::io(format!("moving {} to {}", src.rel(), dst.rel()), &e)
                })?;
                let m = fs::symlink_metadata(&src.abs).map_err(|e| ApiError::io(src.rel(), &e))?;
                if m.is_dir() {
                    fs::remove_dir_all(&src.abs)
                } else {
                    fs::remove_file(&src.abs)
                }
                .map_err(|e| ApiError::io(src.rel(), &e))?;
            }
            Err(e) => {
                return Err(ApiError::io(
                    format!("moving {} to {}", src.rel(), dst.rel()),
                    &e,
                ));
            }
        },
        Transfer::Copy => copy_tree(&src.abs, &dst.abs, true, true)
            .map_err(|e| ApiError::io(format!("copying {} to {}", src.rel(), dst.rel()), &e))?,
    }
    Ok(existing.is_none())
}

/// Whether `dst`'s real location lies inside `src`'s (a directory reached through a
/// symlink).
fn inside_real(src: &Path, dst: &Path) -> bool {
    let (Ok(src), Some(parent)) = (fs::canonicalize(src), dst.parent()) else {
        return false;
    };
    super::paths::real_path_of(parent).is_some_and(|p| p.starts_with(&src))
}

/// Copies `src` to `dst` (which must not exist). `follow_top`: a symlink at the top is
/// copied as what it points to; below, symlinks are recreated as symlinks. `deep`: copy a
/// directory's contents too (WebDAV `Depth: infinity`).
pub(super) fn copy_tree(src: &Path, dst: &Path, follow_top: bool, deep: bool) -> io::Result<()> {
    let m = if follow_top {
        fs::metadata(src)?
    } else {
        fs::symlink_metadata(src)?
    };
    let ft = m.file_type();
    if ft.is_symlink() {
        std::os::unix::fs::symlink(fs::read_link(src)?, dst)
    } else if ft.is_dir() {
        fs::create_dir(dst)?;
        if deep {
            for entry in fs::read_dir(src)? {
                let entry = entry?;
                copy_tree(&entry.path(), &dst.join(entry.file_name()), false, true)?;
            }
        }
        fs::set_permissions(dst, m.permissions())
    } else if ft.is_file() {
        fs::copy(src, dst).map(|_| ())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a file, directory or symlink", src.display()),
        ))
    }
}

/// Attribute changes from a PATCH / chmod / chown request.
#[derive(Debug, Default, Clone)]
pub(super) struct Attrs {
    /// New permission bits.
    pub mode: Option<u32>,
    /// New owner (uid).
    pub uid: Option<u32>,
    /// New group (gid).
    pub gid: Option<u32>,
}

/// Applies `a` to `t` (through a symlink, as chmod and chown do).
pub(super) fn set_attrs(jail: &Jail, t: &Target, a: &Attrs) -> ApiResult<()> {
    jail.check(t, Follow::Last)?;
    if let Some(mode) = a.mode {
        fs::set_permissions(&t.abs, fs::Permissions::from_mode(mode))
            .map_err(|e| ApiError::io(t.rel(), &e))?;
    }
    if a.uid.is_some() || a.gid.is_some() {
        std::os::unix::fs::chown(&t.abs, a.uid, a.gid).map_err(|e| ApiError::io(t.rel(), &e))?;
    }
    Ok(())
}

/// The sibling of `t` named `name` (a single plain name).
pub(super) fn sibling(t: &Target, name: &str) -> ApiResult<Target> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(ApiError::validation(format!(
            "name {name:?} must be a single file name (no '/', not '.' or '..')"
        )));
    }
    if t.is_root() {
        return Err(root_refused("renamed"));
    }
    let mut segments = t.segments.clone();
    segments.pop();
    segments.push(name.as_bytes().to_vec());
    let abs = t
        .abs
        .parent()
        .map(|p| p.join(name))
        .unwrap_or_else(|| PathBuf::from(name));
    Ok(Target { segments, abs })
}
