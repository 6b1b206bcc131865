//! Out of rotation, then idle: the check that keeps invariant 1 before a backend leaves,
//! and the wait until no request to it is left.

use std::time::Duration;

use tokio::time::Instant;

use super::cancel::StopLevel;
use super::ctx::Env;
use super::event::Event;
use super::leaving::within_limit;
use super::step::StepError;
use crate::fleet::InstanceHandle;
use crate::transport::remote;

/// How often drain and health are polled, `waited` into the wait: every quarter second at
/// first (an idle backend or a started Tomcat is seen a fraction of a second sooner, and
/// that fraction is paid once per instance), every second once the wait is long (a slow
/// drain or start then costs fewer commands).
pub(crate) fn poll_interval(waited: Duration) -> Duration {
    const FAST: Duration = Duration::from_millis(250);
    const SLOW: Duration = Duration::from_secs(1);
    const FAST_FOR: Duration = Duration::from_secs(20);
    if waited < FAST_FOR { FAST } else { SLOW }
}

/// How often the drain is polled, `waited` into it: every 50 ms in its first half second
/// and every 0.1 s to its first second (it begins as the reload that took the instance out
/// retires nginx's old workers, whose requests in flight end within a fraction of a
/// second, and the idle period counts from the first poll that sees them and the
/// connections gone: each poll sooner is that much sooner back), then as
/// [`poll_interval`].
fn drain_poll_interval(waited: Duration) -> Duration {
    if waited < Duration::from_millis(500) {
        Duration::from_millis(50)
    } else if waited < Duration::from_secs(1) {
        Duration::from_millis(100)
    } else {
        poll_interval(waited)
    }
}

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
    let out = env.fleet.lb.out_of_rotation().await?;
    within_limit(out, besides, env.policy.max_unavailable)
}

/// When to look again: a poll interval after the last poll began (the poll's own round
/// trip is part of the interval, not added to it), or sooner if the idle period (and the
/// minimum) would be complete before it, so that a drained instance is not kept waiting
/// for the poll after its idle period ends. That last poll is started `lead` early (about
/// its round trip, from the last one's): the idle period is measured between the polls'
/// answers, so it then answers as the period ends instead of a round trip after.
fn next_poll(
    began: Instant,
    poll_began: Instant,
    idle_since: Option<Instant>,
    min: Duration,
    idle: Duration,
    lead: Duration,
) -> Instant {
    let now = Instant::now();
    let regular = (poll_began + drain_poll_interval(now - began)).max(now);
    match idle_since {
        Some(since) => {
            let end = (since + idle).max(began + min);
            regular.min(end.checked_sub(lead).unwrap_or(end).max(now))
        }
        None => regular,
    }
}

/// How a drain ended.
pub(crate) struct Drained {
    /// For the step's report.
    pub detail: String,
    /// The container's main process whose connections the last poll counted (so it ran
    /// then, and the host sees it), if the container ran.
    pub pid: Option<u32>,
}

