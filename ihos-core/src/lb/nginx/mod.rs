//! [`NginxLb`]: the [`LoadBalancer`] for nginx in a container.
//!
//! A change is one transaction: read the config, edit it with `ihos-nginx`, keep a backup
//! next to it, write it in place (same inode: the file is usually bind-mounted into the
//! container), `nginx -t` inside the container, then reload (or restart). On any failure the
//! previous bytes go back and nginx is left running them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ihos_nginx::{DisableStyle, Document, Edit, EditError, RotationChange};
use tokio::sync::Mutex;

mod batch;
mod from_host;
mod host_ps;
mod kept;
mod process;
mod workers;
mod write;

use kept::{Cached, Kept};
use process::{ApplyFailure, Verdict};
use write::WriteFailure;

use super::{ApplyMode, Backend, LbChange, LbError, LoadBalancer};
use crate::command::Privilege;
use crate::container::Container;
use crate::names::RemotePath;
use crate::transport::Transport;

/// Settings of an [`NginxLb`] that have good defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxLbOptions {
    /// Reload (default) or restart.
    pub apply: ApplyMode,
    /// How a backend is disabled: commented out (default, the runbook's way) or `down`.
    pub style: DisableStyle,
    /// Privilege for reading and writing the config (default sudo).
    pub privilege: Privilege,
    /// Path of the config inside the container, for `nginx -t -c` (default: nginx's own
    /// default, i.e. the file the container is started with).
    pub config_in_container: Option<String>,
    /// Grace period when restarting the container.
    pub restart_grace: Duration,
    /// Keep a copy of the previous config next to it (`.<file>.ihos-prev`: a dotfile, so an
    /// `include dir/*` does not load it).
    pub backup: bool,
    /// How long a reload may take to reach every worker before it counts as failed.
    pub reload_timeout: Duration,
}

impl Default for NginxLbOptions {
    fn default() -> Self {
        NginxLbOptions {
            apply: ApplyMode::Reload,
            style: DisableStyle::Comment,
            privilege: Privilege::Sudo,
            config_in_container: None,
            restart_grace: Duration::from_secs(10),
            backup: true,
            reload_timeout: Duration::from_secs(15),
        }
    }
}

/// nginx in container `C`, its config file reached through transport `T`.
pub struct NginxLb<T: ?Sized, C: ?Sized> {
    transport: Arc<T>,
    container: Arc<C>,
    config: RemotePath,
    upstream: String,
    options: NginxLbOptions,
    /// One change at a time through this value (the rollout lock covers other processes).
    busy: Mutex<()>,
    /// Whether a signal to the container reaches nginx's master (a cheaper reload).
    main_process: process::MainProcess,
    /// Lists nginx's processes from the host when it can.
    host_ps: host_ps::HostPs,
    /// Runs `nginx -t` and sends the reload's signal from the host when it can.
    from_host: from_host::FromHost,
    /// The config as this value last read or wrote it (see [`NginxLb::edit_with`]).
    cached: std::sync::Mutex<Kept>,
    /// Changes asked for and not yet made.
    queue: batch::Queue,
}

impl<T: Transport + ?Sized, C: Container + ?Sized> NginxLb<T, C> {
    /// nginx running in `container`, with `config` (a path on the host) holding `upstream`.
    pub fn new(
        transport: Arc<T>,
        container: Arc<C>,
        config: RemotePath,
        upstream: impl Into<String>,
        options: NginxLbOptions,
    ) -> Self {
        NginxLb {
            transport,
            container,
            config,
            upstream: upstream.into(),
            options,
            busy: Mutex::new(()),
            main_process: process::MainProcess::default(),
            host_ps: host_ps::HostPs::default(),
            from_host: from_host::FromHost::default(),
            cached: std::sync::Mutex::new(Kept::default()),
            queue: batch::Queue::default(),
        }
    }

    /// The config file.
    pub fn config_path(&self) -> &RemotePath {
        &self.config
    }

    /// The upstream's name.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// The name of the host whose config this is.
    pub fn host(&self) -> String {
        self.transport.host().to_string()
    }

    /// Writes `bytes` in place, validates and activates; on failure puts `previous` back.
    /// Nothing is written if the file is no longer `previous` (someone else edited it since
    /// it was read): their change is neither lost nor undone by a restore.
    async fn commit(&self, previous: &[u8], bytes: &[u8]) -> Result<(), LbError> {
        let path = self.config.to_string();
        let failure = match self.write_checked(previous, bytes).await {
            Err(WriteFailure::Untouched(e)) => return Err(e),
            Err(WriteFailure::Written(reason)) => reason,
            Ok(()) => match self.validate_and_list().await {
                Err(e) => e.to_string(),
                Ok((Verdict::Rejected(output), _)) => {
                    self.put_back(previous, &output, false).await?;
                    return Err(LbError::Validation {
                        host: self.host(),
                        path,
                        output,
                    });
                }
                Ok((Verdict::Accepted, before)) => match self.activate(before).await {
                    Ok(()) => return Ok(()),
                    Err(failure) => {
                        let reason = failure.to_string();
                        self.put_back(previous, &reason, true).await?;
                        return Err(LbError::Apply {
                            host: self.host(),
                            path,
                            reason,
                        });
                    }
                },
            },
        };
        self.put_back(previous, &failure, true).await?;
        Err(LbError::Apply {
            host: self.host(),
            path,
            reason: failure,
        })
    }

