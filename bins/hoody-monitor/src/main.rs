//! `hoody-monitor STATE_DIR RUN_DIR ROOTFS`: keeps one machine (started by `hoody machine
//! start` or hoodyd, never by hand). All logic is in `hoody_machine::monitor`.

use hoody_machine::monitor::{KIT_EXE_ENV, MonitorArgs, monitor_main};

fn main() -> std::process::ExitCode {
    let args: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    let [state_dir, run_dir, rootfs] = args.as_slice() else {
        eprintln!(
            "usage: hoody-monitor STATE_DIR RUN_DIR ROOTFS (started by `hoody machine start` or hoodyd)"
        );
        return std::process::ExitCode::from(2);
    };
    let args = MonitorArgs {
        state_dir: state_dir.clone(),
        run_dir: run_dir.clone(),
        rootfs: rootfs.clone(),
        kit_exe: std::env::var_os(KIT_EXE_ENV).map(Into::into),
    };
    // SAFETY: this program starts no thread before this call: main is single-threaded here.
    let code = unsafe { monitor_main(args) };
    std::process::ExitCode::from(code as u8)
}
