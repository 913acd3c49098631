//! Compiles `probe/probe.c` into a static binary that tests copy into their rootfs.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
    let bin = out.join("hoody-probe");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    println!("cargo:rerun-if-changed=probe/probe.c");
    println!("cargo:rerun-if-env-changed=CC");
    let status = Command::new(&cc)
        .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg("probe/probe.c")
        .status()
        .unwrap_or_else(|e| panic!("running {cc} to build the test probe: {e}"));
    assert!(
        status.success(),
        "{cc} failed to build probe/probe.c (needs gcc and libc6-dev for static linking)"
    );
    println!("cargo:rustc-env=HOODY_PROBE_PATH={}", bin.display());
}
