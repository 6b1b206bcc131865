//! `Transport::upload` on a fake host: the file goes to a staging name next to its
//! destination as the login user, its SHA-256 is checked and it is renamed into place, as
//! the real transport does.

use std::path::Path;

use ihos_core::{Privilege, RemotePath, TransportError, Uploaded};

use super::World;
use super::fs::{FsError, file_name, parent};
use crate::invariant::Cause;
use crate::log::EventKind;
use crate::sha::sha256_hex;

/// The staging name an upload uses next to `remote`.
fn upload_staging(remote: &str, n: u64) -> String {
    let dir = parent(remote);
    let name = format!(".{}.ihos-tmp-fake-{n}", file_name(remote));
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

impl World {
    /// The upload itself: to a staging name next to `remote` as the login user, checked,
    /// renamed into place; the staging file is removed on failure.
    pub(crate) fn perform_upload(
        &mut self,
        host: &str,
        remote: &RemotePath,
        bytes: &[u8],
        limit: Option<u64>,
    ) -> Result<Uploaded, TransportError> {
        self.next_tmp += 1;
        let tmp = upload_staging(remote.as_str(), self.next_tmp);
        let h = self.host_mut(host);
        let cred = h
            .cred(Privilege::User)
            .expect("the login user needs no password");
        let io = |op: &'static str, e: FsError| TransportError::Io {
            host: host.into(),
            op,
            path: remote.to_string(),
            reason: e.text().into(),
        };
        let result = (|| {
            h.fs.write(&tmp, &cred, bytes, 0o644, limit)
                .map_err(|e| io("upload", e))?;
            let expected = sha256_hex(bytes);
            let actual = h.fs.get(&tmp).map(sha256_hex).unwrap_or_default();
            if actual != expected {
                return Err(TransportError::Checksum {
                    host: host.into(),
                    path: tmp.clone(),
                    expected,
                    actual,
                });
            }
            h.fs.rename(&tmp, remote.as_str(), &cred)
                .map_err(|e| io("rename into", e))?;
            Ok(Uploaded {
                path: remote.clone(),
                bytes: bytes.len() as u64,
                sha256: ihos_core::Sha256::of_bytes(bytes),
            })
        })();
        if result.is_err() {
            let _ = h.fs.remove_file(&tmp, &cred);
        }
        self.gc(host);
        result
    }

    /// Logs an upload's result and checks the invariants after it.
    pub(crate) fn finish_upload(
        &mut self,
        host: &str,
        local: &Path,
        remote: &RemotePath,
        result: Result<Uploaded, TransportError>,
    ) -> Result<Uploaded, TransportError> {
        let now = self.now();
        let seq = self.push_event(
            host,
            now,
            EventKind::Upload {
                local: local.to_path_buf(),
                remote: remote.to_string(),
                result: result.as_ref().map(|u| u.bytes).map_err(Clone::clone),
            },
        );
        self.evaluate(Some(Cause {
            seq,
            host: host.into(),
            what: format!("upload {} -> {remote}", local.display()),
        }));
        result
    }
}
