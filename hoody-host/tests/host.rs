//! `Host` in process, as an embedder uses it: no hoodyd, no HTTP. A real loop-mounted btrfs
//! pool with the Debian 13 image, real booted containers (monitors started from the test
//! build's `hoody-monitor`), the real SQLite record. As root.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use hoody_api::{
    ApiError, Container, ContainerStatus, CreateContainer, CreateProject, CreateSnapshot,
    CreateToken, Operation,
};
use hoody_host::{Caller, Host, HostConfig, HostError};
use hoody_testkit::daemon::bin;
use hoody_testkit::{require_root, unique_name};

/// A pool (loop-mounted btrfs, or a plain directory) and a network of this test's own.
struct Setup {
    dir: tempfile::TempDir,
    net: Vec<(String, String)>,
    loop_pool: bool,
}

impl Setup {
    /// A loop-mounted btrfs pool with the Debian 13 image (`hoody pool init`, `hoody image
    /// build`: cached after the first build on this machine).
    fn btrfs() -> Setup {
        let s = Setup::new(true);
        s.hoody(&["pool", "init", "--size", "6G"]);
        s.hoody(&["image", "build", "debian-13"]);
        s
    }

    /// A plain-directory pool and no image: enough for everything but machines.
    fn directory() -> Setup {
        let s = Setup::new(false);
        drop(hoody_fs::Pool::create(s.pool()).unwrap());
        s
    }

