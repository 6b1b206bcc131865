//! One instance's update, step by step, and its rollback.
//!
//! Once an instance is out of rotation, every way out of [`update_instance`] leaves it
//! either on the new WAR and back in rotation, or (after a failure) on its previous release
//! and back in rotation — or reports loudly that it could not, so a human can step in.

use std::time::Duration;

use tokio::time::Instant;

use super::cancel::StopLevel;
use super::engine::Ctx;
use super::event::{Event, Step};
use super::fleet::InstanceHandle;
use super::journal::InstanceStatus;
use super::{remote, rotation};
use crate::command::Command;
use crate::config::OnFailure;
use crate::names::RemotePath;
use crate::transport::run_checked;

/// How often drain and health are polled.
const POLL: Duration = Duration::from_secs(1);

/// Once Tomcat says it has started, the app gets this long to answer its health check
/// before the deploy counts as failed (instead of waiting out the whole start timeout).
const STARTED_BUT_UNHEALTHY: Duration = Duration::from_secs(15);

/// How an instance's update ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InstanceResult {
    /// On the new WAR, in rotation.
    Updated,
    /// Not started, or given back to rotation untouched because a stop was requested.
    NotUpdated,
    /// Failed; back on its previous release (or untouched) and in rotation.
    RolledBack(String),
    /// Failed and not restored.
    NotRestored(String),
}

/// A step that failed.
#[derive(Debug)]
pub(crate) struct Failure {
    pub step: Step,
    pub error: String,
    /// A stop request ended the step, not an error.
    pub stopped: bool,
}

fn fail(step: Step) -> impl Fn(String) -> Failure {
    move |error| Failure {
        step,
        error,
        stopped: false,
    }
}

/// What the rollback needs to know about how far the update got.
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    disabled: bool,
    stopped: bool,
    war_touched: bool,
    kept_previous: bool,
    /// The enable began: nginx may have sent it requests (a reload that went through
    /// before the connection dropped), so a rollback drains before stopping it.
    enabling: bool,
}

/// Offsets of the logs at the container's start.
#[derive(Debug, Clone)]
struct LogMarks {
    app_log: RemotePath,
    app_offset: u64,
    startup_log: RemotePath,
    startup_offset: u64,
}

pub(crate) async fn update_instance(ctx: &Ctx<'_>, inst: &InstanceHandle) -> InstanceResult {
    let started = Instant::now();
    let name = inst.name().to_string();
    let mut progress = {
        let j = ctx.journal.lock().await;
        let e = j.entry(&name);
        Progress {
            kept_previous: e.is_some_and(|e| e.kept_previous),
            war_touched: e.is_some_and(|e| e.war_touched),
            ..Progress::default()
        }
    };
    match steps(ctx, inst, &mut progress).await {
        Ok(()) => {
            ctx.set_status(&name, InstanceStatus::Updated, None).await;
            ctx.emitter.emit(Event::InstanceUpdated {
                instance: name,
                seconds: started.elapsed().as_secs_f64(),
            });
            InstanceResult::Updated
        }
        Err(f) if f.stopped => {
            // Stopped while draining: the old version still runs; put it back.
            match rotation::put_back(ctx, inst).await {
                Ok(_) => {
                    ctx.set_status(&name, InstanceStatus::Pending, None).await;
                    InstanceResult::NotUpdated
                }
                Err(e) => {
                    let error = format!(
                        "stopped during {}, and putting it back into rotation failed: {e}",
                        f.step
                    );
                    ctx.set_status(&name, InstanceStatus::Failed, Some(error.clone()))
                        .await;
                    InstanceResult::NotRestored(error)
                }
            }
        }
        Err(f) => {
            ctx.emitter.emit(Event::InstanceFailed {
                instance: name.clone(),
                step: f.step,
                error: f.error.clone(),
            });
            let error = format!("{}: {}", f.step, f.error);
            if !progress.disabled {
                // Nothing changed (the load balancer restores its own config on failure).
                ctx.set_status(&name, InstanceStatus::RolledBack, Some(error.clone()))
                    .await;
                return InstanceResult::RolledBack(error);
            }
            if ctx.policy.on_failure == OnFailure::Halt {
                let error = format!("{error} (on_failure = halt: left out of rotation as it is)");
                ctx.set_status(&name, InstanceStatus::Failed, Some(error.clone()))
                    .await;
                return InstanceResult::NotRestored(error);
            }
            ctx.emitter.emit(Event::RollbackStarted {
                instance: name.clone(),
            });
            match rollback(ctx, inst, progress).await {
                Ok(()) => {
                    ctx.emitter.emit(Event::RolledBack {
                        instance: name.clone(),
                    });
                    ctx.set_status(&name, InstanceStatus::RolledBack, Some(error.clone()))
                        .await;
                    InstanceResult::RolledBack(error)
                }
                Err(e) => {
                    ctx.emitter.emit(Event::RollbackFailed {
                        instance: name.clone(),
                        error: e.clone(),
                    });
                    let error = format!("{error}; rollback failed: {e}");
                    ctx.set_status(&name, InstanceStatus::Failed, Some(error.clone()))
                        .await;
                    InstanceResult::NotRestored(error)
                }
            }
        }
    }
}

