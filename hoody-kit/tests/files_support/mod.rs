//! Shared by the files service's tests: the router served in-process on 127.0.0.1:0 over a
//! temporary root, a sentinel directory beside (outside) that root, and curl.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

/// A running files service over `root`; `outside` sits next to the root, with a sentinel.
pub struct Srv {
    pub base: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
    pub url: String,
    pub port: u16,
    rt: Option<tokio::runtime::Runtime>,
}

/// What the sentinel file outside the root contains.
pub const SENTINEL: &str = "SENTINEL-outside-the-root-7f3a";

impl Srv {
    pub fn start() -> Srv {
        Srv::start_at(None)
    }

    /// Serves `root` instead of a fresh directory (when given).
    pub fn start_at(served: Option<PathBuf>) -> Srv {
        let base = tempfile::Builder::new()
            .prefix("hoodytest-files-")
            .tempdir()
            .unwrap();
        let root = base.path().join("root");
        let outside = base.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::create_dir_all(base.path().join("storage")).unwrap();
        std::fs::create_dir_all(base.path().join("curl")).unwrap();
        std::fs::write(outside.join("secret.txt"), SENTINEL).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let ctx = Arc::new(
            hoody_kit::Context::builder()
                .storage(base.path().join("storage"))
                .files_root(served.as_deref().unwrap_or(&root))
                .build(),
        );
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        rt.spawn(hoody_kit::serve_on(listener, hoody_kit::files::router(ctx)));
        Srv {
            base,
            root,
            outside,
            url: format!("http://127.0.0.1:{port}"),
            port,
            rt: Some(rt),
        }
    }

    /// `path` inside the served root, on disk.
    pub fn disk(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Writes a file inside the root (parents created).
    pub fn put_file(&self, path: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.disk(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }

    /// The sentinel is still there, unchanged, and nothing else appeared outside.
    pub fn assert_outside_untouched(&self) {
        assert_eq!(
            std::fs::read_to_string(self.outside.join("secret.txt")).unwrap(),
            SENTINEL,
            "the sentinel outside the root changed"
        );
        let names: Vec<String> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["secret.txt"],
            "something was created outside the root"
        );
        let mut top: Vec<String> = std::fs::read_dir(self.base.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(
            top,
            ["curl", "outside", "root", "storage"],
            "something was created beside the root"
        );
    }

    /// `curl` with `args` against `path` (as sent: `--path-as-is`, no normalization).
    pub fn curl(&self, method: &str, path: &str, args: &[&str]) -> Resp {
        curl_url(
            &format!("{}{}", self.url, path),
            method,
            args,
            &self.base.path().join("curl"),
        )
    }

    pub fn get(&self, path: &str) -> Resp {
        self.curl("GET", path, &[])
    }
}

impl Drop for Srv {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A response as curl saw it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    /// The last header block, lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// An error response: the status and the JSON `code`.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.text());
        let v = self.json();
        assert_eq!(v["code"], code, "body: {v}");
        assert!(v["error"].as_str().is_some_and(|s| !s.is_empty()), "{v}");
        assert!(v["timestamp"].is_string(), "{v}");
    }
}

static N: AtomicU64 = AtomicU64::new(0);

pub fn curl_url(url: &str, method: &str, args: &[&str], tmp: &Path) -> Resp {
    let n = N.fetch_add(1, Ordering::Relaxed);
    let hdr = tmp.join(format!(".curl-h-{n}"));
    let body = tmp.join(format!(".curl-b-{n}"));
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-g", "--path-as-is", "--max-time", "120", "-D"])
        .arg(&hdr)
        .arg("-o")
        .arg(&body)
        .args(["-w", "%{http_code}"]);
    match method {
        "HEAD" => {
            cmd.arg("-I");
        }
        "GET" => {}
        m => {
            cmd.args(["-X", m]);
        }
    }
    cmd.args(args).arg(url);
    let out = cmd.output().expect("run curl");
    let status: u16 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl {url}: {}", String::from_utf8_lossy(&out.stderr)));
    let raw = std::fs::read_to_string(&hdr).unwrap_or_default();
    let block = raw
        .split("\r\n\r\n")
        .filter(|b| b.starts_with("HTTP/"))
        .last()
        .unwrap_or("");
    let headers = block
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    // With -I curl writes the headers where the body would go: a HEAD has no body.
    let body_bytes = if method == "HEAD" {
        Vec::new()
    } else {
        std::fs::read(&body).unwrap_or_default()
    };
    let _ = std::fs::remove_file(&hdr);
    let _ = std::fs::remove_file(&body);
    Resp {
        status,
        headers,
        body: body_bytes,
    }
}

/// SHA-256 hex of bytes.
pub fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A raw HEAD request: the status line and headers, and whatever bytes followed them
/// before the server closed the connection (there must be none).
pub fn raw_head(port: u16, path: &str) -> (String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        c,
        "HEAD {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = Vec::new();
    c.read_to_end(&mut all).unwrap();
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete header block")
        + 4;
    (
        String::from_utf8_lossy(&all[..end]).to_ascii_lowercase(),
        all[end..].to_vec(),
    )
}
