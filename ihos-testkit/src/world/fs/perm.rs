//! Who may do what: credentials, mode bits, and the lookups that check them (search
//! permission on every ancestor, write permission on the parent of an entry to add or
//! remove).

use super::path::{ancestors, parent};
use super::{Fs, FsError, Inode};

/// The superuser's name.
pub(crate) const ROOT: &str = "root";

/// Who runs an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cred {
    pub user: String,
}

impl Cred {
    pub(crate) fn root() -> Self {
        Cred { user: ROOT.into() }
    }

    pub(crate) fn is_root(&self) -> bool {
        self.user == ROOT
    }
}

pub(super) const R: u32 = 4;
pub(super) const W: u32 = 2;
pub(super) const X: u32 = 1;

impl Fs {
    pub(super) fn may(cred: &Cred, inode: &Inode, bits: u32) -> bool {
        if cred.is_root() {
            return true;
        }
        let granted = if inode.owner == cred.user {
            (inode.mode >> 6) & 7
        } else {
            inode.mode & 7
        };
        granted & bits == bits
    }

    /// The inode of a path, checking that every ancestor is a directory `cred` may search.
    pub(crate) fn lookup(&self, path: &str, cred: &Cred) -> Result<u64, FsError> {
        for anc in ancestors(path) {
            let ino = *self.paths.get(&anc).ok_or(FsError::NotFound)?;
            let inode = &self.inodes[&ino];
            if !inode.is_dir() {
                return Err(FsError::NotDir);
            }
            if !Self::may(cred, inode, X) {
                return Err(FsError::Denied);
            }
        }
        self.paths.get(path).copied().ok_or(FsError::NotFound)
    }

    /// Checks that `cred` may add or remove entries of `path`'s parent.
    pub(super) fn check_parent_writable(&self, path: &str, cred: &Cred) -> Result<(), FsError> {
        let dir = parent(path);
        let ino = self.lookup(dir, cred)?;
        let inode = &self.inodes[&ino];
        if !inode.is_dir() {
            return Err(FsError::NotDir);
        }
        if !Self::may(cred, inode, W | X) {
            return Err(FsError::Denied);
        }
        Ok(())
    }
}
