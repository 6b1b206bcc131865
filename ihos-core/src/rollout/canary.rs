//! Operations on the canary outside a deploy: open and close its cohort route, its status
//! against the fleet's, and the exact WAR it runs (for promoting it to the fleet).

use std::path::Path;

use serde::Serialize;

use super::deployment_record::{DeploymentRecord, read_record};
use super::journal;
use super::lock::{LeftLock, LockFailure, LockOwner, with_lock};
use super::op_error::OpError;
use super::ops::{InstanceView, check_ready, status};
use super::route_times;
use crate::cohort::Cohort;
use crate::command::Privilege;
use crate::fleet::{Fleet, InstanceHandle};
use crate::lb::{CanaryRoute, CanaryRule, LbChange, LbError};
use crate::sha::Sha256;
use crate::transport::{TransportError, remote};
use crate::war::{WarError, WarFile};

impl From<LockFailure> for CanaryError {
    fn from(e: LockFailure) -> Self {
        match e {
            LockFailure::Held { host, owner } => CanaryError::LockHeld { host, owner },
            LockFailure::NotReleased { host, reason } => {
                CanaryError::LockNotReleased { host, reason }
            }
            LockFailure::Transport(e) => CanaryError::Transport(e),
        }
    }
}

/// A failure of a canary operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanaryError {
    /// The topology has no `[canary]` section.
    #[error("the topology has no canary (no [canary] section)")]
    NoCanary,
    /// The canary is not running and healthy, so its route is not opened (invariant 2).
    #[error("{instance}: {reason}: not healthy, the canary route stays closed")]
    NotHealthy {
        /// The canary instance.
        instance: String,
        /// What is wrong.
        reason: String,
    },
    /// A rollout holds the lock on the load balancer's host.
    #[error("a rollout holds the lock on {host}{}; try again when it is done", owner.as_ref().map(|o| format!(" ({} since {}, rollout {})", o.owner, o.since, o.rollout_id)).unwrap_or_default())]
    LockHeld {
        /// The load balancer's host.
        host: String,
        /// Who holds it, when readable.
        owner: Option<Box<LockOwner>>,
    },
    /// The canary has no WAR deployed at the expected place.
    #[error("{instance}: no WAR at {path} on {host}")]
    NoWar {
        /// The canary instance.
        instance: String,
        /// Its host.
        host: String,
        /// Where the WAR should be.
        path: String,
    },
    /// The WAR the canary runs is not the one its deployment record names (changed by hand
    /// since): promoting it would deploy something nobody recorded.
    #[error(
        "{instance}: {path} has sha256 {actual}, but its deployment record says {recorded}; deploy it with `ihos canary deploy` first"
    )]
    NotRecorded {
        /// The canary instance.
        instance: String,
        /// The WAR on its host.
        path: String,
        /// Its actual SHA-256.
        actual: String,
        /// The recorded SHA-256.
        recorded: String,
    },
    /// The canary has no deployment record: its WAR was not put there by ihos, so it is
    /// not promoted.
    #[error(
        "{instance}: no deployment record for {path}: deploy it with `ihos canary deploy` first, so the fleet gets a recorded release"
    )]
    NoRecord {
        /// The canary instance.
        instance: String,
        /// The WAR on its host.
        path: String,
    },
    /// The canary's deployment record cannot be read.
    #[error("{instance}: its deployment record {path} is unreadable: {reason}")]
    BadRecord {
        /// The canary instance.
        instance: String,
        /// The record file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The route change was made, but releasing the rollout lock afterwards failed.
    #[error(
        "{host}: the route change is done, but releasing the lock failed ({reason}); `ihos lock release` breaks it"
    )]
    LockNotReleased {
        /// The load balancer's host.
        host: String,
        /// Why.
        reason: String,
    },
    /// The copy fetched from the canary host differs from the WAR there.
    #[error("the copy of {path} fetched from {host} has sha256 {got}, expected {expected}")]
    CopyMismatch {
        /// The canary's host.
        host: String,
        /// The WAR there.
        path: String,
        /// SHA-256 of the local copy.
        got: String,
        /// SHA-256 on the host.
        expected: String,
    },
    /// Writing the local copy failed.
    #[error("{path}: {reason}")]
    Local {
        /// The local file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The fetched WAR did not pass validation.
    #[error(transparent)]
    War(#[from] WarError),
    /// Editing, validating or applying the route failed (the previous site file is back).
    #[error(transparent)]
    Lb(#[from] LbError),
    /// Reaching a host failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

/// One release and the fleet instances that run it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Release {
    /// SHA-256 of the WAR (`None`: nothing recorded).
    pub sha256: Option<String>,
    /// Its commit, when recorded.
    pub commit: Option<String>,
    /// The instances running it.
    pub instances: Vec<String>,
}

/// What `ihos canary status` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CanaryStatus {
    /// The route as the site file says (`None` when it could not be read: see `errors`).
    pub rule: Option<CanaryRule>,
    /// The id prefixes its regex selects, when it is one ihos writes (either style).
    pub cohort: Option<Vec<String>>,
    /// The canary instance.
    pub canary: InstanceView,
    /// The fleet's releases, most instances first.
    pub fleet: Vec<Release>,
    /// Whether the canary runs something the fleet does not run everywhere.
    pub ahead: bool,
    /// Errors met while looking.
    pub errors: Vec<String>,
}

/// The canary instance and its route (both, or the topology has no canary).
fn canary(fleet: &Fleet) -> Result<(&InstanceHandle, &dyn CanaryRoute), CanaryError> {
    match (&fleet.canary, &fleet.canary_route) {
        (Some(c), Some(r)) => Ok((c, r.as_ref())),
        _ => Err(CanaryError::NoCanary),
    }
}

/// The canary's route, its instance and the fleet's releases.
pub async fn canary_status(fleet: &Fleet) -> Result<CanaryStatus, CanaryError> {
    let (inst, route) = canary(fleet)?;
    let ((views, lb_error), rule) = tokio::join!(status(fleet), route.rule());
    let mut errors: Vec<String> = lb_error.into_iter().collect();
    let rule = match rule {
        Ok(r) => Some(r),
        Err(e) => {
            errors.push(format!("canary route: {e}"));
            None
        }
    };
    let mut releases: Vec<Release> = Vec::new();
    let mut canary_view = None;
    for v in views {
        if v.instance == inst.name() {
            canary_view = Some(v);
            continue;
        }
        let (sha, commit) = v
            .deployed
            .as_ref()
            .map_or((None, None), |d| (Some(d.sha256.clone()), d.commit.clone()));
        match releases.iter_mut().find(|r| r.sha256 == sha) {
            Some(r) => r.instances.push(v.instance),
            None => releases.push(Release {
                sha256: sha,
                commit,
                instances: vec![v.instance],
            }),
        }
    }
    releases.sort_by_key(|r| std::cmp::Reverse(r.instances.len()));
    let canary_view = canary_view.ok_or(CanaryError::NoCanary)?;
    let canary_sha = canary_view.deployed.as_ref().map(|d| d.sha256.clone());
    let ahead = canary_sha.is_some() && !(releases.len() == 1 && releases[0].sha256 == canary_sha);
    let cohort = rule
        .as_ref()
        .and_then(|r| r.regex.as_deref())
        .and_then(Cohort::from_regex)
        .map(|c| c.prefixes().to_vec());
    Ok(CanaryStatus {
        cohort,
        rule,
        canary: canary_view,
        fleet: releases,
        ahead,
        errors,
    })
}

/// An interrupted canary deploy remembers whether the route was open, to reopen it when
/// resumed; an operator who opens or closes the route meanwhile has decided otherwise, so
/// the journal takes the new state.
async fn record_route_decision(fleet: &Fleet, open: bool) -> Result<(), CanaryError> {
    let t = fleet.lb_transport.as_ref();
    let Some(j) = journal::load(t, &fleet.lb_state_dir).await? else {
        return Ok(());
    };
    if !j.is_unfinished_canary_deploy() {
        return Ok(());
    }
    for entry in j.instances.iter().filter(|e| e.canary_was_open.is_some()) {
        let mut e = entry.clone();
        e.canary_was_open = Some(open);
        journal::append_entry(t, &fleet.lb_state_dir, &e).await?;
    }
    Ok(())
}

/// Opens the route for the users `regex` selects, matched with `operator` (`~` or `~*`),
/// only if the canary's container runs and its health URL answers as expected.
pub async fn open_canary(
    fleet: &Fleet,
    operator: &str,
    regex: &str,
) -> Result<LbChange, CanaryError> {
    let (inst, route) = canary(fleet)?;
    with_lock(fleet, "canary-open", LeftLock::Refuse, async {
        check_healthy(inst).await?;
        let change = route.open(operator, regex).await?;
        record_route_decision(fleet, true).await?;
        if change.changed() {
            route_times::note(fleet, true).await;
        }
        Ok(change)
    })
    .await
}

/// Closes the route: no user reaches the canary through it any more.
pub async fn close_canary(fleet: &Fleet) -> Result<LbChange, CanaryError> {
    let (_, route) = canary(fleet)?;
    with_lock(fleet, "canary-close", LeftLock::Refuse, async {
        let change = route.close().await?;
        record_route_decision(fleet, false).await?;
        if change.changed() {
            route_times::note(fleet, false).await;
        }
        Ok(change)
    })
    .await
}

/// The canary takes requests only when ready (the same check as `ihos enable`).
async fn check_healthy(inst: &InstanceHandle) -> Result<(), CanaryError> {
    let reason = match check_ready(inst).await {
        Ok(()) => return Ok(()),
        Err(OpError::NotRunning {
            container, status, ..
        }) => format!("container {container} is {status}"),
        Err(OpError::NotHealthy {
            url, got, expected, ..
        }) => format!(
            "{url} answered {}, expected {expected}",
            got.map_or("nothing".to_string(), |s| s.to_string())
        ),
        Err(OpError::Transport(e)) => return Err(e.into()),
        Err(e) => e.to_string(),
    };
    Err(CanaryError::NotHealthy {
        instance: inst.name().to_string(),
        reason,
    })
}

/// The canary's last deployment record, if any.
async fn record(inst: &InstanceHandle) -> Result<Option<DeploymentRecord>, CanaryError> {
    let Some((path, bytes)) = read_record(inst).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| CanaryError::BadRecord {
            instance: inst.name().to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })
}

