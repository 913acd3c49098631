//! `hoody containers proxy hooks ...`: a container's proxy hooks (reference §2.6), with the
//! flags of Hoody's CLI. Writes take `--if-match file:vN`, optional: with it, a write that lost
//! a race to another is refused (412); without it, the last write wins.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::api_cli::Ctx;

/// `… proxy hooks ...`
#[derive(Subcommand, Debug)]
pub enum HooksCmd {
    /// Every hook of the container, by service.
    #[command(visible_alias = "ls")]
    List,
    /// One service's hooks, in order.
    ListService {
        /// The service (`http-8080`, `terminal`, …).
        service: String,
    },
    /// One hook.
    Get {
        /// The service.
        service: String,
        /// The hook's id.
        hook_id: String,
    },
    /// Add a hook (last, or at --position).
    #[command(visible_aliases = ["new", "add"])]
    Create {
        /// The service.
        service: String,
        #[command(flatten)]
        hook: HookArgs,
        /// Where to insert it (from 0).
        #[arg(long)]
        position: Option<u64>,
    },
    /// Replace a hook in place.
    #[command(visible_alias = "edit")]
    Update {
        /// The service.
        service: String,
        /// The hook's id.
        hook_id: String,
        #[command(flatten)]
        hook: HookArgs,
    },
    /// Move a hook.
    Move {
        /// The service.
        service: String,
        /// The hook's id.
        hook_id: String,
        /// Its new place (from 0).
        #[arg(long)]
        position: u64,
        /// The version being changed (`file:vN`).
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Remove a hook.
    #[command(visible_aliases = ["rm", "remove"])]
    Delete {
        /// The service.
        service: String,
        /// The hook's id.
        hook_id: String,
        /// The version being changed (`file:vN`).
        #[arg(long)]
        if_match: Option<String>,
    },
    /// Remove every hook of a service.
    ClearService {
        /// The service.
        service: String,
        /// The version being changed (`file:vN`).
        #[arg(long)]
        if_match: Option<String>,
    },
}

/// A hook as flags.
#[derive(Args, Debug)]
pub struct HookArgs {
    /// Methods it sees (repeat; default any).
    #[arg(long)]
    match_method: Vec<String>,
    /// Paths it sees (`*` any run of characters; default any).
    #[arg(long)]
    match_path: Option<String>,
    /// Headers that must be present: `name=value` (`*` any value; repeat).
    #[arg(long, value_parser = parse_kv)]
    match_headers: Vec<(String, String)>,
    /// Hoody's script host label (accepted).
    #[arg(long)]
    script_subdomain: Option<String>,
    /// The exec instance (`exec_1`, default 1).
    #[arg(long)]
    script_exec_id: Option<String>,
    /// The script (`/hooks/check.js`).
    #[arg(long)]
    script_path: String,
    /// Milliseconds it may take (1-30000, default 5000).
    #[arg(long)]
    timeout: Option<u64>,
    /// Only for requests these groups admit (comma-separated).
    #[arg(long, value_delimiter = ',')]
    applies_to_groups: Vec<String>,
    /// The version being changed (`file:vN`).
    #[arg(long)]
    if_match: Option<String>,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?}: expected name=value"))
}

impl HookArgs {
    fn body(&self, position: Option<u64>) -> Value {
        let mut m = serde_json::Map::new();
        match self.match_method.as_slice() {
            [] => {}
            [one] => {
                m.insert("method".into(), json!(one));
            }
            many => {
                m.insert("method".into(), json!(many));
            }
        }
        if let Some(p) = &self.match_path {
            m.insert("path".into(), json!(p));
        }
        if !self.match_headers.is_empty() {
            let h: serde_json::Map<String, Value> = self
                .match_headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            m.insert("headers".into(), Value::Object(h));
        }
        let mut script = json!({"path": self.script_path});
        if let Some(s) = &self.script_subdomain {
            script["subdomain"] = json!(s);
        }
        if let Some(e) = &self.script_exec_id {
            script["execId"] = json!(e);
        }
        let mut b = json!({"match": m, "script": script});
        if let Some(t) = self.timeout {
            b["timeout"] = json!(t);
        }
        if !self.applies_to_groups.is_empty() {
            b["applies_to"] = json!({"groups": self.applies_to_groups});
        }
        if let Some(p) = position {
            b["position"] = json!(p);
        }
        b
    }
}

/// Runs `hoody containers proxy hooks` for container `id`.
pub fn run(ctx: &Ctx, id: &str, cmd: &HooksCmd) -> anyhow::Result<()> {
    let c = &ctx.client;
    let out = match cmd {
        HooksCmd::List => c.hooks(id, None)?,
        HooksCmd::ListService { service } => c.hooks(id, Some(service))?,
        HooksCmd::Get { service, hook_id } => c.hook(id, service, hook_id)?,
        HooksCmd::Create {
            service,
            hook,
            position,
        } => c.add_hook(id, service, &hook.body(*position), hook.if_match.as_deref())?,
        HooksCmd::Update {
            service,
            hook_id,
            hook,
        } => c.replace_hook(
            id,
            service,
            hook_id,
            &hook.body(None),
            hook.if_match.as_deref(),
        )?,
        HooksCmd::Move {
            service,
            hook_id,
            position,
            if_match,
        } => c.move_hook(id, service, hook_id, *position, if_match.as_deref())?,
        HooksCmd::Delete {
            service,
            hook_id,
            if_match,
        } => c.delete_hooks(id, service, Some(hook_id), if_match.as_deref())?,
        HooksCmd::ClearService { service, if_match } => {
            c.delete_hooks(id, service, None, if_match.as_deref())?
        }
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
