//! [`SshTransport`]: the [`Transport`] for a host reached over SSH (libssh2 through `ssh2`).
//!
//! - Sessions to a host are each owned by a worker thread ([`worker`]); async callers never
//!   block. A second session is made only when commands run at once ([`lanes`]).
//! - Host keys are checked against known_hosts ([`known_hosts`]), strictly by default.
//! - Commands run on a channel in non-blocking mode with a deadline checked on every turn
//!   and capped output ([`exec`]), as `env LC_ALL=C [sudo ...] [timeout -k 5 N] PROGRAM`
//!   ([`line`]): English messages, and a command past its limit is stopped on the host.
//!   `sudo -n` unless a sudo password variable is configured and sudo needs one; then the
//!   password is written only when sudo shows ihos's own prompt.
//! - Uploads go by SCP to a temporary name, are checked with SHA-256 on the host
//!   (`openssl dgst`, or `sha256sum`), then renamed into place ([`scp`]).
//! - A host behind a bastion is reached through a [`JumpHost`]: one session to it carries a
//!   forwarded channel per host behind it ([`jump`], [`tunnel`]).
//! - A broken connection gives [`TransportError::Disconnected`] and the next call
//!   reconnects; timeouts give [`TransportError::Timeout`].

mod auth;
mod connect;
mod error;
mod exec;
mod feed;
mod forward;
mod jump;
mod known_hosts;
mod lanes;
mod line;
mod logged_in;
mod options;
mod poll;
mod route;
mod scp;
mod socket;
mod tunnel;
mod worker;

pub use jump::JumpHost;
pub(crate) use options::home_dir;
pub use options::{HostKeyPolicy, SshAuth, SshOptions, SshTarget};

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::{Transport, TransportError, Uploaded, remote, remote_sha256, run_checked};
use crate::command::{Command, Output, Privilege};
use crate::names::RemotePath;
use crate::sha::Sha256;
use lanes::{Busy, Lanes, Picked};
use worker::{Job, Reply};

/// Runs commands and uploads files on one host over SSH.
///
/// ```no_run
/// # async fn demo() -> Result<(), ihos_core::TransportError> {
/// use ihos_core::{Command, SshOptions, SshTarget, SshTransport, Transport};
/// let host = SshTransport::connect(
///     SshTarget::new("192.0.2.10", 22, "deploy"),
///     SshOptions::default(),
/// )
/// .await?;
/// let out = host.run(&Command::new("docker").arg("ps").sudo()).await?;
/// println!("{}", out.stdout_text());
/// # Ok(()) }
/// ```
pub struct SshTransport {
    target: SshTarget,
    label: String,
    lanes: Lanes,
}

impl fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshTransport")
            .field("target", &self.target.to_string())
            .finish()
    }
}

impl SshTransport {
    /// Connects now (host key check and login included), so configuration errors show at
    /// once. The connection is re-made on demand if it breaks later.
    pub async fn connect(target: SshTarget, options: SshOptions) -> Result<Self, TransportError> {
        let transport = Self::new(target, options)?;
        transport
            .call("connect", |reply| Job::Connect { reply })
            .await?;
        Ok(transport)
    }

    /// A transport that connects on its first use.
    pub fn new(target: SshTarget, options: SshOptions) -> Result<Self, TransportError> {
        Self::start(target, options, None)
    }

    /// A transport to a host reached through `jump` (OpenSSH's `ProxyJump`), connecting on
    /// its first use. The target's host key is checked under its own name, as a direct
    /// connection's is.
    pub fn through(
        jump: Arc<JumpHost>,
        target: SshTarget,
        options: SshOptions,
    ) -> Result<Self, TransportError> {
        Self::start(target, options, Some(jump))
    }

    /// [`through`](Self::through), connecting now.
    pub async fn connect_through(
        jump: Arc<JumpHost>,
        target: SshTarget,
        options: SshOptions,
    ) -> Result<Self, TransportError> {
        let transport = Self::through(jump, target, options)?;
        transport
            .call("connect", |reply| Job::Connect { reply })
            .await?;
        Ok(transport)
    }

    fn start(
        target: SshTarget,
        options: SshOptions,
        via: Option<Arc<JumpHost>>,
    ) -> Result<Self, TransportError> {
        let label = target.label();
        let via = via.map(|v| v as Arc<dyn route::Opener>);
        let lanes = Lanes::new(target.clone(), options, via)?;
        Ok(SshTransport {
            target,
            label,
            lanes,
        })
    }

    /// How many sessions to the host have been started so far (one, until several
    /// commands ran at once or [`Transport::warm_up`] made the others).
    pub fn sessions(&self) -> usize {
        self.lanes.started()
    }

