//! The releases an instance keeps on its host (`policy.keep_releases`). Each release a run
//! takes out of webapps is kept as `releases/<instance>/kept/<sha256>.war`, a hard link to
//! the previous release it has just saved (no second copy on disk), and described in
//! `releases/<instance>/kept.json`, newest first, with what its deployment record said.
//! `ihos releases` lists them; `ihos rollback --to` puts one back.
//!
//! Nothing is deleted while an instance is out of rotation, nor before its new release is
//! healthy: a run adds the release it replaces ([`keep_retired`]) and prunes to the policy
//! only once the instance is back on the new one ([`prune_kept`]), so a failed deploy never
//! costs a release. The prune looks at the files themselves: one the index does not list
//! (a crash, an index that could not be read) is listed again, an entry whose file is gone
//! is dropped, and a file is removed before the index that drops it is written.

use serde::{Deserialize, Serialize};

use super::deployment_record::DeploymentRecord;
use super::step::StepError;
use crate::command::{Command, Privilege};
use crate::fleet::InstanceHandle;
use crate::names::{InvalidName, RemotePath};
use crate::sha::Sha256;
use crate::transport::{Transport, TransportError, remote, run_checked};

/// One release an instance keeps on its host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeptRelease {
    /// Its SHA-256.
    pub sha256: Sha256,
    /// Its size.
    pub bytes: u64,
    /// The commit it was built from, when its record said.
    #[serde(default)]
    pub commit: Option<String>,
    /// Its CI build number, when its record said.
    #[serde(default)]
    pub build: Option<String>,
    /// When it was deployed (RFC 3339 UTC); `None`: not by ihos (or its record is gone).
    #[serde(default)]
    pub deployed_at: Option<String>,
    /// Who deployed it.
    #[serde(default)]
    pub deployed_by: Option<String>,
    /// The run that deployed it.
    #[serde(default)]
    pub rollout_id: Option<String>,
    /// When it left webapps and was kept (RFC 3339 UTC).
    pub kept_at: String,
}

impl KeptRelease {
    /// The release `sha256` of `bytes` taken out of webapps now, described by `record`
    /// when that record is about this very file.
    pub(crate) fn retired(sha256: Sha256, bytes: u64, record: Option<&DeploymentRecord>) -> Self {
        let record = record.filter(|r| r.sha256.eq_ignore_ascii_case(sha256.as_str()));
        KeptRelease {
            sha256,
            bytes,
            commit: record.and_then(|r| r.commit.clone()),
            build: record.and_then(|r| r.build.clone()),
            deployed_at: record.map(|r| r.deployed_at.clone()),
            deployed_by: record.map(|r| r.operator.clone()),
            rollout_id: record.map(|r| r.rollout_id.clone()),
            kept_at: crate::time::now_utc(),
        }
    }
}

impl KeptRelease {
    /// A release found as a file only: when it was kept is not known.
    fn unknown_age(mut self) -> Self {
        self.kept_at = String::new();
        self
    }
}

/// `kept.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Index {
    schema: u32,
    /// Newest first.
    releases: Vec<KeptRelease>,
}

const SCHEMA: u32 = 1;

/// `releases/<instance>/kept.json`.
pub(crate) fn index_path(inst: &InstanceHandle) -> Result<RemotePath, InvalidName> {
    inst.releases_dir()?.join("kept.json")
}

/// `releases/<instance>/kept`.
pub(crate) fn kept_dir(inst: &InstanceHandle) -> Result<RemotePath, InvalidName> {
    inst.releases_dir()?.join("kept")
}

/// Where the release `sha256` is kept: named by its whole digest.
pub(crate) fn kept_war(inst: &InstanceHandle, sha256: &Sha256) -> Result<RemotePath, InvalidName> {
    kept_dir(inst)?.join(&format!("{}.war", sha256.as_str()))
}

/// Why the index could not be read.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum IndexError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("{path}: not a kept-releases index ({reason})")]
    Unreadable { path: String, reason: String },
}

