//! nginx's process in its container: `nginx -t`, the worker list, a reload that waits until
//! new workers accept connections, or a restart of the container.

use std::time::Duration;

use super::NginxLb;
use super::workers::{NginxWorker, master_among, workers_among};
use crate::container::{Container, ContainerError};
use crate::lb::{ApplyMode, LbError};
use crate::transport::{Transport, TransportError};

/// nginx's processes just before a reload: the workers that accept connections (the reload
/// has worked once none of them does) and the master's pid.
pub(super) struct BeforeReload {
    accepting: Vec<u32>,
    master: Option<u32>,
}

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

    /// `nginx -t` in the container (`docker exec`). docker's own failures (status 125,
    /// docker(1) "Exit status"; 126 or 127: `nginx` not runnable or not found in the
    /// container) are errors, not nginx's refusal (which exits 1).
    pub(super) async fn validate(&self) -> Result<Verdict, LbError> {
        let argv = self.nginx_argv(&["-t", "-q"]);
        let out = self.container.exec(&argv).await?;
        if matches!(out.status, Some(125..=127)) {
            return Err(ContainerError::Docker {
                host: self.host(),
                container: self.container.name().to_string(),
                command: format!("docker exec {} {}", self.container.name(), argv.join(" ")),
                reason: out.stderr_text(),
            }
            .into());
        }
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
        Ok(workers_among(&self.processes().await?))
    }

    /// nginx's processes: from the host's `ps` when its master is known to be the
    /// container's main process (much quicker), else the container's own list.
    async fn processes(&self) -> Result<Vec<crate::container::Process>, LbError> {
        let master = self.main_process.main_master();
        if let Some(master) = master {
            if let Some(listed) = self.host_ps.list(self.transport.as_ref(), master).await {
                return Ok(listed);
            }
        }
        let listed = self.container.processes().await?;
        if let Some(master) = master {
            self.host_ps.unseen(master, &listed);
        }
        Ok(listed)
    }

    /// `nginx -s reload` only signals the master and returns before new workers run. Wait
    /// until every worker that ran before is gone or shutting down (it no longer accepts
    /// connections) and a new one runs: from then on new requests see the new config.
    /// `before`: the processes just before, when already listed (see
    /// [`NginxLb::validate_and_list`]).
    async fn reload(&self, before: Option<BeforeReload>) -> Result<(), ApplyFailure> {
        let before = match before {
            Some(b) => b,
            None => self.before_reload().await?,
        };
        self.signal_reload(before.master).await?;
        let before = before.accepting;
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
            // A listing takes 10 ms from the host (40-100 ms through docker): polled again
            // soon, a reload's switch is seen within about one listing of happening.
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Tells nginx's master to reload. `nginx -s reload` reads the master's pid from its
    /// pid file and sends it SIGHUP (nginx docs, "Controlling nginx"); when the master is
    /// the container's main process, the same signal reaches the same process without
    /// starting one in the container (a docker exec is the slowest docker command: about
    /// 115 ms here, 300 ms on a busy host): from the host when its `ps` just saw that
    /// master (see `from_host.rs`), else `docker kill --signal HUP` (the official image's
    /// docs reload it so). Whether the master is the main process is learnt from `docker
    /// inspect` once per master (see [`NginxLb::validate_and_list`]); until then, or behind
    /// an init or a wrapper script, `nginx -s reload` runs in the container. Either way
    /// the caller checks the switch by the workers, never by the command's word.
    async fn signal_reload(&self, master: Option<u32>) -> Result<(), ApplyFailure> {
        if let Some(m) = master.filter(|&m| self.main_process.is_master_main(m)) {
            let seen = self.host_ps.saw_master(m);
            if let Some(id) = seen.filter(|_| self.from_host.signal_usable()) {
                let t = self.transport.as_ref();
                if self.from_host.hup(t, id, self.options.privilege).await? {
                    return Ok(());
                }
            }
            return Ok(self.container.signal("HUP").await?);
        }
        let out = self
            .container
            .exec(&self.nginx_argv(&["-s", "reload"]))
            .await?;
        if !out.success() {
            return Err(ApplyFailure::ReloadRefused(out.stderr_text()));
        }
        Ok(())
    }

    /// nginx's processes as a reload needs them listed beforehand.
    async fn before_reload(&self) -> Result<BeforeReload, LbError> {
        let processes = self.processes().await?;
        Ok(BeforeReload {
            accepting: workers_among(&processes)
                .into_iter()
                .filter(|w| !w.shutting_down)
                .map(|w| w.pid)
                .collect(),
            master: master_among(&processes),
        })
    }

    /// `nginx -t`, and (for a reload) nginx's processes, at once: one round trip's time.
    /// The first time a master is seen, the container's main process is looked up too (at
    /// once as well), to know whether a signal to the container reaches the master. `busy`
    /// keeps this value's own changes one at a time; the engine never changes the same
    /// nginx through another value (the canary's site file) at the same moment, and the
    /// rollout lock keeps other ihos processes out, so the list is the one just before the
    /// reload. A config nginx refuses is reported as such, whatever became of the listing.
    ///
    /// Once the master is known to be the main process and seen running as root, `nginx
    /// -t` runs from the host in its namespaces (see `from_host.rs`); its "accepted" counts
    /// only if the listing made at the same time still has that master, anything else is
    /// asked of the container.
    pub(super) async fn validate_and_list(
        &self,
    ) -> Result<(Verdict, Option<BeforeReload>), LbError> {
        match self.options.apply {
            ApplyMode::Reload => {
                let look_up = !self.main_process.known();
                let from_host = (self.main_process.main_master())
                    .and_then(|m| self.host_ps.root_master(m))
                    .filter(|&id| self.from_host.test_usable(id));
                let (in_container, host_accepted, before, main) = tokio::join!(
                    async {
                        match from_host {
                            None => Some(self.validate().await),
                            Some(_) => None,
                        }
                    },
                    async {
                        let Some(master) = from_host else {
                            return Ok(false);
                        };
                        let argv = self.nginx_argv(&["-t", "-q"]);
                        let t = self.transport.as_ref();
                        (self.from_host)
                            .test_accepts(t, master, &argv, self.options.privilege)
                            .await
                    },
                    self.before_reload(),
                    async {
                        match look_up {
                            true => self.container.state().await.ok().map(|s| s.pid),
                            false => None,
                        }
                    }
                );
                // Listed from the host as the same process (pid and start time), not only
                // the same pid.
                let same_master = from_host.is_some_and(|id| {
                    matches!(&before, Ok(b) if b.master == Some(id.pid))
                        && self.host_ps.saw_master(id.pid) == Some(id)
                });
                let verdict = match in_container {
                    Some(verdict) => verdict?,
                    None if host_accepted? && same_master => Verdict::Accepted,
                    None => self.validate().await?,
                };
                match verdict {
                    Verdict::Accepted => {
                        let before = before?;
                        self.main_process.update(before.master, main);
                        Ok((Verdict::Accepted, Some(before)))
                    }
                    rejected => Ok((rejected, None)),
                }
            }
            ApplyMode::Restart => Ok((self.validate().await?, None)),
        }
    }

    /// Whether nginx's master is the container's main process, looked up unless known:
    /// its processes and the container's main process at once.
    pub(super) async fn learn_main_process(&self) -> Result<(), LbError> {
        if self.main_process.known() {
            return Ok(());
        }
        let (processes, main) = tokio::join!(self.processes(), async {
            self.container.state().await.ok().map(|s| s.pid)
        });
        self.main_process.update(master_among(&processes?), main);
        Ok(())
    }

    /// Makes nginx use the config on disk (which has passed `nginx -t`).
    pub(super) async fn activate(&self, before: Option<BeforeReload>) -> Result<(), ApplyFailure> {
        match self.options.apply {
            ApplyMode::Reload => self.reload(before).await,
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

/// Whether nginx's master is the container's main process (so that `docker kill --signal
/// HUP` reaches it), as learnt for one master pid.
#[derive(Debug, Default)]
pub(super) struct MainProcess(std::sync::Mutex<Option<(u32, bool)>>);

impl MainProcess {
    fn get(&self) -> Option<(u32, bool)> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether it is known for some master (else the next listing looks it up).
    fn known(&self) -> bool {
        self.get().is_some()
    }

    /// Whether `master` is known to be the main process.
    fn is_master_main(&self, master: u32) -> bool {
        self.get() == Some((master, true))
    }

    /// The master's pid, when it is known to be the main process.
    pub(super) fn main_master(&self) -> Option<u32> {
        self.get().and_then(|(m, main)| main.then_some(m))
    }

    /// After a listing that found `master`, with the main process's pid when it was looked
    /// up (`Some(None)`: the container has no main process running).
    fn update(&self, master: Option<u32>, main: Option<Option<u32>>) {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *known = match (master, main) {
            (Some(m), Some(main)) => Some((m, main == Some(m))),
            // Another master than the one it was learnt for (nginx or its container was
            // restarted): looked up again next time.
            (Some(m), None) if known.is_some_and(|(k, _)| k == m) => *known,
            _ => None,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::MainProcess;

    #[test]
    fn the_signal_is_used_only_for_the_master_found_to_be_the_main_process() {
        let m = MainProcess::default();
        assert!(!m.known());
        // Looked up: master 7 is the main process.
        m.update(Some(7), Some(Some(7)));
        assert!(m.is_master_main(7));
        assert!(!m.is_master_main(8));
        // Listed again without a look-up: unchanged.
        m.update(Some(7), None);
        assert!(m.is_master_main(7));
        // Another master (a restart): forgotten, looked up again.
        m.update(Some(9), None);
        assert!(!m.known());
        // Behind an init (main process 1 is not the master): known, and not used.
        m.update(Some(9), Some(Some(1)));
        assert!(m.known());
        assert!(!m.is_master_main(9));
        // The look-up failed or found nothing: nothing is assumed.
        m.update(Some(9), Some(None));
        assert!(!m.is_master_main(9));
        m.update(None, None);
        assert!(!m.known());
    }
}
