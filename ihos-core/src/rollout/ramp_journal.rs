//! The canary ramp's journal: `state_dir/canary-ramp.json` on the first load balancer's
//! host. A ramp widens the cohort step by step, judging the canary between steps; the
//! journal says which steps passed, so that an interrupted ramp (Ctrl-C, a lost
//! connection, an inconclusive step) continues with `--resume` at the step it was in,
//! never re-running one that passed.

use serde::{Deserialize, Serialize};

use super::state_json;
use crate::fleet::Fleet;
use crate::transport::TransportError;

/// How a ramp ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RampState {
    /// Not finished: `--resume` continues at step `passed`.
    Unfinished,
    /// Every step passed: the route is open for the last cohort.
    Completed,
    /// A step failed: the route was closed.
    Failed,
}

/// A ramp's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RampJournal {
    /// The ramp's id (when it began, and who).
    pub id: String,
    /// Each step's cohort: user-id prefixes.
    pub steps: Vec<Vec<String>>,
    /// How long each step is watched, in seconds.
    pub step_secs: u64,
    /// Steps that passed (the next one to run is `steps[passed]`).
    pub passed: usize,
    /// Where it stands.
    pub state: RampState,
    /// The canary's release (sha256) the ramp judges, if recorded.
    pub sha256: Option<String>,
}

const FILE: &str = "canary-ramp.json";

/// The recorded ramp, if any (a file ihos cannot read as a ramp counts as none).
pub async fn ramp_journal(fleet: &Fleet) -> Result<Option<RampJournal>, TransportError> {
    state_json::read(fleet, FILE).await
}

/// Records the ramp (replaced whole: a torn write leaves the previous record).
pub async fn save_ramp_journal(fleet: &Fleet, j: &RampJournal) -> Result<(), TransportError> {
    state_json::write(fleet, FILE, j).await
}
