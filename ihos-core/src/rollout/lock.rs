//! The rollout lock: one rollout at a time per load balancer. A directory created with
//! `mkdir` (atomic: exactly one of two racing rollouts succeeds) on the load balancer's
//! host, holding `owner.json` (who, since when, which WAR).

use serde::{Deserialize, Serialize};

use super::lock_script::{self, Taken};
use crate::command::{Command, Privilege};
use crate::names::RemotePath;
use crate::transport::{Transport, TransportError, remote, run_checked};

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
    /// The machine that runs it (its host name), where `pid` means something.
    #[serde(default)]
    pub machine: String,
    /// When that process started (clock ticks since boot, from `/proc/PID/stat`): a pid
    /// reused by another process is not taken for the holder.
    #[serde(default)]
    pub started: Option<u64>,
    /// The machine's id (`/etc/machine-id`): another machine with the same host name is
    /// not taken for this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
    /// The machine's boot id when the lock was taken: after a reboot, the holder is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
}

impl LockOwner {
    /// This process, holding the lock for `rollout_id`.
    pub(crate) fn me(rollout_id: String, owner: String, sha256: String) -> LockOwner {
        let pid = std::process::id();
        LockOwner {
            rollout_id,
            owner,
            pid,
            since: crate::time::now_utc(),
            sha256,
            machine: super::identity::machine(),
            started: super::identity::process_start(pid),
            machine_id: super::identity::machine_id(),
            boot_id: super::identity::boot_id(),
        }
    }
}

/// Whether the process that holds a lock still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Holder {
    /// It runs (here, with the same start time; or a run of this very process).
    Alive,
    /// It ran here and is gone.
    Dead,
    /// It runs on another machine, or the lock does not say: ihos cannot tell.
    Unknown,
}

/// Rollouts of this process that hold their lock now: a run resumed in this process must
/// not take the lock of one still running in it (the same pid as the lock's).
static HELD_HERE: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// Marks a rollout of this process as holding its lock until dropped (also when its future
/// is dropped mid-run, as a crash would end it).
pub(crate) struct HeldHere(String);

impl HeldHere {
    /// Marks `rollout_id` as running in this process, unless a run of this process already
    /// does (`None`): the check and the mark are one step, so of two runs started at once
    /// only one gets it.
    pub(crate) fn claim(rollout_id: &str) -> Option<HeldHere> {
        let mut held = HELD_HERE.lock().ok()?;
        held.insert(rollout_id.to_string())
            .then(|| HeldHere(rollout_id.to_string()))
    }
}

impl Drop for HeldHere {
    fn drop(&mut self) {
        if let Ok(mut held) = HELD_HERE.lock() {
            held.remove(&self.0);
        }
    }
}

/// Whether `owner`'s process still runs, for a caller that has claimed `owner`'s rollout
/// in this process ([`HeldHere::claim`]): a holder that is this very process is then a run
/// that was dropped (the claim is unique), so it is gone.
pub(crate) fn holder_after_claim(owner: &LockOwner) -> Holder {
    if owner.pid == std::process::id() && owner.machine == super::identity::machine() {
        return Holder::Dead;
    }
    holder(owner)
}

/// Whether `owner`'s process still runs, as far as this machine can tell.
pub(crate) fn holder(owner: &LockOwner) -> Holder {
    if owner.machine.is_empty() || owner.machine != super::identity::machine() {
        return Holder::Unknown;
    }
    // Same name, another machine (both say so): its processes cannot be seen from here.
    if let (Some(theirs), Some(ours)) = (&owner.machine_id, super::identity::machine_id()) {
        if *theirs != ours {
            return Holder::Unknown;
        }
    }
    // This machine booted again since: every process of the earlier boot is gone.
    if let (Some(then), Some(now)) = (&owner.boot_id, super::identity::boot_id()) {
        if *then != now {
            return Holder::Dead;
        }
    }
    if owner.pid == std::process::id() {
        let running = HELD_HERE
            .lock()
            .map_or(true, |held| held.contains(&owner.rollout_id));
        return if running { Holder::Alive } else { Holder::Dead };
    }
    match (super::identity::process_start(owner.pid), owner.started) {
        (None, _) => Holder::Dead,
        (Some(now), Some(then)) if now != then => Holder::Dead,
        (Some(_), _) => Holder::Alive,
    }
}

