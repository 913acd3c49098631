//! The permission engine of the proxy (reference §2.3 steps 3–4, §2.4, §2.5).
//!
//! A project and each of its containers may carry a permission [`Document`]: named auth
//! [`Group`]s (JWT, HTTP Basic password, client IP range, static token), a matrix
//! `group → program → `[`Access`], a `default` (`allow` | `deny`) and the `enable_proxy` kill
//! switch. [`evaluate`] turns the two documents and one request ([`RequestInfo`]) into a
//! [`Decision`]. hoodyd uses the validation functions ([`Document::validate`],
//! [`Group::validate`], [`Access::validate_for`]) and [`Group::from_request`] /
//! [`Group::password`] when a document or a group is written.
//!
//! # The algorithm
//!
//! 1. No document at all (neither project nor container): [`Decision::Allow`]. The
//!    unguessable URL is the credential.
//! 2. `enable_proxy`: the container document's value when it exists, else the project's;
//!    `false` is [`Decision::Disabled`] (403) for every request, before any group is looked at.
//! 3. The effective document: the project's groups and rules, extended and overridden by the
//!    container's. A group defined in both is the container's. Rules are merged per
//!    `(group, program)`: the container's rule for `admins`/`terminal` replaces the project's
//!    rule for `admins`/`terminal` and leaves the project's `admins`/`files` in place. The
//!    `default` is the container document's when it exists, else the project's.
//! 4. The request is admitted ([`Decision::Allow`]) when any group (alternatives, tried in name
//!    order) both grants the program/instance and authenticates the request.
//! 5. Otherwise, when a password group grants the program/instance (so credentials would
//!    help), [`Decision::Challenge`] (401 + `WWW-Authenticate: Basic`), even when the default
//!    is `allow`, as the reference says.
//! 6. Otherwise the default: `allow` → [`Decision::Allow`], `deny` → [`Decision::Deny`].
//!
//! # Access rules
//!
//! `true` or `"*"` grants every instance; `false` grants nothing (it is not a deny rule: with
//! `default: allow` the request still passes); a number grants that instance (the port for
//! `http`/`https`, the kit index otherwise); an array grants its members; `"a-b"` grants the
//! inclusive range, and a plain decimal string `"8080"` is read as the one-port range.
//!
//! # Choices where the reference is silent
//!
//! * **Program names** are compared after [`canonical_program`], on both the document keys
//!   and the request: the alias API's synonyms (`tty`/`ttyd`/`t` → `terminal`, `n` →
//!   `notifications`, `f` → `files`, `log`/`l` → `logs`, …) and the hostname grammar's older
//!   names (`notification-server`, `workspaces`, `proxy-logs`, `app`, …) name the same program.
//!   A document with two keys for one program in one group is invalid.
//! * **Program wildcard**: a rule under the program key `"*"` applies to every program that
//!   has no rule of its own in that group (`{"*": true}` = everything). A rule for the program
//!   itself always beats the wildcard, whichever document either comes from.
//! * **`logs`** is granted only by an explicit `"logs": true`: not by `"*": …`, not by
//!   `"logs": "*"` (which validation rejects anyway: `logs` takes booleans only, like `files`,
//!   `services`, `notifications` and `exec`). This holds under `default: allow` too: with a
//!   document but no explicit grant, `logs` is denied. With no document at all `logs` is
//!   allowed like every other program (step 1).
//! * **JWT**: the token comes from the first configured source present in the request; a
//!   leading `Bearer ` (any case) is stripped from a header source. Multiple headers of one
//!   name: the first counts; cookies are read from every `cookie` header (`;`-separated,
//!   surrounding double quotes removed). The token's `alg` must equal the group's algorithm
//!   (so `none` and HS256-with-a-public-key never pass); a `crit` header is refused. `exp`
//!   and `nbf` are optional, checked with 60 s of leeway, and must be numbers when present.
//!   A required claim must be present and equal; numbers compare by value (`1` = `1.0`); when
//!   the token's claim is an array and the required value is not, any element may match (so
//!   `aud: ["a", "b"]` satisfies `aud: "a"`). Tokens longer than 16 KiB are refused.
//! * **RS256/ES256 keys**: the secret is a PEM `PUBLIC KEY` (SPKI); for RS256 a PKCS#1
//!   `RSA PUBLIC KEY` is accepted too. RSA moduli of 2048–8192 bits; ES256 keys must be P-256.
//!   Checked at write time by [`Group::validate`].
//! * **Password**: HTTP Basic; the username compare and the hash compare are both constant
//!   time and both always run. Usernames cannot contain `:` (Basic could not carry it).
//!   [`Group::password`] takes a 64-character *lowercase* hex string as already hashed, any
//!   other string as the plaintext. Only `algorithm: "sha256"` exists. The challenge realm is
//!   the fixed [`REALM`] (no group or container name is disclosed to unauthenticated clients).
//! * **IP**: octets may carry leading zeros (the reference's pattern allows `010`); host bits
//!   in the range are ignored (`10.1.2.3/8` ≡ `10.0.0.0/8`). IPv6 clients never match, except
//!   IPv4-mapped addresses (`::ffff:a.b.c.d`), which count as IPv4.
//! * **Token**: a header source also accepts `Bearer <value>`; a query parameter is
//!   percent-decoded (`+` stays `+`, it is not form-encoding); the first parameter of that
//!   name counts. Compares are constant time (over SHA-256 digests, so lengths do not leak).
//! * **Names**: group names are 1–128 characters of `[A-Za-z0-9_.-]`; program keys are `"*"`
//!   or 1–64 characters of `[a-z0-9-]`; `project`/`container`, when present, are 24 lowercase
//!   hex digits; `hooks` must be null or an object (its contents are the hooks module's
//!   business). Rules may name a group the document does not define (a container document
//!   may grant a group of its project's document); such a rule has no effect until the group
//!   exists. Unknown top-level fields (`schema_version`, `etag`) are ignored on input.
//! * A group that fails to parse at evaluation time (a bad PEM that slipped past validation, a
//!   bad CIDR) never authenticates: fail closed.
//! * [`Document::default`] is what a replace with no fields means (`default: deny`,
//!   `enable_proxy: true`). The reference says a document first created through the group
//!   APIs starts as `allow`: hoodyd sets that itself.
//!
//! Keys are parsed per request (PEM decoding is a few microseconds; the signature check
//! dominates). Secrets are redacted from `Debug` output.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ring::hmac;
use ring::signature::{self, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Clock leeway for JWT `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;
/// The realm of the Basic challenge.
pub const REALM: &str = "hoody";
/// The longest JWT secret (or PEM key), in characters.
pub const MAX_SECRET_CHARS: usize = 8192;
/// Programs whose rules are booleans only (reference §2.5, plus `logs`).
pub const BOOLEAN_PROGRAMS: [&str; 5] = ["files", "services", "notifications", "exec", "logs"];

const MAX_JWT_LEN: usize = 16 * 1024;
const MAX_TOKEN_VALUE: usize = 8192;
const MAX_NAME: usize = 256;

/// A permission document: one per project and one per container (reference §2.5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// The project id (24 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The container id (24 hex digits); absent on a project document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Auth groups by name.
    #[serde(default)]
    pub groups: BTreeMap<String, Group>,
    /// Rules: group name → program → access.
    #[serde(default)]
    pub permissions: BTreeMap<String, BTreeMap<String, Access>>,
    /// What happens to a request no group admits.
    #[serde(default)]
    pub default: DefaultPolicy,
    /// `false` refuses every request (403).
    #[serde(default = "yes")]
    pub enable_proxy: bool,
    /// Proxy hooks by service (reference §2.6), container documents only.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub hooks: serde_json::Value,
    /// The version `If-Match: file:v<N>` refers to.
    #[serde(default)]
    pub file_version: u64,
}

fn yes() -> bool {
    true
}

impl Default for Document {
    fn default() -> Self {
        Document {
            project: None,
            container: None,
            groups: BTreeMap::new(),
            permissions: BTreeMap::new(),
            default: DefaultPolicy::Deny,
            enable_proxy: true,
            hooks: serde_json::Value::Null,
            file_version: 0,
        }
    }
}

/// The document's `default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultPolicy {
    /// Requests no group admits pass.
    Allow,
    /// Requests no group admits get 403 (the reference's default when omitted).
    #[default]
    Deny,
}

/// The signature algorithm of a JWT group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlg {
    /// HMAC-SHA256 with a shared secret.
    #[serde(rename = "HS256")]
    Hs256,
    /// RSASSA-PKCS1-v1_5 with SHA-256; the secret is a PEM public key.
    #[serde(rename = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256; the secret is a PEM public key.
    #[serde(rename = "ES256")]
    Es256,
}

impl JwtAlg {
    /// The JOSE name (`HS256`, `RS256`, `ES256`).
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlg::Hs256 => "HS256",
            JwtAlg::Rs256 => "RS256",
            JwtAlg::Es256 => "ES256",
        }
    }
}

/// An auth group. Serialized with its kind in `"kind"`: `jwt`, `password`, `ip` or `token`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Group {
    /// A signed JWT from a header or cookie.
    Jwt {
        /// HS256: the shared secret; RS256/ES256: the PEM public key.
        secret: String,
        /// The algorithm tokens must use.
        algorithm: JwtAlg,
        /// Where the token is read from: `header:<Name>` or `cookie:<Name>`, first present wins.
        sources: Vec<String>,
        /// Claims that must be present and equal.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        claims: BTreeMap<String, serde_json::Value>,
    },
    /// HTTP Basic.
    Password {
        /// The user name.
        username: String,
        /// Lowercase hex SHA-256 of `salt + password`.
        password: String,
        /// The salt.
        salt: String,
        /// Always `sha256`.
        #[serde(default = "sha256_name")]
        algorithm: String,
    },
    /// The client's IPv4 address in a CIDR range.
    Ip {
        /// An IPv4 CIDR (`10.0.0.0/8`).
        range: String,
    },
    /// A static shared secret in exactly one of a header, a cookie or a query parameter.
    Token {
        /// The header name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        header: Option<String>,
        /// The cookie name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cookie: Option<String>,
        /// The query parameter name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        param: Option<String>,
        /// The secret.
        value: String,
    },
}

