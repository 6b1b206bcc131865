//! The rollout lock: one rollout at a time per load balancer. A directory created with
//! `mkdir` (atomic: exactly one of two racing rollouts succeeds) on the load balancer's
//! host, holding `owner.json` (who, since when, which WAR).

use serde::{Deserialize, Serialize};

use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError, command_failed, remote, run_checked};

/// Who holds the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockOwner {
    /// The rollout's id.
    pub rollout_id: String,
    /// `user@machine` that runs it.
    pub owner: String,
    /// Its process id there.
    pub pid: u32,
    /// When it took the lock (RFC 3339 UTC).
    pub since: String,
    /// SHA-256 of the WAR being rolled out.
    pub sha256: String,
}

/// `state_dir/lock`.
pub(crate) fn lock_dir(state_dir: &RemotePath) -> Result<RemotePath, TransportError> {
    Ok(state_dir.join("lock")?)
}

/// Takes the lock. `Ok(Err(owner))` when someone else holds it.
pub(crate) async fn acquire(
    t: &dyn Transport,
    state_dir: &RemotePath,
    me: &LockOwner,
) -> Result<Result<(), Option<LockOwner>>, TransportError> {
    remote::mkdir_p(t, state_dir, Privilege::Sudo).await?;
    let dir = lock_dir(state_dir)?;
    let mkdir = Command::new("mkdir").args(["--", dir.as_str()]).sudo();
    let out = t.run(&mkdir).await?;
    if !out.success() {
        if out.stderr_text().contains("File exists") {
            return Ok(Err(status(t, state_dir).await?));
        }
        return Err(command_failed(t.host(), &mkdir, &out));
    }
    let bytes = serde_json::to_vec_pretty(me).unwrap_or_default();
    t.write_file_in_place(&dir.join("owner.json")?, &bytes, Privilege::Sudo)
        .await?;
    Ok(Ok(()))
}

/// Who holds the lock, if anyone. A lock whose owner file is missing or unreadable (a
/// crash between `mkdir` and writing it) reads as held by an unknown owner.
pub(crate) async fn status(
    t: &dyn Transport,
    state_dir: &RemotePath,
) -> Result<Option<LockOwner>, TransportError> {
    let dir = lock_dir(state_dir)?;
    if !remote::exists(t, &dir).await? {
        return Ok(None);
    }
    let owner = t
        .read_file(&dir.join("owner.json")?, Privilege::Sudo)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Ok(Some(owner.unwrap_or(LockOwner {
        rollout_id: "unknown".into(),
        owner: "unknown (owner file missing)".into(),
        pid: 0,
        since: "unknown".into(),
        sha256: String::new(),
    })))
}

/// Releases the lock. With `only_if` set, only when that rollout holds it.
pub(crate) async fn release(
    t: &dyn Transport,
    state_dir: &RemotePath,
    only_if: Option<&str>,
) -> Result<bool, TransportError> {
    if let Some(id) = only_if {
        match status(t, state_dir).await? {
            Some(o) if o.rollout_id == id => {}
            _ => return Ok(false),
        }
    }
    let dir = lock_dir(state_dir)?;
    run_checked(
        t,
        &Command::new("rm").args(["-rf", "--", dir.as_str()]).sudo(),
    )
    .await?;
    Ok(true)
}