/// Why an operation that takes the lock for its duration could not, or could not let it go.
#[derive(Debug)]
pub(crate) enum LockFailure {
    /// Another run holds it.
    Held {
        host: String,
        owner: Option<Box<LockOwner>>,
    },
    /// The operation is done but the lock is still there.
    NotReleased { host: String, reason: String },
    /// The host could not be reached.
    Transport(TransportError),
}

/// What an operation under the lock does when a run that is gone left the lock behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeftLock {
    /// Refuse, like any held lock (route changes: the interrupted run's journal decides).
    Refuse,
    /// Go on without it (a human's repair by hand: `ihos drain` / `ihos enable`), leaving
    /// the lock for `ihos lock release`.
    Repair,
}

/// Runs `f` holding the rollout lock on the fleet's load balancer host: a change outside a
/// rollout (a route change, a manual drain or enable) never races one. `what` names the
/// operation in the lock.
pub(crate) async fn with_lock<T, E: From<LockFailure>>(
    fleet: &crate::fleet::Fleet,
    what: &str,
    left: LeftLock,
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let t = fleet.lb_transport.as_ref();
    let host = || t.host().to_string();
    let me = LockOwner::me(
        format!("{what}-{}", std::process::id()),
        what.to_string(),
        String::new(),
    );
    match acquire(t, &fleet.lb_state_dir, &me).await {
        Ok(Ok(())) => {}
        // A run that ended NotRestored keeps its lock so that no new rollout starts before a
        // human has looked; that human's drain or enable is the repair, not a race: it goes
        // on, and the kept lock stays for `ihos lock release`.
        Ok(Err(Some(owner))) if left == LeftLock::Repair && holder(&owner) == Holder::Dead => {
            return f.await;
        }
        Ok(Err(owner)) => {
            return Err(LockFailure::Held {
                host: host(),
                owner: owner.map(Box::new),
            }
            .into());
        }
        Err(e) => return Err(LockFailure::Transport(e).into()),
    }
    let _held = HeldHere::claim(&me.rollout_id);
    let mut on_drop = ReleaseOnDrop {
        transport: Some(std::sync::Arc::clone(&fleet.lb_transport)),
        state_dir: fleet.lb_state_dir.clone(),
        me: me.clone(),
    };
    let result = f.await;
    on_drop.transport = None;
    let released = release_mine(t, &fleet.lb_state_dir, &me).await;
    match (result, released) {
        (Ok(v), Ok(_)) => Ok(v),
        // The operation's own failure is what the caller must see first.
        (Err(e), _) => Err(e),
        (Ok(_), Err(e)) => Err(LockFailure::NotReleased {
            host: host(),
            reason: e.to_string(),
        }
        .into()),
    }
}

/// Releases a [`with_lock`] lock when its future is dropped while it holds it (a caller's
/// timeout or `select!`): on a task of the runtime, as a drop cannot wait. Disarmed once
/// the operation ended (the normal release follows).
struct ReleaseOnDrop {
    transport: Option<std::sync::Arc<dyn Transport>>,
    state_dir: RemotePath,
    me: LockOwner,
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        let Some(t) = self.transport.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (state_dir, me) = (self.state_dir.clone(), self.me.clone());
        runtime.spawn(async move {
            if let Err(e) = release_mine(t.as_ref(), &state_dir, &me).await {
                tracing::warn!(error = %e, "the lock of a dropped operation was not released");
            }
        });
    }
}

/// `state_dir/lock`.
pub(crate) fn lock_dir(state_dir: &RemotePath) -> Result<RemotePath, TransportError> {
    Ok(state_dir.join("lock")?)
}

/// The owner file's bytes for `me`, as the lock holds them.
pub(crate) fn owner_bytes(me: &LockOwner) -> Vec<u8> {
    serde_json::to_vec_pretty(me).unwrap_or_default()
}

/// `lock/owner.json`.
fn owner_file(dir: &RemotePath) -> Result<RemotePath, TransportError> {
    Ok(dir.join("owner.json")?)
}

/// Takes the lock. `Ok(Err(owner))` when someone else holds it. One command
/// ([`lock_script::TAKE`]); someone's owner is read only when the lock is theirs.
pub(crate) async fn acquire(
    t: &dyn Transport,
    state_dir: &RemotePath,
    me: &LockOwner,
) -> Result<Result<(), Option<LockOwner>>, TransportError> {
    let dir = lock_dir(state_dir)?;
    let owner = owner_file(&dir)?;
    let bytes = owner_bytes(me);
    match lock_script::take(t, state_dir, &dir, &owner, &bytes).await {
        Ok(Taken::Ours) => Ok(Ok(())),
        Ok(Taken::Held) => Ok(Err(status(t, state_dir).await?)),
        Err(e) => {
            // Its answer may have been lost after the lock was taken: given back if it is
            // ours (its owner file these very bytes), never someone else's.
            if matches!(
                e,
                TransportError::Disconnected { .. } | TransportError::Timeout { .. }
            ) {
                if let Err(again) = lock_script::give_back(t, &dir, &owner, &bytes).await {
                    tracing::debug!(error = %again, "the lock whose taking went unanswered was not given back");
                }
            }
            Err(e)
        }
    }
}

