//! The container's file system view: the mount plan built on the host before the clone, and
//! its execution in the child (which only runs pre-built steps, allocating nothing).
//!
//! The plan, in order:
//! 1. make every mount private (nothing propagates back to the host);
//! 2. bind the rootfs onto itself (pivot_root needs a mount point), optionally read-only;
//! 3. `/proc` (a new procfs for the new pid namespace);
//! 4. `/sys` read-only: a new sysfs when the container has its own network namespace, else a
//!    recursive read-only bind of the host's;
//! 5. `/dev` as a tmpfs with `null zero full random urandom tty` (device nodes, or bind mounts
//!    of the host's nodes inside a user namespace where mknod is not allowed), a new devpts
//!    instance with `/dev/ptmx -> pts/ptmx`, `/dev/shm`, `/dev/mqueue` (with an IPC
//!    namespace) and the `fd stdin stdout stderr` links;
//! 6. the spec's extra mounts;
//! 7. masked paths (`/dev/null` over files, an empty read-only tmpfs over directories) and
//!    read-only paths;
//! 8. `pivot_root` into the rootfs and detach the old root.
//!
//! Mount points inside the rootfs that do not exist are created on the host before the clone,
//! after resolving their path with every symlink interpreted relative to the rootfs (so a
//! rootfs containing `proc -> /etc` cannot make hoody mount over the host's `/etc`).

use std::collections::VecDeque;
use std::ffi::{CString, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};
use crate::spec::{ContainerSpec, MountKind};
use crate::sys::{self, SysResult};

/// One file system operation run in the child.
#[derive(Debug)]
pub(crate) enum FsOp {
    Mount {
        source: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    SetReadonly {
        target: CString,
        recursive: bool,
    },
    Mkdir {
        path: CString,
        mode: libc::mode_t,
    },
    Mknod {
        path: CString,
        major: u32,
        minor: u32,
    },
    BindDevice {
        source: CString,
        target: CString,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    /// Hide `target`: `/dev/null` over a file, a read-only tmpfs over a directory, nothing if
    /// it does not exist.
    Mask {
        target: CString,
        null: CString,
    },
    /// Make `target` read-only if it exists.
    ReadonlyPath {
        target: CString,
    },
    /// Make `target` writable again (a new bind mount of it) if it exists.
    ReadwritePath {
        target: CString,
    },
    /// Create an empty file if nothing is there (a mount point for a file).
    Touch {
        path: CString,
    },
    /// Write a file (created or truncated, mode 0644).
    WriteFile {
        path: CString,
        content: Vec<u8>,
    },
}

impl FsOp {
    /// Every path of the operation that lies on the container's side (not a host source).
    fn container_paths_mut(&mut self) -> Vec<&mut CString> {
        match self {
            FsOp::Mount { target, .. }
            | FsOp::SetReadonly { target, .. }
            | FsOp::ReadonlyPath { target }
            | FsOp::ReadwritePath { target }
            | FsOp::BindDevice { target, .. } => vec![target],
            FsOp::Mkdir { path, .. }
            | FsOp::Mknod { path, .. }
            | FsOp::Touch { path }
            | FsOp::WriteFile { path, .. } => vec![path],
            FsOp::Symlink { link, .. } => vec![link],
            FsOp::Mask { target, null } => vec![target, null],
        }
    }
}

/// Replaces the `from` prefix of every container-side path with `to` (the rootfs is set up
/// through `to`, an idmapped view of `from`; the bind of the rootfs onto itself too).
fn rebase(plan: &mut RootfsPlan, from: &Path, to: &Path) -> Result<()> {
    let from_b = from.as_os_str().as_bytes();
    for step in &mut plan.steps {
        let is_root_bind =
            matches!(&step.op, FsOp::Mount { source: Some(s), .. } if s.as_bytes() == from_b);
        if is_root_bind && let FsOp::Mount { source, .. } = &mut step.op {
            *source = Some(cstr(to)?);
        }
        for p in step.op.container_paths_mut() {
            if let Some(rest) = p.as_bytes().strip_prefix(from_b)
                && (rest.is_empty() || rest[0] == b'/')
            {
                let mut v = to.as_os_str().as_bytes().to_vec();
                v.extend_from_slice(rest);
                *p = CString::new(v).map_err(|_| {
                    Error::io(
                        "rebase a mount path",
                        std::io::ErrorKind::InvalidInput.into(),
                    )
                })?;
            }
        }
    }
    plan.root = cstr(to)?;
    Ok(())
}

/// Steps that create `target` (and its missing parents below `root`) in the child: a
/// directory, or an empty file when `file`.
fn child_mount_point(
    root: &Path,
    target: &Path,
    file: bool,
    what: &str,
    step: &mut dyn FnMut(FsOp, String),
) -> Result<()> {
    let rel = target.strip_prefix(root).unwrap_or(target);
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for (i, c) in comps.iter().enumerate() {
        cur.push(c);
        let last = i + 1 == comps.len();
        if last && file {
            step(
                FsOp::Touch { path: cstr(&cur)? },
                format!("create mount point for {what}"),
            );
        } else {
            step(
                FsOp::Mkdir {
                    path: cstr(&cur)?,
                    mode: 0o755,
                },
                format!("create mount point for {what}"),
            );
        }
    }
    Ok(())
}

/// An operation and its human description for error messages.
#[derive(Debug)]
pub(crate) struct FsStep {
    pub op: FsOp,
    pub what: String,
}

/// Everything the child does to its mount namespace.
#[derive(Debug)]
pub(crate) struct RootfsPlan {
    pub root: CString,
    pub root_display: String,
    pub steps: Vec<FsStep>,
}

fn cstr(p: &Path) -> Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        Error::Spec(crate::spec::SpecError::Nul {
            field: "path",
            value: p.display().to_string(),
        })
    })
}

