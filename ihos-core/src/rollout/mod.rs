//! The rolling update: [`run_rollout`] takes a [`Fleet`] (the topology resolved into
//! transports, containers and the load balancer) and a validated [`WarFile`], and updates
//! the instances one at a time (or `max_unavailable` at a time): out of rotation, drain,
//! stop, keep the previous release, install, start, health, log scan, back into rotation,
//! record. [`Event`]s report progress to an [`EventSink`]; a [`CancelToken`] asks it to
//! stop. A failed instance is rolled back to its previous release.

mod canary;
mod cancel;
mod engine;
mod error;
mod event;
mod fleet;
mod instance;
// Host-side helpers the rest of the crate may use too (they were public modules).
pub(crate) mod journal;
pub(crate) mod lock;
mod op_error;
mod ops;
pub(crate) mod remote;
mod rotation;
mod war;

pub use canary::{
    CanaryError, CanaryStatus, Release, canary_status, canary_war, close_canary, open_canary,
};
pub use cancel::{CancelToken, StopLevel};
pub use engine::{run_canary_deploy, run_rollback, run_rollout};
pub use error::RolloutError;
pub use event::{EVENT_SCHEMA, Event, EventRecord, EventSink, Step};
pub use fleet::{Fleet, FleetError, InstanceHandle};
pub use instance::DeploymentRecord;
pub use journal::{InstanceStatus, Journal, JournalEntry};
pub use lock::LockOwner;
pub use op_error::OpError;
pub use ops::{
    InstanceView, drain_instance, enable_instance, history, journal, lock_release, lock_status,
    status,
};
pub use war::{WarError, WarFile};

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

/// Choices for a rollout (defaults match the CLI's: every instance, a new rollout, the
/// operator `user@machine`). Everything else (drain, timeouts, `max_unavailable`, what to
/// do on failure) is the topology's [`Policy`](crate::Policy).
///
/// Build it with struct syntax or with the chainable setters:
///
/// ```
/// use ihos_core::RolloutOptions;
///
/// let options = RolloutOptions::new()
///     .only(["101-pep1", "101-pep2"])
///     .operator("release-bot");
/// assert_eq!(options.only, ["101-pep1", "101-pep2"]);
/// assert!(!options.resume);
/// assert_eq!(RolloutOptions::new(), RolloutOptions::default());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutOptions {
    /// Only these instances (all when empty).
    pub only: Vec<String>,
    /// Continue the unfinished rollout recorded in the journal.
    pub resume: bool,
    /// Who runs it, for the records (default `user@machine`).
    pub operator: Option<String>,
}

impl RolloutOptions {
    /// The defaults: every instance, a new rollout, the operator `user@machine`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Updates only these instances, in the topology's order (all of them when empty).
    pub fn only<I, S>(mut self, instances: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = instances.into_iter().map(Into::into).collect();
        self
    }

    /// Continues the unfinished rollout recorded in the journal on the load balancer's
    /// host (same WAR), like `ihos rollout --resume`.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }

    /// Names who runs the rollout in the lock, the journal and the deployment records.
    pub fn operator(mut self, operator: impl Into<String>) -> Self {
        self.operator = Some(operator.into());
        self
    }
}

/// The result of a rollout that ran.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RolloutReport {
    /// Its id.
    pub rollout_id: String,
    /// How it ended.
    pub outcome: Outcome,
    /// Instances now on the new WAR.
    pub updated: Vec<String>,
    /// Instances not updated (stopped before their turn).
    pub not_updated: Vec<String>,
    /// Instances that failed and were rolled back, with why.
    pub rolled_back: Vec<(String, String)>,
    /// Instances that could not be restored, with why.
    pub not_restored: Vec<(String, String)>,
    /// Seconds it took.
    pub seconds: f64,
}
