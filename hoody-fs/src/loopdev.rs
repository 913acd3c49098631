//! Pools on a loop-mounted btrfs image file, for hosts without a btrfs file system.
//!
//! [`init_loop_pool`] creates a sparse image file, formats it with `mkfs.btrfs` (once, a CLI
//! call is fine there), attaches it to a free loop device with `LOOP_CONFIGURE` and
//! `LO_FLAGS_AUTOCLEAR` (so unmounting releases the loop device by itself), mounts it, and
//! records it in a small registry file (default `/etc/hoody/pools.json`) so that
//! [`mount_recorded_pools`] mounts it again after a reboot or when the daemon starts.
//! Running it again on an initialised pool changes nothing.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{FsError, Result};
use crate::pool::{Pool, read_json, write_json};

/// Default location of the pool registry.
pub const DEFAULT_REGISTRY: &str = "/etc/hoody/pools.json";

/// A loop-backed pool: its mount point, image file and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoopPool {
    /// Where the pool is mounted.
    pub path: PathBuf,
    /// The btrfs image file.
    pub image: PathBuf,
    /// Size of the image file in bytes (sparse).
    pub size: u64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    pools: Vec<LoopPool>,
}

const LOOP_CTL_GET_FREE: libc::c_ulong = 0x4C82;
const LOOP_CONFIGURE: libc::c_ulong = 0x4C0A;
const LO_FLAGS_AUTOCLEAR: u32 = 4;

#[repr(C)]
struct LoopInfo64 {
    lo_device: u64,
    lo_inode: u64,
    lo_rdevice: u64,
    lo_offset: u64,
    lo_sizelimit: u64,
    lo_number: u32,
    lo_encrypt_type: u32,
    lo_encrypt_key_size: u32,
    lo_flags: u32,
    lo_file_name: [u8; 64],
    lo_crypt_name: [u8; 64],
    lo_encrypt_key: [u8; 32],
    lo_init: [u64; 2],
}

#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

/// Whether `path` is a mount point (per `/proc/self/mountinfo`).
pub fn is_mount_point(path: &Path) -> bool {
    hoody_sys::fs::is_mount_point(path)
}

/// Attaches `image` to a free loop device with autoclear and returns the open device.
fn attach_loop(image: &Path) -> Result<(std::fs::File, PathBuf)> {
    let backing = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(|e| FsError::io("open pool image", image, e))?;
    let ctl = std::fs::File::open("/dev/loop-control")
        .map_err(|e| FsError::io("open", "/dev/loop-control", e))?;
    for _ in 0..32 {
        // SAFETY: LOOP_CTL_GET_FREE takes no argument and returns a device number.
        let n = unsafe { libc::ioctl(ctl.as_raw_fd(), LOOP_CTL_GET_FREE) };
        if n < 0 {
            return Err(FsError::io(
                "find a free loop device",
                "/dev/loop-control",
                std::io::Error::last_os_error(),
            ));
        }
        let dev_path = PathBuf::from(format!("/dev/loop{n}"));
        let dev = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&dev_path)
            .map_err(|e| FsError::io("open", &dev_path, e))?;
        let mut name = [0u8; 64];
        let bytes = image.as_os_str().as_bytes();
        let len = bytes.len().min(63);
        name[..len].copy_from_slice(&bytes[..len]);
        let cfg = LoopConfig {
            fd: backing.as_raw_fd() as u32,
            block_size: 0,
            info: LoopInfo64 {
                lo_device: 0,
                lo_inode: 0,
                lo_rdevice: 0,
                lo_offset: 0,
                lo_sizelimit: 0,
                lo_number: 0,
                lo_encrypt_type: 0,
                lo_encrypt_key_size: 0,
                lo_flags: LO_FLAGS_AUTOCLEAR,
                lo_file_name: name,
                lo_crypt_name: [0; 64],
                lo_encrypt_key: [0; 32],
                lo_init: [0; 2],
            },
            reserved: [0; 8],
        };
        // SAFETY: cfg is a valid loop_config that outlives the call.
        let r = unsafe { libc::ioctl(dev.as_raw_fd(), LOOP_CONFIGURE, &cfg as *const LoopConfig) };
        if r == 0 {
            return Ok((dev, dev_path));
        }
        let e = std::io::Error::last_os_error();
        // Another process took this device between GET_FREE and CONFIGURE: try the next.
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(FsError::io("attach pool image to", dev_path, e));
        }
    }
    Err(FsError::io(
        "attach pool image",
        image,
        std::io::ErrorKind::ResourceBusy.into(),
    ))
}

