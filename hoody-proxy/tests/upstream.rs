//! The proxy's own HTTP/1.1 upstream side, driven by curl through a real proxy (in-process,
//! on loopback) to scripted upstream servers that behave well and badly: connection reuse,
//! upstreams that close idle connections, every response framing, response splitting attempts,
//! request bodies re-framed, early answers to uploads and broken heads.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hoody_api::{ContainerStatus, Event};
use hoody_proxy::hostname::Domains;
use hoody_proxy::routes::RouteMap;
use hoody_proxy::{Proxy, ProxyConfig};

const PROJECT: &str = "0123456789abcdef01234567";
const CONTAINER: &str = "89abcdef0123456789abcdef";

/// A request as the upstream received it.
#[derive(Debug, Default)]
struct Received {
    head: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    /// The request target.
    fn path(&self) -> &str {
        self.head.split(' ').nth(1).unwrap()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request (head, and body by its framing); `None` at the end of the stream.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut rec = Received::default();
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    rec.head = line.trim_end().to_string();
    loop {
        line.clear();
        r.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').unwrap();
        rec.headers
            .push((n.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    if let Some(n) = rec.header("content-length") {
        let mut body = vec![0; n.parse().unwrap()];
        r.read_exact(&mut body).ok()?;
        rec.body = body;
    } else if rec.header("transfer-encoding") == Some("chunked") {
        loop {
            line.clear();
            r.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim_end(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            r.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            rec.body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(rec)
}

/// An upstream on loopback: `serve(connection number, stream, reader)` runs per connection.
struct Upstream {
    port: u16,
    connections: Arc<AtomicUsize>,
}

fn upstream<F>(serve: F) -> Upstream
where
    F: Fn(usize, &mut TcpStream, &mut BufReader<TcpStream>) + Send + Sync + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let (count, serve) = (connections.clone(), Arc::new(serve));
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            let n = count.fetch_add(1, Ordering::SeqCst) + 1;
            let serve = serve.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                serve(n, &mut s, &mut r);
            });
        }
    });
    Upstream { port, connections }
}

/// A proxy on loopback whose one container lives at 127.0.0.1: its address.
fn proxy() -> SocketAddr {
    let routes = RouteMap::new();
    routes.replace_all(&[]);
    routes.apply_event(&Event {
        seq: 1,
        kind: "container.status".into(),
        project_id: Some(PROJECT.into()),
        container_id: Some(CONTAINER.into()),
        status: Some(ContainerStatus::Running),
        ip: Some("127.0.0.1".into()),
        time: String::new(),
    });
    let cfg = ProxyConfig::new(Domains::new("hoody.test", "node-1").unwrap());
    let p = Proxy::new(cfg, routes, None);
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    l.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).unwrap();
            let _ = p.serve_plain(l).await;
        });
    });
    addr
}

fn host(port: u16) -> String {
    format!("{PROJECT}-{CONTAINER}-http-{port}.node-1.containers.hoody.test")
}

/// curl through the proxy: (status, body).
fn curl(proxy: SocketAddr, port: u16, path: &str, extra: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "--http1.1", "-o", "-", "-w", "\n%{http_code}", "-H"])
        .arg(format!("Host: {}", host(port)))
        .args(extra)
        .arg(format!("http://{proxy}{path}"))
        .output()
        .unwrap();
    let mut body = out.stdout;
    let nl = body.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&body[nl + 1..]).parse().unwrap();
    body.truncate(nl);
    (code, body)
}

fn respond(s: &mut TcpStream, raw: &str) {
    s.write_all(raw.as_bytes()).unwrap();
}

/// A 200 with `body`, framed by its length.
fn respond_ok(s: &mut TcpStream, body: &str) {
    respond(
        s,
        &format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
}

#[test]
fn keep_alive_reuses_one_upstream_connection() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = seen.clone();
    let up = upstream(move |n, s, r| {
        let mut i = 0;
        while let Some(req) = read_request(r) {
            i += 1;
            let body = format!("{n}:{i}");
            keep.lock().unwrap().push(req);
            respond(
                s,
                &format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
                    body.len()
                ),
            );
        }
    });
    let p = proxy();
    // The client's own forwarding headers, and hop-by-hop ones (also those its Connection
    // header names), never reach the upstream.
    let spoof = [
        "-H",
        "X-Forwarded-For: 6.6.6.6",
        "-H",
        "Forwarded: for=6.6.6.6",
        "-H",
        "X-Forwarded-Host: evil.example",
        "-H",
        "Connection: x-secret",
        "-H",
        "X-Secret: 1",
        "-H",
        "Keep-Alive: 5",
        "-H",
        "X-Kept: yes",
    ];
    for i in 1..=5 {
        let (code, body) = curl(p, up.port, &format!("/x?i={i}"), &spoof);
        assert_eq!(
            (code, String::from_utf8(body).unwrap()),
            (200, format!("1:{i}"))
        );
    }
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
    let seen = seen.lock().unwrap();
    let first = &seen[0];
    assert_eq!(first.head, "GET /x?i=1 HTTP/1.1");
    assert_eq!(first.header("host"), Some(host(up.port).as_str()));
    assert_eq!(first.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(first.header("x-forwarded-proto"), Some("http"));
    // Host goes as sent: no X-Forwarded-Host (a client's is dropped), no host= in Forwarded.
    assert!(first.header("x-forwarded-host").is_none());
    assert_eq!(first.header("forwarded"), Some("for=127.0.0.1;proto=http"));
    assert_eq!(first.header("x-kept"), Some("yes"));
    for gone in ["x-secret", "keep-alive", "connection"] {
        assert!(first.header(gone).is_none(), "{gone} forwarded");
    }
    for once in ["host", "x-forwarded-for", "forwarded"] {
        let n = first.headers.iter().filter(|(n, _)| n == once).count();
        assert_eq!(n, 1, "{once} sent {n} times");
    }
    assert!(first.header("content-length").is_none());
    assert!(first.header("transfer-encoding").is_none());
}

