//! The container object as get and list answer it (reference §1.3): the stored record, plus
//! what is read when answering: its `server`, `snapshot_count` (a directory listing each),
//! `warnings`, `kvm_note`; with `include_proxy_domains=true` its URLs' host names; with
//! `runtime` what runs in it (`runtime_info`, running containers only, kept 2 s as the
//! reference does).
//!
//! `runtime_info`: `network_services` are the TCP sockets listening in the container's network
//! namespace (its PID 1's `/proc/<pid>/net/tcp{,6}`: no process inside is asked), with the Kit
//! service or the `http-PORT` host that reaches each; `services` the Kit services it runs;
//! `terminals` what its terminal service lists (one request to the Kit, bounded to a second);
//! `displays` is empty until the display service exists.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use hoody_api::kit::{INSTANCE_HEADER, Kit, SERVED, kit_host, kit_port};

use super::*;
use crate::api::{
    ContainerServer, ContainerServerSpecs, ListQuery, NetworkService, RuntimeInfo, RuntimeService,
};

/// How long `runtime_info` is reused.
pub(crate) const RUNTIME_TTL: Duration = Duration::from_secs(2);
/// How long the terminal service may take to list its sessions.
const KIT_TIMEOUT: Duration = Duration::from_secs(1);

/// Which parts of `runtime_info` were asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts {
    displays: bool,
    services: bool,
    network_services: bool,
    terminals: bool,
}

/// `runtime`: absent or `false` → none; `true`, `{}` → all; `{"displays":true,...}` → those.
fn parts(runtime: Option<&str>) -> Result<Option<Parts>> {
    let all = Parts {
        displays: true,
        services: true,
        network_services: true,
        terminals: true,
    };
    let Some(r) = runtime.map(str::trim) else {
        return Ok(None);
    };
    match r {
        "" | "false" | "0" => return Ok(None),
        "true" | "1" => return Ok(Some(all)),
        _ => {}
    }
    let bad = || {
        ApiError::validation(
            "runtime",
            format!(
                "{r:?}: true, false, or a JSON object of displays, services, network_services, terminals"
            ),
        )
    };
    let v: serde_json::Value = serde_json::from_str(r).map_err(|_| bad())?;
    let o = v.as_object().ok_or_else(bad)?;
    if o.is_empty() {
        return Ok(Some(all));
    }
    let mut p = Parts {
        displays: false,
        services: false,
        network_services: false,
        terminals: false,
    };
    for (k, v) in o {
        let on = v.as_bool().ok_or_else(bad)?;
        match k.as_str() {
            "displays" => p.displays = on,
            "services" => p.services = on,
            "network_services" => p.network_services = on,
            "terminals" => p.terminals = on,
            _ => return Err(bad().into()),
        }
    }
    Ok(Some(p))
}

/// The LISTEN sockets of one `/proc/<pid>/net/tcp` or `tcp6` table.
fn listening(table: &str, v6: bool) -> Vec<(IpAddr, u16)> {
    let mut out = Vec::new();
    for line in table.lines().skip(1) {
        let mut f = line.split_whitespace();
        let (Some(local), Some(_remote), Some(state)) = (f.nth(1), f.next(), f.next()) else {
            continue;
        };
        if state != "0A" {
            continue;
        }
        let Some((addr, port)) = local.split_once(':') else {
            continue;
        };
        let Ok(port) = u16::from_str_radix(port, 16) else {
            continue;
        };
        // The kernel prints each 32-bit word of the address in host (little-endian) order.
        let words: Vec<u32> = (0..addr.len() / 8)
            .filter_map(|i| u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16).ok())
            .map(u32::swap_bytes)
            .collect();
        let ip = match (v6, words.as_slice()) {
            (false, [w]) => IpAddr::V4(Ipv4Addr::from(*w)),
            (true, [a, b, c, d]) => {
                let mut bytes = [0u8; 16];
                for (i, w) in [a, b, c, d].iter().enumerate() {
                    bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_be_bytes());
                }
                IpAddr::V6(Ipv6Addr::from(bytes))
            }
            _ => continue,
        };
        out.push((ip, port));
    }
    out
}

