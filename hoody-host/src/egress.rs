//! Containers' egress networks (reference §5.1): `GET|PUT|DELETE …/network`,
//! `POST …/network/start|stop`.
//!
//! The setting lives in the state database (`egress_networks`, with the upstream's URL and
//! its credentials, which no answer ever shows: `credentials_configured` says whether there
//! are some). A configuration that is not stopped is part of the machine's configuration, so
//! its monitor starts it with the network, before the machine boots, on every start; a
//! change is applied at once to a running machine, machine first: a configuration the
//! machine cannot run is refused and the previous one stays. How the traffic is steered is
//! [`hoody_net::egress`]'s business; `country`, `city` and `region` are labels (the upstream
//! is the one the URL names).
//!
//! `status`: `configured` (not running, applies when the container runs), `running`,
//! `stopped` (by `…/network/stop`: egress is direct), `error` (the machine could not start
//! it; it then has no egress at all, see [`hoody_machine::egress`]).

use std::net::IpAddr;

use hoody_net::egress::{self as net, EgressConfig, EgressKind};
use serde::{Deserialize, Serialize};

use crate::api::{
    ApiError, BridgeDetails, ContainerStatus, NetworkConfig, NetworkRemoteStatus, NetworkState,
    UpdateNetwork,
};
use crate::{Result, now};

/// A container's egress network as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EgressRecord {
    /// The type.
    pub kind: EgressKind,
    /// The upstream's URL, credentials included (never shown).
    pub proxy: Option<String>,
    /// Labels and comment.
    pub country: Option<String>,
    /// Label.
    pub city: Option<String>,
    /// Label.
    pub region: Option<String>,
    /// Free text.
    pub comment: Option<String>,
    /// DNS servers.
    pub dns_servers: Vec<IpAddr>,
    /// Not stopped.
    pub enabled: bool,
    /// When it was set.
    pub configured_at: String,
}

impl EgressRecord {
    /// What the machine runs (`None` when stopped).
    pub fn machine_config(&self) -> Option<EgressConfig> {
        if !self.enabled {
            return None;
        }
        // Checked when stored.
        EgressConfig::new(self.kind, self.proxy.as_deref(), &self.dns_servers).ok()
    }
}

/// Checks a request and makes the record (enabled), or the 422 naming the field.
fn record(req: UpdateNetwork) -> Result<EgressRecord> {
    let kind = match req.kind.as_deref() {
        Some(k) => EgressKind::parse(k).ok_or_else(|| {
            ApiError::validation("type", format!("{k:?}: socks5, http, https or block"))
        })?,
        None => {
            return Err(
                ApiError::validation("type", "required: socks5, http, https or block").into(),
            );
        }
    };
    let mut dns = Vec::new();
    for (i, s) in req.dns_servers.iter().flatten().enumerate() {
        dns.push(s.trim().parse::<IpAddr>().map_err(|_| {
            ApiError::validation(
                &format!("dns_servers/{i}"),
                format!("{s:?} is not an IP address"),
            )
        })?);
    }
    let cfg = EgressConfig::new(kind, req.proxy.as_deref(), &dns)
        .map_err(|(field, msg)| ApiError::validation(field, msg))?;
    for (field, v, max) in [
        ("country", &req.country, 100),
        ("city", &req.city, 100),
        ("region", &req.region, 100),
        ("comment", &req.comment, 1000),
    ] {
        if v.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(ApiError::validation(field, format!("at most {max} characters")).into());
        }
    }
    Ok(EgressRecord {
        kind,
        proxy: if kind == EgressKind::Block {
            None
        } else {
            req.proxy
        },
        country: req.country,
        city: req.city,
        region: req.region,
        comment: req.comment,
        dns_servers: cfg.dns_servers,
        enabled: true,
        configured_at: now(),
    })
}

fn not_configured(id: &str) -> ApiError {
    ApiError::new(
        404,
        "NETWORK_NOT_CONFIGURED",
        format!("container {id} has no egress network: PUT /api/v1/containers/{id}/network first"),
    )
}

/// What the machine says of it, when it runs: (is in force, error, details).
struct Remote {
    running: bool,
    error: Option<String>,
    details: Option<BridgeDetails>,
}

fn remote(v: Option<serde_json::Value>) -> Remote {
    let Some(v) = v else {
        return Remote {
            running: false,
            error: None,
            details: None,
        };
    };
    let running = v["running"].as_bool().unwrap_or(false);
    let details = running.then(|| BridgeDetails {
        bridge_name: None,
        bridge_ip: hoody_net::GATEWAY.to_string(),
        gost_listener_ip: net::LISTEN.to_string(),
        port: net::TCP_PORT,
        dns_port: net::DNS_PORT,
        relayed: v["relayed"].as_u64().unwrap_or(0),
        failed: v["failed"].as_u64().unwrap_or(0),
        last_error: v["last_error"].as_str().map(str::to_string),
    });
    Remote {
        running,
        error: v["error"].as_str().map(str::to_string),
        details,
    }
}

impl crate::Host {
    /// The machine configuration of container `id`'s egress network (`None`: direct).
    pub(crate) fn egress_config(&self, id: &str) -> Result<Option<EgressConfig>> {
        Ok(self
            .store()
            .read()
            .egress(id)?
            .and_then(|r| r.machine_config()))
    }

