//! [`analyze_canary`]: the canary judged from the access logs of the load balancers that
//! carry its route, read over their transports; [`analyze_local_log`]: the same from a
//! local copy of a log, without connecting anywhere.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::route_times;
use crate::analysis::{
    Analysis, Analyzer, Backends, FormatError, LogFormat, Side, Tally, Thresholds, Unparsed,
    Window, read_head, read_new,
};
use crate::command::Privilege;
use crate::config::{AnalysisConfig, Topology};
use crate::fleet::Fleet;
use crate::names::RemotePath;
use crate::transport::TransportError;

/// Where the analysis window starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// When the canary's route was last opened (recorded by ihos on the LB's host), until
    /// it was closed if it is closed now.
    RouteOpened,
    /// From this time (ms since the epoch).
    At(i64),
    /// The whole log (a local file without `--since`).
    Beginning,
}

/// The window an analysis covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnalyzeWindow {
    /// Lines from this time (ms since the epoch), if bounded.
    pub since_ms: Option<i64>,
    /// Lines before this time, if bounded.
    pub until_ms: Option<i64>,
    /// `route_opened`, `since` or `whole_log`.
    pub from: &'static str,
    /// The first and last time of a counted line.
    pub first_line_ms: Option<i64>,
    /// See `first_line_ms`.
    pub last_line_ms: Option<i64>,
}

/// One log that was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogSource {
    /// The host (`local` for a local file).
    pub host: String,
    /// The file.
    pub path: String,
    /// Bytes read.
    pub bytes: u64,
    /// Whether the rotated file (`PATH.1`) was read too.
    pub rotated_file_read: bool,
    /// Lines may be missing, and why.
    pub gap: Option<String>,
}

/// An analysis with what it read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryAnalysis {
    /// Verdict, metrics, both sides, thresholds.
    #[serde(flatten)]
    pub analysis: Analysis,
    /// Lines that do not match the log format.
    pub unparsed_lines: u64,
    /// The first few of them (where, never their content).
    pub unparsed: Vec<Unparsed>,
    /// Complete lines read.
    pub lines: u64,
    /// Lines outside the window.
    pub outside_window: u64,
    /// Requests nginx answered itself.
    pub not_proxied: u64,
    /// Tries to backends of neither side.
    pub unattributed: u64,
    /// The first few such backends, with their tries.
    pub unattributed_addresses: BTreeMap<String, u64>,
    /// The window.
    pub window: AnalyzeWindow,
    /// The logs read.
    pub sources: Vec<LogSource>,
}

/// Why an analysis could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalyzeError {
    /// The topology has no `[canary]`.
    #[error("the topology has no [canary]")]
    NoCanary,
    /// The topology has no `[canary.analysis]`.
    #[error(
        "the topology has no [canary.analysis]: give the load balancer's access_log and its \
         log_format there"
    )]
    NotConfigured,
    /// The log format cannot be used (the topology's validation refuses it first).
    #[error("canary.analysis.log_format: {0}")]
    Format(#[from] FormatError),
    /// No start for the window.
    #[error(
        "ihos has no record of when the canary route was opened (opened by hand, or before \
         ihos recorded it): give --since"
    )]
    NoWindow,
    /// A host could not be read.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A local log could not be read.
    #[error("{}: {source}", path.display())]
    Local {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What an analysis needs from the topology.
pub(super) struct Setup {
    config: AnalysisConfig,
    format: LogFormat,
    canary_backend: String,
    fleet_backends: Vec<String>,
    upstream: String,
}

impl Setup {
    pub(super) fn of(topology: &Topology) -> Result<Setup, AnalyzeError> {
        let canary = topology.canary.as_ref().ok_or(AnalyzeError::NoCanary)?;
        let config = canary.analysis.clone().ok_or(AnalyzeError::NotConfigured)?;
        let format = config.format()?;
        Ok(Setup {
            format,
            config,
            canary_backend: canary.instance.backend.clone(),
            fleet_backends: topology
                .instances
                .iter()
                .map(|i| i.backend.clone())
                .collect(),
            upstream: topology
                .load_balancers
                .first()
                .map(|lb| lb.upstream.clone())
                .unwrap_or_default(),
        })
    }

    pub(super) fn analyzer(&self, window: Window) -> Analyzer {
        let mut backends = Backends::new(&[self.canary_backend.as_str()], &[]);
        if let Some(u) = &self.config.canary_upstream {
            backends.add(u, Side::Canary);
        }
        for b in &self.fleet_backends {
            backends.add(b, Side::Fleet);
        }
        // nginx writes the upstream's name when it found no live server in it.
        if !self.upstream.is_empty() {
            backends.add(&self.upstream, Side::Fleet);
        }
        Analyzer::new(&self.format, backends, window, &self.config.error_statuses)
    }

    fn thresholds(&self) -> Thresholds {
        self.config.thresholds()
    }

    /// The access log's path on the LB hosts.
    pub(super) fn path(&self) -> Result<RemotePath, TransportError> {
        Ok(RemotePath::new(&self.config.access_log)?)
    }

    pub(super) fn judge(
        &self,
        tally: &Tally,
        mut window: AnalyzeWindow,
        sources: Vec<LogSource>,
    ) -> CanaryAnalysis {
        let tally = tally.clone();
        let canary: Vec<String> = std::iter::once(self.canary_backend.clone())
            .chain(self.config.canary_upstream.clone())
            .collect();
        let analysis = Analysis::of(&tally, &canary, &self.thresholds());
        window.first_line_ms = tally.first_ms;
        window.last_line_ms = tally.last_ms;
        CanaryAnalysis {
            analysis,
            unparsed_lines: tally.unparsed,
            unparsed: tally.unparsed_examples,
            lines: tally.lines,
            outside_window: tally.outside_window,
            not_proxied: tally.not_proxied,
            unattributed: tally.unattributed,
            unattributed_addresses: tally.unattributed_addresses,
            window,
            sources,
        }
    }
}

/// Analyzes a local copy of the access log (`since`: [`Since::At`] or
/// [`Since::Beginning`]; [`Since::RouteOpened`] is only known on the LB's host and is read
/// as the whole file here).
pub fn analyze_local_log(
    topology: &Topology,
    path: &Path,
    since: Since,
    until_ms: Option<i64>,
) -> Result<CanaryAnalysis, AnalyzeError> {
    let setup = Setup::of(topology)?;
    let since_ms = match since {
        Since::At(t) => Some(t),
        _ => None,
    };
    let window = Window { since_ms, until_ms };
    let mut analyzer = setup.analyzer(window);
    let local = |source| AnalyzeError::Local {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(local)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(local(e)),
        };
        bytes += n as u64;
        analyzer.feed(&buf[..n]);
    }
    // A last line without its newline is complete in a file that is not being written.
    if analyzer.pending() > 0 {
        analyzer.feed(b"\n");
    }
    let view = AnalyzeWindow {
        since_ms,
        until_ms,
        from: if since_ms.is_some() {
            "since"
        } else {
            "whole_log"
        },
        first_line_ms: None,
        last_line_ms: None,
    };
    let source = LogSource {
        host: "local".into(),
        path: path.display().to_string(),
        bytes,
        rotated_file_read: false,
        gap: None,
    };
    Ok(setup.judge(analyzer.tally(), view, vec![source]))
}

