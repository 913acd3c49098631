//! Copying a container with its snapshots to another pool: a byte stream out of one pool and
//! into another, incremental when the receiver already has a common snapshot.
//!
//! This uses the `btrfs send` and `btrfs receive` programs. They are not on a latency-critical
//! path (a copy moves the container's data anyway), and the send-stream format and its
//! receive-side replay (clone ranges, xattrs, UUID bookkeeping) are a large piece of
//! btrfs-progs that libbtrfsutil does not offer; reimplementing them would only add risk.
//!
//! ## Stream format
//!
//! ```text
//! "HOODYSTREAM1\n"
//! u32 LE length, then the manifest (JSON: container, snapshots, base, tip)
//! for each subvolume, in manifest order (snapshots oldest first, then the tip):
//!     chunks of (u32 LE length, bytes) holding one `btrfs send` stream, ended by a 0 length
//! ```
//!
//! The *tip* is a read-only snapshot of the live root file system taken for the transfer.
//! Each subvolume is sent with the previous one (or the common `base` snapshot) as its
//! parent, so only differences travel; received snapshots keep their received UUIDs, which is
//! what later incremental sends need.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, tool_message};
use crate::error::{FsError, Result};
use crate::name::validate;
use crate::pool::{ContainerInfo, Pool, write_json};
use crate::snapshot::SnapshotInfo;

const MAGIC: &[u8] = b"HOODYSTREAM1\n";
const CHUNK: usize = 256 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    container: ContainerInfo,
    /// Snapshots carried by the stream, oldest first.
    snapshots: Vec<SnapshotInfo>,
    /// Snapshot the receiver must already have (incremental stream).
    base: Option<String>,
    /// Subvolume name of the tip inside its `btrfs send` stream.
    tip: String,
}

/// What a send wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendStats {
    /// Bytes written to the output.
    pub bytes: u64,
    /// Number of subvolumes in the stream (snapshots plus the tip).
    pub subvolumes: usize,
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    bytes: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn stream_err(e: std::io::Error) -> FsError {
    FsError::Stream(e.to_string())
}

impl Pool {
    fn require_btrfs(&self, operation: &'static str) -> Result<()> {
        if self.backend() != Backend::Btrfs {
            return Err(FsError::NeedsBtrfs {
                operation,
                pool: self.root().to_path_buf(),
            });
        }
        Ok(())
    }

    /// Writes `container`, its snapshots and its current state to `out`. With `since` (a
    /// snapshot the receiving pool already has from an earlier transfer), only later snapshots
    /// and the differences travel.
    pub fn send_container(
        &self,
        container: &str,
        since: Option<&str>,
        out: &mut dyn Write,
    ) -> Result<SendStats> {
        self.check_writable()?;
        self.require_btrfs("send")?;
        let live = self.container_path(container)?;
        let info = self.container(container)?;
        let all = self.snapshots(container)?;
        let (mut parent, to_send): (Option<PathBuf>, Vec<SnapshotInfo>) = match since {
            None => (None, all),
            Some(base) => {
                let (base_info, base_path) = self.find_snapshot(container, base)?;
                let later = all
                    .into_iter()
                    .filter(|s| {
                        (s.created_at_secs, &s.name) > (base_info.created_at_secs, &base_info.name)
                    })
                    .collect();
                (Some(base_path), later)
            }
        };
        let tip = self.staging_path("send-tip")?;
        self.backend().snapshot(&live, &tip, true)?;
        let result = (|| {
            let mut w = CountingWriter {
                inner: out,
                bytes: 0,
            };
            let tip_name = tip
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let manifest = Manifest {
                container: info,
                snapshots: to_send.clone(),
                base: since.map(|b| {
                    self.find_snapshot(container, b)
                        .map(|(i, _)| i.name)
                        .unwrap_or_else(|_| b.to_string())
                }),
                tip: tip_name,
            };
            let m = serde_json::to_vec(&manifest).map_err(|e| FsError::Stream(e.to_string()))?;
            w.write_all(MAGIC).map_err(stream_err)?;
            w.write_all(&(m.len() as u32).to_le_bytes())
                .map_err(stream_err)?;
            w.write_all(&m).map_err(stream_err)?;
            let dir = self.root().join("snapshots").join(container);
            let mut paths: Vec<PathBuf> = to_send.iter().map(|s| dir.join(&s.name)).collect();
            paths.push(tip.clone());
            for p in &paths {
                send_one(p, parent.as_deref(), &mut w)?;
                parent = Some(p.clone());
            }
            w.flush().map_err(stream_err)?;
            Ok(SendStats {
                bytes: w.bytes,
                subvolumes: paths.len(),
            })
        })();
        self.backend().delete(&tip)?;
        result
    }

