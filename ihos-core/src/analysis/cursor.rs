//! Reading an access log on its host incrementally: [`read_new`] reads what was appended
//! since a [`LogCursor`] (an inode and a byte offset), in bounded chunks (memory does not
//! grow with the log), and follows a rotation: when the file at the path is a new one and
//! `PATH.1` is the one the cursor was in (logrotate's `create` mode renames it), the rest
//! of `PATH.1` is read first. A truncated file (`copytruncate`) or a rotation the cursor
//! cannot follow (rotated twice, or compressed at once) is read from its start and said.

use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError, run_checked};

/// Bytes read per command.
const CHUNK: u64 = 4 << 20;

/// Where reading a log stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogCursor {
    /// The file's inode.
    pub inode: u64,
    /// Bytes of it already read.
    pub offset: u64,
    /// Its first bytes (an inode number alone may be a new file's).
    pub head: Fingerprint,
}

/// What one [`read_new`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogRead {
    /// Bytes read.
    pub bytes: u64,
    /// Whether the rest of the rotated file was read first.
    pub followed_rotation: bool,
    /// Lines may have been missed, and why.
    pub gap: Option<String>,
}

/// (inode, size) of a file, `None` when it does not exist.
async fn stat<T: Transport + ?Sized>(
    t: &T,
    path: &str,
    privilege: Privilege,
) -> Result<Option<(u64, u64)>, TransportError> {
    let cmd = Command::new("stat")
        .args(["-c", "%i %s %f", "--", path])
        .with_privilege(privilege);
    let out = t.run(&cmd).await?;
    if !out.success() {
        // A missing file is an answer (no rotated file yet); anything else is an error.
        if out.stderr_text().contains("No such file or directory") {
            return Ok(None);
        }
        return Err(crate::transport::command_failed(t.host(), &cmd, &out));
    }
    let text = out.stdout_text();
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let mut parts = text.split(' ');
    let mut number = || parts.next().and_then(|p| p.parse::<u64>().ok());
    let (inode, size) = (number(), number());
    let mode = parts.next().and_then(|m| u32::from_str_radix(m, 16).ok());
    match (inode, size, mode, parts.next()) {
        // Read as root: never through a link (S_IFMT of a regular file is 0o100000).
        (Some(_), Some(_), Some(m), None) if m & 0o170_000 != 0o100_000 => {
            Err(TransportError::Io {
                host: t.host().to_string(),
                op: "read",
                path: path.to_string(),
                reason: "not a regular file (a link or a device): not read".into(),
            })
        }
        (Some(inode), Some(size), Some(_), None) => Ok(Some((inode, size))),
        _ => Err(TransportError::Protocol {
            host: t.host().to_string(),
            command: cmd.to_string(),
            reason: format!("unexpected output {text:?}"),
        }),
    }
}

/// Feeds `sink` the bytes of `path` from `from` to `to`, in chunks. With `inode`, each
/// chunk is fed only if the path still names that file after it was read: `dd` opens the
/// path, and a rotation between the `stat` and the read would hand it another file's bytes
/// (the next read then follows the rotation from the right offset).
async fn read_range<T: Transport + ?Sized>(
    t: &T,
    path: &str,
    from: u64,
    to: u64,
    privilege: Privilege,
    inode: Option<u64>,
    sink: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<u64, TransportError> {
    let mut at = from;
    while at < to {
        let want = (to - at).min(CHUNK);
        let dd = Command::new("dd")
            .args([
                format!("if={path}"),
                format!("bs={CHUNK}"),
                format!("skip={at}"),
                format!("count={want}"),
                "iflag=skip_bytes,count_bytes,fullblock,nofollow".into(),
                "status=none".into(),
            ])
            .with_privilege(privilege);
        let chunk = run_checked(t, &dd).await?.stdout;
        if chunk.is_empty() {
            // Truncated meanwhile: what is left is read next time.
            break;
        }
        if let Some(expected) = inode {
            if stat(t, path, privilege).await?.map(|(i, _)| i) != Some(expected) {
                break;
            }
        }
        at += chunk.len() as u64;
        sink(&chunk);
    }
    Ok(at - from)
}

/// The first `max` bytes of `path` (fewer if it is shorter).
pub async fn read_head<T: Transport + ?Sized>(
    t: &T,
    path: &RemotePath,
    privilege: Privilege,
    max: u64,
) -> Result<Vec<u8>, TransportError> {
    let mut head = Vec::new();
    read_range(
        t,
        path.as_str(),
        0,
        max,
        privilege,
        None,
        &mut |b: &[u8]| head.extend_from_slice(b),
    )
    .await?;
    Ok(head)
}

/// The path's rotated predecessor (`access.log` → `access.log.1`).
fn rotated(path: &RemotePath) -> String {
    format!("{path}.1")
}

/// Bytes at the start of a file that identify it beside its inode (inode numbers are
/// reused as soon as a file is deleted; log shippers such as Vector fingerprint files by
/// their first bytes for this reason).
const FINGERPRINT_BYTES: u64 = 256;

/// The first bytes of a file, hashed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// How many bytes were hashed (fewer than 256 while the file was shorter).
    pub len: u64,
    /// The first 8 bytes of their SHA-256.
    pub hash: u64,
}

