//! Running one command on a session channel, without blocking on any single stream: stdin
//! is written while stdout and stderr are read, so no window or pipe can fill up and
//! deadlock; the deadline is checked on every turn (a command that never stops talking is
//! stopped too), output is capped, and the channel is closed.
//!
//! With a sudo password, nothing is written to the command's stdin until sudo's own prompt
//! shows on stderr: then the password line goes first. A second prompt means sudo refused
//! it; the run stops there (sudo would otherwise read the command's input as passwords).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use ssh2::{Channel, Session};
use tracing::debug;

use super::error::{Failure, from_io};
use super::poll::{NonBlocking, blocked_on, retry, wait_socket};
use crate::command::Output;

/// How long closing a channel may take after a timeout before the session is given up.
/// sshd confirms the close of a non-pty session only when the command has exited, so a
/// command that is still running costs the session (the next job reconnects).
const CLOSE_GRACE: Duration = Duration::from_millis(500);
/// Longest sleep between checks of the deadline and of the caller's interest.
const TICK: Duration = Duration::from_millis(500);
/// Most standard output a command may produce: every reader of ihos asks for less (file
/// reads are capped at 16 MiB a piece); more is a fault, not data.
pub(crate) const MAX_STDOUT: usize = 64 << 20;
/// Most standard error kept (the rest is counted and dropped: it only goes into messages).
pub(crate) const MAX_STDERR: usize = 64 << 10;

