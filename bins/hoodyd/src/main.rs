//! `hoodyd`: the hoody daemon (REST API over the SDK's Host).
//!
//! Not built yet (issue #6). Until then the binary says so and exits non-zero, rather
//! than pretending to serve anything.

fn main() -> std::process::ExitCode {
    eprintln!("hoodyd: not implemented yet (planned in issue #6); use `hoody run` for now");
    std::process::ExitCode::from(2)
}
