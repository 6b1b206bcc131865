//! Writing the config file for a change: check that it is still what was read, keep a
//! backup of that, write the new bytes in place, in three round trips where one after the
//! other they took ten (each change is on the rollout's critical path: one per transition).
//!
//! 1. At once: the file's digest (still what was read?), the new bytes staged in a new
//!    file next to it, and the backup staged in another, copied from the file on the host
//!    (both created exclusively and checked by digest: a link planted at either name is an
//!    error, never written through; a backup copied from a file changed meanwhile fails
//!    its digest).
//! 2. If the file changed meanwhile: both staged files go, nothing else was touched.
//!    Otherwise at once: the backup renamed over the old one (a link there is replaced,
//!    never followed), and the staged bytes copied onto the file (`dd` onto an existing
//!    file: same inode, owner and mode, which a bind mount into the container needs;
//!    `nofollow`: a link at the file is an error).
//! 3. At once: the staged file removed, the file's digest checked against the new bytes.

use super::NginxLb;
use crate::container::Container;
use crate::lb::LbError;
use crate::names::RemotePath;
use crate::sha::Sha256;
use crate::transport::remote::{
    copy_in_place, copy_new, remove_quietly, rename_over, splice_new, temp_path,
};
use crate::transport::{Transport, TransportError, expect_sha256, remote_sha256};

/// Why the new bytes are not in the file.
pub(super) enum WriteFailure {
    /// Before anything was written to the file: it is as it was read.
    Untouched(LbError),
    /// The file may hold part of the new bytes, or they are not what landed: it must be
    /// put back.
    Written(String),
}

impl<T: Transport + ?Sized, C: Container + ?Sized> NginxLb<T, C> {
    /// The backup's path: `.<file>.ihos-prev` beside the file (a dotfile, so an
    /// `include dir/*` does not load it).
    fn backup_path(&self) -> Result<RemotePath, TransportError> {
        Ok(self
            .config
            .parent()
            .join(&format!(".{}.ihos-prev", self.config.file_name()))?)
    }

    /// Writes `bytes` over the file, which must still be `previous`; keeps `previous` as the
    /// backup when the options say so.
    pub(super) async fn write_checked(
        &self,
        previous: &[u8],
        bytes: &[u8],
    ) -> Result<(), WriteFailure> {
        let t = self.transport.as_ref();
        let privilege = self.options.privilege;
        let untouched = |e: TransportError| WriteFailure::Untouched(e.into());
        let staged = temp_path(&self.config).map_err(untouched)?;
        // The backup's path and the name it is staged under.
        let backup = match self.options.backup {
            true => {
                let path = self.backup_path().map_err(untouched)?;
                let tmp = temp_path(&path).map_err(untouched)?;
                Some((path, tmp))
            }
            false => None,
        };

        let read = Sha256::of_bytes(previous);
        let (now, new_staged, old_staged) = tokio::join!(
            remote_sha256(t, &self.config, privilege),
            // Only the bytes that differ cross the connection; the rest is copied from
            // the file on the host (its digest is checked here at the same time, and the
            // result's against the new bytes).
            splice_new(t, &self.config, &staged, previous, bytes, privilege),
            async {
                // Copied on the host, not sent again: checked to be what was read.
                match &backup {
                    Some((_, tmp)) => copy_new(t, &self.config, tmp, &read, privilege).await,
                    None => Ok(()),
                }
            },
        );
        let refused: Option<LbError> = match now {
            Err(e) => Some(e.into()),
            Ok(now) if now != read => Some(LbError::ChangedConcurrently {
                host: self.host(),
                path: self.config.to_string(),
                read: read.to_string(),
                now: now.to_string(),
            }),
            Ok(_) => new_staged.and(old_staged).err().map(LbError::from),
        };
        if let Some(error) = refused {
            tokio::join!(remove_quietly(t, &staged, privilege), async {
                if let Some((_, tmp)) = &backup {
                    remove_quietly(t, tmp, privilege).await
                }
            });
            return Err(WriteFailure::Untouched(error));
        }

        let (kept, written) = tokio::join!(
            async {
                let Some((path, tmp)) = &backup else {
                    return Ok(());
                };
                let moved = rename_over(t, tmp, path, privilege).await;
                if moved.is_err() {
                    remove_quietly(t, tmp, privilege).await;
                }
                moved
            },
            copy_in_place(t, &staged, &self.config, privilege),
        );
        if let Err(e) = written {
            remove_quietly(t, &staged, privilege).await;
            return Err(WriteFailure::Written(e.to_string()));
        }
        let expected = Sha256::of_bytes(bytes);
        let ((), landed) = tokio::join!(
            remove_quietly(t, &staged, privilege),
            expect_sha256(t, &self.config, &expected, privilege),
        );
        if let Err(e) = landed {
            return Err(WriteFailure::Written(e.to_string()));
        }
        // The backup is a convenience for a human; the change itself stands without it.
        if let Err(e) = kept {
            tracing::warn!(host = %self.host(), error = %e, "the config's backup was not kept");
        }
        Ok(())
    }
}
