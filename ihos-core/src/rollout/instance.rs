//! One instance's update, step by step.
//!
//! Once an instance is out of rotation, every way out of [`update_instance`] leaves it
//! either on the new WAR and back in rotation, or (after a failure) on its previous release
//! and back in rotation — or reports loudly that it could not, so a human can step in.

use tokio::time::Instant;

use super::cancel::StopLevel;
use super::ctx::Ctx;
use super::drain::drain;
use super::event::{Event, Step};
use super::health::wait_healthy;
use super::hooks::{self, hook_point};
use super::journal::InstanceStatus;

use super::log_scan::scan_log;
use super::release::{discard_previous, stage_previous};
use super::replace_war::stop_and_replace;
use super::report::{InstanceResult, Problem};
use super::restore::{Progress, restore};
use super::rotation;
use super::step::{Failure, StepError, fail};
use super::timed_step::{step, step_with, timed};
use super::transition;
use crate::config::{HookOn, OnFailure};
use crate::fleet::InstanceHandle;
use crate::transport::remote;

/// Where [`update_instance`] left an instance.
// One per instance, moved once: the size difference costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Updating {
    /// On the new WAR and back in rotation: its record is still to be written
    /// ([`super::record::record_updated`]), which the next instance does not wait for.
    InRotation {
        /// When its update began.
        started: Instant,
    },
    /// Finished otherwise (not updated, rolled back, not restored).
    Done(InstanceResult),
}

/// `taken_out_by`: the instance whose return already took this one out of rotation (one
/// reload for both), if any.
pub(crate) async fn update_instance(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    taken_out_by: Option<String>,
) -> Updating {
    let started = Instant::now();
    let name = inst.name().to_string();
    let (mut progress, at_record, checked) = {
        let entry = ctx.run.entry(&name).await;
        let e = entry.as_ref();
        let progress = Progress {
            kept_previous: e.is_some_and(|e| e.kept_previous),
            war_touched: e.is_some_and(|e| e.war_touched),
            ..Progress::default()
        };
        let at_record = e.is_some_and(|e| {
            e.status == InstanceStatus::InProgress && e.step == Some(Step::Record)
        });
        let checked = e.is_some_and(|e| {
            (e.hooks_done.iter()).any(|id| id.starts_with(HookOn::PostInstance.as_str()))
        });
        (progress, at_record, checked)
    };
    // A run cut off while this one's record was written (the next instance was under way
    // by then): it came back into rotation on the new WAR. If it still is, only its record
    // is missing.
    if at_record && only_record_missing(ctx, inst).await {
        return Updating::InRotation { started };
    }
    // Redone from its Disable step, it is started again: what its post-instance hooks
    // checked was the container before.
    if checked {
        ctx.update_entry(&name, |e| {
            e.hooks_done
                .retain(|id| !id.starts_with(HookOn::PostInstance.as_str()))
        })
        .await;
    }
    let failure = match steps(ctx, inst, &mut progress, taken_out_by.as_deref()).await {
        Ok(()) => {
            // Before the next instance starts, the journal says this one is back: its
            // Record mark, which a resume takes for "only the record is missing".
            ctx.set_step(&name, Step::Record).await;
            return Updating::InRotation { started };
        }
        Err(f) => f,
    };
    let (result, status) = if failure.stopped() && !progress.disabled {
        // Stopped before it left rotation: nothing to undo.
        (InstanceResult::NotUpdated, InstanceStatus::Pending)
    } else if failure.stopped() {
        stopped(ctx, inst, failure.step).await
    } else {
        // Said before the rollback, not after it: no instance leaves rotation from now on,
        // and the others of this wave waiting for it come back without waiting any more.
        ctx.run.handoff.set_failed();
        failed(ctx, inst, failure, progress).await
    };
    // Back in rotation, or left out where the load balancer says so.
    ctx.run.leaving.back(&inst.config.backend);
    let error = match &result {
        InstanceResult::RolledBack(p) | InstanceResult::NotRestored(p) => Some(p.to_string()),
        _ => None,
    };
    ctx.set_status(&name, status, error).await;
    Updating::Done(result)
}

