//! Send/receive between two btrfs pools (two loop files).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hoody_fs::{FsError, SnapshotOptions};

fn snap(name: &str) -> SnapshotOptions {
    SnapshotOptions {
        name: Some(name.into()),
        ..Default::default()
    }
}

#[test]
fn full_then_incremental_transfer_yields_identical_trees() {
    let a = TestPool::new(Kind::Btrfs);
    let b = TestPool::new(Kind::Btrfs);
    a.with_container("app");
    let live = a.pool.container_path("app").unwrap();
    populate(&live, "one");
    // Some bulk so the full stream is clearly bigger than the incremental one.
    std::fs::write(live.join("bulk"), vec![42u8; 4 << 20]).unwrap();
    a.pool.create_snapshot("app", &snap("s1")).unwrap();

    let mut full = Vec::new();
    let stats = a.pool.send_container("app", None, &mut full).unwrap();
    assert_eq!(stats.subvolumes, 2);
    assert_eq!(stats.bytes as usize, full.len());
    let info = b.pool.receive_container(&mut full.as_slice()).unwrap();
    assert_eq!(info.name, "app");
    assert_eq!(
        fingerprint(&b.pool.container_path("app").unwrap()),
        fingerprint(&live)
    );
    let (_, s1_b) = b.pool.find_snapshot("app", "s1").unwrap();
    let (_, s1_a) = a.pool.find_snapshot("app", "s1").unwrap();
    assert_eq!(fingerprint(&s1_b), fingerprint(&s1_a));

    // Change a little, snapshot, send only what is new since s1.
    std::fs::write(live.join("data/a.txt"), "two").unwrap();
    std::fs::write(live.join("data/extra"), "more").unwrap();
    a.pool.create_snapshot("app", &snap("s2")).unwrap();
    let mut inc = Vec::new();
    let inc_stats = a.pool.send_container("app", Some("s1"), &mut inc).unwrap();
    assert!(
        inc_stats.bytes * 10 < stats.bytes,
        "incremental {} bytes vs full {} bytes",
        inc_stats.bytes,
        stats.bytes
    );
    b.pool.receive_container(&mut inc.as_slice()).unwrap();
    assert_eq!(
        fingerprint(&b.pool.container_path("app").unwrap()),
        fingerprint(&live)
    );
    let names: Vec<String> = b
        .pool
        .snapshots("app")
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, vec!["s1", "s2"]);
    // Nothing left over in either staging area.
    for p in [&a.pool, &b.pool] {
        assert_eq!(
            std::fs::read_dir(p.root().join("staging")).unwrap().count(),
            0
        );
    }
}

#[test]
fn receive_refuses_bad_streams_and_duplicates() {
    let a = TestPool::new(Kind::Btrfs);
    let b = TestPool::new(Kind::Btrfs);
    a.with_container("x");
    let mut full = Vec::new();
    a.pool.send_container("x", None, &mut full).unwrap();
    b.pool.receive_container(&mut full.as_slice()).unwrap();
    // Same container again: refused, the existing one untouched.
    assert!(matches!(
        b.pool.receive_container(&mut full.as_slice()),
        Err(FsError::AlreadyExists { .. })
    ));
    // Garbage and a truncated stream.
    assert!(matches!(
        b.pool.receive_container(&mut &b"not a stream at all"[..]),
        Err(FsError::Stream(_))
    ));
    b.pool.remove_container("x").unwrap();
    let cut = &full[..full.len() / 2];
    assert!(b.pool.receive_container(&mut &cut[..]).is_err());
    assert!(
        b.pool.container_path("x").is_err(),
        "a truncated stream left a container"
    );
    assert_eq!(
        std::fs::read_dir(b.pool.root().join("staging"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn directory_backend_says_send_needs_btrfs() {
    let d = TestPool::new(Kind::Directory);
    d.with_container("x");
    let e = d
        .pool
        .send_container("x", None, &mut Vec::new())
        .unwrap_err();
    assert!(matches!(e, FsError::NeedsBtrfs { .. }), "{e}");
}
