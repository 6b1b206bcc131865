//! [`FakeHost`]: one host of a [`FakeWorld`], implementing [`ihos_core::Transport`] by
//! interpreting the commands ihos-core sends (see the crate docs for the exact set), plus
//! setup and inspection helpers for tests.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use ihos_core::{Command, Output, RemotePath, Transport, TransportError, Uploaded};

use super::FakeWorld;
use crate::container::{ContainerInfo, ContainerSpec};
use crate::fault::{FaultAction, Op};
use crate::world::fs::{FileInfo, FsSnapshot, normalize};
use crate::world::{HostState, out};

/// One fake host. Cheap to clone (a handle into its world). Setup helpers act as root and
/// bypass permissions and faults; commands and uploads go through everything.
#[derive(Clone, Debug)]
pub struct FakeHost {
    world: FakeWorld,
    name: String,
}

impl FakeHost {
    pub(crate) fn new(world: FakeWorld, name: &str) -> Self {
        FakeHost {
            world,
            name: name.into(),
        }
    }

    /// A host in a world of its own.
    pub fn standalone(name: &str) -> Self {
        FakeWorld::new().add_host(name)
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its world.
    pub fn world(&self) -> &FakeWorld {
        &self.world
    }

    fn with<R>(&self, f: impl FnOnce(&mut HostState) -> R) -> R {
        let mut w = self.world.lock();
        w.sync();
        f(w.host_mut(&self.name))
    }

    // ----- setup -----

    /// Creates or overwrites (in place) a file owned by root, mode 0644, with parents.
    pub fn write_file(&self, path: &str, bytes: impl AsRef<[u8]>) {
        self.write_file_as(path, bytes, "root", 0o644);
    }

    /// Creates or overwrites (in place) a file with this owner and mode, with parents.
    pub fn write_file_as(&self, path: &str, bytes: impl AsRef<[u8]>, owner: &str, mode: u32) {
        let p = normalize(path, "/");
        self.with(|h| h.fs.put_file(&p, bytes.as_ref(), owner, mode));
    }

    /// Creates a directory (and parents) with this owner and mode.
    pub fn mkdir(&self, path: &str, owner: &str, mode: u32) {
        let p = normalize(path, "/");
        self.with(|h| h.fs.put_dir(&p, Some(owner), mode));
    }

    /// Whether the login user may `sudo` without a password (default true).
    pub fn set_sudo_nopasswd(&self, on: bool) {
        self.with(|h| h.sudo_nopasswd = on);
    }

    /// Whether `/proc` hides other users' processes from the login user (`hidepid`;
    /// default false).
    pub fn set_proc_hidden(&self, on: bool) {
        self.with(|h| h.proc_hidden = on);
    }

    /// Whether the login user may use docker without sudo (default false).
    pub fn set_docker_group(&self, on: bool) {
        self.with(|h| h.docker_group = on);
    }

    /// The login user and home directory (default `deploy`, `/home/deploy`).
    pub fn set_login_user(&self, user: &str, home: &str) {
        self.with(|h| {
            h.user = user.into();
            h.home = home.into();
            h.fs.put_dir(home, Some(user), 0o755);
        });
    }

    /// Another name this host answers to in URLs (e.g. its IP address).
    pub fn add_alias(&self, alias: &str) {
        self.with(|h| h.aliases.push(alias.into()));
    }

    /// Leaves exactly `free` bytes free on the disk (`None`: unlimited). Writes beyond it
    /// fail with "No space left on device" after writing what fits.
    pub fn set_disk_free(&self, free: Option<u64>) {
        self.with(|h| h.fs.capacity = free.map(|f| h.fs.used() + f));
    }

    /// Creates a container on this host: [`FakeWorld::add_container`].
    pub fn add_container(&self, spec: ContainerSpec) {
        self.world.add_container(&self.name, spec);
    }

    // ----- inspection -----

    /// A file's bytes (`None` if missing or a directory).
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let p = normalize(path, "/");
        self.with(|h| h.fs.get(&p).map(<[u8]>::to_vec))
    }