/// Mounts the btrfs in `image` at `path`.
fn mount_image(image: &Path, path: &Path) -> Result<()> {
    let (dev, dev_path) = attach_loop(image)?;
    let src = CString::new(dev_path.as_os_str().as_bytes())
        .map_err(|_| FsError::io("mount", path, std::io::ErrorKind::InvalidInput.into()))?;
    let dst = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| FsError::io("mount", path, std::io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: all pointers are valid C strings; data is NULL.
    let r = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            c"btrfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    let err = std::io::Error::last_os_error();
    // With autoclear, closing our fd releases the loop device unless the mount holds it.
    drop(dev);
    if r != 0 {
        return Err(FsError::io("mount btrfs pool image at", path, err));
    }
    Ok(())
}

/// Unmounts a loop pool (the loop device is released by autoclear). Retries for up to two
/// seconds while the file system is busy (a process forked elsewhere may briefly hold an
/// inherited descriptor into it until it executes), then detaches it lazily: it disappears
/// from the mount table at once and goes away when its last user does.
pub fn unmount_pool(path: &Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| FsError::io("unmount", path, std::io::ErrorKind::InvalidInput.into()))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        // SAFETY: c is a valid C string.
        if unsafe { libc::umount2(c.as_ptr(), 0) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) {
            return Err(FsError::io("unmount", path, e));
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: c is a valid C string.
            if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
                return Ok(());
            }
            return Err(FsError::io(
                "unmount",
                path,
                std::io::Error::last_os_error(),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Creates (if needed), mounts (if needed) and records a loop-backed btrfs pool, then opens
/// it. `registry` is the record file ([`DEFAULT_REGISTRY`] normally).
pub fn init_loop_pool(spec: &LoopPool, registry: &Path) -> Result<Pool> {
    std::fs::create_dir_all(&spec.path)
        .map_err(|e| FsError::io("create pool mount point", &spec.path, e))?;
    if !is_mount_point(&spec.path) {
        if !spec.image.exists() {
            if std::fs::read_dir(&spec.path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
            {
                return Err(FsError::io(
                    "create a pool over the non-empty directory",
                    &spec.path,
                    std::io::ErrorKind::DirectoryNotEmpty.into(),
                ));
            }
            create_image(&spec.image, spec.size)?;
        }
        mount_image(&spec.image, &spec.path)?;
    }
    record(registry, spec)?;
    Pool::create(&spec.path)
}

fn create_image(image: &Path, size: u64) -> Result<()> {
    if let Some(dir) = image.parent() {
        std::fs::create_dir_all(dir).map_err(|e| FsError::io("create", dir, e))?;
    }
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(image)
        .map_err(|e| FsError::io("create pool image", image, e))?;
    if let Err(e) = f.set_len(size) {
        let _ = std::fs::remove_file(image);
        return Err(FsError::io("size pool image", image, e));
    }
    drop(f);
    let out = std::process::Command::new("mkfs.btrfs")
        .args(["-q", "-f"])
        .arg(image)
        .output()
        .map_err(|e| FsError::io("run mkfs.btrfs on", image, e))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(image);
        return Err(FsError::Tool {
            tool: format!("mkfs.btrfs {}", image.display()),
            message: crate::backend::tool_message(&out),
        });
    }
    Ok(())
}

fn record(registry: &Path, spec: &LoopPool) -> Result<()> {
    let mut reg: Registry = if registry.exists() {
        read_json(registry)?
    } else {
        Registry::default()
    };
    if reg.pools.iter().any(|p| p.path == spec.path) {
        return Ok(());
    }
    reg.pools.push(spec.clone());
    if let Some(dir) = registry.parent() {
        std::fs::create_dir_all(dir).map_err(|e| FsError::io("create", dir, e))?;
    }
    write_json(registry, &reg)
}

/// The pools in the registry.
pub fn recorded_pools(registry: &Path) -> Result<Vec<LoopPool>> {
    if !registry.exists() {
        return Ok(Vec::new());
    }
    Ok(read_json::<Registry>(registry)?.pools)
}

/// Mounts every recorded pool that is not mounted; returns the ones it mounted.
pub fn mount_recorded_pools(registry: &Path) -> Result<Vec<PathBuf>> {
    let mut mounted = Vec::new();
    for p in recorded_pools(registry)? {
        if !is_mount_point(&p.path) && p.image.exists() {
            std::fs::create_dir_all(&p.path).map_err(|e| FsError::io("create", &p.path, e))?;
            mount_image(&p.image, &p.path)?;
            mounted.push(p.path);
        }
    }
    Ok(mounted)
}

/// Removes a pool from the registry (after unmounting it yourself).
pub fn forget_pool(registry: &Path, path: &Path) -> Result<()> {
    if !registry.exists() {
        return Ok(());
    }
    let mut reg: Registry = read_json(registry)?;
    reg.pools.retain(|p| p.path != path);
    write_json(registry, &reg)
}
