//! The system calls the interpreted commands make, with permission checks and `errno`s:
//! read, write (in place or appending, up to the free space), unlink, recursive removal,
//! rename, mkdir.

use super::path::ancestors;
use super::perm::{Cred, R, W, X};
use super::{Fs, FsError, Inode};

impl Fs {
    /// Reads a file.
    pub(crate) fn read(&self, path: &str, cred: &Cred) -> Result<Vec<u8>, FsError> {
        self.read_ref(path, cred).map(<[u8]>::to_vec)
    }

    /// [`Fs::read`] without a copy (`sha256sum` of a large config, once per check).
    pub(crate) fn read_ref(&self, path: &str, cred: &Cred) -> Result<&[u8], FsError> {
        let inode = &self.inodes[&self.lookup(path, cred)?];
        match &inode.data {
            None => Err(FsError::IsDir),
            Some(_) if !Self::may(cred, inode, R) => Err(FsError::Denied),
            Some(d) => Ok(d),
        }
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

    /// Whether `cred` may list the directory `dir` (read and search on it).
    pub(crate) fn read_dir_allowed(&self, dir: &str, cred: &Cred) -> bool {
        self.lookup(dir, cred)
            .ok()
            .and_then(|ino| self.inodes.get(&ino))
            .is_some_and(|i| Self::may(cred, i, R | X))
    }

    /// `ln -f -T src dst` as GNU ln does it: a hard link (`dst` names `src`'s inode, no
    /// bytes copied); a file at `dst` is replaced, a directory there is an error, and so is
    /// linking a directory (link(2): EPERM, shown as "hard link not allowed").
    pub(crate) fn link(&mut self, src: &str, dst: &str, cred: &Cred) -> Result<(), FsError> {
        let ino = self.lookup(src, cred)?;
        if self.inodes[&ino].is_dir() {
            return Err(FsError::Denied);
        }
        self.check_parent_writable(dst, cred)?;
        if let Some(&existing) = self.paths.get(dst) {
            if self.inodes[&existing].is_dir() {
                return Err(FsError::IsDir);
            }
        }
        self.paths.insert(dst.to_string(), ino);
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

    /// `chmod MODE path`: the owner or root only (chmod(2): EPERM otherwise).
    pub(crate) fn chmod(&mut self, path: &str, cred: &Cred, mode: u32) -> Result<(), FsError> {
        let ino = self.lookup(path, cred)?;
        let inode = self.inodes.get_mut(&ino).ok_or(FsError::NotFound)?;
        if !cred.is_root() && inode.owner != cred.user {
            return Err(FsError::Denied);
        }
        inode.mode = mode & 0o7777;
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
}