/// Whether `inst` is in rotation on every load balancer, running and healthy, with the
/// run's WAR deployed (a host rebooted since the crash may have left it stopped: then it
/// is redone, its health checked again).
async fn only_record_missing(ctx: Ctx<'_>, inst: &InstanceHandle) -> bool {
    let (Ok(source), Ok(war)) = (ctx.source(inst), inst.war_path()) else {
        return false;
    };
    let h = &inst.config.health;
    let (backends, deployed, state, probe) = tokio::join!(
        ctx.env.fleet.lb.backends(),
        remote::sha256_if_exists(inst.transport.as_ref(), &war),
        inst.container.state(),
        remote::probe(inst.transport.as_ref(), &h.url, h.timeout.0)
    );
    let in_rotation = backends.is_ok_and(|b| {
        b.iter()
            .any(|b| b.address == inst.config.backend && b.state.is_enabled())
    });
    in_rotation
        && state.is_ok_and(|s| s.running)
        && probe.is_ok_and(|status| status == Some(h.expect_status))
        && deployed.is_ok_and(|d| d.as_ref() == Some(&source.sha256))
}

/// Stopped while draining: the old version still runs; put it back.
async fn stopped(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    step: Step,
) -> (InstanceResult, InstanceStatus) {
    match rotation::put_back(ctx, inst).await {
        Ok(_) => (InstanceResult::NotUpdated, InstanceStatus::Pending),
        Err(error) => (
            InstanceResult::NotRestored(Problem::NotPutBack { step, error }),
            InstanceStatus::Failed,
        ),
    }
}

/// A step failed: roll back, unless nothing changed or the policy says halt.
async fn failed(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    Failure { step, error }: Failure,
    progress: Progress,
) -> (InstanceResult, InstanceStatus) {
    let name = inst.name().to_string();
    ctx.env.emitter.emit(Event::InstanceFailed {
        instance: name.clone(),
        step,
        error: error.to_string(),
    });
    if !progress.disabled {
        // Nothing changed (the load balancer restores its own config on failure).
        return (
            InstanceResult::RolledBack(Problem::Failed { step, error }),
            InstanceStatus::RolledBack,
        );
    }
    if ctx.env.policy.on_failure == OnFailure::Halt {
        return (
            InstanceResult::NotRestored(Problem::Halted { step, error }),
            InstanceStatus::Failed,
        );
    }
    ctx.env.emitter.emit(Event::RollbackStarted {
        instance: name.clone(),
    });
    match restore(ctx, inst, progress).await {
        Ok(()) => {
            ctx.env.emitter.emit(Event::RolledBack { instance: name });
            (
                InstanceResult::RolledBack(Problem::Failed { step, error }),
                InstanceStatus::RolledBack,
            )
        }
        Err((rollback, left)) => {
            ctx.env.emitter.emit(Event::RollbackFailed {
                instance: name,
                error: rollback.to_string(),
            });
            (
                InstanceResult::NotRestored(Problem::RollbackFailed {
                    step,
                    error,
                    rollback,
                    left,
                }),
                InstanceStatus::Failed,
            )
        }
    }
}