/// Waits until nginx's old workers are gone and no connection to the instance remains for
/// `idle`, at least `min` and at most `max`. A second stop request ends it with
/// [`StepError::Stopped`]. `pid`: the container's main process as just seen, if known (the
/// first poll then counts its connections at once too).
pub(crate) async fn drain(
    env: &Env<'_>,
    inst: &InstanceHandle,
    pid: Option<u32>,
) -> Result<Drained, StepError> {
    let policy = env.policy.drain;
    let began = Instant::now();
    let mut idle_since: Option<Instant> = None;
    let mut last = (usize::MAX, usize::MAX);
    let mut pid_seen: Option<u32> = pid;
    loop {
        if env.cancel.level() >= StopLevel::Now {
            return Err(StepError::Stopped);
        }
        let poll_began = Instant::now();
        // At once, one round trip's time per poll: the load balancers' old workers, and
        // the connections of the container's main process as last seen. While that
        // process is there the container runs and its count is the answer: no `docker
        // inspect` (the slowest of the three) per poll. When it is gone, or not yet known,
        // the container's state says whether and by which pid to count.
        let t = inst.transport.as_ref();
        let port = inst.config.container_port;
        let (old_workers, counted) = tokio::join!(env.fleet.lb.old_workers(), async {
            match pid_seen {
                Some(pid) => Some(remote::established_connections(t, pid, port).await),
                None => None,
            }
        });
        let old_workers = old_workers?;
        let connections = match counted {
            Some(Ok(n)) => n,
            counted => {
                let state = inst.container.state().await?;
                let now = state.pid.filter(|_| state.running);
                if let (Some(Err(e)), true) = (counted, now.is_some() && now == pid_seen) {
                    // The process is still there: counting its connections failed.
                    return Err(e.into());
                }
                pid_seen = now;
                match pid_seen {
                    Some(pid) => remote::established_connections(t, pid, port).await?,
                    None => 0,
                }
            }
        };
        let waited = began.elapsed();
        // Three quarters of this poll's time is the lead of the last one (one that answers
        // early is followed by one more at once).
        let lead = poll_began.elapsed() * 3 / 4;
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
                return Ok(Drained {
                    detail: format!("idle after {:.1}s", waited.as_secs_f64()),
                    pid: pid_seen,
                });
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
            return Ok(Drained {
                detail: format!(
                    "stopped waiting at the maximum, {:.0}s",
                    waited.as_secs_f64()
                ),
                pid: pid_seen,
            });
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_poll(began, poll_began, idle_since, policy.min.0, policy.idle.0, lead)) => {}
            _ = env.cancel.reached(StopLevel::Now) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[tokio::test(start_paused = true)]
    async fn the_next_look_is_at_the_end_of_the_idle_period_when_that_comes_first() {
        let began = Instant::now();
        tokio::time::sleep(MS(5_000)).await;
        let now = Instant::now();
        // Not idle: the regular poll.
        assert_eq!(
            next_poll(began, Instant::now(), None, MS(0), MS(2_000), MS(0)),
            now + MS(250)
        );
        // Idle for 1.9 s of 2 s: in 0.1 s, not 0.25 s.
        let since = now - MS(1_900);
        assert_eq!(
            next_poll(began, Instant::now(), Some(since), MS(0), MS(2_000), MS(0)),
            now + MS(100)
        );
        // Already past: now.
        let since = now - MS(3_000);
        assert_eq!(
            next_poll(began, Instant::now(), Some(since), MS(0), MS(2_000), MS(0)),
            now
        );
        // The minimum is later than the idle period's end: not before it, nor after the
        // regular poll.
        assert_eq!(
            next_poll(
                began,
                Instant::now(),
                Some(since),
                MS(5_100),
                MS(2_000),
                MS(0)
            ),
            began + MS(5_100)
        );
        assert_eq!(
            next_poll(
                began,
                Instant::now(),
                Some(since),
                MS(60_000),
                MS(2_000),
                MS(0)
            ),
            now + MS(250)
        );
        // Its first half second is polled every 50 ms, the rest of its first second
        // every 0.1 s.
        let began = Instant::now();
        assert_eq!(
            next_poll(began, Instant::now(), None, MS(0), MS(2_000), MS(0)),
            began + MS(50)
        );
        tokio::time::sleep(MS(499)).await;
        assert_eq!(
            next_poll(began, Instant::now(), None, MS(0), MS(2_000), MS(0)),
            Instant::now() + MS(50)
        );
        tokio::time::sleep(MS(1)).await;
        assert_eq!(
            next_poll(began, Instant::now(), None, MS(0), MS(2_000), MS(0)),
            Instant::now() + MS(100)
        );
        tokio::time::sleep(MS(499)).await;
        assert_eq!(
            next_poll(began, Instant::now(), None, MS(0), MS(2_000), MS(0)),
            Instant::now() + MS(100)
        );
        tokio::time::sleep(MS(1)).await;
        assert_eq!(
            next_poll(began, Instant::now(), None, MS(0), MS(2_000), MS(0)),
            Instant::now() + MS(250)
        );
        // A long wait polls every second.
        tokio::time::sleep(MS(30_000)).await;
        assert_eq!(
            next_poll(began, Instant::now(), None, MS(0), MS(2_000), MS(0)),
            Instant::now() + MS(1_000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn polls_are_spaced_from_their_start_and_the_last_one_answers_as_the_period_ends() {
        let began = Instant::now();
        tokio::time::sleep(MS(5_000)).await;
        let now = Instant::now();
        // A poll that began 40 ms ago: the next one 0.25 s after that, not after its answer.
        let poll_began = now - MS(40);
        assert_eq!(
            next_poll(began, poll_began, None, MS(0), MS(2_000), MS(0)),
            now + MS(210)
        );
        // One that took longer than the interval: the next one at once.
        let poll_began = now - MS(300);
        assert_eq!(
            next_poll(began, poll_began, None, MS(0), MS(2_000), MS(0)),
            now
        );
        // Idle for 1.9 s of 2 s, polls answering 30 ms after they begin: the last one
        // begins 30 ms before the end, so that it answers as the period ends.
        let since = now - MS(1_900);
        assert_eq!(
            next_poll(began, now, Some(since), MS(0), MS(2_000), MS(30)),
            now + MS(70)
        );
        // Never before now, whatever the lead.
        assert_eq!(
            next_poll(began, now, Some(since), MS(0), MS(2_000), MS(500)),
            now
        );
    }
}
