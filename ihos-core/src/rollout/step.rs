//! [`StepError`]: why a step of an instance's update, or of its rollback, failed; typed,
//! with the cause as its source, so a report says which step, where and why.

use super::event::Step;
use crate::container::ContainerError;
use crate::lb::LbError;
use crate::names::InvalidName;
use crate::transport::TransportError;

/// Why a step failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The load balancer or the canary route refused or failed the change.
    #[error(transparent)]
    Lb(Box<LbError>),
    /// docker failed.
    #[error(transparent)]
    Container(#[from] ContainerError),
    /// A command on the host failed, or the host could not be reached.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A path built from the topology was refused.
    #[error(transparent)]
    Path(#[from] InvalidName),
    /// Taking one more backend out would break `max_unavailable` (invariant 1).
    #[error(
        "{} backend(s) already out of rotation ({}); max_unavailable is {max}",
        out.len(),
        out.join(", ")
    )]
    TooManyUnavailable {
        /// The backends already out.
        out: Vec<String>,
        /// The policy's `max_unavailable`.
        max: usize,
    },
    /// The instance is the canary but the fleet has no route for it.
    #[error("{instance} is the canary, but the fleet has no canary route")]
    NoCanaryRoute {
        /// The instance.
        instance: String,
    },
    /// The journal could not record whether the canary's route was open, so the route was
    /// left open: a resume could not reopen it.
    #[error("the journal cannot record the canary route's state, so it is not closed: {0}")]
    JournalNotWritten(TransportError),
    /// A gate hook failed.
    #[error("hook {hook:?} failed: {why}")]
    Hook {
        /// Its name.
        hook: String,
        /// Why.
        why: String,
    },
    /// No WAR was staged for the instance.
    #[error("no WAR prepared for {instance} on {host}")]
    NotStaged {
        /// The instance.
        instance: String,
        /// Its host.
        host: String,
    },
    /// A copied file does not have the digest it must have.
    #[error("{context}{path} has sha256 {got:?}{after}, expected {expected}")]
    Mismatch {
        /// What was being done (`saving the previous release: `), or empty.
        context: &'static str,
        /// The file.
        path: String,
        /// Its digest (`None`: missing).
        got: Option<String>,
        /// When it was checked (` after install`), or empty.
        after: &'static str,
        /// The digest expected.
        expected: String,
    },
    /// A deletion outside the webapps directory was refused (invariant 4).
    #[error("refusing to delete {path}: not inside {webapps}")]
    OutsideWebapps {
        /// The path.
        path: String,
        /// The webapps directory.
        webapps: String,
    },
    /// The container stopped while it was expected to start.
    #[error("container {container} is {status} (exit code {exit_code:?})")]
    ContainerExited {
        /// The container.
        container: String,
        /// docker's status.
        status: String,
        /// Its exit code.
        exit_code: Option<i64>,
    },
    /// Tomcat finished starting but the app's health URL does not answer as expected.
    #[error(
        "Tomcat started ({startup_line:?} in its log) but {url} still answers {} (expected {expected}) {seconds}s later: the app failed to deploy",
        probe_text(*got)
    )]
    AppNotDeployed {
        /// The startup line seen.
        startup_line: String,
        /// The health URL.
        url: String,
        /// What it answered.
        got: Option<u16>,
        /// The status expected.
        expected: u16,
        /// Seconds since the startup line.
        seconds: u64,
    },
    /// Not healthy within the start timeout.
    #[error(
        "not healthy after {timeout}: container {}, {url} answered {} (expected {expected}), startup line {startup_line:?} {}",
        if *running { "running" } else { "not running" },
        probe_text(*got),
        if *startup_seen { "seen" } else { "not seen" }
    )]
    NotHealthy {
        /// The start timeout.
        timeout: crate::config::Dur,
        /// Whether the container ran.
        running: bool,
        /// The health URL.
        url: String,
        /// What it answered.
        got: Option<u16>,
        /// The status expected.
        expected: u16,
        /// Tomcat's startup line.
        startup_line: String,
        /// Whether it was seen.
        startup_seen: bool,
    },
    /// The app log has a line with an error pattern since the start.
    #[error("{log}: line with {pattern:?}: {line}")]
    ErrorInLog {
        /// The log file.
        log: String,
        /// The pattern found.
        pattern: String,
        /// The line, trimmed.
        line: String,
    },
    /// There is no previous release to roll back to.
    #[error("no previous release at {path} to roll back to")]
    NoPreviousRelease {
        /// Where it should be.
        path: String,
    },
    /// A record could not be encoded.
    #[error("encoding {what}: {reason}")]
    Encode {
        /// What.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A stop request ended the step (not a failure of the instance).
    #[error("stop requested")]
    Stopped,
    /// A part of a rollback failed.
    #[error("{context}: {source}")]
    During {
        /// What the rollback was doing.
        context: &'static str,
        /// Why it failed.
        source: Box<StepError>,
    },
}

fn probe_text(got: Option<u16>) -> String {
    got.map_or("no answer".to_string(), |s| format!("status {s}"))
}

impl From<LbError> for StepError {
    fn from(e: LbError) -> Self {
        StepError::Lb(Box::new(e))
    }
}

impl StepError {
    /// This error as the cause of a rollback's `context` (`stopping`, `back into rotation`).
    pub(crate) fn during(context: &'static str) -> impl FnOnce(StepError) -> StepError {
        move |e| StepError::During {
            context,
            source: Box::new(e),
        }
    }

    /// Whether restoring nginx's previous config failed too: what nginx runs is then
    /// unknown, so the instance may be out of rotation.
    pub(crate) fn is_lb_restore_failure(&self) -> bool {
        matches!(self, StepError::Lb(e) if matches!(**e, LbError::RestoreFailed { .. }))
    }
}

/// A step that failed, and which.
#[derive(Debug)]
pub(crate) struct Failure {
    pub step: Step,
    pub error: StepError,
}

impl Failure {
    /// Whether a stop request ended the step.
    pub(crate) fn stopped(&self) -> bool {
        matches!(self.error, StepError::Stopped)
    }
}

/// Tags errors with the step they happened in: `.map_err(fail(Step::Stop))`.
pub(crate) fn fail<E: Into<StepError>>(step: Step) -> impl Fn(E) -> Failure {
    move |e| Failure {
        step,
        error: e.into(),
    }
}