    /// A file's bytes as text.
    pub fn read_text(&self, path: &str) -> Option<String> {
        self.read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Inode, size, owner and mode of a path.
    pub fn stat(&self, path: &str) -> Option<FileInfo> {
        let p = normalize(path, "/");
        self.with(|h| h.fs.stat(&p))
    }

    /// Whether a path exists.
    pub fn exists(&self, path: &str) -> bool {
        self.stat(path).is_some()
    }

    /// Names in a directory, sorted.
    pub fn list(&self, dir: &str) -> Vec<String> {
        let p = normalize(dir, "/");
        self.with(|h| h.fs.list(&p))
    }

    /// Every path with its content and metadata.
    pub fn snapshot(&self) -> FsSnapshot {
        self.with(|h| h.fs.snapshot())
    }

    /// Bytes used on the disk.
    pub fn disk_used(&self) -> u64 {
        self.with(|h| h.fs.used())
    }

    /// A container's state now.
    pub fn container(&self, name: &str) -> Option<ContainerInfo> {
        self.world.container(&self.name, name)
    }

    pub(super) fn timeout(&self, command: &Command, after: std::time::Duration) -> TransportError {
        TransportError::Timeout {
            host: self.name.clone(),
            command: command.to_string(),
            after,
        }
    }

    fn finish(
        &self,
        command: &Command,
        result: Result<Output, TransportError>,
    ) -> Result<Output, TransportError> {
        self.world.lock().finish(&self.name, command, result)
    }
}

impl FakeHost {
    /// One command as the host runs it: the faults that match it, then its effects,
    /// logged.
    pub(crate) async fn run_one(&self, command: &Command) -> Result<Output, TransportError> {
        let hit = {
            let mut w = self.world.lock();
            w.sync();
            w.decide(&self.name, &Op::Command(command))
        };
        let Some((_, action)) = hit else {
            return self.world.lock().execute(&self.name, command, None);
        };
        match action {
            FaultAction::Fail { status, stderr } => {
                let mut stderr = stderr;
                if !stderr.ends_with('\n') {
                    stderr.push('\n');
                }
                self.finish(command, Ok(out(status, "", stderr)))
            }
            FaultAction::Respond(output) => self.finish(command, Ok(output)),
            FaultAction::Hang => {
                // Like a real transport: the command's timeout, else the default one.
                let after = command
                    .timeout_value()
                    .unwrap_or(ihos_core::DEFAULT_COMMAND_TIMEOUT);
                tokio::time::sleep(after).await;
                self.finish(command, Err(self.timeout(command, after)))
            }
            FaultAction::Disconnect { happened } => {
                let mut w = self.world.lock();
                if happened {
                    let _ = w.perform(&self.name, command, None);
                }
                let err = TransportError::Disconnected {
                    host: self.name.clone(),
                    during: command.to_string(),
                    reason: "fake host: connection dropped (injected fault)".into(),
                };
                w.finish(&self.name, command, Err(err))
            }
            FaultAction::DiskFull { after_bytes } => {
                self.world
                    .lock()
                    .execute(&self.name, command, Some(after_bytes))
            }
            FaultAction::RespondAfter(d, output) => match command.timeout_value() {
                Some(after) if after < d => {
                    tokio::time::sleep(after).await;
                    self.finish(command, Err(self.timeout(command, after)))
                }
                _ => {
                    tokio::time::sleep(d).await;
                    self.finish(command, Ok(output))
                }
            },
            FaultAction::AnswerLate {
                run_after,
                answer_after,
                output,
            } => {
                let limit = command.timeout_value().unwrap_or(Duration::MAX);
                if limit < run_after {
                    tokio::time::sleep(limit).await;
                    return self.finish(command, Err(self.timeout(command, limit)));
                }
                tokio::time::sleep(run_after).await;
                let answer = {
                    let mut w = self.world.lock();
                    w.sync();
                    w.execute(&self.name, command, None)
                };
                let answer = output.map_or(answer, Ok);
                if limit < run_after + answer_after {
                    tokio::time::sleep(limit - run_after).await;
                    return Err(self.timeout(command, limit));
                }
                tokio::time::sleep(answer_after).await;
                answer
            }
            FaultAction::Delay(d) => match command.timeout_value() {
                Some(after) if after < d => {
                    tokio::time::sleep(after).await;
                    self.finish(command, Err(self.timeout(command, after)))
                }
                _ => {
                    tokio::time::sleep(d).await;
                    let mut w = self.world.lock();
                    w.sync();
                    w.execute(&self.name, command, None)
                }
            },
        }
    }
}

#[async_trait]
impl Transport for FakeHost {
    fn host(&self) -> &str {
        &self.name
    }

