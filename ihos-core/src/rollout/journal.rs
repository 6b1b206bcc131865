//! The journal: where a rollout stands, written on the load balancer's host after every
//! step, so `--resume` can finish a rollout after a crash or a lost connection.
//!
//! It is an append-only NDJSON file: the first line is the whole [`Journal`], each later
//! line one instance's new [`JournalEntry`] (or the end mark). A step costs one small
//! append whatever the fleet's size; reading replays the lines, the last word per instance
//! wins, and a torn last line (a crash mid-append) is ignored.

use serde::{Deserialize, Serialize};

use super::event::Step;
use crate::command::Privilege;
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError, remote};

/// Where one instance stands in a rollout's [`Journal`].
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

/// One instance in a rollout's [`Journal`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The instance.
    pub instance: String,
    /// Its status.
    pub status: InstanceStatus,
    /// The last step started (while a step's first command runs, its mark may still be on
    /// its way: then the step before).
    pub step: Option<Step>,
    /// Whether its previous release was saved in this rollout (never save it twice: the
    /// second time it could be the new WAR).
    pub kept_previous: bool,
    /// Whether the WAR in webapps was touched (removed or replaced) in this rollout.
    pub war_touched: bool,
    /// The last error, if any.
    pub error: Option<String>,
    /// For the canary: whether its route was open when this rollout took it out (it is
    /// reopened only then). Unset for the fleet's instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_was_open: Option<bool>,
    /// The instance whose return to rotation took this one out in the same change (one
    /// reload for both), before this one's own turn. A resume that finds it still at its
    /// Disable step puts it back first: nothing else was done to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_out_by: Option<String>,
    /// The hooks that finished for it in this attempt (`pre-instance#0`): a resume does not
    /// run them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks_done: Vec<String>,
}

/// A rollout's journal: where it stands, instance by instance. The engine keeps it on the
/// load balancer's host after every step; [`RolloutOptions::resume`](crate::RolloutOptions)
/// continues from it. Read it with [`journal()`](crate::journal()) or [`Journal::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// The rollout's id.
    pub rollout_id: String,
    /// SHA-256 of its WAR (empty for a rollback: each instance has its own).
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
    /// Whether it is a canary deploy (resumed only as one).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub canary: bool,
    /// Whether it is a rollback (never resumed: `ihos rollback` again).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rollback: bool,
    /// Lines of the file that could not be read (1-based; a line torn by a crash in the
    /// middle of its append): skipped when it was read, never written.
    #[serde(skip)]
    pub unreadable_lines: Vec<usize>,
}

impl Journal {
    /// The entry of `instance`.
    pub fn entry_mut(&mut self, instance: &str) -> Option<&mut JournalEntry> {
        self.instances.iter_mut().find(|e| e.instance == instance)
    }

    /// Whether this is a canary deploy that has not finished: its entry may be the only
    /// record that the canary's route was open.
    pub fn is_unfinished_canary_deploy(&self) -> bool {
        self.canary && !self.finished
    }

    /// The entry of `instance`.
    pub fn entry(&self, instance: &str) -> Option<&JournalEntry> {
        self.instances.iter().find(|e| e.instance == instance)
    }

    /// Replays the bytes of a journal file (`journal.ndjson` in the load balancer host's
    /// state directory); `None` if they hold no journal line. A line that cannot be read (a
    /// crash mid-append tears the last one) is skipped and listed in
    /// [`Journal::unreadable_lines`]; the last entry written for an instance wins.
    pub fn parse(bytes: &[u8]) -> Option<Journal> {
        let mut journal: Option<Journal> = None;
        let mut unreadable = Vec::new();
        for (number, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            // Appends start with a line break: empty lines are expected.
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let Ok(l) = serde_json::from_slice::<Line>(raw) else {
                unreadable.push(number + 1);
                continue;
            };
            match (l, journal.as_mut()) {
                (Line::Journal(j), _) => journal = Some(j),
                (Line::Entry(e), Some(j)) => {
                    if let Some(slot) = j.entry_mut(&e.instance) {
                        *slot = e;
                    }
                }
                (Line::Finished(f), Some(j)) => j.finished = f,
                _ => {}
            }
        }
        if let Some(j) = journal.as_mut() {
            j.unreadable_lines = unreadable;
        }
        journal
    }
}

/// One line of the journal file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    /// The whole journal (first line).
    Journal(Journal),
    /// An instance's entry changed.
    Entry(JournalEntry),
    /// The rollout ended (`true`: not to be resumed).
    Finished(bool),
}

/// `state_dir/journal.ndjson`.
pub(crate) fn journal_path(state_dir: &RemotePath) -> Result<RemotePath, TransportError> {
    Ok(state_dir.join("journal.ndjson")?)
}