/// sudo's prompt to wait for and the password to answer it with.
pub(crate) struct SudoFeed<'a> {
    pub prompt: &'a [u8],
    pub password: &'a [u8],
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
    sock: &TcpStream,
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
                keep_session = close(session, fd, ch, Instant::now() + CLOSE_GRACE).is_ok();
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
        let _ = sock.shutdown(Shutdown::Both);
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
    let mut input = Input::new(req);
    let mut err_stream = ch.stderr();
    loop {
        let mut progress = false;
        // Whether writing stdin waits for socket space (not for the peer's window).
        let mut write_blocked = false;
        if input.open && !input.eof_sent {
            let rest = input.rest(req.stdin);
            if !rest.is_empty() {
                match ch.write(rest) {
                    Ok(n) => {
                        input.written += n;
                        progress |= n > 0;
                    }
                    Err(e) => match from_io(session, &e) {
                        Failure::WouldBlock => write_blocked = blocked_on(session).1,
                        // The command closed its input: the rest is not wanted.
                        Failure::Channel(reason) => {
                            debug!(%reason, "stdin not fully written");
                            input.written = usize::MAX;
                        }
                        other => return Err(other),
                    },
                }
            }
            if input.rest(req.stdin).is_empty() {
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
        }
        progress |= drain(session, ch, &mut buf, &mut |b| stdout.extend_from_slice(b))?;
        if stdout.len() > MAX_STDOUT {
            return Err(Failure::TooMuchOutput(format!(
                "more than {} MiB of output",
                MAX_STDOUT >> 20
            )));
        }
        progress |= drain(session, &mut err_stream, &mut buf, &mut |b| stderr.push(b))?;
        if let Some(feed) = &req.sudo {
            match stderr.take_prompts(feed.prompt) {
                0 => {}
                1 if !input.open => input.answer(feed.password),
                // Asked again: the password was wrong. No more input: sudo gives up.
                _ => {
                    input.refused = true;
                    input.open = true;
                    input.written = usize::MAX;
                }
            }
        }
        if ch.eof() {
            break;
        }
        let now = Instant::now();
        if let Some(deadline) = req.deadline {
            if now >= deadline {
                return Err(Failure::TimedOut(if input.open {
                    "deadline passed".into()
                } else {
                    "deadline passed while waiting for sudo's password prompt".into()
                }));
            }
        }
        if progress {
            continue;
        }
        if (req.cancelled)() {
            return Err(Failure::TimedOut("the caller stopped waiting".into()));
        }
        let mut wait = TICK;
        if let Some(deadline) = req.deadline {
            wait = wait.min(deadline - now);
        }
        // Sends a keepalive only when the configured interval has passed.
        let _ = session.keepalive_send();
        wait_socket(fd, write_blocked, wait)?;
    }
    if input.refused {
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

/// What goes to the command's stdin: held back until sudo asks (with a password), then the
/// password line followed by the command's own input.
struct Input {
    /// Whether writing may start.
    open: bool,
    /// The password line, once sudo asked.
    password_line: Vec<u8>,
    /// Bytes of `password_line` + stdin written (`usize::MAX`: nothing more to write).
    written: usize,
    eof_sent: bool,
    /// sudo asked a second time.
    refused: bool,
}

impl Input {
    fn new(req: &Exec<'_>) -> Self {
        Input {
            open: req.sudo.is_none(),
            password_line: Vec::new(),
            written: 0,
            eof_sent: false,
            refused: false,
        }
    }

    fn answer(&mut self, password: &[u8]) {
        self.password_line = password.to_vec();
        self.password_line.push(b'\n');
        self.open = true;
        self.written = 0;
    }

    /// What is left to write.
    fn rest<'s>(&'s self, stdin: &'s [u8]) -> &'s [u8] {
        let pw = self.password_line.len();
        if self.written == usize::MAX {
            &[]
        } else if self.written < pw {
            &self.password_line[self.written..]
        } else {
            stdin.get(self.written - pw..).unwrap_or_default()
        }
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        // Do not leave the password in freed memory longer than needed.
        self.password_line.iter_mut().for_each(|b| *b = 0);
    }
}

/// Standard error, capped at [`MAX_STDERR`], with sudo's prompts taken out.
#[derive(Default)]
struct Stderr {
    kept: Vec<u8>,
    dropped: usize,
    /// Where the prompt search goes on from.
    scanned: usize,
}

impl Stderr {
    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_STDERR.saturating_sub(self.kept.len());
        let take = room.min(bytes.len());
        self.kept.extend_from_slice(&bytes[..take]);
        self.dropped += bytes.len() - take;
    }

    /// Removes every complete `prompt` found since the last call; how many.
    fn take_prompts(&mut self, prompt: &[u8]) -> usize {
        let mut found = 0;
        let start = self.scanned.min(self.kept.len());
        let mut at = start;
        while let Some(i) = find(&self.kept[at..], prompt) {
            let pos = at + i;
            self.kept.drain(pos..pos + prompt.len());
            found += 1;
            at = pos;
        }
        // A prompt may be cut between two reads: look again at its possible start.
        self.scanned = self
            .kept
            .len()
            .saturating_sub(prompt.len().saturating_sub(1));
        found
    }

    fn into_bytes(mut self) -> Vec<u8> {
        if self.dropped > 0 {
            let note = format!("\n[{} more bytes of stderr not kept]", self.dropped);
            self.kept.extend_from_slice(note.as_bytes());
        }
        std::mem::take(&mut self.kept)
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_are_found_across_reads_and_taken_out() {
        let mut e = Stderr::default();
        e.push(b"We trust you have received the usual lecture.\n[ihos ");
        assert_eq!(e.take_prompts(b"[ihos p]"), 0);
        e.push(b"p]");
        assert_eq!(e.take_prompts(b"[ihos p]"), 1);
        e.push(b"Sorry, try again.\n[ihos p]");
        assert_eq!(e.take_prompts(b"[ihos p]"), 1);
        assert_eq!(
            e.into_bytes(),
            b"We trust you have received the usual lecture.\nSorry, try again.\n"
        );
    }

    #[test]
    fn stderr_is_capped_and_says_how_much_was_dropped() {
        let mut e = Stderr::default();
        e.push(&vec![b'x'; MAX_STDERR - 1]);
        e.push(b"abc");
        let text = String::from_utf8(e.into_bytes()).unwrap();
        assert!(
            text.ends_with("[2 more bytes of stderr not kept]"),
            "{}",
            &text[text.len() - 50..]
        );
    }

    #[test]
    fn input_waits_for_the_prompt_then_sends_the_password_first() {
        let req_stdin = b"data";
        let mut input = Input {
            open: false,
            password_line: Vec::new(),
            written: 0,
            eof_sent: false,
            refused: false,
        };
        input.answer(b"pw");
        assert_eq!(input.rest(req_stdin), b"pw\n");
        input.written = 3;
        assert_eq!(input.rest(req_stdin), b"data");
        input.written = 7;
        assert_eq!(input.rest(req_stdin), b"");
        input.written = usize::MAX;
        assert_eq!(input.rest(req_stdin), b"");
    }
}
