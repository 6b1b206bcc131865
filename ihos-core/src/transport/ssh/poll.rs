//! Non-blocking libssh2 calls: switching a session to non-blocking mode for a while, waiting
//! until its socket is ready in the direction libssh2 needs, and retrying a call until it
//! stops saying "would block" or a deadline passes.

use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use ssh2::{BlockDirections, Session};

use super::error::Failure;

/// Longest single wait, so a missed wakeup costs little.
const MAX_WAIT: Duration = Duration::from_millis(500);

/// Puts a session in non-blocking mode until dropped.
pub(crate) struct NonBlocking<'a>(&'a Session);

impl<'a> NonBlocking<'a> {
    pub(crate) fn new(session: &'a Session) -> Self {
        session.set_blocking(false);
        NonBlocking(session)
    }
}

impl Drop for NonBlocking<'_> {
    fn drop(&mut self) {
        self.0.set_blocking(true);
    }
}

/// The directions libssh2's last call was blocked on: (inbound, outbound).
pub(crate) fn blocked_on(session: &Session) -> (bool, bool) {
    match session.block_directions() {
        BlockDirections::Outbound => (false, true),
        BlockDirections::Both => (true, true),
        BlockDirections::Inbound | BlockDirections::None => (true, false),
    }
}

/// Waits at most `max` until the socket is readable (always watched: it also brings window
/// adjustments and the peer going away) or, with `outbound`, writable.
pub(crate) fn wait_socket(fd: RawFd, outbound: bool, max: Duration) -> Result<(), Failure> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN | if outbound { libc::POLLOUT } else { 0 },
        revents: 0,
    };
    let ms = libc::c_int::try_from(max.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(Failure::Lost(format!("poll: {e}")));
        }
    }
    Ok(())
}

/// Calls `op` until it does not say "would block", waiting for the socket in between, up
/// to `deadline` (then [`Failure::TimedOut`]).
pub(crate) fn retry<T>(
    session: &Session,
    fd: RawFd,
    deadline: Instant,
    what: &str,
    mut op: impl FnMut() -> Result<T, ssh2::Error>,
) -> Result<T, Failure> {
    loop {
        match op() {
            Ok(v) => return Ok(v),
            Err(e) => match Failure::from(e) {
                Failure::WouldBlock => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Failure::TimedOut(format!("{what} did not complete")));
                    }
                    let (_, outbound) = blocked_on(session);
                    wait_socket(fd, outbound, (deadline - now).min(MAX_WAIT))?;
                }
                other => return Err(other),
            },
        }
    }
}