fn line(l: &Line) -> Vec<u8> {
    // Strings, numbers and enums only: encoding cannot fail.
    let mut bytes = serde_json::to_vec(l).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Writes the whole journal as the file's only line (a new rollout, or compaction at the
/// end).
pub(crate) async fn save(
    t: &dyn Transport,
    state_dir: &RemotePath,
    journal: &Journal,
) -> Result<(), TransportError> {
    let path = journal_path(state_dir)?;
    // Root's alone (appends keep the mode).
    remote::replace_file(
        t,
        &path,
        &line(&Line::Journal(journal.clone())),
        Privilege::Sudo,
        Some(remote::PrivateMode::File),
    )
    .await
}

/// The line that records an instance's new entry.
pub(crate) fn entry_line(entry: &JournalEntry) -> Vec<u8> {
    // Each entry starts on a line of its own: after an append torn by a crash, the next
    // one is not glued to the torn text (which is then skipped alone).
    let mut bytes = vec![b'\n'];
    bytes.extend(line(&Line::Entry(entry.clone())));
    bytes
}

/// Appends an instance's new entry.
pub(crate) async fn append_entry(
    t: &dyn Transport,
    state_dir: &RemotePath,
    entry: &JournalEntry,
) -> Result<(), TransportError> {
    append_lines(t, state_dir, entry_line(entry)).await
}

/// Appends lines made by [`entry_line`].
pub(crate) async fn append_lines(
    t: &dyn Transport,
    state_dir: &RemotePath,
    bytes: Vec<u8>,
) -> Result<(), TransportError> {
    remote::append(t, &journal_path(state_dir)?, &bytes).await
}

/// Reads the journal, `None` if there is none or it cannot be read as one.
pub(crate) async fn load(
    t: &dyn Transport,
    state_dir: &RemotePath,
) -> Result<Option<Journal>, TransportError> {
    let path = journal_path(state_dir)?;
    if !remote::exists(t, &path).await? {
        return Ok(None);
    }
    let bytes = t.read_file(&path, Privilege::Sudo).await?;
    Ok(Journal::parse(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, status: InstanceStatus) -> JournalEntry {
        JournalEntry {
            instance: name.into(),
            status,
            step: None,
            kept_previous: false,
            war_touched: false,
            error: None,
            canary_was_open: None,
            taken_out_by: None,
            hooks_done: Vec::new(),
        }
    }

    /// A crash in the middle of an append, then the resumed run appends its entry: the
    /// new entry is read (not glued to the torn text and lost with it).
    #[tokio::test]
    async fn an_entry_appended_after_a_torn_one_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let state = RemotePath::new(dir.path().to_str().unwrap()).unwrap();
        let t = crate::transport::LocalTransport::new("here");
        let j = Journal {
            rollout_id: "r1".into(),
            sha256: "abc".into(),
            commit: None,
            operator: "me".into(),
            started_at: "t".into(),
            instances: vec![entry("a", InstanceStatus::Pending)],
            finished: false,
            canary: false,
            rollback: false,
            unreadable_lines: Vec::new(),
        };
        save(&t, &state, &j).await.unwrap();
        let file = dir.path().join("journal.ndjson");
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.extend_from_slice(br#"{"entry":{"instance":"a","sta"#);
        std::fs::write(&file, bytes).unwrap();
        append_entry(&t, &state, &entry("a", InstanceStatus::Updated))
            .await
            .unwrap();
        let got = load(&t, &state).await.unwrap().unwrap();
        assert_eq!(got.entry("a").unwrap().status, InstanceStatus::Updated);
        // The torn line is the second of the file (after the journal line).
        assert_eq!(got.unreadable_lines, vec![2]);
    }

    #[test]
    fn replays_appends_and_ignores_a_torn_line() {
        let j = Journal {
            rollout_id: "r1".into(),
            sha256: "abc".into(),
            commit: None,
            operator: "me".into(),
            started_at: "t".into(),
            instances: vec![
                entry("a", InstanceStatus::Pending),
                entry("b", InstanceStatus::Pending),
            ],
            finished: false,
            canary: false,
            rollback: false,
            unreadable_lines: Vec::new(),
        };
        let mut bytes = line(&Line::Journal(j.clone()));
        bytes.extend(line(&Line::Entry(entry("a", InstanceStatus::InProgress))));
        bytes.extend(line(&Line::Entry(entry("a", InstanceStatus::Updated))));
        bytes.extend_from_slice(br#"{"entry":{"instance":"b","sta"#);
        let got = Journal::parse(&bytes).unwrap();
        assert_eq!(got.entry("a").unwrap().status, InstanceStatus::Updated);
        assert_eq!(got.entry("b").unwrap().status, InstanceStatus::Pending);
        assert!(!got.finished);
        assert_eq!(got.unreadable_lines, vec![4], "the torn line is reported");
        // Written back, the skipped line is not part of the journal.
        assert!(
            !String::from_utf8(line(&Line::Journal(got)))
                .unwrap()
                .contains("unreadable")
        );
        assert_eq!(Journal::parse(b"garbage\n"), None);
    }
}
