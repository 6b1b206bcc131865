//! The in-memory filesystem of one fake host: paths name inodes, inodes hold bytes (or are
//! directories), an owner and mode bits. Enough of POSIX to tell an in-place write (same
//! inode) from a replacement (new inode), to refuse what the login user may not do, and to
//! run out of space like a real disk.
//!
//! This module is the inode store (paths, inodes, disk space, and the setup and inspection
//! helpers that bypass permissions); [`path`] has the lexical path helpers, [`perm`] who may
//! do what, [`ops`] the system calls the commands make, [`snapshot`] what tests see.

mod ops;
mod path;
mod perm;
mod snapshot;

use std::collections::{BTreeMap, HashMap, HashSet};

pub(crate) use path::{file_name, normalize, parent};
pub(crate) use perm::{Cred, ROOT};
pub use snapshot::{FileInfo, FsSnapshot};

use path::{ancestors, join};

/// An errno, as the commands report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FsError {
    NotFound,
    NotDir,
    IsDir,
    Exists,
    Denied,
    NoSpace,
    Invalid,
}

impl FsError {
    /// `strerror` text.
    pub(crate) fn text(self) -> &'static str {
        match self {
            FsError::NotFound => "No such file or directory",
            FsError::NotDir => "Not a directory",
            FsError::IsDir => "Is a directory",
            FsError::Exists => "File exists",
            FsError::Denied => "Permission denied",
            FsError::NoSpace => "No space left on device",
            FsError::Invalid => "Invalid argument",
        }
    }
}

/// A file or directory.
#[derive(Debug, Clone)]
pub(crate) struct Inode {
    /// File bytes; `None` for a directory.
    pub data: Option<Vec<u8>>,
    pub mode: u32,
    pub owner: String,
}

impl Inode {
    fn is_dir(&self) -> bool {
        self.data.is_none()
    }
}

/// One host's files.
#[derive(Debug)]
pub(crate) struct Fs {
    paths: BTreeMap<String, u64>,
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    /// Total bytes the disk holds; `None`: unlimited.
    pub capacity: Option<u64>,
}

impl Fs {
    pub(crate) fn new() -> Self {
        let mut fs = Fs {
            paths: BTreeMap::new(),
            inodes: HashMap::new(),
            next_ino: 2,
            capacity: None,
        };
        fs.paths.insert("/".into(), 1);
        fs.inodes.insert(
            1,
            Inode {
                data: None,
                mode: 0o755,
                owner: ROOT.into(),
            },
        );
        fs
    }

    /// Bytes in files that still exist (by path or because something holds them).
    pub(crate) fn used(&self) -> u64 {
        self.inodes
            .values()
            .map(|i| i.data.as_ref().map_or(0, |d| d.len() as u64))
            .sum()
    }

    /// Free bytes.
    pub(crate) fn free(&self) -> u64 {
        self.capacity
            .map_or(u64::MAX, |c| c.saturating_sub(self.used()))
    }

    pub(crate) fn inode(&self, ino: u64) -> Option<&Inode> {
        self.inodes.get(&ino)
    }

    pub(crate) fn is_dir(&self, path: &str) -> bool {
        self.paths
            .get(path)
            .is_some_and(|i| self.inodes[i].is_dir())
    }

    pub(crate) fn is_file(&self, path: &str) -> bool {
        self.paths
            .get(path)
            .is_some_and(|i| !self.inodes[i].is_dir())
    }

