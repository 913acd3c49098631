use super::*;
use std::net::TcpListener;
use std::sync::mpsc;
use std::thread;

/// Serves `answers`, one per connection, on 127.0.0.1; the requests received arrive on
/// the channel (head and body as text).
fn serve(answers: Vec<Vec<u8>>) -> (Client, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for answer in answers {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut req = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                req.push_str(&line);
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            req.push_str(&String::from_utf8(body).unwrap());
            tx.send(req).unwrap();
            let mut s = s;
            s.write_all(&answer).unwrap();
        }
    });
    let c = Client::tcp(
        &format!("http://127.0.0.1:{port}"),
        Some("hdy_secret".into()),
    )
    .unwrap()
    .with_read_timeout(Some(Duration::from_secs(10)));
    (c, rx)
}

fn container_json(status: &str) -> String {
    format!(
        r##"{{"id":"65f0c0ffee0123456789abcd","project_id":"65f0c0ffee0123456789abce",
        "project_alias":"p","server_id":"65f0c0ffee0123456789abcf","server_name":"local",
        "name":"dev","color":"#112233","container_image":"debian-13","hoody_kit":true,
        "dev_kit":true,"ai":false,"autostart":true,"status":"{status}","environment_vars":{{}},
        "ssh_public_key":null,"comment":null,"realm_ids":[],"source_container_id":null,
        "ip":null,"error":null,"created_at":"2026-01-01T00:00:00Z",
        "updated_at":"2026-01-01T00:00:00Z"}}"##
    )
}

