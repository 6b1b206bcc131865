//! Running one command on a session channel, without blocking on any single stream: stdin
//! is written while stdout and stderr are read, so no window or pipe can fill up and
//! deadlock; the deadline is checked on every turn (a command that never stops talking is
//! stopped too), output is capped, and the channel is closed.
//!
//! With a sudo password, stdin follows the exchange with sudo ([`super::feed`]): the
//! password only when sudo's own prompt shows, the command's input only once the command
//! says it runs, EOF at once when sudo asks a second time.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use ssh2::{Channel, Session};
use tracing::debug;

use super::error::{Failure, from_io};
use super::feed::{Input, Phase, Stderr};
use super::poll::{NonBlocking, blocked_on, retry, wait_socket};
use super::socket::Socket;
use crate::command::Output;

/// How long closing a channel may take after a timeout before the session is given up.
/// sshd confirms the close of a non-pty session only when the command has exited, so a
/// command that is still running costs the session (the next job reconnects).
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// Longest sleep between checks of the deadline and of the caller's interest.
const TICK: Duration = Duration::from_millis(500);
/// How long a command whose caller stopped waiting may still run to its end (its output
/// thrown away) before it is cut off (unless it asked to be cut off at once:
/// [`Command::cut_off_when_abandoned`](crate::Command::cut_off_when_abandoned)). The engine stops waiting as a matter of course (a
/// log read in flight when the health probe beside it answers): cut off at once, such a
/// command was still running when its channel closed, and that cost the session (see
/// [`CLOSE_GRACE`]): a new login on the rollout's path.
pub(crate) const ABANDONED_GRACE: Duration = Duration::from_secs(2);
/// Most standard output a command may produce: every reader of ihos asks for less (file
/// reads are capped at 16 MiB a piece); more is a fault, not data.
pub(crate) const MAX_STDOUT: usize = 64 << 20;

/// sudo's prompt to wait for, the password to answer it with, and the marker the command
/// prints once sudo let it run ([`super::feed`]).
pub(crate) struct SudoFeed<'a> {
    pub prompt: &'a [u8],
    pub password: &'a [u8],
    pub marker: &'a [u8],
}

/// What to run.
pub(crate) struct Exec<'a> {
    /// The shell line (already quoted).
    pub line: &'a str,
    /// Bytes for its standard input (empty: EOF at once).
    pub stdin: &'a [u8],
    /// When to give up (`None`: never).
    pub deadline: Option<Instant>,
    /// Limit for each setup step (opening the channel, the exec request, closing).
    pub step_timeout: Duration,
    /// Whether the caller has gone away (then the command is abandoned).
    pub cancelled: &'a dyn Fn() -> bool,
    /// How long it may run to its end once `cancelled` says so.
    pub abandoned_grace: Duration,
    /// With sudo asking for a password: its prompt and the answer.
    pub sudo: Option<SudoFeed<'a>>,
}

/// Why a command did not produce an [`Output`].
#[derive(Debug)]
pub(crate) struct ExecFailure {
    pub failure: Failure,
    /// Whether the exec request was sent (if not, retrying cannot run it twice).
    pub started: bool,
    /// Whether the session is still usable.
    pub keep_session: bool,
}

/// Runs `req` on a new channel of `session`, whose socket is `sock`.
pub(crate) fn exec(
    session: &Session,
    sock: &Socket,
    req: &Exec<'_>,
) -> Result<Output, ExecFailure> {
    let fd = sock.as_raw_fd();
    // Declared before the guard, so it is freed after blocking mode is back: libssh2
    // cannot free a channel in non-blocking mode without possibly leaving it behind.
    let mut channel: Option<Channel> = None;
    let mut started = false;
    let nb = NonBlocking::new(session);
    let result = run(session, fd, req, &mut channel, &mut started).map_err(|failure| {
        let mut keep_session = !failure.breaks_session();
        if let (Some(ch), true) = (channel.as_mut(), started) {
            // Timed out (always our own deadline here: libssh2 does not time out in
            // non-blocking mode), abandoned or refused: close the channel. The session
            // survives only if the server confirms in time.
            if keep_session || matches!(failure, Failure::TimedOut(_)) {
                let closed = close(session, fd, ch, Instant::now() + CLOSE_GRACE);
                if let Err(e) = &closed {
                    tracing::debug!(failure = ?e, "the channel did not close");
                }
                keep_session = closed.is_ok();
            }
        }
        ExecFailure {
            failure,
            started,
            keep_session,
        }
    });
    drop(nb);
    if let Err(ExecFailure {
        keep_session: false,
        ..
    }) = &result
    {
        // The session is given up: make sure freeing the channel cannot wait on the peer.
        sock.shutdown();
    }
    drop(channel);
    result
}

