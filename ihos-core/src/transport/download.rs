//! [`Transport::download`]'s default: a remote file copied to this machine in bounded
//! chunks, each one command, so any transport that can run `dd` can stream a file of any
//! size (a 200 MB WAR promoted from the canary) without holding it in memory.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::Digest;

use super::{Transport, TransportError, remote_sha256, run_checked};
use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;

/// Bytes read per command: large enough that the per-command round trip is small next to
/// the transfer, small enough to keep memory flat.
const CHUNK: usize = 4 << 20;

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Where the file is now on this machine.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256, equal to the host's.
    pub sha256: Sha256,
}

pub(crate) async fn in_chunks<T: Transport + ?Sized>(
    t: &T,
    path: &RemotePath,
    local: &Path,
    privilege: Privilege,
) -> Result<Downloaded, TransportError> {
    let expected = remote_sha256(t, path, privilege).await?;
    let local_error = |e: std::io::Error| TransportError::Io {
        host: "local".into(),
        op: "write",
        path: local.display().to_string(),
        reason: e.to_string(),
    };
    let dir = match local.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // A unique temporary file next to the target, removed if anything fails: the target
    // appears only complete and checked.
    let mut tmp = tempfile::Builder::new()
        .prefix(".ihos-download-")
        .tempfile_in(dir)
        .map_err(local_error)?;
    let mut hasher = sha2::Sha256::new();
    let mut bytes: u64 = 0;
    for block in 0u64.. {
        let dd = Command::new("dd")
            .args([
                format!("if={path}"),
                format!("bs={CHUNK}"),
                format!("skip={block}"),
                "count=1".into(),
                "iflag=fullblock".into(),
                "status=none".into(),
            ])
            .with_privilege(privilege);
        let chunk = run_checked(t, &dd).await?.stdout;
        hasher.update(&chunk);
        tmp.write_all(&chunk).map_err(local_error)?;
        bytes += chunk.len() as u64;
        if chunk.len() < CHUNK {
            break;
        }
    }
    let got = Sha256::from_digest(hasher.finalize());
    if got != expected {
        return Err(TransportError::Checksum {
            host: t.host().to_string(),
            path: path.to_string(),
            expected: expected.to_string(),
            actual: got.to_string(),
        });
    }
    tmp.as_file().sync_all().map_err(local_error)?;
    tmp.persist(local).map_err(|e| local_error(e.error))?;
    Ok(Downloaded {
        path: local.to_path_buf(),
        bytes,
        sha256: got,
    })
}
