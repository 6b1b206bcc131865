//! The run: target, resume and lock, staging, then instances in order (at most
//! `max_unavailable` at a time), then the final checks.

use tokio::sync::Mutex;
use tokio::time::Instant;

use super::begin::{resumable_journal, take_lock};
use super::cancel::CancelToken;
use super::ctx::{Ctx, Env, Kind, Run, RunVars};
use super::error::RolloutError;
use super::event::{Emitter, Event, EventSink};
use super::finish::finish;
use super::handoff::Handoff;
use super::hooks::{self, Ending, run_hooks};
use super::identity::{new_rollout_id, operator};
use super::journal::{self, InstanceStatus, Journal, JournalEntry};
use super::lock::{self, LockOwner};
use super::options::RolloutOptions;
use super::preflight::preflight;
use super::release_ref::ReleaseRef;
use super::report::{Outcome, RolloutReport};
use super::rollback_to;
use super::stage::{stage_previous, upload_all};
use super::target::{Target, check_no_interrupted_canary_deploy};
use super::update_all::{put_back_taken_out_early, update_all};
use super::warm_up::WarmUp;
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
    rollback(fleet, Kind::Rollback, Target::Fleet, options, sink, cancel).await
}

/// Puts each selected instance on the kept release `to` names (a SHA-256 or commit prefix,
/// a build number: see [`ReleaseRef`]), with the same steps and checks as a rollout. Every
/// instance must keep that one release (`policy.keep_releases`; `ihos releases` lists
/// them), or nothing is changed. The release each replaces is kept in turn.
pub async fn run_rollback_to(
    fleet: &Fleet,
    to: &ReleaseRef,
    options: &RolloutOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RolloutReport, RolloutError> {
    rollback(
        fleet,
        Kind::RollbackTo(to),
        Target::Fleet,
        options,
        sink,
        cancel,
    )
    .await
}

/// A rollback of `target`'s instances (never resumed: running it again is the same).
async fn rollback(
    fleet: &Fleet,
    kind: Kind<'_>,
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
    run(fleet, kind, target, options, sink, cancel).await
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
    rollback(fleet, Kind::Rollback, Target::Canary, options, sink, cancel).await
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
    let _warming = WarmUp::start(fleet, &selected);
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
    let owner = me.clone();
    let lb_t = fleet.lb_transport.as_ref();
    emitter.emit(Event::LockTaken {
        host: lb_t.host().to_string(),
    });

    let env = Env::new(fleet, &emitter, cancel);
    // Under the lock: no other run changes what they read.
    let result = match checks(fleet, kind, target, &selected, previous.as_ref()).await {
        Ok(checked) => locked(&env, kind, target, &selected, previous, me, checked).await,
        Err(e) => Err(e),
    };
    let keep_lock = matches!(&result, Ok(r) if r.outcome == Outcome::NotRestored);
    if !keep_lock {
        if let Err(e) = lock::release_mine(lb_t, &fleet.lb_state_dir, &owner).await {
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

/// What the checks before any change found: the instances to update, the release a
/// `rollback --to` installs, the upstream's backends and the preflight's findings.
struct Checked<'a> {
    todo: Vec<&'a InstanceHandle>,
    going_back_to: Option<rollback_to::Resolved>,
    backends: Vec<crate::lb::Backend>,
    checks: Vec<String>,
}

/// Everything checked before the first change; nothing here writes.
async fn checks<'a>(
    fleet: &'a Fleet,
    kind: Kind<'_>,
    target: Target,
    selected: &[&'a InstanceHandle],
    previous: Option<&Journal>,
) -> Result<Checked<'a>, RolloutError> {
    let resumed = previous.is_some();
    // A resumed run does not go back to the instances it already updated.
    let todo: Vec<&InstanceHandle> = selected
        .iter()
        .copied()
        .filter(|i| {
            previous
                .and_then(|j| j.entry(i.name()))
                .is_none_or(|e| e.status != InstanceStatus::Updated)
        })
        .collect();
    // The room in webapps for the WAR that goes in: a deploy's is known now, and its
    // preflight runs beside the load balancer's checks (all of them only read; a failure
    // is reported in the order they are listed here). A `rollback --to` installs a kept
    // release of a known size once it is found; a plain rollback puts back what ran there,
    // which had room. A refusal of the first two (quick: nginx's config and the journal)
    // does not wait for the preflight (an unreachable host's connect timeout): it is
    // reported at once and the preflight, which only reads, is dropped.
    let (backends, deploy_preflight) = tokio::try_join!(
        async {
            let (interrupted, lb_checked) = tokio::join!(
                async {
                    match resumed {
                        false => check_no_interrupted_canary_deploy(fleet).await,
                        true => Ok(()),
                    }
                },
                async {
                    let backends = fleet.lb.backends().await?;
                    target.check(fleet, selected, &backends, resumed)?;
                    Ok::<_, RolloutError>(backends)
                },
            );
            interrupted?;
            lb_checked
        },
        async {
            Ok(match kind {
                Kind::Deploy(war) => Some(preflight(fleet, &todo, Some(war.bytes), previous).await),
                _ => None,
            })
        }
    )?;
    // The release a `rollback --to` installs, the same on every instance, before any check
    // or hook: a name that is not kept everywhere is refused first.
    let going_back_to = match kind {
        Kind::RollbackTo(reference) => Some(rollback_to::resolve(&todo, reference).await?),
        _ => None,
    };
    let checks = match deploy_preflight {
        Some(checks) => checks?,
        None => {
            let war_bytes = going_back_to.as_ref().map(|r| r.release.bytes);
            preflight(fleet, &todo, war_bytes, previous).await?
        }
    };
    Ok(Checked {
        todo,
        going_back_to,
        backends,
        checks,
    })
}

/// The run under the lock held by `me`, once [`checks`] passed.
async fn locked(
    env: &Env<'_>,
    kind: Kind<'_>,
    target: Target,
    selected: &[&InstanceHandle],
    previous: Option<Journal>,
    me: LockOwner,
    checked: Checked<'_>,
) -> Result<RolloutReport, RolloutError> {
    let fleet = env.fleet;
    let resumed = previous.is_some();
    let Checked {
        todo,
        going_back_to,
        backends,
        checks,
    } = checked;
    env.emitter.emit(Event::PreflightPassed { checks });
    let (sha256, bytes, commit) = match (kind, &going_back_to) {
        (Kind::Deploy(war), _) => (me.sha256.clone(), war.bytes, war.commit.clone()),
        (_, Some(r)) => (
            r.release.sha256.to_string(),
            r.release.bytes,
            r.release.commit.clone(),
        ),
        _ => (String::new(), 0, None),
    };
    let hook_vars = RunVars {
        rollout_id: me.rollout_id.clone(),
        sha256: sha256.clone(),
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
        if let Err(g) = run_hooks(env, HookOn::PreRollout, &hook_vars, None, None, None).await {
            // Its pre-rollout hooks began (one before the gate may have silenced an
            // alert): its failure and post-rollout hooks run, told `error`.
            let ending = Some(Ending::Error);
            let _ = run_hooks(env, HookOn::Failure, &hook_vars, None, ending, None).await;
            let _ = run_hooks(env, HookOn::PostRollout, &hook_vars, None, ending, None).await;
            return Err(RolloutError::Hook {
                hook: g.hook,
                why: g.why,
            });
        }
    }
    // From here on, a run that errs (an upload, a stage) has run its pre-rollout hooks:
    // its failure and post-rollout hooks run too, so that what those silenced is turned
    // back on.
    let begun = async {
        let journal = previous.unwrap_or_else(|| Journal {
            rollout_id: me.rollout_id.clone(),
            sha256: sha256.clone(),
            commit: commit.clone(),
            operator: me.owner.clone(),
            started_at: crate::time::now_utc(),
            instances: selected.iter().map(|i| pending(i.name())).collect(),
            finished: false,
            canary: target == Target::Canary,
            rollback: !matches!(kind, Kind::Deploy(_)),
            unreadable_lines: Vec::new(),
        });
        journal::save(fleet.lb_transport.as_ref(), &fleet.lb_state_dir, &journal).await?;
        env.emitter.emit(Event::RolloutStarted {
            rollout_id: me.rollout_id.clone(),
            sha256,
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
        let sources = match (kind, &going_back_to) {
            (Kind::Deploy(war), _) => upload_all(war, &todo, env.emitter).await?,
            (_, Some(resolved)) => rollback_to::stage(&todo, resolved).await?,
            _ => stage_previous(&todo).await?,
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
            hook_vars: hook_vars.clone(),
            states_read: Default::default(),
        };
        let ctx = Ctx { env, run: &run };
        if resumed {
            put_back_taken_out_early(ctx).await?;
        }
        let results = update_all(ctx, &todo).await;
        Ok::<_, RolloutError>(finish(ctx, target, selected, &backends, results).await)
    }
    .await;
    // With the lock still held; neither can be a gate (nothing is left to stop).
    let ending = match &begun {
        Ok(report) => Ending::Report(report.outcome),
        Err(_) => Ending::Error,
    };
    if ending.is_failure() {
        let _ = run_hooks(env, HookOn::Failure, &hook_vars, None, Some(ending), None).await;
    }
    let _ = run_hooks(
        env,
        HookOn::PostRollout,
        &hook_vars,
        None,
        Some(ending),
        None,
    )
    .await;
    begun
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