    async fn warm_up(&self) {
        let mut w = self.world.lock();
        *w.warm_ups.entry(self.name.clone()).or_default() += 1;
    }

    async fn run(&self, command: &Command) -> Result<Output, TransportError> {
        if let Some(result) = super::checked_write::run(self, command).await {
            return result;
        }
        if let Some(result) = super::lock_scripts::run(self, command).await {
            return result;
        }
        if let Some(result) = super::replace::run(self, command).await {
            return result;
        }
        if let Some(result) = super::exit_watch::run(self, command).await {
            return result;
        }
        self.run_one(command).await
    }

    async fn upload(&self, local: &Path, remote: &RemotePath) -> Result<Uploaded, TransportError> {
        let hit = {
            let mut w = self.world.lock();
            w.sync();
            w.decide(
                &self.name,
                &Op::Upload {
                    local,
                    remote: remote.as_str(),
                },
            )
        };
        let read = || {
            std::fs::read(local).map_err(|e| TransportError::Io {
                host: self.name.clone(),
                op: "read",
                path: local.display().to_string(),
                reason: e.to_string(),
            })
        };
        let mut limit = None;
        match hit.map(|(_, a)| a) {
            None => {}
            Some(FaultAction::Fail { stderr, .. }) => {
                let err = TransportError::Io {
                    host: self.name.clone(),
                    op: "upload",
                    path: remote.to_string(),
                    reason: stderr,
                };
                let mut w = self.world.lock();
                return w.finish_upload(&self.name, local, remote, Err(err));
            }
            Some(FaultAction::Respond(o)) => {
                let err = TransportError::Io {
                    host: self.name.clone(),
                    op: "upload",
                    path: remote.to_string(),
                    reason: o.stderr_text(),
                };
                let mut w = self.world.lock();
                return w.finish_upload(&self.name, local, remote, Err(err));
            }
            Some(FaultAction::Hang) => std::future::pending().await,
            Some(FaultAction::Disconnect { happened }) => {
                let bytes = read()?;
                let mut w = self.world.lock();
                if happened {
                    let _ = w.perform_upload(&self.name, remote, &bytes, None);
                }
                let err = TransportError::Disconnected {
                    host: self.name.clone(),
                    during: format!("upload {} to {remote}", local.display()),
                    reason: "fake host: connection dropped (injected fault)".into(),
                };
                return w.finish_upload(&self.name, local, remote, Err(err));
            }
            Some(FaultAction::DiskFull { after_bytes }) => limit = Some(after_bytes),
            Some(FaultAction::Delay(d)) => tokio::time::sleep(d).await,
            Some(FaultAction::AnswerLate {
                run_after,
                answer_after,
                ..
            }) => tokio::time::sleep(run_after + answer_after).await,
            // An upload has no output to answer with: it happens, late.
            Some(FaultAction::RespondAfter(d, _)) => tokio::time::sleep(d).await,
        }
        let bytes = read();
        let mut w = self.world.lock();
        w.sync();
        let result = bytes.and_then(|b| w.perform_upload(&self.name, remote, &b, limit));
        w.finish_upload(&self.name, local, remote, result)
    }
}