    /// Reads a stream written by [`Pool::send_container`] and creates (or, for an
    /// incremental stream, updates) the container in this pool. Nothing becomes visible until
    /// every subvolume has arrived.
    pub fn receive_container(&self, input: &mut dyn Read) -> Result<ContainerInfo> {
        self.check_writable()?;
        self.require_btrfs("receive")?;
        let mut magic = [0u8; MAGIC.len()];
        input.read_exact(&mut magic).map_err(stream_err)?;
        if magic != MAGIC {
            return Err(FsError::Stream(
                "bad magic: not a hoody container stream".into(),
            ));
        }
        let mut len = [0u8; 4];
        input.read_exact(&mut len).map_err(stream_err)?;
        let len = u32::from_le_bytes(len) as usize;
        if len > 16 << 20 {
            return Err(FsError::Stream(format!(
                "manifest of {len} bytes is too large"
            )));
        }
        let mut m = vec![0u8; len];
        input.read_exact(&mut m).map_err(stream_err)?;
        let manifest: Manifest =
            serde_json::from_slice(&m).map_err(|e| FsError::Stream(format!("manifest: {e}")))?;
        let name = manifest.container.name.clone();
        validate("container", &name)?;
        for s in &manifest.snapshots {
            validate("snapshot", &s.name)?;
        }
        let exists = self.container_path(&name).is_ok();
        match (&manifest.base, exists) {
            (None, true) => return Err(self.exists("container", &name)),
            (Some(b), true) => {
                self.find_snapshot(&name, b)?;
            }
            (Some(_), false) => return Err(self.not_found("container", &name)),
            (None, false) => {}
        }
        let stage = self.staging_path("receive")?;
        std::fs::create_dir(&stage).map_err(|e| FsError::io("create", &stage, e))?;
        let result = self.receive_into(&stage, &manifest, input, exists);
        // Whatever is still in the stage did not make it into the pool.
        if let Ok(entries) = std::fs::read_dir(&stage) {
            for e in entries.flatten() {
                let _ = self.backend().delete(&e.path());
            }
        }
        let _ = std::fs::remove_dir(&stage);
        result
    }

