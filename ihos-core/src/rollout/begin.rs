//! How a run begins: the journal it continues (`--resume`), checked against what it is
//! asked to do, and the lock that makes it the only run on its load balancer.

use super::ctx::Kind;
use super::error::RolloutError;
use super::journal::{self, Journal};
use super::lock::{self, LockOwner};
use super::target::Target;
use crate::fleet::Fleet;

/// The unfinished journal a resumed run continues, after checking that it is the same kind
/// of run with the same WAR.
pub(crate) async fn resumable_journal(
    fleet: &Fleet,
    kind: Kind<'_>,
    target: Target,
) -> Result<Journal, RolloutError> {
    let j = journal::load(fleet.lb_transport.as_ref(), &fleet.lb_state_dir)
        .await?
        .ok_or_else(|| RolloutError::Resume("no journal on the load balancer's host".into()))?;
    if j.finished {
        return Err(RolloutError::Resume(format!(
            "rollout {} already finished",
            j.rollout_id
        )));
    }
    if j.rollback {
        return Err(RolloutError::Resume(format!(
            "rollout {} is a rollback; run `ihos rollback` again",
            j.rollout_id
        )));
    }
    if j.canary != (target == Target::Canary) {
        let (what, how) = if j.canary {
            ("a canary deploy", "ihos canary deploy --resume")
        } else {
            ("a fleet rollout", "ihos rollout --resume")
        };
        return Err(RolloutError::Resume(format!(
            "rollout {} is {what}; resume it with `{how}`",
            j.rollout_id
        )));
    }
    if let Some(sha256) = kind.sha256() {
        if j.sha256 != *sha256 {
            return Err(RolloutError::Resume(format!(
                "rollout {} deploys sha256 {}, this WAR is {sha256}",
                j.rollout_id, j.sha256
            )));
        }
    }
    Ok(j)
}

/// Invariant 5: one rollout at a time. A resumed rollout takes over its own stale lock.
pub(crate) async fn take_lock(
    fleet: &Fleet,
    me: &LockOwner,
    resumed: bool,
) -> Result<(), RolloutError> {
    let t = fleet.lb_transport.as_ref();
    let dir = &fleet.lb_state_dir;
    let held = |owner: Option<LockOwner>| RolloutError::LockHeld {
        host: t.host().to_string(),
        owner: owner.map(Box::new),
    };
    match lock::acquire(t, dir, me).await? {
        Ok(()) => Ok(()),
        Err(Some(owner)) if resumed && owner.rollout_id == me.rollout_id => {
            lock::release(t, dir, None).await?;
            lock::acquire(t, dir, me).await?.map_err(held)
        }
        Err(owner) => Err(held(owner)),
    }
}
