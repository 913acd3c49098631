//! # hoody-net
//!
//! hoody's networking: routed veth per container, IPAM, nftables NAT and isolation, DNS.
//!
//! **Status: not built yet.** This crate is a placeholder in the workspace so that the crate
//! graph of `shared/DESIGN.md` exists from the start; it exports nothing, so nothing can
//! mistake it for a working implementation. Issue #4 builds it.
