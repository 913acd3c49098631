//! The files service moves 1 GiB each way without holding it: the test process hosts the
//! server, so its resident set must stay flat while the bytes stream through.

#![allow(clippy::unwrap_used)]

mod files_support;

use std::process::Command;

use files_support::Srv;

/// This process's resident set in bytes (`VmRSS` of `/proc/self/status`).
fn vm_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

fn sh(script: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sha256sum(path: &std::path::Path) -> String {
    sh(&format!("sha256sum '{}'", path.display()))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

const GROWTH_LIMIT: u64 = 64 << 20;

#[test]
fn one_gib_up_and_down_with_flat_memory() {
    let s = Srv::start();
    let src = s.base.path().join("curl/big.src");
    sh(&format!("head -c 1G /dev/urandom > '{}'", src.display()));
    assert_eq!(std::fs::metadata(&src).unwrap().len(), 1 << 30);
    let want = sha256sum(&src);
    // Warm up the server's code paths (and allocator) on something small first.
    assert_eq!(
        s.curl("PUT", "/warm.txt", &["--data-binary", "x"]).status,
        201
    );
    assert_eq!(s.get("/warm.txt").status, 200);
    let rss0 = vm_rss();
    let t0 = std::time::Instant::now();
    let check = |stage: &str| {
        let rss = vm_rss();
        eprintln!(
            "{stage} ({:.1} s): VmRSS {} MiB (start {} MiB)",
            t0.elapsed().as_secs_f64(),
            rss >> 20,
            rss0 >> 20
        );
        assert!(
            rss < rss0 + GROWTH_LIMIT,
            "{stage}: VmRSS grew from {} MiB to {} MiB",
            rss0 >> 20,
            rss >> 20
        );
    };

    // Upload (Content-Length), checked on disk.
    let r = s.curl("PUT", "/big/upload.bin", &["-T", src.to_str().unwrap()]);
    assert_eq!(r.status, 201, "{}", r.text());
    check("after the upload");
    let uploaded = s.disk("/big/upload.bin");
    assert_eq!(std::fs::metadata(&uploaded).unwrap().len(), 1 << 30);
    assert_eq!(sha256sum(&uploaded), want);

    // The server's own streamed hash (on 128 MiB: SHA-256 in a debug build runs at a few
    // tens of MB/s, and the memory bound is the same fixed buffer whatever the size).
    sh(&format!(
        "head -c 128M '{}' > '{}'",
        src.display(),
        s.disk("/big/part.bin").display()
    ));
    let want_part = sha256sum(&s.disk("/big/part.bin"));
    assert_eq!(s.get("/big/part.bin?hash").text(), want_part);
    check("after ?hash");

    // Download, hashed as it arrives (not stored).
    let got = sh(&format!(
        "curl -sS --fail '{}/big/upload.bin' | sha256sum",
        s.url
    ));
    assert_eq!(got.split_whitespace().next(), Some(want.as_str()));
    check("after the download");

    // A range deep into the file.
    let off: u64 = (1 << 30) - 1_000_000 + 17;
    let r = s.curl(
        "GET",
        "/big/upload.bin",
        &["-H", &format!("Range: bytes={off}-{}", off + 99)],
    );
    assert_eq!(r.status, 206);
    let mut expect = vec![0u8; 100];
    std::os::unix::fs::FileExt::read_exact_at(
        &std::fs::File::open(&src).unwrap(),
        &mut expect,
        off,
    )
    .unwrap();
    assert_eq!(r.body, expect);

    // A chunked upload (no Content-Length) through the v1 API.
    std::fs::remove_file(&uploaded).unwrap();
    let out = sh(&format!(
        "curl -sS --fail -T - '{}/api/v1/files/big/chunked.bin' < '{}'",
        s.url,
        src.display()
    ));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["new_size"], 1u64 << 30);
    check("after the chunked upload");
    assert_eq!(sha256sum(&s.disk("/big/chunked.bin")), want);
}
