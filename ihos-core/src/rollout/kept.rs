//! The releases an instance keeps on its host (`policy.keep_releases`). Each release a run
//! takes out of webapps is kept as `releases/<instance>/kept/<sha256>.war`, a hard link to
//! the previous release it has just saved (no second copy on disk), and described in
//! `releases/<instance>/kept.json`, newest first, with what its deployment record said.
//! `ihos releases` lists them; `ihos rollback --to` puts one back.
//!
//! The index is the authority: a kept file is removed before the index that no longer
//! lists it is written, and linked after the index that lists it, so a crash anywhere
//! leaves at worst an entry whose file is missing (shown as such, pruned later), never a
//! file nobody lists.

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

/// The releases `inst` keeps, newest first (none when it has no index yet).
pub(crate) async fn read_index(inst: &InstanceHandle) -> Result<Vec<KeptRelease>, IndexError> {
    let t = inst.transport.as_ref();
    let path = index_path(inst).map_err(TransportError::from)?;
    if !remote::exists(t, &path).await? {
        return Ok(Vec::new());
    }
    let bytes = t.read_file(&path, Privilege::Sudo).await?;
    let index: Index = serde_json::from_slice(&bytes).map_err(|e| IndexError::Unreadable {
        path: path.to_string(),
        reason: e.to_string(),
    })?;
    if index.schema != SCHEMA {
        return Err(IndexError::Unreadable {
            path: path.to_string(),
            reason: format!("schema {} (this ihos reads {SCHEMA})", index.schema),
        });
    }
    Ok(index.releases)
}

/// Which releases stay and which go once `retired` joins `before` (newest first) and the
/// instance is about to run `incoming`: `keep` counts the running release, so at most
/// `keep - 1` others stay; a kept copy of `incoming` itself stays (it runs) and does not
/// count. Returns (stays, goes), both newest first.
pub(crate) fn prune(
    before: Vec<KeptRelease>,
    retired: KeptRelease,
    incoming: &Sha256,
    keep: usize,
) -> (Vec<KeptRelease>, Vec<KeptRelease>) {
    let others = keep.saturating_sub(1);
    let mut stays = Vec::new();
    let mut goes = Vec::new();
    let mut counted = 0;
    let all = std::iter::once(retired.clone())
        .chain(before.into_iter().filter(|r| r.sha256 != retired.sha256));
    for r in all {
        if &r.sha256 == incoming {
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
    /// The index as it was (an unreadable one: why, and it is started again).
    pub index: Result<Vec<KeptRelease>, IndexError>,
}

/// Keeps `retired` (just saved as the previous release at `previous`) and prunes to
/// `keep`: removes what goes, writes the index, links the file. Returns what it did, for
/// the step's detail, and a warning when the old index could not be read.
pub(crate) async fn keep_retired(
    inst: &InstanceHandle,
    previous: &RemotePath,
    retired: KeptRelease,
    incoming: &Sha256,
    keep: usize,
    before: Before,
) -> Result<(String, Option<String>), StepError> {
    let t = inst.transport.as_ref();
    let (old, warning) = match before.index {
        Ok(list) => (list, None),
        Err(IndexError::Transport(e)) => return Err(e.into()),
        Err(e @ IndexError::Unreadable { .. }) => (
            Vec::new(),
            Some(format!(
                "{e}: started again; the releases it listed are no longer listed (their files stay in {})",
                kept_dir(inst).map_err(TransportError::from)?
            )),
        ),
    };
    let short = retired.sha256.short().to_string();
    let sha = retired.sha256.clone();
    let (stays, goes) = prune(old, retired, incoming, keep);
    for r in &goes {
        let path = kept_war(inst, &r.sha256).map_err(TransportError::from)?;
        run_checked(
            t,
            &Command::new("rm").args(["-f", "--", path.as_str()]).sudo(),
        )
        .await?;
    }
    let index = Index {
        schema: SCHEMA,
        releases: stays,
    };
    let json = serde_json::to_vec_pretty(&index).map_err(|e| StepError::Encode {
        what: "the kept-releases index",
        reason: e.to_string(),
    })?;
    let index_file = index_path(inst).map_err(TransportError::from)?;
    remote::replace_file(t, &index_file, &json, Privilege::Sudo).await?;
    let kept = index.releases.iter().any(|r| r.sha256 == sha);
    if kept {
        link_or_copy(
            t,
            previous,
            &kept_war(inst, &sha).map_err(TransportError::from)?,
        )
        .await?;
    }
    let pruned = match goes.len() {
        0 => String::new(),
        _ => format!(
            "; pruned {}",
            goes.iter()
                .map(|r| r.sha256.short())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let others = index
        .releases
        .iter()
        .filter(|r| &r.sha256 != incoming)
        .count();
    let detail = match kept {
        true => format!("{short} kept ({others} earlier release(s) kept{pruned})"),
        false => format!("policy.keep_releases = {keep}: {short} not kept{pruned}"),
    };
    Ok((detail, warning))
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
        // Kept 2 and 1, running 3, deploying 4 with keep 3: 3 joins, 1 goes.
        let (stays, goes) = prune(
            vec![release(2), release(1)],
            release(3),
            &release(4).sha256,
            3,
        );
        assert_eq!(builds(&stays), ["3", "2"]);
        assert_eq!(builds(&goes), ["1"]);
        // keep 1: only what runs; the retired release is not kept either.
        let (stays, goes) = prune(vec![release(2)], release(3), &release(4).sha256, 1);
        assert!(stays.is_empty());
        assert_eq!(builds(&goes), ["3", "2"]);
    }

    #[test]
    fn the_incoming_release_stays_and_a_retired_one_is_listed_once() {
        // Going back to 1 (kept) from 3: 1 stays (it runs), 3 is kept once, newest first.
        let before = vec![release(3), release(2), release(1)];
        let (stays, goes) = prune(before, release(3), &release(1).sha256, 2);
        assert_eq!(builds(&stays), ["3", "1"]);
        assert_eq!(builds(&goes), ["2"]);
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