fn lit(s: &str) -> CString {
    // Literals in this module contain no NUL.
    CString::new(s).unwrap_or_default()
}

/// Resolves `path` (absolute, inside the container) to a host path under `root`, following
/// symlinks as the container would see them: absolute link targets and `..` never leave
/// `root`. Components that do not exist yet are appended literally.
pub fn resolve_in_root(root: &Path, path: &Path) -> std::io::Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: VecDeque<OsString> = VecDeque::new();
    let push_components = |p: &Path, q: &mut VecDeque<OsString>, front: bool| {
        let comps: Vec<OsString> = p
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_os_string()),
                Component::ParentDir => Some(OsString::from("..")),
                _ => None,
            })
            .collect();
        if front {
            for c in comps.into_iter().rev() {
                q.push_front(c);
            }
        } else {
            q.extend(comps);
        }
    };
    push_components(path, &mut pending, false);
    let mut links = 0;
    while let Some(c) = pending.pop_front() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let candidate = root.join(&resolved).join(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(std::io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                push_components(&target, &mut pending, true);
            }
            _ => resolved.push(c),
        }
    }
    Ok(root.join(resolved))
}

/// Creates a mount point (directory, or empty file when `file`) at a resolved host path.
fn ensure_mount_point(path: &Path, file: bool) -> Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    if file {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| Error::io(format!("create mount point {}", parent.display()), e))?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map(drop)
            .map_err(|e| Error::io(format!("create mount point {}", path.display()), e))
    } else {
        std::fs::create_dir_all(path)
            .map_err(|e| Error::io(format!("create mount point {}", path.display()), e))
    }
}

/// The spec's rootfs, canonical, checked to be a directory.
pub(crate) fn canonical_root(spec: &ContainerSpec) -> Result<PathBuf> {
    let root = std::fs::canonicalize(&spec.rootfs).map_err(|e| Error::Rootfs {
        path: spec.rootfs.clone(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "does not exist".into()
        } else {
            e.to_string()
        },
    })?;
    if !root.is_dir() {
        return Err(Error::Rootfs {
            path: spec.rootfs.clone(),
            reason: "is not a directory".into(),
        });
    }
    Ok(root)
}

