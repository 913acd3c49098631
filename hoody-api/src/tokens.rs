//! Long-lived API tokens (reference §5.8, the `auth-tokens` group): their permission tree,
//! the five permission templates, and the request and response types of
//! `/api/v1/auth/tokens…`.
//!
//! A token's [`Permissions`] is Hoody's tree of booleans (`containers.create`,
//! `containers.actions.exec`, `projects.read`, `resources.firewalls`, …). A leaf a client
//! leaves out is `false` (deny). Which route needs which leaf is decided by hoodyd
//! (`hoody_host::authz`); this module only holds the vocabulary.
//!
//! Where a token may be used is narrowed by realms: `realm_ids` lists the realm-scoped hosts
//! (`{realm}.api.{domain}`) it works on, and `allow_no_realm: false` keeps it off the bare
//! host. Seen through a realm, only resources carrying that realm exist.

use serde::{Deserialize, Serialize};

/// A permission tree: a struct of leaves and sub-trees, all `false` unless granted.
pub trait Tree: Sized {
    /// Every leaf granted.
    fn full() -> Self;
    /// Only what both grant (a child token never holds more than its parent).
    fn meet(&self, other: &Self) -> Self;
}

impl Tree for bool {
    fn full() -> Self {
        true
    }
    fn meet(&self, other: &Self) -> Self {
        *self && *other
    }
}

