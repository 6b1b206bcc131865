//! Operations on single instances outside a rollout: status, manual drain and enable, the
//! audit history. They keep the same safety checks as a rollout.

use std::collections::BTreeMap;

use serde::Serialize;

use super::cancel::CancelToken;
use super::ctx::Env;
use super::deployment_record::{DeploymentRecord, read_record};
use super::drain::{check_unavailable, drain};
use super::event::{Emitter, EventSink};
use super::journal::Journal;
use super::lock::{self, LeftLock, with_lock};
use super::op_error::OpError;
use super::record::read_audit_log;
use super::step::StepError;
use crate::container::ContainerState;
use crate::fleet::{Fleet, InstanceHandle};
use crate::lb::{Backend, LbChange, ServerState};
use crate::transport::{TransportError, remote};

/// What `ihos status` shows for one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InstanceView {
    /// The instance.
    pub instance: String,
    /// Its host.
    pub host: String,
    /// Its backend address.
    pub backend: String,
    /// Its state in the upstream (`None` for the canary, which is not in it, or when the
    /// address is missing from the upstream).
    pub rotation: Option<ServerState>,
    /// Its container.
    pub container: Option<ContainerState>,
    /// HTTP status of its health URL (`None`: no answer).
    pub health_status: Option<u16>,
    /// Whether that is the expected status.
    pub healthy: bool,
    /// The last deployment recorded on its host.
    pub deployed: Option<DeploymentRecord>,
    /// Errors met while looking.
    pub errors: Vec<String>,
}

