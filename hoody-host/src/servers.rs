//! The server itself, live (`GET /api/v1/servers/{id}/runtime`, also under `/rentals/`), and
//! the rental marketplace's routes (reference §5.6) as a self-hosted server answers them:
//! there is nothing to rent or reserve, so the lists are empty and renting or reserving is
//! refused, naming why.

use serde_json::json;

use super::*;

fn empty_page(key: &str) -> serde_json::Value {
    json!({key: [], "pagination": {"total": 0, "page": 1, "limit": 20, "totalPages": 0}})
}

impl Host {
    /// 404 unless `id` is this server's id or name.
    fn this_server(&self, id: &str) -> Result<()> {
        if id == self.inner.server_id || id == self.inner.server_name {
            Ok(())
        } else {
            Err(ApiError::not_found("server", id).into())
        }
    }

    /// `GET /api/v1/servers/{id}/runtime`: uptime, load, memory, the pool's disk, containers.
    pub fn server_runtime(&self, id: &str) -> Result<api::ServerRuntime> {
        self.this_server(id)?;
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .unwrap_or(0.0);
        let load: Vec<f64> = std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .filter_map(|v| v.parse().ok())
            .collect();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let kb = |key: &str| -> u64 {
            meminfo
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
                * 1024
        };
        let disk = hoody_sys::fs::size(self.inner.machines.pool().root()).ok();
        let (total, running) = {
            let store = self.store();
            let r = store.read();
            let all = r.all_containers()?;
            let running = all
                .iter()
                .filter(|c| c.status == ContainerStatus::Running)
                .count();
            (all.len() as u64, running as u64)
        };
        Ok(api::ServerRuntime {
            server_id: self.inner.server_id.clone(),
            server_name: self.inner.server_name.clone(),
            status: "ready".into(),
            uptime_seconds: uptime as u64,
            load_average: [
                load.first().copied().unwrap_or(0.0),
                load.get(1).copied().unwrap_or(0.0),
                load.get(2).copied().unwrap_or(0.0),
            ],
            cpu_cores: std::thread::available_parallelism()
                .map(|n| n.get() as u64)
                .unwrap_or(1),
            memory: api::RuntimeUsage {
                total: kb("MemTotal:"),
                used: kb("MemTotal:").saturating_sub(kb("MemAvailable:")),
            },
            disk: api::RuntimeUsage {
                total: disk.as_ref().map_or(0, |d| d.total),
                used: disk
                    .as_ref()
                    .map_or(0, |d| d.total.saturating_sub(d.available)),
            },
            containers: api::RuntimeContainers { total, running },
            checked_at: now(),
        })
    }

    /// `POST /api/v1/servers/{id}/rent`: this server is not for rent.
    pub fn rent_server(&self, id: &str) -> Result<serde_json::Value> {
        self.this_server(id)?;
        Err(ApiError::conflict(
            "SERVER_NOT_RENTABLE",
            format!("server {id} is self-hosted: it is yours already, there is nothing to rent"),
        )
        .into())
    }

    /// `GET /api/v1/servers/available`: no servers to rent.
    pub fn list_marketplace(&self) -> serde_json::Value {
        empty_page("servers")
    }

    /// `GET /api/v1/offers`: a self-hosted server offers no machines.
    pub fn list_offers(&self) -> serde_json::Value {
        empty_page("offers")
    }

    /// `POST /api/v1/offers/{id}/reserve`: no such offer.
    pub fn reserve_offer(&self, id: &str) -> Result<serde_json::Value> {
        Err(ApiError::new(
            404,
            "OFFER_NOT_FOUND",
            format!("no offer {id}: a self-hosted server has no marketplace"),
        )
        .into())
    }

    /// `GET /api/v1/reservations`: none.
    pub fn list_reservations(&self) -> serde_json::Value {
        empty_page("reservations")
    }

    /// `GET /api/v1/reservations/{id}`: no such reservation.
    pub fn get_reservation(&self, id: &str) -> Result<serde_json::Value> {
        Err(ApiError::new(
            404,
            "RESERVATION_NOT_FOUND",
            format!("no reservation {id}: a self-hosted server has no marketplace"),
        )
        .into())
    }
}
