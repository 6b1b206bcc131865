//! [`OpError`]: why an operation outside a rollout (manual drain or enable of an instance,
//! reading the audit log or the lock) failed.

use super::lock::{LockFailure, LockOwner};
use super::step::StepError;
use crate::container::ContainerError;
use crate::fleet::UnknownInstance;
use crate::lb::LbError;
use crate::transport::TransportError;

/// A failure of [`drain_instance`](crate::drain_instance),
/// [`enable_instance`](crate::enable_instance), [`history`](crate::history),
/// [`lock_status`](crate::lock_status) or [`lock_release`](crate::lock_release).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// No fleet instance has that name.
    #[error(transparent)]
    UnknownInstance(#[from] UnknownInstance),
    /// Taking it out would break invariant 1 (`max_unavailable` backends already out, or
    /// it is the last one in rotation); nothing was changed.
    #[error("{instance}: not taken out of rotation: {reason}")]
    Unavailable {
        /// The instance.
        instance: String,
        /// Why.
        reason: String,
    },
    /// Its container does not run, so it is not put into rotation (invariant 2).
    #[error("{instance}: container {container} is {status}; start it first")]
    NotRunning {
        /// The instance.
        instance: String,
        /// Its container.
        container: String,
        /// What docker says of it.
        status: String,
    },
    /// Its health URL does not answer the expected status, so it is not put into rotation
    /// (invariant 2).
    #[error("{instance}: {url} answered {}, expected {expected}: not healthy, not enabled", got.map_or("nothing".to_string(), |s| s.to_string()))]
    NotHealthy {
        /// The instance.
        instance: String,
        /// Its health URL.
        url: String,
        /// The status it answered (`None`: no answer).
        got: Option<u16>,
        /// The status expected.
        expected: u16,
    },
    /// Waiting for it to become idle failed (it is out of rotation).
    #[error("{instance}: out of rotation, but draining failed: {reason}")]
    Drain {
        /// The instance.
        instance: String,
        /// Why.
        reason: Box<StepError>,
    },
    /// Reading the load balancer or a host failed while checking.
    #[error(transparent)]
    Step(Box<StepError>),
    /// A rollout holds the lock on the load balancer's host: a manual drain or enable
    /// waits for it to end. Nothing was changed.
    #[error("a rollout holds the lock on {host}{}; try again when it is done", owner.as_ref().map(|o| format!(" ({} since {}, rollout {})", o.owner, o.since, o.rollout_id)).unwrap_or_default())]
    LockHeld {
        /// The load balancer's host.
        host: String,
        /// Who holds it, when readable.
        owner: Option<Box<LockOwner>>,
    },
    /// The operation was done, but releasing the lock afterwards failed.
    #[error(
        "{host}: done, but releasing the lock failed ({reason}); `ihos lock release` breaks it"
    )]
    LockNotReleased {
        /// The load balancer's host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The load balancer refused or failed the change (its previous config is back unless
    /// the error says otherwise).
    #[error(transparent)]
    Lb(#[from] LbError),
    /// Asking docker about the container failed.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// Reaching a host failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl From<LockFailure> for OpError {
    fn from(e: LockFailure) -> Self {
        match e {
            LockFailure::Held { host, owner } => OpError::LockHeld { host, owner },
            LockFailure::NotReleased { host, reason } => OpError::LockNotReleased { host, reason },
            LockFailure::Transport(e) => OpError::Transport(e),
        }
    }
}