fn sha256_name() -> String {
    "sha256".to_owned()
}

impl fmt::Debug for Group {
    /// Secrets, password hashes and token values are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Group::Jwt {
                algorithm,
                sources,
                claims,
                ..
            } => f
                .debug_struct("Jwt")
                .field("secret", &"<redacted>")
                .field("algorithm", algorithm)
                .field("sources", sources)
                .field("claims", claims)
                .finish(),
            Group::Password {
                username,
                algorithm,
                ..
            } => f
                .debug_struct("Password")
                .field("username", username)
                .field("password", &"<redacted>")
                .field("salt", &"<redacted>")
                .field("algorithm", algorithm)
                .finish(),
            Group::Ip { range } => f.debug_struct("Ip").field("range", range).finish(),
            Group::Token {
                header,
                cookie,
                param,
                ..
            } => f
                .debug_struct("Token")
                .field("header", header)
                .field("cookie", cookie)
                .field("param", param)
                .field("value", &"<redacted>")
                .finish(),
        }
    }
}

/// An access rule: `true`/`false`, a number, an array of numbers, `"*"` or `"a-b"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Access {
    /// `true` grants every instance, `false` none.
    Bool(bool),
    /// One port or instance.
    Number(u64),
    /// Any of these ports or instances.
    Numbers(Vec<u64>),
    /// `"*"` (every instance), `"a-b"` (inclusive range) or `"n"`.
    Text(String),
}

/// A rejected document, group or rule: the field (a dotted path) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    /// The offending field, e.g. `groups.office.range`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl ValidationError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            reason: reason.into(),
        }
    }

    fn under(mut self, prefix: &str) -> Self {
        self.field = format!("{prefix}.{}", self.field);
        self
    }
}

/// The request as far as permissions are concerned.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// The client's address (the TCP peer).
    pub client_ip: IpAddr,
    /// The request headers, names lowercased.
    pub headers: &'a [(String, String)],
    /// The raw query string, without or with the leading `?`.
    pub query: &'a str,
    /// The program: `terminal`, `files`, `http`, `https`, `logs`, … (synonyms accepted).
    pub program: &'a str,
    /// The kit instance, or the port for `http`/`https`.
    pub instance: u64,
    /// The current time, Unix seconds.
    pub now_unix: u64,
}

/// What the proxy does with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward it.
    Allow,
    /// 403.
    Deny {
        /// Why (safe to show the client: names no group).
        reason: String,
    },
    /// 401 with `WWW-Authenticate: Basic realm="<realm>"`.
    Challenge {
        /// The realm.
        realm: String,
    },
    /// 403: `enable_proxy` is false.
    Disabled,
}

/// The canonical name of a program: synonyms of the alias API (reference §2.2: `tty`, `ttyd`,
/// `t` → `terminal`, `n`/`notification` → `notifications`, …) and the hostname grammar's older
/// names map to one name; anything else is returned as is.
pub fn canonical_program(name: &str) -> &str {
    match name {
        "tty" | "ttyd" | "t" => "terminal",
        "d" => "display",
        "w" => "watch",
        "notification" | "n" | "notification-server" => "notifications",
        "f" => "files",
        "e" => "exec",
        "b" => "browser",
        "log" | "l" | "proxy-logs" => "logs",
        "note" => "notes",
        "workspaces" | "workspace" => "agent",
        "hoody-daemon" => "daemon",
        "hoody-tunnel" => "tunnel",
        "app" => "run",
        other => other,
    }
}

impl Group {
    /// A password group from a plaintext password, hashed here as lowercase hex
    /// `SHA-256(salt + password)`. A password that already is 64 lowercase hex digits is taken
    /// as that hash and stored as is.
    pub fn password(username: &str, plaintext: &str, salt: &str) -> Group {
        let password = if is_sha256_hex(plaintext) {
            plaintext.to_owned()
        } else {
            hash_password(salt, plaintext)
        };
        Group::Password {
            username: username.to_owned(),
            password,
            salt: salt.to_owned(),
            algorithm: sha256_name(),
        }
    }

