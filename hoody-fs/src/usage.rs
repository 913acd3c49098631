//! Disk usage of a tree.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{FsError, Result};

/// Sum of the apparent sizes of the regular files under `root` (symlinks not followed; a
/// hard-linked inode counted once).
pub fn tree_bytes(root: &Path) -> Result<u64> {
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| FsError::io("read", &dir, e))?;
        for e in entries {
            let e = e.map_err(|err| FsError::io("read", &dir, err))?;
            let m = e
                .metadata()
                .map_err(|err| FsError::io("stat", e.path(), err))?;
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && (m.nlink() == 1 || seen.insert((m.dev(), m.ino()))) {
                total += m.len();
            }
        }
    }
    Ok(total)
}
