//! Where each Kit service listens inside a container: one table, read by hoody-proxy to forward
//! and by the Kit to bind.
//!
//! Documented by Hoody (reference §2.3): terminal 76, sqlite 5, display 3998, notifications
//! 3999. The others are hoody's choice: 7701 upwards, one port per service, away from the
//! ports users pick for their own servers (80, 443, 3000, 5000, 8000, 8080, ...). A service's
//! instances share its port; the instance number travels in the [`INSTANCE_HEADER`] header
//! (absent: instance 1).
//!
//! | service | slug | port |
//! |---|---|---|
//! | terminal (and desktop) | `terminal` | 76 |
//! | sqlite | `sqlite` | 5 |
//! | display | `display` | 3998 |
//! | notifications | `n` | 3999 |
//! | files | `files` | 7701 |
//! | exec | `exec` | 7702 |
//! | browser | `browser` | 7703 |
//! | cdp | `cdp` | 7704 |
//! | agent | `agent` | 7705 |
//! | code | `code` | 7706 |
//! | curl | `curl` | 7707 |
//! | daemon | `daemon` | 7708 |
//! | cron | `cron` | 7709 |
//! | pipe | `pipe` | 7710 |
//! | notes | `notes` | 7711 |
//! | watch | `watch` | 7712 |
//! | run | `run` | 7713 |
//! | tunnel | `tunnel` | 7714 |
//! | logs | `logs` | 7715 |
//! | egress | `egress` | 7716 |
//! | bot | `bot` | 7717 |

use std::fmt;

/// The Kit services a container can expose through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kit {
    /// Terminal sessions (`terminal`).
    Terminal,
    /// X displays (`display`).
    Display,
    /// Desktop environment on terminal/display `1600 + N` (`desktop`).
    Desktop,
    /// File manager (`files`).
    Files,
    /// SQLite (`sqlite`).
    Sqlite,
    /// Script runner (`exec`).
    Exec,
    /// Browser (`browser`).
    Browser,
    /// Chrome DevTools relay for browser instance N (`cdp`).
    Cdp,
    /// Agent, formerly workspaces (`agent`).
    Agent,
    /// Code editor (`code`).
    Code,
    /// cURL (`curl`).
    Curl,
    /// Notification server (`n`).
    Notifications,
    /// Process daemon (`daemon`).
    Daemon,
    /// Cron (`cron`).
    Cron,
    /// Pipe (`pipe`).
    Pipe,
    /// Notes (`notes`).
    Notes,
    /// Watch (`watch`).
    Watch,
    /// Run (`run`).
    Run,
    /// Tunnel (`tunnel`).
    Tunnel,
    /// Proxy logs (`logs`).
    Logs,
    /// Egress proxy (`egress`).
    Egress,
    /// Telegram control bot (`bot`).
    Bot,
}

impl Kit {
    /// Every kit, in declaration order.
    pub const ALL: [Kit; 22] = [
        Kit::Terminal,
        Kit::Display,
        Kit::Desktop,
        Kit::Files,
        Kit::Sqlite,
        Kit::Exec,
        Kit::Browser,
        Kit::Cdp,
        Kit::Agent,
        Kit::Code,
        Kit::Curl,
        Kit::Notifications,
        Kit::Daemon,
        Kit::Cron,
        Kit::Pipe,
        Kit::Notes,
        Kit::Watch,
        Kit::Run,
        Kit::Tunnel,
        Kit::Logs,
        Kit::Egress,
        Kit::Bot,
    ];

    /// The canonical (SDK) slug used in hostnames.
    pub fn slug(self) -> &'static str {
        match self {
            Kit::Terminal => "terminal",
            Kit::Display => "display",
            Kit::Desktop => "desktop",
            Kit::Files => "files",
            Kit::Sqlite => "sqlite",
            Kit::Exec => "exec",
            Kit::Browser => "browser",
            Kit::Cdp => "cdp",
            Kit::Agent => "agent",
            Kit::Code => "code",
            Kit::Curl => "curl",
            Kit::Notifications => "n",
            Kit::Daemon => "daemon",
            Kit::Cron => "cron",
            Kit::Pipe => "pipe",
            Kit::Notes => "notes",
            Kit::Watch => "watch",
            Kit::Run => "run",
            Kit::Tunnel => "tunnel",
            Kit::Logs => "logs",
            Kit::Egress => "egress",
            Kit::Bot => "bot",
        }
    }

    /// The kit a hostname slug names: the canonical slug, or one of the older names the
    /// reference lists (`workspaces`/`workspace` → agent, `notification-server` → n,
    /// `hoody-daemon` → daemon, `hoody-tunnel` → tunnel, `proxy-logs` → logs, `app` → run).
    /// Lowercase only.
    pub fn from_slug(s: &str) -> Option<Kit> {
        match s {
            "workspaces" | "workspace" => Some(Kit::Agent),
            "notification-server" => Some(Kit::Notifications),
            "hoody-daemon" => Some(Kit::Daemon),
            "hoody-tunnel" => Some(Kit::Tunnel),
            "proxy-logs" => Some(Kit::Logs),
            "app" => Some(Kit::Run),
            _ => Kit::ALL.into_iter().find(|kit| kit.slug() == s),
        }
    }
}

impl fmt::Display for Kit {
    /// The canonical slug.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

/// The services the Kit serves today (the others of [`Kit::ALL`] have reserved slugs and
/// ports, and answer 404 until they are built).
pub const SERVED: [Kit; 4] = [Kit::Terminal, Kit::Files, Kit::Exec, Kit::Sqlite];

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