/// The terminal service's sessions, asked directly at the container's address.
fn terminals(ip: Ipv4Addr) -> Option<Vec<serde_json::Value>> {
    let to = SocketAddr::from((ip, kit_port(Kit::Terminal)));
    let mut s = TcpStream::connect_timeout(&to, KIT_TIMEOUT).ok()?;
    s.set_read_timeout(Some(KIT_TIMEOUT)).ok()?;
    s.set_write_timeout(Some(KIT_TIMEOUT)).ok()?;
    write!(
        s,
        "GET /api/v1/terminal/sessions HTTP/1.1\r\nHost: {ip}\r\n{INSTANCE_HEADER}: 1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 16 * 1024];
    while started.elapsed() < KIT_TIMEOUT && raw.len() < 4 * 1024 * 1024 {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..at]);
    if !head.starts_with("HTTP/1.1 200") || head.to_ascii_lowercase().contains("chunked") {
        return None;
    }
    serde_json::from_slice(&raw[at + 4..]).ok()
}

impl Host {
    /// `GET /api/v1/containers/{id}` with the list's `runtime` and `include_*` parameters.
    pub fn get_container_view(&self, id: &str, q: &ListQuery) -> Result<Container> {
        api::id::check("container", id)?;
        let mut c = {
            let store = self.store();
            let r = store.read();
            let mut c = r
                .container(id)?
                .ok_or_else(|| ApiError::not_found("container", id))?;
            r.decorate_permissions(
                std::slice::from_mut(&mut c),
                q.include_proxy_permissions.unwrap_or(false),
            )?;
            c
        };
        self.decorate(std::slice::from_mut(&mut c), q)?;
        Ok(c)
    }

    /// This server as a container's object shows it.
    fn container_server(&self) -> ContainerServer {
        let s = self.server_specs();
        ContainerServer {
            name: self.inner.server_name.clone(),
            is_free: true,
            specs: ContainerServerSpecs {
                cpu_cores: s.cpu_cores,
                ram_gb: s.ram_gb,
                disk_gb: s.disk_gb,
                shared_compute: true,
            },
            ..Default::default()
        }
    }

    /// Adds what is read at answer time to a page of containers (see the module doc).
    pub(crate) fn decorate(&self, cs: &mut [Container], q: &ListQuery) -> Result<()> {
        let parts = parts(q.runtime.as_deref())?;
        if cs.is_empty() {
            return Ok(());
        }
        let server = self.container_server();
        let domain = &self.inner.cfg.domain;
        let aliases: HashMap<String, Vec<String>> = if q.include_proxy_domains.unwrap_or(false) {
            let mut m: HashMap<String, Vec<String>> = HashMap::new();
            for a in self.store().read().aliases()? {
                m.entry(a.container_id)
                    .or_default()
                    .push(format!("{}.{}.containers.{domain}", a.alias, server.name));
            }
            m
        } else {
            HashMap::new()
        };
        let kvm_host = hoody_machine::devices::host_has_kvm();
        for c in cs.iter_mut() {
            c.server = Some(server.clone());
            c.snapshot_count = self
                .inner
                .machines
                .pool()
                .snapshot_count(&c.id)
                .unwrap_or(0) as u64;
            c.warnings.clear();
            c.kvm_note = None;
            if c.kvm && !kvm_host {
                let note = "kvm is on but this server has no /dev/kvm: the container cannot start until it has";
                c.kvm_note = Some(note.to_string());
                c.warnings.push(note.to_string());
            }
            if let Some(e) = c
                .error
                .as_ref()
                .filter(|_| c.status == ContainerStatus::Failed)
            {
                c.warnings.push(format!("the last operation failed: {e}"));
            }
            if q.include_proxy_domains.unwrap_or(false) {
                let mut d: Vec<String> = if c.hoody_kit {
                    SERVED
                        .iter()
                        .map(|k| kit_host(&c.project_id, &c.id, *k, "1", &server.name, domain))
                        .collect()
                } else {
                    Vec::new()
                };
                d.extend(aliases.get(&c.id).cloned().unwrap_or_default());
                c.proxy_domains = Some(d);
            }
            c.runtime_info = match parts {
                Some(p) if c.status == ContainerStatus::Running => {
                    Some(self.runtime_info(c, p, &server.name))
                }
                _ => None,
            };
        }
        Ok(())
    }

