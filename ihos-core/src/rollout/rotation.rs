//! How an instance leaves and rejoins the traffic. A fleet instance is a server of the
//! upstream: commented out and back. The canary is not in the upstream: users reach it
//! through the cohort route, so it leaves the traffic when the route is closed, and the
//! route is reopened afterwards only if it was open before.

use super::ctx::{Ctx, Env};
use super::route_times;
use super::step::StepError;
use crate::fleet::InstanceHandle;
use crate::lb::{CanaryRoute, LbChange};

/// The way an instance is in rotation.
enum Rotation<'a> {
    /// A server of the load balancer's upstream.
    Upstream,
    /// The canary, behind its cohort route.
    Canary(&'a dyn CanaryRoute),
}

/// How `inst` is put in and out of rotation.
fn rotation<'a>(env: &Env<'a>, inst: &InstanceHandle) -> Result<Rotation<'a>, StepError> {
    if !env.is_canary(inst) {
        return Ok(Rotation::Upstream);
    }
    env.fleet
        .canary_route
        .as_deref()
        .map(Rotation::Canary)
        .ok_or_else(|| StepError::NoCanaryRoute {
            instance: inst.name().to_string(),
        })
}

/// Takes `inst` out of rotation. For the canary, remembers in the journal whether its route
/// was open (once: a resumed rollout finds it closed by itself).
pub(crate) async fn take_out(ctx: Ctx<'_>, inst: &InstanceHandle) -> Result<LbChange, StepError> {
    match rotation(ctx.env, inst)? {
        Rotation::Upstream => Ok(ctx.env.fleet.lb.disable(&inst.config.backend).await?),
        Rotation::Canary(route) => {
            if ctx.run.canary_was_open(inst.name()).await.is_none() {
                // The journal is the only record that the route was open: if it cannot
                // be written, do not close the route.
                let rule = route.rule().await?;
                ctx.run
                    .update_entry_strict(ctx.env, inst.name(), |e| {
                        e.canary_was_open = Some(rule.open)
                    })
                    .await
                    .map_err(StepError::JournalNotWritten)?;
            }
            let mut change = route.close().await?;
            if change.changed() {
                route_times::note(ctx.env.fleet, false).await;
            }
            change.message = if change.changed() {
                format!("canary route closed ({})", change.message)
            } else {
                format!("canary route already closed ({})", change.message)
            };
            Ok(change)
        }
    }
}

/// Puts `inst` back into rotation; the canary's route only if it was open before.
pub(crate) async fn put_back(ctx: Ctx<'_>, inst: &InstanceHandle) -> Result<LbChange, StepError> {
    match rotation(ctx.env, inst)? {
        Rotation::Upstream => {
            let change = ctx.env.fleet.lb.enable(&inst.config.backend).await?;
            ctx.run.leaving.back(&inst.config.backend);
            Ok(change)
        }
        Rotation::Canary(route) => {
            if ctx.run.canary_was_open(inst.name()).await == Some(true) {
                let mut change = route.reopen().await?;
                if change.changed() {
                    route_times::note(ctx.env.fleet, true).await;
                }
                change.message = format!("canary route reopened ({})", change.message);
                Ok(change)
            } else {
                Ok(LbChange {
                    before: Vec::new(),
                    after: Vec::new(),
                    diff: String::new(),
                    message: "canary route left closed, as it was before".into(),
                })
            }
        }
    }
}