/// Devices every container gets: (name, major, minor).
pub const DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Builds the mount plan for `spec`, creating missing mount points in the rootfs.
/// `mount_root`, when given, is an idmapped view of the rootfs the child mounts from (mount
/// points are still created through the plain path, as host root). `console` is the host path
/// of the pty slave to bind on `/dev/console`.
pub(crate) fn plan(
    spec: &ContainerSpec,
    mount_root: Option<&Path>,
    console: Option<&Path>,
) -> Result<RootfsPlan> {
    let root = canonical_root(spec)?;
    let ns = spec.namespaces;
    let in_root = |p: &str| -> Result<PathBuf> {
        resolve_in_root(&root, Path::new(p))
            .map_err(|e| Error::io(format!("resolve {p} in rootfs {}", root.display()), e))
    };
    let mut steps = Vec::new();
    let mut step = |op: FsOp, what: String| steps.push(FsStep { op, what });
    let root_c = cstr(&root)?;
    let root_disp = root.display().to_string();

    step(
        FsOp::Mount {
            source: None,
            target: lit("/"),
            fstype: None,
            flags: libc::MS_REC | libc::MS_PRIVATE,
            data: None,
        },
        "make host mounts private".into(),
    );
    step(
        FsOp::Mount {
            source: Some(root_c.clone()),
            target: root_c.clone(),
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
        },
        format!("bind rootfs {root_disp}"),
    );
    if spec.readonly_rootfs {
        step(
            FsOp::SetReadonly {
                target: root_c.clone(),
                recursive: false,
            },
            format!("make rootfs {root_disp} read-only"),
        );
    }

    // /proc
    let proc_dir = in_root("/proc")?;
    ensure_mount_point(&proc_dir, false)?;
    step(
        FsOp::Mount {
            source: Some(lit("proc")),
            target: cstr(&proc_dir)?,
            fstype: Some(lit("proc")),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: None,
        },
        "mount proc on /proc".into(),
    );

    // /sys
    let sys_dir = in_root("/sys")?;
    ensure_mount_point(&sys_dir, false)?;
    let sys_c = cstr(&sys_dir)?;
    // A joined network namespace belongs to the host's user namespace: a user-namespaced
    // container may not mount a sysfs for it, so it gets the read-only bind like host network.
    let own_netns = ns.net && spec.join_network.is_none();
    if own_netns || !ns.user {
        step(
            FsOp::Mount {
                source: Some(lit("sysfs")),
                target: sys_c.clone(),
                fstype: Some(lit("sysfs")),
                flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RDONLY,
                data: None,
            },
            "mount sysfs on /sys".into(),
        );
    } else {
        // A user namespace without its own network namespace may not mount sysfs.
        step(
            FsOp::Mount {
                source: Some(lit("/sys")),
                target: sys_c.clone(),
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
            },
            "bind host /sys on /sys".into(),
        );
        step(
            FsOp::SetReadonly {
                target: sys_c,
                recursive: true,
            },
            "make /sys read-only".into(),
        );
    }

    // /dev
    let dev_dir = in_root("/dev")?;
    ensure_mount_point(&dev_dir, false)?;
    let dev = |name: &str| -> Result<CString> { cstr(&dev_dir.join(name)) };
    step(
        FsOp::Mount {
            source: Some(lit("tmpfs")),
            target: cstr(&dev_dir)?,
            fstype: Some(lit("tmpfs")),
            flags: libc::MS_NOSUID | libc::MS_STRICTATIME,
            data: Some(lit("mode=755,size=65536k")),
        },
        "mount tmpfs on /dev".into(),
    );
    for (name, major, minor) in DEVICES {
        let what = format!("create /dev/{name}");
        if ns.user {
            step(
                FsOp::BindDevice {
                    source: lit(&format!("/dev/{name}")),
                    target: dev(name)?,
                },
                what,
            );
        } else {
            step(
                FsOp::Mknod {
                    path: dev(name)?,
                    major: *major,
                    minor: *minor,
                },
                what,
            );
        }
    }
    for (source, name) in &spec.devices {
        step(
            FsOp::BindDevice {
                source: cstr(source)?,
                target: dev(name)?,
            },
            format!("bind {} on /dev/{name}", source.display()),
        );
    }
    step(
        FsOp::Mkdir {
            path: dev("pts")?,
            mode: 0o755,
        },
        "create /dev/pts".into(),
    );
    let tty_gid_mapped = !ns.user || spec.gid_map.iter().any(|m| m.contains(5));
    let devpts_opts = if tty_gid_mapped {
        "newinstance,ptmxmode=0666,mode=0620,gid=5"
    } else {
        "newinstance,ptmxmode=0666,mode=0620"
    };
    step(
        FsOp::Mount {
            source: Some(lit("devpts")),
            target: dev("pts")?,
            fstype: Some(lit("devpts")),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: Some(lit(devpts_opts)),
        },
        "mount devpts on /dev/pts".into(),
    );
    step(
        FsOp::Symlink {
            target: lit("pts/ptmx"),
            link: dev("ptmx")?,
        },
        "link /dev/ptmx".into(),
    );
    step(
        FsOp::Mkdir {
            path: dev("shm")?,
            mode: 0o1777,
        },
        "create /dev/shm".into(),
    );
    step(
        FsOp::Mount {
            source: Some(lit("shm")),
            target: dev("shm")?,
            fstype: Some(lit("tmpfs")),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: Some(lit("mode=1777,size=65536k")),
        },
        "mount tmpfs on /dev/shm".into(),
    );
    if ns.ipc {
        step(
            FsOp::Mkdir {
                path: dev("mqueue")?,
                mode: 0o755,
            },
            "create /dev/mqueue".into(),
        );
        step(
            FsOp::Mount {
                source: Some(lit("mqueue")),
                target: dev("mqueue")?,
                fstype: Some(lit("mqueue")),
                flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                data: None,
            },
            "mount mqueue on /dev/mqueue".into(),
        );
    }
    for (target, name) in [
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ] {
        step(
            FsOp::Symlink {
                target: lit(target),
                link: dev(name)?,
            },
            format!("link /dev/{name}"),
        );
    }

    if let Some(slave) = console {
        step(
            FsOp::BindDevice {
                source: cstr(slave)?,
                target: dev("console")?,
            },
            format!("bind the console {} on /dev/console", slave.display()),
        );
    }
    if spec.cgroup_delegation {
        step(
            FsOp::Mount {
                source: Some(lit("cgroup2")),
                target: cstr(&sys_dir.join("fs/cgroup"))?,
                fstype: Some(lit("cgroup2")),
                flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                data: None,
            },
            "mount cgroup2 on /sys/fs/cgroup".into(),
        );
    }

    // Extra mounts. Mount points on the rootfs are created here, as host root (an
    // unprivileged root inside may not write a rootfs it does not own); those inside a tmpfs
    // the spec mounts (such as /run) can only be created in the child, after that mount. The
    // child steps are no-ops for what already exists.
    let under_tmpfs = |d: &Path| {
        spec.mounts.iter().any(|o| {
            matches!(o.kind, MountKind::Tmpfs { .. })
                && d != o.destination
                && d.starts_with(&o.destination)
        })
    };
    for m in &spec.mounts {
        let dest = in_root(&m.destination.to_string_lossy())?;
        let dest_c = cstr(&dest)?;
        let shown = m.destination.display();
        match &m.kind {
            MountKind::Bind { source } => {
                let meta = std::fs::metadata(source)
                    .map_err(|e| Error::io(format!("bind mount source {}", source.display()), e))?;
                if !under_tmpfs(&m.destination) {
                    ensure_mount_point(&dest, !meta.is_dir())?;
                }
                child_mount_point(&root, &dest, !meta.is_dir(), &shown.to_string(), &mut step)?;
                step(
                    FsOp::Mount {
                        source: Some(cstr(source)?),
                        target: dest_c.clone(),
                        fstype: None,
                        flags: libc::MS_BIND | libc::MS_REC,
                        data: None,
                    },
                    format!("bind {} on {shown}", source.display()),
                );
            }
            MountKind::Tmpfs { size, mode } => {
                if !under_tmpfs(&m.destination) {
                    ensure_mount_point(&dest, false)?;
                }
                child_mount_point(&root, &dest, false, &shown.to_string(), &mut step)?;
                let data = match size {
                    Some(s) => format!("mode={mode:o},size={s}"),
                    None => format!("mode={mode:o}"),
                };
                step(
                    FsOp::Mount {
                        source: Some(lit("tmpfs")),
                        target: dest_c.clone(),
                        fstype: Some(lit("tmpfs")),
                        flags: libc::MS_NOSUID | libc::MS_NODEV,
                        data: Some(lit(&data)),
                    },
                    format!("mount tmpfs on {shown}"),
                );
            }
        }
        if m.readonly {
            step(
                FsOp::SetReadonly {
                    target: dest_c,
                    recursive: true,
                },
                format!("make {shown} read-only"),
            );
        }
    }

    // Masked and read-only paths live in the fresh /proc and /sys: no symlink resolution
    // needed beyond what the kernel's own file systems do.
    let null = dev("null")?;
    for p in &spec.masked_paths {
        step(
            FsOp::Mask {
                target: cstr(&root.join(p.strip_prefix("/").unwrap_or(p)))?,
                null: null.clone(),
            },
            format!("mask {}", p.display()),
        );
    }
    for p in &spec.readonly_paths {
        step(
            FsOp::ReadonlyPath {
                target: cstr(&root.join(p.strip_prefix("/").unwrap_or(p)))?,
            },
            format!("make {} read-only", p.display()),
        );
    }
    for p in &spec.readwrite_paths {
        step(
            FsOp::ReadwritePath {
                target: cstr(&root.join(p.strip_prefix("/").unwrap_or(p)))?,
            },
            format!("make {} writable", p.display()),
        );
    }
    for (p, content) in &spec.files {
        let path = in_root(&p.to_string_lossy())?;
        if let Some(parent) = path.parent()
            && parent != root
        {
            child_mount_point(&root, parent, false, &p.display().to_string(), &mut step)?;
        }
        step(
            FsOp::WriteFile {
                path: cstr(&path)?,
                content: content.clone(),
            },
            format!("write {}", p.display()),
        );
    }
    let mut plan = RootfsPlan {
        root: root_c,
        root_display: root_disp,
        steps,
    };
    if let Some(to) = mount_root {
        rebase(&mut plan, &root, to)?;
    }
    Ok(plan)
}

