//! Reading a local configuration file and writing it back IN PLACE.
//!
//! nginx configs are often bind-mounted into a container as single files, so the file must
//! keep its inode: it is opened for writing, truncated, written and fsynced, never replaced
//! by renaming a new file over it. The protocol of [`write_in_place`]:
//!
//! 1. open the existing file read-write (no create, no truncate);
//! 2. unless told not to, write a backup of the bytes that were parsed (see [`crate::backup`]);
//! 3. re-read the file through the open handle and refuse if it is not byte-for-byte what
//!    was parsed (someone changed it meanwhile);
//! 4. truncate, write the new bytes, fsync, and read them back;
//! 5. if step 4 fails, put the original bytes back the same way and report both outcomes.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::backup;
use crate::exit::CliError;

/// Reads the whole file.
pub fn read(path: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).map_err(|e| CliError::io(path, "reading", e))
}

/// Replaces the content of `path` (which must still be exactly `expected`) with `new`, in
/// place. Returns the backup's path when one was kept.
pub fn write_in_place(
    path: &Path,
    expected: &[u8],
    new: &[u8],
    keep_backup: bool,
) -> Result<Option<PathBuf>, CliError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| CliError::io(path, "opening for writing", e))?;
    let meta = file
        .metadata()
        .map_err(|e| CliError::io(path, "reading metadata", e))?;
    if !meta.is_file() {
        return Err(CliError::io(
            path,
            "opening for writing",
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    let backup = if keep_backup {
        Some(backup::write(path, expected)?)
    } else {
        None
    };
    match commit(&mut file, expected, new) {
        Ok(()) => Ok(backup),
        Err(Failure::Changed) => {
            // The backup holds content that is no longer the file's: not worth keeping.
            if let Some(b) = &backup {
                let _ = std::fs::remove_file(b);
            }
            Err(CliError::ChangedOnDisk {
                file: path.to_path_buf(),
            })
        }
        Err(Failure::Read(e)) => Err(CliError::io(path, "re-reading before writing", e)),
        Err(Failure::Write { source, restore }) => Err(CliError::WriteFailed {
            file: path.to_path_buf(),
            source,
            restore,
            backup,
        }),
    }
}

/// What [`commit`] needs from a file; a trait so tests can make writes fail midway.
trait Storage {
    fn read_all(&mut self) -> io::Result<Vec<u8>>;
    fn truncate(&mut self) -> io::Result<()>;
    fn write_all_at_start(&mut self, bytes: &[u8]) -> io::Result<()>;
    fn sync(&mut self) -> io::Result<()>;
}

impl Storage for File {
    fn read_all(&mut self) -> io::Result<Vec<u8>> {
        self.seek(SeekFrom::Start(0))?;
        let mut buf = Vec::new();
        self.read_to_end(&mut buf)?;
        Ok(buf)
    }
    fn truncate(&mut self) -> io::Result<()> {
        self.set_len(0)
    }
    fn write_all_at_start(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.seek(SeekFrom::Start(0))?;
        self.write_all(bytes)?;
        self.flush()
    }
    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

#[derive(Debug)]
enum Failure {
    /// The content is not what was parsed; nothing was written.
    Changed,
    /// The re-read failed; nothing was written.
    Read(io::Error),
    /// Writing failed; `restore` is the outcome of putting `expected` back.
    Write {
        source: io::Error,
        restore: Result<(), io::Error>,
    },
}

fn commit(s: &mut impl Storage, expected: &[u8], new: &[u8]) -> Result<(), Failure> {
    let current = s.read_all().map_err(Failure::Read)?;
    if current != expected {
        return Err(Failure::Changed);
    }
    match replace(s, new) {
        Ok(()) => Ok(()),
        Err(source) => Err(Failure::Write {
            source,
            restore: replace(s, expected),
        }),
    }
}

/// Truncates, writes `bytes`, fsyncs, and checks that reading back gives `bytes`.
fn replace(s: &mut impl Storage, bytes: &[u8]) -> io::Result<()> {
    s.truncate()?;
    s.write_all_at_start(bytes)?;
    s.sync()?;
    if s.read_all()? != bytes {
        return Err(io::Error::other("the file does not read back as written"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory file whose first `fail_writes` writes stop after `partial` bytes.
    struct Flaky {
        data: Vec<u8>,
        fail_writes: usize,
        partial: usize,
    }

    impl Storage for Flaky {
        fn read_all(&mut self) -> io::Result<Vec<u8>> {
            Ok(self.data.clone())
        }
        fn truncate(&mut self) -> io::Result<()> {
            self.data.clear();
            Ok(())
        }
        fn write_all_at_start(&mut self, bytes: &[u8]) -> io::Result<()> {
            if self.fail_writes > 0 {
                self.fail_writes -= 1;
                self.data = bytes[..self.partial.min(bytes.len())].to_vec();
                return Err(io::Error::other("disk full"));
            }
            self.data = bytes.to_vec();
            Ok(())
        }
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn writes_new_bytes() {
        let mut f = Flaky {
            data: b"old".to_vec(),
            fail_writes: 0,
            partial: 0,
        };
        commit(&mut f, b"old", b"new!").unwrap();
        assert_eq!(f.data, b"new!");
    }

    #[test]
    fn refuses_when_changed() {
        let mut f = Flaky {
            data: b"someone else".to_vec(),
            fail_writes: 0,
            partial: 0,
        };
        assert!(matches!(
            commit(&mut f, b"old", b"new"),
            Err(Failure::Changed)
        ));
        assert_eq!(f.data, b"someone else");
    }

    #[test]
    fn failed_write_midway_restores_original() {
        let mut f = Flaky {
            data: b"original content".to_vec(),
            fail_writes: 1,
            partial: 3,
        };
        match commit(&mut f, b"original content", b"new content") {
            Err(Failure::Write { source, restore }) => {
                assert_eq!(source.to_string(), "disk full");
                assert!(restore.is_ok());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(f.data, b"original content");
    }

    #[test]
    fn failed_restore_is_reported() {
        let mut f = Flaky {
            data: b"original".to_vec(),
            fail_writes: 2,
            partial: 2,
        };
        match commit(&mut f, b"original", b"new") {
            Err(Failure::Write { restore, .. }) => assert!(restore.is_err()),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn real_file_keeps_inode() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.conf");
        std::fs::write(&p, b"a longer original;\n").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        let backup = write_in_place(&p, b"a longer original;\n", b"short;\n", true)
            .unwrap()
            .unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"short;\n");
        assert_eq!(std::fs::metadata(&p).unwrap().ino(), ino);
        assert_eq!(std::fs::read(&backup).unwrap(), b"a longer original;\n");
    }
}
