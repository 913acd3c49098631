//! The cgroup v2 code path, driven through the hybrid host's controller-less `unified`
//! hierarchy (on a pure v2 host this is the normal path and every other test covers it).
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hoody_core::{CgroupConfig, CgroupMode, spawn_with};

fn unified_config() -> Option<CgroupConfig> {
    let root = std::path::PathBuf::from("/sys/fs/cgroup/unified");
    match hoody_core::cgroup::detect_mode().unwrap() {
        CgroupMode::Hybrid => Some(CgroupConfig {
            root,
            parent: "hoody".into(),
            mode: Some(CgroupMode::Unified),
        }),
        // On a pure v2 host the default configuration already is this path.
        CgroupMode::Unified => Some(CgroupConfig::default()),
        CgroupMode::Legacy => None,
    }
}

#[test]
fn v2_placement_freeze_kill_and_removal() {
    let Some(config) = unified_config() else {
        panic!("no cgroup2 hierarchy on this host");
    };
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "v2")
        .args(["/bin/sh", "-c", "sleep 30 & wait"])
        .build()
        .unwrap();
    let mut c = spawn_with(&spec, &config).unwrap();
    let dir = c.cgroup().path().to_path_buf();
    assert!(dir.starts_with(&config.root), "{}", dir.display());
    // CLONE_INTO_CGROUP placed PID 1 there from its first instruction.
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    assert!(
        cg.lines()
            .any(|l| l.starts_with("0::") && l.ends_with(&spec.id)),
        "{cg}"
    );
    c.freeze().unwrap();
    assert!(
        std::fs::read_to_string(dir.join("cgroup.events"))
            .unwrap()
            .contains("frozen 1")
    );
    c.thaw().unwrap();
    assert!(
        std::fs::read_to_string(dir.join("cgroup.events"))
            .unwrap()
            .contains("frozen 0")
    );
    let stats = c.stats().unwrap();
    // cpu.stat is a core file on v2.
    let _ = stats.cpu_usage_usec;
    c.kill_all().unwrap();
    assert_eq!(c.wait().unwrap().signal, Some(9));
    c.destroy().unwrap();
    assert!(!dir.exists());
}

#[test]
fn v2_limits_without_controllers_are_a_clear_error() {
    let config = unified_config().unwrap();
    if config.mode.is_none() {
        return; // A pure v2 host has the controllers; the other tests cover the limits.
    }
    let rootfs = TestRootfs::new();
    let spec = builder(&rootfs, "v2-limits")
        .memory_limit(64 << 20)
        .arg("/bin/true")
        .build()
        .unwrap();
    let err = spawn_with(&spec, &config).unwrap_err();
    assert!(
        err.to_string().contains("needs the memory controller"),
        "{err}"
    );
    assert!(!config.root.join("hoody").join(&spec.id).exists());
}