    fn new(loop_pool: bool) -> Setup {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}-", unique_name("host")))
            .tempdir_in("/var/tmp")
            .unwrap();
        // A /24 of 10.112.0.0/14 from the pid and a counter (hoodyd's tests use 10.96/12).
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let slot = (std::process::id() * 5 + n * 17) % 1000;
        let net = vec![
            ("HOODY_NET_NAME".to_string(), unique_name("hnet")),
            (
                "HOODY_NET_POOL".to_string(),
                format!("10.{}.{}.0/24", 112 + slot / 256, slot % 256),
            ),
            (
                "HOODY_NET_STATE".to_string(),
                dir.path().join("net").display().to_string(),
            ),
        ];
        Setup {
            dir,
            net,
            loop_pool,
        }
    }

    fn pool(&self) -> PathBuf {
        self.dir.path().join("pool")
    }

    fn hoody(&self, args: &[&str]) -> String {
        let out = Command::new(bin("hoody"))
            .env("HOODY_POOL", self.pool())
            .env("HOODY_POOL_REGISTRY", self.dir.path().join("registry.json"))
            .env("HOODY_RUN_DIR", self.dir.path().join("run"))
            .envs(self.net.iter().map(|(k, v)| (k, v)))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hoody {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn config(&self) -> HostConfig {
        let mut cfg = HostConfig::new(self.pool(), bin("hoody-monitor"));
        cfg.run_dir = self.dir.path().join("run");
        cfg.server_name = Some("node-1".into());
        cfg.watch_interval = Duration::from_millis(200);
        cfg.monitor_env = self.net.clone();
        cfg.endpoint = "in-process test".into();
        cfg.ramdisk_dir = self.dir.path().join("ramdisk");
        cfg.ramdisk_size = Some(64 << 20);
        cfg
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = Command::new(bin("hoody"))
            .envs(self.net.iter().map(|(k, v)| (k, v)))
            .args(["net", "uninstall"])
            .output();
        if self.loop_pool {
            let _ = Command::new("umount").arg(self.pool()).status();
        }
        let _ = Command::new("umount")
            .arg(self.dir.path().join("ramdisk"))
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// The error of `r` as the API reports it.
fn refused<T: std::fmt::Debug>(r: Result<T, HostError>) -> ApiError {
    ApiError::from(r.unwrap_err())
}

fn wait_settled(h: &Host, id: &str) -> Container {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let c = h.get_container(id).unwrap();
        if !c.status.is_busy() {
            return c;
        }
        assert!(Instant::now() < deadline, "{id} stuck in {:?}", c.status);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Create, stop, start, snapshot, restore and delete through `Host`'s methods; the pool is
/// the Host's alone while it lives (direct writers refused, readers fine, a second Host
/// refused) and free again when it is dropped.
#[test]
fn host_runs_a_container_lifecycle_in_process() {
    let s = Setup::btrfs();
    let h = Host::open(s.config()).unwrap();
    let mut events = h.subscribe();
    let sid = h.server().unwrap().id;
    let p = h
        .create_project(CreateProject {
            alias: "hoodytest-inproc".into(),
            ..Default::default()
        })
        .unwrap();
    let c = h
        .create_container(
            &p.id,
            CreateContainer {
                server_id: sid.clone(),
                name: Some("inproc".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(c.status, ContainerStatus::Creating);
    let c = wait_settled(&h, &c.id);
    assert_eq!(c.status, ContainerStatus::Running);
    assert!(
        std::iter::from_fn(|| events.try_recv().ok()).any(|e| e.kind.contains("create")),
        "no create event was broadcast"
    );

    // The one door, seen from an embedder's side.
    match hoody_fs::Pool::open(s.pool()) {
        Err(hoody_fs::FsError::Served { holder, .. }) => {
            assert_eq!(holder.pid, std::process::id());
            assert_eq!(holder.serves.as_deref(), Some("in-process test"));
        }
        other => panic!("a direct writer was not refused: {other:?}"),
    }
    let ro = hoody_fs::Pool::open_read_only(s.pool()).unwrap();
    assert!(ro.containers().unwrap().iter().any(|x| x.name == c.id));
    assert!(matches!(
        ro.remove_container(&c.id),
        Err(hoody_fs::FsError::ReadOnly { .. })
    ));
    let second = refused(Host::open(s.config()));
    assert_eq!(second.code, "STATE_IN_USE", "{second:?}");

    let r = h.operate(&c.id, Operation::Stop).unwrap();
    assert_eq!(r.status, ContainerStatus::Stopped);
    let snap = h
        .create_snapshot(
            &c.id,
            CreateSnapshot {
                alias: Some("clean".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(h.list_snapshots(&c.id).unwrap().snapshot_count, 1);
    let r = h.operate(&c.id, Operation::Start).unwrap();
    assert_eq!(r.status, ContainerStatus::Running);
    let restored = h.restore_snapshot(&c.id, &snap.name).unwrap();
    assert_eq!(restored.status, ContainerStatus::Running);

    h.delete_container(&c.id).unwrap();
    assert_eq!(refused(h.get_container(&c.id)).status, 404);
    assert!(!s.pool().join("containers").join(&c.id).exists());
    assert!(!s.pool().join("machines").join(&c.id).exists());

    // Dropping the Host lets go of the pool.
    drop(h);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match hoody_fs::Pool::open(s.pool()) {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "the pool stayed locked: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Bad input gets the API's error codes straight from `Host`, and tokens round-trip.
#[test]
fn host_checks_input_and_keeps_tokens_in_process() {
    let s = Setup::directory();
    let h = Host::open(s.config()).unwrap();

    let e = refused(h.create_project(CreateProject {
        alias: String::new(),
        ..Default::default()
    }));
    assert_eq!(
        (e.status, e.data[0].instance_path.as_str()),
        (422, "/alias")
    );
    let e = refused(h.get_project("not-an-id"));
    assert_eq!((e.status, e.code.as_str()), (400, "INVALID_ID_FORMAT"));
    let e = refused(h.get_project("0123456789abcdef01234567"));
    assert_eq!((e.status, e.code.as_str()), (404, "PROJECT_NOT_FOUND"));
    let p = h
        .create_project(CreateProject {
            alias: "hoodytest-checks".into(),
            ..Default::default()
        })
        .unwrap();
    let e = refused(h.create_container(
        &p.id,
        CreateContainer {
            server_id: "0123456789abcdef01234567".into(),
            ..Default::default()
        },
    ));
    assert_eq!(e.status, 404, "{e:?}");
    assert!(e.message.contains("0123456789abcdef01234567"), "{e:?}");

    let t = h
        .create_token(
            CreateToken {
                alias: Some("ci".into()),
                ..Default::default()
            },
            &Caller::root(),
        )
        .unwrap();
    assert!(t.token.starts_with("hdy_"));
    let verify = |s: &str| h.verify_token(s, None, None);
    assert_eq!(verify(&t.token).unwrap().token.unwrap().id, t.info.id);
    assert_eq!(refused(verify("hdy_wrong")).status, 401);
    h.delete_token(&t.info.id, &Caller::root()).unwrap();
    assert_eq!(refused(verify(&t.token)).status, 401);
    assert!(h.list_tokens(&Caller::root()).unwrap().is_empty());
}
