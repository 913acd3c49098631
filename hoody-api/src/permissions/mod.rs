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
mod tests;
