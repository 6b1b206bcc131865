//! The [`InvariantChecker`]: after every command and upload on any host (and whenever the
//! world is queried), it looks at every nginx container and records, as [`Violation`]s with
//! virtual times and the command that caused and ended them:
//!
//! - a backend that is stopped, starting or unhealthy gets new requests
//!   ([`ViolationKind::RoutedToUnavailable`]);
//! - no backend that answers gets new requests ([`ViolationKind::NoActiveBackend`]), or
//!   nginx itself is down ([`ViolationKind::LbDown`]);
//! - more than N servers of the upstream are out of rotation
//!   ([`ViolationKind::TooManyOutOfRotation`]);
//! - requests in flight were cut: nginx stopped or restarted (not a graceful reload), or an
//!   app stopped while it still had connections, e.g. before old nginx workers finished
//!   draining it ([`ViolationKind::RequestsCut`]);
//! - the deployed WAR or its exploded directory changed while its app container ran
//!   ([`ViolationKind::DeployedChangedWhileRunning`]).
//!
//! A backend address that is not registered with [`crate::FakeWorld::register_backend`]
//! counts as answering (the checker cannot know better).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::clock::VirtualTime;
use crate::container::AppPhase;

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ViolationKind {
    /// nginx `lb` (`host/container`) sends new requests to `backend`, whose app is in
    /// `phase` (stopped, starting or unhealthy).
    RoutedToUnavailable {
        /// The nginx container, `host/container`.
        lb: String,
        /// The upstream address.
        backend: String,
        /// The app's phase.
        phase: AppPhase,
    },
    /// nginx `lb` runs but no backend it routes to answers.
    NoActiveBackend {
        /// The nginx container.
        lb: String,
    },
    /// The nginx container is not running.
    LbDown {
        /// The nginx container.
        lb: String,
    },
    /// More than `max` servers of the upstream are out of rotation.
    TooManyOutOfRotation {
        /// The nginx container.
        lb: String,
        /// The servers out of rotation.
        out_of_rotation: Vec<String>,
        /// The limit.
        max: usize,
    },
    /// `count` requests in flight were cut (an instant, not a period).
    RequestsCut {
        /// What cut them: the nginx or app container, `host/container`.
        target: String,
        /// How many.
        count: usize,
        /// Why.
        reason: String,
    },
    /// A command changed the deployed WAR or its exploded directory in webapps while the
    /// app container ran (an instant): Tomcat deploys from webapps while it runs
    /// (`autoDeploy`), and a removal under it undeploys the app.
    DeployedChangedWhileRunning {
        /// The app container, `host/container`.
        app: String,
        /// What changed.
        what: String,
    },
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViolationKind::RoutedToUnavailable { lb, backend, phase } => write!(
                f,
                "nginx {lb} sends new requests to {backend}, which is {phase:?}"
            ),
            ViolationKind::NoActiveBackend { lb } => {
                write!(f, "nginx {lb} has no answering backend in rotation")
            }
            ViolationKind::LbDown { lb } => write!(f, "nginx {lb} is down"),
            ViolationKind::TooManyOutOfRotation {
                lb,
                out_of_rotation,
                max,
            } => write!(
                f,
                "nginx {lb}: {} backends out of rotation (max {max}): {out_of_rotation:?}",
                out_of_rotation.len()
            ),
            ViolationKind::RequestsCut {
                target,
                count,
                reason,
            } => write!(f, "{count} requests cut at {target}: {reason}"),
            ViolationKind::DeployedChangedWhileRunning { app, what } => {
                write!(f, "{what} changed while {app} ran")
            }
        }
    }
}

/// The command after which a violation began or ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Its position in the event log.
    pub seq: u64,
    /// Its host.
    pub host: String,
    /// The command (or upload) as it ran.
    pub what: String,
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} on {}: `{}`", self.seq, self.host, self.what)
    }
}

/// One violation: from when to when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// What.
    pub kind: ViolationKind,
    /// When it was first seen.
    pub started: VirtualTime,
    /// When it was last seen to end (`None`: still going on).
    pub ended: Option<VirtualTime>,
    /// The command after which it was seen first (`None`: time passing alone).
    pub caused_by: Option<Cause>,
    /// The command after which it was gone (`None`: time passing, or still going on).
    pub ended_by: Option<Cause>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}", self.started)?;
        match self.ended {
            Some(e) if e == self.started => write!(f, "]")?,
            Some(e) => write!(f, " .. {e}]")?,
            None => write!(f, " .. still]")?,
        }
        write!(f, " {}; ", self.kind)?;
        match &self.caused_by {
            Some(c) => write!(f, "after {c}"),
            None => write!(f, "as time passed"),
        }
    }
}