    /// A group from the body of `PUT …/groups/{name}/{kind}` (which does not carry `kind`):
    /// parsed, a plaintext password hashed ([`Group::password`]), then validated.
    pub fn from_request(kind: &str, body: &serde_json::Value) -> Result<Group, ValidationError> {
        if !matches!(kind, "jwt" | "password" | "ip" | "token") {
            return Err(ValidationError::new(
                "kind",
                format!("unknown group kind {kind:?}; expected jwt, password, ip or token"),
            ));
        }
        let serde_json::Value::Object(map) = body else {
            return Err(ValidationError::new("body", "must be a JSON object"));
        };
        let mut map = map.clone();
        map.insert("kind".to_owned(), serde_json::Value::from(kind));
        let group: Group = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| ValidationError::new("body", e.to_string()))?;
        let group = match group {
            Group::Password {
                username,
                password,
                salt,
                algorithm,
            } => {
                if algorithm != "sha256" {
                    return Err(ValidationError::new(
                        "algorithm",
                        "only sha256 is supported",
                    ));
                }
                Group::password(&username, &password, &salt)
            }
            other => other,
        };
        group.validate()?;
        Ok(group)
    }

    /// The kind: `jwt`, `password`, `ip` or `token`.
    pub fn kind(&self) -> &'static str {
        match self {
            Group::Jwt { .. } => "jwt",
            Group::Password { .. } => "password",
            Group::Ip { .. } => "ip",
            Group::Token { .. } => "token",
        }
    }

    /// Checks the group's configuration; the error names the field.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            Group::Jwt {
                secret,
                algorithm,
                sources,
                claims,
            } => {
                let chars = secret.chars().count();
                if chars == 0 || chars > MAX_SECRET_CHARS {
                    return Err(ValidationError::new(
                        "secret",
                        format!("must be 1 to {MAX_SECRET_CHARS} characters"),
                    ));
                }
                match algorithm {
                    JwtAlg::Hs256 => {}
                    JwtAlg::Rs256 => {
                        rsa_public_key(secret).map_err(|e| ValidationError::new("secret", e))?;
                    }
                    JwtAlg::Es256 => {
                        ec_p256_public_key(secret)
                            .map_err(|e| ValidationError::new("secret", e))?;
                    }
                }
                if sources.is_empty() {
                    return Err(ValidationError::new("sources", "needs at least one source"));
                }
                if sources.len() > 16 {
                    return Err(ValidationError::new("sources", "at most 16 sources"));
                }
                for (i, source) in sources.iter().enumerate() {
                    validate_source(source)
                        .map_err(|e| ValidationError::new(format!("sources[{i}]"), e))?;
                }
                for (name, value) in claims {
                    if name.is_empty() {
                        return Err(ValidationError::new("claims", "empty claim name"));
                    }
                    if !matches!(
                        value,
                        serde_json::Value::String(_)
                            | serde_json::Value::Number(_)
                            | serde_json::Value::Bool(_)
                    ) {
                        return Err(ValidationError::new(
                            format!("claims.{name}"),
                            "must be a string, a number or a boolean",
                        ));
                    }
                }
                Ok(())
            }
            Group::Password {
                username,
                password,
                salt,
                algorithm,
            } => {
                if username.is_empty() || username.len() > MAX_NAME {
                    return Err(ValidationError::new(
                        "username",
                        format!("must be 1 to {MAX_NAME} bytes"),
                    ));
                }
                if username.contains(':') || username.chars().any(char::is_control) {
                    return Err(ValidationError::new(
                        "username",
                        "must not contain ':' or control characters",
                    ));
                }
                if algorithm != "sha256" {
                    return Err(ValidationError::new(
                        "algorithm",
                        "only sha256 is supported",
                    ));
                }
                if salt.is_empty() || salt.len() > MAX_NAME {
                    return Err(ValidationError::new(
                        "salt",
                        format!("is required (1 to {MAX_NAME} bytes)"),
                    ));
                }
                if !is_sha256_hex(password) {
                    return Err(ValidationError::new(
                        "password",
                        "must be stored as the lowercase hex SHA-256 of salt + password",
                    ));
                }
                Ok(())
            }
            Group::Ip { range } => parse_cidr(range)
                .map(|_| ())
                .map_err(|e| ValidationError::new("range", e)),
            Group::Token {
                header,
                cookie,
                param,
                value,
            } => {
                let set = [header, cookie, param]
                    .iter()
                    .filter(|s| s.is_some())
                    .count();
                if set != 1 {
                    return Err(ValidationError::new(
                        "header",
                        "exactly one of header, cookie or param is required",
                    ));
                }
                if let Some(h) = header
                    && !is_token(h)
                {
                    return Err(ValidationError::new("header", "not a valid header name"));
                }
                if let Some(c) = cookie
                    && !is_token(c)
                {
                    return Err(ValidationError::new("cookie", "not a valid cookie name"));
                }
                if let Some(p) = param
                    && (p.is_empty()
                        || p.len() > MAX_NAME
                        || p.bytes()
                            .any(|b| matches!(b, b'&' | b'=' | b'#' | b'?') || b <= b' '))
                {
                    return Err(ValidationError::new("param", "not a valid parameter name"));
                }
                if value.is_empty() || value.len() > MAX_TOKEN_VALUE {
                    return Err(ValidationError::new(
                        "value",
                        format!("must be 1 to {MAX_TOKEN_VALUE} bytes"),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Whether the request carries this group's credentials.
    pub fn authenticates(&self, req: &RequestInfo<'_>) -> bool {
        match self {
            Group::Jwt {
                secret,
                algorithm,
                sources,
                claims,
            } => jwt_from(sources, req)
                .is_some_and(|token| verify_jwt(token, secret, *algorithm, claims, req.now_unix)),
            Group::Password {
                username,
                password,
                salt,
                ..
            } => basic_credentials(req).is_some_and(|(user, pass)| {
                let user_ok = ct_eq(user.as_bytes(), username.as_bytes());
                let pass_ok = ct_eq(hash_password(salt, &pass).as_bytes(), password.as_bytes());
                user_ok & pass_ok
            }),
            Group::Ip { range } => {
                let Ok((net, mask)) = parse_cidr(range) else {
                    return false;
                };
                let v4 = match req.client_ip {
                    IpAddr::V4(v4) => v4,
                    IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                        Some(v4) => v4,
                        None => return false,
                    },
                };
                u32::from(v4) & mask == net & mask
            }
            Group::Token {
                header,
                cookie,
                param,
                value,
            } => {
                let want = value.as_bytes();
                if let Some(name) = header {
                    header_value(req, name).is_some_and(|got| {
                        let full = ct_eq(got.trim().as_bytes(), want);
                        let bearer = ct_eq(strip_bearer(got).as_bytes(), want);
                        full | bearer
                    })
                } else if let Some(name) = cookie {
                    cookie_value(req, name).is_some_and(|got| ct_eq(got.as_bytes(), want))
                } else if let Some(name) = param {
                    query_param(req.query, name).is_some_and(|got| ct_eq(&got, want))
                } else {
                    false
                }
            }
        }
    }
}

impl Access {
    /// Checks the rule for `program`; the error's field is `access`.
    pub fn validate_for(&self, program: &str) -> Result<(), ValidationError> {
        let program = canonical_program(program);
        let err = |reason: String| Err(ValidationError::new("access", reason));
        if BOOLEAN_PROGRAMS.contains(&program) && !matches!(self, Access::Bool(_)) {
            return err(format!("program {program} takes only true or false"));
        }
        let ports = matches!(program, "http" | "https");
        let check = |n: u64| -> Result<(), ValidationError> {
            if ports && !(1..=65535).contains(&n) {
                Err(ValidationError::new(
                    "access",
                    format!("{n} is not a port (1 to 65535)"),
                ))
            } else {
                Ok(())
            }
        };
        match self {
            Access::Bool(_) => Ok(()),
            Access::Number(n) => check(*n),
            Access::Numbers(ns) => ns.iter().try_for_each(|n| check(*n)),
            Access::Text(t) if t == "*" => Ok(()),
            Access::Text(t) => match parse_range(t) {
                Some((a, b)) => check(a).and(check(b)),
                None => err(format!(
                    "{t:?} is neither \"*\" nor a range like \"8000-8100\" (low ≤ high)"
                )),
            },
        }
    }

    /// Whether the rule grants `instance` (a port for `http`/`https`).
    pub fn grants(&self, instance: u64) -> bool {
        match self {
            Access::Bool(b) => *b,
            Access::Number(n) => *n == instance,
            Access::Numbers(ns) => ns.contains(&instance),
            Access::Text(t) if t == "*" => true,
            Access::Text(t) => parse_range(t).is_some_and(|(a, b)| (a..=b).contains(&instance)),
        }
    }
}

impl Document {
    /// Checks the whole document; the error names the field (`groups.office.range`,
    /// `permissions.admins.files`, …).
    pub fn validate(&self) -> Result<(), ValidationError> {
        for (field, id) in [("project", &self.project), ("container", &self.container)] {
            if let Some(id) = id
                && !(id.len() == 24
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            {
                return Err(ValidationError::new(
                    field,
                    "must be 24 lowercase hex digits",
                ));
            }
        }
        for (name, group) in &self.groups {
            if !is_group_name(name) {
                return Err(ValidationError::new(
                    format!("groups.{name}"),
                    "group names are 1 to 128 characters of A-Z a-z 0-9 _ . -",
                ));
            }
            group
                .validate()
                .map_err(|e| e.under(&format!("groups.{name}")))?;
        }
        for (name, rules) in &self.permissions {
            if !is_group_name(name) {
                return Err(ValidationError::new(
                    format!("permissions.{name}"),
                    "group names are 1 to 128 characters of A-Z a-z 0-9 _ . -",
                ));
            }
            let mut seen = BTreeMap::new();
            for (program, access) in rules {
                let field = format!("permissions.{name}.{program}");
                let valid_key = program == "*"
                    || (!program.is_empty()
                        && program.len() <= 64
                        && program
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                if !valid_key {
                    return Err(ValidationError::new(
                        field,
                        "program names are \"*\" or 1 to 64 characters of a-z 0-9 -",
                    ));
                }
                if let Some(other) = seen.insert(canonical_program(program), program) {
                    return Err(ValidationError::new(
                        field,
                        format!("names the same program as {other:?}"),
                    ));
                }
                access
                    .validate_for(program)
                    .map_err(|e| ValidationError::new(field, e.reason))?;
            }
        }
        if !(self.hooks.is_null() || self.hooks.is_object()) {
            return Err(ValidationError::new("hooks", "must be an object"));
        }
        Ok(())
    }
}

/// The effective rules: the project's, extended and overridden by the container's.
struct Effective<'d> {
    groups: BTreeMap<&'d str, &'d Group>,
    rules: BTreeMap<&'d str, BTreeMap<&'d str, &'d Access>>,
    default: DefaultPolicy,
}

impl<'d> Effective<'d> {
    fn new(project: Option<&'d Document>, container: Option<&'d Document>) -> Self {
        let mut groups = BTreeMap::new();
        let mut rules: BTreeMap<&str, BTreeMap<&str, &Access>> = BTreeMap::new();
        for doc in [project, container].into_iter().flatten() {
            for (name, group) in &doc.groups {
                groups.insert(name.as_str(), group);
            }
            for (name, programs) in &doc.permissions {
                let merged = rules.entry(name.as_str()).or_default();
                for (program, access) in programs {
                    merged.insert(canonical_program(program), access);
                }
            }
        }
        let default = container
            .or(project)
            .map_or(DefaultPolicy::Deny, |d| d.default);
        Effective {
            groups,
            rules,
            default,
        }
    }

    /// Whether `group`'s rules grant `program`/`instance`.
    fn grants(&self, group: &str, program: &str, instance: u64) -> bool {
        let Some(rules) = self.rules.get(group) else {
            return false;
        };
        if program == "logs" {
            return matches!(rules.get("logs"), Some(Access::Bool(true)));
        }
        rules
            .get(program)
            .or_else(|| rules.get("*"))
            .is_some_and(|access| access.grants(instance))
    }
}

/// The decision for one request, given the project's and the container's documents (see the
/// module documentation for the algorithm).
pub fn evaluate(
    project: Option<&Document>,
    container: Option<&Document>,
    req: &RequestInfo<'_>,
) -> Decision {
    let Some(governing) = container.or(project) else {
        return Decision::Allow;
    };
    if !governing.enable_proxy {
        return Decision::Disabled;
    }
    let effective = Effective::new(project, container);
    let program = canonical_program(req.program);
    let mut challenge = false;
    for (name, group) in &effective.groups {
        if !effective.grants(name, program, req.instance) {
            continue;
        }
        if group.authenticates(req) {
            return Decision::Allow;
        }
        if matches!(group, Group::Password { .. }) {
            challenge = true;
        }
    }
    if challenge {
        return Decision::Challenge {
            realm: REALM.to_owned(),
        };
    }
    if program == "logs" {
        return Decision::Deny {
            reason: "logs must be granted explicitly".to_owned(),
        };
    }
    match effective.default {
        DefaultPolicy::Allow => Decision::Allow,
        DefaultPolicy::Deny => Decision::Deny {
            reason: "no permission group admits this request".to_owned(),
        },
    }
}

// ----- names and values -----

/// RFC 9110 `token` (header names, cookie names).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_group_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn validate_source(source: &str) -> Result<(), String> {
    if source.starts_with("param:") {
        return Err("the param: source was removed; use header:<Name> or cookie:<Name>".into());
    }
    let name = source
        .strip_prefix("header:")
        .or_else(|| source.strip_prefix("cookie:"))
        .ok_or_else(|| format!("{source:?} is neither header:<Name> nor cookie:<Name>"))?;
    if is_token(name) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid header or cookie name"))
    }
}

fn parse_dec(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `"a-b"` (inclusive, a ≤ b) or `"n"`.
fn parse_range(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (parse_dec(a)?, parse_dec(b)?);
    (a <= b).then_some((a, b))
}

/// An IPv4 CIDR per the reference's pattern: the network and the mask.
fn parse_cidr(s: &str) -> Result<(u32, u32), &'static str> {
    const SHAPE: &str = "must be an IPv4 CIDR like 10.0.0.0/8";
    let (addr, prefix) = s.split_once('/').ok_or(SHAPE)?;
    let mut net = 0u32;
    let mut count = 0;
    for octet in addr.split('.') {
        if octet.is_empty() || octet.len() > 3 || !octet.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SHAPE);
        }
        let value: u32 = octet.parse().map_err(|_| SHAPE)?;
        if value > 255 {
            return Err("an octet is larger than 255");
        }
        net = (net << 8) | value;
        count += 1;
    }
    if count != 4 {
        return Err(SHAPE);
    }
    if prefix.is_empty() || prefix.len() > 2 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SHAPE);
    }
    let bits: u32 = prefix.parse().map_err(|_| SHAPE)?;
    if bits > 32 {
        return Err("the prefix length must be 0 to 32");
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    Ok((net, mask))
}

fn hash_password(salt: &str, password: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(password.as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// Constant-time equality (over SHA-256 digests, so neither content nor length leaks).
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (Sha256::digest(a), Sha256::digest(b));
    let diff = da
        .iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

// ----- reading the request -----

fn header_value<'r>(req: &RequestInfo<'r>, name: &str) -> Option<&'r str> {
    req.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn cookie_value<'r>(req: &RequestInfo<'r>, name: &str) -> Option<&'r str> {
    req.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .flat_map(|(_, v)| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| k.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
}

fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => {
            value.get(7..).map_or(value, str::trim_start)
        }
        _ => value,
    }
}

fn query_param(query: &str, name: &str) -> Option<Vec<u8>> {
    let query = query.strip_prefix('?').unwrap_or(query);
    query
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| percent_decode(k) == name.as_bytes())
        .map(|(_, v)| percent_decode(v))
}

/// Percent-decoding as query strings are written: `%XX` decoded, anything else (a `%` not
/// followed by two hex digits included) kept as it is; `+` stays `+`.
fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

fn basic_credentials(req: &RequestInfo<'_>) -> Option<(String, String)> {
    let value = header_value(req, "authorization")?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = b64_decode(rest.trim().as_bytes(), false)?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Base64 (standard or URL-safe alphabet), padding optional, no whitespace; stray bits in the
/// last character are ignored (as JWT and Basic implementations in the wild do).
fn b64_decode(input: &[u8], url: bool) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, CONFIG);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, CONFIG);
    let engine = if url { &URL_SAFE } else { &STANDARD };
    engine.decode(input).ok()
}

// ----- JWT -----

fn jwt_from<'r>(sources: &[String], req: &RequestInfo<'r>) -> Option<&'r str> {
    sources.iter().find_map(|source| {
        if let Some(name) = source.strip_prefix("header:") {
            header_value(req, name).map(strip_bearer)
        } else if let Some(name) = source.strip_prefix("cookie:") {
            cookie_value(req, name)
        } else {
            None
        }
    })
}

fn verify_jwt(
    token: &str,
    secret: &str,
    alg: JwtAlg,
    required: &BTreeMap<String, serde_json::Value>,
    now: u64,
) -> bool {
    verify_jwt_inner(token, secret, alg, required, now).is_some()
}

fn verify_jwt_inner(
    token: &str,
    secret: &str,
    alg: JwtAlg,
    required: &BTreeMap<String, serde_json::Value>,
    now: u64,
) -> Option<()> {
    if token.len() > MAX_JWT_LEN {
        return None;
    }
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    if payload.contains('.') {
        return None;
    }
    let header: serde_json::Value =
        serde_json::from_slice(&b64_decode(header.as_bytes(), true)?).ok()?;
    if header.get("alg")?.as_str()? != alg.as_str() || header.get("crit").is_some() {
        return None;
    }
    let signature = b64_decode(signature.as_bytes(), true)?;
    let message = signing_input.as_bytes();
    match alg {
        JwtAlg::Hs256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
            hmac::verify(&key, message, &signature).ok()?;
        }
        JwtAlg::Rs256 => {
            let key = rsa_public_key(secret).ok()?;
            UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, key)
                .verify(message, &signature)
                .ok()?;
        }
        JwtAlg::Es256 => {
            let key = ec_p256_public_key(secret).ok()?;
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, key)
                .verify(message, &signature)
                .ok()?;
        }
    }
    let claims: serde_json::Value =
        serde_json::from_slice(&b64_decode(payload.as_bytes(), true)?).ok()?;
    let claims = claims.as_object()?;
    let now = now as f64;
    let leeway = LEEWAY_SECS as f64;
    if let Some(exp) = claims.get("exp")
        && now > exp.as_f64()? + leeway
    {
        return None;
    }
    if let Some(nbf) = claims.get("nbf")
        && now + leeway < nbf.as_f64()?
    {
        return None;
    }
    for (name, want) in required {
        if !claim_matches(claims.get(name)?, want) {
            return None;
        }
    }
    Some(())
}

fn claim_matches(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (got, want) {
        (Value::Number(a), Value::Number(b)) => {
            if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
                x == y
            } else {
                a.as_f64() == b.as_f64()
            }
        }
        (Value::Array(items), want) if !want.is_array() => {
            items.iter().any(|item| claim_matches(item, want))
        }
        _ => got == want,
    }
}

// ----- PEM and DER -----

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let rest = pem.get(start..)?;
    let body = rest.get(..rest.find(&end)?)?;
    let b64: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    b64_decode(&b64, false)
}

/// One DER TLV: (tag, contents, the rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, after) = rest.split_at_checked(n)?;
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// SubjectPublicKeyInfo → (algorithm OID, algorithm parameters, key bits).
fn spki(der: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
    let (0x30, seq, []) = der_tlv(der)? else {
        return None;
    };
    let (0x30, algorithm, after) = der_tlv(seq)? else {
        return None;
    };
    let (0x06, oid, params) = der_tlv(algorithm)? else {
        return None;
    };
    let (0x03, bits, []) = der_tlv(after)? else {
        return None;
    };
    let (&0, key) = bits.split_first()? else {
        return None;
    };
    Some((oid, params, key))
}

/// The PKCS#1 `RSAPublicKey` DER ring wants, from a PEM `PUBLIC KEY` (or `RSA PUBLIC KEY`).
fn rsa_public_key(pem: &str) -> Result<Vec<u8>, &'static str> {
    let key = if let Some(der) = pem_body(pem, "PUBLIC KEY") {
        let (oid, params, key) = spki(&der).ok_or("not a valid SPKI public key")?;
        if oid != OID_RSA {
            return Err("RS256 needs an RSA public key");
        }
        if !(params.is_empty() || params == [0x05, 0x00]) {
            return Err("unexpected RSA algorithm parameters");
        }
        key.to_vec()
    } else if let Some(der) = pem_body(pem, "RSA PUBLIC KEY") {
        der
    } else {
        return Err("RS256 needs a PEM public key (-----BEGIN PUBLIC KEY-----)");
    };
    let (0x30, seq, []) = der_tlv(&key).ok_or("not a valid RSA public key")? else {
        return Err("not a valid RSA public key");
    };
    let (0x02, modulus, rest) = der_tlv(seq).ok_or("not a valid RSA public key")? else {
        return Err("not a valid RSA public key");
    };
    let (0x02, _exponent, []) = der_tlv(rest).ok_or("not a valid RSA public key")? else {
        return Err("not a valid RSA public key");
    };
    let modulus = match modulus.iter().position(|&b| b != 0) {
        Some(i) => modulus.get(i..).unwrap_or_default(),
        None => &[],
    };
    let bits = match modulus.first() {
        Some(&top) => modulus.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    };
    if !(2048..=8192).contains(&bits) {
        return Err("the RSA key must be 2048 to 8192 bits");
    }
    Ok(key)
}