    /// Restores `previous` after `failure`; re-activates it if nginx may have seen the new
    /// config.
    async fn put_back(
        &self,
        previous: &[u8],
        failure: &str,
        reactivate: bool,
    ) -> Result<(), LbError> {
        let restored = async {
            self.transport
                .write_file_in_place(&self.config, previous, self.options.privilege)
                .await?;
            if reactivate {
                match self.validate().await? {
                    Verdict::Accepted => self.activate(None).await?,
                    Verdict::Rejected(out) => return Err(ApplyFailure::PreviousRejected(out)),
                }
            }
            Ok::<(), ApplyFailure>(())
        }
        .await;
        restored.map_err(|restore| LbError::RestoreFailed {
            host: self.host(),
            path: self.config.to_string(),
            failure: failure.to_string(),
            restore: restore.to_string(),
        })
    }

    async fn change(&self, address: &str, disable: bool) -> Result<LbChange, LbError> {
        let upstream = self.upstream.clone();
        let style = self.options.style;
        let rotation = vec![match disable {
            true => RotationChange::Disable(address.to_string()),
            false => RotationChange::Enable(address.to_string()),
        }];
        let address = address.to_string();
        let edit = move |doc: &Document| {
            if disable {
                doc.disable_server(&upstream, &address, style, false)
            } else {
                doc.enable_server(&upstream, &address)
            }
        };
        self.queue_and_wait(Box::new(edit), Some(rotation)).await
    }

    /// One transaction on the config file with an edit of the caller's: read and parse it,
    /// apply `edit`, and if that changed anything, back up, write in place, `nginx -t`,
    /// reload (or restart); on any failure the previous bytes go back. The canary route
    /// uses it on the site file.
    ///
    /// The file is read once, then kept as this value writes it: each change checks the
    /// file's digest on the host first (one small command, the file is not sent again) and
    /// reads it again only when someone else changed it, so their edit is kept and this
    /// one made on top of it; the write's own digest check refuses a change by someone else
    /// in between ([`LbError::ChangedConcurrently`]), neither lost nor undone.
    ///
    /// Changes asked for at the same moment are made as one (see `batch.rs`): each caller
    /// still gets its own result.
    pub async fn edit_with<F>(&self, edit: F) -> Result<LbChange, LbError>
    where
        F: Fn(&Document) -> Result<Edit, EditError> + Send + Sync + 'static,
    {
        self.queue_and_wait(Box::new(edit), None).await
    }

    /// Queues `edit` (with the same change as rotation changes, if it is one) and waits
    /// for its result.
    async fn queue_and_wait(
        &self,
        edit: batch::EditFn,
        rotation: Option<Vec<RotationChange>>,
    ) -> Result<LbChange, LbError> {
        let mut done = self.queue.push(edit, rotation);
        // Made by another caller's change meanwhile: its result, without waiting for the
        // lock (and the next change) first.
        let result = tokio::select! {
            biased;
            made = &mut done => made,
            _guard = self.busy.lock() => {
                self.apply_queued().await;
                done.await
            }
        };
        result.unwrap_or_else(|_| {
            // The caller that was making this change with its own stopped midway.
            Err(LbError::RestoreFailed {
                host: self.host(),
                path: self.config.to_string(),
                failure: "the change this one was made with was cut off".into(),
                restore: "not attempted".into(),
            })
        })
    }

    /// Applies `edit` to `seen` and commits it; keeps the new bytes, or forgets what was
    /// kept when the file's state is not known for sure.
    async fn edit_and_commit(
        &self,
        seen: &Cached,
        edit: &batch::EditFn,
    ) -> Result<LbChange, LbError> {
        let edit = edit(&seen.doc).map_err(|error| LbError::Edit {
            host: self.host(),
            path: self.config.to_string(),
            error: Box::new(error),
        })?;
        self.commit_edit(seen, edit).await
    }