async fn fingerprint<T: Transport + ?Sized>(
    t: &T,
    path: &str,
    privilege: Privilege,
    len: u64,
) -> Result<Fingerprint, TransportError> {
    let mut head = Vec::new();
    read_range(t, path, 0, len, privilege, None, &mut |b: &[u8]| {
        head.extend_from_slice(b)
    })
    .await?;
    let digest = sha2::Sha256::digest(&head);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Ok(Fingerprint {
        len: head.len() as u64,
        hash: u64::from_le_bytes(first),
    })
}

/// Whether the file at `path` (with this inode and size) is the one `c` was read from.
async fn is_cursor_file<T: Transport + ?Sized>(
    t: &T,
    path: &str,
    privilege: Privilege,
    c: &LogCursor,
    (inode, size): (u64, u64),
) -> Result<bool, TransportError> {
    if inode != c.inode || size < c.offset {
        return Ok(false);
    }
    Ok(fingerprint(t, path, privilege, c.head.len).await? == c.head)
}

/// A cursor at the end of `path` now: reading from it gives only what is written next.
pub async fn end_of<T: Transport + ?Sized>(
    t: &T,
    path: &RemotePath,
    privilege: Privilege,
) -> Result<LogCursor, TransportError> {
    let Some((inode, size)) = stat(t, path.as_str(), privilege).await? else {
        return Err(no_such_log(t, path));
    };
    Ok(LogCursor {
        inode,
        offset: size,
        head: fingerprint(t, path.as_str(), privilege, size.min(FINGERPRINT_BYTES)).await?,
    })
}

fn no_such_log<T: Transport + ?Sized>(t: &T, path: &RemotePath) -> TransportError {
    TransportError::Io {
        host: t.host().to_string(),
        op: "read",
        path: path.to_string(),
        reason: "no such file (is the access_log path the one nginx writes, as seen from the \
                 host?)"
            .into(),
    }
}

/// The rest of the rotated file, from `from`; its last line is ended here if nginx's was
/// not (a line is never made of two files' bytes).
async fn read_rotated<T: Transport + ?Sized>(
    t: &T,
    old: &str,
    from: u64,
    (inode, size): (u64, u64),
    privilege: Privilege,
    sink: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<u64, TransportError> {
    let mut last = b'\n';
    let n = read_range(
        t,
        old,
        from,
        size,
        privilege,
        Some(inode),
        &mut |b: &[u8]| {
            if let Some(&l) = b.last() {
                last = l;
            }
            sink(b)
        },
    )
    .await?;
    if last != b'\n' {
        sink(b"\n");
    }
    Ok(n)
}

/// Reads what `path` gained since `cursor` (`None`: the whole file, and the rest of
/// `PATH.1` first when `with_rotated`), feeding `sink`; returns the new cursor.
pub async fn read_new<T: Transport + ?Sized>(
    t: &T,
    path: &RemotePath,
    privilege: Privilege,
    cursor: Option<LogCursor>,
    with_rotated: bool,
    sink: &mut (dyn FnMut(&[u8]) + Send),
) -> Result<(LogCursor, LogRead), TransportError> {
    let mut read = LogRead::default();
    let Some((inode, size)) = stat(t, path.as_str(), privilege).await? else {
        return Err(no_such_log(t, path));
    };
    let old = rotated(path);
    let mut same_file = None;
    let start = match cursor {
        None => {
            if with_rotated {
                if let Some((old_inode, old_size)) = stat(t, &old, privilege).await? {
                    read.bytes +=
                        read_rotated(t, &old, 0, (old_inode, old_size), privilege, sink).await?;
                    read.followed_rotation = true;
                }
            }
            0
        }
        Some(c) if is_cursor_file(t, path.as_str(), privilege, &c, (inode, size)).await? => {
            same_file = Some(c);
            c.offset
        }
        Some(c) if c.inode == inode => {
            read.gap = Some(format!(
                "{path} was truncated or replaced (it had {} bytes read, it has {size}): \
                 lines written before and not yet read are missed",
                c.offset
            ));
            0
        }
        Some(c) => {
            match stat(t, &old, privilege).await? {
                Some(found) if is_cursor_file(t, &old, privilege, &c, found).await? => {
                    read.bytes += read_rotated(t, &old, c.offset, found, privilege, sink).await?;
                    read.followed_rotation = true;
                }
                _ => {
                    read.gap = Some(format!(
                        "{path} was rotated and the file read before is not {old} any more: \
                         what was written to it after the last read is missed"
                    ));
                }
            }
            0
        }
    };
    let done = read_range(t, path.as_str(), start, size, privilege, Some(inode), sink).await?;
    read.bytes += done;
    let offset = start + done;
    let head = match same_file {
        Some(c) if c.head.len >= FINGERPRINT_BYTES || c.head.len >= offset => c.head,
        _ => fingerprint(t, path.as_str(), privilege, offset.min(FINGERPRINT_BYTES)).await?,
    };
    Ok((
        LogCursor {
            inode,
            offset,
            head,
        },
        read,
    ))
}
