//! Runs a shell command in an isolated container with a memory limit, captures its output
//! through pipes, then execs a second process into it while it is still running.
//!
//! `cargo run -p hoody-examples --example run_process -- /var/lib/hoody/containers/demo`

use std::io::Read;

use hoody::core::{ContainerSpec, ExecSpec, Stdio, spawn};

fn main() -> anyhow::Result<()> {
    let rootfs = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/var/lib/hoody/containers/demo".into());
    let spec = ContainerSpec::builder(&rootfs)
        .args(["/bin/sh", "-c", "echo pid=$$ host=$(hostname); sleep 5"])
        .hostname("example")
        .memory_limit(128 << 20)
        .pids_limit(64)
        .stdio(Stdio::Piped)
        .build()?;
    let mut container = spawn(&spec)?;
    println!(
        "container {} runs as host pid {}",
        container.id(),
        container.pid()
    );

    let mut exec =
        container.exec(&ExecSpec::new(["/bin/cat", "/etc/hostname"]).stdio(Stdio::Piped))?;
    let mut out = String::new();
    if let Some(mut stdout) = exec.io().stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    println!(
        "exec'd process saw /etc/hostname = {:?}, exit {:?}",
        out.trim(),
        exec.wait()?
    );
    println!("stats: {:?}", container.stats()?);

    container.kill_all()?;
    let status = container.wait()?;
    let mut first = String::new();
    if let Some(mut stdout) = container.io().stdout.take() {
        stdout.read_to_string(&mut first)?;
    }
    println!("PID 1 printed {:?} and ended with {status:?}", first.trim());
    container.destroy()?;
    Ok(())
}