#[test]
fn hop_by_hop_response_headers_stay_with_the_upstream() {
    let up = upstream(|_, s, r| {
        while read_request(r).is_some() {
            respond(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive, X-Up-Secret\r\n\
                 X-Up-Secret: 1\r\nKeep-Alive: timeout=5\r\nX-Up-Kept: yes\r\n\r\nok",
            );
        }
    });
    let p = proxy();
    for _ in 0..2 {
        let (code, out) = curl(p, up.port, "/", &["-i"]);
        assert_eq!(code, 200);
        let out = String::from_utf8(out).unwrap().to_ascii_lowercase();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "ok");
        assert!(head.contains("\r\nx-up-kept: yes"), "{head}");
        for gone in [
            "x-up-secret",
            "keep-alive:",
            "connection: keep-alive, x-up-secret",
        ] {
            assert!(!head.contains(gone), "{gone} reached the client: {head}");
        }
    }
    // The response did not say close: its connection was reused.
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
}

#[test]
fn an_upstream_closing_idle_connections_is_met_with_a_new_one() {
    // Each connection answers one request (without saying so) and closes, as an upstream
    // whose keep-alive timeout has passed does.
    let up = upstream(|n, s, r| {
        if read_request(r).is_some() {
            respond_ok(s, &n.to_string());
        }
    });
    let p = proxy();
    for (i, method) in ["GET", "GET", "DELETE", "POST", "GET"].iter().enumerate() {
        // Let the close reach the proxy before the next request, or not: both must work.
        if i % 2 == 1 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let (code, body) = curl(p, up.port, "/", &["-X", method]);
        assert_eq!(
            code,
            200,
            "{method} #{i}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(body, (i + 1).to_string().as_bytes(), "{method} #{i}");
    }
}

#[test]
fn every_response_framing_arrives_intact() {
    let up = upstream(|_, s, r| {
        while let Some(req) = read_request(r) {
            match req.path() {
                "/chunked" => respond(
                    s,
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                     5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n",
                ),
                "/close" => {
                    respond(s, "HTTP/1.1 200 OK\r\n\r\nuntil the end");
                    return;
                }
                "/empty" => respond(s, "HTTP/1.1 204 No Content\r\n\r\n"),
                "/interim" => respond(
                    s,
                    "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                     HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal",
                ),
                "/big" => {
                    let body = vec![b'z'; 3 << 20];
                    respond(
                        s,
                        &format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len()),
                    );
                    s.write_all(&body).unwrap();
                }
                // A HEAD answer has no body.
                _ if req.head.starts_with("HEAD ") => {
                    respond(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
                }
                _ => respond(s, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            }
        }
    });
    let p = proxy();
    assert_eq!(
        curl(p, up.port, "/chunked", &[]),
        (200, b"hello, world".to_vec())
    );
    assert_eq!(
        curl(p, up.port, "/close", &[]),
        (200, b"until the end".to_vec())
    );
    assert_eq!(curl(p, up.port, "/empty", &[]), (204, Vec::new()));
    assert_eq!(curl(p, up.port, "/interim", &[]), (200, b"final".to_vec()));
    let (code, big) = curl(p, up.port, "/big", &[]);
    assert_eq!((code, big.len()), (200, 3 << 20));
    assert!(big.iter().all(|&b| b == b'z'));
    // HEAD: the length is kept, no body is waited for, the connection is reused.
    let before = up.connections.load(Ordering::SeqCst);
    let out = Command::new("curl")
        .args(["-s", "-I", "--http1.1", "-H"])
        .arg(format!("Host: {}", host(up.port)))
        .arg(format!("http://{p}/head"))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-length: 2"), "{head}");
    assert_eq!(curl(p, up.port, "/", &[]), (200, b"ok".to_vec()));
    assert_eq!(up.connections.load(Ordering::SeqCst), before);
}

#[test]
fn a_response_cannot_smuggle_a_second_one_onto_the_connection() {
    // The upstream sends its answer with bytes after it (a second response, for whoever gets
    // the connection next), or with both a length and chunked framing.
    let up = upstream(|n, s, r| {
        while let Some(req) = read_request(r) {
            match req.path() {
                "/split" => respond(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
                     HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON",
                ),
                "/both" => respond(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
                     6\r\nchunky\r\n0\r\n\r\n\
                     HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nPOISON",
                ),
                _ => respond_ok(s, &n.to_string()),
            }
        }
    });
    let p = proxy();
    // Each bad answer is the last on its connection: the next request gets a new one.
    assert_eq!(curl(p, up.port, "/split", &[]), (200, b"hello".to_vec()));
    assert_eq!(curl(p, up.port, "/", &[]), (200, b"2".to_vec()));
    assert_eq!(curl(p, up.port, "/both", &[]), (200, b"chunky".to_vec()));
    assert_eq!(curl(p, up.port, "/", &[]), (200, b"3".to_vec()));
}

#[test]
fn bad_response_heads_are_a_502() {
    let up = upstream(|_, s, r| {
        if let Some(req) = read_request(r) {
            match req.path() {
                "/fold" => respond(
                    s,
                    "HTTP/1.1 200 OK\r\nA: b\r\n c\r\nContent-Length: 0\r\n\r\n",
                ),
                "/lengths" => respond(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                ),
                "/switch" => respond(s, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n"),
                "/garbage" => respond(s, "SSH-2.0-OpenSSH\r\n\r\n"),
                _ => {
                    // Half a body, then the end.
                    respond(s, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf");
                }
            }
        }
    });
    let p = proxy();
    for path in ["/fold", "/lengths", "/switch", "/garbage"] {
        let (code, body) = curl(p, up.port, path, &[]);
        assert_eq!(code, 502, "{path}: {}", String::from_utf8_lossy(&body));
    }
    // A body cut short: the client's response is cut short too (curl sees a transfer error),
    // never completed with made-up bytes.
    let out = Command::new("curl")
        .args(["-s", "--http1.1", "-H"])
        .arg(format!("Host: {}", host(up.port)))
        .arg(format!("http://{p}/short"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(b"half".starts_with(&out.stdout), "{:?}", out.stdout);
}

#[test]
fn request_bodies_are_reframed() {
    let up = upstream(|_, s, r| {
        while let Some(req) = read_request(r) {
            let framing = if req.header("transfer-encoding").is_some() {
                "chunked".to_string()
            } else {
                format!("length {}", req.header("content-length").unwrap_or("none"))
            };
            let expect = req.header("expect").unwrap_or("-");
            respond_ok(s, &format!("{framing} {} {expect}", req.body.len()));
        }
    });
    let p = proxy();
    let (code, body) = curl(p, up.port, "/", &["--data-binary", "hello"]);
    assert_eq!(
        (code, String::from_utf8(body).unwrap()),
        (200, "length 5 5 -".into())
    );
    let (code, body) = curl(
        p,
        up.port,
        "/",
        &[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "chunked body",
        ],
    );
    assert_eq!(
        (code, String::from_utf8(body).unwrap()),
        (200, "chunked 12 -".into())
    );
    // A large body with Expect: 100-continue (curl asks past 1 MiB): not forwarded, the body
    // arrives whole.
    let big = std::env::temp_dir().join(format!("hoodytest-upstream-{}", std::process::id()));
    std::fs::write(&big, vec![b'b'; 2 << 20]).unwrap();
    let (code, body) = curl(
        p,
        up.port,
        "/",
        &[
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &format!("@{}", big.display()),
        ],
    );
    let _ = std::fs::remove_file(&big);
    assert_eq!(
        (code, String::from_utf8(body).unwrap()),
        (200, format!("length {} {} -", 2 << 20, 2 << 20))
    );
    // A POST with an empty body keeps its Content-Length: 0.
    let (code, body) = curl(p, up.port, "/", &["-X", "POST", "-H", "Content-Length: 0"]);
    assert_eq!(
        (code, String::from_utf8(body).unwrap()),
        (200, "length 0 0 -".into())
    );
}

#[test]
fn an_upstream_answering_an_upload_early_is_heard() {
    let up = upstream(|_, s, r| {
        // Refuse without reading the body, stop writing, and drain what comes in.
        let mut line = String::new();
        while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) && line != "\r\n" {
            line.clear();
        }
        respond(
            s,
            "HTTP/1.1 413 Content Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big!",
        );
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = std::io::copy(r, &mut std::io::sink());
    });
    let p = proxy();
    let big = std::env::temp_dir().join(format!("hoodytest-early-{}", std::process::id()));
    std::fs::write(&big, vec![b'b'; 8 << 20]).unwrap();
    let (code, body) = curl(
        p,
        up.port,
        "/",
        &["--data-binary", &format!("@{}", big.display())],
    );
    let _ = std::fs::remove_file(&big);
    assert_eq!((code, body), (413, b"too big!".to_vec()));
}