async fn view(inst: &InstanceHandle, rotation: &BTreeMap<String, ServerState>) -> InstanceView {
    let mut errors = Vec::new();
    let t = inst.transport.as_ref();
    let container = match inst.container.state().await {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    let health_status =
        match remote::probe(t, &inst.config.health.url, inst.config.health.timeout.0).await {
            Ok(s) => s,
            Err(e) => {
                errors.push(e.to_string());
                None
            }
        };
    let deployed = match read_record(inst).await {
        Ok(Some((_, bytes))) => serde_json::from_slice(&bytes).ok(),
        Ok(None) => None,
        Err(e) => {
            errors.push(e.to_string());
            None
        }
    };
    InstanceView {
        instance: inst.name().to_string(),
        host: inst.config.host.clone(),
        backend: inst.config.backend.clone(),
        rotation: rotation.get(&inst.config.backend).copied(),
        healthy: health_status == Some(inst.config.health.expect_status),
        container,
        health_status,
        deployed,
        errors,
    }
}

/// The state of every instance (fleet and canary), looked up in parallel.
pub async fn status(fleet: &Fleet) -> (Vec<InstanceView>, Option<String>) {
    let (rotation, lb_error) = match fleet.lb.backends().await {
        Ok(b) => (
            b.into_iter()
                .map(|b| (b.address, b.state))
                .collect::<BTreeMap<_, _>>(),
            None,
        ),
        Err(e) => (BTreeMap::new(), Some(e.to_string())),
    };
    let all: Vec<&InstanceHandle> = fleet.instances.iter().chain(fleet.canary.iter()).collect();
    let views = futures_util::future::join_all(all.into_iter().map(|i| view(i, &rotation))).await;
    (views, lb_error)
}

/// What one load balancer says of the upstream (with several, each can differ while a
/// change is made or after one failed).
#[derive(Debug, Clone, Serialize)]
pub struct LbRotation {
    /// Its host (topology name).
    pub host: String,
    /// Its nginx container.
    pub container: String,
    /// Its config file.
    pub config: String,
    /// The upstream's backends and their state, as its config says.
    pub backends: Vec<Backend>,
    /// Why they could not be read, if they could not.
    pub error: Option<String>,
}

/// Each load balancer's view of the upstream, in the topology's order.
pub async fn lb_rotations(fleet: &Fleet) -> Vec<LbRotation> {
    futures_util::future::join_all(fleet.lbs.iter().map(|h| async move {
        let (backends, error) = match h.lb.backends().await {
            Ok(b) => (b, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        LbRotation {
            host: h.config.host.clone(),
            container: h.config.container.clone(),
            config: h.config.config.clone(),
            backends,
            error,
        }
    }))
    .await
}

/// Takes `name` out of rotation (respecting `max_unavailable` and never the last backend)
/// and waits until it is idle, as a rollout would. Returns what was done.
pub async fn drain_instance(
    fleet: &Fleet,
    name: &str,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<String, OpError> {
    let inst = fleet.find_instance(name)?;
    with_lock(fleet, "manual-drain", LeftLock::Repair, async {
        let emitter = Emitter::new(sink);
        let env = Env::new(fleet, &emitter, cancel);
        check_unavailable(&env, &inst.config.backend)
            .await
            .map_err(|e| match e {
                StepError::TooManyUnavailable { .. } => OpError::Unavailable {
                    instance: name.to_string(),
                    reason: e.to_string(),
                },
                other => OpError::Step(Box::new(other)),
            })?;
        let change = fleet.lb.disable(&inst.config.backend).await?;
        let drained = drain(&env, inst, None).await.map_err(|e| OpError::Drain {
            instance: name.to_string(),
            reason: Box::new(e),
        })?;
        Ok(format!("{}; {}", change.message, drained.detail))
    })
    .await
}

/// Puts `name` back into rotation, only if its container runs and its health URL answers
/// the expected status (invariant 2).
pub async fn enable_instance(fleet: &Fleet, name: &str) -> Result<LbChange, OpError> {
    let inst = fleet.find_instance(name)?;
    with_lock(fleet, "manual-enable", LeftLock::Repair, async {
        check_ready(inst).await?;
        Ok(fleet.lb.enable(&inst.config.backend).await?)
    })
    .await
}

/// Invariant 2 outside a rollout: `inst` may take requests only if its container runs and
/// its health URL answers the expected status.
pub(crate) async fn check_ready(inst: &InstanceHandle) -> Result<(), OpError> {
    let state = inst.container.state().await?;
    if !state.running {
        return Err(OpError::NotRunning {
            instance: inst.name().to_string(),
            container: inst.config.container.clone(),
            status: state.status,
        });
    }
    let h = &inst.config.health;
    let got = remote::probe(inst.transport.as_ref(), &h.url, h.timeout.0).await?;
    if got != Some(h.expect_status) {
        return Err(OpError::NotHealthy {
            instance: inst.name().to_string(),
            url: h.url.clone(),
            got,
            expected: h.expect_status,
        });
    }
    Ok(())
}

/// The audit log's records, oldest first.
pub async fn history(fleet: &Fleet) -> Result<Vec<DeploymentRecord>, OpError> {
    Ok(read_audit_log(fleet).await?)
}

/// The journal of the last rollout on the fleet's load balancer host (`None`: no rollout
/// recorded one). Unless [`Journal::finished`] is set, that rollout was interrupted and
/// [`RolloutOptions::resume`](crate::RolloutOptions) continues it.
pub async fn journal(fleet: &Fleet) -> Result<Option<Journal>, TransportError> {
    super::journal::load(fleet.lb_transport.as_ref(), &fleet.lb_state_dir).await
}

/// Who holds the rollout lock.
pub async fn lock_status(fleet: &Fleet) -> Result<Option<lock::LockOwner>, OpError> {
    Ok(lock::status(fleet.lb_transport.as_ref(), &fleet.lb_state_dir).await?)
}

/// Breaks the rollout lock: returns who held it (`None`: nobody did). The caller makes sure
/// its rollout is dead first (the CLI asks for `--force` unless it is this process's). Only
/// the lock seen here is broken: if another rollout took it meanwhile, it stays.
pub async fn lock_release(fleet: &Fleet) -> Result<Option<lock::LockOwner>, OpError> {
    let t = fleet.lb_transport.as_ref();
    let Some(owner) = lock::status(t, &fleet.lb_state_dir).await? else {
        return Ok(None);
    };
    lock::release(t, &fleet.lb_state_dir, Some(&owner.rollout_id)).await?;
    Ok(Some(owner))
}
