//! The jump host's thread: one session, a `direct-tcpip` channel per host behind it, each
//! pumped to and from one end of a local socket pair.
//!
//! The session stays in non-blocking mode; the thread sleeps in `poll(2)` on the session's
//! socket, the local ends that can move data and a wake pipe for new requests. libssh2
//! opens one channel at a time per session, so requests queue and the one in progress is
//! advanced between pumping rounds: a slow target does not stall the others' traffic.

use std::collections::VecDeque;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

use ssh2::Channel;
use tracing::debug;

use super::connect::{Conn, connect};
use super::error::Failure;
use super::forward::{Tunnel, pollfd};
use super::options::{SshOptions, SshTarget};
use super::route::Opener;
use crate::transport::TransportError;

/// Bytes moved per read.
const CHUNK: usize = 32 * 1024;
/// Longest sleep (keepalives are sent on waking).
const MAX_WAIT: Duration = Duration::from_secs(1);
/// Rounds of pumping before new requests are looked at again.
const MAX_ROUNDS: usize = 64;
/// A channel opening still unanswered after this long (its caller gave up long before)
/// costs the session: libssh2 cannot start another opening while one is under way.
const ORPHAN_LIMIT: Duration = Duration::from_secs(120);

/// A request for a stream to `host:port` from the jump host.
pub(crate) struct OpenRequest {
    pub host: String,
    pub port: u16,
    pub deadline: Instant,
    pub reply: mpsc::Sender<Result<UnixStream, TransportError>>,
    /// Already tried once on a session that turned out to be dead.
    pub retried: bool,
}

/// A channel opening under way: libssh2 advances it by the same call with the same
/// arguments, so they are kept even when its caller has given up (`request` is `None`).
struct Opening {
    host: String,
    port: u16,
    started: Instant,
    request: Option<OpenRequest>,
    /// Its last call left output half sent: it must be the next libssh2 call.
    stuck: bool,
    /// Made on a session that was already connected before this request (which may have
    /// died unnoticed while idle).
    reused: bool,
}

/// The thread's state.
pub(crate) struct Pump {
    target: SshTarget,
    label: String,
    opts: SshOptions,
    via: Option<Arc<dyn Opener>>,
    requests: Receiver<OpenRequest>,
    woken: UnixStream,
    conn: Option<Conn>,
    queued: VecDeque<OpenRequest>,
    /// The channel being opened.
    opening: Option<Opening>,
    tunnels: Vec<Tunnel>,
    next_keepalive: Instant,
    /// The last pumping round was cut short while data still moved: look again at once.
    busy: bool,
    /// The [`JumpHost`](super::jump::JumpHost) is gone (its wake pipe is at its end).
    orphaned: bool,
}

impl Pump {
    pub(crate) fn new(
        target: SshTarget,
        opts: SshOptions,
        via: Option<Arc<dyn Opener>>,
        requests: Receiver<OpenRequest>,
        woken: UnixStream,
    ) -> Self {
        Pump {
            label: target.label(),
            target,
            opts,
            via,
            requests,
            woken,
            conn: None,
            queued: VecDeque::new(),
            opening: None,
            tunnels: Vec::new(),
            next_keepalive: Instant::now(),
            busy: false,
            orphaned: false,
        }
    }

    /// Whether a libssh2 call left output half sent: then only that call may come next.
    fn stuck(&self) -> bool {
        self.opening.as_ref().is_some_and(|o| o.stuck)
            || self.tunnels.iter().any(|t| t.pending.is_some())
    }

