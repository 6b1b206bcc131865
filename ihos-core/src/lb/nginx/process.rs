//! nginx's process in its container: `nginx -t`, the worker list, a reload that waits until
//! new workers accept connections, or a restart of the container.

use std::time::Duration;

use super::NginxLb;
use super::workers::{NginxWorker, workers_among};
use crate::container::{Container, ContainerError};
use crate::lb::{ApplyMode, LbError};
use crate::transport::{Transport, TransportError};

/// What `nginx -t` said of the config on disk.
pub(super) enum Verdict {
    Accepted,
    /// Rejected, with nginx's message.
    Rejected(String),
}

/// Why nginx could not be made to use a config (reload or restart).
#[derive(Debug, thiserror::Error)]
pub(super) enum ApplyFailure {
    #[error(transparent)]
    Lb(#[from] LbError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("nginx -s reload: {0}")]
    ReloadRefused(String),
    #[error(
        "nginx did not switch to the new configuration within {timeout:?} (workers before: {before:?}, now: {now:?})"
    )]
    NoSwitch {
        timeout: Duration,
        before: Vec<u32>,
        now: Vec<NginxWorker>,
    },
    #[error("nginx container is {0} after restart")]
    NotRunningAfterRestart(String),
    #[error("the previous config fails nginx -t too: {0}")]
    PreviousRejected(String),
}

impl<T: Transport + ?Sized, C: Container + ?Sized> NginxLb<T, C> {
    fn nginx_argv(&self, extra: &[&str]) -> Vec<String> {
        let mut argv = vec!["nginx".to_string()];
        if let Some(c) = &self.options.config_in_container {
            argv.push("-c".into());
            argv.push(c.clone());
        }
        argv.extend(extra.iter().map(|s| s.to_string()));
        argv
    }

    /// `nginx -t` in the container.
    pub(super) async fn validate(&self) -> Result<Verdict, LbError> {
        let out = self.container.exec(&self.nginx_argv(&["-t", "-q"])).await?;
        if out.success() {
            Ok(Verdict::Accepted)
        } else {
            let mut text = out.stderr_text();
            if text.is_empty() {
                text = out.stdout_text();
            }
            Ok(Verdict::Rejected(text))
        }
    }

    /// nginx's worker processes in the container.
    pub async fn workers(&self) -> Result<Vec<NginxWorker>, LbError> {
        Ok(workers_among(&self.container.processes().await?))
    }

    /// `nginx -s reload` only signals the master and returns before new workers run. Wait
    /// until every worker that ran before is gone or shutting down (it no longer accepts
    /// connections) and a new one runs: from then on new requests see the new config.
    /// `accepting`: the workers accepting connections just before, when already listed
    /// (see [`NginxLb::validate_and_list`]).
    async fn reload(&self, accepting: Option<Vec<u32>>) -> Result<(), ApplyFailure> {
        let before = match accepting {
            Some(pids) => pids,
            None => self.accepting_workers().await?,
        };
        let out = self
            .container
            .exec(&self.nginx_argv(&["-s", "reload"]))
            .await?;
        if !out.success() {
            return Err(ApplyFailure::ReloadRefused(out.stderr_text()));
        }
        let deadline = crate::time::deadline_after(self.options.reload_timeout);
        loop {
            let now = self.workers().await?;
            let old_accepting = now
                .iter()
                .any(|w| before.contains(&w.pid) && !w.shutting_down);
            let new_running = now
                .iter()
                .any(|w| !before.contains(&w.pid) && !w.shutting_down);
            if !old_accepting && new_running {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApplyFailure::NoSwitch {
                    timeout: self.options.reload_timeout,
                    before,
                    now,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The pids of the workers that accept connections (not shutting down).
    async fn accepting_workers(&self) -> Result<Vec<u32>, LbError> {
        Ok(self
            .workers()
            .await?
            .into_iter()
            .filter(|w| !w.shutting_down)
            .map(|w| w.pid)
            .collect())
    }

    /// `nginx -t`, and (for a reload) the workers accepting connections, at once: two
    /// commands in the container, one round trip's time. `busy` keeps this value's own
    /// changes one at a time; the engine never changes the same nginx through another value
    /// (the canary's site file) at the same moment, and the rollout lock keeps other ihos
    /// processes out, so the list is the one just before the reload. A config nginx
    /// refuses is reported as such, whatever became of the listing.
    pub(super) async fn validate_and_list(&self) -> Result<(Verdict, Option<Vec<u32>>), LbError> {
        match self.options.apply {
            ApplyMode::Reload => {
                let (verdict, workers) = tokio::join!(self.validate(), self.accepting_workers());
                match verdict? {
                    Verdict::Accepted => Ok((Verdict::Accepted, Some(workers?))),
                    rejected => Ok((rejected, None)),
                }
            }
            ApplyMode::Restart => Ok((self.validate().await?, None)),
        }
    }

    /// Makes nginx use the config on disk (which has passed `nginx -t`).
    pub(super) async fn activate(&self, accepting: Option<Vec<u32>>) -> Result<(), ApplyFailure> {
        match self.options.apply {
            ApplyMode::Reload => self.reload(accepting).await,
            ApplyMode::Restart => {
                self.container.restart(self.options.restart_grace).await?;
                let state = self.container.state().await?;
                if state.running {
                    Ok(())
                } else {
                    Err(ApplyFailure::NotRunningAfterRestart(state.status))
                }
            }
        }
    }
}