    fn network_view(&self, id: &str, running: bool, rec: Option<EgressRecord>) -> NetworkConfig {
        let Some(rec) = rec else {
            return NetworkConfig {
                container_id: id.to_string(),
                ..Default::default()
            };
        };
        let checked = now();
        let r = if running && rec.enabled {
            remote(self.inner.machines.egress_status(id))
        } else {
            remote(None)
        };
        let status = match (rec.enabled, running, r.running, &r.error) {
            (false, ..) => "stopped",
            (true, true, true, _) => "running",
            (true, true, false, Some(_)) => "error",
            _ => "configured",
        };
        let upstream = rec
            .proxy
            .as_deref()
            .and_then(|p| net::Upstream::parse(rec.kind, p).ok());
        NetworkConfig {
            container_id: id.to_string(),
            configured: true,
            kind: Some(rec.kind.as_str().to_string()),
            proxy: upstream.as_ref().map(|u| u.public_url(rec.kind)),
            credentials_configured: upstream.as_ref().is_some_and(|u| u.has_credentials()),
            country: rec.country,
            city: rec.city,
            region: rec.region,
            comment: rec.comment,
            dns_servers: rec.dns_servers.iter().map(ToString::to_string).collect(),
            status: Some(status.to_string()),
            configured_at: Some(rec.configured_at),
            last_status_check: Some(checked.clone()),
            remote_status: running.then_some(NetworkRemoteStatus {
                is_running: r.running,
                last_check: checked,
                error: r.error,
                bridge_details: r.details,
            }),
        }
    }

    /// `GET /api/v1/containers/{id}/network`.
    pub fn get_network(&self, id: &str) -> Result<NetworkConfig> {
        let c = self.get_container(id)?;
        let rec = self.store().read().egress(id)?;
        Ok(self.network_view(id, c.status == ContainerStatus::Running, rec))
    }

    /// `PUT /api/v1/containers/{id}/network`: sets it and starts it.
    pub fn update_network(&self, id: &str, req: UpdateNetwork) -> Result<NetworkConfig> {
        self.get_container(id)?;
        let rec = record(req)?;
        self.change_network(id, Some(rec))?;
        self.get_network(id)
    }

    /// `DELETE /api/v1/containers/{id}/network`: egress is direct again; `null`.
    pub fn delete_network(&self, id: &str) -> Result<serde_json::Value> {
        self.get_container(id)?;
        self.change_network(id, None)?;
        Ok(serde_json::Value::Null)
    }

    /// `POST /api/v1/containers/{id}/network/start` and `…/stop`.
    pub fn set_network_running(&self, id: &str, on: bool) -> Result<NetworkState> {
        self.get_container(id)?;
        let mut rec = self
            .store()
            .read()
            .egress(id)?
            .ok_or_else(|| not_configured(id))?;
        rec.enabled = on;
        self.change_network(id, Some(rec))?;
        let v = self.get_network(id)?;
        Ok(NetworkState {
            container_id: id.to_string(),
            status: v.status.unwrap_or_default(),
            is_running: v.remote_status.as_ref().is_some_and(|r| r.is_running),
            last_check: v.last_status_check.unwrap_or_default(),
        })
    }

    /// Applies `rec` (or none) to the machine, then records it; a machine that cannot run it
    /// gets the previous setting back and the caller a 502 saying why.
    fn change_network(&self, id: &str, rec: Option<EgressRecord>) -> Result<()> {
        let _busy = self.claim(id)?;
        let prev = self.store().read().egress(id)?;
        let cfg = rec.as_ref().and_then(EgressRecord::machine_config);
        let applied = crate::containers::unless_unmade(self.inner.machines.set_egress(id, cfg));
        if let Err(e) = applied {
            let back = prev.as_ref().and_then(EgressRecord::machine_config);
            let _ = self.inner.machines.set_egress(id, back);
            return Err(ApiError::new(
                502,
                "NETWORK_START_FAILED",
                format!(
                    "the egress network of container {id} could not start: {}",
                    e.message()
                ),
            )
            .into());
        }
        self.store().tx(|tx| {
            match &rec {
                Some(r) => tx.put_egress(id, r)?,
                None => tx.delete_egress(id)?,
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn req(kind: &str, proxy: Option<&str>) -> UpdateNetwork {
        UpdateNetwork {
            kind: Some(kind.into()),
            proxy: proxy.map(str::to_string),
            ..Default::default()
        }
    }

    fn field(r: Result<EgressRecord>) -> String {
        ApiError::from(r.unwrap_err()).data[0].instance_path.clone()
    }

    #[test]
    fn requests_are_checked_field_by_field() {
        let r = record(req("socks5", Some("socks5://u:p@h:1080"))).unwrap();
        assert_eq!(r.dns_servers.len(), 2, "the default servers");
        assert!(r.machine_config().is_some());
        assert_eq!(field(record(UpdateNetwork::default())), "/type");
        assert_eq!(field(record(req("vpn", None))), "/type");
        assert_eq!(field(record(req("http", None))), "/proxy");
        assert_eq!(field(record(req("http", Some("socks5://h:1")))), "/proxy");
        let mut bad_dns = req("block", None);
        bad_dns.dns_servers = Some(vec!["1.1.1.1".into(), "dns.example".into()]);
        assert_eq!(field(record(bad_dns)), "/dns_servers/1");
        let mut five = req("block", None);
        five.dns_servers = Some(vec!["1.1.1.1".into(); 5]);
        assert_eq!(field(record(five)), "/dns_servers");
        // block keeps no upstream even if one is sent.
        let b = record(req("block", Some("socks5://h:1"))).unwrap();
        assert!(b.proxy.is_none());
        let mut stopped = b;
        stopped.enabled = false;
        assert!(stopped.machine_config().is_none());
    }
}
