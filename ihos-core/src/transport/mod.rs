//! [`Transport`]: how ihos runs commands and moves files on a host.
//!
//! Implementations: [`LocalTransport`] (this machine), `SshTransport` (ssh2), and the fake
//! hosts of `ihos-testkit`. A third-party transport implements [`Transport::run`] and
//! [`Transport::upload`]; reading and in-place writing have default implementations built
//! on `run`.

mod download;
mod error;
mod local;
pub(crate) mod remote;
mod ssh;

pub use download::Downloaded;
pub use error::TransportError;
pub use local::LocalTransport;
pub(crate) use ssh::home_dir;
pub use ssh::{HostKeyPolicy, JumpHost, SshAuth, SshOptions, SshTarget, SshTransport};

use std::path::Path;

use async_trait::async_trait;

use crate::command::{Command, Output, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Where the file is now.
    pub path: RemotePath,
    /// Its size in bytes.
    pub bytes: u64,
    /// Its SHA-256 as computed on the host (equal to the local one).
    pub sha256: Sha256,
}

/// Runs commands and moves files on one host.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Transport: Send + Sync {
    /// The host's name, for messages.
    fn host(&self) -> &str;

    /// Makes ready what a run is about to use at once, before it is asked for (an SSH
    /// host's sessions: logins on the run's path cost a round trip or two and a key
    /// exchange each). Nothing by default. A failure here is nobody's: the commands that
    /// waited for it, or next need the connection, meet it and report it.
    async fn warm_up(&self) {}

    /// Runs a command to completion. A non-zero exit is not an error here: check
    /// [`Output::status`] (or use [`run_checked`]).
    async fn run(&self, command: &Command) -> Result<Output, TransportError>;

    /// Copies a local file to `remote` (in a directory the login user can write): to a
    /// temporary name in the same directory, checks its SHA-256 there, then renames it.
    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError>;

    /// Reads a file.
    async fn read_file(
        &self,
        path: &RemotePath,
        privilege: Privilege,
    ) -> Result<Vec<u8>, TransportError> {
        let out = run_checked(
            self,
            &Command::new("cat")
                .arg("--")
                .arg(path.as_str())
                .with_privilege(privilege),
        )
        .await?;
        Ok(out.stdout)
    }

    /// Copies a remote file to a local path, streamed in bounded chunks (memory does not
    /// grow with the file's size). The host's SHA-256 of the file is taken first and the
    /// bytes received must match it; the local file appears, by rename, only when they do.
    async fn download(
        &self,
        path: &RemotePath,
        local: &Path,
        privilege: Privilege,
    ) -> Result<Downloaded, TransportError> {
        download::in_chunks(self, path, local, privilege).await
    }

    /// Replaces a file's content keeping its inode (a file bind-mounted into a container
    /// stays the same file). The new bytes are first written next to it and checked, so the
    /// target is only touched by a local copy; the result is checked again.
    async fn write_file_in_place(
        &self,
        path: &RemotePath,
        bytes: &[u8],
        privilege: Privilege,
    ) -> Result<(), TransportError> {
        write_in_place_via_staging(self, path, bytes, privilege).await
    }
}

/// Runs a command and turns a non-zero exit into [`TransportError::Failed`] (or
/// [`TransportError::SudoPassword`] when sudo wanted a password).
pub async fn run_checked<T: Transport + ?Sized>(
    transport: &T,
    command: &Command,
) -> Result<Output, TransportError> {
    let out = transport.run(command).await?;
    check_output(transport.host(), command, out)
}

/// [`run_checked`]'s check on its own.
pub(crate) fn check_output(
    host: &str,
    command: &Command,
    out: Output,
) -> Result<Output, TransportError> {
    if out.success() {
        return Ok(out);
    }
    Err(command_failed(host, command, &out))
}

/// The error for a command that exited unsuccessfully with `out`.
pub(crate) fn command_failed(host: &str, command: &Command, out: &Output) -> TransportError {
    let stderr = out.stderr_text();
    if command.privilege() == Privilege::Sudo
        && (stderr.contains("a password is required") || stderr.contains("a terminal is required"))
    {
        return TransportError::SudoPassword {
            host: host.to_string(),
            command: command.to_string(),
        };
    }
    TransportError::Failed {
        host: host.to_string(),
        command: command.to_string(),
        status: out
            .status
            .map_or_else(|| "a signal".to_string(), |s| format!("status {s}")),
        stderr,
    }
}

/// SHA-256 of a remote file, computed on the host.
pub(crate) async fn remote_sha256<T: Transport + ?Sized>(
    transport: &T,
    path: &RemotePath,
    privilege: Privilege,
) -> Result<Sha256, TransportError> {
    let cmd = Command::new("sha256sum")
        .arg("--")
        .arg(path.as_str())
        .with_privilege(privilege);
    let out = run_checked(transport, &cmd).await?;
    Sha256::from_sha256sum_line(&out.stdout_text()).ok_or_else(|| TransportError::Protocol {
        host: transport.host().to_string(),
        command: cmd.to_string(),
        reason: format!("unexpected output {:?}", out.stdout_text()),
    })
}

/// Checks on the host that `path` holds `expected` ([`TransportError::Checksum`] if not).
pub(crate) async fn expect_sha256<T: Transport + ?Sized>(
    transport: &T,
    path: &RemotePath,
    expected: &Sha256,
    privilege: Privilege,
) -> Result<(), TransportError> {
    let got = remote_sha256(transport, path, privilege).await?;
    same_sha256(transport.host(), path, expected, &got)
}

/// [`TransportError::Checksum`] unless `got` is `expected`.
pub(crate) fn same_sha256(
    host: &str,
    path: &RemotePath,
    expected: &Sha256,
    got: &Sha256,
) -> Result<(), TransportError> {
    if got != expected {
        return Err(TransportError::Checksum {
            host: host.to_string(),
            path: path.to_string(),
            expected: expected.to_string(),
            actual: got.to_string(),
        });
    }
    Ok(())
}

/// The default [`Transport::write_file_in_place`]: one command on the host
/// ([`remote::CheckedWrite`] with nothing to compare the file with and no backup).
pub(crate) async fn write_in_place_via_staging<T: Transport + ?Sized>(
    transport: &T,
    path: &RemotePath,
    bytes: &[u8],
    privilege: Privilege,
) -> Result<(), TransportError> {
    let write = remote::CheckedWrite {
        path,
        previous: None,
        bytes,
        backup: None,
        privilege,
    };
    match write.run(transport).await {
        Ok(_) => Ok(()),
        Err(remote::CheckedWriteError::Untouched(e) | remote::CheckedWriteError::Written(e)) => {
            Err(e)
        }
        // Never without a digest to compare with; said as what it would mean.
        Err(remote::CheckedWriteError::Changed { now }) => Err(TransportError::Protocol {
            host: transport.host().to_string(),
            command: format!("the write of {path}"),
            reason: format!("answered that the file changed (sha256 {now} now)"),
        }),
    }
}
