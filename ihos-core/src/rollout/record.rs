//! Deployment records: what each instance runs, written on its host
//! (`deployments/<instance>.json`) and appended to the audit log on the load balancer's
//! host. `ihos status`, `history` and the canary's promotion read them back.

use tokio::time::Instant;

use super::ctx::Ctx;
use super::deployment_record::DeploymentRecord;
use super::event::{Event, Step};
use super::journal::InstanceStatus;
use super::report::{InstanceResult, Problem};
use super::step::StepError;
use super::timed_step::timed;
use crate::command::Privilege;
use crate::fleet::{Fleet, InstanceHandle};
use crate::names::RemotePath;
use crate::transport::remote::PrivateMode;
use crate::transport::{Transport, TransportError, remote};

/// Records that `inst` now runs what the run staged for it.
pub(crate) async fn record_deployment(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
) -> Result<(), StepError> {
    let src = ctx.source(inst)?;
    let rec = DeploymentRecord {
        instance: inst.name().to_string(),
        sha256: src.sha256.to_string(),
        bytes: src.bytes,
        commit: src.commit.clone(),
        build: src.build.clone(),
        rollout_id: ctx.run.rollout_id.clone(),
        operator: ctx.run.operator.clone(),
        deployed_at: crate::time::now_utc(),
        action: ctx.run.action.as_str().to_string(),
    };
    write_record(ctx.env.fleet, inst, &rec).await
}

/// The new WAR serves `inst`, in rotation: whatever happens to its record, it is updated,
/// and a missing record is said as such, not as a rollback.
pub(crate) async fn record_updated(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    started: Instant,
) -> InstanceResult {
    let name = inst.name().to_string();
    // The record and the pruning of the kept releases at once: the instance is updated
    // whatever becomes of its record.
    let recorded = timed(ctx, inst, Step::Record, async {
        let (recorded, pruned) =
            tokio::join!(record_deployment(ctx, inst), prune_after_update(ctx, inst));
        recorded?;
        Ok(((), pruned))
    })
    .await;
    ctx.set_status(&name, InstanceStatus::Updated, None).await;
    ctx.env.emitter.emit(Event::InstanceUpdated {
        instance: name.clone(),
        seconds: started.elapsed().as_secs_f64(),
    });
    match recorded {
        Ok(()) => InstanceResult::Updated,
        Err(f) => {
            let problem = Problem::RecordMissing { error: f.error };
            ctx.env.emitter.emit(Event::Warning {
                instance: Some(name),
                message: problem.to_string(),
            });
            InstanceResult::UpdatedWithoutRecord(problem)
        }
    }
}

/// Prunes `inst`'s kept releases to the policy, now that it is healthy and in rotation on
/// the release the run gave it (never before: a failed update must not cost one). What it
/// did, for the record step's detail; a failure is a warning (the update is done).
pub(crate) async fn prune_after_update(ctx: Ctx<'_>, inst: &InstanceHandle) -> Option<String> {
    let keep = ctx.env.policy.keep_releases;
    let pruned = match ctx.source(inst) {
        Ok(source) => super::kept::prune_kept(inst, &source.sha256, keep).await,
        Err(e) => Err(e),
    };
    match pruned {
        Ok(said) => Some(said),
        Err(e) => {
            ctx.env.emitter.emit(super::event::Event::Warning {
                instance: Some(inst.name().to_string()),
                message: format!("the kept releases were not pruned: {e}"),
            });
            None
        }
    }
}

/// Writes `rec` as `inst`'s record and appends it to the audit log.
pub(crate) async fn write_record(
    fleet: &Fleet,
    inst: &InstanceHandle,
    rec: &DeploymentRecord,
) -> Result<(), StepError> {
    let t = inst.transport.as_ref();
    let path = inst.record_path()?;
    remote::mkdir_private(t, &path.parent(), &path.parent()).await?;
    let encode = |e: serde_json::Error| StepError::Encode {
        what: "the deployment record",
        reason: e.to_string(),
    };
    let json = serde_json::to_vec_pretty(rec).map_err(encode)?;
    t.write_file_in_place(&path, &json, Privilege::Sudo).await?;
    let mut line = serde_json::to_vec(rec).map_err(encode)?;
    line.push(b'\n');
    let log = audit_log(fleet)?;
    {
        // One append at a time from this process: `dd` writes its input in 512-byte
        // blocks, so two records appended at once (instances recorded side by side) could
        // interleave.
        static APPENDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = APPENDING.lock().await;
        remote::append(fleet.lb_transport.as_ref(), &log, &line).await?;
    }
    remote::make_private(fleet.lb_transport.as_ref(), &log, PrivateMode::File).await?;
    Ok(())
}

/// `state_dir/audit.log` on the load balancer's host.
fn audit_log(fleet: &Fleet) -> Result<RemotePath, TransportError> {
    Ok(fleet.lb_state_dir.join("audit.log")?)
}

/// The audit log's records, oldest first.
pub(crate) async fn read_audit_log(fleet: &Fleet) -> Result<Vec<DeploymentRecord>, TransportError> {
    let t: &dyn Transport = fleet.lb_transport.as_ref();
    let path = audit_log(fleet)?;
    if !remote::exists(t, &path).await? {
        return Ok(Vec::new());
    }
    let bytes = t.read_file(&path, Privilege::Sudo).await?;
    Ok(String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}
