//! Whether a started instance is healthy: its container runs, its HTTP probe answers the
//! expected status, and Tomcat's startup line is in its log since the start.

use std::time::Duration;

use tokio::time::Instant;

use super::ctx::Env;
use super::drain::poll_interval;
use super::step::StepError;
use crate::fleet::InstanceHandle;
use crate::names::RemotePath;
use crate::transport::remote;

/// Once Tomcat says it has started, the app gets this long to answer its health check
/// before the deploy counts as failed (instead of waiting out the whole start timeout).
const STARTED_BUT_UNHEALTHY: Duration = Duration::from_secs(15);

/// Where the logs ended just before a start: what is after is this start's.
#[derive(Debug, Clone)]
pub(crate) struct LogMarks {
    pub app_log: RemotePath,
    pub app_offset: u64,
    pub startup_log: RemotePath,
    pub startup_offset: u64,
}

/// Notes where the logs end (the start and app logs), before a start; `date` is the host's
/// ([`remote::host_date`]), which names today's logs.
pub(crate) async fn log_marks(inst: &InstanceHandle, date: &str) -> Result<LogMarks, StepError> {
    let t = inst.transport.as_ref();
    let app_log = inst
        .logs
        .join(&remote::log_name(&inst.config.log_pattern, date))?;
    let startup_log = inst
        .logs
        .join(&remote::log_name(&inst.config.health.startup_log, date))?;
    // Both sizes in one command (0 for a log not there yet).
    let sizes = remote::path_stats(t, &[&app_log, &startup_log]).await?;
    let size = |i: usize| sizes.get(i).map_or(0, |s| s.size);
    let (app_offset, startup_offset) = (size(0), size(1));
    Ok(LogMarks {
        app_log,
        app_offset,
        startup_log,
        startup_offset,
    })
}