/// Gives back the lock `me` took, only if it still holds the owner file `me` wrote (one
/// command, [`lock_script::GIVE_BACK`]): whether it was removed.
pub(crate) async fn release_mine(
    t: &dyn Transport,
    state_dir: &RemotePath,
    me: &LockOwner,
) -> Result<bool, TransportError> {
    let dir = lock_dir(state_dir)?;
    let owner = owner_file(&dir)?;
    lock_script::give_back(t, &dir, &owner, &owner_bytes(me)).await
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
        .read_file(&owner_file(&dir)?, Privilege::Sudo)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    Ok(Some(owner.unwrap_or(LockOwner {
        rollout_id: "unknown".into(),
        owner: "unknown (owner file missing)".into(),
        pid: 0,
        since: "unknown".into(),
        sha256: String::new(),
        machine: String::new(),
        started: None,
        machine_id: None,
        boot_id: None,
    })))
}

/// Breaks the lock only if `owner` still holds it, exactly (same rollout, process and start
/// time): of two runs that judged the same dead holder, the second does not break the lock
/// the first has just taken.
pub(crate) async fn release_owner(
    t: &dyn Transport,
    state_dir: &RemotePath,
    owner: &LockOwner,
) -> Result<bool, TransportError> {
    match status(t, state_dir).await? {
        Some(o) if &o == owner => release(t, state_dir, None).await,
        _ => Ok(false),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::identity::process_start;

    #[test]
    fn a_holder_is_alive_only_if_its_very_process_still_runs() {
        let me = LockOwner::me("r-liveness".into(), "me".into(), String::new());
        // This process, no longer running that rollout (its run was dropped): gone.
        assert_eq!(holder(&me), Holder::Dead);
        let mark = HeldHere::claim("r-liveness").unwrap();
        assert!(HeldHere::claim("r-liveness").is_none(), "one mark per run");
        assert_eq!(holder(&me), Holder::Alive);
        drop(mark);
        assert_eq!(holder(&me), Holder::Dead);
        // Process 1 runs, but the lock's holder started at another time: the pid was
        // reused, the holder is gone.
        let reused = LockOwner {
            pid: 1,
            started: Some(u64::MAX),
            ..me.clone()
        };
        assert_eq!(holder(&reused), Holder::Dead);
        let init = LockOwner {
            pid: 1,
            started: process_start(1),
            ..me.clone()
        };
        assert_eq!(holder(&init), Holder::Alive);
        // Another machine, or a lock that does not say: this machine cannot tell.
        let elsewhere = LockOwner {
            machine: "another-machine".into(),
            ..me.clone()
        };
        assert_eq!(holder(&elsewhere), Holder::Unknown);
        let unsaid = LockOwner {
            machine: String::new(),
            ..me.clone()
        };
        assert_eq!(holder(&unsaid), Holder::Unknown);
        // This machine rebooted since the lock was taken: process 1 runs again (with its
        // start time), but it is not the holder.
        assert!(me.boot_id.is_some(), "Linux has a boot id");
        let before_reboot = LockOwner {
            boot_id: Some("00000000-0000-0000-0000-000000000000".into()),
            ..init.clone()
        };
        assert_eq!(holder(&before_reboot), Holder::Dead);
        // Another machine that has the same host name: this one cannot tell.
        let namesake = LockOwner {
            machine_id: Some("0123456789abcdef0123456789abcdef".into()),
            ..init
        };
        if me.machine_id.is_some() {
            assert_eq!(holder(&namesake), Holder::Unknown);
        }
        // A lock written by an earlier ihos (no ids): judged by pid and start time alone.
        let older: LockOwner = serde_json::from_str(
            r#"{"rollout_id":"r","owner":"o","pid":1,"since":"s","sha256":"","machine":"m"}"#,
        )
        .unwrap();
        assert_eq!((older.machine_id, older.boot_id), (None, None));
    }
}
