//! Pool creation: loop-mounted btrfs (idempotent, re-mounted from its record), images,
//! and pools on read-only or full file systems.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use hoody_fs::{FsError, LoopPool, Pool, init_loop_pool, loopdev, mount_recorded_pools};

#[test]
fn loop_pool_init_is_idempotent_and_remounts_from_its_record() {
    require_root();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-", unique_name("init")))
        .tempdir_in("/var/tmp")
        .unwrap();
    let registry = dir.path().join("pools.json");
    let spec = LoopPool {
        path: dir.path().join("mnt"),
        image: dir.path().join("pool.img"),
        size: 512 << 20,
    };
    let pool = init_loop_pool(&spec, &registry).unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("f"), "x").unwrap();
    pool.import_image_dir("base", src.path()).unwrap();
    // Second init (once the first handle let go of the write lock): nothing changes.
    drop(pool);
    let again = init_loop_pool(&spec, &registry).unwrap();
    assert_eq!(again.images().unwrap().len(), 1);
    drop(again);
    assert_eq!(
        loopdev::recorded_pools(&registry).unwrap(),
        vec![spec.clone()]
    );
    // "Reboot": unmount, then mount what is recorded.
    loopdev::unmount_pool(&spec.path).unwrap();
    assert!(!loopdev::is_mount_point(&spec.path));
    assert_eq!(
        mount_recorded_pools(&registry).unwrap(),
        vec![spec.path.clone()]
    );
    let reopened = Pool::open(&spec.path).unwrap();
    assert_eq!(reopened.images().unwrap()[0].name, "base");
    drop(reopened);
    loopdev::unmount_pool(&spec.path).unwrap();
    loopdev::forget_pool(&registry, &spec.path).unwrap();
    assert!(loopdev::recorded_pools(&registry).unwrap().is_empty());
}

#[test]
fn image_import_export_round_trip() {
    let t = TestPool::new(Kind::Btrfs);
    let src = tempfile::tempdir().unwrap();
    populate(src.path(), "img");
    t.pool.import_image_dir("one", src.path()).unwrap();
    let archive = t.dir.path().join("one.tar.zst");
    t.pool.export_image("one", &archive).unwrap();
    t.pool.import_image("two", &archive).unwrap();
    assert_eq!(
        fingerprint(&t.pool.image_path("one").unwrap()),
        fingerprint(&t.pool.image_path("two").unwrap())
    );
    assert_eq!(
        fingerprint(&t.pool.image_path("two").unwrap()),
        fingerprint(src.path())
    );
    // Images are read-only.
    assert!(std::fs::write(t.pool.image_path("two").unwrap().join("x"), "y").is_err());
    assert!(matches!(
        t.pool.import_image("two", &archive),
        Err(FsError::AlreadyExists { .. })
    ));
    assert!(matches!(
        t.pool
            .import_image("three", &t.dir.path().join("missing.tar")),
        Err(FsError::Io { .. })
    ));
    let bogus = t.dir.path().join("bogus.tar");
    std::fs::write(&bogus, "this is not a tar file").unwrap();
    assert!(matches!(
        t.pool.import_image("three", &bogus),
        Err(FsError::Tool { .. })
    ));
    assert!(t.pool.image_path("three").is_err());
    assert_eq!(
        std::fs::read_dir(t.pool.root().join("staging"))
            .unwrap()
            .count(),
        0
    );
    let names: Vec<String> = t
        .pool
        .images()
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, vec!["one", "two"]);
}

/// A small tmpfs for read-only and full file system cases, unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn new(opts: &str, flags: libc::c_ulong) -> Self {
        require_root();
        let d = tempfile::Builder::new()
            .prefix(&format!("{}-", unique_name("tmpfs")))
            .tempdir()
            .unwrap();
        let c = CString::new(d.path().as_os_str().as_bytes()).unwrap();
        let o = CString::new(opts).unwrap();
        // SAFETY: valid C strings.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                o.as_ptr().cast(),
            )
        };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        Tmpfs(d)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let c = CString::new(self.0.path().as_os_str().as_bytes()).unwrap();
        // SAFETY: valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn pool_on_a_read_only_file_system_is_a_clear_error() {
    let fs = Tmpfs::new("size=1m", libc::MS_RDONLY);
    let e = Pool::create(fs.0.path().join("pool")).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("Read-only file system"), "{msg}");
    assert!(
        msg.contains(&fs.0.path().join("pool").display().to_string()),
        "{msg}"
    );
}

#[test]
fn full_file_system_leaves_nothing_half_created() {
    let fs = Tmpfs::new("size=256k", 0);
    let pool = Pool::create(fs.0.path().join("pool")).unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("big"), vec![1u8; 1 << 20]).unwrap();
    let e = pool.import_image_dir("big", src.path()).unwrap_err();
    assert!(e.to_string().contains("No space left on device"), "{e}");
    assert!(pool.images().unwrap().is_empty());
    assert!(pool.image_path("big").is_err());
    assert_eq!(
        std::fs::read_dir(pool.root().join("staging"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn opening_a_non_pool_says_how_to_make_one() {
    let d = tempfile::tempdir().unwrap();
    let e = Pool::open(d.path()).unwrap_err();
    assert!(e.to_string().contains("hoody pool init --path"), "{e}");
}
