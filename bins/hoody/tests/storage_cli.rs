//! The storage verbs as a user runs them: a loop-mounted pool, images, root file systems,
//! snapshots, branch, send/receive to a second pool, and errors.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hoody_testkit::{require_root, unique_name};

struct CliPool {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl CliPool {
    fn new() -> Self {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", unique_name("clipool")))
            .tempdir_in("/var/tmp")
            .unwrap();
        let path = dir.path().join("pool");
        let p = CliPool { dir, path };
        let out = p.hoody(&["pool", "init", "--size", "1G"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        p
    }

    fn hoody(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hoody"))
            .args(args)
            .env("HOODY_POOL", &self.path)
            .env("HOODY_POOL_REGISTRY", self.dir.path().join("registry.json"))
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.hoody(args);
        assert!(
            out.status.success(),
            "hoody {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

impl Drop for CliPool {
    fn drop(&mut self) {
        let _ = hoody_fs_unmount(&self.path);
    }
}

fn hoody_fs_unmount(p: &Path) -> std::io::Result<()> {
    let st = Command::new("umount").arg(p).status()?;
    if !st.success() {
        Command::new("umount").arg("-l").arg(p).status()?;
    }
    Ok(())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn storage_verbs_end_to_end() {
    let a = CliPool::new();
    // Idempotent init.
    let status = a.ok(&["pool", "init", "--json"]);
    assert!(status.contains("\"backend\": \"btrfs\""), "{status}");

    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir(src.path().join("etc")).unwrap();
    std::fs::write(src.path().join("etc/motd"), "hello\n").unwrap();
    let tar = a.dir.path().join("base.tar");
    assert!(
        Command::new("tar")
            .arg("-C")
            .arg(src.path())
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    a.ok(&["image", "import", "base", tar.to_str().unwrap()]);
    assert!(a.ok(&["image", "ls"]).contains("base"));

    let rootfs = PathBuf::from(a.ok(&["rootfs", "create", "web", "--image", "base"]).trim());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/motd")).unwrap(),
        "hello\n"
    );
    a.ok(&[
        "snapshot", "create", "web", "--name", "s1", "--alias", "golden",
    ]);
    std::fs::write(rootfs.join("etc/motd"), "changed\n").unwrap();
    let list = a.ok(&["snapshot", "ls", "web", "--json"]);
    assert!(list.contains("\"alias\": \"golden\""), "{list}");
    a.ok(&["snapshot", "restore", "web", "golden"]);
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/motd")).unwrap(),
        "hello\n"
    );
    a.ok(&["snapshot", "branch", "web", "s1", "web2"]);
    assert!(a.ok(&["rootfs", "ls"]).contains("web@s1"));
    assert!(a.ok(&["rootfs", "du", "web"]).starts_with("6\t"));

    // Errors: clear message, non-zero exit.
    let bad = a.hoody(&["rootfs", "create", "../x", "--image", "base"]);
    assert!(!bad.status.success());
    assert_eq!(
        text(&bad.stderr),
        "hoody: invalid container name \"../x\": it contains '/'\n"
    );
    let bad = a.hoody(&["image", "rm", "base"]);
    assert!(
        text(&bad.stderr).contains("is used by container(s) web, web2"),
        "{}",
        text(&bad.stderr)
    );
    let bad = a.hoody(&["snapshot", "restore", "web", "nope"]);
    assert!(
        text(&bad.stderr).contains("snapshot \"web/nope\" not found"),
        "{}",
        text(&bad.stderr)
    );

    // Copy to a second pool through a file.
    let b = CliPool::new();
    let stream = a.dir.path().join("web.stream");
    a.ok(&["send", "web", "-o", stream.to_str().unwrap()]);
    b.ok(&["receive", "-i", stream.to_str().unwrap()]);
    let copied = b.path.join("containers/web/etc/motd");
    assert_eq!(std::fs::read_to_string(copied).unwrap(), "hello\n");
    assert!(b.ok(&["snapshot", "ls", "web"]).contains("golden"));
}

#[test]
fn commands_on_a_missing_pool_say_how_to_create_one() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hoody"))
        .args(["image", "ls", "--pool"])
        .arg(dir.path())
        .env("HOODY_POOL_REGISTRY", dir.path().join("registry.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("run `hoody pool init --path"),
        "{}",
        text(&out.stderr)
    );
}