macro_rules! tree {
    ($(#[$m:meta])* $name:ident { $($(#[$fm:meta])* $f:ident : $t:ty),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $name {
            $($(#[$fm])* pub $f: $t,)*
        }
        impl Tree for $name {
            fn full() -> Self {
                $name { $($f: Tree::full(),)* }
            }
            fn meet(&self, other: &Self) -> Self {
                $name { $($f: self.$f.meet(&other.$f),)* }
            }
        }
    };
}

tree! {
    /// What a token may do (`permissions` of a token).
    Permissions {
        /// Containers.
        containers: ContainerPermissions,
        /// Projects.
        projects: ProjectPermissions,
        /// Wallet, billing and server rental (kept for Hoody's clients; hoody has none).
        financial: FinancialPermissions,
        /// Other resources.
        resources: ResourcePermissions,
        /// Server administration.
        admin: AdminPermissions,
    }
}

tree! {
    /// `permissions.containers`.
    ContainerPermissions {
        /// Create and copy containers.
        create: bool,
        /// See containers (get, list, stats, proxy settings).
        read: bool,
        /// Change containers (settings, environment, proxy permissions).
        update: bool,
        /// Delete containers.
        delete: bool,
        /// Lifecycle actions.
        actions: ContainerActions,
        /// Features a token may turn on.
        features: ContainerFeatures,
    }
}

tree! {
    /// `permissions.containers.actions`.
    ContainerActions {
        /// `start` and `resume`.
        start: bool,
        /// `stop`, `kill` and `suspend`.
        stop: bool,
        /// `restart`.
        restart: bool,
        /// Run code in the container (`authorize` claims).
        exec: bool,
        /// Status logs and proxy access logs.
        logs: bool,
    }
}

tree! {
    /// `permissions.containers.features`.
    ContainerFeatures {
        /// `ai: true` on create.
        ai: bool,
        /// `hoody_kit: true` on create (also its default for the token).
        hoody_kit: bool,
        /// Snapshots: create, restore, delete, alias.
        snapshots: bool,
        /// Egress network settings.
        networking: bool,
        /// `/dev/kvm` passthrough.
        kvm: bool,
    }
}

tree! {
    /// `permissions.projects`.
    ProjectPermissions {
        /// Create projects.
        create: bool,
        /// See projects.
        read: bool,
        /// Change projects (and their proxy permissions).
        update: bool,
        /// Delete projects.
        delete: bool,
        /// Project members.
        members: ProjectMembers,
    }
}

tree! {
    /// `permissions.projects.members`.
    ProjectMembers {
        /// Grant access.
        invite: bool,
        /// Revoke access.
        remove: bool,
        /// Change access levels.
        change_roles: bool,
    }
}

tree! {
    /// `permissions.financial`.
    FinancialPermissions {
        /// Wallet.
        wallet: WalletPermissions,
        /// Billing.
        billing: BillingPermissions,
        /// Server rental.
        server_rental: RentalPermissions,
    }
}

tree! {
    /// `permissions.financial.wallet`.
    WalletPermissions { read: bool, transfer: bool, withdraw: bool }
}

tree! {
    /// `permissions.financial.billing`.
    BillingPermissions { read: bool, manage_payment_methods: bool, download_invoices: bool }
}

tree! {
    /// `permissions.financial.server_rental`.
    RentalPermissions {
        view_marketplace: bool,
        rent_servers: bool,
        extend_rentals: bool,
        terminate_rentals: bool,
    }
}

tree! {
    /// `permissions.resources`.
    ResourcePermissions {
        /// The vault.
        vault: bool,
        /// Event streams.
        events: bool,
        /// SSH keys.
        ssh_keys: bool,
        /// Storage shares.
        storage_shares: bool,
        /// Proxy aliases.
        proxy_aliases: bool,
        /// Container firewalls.
        firewalls: bool,
        /// Realms.
        realms: bool,
        /// The token's own public profile.
        auth_token_public_profile: bool,
        /// Create (child) tokens.
        create_tokens: bool,
        /// Read account data, tokens included.
        read_account: bool,
    }
}

tree! {
    /// `permissions.admin`.
    AdminPermissions {
        /// Users.
        users: bool,
        /// Servers.
        servers: bool,
        /// The system.
        system: bool,
        /// Billing.
        billing: bool,
        /// Monitoring (`/metrics`).
        monitoring: bool,
    }
}

/// One permission leaf: its dotted name (for errors) and how to read it.
#[derive(Clone, Copy)]
pub struct Perm {
    /// `containers.actions.exec`.
    pub name: &'static str,
    /// Whether a tree grants it.
    pub test: fn(&Permissions) -> bool,
}

impl std::fmt::Debug for Perm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Perm {
    /// Whether `p` grants this permission.
    pub fn granted(&self, p: &Permissions) -> bool {
        (self.test)(p)
    }
}

macro_rules! perms {
    ($($c:ident = $n:literal => |$p:ident| $e:expr;)*) => {
        $(
            #[doc = concat!("`", $n, "`.")]
            pub const $c: Perm = Perm { name: $n, test: |$p| $e };
        )*
    };
}

/// The permission leaves hoodyd checks.
pub mod perm {
    use super::Perm;
    perms! {
        CONTAINERS_CREATE = "containers.create" => |p| p.containers.create;
        CONTAINERS_READ = "containers.read" => |p| p.containers.read;
        CONTAINERS_UPDATE = "containers.update" => |p| p.containers.update;
        CONTAINERS_DELETE = "containers.delete" => |p| p.containers.delete;
        CONTAINERS_START = "containers.actions.start" => |p| p.containers.actions.start;
        CONTAINERS_STOP = "containers.actions.stop" => |p| p.containers.actions.stop;
        CONTAINERS_RESTART = "containers.actions.restart" => |p| p.containers.actions.restart;
        CONTAINERS_EXEC = "containers.actions.exec" => |p| p.containers.actions.exec;
        CONTAINERS_LOGS = "containers.actions.logs" => |p| p.containers.actions.logs;
        FEATURE_AI = "containers.features.ai" => |p| p.containers.features.ai;
        FEATURE_HOODY_KIT = "containers.features.hoody_kit" => |p| p.containers.features.hoody_kit;
        FEATURE_SNAPSHOTS = "containers.features.snapshots" => |p| p.containers.features.snapshots;
        FEATURE_NETWORKING = "containers.features.networking" => |p| p.containers.features.networking;
        FEATURE_KVM = "containers.features.kvm" => |p| p.containers.features.kvm;
        PROJECTS_CREATE = "projects.create" => |p| p.projects.create;
        PROJECTS_READ = "projects.read" => |p| p.projects.read;
        PROJECTS_UPDATE = "projects.update" => |p| p.projects.update;
        PROJECTS_DELETE = "projects.delete" => |p| p.projects.delete;
        MEMBERS_INVITE = "projects.members.invite" => |p| p.projects.members.invite;
        MEMBERS_REMOVE = "projects.members.remove" => |p| p.projects.members.remove;
        MEMBERS_CHANGE_ROLES = "projects.members.change_roles" => |p| p.projects.members.change_roles;
        EVENTS = "resources.events" => |p| p.resources.events;
        PROXY_ALIASES = "resources.proxy_aliases" => |p| p.resources.proxy_aliases;
        FIREWALLS = "resources.firewalls" => |p| p.resources.firewalls;
        REALMS = "resources.realms" => |p| p.resources.realms;
        PUBLIC_PROFILE = "resources.auth_token_public_profile" => |p| p.resources.auth_token_public_profile;
        CREATE_TOKENS = "resources.create_tokens" => |p| p.resources.create_tokens;
        READ_ACCOUNT = "resources.read_account" => |p| p.resources.read_account;
        VAULT = "resources.vault" => |p| p.resources.vault;
        VIEW_MARKETPLACE = "financial.server_rental.view_marketplace" => |p| p.financial.server_rental.view_marketplace;
        RENT_SERVERS = "financial.server_rental.rent_servers" => |p| p.financial.server_rental.rent_servers;
        MONITORING = "admin.monitoring" => |p| p.admin.monitoring;
        ADMIN_SYSTEM = "admin.system" => |p| p.admin.system;
    }
}

/// The templates `permission_template` names, with what each grants.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("full_access", "Everything the account may do"),
    (
        "external_customer",
        "Containers (create, use, change, delete; Kit and snapshots) in the projects it is given; \
         projects read-only; no tokens, firewalls, aliases or money",
    ),
    (
        "dev_team",
        "Containers and projects (no project deletion), snapshots, firewalls, aliases, events; \
         no tokens or money",
    ),
    (
        "finance_team",
        "Wallet, billing and server rental; containers and projects read-only",
    ),
    ("read_only", "Read everything it can see, change nothing"),
];

impl Permissions {
    /// Every permission (the unix socket's root, and tokens from before scopes existed).
    pub fn full_access() -> Self {
        Tree::full()
    }

    /// The permissions of template `name`; `None` for an unknown name.
    pub fn template(name: &str) -> Option<Self> {
        let mut p = Permissions::default();
        match name {
            "full_access" => return Some(Permissions::full_access()),
            "external_customer" => {
                p.containers = ContainerPermissions::full();
                p.containers.features.kvm = false;
                p.containers.features.networking = false;
                p.projects.read = true;
                p.resources.events = true;
            }
            "dev_team" => {
                p.containers = ContainerPermissions::full();
                p.projects = ProjectPermissions::full();
                p.projects.delete = false;
                p.projects.members = ProjectMembers::default();
                p.resources.events = true;
                p.resources.ssh_keys = true;
                p.resources.proxy_aliases = true;
                p.resources.firewalls = true;
                p.resources.realms = true;
            }
            "finance_team" => {
                p.financial = FinancialPermissions::full();
                p.containers.read = true;
                p.projects.read = true;
                p.resources.read_account = true;
            }
            "read_only" => {
                p.containers.read = true;
                p.containers.actions.logs = true;
                p.projects.read = true;
                p.financial.wallet.read = true;
                p.financial.billing.read = true;
                p.financial.server_rental.view_marketplace = true;
                p.resources.events = true;
                p.resources.read_account = true;
            }
            _ => return None,
        }
        Some(p)
    }
}

fn yes() -> bool {
    true
}

fn any_ip() -> Vec<String> {
    vec!["*".to_string()]
}

/// An API token as listed (its secret is shown once, at creation, and never again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// 24 hex digits.
    pub id: String,
    /// Its name.
    pub alias: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    /// An ED25519 public key (64 hex digits) for the token's public profile.
    #[serde(default)]
    pub public_key: Option<String>,
    /// Public JSON published with that key (at most 64 KiB).
    #[serde(default)]
    pub public_storage: Option<serde_json::Value>,
    /// IPv4 addresses and CIDR ranges it may be used from; `["*"]`: anywhere.
    #[serde(default = "any_ip")]
    pub ip_whitelist: Vec<String>,
    /// The realms whose scoped hosts (`{realm}.api.{domain}`) it works on (empty: any).
    #[serde(default)]
    pub realm_ids: Vec<String>,
    /// Whether it works on the bare API host too.
    #[serde(default = "yes")]
    pub allow_no_realm: bool,
    /// What it may do. Tokens stored before permissions existed read as full access.
    #[serde(default = "Permissions::full_access")]
    pub permissions: Permissions,
    /// RFC 3339 (`null`: never).
    pub expires_at: Option<String>,
    /// A disabled token is refused (401 `TOKEN_DISABLED`) until enabled again.
    #[serde(default = "yes")]
    pub is_enabled: bool,
    /// May use the vault (hoody has none yet).
    #[serde(default)]
    pub vault_access: bool,
    /// May read the event stream.
    #[serde(default = "yes")]
    pub event_access: bool,
    /// The token that created it (`null`: the server's root).
    #[serde(default)]
    pub created_by_token_id: Option<String>,
    /// 0 for tokens made by root, parent's + 1 otherwise.
    #[serde(default)]
    pub delegation_depth: u32,
    /// Last accepted use (RFC 3339, minute resolution).
    pub last_used_at: Option<String>,
    /// The address of that use.
    #[serde(default)]
    pub last_used_ip: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    #[serde(default)]
    pub updated_at: String,
}

