//! One instance's update, step by step.
//!
//! Once an instance is out of rotation, every way out of [`update_instance`] leaves it
//! either on the new WAR and back in rotation, or (after a failure) on its previous release
//! and back in rotation — or reports loudly that it could not, so a human can step in.

use tokio::time::Instant;

use super::ctx::Ctx;
use super::drain::{check_unavailable, drain};
use super::event::{Event, Step};
use super::health::{log_marks, wait_healthy};
use super::journal::InstanceStatus;
use super::log_scan::scan_log;
use super::record::record_deployment;
use super::release::{install, keep_previous, remove_deployed};
use super::report::{InstanceResult, Problem};
use super::restore::{Progress, restore};
use super::rotation;
use super::step::{Failure, StepError, fail};
use super::transition;
use crate::config::OnFailure;
use crate::fleet::InstanceHandle;

/// `taken_out_by`: the instance whose return already took this one out of rotation (one
/// reload for both), if any.
pub(crate) async fn update_instance(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    taken_out_by: Option<String>,
) -> InstanceResult {
    let started = Instant::now();
    let name = inst.name().to_string();
    let mut progress = {
        let j = ctx.run.journal.lock().await;
        let e = j.entry(&name);
        Progress {
            kept_previous: e.is_some_and(|e| e.kept_previous),
            war_touched: e.is_some_and(|e| e.war_touched),
            ..Progress::default()
        }
    };
    let failure = match steps(ctx, inst, &mut progress, taken_out_by.as_deref()).await {
        Ok(()) => {
            // The new WAR serves, in rotation: whatever happens to its record, it is
            // updated, and a missing record is said as such, not as a rollback.
            let recorded = step(ctx, inst, Step::Record, async {
                record_deployment(ctx, inst).await.map(|()| None)
            })
            .await;
            ctx.set_status(&name, InstanceStatus::Updated, None).await;
            ctx.env.emitter.emit(Event::InstanceUpdated {
                instance: name.clone(),
                seconds: started.elapsed().as_secs_f64(),
            });
            return match recorded {
                Ok(()) => InstanceResult::Updated,
                Err(f) => {
                    let problem = Problem::RecordMissing { error: f.error };
                    ctx.env.emitter.emit(Event::Warning {
                        instance: Some(name),
                        message: problem.to_string(),
                    });
                    InstanceResult::UpdatedWithoutRecord(problem)
                }
            };
        }
        Err(f) => f,
    };
    let (result, status) = if failure.stopped() {
        stopped(ctx, inst, failure.step).await
    } else {
        failed(ctx, inst, failure, progress).await
    };
    let error = match &result {
        InstanceResult::RolledBack(p) | InstanceResult::NotRestored(p) => Some(p.to_string()),
        _ => None,
    };
    ctx.set_status(&name, status, error).await;
    result
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

/// Runs `body` as step `step` of `inst`: events, journal, timing.
async fn step<F>(ctx: Ctx<'_>, inst: &InstanceHandle, step: Step, body: F) -> Result<(), Failure>
where
    F: std::future::Future<Output = Result<Option<String>, StepError>>,
{
    step_with(ctx, inst, step, async {
        body.await.map(|detail| ((), detail))
    })
    .await
}

/// [`step`] for a body that also returns a value.
async fn step_with<T, F>(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    step: Step,
    body: F,
) -> Result<T, Failure>
where
    F: std::future::Future<Output = Result<(T, Option<String>), StepError>>,
{
    ctx.set_step(inst.name(), step).await;
    ctx.env.emitter.emit(Event::StepStarted {
        instance: inst.name().to_string(),
        step,
    });
    let t = Instant::now();
    let (value, detail) = body.await.map_err(fail(step))?;
    ctx.env.emitter.emit(Event::StepFinished {
        instance: inst.name().to_string(),
        step,
        seconds: t.elapsed().as_secs_f64(),
        detail,
    });
    Ok(value)
}

async fn steps(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    progress: &mut Progress,
    taken_out_by: Option<&str>,
) -> Result<(), Failure> {
    let env = ctx.env;
    step(ctx, inst, Step::Disable, async {
        if let Some(previous) = taken_out_by {
            return Ok(Some(format!(
                "out of rotation since {previous} came back: one change and one reload for both"
            )));
        }
        if !env.is_canary(inst) {
            check_unavailable(env, &inst.config.backend).await?;
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
    })
    .await?;
    progress.disabled = true;

    let state = inst.container.state().await.map_err(fail(Step::Drain))?;
    if state.running {
        step(ctx, inst, Step::Drain, async {
            drain(env, inst).await.map(Some)
        })
        .await?;
    }

    step(ctx, inst, Step::Stop, async {
        progress.stopped = true;
        inst.container.stop(env.policy.stop_grace.0).await?;
        Ok(None)
    })
    .await?;

    let source = ctx.source(inst).map_err(fail(Step::KeepPrevious))?;
    let war = inst.war_path().map_err(fail(Step::KeepPrevious))?;
    step(ctx, inst, Step::KeepPrevious, async {
        if progress.kept_previous {
            return Ok(Some(
                "previous release already saved by this rollout".into(),
            ));
        }
        let detail = keep_previous(inst, &war, &source.sha256).await?;
        progress.kept_previous = true;
        ctx.update_entry(inst.name(), |e| e.kept_previous = true)
            .await;
        Ok(Some(detail))
    })
    .await?;

    step(ctx, inst, Step::Remove, async {
        progress.war_touched = true;
        ctx.update_entry(inst.name(), |e| e.war_touched = true)
            .await;
        remove_deployed(inst).await?;
        Ok(None)
    })
    .await?;

    step(ctx, inst, Step::Install, async {
        install(inst, &source.staged, &source.sha256)
            .await
            .map(Some)
    })
    .await?;

    let marks = step_with(ctx, inst, Step::Start, async {
        let marks = log_marks(inst).await?;
        inst.container.start().await?;
        Ok((marks, None))
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

    step(ctx, inst, Step::Enable, async {
        progress.enabling = true;
        let change = transition::put_back(ctx, inst).await?;
        Ok(Some(change.message))
    })
    .await?;
    progress.disabled = false;
    Ok(())
}
