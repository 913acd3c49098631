//! A container's network settings: its egress network (reference §5.1) and its firewall
//! (§5.2).

use serde_json::Value;

use super::*;
use crate::{FirewallRule, NetworkConfig, NetworkState, UpdateNetwork};

impl Client {
    /// `GET /api/v1/containers/{id}/network` (never the upstream's credentials).
    pub fn network(&self, id: &str) -> Result<NetworkConfig> {
        self.get(&container_path(id, "/network")?)
    }

    /// `PUT /api/v1/containers/{id}/network`: sets the egress network and starts it.
    pub fn update_network(&self, id: &str, req: &UpdateNetwork) -> Result<NetworkConfig> {
        self.send_json("PUT", &container_path(id, "/network")?, req)
    }

    /// `DELETE /api/v1/containers/{id}/network`: egress is direct again.
    pub fn delete_network(&self, id: &str) -> Result<()> {
        let _: Value = self.call("DELETE", &container_path(id, "/network")?, None)?;
        Ok(())
    }

    /// `POST /api/v1/containers/{id}/network/start` (`on`) or `…/stop`.
    pub fn set_network_running(&self, id: &str, on: bool) -> Result<NetworkState> {
        let verb = if on {
            "/network/start"
        } else {
            "/network/stop"
        };
        self.call("POST", &container_path(id, verb)?, Some(b"{}"))
    }

    /// `GET /api/v1/containers/{id}/firewall/rules`: `{ingress, egress, rule_count, max_rules}`.
    pub fn firewall(&self, id: &str) -> Result<Value> {
        self.get(&container_path(id, "/firewall/rules")?)
    }

    /// `POST /api/v1/containers/{id}/firewall/{direction}`: appends a rule (`direction`:
    /// `ingress` or `egress`); the rules after.
    pub fn add_firewall_rule(
        &self,
        id: &str,
        direction: &str,
        rule: &FirewallRule,
    ) -> Result<Value> {
        let path = container_path(
            id,
            &format!("/firewall/{}", segment("direction", direction)?),
        )?;
        self.send_json("POST", &path, rule)
    }

    /// `PATCH /api/v1/containers/{id}/firewall/{direction}`: sets `pattern.state` on the
    /// rules matching the pattern's other fields.
    pub fn toggle_firewall_rules(
        &self,
        id: &str,
        direction: &str,
        pattern: &FirewallRule,
    ) -> Result<Value> {
        let path = container_path(
            id,
            &format!("/firewall/{}", segment("direction", direction)?),
        )?;
        self.send_json("PATCH", &path, pattern)
    }

    /// `DELETE /api/v1/containers/{id}/firewall/{direction}`: removes the rules matching
    /// `pattern`, or every rule of the direction with `all`.
    pub fn remove_firewall_rules(
        &self,
        id: &str,
        direction: &str,
        pattern: &FirewallRule,
        all: bool,
    ) -> Result<Value> {
        let path = container_path(
            id,
            &format!("/firewall/{}", segment("direction", direction)?),
        )?;
        let mut body = serde_json::to_value(pattern)
            .map_err(|e| ClientError::Protocol(format!("encoding the rule: {e}")))?;
        if all {
            body["all"] = Value::Bool(true);
        }
        self.send_json("DELETE", &path, &body)
    }

    /// `POST /api/v1/containers/{id}/firewall/reset`: no rules at all.
    pub fn reset_firewall(&self, id: &str) -> Result<Value> {
        self.call("POST", &container_path(id, "/firewall/reset")?, Some(b"{}"))
    }
}
