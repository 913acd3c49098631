//! # hoody-kit
//!
//! hoody's the in-container Kit services (terminal, files, exec, sqlite, ...).
//!
//! **Status: not built yet.** This crate is a placeholder in the workspace so that the crate
//! graph of `shared/DESIGN.md` exists from the start; it exports nothing, so nothing can
//! mistake it for a working implementation. Issue #8 builds it.