/// The releases `inst` keeps, newest first (none when it has no index yet). An entry that
/// cannot be read (edited by hand) is left out, not the whole index: its file is listed
/// again by the next prune.
pub(crate) async fn read_index(inst: &InstanceHandle) -> Result<Vec<KeptRelease>, IndexError> {
    let t = inst.transport.as_ref();
    let path = index_path(inst).map_err(TransportError::from)?;
    // One command: nothing when it is missing, an error for anything but a regular file
    // (a link is never read through as root).
    let bytes = remote::read_from(t, &path, 0).await?;
    if bytes.is_empty() && !remote::exists(t, &path).await? {
        return Ok(Vec::new());
    }
    parse_index(&path, &bytes)
}

/// The index's bytes read: its releases, newest first (see [`read_index`]).
pub(crate) fn parse_index(path: &RemotePath, bytes: &[u8]) -> Result<Vec<KeptRelease>, IndexError> {
    let unreadable = |reason: String| IndexError::Unreadable {
        path: path.to_string(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| unreadable(e.to_string()))?;
    if value.get("schema").and_then(serde_json::Value::as_u64) != Some(u64::from(SCHEMA)) {
        return Err(unreadable(format!(
            "no schema {SCHEMA} (this ihos reads {SCHEMA})"
        )));
    }
    let Some(entries) = value.get("releases").and_then(serde_json::Value::as_array) else {
        return Err(unreadable("no list of releases".into()));
    };
    let mut releases: Vec<KeptRelease> = Vec::with_capacity(entries.len());
    for entry in entries {
        if let Ok(r) = serde_json::from_value::<KeptRelease>(entry.clone()) {
            // Listed twice (by hand): the first, newest, counts.
            if !releases.iter().any(|k| k.sha256 == r.sha256) {
                releases.push(r);
            }
        }
    }
    Ok(releases)
}

/// Which releases stay and which go (both newest first, `list` newest first, each sha
/// once) when the instance runs `running`: `keep` counts the running release, so at most
/// `keep - 1` others stay; a kept copy of `running` itself stays and does not count.
pub(crate) fn prune(
    list: Vec<KeptRelease>,
    running: &Sha256,
    keep: usize,
) -> (Vec<KeptRelease>, Vec<KeptRelease>) {
    let others = keep.saturating_sub(1);
    let mut stays: Vec<KeptRelease> = Vec::new();
    let mut goes = Vec::new();
    let mut counted = 0;
    for r in list {
        if stays.iter().any(|s| s.sha256 == r.sha256) {
            continue;
        }
        if &r.sha256 == running {
            stays.push(r);
        } else if counted < others {
            counted += 1;
            stays.push(r);
        } else {
            goes.push(r);
        }
    }
    (stays, goes)
}

/// What [`keep_retired`] needs read beforehand (read while the instance drains).
pub(crate) struct Before {
    /// The index as it was (an unreadable one: why).
    pub index: Result<Vec<KeptRelease>, IndexError>,
}

/// Keeps `retired` (just saved as the previous release at `previous`): first in the index,
/// then linked. Nothing is removed here (see [`prune_kept`]). Returns what it did, for the
/// step's detail, and a warning when the old index could not be read.
pub(crate) async fn keep_retired(
    inst: &InstanceHandle,
    previous: &RemotePath,
    retired: KeptRelease,
    before: Before,
) -> Result<(String, Option<String>), StepError> {
    let t = inst.transport.as_ref();
    let (old, warning) = match before.index {
        Ok(list) => (list, None),
        Err(IndexError::Transport(e)) => return Err(e.into()),
        Err(e @ IndexError::Unreadable { .. }) => (
            Vec::new(),
            Some(format!(
                "{e}: written again; the releases in {} are listed again once this instance is updated",
                kept_dir(inst).map_err(TransportError::from)?
            )),
        ),
    };
    let short = retired.sha256.short().to_string();
    let sha = retired.sha256.clone();
    let mut releases = vec![retired];
    releases.extend(old.into_iter().filter(|r| r.sha256 != sha));
    write_index(inst, releases).await?;
    link_or_copy(
        t,
        previous,
        &kept_war(inst, &sha).map_err(TransportError::from)?,
    )
    .await?;
    Ok((format!("{short} kept"), warning))
}

async fn write_index(inst: &InstanceHandle, releases: Vec<KeptRelease>) -> Result<(), StepError> {
    let index = Index {
        schema: SCHEMA,
        releases,
    };
    let json = serde_json::to_vec_pretty(&index).map_err(|e| StepError::Encode {
        what: "the kept-releases index",
        reason: e.to_string(),
    })?;
    let path = index_path(inst).map_err(TransportError::from)?;
    remote::replace_file(inst.transport.as_ref(), &path, &json, Privilege::Sudo, None).await?;
    Ok(())
}

/// Prunes `inst`'s kept releases to `keep` now that it runs `running` (healthy, back in
/// rotation): the files are the truth (an unlisted `<sha256>.war` is listed again, oldest;
/// an entry whose file is gone is dropped; a temporary file of a cut-off copy is removed),
/// then the oldest beyond `keep` go, file first. Returns what it did.
pub(crate) async fn prune_kept(
    inst: &InstanceHandle,
    running: &Sha256,
    keep: usize,
) -> Result<String, StepError> {
    let t = inst.transport.as_ref();
    let dir = kept_dir(inst).map_err(TransportError::from)?;
    if !remote::is_dir(t, &dir).await? {
        return Ok("no release kept".into());
    }
    let (names, index) = tokio::join!(list_dir(t, &dir), read_index(inst));
    let names = names?;
    // An index that cannot be read says nothing of the files' ages (or is a newer ihos's):
    // they are listed again, and nothing is deleted by a guess.
    let (listed, trusted) = match index {
        Ok(list) => (list, true),
        Err(IndexError::Transport(e)) => return Err(e.into()),
        Err(IndexError::Unreadable { .. }) => (Vec::new(), false),
    };
    let files: Vec<Sha256> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".war").and_then(Sha256::parse))
        .filter(|sha| names.iter().any(|n| n == &format!("{}.war", sha.as_str())))
        .collect();
    let mut list: Vec<KeptRelease> = listed
        .iter()
        .filter(|r| files.contains(&r.sha256))
        .cloned()
        .collect();
    let mut adopted = 0;
    for sha in &files {
        if !list.iter().any(|r| &r.sha256 == sha) {
            let path = kept_war(inst, sha).map_err(TransportError::from)?;
            let bytes = remote::file_size(t, &path).await?.unwrap_or(0);
            list.push(KeptRelease::retired(sha.clone(), bytes, None).unknown_age());
            adopted += 1;
        }
    }
    let (stays, goes) = match trusted {
        true => prune(list, running, keep),
        false => (list, Vec::new()),
    };
    for r in &goes {
        let path = kept_war(inst, &r.sha256).map_err(TransportError::from)?;
        run_checked(
            t,
            &Command::new("rm").args(["-f", "--", path.as_str()]).sudo(),
        )
        .await?;
    }
    // Cut-off copies (the link's fallback) left by a crash: ihos's own temporary names.
    for n in names
        .iter()
        .filter(|n| n.starts_with('.') && n.contains(".ihos-tmp-"))
    {
        if let Ok(path) = dir.join(n) {
            remote::remove_quietly(t, &path, Privilege::Sudo).await;
        }
    }
    let dropped = listed.len() + adopted - stays.len() - goes.len();
    if stays != listed {
        write_index(inst, stays.clone()).await?;
    }
    let others = stays.iter().filter(|r| &r.sha256 != running).count();
    let mut said = format!("{others} earlier release(s) kept");
    if !goes.is_empty() {
        let shas: Vec<&str> = goes.iter().map(|r| r.sha256.short()).collect();
        said.push_str(&format!(", pruned {}", shas.join(", ")));
    }
    if adopted > 0 {
        said.push_str(&format!(", {adopted} unlisted file(s) listed again"));
    }
    if dropped > 0 {
        said.push_str(&format!(
            ", {dropped} entry(ies) whose file is gone dropped"
        ));
    }
    Ok(said)
}

