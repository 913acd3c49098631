//! hoody's nftables table, driven through `nft -f -` with a script this module generates.
//!
//! Why the `nft` CLI and its native syntax rather than the `nftables` crate's JSON: the
//! whole table is one short, readable script that `nft` applies as a single atomic
//! transaction (replace = "add table; delete table; add table {…}" in one batch), it needs
//! no extra dependency, and what hoody installs is exactly what `nft list table` prints back.
//! `nft` only runs when the table is created or removed, never per container: the rules
//! match the pool's address range, so attaching or deleting a container changes no rule.
//!
//! The table (family `inet`, named after [`NetConfig::name`](crate::NetConfig::name)):
//! * `forward`: traffic from the pool to the pool is dropped (containers cannot reach each
//!   other; each has its own veth, so this is routed traffic the host would forward);
//! * `input`: from the pool to the host itself, established/related replies and the exposed
//!   ports are accepted, everything else dropped;
//! * `postrouting` (nat): traffic from the pool to anywhere outside it is masqueraded.
//!
//! Spoofing is stopped below nftables: every host-side veth has strict reverse-path
//! filtering (`rp_filter=1`), so a container cannot send with another source address.
//! IPv4 forwarding is switched on when the table is installed and left on at uninstall
//! (other software on the host may rely on it).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::config::NetConfig;
use crate::error::{NetError, Result};

/// The `nft` script that (re)creates the table for `cfg`.
pub fn table_script(cfg: &NetConfig) -> String {
    let t = &cfg.name;
    let pool = cfg.pool;
    let mut exposed = String::new();
    if !cfg.exposed_ports.is_empty() {
        let ports: Vec<String> = cfg.exposed_ports.iter().map(u16::to_string).collect();
        let set = ports.join(", ");
        exposed = format!(
            "\t\tip saddr {pool} tcp dport {{ {set} }} accept comment \"exposed host ports\"\n\
             \t\tip saddr {pool} udp dport {{ {set} }} accept comment \"exposed host ports\"\n"
        );
    }
    format!(
        "table inet {t}\n\
         delete table inet {t}\n\
         table inet {t} {{\n\
         \tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tip saddr {pool} ip daddr {pool} drop comment \"container to container\"\n\
         \t}}\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tip saddr {pool} ct state established,related accept\n\
         {exposed}\
         \t\tip saddr {pool} drop comment \"container to host\"\n\
         \t}}\n\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {pool} ip daddr != {pool} masquerade\n\
         \t}}\n\
         }}\n"
    )
}

fn nft(table: &str, what: &'static str, args: &[&str], stdin: Option<&str>) -> Result<bool> {
    let mut cmd = Command::new("nft");
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| NetError::Nft {
        table: table.to_string(),
        what,
        stderr: format!("cannot run nft (install the nftables package): {e}"),
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .map_err(|e| NetError::Nft {
                table: table.to_string(),
                what,
                stderr: format!("write to nft: {e}"),
            })?;
    }
    let out = child.wait_with_output().map_err(|e| NetError::Nft {
        table: table.to_string(),
        what,
        stderr: format!("wait for nft: {e}"),
    })?;
    if out.status.success() {
        return Ok(true);
    }
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(NetError::Nft {
        table: table.to_string(),
        what,
        stderr,
    })
}

/// Whether the table exists.
pub fn table_exists(cfg: &NetConfig) -> bool {
    nft(
        &cfg.name,
        "list",
        &["list", "table", "inet", &cfg.name],
        None,
    )
    .is_ok()
}

/// Creates the table if it does not exist (an existing table is left alone) and turns on
/// IPv4 forwarding.
pub fn ensure(cfg: &NetConfig) -> Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .map_err(|e| NetError::io("write", "/proc/sys/net/ipv4/ip_forward", e))?;
    if table_exists(cfg) {
        return Ok(());
    }
    install(cfg)
}

/// Creates or atomically replaces the table with the rules for `cfg`.
pub fn install(cfg: &NetConfig) -> Result<()> {
    nft(&cfg.name, "create", &["-f", "-"], Some(&table_script(cfg))).map(drop)
}

/// Deletes the table if it exists.
pub fn remove(cfg: &NetConfig) -> Result<()> {
    if !table_exists(cfg) {
        return Ok(());
    }
    nft(
        &cfg.name,
        "delete",
        &["delete", "table", "inet", &cfg.name],
        None,
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_names_pool_and_ports() {
        let cfg = NetConfig::named("hoodyx").exposed_ports(vec![53, 8080]);
        let s = table_script(&cfg);
        assert!(s.contains("table inet hoodyx {"));
        assert!(s.contains("ip saddr 10.77.0.0/16 ip daddr 10.77.0.0/16 drop"));
        assert!(s.contains("tcp dport { 53, 8080 } accept"));
        assert!(s.contains("masquerade"));
        let none = table_script(&NetConfig::named("hoodyx"));
        assert!(!none.contains("dport"));
    }
}