/// Runs `body` as step `step` of `inst`: events, journal, timing.
async fn step<F>(
    ctx: &Ctx<'_>,
    inst: &InstanceHandle,
    step: Step,
    body: F,
) -> Result<Option<String>, Failure>
where
    F: std::future::Future<Output = Result<Option<String>, Failure>>,
{
    ctx.set_step(inst.name(), step).await;
    ctx.emitter.emit(Event::StepStarted {
        instance: inst.name().to_string(),
        step,
    });
    let t = Instant::now();
    let detail = body.await?;
    ctx.emitter.emit(Event::StepFinished {
        instance: inst.name().to_string(),
        step,
        seconds: t.elapsed().as_secs_f64(),
        detail: detail.clone(),
    });
    Ok(detail)
}

async fn steps(
    ctx: &Ctx<'_>,
    inst: &InstanceHandle,
    progress: &mut Progress,
) -> Result<(), Failure> {
    let backend = &inst.config.backend;
    let t = inst.transport.as_ref();

    step(ctx, inst, Step::Disable, async {
        if !rotation::is_canary(ctx, inst) {
            check_unavailable(ctx, backend)
                .await
                .map_err(fail(Step::Disable))?;
        }
        let change = rotation::take_out(ctx, inst).await.map_err(|e| {
            // Fix (rollout tests): when restoring nginx's previous config failed too, what
            // nginx runs is unknown (it may have taken the instance out). Do not report
            // "nothing changed": go through the rollback, which puts it back into rotation
            // and makes nginx apply that, or says loudly that it could not.
            if matches!(
                e,
                rotation::TakeOutError::Lb(crate::lb::LbError::RestoreFailed { .. })
            ) {
                progress.disabled = true;
            }
            fail(Step::Disable)(e.to_string())
        })?;
        Ok(Some(change.message))
    })
    .await?;
    progress.disabled = true;

    let state = inst
        .container
        .state()
        .await
        .map_err(|e| fail(Step::Drain)(e.to_string()))?;
    if state.running {
        step(ctx, inst, Step::Drain, drain(ctx, inst)).await?;
    }

    step(ctx, inst, Step::Stop, async {
        progress.stopped = true;
        let grace = ctx.policy.stop_grace.0;
        inst.container
            .stop(grace)
            .await
            .map_err(|e| fail(Step::Stop)(e.to_string()))?;
        Ok(None)
    })
    .await?;

    let war = inst
        .war_path()
        .map_err(|e| fail(Step::KeepPrevious)(e.to_string()))?;
    step(ctx, inst, Step::KeepPrevious, async {
        if progress.kept_previous {
            return Ok(Some(
                "previous release already saved by this rollout".into(),
            ));
        }
        let detail = keep_previous(ctx, inst, &war)
            .await
            .map_err(fail(Step::KeepPrevious))?;
        progress.kept_previous = true;
        ctx.update_entry(inst.name(), |e| e.kept_previous = true)
            .await;
        Ok(Some(detail))
    })
    .await?;

    step(ctx, inst, Step::Remove, async {
        progress.war_touched = true;
        ctx.update_entry(inst.name(), |e| e.war_touched = true)
            .await;
        remove_deployed(inst).await.map_err(fail(Step::Remove))?;
        Ok(None)
    })
    .await?;

    step(ctx, inst, Step::Install, async {
        let src = ctx.source(inst).map_err(fail(Step::Install))?;
        remote::copy_atomic(t, &src.staged, &war)
            .await
            .map_err(|e| fail(Step::Install)(e.to_string()))?;
        let got = remote::sha256_if_exists(t, &war)
            .await
            .map_err(|e| fail(Step::Install)(e.to_string()))?;
        if got.as_deref() != Some(src.sha256.as_str()) {
            return Err(fail(Step::Install)(format!(
                "{war} has sha256 {got:?} after install, expected {}",
                src.sha256
            )));
        }
        Ok(Some(format!(
            "{war} sha256 {}",
            &src.sha256[..12.min(src.sha256.len())]
        )))
    })
    .await?;

    let mut marks_slot = None;
    step(ctx, inst, Step::Start, async {
        let marks = log_marks(inst).await.map_err(fail(Step::Start))?;
        inst.container
            .start()
            .await
            .map_err(|e| fail(Step::Start)(e.to_string()))?;
        marks_slot = Some(marks);
        Ok(None)
    })
    .await?;
    let marks = marks_slot.ok_or_else(|| fail(Step::Start)("log offsets missing".into()))?;

    step(ctx, inst, Step::WaitHealthy, async {
        wait_healthy(ctx, inst, Some(&marks))
            .await
            .map(Some)
            .map_err(fail(Step::WaitHealthy))
    })
    .await?;

    step(ctx, inst, Step::ScanLog, async {
        scan_log(ctx, inst, &marks)
            .await
            .map(Some)
            .map_err(fail(Step::ScanLog))
    })
    .await?;

    step(ctx, inst, Step::Enable, async {
        progress.enabling = true;
        let change = rotation::put_back(ctx, inst)
            .await
            .map_err(fail(Step::Enable))?;
        Ok(Some(change.message))
    })
    .await?;
    progress.disabled = false;

    step(ctx, inst, Step::Record, async {
        record(ctx, inst)
            .await
            .map(|_| None)
            .map_err(fail(Step::Record))
    })
    .await?;
    Ok(())
}

