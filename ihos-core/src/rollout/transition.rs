//! Putting an instance back into rotation with the next one out in the same change: one
//! edit, one `nginx -t`, one reload per transition ([`LoadBalancer::swap`]), where two
//! reloads each closed the old workers' idle keep-alive connections.
//!
//! Same safety as two changes: the instance coming back is healthy and its log clean (this
//! is its Enable step), the one going out is the next not yet started nor claimed by
//! another swap (held back from starting meanwhile: [`Handoff::claim_next`]; the swaps of
//! a wave's instances coming back at the same moment are made as one change), and the number out of rotation does not
//! change (checked against what the load balancer says). The next instance then starts with
//! its Disable step done. If the change is refused, the instance comes back alone and the
//! next one takes itself out as usual; if nginx's state is unknown after it (its restore
//! failed), the next one is put back and this one's Enable fails, so its rollback handles it.
//!
//! [`LoadBalancer::swap`]: crate::lb::LoadBalancer::swap
//! [`Handoff::claim_next`]: super::handoff::Handoff::claim_next

use super::cancel::StopLevel;
use super::ctx::Ctx;
use super::drain::check_unavailable_after_swap;
use super::event::{Event, Step};
use super::journal::{InstanceStatus, JournalEntry};
use super::rotation;
use super::step::StepError;
use crate::fleet::InstanceHandle;
use crate::lb::{LbChange, LbError};

/// Puts `inst` back into rotation, taking the next instance out in the same change when
/// that is safe; otherwise puts it back alone.
pub(crate) async fn put_back(ctx: Ctx<'_>, inst: &InstanceHandle) -> Result<LbChange, StepError> {
    let handoff = &ctx.run.handoff;
    let env = ctx.env;
    // The wave comes back together: its members wait for each other twice, once healthy
    // (before claiming their next) and at their change of the load balancer, so that
    // their changes are asked for at the same moment and made as one (with the next
    // wave's going out).
    handoff.wait_for_wave(inst.name()).await;
    // Its Enable step's journal mark is written here (the step has none of its own): beside
    // the change when it comes back alone, with the next one's intent for a swap.
    let alone = || async {
        handoff.wait_for_wave_change(inst.name()).await;
        let ((), back) = tokio::join!(
            ctx.set_step(inst.name(), Step::Enable),
            rotation::put_back(ctx, inst)
        );
        back
    };
    if env.is_canary(inst) || handoff.failed() || env.cancel.level() >= StopLevel::AfterCurrent {
        return alone().await;
    }
    // Held through the swap: the next instance cannot start (and take itself out) meanwhile.
    let Some(claim) = handoff.claim_next() else {
        return alone().await;
    };
    let (next, backend) = (claim.name.clone(), claim.backend.clone());
    // The intent goes in the journal while the load balancer's rotation is checked (one
    // round trip's time): a crash right after the swap leaves a record a resume uses to
    // put the next one back (a no-op if the swap never happened). No record, no swap. This
    // one's Enable mark goes in the same append.
    let by = inst.name().to_string();
    let unrecord = || async {
        ctx.update_entry(&next, |e| {
            e.status = InstanceStatus::Pending;
            e.step = None;
            e.taken_out_by = None;
        })
        .await;
    };
    // A swap leaves the number out as it is (one back, one out, in one change), so the
    // next one is not recorded as leaving (rollout/leaving.rs): every check made meanwhile
    // counts this one, still recorded until the swap is made.
    let (checked, journaled) = tokio::join!(
        check_unavailable_after_swap(env, &inst.config.backend, &backend),
        ctx.run.update_entries_strict(
            env,
            [
                (
                    inst.name(),
                    Box::new(|e: &mut JournalEntry| {
                        e.status = InstanceStatus::InProgress;
                        e.step = Some(Step::Enable);
                    }) as Box<dyn FnOnce(&mut JournalEntry)>
                ),
                (
                    next.as_str(),
                    Box::new(|e: &mut JournalEntry| {
                        e.status = InstanceStatus::InProgress;
                        e.step = Some(Step::Disable);
                        e.taken_out_by = Some(by);
                    })
                ),
            ]
        )
    );
    // No swap after all: the record goes, the next one is free to start (and take itself
    // out), and this one comes back alone.
    let no_swap = |claim| async move {
        unrecord().await;
        drop(claim);
        alone().await
    };
    if let Err(e) = checked {
        // The next one would fail this check itself.
        tracing::debug!(error = %e, "no swap");
        return no_swap(claim).await;
    }
    if let Err(e) = journaled {
        tracing::debug!(error = %e, "no swap: the journal cannot record it");
        return no_swap(claim).await;
    }
    handoff.wait_for_wave_change(inst.name()).await;
    if handoff.failed() || env.cancel.level() >= StopLevel::AfterCurrent {
        // Another failed or a stop came while the wave gathered: nobody else goes out
        // (the wait in `alone` is over already: it returns at once).
        return no_swap(claim).await;
    }
    // The next one's container state, which its drain needs, is read beside the change
    // (nothing of it changes meanwhile): one `docker inspect` less after the swap, on the
    // path of every transition.
    let next_state = async {
        match env.fleet.instance(&next) {
            Some(i) => i.container.state().await.ok(),
            None => None,
        }
    };
    let (swapped, next_state) = tokio::join!(
        env.fleet.lb.swap(&inst.config.backend, &backend),
        next_state
    );
    match swapped {
        Ok(mut change) => {
            if let Some(state) = next_state {
                ctx.run.note_state(&next, state);
            }
            ctx.run.leaving.back(&inst.config.backend);
            claim.taken_out_by(inst.name());
            change.message = format!(
                "{} back in rotation and {} out, in one change and one reload ({})",
                inst.name(),
                next,
                change.message
            );
            Ok(change)
        }
        Err(e @ LbError::RestoreFailed { .. }) => {
            // What nginx runs is unknown: it may have taken the next one out already. Put
            // that one back (and make nginx apply the file when it already says so), then
            // let this one's Enable fail: its rollback handles an instance whose state is
            // unknown, and no further instance starts. The claim is held meanwhile: the
            // next one cannot start and take itself out.
            handoff.set_failed();
            let back_in = match env.fleet.lb.enable(&backend).await {
                // The file already said so: nginx may still run the swapped config.
                Ok(c) if !c.changed() => env.fleet.lb.apply().await,
                Ok(_) => Ok(()),
                Err(again) => Err(again),
            };
            match back_in {
                Ok(()) => unrecord().await,
                Err(again) => env.emitter.emit(Event::Warning {
                    instance: Some(next.clone()),
                    message: format!(
                        "after a failed change, putting {next} back into rotation failed too: {again}"
                    ),
                }),
            }
            drop(claim);
            Err(e.into())
        }
        Err(e) => {
            unrecord().await;
            drop(claim);
            env.emitter.emit(Event::Warning {
                instance: Some(inst.name().to_string()),
                message: format!(
                    "putting {} back and taking {} out in one change failed ({e}); {} comes back on its own",
                    inst.name(),
                    next,
                    inst.name()
                ),
            });
            rotation::put_back(ctx, inst).await
        }
    }
}
