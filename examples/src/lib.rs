//! Embedding examples: `cargo run -p hoody-examples --example run_process -- ROOTFS`.