/// The names in `dir` (`ls -1 -A`: one a line, hidden ones too). A name holding a line
/// break comes out in pieces that match nothing ihos looks for.
async fn list_dir(t: &dyn Transport, dir: &RemotePath) -> Result<Vec<String>, TransportError> {
    let out = run_checked(
        t,
        &Command::new("ls")
            .args(["-1", "-A", "--", dir.as_str()])
            .sudo(),
    )
    .await?;
    Ok(out
        .stdout_text()
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect())
}

/// A hard link of `src` at `dst` (`ln -f -T`: `dst` itself is replaced, never a directory
/// there); where the file system has none, a copy.
async fn link_or_copy(
    t: &dyn Transport,
    src: &RemotePath,
    dst: &RemotePath,
) -> Result<(), TransportError> {
    let ln = Command::new("ln")
        .args(["-f", "-T", "--", src.as_str(), dst.as_str()])
        .sudo();
    match run_checked(t, &ln).await {
        Ok(_) => Ok(()),
        Err(TransportError::Failed { .. }) => remote::copy_atomic(t, src, dst).await,
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(n: u8) -> KeptRelease {
        KeptRelease {
            sha256: Sha256::of_bytes(&[n]),
            bytes: 1,
            commit: None,
            build: Some(n.to_string()),
            deployed_at: None,
            deployed_by: None,
            rollout_id: None,
            kept_at: format!("2026-12-0{n}T00:00:00Z"),
        }
    }

    fn builds(list: &[KeptRelease]) -> Vec<&str> {
        list.iter().map(|r| r.build.as_deref().unwrap()).collect()
    }

    #[test]
    fn keep_counts_the_running_release() {
        // Kept 3, 2 and 1, running 4 with keep 3: 3 and 2 stay, 1 goes.
        let (stays, goes) = prune(
            vec![release(3), release(2), release(1)],
            &release(4).sha256,
            3,
        );
        assert_eq!(builds(&stays), ["3", "2"]);
        assert_eq!(builds(&goes), ["1"]);
        // keep 1: only what runs.
        let (stays, goes) = prune(vec![release(3), release(2)], &release(4).sha256, 1);
        assert!(stays.is_empty());
        assert_eq!(builds(&goes), ["3", "2"]);
    }

    #[test]
    fn the_running_release_stays_and_a_release_listed_twice_is_never_removed() {
        // Back on 1 (kept) from 3: 1 stays (it runs) without counting.
        let before = vec![release(3), release(2), release(1)];
        let (stays, goes) = prune(before, &release(1).sha256, 2);
        assert_eq!(builds(&stays), ["3", "1"]);
        assert_eq!(builds(&goes), ["2"]);
        // 3 listed twice (an index edited by hand): once in stays, never in goes (its
        // file would be removed under the entry that stays).
        let twice = vec![release(3), release(2), release(3), release(1)];
        let (stays, goes) = prune(twice, &release(9).sha256, 2);
        assert_eq!(builds(&stays), ["3"]);
        assert_eq!(builds(&goes), ["2", "1"]);
    }

    #[test]
    fn a_record_about_another_file_describes_nothing() {
        let rec = DeploymentRecord {
            instance: "a".into(),
            sha256: Sha256::of_bytes(b"other").to_string(),
            bytes: 1,
            commit: Some("c0ffee".into()),
            build: Some("7".into()),
            rollout_id: "r".into(),
            operator: "o".into(),
            deployed_at: "t".into(),
            action: "deploy".into(),
        };
        let r = KeptRelease::retired(Sha256::of_bytes(b"this"), 4, Some(&rec));
        assert_eq!((r.commit, r.build, r.deployed_at), (None, None, None));
        let r = KeptRelease::retired(Sha256::of_bytes(b"other"), 5, Some(&rec));
        assert_eq!(r.build.as_deref(), Some("7"));
        assert_eq!(r.deployed_by.as_deref(), Some("o"));
    }
}
