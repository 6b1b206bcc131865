//! [`Tunnel`]: one forwarded connection of a jump host's session, pumped between its
//! `direct-tcpip` channel and one end of a local socket pair, in both directions, without
//! blocking (the session is shared by every tunnel of the jump host).
//!
//! libssh2's rule for a non-blocking session (transport.c, `send_existing`): when a packet
//! could only be partly written to the socket, the NEXT call that sends anything must be
//! the same call again; any other send on the session is refused (`LIBSSH2_ERROR_BAD_USE`).
//! Reads may send too (window adjustments). So a call that would block with output pending
//! is remembered ([`Tunnel::pending`]) and the jump host's thread makes no other libssh2
//! call until it is repeated and done ([`Stuck`]).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, Channel, Session};

use super::error::{Failure, from_io};

/// How long a closing channel waits for the peer's close before it is given up.
const CLOSE_LIMIT: Duration = Duration::from_secs(30);

/// A libssh2 call of a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
    Eof,
    Close,
}

/// A step's result: whether anything moved, and whether a call left output half sent (then
/// nothing else may call libssh2 until this tunnel's [`Tunnel::pending`] call is repeated).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stepped {
    pub moved: bool,
    pub stuck: bool,
}

pub(crate) fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

/// Whether libssh2's last call left output it must finish first.
fn output_pending(session: &Session) -> bool {
    matches!(
        session.block_directions(),
        BlockDirections::Outbound | BlockDirections::Both
    )
}

/// One forwarded connection: a channel and the local end it is pumped to.
pub(crate) struct Tunnel {
    channel: Channel,
    pub(crate) local: UnixStream,
    /// Read from the local end, not yet written to the channel.
    up: Pending,
    /// Read from the channel, not yet written to the local end.
    down: Pending,
    local_eof: bool,
    eof_sent: bool,
    remote_eof: bool,
    /// Ending: the channel is being closed (the local end is gone or failed).
    closing: Option<Instant>,
    closed: bool,
    /// The call that would have blocked with output half sent: the next one to make.
    pub(crate) pending: Option<Op>,
}

#[derive(Default)]
struct Pending {
    data: Vec<u8>,
    at: usize,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.at >= self.data.len()
    }

    fn rest(&self) -> &[u8] {
        &self.data[self.at..]
    }

    fn fill(&mut self, bytes: &[u8]) {
        self.data.clear();
        self.data.extend_from_slice(bytes);
        self.at = 0;
    }

    fn advance(&mut self, n: usize) {
        self.at = (self.at + n).min(self.data.len());
    }
}

/// What one libssh2 call gave.
enum Call<T> {
    Done(T),
    /// Would block; nothing half sent.
    Wait,
    /// Would block with output half sent: repeat this call before any other.
    Stuck,
}

fn call<T>(session: &Session, r: Result<T, Failure>) -> Result<Call<T>, Failure> {
    match r {
        Ok(v) => Ok(Call::Done(v)),
        Err(Failure::WouldBlock) if output_pending(session) => Ok(Call::Stuck),
        Err(Failure::WouldBlock) => Ok(Call::Wait),
        Err(f) => Err(f),
    }
}

impl Tunnel {
    pub(crate) fn new(channel: Channel, local: UnixStream) -> Self {
        Tunnel {
            channel,
            local,
            up: Pending::default(),
            down: Pending::default(),
            local_eof: false,
            eof_sent: false,
            remote_eof: false,
            closing: None,
            closed: false,
            pending: None,
        }
    }

    /// Done: the channel is closed (or given up), nothing is half sent; it can be dropped.
    pub(crate) fn finished(&self) -> bool {
        self.closed && self.pending.is_none()
    }

    /// Starts closing (after a failure of its local end or its channel).
    pub(crate) fn abandon(&mut self) {
        if self.closing.is_none() {
            self.closing = Some(Instant::now());
        }
        let _ = self.local.shutdown(std::net::Shutdown::Both);
    }