/// Waits for: container running, the HTTP probe answering the expected status, and
/// Tomcat's startup line in its log since the start (`marks`; `None` when the container was
/// not restarted, so no new startup line will come). Returns its detail and when the
/// startup line was first seen (`None` without `marks`): the log watch counts from then.
pub(crate) async fn wait_healthy(
    env: &Env<'_>,
    inst: &InstanceHandle,
    marks: Option<&LogMarks>,
) -> Result<(String, Option<Instant>), StepError> {
    let t = inst.transport.as_ref();
    let h = &inst.config.health;
    let began = Instant::now();
    let deadline = crate::time::deadline_after(env.policy.start_timeout.0);
    let mut line_seen_at: Option<Instant> = None;
    loop {
        let polled = Instant::now();
        // The container's state, the probe and the startup log at once: a poll takes as
        // long as the slowest of the three (the probe may wait up to its timeout), not
        // their sum. While the probe is out (a request Tomcat holds until its connector
        // starts), the log is watched: the line is seen within about LOG_EVERY of being
        // printed, and the log watch counts from then, not from the probe's return.
        let awaited = marks.filter(|_| line_seen_at.is_none());
        let (state, (status, log)) = tokio::join!(
            inst.container.state(),
            probe_watching(t, &h.url, h.timeout.0, awaited, &h.startup_line)
        );
        let state = state?;
        let settled = state.status != "created" && state.status != "restarting";
        if !state.running && state.exists && settled {
            return Err(StepError::ContainerExited {
                container: inst.config.container.clone(),
                status: state.status,
                exit_code: state.exit_code,
            });
        }
        // A probe answered while the container is not running is not this start's.
        let status = if state.running { status? } else { None };
        // Tomcat prints its startup line once every webapp is deployed (or failed to):
        // looked for on every poll until seen, so a failed deploy is known without waiting
        // out the whole start timeout. Without marks (the container was not restarted) no
        // new line comes, and none is needed.
        if let (true, Some(at)) = (state.running, log?) {
            // In the log when the read came back, so printed before: a watch from then
            // covers at least as much.
            line_seen_at.get_or_insert(at);
        }
        let started_line = marks.is_none() || (state.running && line_seen_at.is_some());
        if state.running && status == Some(h.expect_status) && started_line {
            return Ok((
                format!("healthy after {:.1}s", began.elapsed().as_secs_f64()),
                line_seen_at,
            ));
        }
        if let Some(since) = line_seen_at {
            if since.elapsed() >= STARTED_BUT_UNHEALTHY {
                return Err(StepError::AppNotDeployed {
                    startup_line: h.startup_line.clone(),
                    url: h.url.clone(),
                    got: status,
                    expected: h.expect_status,
                    seconds: since.elapsed().as_secs_f64().round() as u64,
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(StepError::NotHealthy {
                timeout: env.policy.start_timeout,
                running: state.running,
                url: h.url.clone(),
                got: status,
                expected: h.expect_status,
                startup_line: h.startup_line.clone(),
                startup_seen: started_line,
            });
        }
        // The next poll a full interval after this one began, not after it ended: a probe
        // that waited for Tomcat to answer is followed at once by a look at the log (the
        // startup line comes as its connector starts). Until then, while the line is
        // awaited, the log alone is read every LOG_EVERY (a read is one small command, a
        // poll's `docker inspect` several times that): the line is seen within about that
        // of being printed, and the next poll is made at once.
        let next = polled + poll_interval(began.elapsed());
        match (marks, line_seen_at, state.running) {
            (Some(m), None, true) => {
                if let Some(at) = watch_for_line(t, m, &h.startup_line, next).await {
                    line_seen_at = Some(at);
                }
            }
            _ => tokio::time::sleep_until(next).await,
        }
    }
}

/// How often the startup log alone is read between two polls: the log watch counts from
/// the read that saw the startup line (it was printed before that read came back, when
/// exactly is not known), so every wait here is added to the run. A read is one small
/// command of 10-25 ms on the app's host, a few dozen of them per start.
const LOG_EVERY: Duration = Duration::from_millis(25);

/// The probe's status, and while it is out the startup log watched from `marks` (`None`:
/// not watched) for `line`: when it was seen (`Ok(None)`: not while the probe was out). A
/// failing first read is an error (the poll reports what fails); a later one ends the
/// watch, as between polls.
async fn probe_watching(
    t: &dyn crate::transport::Transport,
    url: &str,
    timeout: Duration,
    marks: Option<&LogMarks>,
    line: &str,
) -> (
    Result<Option<u16>, crate::transport::TransportError>,
    Result<Option<Instant>, crate::transport::TransportError>,
) {
    let probe = remote::probe(t, url, timeout);
    let Some(m) = marks else {
        return (probe.await, Ok(None));
    };
    let watch = async {
        let first = remote::read_from(t, &m.startup_log, m.startup_offset).await?;
        if contains(&first, line) {
            return Ok(Some(Instant::now()));
        }
        // On from where that read ended, until the line is seen (or never, while the
        // probe is out: the select below drops this with the probe's answer).
        let from = LogMarks {
            startup_offset: m.startup_offset + first.len() as u64,
            ..m.clone()
        };
        let kept = line.len().saturating_sub(1).min(first.len());
        let tail = first[first.len() - kept..].to_vec();
        let never = Instant::now() + Duration::from_secs(24 * 3600);
        Ok(watch_for_line_from(t, &from, line, never, tail).await)
    };
    tokio::pin!(probe, watch);
    let mut seen = None;
    loop {
        tokio::select! {
            // A line found as the probe answers is taken.
            biased;
            found = &mut watch, if seen.is_none() => seen = Some(found),
            status = &mut probe => return (status, seen.unwrap_or(Ok(None))),
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads the startup log every [`LOG_EVERY`] until `until`; returns when the startup line
/// was seen, as soon as it is. Each read starts where the last one ended (with the last
/// `line.len() - 1` bytes kept, for a line cut between two reads): a verbose start is read
/// once, not again every time. A failed read ends the watch (the next poll reads it again
/// and reports what fails).
async fn watch_for_line(
    t: &dyn crate::transport::Transport,
    marks: &LogMarks,
    line: &str,
    until: Instant,
) -> Option<Instant> {
    watch_for_line_from(t, marks, line, until, Vec::new()).await
}

/// [`watch_for_line`] with the end of what was read before (`tail`).
async fn watch_for_line_from(
    t: &dyn crate::transport::Transport,
    marks: &LogMarks,
    line: &str,
    until: Instant,
    mut tail: Vec<u8>,
) -> Option<Instant> {
    let mut offset = marks.startup_offset;
    loop {
        let at = (Instant::now() + LOG_EVERY).min(until);
        tokio::time::sleep_until(at).await;
        if Instant::now() >= until {
            return None;
        }
        let piece = remote::read_from(t, &marks.startup_log, offset)
            .await
            .ok()?;
        offset += piece.len() as u64;
        tail.extend_from_slice(&piece);
        if contains(&tail, line) {
            return Some(Instant::now());
        }
        let keep = line.len().saturating_sub(1).min(tail.len());
        tail.drain(..tail.len() - keep);
    }
}
