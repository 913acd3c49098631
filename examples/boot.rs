//! Boots a Debian 13 root file system with systemd as PID 1 in an unprivileged container,
//! using hoody-core directly, prints the console for a while, then stops it cleanly.
//!
//! `cargo run -p hoody-examples --example boot -- /var/lib/hoody/containers/demo`

use std::io::Read;
use std::time::{Duration, Instant};

use hoody::core::{CapabilitySet, ContainerSpec, spawn};

fn main() -> anyhow::Result<()> {
    let rootfs = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/var/lib/hoody/containers/demo".into());
    let spec = ContainerSpec::builder(&rootfs)
        .id("boot-example")
        .hostname("boot-example")
        .args(["/sbin/init"])
        .env("container", "hoody")
        .user_namespace(524_288 + 65_536 * 100, 65_536)
        .idmapped_rootfs(true)
        .cgroup_delegation(true)
        .console(true)
        .capabilities(CapabilitySet::from_names(
            hoody::machine::config::MACHINE_CAPABILITIES,
        )?)
        .seccomp(hoody::core::SeccompProfile::Default)
        .tmpfs("/run", None)
        .tmpfs("/run/lock", Some(5 << 20))
        .tmpfs("/tmp", None)
        .bind("/etc/os-release", "/run/host/os-release", true)
        .file("/run/host/container-manager", "hoody\n")
        .readwrite_path("/proc/sys/net")
        .build()?;
    let started = Instant::now();
    let mut c = spawn(&spec)?;
    let mut console = c.io().pty.take().expect("a console");
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = console.read(&mut buf) {
            if n == 0 {
                break;
            }
            print!("{}", String::from_utf8_lossy(&buf[..n]));
        }
    });
    std::thread::sleep(Duration::from_secs(3));
    let mut p = c.exec(
        &hoody::core::ExecSpec::new([
            "/bin/sh",
            "-c",
            "ps -ef; cat /proc/1/status | grep -E \"State|Cap\"; systemctl is-system-running --wait; systemctl --failed --no-legend",
        ])
        .stdio(hoody::core::Stdio::Inherit),
    )?;
    p.wait()?;
    eprintln!(
        "--- {:?} after start; stopping with SIGRTMIN+3",
        started.elapsed()
    );
    c.signal(libc::SIGRTMIN() + 3)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.try_wait()?.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = c.destroy()?;
    eprintln!("--- exit {status:?}");
    drop(t);
    Ok(())
}
