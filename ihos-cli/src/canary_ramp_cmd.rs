//! `ihos canary ramp --ids 1 --ids 1,3 --ids 1,3,5,7 --step 10m`: the cohort widened step
//! by step, the canary judged from the access logs at each step. Any fail closes the route
//! (exit 1); all passed leaves it open for the last cohort (exit 0); an inconclusive step
//! (after --max-wait) or Ctrl-C puts the route back as it was and keeps the ramp resumable
//! (`--resume` continues at that step; exit 4 or 130). Journaled on the LB's host.

use std::path::Path;
use std::time::Duration;

use ihos_core::{
    CanaryError, CanaryRule, CancelToken, Cohort, Fleet, RampJournal, RampState, RegexStyle,
    StopLevel, Verdict, WatchError, WatchOptions, WatchProgress, close_canary, open_canary,
    ramp_journal, save_ramp_journal, watch_canary, watch_start,
};

use crate::canary_analyze_cmd::describe;
use crate::cli::RampArgs;
use crate::drive::{confirm, json_line, not_confirmed, runtime};
use crate::exit::{CliError, FAILURE, INCONCLUSIVE, NOT_RESTORED};
use crate::output;

/// Exit code of an interrupted command.
const INTERRUPTED: u8 = 130;

fn journal_error(e: ihos_core::TransportError) -> CliError {
    CliError::Analyze(ihos_core::AnalyzeError::Transport(e))
}

/// The steps to run: the given ones, or the recorded ramp's with `--resume`.
fn steps(fleet: &Fleet, args: &RampArgs) -> Result<RampJournal, CliError> {
    let recorded = runtime()?
        .block_on(ramp_journal(fleet))
        .map_err(journal_error)?;
    let given: Vec<Vec<String>> = args.ids.iter().map(|c| c.prefixes().to_vec()).collect();
    if args.resume {
        let j = recorded
            .filter(|j| j.state == RampState::Unfinished)
            .ok_or_else(|| CliError::Usage("no unfinished canary ramp to resume".into()))?;
        if let Err(why) = resumable(&j) {
            return Err(CliError::Usage(format!(
                "the recorded canary ramp (canary-ramp.json on the load balancer's host) {why}: \
                 start a new ramp with --ids and --step"
            )));
        }
        if !given.is_empty() && given != j.steps {
            return Err(CliError::Usage(format!(
                "the recorded ramp has other steps ({}): drop --ids to resume it",
                show(&j.steps)
            )));
        }
        return Ok(j);
    }
    if given.is_empty() {
        return Err(CliError::Usage(
            "--ids PREFIXES, once per step (e.g. --ids 1 --ids 1,3 --ids 1,3,5,7)".into(),
        ));
    }
    if let Some(j) = recorded.filter(|j| j.state == RampState::Unfinished) {
        output::message(&format!(
            "warning: replacing the unfinished ramp {} (step {} of {}: {})",
            j.id,
            j.passed + 1,
            j.steps.len(),
            show(&j.steps)
        ));
    }
    let step = args
        .step
        .ok_or_else(|| CliError::Usage("--step DURATION is missing".into()))?;
    Ok(RampJournal {
        id: format!(
            "ramp-{}-{}",
            jiff::Timestamp::now().as_second(),
            std::process::id()
        ),
        steps: given,
        step_secs: Duration::from(step).as_secs().max(1),
        passed: 0,
        state: RampState::Unfinished,
        sha256: None,
    })
}

/// Longest step a recorded ramp may have: the file is read back from a host, and a step
/// this long is not a ramp anyone runs.
const MAX_STEP_SECS: u64 = 7 * 24 * 3600;

/// Why a recorded ramp cannot be resumed, if it cannot.
fn resumable(j: &RampJournal) -> Result<(), String> {
    if j.steps.is_empty() || j.steps.iter().any(Vec::is_empty) {
        return Err("has an empty step".into());
    }
    if j.passed >= j.steps.len() {
        return Err(format!(
            "says {} of its {} steps passed",
            j.passed,
            j.steps.len()
        ));
    }
    if j.step_secs == 0 || j.step_secs > MAX_STEP_SECS {
        return Err(format!("has a step of {} s", j.step_secs));
    }
    Ok(())
}