fn envelope(status: u16, data: &str) -> String {
    format!(r#"{{"statusCode":{status},"message":"ok","data":{data}}}"#)
}

fn with_length(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn chunked(status: &str, body: &str, sizes: &[usize]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    let mut rest = body.as_bytes();
    for (i, s) in sizes.iter().cycle().enumerate() {
        if rest.is_empty() {
            break;
        }
        let n = (*s).min(rest.len());
        // Chunk extensions are allowed and ignored.
        let ext = if i % 2 == 0 { ";x=y" } else { "" };
        out.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
    out
}

#[test]
fn content_length_body_and_request_shape() {
    let body = envelope(200, &container_json("running"));
    let (c, rx) = serve(vec![with_length("200 OK", &body)]);
    let got = c.get_container("65f0c0ffee0123456789abcd").unwrap();
    assert_eq!(got.status, crate::ContainerStatus::Running);
    let req = rx.recv().unwrap();
    assert!(
        req.starts_with("GET /api/v1/containers/65f0c0ffee0123456789abcd HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(
        req.contains("Authorization: Bearer hdy_secret\r\n"),
        "{req}"
    );
    assert!(req.contains("Connection: close\r\n"), "{req}");
    assert!(req.contains("Host: 127.0.0.1:"), "{req}");
}

#[test]
fn chunked_body_with_extensions_and_trailers() {
    let body = envelope(200, &container_json("stopped"));
    let (c, _rx) = serve(vec![chunked("200 OK", &body, &[1, 7, 300, 2])]);
    let got = c.get_container("65f0c0ffee0123456789abcd").unwrap();
    assert_eq!(got.status, crate::ContainerStatus::Stopped);
    assert_eq!(got.name, "dev");
}

#[test]
fn body_until_eof_and_interim_answers() {
    let body = envelope(200, r#"{"environment_vars":{"A":"1"}}"#);
    let answer = format!("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n{body}");
    let (c, _rx) = serve(vec![answer.into_bytes()]);
    let env = c.get_env("65f0c0ffee0123456789abcd").unwrap();
    assert_eq!(env.environment_vars["A"], "1");
}

#[test]
fn error_bodies_become_api_errors() {
    let err = r#"{"statusCode":404,"error":"CONTAINER_NOT_FOUND","message":"container 65f0c0ffee0123456789abcd not found"}"#;
    let (c, _rx) = serve(vec![
        chunked("404 Not Found", err, &[10]),
        with_length("502 Bad Gateway", "upstream <b>down</b>"),
        with_length("503 Service Unavailable", ""),
    ]);
    let e = c.get_container("65f0c0ffee0123456789abcd").unwrap_err();
    assert!(e.is_not_found(), "{e:?}");
    assert_eq!(e.code(), Some("CONTAINER_NOT_FOUND"));
    assert!(e.to_string().contains("65f0c0ffee0123456789abcd"), "{e}");

    let e = c.servers().unwrap_err();
    let ClientError::Api(a) = e else {
        panic!("{e:?}")
    };
    assert_eq!((a.status, a.code.as_str()), (502, "HTTP_502"));
    assert_eq!(a.message, "upstream <b>down</b>");

    let e = c.servers().unwrap_err();
    assert_eq!(e.status(), Some(503));
    assert!(e.to_string().contains("Service Unavailable"), "{e}");
}

#[test]
fn bodies_queries_and_encoded_segments() {
    let snap = r#"{"name":"a b","alias":"x","created_at":"t","expires_at":null,"stateful":false,"size":null}"#;
    let list = r#"{"containers":[],"pagination":{"total":0,"page":2,"limit":5,"totalPages":0}}"#;
    let (c, rx) = serve(vec![
        with_length("200 OK", &envelope(200, snap)),
        with_length("200 OK", &envelope(200, list)),
        with_length("200 OK", &envelope(200, "null")),
        with_length(
            "200 OK",
            &envelope(
                200,
                r#"{"operation":"force-stop","container_id":"c","project_id":"p","message":"m","status":"stopped"}"#,
            ),
        ),
    ]);
    let s = c
        .set_snapshot_alias(
            "c1",
            "a b/..",
            &SnapshotAlias {
                alias: Some("x".into()),
            },
        )
        .unwrap();
    assert_eq!(s.alias.as_deref(), Some("x"));
    let req = rx.recv().unwrap();
    assert!(
        req.starts_with("PUT /api/v1/containers/c1/snapshots/a%20b%2F../alias HTTP/1.1"),
        "{req}"
    );
    assert!(req.contains("Content-Type: application/json\r\n"), "{req}");
    assert!(req.ends_with("\r\n\r\n{\"alias\":\"x\"}"), "{req}");

    let q = ListQuery {
        page: Some(2),
        limit: Some(5),
        sort_by: Some("created_at".into()),
        sort_order: Some("a&b".into()),
        include_deleting: Some(true),
        ..Default::default()
    };
    c.list_containers(Some("p1"), &q).unwrap();
    let req = rx.recv().unwrap();
    assert!(
        req.starts_with(
            "GET /api/v1/projects/p1/containers?page=2&limit=5&sort_by=created_at&sort_order=a%26b&include_deleting=true HTTP/1.1"
        ),
        "{req}"
    );

    c.delete_snapshot("c1", "..").unwrap();
    let req = rx.recv().unwrap();
    assert!(
        req.starts_with("DELETE /api/v1/containers/c1/snapshots/%2E%2E HTTP/1.1"),
        "{req}"
    );

    let r = c.operate("c1", Operation::ForceStop).unwrap();
    assert_eq!(r.operation, Operation::ForceStop);
    let req = rx.recv().unwrap();
    assert!(
        req.starts_with("POST /api/v1/containers/c1/force-stop HTTP/1.1"),
        "{req}"
    );
    assert!(req.contains("Content-Length: 2\r\n"), "{req}");

    // Empty ids fail before any request, with the server's own error.
    let e = c.get_container("").unwrap_err();
    assert_eq!(e.code(), Some("INVALID_ID_FORMAT"));
}

#[test]
fn raw_requests_send_what_they_are_given() {
    let (c, rx) = serve(vec![with_length(
        "400 Bad Request",
        r#"{"statusCode":400,"error":"INVALID_JSON","message":"nope"}"#,
    )]);
    let r = c
        .request_raw(
            "POST",
            "/api/v1/projects",
            Some(b"{not json"),
            &[("Content-Type", "text/plain"), ("X-Test", "1")],
        )
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.api_error().code, "INVALID_JSON");
    let req = rx.recv().unwrap();
    assert!(req.contains("Content-Type: text/plain\r\n"), "{req}");
    assert!(!req.contains("application/json\r\nContent"), "{req}");
    assert!(req.contains("X-Test: 1\r\n"), "{req}");
    assert!(req.ends_with("{not json"), "{req}");
    assert!(c.request_raw("GET", "/x\r\nEvil: 1", None, &[]).is_err());
}

#[test]
fn truncated_and_garbled_answers_are_errors() {
    let (c, _rx) = serve(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"statusCode\"".to_vec(),
        b"SSH-2.0-OpenSSH\r\n".to_vec(),
        with_length(
            "200 OK",
            "{\"statusCode\":200,\"message\":\"\",\"data\":{}}",
        ),
    ]);
    let e = c.servers().unwrap_err();
    assert!(matches!(e, ClientError::Io { .. }), "{e:?}");
    assert!(
        e.to_string().contains("ended after 13 of its 100 bytes"),
        "{e}"
    );
    let e = c.servers().unwrap_err();
    assert!(matches!(e, ClientError::Protocol(_)), "{e:?}");
    let e = c.servers().unwrap_err();
    assert!(e.to_string().contains("unexpected answer"), "{e}");
}

#[test]
fn event_stream() {
    let ev = r#"{"seq":7,"type":"container.status","project_id":"p","container_id":"c","status":"running","ip":"10.0.0.2","time":"t"}"#;
    let stream = format!(
        ": keepalive\n\nid: 7\nevent: container.status\ndata: {ev}\n\nevent: lagged\ndata: {{\"missed\":3}}\n\ndata: {{bad\n\n: keepalive\n\n"
    );
    let (c, rx) = serve(vec![chunked("200 OK", &stream, &[5, 40])]);
    let mut events = c.events().unwrap();
    let first = events.next().unwrap().unwrap();
    assert_eq!(first.seq, 7);
    assert_eq!(first.kind, "container.status");
    assert_eq!(events.last_event_id(), Some("7"));
    assert!(matches!(
        events.next(),
        Some(Err(ClientError::Lagged { missed: 3 }))
    ));
    assert!(matches!(events.next(), Some(Err(ClientError::Protocol(_)))));
    assert!(events.next().is_none());
    let req = rx.recv().unwrap();
    assert!(req.contains("Accept: text/event-stream\r\n"), "{req}");
}

#[test]
fn wait_for_polls_until_the_predicate_holds() {
    let answers = ["creating", "creating", "running"]
        .iter()
        .map(|s| with_length("200 OK", &envelope(200, &container_json(s))))
        .collect();
    let (c, _rx) = serve(answers);
    let seen = std::cell::RefCell::new(Vec::new());
    let got = c
        .wait_for(
            "65f0c0ffee0123456789abcd",
            |c| {
                seen.borrow_mut().push(c.status);
                !c.status.is_busy()
            },
            Duration::from_secs(10),
        )
        .unwrap();
    assert_eq!(got.status, crate::ContainerStatus::Running);
    assert_eq!(seen.borrow().len(), 3);
}

#[test]
fn addresses() {
    let e = Client::tcp("https://h:1", None).unwrap_err();
    assert!(e.to_string().contains("https is not supported"), "{e}");
    assert!(Client::tcp("ftp://h", None).is_err());
    assert!(Client::tcp("http://:80", None).is_err());
    assert!(Client::tcp("http://h:99999", None).is_err());
    assert!(Client::tcp("http://u:p@h", None).is_err());
    let c = Client::tcp("http://[::1]:7007/base/", None).unwrap();
    assert_eq!(c.address(), "http://[::1]:7007/base");
    assert_eq!(Client::tcp("http://h", None).unwrap().address(), "http://h");
    let c = Client::from_url("unix:///run/x.sock", None).unwrap();
    assert_eq!(c.address(), "/run/x.sock");
    assert!(Client::from_url("unix:relative", None).is_err());
}

#[test]
fn a_missing_socket_says_where_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoodyd.sock");
    let e = Client::unix(&path).servers().unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, ClientError::Connect { .. }), "{e:?}");
    assert!(
        msg.starts_with(&format!("cannot reach hoodyd at {}: ", path.display())),
        "{msg}"
    );
    assert!(
        msg.ends_with(
            ": No such file or directory (is hoodyd running? `hoodyd` or `systemctl start hoodyd`)"
        ),
        "{msg}"
    );
}

#[test]
fn unix_sockets_carry_requests_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hoodyd.sock");
    let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let t = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut head = Vec::new();
        let mut r = BufReader::new(s.try_clone().unwrap());
        while let Some(line) = read_line(&mut r, 4096).unwrap() {
            if line.is_empty() {
                break;
            }
            head.push(String::from_utf8(line).unwrap());
        }
        s.write_all(&with_length("200 OK", &envelope(200, r#"{"status":"ok"}"#)))
            .unwrap();
        head
    });
    let v = Client::unix(&path).health().unwrap();
    assert_eq!(v["status"], "ok");
    let head = t.join().unwrap();
    assert_eq!(head[0], "GET /api/v1/health HTTP/1.1");
    assert!(head.contains(&"Host: localhost".to_string()), "{head:?}");
}
