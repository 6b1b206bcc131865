//! The topology's `[[hooks]]` at their points of a run: `pre-rollout` before any change,
//! `pre-instance` before an instance leaves rotation, `post-instance` while it is healthy
//! but still out of rotation, `post-rollout` and `failure` at the end. Each runs with the
//! lock held and its `IHOS_*` variables, says how it went in a [`Event::HookFinished`], and
//! a per-instance one is journaled as soon as it finishes, so a resume does not run it
//! again (a crash in the moment between its end and that journal line runs it again: a
//! hook should bear being run twice).
//! A gate's failure stops the run at its safe point (the caller decides what that is); any
//! other hook's failure is a warning.

use super::cancel::StopLevel;
use super::ctx::{Ctx, Env, RunVars};
use super::event::Event;
use super::event::Step;
use super::hook_exec::{HookOutcome, run_local, run_remote};
use super::report::Outcome;
use super::step::{Failure, StepError};
use super::timed_step::step;
use crate::config::{HookConfig, HookOn};
use crate::fleet::{Fleet, InstanceHandle};

/// How a run ended, as its last hooks are told (`IHOS_OUTCOME`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// It ran to a report.
    Report(Outcome),
    /// It stopped with an error after its pre-rollout hooks, before any instance changed.
    Error,
}

impl Ending {
    /// Whether the failure hooks run.
    pub(crate) fn is_failure(self) -> bool {
        matches!(
            self,
            Ending::Report(Outcome::RolledBack | Outcome::NotRestored) | Ending::Error
        )
    }
}

/// A gate hook that failed, or a hook a stop request killed.
#[derive(Debug)]
pub(crate) struct GateFailed {
    pub(crate) hook: String,
    pub(crate) why: String,
}

/// The hooks that run at `on`, with their ids as the journal keeps them
/// (`pre-instance#0:1a2b3c4d`: `on`, the hook's place among all hooks and a digest of what
/// it runs and where, so that a hook edited before a resume is not taken for one that
/// finished).
fn at(fleet: &Fleet, on: HookOn) -> impl Iterator<Item = (String, &HookConfig)> {
    fleet
        .topology
        .hooks
        .iter()
        .enumerate()
        .filter(move |(_, h)| h.on == on)
        .map(move |(n, h)| (format!("{}#{n}:{}", on.as_str(), fingerprint(h)), h))
}

