//! [`Tunnel`]: one forwarded connection of a jump host's session, pumped between its
//! `direct-tcpip` channel and one end of a local socket pair, in both directions, without
//! blocking (the session is shared by every tunnel of the jump host).

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;

use ssh2::{Channel, Session};

use super::error::{Failure, from_io};

pub(crate) fn pollfd(fd: RawFd, events: libc::c_short) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
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
        }
    }

    /// Done: both directions ended and flushed.
    pub(crate) fn finished(&self) -> bool {
        self.eof_sent && self.remote_eof && self.down.is_empty()
    }

    /// What the local end must be watched for.
    pub(crate) fn local_interest(&self) -> libc::c_short {
        let mut e = 0;
        if self.up.is_empty() && !self.local_eof {
            e |= libc::POLLIN;
        }
        if !self.down.is_empty() {
            e |= libc::POLLOUT;
        }
        e
    }

    /// One pass in each direction; `Ok(true)` if any byte (or end) moved. A local end that
    /// failed, or a channel error, is `Err(Failure::Channel)`; the session's, `Lost`.
    pub(crate) fn step(&mut self, session: &Session, buf: &mut [u8]) -> Result<bool, Failure> {
        let mut moved = false;
        // Channel -> local.
        if self.down.is_empty() && !self.remote_eof {
            match self.channel.read(buf) {
                Ok(0) => {
                    if self.channel.eof() {
                        self.remote_eof = true;
                        let _ = self.local.shutdown(std::net::Shutdown::Write);
                        moved = true;
                    }
                }
                Ok(n) => {
                    self.down.fill(&buf[..n]);
                    moved = true;
                }
                Err(e) => match from_io(session, &e) {
                    Failure::WouldBlock => {}
                    f => return Err(f),
                },
            }
        }
        if !self.down.is_empty() {
            match send_nosignal(&self.local, self.down.rest()) {
                Ok(n) => {
                    self.down.advance(n);
                    moved |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(Failure::Channel(format!("local end: {e}"))),
            }
        }
        // Local -> channel.
        if self.up.is_empty() && !self.local_eof {
            match (&self.local).read(buf) {
                Ok(0) => {
                    self.local_eof = true;
                    moved = true;
                }
                Ok(n) => {
                    self.up.fill(&buf[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(Failure::Channel(format!("local end: {e}"))),
            }
        }
        if !self.up.is_empty() {
            match self.channel.write(self.up.rest()) {
                Ok(n) => {
                    self.up.advance(n);
                    moved |= n > 0;
                }
                Err(e) => match from_io(session, &e) {
                    Failure::WouldBlock => {}
                    f => return Err(f),
                },
            }
        }
        if self.local_eof && self.up.is_empty() && !self.eof_sent {
            match self.channel.send_eof().map_err(Failure::from) {
                Ok(()) => {
                    self.eof_sent = true;
                    moved = true;
                }
                Err(Failure::WouldBlock) => {}
                Err(f) => return Err(f),
            }
        }
        // The target's session closed its socket: nothing more to carry either way.
        if self.local_eof && self.eof_sent && !self.remote_eof && self.local_closed() {
            self.remote_eof = true;
            self.down = Pending::default();
            moved = true;
        }
        Ok(moved)
    }

    /// Whether the local peer is gone for both directions (its socket closed or shut down).
    fn local_closed(&self) -> bool {
        let mut fd = pollfd(self.local.as_raw_fd(), 0);
        // SAFETY: one pollfd owned by this frame; zero timeout.
        let rc = unsafe { libc::poll(&mut fd, 1, 0) };
        rc > 0 && fd.revents & (libc::POLLHUP | libc::POLLERR) != 0
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

impl Drop for Tunnel {
    fn drop(&mut self) {
        // Best effort: the session is non-blocking, so this may only be queued.
        let _ = self.channel.close();
        let _ = self.local.shutdown(std::net::Shutdown::Both);
    }
}
