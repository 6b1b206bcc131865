//! [`watch_canary`]: the canary's traffic followed in the access logs while its cohort
//! route is open, read incrementally (only what nginx appended since the last look), and
//! judged once the window has passed; an inconclusive verdict (too few requests) keeps
//! watching until the longest wait.

use std::time::Duration;

use tokio::time::Instant;

use super::analyze::{AnalyzeError, AnalyzeWindow, CanaryAnalysis, LogSource, Setup};
use super::cancel::{CancelToken, StopLevel};
use super::route_times::host_now_ms;
use crate::analysis::{LogCursor, Verdict, Window, end_of, read_new};
use crate::command::Privilege;
use crate::fleet::Fleet;

/// Where each access log ended when the watch began.
#[derive(Debug, Clone)]
pub struct WatchStart {
    /// Per load balancer carrying the route (index in `Fleet::lbs`), its log's end.
    cursors: Vec<(usize, LogCursor)>,
    /// The first LB host's clock then (ms since the epoch).
    since_ms: i64,
}

/// How long to watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchOptions {
    /// Judge after this long.
    pub window: Duration,
    /// Inconclusive at the window's end: keep watching, and judging at every look, up to
    /// this long in all.
    pub max_wait: Duration,
    /// How often the logs are read.
    pub poll: Duration,
}

impl WatchOptions {
    /// Judge after `window`, wait up to `max_wait` for enough requests, look every 5 s.
    pub fn new(window: Duration, max_wait: Duration) -> WatchOptions {
        WatchOptions {
            window,
            max_wait: max_wait.max(window),
            poll: Duration::from_secs(5),
        }
    }
}

/// The counts so far, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchProgress {
    /// Since the watch began.
    pub elapsed: Duration,
    /// The canary's tries and errors.
    pub canary: (u64, u64),
    /// The fleet's tries and errors.
    pub fleet: (u64, u64),
}

/// Why a watch ended without a verdict.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The logs could not be read or the analysis is not configured.
    #[error(transparent)]
    Analyze(#[from] AnalyzeError),
    /// Asked to stop (Ctrl-C).
    #[error("the canary watch was interrupted")]
    Interrupted,
}

/// Marks where the access logs end now: call it before opening the cohort route.
pub async fn watch_start(fleet: &Fleet) -> Result<WatchStart, AnalyzeError> {
    let setup = Setup::of(&fleet.topology)?;
    let path = setup.path()?;
    let canary = fleet.topology.canary.as_ref();
    let mut cursors = Vec::new();
    for (i, lb) in fleet.lbs.iter().enumerate() {
        if lb.config.canary_site(canary).is_some() {
            cursors.push((
                i,
                end_of(lb.transport.as_ref(), &path, Privilege::Sudo).await?,
            ));
        }
    }
    let since_ms = host_now_ms(fleet.lb_transport.as_ref())
        .await
        .map_err(AnalyzeError::from)?;
    Ok(WatchStart { cursors, since_ms })
}

/// Follows the logs from `start`, calling `progress` at every look, until a verdict:
/// pass or fail once `window` has passed, inconclusive only at `max_wait`.
pub async fn watch_canary(
    fleet: &Fleet,
    start: WatchStart,
    options: &WatchOptions,
    progress: &mut (dyn FnMut(&WatchProgress) + Send),
    cancel: &CancelToken,
) -> Result<CanaryAnalysis, WatchError> {
    let setup = Setup::of(&fleet.topology)?;
    let path = setup.path().map_err(AnalyzeError::from)?;
    let mut analyzer = setup.analyzer(Window {
        since_ms: Some(start.since_ms),
        until_ms: None,
    });
    let began = Instant::now();
    let mut cursors = start.cursors;
    let mut sources: Vec<LogSource> = cursors
        .iter()
        .map(|(i, _)| LogSource {
            host: fleet.lbs[*i].transport.host().to_string(),
            path: path.to_string(),
            bytes: 0,
            rotated_file_read: false,
            gap: None,
        })
        .collect();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(options.poll) => {}
            _ = cancel.reached(StopLevel::AfterCurrent) => return Err(WatchError::Interrupted),
        }
        for ((i, cursor), source) in cursors.iter_mut().zip(sources.iter_mut()) {
            let t = fleet.lbs[*i].transport.as_ref();
            let (next, read) =
                read_new(t, &path, Privilege::Sudo, Some(*cursor), false, &mut |b| {
                    analyzer.feed(b)
                })
                .await
                .map_err(AnalyzeError::from)?;
            // Lines of two hosts' logs never join: a partial line waits in its own file.
            // (The analyzer holds one partial line, so the cursor stops before it.)
            let pending = analyzer.pending() as u64;
            analyzer.end_source();
            *cursor = LogCursor {
                offset: next.offset - pending.min(next.offset),
                ..next
            };
            source.bytes += read.bytes - pending.min(read.bytes);
            source.rotated_file_read |= read.followed_rotation;
            if read.gap.is_some() {
                source.gap = read.gap;
            }
        }
        let elapsed = began.elapsed();
        let tally = analyzer.tally();
        progress(&WatchProgress {
            elapsed,
            canary: (tally.canary.requests, tally.canary.errors),
            fleet: (tally.fleet.requests, tally.fleet.errors),
        });
        if elapsed < options.window {
            continue;
        }
        let view = AnalyzeWindow {
            since_ms: Some(start.since_ms),
            until_ms: None,
            from: "watch",
            first_line_ms: None,
            last_line_ms: None,
        };
        let result = setup.judge(tally, view, sources.clone());
        if result.analysis.verdict != Verdict::Inconclusive || elapsed >= options.max_wait {
            return Ok(result);
        }
    }
}