/// The first 8 hex digits of the SHA-256 of a hook's command and place.
fn fingerprint(h: &HookConfig) -> String {
    use sha2::{Digest, Sha256};
    let mut d = Sha256::new();
    for part in h.run.argv().iter().chain([&h.at]) {
        d.update(part.as_bytes());
        d.update([0]);
    }
    d.finalize()[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether any hook runs at `on`.
pub(crate) fn any(fleet: &Fleet, on: HookOn) -> bool {
    at(fleet, on).next().is_some()
}

/// The hooks of `on`, one phrase each (`"smoke test" (curl ...) on h101, gate, 5m`).
pub(crate) fn describe(fleet: &Fleet, on: HookOn) -> Vec<String> {
    at(fleet, on)
        .map(|(_, h)| {
            let place = match h.is_local() {
                true => "here".to_string(),
                false => format!("on {}", h.at),
            };
            format!(
                "{:?} ({}) {place}, {}, timeout {}",
                h.label(),
                h.run.display(),
                if h.is_gate() { "gate" } else { "not a gate" },
                h.timeout
            )
        })
        .collect()
}

/// The `IHOS_*` variables of a hook at `on`.
fn variables(
    on: HookOn,
    run: &RunVars,
    inst: Option<&InstanceHandle>,
    sha256: &str,
    outcome: Option<Ending>,
) -> Vec<(String, String)> {
    let mut v = vec![
        ("IHOS_ROLLOUT_ID", run.rollout_id.clone()),
        ("IHOS_EVENT", on.as_str().to_string()),
        ("IHOS_ACTION", run.action.to_string()),
        ("IHOS_TARGET", run.target.to_string()),
        ("IHOS_SHA256", sha256.to_string()),
        ("IHOS_COMMIT", run.commit.clone().unwrap_or_default()),
        ("IHOS_OPERATOR", run.operator.clone()),
    ];
    if let Some(i) = inst {
        v.push(("IHOS_INSTANCE", i.name().to_string()));
        v.push(("IHOS_HOST", i.config.host.clone()));
        v.push(("IHOS_BACKEND", i.config.backend.clone()));
    }
    if let Some(ending) = outcome {
        let word = match ending {
            Ending::Report(Outcome::Completed) => "completed",
            Ending::Report(Outcome::RolledBack) => "rolled_back",
            Ending::Report(Outcome::Interrupted) => "interrupted",
            Ending::Report(Outcome::NotRestored) => "not_restored",
            Ending::Error => "error",
        };
        v.push(("IHOS_OUTCOME", word.to_string()));
    }
    v.into_iter().map(|(k, val)| (k.to_string(), val)).collect()
}

/// A hook that could not run at all.
fn not_run(error: String) -> HookOutcome {
    HookOutcome {
        exit: None,
        timed_out: false,
        error: Some(error),
        stopped: false,
        output: String::new(),
        seconds: 0.0,
    }
}

/// Runs one hook; a stop request (`Now`) kills it.
async fn run_one(env: &Env<'_>, hook: &HookConfig, mut vars: Vec<(String, String)>) -> HookOutcome {
    let argv = hook.run.argv();
    let timeout = hook.timeout.0;
    // A stop request kills the hooks of an instance's steps; the run's own (post-rollout,
    // failure: often cleanup) run to their end or their timeout.
    let stoppable = hook.on.can_gate();
    if stoppable && env.cancel.level() >= StopLevel::Now {
        return HookOutcome {
            stopped: true,
            ..not_run("not run: a stop was requested".into())
        };
    }
    let stop = async {
        if stoppable {
            env.cancel.reached(StopLevel::Now).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    if hook.is_local() {
        for name in &hook.env {
            match std::env::var(name) {
                Ok(value) => vars.push((name.clone(), value)),
                Err(_) => {
                    return not_run(format!("{name} (named in its env) is not set for ihos"));
                }
            }
        }
        return run_local(&argv, &vars, timeout, stop).await;
    }
    // Validation refuses an unknown host; a fleet built by hand may still lack it.
    let Some(t) = env.fleet.hosts.get(&hook.at) else {
        return not_run(format!("no host {:?} in the fleet", hook.at));
    };
    tokio::select! {
        out = run_remote(t.as_ref(), &argv, &vars, hook.sudo, timeout) => out,
        () = stop => HookOutcome {
            stopped: true,
            ..not_run("stopped on request: its session closed (the command may go on on the host)".into())
        },
    }
}

/// Runs the hooks of `on` (for `inst`, if any) in order, skipping those in `done`; each
/// one that finishes is journaled for `inst` when `journal` is given. Stops at the first
/// gate that fails.
pub(crate) async fn run_hooks(
    env: &Env<'_>,
    on: HookOn,
    run: &RunVars,
    inst: Option<&InstanceHandle>,
    outcome: Option<Ending>,
    journal: Option<Ctx<'_>>,
) -> Result<Vec<String>, GateFailed> {
    let done: Vec<String> = match (journal, inst) {
        (Some(ctx), Some(i)) => ctx
            .run
            .entry(i.name())
            .await
            .map(|e| e.hooks_done)
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    // What this instance gets (a rollback: its own previous release), else the run's WAR.
    let sha256 = match (journal, inst) {
        (Some(ctx), Some(i)) => ctx
            .source(i)
            .map_or_else(|_| run.sha256.clone(), |s| s.sha256.to_string()),
        _ => run.sha256.clone(),
    };
    let mut said = Vec::new();
    for (id, hook) in at(env.fleet, on) {
        let name = hook.label();
        if done.contains(&id) {
            said.push(format!(
                "{name}: done before the interruption, not run again"
            ));
            continue;
        }
        let outcome_of = run_one(env, hook, variables(on, run, inst, &sha256, outcome)).await;
        let passed = outcome_of.passed();
        let why = (!passed).then(|| outcome_of.why(hook.timeout.0));
        // A hook killed by a stop request stops the point as a gate would.
        let gate_failed = why.is_some() && (hook.is_gate() || outcome_of.stopped);
        // Journaled before it is said: once anyone hears it finished, a resume skips it.
        if let (false, Some(ctx), Some(i)) = (gate_failed, journal, inst) {
            ctx.update_entry(i.name(), |e| e.hooks_done.push(id.clone()))
                .await;
        }
        env.emitter.emit(Event::HookFinished {
            on: on.as_str().to_string(),
            hook: name.clone(),
            instance: inst.map(|i| i.name().to_string()),
            at: hook.at.clone(),
            passed,
            gate: hook.is_gate(),
            error: why.clone(),
            seconds: outcome_of.seconds,
            output: outcome_of.output.clone(),
        });
        match why {
            Some(why) if gate_failed => {
                return Err(GateFailed { hook: name, why });
            }
            Some(why) => {
                env.emitter.emit(Event::Warning {
                    instance: inst.map(|i| i.name().to_string()),
                    message: format!(
                        "{} hook {name:?} failed: {why} (not a gate: the run goes on)",
                        on.as_str()
                    ),
                });
                said.push(format!("{name}: failed ({why}), not a gate"));
            }
            None => said.push(format!("{name}: passed in {:.1}s", outcome_of.seconds)),
        }
    }
    Ok(said)
}

/// The hooks of `on` for `inst` as step `at`, when there are any.
pub(crate) async fn hook_point(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    on: HookOn,
    at: Step,
) -> Result<(), Failure> {
    if !any(ctx.env.fleet, on) {
        return Ok(());
    }
    step(ctx, inst, at, hook_step(ctx, inst, on)).await
}

/// The hooks of `on` for `inst` as a step: what they did, or the gate that failed.
async fn hook_step(
    ctx: Ctx<'_>,
    inst: &InstanceHandle,
    on: HookOn,
) -> Result<Option<String>, StepError> {
    run_hooks(ctx.env, on, &ctx.run.hook_vars, Some(inst), None, Some(ctx))
        .await
        .map(|said| Some(said.join("; ")))
        // A hook a stop request killed is a failure too: after the post-instance hooks
        // the instance runs a release nobody checked, so it is rolled back, not put back.
        .map_err(|g| StepError::Hook {
            hook: g.hook,
            why: g.why,
        })
}
