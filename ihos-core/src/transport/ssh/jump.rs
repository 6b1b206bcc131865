//! [`JumpHost`]: a host that others are reached through (OpenSSH's `ProxyJump`).
//!
//! ONE SSH session to the jump host carries a `direct-tcpip` channel per connection to a
//! host behind it; a thread of its own ([`tunnel`](super::tunnel)) owns that session and
//! pumps each channel to one end of a local socket pair, whose other end is the socket of
//! the target's own session. So the target's session is an ordinary libssh2 session (host
//! key checked against known_hosts under the target's own name, timeouts, reconnects), and
//! the jump host never sees the target's traffic in clear.
//!
//! A jump host may itself be reached through another ([`JumpHost::behind`]): chains.

use std::fmt;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use super::options::{SshOptions, SshTarget};
use super::route::Opener;
use super::tunnel::{OpenRequest, Pump};
use crate::transport::TransportError;

/// How long past its own limit a caller waits for the tunnel thread's answer (it enforces
/// the limit itself; this only covers a thread that is busy or gone).
const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// A host that other hosts are reached through: one session, shared by all of them.
///
/// ```no_run
/// # async fn demo() -> Result<(), ihos_core::TransportError> {
/// use ihos_core::{JumpHost, SshOptions, SshTarget, SshTransport, Transport, Command};
/// let bastion = JumpHost::new(SshTarget::new("bastion.example", 22, "deploy"), SshOptions::default())?;
/// let app = SshTransport::through(
///     bastion,
///     SshTarget::new("10.0.0.12", 22, "deploy"),
///     SshOptions::default(),
/// )?;
/// app.run(&Command::new("uptime")).await?;
/// # Ok(()) }
/// ```
pub struct JumpHost {
    target: SshTarget,
    requests: Mutex<mpsc::Sender<OpenRequest>>,
    /// Written to (one byte) to wake the tunnel thread when a request is queued.
    wake: UnixStream,
}

impl fmt::Debug for JumpHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JumpHost")
            .field("target", &self.target.to_string())
            .finish()
    }
}

impl JumpHost {
    /// A jump host reached directly. Nothing connects until a host behind it is used.
    pub fn new(target: SshTarget, options: SshOptions) -> Result<Arc<JumpHost>, TransportError> {
        Self::start(target, options, None)
    }

    /// A jump host reached through another one.
    pub fn behind(
        parent: Arc<JumpHost>,
        target: SshTarget,
        options: SshOptions,
    ) -> Result<Arc<JumpHost>, TransportError> {
        Self::start(target, options, Some(parent))
    }

    fn start(
        target: SshTarget,
        options: SshOptions,
        via: Option<Arc<JumpHost>>,
    ) -> Result<Arc<JumpHost>, TransportError> {
        let label = target.label();
        let fail = |reason: String| TransportError::Connect {
            host: label.clone(),
            reason,
        };
        let (wake, woken) =
            UnixStream::pair().map_err(|e| fail(format!("cannot make a socket pair: {e}")))?;
        for s in [&wake, &woken] {
            s.set_nonblocking(true)
                .map_err(|e| fail(format!("socket pair: {e}")))?;
        }
        let (requests, queue) = mpsc::channel();
        let via = via.map(|v| v as Arc<dyn Opener>);
        let pump = Pump::new(target.clone(), options, via, queue, woken);
        std::thread::Builder::new()
            .name(format!("ihos-jump {label}"))
            .spawn(move || pump.serve())
            .map_err(|e| fail(format!("cannot start the jump host's thread: {e}")))?;
        Ok(Arc::new(JumpHost {
            target,
            requests: Mutex::new(requests),
            wake,
        }))
    }

    /// The jump host.
    pub fn target(&self) -> &SshTarget {
        &self.target
    }
}

impl Opener for JumpHost {
    /// A stream to `to`'s SSH port through this jump host, within `limit`.
    fn open(&self, to: &SshTarget, limit: Duration) -> Result<UnixStream, TransportError> {
        let fail = |reason: String| TransportError::Connect {
            host: to.label(),
            reason: format!("through jump host {}: {reason}", self.target.label()),
        };
        let (reply, answer) = mpsc::channel();
        let request = OpenRequest {
            host: to.host.clone(),
            port: to.port,
            deadline: Instant::now() + limit,
            reply,
            retried: false,
        };
        self.requests
            .lock()
            .map_err(|_| fail("its thread has stopped".into()))?
            .send(request)
            .map_err(|_| fail("its thread has stopped".into()))?;
        // A full wake pipe already has the thread woken.
        let _ = (&self.wake).write(&[1]);
        match answer.recv_timeout(limit + ANSWER_GRACE) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(fail(format!(
                "no forwarded connection to {}:{} within {limit:?}",
                to.host, to.port
            ))),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(fail("its thread stopped without an answer".into()))
            }
        }
    }
}
