//! What robots are told: a [`Notice`] about a run described once by its [`RunInfo`].

use serde::Serialize;

use crate::config::NotifyOn;
use crate::rollout::Outcome;

/// What the run is, said in every message.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunInfo {
    /// What it does.
    pub action: RunKind,
    /// Who runs it (empty: the user and host the run's lock names, `user@host`).
    pub operator: String,
    /// The WAR it deploys (none for a rollback).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub war: Option<WarInfo>,
}

/// What a run does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// `ihos rollout`.
    #[default]
    Rollout,
    /// `ihos rollback`.
    Rollback,
    /// `ihos canary deploy` (and its trial).
    CanaryDeploy,
    /// The canary put back on its previous release.
    CanaryRollback,
    /// `ihos canary ramp`.
    CanaryRamp,
}

/// The WAR of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WarInfo {
    /// Its file name.
    pub file: String,
    /// Its SHA-256 (hex).
    pub sha256: String,
    /// The commit it was built from, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The CI build number, when known (TeamCity's, from `ihos fetch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
}

/// Something a robot is told.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// A run begins.
    Started {
        /// Its id.
        rollout_id: String,
        /// The instances it updates, in order.
        instances: Vec<String>,
        /// Whether it continues an interrupted run.
        resumed: bool,
    },
    /// Instances are done (several at once when they ended close together).
    Instances {
        /// Now on the new release, in rotation.
        updated: Vec<String>,
        /// Failed and put back on their previous release.
        rolled_back: Vec<String>,
    },
    /// A run ended.
    Finished {
        /// Its id.
        rollout_id: String,
        /// How.
        outcome: Outcome,
        /// How long it took.
        seconds: f64,
        /// Instances now on the new release.
        updated: Vec<String>,
        /// Instances that failed, with why (rolled back, or not restored).
        failed: Vec<InstanceProblem>,
        /// Instances that could not be put back: a human must look.
        not_restored: Vec<InstanceProblem>,
    },
    /// A run that was said to start ended with an error before its end (an upload that
    /// failed, a host lost before any instance was touched).
    Aborted {
        /// Its id.
        rollout_id: String,
        /// The error.
        error: String,
    },
    /// The canary was judged, or a ramp moved.
    Canary {
        /// `pass`, `fail`, `inconclusive`, or what the ramp did (`widened`, `done`).
        verdict: String,
        /// One sentence on what it means.
        summary: String,
        /// The cohort judged (e.g. `1,3,5,7`), when there is one.
        #[serde(skip_serializing_if = "Option::is_none")]
        cohort: Option<String>,
        /// A ramp's step and its number of steps.
        #[serde(skip_serializing_if = "Option::is_none")]
        step: Option<(usize, usize)>,
    },
}

/// An instance that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceProblem {
    /// The instance.
    pub instance: String,
    /// What happened.
    pub error: String,
}

impl Notice {
    /// Which `on` value subscribes to it.
    pub fn category(&self) -> NotifyOn {
        match self {
            Notice::Started { .. } => NotifyOn::Start,
            Notice::Instances { .. } => NotifyOn::Instance,
            Notice::Finished { outcome, .. } => match outcome {
                Outcome::Completed | Outcome::Interrupted => NotifyOn::Done,
                Outcome::RolledBack | Outcome::NotRestored => NotifyOn::Failure,
            },
            Notice::Aborted { .. } => NotifyOn::Failure,
            Notice::Canary { .. } => NotifyOn::Canary,
        }
    }

    /// Whether people are @-ed: a failed run, a canary that failed.
    pub fn is_alarm(&self) -> bool {
        match self {
            Notice::Finished { outcome, .. } => {
                matches!(outcome, Outcome::RolledBack | Outcome::NotRestored)
            }
            Notice::Aborted { .. } => true,
            Notice::Canary { verdict, .. } => verdict == "fail",
            _ => false,
        }
    }
}
