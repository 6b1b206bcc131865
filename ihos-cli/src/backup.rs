//! The backup kept next to an edited file: `.FILE.ihos-<UTC timestamp>.bak`, written in full
//! and fsynced before the original is touched. The name starts with a dot because nginx's
//! `include dir/*` (glob without dotfiles) must not load backups as configuration.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::exit::CliError;

/// How many `-N` suffixes to try when a backup of the same second already exists.
const MAX_SUFFIX: u32 = 100;

/// Writes `bytes` (the original content of `file`) to a new backup file next to it, with
/// `file`'s permission bits, and fsyncs it and its directory. Returns the backup's path.
pub fn write(file: &Path, bytes: &[u8]) -> Result<PathBuf, CliError> {
    let mode = std::fs::metadata(file)
        .map_err(|e| CliError::io(file, "reading metadata for the backup", e))?
        .mode()
        & 0o777;
    let stamp = utc_stamp(SystemTime::now());
    for n in 0..MAX_SUFFIX {
        let path = backup_path(file, &stamp, n);
        let mut out = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(CliError::io(&path, "creating the backup", e)),
        };
        if let Err(e) = out.write_all(bytes).and_then(|()| out.sync_all()) {
            drop(out);
            let _ = std::fs::remove_file(&path);
            return Err(CliError::io(&path, "writing the backup", e));
        }
        sync_parent(&path);
        return Ok(path);
    }
    Err(CliError::io(
        file,
        "creating the backup",
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{MAX_SUFFIX} backups with timestamp {stamp} already exist"),
        ),
    ))
}

/// `.FILE.ihos-STAMP.bak`, or `.FILE.ihos-STAMP-N.bak` for `n > 0`, in FILE's directory.
fn backup_path(file: &Path, stamp: &str, n: u32) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(file.file_name().unwrap_or(file.as_os_str()));
    if n == 0 {
        name.push(format!(".ihos-{stamp}.bak"));
    } else {
        name.push(format!(".ihos-{stamp}-{n}.bak"));
    }
    file.with_file_name(name)
}

/// Best effort: makes the new directory entry durable. Some filesystems refuse to fsync a
/// directory; the backup's bytes are already synced, so that is not fatal.
fn sync_parent(path: &Path) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// `YYYYMMDDTHHMMSSZ` in UTC (a time before 1970 is written as the epoch).
pub fn utc_stamp(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .ok()
        .filter(|ts| *ts >= jiff::Timestamp::UNIX_EPOCH)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn stamps() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        // 2000-02-29 12:34:56 UTC
        let t = UNIX_EPOCH + Duration::from_secs(951_827_696);
        assert_eq!(utc_stamp(t), "20000229T123456Z");
        // 2024-12-31 23:59:59 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_735_689_599);
        assert_eq!(utc_stamp(t), "20241231T235959Z");
    }

    #[test]
    fn names() {
        let p = backup_path(Path::new("/etc/nginx/nginx.conf"), "20240101T000000Z", 0);
        assert_eq!(
            p,
            Path::new("/etc/nginx/.nginx.conf.ihos-20240101T000000Z.bak")
        );
        let p = backup_path(Path::new("nginx.conf"), "20240101T000000Z", 2);
        assert_eq!(p, Path::new(".nginx.conf.ihos-20240101T000000Z-2.bak"));
    }

    #[test]
    fn same_second_backups_do_not_clash() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.conf");
        std::fs::write(&f, b"x;\n").unwrap();
        let a = write(&f, b"one").unwrap();
        let b = write(&f, b"two").unwrap();
        assert_ne!(a, b);
        assert_eq!(std::fs::read(&a).unwrap(), b"one");
        assert_eq!(std::fs::read(&b).unwrap(), b"two");
    }
}
