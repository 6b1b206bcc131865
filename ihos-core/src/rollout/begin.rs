//! How a run begins: the journal it continues (`--resume`), checked against what it is
//! asked to do, and the lock that makes it the only run on its load balancer.

use super::ctx::Kind;
use super::error::RolloutError;
use super::journal::{self, Journal};
use super::lock::{self, HeldHere, Holder, LockOwner};
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
        // A `rollback --to` journals the release it installs: the same again, never each
        // instance's previous one (the ones it updated would go back to where they were).
        let again = match crate::sha::Sha256::parse(&j.sha256) {
            Some(sha) => format!("ihos rollback --to sha:{sha}"),
            None => "ihos rollback".to_string(),
        };
        return Err(RolloutError::Resume(format!(
            "rollout {} is a rollback; run `{again}` again",
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

/// Invariant 5: one rollout at a time. A resumed rollout takes over the lock of the run it
/// continues only when that run is gone: it ran on this machine and its process is dead,
/// or (`force`) the operator says so for a holder this machine cannot check. The returned
/// mark keeps another resume in this process off while the run goes on.
pub(crate) async fn take_lock(
    fleet: &Fleet,
    me: &LockOwner,
    resumed: bool,
    force: bool,
) -> Result<HeldHere, RolloutError> {
    let t = fleet.lb_transport.as_ref();
    let dir = &fleet.lb_state_dir;
    let held = |owner: Option<LockOwner>| RolloutError::LockHeld {
        host: t.host().to_string(),
        owner: owner.map(Box::new),
    };
    // Claimed first, in one step: a second run of this rollout in this process is refused
    // here, and sees this one as alive below.
    let Some(mark) = HeldHere::claim(&me.rollout_id) else {
        return Err(held(lock::status(t, dir).await?));
    };
    match lock::acquire(t, dir, me).await? {
        Ok(()) => Ok(mark),
        Err(Some(owner)) if resumed && owner.rollout_id == me.rollout_id => {
            match lock::holder_after_claim(&owner) {
                Holder::Dead => {}
                Holder::Unknown if force => {}
                Holder::Alive | Holder::Unknown => return Err(held(Some(owner))),
            }
            // Only the holder judged gone is broken: another resume that took the lock
            // meanwhile keeps it, and this one is refused.
            lock::release_owner(t, dir, &owner).await?;
            lock::acquire(t, dir, me).await?.map_err(held)?;
            Ok(mark)
        }
        Err(owner) => Err(held(owner)),
    }
}
