//! Writing the config file for a change: it must still be what was read; the old bytes are
//! kept as a backup and the new ones written in place, checked, in one command
//! ([`crate::transport::remote::CheckedWrite`]; each change is on the rollout's critical
//! path, one per transition).

use super::NginxLb;
use crate::container::Container;
use crate::lb::LbError;
use crate::names::RemotePath;
use crate::transport::remote::{CheckedWrite, CheckedWriteError};
use crate::transport::{Transport, TransportError};

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
        let backup = match self.options.backup {
            true => Some(
                self.backup_path()
                    .map_err(|e| WriteFailure::Untouched(e.into()))?,
            ),
            false => None,
        };
        let write = CheckedWrite {
            path: &self.config,
            previous: Some(previous),
            bytes,
            backup: backup.as_ref(),
            privilege: self.options.privilege,
        };
        match write.run(self.transport.as_ref()).await {
            Ok(done) => {
                // The backup is a convenience for a human; the change itself stands
                // without it.
                if done.backup_not_kept {
                    tracing::warn!(host = %self.host(), "the config's backup was not kept");
                }
                Ok(())
            }
            Err(CheckedWriteError::Changed { now }) => {
                Err(WriteFailure::Untouched(LbError::ChangedConcurrently {
                    host: self.host(),
                    path: self.config.to_string(),
                    read: crate::sha::Sha256::of_bytes(previous).to_string(),
                    now,
                }))
            }
            Err(CheckedWriteError::Untouched(e)) => Err(WriteFailure::Untouched(e.into())),
            Err(CheckedWriteError::Written(e)) => Err(WriteFailure::Written(e.to_string())),
        }
    }
}