    /// The host and user.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// Hands a job to the worker and waits for its answer.
    async fn call<T>(
        &self,
        during: &str,
        job: impl Fn(Reply<T>) -> Job,
    ) -> Result<T, TransportError> {
        let lost = |reason: &str| TransportError::Disconnected {
            host: self.label.clone(),
            during: during.to_string(),
            reason: reason.to_string(),
        };
        // A second try only when the first never ran: its session's thread was gone, or
        // it was an extra session the host would not let in (the job goes to one it did).
        let mut retried = false;
        loop {
            let (reply, answer) = oneshot::channel();
            // Counted busy until the answer is in (or this future is dropped).
            let lane = match self.lanes.pick()? {
                Picked::Now(lane) => lane,
                Picked::Later(handed) => {
                    match handed
                        .await
                        .map_err(|_| lost("the SSH sessions were closed"))?
                    {
                        Some(held) => Busy::handed(held),
                        // A session left the list: look again.
                        None => continue,
                    }
                }
            };
            if lane.send(job(reply)).is_err() {
                self.lanes.retire(&lane);
                if std::mem::replace(&mut retried, true) {
                    return Err(lost("the SSH thread has stopped"));
                }
                continue;
            }
            let answer = answer
                .await
                .map_err(|_| lost("the SSH thread stopped without an answer"))?;
            match &answer {
                Ok(_) => lane.answered(&self.lanes),
                Err(e) if !retried && lane.refused_extra(&self.lanes, e) => {
                    tracing::warn!(
                        host = %self.label,
                        error = %e,
                        "the host refused another SSH session: going on with the ones it let in"
                    );
                    self.lanes.retire(&lane);
                    self.lanes.no_more();
                    retried = true;
                    continue;
                }
                Err(_) => {}
            }
            return answer;
        }
    }

    /// SHA-256 of a file on the host: `openssl dgst` when the host has it (it uses the
    /// CPU's SHA instructions: 100 MiB in ~0.1 s here, where coreutils' `sha256sum` takes
    /// ~0.35 s, about half the transfer time), else `sha256sum`.
    async fn host_sha256(&self, path: &RemotePath) -> Result<Sha256, TransportError> {
        let openssl = Command::new("openssl").args(["dgst", "-sha256", "-r", "--", path.as_str()]);
        if let Ok(out) = self.run(&openssl).await {
            if let Some(digest) = out
                .success()
                .then(|| Sha256::from_sha256sum_line(&out.stdout_text()))
                .flatten()
            {
                return Ok(digest);
            }
        }
        remote_sha256(self, path, Privilege::User).await
    }

    async fn remove_quietly(&self, path: &RemotePath) {
        let rm = Command::new("rm").arg("-f").arg("--").arg(path.as_str());
        if let Err(e) = self.run(&rm).await {
            tracing::debug!(host = %self.label, path = %path, error = %e, "could not remove");
        }
    }
}

#[async_trait]
impl Transport for SshTransport {
    fn host(&self) -> &str {
        &self.label
    }

    /// Logs in the first session now unless a command already did (a host that is down
    /// or refuses is tried once: a command asked meanwhile gets that answer), and once the
    /// host let one in, the others up to [`SshOptions::sessions`] at once. One the host
    /// refuses is dropped and no more are tried, as when a command meets the refusal.
    async fn warm_up(&self) {
        if let Some((lane, answer)) = self.lanes.first_login(|reply| Job::Connect { reply }) {
            match answer.await {
                Ok(Ok(())) => self.lanes.settle(&lane, Ok(())),
                // Said to the commands that waited for it; the next one tries again.
                _ => return,
            }
        }
        // Logged in is enough (the first session may still be running the run's lock).
        self.lanes.wait_logged_in().await;
        let started = self.lanes.fill(|reply| Job::Connect { reply });
        futures_util::future::join_all(started.into_iter().map(|(lane, answer)| async move {
            let answer = answer.await.unwrap_or_else(|_| {
                Err(TransportError::Disconnected {
                    host: self.label.clone(),
                    during: "connect".into(),
                    reason: "the SSH thread stopped without an answer".into(),
                })
            });
            self.lanes.settle(&lane, answer);
        }))
        .await;
    }

    async fn run(&self, command: &Command) -> Result<Output, TransportError> {
        let command = command.clone();
        let during = command.to_string();
        self.call(&during, |reply| Job::Run {
            command: command.clone(),
            reply,
        })
        .await
    }

    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        let tmp = remote::temp_path(remote)?;
        let sent = self
            .call(&format!("upload to {tmp}"), |reply| Job::Send {
                local: local.to_path_buf(),
                remote: tmp.clone(),
                reply,
            })
            .await;
        let sent = match sent {
            Ok(sent) => sent,
            Err(e) => {
                self.remove_quietly(&tmp).await;
                return Err(e);
            }
        };
        let checked = async {
            let found = self.host_sha256(&tmp).await?;
            if found != sent.sha256 {
                return Err(TransportError::Checksum {
                    host: self.label.clone(),
                    path: tmp.to_string(),
                    expected: sent.sha256.to_string(),
                    actual: found.to_string(),
                });
            }
            run_checked(
                self,
                &Command::new("mv")
                    .arg("-f")
                    .arg("--")
                    .arg(tmp.as_str())
                    .arg(remote.as_str()),
            )
            .await
        }
        .await;
        if let Err(e) = checked {
            self.remove_quietly(&tmp).await;
            return Err(e);
        }
        Ok(Uploaded {
            path: remote.clone(),
            bytes: sent.bytes,
            sha256: sent.sha256,
        })
    }
}
