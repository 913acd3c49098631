//! The files service end to end: its router served in-process over a temporary root,
//! driven with curl.

mod files_support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use base64::Engine;
use files_support::{SENTINEL, Srv, sha256};
use serde_json::Value;

fn content(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn download_ranges_and_validators() {
    let s = Srv::start();
    let data = content(10_000);
    s.put_file("/dir/data.bin", &data);
    s.put_file("/notes.txt", "hello\n");

    let r = s.get("/dir/data.bin");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, data);
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
    assert_eq!(r.header("content-length"), Some("10000"));
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert!(r.header("last-modified").unwrap().ends_with("GMT"));
    let etag = r.header("etag").unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'));
    assert_eq!(
        s.get("/notes.txt").header("content-type"),
        Some("text/plain; charset=utf-8")
    );

    // Ranges: first, middle, suffix, open-ended, clamped, unsatisfiable.
    for (range, lo, hi) in [
        ("bytes=0-99", 0, 99),
        ("bytes=4000-4999", 4000, 4999),
        ("bytes=-100", 9900, 9999),
        ("bytes=9990-", 9990, 9999),
        ("bytes=9000-20000", 9000, 9999),
    ] {
        let r = s.curl("GET", "/dir/data.bin", &["-H", &format!("Range: {range}")]);
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, &data[lo..=hi], "{range}");
        assert_eq!(
            r.header("content-range"),
            Some(format!("bytes {lo}-{hi}/10000").as_str()),
            "{range}"
        );
        assert_eq!(
            r.header("content-length"),
            Some((hi - lo + 1).to_string().as_str())
        );
    }
    let r = s.curl("GET", "/dir/data.bin", &["-H", "Range: bytes=10000-"]);
    r.assert_error(416, "RANGE_NOT_SATISFIABLE");
    assert_eq!(r.header("content-range"), Some("bytes */10000"));
    let r = s.curl("GET", "/dir/data.bin", &["-H", "Range: bytes=-0"]);
    assert_eq!(r.status, 416);
    // Several ranges are answered with the whole file.
    let r = s.curl("GET", "/dir/data.bin", &["-H", "Range: bytes=0-1,5-6"]);
    assert_eq!((r.status, r.body.len()), (200, 10_000));

    // Conditional requests.
    let r = s.curl(
        "GET",
        "/dir/data.bin",
        &["-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = s.curl("GET", "/dir/data.bin", &["-H", "If-None-Match: \"other\""]);
    assert_eq!(r.status, 200);
    let lm = s
        .get("/dir/data.bin")
        .header("last-modified")
        .unwrap()
        .to_string();
    let r = s.curl(
        "GET",
        "/dir/data.bin",
        &["-H", &format!("If-Modified-Since: {lm}")],
    );
    assert_eq!(r.status, 304);
    let r = s.curl(
        "GET",
        "/dir/data.bin",
        &["-H", "Range: bytes=0-9", "-H", &format!("If-Range: {etag}")],
    );
    assert_eq!((r.status, r.body.len()), (206, 10));
    let r = s.curl(
        "GET",
        "/dir/data.bin",
        &["-H", "Range: bytes=0-9", "-H", "If-Range: \"stale\""],
    );
    assert_eq!((r.status, r.body.len()), (200, 10_000));
    let r = s.curl("GET", "/dir/data.bin", &["-H", "If-Match: \"stale\""]);
    r.assert_error(412, "PRECONDITION_FAILED");

    // A change changes the ETag.
    std::thread::sleep(std::time::Duration::from_millis(20));
    s.put_file("/dir/data.bin", content(10_001));
    let r = s.curl(
        "GET",
        "/dir/data.bin",
        &["-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!(r.status, 200);
    assert_ne!(r.header("etag"), Some(etag.as_str()));

    // HEAD: headers, no body.
    let r = s.curl("HEAD", "/dir/data.bin", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("10001"));
    assert!(r.header("etag").is_some());
    let (head, rest) = files_support::raw_head(s.port, "/dir/data.bin");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("content-length: 10001\r\n"), "{head}");
    assert!(rest.is_empty(), "HEAD sent {} body bytes", rest.len());

    // ?download, ?hash, ?sha256, ?base64, ?content-type.
    let r = s.get("/dir/data.bin?download");
    assert!(
        r.header("content-disposition")
            .unwrap()
            .starts_with("attachment;")
    );
    assert!(
        r.header("content-disposition")
            .unwrap()
            .contains("data.bin")
    );
    let r = s.get("/notes.txt?hash");
    assert_eq!(r.text(), sha256(b"hello\n"));
    assert_eq!(s.get("/notes.txt?sha256").text(), sha256(b"hello\n"));
    let big = content(300_000);
    s.put_file("/b64.bin", &big);
    let r = s.get("/b64.bin?base64");
    assert_eq!(
        r.text(),
        base64::engine::general_purpose::STANDARD.encode(&big)
    );
    let r = s.get("/notes.txt?content-type=text/x-custom");
    assert_eq!(r.header("content-type"), Some("text/x-custom"));

    // Missing: 404 JSON naming the path.
    let r = s.get("/nope/x.txt");
    r.assert_error(404, "NOT_FOUND");
    assert!(r.json()["error"].as_str().unwrap().contains("/nope/x.txt"));
    s.assert_outside_untouched();
}