    /// Whether it is closing (its close may need a look before the socket says anything).
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.is_some() && !self.closed
    }

    /// Whether it would read the session's socket (so the socket is worth watching).
    pub(crate) fn reads_session(&self) -> bool {
        self.pending.is_some()
            || self.closing.is_some()
            || (self.down.is_empty() && !self.remote_eof)
            || !self.up.is_empty()
    }

    /// What the local end must be watched for.
    pub(crate) fn local_interest(&self) -> libc::c_short {
        if self.closing.is_some() {
            return 0;
        }
        let mut e = 0;
        if self.up.is_empty() && !self.local_eof {
            e |= libc::POLLIN;
        }
        if !self.down.is_empty() {
            e |= libc::POLLOUT;
        }
        e
    }

    /// One pass in each direction. A channel error that is not the session's closes this
    /// tunnel only (`Ok`); the session's failures are `Err`.
    pub(crate) fn step(&mut self, session: &Session, buf: &mut [u8]) -> Result<Stepped, Failure> {
        let r = self.step_inner(session, buf);
        match r {
            Err(Failure::Lost(_) | Failure::TimedOut(_)) => r,
            Err(_) => {
                // This channel (or its local end) failed; the others go on.
                self.abandon();
                Ok(Stepped {
                    moved: true,
                    stuck: false,
                })
            }
            ok => ok,
        }
    }

    fn step_inner(&mut self, session: &Session, buf: &mut [u8]) -> Result<Stepped, Failure> {
        let mut out = Stepped::default();
        // A call that left output half sent goes first, alone.
        if let Some(op) = self.pending {
            match self.op(session, op, buf)? {
                Call::Stuck => {
                    out.stuck = true;
                    return Ok(out);
                }
                Call::Wait => self.pending = None,
                Call::Done(moved) => {
                    self.pending = None;
                    out.moved |= moved;
                }
            }
        }
        if self.closing.is_some() {
            return self.close_step(session, buf, out);
        }
        if self.down.is_empty() && !self.remote_eof {
            match self.op(session, Op::Read, buf)? {
                Call::Stuck => return Ok(self.stuck(Op::Read, out)),
                Call::Wait => {}
                Call::Done(m) => out.moved |= m,
            }
        }
        if !self.down.is_empty() {
            match send_nosignal(&self.local, self.down.rest()) {
                Ok(n) => {
                    self.down.advance(n);
                    out.moved |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(Failure::Channel(format!("local end: {e}"))),
            }
        }
        if self.up.is_empty() && !self.local_eof {
            match (&self.local).read(buf) {
                Ok(0) => {
                    self.local_eof = true;
                    out.moved = true;
                }
                Ok(n) => {
                    self.up.fill(&buf[..n]);
                    out.moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(Failure::Channel(format!("local end: {e}"))),
            }
        }
        if !self.up.is_empty() {
            match self.op(session, Op::Write, buf)? {
                Call::Stuck => return Ok(self.stuck(Op::Write, out)),
                Call::Wait => {}
                Call::Done(m) => out.moved |= m,
            }
        }
        if self.local_eof && self.up.is_empty() && !self.eof_sent {
            match self.op(session, Op::Eof, buf)? {
                Call::Stuck => return Ok(self.stuck(Op::Eof, out)),
                Call::Wait => {}
                Call::Done(m) => out.moved |= m,
            }
        }
        // Both ways ended, or the target's session closed its socket: close the channel.
        let both_done = self.eof_sent && self.remote_eof && self.down.is_empty();
        if both_done || (self.local_eof && self.eof_sent && self.local_closed()) {
            self.abandon();
            out.moved = true;
        }
        Ok(out)
    }

    fn stuck(&mut self, op: Op, mut out: Stepped) -> Stepped {
        self.pending = Some(op);
        out.stuck = true;
        out
    }

    /// Closing: `close` until the peer's close arrives (then the channel can be freed
    /// without blocking), or the limit passes.
    fn close_step(
        &mut self,
        session: &Session,
        buf: &mut [u8],
        mut out: Stepped,
    ) -> Result<Stepped, Failure> {
        if self.closed {
            return Ok(out);
        }
        if self.closing.is_some_and(|t| t.elapsed() >= CLOSE_LIMIT) {
            self.closed = true;
            out.moved = true;
            return Ok(out);
        }
        match self.op(session, Op::Close, buf) {
            Ok(Call::Stuck) => Ok(self.stuck(Op::Close, out)),
            Ok(Call::Wait) => Ok(out),
            Ok(Call::Done(_)) | Err(Failure::Channel(_)) => {
                self.closed = true;
                out.moved = true;
                Ok(out)
            }
            Err(f) => Err(f),
        }
    }

    /// Makes one libssh2 call; `Done(true)` if bytes (or an end) moved.
    fn op(&mut self, session: &Session, op: Op, buf: &mut [u8]) -> Result<Call<bool>, Failure> {
        match op {
            Op::Read => match self.channel.read(buf) {
                Ok(0) => {
                    if self.channel.eof() {
                        self.remote_eof = true;
                        let _ = self.local.shutdown(std::net::Shutdown::Write);
                        return Ok(Call::Done(true));
                    }
                    Ok(Call::Done(false))
                }
                Ok(n) => {
                    self.down.fill(&buf[..n]);
                    Ok(Call::Done(true))
                }
                Err(e) => call(session, Err(from_io(session, &e))),
            },
            Op::Write => match self.channel.write(self.up.rest()) {
                Ok(n) => {
                    self.up.advance(n);
                    Ok(Call::Done(n > 0))
                }
                Err(e) => call(session, Err(from_io(session, &e))),
            },
            Op::Eof => {
                let r = self.channel.send_eof().map_err(Failure::from);
                let c = call(session, r)?;
                if let Call::Done(()) = c {
                    self.eof_sent = true;
                    return Ok(Call::Done(true));
                }
                Ok(map_unit(c))
            }
            Op::Close => {
                let r = self.channel.close().map_err(Failure::from);
                Ok(map_unit(call(session, r)?))
            }
        }
    }

    /// Whether the local peer is gone for both directions (its socket closed or shut down).
    fn local_closed(&self) -> bool {
        let mut fd = pollfd(self.local.as_raw_fd(), 0);
        // SAFETY: one pollfd owned by this frame; zero timeout.
        let rc = unsafe { libc::poll(&mut fd, 1, 0) };
        rc > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR) != 0
    }
}

fn map_unit(c: Call<()>) -> Call<bool> {
    match c {
        Call::Done(()) => Call::Done(true),
        Call::Wait => Call::Wait,
        Call::Stuck => Call::Stuck,
    }
}

/// `send(2)` without SIGPIPE (a library cannot rely on the program ignoring it).
fn send_nosignal(sock: &UnixStream, bytes: &[u8]) -> std::io::Result<usize> {
    // SAFETY: the pointer and length describe `bytes`, borrowed for the call.
    let n = unsafe {
        libc::send(
            sock.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
}
