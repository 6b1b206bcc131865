//! `ihos canary deploy --analyze WINDOW`: deploy to the canary, open its cohort route, watch
//! the access logs for the window and judge: pass closes the route (and with `--promote`
//! rolls the canary's WAR out to the fleet), fail closes the route and puts the canary's
//! previous release back (exit 1), inconclusive keeps watching up to `--max-wait`, then
//! leaves the route as it was before the command (exit 4).

use std::path::Path;
use std::time::Duration;

use ihos_core::{
    CanaryError, CanaryRule, CancelToken, Fleet, RegexStyle, RolloutOptions, RunKind, StopLevel,
    Verdict, WatchError, WatchOptions, close_canary, open_canary, run_canary_rollback,
    watch_canary, watch_start,
};

use crate::canary_analyze_cmd::{describe, verdict_code};
use crate::cli::{RolloutArgs, TrialArgs};
use crate::connect;
use crate::drive::{confirm, drive, json_line, not_confirmed, runtime};
use crate::exit::{CliError, FAILURE, NOT_RESTORED};
use crate::output;
use crate::{canary_route_cmd, rollout_cmd};

/// Exit code of an interrupted command (as a rollout's).
const INTERRUPTED: u8 = 130;

/// Runs the trial.
pub fn deploy_and_analyze(
    config: &Path,
    war: &Path,
    commit: Option<String>,
    yes: bool,
    json: bool,
    trial: TrialArgs,
) -> Result<(), CliError> {
    let Some(window) = trial.analyze else {
        return Err(CliError::Usage("--analyze WINDOW is missing".into()));
    };
    let window: Duration = window.into();
    let max_wait = trial
        .max_wait
        .map_or(window.saturating_mul(3), Duration::from);
    if max_wait < window {
        return Err(CliError::Usage(format!(
            "--max-wait ({}) is shorter than the window ({})",
            humantime(max_wait),
            humantime(window)
        )));
    }
    // Everything that can refuse the trial is checked before the deploy changes anything.
    let fleet = fleet_with_analysis(config)?;
    let route = fleet.canary_route.clone().ok_or(CanaryError::NoCanary)?;
    let rt = runtime()?;
    let before = rt.block_on(route.rule()).map_err(CanaryError::from)?;
    if trial.ids.is_none() && !before.open {
        return Err(CliError::Usage(
            "the canary route is closed, so the canary would get no traffic to judge: --ids \
             PREFIXES opens it for these users"
                .into(),
        ));
    }
    if !yes
        && !confirm(&format!(
            "Deploy {} to the canary, open its route{}, judge it after {}{}?",
            war.display(),
            trial
                .ids
                .as_ref()
                .map(|c| format!(" for ids {c}"))
                .unwrap_or_default(),
            humantime(window),
            if trial.promote {
                " and, if it passes, roll it out to the fleet"
            } else {
                ""
            }
        ))?
    {
        return Err(not_confirmed());
    }
    drop(rt);
    canary_route_cmd::deploy(config, war, commit, true, json, false)?;

    let rt = runtime()?;
    let cancel = CancelToken::new();
    let watcher = cancel.clone();
    let result = rt.block_on(async {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                watcher.request(StopLevel::AfterCurrent);
            }
        });
        let start = watch_start(&fleet).await?;
        if let Some(ids) = &trial.ids {
            let style = RegexStyle::Exact;
            open_canary(&fleet, style.operator(), &ids.regex(style))
                .await
                .map_err(CliError::from)?;
            output::message(&format!("canary route open for ids starting with {ids}"));
        }
        let options = WatchOptions::new(window, max_wait);
        let mut progress = |p: &ihos_core::WatchProgress| {
            output::message(&format!(
                "watching the canary: {} of {}: canary {} requests, {} errors; fleet {} requests, {} errors",
                humantime(p.elapsed),
                humantime(window),
                p.canary.0,
                p.canary.1,
                p.fleet.0,
                p.fleet.1
            ));
        };
        watch_canary(&fleet, start, &options, &mut progress, &cancel)
            .await
            .map_err(|e| match e {
                WatchError::Analyze(a) => CliError::from(a),
                WatchError::Interrupted => CliError::Finished {
                    code: INTERRUPTED,
                    summary: "canary watch interrupted".into(),
                },
            })
    });
    let analysis = match result {
        Ok(a) => a,
        Err(e) => {
            // Interrupted or the logs could not be read: no verdict, the route as before.
            return Err(after_failure(
                e,
                restore_route(&fleet, &before, &trial),
                not_restored,
            ));
        }
    };
    // Shown before acting on it, so the operator knows why; a failed print (a full disk
    // under --json > file) must not skip what the verdict requires.
    if json {
        let _ = json_line(&analysis);
    }
    output::message(&describe(&analysis));
    let _told = crate::notify::verdict(
        &fleet,
        RunKind::CanaryDeploy,
        &analysis,
        trial.ids.as_ref().map(ToString::to_string),
        None,
    );
    match analysis.analysis.verdict {
        Verdict::Pass => {
            runtime()?.block_on(close_canary(&fleet))?;
            if trial.promote {
                output::message("canary passed: route closed; rolling its WAR out to the fleet");
                rollout_cmd::rollout(
                    config,
                    RolloutArgs {
                        war: None,
                        from_canary: true,
                        only: Vec::new(),
                        yes: true,
                        json,
                        resume: false,
                        force: false,
                        commit: None,
                        simulate: false,
                    },
                )
            } else {
                output::message(
                    "canary passed: route closed; `ihos rollout --from-canary` promotes its WAR",
                );
                Ok(())
            }
        }
        Verdict::Fail => {
            // The rollback is attempted whatever the close did: a failed canary must not
            // keep serving its cohort. (With the route still open, the rollback closes it
            // for its own steps and reopens it on the previous release.)
            let closed = runtime().and_then(|rt| {
                rt.block_on(close_canary(&fleet))
                    .map(|_| ())
                    .map_err(CliError::from)
            });
            output::message(&match &closed {
                Ok(()) => "canary failed: route closed; putting its previous release back".into(),
                Err(e) => format!(
                    "canary failed; closing its route failed ({e}); putting its previous \
                     release back all the same"
                ),
            });
            let rolled_back = runtime().and_then(|rt| {
                let told = crate::notify::notifier(&fleet, RunKind::CanaryRollback, None);
                drive(rt, json, "ihos rollback", Some(told), |sink, cancel| {
                    Box::pin(async move {
                        run_canary_rollback(&fleet, &RolloutOptions::new(), sink, cancel).await
                    })
                })
            });
            match (closed, rolled_back) {
                (Ok(()), Ok(())) => Err(CliError::Finished {
                    code: FAILURE,
                    summary: "canary analysis: fail; the canary is back on its previous \
                              release, its route closed (exit 1)"
                        .into(),
                }),
                (_, Err(e)) if e.code() == NOT_RESTORED => Err(e),
                (_, Err(e)) => Err(CliError::Finished {
                    code: NOT_RESTORED,
                    summary: format!(
                        "canary analysis: fail, and putting the previous release back failed: \
                         {e}; the canary runs the release that failed: a human is needed \
                         (`ihos canary status`, `ihos canary close`)"
                    ),
                }),
                (Err(e), Ok(())) => Err(CliError::Finished {
                    code: NOT_RESTORED,
                    summary: format!(
                        "canary analysis: fail; the canary is back on its previous release, \
                         but its route could not be closed ({e}): its cohort reaches it; \
                         `ihos canary close` when the cause is fixed"
                    ),
                }),
            }
        }
        Verdict::Inconclusive => {
            if let Err(e) = restore_route(&fleet, &before, &trial) {
                return Err(not_restored(e));
            }
            Err(CliError::Finished {
                code: verdict_code(Verdict::Inconclusive),
                summary: format!(
                    "canary analysis: inconclusive after {}: too few requests; the route is \
                     as it was before (exit 4)",
                    humantime(max_wait)
                ),
            })
        }
    }
}