/// Copies the exact WAR the canary runs into `dir` (as `ihos-<sha>.war`; an existing copy
/// with the right SHA-256 is reused) and opens it, with the commit of the canary's
/// deployment record. Refuses a WAR that differs from that record. The copy is streamed:
/// memory stays bounded whatever the WAR's size.
pub async fn canary_war(fleet: &Fleet, dir: &Path) -> Result<WarFile, CanaryError> {
    let (inst, _) = canary(fleet)?;
    let t = inst.transport.as_ref();
    let war = inst.war_path().map_err(TransportError::from)?;
    let Some(actual) = remote::sha256_if_exists(t, &war).await? else {
        return Err(CanaryError::NoWar {
            instance: inst.name().to_string(),
            host: inst.config.host.clone(),
            path: war.to_string(),
        });
    };
    // Only a WAR a canary deploy recorded is promoted: one copied by hand has no history.
    let Some(rec) = record(inst).await? else {
        return Err(CanaryError::NoRecord {
            instance: inst.name().to_string(),
            path: war.to_string(),
        });
    };
    if rec.sha256 != actual {
        return Err(CanaryError::NotRecorded {
            instance: inst.name().to_string(),
            path: war.to_string(),
            actual: actual.to_string(),
            recorded: rec.sha256.clone(),
        });
    }
    let local = dir.join(format!("ihos-{}.war", actual.file_tag()));
    let have = Sha256::of_file(&local).ok().as_ref() == Some(&actual);
    if !have {
        std::fs::create_dir_all(dir).map_err(|e| CanaryError::Local {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let copied = t.download(&war, &local, Privilege::Sudo).await?;
        // The download checked the host's digest at that moment; the record's is the one
        // promoted.
        if copied.sha256 != actual {
            let _ = std::fs::remove_file(&local);
            return Err(CanaryError::CopyMismatch {
                host: inst.config.host.clone(),
                path: war.to_string(),
                got: copied.sha256.to_string(),
                expected: actual.to_string(),
            });
        }
    }
    let opened = WarFile::open(&local)?;
    Ok(opened.with_commit(rec.commit).with_build(rec.build))
}
