//! `hoody-proxy`: the hoody URL gateway.
//!
//! Not built yet (issue #7). Until then the binary says so and exits non-zero, rather
//! than pretending to serve anything.

fn main() -> std::process::ExitCode {
    eprintln!("hoody-proxy: not implemented yet (planned in issue #7); use `hoody run` for now");
    std::process::ExitCode::from(2)
}
