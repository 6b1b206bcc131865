//! Which instances a run updates, and the checks on them before anything changes: each
//! fleet instance in rotation, the canary outside the upstream, no interrupted canary
//! deploy whose journal a new run would lose.

use super::error::RolloutError;
use super::journal;
use crate::fleet::{Fleet, InstanceHandle, UnknownInstance};
use crate::lb::Backend;

/// Which instances a run updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// The fleet's instances (all, or `RolloutOptions::only`).
    Fleet,
    /// The canary instance alone, behind its cohort route.
    Canary,
}

impl Target {
    /// The instances of `fleet` a run over this target with `only` updates, in order.
    pub(crate) fn select<'f>(
        self,
        fleet: &'f Fleet,
        only: &[String],
    ) -> Result<Vec<&'f InstanceHandle>, RolloutError> {
        match self {
            Target::Fleet => Ok(fleet.select(only)?),
            Target::Canary => {
                let canary = fleet.canary.as_ref().ok_or(RolloutError::NoCanary)?;
                if fleet.canary_route.is_none() {
                    return Err(RolloutError::NoCanary);
                }
                if let Some(other) = only.iter().find(|o| o.as_str() != canary.name()) {
                    return Err(UnknownInstance {
                        name: other.clone(),
                        available: canary.name().to_string(),
                    }
                    .into());
                }
                Ok(vec![canary])
            }
        }
    }

    /// Before any change: a fleet instance must be in rotation (a resumed rollout expects
    /// its own instance out); the canary must not be in the upstream.
    pub(crate) fn check(
        self,
        fleet: &Fleet,
        selected: &[&InstanceHandle],
        backends: &[Backend],
        resumed: bool,
    ) -> Result<(), RolloutError> {
        match self {
            Target::Fleet if !resumed => {
                let out: Vec<String> = selected
                    .iter()
                    .filter(|i| !is_enabled(backends, &i.config.backend))
                    .map(|i| i.name().to_string())
                    .collect();
                if !out.is_empty() {
                    return Err(RolloutError::NotInRotation { instances: out });
                }
                Ok(())
            }
            Target::Fleet => Ok(()),
            Target::Canary => check_canary_not_in_upstream(fleet, selected, backends),
        }
    }
}

/// Whether `backends` has `address` in rotation.
pub(crate) fn is_enabled(backends: &[Backend], address: &str) -> bool {
    backends
        .iter()
        .any(|b| b.address == address && b.state.is_enabled())
}

/// The canary is updated outside the upstream's rotation: if the upstream lists its backend
/// as a server, stopping it would cut requests nginx still sends there.
fn check_canary_not_in_upstream(
    fleet: &Fleet,
    selected: &[&InstanceHandle],
    backends: &[Backend],
) -> Result<(), RolloutError> {
    for canary in selected {
        if let Some(b) = backends.iter().find(|b| b.address == canary.config.backend) {
            return Err(RolloutError::CanaryInUpstream {
                instance: canary.name().to_string(),
                backend: b.address.clone(),
                upstream: fleet.lb_config.upstream.clone(),
                line: b.line,
            });
        }
    }
    Ok(())
}

/// A new run must not start over an interrupted canary deploy that closed an open route
/// and has not put it back: its journal, the only record that the route was open, would be
/// replaced, and the cohort would stay shut out. Resuming it, or deciding by hand with
/// `canary open` / `canary close` (which update that journal), clears the way.
pub(crate) async fn check_no_interrupted_canary_deploy(fleet: &Fleet) -> Result<(), RolloutError> {
    let Some(j) = journal::load(fleet.lb_transport.as_ref(), &fleet.lb_state_dir).await? else {
        return Ok(());
    };
    if !j.is_unfinished_canary_deploy() {
        return Ok(());
    }
    let remembered_open = j.instances.iter().any(|e| e.canary_was_open == Some(true));
    if !remembered_open {
        return Ok(());
    }
    let Some(route) = fleet.canary_route.as_ref() else {
        return Ok(());
    };
    let rule = route.rule().await?;
    if rule.open {
        return Ok(());
    }
    Err(RolloutError::InterruptedCanaryDeploy {
        rollout_id: j.rollout_id,
        file: rule.file,
        line: rule.line,
    })
}