    fn alloc(&mut self, inode: Inode) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, inode);
        ino
    }

    /// Paths strictly below a directory.
    fn below(&self, dir: &str) -> Vec<String> {
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        self.paths
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// Drops inodes no path and nothing in `held` refers to.
    pub(crate) fn gc(&mut self, held: &HashSet<u64>) {
        let live: HashSet<u64> = self
            .paths
            .values()
            .copied()
            .chain(held.iter().copied())
            .collect();
        self.inodes.retain(|ino, _| live.contains(ino));
    }

    // ----- setup and inspection (no permission checks) -----

    /// Creates or overwrites (in place) a file, creating missing parents as root, 0755.
    pub(crate) fn put_file(&mut self, path: &str, bytes: &[u8], owner: &str, mode: u32) {
        self.put_dir(parent(path), None, 0o755);
        match self.paths.get(path).copied() {
            Some(ino) if !self.inodes[&ino].is_dir() => {
                let inode = self.inodes.get_mut(&ino).expect("live inode");
                inode.data = Some(bytes.to_vec());
                inode.owner = owner.into();
                inode.mode = mode;
            }
            _ => {
                self.below(path).iter().for_each(|p| {
                    self.paths.remove(p);
                });
                let ino = self.alloc(Inode {
                    data: Some(bytes.to_vec()),
                    mode,
                    owner: owner.into(),
                });
                self.paths.insert(path.into(), ino);
            }
        }
    }

    /// Creates a directory and missing parents (parents as root, 0755); with `owner`, sets
    /// the owner and mode of the directory itself.
    pub(crate) fn put_dir(&mut self, path: &str, owner: Option<&str>, mode: u32) {
        let mut all = ancestors(path);
        all.push(path.to_string());
        for p in all {
            if !self.is_dir(&p) {
                self.paths.remove(&p);
                let ino = self.alloc(Inode {
                    data: None,
                    mode: 0o755,
                    owner: ROOT.into(),
                });
                self.paths.insert(p, ino);
            }
        }
        if let Some(owner) = owner {
            let ino = self.paths[path];
            let inode = self.inodes.get_mut(&ino).expect("live inode");
            inode.owner = owner.into();
            inode.mode = mode;
        }
    }

    pub(crate) fn stat(&self, path: &str) -> Option<FileInfo> {
        let ino = *self.paths.get(path)?;
        let inode = &self.inodes[&ino];
        Some(FileInfo {
            inode: ino,
            is_dir: inode.is_dir(),
            size: inode.data.as_ref().map_or(0, |d| d.len() as u64),
            mode: inode.mode,
            owner: inode.owner.clone(),
        })
    }

    pub(crate) fn get(&self, path: &str) -> Option<&[u8]> {
        self.inodes[self.paths.get(path)?].data.as_deref()
    }

    /// Entry names directly inside a directory.
    pub(crate) fn list(&self, dir: &str) -> Vec<String> {
        self.below(dir)
            .into_iter()
            .filter(|p| parent(p) == dir)
            .map(|p| file_name(&p).to_string())
            .collect()
    }

    pub(crate) fn snapshot(&self) -> FsSnapshot {
        FsSnapshot {
            entries: self
                .paths
                .keys()
                .map(|p| {
                    let info = self.stat(p).expect("listed path");
                    let bytes = self.get(p).map(<[u8]>::to_vec).unwrap_or_default();
                    (p.clone(), (info, bytes))
                })
                .collect(),
        }
    }

    /// `dir/name` for a directory target of `cp`/`mv`.
    pub(crate) fn target_in_dir(&self, dst: &str, src: &str) -> String {
        if self.is_dir(dst) {
            join(dst, file_name(src))
        } else {
            dst.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> Cred {
        Cred {
            user: "deploy".into(),
        }
    }

    #[test]
    fn in_place_write_keeps_inode_rename_replaces_it() {
        let mut fs = Fs::new();
        fs.put_file("/etc/a.conf", b"old", ROOT, 0o644);
        let ino = fs.stat("/etc/a.conf").unwrap().inode;
        fs.write("/etc/a.conf", &Cred::root(), b"new", 0o644, None)
            .unwrap();
        assert_eq!(fs.stat("/etc/a.conf").unwrap().inode, ino);
        fs.write("/etc/b", &Cred::root(), b"x", 0o600, None)
            .unwrap();
        fs.rename("/etc/b", "/etc/a.conf", &Cred::root()).unwrap();
        assert_ne!(fs.stat("/etc/a.conf").unwrap().inode, ino);
        assert_eq!(fs.get("/etc/a.conf"), Some(&b"x"[..]));
    }

    #[test]
    fn permissions_and_space() {
        let mut fs = Fs::new();
        fs.put_file("/opt/w/ihos.war", b"war", ROOT, 0o644);
        fs.put_dir("/home/deploy", Some("deploy"), 0o755);
        assert_eq!(fs.read("/opt/w/ihos.war", &user()).unwrap(), b"war");
        assert_eq!(
            fs.write("/opt/w/ihos.war", &user(), b"x", 0o644, None),
            Err(FsError::Denied)
        );
        assert_eq!(
            fs.remove_file("/opt/w/ihos.war", &user()),
            Err(FsError::Denied)
        );
        fs.capacity = Some(fs.used() + 4);
        assert_eq!(
            fs.write("/home/deploy/f", &user(), b"123456", 0o644, None),
            Err(FsError::NoSpace)
        );
        assert_eq!(fs.get("/home/deploy/f"), Some(&b"1234"[..]));
        fs.remove_tree("/home/deploy", &Cred::root()).unwrap();
        assert!(fs.list("/home").is_empty());
        fs.gc(&HashSet::new());
        assert_eq!(fs.used(), 3);
    }
}
