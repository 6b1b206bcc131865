//! The rolling update: [`run_rollout`] takes a [`Fleet`](crate::Fleet) (the topology
//! resolved into transports, containers and the load balancer) and a validated
//! [`WarFile`](crate::WarFile), and updates the instances one at a time (or
//! `max_unavailable` at a time): out of rotation, drain, stop, keep the previous release,
//! install, start, health, log scan, back into rotation, record. [`Event`]s report progress
//! to an [`EventSink`]; a [`CancelToken`] asks it to stop. A failed instance is rolled back
//! to its previous release.
//!
//! How the files fit (data flows down the list, never up):
//! - entry points: `engine` (run, rollback, canary deploy), `plan` (what a run would do),
//!   `ops` and `canary` (the operations outside a run);
//! - a run's phases: `target` (which instances, checked before any change), `begin`
//!   (resume and lock), `stage` (every WAR on its host first), `instance` (one instance's
//!   steps) and `restore` (its rollback), `finish` (final checks, the report);
//! - what the steps use: `rotation`, `drain`, `health`, `log_scan`, `release`, `record`;
//! - shared by all: `ctx` (the environment apart from one run's state), `step` (typed step
//!   errors), `report`, `options`, `event`, `cancel`, `journal`, `lock`, `identity`.

mod analyze;
mod begin;
mod canary;
mod canary_watch;
mod cancel;
mod ctx;
mod deployment_record;
mod drain;
mod engine;
mod error;
mod event;
mod finish;
mod handoff;
mod health;
mod hook_exec;
mod hooks;
mod identity;
mod instance;
mod journal;
mod journal_appends;
mod kept;
mod leaving;
mod lock;
mod lock_script;
mod log_scan;
mod op_error;
mod ops;
mod options;
mod plan;
mod preflight;
mod ramp_journal;
mod record;
mod release;
mod release_ref;
mod releases;
mod replace_war;
mod report;
mod restore;
mod rollback_to;
mod rotation;
mod route_times;
mod stage;
mod state_json;
mod step;
mod target;
mod timed_step;
mod transition;
mod update_all;
mod warm_up;

pub use analyze::{
    AnalyzeError, AnalyzeWindow, CanaryAnalysis, LogSource, Since, analyze_canary,
    analyze_local_log,
};
pub use canary::{
    CanaryError, CanaryStatus, Release, canary_status, canary_war, close_canary, open_canary,
};
pub use canary_watch::{
    WatchError, WatchOptions, WatchProgress, WatchStart, watch_canary, watch_start,
};
pub use cancel::{CancelToken, StopLevel};
pub use deployment_record::DeploymentRecord;
pub use engine::{
    run_canary_deploy, run_canary_rollback, run_rollback, run_rollback_to, run_rollout,
};
pub use error::RolloutError;
pub use event::{EVENT_SCHEMA, Event, EventRecord, EventSink, Step};
pub(crate) use identity::operator as operator_name;
pub use journal::{InstanceStatus, Journal, JournalEntry};
pub use kept::KeptRelease;
pub use lock::LockOwner;
pub use op_error::OpError;
pub use ops::{
    InstanceView, LbRotation, drain_instance, enable_instance, history, journal, lb_rotations,
    lock_release, lock_status, status,
};
pub use options::RolloutOptions;
pub use plan::{Plan, PlannedInstance, PlannedStep, plan};
pub use ramp_journal::{RampJournal, RampState, ramp_journal, save_ramp_journal};
pub use release_ref::{BadReleaseRef, ReleaseRef};
pub use releases::{InstanceReleases, RunningRelease, releases};
pub use report::{InstanceFailure, Left, Outcome, Problem, RolloutReport};
pub use rollback_to::{describe_kept, find_kept_release};
pub use route_times::RouteTimes;
pub use step::StepError;
