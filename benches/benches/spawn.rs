//! Spawn-to-exit of `/bin/true` through the hoody-core library (all namespaces but user, a
//! cgroup, default seccomp and capabilities), and the same with a user namespace.
#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use hoody_core::{ContainerSpec, spawn};
use hoody_testkit::{TestRootfs, unique_name};

fn bench_spawn(c: &mut Criterion) {
    hoody_testkit::require_root();
    let rootfs = TestRootfs::new();
    let mut group = c.benchmark_group("spawn_to_exit");
    group.sample_size(200);
    group.bench_function("true", |b| {
        b.iter(|| {
            let spec = ContainerSpec::builder(rootfs.path())
                .id(unique_name("bench"))
                .arg("/bin/true")
                .build()
                .unwrap();
            let mut ct = spawn(&spec).unwrap();
            assert!(ct.wait().unwrap().success());
            ct.destroy().unwrap();
        })
    });
    group.bench_function("true_userns", |b| {
        b.iter(|| {
            let spec = ContainerSpec::builder(rootfs.path())
                .id(unique_name("bench"))
                .arg("/bin/true")
                .user_namespace(2_000_000_000, 65_536)
                .build()
                .unwrap();
            let mut ct = spawn(&spec).unwrap();
            assert!(ct.wait().unwrap().success());
            ct.destroy().unwrap();
        })
    });
    group.finish();
}

criterion_group!(benches, bench_spawn);
criterion_main!(benches);
