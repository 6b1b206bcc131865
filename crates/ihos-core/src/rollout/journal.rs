//! The journal: where a rollout stands, written on the load balancer's host after every
//! step, so `--resume` can finish a rollout after a crash or a lost connection.

use serde::{Deserialize, Serialize};

use super::event::Step;
use crate::command::Privilege;
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError};

/// Where one instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceStatus {
    /// Not started.
    Pending,
    /// Somewhere in its steps (see `step`).
    InProgress,
    /// Runs the new WAR, in rotation.
    Updated,
    /// Failed and back on its previous release, in rotation.
    RolledBack,
    /// Failed and not restored: needs a human.
    Failed,
}

/// One instance in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The instance.
    pub instance: String,
    /// Its status.
    pub status: InstanceStatus,
    /// The last step started.
    pub step: Option<Step>,
    /// Whether its previous release was saved in this rollout (never save it twice: the
    /// second time it could be the new WAR).
    pub kept_previous: bool,
    /// Whether the WAR in webapps was touched (removed or replaced) in this rollout.
    pub war_touched: bool,
    /// The last error, if any.
    pub error: Option<String>,
}

/// A rollout's journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The rollout's id.
    pub rollout_id: String,
    /// SHA-256 of its WAR.
    pub sha256: String,
    /// Commit id, if known.
    pub commit: Option<String>,
    /// Who runs it.
    pub operator: String,
    /// When it began.
    pub started_at: String,
    /// The instances it updates, in order.
    pub instances: Vec<JournalEntry>,
    /// Whether it ended (a finished journal is not resumed).
    pub finished: bool,
}

impl Journal {
    /// The entry of `instance`.
    pub fn entry_mut(&mut self, instance: &str) -> Option<&mut JournalEntry> {
        self.instances.iter_mut().find(|e| e.instance == instance)
    }

    /// The entry of `instance`.
    pub fn entry(&self, instance: &str) -> Option<&JournalEntry> {
        self.instances.iter().find(|e| e.instance == instance)
    }
}

/// `state_dir/journal.json`.
pub fn journal_path(state_dir: &RemotePath) -> Result<RemotePath, TransportError> {
    Ok(state_dir.join("journal.json")?)
}

/// Writes the journal (in place; its directory exists once the lock was taken).
pub async fn save(
    t: &dyn Transport,
    state_dir: &RemotePath,
    journal: &Journal,
) -> Result<(), TransportError> {
    let bytes = serde_json::to_vec_pretty(journal).unwrap_or_default();
    t.write_file_in_place(&journal_path(state_dir)?, &bytes, Privilege::Sudo)
        .await
}

/// Reads the journal, `None` if there is none or it cannot be read as one.
pub async fn load(
    t: &dyn Transport,
    state_dir: &RemotePath,
) -> Result<Option<Journal>, TransportError> {
    let path = journal_path(state_dir)?;
    if !crate::rollout::remote::exists(t, &path).await? {
        return Ok(None);
    }
    let bytes = t.read_file(&path, Privilege::Sudo).await?;
    Ok(serde_json::from_slice(&bytes).ok())
}
