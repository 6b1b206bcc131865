//! [`TransportError`]: what can go wrong reaching a host or running something there.

use std::time::Duration;

use crate::names::InvalidName;

/// A failure of a transport operation. Every variant names the host; those about a command
/// show it as it ran (quoted, without its standard input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The TCP connection or SSH handshake failed.
    #[error("{host}: cannot connect: {reason}")]
    Connect {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The host key is unknown or does not match known_hosts.
    #[error("{host}: host key verification failed: {reason}")]
    HostKey {
        /// The host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The server refused every authentication method tried.
    #[error("{host}: authentication as {user:?} failed: {reason}")]
    Auth {
        /// The host.
        host: String,
        /// The login user.
        user: String,
        /// What was tried and what the server said.
        reason: String,
    },
    /// A command ran longer than its timeout (ihos stopped waiting; on an SSH host the
    /// command may go on running).
    #[error("{host}: `{command}` timed out after {after:?}")]
    Timeout {
        /// The host.
        host: String,
        /// The command.
        command: String,
        /// The timeout.
        after: Duration,
    },
    /// The connection broke while something was in progress.
    #[error("{host}: connection lost during `{during}`: {reason}")]
    Disconnected {
        /// The host.
        host: String,
        /// What was in progress.
        during: String,
        /// Why.
        reason: String,
    },
    /// sudo wanted a password and none may be given (`sudo -n`).
    #[error(
        "{host}: `{command}` needs a sudo password; give the login user NOPASSWD sudo, or set the sudo password environment variable named in the host's config"
    )]
    SudoPassword {
        /// The host.
        host: String,
        /// The command.
        command: String,
    },
    /// sudo asked again after the configured password: it is wrong (never shown).
    #[error(
        "{host}: sudo refused the password for `{command}`: check the sudo password environment variable named in the host's config"
    )]
    SudoPasswordRefused {
        /// The host.
        host: String,
        /// The command.
        command: String,
    },
    /// A command exited non-zero.
    #[error("{host}: `{command}` failed with {status}: {stderr}")]
    Failed {
        /// The host.
        host: String,
        /// The command.
        command: String,
        /// `status N` or `a signal`.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A command's output was not what ihos expects of it.
    #[error("{host}: `{command}`: {reason}")]
    Protocol {
        /// The host.
        host: String,
        /// The command.
        command: String,
        /// What was wrong.
        reason: String,
    },
    /// A file arrived with other content than was sent.
    #[error("{host}: checksum mismatch for {path}: expected sha256 {expected}, found {actual}")]
    Checksum {
        /// The host.
        host: String,
        /// The file.
        path: String,
        /// SHA-256 of what was sent.
        expected: String,
        /// SHA-256 found on the host.
        actual: String,
    },
    /// Reading or writing a file failed.
    #[error("{host}: cannot {op} {path}: {reason}")]
    Io {
        /// The host (or `local`).
        host: String,
        /// `read`, `write`, `upload`, ...
        op: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A path ihos reads or checks as root is not a regular file (a link, a FIFO, a
    /// device): refused, never read through.
    #[error("{host}: {path} is not a regular file (a link, a FIFO or a device): refused")]
    NotRegularFile {
        /// The host.
        host: String,
        /// The path.
        path: String,
    },
    /// A name or path from configuration was refused.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
}

impl TransportError {
    /// Whether the connection itself failed (the operation may or may not have happened).
    pub fn is_connection_loss(&self) -> bool {
        matches!(
            self,
            TransportError::Disconnected { .. }
                | TransportError::Connect { .. }
                | TransportError::Timeout { .. }
        )
    }
}
