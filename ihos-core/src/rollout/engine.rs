//! The run: target, resume and lock, staging, then instances in order (at most
//! `max_unavailable` at a time), then the final checks.

use futures_util::StreamExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::begin::{resumable_journal, take_lock};
use super::cancel::{CancelToken, StopLevel};
use super::ctx::{Ctx, Env, Kind, Run, RunVars};
use super::error::RolloutError;
use super::event::{Emitter, Event, EventSink, Step};
use super::finish::finish;
use super::handoff::Handoff;
use super::hooks::{self, run_hooks};
use super::identity::{new_rollout_id, operator};
use super::instance::{Updating, record_updated, update_instance};
use super::journal::{self, InstanceStatus, Journal, JournalEntry};
use super::lock::{self, LockOwner};
use super::options::RolloutOptions;
use super::preflight::preflight;
use super::report::{InstanceResult, Outcome, Problem, RolloutReport};
use super::rotation;
use super::stage::{stage_previous, upload_all};
use super::target::{Target, check_no_interrupted_canary_deploy};
use crate::config::HookOn;
use crate::fleet::{Fleet, InstanceHandle};
use crate::war::WarFile;

/// Runs a rollout of `war` over `fleet`. Errors mean nothing was changed; once instances
/// are touched, the result is a [`RolloutReport`] whose [`Outcome`] says how it ended.
///
/// Events go to `sink` as they happen; `cancel` may be triggered from anywhere (another
/// task, a signal handler) to stop cleanly. Against real hosts, with a closure as the sink
/// and Ctrl-C wired to the token as the CLI does (the crate's front page has a runnable
/// example on fake hosts):
///
/// ```no_run
/// use ihos_core::{CancelToken, EventRecord, Fleet, RolloutOptions, Topology, WarFile, run_rollout};
///
/// # async fn deploy() -> Result<(), Box<dyn std::error::Error>> {
/// let fleet = Fleet::connect(Topology::load("ihos.toml".as_ref())?)?;
/// let war = WarFile::open("target/app.war".as_ref())?;
/// let cancel = CancelToken::new();
/// let on_ctrl_c = cancel.clone();
/// tokio::spawn(async move {
///     while tokio::signal::ctrl_c().await.is_ok() {
///         on_ctrl_c.escalate();
///     }
/// });
/// let print = |r: &EventRecord| println!("{}", serde_json::to_string(r).unwrap());
/// let options = RolloutOptions::new().only(["101-pep1"]).operator("release-bot");
/// let report = run_rollout(&fleet, &war, &options, &print, &cancel).await?;
/// std::process::exit(report.outcome.exit_code());
/// # }
/// ```
pub async fn run_rollout(
    fleet: &Fleet,
    war: &WarFile,
    options: &RolloutOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RolloutReport, RolloutError> {
    run(
        fleet,
        Kind::Deploy(war),
        Target::Fleet,
        options,
        sink,
        cancel,
    )
    .await
}

/// Puts each selected instance back on its previous release (kept outside webapps by the
/// rollout that replaced it), with the same steps and checks as a rollout. The release it
/// replaces becomes the new "previous", so a rollback can itself be undone.
pub async fn run_rollback(
    fleet: &Fleet,
    options: &RolloutOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RolloutReport, RolloutError> {
    rollback(fleet, Target::Fleet, options, sink, cancel).await
}

/// A rollback of `target`'s instances (never resumed: running it again is the same).
async fn rollback(
    fleet: &Fleet,
    target: Target,
    options: &RolloutOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RolloutReport, RolloutError> {
    if options.resume {
        return Err(RolloutError::Resume(
            "a rollback is not resumed; run it again".into(),
        ));
    }
    run(fleet, Kind::Rollback, target, options, sink, cancel).await
}

/// Deploys `war` to the canary instance alone, with the same steps and checks as a
/// rollout; where a fleet instance leaves the upstream, the canary's cohort route is closed
/// (if it is open), the canary drained, updated, checked, and the route reopened exactly
/// as it was. A failed deploy rolls the canary back and reopens the route the same way.
/// `options.only` must be empty; `options.resume` continues an interrupted canary deploy.
pub async fn run_canary_deploy(
    fleet: &Fleet,
    war: &WarFile,
    options: &RolloutOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RolloutReport, RolloutError> {
    run(
        fleet,
        Kind::Deploy(war),
        Target::Canary,
        options,
        sink,
        cancel,
    )
    .await
}

/// Puts the canary's previous release back (a canary that failed its analysis), with the
/// steps of a rollback; its route is closed meanwhile if open, and left as it was.
pub async fn run_canary_rollback(
    fleet: &Fleet,
    options: &RolloutOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RolloutReport, RolloutError> {
    rollback(fleet, Target::Canary, options, sink, cancel).await
}

async fn run(
    fleet: &Fleet,
    kind: Kind<'_>,
    target: Target,
    options: &RolloutOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RolloutReport, RolloutError> {
    let emitter = Emitter::new(sink);
    let began = Instant::now();
    let selected = target.select(fleet, &options.only)?;
    let operator = options.operator.clone().unwrap_or_else(operator);
    let previous = if options.resume {
        Some(resumable_journal(fleet, kind, target).await?)
    } else {
        None
    };
    let rollout_id = previous
        .as_ref()
        .map_or_else(new_rollout_id, |j| j.rollout_id.clone());
    let me = LockOwner::me(
        rollout_id.clone(),
        operator.clone(),
        kind.sha256().map(ToString::to_string).unwrap_or_default(),
    );
    let _held = take_lock(fleet, &me, previous.is_some(), options.force).await?;
    let lb_t = fleet.lb_transport.as_ref();
    emitter.emit(Event::LockTaken {
        host: lb_t.host().to_string(),
    });

    let env = Env::new(fleet, &emitter, cancel);
    let result = locked(&env, kind, target, &selected, previous, me).await;
    let keep_lock = matches!(&result, Ok(r) if r.outcome == Outcome::NotRestored);
    if !keep_lock {
        if let Err(e) = lock::release(lb_t, &fleet.lb_state_dir, Some(&rollout_id)).await {
            emitter.emit(Event::Warning {
                instance: None,
                message: format!("releasing the lock failed: {e}; `ihos lock release` breaks it"),
            });
        }
    }
    result.map(|mut report| {
        report.seconds = began.elapsed().as_secs_f64();
        emitter.emit(Event::RolloutFinished {
            outcome: report.outcome,
            updated: report.updated.clone(),
            seconds: report.seconds,
        });
        report
    })
}

/// The run under the lock held by `me`.
async fn locked(
    env: &Env<'_>,
    kind: Kind<'_>,
    target: Target,
    selected: &[&InstanceHandle],
    previous: Option<Journal>,
    me: LockOwner,
) -> Result<RolloutReport, RolloutError> {
    let fleet = env.fleet;
    let resumed = previous.is_some();
    if !resumed {
        check_no_interrupted_canary_deploy(fleet).await?;
    }
    let backends = fleet.lb.backends().await?;
    target.check(fleet, selected, &backends, resumed)?;
    // A resumed run does not go back to the instances it already updated.
    let todo: Vec<&InstanceHandle> = selected
        .iter()
        .copied()
        .filter(|i| {
            previous
                .as_ref()
                .and_then(|j| j.entry(i.name()))
                .is_none_or(|e| e.status != InstanceStatus::Updated)
        })
        .collect();
    let war_bytes = match kind {
        Kind::Deploy(war) => Some(war.bytes),
        Kind::Rollback => None,
    };
    let checks = preflight(fleet, &todo, war_bytes, previous.as_ref()).await?;
    env.emitter.emit(Event::PreflightPassed { checks });
    let (bytes, commit) = match kind {
        Kind::Deploy(war) => (war.bytes, war.commit.clone()),
        Kind::Rollback => (0, None),
    };
    let hook_vars = RunVars {
        rollout_id: me.rollout_id.clone(),
        sha256: me.sha256.clone(),
        commit: commit.clone(),
        operator: me.owner.clone(),
        action: kind.action().as_str(),
        target: if target == Target::Canary {
            "canary"
        } else {
            "fleet"
        },
    };
    // Before any change; a resumed run's journal says they passed already.
    if !resumed {
        run_hooks(env, HookOn::PreRollout, &hook_vars, None, None, None)
            .await
            .map_err(|g| RolloutError::Hook {
                hook: g.hook,
                why: g.why,
            })?;
    }
    let journal = previous.unwrap_or_else(|| Journal {
        rollout_id: me.rollout_id.clone(),
        sha256: me.sha256.clone(),
        commit: commit.clone(),
        operator: me.owner.clone(),
        started_at: crate::time::now_utc(),
        instances: selected.iter().map(|i| pending(i.name())).collect(),
        finished: false,
        canary: target == Target::Canary,
        rollback: matches!(kind, Kind::Rollback),
        unreadable_lines: Vec::new(),
    });
    journal::save(fleet.lb_transport.as_ref(), &fleet.lb_state_dir, &journal).await?;
    env.emitter.emit(Event::RolloutStarted {
        rollout_id: me.rollout_id.clone(),
        sha256: me.sha256.clone(),
        bytes,
        commit,
        instances: todo.iter().map(|i| i.name().to_string()).collect(),
        resumed,
    });
    for number in &journal.unreadable_lines {
        env.emitter.emit(Event::Warning {
            instance: None,
            message: format!(
                "journal line {number} could not be read (torn by a crash while it was written?): skipped; the resume goes on from the lines before and after it"
            ),
        });
    }

    // Every WAR is on its host before the first instance leaves rotation.
    let sources = match kind {
        Kind::Deploy(war) => upload_all(war, &todo, env.emitter).await?,
        Kind::Rollback => stage_previous(&todo).await?,
    };
    let positions = (journal.instances.iter().enumerate())
        .map(|(n, e)| (e.instance.clone(), n))
        .collect();
    let run = Run {
        journal: Mutex::new(journal),
        sources,
        action: kind.action(),
        rollout_id: me.rollout_id,
        operator: me.owner,
        handoff: Handoff::new(
            &todo,
            fleet.canary.as_ref().map(|c| c.name()),
            // The same number as update_all's window: a wave larger than it would wait for
            // members that cannot start.
            env.policy.max_unavailable,
        )
        // An instance's pre-instance hooks run before it leaves rotation: it never goes
        // out with the previous one's return.
        .alone(hooks::any(fleet, HookOn::PreInstance)),
        positions,
        appends: Default::default(),
        leaving: Default::default(),
        hook_vars,
    };
    let ctx = Ctx { env, run: &run };
    if resumed {
        put_back_taken_out_early(ctx).await?;
    }
    let results = update_all(ctx, &todo).await;
    let report = finish(ctx, target, selected, &backends, results).await;
    // With the lock still held; neither can be a gate (nothing is left to stop).
    let vars = &ctx.run.hook_vars;
    let outcome = Some(report.outcome);
    if matches!(report.outcome, Outcome::RolledBack | Outcome::NotRestored) {
        let _ = run_hooks(env, HookOn::Failure, vars, None, outcome, None).await;
    }
    let _ = run_hooks(env, HookOn::PostRollout, vars, None, outcome, None).await;
    Ok(report)
}

fn pending(instance: &str) -> JournalEntry {
    JournalEntry {
        instance: instance.to_string(),
        status: InstanceStatus::Pending,
        step: None,
        kept_previous: false,
        war_touched: false,
        error: None,
        canary_was_open: None,
        taken_out_by: None,
        hooks_done: Vec::new(),
    }
}

/// Updates `todo` in order, `max_unavailable` at a time; after a failure or a stop request
/// no further instance starts. An instance back in rotation on the new WAR makes way for
/// the next one at once: its record is written meanwhile. Results in `todo`'s order.
async fn update_all(ctx: Ctx<'_>, todo: &[&InstanceHandle]) -> Vec<(String, InstanceResult)> {
    let handoff = &ctx.run.handoff;
    let mut instances = futures_util::stream::iter(todo.iter().copied())
        .map(|inst| async move {
            let taken_out_by = handoff.start(inst.name()).await;
            if handoff.failed() || ctx.env.cancel.level() >= StopLevel::AfterCurrent {
                let r = match taken_out_by {
                    // The previous one's return took it out; it goes back untouched.
                    Some(_) => not_started(ctx, inst).await,
                    None => InstanceResult::NotUpdated,
                };
                handoff.ended(inst.name());
                return (inst, Updating::Done(r));
            }
            let r = update_instance(ctx, inst, taken_out_by).await;
            // Its wave no longer waits for it (it came back or ended otherwise).
            handoff.ended(inst.name());
            if matches!(
                r,
                Updating::Done(InstanceResult::RolledBack(_) | InstanceResult::NotRestored(_))
            ) {
                handoff.set_failed();
            }
            (inst, r)
        })
        .buffered(ctx.env.policy.max_unavailable.max(1));
    let mut records = futures_util::stream::FuturesUnordered::new();
    let mut results = Vec::new();
    loop {
        // Biased: the next instance starts (and reads the stop request) before the record
        // of the one that made way for it is begun.
        tokio::select! {
            biased;
            next = instances.next() => match next {
                Some((inst, Updating::InRotation { started })) => records.push(async move {
                    (inst.name().to_string(), record_updated(ctx, inst, started).await)
                }),
                Some((inst, Updating::Done(r))) => results.push((inst.name().to_string(), r)),
                None => break,
            },
            Some(done) = records.next(), if !records.is_empty() => results.push(done),
        }
    }
    while let Some(done) = records.next().await {
        results.push(done);
    }
    let order: std::collections::HashMap<&str, usize> = todo
        .iter()
        .enumerate()
        .map(|(n, i)| (i.name(), n))
        .collect();
    results.sort_by_key(|(name, _)| order.get(name.as_str()).copied());
    results
}

/// A crash between one instance's return and the next one's own turn left that next one out
/// of rotation with nothing else done to it: back in before anything else (its turn takes
/// it out again).
async fn put_back_taken_out_early(ctx: Ctx<'_>) -> Result<(), RolloutError> {
    let early: Vec<String> = {
        let j = ctx.run.journal.lock().await;
        j.instances
            .iter()
            .filter(|e| {
                e.taken_out_by.is_some()
                    && e.status == InstanceStatus::InProgress
                    && e.step == Some(Step::Disable)
            })
            .map(|e| e.instance.clone())
            .collect()
    };
    // Whatever this resume selects: the journal says it is out.
    let fleet = ctx.env.fleet;
    for inst in fleet
        .instances
        .iter()
        .filter(|i| early.contains(&i.name().to_string()))
    {
        // Nothing was done to it, but the host may have changed since (a reboot): only a
        // running instance goes back.
        let running = inst.container.state().await.is_ok_and(|s| s.running);
        if !running {
            return Err(RolloutError::Resume(format!(
                "{} was taken out of rotation ahead of its turn and its container is not running now: start it and `ihos enable {}`, then resume",
                inst.name(),
                inst.name()
            )));
        }
        let change = rotation::put_back(ctx, inst).await.map_err(|e| {
            RolloutError::Resume(format!(
                "{} was taken out of rotation ahead of its turn and could not be put back: {e}",
                inst.name()
            ))
        })?;
        ctx.update_entry(inst.name(), |e| {
            e.status = InstanceStatus::Pending;
            e.step = None;
            e.taken_out_by = None;
        })
        .await;
        ctx.env.emitter.emit(Event::Warning {
            instance: Some(inst.name().to_string()),
            message: format!(
                "was out of rotation ahead of its turn (taken out with the previous instance's return before the interruption): put back ({})",
                change.message
            ),
        });
    }
    Ok(())
}

/// An instance that was taken out of rotation ahead of its turn and will not be updated
/// (the run stops): back in rotation, as it was.
async fn not_started(ctx: Ctx<'_>, inst: &InstanceHandle) -> InstanceResult {
    match rotation::put_back(ctx, inst).await {
        Ok(_) => {
            ctx.set_status(inst.name(), InstanceStatus::Pending, None)
                .await;
            InstanceResult::NotUpdated
        }
        Err(error) => {
            let problem = Problem::NotPutBack {
                step: Step::Disable,
                error,
            };
            ctx.set_status(
                inst.name(),
                InstanceStatus::Failed,
                Some(problem.to_string()),
            )
            .await;
            InstanceResult::NotRestored(problem)
        }
    }
}
