//! An instance's step run with its events, journal mark and timing.

use tokio::time::Instant;

use super::ctx::Ctx;
use super::event::{Event, Step};
use super::step::{Failure, StepError, fail};
use crate::fleet::InstanceHandle;

/// Runs `body` as step `step` of `inst`: events, journal, timing.
pub(crate) async fn step<F>(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    step: Step,
    body: F,
) -> Result<(), Failure>
where
    F: std::future::Future<Output = Result<Option<String>, StepError>>,
{
    step_with(ctx, inst, step, async {
        body.await.map(|detail| ((), detail))
    })
    .await
}

/// [`step`] for a body that also returns a value.
pub(crate) async fn step_with<T, F>(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    step: Step,
    body: F,
) -> Result<T, Failure>
where
    F: std::future::Future<Output = Result<(T, Option<String>), StepError>>,
{
    // The journal's mark goes out with the step's first command, not before it: one
    // round trip less per step. The step's own durable facts (kept_previous, war_touched)
    // are still written before what needs them, and the next step starts only once this
    // mark is written, so the journal names the step in progress or, while its first
    // command runs, the one before (a resume redoes an unfinished instance from its
    // Disable step either way).
    let (_, done) = tokio::join!(
        ctx.set_step(inst.name(), step),
        timed(ctx, inst, step, body)
    );
    done
}

/// Runs `body` as step `step` of `inst` with its events and timing, without its journal
/// mark (written by the caller).
pub(crate) async fn timed<T, F>(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    step: Step,
    body: F,
) -> Result<T, Failure>
where
    F: std::future::Future<Output = Result<(T, Option<String>), StepError>>,
{
    let t = Instant::now();
    ctx.env.emitter.emit(Event::StepStarted {
        instance: inst.name().to_string(),
        step,
    });
    let (value, detail) = body.await.map_err(fail(step))?;
    ctx.env.emitter.emit(Event::StepFinished {
        instance: inst.name().to_string(),
        step,
        seconds: t.elapsed().as_secs_f64(),
        detail,
    });
    Ok(value)
}