async fn steps(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    progress: &mut Progress,
    taken_out_by: Option<&str>,
) -> Result<(), Failure> {
    let env = ctx.env;
    // Taken out already by the previous one's return: a failure from here on must put it
    // back.
    progress.disabled = taken_out_by.is_some();
    if hooks::any(env.fleet, HookOn::PreInstance) {
        hook_point(ctx, inst, HookOn::PreInstance, Step::PreInstanceHooks).await?;
        // Its hooks took time: an instance may have failed, or a stop been asked for,
        // meanwhile. Then it does not leave rotation.
        if ctx.run.handoff.failed() || env.cancel.level() >= StopLevel::AfterCurrent {
            return Err(Failure {
                step: Step::PreInstanceHooks,
                error: StepError::Stopped,
            });
        }
    }
    // The container's state (the drain counts its main process's connections) is asked
    // while the instance leaves rotation, or was beside the return that took it out (a
    // process gone since is looked up again by the drain).
    let read = (taken_out_by.and_then(|_| ctx.run.take_state(inst.name())))
        .filter(|s| s.running && s.pid.is_some());
    let disable = async {
        if let Some(previous) = taken_out_by {
            return Ok(Some(format!(
                "out of rotation since {previous} came back: one change and one reload for both"
            )));
        }
        if !env.is_canary(inst) {
            let (lb, max) = (env.fleet.lb.as_ref(), env.policy.max_unavailable);
            ctx.run.leaving.check(lb, max, &inst.config.backend).await?;
        }
        let change = rotation::take_out(ctx, inst).await.inspect_err(|e| {
            // When restoring nginx's previous config failed too, what nginx runs is
            // unknown (it may have taken the instance out): not "nothing changed", but a
            // rollback, which puts it back and makes nginx apply that, or says it could not.
            if e.is_lb_restore_failure() {
                progress.disabled = true;
            }
        })?;
        Ok(Some(change.message))
    };
    let (disabled, state) = tokio::join!(
        async {
            match taken_out_by {
                // Journaled as in its Disable step by the swap (rollout/transition.rs).
                Some(_) => {
                    timed(ctx, inst, Step::Disable, async {
                        disable.await.map(|d| ((), d))
                    })
                    .await
                }
                None => step(ctx, inst, Step::Disable, disable).await,
            }
        },
        async {
            match read {
                Some(state) => Ok(state),
                None => inst.container.state().await,
            }
        }
    );
    disabled?;
    progress.disabled = true;
    let state = state.map_err(fail(Step::Drain))?;
    let source = ctx.source(inst).map_err(fail(Step::KeepPrevious))?;
    let war = inst.war_path().map_err(fail(Step::KeepPrevious))?;
    // The previous release is saved while the instance drains: it only reads the deployed
    // WAR (which nothing changes until the Remove step) and writes outside webapps, and the
    // drain is a wait of at least its idle period. Its step's events and journal mark come
    // after the drain's, in the order a reader expects.
    let already_kept = progress.kept_previous;
    let (drained, staged) = tokio::join!(
        async {
            match state.running {
                true => {
                    step_with(ctx, inst, Step::Drain, async {
                        let drained = drain(env, inst, state.pid).await?;
                        Ok((drained.pid, Some(drained.detail)))
                    })
                    .await
                }
                false => Ok(None),
            }
        },
        async {
            let started = Instant::now();
            let staged = match already_kept {
                true => Ok(None),
                false => stage_previous(inst, &war, &source.sha256).await.map(Some),
            };
            (staged, started.elapsed())
        }
    );
    let main_pid = match drained {
        Ok(pid) => pid,
        Err(f) => {
            // The previous release stays as it was: the copy does not go in place.
            if let (Ok(Some(staged)), _) = staged {
                discard_previous(inst, staged).await;
            }
            return Err(f);
        }
    };

    // A save that already failed stops nothing: the instance goes back as it runs.
    let staged = match staged {
        (Err(e), _) => return Err(fail(Step::KeepPrevious)(e)),
        (Ok(staged), took) => (staged, took),
    };
    let marks = stop_and_replace(ctx, inst, progress, staged, source, main_pid).await?;
    step(ctx, inst, Step::Start, async {
        inst.container.start().await?;
        Ok(None)
    })
    .await?;

    let line_seen_at = step_with(ctx, inst, Step::WaitHealthy, async {
        let (detail, seen) = wait_healthy(env, inst, Some(&marks)).await?;
        Ok((seen, Some(detail)))
    })
    .await?;

    step(ctx, inst, Step::ScanLog, async {
        scan_log(env, inst, &marks, line_seen_at).await.map(Some)
    })
    .await?;

    // A smoke test against the instance alone, before users reach it; a failure is rolled
    // back as a failed health check is.
    hook_point(ctx, inst, HookOn::PostInstance, Step::PostInstanceHooks).await?;

    // Its journal mark is written by the change (with the next one's intent for a swap).
    timed(ctx, inst, Step::Enable, async {
        progress.enabling = true;
        let change = transition::put_back(ctx, inst).await?;
        Ok(((), Some(change.message)))
    })
    .await?;
    progress.disabled = false;
    Ok(())
}
