//! The permission engine's tests: document checks, every group kind, JWT (HS256, RS256, ES256)
//! and the decision for a request.

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