/// The uncompressed P-256 point ring wants, from a PEM `PUBLIC KEY`.
fn ec_p256_public_key(pem: &str) -> Result<Vec<u8>, &'static str> {
    let der = pem_body(pem, "PUBLIC KEY")
        .ok_or("ES256 needs a PEM public key (-----BEGIN PUBLIC KEY-----)")?;
    let (oid, params, key) = spki(&der).ok_or("not a valid SPKI public key")?;
    if oid != OID_EC {
        return Err("ES256 needs an EC public key");
    }
    match der_tlv(params) {
        Some((0x06, curve, [])) if curve == OID_P256 => {}
        _ => return Err("ES256 needs a P-256 (prime256v1) key"),
    }
    if key.len() != 65 || key.first() != Some(&0x04) {
        return Err("the EC key must be an uncompressed P-256 point");
    }
    Ok(key.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const NOW: u64 = 1_700_000_000;

    const RSA_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqLmf+bV0MCAIAJVZx4I1
bbxCkVpe2wLGWmrUoRdIz8yOKK4RB9xvkz4ijeXCkS6VpyrIpBHMdZ4cjF0SIwKc
IFBzzr3zcdxEI/XuQ+k+QnbXPZb5xmM3/z6m+b5EtzgOuIpU6s8rL/iErDzAzotN
M7bZTRTQYhV33PYDDE51fJBAMqQIW5WC7myUi91J8NnD7WADPA4d+ZRRtoG/5UIN
OBuNv3uhlCU92gX1q1/k3sMY3Qsc4acsqpLyzb/M8U092NgerKq3A8Ivamgx8und
t3m+/+Di93YeIohZmq3EYvZE9fj7mMoSxSDvZAAgPuQbM1UCQFEB9m2MkI3VAzCF
DwIDAQAB
-----END PUBLIC KEY-----
";

    /// The same key as PKCS#1 (`openssl rsa -pubin -RSAPublicKey_out`).
    const RSA_PUB_PKCS1: &str = "-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAqLmf+bV0MCAIAJVZx4I1bbxCkVpe2wLGWmrUoRdIz8yOKK4RB9xv
kz4ijeXCkS6VpyrIpBHMdZ4cjF0SIwKcIFBzzr3zcdxEI/XuQ+k+QnbXPZb5xmM3
/z6m+b5EtzgOuIpU6s8rL/iErDzAzotNM7bZTRTQYhV33PYDDE51fJBAMqQIW5WC
7myUi91J8NnD7WADPA4d+ZRRtoG/5UINOBuNv3uhlCU92gX1q1/k3sMY3Qsc4acs
qpLyzb/M8U092NgerKq3A8Ivamgx8undt3m+/+Di93YeIohZmq3EYvZE9fj7mMoS
xSDvZAAgPuQbM1UCQFEB9m2MkI3VAzCFDwIDAQAB
-----END RSA PUBLIC KEY-----
";

    const RSA_1024_PUB: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDGQSnxn1zidgywS/p2ipxPxrQh
Y//Ka4LSTz3d0DvcnVKnwdlq7NXCTwKXKDPtrv7vbWjPBuPNE+xoKyrpNvDPaJ2O
6aHSUdIUhOsoOb7GCC1QWrMA/YeJrcVjMJzHUXcHLFtrtLtbPy3MreAGOkXFmTlW
QrC//fHoG3rB/DT9YwIDAQAB
-----END PUBLIC KEY-----
";

    const EC_PUB: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3loA5k4UkRdRvV4IZz0yhr83mP51
ovoTD+KoEk8Y1oQx9mWOcs4YFf25Z6K4izJyd4094cfIxnHQKccVbyhDOg==
-----END PUBLIC KEY-----
";

    const EC_P384_PUB: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEdLLjXmApKSsqgkUoT3xNfMxYBZolnopV
mw0CpAAYYwmFaKa0m6PQJCL6q0WCsqE65g5y5KETV8NL6dwrE9KXJKFGql6Dad8X
vP+cFcTodqxkXqWFV+OkTJ6U69NaKAb7
-----END PUBLIC KEY-----
";

    // Signed by `openssl dgst -sha256 -sign` with the private halves of the keys above.
    // Payload {"sub":"alice","role":"admin","exp":NOW+3600} unless said otherwise.
    const RS256_OK: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiIsImV4cCI6MTcwMDAwMzYwMH0.KPVP4nfW9tmM3Uy6FgCVuZohVZ7yQSrTv3tmz2XDMlOZ1Iq_M1liJQyHYpRdAhz39kRAH1TAzNojhWcNDEHtPNeuajKlF_zehNcuWMgEOjtXlSXpbq-T3omcnZk5AkbiT37FhY_ZNSsOrIzfut8tv6LwVAdC58eHodoNV-JHboLDsdAbIWrS5J39e_3JFGfkO0GjlDIt9vAESvbvi9rB1_F-A1Qok8OCJ-n4-zpCGy0NaW6Wzcun_yJwa-w4lrv_LWXTVHzFKqnrjgRH2X4IqDC3IfserkZHQ7GurGl7LiUeD4Cjc96bPBMxqfqMnqm2nGxty03lxbkWY7nPNTpEsw";
    /// exp = NOW - 3600.
    const RS256_EXPIRED: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiIsImV4cCI6MTY5OTk5NjQwMH0.fL1RYcD_FbveybYOCWQJWMrBbBn8J1B6ZmiHbHlcij2kDutnot8t8vRjk05otcebA0kghBxP5LP3aOsKJn_23_0n--dxZsRlIVhIBmsyN6pgYfYaFKaaMh-h111XfpaCJOrMP4A2nN0vZFsHsJ5BODh1p78DUwWTrg0ycW8NSwGMK6u5yUNc42rDAwJ18v451rxxxROJX2sT1jdhYEjGDdXS6BrKUne32Wva2wkeClJn0jVohcKLHPc46Fmxqi0uFYPvawNecdEiE1gvLI7rlRav9xaIcGq_tflJ5hP_bjiuSt567diSZbmThvtUqMtpn6qZanlJkGZI4BAO_kjvzg";
    /// Signed by another RSA key.
    const RS256_OTHER_KEY: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiIsImV4cCI6MTcwMDAwMzYwMH0.ovsCSNYJu8GQsTQfXox5iXXLnevLR3z0A-32-NctSVTjooAcgkMtKZEUW0oc07oe23kGwWHtRLW0-hmiyiZ8yelox5_ulStAFtjxoWG5_xh4sDYMB8x4c2VPJvbl7Zdgbv1rXiXfE1BtDFgdKBpnWwKmqJdigZHcPMHK5iAmB7but3xBDiHTFtdOPj5riIV3jVuT92qaAxjvYi7fI64sKjWsSHBDEMp8qQufR58X7RohOnVQ13GIcOwLQHbUpK7hONklvY3APguPs_796_059rnNB3Of8aiR7j85R4LAIZwusUYiecfr7yf4o85KRFpOWDfRx9s_rPZJFqhjAA_KGw";
    const ES256_OK: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiIsImV4cCI6MTcwMDAwMzYwMH0.UIJmXsWJpijTtZbAu--a0nKrmlnx0p4uEzwCcWd8c2kwktE_dddwJg5tXVcolRtV76znCDP_ehpsNGdnyrha8g";
    /// Signed by another P-256 key.
    const ES256_OTHER_KEY: &str = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiIsImV4cCI6MTcwMDAwMzYwMH0.Ehr6ccnNoBzO8976erfTkEp_8PE-zhXJiQEqJZ-RuZlhL_TruY8h8hpN4azdpQaMEyTkyVXSKqn-5uJA0kL_Ag";

    /// `printf 'pepper%s' hunter2 | sha256sum` (computed outside this code).
    const HUNTER2_HASH: &str = "ca458f67a1e64e60f40414c062c57abbfc1d41b5d0c30cd07d12704540067f21";

    fn b64_encode(bytes: &[u8], url: bool) -> String {
        use base64::Engine as _;
        if url {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        } else {
            base64::engine::general_purpose::STANDARD.encode(bytes)
        }
    }

    fn hs256(secret: &str, header: serde_json::Value, claims: serde_json::Value) -> String {
        let input = format!(
            "{}.{}",
            b64_encode(header.to_string().as_bytes(), true),
            b64_encode(claims.to_string().as_bytes(), true)
        );
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        let tag = hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", b64_encode(tag.as_ref(), true))
    }

    fn hs(claims: serde_json::Value) -> String {
        hs256("s3cret", json!({"alg": "HS256", "typ": "JWT"}), claims)
    }

    fn basic(user: &str, pass: &str) -> String {
        format!(
            "Basic {}",
            b64_encode(format!("{user}:{pass}").as_bytes(), false)
        )
    }

    /// An owned request; `info()` borrows it as a [`RequestInfo`].
    struct Req {
        ip: IpAddr,
        headers: Vec<(String, String)>,
        query: String,
        program: String,
        instance: u64,
        now: u64,
    }

    fn req(program: &str, instance: u64) -> Req {
        Req {
            ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
            headers: Vec::new(),
            query: String::new(),
            program: program.to_owned(),
            instance,
            now: NOW,
        }
    }

    impl Req {
        fn header(mut self, name: &str, value: &str) -> Self {
            self.headers
                .push((name.to_ascii_lowercase(), value.to_owned()));
            self
        }
        fn query(mut self, q: &str) -> Self {
            self.query = q.to_owned();
            self
        }
        fn ip(mut self, ip: IpAddr) -> Self {
            self.ip = ip;
            self
        }
        fn now(mut self, now: u64) -> Self {
            self.now = now;
            self
        }
        fn info(&self) -> RequestInfo<'_> {
            RequestInfo {
                client_ip: self.ip,
                headers: &self.headers,
                query: &self.query,
                program: &self.program,
                instance: self.instance,
                now_unix: self.now,
            }
        }
    }

    /// A document with one group granted `terminal: true`, default deny.
    fn doc_with(group: Group) -> Document {
        let mut doc = Document::default();
        doc.groups.insert("g".into(), group);
        doc.permissions.insert(
            "g".into(),
            [("terminal".to_owned(), Access::Bool(true))].into(),
        );
        doc
    }

    fn decide(doc: &Document, r: &Req) -> Decision {
        evaluate(None, Some(doc), &r.info())
    }

    fn admitted(group: &Group, r: &Req) -> bool {
        let doc = doc_with(group.clone());
        decide(&doc, r) == Decision::Allow
    }

    fn jwt_group(secret: &str, algorithm: JwtAlg, claims: serde_json::Value) -> Group {
        Group::Jwt {
            secret: secret.into(),
            algorithm,
            sources: vec!["header:Authorization".into(), "cookie:session".into()],
            claims: serde_json::from_value(claims).unwrap(),
        }
    }

    fn bearer(token: &str) -> Req {
        req("terminal", 1).header("authorization", &format!("Bearer {token}"))
    }

    // ----- JWT -----

    #[test]
    fn hs256_valid_token_from_header_and_cookie() {
        let g = jwt_group("s3cret", JwtAlg::Hs256, json!({"role": "admin"}));
        let token = hs(json!({"role": "admin", "exp": NOW + 10}));
        assert!(admitted(&g, &bearer(&token)));
        let cookie = req("terminal", 1).header("cookie", &format!("a=b; session={token}; c=d"));
        assert!(admitted(&g, &cookie));
        // no token at all
        assert!(!admitted(&g, &req("terminal", 1)));
    }

    #[test]
    fn jwt_expiry_and_not_before_with_leeway() {
        let g = jwt_group("s3cret", JwtAlg::Hs256, json!({}));
        // expired an hour ago
        assert!(!admitted(&g, &bearer(&hs(json!({"exp": NOW - 3600})))));
        // expired 30 s ago: inside the leeway
        assert!(admitted(&g, &bearer(&hs(json!({"exp": NOW - 30})))));
        // expired 61 s ago
        assert!(!admitted(&g, &bearer(&hs(json!({"exp": NOW - 61})))));
        // not valid for another hour
        assert!(!admitted(&g, &bearer(&hs(json!({"nbf": NOW + 3600})))));
        // nbf 30 s ahead: inside the leeway
        assert!(admitted(&g, &bearer(&hs(json!({"nbf": NOW + 30})))));
        // a non-numeric exp is refused
        assert!(!admitted(&g, &bearer(&hs(json!({"exp": "tomorrow"})))));
        // no exp at all: valid
        assert!(admitted(&g, &bearer(&hs(json!({"sub": "x"})))));
    }

    #[test]
    fn jwt_claims_must_be_present_and_equal() {
        let g = jwt_group(
            "s3cret",
            JwtAlg::Hs256,
            json!({"role": "admin", "level": 3}),
        );
        assert!(admitted(
            &g,
            &bearer(&hs(json!({"role": "admin", "level": 3})))
        ));
        assert!(admitted(
            &g,
            &bearer(&hs(json!({"role": "admin", "level": 3.0})))
        ));
        assert!(!admitted(
            &g,
            &bearer(&hs(json!({"role": "user", "level": 3})))
        ));
        assert!(!admitted(&g, &bearer(&hs(json!({"role": "admin"})))));
        assert!(!admitted(
            &g,
            &bearer(&hs(json!({"role": "admin", "level": "3"})))
        ));
        let aud = jwt_group("s3cret", JwtAlg::Hs256, json!({"aud": "hoody"}));
        assert!(admitted(
            &aud,
            &bearer(&hs(json!({"aud": ["other", "hoody"]})))
        ));
        assert!(!admitted(&aud, &bearer(&hs(json!({"aud": ["other"]})))));
    }

    #[test]
    fn jwt_bad_signature_and_alg_mismatch() {
        let g = jwt_group("s3cret", JwtAlg::Hs256, json!({}));
        let other = hs256("other", json!({"alg": "HS256"}), json!({"sub": "a"}));
        assert!(!admitted(&g, &bearer(&other)));
        // a tampered payload
        let good = hs(json!({"role": "user"}));
        let parts: Vec<&str> = good.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64_encode(br#"{"role":"admin"}"#, true),
            parts[2]
        );
        assert!(!admitted(&g, &bearer(&forged)));
        // alg "none"
        let none = format!(
            "{}.{}.",
            b64_encode(br#"{"alg":"none"}"#, true),
            b64_encode(br#"{"sub":"a"}"#, true)
        );
        assert!(!admitted(&g, &bearer(&none)));
        // header says HS384
        let hs384 = hs256("s3cret", json!({"alg": "HS384"}), json!({}));
        assert!(!admitted(&g, &bearer(&hs384)));
        // crit header
        let crit = hs256("s3cret", json!({"alg": "HS256", "crit": ["x"]}), json!({}));
        assert!(!admitted(&g, &bearer(&crit)));
        // garbage
        assert!(!admitted(&g, &bearer("not.a.jwt")));
        assert!(!admitted(&g, &bearer("")));
    }

    #[test]
    fn jwt_key_confusion_hs256_with_public_key_is_refused() {
        let rs = jwt_group(RSA_PUB, JwtAlg::Rs256, json!({}));
        let confused = hs256(RSA_PUB, json!({"alg": "HS256"}), json!({"sub": "alice"}));
        assert!(!admitted(&rs, &bearer(&confused)));
        // an RS256 token presented to an HS256 group
        let hs_group = jwt_group(RSA_PUB, JwtAlg::Hs256, json!({}));
        assert!(!admitted(&hs_group, &bearer(RS256_OK)));
    }

    #[test]
    fn rs256_tokens() {
        let g = jwt_group(RSA_PUB, JwtAlg::Rs256, json!({"role": "admin"}));
        g.validate().unwrap();
        assert!(admitted(&g, &bearer(RS256_OK)));
        assert!(!admitted(&g, &bearer(RS256_EXPIRED)));
        assert!(!admitted(&g, &bearer(RS256_OTHER_KEY)));
        // the token is valid only until NOW + 3600 (+ leeway)
        assert!(!admitted(&g, &bearer(RS256_OK).now(NOW + 3661)));
        let pkcs1 = jwt_group(RSA_PUB_PKCS1, JwtAlg::Rs256, json!({}));
        pkcs1.validate().unwrap();
        assert!(admitted(&pkcs1, &bearer(RS256_OK)));
        // an ES256 token for an RS256 group
        assert!(!admitted(&g, &bearer(ES256_OK)));
    }

    #[test]
    fn es256_tokens() {
        let g = jwt_group(EC_PUB, JwtAlg::Es256, json!({"sub": "alice"}));
        g.validate().unwrap();
        assert!(admitted(&g, &bearer(ES256_OK)));
        assert!(!admitted(&g, &bearer(ES256_OTHER_KEY)));
        let wrong_claim = jwt_group(EC_PUB, JwtAlg::Es256, json!({"sub": "bob"}));
        assert!(!admitted(&wrong_claim, &bearer(ES256_OK)));
        assert!(!admitted(&g, &bearer(RS256_OK)));
    }

    #[test]
    fn jwt_first_present_source_wins() {
        let g = Group::Jwt {
            secret: "s3cret".into(),
            algorithm: JwtAlg::Hs256,
            sources: vec!["header:X-Token".into(), "cookie:jwt".into()],
            claims: BTreeMap::new(),
        };
        let good = hs(json!({}));
        let r = req("terminal", 1)
            .header("x-token", &good)
            .header("cookie", "jwt=garbage");
        assert!(admitted(&g, &r));
        let r = req("terminal", 1).header("cookie", &format!("jwt=\"{good}\""));
        assert!(admitted(&g, &r));
        let r = req("terminal", 1)
            .header("x-token", "garbage")
            .header("cookie", &format!("jwt={good}"));
        assert!(!admitted(&g, &r));
    }

    // ----- password -----

    #[test]
    fn password_hashing_matches_reference_and_accepts_prehashed() {
        let g = Group::password("alice", "hunter2", "pepper");
        let Group::Password { password, .. } = &g else {
            panic!("not a password group")
        };
        assert_eq!(password, HUNTER2_HASH);
        g.validate().unwrap();
        assert_eq!(Group::password("alice", HUNTER2_HASH, "pepper"), g);
        let from_api = Group::from_request(
            "password",
            &json!({"username": "alice", "password": "hunter2", "salt": "pepper"}),
        )
        .unwrap();
        assert_eq!(from_api, g);
    }

    #[test]
    fn password_basic_auth() {
        let g = Group::password("alice", "hunter2", "pepper");
        let ok = req("terminal", 1).header("authorization", &basic("alice", "hunter2"));
        assert!(admitted(&g, &ok));
        let lower = req("terminal", 1).header(
            "authorization",
            &basic("alice", "hunter2").replace("Basic", "basic"),
        );
        assert!(admitted(&g, &lower));
        let wrong_pass = req("terminal", 1).header("authorization", &basic("alice", "hunter3"));
        assert_eq!(
            decide(&doc_with(g.clone()), &wrong_pass),
            Decision::Challenge {
                realm: REALM.into()
            }
        );
        let wrong_user = req("terminal", 1).header("authorization", &basic("bob", "hunter2"));
        assert!(!admitted(&g, &wrong_user));
        let garbage = req("terminal", 1).header("authorization", "Basic !!!");
        assert!(!admitted(&g, &garbage));
        // a password containing ':' survives the split
        let colon = Group::password("alice", "a:b", "s");
        let r = req("terminal", 1).header("authorization", &basic("alice", "a:b"));
        assert!(admitted(&colon, &r));
    }

    // ----- ip -----

    #[test]
    fn ip_ranges() {
        let g = Group::Ip {
            range: "10.1.0.0/16".into(),
        };
        let inside = req("terminal", 1).ip(IpAddr::V4(Ipv4Addr::new(10, 1, 200, 3)));
        assert!(admitted(&g, &inside));
        let outside = req("terminal", 1).ip(IpAddr::V4(Ipv4Addr::new(10, 2, 0, 1)));
        assert!(!admitted(&g, &outside));
        let mapped = req("terminal", 1).ip(IpAddr::V6(Ipv4Addr::new(10, 1, 0, 9).to_ipv6_mapped()));
        assert!(admitted(&g, &mapped));
        let v6 = req("terminal", 1).ip(IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert!(!admitted(&g, &v6));
        let all = Group::Ip {
            range: "0.0.0.0/0".into(),
        };
        assert!(admitted(&all, &outside));
        assert!(!admitted(&all, &v6));
        let host = Group::Ip {
            range: "203.0.113.7/32".into(),
        };
        assert!(admitted(&host, &req("terminal", 1)));
        let host_bits = Group::Ip {
            range: "10.1.2.3/8".into(),
        };
        assert!(admitted(&host_bits, &outside));
    }

    // ----- token -----

    fn token(header: Option<&str>, cookie: Option<&str>, param: Option<&str>) -> Group {
        Group::Token {
            header: header.map(Into::into),
            cookie: cookie.map(Into::into),
            param: param.map(Into::into),
            value: "t0k+en".into(),
        }
    }

    #[test]
    fn token_in_header() {
        let g = token(Some("X-Key"), None, None);
        g.validate().unwrap();
        assert!(admitted(&g, &req("terminal", 1).header("x-key", "t0k+en")));
        assert!(!admitted(&g, &req("terminal", 1).header("x-key", "t0k+e")));
        assert!(!admitted(
            &g,
            &req("terminal", 1).header("x-other", "t0k+en")
        ));
        assert!(!admitted(&g, &req("terminal", 1)));
        let auth = token(Some("Authorization"), None, None);
        assert!(admitted(
            &auth,
            &req("terminal", 1).header("authorization", "Bearer t0k+en")
        ));
    }

    #[test]
    fn token_in_cookie() {
        let g = token(None, Some("key"), None);
        assert!(admitted(
            &g,
            &req("terminal", 1).header("cookie", "x=1; key=t0k+en")
        ));
        assert!(admitted(
            &g,
            &req("terminal", 1)
                .header("cookie", "x=1")
                .header("cookie", "key=t0k+en")
        ));
        assert!(!admitted(
            &g,
            &req("terminal", 1).header("cookie", "key=nope")
        ));
        assert!(!admitted(
            &g,
            &req("terminal", 1).header("cookie", "xkey=t0k+en")
        ));
    }

    #[test]
    fn token_in_query_param() {
        let g = token(None, None, Some("key"));
        assert!(admitted(&g, &req("terminal", 1).query("a=1&key=t0k%2Ben")));
        assert!(admitted(&g, &req("terminal", 1).query("?key=t0k+en")));
        assert!(!admitted(&g, &req("terminal", 1).query("key=t0k%20en")));
        assert!(!admitted(&g, &req("terminal", 1).query("a=1")));
        assert!(!admitted(&g, &req("terminal", 1).query("")));
    }

    // ----- documents -----

    #[test]
    fn no_document_allows_everything() {
        let r = req("logs", 1);
        assert_eq!(evaluate(None, None, &r.info()), Decision::Allow);
    }

    #[test]
    fn default_policies() {
        let g = Group::Ip {
            range: "10.0.0.0/8".into(),
        };
        let deny = doc_with(g.clone());
        assert!(matches!(
            decide(&deny, &req("terminal", 1)),
            Decision::Deny { .. }
        ));
        let mut allow = doc_with(g);
        allow.default = DefaultPolicy::Allow;
        assert_eq!(decide(&allow, &req("terminal", 1)), Decision::Allow);
        let empty_allow = Document {
            default: DefaultPolicy::Allow,
            ..Document::default()
        };
        assert_eq!(decide(&empty_allow, &req("files", 1)), Decision::Allow);
        assert!(matches!(
            decide(&Document::default(), &req("files", 1)),
            Decision::Deny { .. }
        ));
    }

    #[test]
    fn password_group_challenges_even_under_default_allow() {
        let mut doc = doc_with(Group::password("alice", "hunter2", "pepper"));
        doc.default = DefaultPolicy::Allow;
        let challenge = Decision::Challenge {
            realm: REALM.into(),
        };
        assert_eq!(decide(&doc, &req("terminal", 1)), challenge);
        // a program the password group does not grant follows the default
        assert_eq!(decide(&doc, &req("files", 1)), Decision::Allow);
        let r = req("terminal", 1).header("authorization", &basic("alice", "hunter2"));
        assert_eq!(decide(&doc, &r), Decision::Allow);
        // another group admitting the request beats the challenge
        doc.groups.insert(
            "office".into(),
            Group::Ip {
                range: "203.0.113.0/24".into(),
            },
        );
        doc.permissions.insert(
            "office".into(),
            [("t".to_owned(), Access::Bool(true))].into(),
        );
        assert_eq!(decide(&doc, &req("terminal", 1)), Decision::Allow);
    }

    #[test]
    fn enable_proxy_container_overrides_project() {
        let off = Document {
            enable_proxy: false,
            default: DefaultPolicy::Allow,
            ..Document::default()
        };
        let on = Document {
            default: DefaultPolicy::Allow,
            ..Document::default()
        };
        let r = req("terminal", 1);
        assert_eq!(evaluate(Some(&off), None, &r.info()), Decision::Disabled);
        assert_eq!(evaluate(None, Some(&off), &r.info()), Decision::Disabled);
        assert_eq!(evaluate(Some(&off), Some(&on), &r.info()), Decision::Allow);
        assert_eq!(
            evaluate(Some(&on), Some(&off), &r.info()),
            Decision::Disabled
        );
        // disabled wins over a group that would admit
        let mut g = doc_with(Group::Ip {
            range: "0.0.0.0/0".into(),
        });
        g.enable_proxy = false;
        assert_eq!(decide(&g, &r), Decision::Disabled);
    }

    #[test]
    fn container_extends_and_overrides_project() {
        let mut project = Document::default();
        project.groups.insert(
            "office".into(),
            Group::Ip {
                range: "203.0.113.0/24".into(),
            },
        );
        project.permissions.insert(
            "office".into(),
            [
                ("terminal".to_owned(), Access::Bool(true)),
                ("files".to_owned(), Access::Bool(true)),
            ]
            .into(),
        );
        let r = req("terminal", 1);
        assert_eq!(evaluate(Some(&project), None, &r.info()), Decision::Allow);
        // the container redefines the group: the project's range no longer applies
        let mut container = Document::default();
        container.groups.insert(
            "office".into(),
            Group::Ip {
                range: "198.51.100.0/24".into(),
            },
        );
        assert!(matches!(
            evaluate(Some(&project), Some(&container), &r.info()),
            Decision::Deny { .. }
        ));
        // the container only overrides one rule; the project's files rule still applies
        let mut container = Document::default();
        container.permissions.insert(
            "office".into(),
            [("terminal".to_owned(), Access::Bool(false))].into(),
        );
        assert!(matches!(
            evaluate(Some(&project), Some(&container), &r.info()),
            Decision::Deny { .. }
        ));
        let files = req("f", 1);
        assert_eq!(
            evaluate(Some(&project), Some(&container), &files.info()),
            Decision::Allow
        );
        // the container's default governs
        let project_allow = Document {
            default: DefaultPolicy::Allow,
            ..Document::default()
        };
        assert!(matches!(
            evaluate(Some(&project_allow), Some(&Document::default()), &r.info()),
            Decision::Deny { .. }
        ));
        assert_eq!(
            evaluate(Some(&project_allow), None, &r.info()),
            Decision::Allow
        );
    }

    #[test]
    fn logs_needs_an_explicit_grant() {
        let open = Group::Ip {
            range: "0.0.0.0/0".into(),
        };
        let mut doc = Document::default();
        doc.groups.insert("all".into(), open);
        doc.permissions
            .insert("all".into(), [("*".to_owned(), Access::Bool(true))].into());
        assert_eq!(decide(&doc, &req("terminal", 3)), Decision::Allow);
        assert!(matches!(
            decide(&doc, &req("logs", 1)),
            Decision::Deny { .. }
        ));
        // "logs": "*" does not grant it either (and does not validate)
        doc.permissions
            .get_mut("all")
            .unwrap()
            .insert("logs".into(), Access::Text("*".into()));
        assert!(matches!(
            decide(&doc, &req("logs", 1)),
            Decision::Deny { .. }
        ));
        assert!(doc.validate().is_err());
        // default allow does not grant it
        let allow = Document {
            default: DefaultPolicy::Allow,
            ..Document::default()
        };
        assert!(matches!(
            decide(&allow, &req("logs", 1)),
            Decision::Deny { .. }
        ));
        // an explicit grant does, also through a synonym in the document
        doc.permissions
            .get_mut("all")
            .unwrap()
            .insert("logs".into(), Access::Bool(true));
        assert_eq!(decide(&doc, &req("logs", 1)), Decision::Allow);
        assert_eq!(decide(&doc, &req("proxy-logs", 1)), Decision::Allow);
    }

    #[test]
    fn access_forms() {
        let cases: &[(Access, &[u64], &[u64])] = &[
            (Access::Bool(true), &[0, 1, 80, 65535], &[]),
            (Access::Bool(false), &[], &[1, 80]),
            (Access::Number(8080), &[8080], &[80, 8081]),
            (
                Access::Numbers(vec![80, 443, 3000]),
                &[80, 443, 3000],
                &[8080, 0],
            ),
            (Access::Numbers(vec![]), &[], &[80]),
            (Access::Text("*".into()), &[0, 1, 65535], &[]),
            (
                Access::Text("8000-8100".into()),
                &[8000, 8050, 8100],
                &[7999, 8101],
            ),
            (Access::Text("3000".into()), &[3000], &[3001]),
            (Access::Text("9-1".into()), &[], &[1, 5, 9]),
            (Access::Text("bogus".into()), &[], &[1]),
        ];
        let open = Group::Ip {
            range: "0.0.0.0/0".into(),
        };
        for (access, yes, no) in cases {
            for program in ["http", "terminal"] {
                let mut doc = Document::default();
                doc.groups.insert("all".into(), open.clone());
                doc.permissions
                    .insert("all".into(), [(program.to_owned(), access.clone())].into());
                for &n in *yes {
                    assert_eq!(
                        decide(&doc, &req(program, n)),
                        Decision::Allow,
                        "{access:?} {program}-{n}"
                    );
                }
                for &n in *no {
                    assert!(
                        matches!(decide(&doc, &req(program, n)), Decision::Deny { .. }),
                        "{access:?} {program}-{n}"
                    );
                }
            }
        }
        // a program's own rule beats the wildcard
        let mut doc = Document::default();
        doc.groups.insert("all".into(), open);
        doc.permissions.insert(
            "all".into(),
            [
                ("*".to_owned(), Access::Bool(true)),
                ("http".to_owned(), Access::Number(80)),
            ]
            .into(),
        );
        assert_eq!(decide(&doc, &req("http", 80)), Decision::Allow);
        assert!(matches!(
            decide(&doc, &req("http", 81)),
            Decision::Deny { .. }
        ));
        assert_eq!(decide(&doc, &req("https", 8443)), Decision::Allow);
        assert_eq!(decide(&doc, &req("n", 1)), Decision::Allow);
    }

    // ----- serde and validation -----

    #[test]
    fn document_json_round_trip() {
        let text = json!({
            "project": "0123456789abcdef01234567",
            "container": "89abcdef0123456789abcdef",
            "groups": {
                "office": {"kind": "ip", "range": "10.0.0.0/8"},
                "api": {"kind": "token", "header": "X-Key", "value": "v"},
                "sso": {"kind": "jwt", "secret": "s", "algorithm": "HS256",
                        "sources": ["header:Authorization"], "claims": {"role": "admin"}},
                "staff": {"kind": "password", "username": "u", "password": HUNTER2_HASH, "salt": "pepper"}
            },
            "permissions": {
                "office": {"terminal": [1, 2], "http": "8000-8100", "files": true, "exec": false},
                "api": {"https": 443, "*": "*"}
            },
            "default": "allow",
            "enable_proxy": true,
            "file_version": 4,
            "etag": "file:v4"
        });
        let doc: Document = serde_json::from_value(text).unwrap();
        doc.validate().unwrap();
        assert_eq!(doc.default, DefaultPolicy::Allow);
        assert_eq!(doc.file_version, 4);
        assert_eq!(
            doc.permissions["office"]["terminal"],
            Access::Numbers(vec![1, 2])
        );
        let Group::Password { algorithm, .. } = &doc.groups["staff"] else {
            panic!("not a password group")
        };
        assert_eq!(algorithm, "sha256");
        let back: Document = serde_json::from_value(serde_json::to_value(&doc).unwrap()).unwrap();
        assert_eq!(back, doc);
        // omitted fields: deny, enabled
        let bare: Document = serde_json::from_value(json!({})).unwrap();
        assert_eq!(bare, Document::default());
        assert!(serde_json::to_value(&bare).unwrap().get("hooks").is_none());
        // secrets do not show in Debug
        let debug = format!("{doc:?}");
        assert!(!debug.contains(HUNTER2_HASH) && !debug.contains("pepper"));
    }

    fn field_of(group: Group) -> String {
        group.validate().unwrap_err().field
    }

    #[test]
    fn validation_of_ip_groups() {
        for bad in [
            "10.0.0.0",
            "10.0.0/8",
            "10.0.0.0.0/8",
            "256.0.0.0/8",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.1234/8",
            "::1/128",
            " 10.0.0.0/8",
            "10.0.0.0/-1",
        ] {
            assert_eq!(field_of(Group::Ip { range: bad.into() }), "range", "{bad}");
        }
        for good in [
            "10.0.0.0/8",
            "0.0.0.0/0",
            "255.255.255.255/32",
            "010.1.1.1/24",
        ] {
            Group::Ip { range: good.into() }.validate().unwrap();
        }
    }

    #[test]
    fn validation_of_jwt_groups() {
        let jwt = |secret: &str, algorithm: JwtAlg, sources: &[&str]| Group::Jwt {
            secret: secret.into(),
            algorithm,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            claims: BTreeMap::new(),
        };
        let err = jwt("s", JwtAlg::Hs256, &["param:token"])
            .validate()
            .unwrap_err();
        assert_eq!(err.field, "sources[0]");
        assert!(err.reason.contains("removed"));
        assert_eq!(
            field_of(jwt("s", JwtAlg::Hs256, &["query:x"])),
            "sources[0]"
        );
        assert_eq!(
            field_of(jwt("s", JwtAlg::Hs256, &["header:"])),
            "sources[0]"
        );
        assert_eq!(
            field_of(jwt("s", JwtAlg::Hs256, &["cookie:a", "header:bad name"])),
            "sources[1]"
        );
        assert_eq!(field_of(jwt("s", JwtAlg::Hs256, &[])), "sources");
        assert_eq!(field_of(jwt("", JwtAlg::Hs256, &["header:A"])), "secret");
        let long = "x".repeat(MAX_SECRET_CHARS + 1);
        assert_eq!(field_of(jwt(&long, JwtAlg::Hs256, &["header:A"])), "secret");
        jwt(&"x".repeat(MAX_SECRET_CHARS), JwtAlg::Hs256, &["header:A"])
            .validate()
            .unwrap();
        assert_eq!(field_of(jwt("s", JwtAlg::Rs256, &["header:A"])), "secret");
        assert_eq!(
            field_of(jwt(RSA_1024_PUB, JwtAlg::Rs256, &["header:A"])),
            "secret"
        );
        assert_eq!(
            field_of(jwt(EC_PUB, JwtAlg::Rs256, &["header:A"])),
            "secret"
        );
        assert_eq!(
            field_of(jwt(RSA_PUB, JwtAlg::Es256, &["header:A"])),
            "secret"
        );
        assert_eq!(
            field_of(jwt(EC_P384_PUB, JwtAlg::Es256, &["header:A"])),
            "secret"
        );
        let bad_claim = Group::Jwt {
            secret: "s".into(),
            algorithm: JwtAlg::Hs256,
            sources: vec!["header:A".into()],
            claims: [("roles".to_owned(), json!(["a"]))].into(),
        };
        assert_eq!(field_of(bad_claim), "claims.roles");
        // unknown algorithm is a parse error
        assert!(
            Group::from_request(
                "jwt",
                &json!({"secret": "s", "algorithm": "HS512", "sources": ["header:A"]})
            )
            .is_err()
        );
    }

    #[test]
    fn validation_of_token_and_password_groups() {
        assert_eq!(field_of(token(Some("X-Key"), Some("c"), None)), "header");
        assert_eq!(field_of(token(None, None, None)), "header");
        assert_eq!(field_of(token(Some("X-Key"), None, Some("p"))), "header");
        assert_eq!(field_of(token(Some("bad header"), None, None)), "header");
        assert_eq!(field_of(token(None, None, Some("a&b"))), "param");
        token(None, Some("session"), None).validate().unwrap();
        token(None, None, Some("key")).validate().unwrap();
        let empty_value = Group::Token {
            header: Some("X".into()),
            cookie: None,
            param: None,
            value: String::new(),
        };
        assert_eq!(field_of(empty_value), "value");
        let err = Group::from_request(
            "token",
            &json!({"header": "X-Key", "cookie": "k", "value": "v"}),
        )
        .unwrap_err();
        assert_eq!(err.field, "header");
        assert_eq!(
            Group::from_request("oauth", &json!({})).unwrap_err().field,
            "kind"
        );

        let plain = Group::Password {
            username: "u".into(),
            password: "hunter2".into(),
            salt: "s".into(),
            algorithm: "sha256".into(),
        };
        assert_eq!(field_of(plain), "password");
        assert_eq!(field_of(Group::password("a:b", "p", "s")), "username");
        assert_eq!(field_of(Group::password("", "p", "s")), "username");
        assert_eq!(field_of(Group::password("u", "p", "")), "salt");
        let md5 = Group::from_request(
            "password",
            &json!({"username": "u", "password": "p", "salt": "s", "algorithm": "md5"}),
        )
        .unwrap_err();
        assert_eq!(md5.field, "algorithm");
    }

    #[test]
    fn validation_of_access_rules() {
        for program in ["files", "services", "notifications", "exec", "n", "logs"] {
            for access in [
                Access::Number(1),
                Access::Numbers(vec![1]),
                Access::Text("*".into()),
                Access::Text("1-2".into()),
            ] {
                let err = access.validate_for(program).unwrap_err();
                assert_eq!(err.field, "access");
                assert!(err.reason.contains("true or false"), "{program} {access:?}");
            }
            Access::Bool(true).validate_for(program).unwrap();
            Access::Bool(false).validate_for(program).unwrap();
        }
        for good in [
            Access::Number(8080),
            Access::Numbers(vec![80, 443]),
            Access::Text("*".into()),
            Access::Text("8000-8100".into()),
            Access::Text("8080".into()),
            Access::Bool(true),
        ] {
            good.validate_for("http").unwrap();
            good.validate_for("terminal").unwrap();
        }
        for bad in [
            Access::Number(0),
            Access::Number(65536),
            Access::Numbers(vec![80, 70000]),
            Access::Text("0-10".into()),
            Access::Text("8100-8000".into()),
            Access::Text("80-".into()),
            Access::Text("all".into()),
        ] {
            assert!(bad.validate_for("https").is_err(), "{bad:?}");
        }
        Access::Number(0).validate_for("terminal").unwrap();
        assert!(Access::Text("5-1".into()).validate_for("terminal").is_err());
    }

    #[test]
    fn validation_of_documents() {
        let mut doc = doc_with(Group::Ip {
            range: "10.0.0.0/33".into(),
        });
        assert_eq!(doc.validate().unwrap_err().field, "groups.g.range");
        doc.groups.insert(
            "g".into(),
            Group::Ip {
                range: "10.0.0.0/8".into(),
            },
        );
        doc.validate().unwrap();
        doc.permissions
            .get_mut("g")
            .unwrap()
            .insert("files".into(), Access::Number(2));
        let err = doc.validate().unwrap_err();
        assert_eq!(err.field, "permissions.g.files");
        assert!(err.to_string().starts_with("permissions.g.files: "));
        doc.permissions
            .get_mut("g")
            .unwrap()
            .insert("files".into(), Access::Bool(true));
        doc.validate().unwrap();
        // the same program twice, through a synonym
        doc.permissions
            .get_mut("g")
            .unwrap()
            .insert("tty".into(), Access::Bool(true));
        assert_eq!(doc.validate().unwrap_err().field, "permissions.g.tty");
        doc.permissions.get_mut("g").unwrap().remove("tty");
        doc.permissions
            .get_mut("g")
            .unwrap()
            .insert("Bad Name".into(), Access::Bool(true));
        assert_eq!(doc.validate().unwrap_err().field, "permissions.g.Bad Name");
        doc.permissions.get_mut("g").unwrap().remove("Bad Name");
        doc.container = Some("xyz".into());
        assert_eq!(doc.validate().unwrap_err().field, "container");
        doc.container = None;
        doc.hooks = json!([1]);
        assert_eq!(doc.validate().unwrap_err().field, "hooks");
        doc.hooks = json!({});
        doc.validate().unwrap();
        // rules for a group the document does not define are allowed (project groups)
        doc.permissions.insert(
            "elsewhere".into(),
            [("terminal".to_owned(), Access::Bool(true))].into(),
        );
        doc.validate().unwrap();
        doc.groups.insert(
            "bad/name".into(),
            Group::Ip {
                range: "10.0.0.0/8".into(),
            },
        );
        assert_eq!(doc.validate().unwrap_err().field, "groups.bad/name");
    }

    #[test]
    fn base64_and_helpers() {
        assert_eq!(b64_decode(b"aGVsbG8", true).unwrap(), b"hello");
        assert_eq!(b64_decode(b"aGVsbG8=", false).unwrap(), b"hello");
        assert_eq!(
            b64_decode(b"-_-_", true).unwrap(),
            b64_decode(b"+/+/", false).unwrap()
        );
        assert!(b64_decode(b"+/", true).is_none());
        assert!(b64_decode(b"a", true).is_none());
        assert_eq!(b64_decode(b"", true).unwrap(), b"");
        assert_eq!(strip_bearer("  bearer   abc "), "abc");
        assert_eq!(strip_bearer("Bearer"), "Bearer");
        assert_eq!(percent_decode("a%2Bb%zz%4"), b"a+b%zz%4");
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert_eq!(canonical_program("ttyd"), "terminal");
        assert_eq!(canonical_program("http"), "http");
    }
}
