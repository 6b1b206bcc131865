//! How a run ends: never an instance out of rotation silently (the load balancer is read
//! again), the canary's route as it was, the outcome, the journal closed.

use super::ctx::{Ctx, Env};
use super::event::Event;
use super::journal;
use super::report::{InstanceFailure, InstanceResult, Outcome, Problem, RolloutReport};
use super::target::{Target, is_enabled};
use crate::fleet::InstanceHandle;
use crate::lb::Backend;

/// The report of a run whose instances ended with `results`; `before` is the upstream as it
/// was before the run.
pub(crate) async fn finish(
    ctx: Ctx<'_>,
    target: Target,
    selected: &[&InstanceHandle],
    before: &[Backend],
    results: Vec<(String, InstanceResult)>,
) -> RolloutReport {
    let env = ctx.env;
    let mut report = RolloutReport {
        rollout_id: ctx.run.rollout_id.clone(),
        outcome: Outcome::Completed,
        updated: vec![],
        not_updated: vec![],
        rolled_back: vec![],
        not_restored: vec![],
        warnings: vec![],
        seconds: 0.0,
    };
    for (instance, r) in results {
        match r {
            InstanceResult::Updated => report.updated.push(instance),
            InstanceResult::UpdatedWithoutRecord(problem) => {
                report.updated.push(instance.clone());
                report.warnings.push(InstanceFailure { instance, problem });
            }
            InstanceResult::NotUpdated => report.not_updated.push(instance),
            InstanceResult::RolledBack(problem) => report
                .rolled_back
                .push(InstanceFailure { instance, problem }),
            InstanceResult::NotRestored(problem) => report
                .not_restored
                .push(InstanceFailure { instance, problem }),
        }
    }
    check_rotation(env, selected, before, &mut report).await;
    if target == Target::Canary {
        check_canary_route(ctx, selected, &mut report).await;
    }
    report.outcome = if !report.not_restored.is_empty() {
        Outcome::NotRestored
    } else if !report.rolled_back.is_empty() {
        Outcome::RolledBack
    } else if !report.not_updated.is_empty() {
        Outcome::Interrupted
    } else {
        Outcome::Completed
    };
    let finished = matches!(report.outcome, Outcome::Completed | Outcome::RolledBack);
    // A rollback is never resumed (it is run again): its copies go however it ended. They
    // go while the journal is closed: neither needs the other, and the lock (released
    // after both) keeps another run from staging under the same names meanwhile.
    let remove = finished || ctx.run.action == super::ctx::Action::Rollback;
    tokio::join!(
        async {
            let mut j = ctx.run.journal.lock().await;
            j.finished = finished;
            let saved =
                journal::save(env.fleet.lb_transport.as_ref(), &env.fleet.lb_state_dir, &j).await;
            if let Err(e) = saved {
                env.emitter.emit(Event::Warning {
                    instance: None,
                    message: format!("journal not written: {e}"),
                });
            }
        },
        async {
            if remove {
                remove_staged(ctx, selected).await;
            }
        }
    );
    report
}

/// The staged WARs of a run that will not be resumed: a WAR per host per rollout would
/// fill the staging directories over the months. Best effort: a leftover is a warning.
async fn remove_staged(ctx: Ctx<'_>, selected: &[&InstanceHandle]) {
    let mut removed = std::collections::BTreeSet::new();
    let mut removals = Vec::new();
    for inst in selected {
        let Some(source) = ctx.run.sources.get(inst.name()) else {
            continue;
        };
        if !removed.insert((inst.config.host.clone(), source.staged.clone())) {
            continue;
        }
        // Every host at once: one round trip's time at the end of the run, not one each.
        removals.push(async move {
            let rm = crate::command::Command::new("rm").args(["-f", "--", source.staged.as_str()]);
            if let Err(e) = crate::transport::run_checked(inst.transport.as_ref(), &rm).await {
                ctx.env.emitter.emit(Event::Warning {
                    instance: Some(inst.name().to_string()),
                    message: format!("the staged WAR {} stays: {e}", source.staged),
                });
            }
        });
    }
    futures_util::future::join_all(removals).await;
}

fn is_reported(report: &RolloutReport, instance: &str) -> bool {
    report.not_restored.iter().any(|f| f.instance == instance)
}

/// Never leave an instance out of rotation silently: look at what nginx is told.
async fn check_rotation(
    env: &Env<'_>,
    selected: &[&InstanceHandle],
    before: &[Backend],
    report: &mut RolloutReport,
) {
    let now = match env.fleet.lb.backends().await {
        Ok(now) => now,
        Err(e) => {
            report.not_restored.push(InstanceFailure {
                instance: "load balancer".into(),
                problem: Problem::FinalCheck(Box::new(e)),
            });
            return;
        }
    };
    for inst in &env.fleet.instances {
        let backend = &inst.config.backend;
        let concerned =
            is_enabled(before, backend) || selected.iter().any(|s| s.name() == inst.name());
        if !is_enabled(&now, backend) && concerned && !is_reported(report, inst.name()) {
            report.not_restored.push(InstanceFailure {
                instance: inst.name().to_string(),
                problem: Problem::OutOfRotation,
            });
        }
    }
}

/// The canary's route must be open at the end exactly if it was open before.
async fn check_canary_route(
    ctx: Ctx<'_>,
    selected: &[&InstanceHandle],
    report: &mut RolloutReport,
) {
    let (Some(route), Some(canary)) = (ctx.env.fleet.canary_route.as_ref(), selected.first())
    else {
        return;
    };
    if is_reported(report, canary.name()) {
        return;
    }
    let Some(was_open) = ctx.run.canary_was_open(canary.name()).await else {
        return; // never taken out
    };
    let problem = match route.rule().await {
        Ok(rule) if rule.open == was_open => return,
        Ok(rule) => Problem::CanaryRoute {
            now_open: rule.open,
            was_open,
            file: rule.file,
            line: rule.line,
        },
        Err(e) => Problem::CanaryRouteUnreadable(Box::new(e)),
    };
    report.not_restored.push(InstanceFailure {
        instance: canary.name().to_string(),
        problem,
    });
}
