//! The worker thread that owns a host's SSH session.
//!
//! libssh2 calls block, so they never run on the async runtime: each [`SshTransport`]
//! has one `std::thread` that owns the session and takes jobs from a channel, one at a
//! time; callers await a oneshot reply. A broken session is dropped and the next job
//! connects again, so a retry by the caller can work.
//!
//! [`SshTransport`]: super::SshTransport

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tracing::{debug, warn};

use super::connect::{Conn, connect};
use super::error::{Failure, local_io};
use super::exec::{ABANDONED_GRACE, Exec, ExecFailure, SudoFeed, exec};
use super::line::{
    SudoVia, remote_line, stopped_by_timeout, sudo_marker, sudo_probe_line, sudo_prompt,
    timeout_probe_line,
};
use super::logged_in::LoggedIn;
use super::options::{SshOptions, SshTarget};
use super::route::Opener;
use super::scp::{SendFailure, Sent, send};
use crate::command::{Command, Output, Privilege};
use crate::names::RemotePath;
use crate::transport::TransportError;

/// How long ihos waits past a command's limit for the host's `timeout` to stop it (TERM,
/// then KILL after [`KILL_AFTER_SECS`](super::line::KILL_AFTER_SECS) seconds) and report.
const LOCAL_GRACE: Duration = Duration::from_secs(super::line::KILL_AFTER_SECS + 3);

/// Reply channel of a job.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, TransportError>>;

/// Work for the session's thread.
pub(crate) enum Job {
    /// Connect now (if not connected).
    Connect { reply: Reply<()> },
    /// Run a command.
    Run {
        command: Command,
        reply: Reply<Output>,
    },
    /// Send a local file by SCP to `remote` (as is: no staging, no checks).
    Send {
        local: PathBuf,
        remote: RemotePath,
        reply: Reply<Sent>,
    },
}

/// The thread's state.
pub(crate) struct Worker {
    target: SshTarget,
    via: Option<Arc<dyn Opener>>,
    opts: SshOptions,
    host: String,
    conn: Option<Conn>,
    /// Told when this session logs in (see [`LoggedIn`]).
    logged_in: Arc<LoggedIn>,
}

/// Answers the jobs queued behind a login that failed with its failure: they waited for
/// it (a run's first command on a host queues behind the warm-up's login), and each
/// trying again would try a host that is down once per job, one connect timeout after
/// another.
fn refuse_queued<H>(jobs: &Receiver<(Job, H)>, error: &TransportError) {
    while let Ok((job, held)) = jobs.try_recv() {
        drop(held);
        let _ = match job {
            Job::Connect { reply } => reply.send(Err(error.clone())).map_err(|_| ()),
            Job::Run { reply, .. } => reply.send(Err(error.clone())).map_err(|_| ()),
            Job::Send { reply, .. } => reply.send(Err(error.clone())).map_err(|_| ()),
        };
    }
}

impl Worker {
    pub(crate) fn new(
        target: SshTarget,
        opts: SshOptions,
        via: Option<Arc<dyn Opener>>,
        logged_in: Arc<LoggedIn>,
    ) -> Self {
        Worker {
            via,
            host: target.label(),
            target,
            opts,
            conn: None,
            logged_in,
        }
    }

    /// Serves jobs until every sender is gone.
    pub(crate) fn serve<H>(mut self, jobs: Receiver<(Job, H)>) {
        loop {
            // `held` counts the job on its lane until it is done (see `Held`): let go of
            // just before the answer, so that a caller asking again at once finds the
            // session free.
            let (job, held) = match (&self.conn, self.opts.keepalive_interval) {
                (Some(_), Some(every)) => match jobs.recv_timeout(every) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout) => {
                        self.keepalive();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                _ => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            };
            match job {
                Job::Connect { reply } => {
                    let r = self.ensure_conn().map(|_| ());
                    drop(held);
                    // Only while no session of the host got in: once one did, a job
                    // queued behind an extra session the host refused tries a login of its
                    // own (or another session, see `refused_extra`).
                    if let (Err(e), false) = (&r, self.logged_in.is_in()) {
                        refuse_queued(&jobs, e);
                    }
                    let _ = reply.send(r);
                }
                // A caller that stopped waiting before its job started gets nothing run.
                Job::Run { command, reply } => {
                    if reply.is_closed() {
                        continue;
                    }
                    let began = Instant::now();
                    let r = self.run(&command, &|| reply.is_closed());
                    debug!(
                        host = %self.host,
                        command = %command,
                        ms = began.elapsed().as_millis() as u64,
                        ok = r.as_ref().is_ok_and(|o| o.success()),
                        "ran"
                    );
                    drop(held);
                    let _ = reply.send(r);
                }
                Job::Send {
                    local,
                    remote,
                    reply,
                } => {
                    if reply.is_closed() {
                        continue;
                    }
                    let r = self.send(&local, &remote, &|| reply.is_closed());
                    if reply.is_closed() {
                        // Nobody will check and rename it: do not leave it behind.
                        self.remove_quietly(&remote);
                    }
                    drop(held);
                    let _ = reply.send(r);
                }
            }
        }
        self.drop_conn("transport dropped");
        debug!(host = %self.host, "ssh worker stopped");
    }

