//! Snapshots, restore (and its crash safety), branch: on real btrfs and on the directory
//! backend.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hoody_fs::{FsError, Pool, RestoreStep, SnapshotOptions};

fn round_trip(kind: Kind) {
    let t = TestPool::new(kind);
    t.with_container("web");
    let live = t.pool.container_path("web").unwrap();
    populate(&live, "v1");
    let before = fingerprint(&live);
    let snap = t
        .pool
        .create_snapshot(
            "web",
            &SnapshotOptions {
                alias: Some("golden".into()),
                expires_in_days: Some(7),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(snap.name.starts_with("snap-"), "{}", snap.name);
    // Change, delete and add files.
    std::fs::write(live.join("data/a.txt"), "changed").unwrap();
    std::fs::remove_file(live.join("data/link")).unwrap();
    std::fs::remove_dir_all(live.join("data/sub")).unwrap();
    std::fs::write(live.join("data/new"), "new").unwrap();
    assert_ne!(fingerprint(&live), before);

    t.pool.restore("web", "golden").unwrap();
    assert_eq!(fingerprint(&t.pool.container_path("web").unwrap()), before);

    let list = t.pool.snapshots("web").unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].alias.as_deref(), Some("golden"));
    assert!(list[0].expires_at.is_some());
    assert!(list[0].size_bytes.unwrap() >= 100_000, "{:?}", list[0]);
    // Nothing left in staging.
    assert_eq!(
        std::fs::read_dir(t.pool.root().join("staging"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn snapshot_restore_round_trip_btrfs() {
    round_trip(Kind::Btrfs);
}

#[test]
fn snapshot_restore_round_trip_directory() {
    round_trip(Kind::Directory);
}

fn crash_safety(kind: Kind) {
    for step in [
        RestoreStep::Journal,
        RestoreStep::NewTreeReady,
        RestoreStep::OldMovedAside,
        RestoreStep::NewInPlace,
    ] {
        let mut t = TestPool::new(kind);
        t.with_container("db");
        let live = t.pool.container_path("db").unwrap();
        populate(&live, "old-state");
        let snap_state = fingerprint(&live);
        t.pool
            .create_snapshot(
                "db",
                &SnapshotOptions {
                    name: Some("s1".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        std::fs::write(live.join("data/a.txt"), "newer").unwrap();
        let current_state = fingerprint(&live);

        t.pool.restore_interrupted_after("db", "s1", step).unwrap();
        // The "crashed" process is gone, and its write lock with it; a new one opens the pool.
        let root = t.pool.root().to_path_buf();
        t.pool = Pool::open_read_only(&root).unwrap();
        let reopened = Pool::open(&root).unwrap();
        let after = fingerprint(&reopened.container_path("db").unwrap());
        assert!(
            after == snap_state || after == current_state,
            "after a crash at {step:?} the container is neither the old nor the new state"
        );
        let expect_new = step >= RestoreStep::OldMovedAside;
        assert_eq!(after == snap_state, expect_new, "crash at {step:?}");
        assert_eq!(
            std::fs::read_dir(reopened.root().join("staging"))
                .unwrap()
                .count(),
            0,
            "staging not cleaned after a crash at {step:?}"
        );
        // The snapshot itself is intact and a normal restore works afterwards.
        reopened.restore("db", "s1").unwrap();
        assert_eq!(
            fingerprint(&reopened.container_path("db").unwrap()),
            snap_state
        );
    }
}

#[test]
fn interrupted_restore_is_repaired_btrfs() {
    crash_safety(Kind::Btrfs);
}

#[test]
fn interrupted_restore_is_repaired_directory() {
    crash_safety(Kind::Directory);
}

fn branch(kind: Kind) {
    let t = TestPool::new(kind);
    t.with_container("src");
    let src = t.pool.container_path("src").unwrap();
    populate(&src, "shared");
    t.pool
        .create_snapshot(
            "src",
            &SnapshotOptions {
                name: Some("s".into()),
                ..Default::default()
            },
        )
        .unwrap();
    let info = t.pool.branch("src", "s", "dst").unwrap();
    assert_eq!(info.branched_from.as_deref(), Some("src@s"));
    let dst = t.pool.container_path("dst").unwrap();
    assert_eq!(fingerprint(&dst), fingerprint(&src));
    std::fs::write(dst.join("data/only-in-branch"), "b").unwrap();
    std::fs::write(src.join("data/only-in-source"), "s").unwrap();
    assert!(!src.join("data/only-in-branch").exists());
    assert!(!dst.join("data/only-in-source").exists());
    let names: Vec<String> = t
        .pool
        .containers()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["dst", "src"]);
}

#[test]
fn branch_is_independent_btrfs() {
    branch(Kind::Btrfs);
}

#[test]
fn branch_is_independent_directory() {
    branch(Kind::Directory);
}

fn bad_input(kind: Kind) {
    let t = TestPool::new(kind);
    t.with_container("c");
    let p = &t.pool;
    assert!(matches!(
        p.create_container("x", "no-such-image"),
        Err(FsError::NotFound { kind: "image", .. })
    ));
    assert!(matches!(
        p.create_container("c", "base"),
        Err(FsError::AlreadyExists { .. })
    ));
    for bad in ["a/b", "..", ".", "../etc", ""] {
        assert!(
            matches!(
                p.create_container(bad, "base"),
                Err(FsError::InvalidName { .. })
            ),
            "{bad:?}"
        );
        let opts = SnapshotOptions {
            name: Some(bad.into()),
            ..Default::default()
        };
        assert!(
            matches!(
                p.create_snapshot("c", &opts),
                Err(FsError::InvalidName { .. })
            ),
            "{bad:?}"
        );
    }
    let e = p.restore("c", "missing").unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "snapshot \"c/missing\" not found in pool {}",
            p.root().display()
        )
    );
    let opts = SnapshotOptions {
        name: Some("s".into()),
        ..Default::default()
    };
    p.create_snapshot("c", &opts).unwrap();
    assert!(matches!(
        p.create_snapshot("c", &opts),
        Err(FsError::AlreadyExists { .. })
    ));
    assert!(matches!(
        p.branch("c", "s", "c"),
        Err(FsError::AlreadyExists { .. })
    ));
    assert!(matches!(
        p.remove_image("base"),
        Err(FsError::ImageInUse { .. })
    ));
    // Nothing half-created by the failures.
    assert_eq!(
        std::fs::read_dir(p.root().join("staging")).unwrap().count(),
        0
    );
    let names: Vec<String> = p
        .containers()
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, vec!["c"]);
    // Removing the container (with its snapshot) frees the image.
    p.remove_container("c").unwrap();
    p.remove_image("base").unwrap();
    assert!(p.images().unwrap().is_empty());
}

#[test]
fn bad_input_btrfs() {
    bad_input(Kind::Btrfs);
}

#[test]
fn bad_input_directory() {
    bad_input(Kind::Directory);
}

#[test]
fn alias_delete_and_expiry() {
    let t = TestPool::new(Kind::Btrfs);
    t.with_container("c");
    let p = &t.pool;
    let a = p.create_snapshot("c", &SnapshotOptions::default()).unwrap();
    let b = p
        .create_snapshot(
            "c",
            &SnapshotOptions {
                expires_in_days: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
    assert_ne!(
        a.name, b.name,
        "two snapshots in the same second get distinct names"
    );
    p.set_snapshot_alias("c", &a.name, Some("keep")).unwrap();
    assert_eq!(p.find_snapshot("c", "keep").unwrap().0.name, a.name);
    assert!(p.set_snapshot_alias("c", &b.name, Some("keep")).is_err());
    assert_eq!(p.prune_expired("c").unwrap(), vec![b.name.clone()]);
    p.delete_snapshot("c", "keep").unwrap();
    assert!(p.snapshots("c").unwrap().is_empty());
}
