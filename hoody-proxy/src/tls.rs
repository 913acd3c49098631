//! TLS: a wildcard certificate from files, or, when none is configured, a local CA and a
//! wildcard certificate made with rcgen and kept in a directory, where a user can take
//! `ca.pem` and trust it (browsers, `curl --cacert`).
//!
//! The certificate covers `*.{server}.containers.{apex}` (every service and alias host of this
//! server) and `api.{apex}`. ALPN offers `h2` then `http/1.1`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::hostname::Domains;

/// A TLS setup problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was attempted.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Generating or using the certificate failed.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The host names the certificate must cover.
pub fn names(d: &Domains) -> Vec<String> {
    vec![
        format!("*.{}.containers.{}", d.server, d.apex),
        format!("api.{}", d.apex),
    ]
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

fn write(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| TlsError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io)?;
    std::io::Write::write_all(&mut f, data).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The certificate chain and key [`ensure_local_ca`] keeps in `dir`.
pub fn local_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Makes sure `dir` holds a CA (`ca.pem`, `ca.key`) and a certificate for [`names`]
/// (`cert.pem`, `key.pem`) signed by it; makes new ones when missing or when the names
/// changed. Returns the certificate and key paths.
pub fn ensure_local_ca(dir: &Path, d: &Domains) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert, key) = local_certificate(dir);
    let names_file = dir.join("names");
    let want = names(d).join("\n");
    if cert.exists()
        && key.exists()
        && std::fs::read_to_string(&names_file).ok() == Some(want.clone())
    {
        return Ok((cert, key));
    }
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    let err = |e: rcgen::Error| TlsError::Tls(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("hoody local CA ({})", d.server),
    );
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let leaf_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut leaf = rcgen::CertificateParams::new(names(d)).map_err(err)?;
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, names(d)[0].clone());
    let leaf_cert = leaf.signed_by(&leaf_key, &ca_cert, &ca_key).map_err(err)?;
    write(
        &dir.join("ca.key"),
        ca_key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write(&dir.join("ca.pem"), ca_cert.pem().as_bytes(), 0o644)?;
    write(&key, leaf_key.serialize_pem().as_bytes(), 0o600)?;
    let chain = format!("{}{}", leaf_cert.pem(), ca_cert.pem());
    write(&cert, chain.as_bytes(), 0o644)?;
    write(&names_file, want.as_bytes(), 0o644)?;
    Ok((cert, key))
}

/// A rustls server configuration from a PEM certificate chain and key (ALPN h2, http/1.1).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert.to_path_buf(),
            message: "no certificate in it".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| TlsError::Pem {
        path: key.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut cfg =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key_der)
            .map_err(|e| TlsError::Tls(e.to_string()))?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}
