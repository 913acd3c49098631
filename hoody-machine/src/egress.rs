//! A machine's egress network in its monitor (see [`hoody_net::egress`]): the monitor makes
//! the machine's network namespace and lives exactly as long, so it runs the forwarder, and a
//! machine keeps its egress network across a restart of its manager.
//!
//! It fails closed: an egress network that cannot start (an `https` upstream without usable
//! trust roots, say) leaves the kill switch of `block` in place and reports why, so a
//! machine that was meant to reach the world only through a proxy never reaches it directly.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hoody_net::egress::{Egress, EgressConfig, EgressKind};
use serde_json::json;

/// Extra trust roots (a PEM file) for `https` upstreams, read from the monitor's environment.
pub const EGRESS_CA_ENV: &str = "HOODY_EGRESS_CA";

/// The machine's egress network, shared by the monitor's network and its request handler.
#[derive(Debug)]
pub struct EgressSlot {
    netns: PathBuf,
    running: Option<Egress>,
    error: Option<String>,
}

/// A handle on the slot.
pub type SharedEgress = Arc<Mutex<EgressSlot>>;

impl EgressSlot {
    /// An empty slot for the namespace file `netns`.
    pub fn new(netns: &Path) -> SharedEgress {
        Arc::new(Mutex::new(EgressSlot {
            netns: netns.to_path_buf(),
            running: None,
            error: None,
        }))
    }

    /// Runs `cfg` (replacing what runs), or removes the egress network (`None`). On failure
    /// the kill switch stays (fail closed) and the error is kept and returned.
    pub fn apply(&mut self, cfg: Option<&EgressConfig>) -> Result<(), String> {
        // The old listeners go first: the new ones bind the same ports.
        let old = self.running.take();
        self.error = None;
        let Some(cfg) = cfg else {
            return match old {
                Some(e) => e.remove().map_err(|e| e.to_string()),
                None => hoody_net::egress::remove_rules(&self.netns).map_err(|e| e.to_string()),
            };
        };
        drop(old);
        let started = tls_for(cfg.kind).and_then(|tls| {
            Egress::start(&self.netns, cfg.clone(), tls).map_err(|e| e.to_string())
        });
        match started {
            Ok(e) => {
                self.running = Some(e);
                Ok(())
            }
            Err(e) => {
                let _ = hoody_net::egress::install_rules(&self.netns, EgressKind::Block);
                self.error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Stops the forwarder (the rules go with the namespace).
    pub fn running_stop(&mut self) {
        self.running = None;
    }

    /// What the monitor reports: `null` without an egress network, else its type, whether
    /// it runs, what it carried and the last error.
    pub fn status(&self) -> serde_json::Value {
        match (&self.running, &self.error) {
            (Some(e), _) => {
                let s = e.stats();
                json!({
                    "type": e.config().kind.as_str(),
                    "running": true,
                    "relayed": s.relayed,
                    "failed": s.failed,
                    "last_error": s.last_error,
                })
            }
            (None, Some(err)) => json!({"running": false, "error": err}),
            (None, None) => serde_json::Value::Null,
        }
    }
}

fn tls_for(kind: EgressKind) -> Result<Option<hoody_net::egress::TlsConfig>, String> {
    if kind != EgressKind::Https {
        return Ok(None);
    }
    let extra = std::env::var_os(EGRESS_CA_ENV).map(PathBuf::from);
    hoody_net::egress::tls_config(extra.as_deref())
        .map(Some)
        .map_err(|e| format!("TLS for the https upstream: {e}"))
}
