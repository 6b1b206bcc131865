//! `ihos rollout` (also `--simulate`, `--from-canary`) and `ihos rollback`.

use std::path::Path;

use ihos_core::{
    Fleet, ReleaseRef, RolloutOptions, RunKind, WarFile, describe_kept, find_kept_release,
    run_rollback, run_rollback_to, run_rollout,
};

use crate::cli::RolloutArgs;
use crate::connect;
use crate::drive::{confirm, drive, not_confirmed, runtime};
use crate::exit::{CliError, NOT_RESTORED};
use crate::notify;
use crate::output;
use crate::war_input::{open_war, war_from_canary};

/// `ihos rollout`.
pub fn rollout(config: &Path, args: RolloutArgs) -> Result<(), CliError> {
    if args.from_canary {
        if args.simulate {
            return Err(CliError::Usage(
                "--simulate has no canary to take the WAR from: pass --war".into(),
            ));
        }
        if args.commit.is_some() {
            return Err(CliError::Usage(
                "--from-canary takes the commit from the canary's deployment record; drop --commit"
                    .into(),
            ));
        }
    }
    let war = match &args.war {
        Some(path) => Some(open_war(path, args.commit.clone())?),
        None => None,
    };
    if args.simulate {
        let war = war.ok_or_else(|| CliError::Usage("--simulate needs --war".into()))?;
        return simulate(config, war, args);
    }
    let fleet = connect::fleet(config)?;
    let war = match war {
        Some(w) => w,
        None => war_from_canary(&fleet)?,
    };
    if !args.yes {
        let n = selected_count(&fleet, &args.only);
        if !confirm(&format!(
            "Roll {} (sha256 {}) out to {n} instance(s)?",
            war.path.display(),
            war.short_sha()
        ))? {
            return Err(not_confirmed());
        }
    }
    let options = RolloutOptions::new()
        .only(args.only.iter().cloned())
        .resume(args.resume)
        .force(args.force);
    let resume = if args.from_canary {
        "ihos rollout --resume --from-canary"
    } else {
        "ihos rollout --resume --war ..."
    };
    let told = notify::notifier(&fleet, RunKind::Rollout, Some(&war));
    drive(runtime()?, args.json, resume, Some(told), |sink, cancel| {
        Box::pin(async move { run_rollout(&fleet, &war, &options, sink, cancel).await })
    })
}

fn selected_count(fleet: &Fleet, only: &[String]) -> usize {
    if only.is_empty() {
        fleet.instances.len()
    } else {
        only.len()
    }
}

/// `ihos rollout --simulate`: the same engine against fake hosts in virtual time.
fn simulate(config: &Path, war: WarFile, args: RolloutArgs) -> Result<(), CliError> {
    let topology = crate::connect::topology(config)?;
    let sim = ihos_testkit::Simulation::new(&topology, &ihos_testkit::SimulationOptions::default());
    let fleet = Fleet::new(topology, sim.hosts)?;
    output::message(
        "simulation: fake hosts built from the topology, virtual time; no host is contacted",
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(CliError::Runtime)?;
    let options = RolloutOptions::new()
        .only(args.only.iter().cloned())
        .operator("simulation");
    let result = drive(
        rt,
        args.json,
        "ihos rollout --resume --war ...",
        // A simulation tells nobody.
        None,
        |sink, cancel| {
            Box::pin(async move { run_rollout(&fleet, &war, &options, sink, cancel).await })
        },
    );
    let report = sim.world.check_invariants();
    if !report.is_clean() {
        output::message(&format!("simulation: INVARIANT VIOLATIONS:\n{report}"));
        return Err(CliError::Finished {
            code: NOT_RESTORED,
            summary: "the simulated rollout broke a safety invariant".into(),
        });
    }
    output::message(
        "simulation: safety invariants held throughout (no request routed to a stopped, starting or unhealthy instance; never more than max_unavailable out of rotation)",
    );
    result
}

/// `ihos rollback [--to REF]`.
pub fn rollback(
    config: &Path,
    to: Option<ReleaseRef>,
    only: Vec<String>,
    yes: bool,
    json: bool,
) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    // Which release, said before anything is asked or changed (the run checks it again
    // under the lock).
    let release = match &to {
        Some(reference) => Some(rt.block_on(find_kept_release(&fleet, &only, reference))?),
        None => None,
    };
    if !yes {
        let n = selected_count(&fleet, &only);
        let question = match &release {
            Some(r) => format!(
                "Put {n} instance(s) on kept release {}?",
                output::printable(&describe_kept(r))
            ),
            None => format!("Put {n} instance(s) back on their previous release?"),
        };
        if !confirm(&question)? {
            return Err(not_confirmed());
        }
    }
    let options = RolloutOptions::new().only(only);
    let told = notify::notifier_for_release(&fleet, RunKind::Rollback, release.as_ref());
    // The run installs the very release asked about (by its whole digest), or is refused.
    let to = release.as_ref().map(|r| ReleaseRef::exactly(&r.sha256));
    drive(
        rt,
        json,
        "ihos rollout --resume --war ...",
        Some(told),
        |sink, cancel| {
            Box::pin(async move {
                match &to {
                    Some(reference) => {
                        run_rollback_to(&fleet, reference, &options, sink, cancel).await
                    }
                    None => run_rollback(&fleet, &options, sink, cancel).await,
                }
            })
        },
    )
}
