//! `hoody machine ...`: create, start, stop, exec, console, ls, rm (daemonless for now).

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use hoody::core::spec::{parse_pids, parse_size};
use hoody::core::{ExecSpec, Stdio};
use hoody::machine::{CreateOptions, Machines};

use crate::storage::{Access, PoolOpt};

/// `hoody machine ...`
#[derive(Subcommand, Debug)]
pub enum MachineCmd {
    /// Create a machine from an image (a root file system, an id range, a machine-id).
    Create {
        /// Machine name.
        name: String,
        /// Image.
        #[arg(long, default_value = "debian-13")]
        image: String,
        /// Memory limit, e.g. 1G.
        #[arg(long, value_parser = parse_size)]
        memory: Option<u64>,
        /// CPU limit in CPUs.
        #[arg(long)]
        cpus: Option<f64>,
        /// Process limit.
        #[arg(long, value_parser = parse_pids)]
        pids: Option<u64>,
        /// Root inside is root on the host (no user namespace). Trusted images only.
        #[arg(long)]
        privileged: bool,
        /// Let the kernel merge identical memory pages across machines (KSM must run on the
        /// host: echo 1 > /sys/kernel/mm/ksm/run).
        #[arg(long)]
        ksm: bool,
        /// No network, only loopback.
        #[arg(long)]
        no_network: bool,
    },
    /// Boot a machine and wait until systemd reports it ready.
    Start {
        /// Machine name.
        name: String,
        /// Seconds to wait for READY=1.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Shut a machine down cleanly (killing what is left after --timeout seconds).
    Stop {
        /// Machine name.
        name: String,
        /// Seconds before the remaining processes are killed.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Kill every process at once instead.
        #[arg(long)]
        force: bool,
    },
    /// Stop and start again.
    Restart {
        /// Machine name.
        name: String,
        /// Seconds for the shutdown and for the boot.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Freeze every process of a machine.
    Pause {
        /// Machine name.
        name: String,
    },
    /// Thaw a paused machine.
    Resume {
        /// Machine name.
        name: String,
    },
    /// Run a command inside a running machine.
    Exec {
        /// Machine name.
        name: String,
        /// Command and arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Show a machine's console (the log when it is stopped; live with --follow).
    Console {
        /// Machine name.
        name: String,
        /// Stay attached: live output, and what you type goes to the console (Ctrl-] detaches).
        #[arg(long, short)]
        follow: bool,
    },
    /// Status of one machine.
    Status {
        /// Machine name.
        name: String,
    },
    /// List machines.
    #[command(alias = "list")]
    Ls,
    /// Delete a stopped machine (root file system, snapshots, state).
    Rm {
        /// Machine name.
        name: String,
    },
}

fn monitor_exe() -> PathBuf {
    std::env::var_os(hoody::machine::monitor::EXE_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(hoody::machine::monitor::default_exe)
}

fn run_dir() -> PathBuf {
    std::env::var_os("HOODY_RUN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(hoody::machine::DEFAULT_RUN_DIR))
}

fn print(opt: &PoolOpt, v: &impl serde::Serialize, human: impl FnOnce()) -> anyhow::Result<()> {
    if opt.json {
        println!("{}", serde_json::to_string_pretty(v)?);
    } else {
        human();
    }
    Ok(())
}

/// Runs `hoody machine`.
pub fn machine(opt: &PoolOpt, cmd: &MachineCmd) -> anyhow::Result<ExitCode> {
    // Inspecting reads the pool; anything else changes a machine, so needs the pool's write
    // lock (refused while hoodyd serves the pool: its machines are hoodyd's to change).
    let reads = matches!(
        cmd,
        MachineCmd::Exec { .. }
            | MachineCmd::Console { .. }
            | MachineCmd::Status { .. }
            | MachineCmd::Ls
    );
    let access = if reads { Access::Read } else { Access::Write };
    let m = Machines::new(crate::storage::open(opt, access)?, run_dir(), monitor_exe());
    match cmd {
        MachineCmd::Create {
            name,
            image,
            memory,
            cpus,
            pids,
            privileged,
            ksm,
            no_network,
        } => {
            let cfg = m.create(
                name,
                image,
                &CreateOptions {
                    memory: *memory,
                    cpus: *cpus,
                    pids: *pids,
                    privileged: *privileged,
                    ksm: *ksm,
                    no_network: *no_network,
                    ..Default::default()
                },
            )?;
            print(opt, &cfg, || {
                let range = cfg.id_range_start.map_or("privileged".to_string(), |s| {
                    format!("uids {s}-{}", s + 65_535)
                });
                println!("created machine {} from {} ({range})", cfg.name, cfg.image);
            })?;
        }
        MachineCmd::Start { name, timeout } => {
            let started = std::time::Instant::now();
            let st = m.start(name, Duration::from_secs(*timeout))?;
            print(opt, &st, || {
                println!(
                    "machine {name} is up (pid {}) in {:.0?}",
                    st.pid.unwrap_or(0),
                    started.elapsed()
                )
            })?;
        }
        MachineCmd::Stop {
            name,
            timeout,
            force,
        } => {
            let exit = if *force {
                m.force_stop(name)?
            } else {
                m.stop(name, Duration::from_secs(*timeout))?
            };
            print(opt, &exit, || println!("machine {name} stopped"))?;
        }
        MachineCmd::Restart { name, timeout } => {
            let st = m.restart(name, Duration::from_secs(*timeout))?;
            print(opt, &st, || {
                println!("machine {name} restarted (pid {})", st.pid.unwrap_or(0))
            })?;
        }
        MachineCmd::Pause { name } => m.pause(name)?,
        MachineCmd::Resume { name } => m.resume(name)?,
        MachineCmd::Exec { name, command } => {
            let mut p = m.exec(
                name,
                &ExecSpec::new(command.iter().cloned()).stdio(Stdio::Inherit),
            )?;
            let st = p.wait()?;
            return Ok(ExitCode::from(st.shell_code().clamp(0, 255) as u8));
        }
        MachineCmd::Console { name, follow } => {
            if *follow {
                console_follow(&m, name)?;
            } else {
                let log = m.console_log(name)?;
                let data = std::fs::read(&log).unwrap_or_default();
                std::io::stdout().write_all(&data)?;
            }
        }
        MachineCmd::Status { name } => {
            let st = m.status(name)?;
            print(opt, &st, || {
                println!(
                    "{} {:?} pid {}",
                    st.config.name,
                    st.state,
                    st.pid.map_or("-".into(), |p| p.to_string())
                )
            })?;
        }
        MachineCmd::Ls => {
            let list = m.list()?;
            print(opt, &list, || {
                println!(
                    "{:<24} {:<10} {:<8} {:<15} {:<12} IMAGE",
                    "NAME", "STATE", "PID", "IP", "UIDS"
                );
                for s in &list {
                    println!(
                        "{:<24} {:<10} {:<8} {:<15} {:<12} {}",
                        s.config.name,
                        format!("{:?}", s.state).to_lowercase(),
                        s.pid.map_or("-".into(), |p| p.to_string()),
                        s.ip.as_deref().unwrap_or("-"),
                        s.config
                            .id_range_start
                            .map_or("privileged".into(), |r| r.to_string()),
                        s.config.image
                    );
                }
            })?;
        }
        MachineCmd::Rm { name } => {
            m.delete(name)?;
            if !opt.json {
                println!("deleted machine {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn console_follow(m: &Machines, name: &str) -> anyhow::Result<()> {
    let mut s = m.console(name)?;
    let mut reader = s.try_clone()?;
    let out = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut stdout = std::io::stdout();
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                break;
            }
            let _ = stdout.flush();
        }
    });
    if std::io::stdin().is_terminal() {
        eprintln!("[attached to {name}'s console; Ctrl-] detaches]");
    }
    let mut buf = [0u8; 1024];
    let mut stdin = std::io::stdin();
    while let Ok(n) = stdin.read(&mut buf) {
        if n == 0 || buf[..n].contains(&0x1d) {
            break;
        }
        s.write_all(&buf[..n])?;
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = out.join();
    Ok(())
}