/// `ip_whitelist` as clients send it: a list, or one comma-separated string (`"*"`: anywhere).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IpList {
    /// `["10.0.0.0/8", "192.0.2.1"]`.
    List(Vec<String>),
    /// `"10.0.0.0/8, 192.0.2.1"` or `"*"`.
    Text(String),
}

impl IpList {
    /// The entries, trimmed, empty ones dropped.
    pub fn entries(&self) -> Vec<String> {
        let items: Vec<&str> = match self {
            IpList::List(v) => v.iter().map(String::as_str).collect(),
            IpList::Text(s) => s.split(',').collect(),
        };
        items
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }
}

/// `expires_at` as clients send it: RFC 3339, a Unix time, `"today"` (end of today, UTC) or
/// `"tomorrow"` (end of tomorrow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Expiry {
    /// Seconds since the epoch.
    Unix(i64),
    /// RFC 3339, `today` or `tomorrow`.
    Text(String),
}

/// `POST /api/v1/auth/tokens`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateToken {
    /// 1–254 of `[A-Za-z0-9 _-]`; a random `adjective-animal` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// ED25519 public key, 64 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Public JSON (at most 64 KiB; needs `public_key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_storage: Option<serde_json::Value>,
    /// Where it may be used from (default `"*"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_whitelist: Option<IpList>,
    /// `full_access`, `external_customer`, `dev_team`, `finance_team` or `read_only`; wins over
    /// `permissions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_template: Option<String>,
    /// The permission tree (missing leaves: deny). With neither this nor a template, the
    /// token gets its creator's permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    /// Realms it is limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_ids: Option<Vec<String>>,
    /// Usable on the bare API host (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_no_realm: Option<bool>,
    /// Vault access (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_access: Option<bool>,
    /// Event stream access (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_access: Option<bool>,
    /// No `create_tokens`, no vault, and a bounded expiry (default 30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny_reauthorization: Option<bool>,
    /// When it expires (absent: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Expiry>,
    /// hoody's shorthand: expires this many days from now (ignored when `expires_at` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_days: Option<u64>,
    /// A second factor (hoody has no accounts with 2FA: accepted and ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_code: Option<String>,
}

