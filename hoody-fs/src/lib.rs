//! # hoody-fs
//!
//! hoody's storage: btrfs pools, Debian 13 images, container root file systems, snapshots, branch and send/receive.
//!
//! **Status: not built yet.** This crate is a placeholder in the workspace so that the crate
//! graph of `shared/DESIGN.md` exists from the start; it exports nothing, so nothing can
//! mistake it for a working implementation. Issue #3 builds it.