/// The error that stopped the command, or, when the route could not be put back after
/// it, that (the first error said on stderr first).
pub(crate) fn after_failure(
    e: CliError,
    restored: Result<(), CliError>,
    not_restored: fn(CliError) -> CliError,
) -> CliError {
    match restored {
        Ok(()) => e,
        Err(re) => {
            eprintln!("error: {e}");
            not_restored(re)
        }
    }
}

/// A route that could not be put back as it was: a human decides (exit 3).
fn not_restored(e: CliError) -> CliError {
    CliError::Finished {
        code: NOT_RESTORED,
        summary: format!(
            "the canary route could not be put back as it was before the command: {e}; see \
             `ihos canary status`"
        ),
    }
}

/// The route as it was before the trial: closed if it was, its previous rule if the trial
/// opened it for other users.
fn restore_route(fleet: &Fleet, before: &CanaryRule, trial: &TrialArgs) -> Result<(), CliError> {
    let rt = runtime()?;
    if !before.open {
        rt.block_on(close_canary(fleet))?;
        return Ok(());
    }
    if trial.ids.is_some() {
        if let (Some(op), Some(regex)) = (&before.operator, &before.regex) {
            rt.block_on(open_canary(fleet, op, regex))?;
        }
    }
    Ok(())
}

/// The fleet, refused unless it has a canary with `[canary.analysis]`.
pub(crate) fn fleet_with_analysis(config: &Path) -> Result<Fleet, CliError> {
    let fleet = connect::fleet(config)?;
    let canary = fleet
        .topology
        .canary
        .as_ref()
        .ok_or(CanaryError::NoCanary)?;
    if canary.analysis.is_none() {
        return Err(ihos_core::AnalyzeError::NotConfigured.into());
    }
    Ok(fleet)
}

/// `90s` → `1m30s`.
pub fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 60, s % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}