/// `PUT /api/v1/auth/tokens/{id}`: only what is present changes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateToken {
    /// New alias.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// New public key (`null` removes it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::types::double_option"
    )]
    pub public_key: Option<Option<String>>,
    /// New public storage (`null` removes it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::types::double_option"
    )]
    pub public_storage: Option<Option<serde_json::Value>>,
    /// New IP list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_whitelist: Option<IpList>,
    /// New permissions (never more than the caller holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Permissions>,
    /// New realms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm_ids: Option<Vec<String>>,
    /// Usable on the bare API host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_no_realm: Option<bool>,
    /// Vault access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_access: Option<bool>,
    /// Event stream access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_access: Option<bool>,
    /// New expiry (`null`: never).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::types::double_option"
    )]
    pub expires_at: Option<Option<Expiry>>,
    /// Enable or disable it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_enabled: Option<bool>,
    /// Accepted and ignored (no 2FA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_code: Option<String>,
}

/// `POST /api/v1/auth/tokens/{id}/copy`: a new secret with the source's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CopyToken {
    /// Its alias (default `"<source> copy"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Its expiry (default: the source's while still in the future; `null`: never).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::types::double_option"
    )]
    pub expires_at: Option<Option<Expiry>>,
    /// Accepted and ignored (no 2FA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_code: Option<String>,
}

