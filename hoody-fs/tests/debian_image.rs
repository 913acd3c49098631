//! Building the Debian 13 image from a clean cache (real debootstrap from the Debian mirror),
//! then again from the cache.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use hoody_fs::{ImageRecipe, Progress};

#[test]
fn debian_13_image_builds_from_a_clean_cache_and_then_from_the_cache() {
    let t = TestPool::new(Kind::Btrfs);
    let cache = tempfile::Builder::new()
        .prefix(&format!("{}-", unique_name("imgcache")))
        .tempdir_in("/var/tmp")
        .unwrap();
    let recipe = ImageRecipe::debian_13();
    let mut phases = Vec::new();
    let mut details = 0usize;
    let info = t
        .pool
        .build_image("debian-13", &recipe, cache.path(), &mut |p| match p {
            Progress::Phase(s) => phases.push(s),
            Progress::Detail(_) => details += 1,
        })
        .unwrap();
    assert!(info.source.starts_with("debootstrap trixie-"), "{info:?}");
    assert!(
        phases.iter().any(|p| p.starts_with("debootstrap trixie")),
        "{phases:?}"
    );
    assert!(
        details > 10,
        "debootstrap output was not reported as progress"
    );
    let root = t.pool.image_path("debian-13").unwrap();

    // systemd 257 is installed.
    let out = std::process::Command::new("chroot")
        .arg(&root)
        .args(["dpkg-query", "-W", "-f", "${Version}", "systemd"])
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(version.starts_with("257"), "systemd version {version:?}");
    let os = std::fs::read_to_string(root.join("etc/os-release")).unwrap();
    assert!(os.contains("VERSION_ID=\"13\""), "{os}");
    // The default user with passwordless sudo.
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(
        passwd.lines().any(|l| l.starts_with("user:x:1000:1000:")),
        "{passwd}"
    );
    let sudoers = std::fs::read_to_string(root.join("etc/sudoers.d/user")).unwrap();
    assert!(sudoers.contains("NOPASSWD:ALL"));
    for pkg in [
        "/usr/bin/curl",
        "/usr/bin/sudo",
        "/usr/bin/less",
        "/usr/bin/ps",
        "/usr/sbin/ip",
    ] {
        assert!(
            root.join(pkg.trim_start_matches('/')).exists(),
            "{pkg} missing"
        );
    }

    // Second build: from the cache, in seconds, identical content.
    let started = std::time::Instant::now();
    let again = t
        .pool
        .build_image("debian-13-again", &recipe, cache.path(), &mut |_| {})
        .unwrap();
    assert!(again.source.ends_with("(cached)"), "{again:?}");
    assert!(
        started.elapsed().as_secs() < 60,
        "cached build took {:?}",
        started.elapsed()
    );
    assert_eq!(
        std::fs::read_to_string(
            t.pool
                .image_path("debian-13-again")
                .unwrap()
                .join("etc/passwd")
        )
        .unwrap(),
        passwd
    );
}