/// Every violation seen, and the number of failed requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvariantReport {
    /// Violations in the order they began.
    pub violations: Vec<Violation>,
    /// Requests cut in all.
    pub requests_failed: usize,
    /// How many times the invariants were evaluated.
    pub checks: u64,
}

impl InvariantReport {
    /// No violation.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Violations matching `pred`.
    pub fn matching(&self, pred: impl Fn(&ViolationKind) -> bool) -> Vec<&Violation> {
        self.violations.iter().filter(|v| pred(&v.kind)).collect()
    }
}

impl fmt::Display for InvariantReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} violation(s), {} request(s) failed, {} check(s)",
            self.violations.len(),
            self.requests_failed,
            self.checks
        )?;
        for v in &self.violations {
            writeln!(f, "- {v}")?;
        }
        Ok(())
    }
}

/// Checks the safety invariants after every operation; see the module docs.
#[derive(Debug, Clone)]
pub struct InvariantChecker {
    pub(crate) enabled: bool,
    pub(crate) max_out_of_rotation: usize,
    open: BTreeMap<String, usize>,
    violations: Vec<Violation>,
    pub(crate) requests_failed: usize,
    checks: u64,
}

impl InvariantChecker {
    pub(crate) fn new(max_out_of_rotation: usize) -> Self {
        InvariantChecker {
            enabled: true,
            max_out_of_rotation,
            open: BTreeMap::new(),
            violations: Vec::new(),
            requests_failed: 0,
            checks: 0,
        }
    }

    /// What was seen so far.
    pub fn report(&self) -> InvariantReport {
        InvariantReport {
            violations: self.violations.clone(),
            requests_failed: self.requests_failed,
            checks: self.checks,
        }
    }

    /// The limit on backends out of rotation.
    pub fn max_out_of_rotation(&self) -> usize {
        self.max_out_of_rotation
    }

    /// Counts one evaluation; `false` when checking is off (nothing more to record).
    pub(crate) fn start_check(&mut self) -> bool {
        if self.enabled {
            self.checks += 1;
        }
        self.enabled
    }

    /// Records what holds at `now`: `current` (keyed so that an ongoing violation is
    /// recognized) opens the violations not open yet and ends the open ones not in it;
    /// `cuts` and `deployed_changes` are instants. `cause`: the operation just done
    /// (`None`: time passing).
    pub(crate) fn record(
        &mut self,
        now: VirtualTime,
        current: Vec<(String, ViolationKind)>,
        cuts: Vec<(String, usize, String)>,
        deployed_changes: Vec<(String, String)>,
        cause: Option<Cause>,
    ) {
        let keys: BTreeSet<&String> = current.iter().map(|(k, _)| k).collect();
        let ended: Vec<String> = self
            .open
            .keys()
            .filter(|k| !keys.contains(k))
            .cloned()
            .collect();
        for k in ended {
            if let Some(i) = self.open.remove(&k) {
                self.violations[i].ended = Some(now);
                self.violations[i].ended_by = cause.clone();
            }
        }
        for (k, kind) in current {
            if !self.open.contains_key(&k) {
                self.violations.push(Violation {
                    kind,
                    started: now,
                    ended: None,
                    caused_by: cause.clone(),
                    ended_by: None,
                });
                self.open.insert(k, self.violations.len() - 1);
            }
        }
        for (app, what) in deployed_changes {
            self.violations.push(Violation {
                kind: ViolationKind::DeployedChangedWhileRunning { app, what },
                started: now,
                ended: Some(now),
                caused_by: cause.clone(),
                ended_by: cause.clone(),
            });
        }
        for (target, count, reason) in cuts {
            self.violations.push(Violation {
                kind: ViolationKind::RequestsCut {
                    target,
                    count,
                    reason,
                },
                started: now,
                ended: Some(now),
                caused_by: cause.clone(),
                ended_by: cause.clone(),
            });
        }
    }
}
