//! [`RolloutError`]: why a rollout could not start (nothing was changed), or could not go on.

use super::lock::LockOwner;
use crate::fleet::UnknownInstance;
use crate::lb::LbError;
use crate::transport::TransportError;
use crate::war::WarError;

/// A rollout that did not run. When one of these is returned, no instance was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutError {
    /// The WAR was refused.
    #[error(transparent)]
    War(#[from] WarError),
    /// `--only` names an instance the topology does not have.
    #[error(transparent)]
    UnknownInstance(#[from] UnknownInstance),
    /// A `pre-rollout` gate hook failed: nothing was changed.
    #[error("pre-rollout hook {hook:?} failed: {why}; nothing was changed")]
    Hook {
        /// Its name.
        hook: String,
        /// Why.
        why: String,
    },
    /// Another rollout holds the lock.
    #[error(
        "{host}: another rollout holds the lock: {}; if it is dead, `ihos lock release` breaks it",
        describe_owner(owner)
    )]
    LockHeld {
        /// The load balancer's host.
        host: String,
        /// Who holds it, if known.
        owner: Option<Box<LockOwner>>,
    },
    /// Some instances are out of rotation before the rollout starts.
    #[error(
        "out of rotation before the rollout: {instances:?}; enable them (ihos enable) or leave them out (--only)"
    )]
    NotInRotation {
        /// Their names.
        instances: Vec<String>,
    },
    /// An interrupted canary deploy closed the canary's open route and did not put it
    /// back; a new run would lose that record. Nothing was changed.
    #[error(
        "canary deploy {rollout_id} was interrupted with the canary's route closed ({file} line {line}; it was open): `ihos canary deploy --resume --war ...` finishes it and reopens the route, or decide by hand with `ihos canary open --ids ...` / `ihos canary close`"
    )]
    InterruptedCanaryDeploy {
        /// The interrupted deploy.
        rollout_id: String,
        /// The site file.
        file: String,
        /// The canary block's line.
        line: u32,
    },
    /// The canary's backend is a server of the fleet's upstream: updating it outside the
    /// rotation would stop a server nginx still sends requests to. Nothing was changed.
    #[error(
        "{instance}: its backend {backend} is a server of upstream {upstream} (line {line}); the canary must not be in the fleet's upstream"
    )]
    CanaryInUpstream {
        /// The canary instance.
        instance: String,
        /// Its backend.
        backend: String,
        /// The upstream.
        upstream: String,
        /// The server's line in the config.
        line: u32,
    },
    /// A canary operation on a topology without a `[canary]` section.
    #[error("the topology has no canary (no [canary] section)")]
    NoCanary,
    /// A rollback was asked for instances that have no previous release kept.
    #[error("no previous release kept for {instances:?}: nothing to roll back to")]
    NoPreviousRelease {
        /// Their names.
        instances: Vec<String>,
    },
    /// `rollback --to`: the release is not kept by some of the instances.
    #[error(
        "release {reference} is not kept by {}{}; `ihos releases` lists what each instance keeps",
        missing.join(", "),
        kept_by(keeping)
    )]
    ReleaseNotKept {
        /// The release as named.
        reference: String,
        /// The instances that do not keep it.
        missing: Vec<String>,
        /// Those that do.
        keeping: Vec<String>,
    },
    /// `rollback --to`: the name matches several releases an instance keeps.
    #[error(
        "{instance} keeps {} releases named {reference}: {}; name one by its sha256 prefix (sha:...), commit (commit:...) or build (build:...)",
        candidates.len(),
        candidates.join("; ")
    )]
    ReleaseAmbiguous {
        /// The release as named.
        reference: String,
        /// The instance.
        instance: String,
        /// What it matches there.
        candidates: Vec<String>,
    },
    /// `rollback --to`: the name matches different releases on different instances.
    #[error(
        "{reference} names different releases on different instances ({}); name one by its sha256 prefix (sha:...)",
        releases.join("; ")
    )]
    ReleaseDiffers {
        /// The release as named.
        reference: String,
        /// Each instance and what it matches.
        releases: Vec<String>,
    },
    /// The preflight found an instance that the run cannot update safely; nothing was
    /// changed.
    #[error("preflight: {instance} on {host}: {check}: {reason}; nothing was changed")]
    Preflight {
        /// The instance.
        instance: String,
        /// Its host.
        host: String,
        /// What was checked.
        check: String,
        /// What is wrong.
        reason: String,
    },
    /// `--resume` without an unfinished journal, or with another WAR.
    #[error("cannot resume: {0}")]
    Resume(String),
    /// The load balancer could not be read.
    #[error(transparent)]
    Lb(Box<LbError>),
    /// A host could not be reached before anything changed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl From<LbError> for RolloutError {
    fn from(e: LbError) -> Self {
        RolloutError::Lb(Box::new(e))
    }
}

fn kept_by(keeping: &[String]) -> String {
    match keeping.is_empty() {
        true => " (nor by any other instance of the run)".into(),
        false => format!(" (kept by {})", keeping.join(", ")),
    }
}

fn describe_owner(owner: &Option<Box<LockOwner>>) -> String {
    match owner {
        Some(o) => format!(
            "rollout {} by {} (pid {}) since {}",
            o.rollout_id, o.owner, o.pid, o.since
        ),
        None => "owner unknown".into(),
    }
}