/// The window's bounds from `since` (the route's recorded times for
/// [`Since::RouteOpened`]).
async fn window_of(
    fleet: &Fleet,
    since: Since,
    until_ms: Option<i64>,
) -> Result<AnalyzeWindow, AnalyzeError> {
    let (since_ms, until_ms, from) = match since {
        Since::At(t) => (Some(t), until_ms, "since"),
        Since::Beginning => (None, until_ms, "whole_log"),
        Since::RouteOpened => {
            let times = route_times::load(fleet).await?.unwrap_or_default();
            let opened = times.opened_ms.ok_or(AnalyzeError::NoWindow)?;
            // Closed after it was opened: the canary had no cohort traffic since then.
            let closed = times.closed_ms.filter(|&c| c >= opened);
            (Some(opened), until_ms.or(closed), "route_opened")
        }
    };
    Ok(AnalyzeWindow {
        since_ms,
        until_ms,
        from,
        first_line_ms: None,
        last_line_ms: None,
    })
}

/// When the first complete line of `path` was logged (`None`: no such file, or no line).
async fn first_time(
    t: &dyn crate::transport::Transport,
    path: &RemotePath,
    analyzer: &Analyzer,
) -> Option<i64> {
    let head = read_head(t, path, Privilege::Sudo, 64 << 10).await.ok()?;
    let end = head.iter().position(|&b| b == b'\n')?;
    analyzer.time_of(&head[..end])
}

/// Analyzes the canary from the access log of every load balancer that carries its route.
pub async fn analyze_canary(
    fleet: &Fleet,
    since: Since,
    until_ms: Option<i64>,
) -> Result<CanaryAnalysis, AnalyzeError> {
    let setup = Setup::of(&fleet.topology)?;
    let view = window_of(fleet, since, until_ms).await?;
    let window = Window {
        since_ms: view.since_ms,
        until_ms: view.until_ms,
    };
    let path = setup.path()?;
    let mut analyzer = setup.analyzer(window);
    let mut sources = Vec::new();
    let canary = fleet.topology.canary.as_ref();
    for lb in fleet
        .lbs
        .iter()
        .filter(|lb| lb.config.canary_site(canary).is_some())
    {
        let t = lb.transport.as_ref();
        // The rotated file only when the window starts before the current file does; and
        // a window that starts before the rotated file too is said (older files, often
        // compressed, are not read).
        let (with_rotated, older) = match window.since_ms {
            None => (true, None),
            Some(since) => {
                let starts_after = |first: Option<i64>| first.is_none_or(|t0| t0 > since);
                if !starts_after(first_time(t, &path, &analyzer).await) {
                    (false, None)
                } else {
                    let rotated =
                        RemotePath::new(&format!("{path}.1")).map_err(TransportError::from)?;
                    let first = first_time(t, &rotated, &analyzer).await;
                    (true, starts_after(first).then_some(first))
                }
            }
        };
        let (_, read) = read_new(t, &path, Privilege::Sudo, None, with_rotated, &mut |b| {
            analyzer.feed(b)
        })
        .await?;
        analyzer.end_source();
        let older_gap = older.map(|first| {
            format!(
                "the window starts before the oldest line read ({}): older lines are in \
                 files ihos does not read ({path}.2, compressed ones)",
                first
                    .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                    .map_or("none".to_string(), |t| t.to_string())
            )
        });
        sources.push(LogSource {
            host: t.host().to_string(),
            path: path.to_string(),
            bytes: read.bytes,
            rotated_file_read: read.followed_rotation,
            gap: read.gap.or(older_gap),
        });
    }
    Ok(setup.judge(analyzer.tally(), view, sources))
}