#[test]
fn directory_listings() {
    let s = Srv::start();
    s.put_file("/d/b-file.txt", "12345");
    s.put_file("/d/a-file.txt", "1");
    s.put_file("/d/<b>&.html", "x");
    s.put_file("/d/sub/inner.txt", "inner");
    s.put_file("/d/sub/inner2.txt", "inner");
    std::os::unix::fs::symlink("b-file.txt", s.disk("/d/link-file")).unwrap();
    std::os::unix::fs::symlink("sub", s.disk("/d/link-dir")).unwrap();

    let r = s.get("/d?json");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["kind"], "Index");
    assert_eq!(v["href"], "/d");
    assert_eq!(v["uri_prefix"], "/");
    assert_eq!(v["allow_upload"], true);
    assert_eq!(v["allow_delete"], true);
    let paths = v["paths"].as_array().unwrap();
    let names: Vec<&str> = paths.iter().map(|p| p["name"].as_str().unwrap()).collect();
    // Directories first, then by name.
    assert_eq!(
        names,
        [
            "link-dir",
            "sub",
            "<b>&.html",
            "a-file.txt",
            "b-file.txt",
            "link-file"
        ]
    );
    let by = |n: &str| paths.iter().find(|p| p["name"] == n).unwrap().clone();
    assert_eq!(by("sub")["path_type"], "Dir");
    assert_eq!(by("sub")["size"], 2);
    assert_eq!(by("link-dir")["path_type"], "SymlinkDir");
    assert_eq!(by("link-file")["path_type"], "SymlinkFile");
    assert_eq!(by("link-file")["size"], 5);
    assert_eq!(by("b-file.txt")["path_type"], "File");
    assert_eq!(by("b-file.txt")["size"], 5);
    let mtime = by("b-file.txt")["mtime"].as_u64().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        mtime <= now_ms && now_ms - mtime < 600_000,
        "mtime in ms: {mtime}"
    );

    // Sorting.
    let v = s.get("/d/?json&sort=size&order=desc").json();
    let files: Vec<&str> = v["paths"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["path_type"] == "File")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["b-file.txt", "a-file.txt", "<b>&.html"]);
    s.get("/d?json&sort=bogus")
        .assert_error(400, "VALIDATION_ERROR");
    s.get("/d?json&order=up")
        .assert_error(400, "VALIDATION_ERROR");

    // ?simple
    let r = s.get("/d?simple");
    assert_eq!(r.status, 200);
    let lines: Vec<String> = r.text().lines().map(str::to_string).collect();
    assert!(lines.contains(&"sub/".to_string()), "{lines:?}");
    assert!(lines.contains(&"a-file.txt".to_string()));

    // HTML: names escaped, links encoded, controls present.
    let r = s.get("/d/");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = r.text();
    assert!(html.contains("&lt;b&gt;&amp;.html"), "name not escaped");
    assert!(!html.contains("<b>&.html"));
    assert!(html.contains("href=\"/d/%3Cb%3E&amp;.html\""), "{html}");
    assert!(html.contains("href=\"/d/sub/\""));
    assert!(html.contains("MKCOL") && html.contains("\"PUT\""));
    let root_html = s.get("/").text();
    assert!(root_html.contains("href=\"/d/\""));

    // ?q= name search (recursive, case-insensitive).
    let v = s.get("/d?q=INNER&json").json();
    let mut found: Vec<&str> = v["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    found.sort();
    assert_eq!(found, ["sub/inner.txt", "sub/inner2.txt"]);

    // HEAD of a listing.
    let r = s.curl("HEAD", "/d?json", &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("content-length").unwrap().parse::<u64>().unwrap() > 0);
    let (head, rest) = files_support::raw_head(s.port, "/d?json");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(rest.is_empty());
}

