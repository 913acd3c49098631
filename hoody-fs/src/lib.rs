//! # hoody-fs: storage for hoody containers
//!
//! A [`Pool`] holds images (read-only trees containers are created from), containers' root
//! file systems (writable snapshots of an image) and their snapshots, with two backends behind
//! one API ([`Backend`]):
//!
//! * **btrfs**: every tree is a subvolume; snapshot, restore and branch are copy-on-write
//!   ioctls through libbtrfsutil and cost milliseconds whatever the size. A host without a
//!   btrfs file system gets one on a sparse image file, loop-mounted ([`loopdev`]).
//! * **directory**: plain directories and full copies (reflinks where the file system has
//!   them) for hosts without btrfs. Same API, same tests, slower; send/receive is btrfs-only.
//!
//! ```no_run
//! use hoody_fs::{Pool, SnapshotOptions};
//!
//! let pool = Pool::open("/var/lib/hoody")?;
//! pool.create_container("web", "debian-13")?;
//! let snap = pool.create_snapshot("web", &SnapshotOptions::default())?;
//! // ... the container changes files ...
//! pool.restore("web", &snap.name)?;
//! pool.branch("web", &snap.name, "web-copy")?;
//! # Ok::<(), hoody_fs::FsError>(())
//! ```
//!
//! Every multi-step change goes through `staging/` inside the pool and appears with an atomic
//! rename, so a crash never leaves a half-made object visible; restores are journalled and
//! repaired by the next [`Pool::open`] (see [`snapshot`]).
//!
//! Disk limits: not enforced. btrfs qgroups are what could do it, and the btrfs developers
//! document that qgroup accounting gets expensive with many snapshots (every snapshot and
//! delete walks backrefs), which is exactly this workload; simple quotas (`squota`, kernel 6.7+)
//! avoid that cost but need btrfs-progs 6.7+ to enable, newer than this project's Debian 12
//! build machines ship. [`Pool::disk_usage`] reports what a container holds instead.
//!
//! Concurrency: one writer per pool at a time, by a lock ([`lock`]): [`Pool::serve`] for the
//! daemon (direct writers are then refused, naming it), [`Pool::open`] for a direct change,
//! [`Pool::open_read_only`] for reading at any time. Only a writer sweeps `staging/`.

pub mod backend;
pub mod error;
pub mod image;
pub mod lock;
pub mod loopdev;
pub mod name;
pub mod pool;
pub mod send;
pub mod snapshot;
pub mod usage;

pub use backend::Backend;
pub use error::{FsError, Result};
pub use image::{ImageRecipe, Progress};
pub use lock::Holder;
pub use loopdev::{LoopPool, init_loop_pool, mount_recorded_pools};
pub use pool::{ContainerInfo, ImageInfo, Pool};
pub use send::SendStats;
pub use snapshot::{RestoreStep, SnapshotInfo, SnapshotOptions};