impl FsOp {
    /// Runs the operation. Called in the child; does not allocate.
    pub(crate) fn run(&self) -> SysResult<()> {
        match self {
            FsOp::Mount {
                source,
                target,
                fstype,
                flags,
                data,
            } => sys::mount(
                source.as_deref(),
                target,
                fstype.as_deref(),
                *flags,
                data.as_deref(),
            ),
            FsOp::SetReadonly { target, recursive } => {
                sys::mount_setattr(target, sys::MOUNT_ATTR_RDONLY, 0, *recursive)
            }
            FsOp::Mkdir { path, mode } => sys::mkdir_exist_ok(path, *mode),
            FsOp::Mknod { path, major, minor } => sys::mknod_char(path, 0o666, *major, *minor),
            FsOp::BindDevice { source, target } => {
                sys::touch(target)?;
                sys::mount(Some(source), target, None, libc::MS_BIND, None)
            }
            FsOp::Symlink { target, link } => sys::symlink_exist_ok(target, link),
            FsOp::Mask { target, null } => match sys::lstat_kind(target)? {
                None => Ok(()),
                Some(libc::S_IFDIR) => sys::mount(
                    Some(c"tmpfs"),
                    target,
                    Some(c"tmpfs"),
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(c"size=0,mode=0555"),
                ),
                Some(_) => sys::mount(Some(null), target, None, libc::MS_BIND, None),
            },
            FsOp::ReadonlyPath { target } => rebind(target, sys::MOUNT_ATTR_RDONLY, 0),
            FsOp::ReadwritePath { target } => rebind(target, 0, sys::MOUNT_ATTR_RDONLY),
            FsOp::Touch { path } => sys::touch(path),
            FsOp::WriteFile { path, content } => sys::write_file(path, content),
        }
    }
}