#[test]
fn upload_and_webdav_verbs() {
    let s = Srv::start();
    let src = s.base.path().join("curl/upload-src");
    std::fs::write(&src, content(50_000)).unwrap();
    let src_s = src.to_str().unwrap();

    // PUT: created, with missing parents.
    let r = s.curl("PUT", "/up/deep/file.bin", &["-T", src_s]);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        std::fs::read(s.disk("/up/deep/file.bin")).unwrap(),
        content(50_000)
    );
    // Replacing keeps the mode of the replaced file.
    std::fs::set_permissions(
        s.disk("/up/deep/file.bin"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let r = s.curl("PUT", "/up/deep/file.bin", &["--data-binary", "new"]);
    assert_eq!(r.status, 201);
    assert_eq!(
        std::fs::read_to_string(s.disk("/up/deep/file.bin")).unwrap(),
        "new"
    );
    let mode = std::fs::metadata(s.disk("/up/deep/file.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o640);
    // PUT on a directory, under a file.
    s.curl("PUT", "/up", &["--data-binary", "x"])
        .assert_error(409, "IS_A_DIRECTORY");
    s.curl("PUT", "/up/deep/file.bin/x", &["--data-binary", "x"])
        .assert_error(409, "PARENT_NOT_A_DIRECTORY");
    // No temporary files left.
    let leftovers: Vec<_> = std::fs::read_dir(s.disk("/up/deep"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");

    // PUT ?touch: creates, then bumps mtime.
    let r = s.curl("PUT", "/touched.txt?touch", &[]);
    assert_eq!(r.status, 201);
    assert_eq!(std::fs::metadata(s.disk("/touched.txt")).unwrap().len(), 0);
    let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::options()
        .write(true)
        .open(s.disk("/touched.txt"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    let r = s.curl("PUT", "/touched.txt?touch", &[]);
    assert_eq!(r.status, 204);
    assert!(
        std::fs::metadata(s.disk("/touched.txt"))
            .unwrap()
            .modified()
            .unwrap()
            > old
    );

    // PATCH append and write-at-offset.
    s.put_file("/log.txt", "one\n");
    let r = s.curl(
        "PATCH",
        "/log.txt",
        &["-H", "X-Update-Range: append", "--data-binary", "two\n"],
    );
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(
        std::fs::read_to_string(s.disk("/log.txt")).unwrap(),
        "one\ntwo\n"
    );
    let r = s.curl(
        "PATCH",
        "/log.txt",
        &[
            "-H",
            "X-Update-Range: bytes=4-",
            "--data-binary",
            "TWO\nthree\n",
        ],
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        std::fs::read_to_string(s.disk("/log.txt")).unwrap(),
        "one\nTWO\nthree\n"
    );
    s.curl(
        "PATCH",
        "/log.txt",
        &["-H", "X-Update-Range: bytes=999-", "--data-binary", "x"],
    )
    .assert_error(416, "RANGE_NOT_SATISFIABLE");
    s.curl(
        "PATCH",
        "/log.txt",
        &["-H", "X-Update-Range: sideways", "--data-binary", "x"],
    )
    .assert_error(400, "VALIDATION_ERROR");
    // PATCH with JSON: chmod, rename.
    let r = s.curl(
        "PATCH",
        "/log.txt",
        &[
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"mode":"600"}"#,
        ],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["permissions"], "0600");
    let r = s.curl(
        "PATCH",
        "/log.txt",
        &["--data", r#"{"name":"renamed.txt"}"#],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/renamed.txt");
    assert!(s.disk("/renamed.txt").exists() && !s.disk("/log.txt").exists());
    s.curl("PATCH", "/renamed.txt", &["--data", r#"{"name":"../x"}"#])
        .assert_error(400, "VALIDATION_ERROR");
    s.curl("PATCH", "/renamed.txt", &["--data", "{not json"])
        .assert_error(400, "VALIDATION_ERROR");
    s.curl("PATCH", "/renamed.txt", &["--data", r#"{"mode":"999"}"#])
        .assert_error(400, "VALIDATION_ERROR");

    // MKCOL: created (with parents, as dufs), then 405.
    assert_eq!(s.curl("MKCOL", "/newdir", &[]).status, 201);
    assert!(s.disk("/newdir").is_dir());
    s.curl("MKCOL", "/newdir", &[])
        .assert_error(405, "ALREADY_EXISTS");
    assert_eq!(s.curl("MKCOL", "/a/b/c", &[]).status, 201);
    s.curl("MKCOL", "/renamed.txt/sub", &[])
        .assert_error(409, "PARENT_NOT_A_DIRECTORY");

    // COPY with an absolute-URL Destination, then Overwrite: F.
    s.put_file("/src/f.txt", "copy me");
    s.put_file("/src/inner/g.txt", "deep");
    let dest = format!("{}/dst/f-copy.txt", s.url);
    let r = s.curl(
        "COPY",
        "/src/f.txt",
        &["-H", &format!("Destination: {dest}")],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        std::fs::read_to_string(s.disk("/dst/f-copy.txt")).unwrap(),
        "copy me"
    );
    s.curl(
        "COPY",
        "/src/f.txt",
        &["-H", &format!("Destination: {dest}"), "-H", "Overwrite: F"],
    )
    .assert_error(412, "DESTINATION_EXISTS");
    let r = s.curl(
        "COPY",
        "/src/f.txt",
        &["-H", &format!("Destination: {dest}"), "-H", "Overwrite: T"],
    );
    assert_eq!(r.status, 204);
    // COPY a directory (recursive), with a path Destination.
    let r = s.curl("COPY", "/src", &["-H", "Destination: /src%20copy"]);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        std::fs::read_to_string(s.disk("/src copy/inner/g.txt")).unwrap(),
        "deep"
    );
    // Into itself: refused.
    s.curl("COPY", "/src", &["-H", "Destination: /src/inner/again"])
        .assert_error(409, "CONFLICT");
    std::os::unix::fs::symlink("src", s.disk("/src-link")).unwrap();
    s.curl("COPY", "/src", &["-H", "Destination: /src-link/new/again"])
        .assert_error(409, "CONFLICT");
    assert!(!s.disk("/src/new").exists());
    s.curl("COPY", "/src", &["-H", "Destination: /src"])
        .assert_error(403, "SAME_PATH");
    s.curl("COPY", "/src", &[])
        .assert_error(400, "VALIDATION_ERROR");
    s.curl("COPY", "/missing", &["-H", "Destination: /m2"])
        .assert_error(404, "NOT_FOUND");

    // MOVE.
    let r = s.curl(
        "MOVE",
        "/src%20copy",
        &["-H", &format!("Destination: {}/moved", s.url)],
    );
    assert_eq!(r.status, 201);
    assert!(!s.disk("/src copy").exists());
    assert_eq!(
        std::fs::read_to_string(s.disk("/moved/f.txt")).unwrap(),
        "copy me"
    );
    s.put_file("/other.txt", "other");
    s.curl(
        "MOVE",
        "/other.txt",
        &["-H", "Destination: /moved/f.txt", "-H", "Overwrite: F"],
    )
    .assert_error(412, "DESTINATION_EXISTS");
    let r = s.curl("MOVE", "/other.txt", &["-H", "Destination: /moved/f.txt"]);
    assert_eq!(r.status, 204);
    assert_eq!(
        std::fs::read_to_string(s.disk("/moved/f.txt")).unwrap(),
        "other"
    );
    s.curl("MOVE", "/", &["-H", "Destination: /x"])
        .assert_error(403, "PATH_IS_ROOT");

    // DELETE: recursive, then 404; the root is refused.
    assert_eq!(s.curl("DELETE", "/moved", &[]).status, 204);
    assert!(!s.disk("/moved").exists());
    s.curl("DELETE", "/moved", &[])
        .assert_error(404, "NOT_FOUND");
    s.curl("DELETE", "/", &[]).assert_error(403, "PATH_IS_ROOT");
    assert!(s.root.exists());

    // OPTIONS, PROPFIND, LOCK.
    let r = s.curl("OPTIONS", "/", &[]);
    assert_eq!(r.status, 200);
    assert!(r.header("allow").unwrap().contains("MKCOL"));
    assert_eq!(r.header("dav"), Some("1, 2"));
    let r = s.curl("PROPFIND", "/src", &["-H", "Depth: 1"]);
    assert_eq!(r.status, 207);
    let xml = r.text();
    assert!(xml.contains("<D:href>/src/</D:href>"), "{xml}");
    assert!(xml.contains("<D:href>/src/f.txt</D:href>"));
    assert!(xml.contains("<D:getcontentlength>7</D:getcontentlength>"));
    assert!(xml.contains("<D:href>/src/inner/</D:href>"));
    let r = s.curl("PROPFIND", "/src", &["-H", "Depth: 0"]);
    assert!(!r.text().contains("f.txt"));
    s.curl("PROPFIND", "/nope", &[])
        .assert_error(404, "NOT_FOUND");
    let r = s.curl("LOCK", "/src/f.txt", &[]);
    assert_eq!(r.status, 200);
    assert!(
        r.header("lock-token")
            .unwrap()
            .starts_with("<opaquelocktoken:")
    );
    s.curl("FROB", "/", &[])
        .assert_error(405, "METHOD_NOT_ALLOWED");
    // Unimplemented features say so.
    s.get("/src?zip").assert_error(501, "NOT_IMPLEMENTED");
    s.assert_outside_untouched();
}

/// A PUT whose body stops short leaves neither a partial file nor a changed old one.
#[test]
fn interrupted_upload_leaves_nothing() {
    let s = Srv::start();
    s.put_file("/keep.txt", "old content");
    for path in ["/partial.bin", "/keep.txt", "/sub/new/partial.bin"] {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
        write!(
            c,
            "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
        )
        .unwrap();
        c.write_all(&content(300_000)).unwrap();
        c.flush().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(c);
    }
    // Give the server a moment to notice and clean up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let mut all = Vec::new();
        let mut stack = vec![s.root.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    stack.push(e.path());
                } else {
                    all.push(
                        e.path()
                            .strip_prefix(&s.root)
                            .unwrap()
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        if all == ["keep.txt"] {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "left behind: {all:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        std::fs::read_to_string(s.disk("/keep.txt")).unwrap(),
        "old content"
    );

    // An interrupted append is rolled back.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        c,
        "PATCH /keep.txt HTTP/1.1\r\nHost: x\r\nX-Update-Range: append\r\nContent-Length: 10000000\r\n\r\n"
    )
    .unwrap();
    c.write_all(&content(300_000)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(c);
    // ... and an interrupted append that created its file removes it.
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    write!(
        c,
        "PATCH /fresh.log HTTP/1.1\r\nHost: x\r\nX-Update-Range: append\r\nContent-Length: 10000000\r\n\r\n"
    )
    .unwrap();
    c.write_all(&content(300_000)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    drop(c);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::fs::read(s.disk("/keep.txt")).unwrap() != b"old content"
        || s.disk("/fresh.log").exists()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "append not rolled back"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Writing past the end of a missing file creates nothing.
    s.curl(
        "PATCH",
        "/missing.log",
        &["-H", "X-Update-Range: bytes=5-", "--data-binary", "x"],
    )
    .assert_error(416, "RANGE_NOT_SATISFIABLE");
    assert!(!s.disk("/missing.log").exists());
}

#[test]
fn v1_api() {
    let s = Srv::start();
    s.put_file(
        "/proj/src/lib.rs",
        "fn main() {}\n// TODO: one\nlet x = 1;\n",
    );
    s.put_file("/proj/src/a/deep.rs", "// todo: two\n// TODO: three\n");
    s.put_file("/proj/README.md", "TODO in markdown\n");
    s.put_file("/proj/bin.dat", b"TODO\x00binary");
    s.put_file("/proj/lines.txt", "l1\nl2\nl3\nl4\nl5\n");

    // health and version.
    let v = s.get("/api/v1/files/health").json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["service"], "hoody-files");
    let v = s.get("/api/v1/version").json();
    assert_eq!(v["api_version"], "v1");

    // stat
    let r = s.get("/api/v1/files/stat/proj/lines.txt");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["name"], "lines.txt");
    assert_eq!(v["path"], "/proj/lines.txt");
    assert_eq!(v["path_type"], "File");
    assert_eq!(v["size"], 15);
    assert_eq!(v["is_symlink"], false);
    assert!(v["symlink_target"].is_null());
    assert!(v["permissions"].as_str().unwrap().len() == 4);
    assert!(v["owner"].is_string() && v["group"].is_string());
    assert!(v["mtime"].as_u64().unwrap() > 1_600_000_000_000);
    std::os::unix::fs::symlink("lines.txt", s.disk("/proj/lnk")).unwrap();
    let v = s.get("/api/v1/files/stat/proj/lnk").json();
    assert_eq!(v["path_type"], "SymlinkFile");
    assert_eq!(v["is_symlink"], true);
    assert_eq!(v["symlink_target"], "lines.txt");
    assert_eq!(s.get("/api/v1/files/proj?stat").json()["path_type"], "Dir");
    s.get("/api/v1/files/stat/proj/nope")
        .assert_error(404, "NOT_FOUND");
    let v = s.get("/api/v1/files/realpath/proj/lnk").json();
    assert_eq!(v["realpath"], "/proj/lines.txt");

    // contents, lines, base64, download.
    let v = s.get("/api/v1/files/proj?contents").json();
    assert_eq!(v["path"], "/proj");
    let names: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["src", "bin.dat", "lines.txt", "lnk", "README.md"]);
    assert_eq!(v["entries"][0]["path"], "/proj/src");
    assert_eq!(
        s.get("/api/v1/files/proj/lines.txt?lines=2-3").text(),
        "l2\nl3\n"
    );
    assert_eq!(
        s.get("/api/v1/files/proj/lines.txt?lines=4-").text(),
        "l4\nl5\n"
    );
    assert_eq!(
        s.get("/api/v1/files/proj/lines.txt?lines=-1").text(),
        "l1\n"
    );
    s.get("/api/v1/files/proj/lines.txt?lines=abc")
        .assert_error(400, "VALIDATION_ERROR");
    s.get("/api/v1/files/proj/lines.txt?lines=3-1")
        .assert_error(400, "VALIDATION_ERROR");
    assert_eq!(
        s.get("/api/v1/files/proj/lines.txt?base64").text(),
        base64::engine::general_purpose::STANDARD.encode("l1\nl2\nl3\nl4\nl5\n")
    );
    assert_eq!(
        s.get("/api/v1/files/proj/lines.txt").text(),
        "l1\nl2\nl3\nl4\nl5\n"
    );
    let r = s.curl(
        "GET",
        "/api/v1/files/proj/lines.txt",
        &["-H", "Range: bytes=3-4"],
    );
    assert_eq!((r.status, r.text().as_str()), (206, "l2"));
    s.get("/api/v1/files/proj?hash")
        .assert_error(400, "IS_A_DIRECTORY");

    // PUT, append.
    let r = s.curl(
        "PUT",
        "/api/v1/files/out/new.txt",
        &["--data-binary", "abc"],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let v = r.json();
    assert_eq!(
        (
            v["success"].clone(),
            v["path"].clone(),
            v["new_size"].clone()
        ),
        (Value::Bool(true), "/out/new.txt".into(), 3.into())
    );
    let r = s.curl(
        "PUT",
        "/api/v1/files/out/new.txt?append",
        &["--data-binary", "defg"],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["new_size"], 7);
    let r = s.curl(
        "PUT",
        "/api/v1/files/append/out/new.txt",
        &["--data-binary", "h"],
    );
    assert_eq!(r.json()["new_size"], 8);
    assert_eq!(
        std::fs::read_to_string(s.disk("/out/new.txt")).unwrap(),
        "abcdefgh"
    );
    let r = s.curl("PUT", "/api/v1/files/out/new.txt", &["--data-binary", "x"]);
    assert_eq!((r.status, r.json()["new_size"].clone()), (200, 1.into()));
    s.curl(
        "PUT",
        "/api/v1/files/out/o.txt?owner=no-such-user-hoody",
        &["--data-binary", "x"],
    )
    .assert_error(400, "VALIDATION_ERROR");
    assert!(!s.disk("/out/o.txt").exists());

    // POST operations.
    let r = s.curl("POST", "/api/v1/files/made/dir?mkdir", &[]);
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(s.disk("/made/dir").is_dir());
    assert_eq!(
        s.curl("POST", "/api/v1/files/made/dir?mkdir=true", &[])
            .status,
        200
    );
    let r = s.curl(
        "POST",
        "/api/v1/files/out/new.txt",
        &["--data", r#"{"copy_to":"/out/copy.txt"}"#],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["destination"], "/out/copy.txt");
    assert_eq!(
        std::fs::read_to_string(s.disk("/out/copy.txt")).unwrap(),
        "x"
    );
    s.curl(
        "POST",
        "/api/v1/files/out/new.txt?copy_to=/out/copy.txt",
        &[],
    )
    .assert_error(409, "DESTINATION_EXISTS");
    let r = s.curl(
        "POST",
        "/api/v1/files/proj/README.md?copy_to=/out/copy.txt&overwrite=true",
        &[],
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        std::fs::read_to_string(s.disk("/out/copy.txt")).unwrap(),
        "TODO in markdown\n"
    );
    let r = s.curl(
        "POST",
        "/api/v1/files/out/copy.txt?move_to=/out/moved.txt",
        &[],
    );
    assert_eq!(r.status, 201);
    assert!(!s.disk("/out/copy.txt").exists() && s.disk("/out/moved.txt").exists());
    let r = s.curl(
        "POST",
        "/api/v1/files/move/out/moved.txt",
        &["--data", r#"{"move_to":"/out/m2.txt"}"#],
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.curl(
        "POST",
        "/api/v1/files/copy/out/m2.txt",
        &["--data", r#"{"copy_to":"/out/m3.txt"}"#],
    );
    assert_eq!(r.status, 201);
    s.curl("POST", "/api/v1/files/out/m2.txt", &[])
        .assert_error(400, "VALIDATION_ERROR");
    s.curl("POST", "/api/v1/files/out/m2.txt?extract", &[])
        .assert_error(501, "NOT_IMPLEMENTED");
    s.curl("POST", "/api/v1/files/out/m2.txt", &["--data", "[1]"])
        .assert_error(400, "VALIDATION_ERROR");

    // PATCH, chmod.
    let r = s.curl(
        "PATCH",
        "/api/v1/files/chmod/out/m3.txt",
        &["--data", r#"{"mode":"0700"}"#],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["permissions"], "0700");
    let r = s.curl(
        "PATCH",
        "/api/v1/files/out/m3.txt",
        &["--data", r#"{"name":"m4.txt"}"#],
    );
    assert_eq!(
        (r.status, r.json()["path"].clone()),
        (200, "/out/m4.txt".into())
    );
    let r = s.curl(
        "PATCH",
        "/api/v1/files/chown/out/m4.txt?owner=0&group=0",
        &[],
    );
    assert_eq!((r.status, r.json()["uid"].clone()), (200, 0.into()));

    // DELETE: a non-empty directory needs recursive.
    s.curl("DELETE", "/api/v1/files/out", &[])
        .assert_error(409, "DIRECTORY_NOT_EMPTY");
    let r = s.curl("DELETE", "/api/v1/files/out?recursive=true", &[]);
    assert_eq!((r.status, r.json()["success"].clone()), (200, true.into()));
    assert!(!s.disk("/out").exists());
    s.curl("DELETE", "/api/v1/files/out", &[])
        .assert_error(404, "NOT_FOUND");
    s.curl("DELETE", "/api/v1/files/?recursive", &[])
        .assert_error(403, "PATH_IS_ROOT");

    // grep
    let v = s.get("/api/v1/files/grep/proj?pattern=TODO").json();
    let hits: Vec<(String, u64)> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["path"].as_str().unwrap().to_string(),
                m["line_number"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        hits,
        [
            ("/proj/README.md".to_string(), 1),
            ("/proj/src/a/deep.rs".to_string(), 2),
            ("/proj/src/lib.rs".to_string(), 2)
        ],
        "binary files are skipped"
    );
    assert_eq!(v["matches"][2]["line"], "// TODO: one");
    let v = s
        .get("/api/v1/files/grep/proj?pattern=todo&ignore_case&glob=*.rs")
        .json();
    assert_eq!(v["total_matches"], 3);
    let v = s
        .get("/api/v1/files/grep/proj?pattern=todo&ignore_case&glob=*.rs&max_count=1")
        .json();
    assert_eq!(v["total_matches"], 2);
    let v = s
        .get("/api/v1/files/grep/proj?pattern=todo&ignore_case&max_matches=2")
        .json();
    assert_eq!(
        (v["total_matches"].clone(), v["truncated"].clone()),
        (2.into(), true.into())
    );
    let v = s
        .get("/api/v1/files/grep/proj?pattern=x%20=%201.&fixed_string")
        .json();
    assert_eq!(v["total_matches"], 0);
    let v = s
        .get("/api/v1/files/grep/proj?pattern=x%20=%201;&fixed_string")
        .json();
    assert_eq!(v["total_matches"], 1);
    let v = s
        .get("/api/v1/files/grep/proj/src/lib.rs?pattern=TODO&context=1")
        .json();
    assert_eq!(
        v["matches"][0]["context_before"],
        serde_json::json!(["fn main() {}"])
    );
    assert_eq!(
        v["matches"][0]["context_after"],
        serde_json::json!(["let x = 1;"])
    );
    let v = s
        .get("/api/v1/files/grep/proj?pattern=TODO&max_depth=1")
        .json();
    assert_eq!(v["total_matches"], 1);
    let v = s.get("/api/v1/files/proj?grep=three").json();
    assert_eq!(v["matches"][0]["path"], "/proj/src/a/deep.rs");
    s.get("/api/v1/files/grep/proj?pattern=(unclosed")
        .assert_error(400, "INVALID_PATTERN");
    s.get("/api/v1/files/grep/proj")
        .assert_error(400, "VALIDATION_ERROR");
    s.get("/api/v1/files/grep/proj?pattern=x&max_count=lots")
        .assert_error(400, "VALIDATION_ERROR");

    // glob
    let v = s.get("/api/v1/files/glob/proj?pattern=**/*.rs").json();
    let paths: Vec<&str> = v["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/proj/src/a/deep.rs", "/proj/src/lib.rs"]);
    assert_eq!(v["matches"][0]["path_type"], "File");
    let v = s.get("/api/v1/files/glob/proj?pattern=*.md").json();
    assert_eq!(v["total"], 1);
    let v = s.get("/api/v1/files/glob/proj?pattern=*.rs").json();
    assert_eq!(v["total"], 0, "*.rs does not descend");
    let v = s
        .get("/api/v1/files/glob/proj?pattern=**/*&max_results=2")
        .json();
    assert_eq!(
        (v["total"].clone(), v["truncated"].clone()),
        (2.into(), true.into())
    );
    let v = s.get("/api/v1/files/glob/?pattern=proj/src/*").json();
    assert_eq!(v["total"], 2, "{v}");
    s.get("/api/v1/files/glob/proj?pattern=a[")
        .assert_error(400, "INVALID_PATTERN");
    s.get("/api/v1/files/glob/proj?pattern=../*")
        .assert_error(400, "VALIDATION_ERROR");

    // Other bad input.
    s.curl("MKCOL", "/api/v1/files/x", &[])
        .assert_error(405, "METHOD_NOT_ALLOWED");
    s.get("/api/v1/files/proj?sort=weird")
        .assert_error(400, "VALIDATION_ERROR");
    s.get("/api/v1/files/proj?history")
        .assert_error(501, "NOT_IMPLEMENTED");
    s.assert_outside_untouched();
}

/// Every way out of the root is refused: nothing outside is read, written or deleted.
#[test]
fn path_escapes_never_leave_the_root() {
    let s = Srv::start();
    s.put_file("/a/file.txt", "inside");
    s.put_file("/etc/passwd", "the root's own passwd");
    let no_sentinel = |r: &files_support::Resp| {
        assert!(
            !r.text().contains(SENTINEL),
            "the sentinel leaked: {}",
            r.text()
        );
    };

    // Reads.
    for p in [
        "/../outside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/%2e%2e/outside/secret.txt",
        "/a/%2e%2e%2f%2e%2e/outside/secret.txt",
        "/..%2foutside%2fsecret.txt",
        "/a/../../outside/secret.txt",
        "/api/v1/files/../outside/secret.txt",
        "/api/v1/files/%2e%2e/outside/secret.txt",
        "/api/v1/files/stat/../outside/secret.txt",
        "/api/v1/files/stat/%2e%2e%2foutside/secret.txt",
        "/api/v1/files/realpath/..",
        "/api/v1/files/grep/..?pattern=SENTINEL",
        "/api/v1/files/glob/..?pattern=**/*",
        "/..?json",
        "/api/v1/files/..?contents",
    ] {
        let r = s.get(p);
        r.assert_error(403, "PATH_OUTSIDE_ROOT");
        no_sentinel(&r);
    }
    // `/api/v1/files/../../etc` climbs out of the root too (not merely out of the API prefix).
    s.get("/api/v1/files/../../etc")
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    // Encodings that decode to names, not to `..`: stay inside (404).
    for p in [
        "/%252e%252e/outside/secret.txt",
        "/..%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/....//outside/secret.txt",
        "/.%2e./outside/secret.txt",
    ] {
        let r = s.get(p);
        r.assert_error(404, "NOT_FOUND");
        no_sentinel(&r);
    }
    // Absolute-looking paths are inside the root.
    assert_eq!(s.get("/etc/passwd").text(), "the root's own passwd");
    assert_eq!(
        s.get("/api/v1/files//etc/passwd").text(),
        "the root's own passwd"
    );
    assert_eq!(
        s.get("/api/v1/files/stat//etc/passwd").json()["path"],
        "/etc/passwd"
    );
    s.get("/a/file%00.txt").assert_error(400, "INVALID_PATH");
    // grep from the root does not find the sentinel.
    assert_eq!(
        s.get("/api/v1/files/grep/?pattern=SENTINEL").json()["total_matches"],
        0
    );

    // Writes and deletes.
    let puts = [
        "/../outside/secret.txt",
        "/%2e%2e/outside/new.txt",
        "/a/%2e%2e%2f%2e%2e/outside/new.txt",
        "/api/v1/files/../outside/new.txt",
        "/api/v1/files/%2e%2e/new.txt",
        "/api/v1/files/append/../outside/secret.txt",
    ];
    for p in puts {
        s.curl("PUT", p, &["--data-binary", "pwned"])
            .assert_error(403, "PATH_OUTSIDE_ROOT");
    }
    s.curl("PUT", "/..%2foutside%2fsecret.txt?touch", &[])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl(
        "PATCH",
        "/../outside/secret.txt",
        &["-H", "X-Update-Range: append", "--data-binary", "x"],
    )
    .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("DELETE", "/../outside/secret.txt", &[])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("DELETE", "/api/v1/files/../outside/secret.txt", &[])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("DELETE", "/api/v1/files/%2e%2e?recursive", &[])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("MKCOL", "/../outside/newdir", &[])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    // Destinations outside: absolute URL, absolute path, encoded.
    for d in [
        format!("{}/../outside/moved.txt", s.url),
        format!("{}/%2e%2e/outside/secret.txt", s.url),
        "/../outside/secret.txt".to_string(),
        "/a/%2e%2e/%2e%2e/outside/x".to_string(),
    ] {
        for m in ["COPY", "MOVE"] {
            s.curl(m, "/a/file.txt", &["-H", &format!("Destination: {d}")])
                .assert_error(403, "PATH_OUTSIDE_ROOT");
        }
    }
    // An absolute Destination names a path inside the root.
    let r = s.curl(
        "COPY",
        "/a/file.txt",
        &[
            "-H",
            &format!("Destination: {}", s.outside.join("x.txt").display()),
        ],
    );
    assert_eq!(r.status, 201);
    assert!(s.disk(&s.outside.join("x.txt").to_string_lossy()).exists());
    // Source outside.
    s.curl(
        "COPY",
        "/../outside/secret.txt",
        &["-H", "Destination: /stolen.txt"],
    )
    .assert_error(403, "PATH_OUTSIDE_ROOT");
    assert!(!s.disk("/stolen.txt").exists());
    // v1 destinations.
    for body in [
        r#"{"copy_to":"../outside/secret.txt","overwrite":true}"#,
        r#"{"move_to":"/../../outside/x"}"#,
        r#"{"copy_to":"/a/../../outside/x"}"#,
    ] {
        s.curl("POST", "/api/v1/files/a/file.txt", &["--data", body])
            .assert_error(403, "PATH_OUTSIDE_ROOT");
    }
    s.curl(
        "PATCH",
        "/api/v1/files/a/file.txt",
        &["--data", r#"{"move_to":"/../outside/x"}"#],
    )
    .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl(
        "PATCH",
        "/api/v1/files/a/file.txt",
        &["--data", r#"{"name":".."}"#],
    )
    .assert_error(400, "VALIDATION_ERROR");
    s.curl(
        "PATCH",
        "/api/v1/files/a/file.txt",
        &["--data", r#"{"name":"x/../../y"}"#],
    )
    .assert_error(400, "VALIDATION_ERROR");
    s.assert_outside_untouched();
    assert_eq!(
        std::fs::read_to_string(s.disk("/a/file.txt")).unwrap(),
        "inside"
    );
}

/// Symlinks inside a non-`/` root that point out of it are not followed.
#[test]
fn symlinks_out_of_the_root_are_not_followed() {
    let s = Srv::start();
    let sentinel_mode = || {
        std::fs::metadata(s.outside.join("secret.txt"))
            .unwrap()
            .permissions()
            .mode()
    };
    let mode_before = sentinel_mode();
    std::os::unix::fs::symlink(&s.outside, s.disk("/dir-out")).unwrap();
    std::os::unix::fs::symlink(s.outside.join("secret.txt"), s.disk("/file-out")).unwrap();
    std::os::unix::fs::symlink(s.outside.join("created-through-link"), s.disk("/dangling"))
        .unwrap();
    std::os::unix::fs::symlink("../outside/secret.txt", s.disk("/relative-out")).unwrap();
    s.put_file("/in/ok.txt", "fine");
    std::os::unix::fs::symlink("in/ok.txt", s.disk("/link-in")).unwrap();

    // Reads through them.
    for p in [
        "/dir-out/secret.txt",
        "/file-out",
        "/relative-out",
        "/dir-out?json",
        "/file-out?hash",
        "/api/v1/files/file-out",
        "/api/v1/files/dir-out?contents",
        "/api/v1/files/grep/dir-out?pattern=S",
        "/api/v1/files/realpath/file-out",
        "/api/v1/files/stat/dir-out/secret.txt",
    ] {
        let r = s.get(p);
        r.assert_error(403, "PATH_OUTSIDE_ROOT");
        assert!(!r.text().contains(SENTINEL));
    }
    // A link inside the root works.
    assert_eq!(s.get("/link-in").text(), "fine");
    // Listing shows the links, without following them out.
    let v = s.get("/?json").json();
    let find = |n: &str| {
        v["paths"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(find("file-out")["path_type"], "SymlinkFile");
    assert_ne!(find("file-out")["size"], SENTINEL.len());
    assert_eq!(find("link-in")["path_type"], "SymlinkFile");
    assert_eq!(find("link-in")["size"], 4);
    // grep and glob from the root do not walk through them.
    assert_eq!(
        s.get("/api/v1/files/grep/?pattern=SENTINEL").json()["total_matches"],
        0
    );
    let v = s.get("/api/v1/files/glob/?pattern=**/secret.txt").json();
    assert_eq!(v["total"], 0);

    // Writes through them.
    s.curl("PUT", "/dir-out/new.txt", &["--data-binary", "x"])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("PUT", "/file-out", &["--data-binary", "x"])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("PUT", "/dangling?touch", &[])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl(
        "PATCH",
        "/dangling",
        &["-H", "X-Update-Range: append", "--data-binary", "x"],
    )
    .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl(
        "PATCH",
        "/file-out",
        &["-H", "X-Update-Range: append", "--data-binary", "x"],
    )
    .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("PATCH", "/file-out", &["--data", r#"{"mode":"777"}"#])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("MKCOL", "/dir-out/sub", &[])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("DELETE", "/dir-out/secret.txt", &[])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl("COPY", "/file-out", &["-H", "Destination: /copied"])
        .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl(
        "COPY",
        "/in/ok.txt",
        &["-H", "Destination: /dir-out/ok.txt"],
    )
    .assert_error(403, "PATH_OUTSIDE_ROOT");
    s.curl(
        "MOVE",
        "/in/ok.txt",
        &["-H", "Destination: /dir-out/ok.txt"],
    )
    .assert_error(403, "PATH_OUTSIDE_ROOT");
    assert_eq!(sentinel_mode(), mode_before, "the sentinel's mode changed");
    s.assert_outside_untouched();

    // Operations on the links themselves are allowed: deleting one removes the link only.
    assert_eq!(s.curl("DELETE", "/file-out", &[]).status, 204);
    assert_eq!(s.curl("DELETE", "/dir-out", &[]).status, 204);
    assert!(std::fs::symlink_metadata(s.disk("/file-out")).is_err());
    s.assert_outside_untouched();
}

#[test]
fn head_and_special_files() {
    let s = Srv::start();
    s.put_file("/empty.txt", "");
    let r = s.get("/empty.txt");
    assert_eq!((r.status, r.body.len()), (200, 0));
    assert_eq!(r.header("content-length"), Some("0"));
    let r = s.curl("GET", "/empty.txt", &["-H", "Range: bytes=0-"]);
    assert_eq!(r.status, 416);
    // A FIFO is not a regular file.
    let fifo = s.disk("/fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads the NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    s.get("/fifo").assert_error(400, "VALIDATION_ERROR");
    // A size-0 file with content (procfs) is streamed to its end: serve /proc/self.
    let p = Srv::start_at(Some("/proc/self".into()));
    let r = p.get("/status");
    assert_eq!(r.status, 200);
    assert!(r.text().contains("VmRSS:"), "{}", r.text());
    assert!(r.header("content-length").is_none());
}