fn show(steps: &[Vec<String>]) -> String {
    steps
        .iter()
        .map(|s| s.join(","))
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// Runs `ihos canary ramp`.
pub fn ramp(config: &Path, args: RampArgs) -> Result<(), CliError> {
    let fleet = crate::canary_trial_cmd::fleet_with_analysis(config)?;
    let mut journal = steps(&fleet, &args)?;
    let step = Duration::from_secs(journal.step_secs);
    let max_wait = args
        .max_wait
        .map_or(step.saturating_mul(3), Duration::from)
        .max(step);
    let route = fleet.canary_route.clone().ok_or(CanaryError::NoCanary)?;
    let before = runtime()?
        .block_on(route.rule())
        .map_err(CanaryError::from)?;
    if !args.yes
        && !confirm(&format!(
            "Ramp the canary's cohort {} ({} per step), from step {}?",
            show(&journal.steps),
            crate::canary_trial_cmd::humantime(step),
            journal.passed + 1
        ))?
    {
        return Err(not_confirmed());
    }
    let rt = runtime()?;
    let cancel = CancelToken::new();
    let watcher = cancel.clone();
    rt.spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            watcher.request(StopLevel::AfterCurrent);
        }
    });
    while journal.passed < journal.steps.len() {
        let i = journal.passed;
        let cohort = Cohort::parse_list(&journal.steps[i].join(","))
            .map_err(|e| CliError::Usage(format!("step {}: {e}", i + 1)))?;
        let n = journal.steps.len();
        let judged = rt.block_on(async {
            let start = watch_start(&fleet).await?;
            let style = RegexStyle::Exact;
            open_canary(&fleet, style.operator(), &cohort.regex(style))
                .await
                .map_err(CliError::from)?;
            save_ramp_journal(&fleet, &journal)
                .await
                .map_err(journal_error)?;
            output::message(&format!(
                "ramp step {} of {n}: route open for ids starting with {cohort}",
                i + 1
            ));
            let mut progress = |p: &WatchProgress| {
                output::message(&format!(
                    "ramp step {} of {n}: {} of {}: canary {} requests, {} errors; fleet {} requests, {} errors",
                    i + 1,
                    crate::canary_trial_cmd::humantime(p.elapsed),
                    crate::canary_trial_cmd::humantime(step),
                    p.canary.0,
                    p.canary.1,
                    p.fleet.0,
                    p.fleet.1
                ));
            };
            watch_canary(
                &fleet,
                start,
                &WatchOptions::new(step, max_wait),
                &mut progress,
                &cancel,
            )
            .await
            .map_err(|e| match e {
                WatchError::Analyze(a) => CliError::from(a),
                WatchError::Interrupted => CliError::Finished {
                    code: INTERRUPTED,
                    summary: format!(
                        "canary ramp interrupted at step {} of {n}; `ihos canary ramp --resume` \
                         continues it",
                        i + 1
                    ),
                },
            })
        });
        let analysis = match judged {
            Ok(a) => a,
            Err(e) => {
                return Err(crate::canary_trial_cmd::after_failure(
                    e,
                    restore_route(&fleet, &before),
                    not_restored,
                ));
            }
        };
        if args.json {
            let _ = json_line(&analysis);
        }
        output::message(&describe(&analysis));
        let _told = crate::notify::verdict(
            &fleet,
            ihos_core::RunKind::CanaryRamp,
            &analysis,
            Some(cohort.to_string()),
            Some((i + 1, n)),
        );
        match analysis.analysis.verdict {
            Verdict::Pass => {
                journal.passed += 1;
                if journal.passed == n {
                    journal.state = RampState::Completed;
                }
                rt.block_on(save_ramp_journal(&fleet, &journal))
                    .map_err(journal_error)?;
            }
            Verdict::Fail => {
                let closed = rt.block_on(close_canary(&fleet));
                journal.state = RampState::Failed;
                let saved = rt.block_on(save_ramp_journal(&fleet, &journal));
                if let Err(e) = closed {
                    return Err(CliError::Finished {
                        code: NOT_RESTORED,
                        summary: format!(
                            "canary ramp: step {} of {n} ({cohort}) failed, and closing the \
                             route failed ({e}): its cohort still reaches the canary; `ihos \
                             canary close` when the cause is fixed",
                            i + 1
                        ),
                    });
                }
                saved.map_err(journal_error)?;
                return Err(CliError::Finished {
                    code: FAILURE,
                    summary: format!(
                        "canary ramp: step {} of {n} ({cohort}) failed; route closed (exit 1)",
                        i + 1
                    ),
                });
            }
            Verdict::Inconclusive => {
                if let Err(e) = restore_route(&fleet, &before) {
                    return Err(not_restored(e));
                }
                return Err(CliError::Finished {
                    code: INCONCLUSIVE,
                    summary: format!(
                        "canary ramp: step {} of {n} ({cohort}) inconclusive: too few \
                         requests; the route is as it was, `ihos canary ramp --resume` \
                         retries this step (exit 4)",
                        i + 1
                    ),
                });
            }
        }
    }
    output::message(&format!(
        "canary ramp completed: every step passed, route open for ids starting with {}; \
         `ihos rollout --from-canary` promotes the canary's WAR",
        journal
            .steps
            .last()
            .map(|s| s.join(","))
            .unwrap_or_default()
    ));
    Ok(())
}

/// A route that could not be put back as it was: a human decides (exit 3).
fn not_restored(e: CliError) -> CliError {
    CliError::Finished {
        code: NOT_RESTORED,
        summary: format!(
            "the canary route could not be put back as it was before the command: {e}; see \
             `ihos canary status`; `ihos canary ramp --resume` goes on at this step"
        ),
    }
}

/// The route as it was before the command.
fn restore_route(fleet: &Fleet, before: &CanaryRule) -> Result<(), CliError> {
    let rt = runtime()?;
    match (&before.operator, &before.regex) {
        (Some(op), Some(regex)) if before.open => {
            rt.block_on(open_canary(fleet, op, regex))?;
        }
        _ => {
            rt.block_on(close_canary(fleet))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(steps: Vec<Vec<&str>>, passed: usize, step_secs: u64) -> RampJournal {
        RampJournal {
            id: "ramp-1".into(),
            steps: steps
                .into_iter()
                .map(|s| s.into_iter().map(String::from).collect())
                .collect(),
            step_secs,
            passed,
            state: RampState::Unfinished,
            sha256: None,
        }
    }

    #[test]
    fn a_recorded_ramp_that_cannot_be_right_is_not_resumed() {
        assert!(resumable(&journal(vec![vec!["1"], vec!["1", "3"]], 1, 600)).is_ok());
        for (j, says) in [
            (journal(vec![], 0, 600), "an empty step"),
            (journal(vec![vec!["1"], vec![]], 0, 600), "an empty step"),
            (journal(vec![vec!["1"]], 1, 600), "1 of its 1 steps passed"),
            (journal(vec![vec!["1"]], usize::MAX, 600), "steps passed"),
            (journal(vec![vec!["1"]], 0, 0), "a step of 0 s"),
            (journal(vec![vec!["1"]], 0, u64::MAX), "a step of"),
        ] {
            let why = resumable(&j).unwrap_err();
            assert!(why.contains(says), "{why}");
        }
    }
}
