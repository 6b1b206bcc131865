//! [`Plan`]: what a rollout of a WAR would do, step by step per instance, with the current
//! state of each; built without changing anything (`ihos plan` renders it).

use serde::Serialize;

use super::event::Step;
use super::hooks;
use super::ops::{InstanceView, status};
use super::options::RolloutOptions;
use super::release::previous_path;
use crate::config::{HookOn, OnFailure, Policy};
use crate::fleet::{Fleet, InstanceHandle, UnknownInstance};
use crate::sha::Sha256;
use crate::war::WarFile;

/// What a rollout would do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    /// The WAR on this machine.
    pub war: String,
    /// Its digest.
    pub sha256: Sha256,
    /// Its size.
    pub bytes: u64,
    /// Its commit, when known.
    pub commit: Option<String>,
    /// The hosts it is uploaded to, once each, before any instance leaves rotation.
    pub upload_hosts: Vec<String>,
    /// At most this many instances out of rotation at a time.
    pub max_unavailable: usize,
    /// What a failure does.
    pub on_failure: OnFailure,
    /// Why the load balancer could not be read, when the current state was asked for.
    pub load_balancer_error: Option<String>,
    /// What the rollout's preflight checks, as it would find it now (with the current
    /// state; empty otherwise).
    pub preflight: Vec<String>,
    /// Why the preflight would refuse the rollout now, if it would.
    pub preflight_error: Option<String>,
    /// The instances, in the order they are updated.
    pub instances: Vec<PlannedInstance>,
    /// The hooks of the run as a whole (`pre-rollout: ...`, `post-rollout: ...`,
    /// `failure: ...`); an instance's are among its steps.
    pub hooks: Vec<String>,
}

/// One instance in a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedInstance {
    /// The instance.
    pub instance: String,
    /// Its container.
    pub container: String,
    /// Its host.
    pub host: String,
    /// Its backend in the upstream.
    pub backend: String,
    /// Its current state (`None`: not asked for).
    pub current: Option<InstanceView>,
    /// Whether it already runs this WAR (it is deployed again).
    pub already_deployed: bool,
    /// Its steps, in order.
    pub steps: Vec<PlannedStep>,
}

/// One step of a [`PlannedInstance`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStep {
    /// The step.
    pub step: Step,
    /// What it does there: the commands, files and limits.
    pub action: String,
}

/// The plan of rolling `war` out to the instances `options.only` selects (all when empty),
/// with their current state read from the hosts when `read_state` is set.
pub async fn plan(
    fleet: &Fleet,
    war: &WarFile,
    options: &RolloutOptions,
    read_state: bool,
) -> Result<Plan, UnknownInstance> {
    let selected = fleet.select(&options.only)?;
    let (mut views, load_balancer_error) = if read_state {
        let (views, e) = status(fleet).await;
        (Some(views), e)
    } else {
        (None, None)
    };
    let mut upload_hosts: Vec<String> = selected.iter().map(|i| i.config.host.clone()).collect();
    upload_hosts.sort();
    upload_hosts.dedup();
    let (preflight, preflight_error) = if read_state {
        match super::preflight::preflight(fleet, &selected, Some(war.bytes), None).await {
            Ok(checks) => (checks, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        }
    } else {
        (Vec::new(), None)
    };
    let policy = &fleet.topology.policy;
    let instances = selected
        .iter()
        .map(|inst| {
            let current = views.as_mut().and_then(|v| {
                let at = v.iter().position(|v| v.instance == inst.name())?;
                Some(v.swap_remove(at))
            });
            let already_deployed = current
                .as_ref()
                .and_then(|c| c.deployed.as_ref())
                .is_some_and(|d| d.sha256 == war.sha256);
            PlannedInstance {
                instance: inst.name().to_string(),
                container: inst.config.container.clone(),
                host: inst.config.host.clone(),
                backend: inst.config.backend.clone(),
                current,
                already_deployed,
                steps: steps(fleet)
                    .into_iter()
                    .map(|step| PlannedStep {
                        step,
                        action: action(fleet, policy, inst, step),
                    })
                    .collect(),
            }
        })
        .collect();
    Ok(Plan {
        war: war.path.display().to_string(),
        sha256: war.sha256.clone(),
        bytes: war.bytes,
        commit: war.commit.clone(),
        upload_hosts,
        max_unavailable: policy.max_unavailable,
        on_failure: policy.on_failure,
        load_balancer_error,
        preflight,
        preflight_error,
        instances,
        hooks: [HookOn::PreRollout, HookOn::PostRollout, HookOn::Failure]
            .into_iter()
            .flat_map(|on| {
                hooks::describe(fleet, on)
                    .into_iter()
                    .map(move |h| format!("{}: {h}", on.as_str()))
            })
            .collect(),
    })
}

/// What `step` does to `inst`, as the drivers (docker, nginx) and the engine do it.
fn action(fleet: &Fleet, p: &Policy, inst: &InstanceHandle, step: Step) -> String {
    let i = &inst.config;
    let lb = &fleet.lb_config;
    let path = |r: Result<crate::names::RemotePath, crate::names::InvalidName>| {
        r.map_or_else(|e| format!("(invalid: {e})"), |p| p.to_string())
    };
    match step {
        Step::Disable => format!(
            "comment out {} in upstream {}, nginx -t, {:?}",
            i.backend, lb.upstream, lb.apply
        ),
        Step::Drain => format!(
            "wait until idle: min {}, idle {}, max {}",
            p.drain.min, p.drain.idle, p.drain.max
        ),
        Step::Stop => format!(
            "docker stop --time {} {}",
            p.stop_grace.0.as_secs(),
            i.container
        ),
        Step::KeepPrevious => format!(
            "copy {} to {} (while it drains), link it among the kept releases (keep_releases = {}, older ones pruned)",
            path(inst.war_path()),
            path(previous_path(inst)),
            p.keep_releases
        ),
        Step::Remove => format!(
            "rm {} and {}/",
            path(inst.war_path()),
            path(inst.exploded_path())
        ),
        Step::Install => format!(
            "copy the uploaded WAR to {} (temp name, then rename), check sha256",
            path(inst.war_path())
        ),
        Step::Start => format!("docker start {}", i.container),
        Step::WaitHealthy => format!(
            "{} answers {}, {:?} in the log, within {}",
            i.health.url, i.health.expect_status, i.health.startup_line, p.start_timeout
        ),
        Step::ScanLog => format!(
            "no line with {:?} in {} since the start",
            p.log_error_patterns, i.log_pattern
        ),
        Step::Enable => format!("uncomment {}, nginx -t, {:?}", i.backend, lb.apply),
        Step::Record => {
            "deployment record on the host, audit log on the load balancer's host".to_string()
        }
        Step::PreInstanceHooks => hooks::describe(fleet, HookOn::PreInstance).join("; "),
        Step::PostInstanceHooks => {
            hooks::describe(fleet, HookOn::PostInstance).join("; ") + " (a failure rolls back)"
        }
    }
}

/// An instance's steps, with its hooks' where there are hooks.
fn steps(fleet: &Fleet) -> Vec<Step> {
    let mut steps = Vec::new();
    if hooks::any(fleet, HookOn::PreInstance) {
        steps.push(Step::PreInstanceHooks);
    }
    for step in Step::ALL {
        steps.push(step);
        if step == Step::ScanLog && hooks::any(fleet, HookOn::PostInstance) {
            steps.push(Step::PostInstanceHooks);
        }
    }
    steps
}