fn run(
    session: &Session,
    fd: RawFd,
    req: &Exec<'_>,
    slot: &mut Option<Channel>,
    started: &mut bool,
) -> Result<Output, Failure> {
    let step = |now: Instant| {
        // A step timeout too large to add is no limit at all, not a panic.
        let limit = now.checked_add(req.step_timeout);
        match (req.deadline, limit) {
            (Some(d), Some(l)) => d.min(l),
            (Some(d), None) => d,
            (None, Some(l)) => l,
            (None, None) => now + Duration::from_secs(365 * 24 * 3600),
        }
    };
    let ch = retry(
        session,
        fd,
        step(Instant::now()),
        "opening a channel",
        || session.channel_session(),
    )?;
    let ch = slot.insert(ch);
    *started = true;
    retry(
        session,
        fd,
        step(Instant::now()),
        "the exec request",
        || ch.exec(req.line),
    )?;

    let mut stdout = Vec::new();
    let mut stderr = Stderr::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut input = Input::new(req.sudo.is_some());
    let mut err_stream = ch.stderr();
    // When the caller stopped waiting, the time the command has left to end by itself.
    let mut abandoned_until: Option<Instant> = None;
    loop {
        let mut progress = false;
        // Whether writing stdin waits for socket space (not for the peer's window).
        let mut write_blocked = false;
        let rest = input.rest(req.stdin);
        if !rest.is_empty() {
            match ch.write(rest) {
                Ok(n) => {
                    input.wrote(n);
                    progress |= n > 0;
                }
                Err(e) => match from_io(session, &e) {
                    Failure::WouldBlock => write_blocked = blocked_on(session).1,
                    // The command closed its input: the rest is not wanted.
                    Failure::Channel(reason) => {
                        debug!(%reason, "stdin not fully written");
                        input.closed_by_command();
                    }
                    other => return Err(other),
                },
            }
        }
        if input.eof_due(req.stdin) {
            match ch.send_eof() {
                Ok(()) => {
                    input.eof_sent = true;
                    progress = true;
                }
                Err(e) => match Failure::from(e) {
                    Failure::WouldBlock => write_blocked = blocked_on(session).1,
                    Failure::Channel(_) => input.eof_sent = true,
                    other => return Err(other),
                },
            }
        }
        progress |= drain(session, ch, &mut buf, &mut |b| stdout.extend_from_slice(b))?;
        if stdout.len() > MAX_STDOUT {
            return Err(Failure::TooMuchOutput(format!(
                "more than {} MiB of output",
                MAX_STDOUT >> 20
            )));
        }
        progress |= drain(session, &mut err_stream, &mut buf, &mut |b| stderr.push(b))?;
        if let (Some(feed), true) = (&req.sudo, input.watching()) {
            let prompts = stderr.take(feed.prompt);
            let marker = stderr.take(feed.marker) > 0;
            input.saw(prompts, marker, feed.password);
        }
        if ch.eof() {
            break;
        }
        let now = Instant::now();
        if let Some(deadline) = req.deadline {
            if now >= deadline {
                return Err(Failure::TimedOut(match input.phase {
                    Phase::AwaitPrompt => {
                        "deadline passed while waiting for sudo's password prompt".into()
                    }
                    Phase::PasswordSent => "deadline passed while sudo checked the password".into(),
                    Phase::Open | Phase::Refused => "deadline passed".into(),
                }));
            }
        }
        if progress {
            continue;
        }
        if abandoned_until.is_none() && (req.cancelled)() {
            abandoned_until = Some(now + req.abandoned_grace);
        }
        let mut wait = TICK;
        if let Some(until) = abandoned_until {
            if now >= until {
                return Err(Failure::TimedOut("the caller stopped waiting".into()));
            }
            wait = wait.min(until - now);
        }
        if let Some(deadline) = req.deadline {
            wait = wait.min(deadline - now);
        }
        // Sends a keepalive only when the configured interval has passed.
        let _ = session.keepalive_send();
        wait_socket(fd, write_blocked, wait)?;
    }
    if input.phase == Phase::Refused {
        let _ = close(session, fd, ch, step(Instant::now()));
        return Err(Failure::SudoRefused);
    }
    let stderr = stderr.into_bytes();
    let done = step(Instant::now());
    close(session, fd, ch, done)?;
    let signal = ch.exit_signal().map_err(Failure::from)?;
    let status = match signal.exit_signal {
        Some(sig) => {
            debug!(signal = %sig, "command killed by a signal");
            None
        }
        None => Some(ch.exit_status().map_err(Failure::from)?),
    };
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Reads what is available from one stream; whether anything was read.
fn drain(
    session: &Session,
    stream: &mut impl Read,
    buf: &mut [u8],
    into: &mut dyn FnMut(&[u8]),
) -> Result<bool, Failure> {
    let mut any = false;
    loop {
        match stream.read(buf) {
            Ok(0) => return Ok(any),
            Ok(n) => {
                into(&buf[..n]);
                any = true;
                // Bounded per turn, so the deadline and the output cap are looked at.
                if n == buf.len() {
                    return Ok(true);
                }
            }
            Err(e) => {
                return match from_io(session, &e) {
                    Failure::WouldBlock => Ok(any),
                    other => Err(other),
                };
            }
        }
    }
}

/// Sends our close and waits for the server's (which also brings the exit status).
fn close(session: &Session, fd: RawFd, ch: &mut Channel, deadline: Instant) -> Result<(), Failure> {
    retry(session, fd, deadline, "closing the channel", || ch.close())?;
    retry(
        session,
        fd,
        deadline,
        "waiting for the channel to close",
        || ch.wait_close(),
    )
}
