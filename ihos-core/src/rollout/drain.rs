//! Out of rotation, then idle: the check that keeps invariant 1 before a backend leaves,
//! and the wait until no request to it is left.

use std::time::Duration;

use tokio::time::Instant;

use super::cancel::StopLevel;
use super::ctx::Env;
use super::event::Event;
use super::step::StepError;
use crate::fleet::InstanceHandle;
use crate::transport::remote;

/// How often drain and health are polled.
pub(crate) const POLL: Duration = Duration::from_secs(1);

/// Invariant 1: at most `max_unavailable` backends out of rotation. The scheduler keeps to
/// it; this checks what the load balancer actually says before taking one more out.
pub(crate) async fn check_unavailable(env: &Env<'_>, backend: &str) -> Result<(), StepError> {
    check_out_besides(env, &[backend]).await
}

/// [`check_unavailable`] for `out` leaving as `back` returns in the same change: the number
/// out of rotation afterwards is the others out now, plus `out`.
pub(crate) async fn check_unavailable_after_swap(
    env: &Env<'_>,
    back: &str,
    out: &str,
) -> Result<(), StepError> {
    check_out_besides(env, &[back, out]).await
}

/// Fails if `max_unavailable` or more backends other than `besides` are out of rotation.
async fn check_out_besides(env: &Env<'_>, besides: &[&str]) -> Result<(), StepError> {
    let backends = env.fleet.lb.backends().await?;
    let out: Vec<String> = backends
        .iter()
        .filter(|b| !b.state.is_enabled() && !besides.contains(&b.address.as_str()))
        .map(|b| b.address.clone())
        .collect();
    if out.len() >= env.policy.max_unavailable {
        return Err(StepError::TooManyUnavailable {
            out,
            max: env.policy.max_unavailable,
        });
    }
    Ok(())
}

/// Waits until nginx's old workers are gone and no connection to the instance remains for
/// `idle`, at least `min` and at most `max`. A second stop request ends it with
/// [`StepError::Stopped`].
pub(crate) async fn drain(env: &Env<'_>, inst: &InstanceHandle) -> Result<String, StepError> {
    let policy = env.policy.drain;
    let began = Instant::now();
    let mut idle_since: Option<Instant> = None;
    let mut last = (usize::MAX, usize::MAX);
    loop {
        if env.cancel.level() >= StopLevel::Now {
            return Err(StepError::Stopped);
        }
        let old_workers = env.fleet.lb.old_workers().await?;
        let state = inst.container.state().await?;
        let connections = match (state.running, state.pid) {
            (true, Some(pid)) => {
                remote::established_connections(
                    inst.transport.as_ref(),
                    pid,
                    inst.config.container_port,
                )
                .await?
            }
            _ => 0,
        };
        let waited = began.elapsed();
        if (connections, old_workers) != last {
            env.emitter.emit(Event::Draining {
                instance: inst.name().to_string(),
                connections,
                old_workers,
                waited: waited.as_secs_f64(),
            });
            last = (connections, old_workers);
        }
        if connections == 0 && old_workers == 0 {
            let since = *idle_since.get_or_insert_with(Instant::now);
            if waited >= policy.min.0 && since.elapsed() >= policy.idle.0 {
                return Ok(format!("idle after {:.1}s", waited.as_secs_f64()));
            }
        } else {
            idle_since = None;
        }
        if waited >= policy.max.0 {
            env.emitter.emit(Event::Warning {
                instance: Some(inst.name().to_string()),
                message: format!(
                    "drain reached its maximum ({}) with {connections} connection(s) and {old_workers} old nginx worker(s) left",
                    policy.max
                ),
            });
            return Ok(format!(
                "stopped waiting at the maximum, {:.0}s",
                waited.as_secs_f64()
            ));
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = env.cancel.reached(StopLevel::Now) => {}
        }
    }
}
