//! How a run ended: the [`RolloutReport`], its [`Outcome`] and, per instance that did not
//! end updated, an [`InstanceFailure`] saying which step failed, why, and where it is now.

use serde::Serialize;

use super::event::Step;
use super::step::StepError;
use crate::lb::LbError;

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every selected instance runs the new WAR, in rotation.
    Completed,
    /// An instance failed and was rolled back; every instance is in rotation on a
    /// consistent version. The rollout stopped there.
    RolledBack,
    /// Stopped on request; every instance is consistent and in rotation; `--resume` goes on.
    Interrupted,
    /// Something could not be restored: a human must look (see the report).
    NotRestored,
}

impl Outcome {
    /// The CLI's exit code for it: 0, 1, 130, 3.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Completed => 0,
            Outcome::RolledBack => 1,
            Outcome::Interrupted => 130,
            Outcome::NotRestored => 3,
        }
    }
}

/// The result of a rollout that ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutReport {
    /// Its id.
    pub rollout_id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Instances now on the new WAR.
    pub updated: Vec<String>,
    /// Instances not updated (stopped before their turn).
    pub not_updated: Vec<String>,
    /// Instances that failed and were rolled back (or were left untouched), with why.
    pub rolled_back: Vec<InstanceFailure>,
    /// Instances that could not be restored, with why.
    pub not_restored: Vec<InstanceFailure>,
    /// What went wrong without changing how an instance ended (an updated instance whose
    /// deployment record could not be written).
    pub warnings: Vec<InstanceFailure>,
    /// Seconds it took.
    pub seconds: f64,
}

/// One instance's failure in a run (`instance` is `load balancer` when the final check
/// could not read it). Its `Display` is the whole story in one line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{problem}")]
pub struct InstanceFailure {
    /// The instance.
    pub instance: String,
    /// What went wrong.
    #[serde(serialize_with = "as_text")]
    pub problem: Problem,
}

/// What went wrong with an instance.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// A step failed; the instance is back on its previous release (or was never touched)
    /// and in rotation.
    #[error("{step}: {error}")]
    Failed {
        /// The step.
        step: Step,
        /// Why.
        error: StepError,
    },
    /// A step failed and `on_failure = halt` left the instance as it was, out of rotation.
    #[error("{step}: {error} (on_failure = halt: left out of rotation as it is)")]
    Halted {
        /// The step.
        step: Step,
        /// Why.
        error: StepError,
    },
    /// A step failed and so did the rollback.
    #[error("{step}: {error}; rollback failed: {rollback}; {left}")]
    RollbackFailed {
        /// The step.
        step: Step,
        /// Why it failed.
        error: StepError,
        /// Why the rollback failed.
        rollback: StepError,
        /// Where the instance was left.
        left: Left,
    },
    /// A stop request ended the step, and putting the instance back into rotation failed.
    #[error("stopped during {step}, and putting it back into rotation failed: {error}")]
    NotPutBack {
        /// The step the stop ended.
        step: Step,
        /// Why it is not back.
        error: StepError,
    },
    /// The final check found it out of rotation.
    #[error("out of rotation at the end of the rollout")]
    OutOfRotation,
    /// The final check could not read the load balancer.
    #[error("cannot check the final state: {0}")]
    FinalCheck(Box<LbError>),
    /// The canary's route is not as it was before the run.
    #[error(
        "the canary route is {} at the end, it was {} before ({file} line {line})",
        open_text(*now_open),
        open_text(*was_open)
    )]
    CanaryRoute {
        /// Whether it is open now.
        now_open: bool,
        /// Whether it was open before.
        was_open: bool,
        /// The site file.
        file: String,
        /// The rule's line.
        line: u32,
    },
    /// The instance runs the new WAR, in rotation, but its deployment record (on its host,
    /// in the audit log) could not be written: `ihos status` and `history` do not show it.
    #[error("updated, but its deployment record is missing: {error}")]
    RecordMissing {
        /// Why it could not be written.
        error: StepError,
    },
    /// The canary's route could not be read at the end.
    #[error("cannot check the canary route: {0}")]
    CanaryRouteUnreadable(Box<LbError>),
}

/// Where an instance whose rollback failed was left: how far its update got, then how far
/// its rollback got before it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Left {
    /// Out of rotation, its container never stopped: it still serves its previous release.
    OutNotStopped,
    /// Out of rotation, its container stopped, its previous release still in place.
    OutStopped,
    /// Out of rotation while its WAR was being replaced: which release is in place, and
    /// whether it runs, `ihos status` tells.
    OutReleaseUnknown,
    /// The new release installed and running; the failed enable may or may not have
    /// reached nginx, so it may be in rotation.
    NewReleaseRotationUnknown,
    /// Out of rotation again, the new release still running.
    OutNewReleaseRunning,
    /// Out of rotation, the previous release started but not (yet) healthy.
    OutPreviousNotHealthy,
    /// Out of rotation, the previous release running and healthy: only putting it back
    /// failed.
    OutPreviousHealthy,
}

impl std::fmt::Display for Left {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Left::OutNotStopped => {
                "left out of rotation, its container not stopped (it still serves the previous release)"
            }
            Left::OutStopped => {
                "left out of rotation, its container stopped with the previous release in place"
            }
            Left::OutReleaseUnknown => {
                "left out of rotation while its WAR was being replaced (`ihos status` shows which release is in place)"
            }
            Left::NewReleaseRotationUnknown => {
                "left with the new release running, out of rotation unless the failed enable reached nginx (`ihos status` shows which)"
            }
            Left::OutNewReleaseRunning => "left out of rotation with the new release running",
            Left::OutPreviousNotHealthy => {
                "left out of rotation, its previous release started but not healthy"
            }
            Left::OutPreviousHealthy => {
                "left out of rotation, its previous release running and healthy (`ihos enable` puts it back)"
            }
        })
    }
}

fn open_text(open: bool) -> &'static str {
    if open { "open" } else { "closed" }
}

fn as_text<S: serde::Serializer>(p: &Problem, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(p)
}

/// How one instance's update ended (the engine's view; the report sorts them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InstanceResult {
    /// On the new WAR, in rotation.
    Updated,
    /// On the new WAR, in rotation, without its deployment record.
    UpdatedWithoutRecord(Problem),
    /// Not started, or given back to rotation untouched because a stop was requested.
    NotUpdated,
    /// Failed; back on its previous release (or untouched) and in rotation.
    RolledBack(Problem),
    /// Failed and not restored.
    NotRestored(Problem),
}