    /// Commits `edit` (made on `seen`); keeps the new bytes, or forgets what was kept when
    /// the file's state is not known for sure.
    async fn commit_edit(&self, seen: &Cached, edit: Edit) -> Result<LbChange, LbError> {
        let change = self.change_of(&seen.bytes, &edit);
        if edit.is_changed() {
            // Forgotten while the file changes: a change cut off midway leaves no copy
            // that says it did not happen.
            self.remember(None);
            match self.commit(&seen.bytes, edit.text()).await {
                Ok(()) => {
                    let bytes = edit.text().to_vec();
                    self.remember(Some(Arc::new(Cached::new(bytes, edit.into_document()))));
                }
                Err(e) => {
                    self.remember(None);
                    return Err(e);
                }
            }
        }
        Ok(change)
    }

    /// What `edit` of `before` changes, as its caller is told.
    fn change_of(&self, before: &[u8], edit: &Edit) -> LbChange {
        LbChange {
            before: before.to_vec(),
            after: edit.text().to_vec(),
            diff: edit.diff(self.config.as_str().trim_start_matches('/')),
            message: edit.message().to_string(),
        }
    }

    /// The config file parsed.
    pub async fn document(&self) -> Result<Document, LbError> {
        Ok(self.read().await?.doc.clone())
    }
}

#[async_trait]
impl<T: Transport + ?Sized, C: Container + ?Sized> LoadBalancer for NginxLb<T, C> {
    async fn backends(&self) -> Result<Vec<Backend>, LbError> {
        let seen = self.read().await?;
        self.backends_of(&seen).clone()
    }

    async fn out_of_rotation(&self) -> Result<Vec<String>, LbError> {
        let seen = self.read().await?;
        seen.out
            .get_or_init(|| {
                Ok(self
                    .backends_of(&seen)
                    .as_ref()
                    .map_err(Clone::clone)?
                    .iter()
                    .filter(|b| !b.state.is_enabled())
                    .map(|b| b.address.clone())
                    .collect())
            })
            .clone()
    }

    async fn disable(&self, address: &str) -> Result<LbChange, LbError> {
        self.change(address, true).await
    }

    async fn enable(&self, address: &str) -> Result<LbChange, LbError> {
        self.change(address, false).await
    }

    async fn swap(&self, enable: &str, disable: &str) -> Result<LbChange, LbError> {
        let upstream = self.upstream.clone();
        let style = self.options.style;
        let rotation = vec![
            RotationChange::Enable(enable.to_string()),
            RotationChange::Disable(disable.to_string()),
        ];
        let (enable, disable) = (enable.to_string(), disable.to_string());
        let edit = move |doc: &Document| {
            doc.enable_server(&upstream, &enable)?
                .and_then(|d| d.disable_server(&upstream, &disable, style, false))
        };
        self.queue_and_wait(Box::new(edit), Some(rotation)).await
    }

    async fn check(&self) -> Result<(), LbError> {
        let verdict = match self.options.apply {
            // Learnt here, before the first change and beside the run's other checks:
            // whether nginx's master is the container's main process, and the host's view
            // of it (see `from_host.rs`), so that even the first change signals and tests
            // it from the host. Nothing is changed.
            // First, so that this check's own `nginx -t` runs from the host too (a `docker
            // exec` is the slowest docker command, 300 ms under load, and the preflight
            // waits for it): whether the master is the main process, then the host's `ps`
            // of it.
            // Best effort: what it cannot learn is learnt (and its failure said) by the
            // check itself, whose verdict on the config comes first.
            ApplyMode::Reload => {
                if self.learn_main_process().await.is_ok()
                    && self.main_process.main_master().is_some()
                {
                    let _ = self.workers().await;
                }
                self.validate_and_list().await?.0
            }
            ApplyMode::Restart => self.validate().await?,
        };
        match verdict {
            Verdict::Accepted => Ok(()),
            Verdict::Rejected(output) => Err(LbError::CurrentRejected {
                host: self.host(),
                path: self.config.to_string(),
                output,
            }),
        }
    }

    async fn apply(&self) -> Result<(), LbError> {
        let _guard = self.busy.lock().await;
        match self.validate().await? {
            Verdict::Rejected(output) => Err(LbError::Validation {
                host: self.host(),
                path: self.config.to_string(),
                output,
            }),
            Verdict::Accepted => self.activate(None).await.map_err(|failure| LbError::Apply {
                host: self.host(),
                path: self.config.to_string(),
                reason: failure.to_string(),
            }),
        }
    }

    async fn config(&self) -> Result<Vec<u8>, LbError> {
        Ok(self.read().await?.bytes.clone())
    }

    async fn old_workers(&self) -> Result<usize, LbError> {
        Ok(self
            .workers()
            .await?
            .iter()
            .filter(|w| w.shutting_down)
            .count())
    }

    async fn restore(&self, bytes: &[u8]) -> Result<(), LbError> {
        let _guard = self.busy.lock().await;
        let current = self.read_fresh().await?;
        if current.bytes == bytes {
            return Ok(());
        }
        self.remember(None);
        self.commit(&current.bytes, bytes).await
    }
}