/// Bind-mounts `target` (if it exists) onto itself and sets/clears attributes on the new
/// mount, recursively. Called in the child; does not allocate.
fn rebind(target: &std::ffi::CStr, set: u64, clear: u64) -> SysResult<()> {
    if sys::lstat_kind(target)?.is_none() {
        return Ok(());
    }
    sys::mount(
        Some(target),
        target,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )?;
    sys::mount_setattr(target, set, clear, true)
}

/// Enters `root`: `pivot_root(".", ".")` then detaches the old root stacked on top. Called in
/// the child; does not allocate.
pub(crate) fn pivot(root: &std::ffi::CStr) -> SysResult<()> {
    sys::chdir(root)?;
    sys::pivot_root(c".", c".")?;
    sys::umount2(c".", libc::MNT_DETACH)?;
    sys::chdir(c"/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("real/sub")).expect("mkdir");
        std::os::unix::fs::symlink("/etc", root.join("proc")).expect("symlink");
        std::os::unix::fs::symlink("../../..", root.join("real/sub/up")).expect("symlink");
        std::os::unix::fs::symlink("real", root.join("rel")).expect("symlink");
        assert_eq!(
            resolve_in_root(root, Path::new("/proc")).expect("resolves"),
            root.join("etc")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/real/sub/up/x")).expect("resolves"),
            root.join("x")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/rel/sub/new")).expect("resolves"),
            root.join("real/sub/new")
        );
        assert_eq!(
            resolve_in_root(root, Path::new("/../../etc/passwd")).expect("resolves"),
            root.join("etc/passwd")
        );
    }

    #[test]
    fn symlink_loops_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("b", dir.path().join("a")).expect("symlink");
        std::os::unix::fs::symlink("a", dir.path().join("b")).expect("symlink");
        assert!(resolve_in_root(dir.path(), Path::new("/a")).is_err());
    }
}