    fn receive_into(
        &self,
        stage: &Path,
        manifest: &Manifest,
        input: &mut dyn Read,
        update: bool,
    ) -> Result<ContainerInfo> {
        let name = &manifest.container.name;
        let snap_dir = self.root().join("snapshots").join(name);
        std::fs::create_dir_all(&snap_dir).map_err(|e| FsError::io("create", &snap_dir, e))?;
        for s in &manifest.snapshots {
            if snap_dir.join(&s.name).exists() {
                return Err(self.exists("snapshot", &format!("{name}/{}", s.name)));
            }
        }
        // Received subvolumes are read-only and cannot be moved to another directory, so
        // snapshots are received straight into the container's snapshot directory; they stay
        // invisible (no metadata) until everything has arrived, and are removed on failure.
        let mut received: Vec<PathBuf> = Vec::new();
        let result = (|| -> Result<()> {
            for s in &manifest.snapshots {
                receive_one(&snap_dir, input)?;
                let p = snap_dir.join(&s.name);
                if !p.exists() {
                    return Err(FsError::Stream(format!(
                        "stream did not contain snapshot {}",
                        s.name
                    )));
                }
                received.push(p);
            }
            receive_one(stage, input)?;
            if !stage.join(&manifest.tip).exists() {
                return Err(FsError::Stream(
                    "stream did not contain the container's tip".into(),
                ));
            }
            Ok(())
        })();
        if let Err(e) = result {
            for p in &received {
                let _ = self.backend().delete(p);
            }
            return Err(e);
        }
        for s in &manifest.snapshots {
            write_json(&crate::pool::meta_path(&snap_dir.join(&s.name)), s)?;
        }
        let tip = stage.join(&manifest.tip);
        if update {
            // Replace the live tree like a restore does: new tree ready, then two renames.
            let live = self.container_path(name)?;
            let new_tree = self.staging_path("receive-new")?;
            let old_tree = self.staging_path("receive-old")?;
            self.backend().snapshot(&tip, &new_tree, false)?;
            std::fs::rename(&live, &old_tree)
                .map_err(|e| FsError::io("move the live tree aside", &live, e))?;
            std::fs::rename(&new_tree, &live)
                .map_err(|e| FsError::io("move the received tree into place", &live, e))?;
            self.backend().delete(&old_tree)?;
            self.container(name)
        } else {
            self.place_container(&tip, &manifest.container)?;
            Ok(manifest.container.clone())
        }
    }
}

fn send_one(path: &Path, parent: Option<&Path>, w: &mut dyn Write) -> Result<()> {
    let mut cmd = Command::new("btrfs");
    cmd.args(["send", "-q"]);
    if let Some(p) = parent {
        cmd.arg("-p").arg(p);
    }
    cmd.arg(path).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| FsError::io("run btrfs send for", path, e))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| FsError::Stream("btrfs send has no stdout".into()))?;
    let mut buf = vec![0u8; CHUNK];
    let copy = (|| -> std::io::Result<()> {
        loop {
            let n = stdout.read(&mut buf)?;
            if n == 0 {
                break;
            }
            w.write_all(&(n as u32).to_le_bytes())?;
            w.write_all(&buf[..n])?;
        }
        w.write_all(&0u32.to_le_bytes())
    })();
    drop(stdout);
    let out = child
        .wait_with_output()
        .map_err(|e| FsError::io("wait for btrfs send of", path, e))?;
    if !out.status.success() {
        return Err(FsError::Tool {
            tool: format!("btrfs send {}", path.display()),
            message: tool_message(&out),
        });
    }
    copy.map_err(stream_err)
}

fn receive_one(stage: &Path, input: &mut dyn Read) -> Result<()> {
    let mut child = Command::new("btrfs")
        .args(["receive", "-q"])
        .arg(stage)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| FsError::io("run btrfs receive into", stage, e))?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| FsError::Stream("btrfs receive has no stdin".into()))?;
    let mut buf = vec![0u8; CHUNK];
    let copy = (|| -> Result<()> {
        loop {
            let mut len = [0u8; 4];
            input.read_exact(&mut len).map_err(stream_err)?;
            let n = u32::from_le_bytes(len) as usize;
            if n == 0 {
                return Ok(());
            }
            if n > buf.len() {
                return Err(FsError::Stream(format!("chunk of {n} bytes is too large")));
            }
            input.read_exact(&mut buf[..n]).map_err(stream_err)?;
            // A write error means receive died; its status says why.
            if stdin.write_all(&buf[..n]).is_err() {
                return Ok(());
            }
        }
    })();
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| FsError::io("wait for btrfs receive into", stage, e))?;
    copy?;
    if !out.status.success() {
        return Err(FsError::Tool {
            tool: format!("btrfs receive {}", stage.display()),
            message: tool_message(&out),
        });
    }
    Ok(())
}