/// `POST /api/v1/auth/tokens/{id}/add-realm` and `…/remove-realm`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TokenRealm {
    /// 24 lowercase hex digits.
    pub realm_id: String,
    /// Accepted and ignored (no 2FA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otp_code: Option<String>,
}

/// A new token, with its secret (shown this once; stored only as a hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedToken {
    /// The secret: `hdy_` and 48 hex digits.
    pub token: String,
    /// The token's record.
    #[serde(flatten)]
    pub info: Token,
}

/// `GET /api/v1/auth/tokens/me`: the calling token and where it may be used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurrentToken {
    /// The token.
    pub token: Token,
    /// Its realm restrictions and the realm of this request.
    pub restrictions: TokenRestrictions,
}

/// `restrictions` of [`CurrentToken`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRestrictions {
    /// It lists realms.
    pub has_realm_restrictions: bool,
    /// It works only on realm-scoped hosts.
    pub requires_realm_scope: bool,
    /// The realms it lists.
    pub allowed_realm_ids: Vec<String>,
    /// It works on the bare host.
    pub allow_no_realm: bool,
    /// The realm of this request's host.
    pub active_realm_id: Option<String>,
}

/// One entry of `GET /api/v1/auth/tokens/templates`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenTemplate {
    /// Its name, for `permission_template`.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// What it grants.
    pub permissions: Permissions,
}

/// `PUT /api/v1/auth/tokens/me/public-profile`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdatePublicProfile {
    /// ED25519 public key, 64 hex digits (`null` removes the profile).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::types::double_option"
    )]
    pub public_key: Option<Option<String>>,
    /// Public JSON (at most 64 KiB).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::types::double_option"
    )]
    pub public_storage: Option<Option<serde_json::Value>>,
}

/// `GET /api/v1/auth/tokens/public-profiles/{public_key}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicProfile {
    /// The key.
    pub public_key: String,
    /// What its token publishes.
    pub public_storage: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_leaves_deny_and_templates_differ() {
        let p: Permissions =
            serde_json::from_str(r#"{"containers":{"read":true,"actions":{"exec":true}}}"#)
                .unwrap();
        assert!(perm::CONTAINERS_READ.granted(&p));
        assert!(perm::CONTAINERS_EXEC.granted(&p));
        assert!(!perm::CONTAINERS_CREATE.granted(&p));
        assert!(!perm::PROJECTS_READ.granted(&p));
        let ro = Permissions::template("read_only").unwrap();
        assert!(perm::CONTAINERS_READ.granted(&ro) && !perm::CONTAINERS_UPDATE.granted(&ro));
        let ext = Permissions::template("external_customer").unwrap();
        assert!(perm::CONTAINERS_CREATE.granted(&ext) && !perm::PROJECTS_CREATE.granted(&ext));
        assert!(Permissions::template("root").is_none());
        for (name, _) in TEMPLATES {
            assert!(Permissions::template(name).is_some(), "{name}");
        }
    }

    #[test]
    fn meet_never_grants_more() {
        let ro = Permissions::template("read_only").unwrap();
        assert_eq!(Permissions::full_access().meet(&ro), ro);
        assert_eq!(ro.meet(&Permissions::default()), Permissions::default());
    }

    #[test]
    fn old_token_records_read_as_full_access() {
        let t: Token = serde_json::from_str(
            r#"{"id":"0123456789abcdef01234567","alias":"ci","prefix":"hdy_01234567",
                "created_at":"2026-01-01T00:00:00Z","expires_at":null,"last_used_at":null}"#,
        )
        .unwrap();
        assert_eq!(t.permissions, Permissions::full_access());
        assert!(t.is_enabled && t.allow_no_realm && t.event_access);
        assert_eq!(t.ip_whitelist, ["*"]);
    }

    #[test]
    fn ip_lists_both_ways() {
        let a: IpList = serde_json::from_str(r#""10.0.0.0/8, 192.0.2.1""#).unwrap();
        let b: IpList = serde_json::from_str(r#"["10.0.0.0/8","192.0.2.1"]"#).unwrap();
        assert_eq!(a.entries(), b.entries());
    }
}