    /// `runtime_info` of a running container: from the cache when fresh, else read.
    fn runtime_info(&self, c: &Container, p: Parts, server: &str) -> RuntimeInfo {
        let cached = lock(&self.inner.runtime_cache)
            .get(&c.id)
            .filter(|(at, _)| at.elapsed() < RUNTIME_TTL)
            .map(|(_, info)| info.clone());
        let full = cached.unwrap_or_else(|| {
            let info = self.read_runtime(c, server);
            let mut cache = lock(&self.inner.runtime_cache);
            cache.retain(|_, (at, _)| at.elapsed() < RUNTIME_TTL);
            cache.insert(c.id.clone(), (Instant::now(), info.clone()));
            info
        });
        RuntimeInfo {
            displays: full.displays.filter(|_| p.displays),
            services: full.services.filter(|_| p.services),
            network_services: full.network_services.filter(|_| p.network_services),
            terminals: full.terminals.filter(|_| p.terminals),
        }
    }

    fn read_runtime(&self, c: &Container, server: &str) -> RuntimeInfo {
        let domain = &self.inner.cfg.domain;
        let pid = self.inner.machines.status(&c.id).ok().and_then(|s| s.pid);
        let mut network_services = Vec::new();
        if let Some(pid) = pid {
            for (file, v6, protocol) in [("tcp", false, "tcp"), ("tcp6", true, "tcp6")] {
                let table =
                    std::fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
                for (ip, port) in listening(&table, v6) {
                    let kit = Kit::ALL
                        .iter()
                        .find(|k| c.hoody_kit && kit_port(**k) == port)
                        .map(|k| k.slug().to_string());
                    let everywhere = ip.is_unspecified();
                    network_services.push(NetworkService {
                        port,
                        address: ip.to_string(),
                        protocol: protocol.to_string(),
                        domain: (everywhere && kit.is_none()).then(|| {
                            format!(
                                "{}-{}-http-{port}.{server}.containers.{domain}",
                                c.project_id, c.id
                            )
                        }),
                        kit,
                    });
                }
            }
        }
        network_services.sort_by(|a, b| (a.port, &a.protocol).cmp(&(b.port, &b.protocol)));
        network_services.dedup_by(|a, b| a.port == b.port && a.address == b.address);
        let services = if c.hoody_kit {
            SERVED
                .iter()
                .map(|k| RuntimeService {
                    name: k.slug().to_string(),
                    port: kit_port(*k),
                    domain: kit_host(&c.project_id, &c.id, *k, "1", server, domain),
                })
                .collect()
        } else {
            Vec::new()
        };
        let ip =
            c.ip.as_deref()
                .and_then(|ip| ip.split('/').next())
                .and_then(|ip| ip.parse::<Ipv4Addr>().ok());
        let terminals = match (c.hoody_kit, ip) {
            (true, Some(ip)) => terminals(ip).unwrap_or_default(),
            _ => Vec::new(),
        };
        RuntimeInfo {
            displays: Some(Vec::new()),
            services: Some(services),
            network_services: Some(network_services),
            terminals: Some(terminals),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn runtime_parts_parse_as_the_reference_has_them() {
        assert_eq!(parts(None).unwrap(), None);
        assert_eq!(parts(Some("false")).unwrap(), None);
        let all = parts(Some("true")).unwrap().unwrap();
        assert!(all.displays && all.services && all.network_services && all.terminals);
        assert_eq!(parts(Some("{}")).unwrap(), Some(all));
        let one = parts(Some(r#"{"displays":true}"#)).unwrap().unwrap();
        assert!(one.displays && !one.terminals);
        for bad in ["maybe", r#"{"disks":true}"#, r#"{"displays":1}"#, "[]"] {
            let e = ApiError::from(parts(Some(bad)).unwrap_err());
            assert_eq!(e.data[0].instance_path, "/runtime", "{bad}");
        }
    }

    #[test]
    fn listening_sockets_are_read_from_the_kernels_tables() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                  0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1\n\
                  1: 0100007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1\n\
                  2: 0500A8C0:1F90 0100A8C0:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1\n";
        assert_eq!(
            listening(v4, false),
            vec![
                (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 8080),
                (IpAddr::V4(Ipv4Addr::LOCALHOST), 53)
            ]
        );
        let v6 = "  sl  local_address                         remote_address                        st\n\
                  0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0\n\
                  1: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 0\n";
        assert_eq!(
            listening(v6, true),
            vec![
                (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 80),
                (IpAddr::V6(Ipv6Addr::LOCALHOST), 8081)
            ]
        );
    }
}
