//! How an instance leaves and rejoins the traffic. A fleet instance is a server of the
//! upstream: commented out and back. The canary is not in the upstream: users reach it
//! through the cohort route, so it leaves the traffic when the route is closed, and the
//! route is reopened afterwards only if it was open before.

use super::engine::Ctx;
use super::fleet::InstanceHandle;
use crate::lb::{CanaryRoute, LbChange, LbError};

/// The way `inst` is in rotation.
pub(crate) enum Rotation<'a> {
    /// A server of the load balancer's upstream.
    Upstream,
    /// The canary, behind its cohort route.
    Canary(&'a dyn CanaryRoute),
}

/// Whether `inst` is the fleet's canary.
pub(crate) fn is_canary(ctx: &Ctx<'_>, inst: &InstanceHandle) -> bool {
    ctx.fleet
        .canary
        .as_ref()
        .is_some_and(|c| c.name() == inst.name())
}

/// How `inst` is put in and out of rotation.
pub(crate) fn rotation<'a>(ctx: &Ctx<'a>, inst: &InstanceHandle) -> Result<Rotation<'a>, String> {
    if !is_canary(ctx, inst) {
        return Ok(Rotation::Upstream);
    }
    ctx.fleet
        .canary_route
        .as_deref()
        .map(Rotation::Canary)
        .ok_or_else(|| {
            format!(
                "{} is the canary, but the fleet has no canary route",
                inst.name()
            )
        })
}

/// Takes `inst` out of rotation. For the canary, remembers in the journal whether its route
/// was open (once: a resumed rollout finds it closed by itself).
pub(crate) async fn take_out(
    ctx: &Ctx<'_>,
    inst: &InstanceHandle,
) -> Result<LbChange, TakeOutError> {
    match rotation(ctx, inst).map_err(TakeOutError::Setup)? {
        Rotation::Upstream => Ok(ctx.fleet.lb.disable(&inst.config.backend).await?),
        Rotation::Canary(route) => {
            let remembered = ctx.canary_was_open(inst.name()).await;
            if remembered.is_none() {
                // The journal is the only record that the route was open: if it cannot
                // be written, do not close the route.
                let rule = route.rule().await?;
                ctx.update_entry_strict(inst.name(), |e| e.canary_was_open = Some(rule.open))
                    .await
                    .map_err(|e| {
                        TakeOutError::Setup(format!(
                            "the journal cannot record the canary route's state, so it is not closed: {e}"
                        ))
                    })?;
            }
            let mut change = route.close().await?;
            if !change.changed() {
                change.message = format!("canary route already closed ({})", change.message);
            } else {
                change.message = format!("canary route closed ({})", change.message);
            }
            Ok(change)
        }
    }
}

/// Puts `inst` back into rotation; the canary's route only if it was open before.
pub(crate) async fn put_back(ctx: &Ctx<'_>, inst: &InstanceHandle) -> Result<LbChange, String> {
    match rotation(ctx, inst)? {
        Rotation::Upstream => ctx
            .fleet
            .lb
            .enable(&inst.config.backend)
            .await
            .map_err(|e| e.to_string()),
        Rotation::Canary(route) => {
            if ctx.canary_was_open(inst.name()).await == Some(true) {
                let mut change = route.reopen().await.map_err(|e| e.to_string())?;
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

/// Why [`take_out`] failed.
#[derive(Debug)]
pub(crate) enum TakeOutError {
    /// The fleet cannot do it (no canary route).
    Setup(String),
    /// The load balancer or route failed.
    Lb(LbError),
}

impl From<LbError> for TakeOutError {
    fn from(e: LbError) -> Self {
        TakeOutError::Lb(e)
    }
}

impl std::fmt::Display for TakeOutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TakeOutError::Setup(s) => f.write_str(s),
            TakeOutError::Lb(e) => e.fmt(f),
        }
    }
}