    /// Serves until the [`JumpHost`](super::jump::JumpHost) is dropped and its last tunnel has closed.
    pub(crate) fn serve(mut self) {
        loop {
            let mut sink = [0u8; 64];
            loop {
                match (&self.woken).read(&mut sink) {
                    Ok(0) => {
                        self.orphaned = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            loop {
                match self.requests.try_recv() {
                    Ok(r) => self.queued.push_back(r),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        self.orphaned = true;
                        break;
                    }
                }
            }
            if self.orphaned && self.tunnels.is_empty() && self.queued.is_empty() {
                break;
            }
            // The opening first when it is the call libssh2 waits for; else pump first.
            if self.opening.as_ref().is_some_and(|o| o.stuck) {
                self.advance_opening();
            }
            if let Err(reason) = self.pump() {
                self.lose(&reason);
            }
            self.advance_opening();
            self.keepalive();
            self.wait();
        }
        self.lose("no host uses this jump host any more");
        debug!(jump = %self.label, "jump host thread stopped");
    }

    /// Starts or continues opening the first queued channel.
    fn advance_opening(&mut self) {
        loop {
            if self.tunnels.iter().any(|t| t.pending.is_some()) {
                return; // a tunnel's half-sent call must be repeated first
            }
            let mut opening = match self.opening.take() {
                Some(o) => o,
                None => {
                    let Some(next) = self.queued.pop_front() else {
                        return;
                    };
                    if Instant::now() >= next.deadline {
                        let e = self.error_for(&next, "timed out in the queue");
                        let _ = next.reply.send(Err(e));
                        continue;
                    }
                    let reused = self.conn.is_some();
                    if !reused {
                        if let Err(e) = self.connect() {
                            // One failed login answers every request waiting: not one
                            // more failed login per host behind the jump host.
                            let e = self.bastion_error(&next, e);
                            for r in std::iter::once(next).chain(self.queued.drain(..)) {
                                let _ = r.reply.send(Err(e.clone()));
                            }
                            return;
                        }
                    }
                    Opening {
                        host: next.host.clone(),
                        port: next.port,
                        started: Instant::now(),
                        request: Some(next),
                        stuck: false,
                        reused,
                    }
                }
            };
            let Some(conn) = &self.conn else {
                // Lost meanwhile: `lose` answered the request.
                return;
            };
            let (host, port) = (opening.host.clone(), opening.port);
            let result = conn
                .session
                .channel_direct_tcpip(&host, port, None)
                .map_err(Failure::from);
            opening.stuck = matches!(result, Err(Failure::WouldBlock))
                && matches!(
                    conn.session.block_directions(),
                    ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
                );
            match result {
                Err(Failure::WouldBlock) => {
                    let now = Instant::now();
                    if let Some(r) = opening.request.take_if(|r| now >= r.deadline) {
                        let waited = r.deadline.saturating_duration_since(opening.started);
                        let e = self.error_for(
                            &r,
                            &format!(
                                "no answer to opening a forwarded connection to {host}:{port} within {waited:?}"
                            ),
                        );
                        let _ = r.reply.send(Err(e));
                    }
                    let too_old = opening.started.elapsed() >= ORPHAN_LIMIT;
                    self.opening = Some(opening);
                    // Only a session that carries nothing else is given up for it.
                    if too_old && self.tunnels.is_empty() {
                        self.lose("a channel opening never finished");
                    }
                    return;
                }
                Ok(channel) => self.add_tunnel(channel, opening.request, &host, port),
                Err(f) => {
                    let breaks = f.breaks_session();
                    match opening.request {
                        // A session that died while idle: once more, on a new one.
                        Some(mut r) if breaks && opening.reused && !r.retried => {
                            r.retried = true;
                            self.queued.push_front(r);
                        }
                        Some(r) => {
                            let e = self.error_for(&r, &refusal(&self.label, &host, port, &f));
                            let _ = r.reply.send(Err(e));
                        }
                        None => {}
                    }
                    if breaks {
                        self.lose("opening a channel failed");
                    }
                }
            }
        }
    }

    fn connect(&mut self) -> Result<(), TransportError> {
        let conn = connect(&self.target, &self.opts, self.via.as_deref())?;
        conn.session.set_blocking(false);
        debug!(jump = %self.label, "jump host connected");
        self.conn = Some(conn);
        self.next_keepalive = Instant::now();
        Ok(())
    }

    fn add_tunnel(
        &mut self,
        channel: Channel,
        request: Option<OpenRequest>,
        host: &str,
        port: u16,
    ) {
        let Some(request) = request else {
            // Its caller gave up: close at once.
            return;
        };
        let pair = UnixStream::pair().and_then(|(ours, theirs)| {
            ours.set_nonblocking(true)?;
            Ok((ours, theirs))
        });
        match pair {
            Ok((ours, theirs)) => {
                if request.reply.send(Ok(theirs)).is_ok() {
                    debug!(jump = %self.label, to = %format!("{host}:{port}"), "tunnel open");
                    self.tunnels.push(Tunnel::new(channel, ours));
                }
            }
            Err(e) => {
                let e = self.error_for(&request, &format!("cannot make a socket pair: {e}"));
                let _ = request.reply.send(Err(e));
            }
        }
    }

    /// Moves data until nothing moves; `Err` when the session is lost.
    fn pump(&mut self) -> Result<(), String> {
        self.busy = false;
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        if self.opening.as_ref().is_some_and(|o| o.stuck) {
            return Ok(()); // the opening's half-sent call goes first
        }
        let mut buf = vec![0u8; CHUNK];
        // A tunnel with a half-sent call: that call, alone, until it is done.
        if let Some(t) = self.tunnels.iter_mut().find(|t| t.pending.is_some()) {
            match t.step(&conn.session, &mut buf) {
                Ok(s) if s.stuck => return Ok(()),
                Ok(_) => {}
                Err(Failure::Lost(reason) | Failure::TimedOut(reason)) => return Err(reason),
                Err(_) => {}
            }
        }
        for round in 0..MAX_ROUNDS {
            let mut moved = false;
            let mut i = 0;
            while i < self.tunnels.len() {
                let t = &mut self.tunnels[i];
                match t.step(&conn.session, &mut buf) {
                    Ok(s) => {
                        moved |= s.moved;
                        if s.stuck {
                            return Ok(());
                        }
                        if t.finished() {
                            self.tunnels.swap_remove(i);
                            continue;
                        }
                    }
                    Err(Failure::Lost(reason) | Failure::TimedOut(reason)) => return Err(reason),
                    Err(_) => {}
                }
                i += 1;
            }
            if !moved {
                break;
            }
            self.busy = round + 1 == MAX_ROUNDS;
        }
        Ok(())
    }

    fn keepalive(&mut self) {
        let Some(conn) = &self.conn else {
            return;
        };
        if Instant::now() < self.next_keepalive
            || self.opts.keepalive_interval.is_none()
            || self.stuck()
        {
            return;
        }
        match conn.session.keepalive_send() {
            Ok(secs) => {
                self.next_keepalive = Instant::now() + Duration::from_secs(u64::from(secs.max(1)));
            }
            Err(e) => match Failure::from(e) {
                Failure::WouldBlock => {}
                f => self.lose(&format!("keepalive failed: {f:?}")),
            },
        }
    }

    /// Sleeps until the session's socket, a local end or the wake pipe has something.
    fn wait(&self) {
        if self.busy {
            return; // data was still moving when the round was cut short
        }
        let mut fds = Vec::with_capacity(self.tunnels.len() + 2);
        if !self.orphaned {
            fds.push(pollfd(self.woken.as_raw_fd(), libc::POLLIN));
        }
        let mut max = MAX_WAIT;
        if let Some(conn) = &self.conn {
            // The socket is watched for input only when something will read it: input
            // nobody reads would make poll return at once, forever.
            let reads = self.opening.is_some() || self.tunnels.iter().any(Tunnel::reads_session);
            let outbound = matches!(
                conn.session.block_directions(),
                ssh2::BlockDirections::Outbound | ssh2::BlockDirections::Both
            );
            let events =
                if reads { libc::POLLIN } else { 0 } | if outbound { libc::POLLOUT } else { 0 };
            if events != 0 {
                fds.push(pollfd(conn.sock.as_raw_fd(), events));
            }
            for t in &self.tunnels {
                let events = t.local_interest();
                if events != 0 {
                    fds.push(pollfd(t.local.as_raw_fd(), events));
                }
            }
            if self.opening.is_some() || self.tunnels.iter().any(Tunnel::is_closing) {
                // The answer comes on the socket; deadlines need a look now and then.
                max = Duration::from_millis(100);
            }
        }
        let ms = libc::c_int::try_from(max.as_millis()).unwrap_or(libc::c_int::MAX);
        let n = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: `fds` is a live, correctly sized array of pollfd for the whole call.
        unsafe { libc::poll(fds.as_mut_ptr(), n, ms) };
    }

    /// Drops the session and every tunnel (their targets see the end of their socket and
    /// reconnect on their next use); queued requests are answered on the next connection.
    fn lose(&mut self, why: &str) {
        if let Some(Opening {
            request: Some(r), ..
        }) = self.opening.take()
        {
            let e = self.error_for(&r, &format!("the jump host's session was lost: {why}"));
            let _ = r.reply.send(Err(e));
        }
        // The socket first: freeing channels then fails fast instead of waiting on the peer.
        if let Some(conn) = &self.conn {
            conn.sock.shutdown();
        }
        self.tunnels.clear();
        if let Some(conn) = self.conn.take() {
            debug!(jump = %self.label, why, "closing the jump host's session");
            conn.close(why);
        }
    }

    /// An error for the caller, naming the target and this jump host.
    fn error_for(&self, r: &OpenRequest, reason: &str) -> TransportError {
        TransportError::Connect {
            host: target_label(&r.host, r.port),
            reason: format!("through jump host {}: {reason}", self.label),
        }
    }

    /// The jump host's own connection failed: its host key and login errors are its own
    /// (they name it); anything else is told as the target's, through it.
    fn bastion_error(&self, r: &OpenRequest, e: TransportError) -> TransportError {
        match e {
            TransportError::HostKey { .. } | TransportError::Auth { .. } => e,
            other => self.error_for(r, &format!("cannot reach the jump host: {other}")),
        }
    }
}

/// `host`, or `host:port` when not 22 (as [`SshTarget::label`]).
fn target_label(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("{host}:{port}")
    }
}

/// Why a channel opening failed, in words: sshd's reason code says whether it refuses to
/// forward at all (`AllowTcpForwarding no`, `PermitOpen`) or could not connect.
fn refusal(jump: &str, host: &str, port: u16, f: &Failure) -> String {
    let text = match f {
        Failure::Channel(t) | Failure::Lost(t) | Failure::TimedOut(t) => t.as_str(),
        _ => "",
    };
    if text.contains("administratively prohibited") {
        format!(
            "{jump} refuses to forward connections to {host}:{port} (administratively prohibited: \
             its sshd has AllowTcpForwarding no, or a PermitOpen that does not list it)"
        )
    } else if text.contains("connect failed") {
        format!("{jump} could not connect to {host}:{port} ({text})")
    } else {
        format!("{jump} did not open a forwarded connection to {host}:{port}: {text}")
    }
}
