//! IPAM: persistent address allocations in a small file store.
//!
//! The state is one JSON file, `<state_dir>/ipam.json`, rewritten atomically (write a
//! temporary file, fsync, rename) under an exclusive `flock` on `<state_dir>/ipam.lock`. The
//! lock serialises every read-modify-write across threads and processes (each operation opens
//! its own file description), so concurrent creates never get the same address, and a crash
//! leaves either the old or the new state, never a torn one.
//!
//! A record is written *before* any kernel object is created for it (write-ahead): a
//! [`gc`](crate::Network::gc) that runs concurrently sees the record and leaves the half-made
//! network alone, and after a crash the record tells the sweep what to remove.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::config::Ipv4Cidr;
use crate::error::{NetError, Result};

/// The process that owns an allocation (for `hoody run --net auto`: the CLI process); the
/// sweep frees allocations whose owner is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Its start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`), so that a
    /// recycled pid is not mistaken for the owner.
    pub start_time: u64,
}

impl Owner {
    /// The calling process.
    pub fn current() -> Option<Owner> {
        let pid = std::process::id();
        Some(Owner {
            pid,
            start_time: process_start_time(pid)?,
        })
    }

    /// Whether the owner process still runs.
    pub fn is_alive(&self) -> bool {
        process_start_time(self.pid) == Some(self.start_time)
    }
}

/// Start time of `pid` in clock ticks since boot.
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// One container's network, as recorded in the IPAM store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// Container id.
    pub id: String,
    /// The container's address (a /32).
    pub ip: Ipv4Addr,
    /// Host-side interface name.
    pub ifname: String,
    /// Network namespace file the container end lives in.
    pub netns: PathBuf,
    /// Whether hoody created that namespace (and removes it on destroy).
    pub owns_netns: bool,
    /// The owning process, when the network lives only as long as a process.
    pub owner: Option<Owner>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    allocations: BTreeMap<String, Attachment>,
}

/// The file store.
#[derive(Debug, Clone)]
pub(crate) struct Ipam {
    dir: PathBuf,
    pool: Ipv4Cidr,
}

