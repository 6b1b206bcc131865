//! The instances of a run, updated in order, at most `max_unavailable` at a time (an
//! instance back in rotation takes the next one out with it), and what a resume puts back
//! first.

use futures_util::StreamExt;

use super::cancel::StopLevel;
use super::ctx::Ctx;
use super::error::RolloutError;
use super::event::{Event, Step};
use super::instance::{Updating, update_instance};
use super::journal::InstanceStatus;
use super::record::record_updated;
use super::report::{InstanceResult, Problem};
use super::rotation;
use crate::fleet::InstanceHandle;

/// Updates `todo` in order, `max_unavailable` at a time; after a failure or a stop request
/// no further instance starts. An instance back in rotation on the new WAR makes way for
/// the next one at once: its record is written meanwhile. Results in `todo`'s order.
pub(crate) async fn update_all(
    ctx: Ctx<'_>,
    todo: &[&InstanceHandle],
) -> Vec<(String, InstanceResult)> {
    let handoff = &ctx.run.handoff;
    let mut instances = futures_util::stream::iter(todo.iter().copied())
        .map(|inst| async move {
            let taken_out_by = handoff.start(inst.name()).await;
            if handoff.failed() || ctx.env.cancel.level() >= StopLevel::AfterCurrent {
                let r = match taken_out_by {
                    // The previous one's return took it out; it goes back untouched.
                    Some(_) => not_started(ctx, inst).await,
                    None => InstanceResult::NotUpdated,
                };
                handoff.ended(inst.name());
                return (inst, Updating::Done(r));
            }
            let r = update_instance(ctx, inst, taken_out_by).await;
            // Its wave no longer waits for it (it came back or ended otherwise).
            handoff.ended(inst.name());
            if matches!(
                r,
                Updating::Done(InstanceResult::RolledBack(_) | InstanceResult::NotRestored(_))
            ) {
                handoff.set_failed();
            }
            (inst, r)
        })
        .buffered(ctx.env.policy.max_unavailable.max(1));
    let mut records = futures_util::stream::FuturesUnordered::new();
    let mut results = Vec::new();
    loop {
        // Biased: the next instance starts (and reads the stop request) before the record
        // of the one that made way for it is begun.
        tokio::select! {
            biased;
            next = instances.next() => match next {
                Some((inst, Updating::InRotation { started })) => records.push(async move {
                    (inst.name().to_string(), record_updated(ctx, inst, started).await)
                }),
                Some((inst, Updating::Done(r))) => results.push((inst.name().to_string(), r)),
                None => break,
            },
            Some(done) = records.next(), if !records.is_empty() => results.push(done),
        }
    }
    while let Some(done) = records.next().await {
        results.push(done);
    }
    let order: std::collections::HashMap<&str, usize> = todo
        .iter()
        .enumerate()
        .map(|(n, i)| (i.name(), n))
        .collect();
    results.sort_by_key(|(name, _)| order.get(name.as_str()).copied());
    results
}

/// A crash between one instance's return and the next one's own turn left that next one out
/// of rotation with nothing else done to it: back in before anything else (its turn takes
/// it out again).
pub(crate) async fn put_back_taken_out_early(ctx: Ctx<'_>) -> Result<(), RolloutError> {
    let early: Vec<String> = {
        let j = ctx.run.journal.lock().await;
        j.instances
            .iter()
            .filter(|e| {
                e.taken_out_by.is_some()
                    && e.status == InstanceStatus::InProgress
                    && e.step == Some(Step::Disable)
            })
            .map(|e| e.instance.clone())
            .collect()
    };
    // Whatever this resume selects: the journal says it is out.
    let fleet = ctx.env.fleet;
    for inst in fleet
        .instances
        .iter()
        .filter(|i| early.contains(&i.name().to_string()))
    {
        // Nothing was done to it, but the host may have changed since (a reboot): only a
        // running instance goes back.
        let running = inst.container.state().await.is_ok_and(|s| s.running);
        if !running {
            return Err(RolloutError::Resume(format!(
                "{} was taken out of rotation ahead of its turn and its container is not running now: start it and `ihos enable {}`, then resume",
                inst.name(),
                inst.name()
            )));
        }
        let change = rotation::put_back(ctx, inst).await.map_err(|e| {
            RolloutError::Resume(format!(
                "{} was taken out of rotation ahead of its turn and could not be put back: {e}",
                inst.name()
            ))
        })?;
        ctx.update_entry(inst.name(), |e| {
            e.status = InstanceStatus::Pending;
            e.step = None;
            e.taken_out_by = None;
        })
        .await;
        ctx.env.emitter.emit(Event::Warning {
            instance: Some(inst.name().to_string()),
            message: format!(
                "was out of rotation ahead of its turn (taken out with the previous instance's return before the interruption): put back ({})",
                change.message
            ),
        });
    }
    Ok(())
}

/// An instance that was taken out of rotation ahead of its turn and will not be updated
/// (the run stops): back in rotation, as it was.
async fn not_started(ctx: Ctx<'_>, inst: &InstanceHandle) -> InstanceResult {
    match rotation::put_back(ctx, inst).await {
        Ok(_) => {
            ctx.set_status(inst.name(), InstanceStatus::Pending, None)
                .await;
            InstanceResult::NotUpdated
        }
        Err(error) => {
            let problem = Problem::NotPutBack {
                step: Step::Disable,
                error,
            };
            ctx.set_status(
                inst.name(),
                InstanceStatus::Failed,
                Some(problem.to_string()),
            )
            .await;
            InstanceResult::NotRestored(problem)
        }
    }
}
