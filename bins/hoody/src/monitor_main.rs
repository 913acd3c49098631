//! `hoody-monitor STATE_DIR RUN_DIR ROOTFS`: keeps one machine (started by `hoody machine
//! start`, never by hand). All logic is in `hoody::machine::monitor`.

fn main() -> std::process::ExitCode {
    let args: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let [state_dir, run_dir, rootfs] = args.as_slice() else {
        eprintln!(
            "usage: hoody-monitor STATE_DIR RUN_DIR ROOTFS (started by `hoody machine start`)"
        );
        return std::process::ExitCode::from(2);
    };
    let code = hoody::machine::monitor::monitor_main(hoody::machine::monitor::MonitorArgs {
        state_dir: state_dir.clone(),
        run_dir: run_dir.clone(),
        rootfs: rootfs.clone(),
        kit_exe: std::env::var_os(hoody::machine::monitor::KIT_EXE_ENV).map(Into::into),
    });
    std::process::ExitCode::from(code as u8)
}
