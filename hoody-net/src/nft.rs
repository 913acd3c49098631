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

use crate::config::{GATEWAY, NetConfig};
use crate::error::{NetError, Result};
use crate::network::CONTAINER_IFNAME;

/// `{ 1, 2, 3 }`: an anonymous set of ports for a rule.
fn port_set(ports: &[u16]) -> String {
    let p: Vec<String> = ports.iter().map(u16::to_string).collect();
    format!("{{ {} }}", p.join(", "))
}

/// The table's body for `cfg`, without the comment that versions it.
fn table_body(cfg: &NetConfig) -> String {
    let pool = cfg.pool;
    let ing = &cfg.ingress;
    let mut accepts = String::new();
    if !cfg.exposed_ports.is_empty() {
        let set = port_set(&cfg.exposed_ports);
        accepts.push_str(&format!(
            "\t\tip saddr {pool} tcp dport {set} accept comment \"exposed host ports\"\n\
             \t\tip saddr {pool} udp dport {set} accept comment \"exposed host ports\"\n"
        ));
    }
    if !ing.proxy_ports.is_empty() {
        let set = port_set(&ing.proxy_ports);
        accepts.push_str(&format!(
            "\t\tip saddr {pool} tcp dport {set} accept comment \"the proxy\"\n"
        ));
    }
    let mut prerouting = String::new();
    if let Some(r) = ing.resolver_port {
        accepts.push_str(&format!(
            "\t\tip saddr {pool} ip daddr {GATEWAY} meta l4proto {{ tcp, udp }} th dport {r} \
             accept comment \"the pool's resolver\"\n"
        ));
        prerouting = format!(
            "\tchain prerouting {{\n\
             \t\ttype nat hook prerouting priority -100; policy accept;\n\
             \t\tip saddr {pool} ip daddr {GATEWAY} udp dport 53 redirect to :{r}\n\
             \t\tip saddr {pool} ip daddr {GATEWAY} tcp dport 53 redirect to :{r}\n\
             \t}}\n"
        );
    }
    format!(
        "\tchain forward {{\n\
         \t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tip saddr {pool} ip daddr {pool} drop comment \"container to container\"\n\
         \t}}\n\
         \tchain input {{\n\
         \t\ttype filter hook input priority filter; policy accept;\n\
         \t\tip saddr {pool} ct state established,related accept\n\
         {accepts}\
         \t\tip saddr {pool} drop comment \"container to host\"\n\
         \t}}\n\
         {prerouting}\
         \tchain postrouting {{\n\
         \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
         \t\tip saddr {pool} ip daddr != {pool} masquerade\n\
         \t}}\n"
    )
}

/// The comment that names the table's version: a hash of its rules, so that [`ensure`]
/// can tell a table made for another configuration (or by an older hoody) and replace it.
fn version(body: &str) -> String {
    // FNV-1a: stable across builds and platforms (std's hasher is not).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("hoody-net {h:016x}")
}

/// The `nft` script that (re)creates the table for `cfg`.
pub fn table_script(cfg: &NetConfig) -> String {
    let t = &cfg.name;
    let body = table_body(cfg);
    let v = version(&body);
    format!(
        "table inet {t}\n\
         delete table inet {t}\n\
         table inet {t} {{\n\
         \tcomment \"{v}\"\n\
         {body}\
         }}\n"
    )
}

