//! What a test sees of a host's files: [`FileInfo`] for one path, [`FsSnapshot`] for all.

use std::collections::BTreeMap;

/// What [`crate::FakeHost::stat`] tells about a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Inode number: the same for an in-place write, new for a replacement.
    pub inode: u64,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Size in bytes (0 for a directory).
    pub size: u64,
    /// Permission bits, e.g. `0o644`.
    pub mode: u32,
    /// Owner's user name.
    pub owner: String,
}

/// Every path of a host with what it holds: compare two to prove nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FsSnapshot {
    /// Path → (info, bytes; empty for directories).
    pub entries: BTreeMap<String, (FileInfo, Vec<u8>)>,
}

impl FsSnapshot {
    /// Paths that differ between `self` and `other` (added, removed, or changed in content,
    /// inode, owner or mode), sorted.
    pub fn differences(&self, other: &FsSnapshot) -> Vec<String> {
        let mut out: Vec<String> = self
            .entries
            .iter()
            .filter(|(p, v)| other.entries.get(*p) != Some(*v))
            .map(|(p, _)| p.clone())
            .collect();
        out.extend(
            other
                .entries
                .keys()
                .filter(|p| !self.entries.contains_key(*p))
                .cloned(),
        );
        out.sort();
        out.dedup();
        out
    }
}
