//! Snapshot, restore and branch of a container holding 100 MB and 2 GB, on a loop-mounted
//! btrfs pool, next to `btrfs subvolume snapshot` (the CLI) in the same run; prints medians
//! and the ratio.
//!
//! `cargo bench -p hoody-benches --bench storage` (as root; needs about 2.5 GB free in
//! /var/tmp for the sparse pool image).
//!
//! Not criterion: between batches the harness waits for btrfs to finish cleaning deleted
//! subvolumes (`btrfs subvolume sync`, which polls once a second), so that one batch's
//! deletions do not run in the background of the next batch's measurements; criterion's
//! adaptive iteration counts and that wait do not mix. Each batch times SAMPLES operations
//! back to back and cleans up afterwards.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hoody_fs::{LoopPool, Pool, SnapshotOptions, init_loop_pool, loopdev};
use hoody_testkit::{require_root, unique_name};

struct BenchPool {
    pool: Pool,
    dir: tempfile::TempDir,
}

impl Drop for BenchPool {
    fn drop(&mut self) {
        // Let go of the write lock (an open file inside the mount) before unmounting.
        if let Ok(ro) = Pool::open_read_only(self.pool.root()) {
            self.pool = ro;
        }
        let _ = loopdev::unmount_pool(&self.dir.path().join("mnt"));
    }
}

fn setup() -> BenchPool {
    require_root();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{}-", unique_name("benchpool")))
        .tempdir_in("/var/tmp")
        .unwrap();
    let spec = LoopPool {
        path: dir.path().join("mnt"),
        image: dir.path().join("pool.img"),
        size: 6 << 30,
    };
    let pool = init_loop_pool(&spec, &dir.path().join("registry.json")).unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("hello"), "hi").unwrap();
    pool.import_image_dir("base", src.path()).unwrap();
    for (name, mib) in [("c100m", 100usize), ("c2g", 2048)] {
        pool.create_container(name, "base").unwrap();
        let root = pool.container_path(name).unwrap();
        let mut block = vec![0u8; 1 << 20];
        for i in 0..mib {
            // Distinct content per file so nothing deduplicates or compresses away.
            for (j, b) in block.iter_mut().enumerate().step_by(4096) {
                *b = (i * 31 + j) as u8;
            }
            let dir = root.join(format!("d{}", i / 100));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("f{i}")), &block).unwrap();
        }
    }
    // Flush the data so the first snapshot does not pay for writing it back.
    // SAFETY: sync has no arguments.
    unsafe { libc::sync() };
    for c in ["c100m", "c2g"] {
        pool.create_snapshot(
            c,
            &SnapshotOptions {
                name: Some("base".into()),
                ..Default::default()
            },
        )
        .unwrap();
    }
    BenchPool { pool, dir }
}

fn btrfs_cli_snapshot(src: &Path, dst: &Path) {
    let out = Command::new("btrfs")
        .args(["subvolume", "snapshot", "-r"])
        .arg(src)
        .arg(dst)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until btrfs has finished cleaning deleted subvolumes, so one batch's deletions do
/// not run in the background of the next batch's measurements.
fn settle(pool: &Pool) {
    let out = Command::new("btrfs")
        .args(["subvolume", "sync"])
        .arg(pool.root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const SAMPLES: usize = 25;

fn median_ms(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(v[v.len() / 10]),
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10]),
    )
}

fn report(op: &str, size: &str, times: Vec<Duration>) -> f64 {
    let (p10, med, p90) = median_ms(times);
    println!(
        "{op:<22} {size:>6}: median {med:7.2} ms  (p10 {p10:.2}, p90 {p90:.2}, {SAMPLES} samples)"
    );
    med
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful either way.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let b = setup();
    let pool = &b.pool;
    let mut n = 0u64;
    let mut medians = Vec::new();
    for container in ["c100m", "c2g"] {
        let size = if container == "c100m" { "100MB" } else { "2GB" };

        settle(pool);
        let mut times = Vec::new();
        let mut made = Vec::new();
        for _ in 0..SAMPLES {
            n += 1;
            let name = format!("s{n}");
            let opts = SnapshotOptions {
                name: Some(name.clone()),
                ..Default::default()
            };
            let t = Instant::now();
            pool.create_snapshot(container, &opts).unwrap();
            times.push(t.elapsed());
            made.push(name);
        }
        let snap = report("hoody snapshot", size, times);
        for name in made {
            pool.delete_snapshot(container, &name).unwrap();
        }

        settle(pool);
        let live = pool.container_path(container).unwrap();
        let scratch = pool.root().join("staging");
        let mut times = Vec::new();
        let mut made = Vec::new();
        for _ in 0..SAMPLES {
            n += 1;
            let dst = scratch.join(format!("cli{n}"));
            let t = Instant::now();
            btrfs_cli_snapshot(&live, &dst);
            times.push(t.elapsed());
            made.push(dst);
        }
        let cli = report("btrfs subvolume snapshot", size, times);
        for dst in made {
            hoody_fs::Backend::Btrfs.delete(&dst).unwrap();
        }

        settle(pool);
        let mut times = Vec::new();
        let mut made = Vec::new();
        for _ in 0..SAMPLES {
            n += 1;
            let name = format!("{container}-b{n}");
            let t = Instant::now();
            pool.branch(container, "base", &name).unwrap();
            times.push(t.elapsed());
            made.push(name);
        }
        let branch = report("hoody branch", size, times);
        for name in made {
            pool.remove_container(&name).unwrap();
        }

        settle(pool);
        let mut times = Vec::new();
        for _ in 0..SAMPLES {
            let t = Instant::now();
            pool.restore(container, "base").unwrap();
            times.push(t.elapsed());
        }
        let restore = report("hoody restore", size, times);
        medians.push((size, snap, cli, branch, restore));
    }
    println!();
    for (size, snap, cli, branch, restore) in medians {
        println!(
            "{size:>6}: snapshot {snap:.2} ms vs btrfs CLI {cli:.2} ms (ratio CLI/hoody {:.1}x); branch {branch:.2} ms; restore {restore:.2} ms",
            cli / snap
        );
    }
}
