//! Where each Kit service listens inside a container: one table, read by the proxy to forward
//! and by hoody-kit to bind.
//!
//! Documented by Hoody (reference §2.3): terminal 76, sqlite 5, display 3998, notifications
//! 3999. The others are hoody's choice: 7701 upwards, one port per service, away from the
//! ports users pick for their own servers (80, 443, 3000, 5000, 8000, 8080, ...). A service's
//! instances share its port; the instance number travels in the [`INSTANCE_HEADER`] header.

use crate::hostname::Kit;

/// Request header carrying the instance number of the Kit service (`terminal-2` → `2`).
pub const INSTANCE_HEADER: &str = "x-hoody-instance";

/// The port Kit service `kit` listens on inside every container.
pub fn kit_port(kit: Kit) -> u16 {
    match kit {
        Kit::Terminal | Kit::Desktop => 76,
        Kit::Sqlite => 5,
        Kit::Display => 3998,
        Kit::Notifications => 3999,
        Kit::Files => 7701,
        Kit::Exec => 7702,
        Kit::Browser => 7703,
        Kit::Cdp => 7704,
        Kit::Agent => 7705,
        Kit::Code => 7706,
        Kit::Curl => 7707,
        Kit::Daemon => 7708,
        Kit::Cron => 7709,
        Kit::Pipe => 7710,
        Kit::Notes => 7711,
        Kit::Watch => 7712,
        Kit::Run => 7713,
        Kit::Tunnel => 7714,
        Kit::Logs => 7715,
        Kit::Egress => 7716,
        Kit::Bot => 7717,
    }
}