impl Ipam {
    pub(crate) fn open(dir: &Path, pool: Ipv4Cidr) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| NetError::io("create", dir, e))?;
        Ok(Ipam {
            dir: dir.to_path_buf(),
            pool,
        })
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("ipam.json")
    }

    fn lock(&self) -> Result<Flock<File>> {
        let path = self.dir.join("ipam.lock");
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| NetError::io("open", &path, e))?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map_err(|(_, e)| NetError::sys(format!("lock {}", path.display()), e))
    }

    fn read(&self) -> Result<State> {
        let path = self.state_path();
        match std::fs::read(&path) {
            Ok(b) if b.is_empty() => Ok(State::default()),
            Ok(b) => serde_json::from_slice(&b).map_err(|e| NetError::CorruptState {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(NetError::io("read", path, e)),
        }
    }

    fn write(&self, state: &State) -> Result<()> {
        let path = self.state_path();
        let tmp = self.dir.join(".ipam.json.tmp");
        let data = serde_json::to_vec_pretty(state).map_err(|e| NetError::CorruptState {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut f = File::create(&tmp).map_err(|e| NetError::io("create", &tmp, e))?;
        f.write_all(&data)
            .and_then(|()| f.sync_data())
            .map_err(|e| NetError::io("write", &tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| NetError::io("rename into place", &path, e))
    }

    /// Runs `f` on the state under the lock and saves it when `f` returns `Ok`.
    fn update<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let _lock = self.lock()?;
        let mut state = self.read()?;
        let out = f(&mut state)?;
        self.write(&state)?;
        Ok(out)
    }

    /// Records a new allocation for `id` with the lowest free address of the pool; `make`
    /// builds the record from the address.
    pub(crate) fn allocate(
        &self,
        id: &str,
        make: impl FnOnce(Ipv4Addr) -> Attachment,
    ) -> Result<Attachment> {
        let pool = self.pool;
        self.update(|s| {
            if let Some(a) = s.allocations.get(id) {
                return Err(NetError::AlreadyAttached {
                    id: id.to_string(),
                    ip: a.ip,
                    ifname: a.ifname.clone(),
                });
            }
            let used: std::collections::HashSet<Ipv4Addr> =
                s.allocations.values().map(|a| a.ip).collect();
            let ip = pool.hosts().find(|ip| !used.contains(ip)).ok_or_else(|| {
                NetError::PoolExhausted {
                    pool: pool.to_string(),
                    size: pool.host_count(),
                }
            })?;
            let a = make(ip);
            s.allocations.insert(id.to_string(), a.clone());
            Ok(a)
        })
    }

    /// Frees `id`'s allocation; returns it if there was one.
    pub(crate) fn release(&self, id: &str) -> Result<Option<Attachment>> {
        self.update(|s| Ok(s.allocations.remove(id)))
    }

    /// Every allocation.
    pub(crate) fn list(&self) -> Result<Vec<Attachment>> {
        let _lock = self.lock()?;
        Ok(self.read()?.allocations.into_values().collect())
    }

    /// The allocation of `id`.
    pub(crate) fn get(&self, id: &str) -> Result<Option<Attachment>> {
        let _lock = self.lock()?;
        Ok(self.read()?.allocations.remove(id))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn alloc(id: &str, ip: Ipv4Addr) -> Attachment {
        Attachment {
            id: id.into(),
            ip,
            ifname: format!("hv{id}"),
            netns: PathBuf::from("/nonexistent"),
            owns_netns: false,
            owner: None,
        }
    }

    #[test]
    fn allocates_lowest_free_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let pool: Ipv4Cidr = "10.9.0.0/29".parse().unwrap();
        let ipam = Ipam::open(dir.path(), pool).unwrap();
        let a = ipam.allocate("a", |ip| alloc("a", ip)).unwrap();
        let b = ipam.allocate("b", |ip| alloc("b", ip)).unwrap();
        assert_eq!(a.ip, Ipv4Addr::new(10, 9, 0, 1));
        assert_eq!(b.ip, Ipv4Addr::new(10, 9, 0, 2));
        assert!(matches!(
            ipam.allocate("a", |ip| alloc("a", ip)),
            Err(NetError::AlreadyAttached { .. })
        ));
        // A new store on the same directory (a restart) sees the allocations.
        let again = Ipam::open(dir.path(), pool).unwrap();
        assert_eq!(again.list().unwrap().len(), 2);
        again.release("a").unwrap();
        let c = again.allocate("c", |ip| alloc("c", ip)).unwrap();
        assert_eq!(c.ip, Ipv4Addr::new(10, 9, 0, 1));
    }

    #[test]
    fn exhaustion_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::open(dir.path(), "10.9.0.0/30".parse().unwrap()).unwrap();
        ipam.allocate("a", |ip| alloc("a", ip)).unwrap();
        ipam.allocate("b", |ip| alloc("b", ip)).unwrap();
        let e = ipam.allocate("c", |ip| alloc("c", ip)).unwrap_err();
        assert!(e.to_string().contains("10.9.0.0/30 is exhausted"), "{e}");
        assert_eq!(ipam.list().unwrap().len(), 2);
    }

    #[test]
    fn concurrent_allocations_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let ipam = Ipam::open(dir.path(), "10.9.0.0/24".parse().unwrap()).unwrap();
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let ipam = ipam.clone();
                std::thread::spawn(move || {
                    (0..20)
                        .map(|i| {
                            let id = format!("c{t}-{i}");
                            ipam.allocate(&id, |ip| alloc(&id, ip)).unwrap().ip
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<Ipv4Addr> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        assert_eq!(all.len(), 160);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 160, "an address was handed out twice");
        assert_eq!(ipam.list().unwrap().len(), 160);
    }
}
