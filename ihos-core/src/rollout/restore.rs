//! A failed instance back to its previous release and into rotation: the undo of however
//! far its update got.

use super::ctx::Ctx;
use super::drain::drain;
use super::health::{log_marks, wait_healthy};
use super::release::restore_previous;
use super::report::Left;
use super::rotation;
use super::step::StepError;
use crate::fleet::InstanceHandle;

/// How far an update got: what its rollback must undo.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Progress {
    pub disabled: bool,
    pub stopped: bool,
    pub war_touched: bool,
    pub kept_previous: bool,
    /// The enable began: nginx may have sent it requests (a reload that went through
    /// before the connection dropped), so a rollback drains before stopping it.
    pub enabling: bool,
}

impl Progress {
    /// Where the instance is when its rollback fails (at its first step that changes
    /// anything, which is where rollbacks fail in practice: the host or nginx unreachable).
    pub(crate) fn left(self) -> Left {
        if self.enabling {
            Left::NewReleaseRotationUnknown
        } else if self.war_touched {
            Left::OutReleaseUnknown
        } else if self.stopped {
            Left::OutStopped
        } else {
            Left::OutNotStopped
        }
    }
}

/// Back to the previous release and into rotation; on failure, the error and where the
/// instance was left when the rollback stopped.
pub(crate) async fn restore(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    progress: Progress,
) -> Result<(), (StepError, Left)> {
    let env = ctx.env;
    let mut left = progress.left();
    let at = |left: Left| move |e: StepError| (e, left);
    // A failed enable may have reached nginx (the reload went through, then the connection
    // dropped; or restoring the previous config failed): requests may be in flight to the
    // instance. Out of rotation and drained before it is stopped, so none is cut.
    if progress.enabling {
        rotation::take_out(ctx, inst)
            .await
            .map_err(StepError::during("out of rotation before the rollback"))
            .map_err(at(left))?;
        left = Left::OutNewReleaseRunning;
        match drain(env, inst, None).await {
            // A second Ctrl-C: make it consistent now.
            Ok(_) | Err(StepError::Stopped) => {}
            Err(e) => return Err((StepError::during("draining before the rollback")(e), left)),
        }
    }
    let restarted = progress.stopped || progress.war_touched;
    if restarted {
        inst.container
            .stop(env.policy.stop_grace.0)
            .await
            .map_err(|e| StepError::during("stopping")(e.into()))
            .map_err(at(left))?;
        left = if progress.war_touched {
            Left::OutReleaseUnknown
        } else {
            Left::OutStopped
        };
    }
    if progress.war_touched {
        restore_previous(inst).await.map_err(at(left))?;
        left = Left::OutStopped;
    }
    let date = crate::transport::remote::host_date(inst.transport.as_ref())
        .await
        .map_err(|e| at(left)(e.into()))?;
    let marks = log_marks(inst, &date).await.map_err(at(left))?;
    if restarted {
        inst.container
            .start()
            .await
            .map_err(|e| StepError::during("starting")(e.into()))
            .map_err(at(left))?;
        left = Left::OutPreviousNotHealthy;
    }
    // A container that was never stopped (a failure while draining) writes no new startup
    // line: its health is the container and the HTTP probe.
    wait_healthy(env, inst, restarted.then_some(&marks))
        .await
        .map_err(StepError::during("previous release"))
        .map_err(at(left))?;
    left = Left::OutPreviousHealthy;
    let change = rotation::put_back(ctx, inst)
        .await
        .map_err(StepError::during("back into rotation"))
        .map_err(at(left))?;
    if !change.changed() {
        // The file already says "enabled", but after a failed restore of nginx's config
        // nginx itself may still run one without the instance: make it apply the file.
        env.fleet
            .lb
            .apply()
            .await
            .map_err(|e| StepError::during("back into rotation (applying the config)")(e.into()))
            .map_err(at(left))?;
    }
    Ok(())
}
