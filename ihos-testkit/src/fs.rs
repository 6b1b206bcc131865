//! The in-memory filesystem of one fake host: paths name inodes, inodes hold bytes (or are
//! directories), an owner and mode bits. Enough of POSIX to tell an in-place write (same
//! inode) from a replacement (new inode), to refuse what the login user may not do, and to
//! run out of space like a real disk.

use std::collections::{BTreeMap, HashMap, HashSet};

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

const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

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

/// Normalizes `path` (relative paths are taken from `cwd`), resolving `.` and `..`
/// lexically.
pub(crate) fn normalize(path: &str, cwd: &str) -> String {
    let full = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in full.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The parent directory of a normalized path.
pub(crate) fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The last component of a normalized path.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or("")
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// Ancestors of a normalized path, from `/` down, without the path itself.
fn ancestors(path: &str) -> Vec<String> {
    let mut out = vec!["/".to_string()];
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    for i in 1..parts.len() {
        out.push(format!("/{}", parts[..i].join("/")));
    }
    if path == "/" {
        out.clear();
    }
    out
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

    fn may(cred: &Cred, inode: &Inode, bits: u32) -> bool {
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

    /// Reads a file.
    pub(crate) fn read(&self, path: &str, cred: &Cred) -> Result<Vec<u8>, FsError> {
        let inode = &self.inodes[&self.lookup(path, cred)?];
        match &inode.data {
            None => Err(FsError::IsDir),
            Some(_) if !Self::may(cred, inode, R) => Err(FsError::Denied),
            Some(d) => Ok(d.clone()),
        }
    }

    /// Checks that `cred` may add or remove entries of `path`'s parent.
    fn check_parent_writable(&self, path: &str, cred: &Cred) -> Result<(), FsError> {
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

    fn alloc(&mut self, inode: Inode) -> u64 {
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, inode);
        ino
    }

    /// `open(O_WRONLY|O_CREAT|O_TRUNC)` then `write`: an existing file keeps its inode, owner
    /// and mode; a new one gets `new_mode` and the caller as owner. At most `limit` bytes
    /// (and no more than the disk's free space) are written; when not all fit the file keeps
    /// what was written and the result is [`FsError::NoSpace`].
    pub(crate) fn write(
        &mut self,
        path: &str,
        cred: &Cred,
        bytes: &[u8],
        new_mode: u32,
        limit: Option<u64>,
    ) -> Result<u64, FsError> {
        self.write_at(path, cred, bytes, new_mode, limit, true)
    }

    /// Like [`Fs::write`] without truncating: appends (`O_APPEND`).
    pub(crate) fn append(
        &mut self,
        path: &str,
        cred: &Cred,
        bytes: &[u8],
        limit: Option<u64>,
    ) -> Result<u64, FsError> {
        self.write_at(path, cred, bytes, 0o644, limit, false)
    }

    fn write_at(
        &mut self,
        path: &str,
        cred: &Cred,
        bytes: &[u8],
        new_mode: u32,
        limit: Option<u64>,
        truncate: bool,
    ) -> Result<u64, FsError> {
        let ino = match self.lookup(path, cred) {
            Ok(ino) => {
                let inode = &self.inodes[&ino];
                if inode.is_dir() {
                    return Err(FsError::IsDir);
                }
                if !Self::may(cred, inode, W) {
                    return Err(FsError::Denied);
                }
                ino
            }
            Err(FsError::NotFound) => {
                self.check_parent_writable(path, cred)?;
                let ino = self.alloc(Inode {
                    data: Some(Vec::new()),
                    mode: new_mode,
                    owner: cred.user.clone(),
                });
                self.paths.insert(path.to_string(), ino);
                ino
            }
            Err(e) => return Err(e),
        };
        if truncate {
            if let Some(d) = self.inodes.get_mut(&ino).and_then(|i| i.data.as_mut()) {
                d.clear();
            }
        }
        let room = self.free().min(limit.unwrap_or(u64::MAX));
        let n = (bytes.len() as u64).min(room) as usize;
        if let Some(d) = self.inodes.get_mut(&ino).and_then(|i| i.data.as_mut()) {
            d.extend_from_slice(&bytes[..n]);
        }
        if n < bytes.len() {
            Err(FsError::NoSpace)
        } else {
            Ok(n as u64)
        }
    }

    /// Unlinks a file (not a directory).
    pub(crate) fn remove_file(&mut self, path: &str, cred: &Cred) -> Result<(), FsError> {
        let ino = self.lookup(path, cred)?;
        if self.inodes[&ino].is_dir() {
            return Err(FsError::IsDir);
        }
        self.check_parent_writable(path, cred)?;
        self.paths.remove(path);
        Ok(())
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

    /// Removes a file or a directory tree. All or nothing: a directory in the tree that
    /// `cred` may not change fails the whole removal.
    pub(crate) fn remove_tree(&mut self, path: &str, cred: &Cred) -> Result<(), FsError> {
        if path == "/" {
            return Err(FsError::Invalid);
        }
        let ino = self.lookup(path, cred)?;
        if !self.inodes[&ino].is_dir() {
            return self.remove_file(path, cred);
        }
        self.check_parent_writable(path, cred)?;
        let below = self.below(path);
        let dirs = std::iter::once(path.to_string()).chain(below.iter().cloned());
        for d in dirs {
            let inode = &self.inodes[&self.paths[&d]];
            if inode.is_dir() && !Self::may(cred, inode, W | X | R) {
                return Err(FsError::Denied);
            }
        }
        for p in below {
            self.paths.remove(&p);
        }
        self.paths.remove(path);
        Ok(())
    }

    /// `rename(2)`: `dst` (a final path, not a directory to move into) is replaced.
    pub(crate) fn rename(&mut self, src: &str, dst: &str, cred: &Cred) -> Result<(), FsError> {
        let ino = self.lookup(src, cred)?;
        self.check_parent_writable(src, cred)?;
        self.check_parent_writable(dst, cred)?;
        let src_dir = self.inodes[&ino].is_dir();
        if src == dst {
            return Ok(());
        }
        if let Some(&existing) = self.paths.get(dst) {
            let dst_dir = self.inodes[&existing].is_dir();
            match (src_dir, dst_dir) {
                (true, false) => return Err(FsError::NotDir),
                (false, true) => return Err(FsError::IsDir),
                (true, true) if !self.below(dst).is_empty() => return Err(FsError::Exists),
                _ => {}
            }
        }
        if src_dir {
            if dst.starts_with(&format!("{src}/")) {
                return Err(FsError::Invalid);
            }
            let moved: Vec<(String, u64)> = self
                .below(src)
                .into_iter()
                .map(|p| {
                    let i = self.paths.remove(&p).unwrap_or(0);
                    (format!("{dst}{}", &p[src.len()..]), i)
                })
                .collect();
            self.paths.extend(moved);
        }
        self.paths.remove(src);
        self.paths.insert(dst.to_string(), ino);
        Ok(())
    }

    /// `mkdir` of one directory (its parent must exist).
    pub(crate) fn mkdir(&mut self, path: &str, cred: &Cred, mode: u32) -> Result<(), FsError> {
        match self.lookup(path, cred) {
            Ok(_) => return Err(FsError::Exists),
            Err(FsError::NotFound) => {}
            Err(e) => return Err(e),
        }
        self.check_parent_writable(path, cred)?;
        let ino = self.alloc(Inode {
            data: None,
            mode,
            owner: cred.user.clone(),
        });
        self.paths.insert(path.to_string(), ino);
        Ok(())
    }

    /// `mkdir -p`.
    pub(crate) fn mkdir_p(&mut self, path: &str, cred: &Cred, mode: u32) -> Result<(), FsError> {
        let mut all = ancestors(path);
        all.push(path.to_string());
        for p in all {
            match self.paths.get(&p) {
                Some(ino) => {
                    let inode = &self.inodes[ino];
                    if !inode.is_dir() {
                        return Err(if p == path {
                            FsError::Exists
                        } else {
                            FsError::NotDir
                        });
                    }
                    if !Self::may(cred, inode, X) {
                        return Err(FsError::Denied);
                    }
                }
                None => {
                    self.check_parent_writable(&p, cred)?;
                    let ino = self.alloc(Inode {
                        data: None,
                        mode,
                        owner: cred.user.clone(),
                    });
                    self.paths.insert(p, ino);
                }
            }
        }
        Ok(())
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