/// The table every container's own namespace gets when [`Ingress::has_container_rules`]
/// (named after the configuration, like the host's). Empty when it has none.
///
/// [`Ingress::has_container_rules`]: crate::Ingress::has_container_rules
pub fn container_script(cfg: &NetConfig) -> String {
    let ing = &cfg.ingress;
    if !ing.has_container_rules() {
        return String::new();
    }
    let t = &cfg.name;
    let eth = CONTAINER_IFNAME;
    let mut chains = String::new();
    if !ing.guarded_ports.is_empty() {
        let set = port_set(&ing.guarded_ports);
        chains.push_str(&format!(
            "\tchain input {{\n\
             \t\ttype filter hook input priority filter; policy accept;\n\
             \t\ttcp dport {set} iifname \"{eth}\" ip saddr {GATEWAY} accept comment \"the proxy\"\n\
             \t\ttcp dport {set} reject with tcp reset comment \"the Kit: only through the proxy\"\n\
             \t}}\n"
        ));
    }
    if !ing.loopback_ports.is_empty() {
        let set = port_set(&ing.loopback_ports);
        chains.push_str(&format!(
            "\tchain output {{\n\
             \t\ttype nat hook output priority -100; policy accept;\n\
             \t\tip daddr 127.0.0.0/8 tcp dport {set} dnat ip to {GATEWAY} comment \"loopback to the proxy\"\n\
             \t}}\n\
             \tchain postrouting {{\n\
             \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
             \t\toifname \"{eth}\" ip saddr 127.0.0.0/8 masquerade\n\
             \t}}\n"
        ));
    }
    format!("table inet {t} {{\n{chains}}}\n")
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

/// The table as `nft` lists it, if it exists.
fn list_table(cfg: &NetConfig) -> Option<String> {
    let out = Command::new("nft")
        .args(["list", "table", "inet", &cfg.name])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the table exists.
pub fn table_exists(cfg: &NetConfig) -> bool {
    list_table(cfg).is_some()
}

/// Whether the table exists as `cfg` makes it (its version comment matches).
pub fn table_current(cfg: &NetConfig) -> bool {
    let v = version(&table_body(cfg));
    list_table(cfg).is_some_and(|t| t.contains(&format!("comment \"{v}\"")))
}

/// Makes sure the table exists and turns on IPv4 forwarding. A missing table is created. An
/// existing one made for another configuration (an older hoody, other proxy ports) is
/// atomically replaced when `cfg` carries a front door ([`crate::Ingress`], which hoodyd's
/// machines do), and left alone otherwise: a `hoody run --net auto` beside hoodyd must not
/// take the proxy's ports away from hoodyd's containers.
pub fn ensure(cfg: &NetConfig) -> Result<()> {
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
        .map_err(|e| NetError::io("write", "/proc/sys/net/ipv4/ip_forward", e))?;
    let Some(listed) = list_table(cfg) else {
        return install(cfg);
    };
    let v = version(&table_body(cfg));
    if listed.contains(&format!("comment \"{v}\"")) || cfg.ingress == Default::default() {
        return Ok(());
    }
    install(cfg)
}

/// Installs [`container_script`] in the network namespace the calling thread is in (the
/// caller has entered it): `nft` inherits the thread's namespace.
pub(crate) fn install_here(cfg: &NetConfig, what: &str) -> Result<()> {
    let script = container_script(cfg);
    if script.is_empty() {
        return Ok(());
    }
    nft(what, "create", &["-f", "-"], Some(&script)).map(drop)
}

/// Runs the `nft` script `script` inside the network namespace `netns` (a namespace file such
/// as `/proc/<pid>/ns/net` or one of hoody-net's): for rules a caller keeps in a container's
/// own namespace, such as a per-container firewall. `what` names it in errors.
pub fn apply_in(netns: &std::path::Path, script: &str, what: &str) -> Result<()> {
    let ns = crate::netns::open(netns)?;
    let _inside = crate::netns::NetnsGuard::enter(std::os::fd::AsFd::as_fd(&ns), netns)?;
    nft(what, "apply", &["-f", "-"], Some(script)).map(drop)
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
        assert!(s.contains("comment \"hoody-net "));
        let none = table_script(&NetConfig::named("hoodyx"));
        assert!(!none.contains("dport"));
        assert!(!none.contains("prerouting"));
        assert_eq!(container_script(&NetConfig::named("hoodyx")), "");
    }

    #[test]
    fn front_door_rules() {
        let ing = crate::Ingress {
            proxy_ports: vec![80, 443],
            resolver_port: Some(10053),
            loopback_ports: vec![8088],
            guarded_ports: vec![5, 76],
        };
        let cfg = NetConfig::named("hoodyx").ingress(ing);
        let s = table_script(&cfg);
        assert!(
            s.contains("ip saddr 10.77.0.0/16 tcp dport { 80, 443 } accept"),
            "{s}"
        );
        assert!(s.contains("udp dport 53 redirect to :10053"), "{s}");
        assert!(s.contains("th dport 10053 accept"), "{s}");
        // The version changes with the rules.
        let plain = table_script(&NetConfig::named("hoodyx"));
        let v = |t: &str| t.lines().find(|l| l.contains("comment")).map(str::to_owned);
        assert_ne!(v(&s), v(&plain));
        let c = container_script(&cfg);
        assert!(
            c.contains("tcp dport { 5, 76 } iifname \"eth0\" ip saddr 169.254.1.1 accept"),
            "{c}"
        );
        assert!(
            c.contains("tcp dport { 5, 76 } reject with tcp reset"),
            "{c}"
        );
        assert!(c.contains("ip daddr 127.0.0.0/8 tcp dport { 8088 } dnat ip to 169.254.1.1"));
        assert!(c.contains("oifname \"eth0\" ip saddr 127.0.0.0/8 masquerade"));
    }
}
