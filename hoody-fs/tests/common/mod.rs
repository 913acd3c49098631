//! Pools for tests: a real btrfs on a loop-mounted sparse file, or a plain directory.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hoody_fs::{LoopPool, Pool, init_loop_pool};
pub use hoody_testkit::{require_root, unique_name};

/// Which backend a test pool uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Btrfs,
    Directory,
}

/// A pool that removes itself (unmounting its loop file system) on drop.
pub struct TestPool {
    pub pool: Pool,
    pub mount: Option<PathBuf>,
    pub dir: tempfile::TempDir,
}

impl TestPool {
    pub fn new(kind: Kind) -> Self {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", unique_name("pool")))
            .tempdir_in("/var/tmp")
            .unwrap();
        match kind {
            Kind::Btrfs => {
                let spec = LoopPool {
                    path: dir.path().join("mnt"),
                    image: dir.path().join("pool.img"),
                    size: 1 << 30,
                };
                let pool = init_loop_pool(&spec, &dir.path().join("registry.json")).unwrap();
                assert_eq!(pool.backend(), hoody_fs::Backend::Btrfs);
                TestPool {
                    pool,
                    mount: Some(spec.path),
                    dir,
                }
            }
            Kind::Directory => {
                let pool = Pool::create(dir.path().join("pool")).unwrap();
                assert_eq!(pool.backend(), hoody_fs::Backend::Directory);
                TestPool {
                    pool,
                    mount: None,
                    dir,
                }
            }
        }
    }

    /// An image `base` with a few files, and a container `name` created from it.
    pub fn with_container(&self, name: &str) {
        if self.pool.image_path("base").is_err() {
            let src = tempfile::tempdir().unwrap();
            std::fs::create_dir_all(src.path().join("etc")).unwrap();
            std::fs::write(src.path().join("etc/os-release"), "ID=hoodytest\n").unwrap();
            self.pool.import_image_dir("base", src.path()).unwrap();
        }
        self.pool.create_container(name, "base").unwrap();
    }
}

impl Drop for TestPool {
    fn drop(&mut self) {
        // Let go of the write lock (an open file inside the mount) before unmounting.
        if let Ok(ro) = Pool::open_read_only(self.pool.root()) {
            self.pool = ro;
        }
        if let Some(m) = &self.mount
            && hoody_fs::loopdev::unmount_pool(m).is_err()
        {
            let c = CString::new(m.as_os_str().as_bytes()).unwrap();
            // SAFETY: c is a valid C string; a lazy unmount as a last resort.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid C strings and a value buffer of the given length.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "setxattr {name} on {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 4096];
    // SAFETY: names is a writable buffer of its length.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n <= 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
    {
        let cn = CString::new(name).unwrap();
        let mut val = vec![0u8; 4096];
        // SAFETY: val is a writable buffer of its length.
        let m =
            unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), val.as_mut_ptr().cast(), val.len()) };
        val.truncate(m.max(0) as usize);
        out.push((String::from_utf8_lossy(name).into_owned(), val));
    }
    out.sort();
    out
}

/// Writes files with distinct modes, owners, xattrs and symlinks under `root/data`.
pub fn populate(root: &Path, tag: &str) {
    let d = root.join("data");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("a.txt"), format!("alpha {tag}\n")).unwrap();
    std::fs::write(d.join("sub/b.bin"), vec![7u8; 100_000]).unwrap();
    std::fs::set_permissions(d.join("a.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(d.join("sub/b.bin"), Some(1000), Some(1001)).unwrap();
    std::os::unix::fs::symlink("sub/b.bin", d.join("link")).unwrap();
    set_xattr(&d.join("a.txt"), "user.hoody", tag.as_bytes());
}

/// Everything that must survive a snapshot/restore: per path, kind, mode, owner, content,
/// symlink target and xattrs.
pub fn fingerprint(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let kind = if m.file_type().is_symlink() {
                format!("link->{}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                "dir".to_string()
            } else {
                let data = std::fs::read(&p).unwrap();
                let sum: u64 = data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                format!("file:{}:{sum:x}", data.len())
            };
            out.insert(
                rel,
                format!(
                    "{kind} mode={:o} owner={}:{} xattrs={:?}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    xattrs(&p)
                ),
            );
        }
    }
    out
}