    /// Best-effort `rm -f` of a file this transport created.
    fn remove_quietly(&mut self, path: &RemotePath) {
        let rm = Command::new("rm").arg("-f").arg("--").arg(path.as_str());
        if let Err(e) = self.run(&rm, &|| false) {
            debug!(host = %self.host, path = %path, error = %e, "could not remove");
        }
    }

    fn keepalive(&mut self) {
        if let Some(conn) = &self.conn {
            if let Err(e) = conn.session.keepalive_send() {
                debug!(host = %self.host, error = %e, "keepalive failed; will reconnect when needed");
                self.drop_conn("keepalive failed");
            }
        }
    }

    fn drop_conn(&mut self, why: &str) {
        if let Some(conn) = self.conn.take() {
            debug!(host = %self.host, why, "closing ssh session");
            conn.close(why);
        }
    }

    /// Connects if there is no session; `true` if there was one already.
    fn ensure_conn(&mut self) -> Result<bool, TransportError> {
        if self.conn.is_some() {
            return Ok(true);
        }
        self.conn = Some(connect(&self.target, &self.opts, self.via.as_deref())?);
        self.logged_in.tell();
        Ok(false)
    }

    fn run(
        &mut self,
        command: &Command,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Output, TransportError> {
        let shown = command.to_string();
        let limit = command.timeout_value().or(self.opts.command_timeout);
        let step_timeout = self.opts.io_timeout;
        let mut first = true;
        let mut probed_again = false;
        loop {
            let reused = self.ensure_conn()?;
            let Some(conn) = self.conn.as_mut() else {
                continue;
            };
            let started = Instant::now();
            // The host stops the command at `limit` (`timeout`); ihos waits a little longer,
            // for `timeout`'s KILL and the exit status to come back.
            let deadline = limit.and_then(|l| started.checked_add(l + LOCAL_GRACE));
            let result = prepare(
                conn,
                command,
                &self.opts,
                &self.host,
                deadline,
                step_timeout,
            )
            .and_then(|p| {
                let host_limit = match limit {
                    Some(l) if has_timeout(conn, &self.host, deadline, step_timeout)? => Some(l),
                    _ => None,
                };
                let line = remote_line(command, p.via, host_limit);
                let req = Exec {
                    line: &line,
                    stdin: command.stdin_bytes().unwrap_or_default(),
                    deadline,
                    step_timeout,
                    cancelled,
                    abandoned_grace: match command.is_cut_off_when_abandoned() {
                        true => Duration::ZERO,
                        false => ABANDONED_GRACE,
                    },
                    sudo: p.password.as_deref().map(|pw| SudoFeed {
                        prompt: sudo_prompt().as_bytes(),
                        password: pw.as_bytes(),
                        marker: sudo_marker().as_bytes(),
                    }),
                };
                debug!(host = %self.host, command = %shown, "run");
                exec(&conn.session, &conn.sock, &req)
                    .map(|out| (out, p.via))
                    .map_err(Prepared::Exec)
            });
            match result {
                Ok((out, via)) => {
                    debug!(host = %self.host, command = %shown, status = ?out.status, "done");
                    if let Some(l) =
                        limit.filter(|&l| stopped_by_timeout(out.status, started.elapsed(), l))
                    {
                        return Err(TransportError::Timeout {
                            host: self.host.clone(),
                            command: shown,
                            after: l,
                        });
                    }
                    // sudo's policy changed since the probe (NOPASSWD removed): nothing ran,
                    // so probe again and run once more with the password.
                    if via == SudoVia::NoPassword
                        && !probed_again
                        && command.privilege() == Privilege::Sudo
                        && self.opts.sudo_password_env.is_some()
                        && out.status == Some(1)
                        && out.stdout.is_empty()
                        && out
                            .stderr_text()
                            .starts_with("sudo: a password is required")
                    {
                        probed_again = true;
                        conn.sudo_needs_password = None;
                        continue;
                    }
                    return Ok(out);
                }
                Err(Prepared::Error(e)) => return Err(e),
                Err(Prepared::Exec(f)) => {
                    if matches!(f.failure, Failure::SudoRefused) {
                        // Probe again next time: the policy may have changed too.
                        conn.sudo_needs_password = None;
                    }
                    if !f.keep_session {
                        self.drop_conn("connection failed");
                    }
                    // A session that died while idle: nothing ran yet, so one retry on a
                    // new connection is safe.
                    if reused && first && !f.started && !f.keep_session {
                        first = false;
                        debug!(host = %self.host, failure = ?f.failure, "stale session; reconnecting");
                        continue;
                    }
                    let after = limit.unwrap_or(step_timeout);
                    return Err(f.failure.into_error(&self.host, &shown, after));
                }
            }
        }
    }

    fn send(
        &mut self,
        local: &std::path::Path,
        remote: &RemotePath,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Sent, TransportError> {
        let during = format!("upload of {} to {remote}", local.display());
        let mut first = true;
        loop {
            let reused = self.ensure_conn()?;
            let Some(conn) = self.conn.as_ref() else {
                continue;
            };
            match send(&conn.session, local, remote, cancelled) {
                Ok(sent) => return Ok(sent),
                Err(SendFailure::Local(op, e)) => {
                    if op == "read" {
                        // Mid-transfer: the channel state is unknown.
                        self.drop_conn("upload aborted");
                    }
                    return Err(local_io(op, local, &e));
                }
                Err(SendFailure::Cancelled) => {
                    self.drop_conn("upload abandoned by the caller");
                    return Err(TransportError::Disconnected {
                        host: self.host.clone(),
                        during,
                        reason: "the caller stopped waiting".into(),
                    });
                }
                Err(SendFailure::Remote(reason)) => {
                    return Err(TransportError::Io {
                        host: self.host.clone(),
                        op: "upload",
                        path: remote.to_string(),
                        reason,
                    });
                }
                Err(SendFailure::Ssh(f)) => {
                    if f.breaks_session() {
                        self.drop_conn("connection failed during upload");
                    }
                    // Sending to a temporary name is harmless to repeat.
                    if reused && first && matches!(f, Failure::Lost(_)) {
                        first = false;
                        debug!(host = %self.host, failure = ?f, "upload on a stale session; reconnecting");
                        continue;
                    }
                    return Err(f.into_error(&self.host, &during, self.opts.io_timeout));
                }
            }
        }
    }
}

/// A failure before or while running.
enum Prepared {
    Error(TransportError),
    Exec(ExecFailure),
}

/// Whether the host has `timeout` (asked once per connection; a host without it gets a
/// warning, and its commands are stopped by ihos's deadline only).
fn has_timeout(
    conn: &mut Conn,
    host: &str,
    deadline: Option<Instant>,
    step_timeout: Duration,
) -> Result<bool, Prepared> {
    if let Some(has) = conn.has_timeout {
        return Ok(has);
    }
    let out = probe(conn, &timeout_probe_line(), deadline, step_timeout)?;
    let has = out.success();
    if !has {
        warn!(
            host,
            stderr = %out.stderr_text(),
            "no usable `timeout` on the host: a command past its limit is abandoned by ihos but not stopped there"
        );
    }
    conn.has_timeout = Some(has);
    Ok(has)
}

/// Runs one of the per-connection probes (no input, no sudo feed).
fn probe(
    conn: &Conn,
    line: &str,
    deadline: Option<Instant>,
    step_timeout: Duration,
) -> Result<Output, Prepared> {
    let req = Exec {
        line,
        stdin: &[],
        deadline,
        step_timeout,
        cancelled: &|| false,
        abandoned_grace: Duration::ZERO,
        sudo: None,
    };
    exec(&conn.session, &conn.sock, &req).map_err(Prepared::Exec)
}

/// How `command` gets root, and the password to answer sudo's prompt with.
struct Prepare {
    via: SudoVia,
    password: Option<String>,
}

/// With a sudo password configured and needed, `sudo -S` is given it when it asks (never in
/// argv or logs); whether it is needed is probed once per connection, cached credentials
/// ignored.
fn prepare(
    conn: &mut Conn,
    command: &Command,
    opts: &SshOptions,
    host: &str,
    deadline: Option<Instant>,
    step_timeout: Duration,
) -> Result<Prepare, Prepared> {
    let no_password = Prepare {
        via: SudoVia::NoPassword,
        password: None,
    };
    let Some(var) = opts
        .sudo_password_env
        .as_deref()
        .filter(|_| command.privilege() == Privilege::Sudo)
    else {
        return Ok(no_password);
    };
    let needs = match conn.sudo_needs_password {
        Some(n) => n,
        None => {
            let out = probe(conn, &sudo_probe_line(), deadline, step_timeout)?;
            // The probe runs with LC_ALL=C: sudo's message is English.
            let needs = !out.success() && out.stderr_text().contains("password is required");
            debug!(host, needs_password = needs, "sudo probe");
            conn.sudo_needs_password = Some(needs);
            needs
        }
    };
    if !needs {
        return Ok(no_password);
    }
    let password = std::env::var(var).map_err(|_| {
        warn!(host, variable = var, "sudo password variable is not set");
        Prepared::Error(TransportError::SudoPassword {
            host: host.to_string(),
            command: command.to_string(),
        })
    })?;
    Ok(Prepare {
        via: SudoVia::Password,
        password: Some(password),
    })
}