/// Invariant 1: at most `max_unavailable` backends out of rotation. The scheduler keeps to
/// it; this checks what the load balancer actually says before taking one more out.
pub(crate) async fn check_unavailable(ctx: &Ctx<'_>, backend: &str) -> Result<(), String> {
    let backends = ctx.fleet.lb.backends().await.map_err(|e| e.to_string())?;
    let out: Vec<&str> = backends
        .iter()
        .filter(|b| !b.state.is_enabled() && b.address != backend)
        .map(|b| b.address.as_str())
        .collect();
    if out.len() >= ctx.policy.max_unavailable {
        return Err(format!(
            "{} backend(s) already out of rotation ({}); max_unavailable is {}",
            out.len(),
            out.join(", "),
            ctx.policy.max_unavailable
        ));
    }
    Ok(())
}

/// Waits until nginx's old workers are gone and no connection to the instance remains for
/// `idle`, at least `min` and at most `max`.
pub(crate) async fn drain(ctx: &Ctx<'_>, inst: &InstanceHandle) -> Result<Option<String>, Failure> {
    let policy = ctx.policy.drain;
    let began = Instant::now();
    let mut idle_since: Option<Instant> = None;
    let mut last = (usize::MAX, usize::MAX);
    loop {
        if ctx.cancel.level() >= StopLevel::Now {
            return Err(Failure {
                step: Step::Drain,
                error: "stop requested".into(),
                stopped: true,
            });
        }
        let old_workers = ctx
            .fleet
            .lb
            .old_workers()
            .await
            .map_err(|e| fail(Step::Drain)(e.to_string()))?;
        let state = inst
            .container
            .state()
            .await
            .map_err(|e| fail(Step::Drain)(e.to_string()))?;
        let connections = match (state.running, state.pid) {
            (true, Some(pid)) => remote::established_connections(
                inst.transport.as_ref(),
                pid,
                inst.config.container_port,
            )
            .await
            .map_err(|e| fail(Step::Drain)(e.to_string()))?,
            _ => 0,
        };
        let waited = began.elapsed();
        if (connections, old_workers) != last {
            ctx.emitter.emit(Event::Draining {
                instance: inst.name().to_string(),
                connections,
                old_workers,
                waited: waited.as_secs_f64(),
            });
            last = (connections, old_workers);
        }
        if connections == 0 && old_workers == 0 {
            let since = *idle_since.get_or_insert_with(Instant::now);
            if waited >= policy.min.0 && since.elapsed() >= policy.idle.0 {
                return Ok(Some(format!("idle after {:.1}s", waited.as_secs_f64())));
            }
        } else {
            idle_since = None;
        }
        if waited >= policy.max.0 {
            ctx.emitter.emit(Event::Warning {
                instance: Some(inst.name().to_string()),
                message: format!(
                    "drain reached its maximum ({}) with {connections} connection(s) and {old_workers} old nginx worker(s) left",
                    policy.max
                ),
            });
            return Ok(Some(format!(
                "stopped waiting at the maximum, {:.0}s",
                waited.as_secs_f64()
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = ctx.cancel.reached(StopLevel::Now) => {}
        }
    }
}

async fn keep_previous(
    ctx: &Ctx<'_>,
    inst: &InstanceHandle,
    war: &RemotePath,
) -> Result<String, String> {
    let t = inst.transport.as_ref();
    let current = remote::sha256_if_exists(t, war)
        .await
        .map_err(|e| e.to_string())?;
    let Some(current) = current else {
        return Ok("no WAR deployed yet: nothing to keep".into());
    };
    if current == ctx.source(inst)?.sha256 {
        return Ok(
            "the deployed WAR is already the new one: previous release left as it is".into(),
        );
    }
    let dir = inst.releases_dir().map_err(|e| e.to_string())?;
    remote::mkdir_p(t, &dir, crate::command::Privilege::Sudo)
        .await
        .map_err(|e| e.to_string())?;
    let previous = dir.join("previous.war").map_err(|e| e.to_string())?;
    remote::copy_atomic(t, war, &previous)
        .await
        .map_err(|e| e.to_string())?;
    let saved = remote::sha256_if_exists(t, &previous)
        .await
        .map_err(|e| e.to_string())?;
    if saved.as_deref() != Some(current.as_str()) {
        return Err(format!(
            "saving the previous release: {previous} has sha256 {saved:?}, expected {current}"
        ));
    }
    Ok(format!(
        "previous release {} kept in {previous}",
        &current[..12]
    ))
}

/// Deletes the WAR and its exploded directory, only inside the configured webapps
/// directory (invariant 4).
async fn remove_deployed(inst: &InstanceHandle) -> Result<(), String> {
    let t = inst.transport.as_ref();
    let war = inst.war_path().map_err(|e| e.to_string())?;
    let exploded = inst.exploded_path().map_err(|e| e.to_string())?;
    for p in [&war, &exploded] {
        if !p.is_inside(&inst.webapps) {
            return Err(format!(
                "refusing to delete {p}: not inside {}",
                inst.webapps
            ));
        }
    }
    run_checked(
        t,
        &Command::new("rm").args(["-f", "--", war.as_str()]).sudo(),
    )
    .await
    .map_err(|e| e.to_string())?;
    run_checked(
        t,
        &Command::new("rm")
            .args(["-rf", "--", exploded.as_str()])
            .sudo(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(())
}

/// Notes where the logs end (the start and app logs), before a start.
async fn log_marks(inst: &InstanceHandle) -> Result<LogMarks, String> {
    let t = inst.transport.as_ref();
    let date = remote::host_date(t).await.map_err(|e| e.to_string())?;
    let app_log = inst
        .logs
        .join(&remote::log_name(&inst.config.log_pattern, &date))
        .map_err(|e| e.to_string())?;
    let startup_log = inst
        .logs
        .join(&remote::log_name(&inst.config.health.startup_log, &date))
        .map_err(|e| e.to_string())?;
    let app_offset = remote::file_size(t, &app_log)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    let startup_offset = remote::file_size(t, &startup_log)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or(0);
    Ok(LogMarks {
        app_log,
        app_offset,
        startup_log,
        startup_offset,
    })
}

/// Waits for: container running, the HTTP probe answering the expected status, and
/// Tomcat's startup line in its log since the start (`marks`; `None` when the container was
/// not restarted, so no new startup line will come).
async fn wait_healthy(
    ctx: &Ctx<'_>,
    inst: &InstanceHandle,
    marks: Option<&LogMarks>,
) -> Result<String, String> {
    let t = inst.transport.as_ref();
    let h = &inst.config.health;
    let began = Instant::now();
    let deadline = began + ctx.policy.start_timeout.0;
    let mut started_at: Option<Instant> = None;
    loop {
        let state = inst.container.state().await.map_err(|e| e.to_string())?;
        let settled = state.status != "created" && state.status != "restarting";
        if !state.running && state.exists && settled {
            return Err(format!(
                "container {} is {} (exit code {:?})",
                inst.config.container, state.status, state.exit_code
            ));
        }
        let status = if state.running {
            remote::probe(t, &h.url, h.timeout.0)
                .await
                .map_err(|e| e.to_string())?
        } else {
            None
        };
        // Tomcat prints its startup line once every webapp is deployed (or failed to):
        // read it on every poll, so a failed deploy is known without waiting out the
        // whole start timeout.
        let started_line = match marks {
            None => true,
            Some(_) if !state.running => false,
            Some(marks) => {
                let log = remote::read_from(t, &marks.startup_log, marks.startup_offset)
                    .await
                    .map_err(|e| e.to_string())?;
                String::from_utf8_lossy(&log).contains(&h.startup_line)
            }
        };
        if state.running && status == Some(h.expect_status) && started_line {
            return Ok(format!(
                "healthy after {:.1}s",
                began.elapsed().as_secs_f64()
            ));
        }
        if started_line && marks.is_some() {
            let since = *started_at.get_or_insert_with(Instant::now);
            if since.elapsed() >= STARTED_BUT_UNHEALTHY {
                let probe = status.map_or("no answer".to_string(), |s| format!("status {s}"));
                return Err(format!(
                    "Tomcat started ({:?} in its log) but {} still answers {probe} (expected {}) {:.0}s later: the app failed to deploy",
                    h.startup_line,
                    h.url,
                    h.expect_status,
                    since.elapsed().as_secs_f64()
                ));
            }
        }
        if Instant::now() >= deadline {
            let probe = status.map_or("no answer".to_string(), |s| format!("status {s}"));
            return Err(format!(
                "not healthy after {}: container {}, {} answered {probe} (expected {}), startup line {:?} {}",
                ctx.policy.start_timeout,
                if state.running {
                    "running"
                } else {
                    "not running"
                },
                h.url,
                h.expect_status,
                h.startup_line,
                if started_line { "seen" } else { "not seen" }
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Fails on the first app-log line since the start that contains an error pattern.
async fn scan_log(
    ctx: &Ctx<'_>,
    inst: &InstanceHandle,
    marks: &LogMarks,
) -> Result<String, String> {
    let t = inst.transport.as_ref();
    // Exceptions often come right after startup: watch a little before judging.
    tokio::select! {
        _ = tokio::time::sleep(ctx.policy.log_watch.0) => {}
        _ = ctx.cancel.reached(StopLevel::Now) => {}
    }
    let log = remote::read_from(t, &marks.app_log, marks.app_offset)
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&log);
    let lines = text.lines().count();
    for line in text.lines() {
        if let Some(p) = ctx
            .policy
            .log_error_patterns
            .iter()
            .find(|p| line.contains(p.as_str()))
        {
            return Err(format!(
                "{}: line with {p:?}: {}",
                marks.app_log,
                line.trim()
            ));
        }
    }
    Ok(format!(
        "{lines} new line(s) in {}, no error pattern",
        marks.app_log.file_name()
    ))
}

/// The deployment record written on the instance's host and appended to the audit log.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeploymentRecord {
    /// The instance.
    pub instance: String,
    /// SHA-256 of the WAR.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// Commit id, if known.
    pub commit: Option<String>,
    /// The rollout that deployed it.
    pub rollout_id: String,
    /// Who ran it.
    pub operator: String,
    /// When (RFC 3339 UTC).
    pub deployed_at: String,
    /// `deploy` or `rollback`.
    pub action: String,
}

async fn record(ctx: &Ctx<'_>, inst: &InstanceHandle) -> Result<(), String> {
    let src = ctx.source(inst)?;
    let rec = DeploymentRecord {
        instance: inst.name().to_string(),
        sha256: src.sha256.clone(),
        bytes: src.bytes,
        commit: src.commit.clone(),
        rollout_id: ctx.rollout_id.clone(),
        operator: ctx.operator.clone(),
        deployed_at: crate::time::now_utc(),
        action: ctx.action.to_string(),
    };
    write_record(ctx, inst, &rec).await
}

/// The bytes of `inst`'s last deployment record and its path (`None`: none written yet).
pub(crate) async fn read_record(
    inst: &InstanceHandle,
) -> Result<Option<(RemotePath, Vec<u8>)>, crate::transport::TransportError> {
    let t = inst.transport.as_ref();
    let path = inst.record_path()?;
    if !remote::exists(t, &path).await? {
        return Ok(None);
    }
    let bytes = t.read_file(&path, crate::command::Privilege::Sudo).await?;
    Ok(Some((path, bytes)))
}

pub(crate) async fn write_record(
    ctx: &Ctx<'_>,
    inst: &InstanceHandle,
    rec: &DeploymentRecord,
) -> Result<(), String> {
    let t = inst.transport.as_ref();
    let path = inst.record_path().map_err(|e| e.to_string())?;
    remote::mkdir_p(t, &path.parent(), crate::command::Privilege::Sudo)
        .await
        .map_err(|e| e.to_string())?;
    let json = serde_json::to_vec_pretty(rec).map_err(|e| e.to_string())?;
    t.write_file_in_place(&path, &json, crate::command::Privilege::Sudo)
        .await
        .map_err(|e| e.to_string())?;
    let mut line = serde_json::to_vec(rec).map_err(|e| e.to_string())?;
    line.push(b'\n');
    let audit = ctx
        .fleet
        .lb_state_dir
        .join("audit.log")
        .map_err(|e| e.to_string())?;
    remote::append(ctx.fleet.lb_transport.as_ref(), &audit, &line)
        .await
        .map_err(|e| e.to_string())
}

/// Back to the previous release and into rotation.
async fn rollback(ctx: &Ctx<'_>, inst: &InstanceHandle, progress: Progress) -> Result<(), String> {
    let t = inst.transport.as_ref();
    // Fix (rollout tests): a failed enable may have reached nginx (the reload went through,
    // then the connection dropped; or restoring the previous config failed): requests may
    // be in flight to the instance. Make sure it is out of rotation and drained before
    // stopping it, instead of cutting those requests.
    if progress.enabling {
        rotation::take_out(ctx, inst)
            .await
            .map_err(|e| format!("out of rotation before the rollback: {e}"))?;
        match drain(ctx, inst).await {
            Ok(_) => {}
            // A second Ctrl-C: make it consistent now.
            Err(f) if f.stopped => {}
            Err(f) => return Err(format!("draining before the rollback: {}", f.error)),
        }
    }
    let restarted = progress.stopped || progress.war_touched;
    if restarted {
        inst.container
            .stop(ctx.policy.stop_grace.0)
            .await
            .map_err(|e| format!("stopping: {e}"))?;
    }
    if progress.war_touched {
        let previous = inst
            .releases_dir()
            .and_then(|d| d.join("previous.war"))
            .map_err(|e| e.to_string())?;
        if !remote::exists(t, &previous)
            .await
            .map_err(|e| e.to_string())?
        {
            return Err(format!("no previous release at {previous} to roll back to"));
        }
        remove_deployed(inst).await?;
        let war = inst.war_path().map_err(|e| e.to_string())?;
        remote::copy_atomic(t, &previous, &war)
            .await
            .map_err(|e| format!("restoring the previous WAR: {e}"))?;
    }
    let marks = log_marks(inst).await?;
    if restarted {
        inst.container
            .start()
            .await
            .map_err(|e| format!("starting: {e}"))?;
    }
    // Fix (rollout tests): a container that was never stopped (a failure while draining)
    // writes no new startup line; requiring one made every such rollback time out and end
    // NotRestored. Its health is the container and the HTTP probe.
    wait_healthy(ctx, inst, restarted.then_some(&marks))
        .await
        .map_err(|e| format!("previous release: {e}"))?;
    let change = rotation::put_back(ctx, inst)
        .await
        .map_err(|e| format!("back into rotation: {e}"))?;
    if !change.changed() {
        // Fix (rollout tests): the file already says "enabled", but after a failed restore
        // of nginx's config nginx itself may still run a config without the instance. Make
        // it apply the file.
        ctx.fleet
            .lb
            .apply()
            .await
            .map_err(|e| format!("back into rotation (applying the config): {e}"))?;
    }
    Ok(())
}
