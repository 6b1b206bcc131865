//! [`Opener`]: what a session needs of a jump host, a stream to its target's SSH port.
//! The connection code depends on this alone, not on the jump host's machinery.

use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::options::SshTarget;
use crate::transport::TransportError;

/// Opens streams to hosts behind it (a jump host).
pub(crate) trait Opener: Send + Sync {
    /// A stream to `to`'s SSH port, within `limit`.
    fn open(&self, to: &SshTarget, limit: Duration) -> Result<UnixStream, TransportError>;
}
