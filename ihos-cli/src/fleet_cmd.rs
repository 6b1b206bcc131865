//! The commands that act on the deployment described by the topology file: `validate`,
//! `plan`, `rollout`, `status`, `drain`, `enable`, `history`, `lock`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use ihos_core::InstanceView;
use ihos_core::{
    CancelToken, EventSink, Outcome, RolloutError, RolloutOptions, SidecarCheck, Step, StopLevel,
    Topology, WarFile,
};

use crate::cli::{LockCommand, RolloutArgs};
use crate::connect;
use crate::exit::{CliError, FAILURE, INTERRUPTED, NOT_RESTORED};
use crate::output;
use crate::progress::{Human, JsonLines};

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Fleet(format!("cannot start the async runtime: {e}")))
}

pub(crate) fn json_line(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string(value).map_err(|e| CliError::Fleet(e.to_string()))?;
    output::stdout(&format!("{text}\n"), Path::new("-"))
}

/// `ihos validate`.
pub fn validate(config: &Path) -> Result<(), CliError> {
    let t = Topology::load(config)?;
    output::message(&format!("{}: ok", config.display()));
    output::message(&format!(
        "load balancer: {} on {} ({}, upstream {}, apply {:?})",
        t.load_balancer.container,
        t.load_balancer.host,
        t.load_balancer.config,
        t.load_balancer.upstream,
        t.load_balancer.apply
    ));
    for i in &t.instances {
        output::message(&format!(
            "instance {}: {} on {}, backend {}",
            i.name, i.container, i.host, i.backend
        ));
    }
    if let Some(c) = &t.canary {
        output::message(&format!(
            "canary {}: {} on {}, rule in {}",
            c.instance.name, c.instance.container, c.instance.host, c.site_file
        ));
    }
    let p = &t.policy;
    output::message(&format!(
        "policy: max_unavailable {}, drain min {} idle {} max {}, start timeout {}, on failure {:?}",
        p.max_unavailable, p.drain.min, p.drain.idle, p.drain.max, p.start_timeout, p.on_failure
    ));
    Ok(())
}

/// Opens and checks the WAR with its `ihos fetch` sidecar (`FILE.json`), whose commit goes
/// into the deployment records unless `--commit` gives one.
pub(crate) fn open_war(path: &Path, commit: Option<String>) -> Result<WarFile, CliError> {
    let (war, check) = WarFile::open_with_sidecar(path).map_err(RolloutError::War)?;
    if let Some(warning) = check.warning() {
        output::message(&format!("warning: {warning}"));
    }
    if let SidecarCheck::Matched(s) = &check {
        let from = format!(
            "TeamCity build #{} (id {}) of {}",
            s.build_number, s.build_id, s.build_type
        );
        match (&commit, &s.commit) {
            (Some(given), Some(c)) if given != c => output::message(&format!(
                "{}: {from}, server-release {c}; --commit {given} is recorded instead",
                path.display()
            )),
            (None, c) => output::message(&format!(
                "{}: {from}, server-release: {}",
                path.display(),
                c.as_deref().unwrap_or("unknown")
            )),
            _ => {}
        }
    }
    Ok(match commit {
        Some(c) => war.with_commit(Some(c)),
        None => war,
    })
}

/// `ihos plan`.
pub fn plan(config: &Path, war: &Path, only: &[String], offline: bool) -> Result<(), CliError> {
    let war = open_war(war, None)?;
    let fleet = connect::fleet(config)?;
    let selected: Vec<_> = fleet
        .instances
        .iter()
        .filter(|i| only.is_empty() || only.iter().any(|o| o == i.name()))
        .collect();
    if let Some(missing) = only
        .iter()
        .find(|o| !fleet.instances.iter().any(|i| i.name() == o.as_str()))
    {
        return Err(RolloutError::UnknownInstance {
            name: missing.clone(),
            available: fleet
                .instances
                .iter()
                .map(|i| i.name().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }
        .into());
    }
    let p = &fleet.topology.policy;
    let mut out = String::new();
    out.push_str(&format!(
        "WAR {} sha256 {} ({} bytes), server-release: {}\n",
        war.path.display(),
        war.sha256,
        war.bytes,
        war.commit.as_deref().unwrap_or("unknown")
    ));
    let hosts: std::collections::BTreeSet<&str> =
        selected.iter().map(|i| i.config.host.as_str()).collect();
    out.push_str(&format!(
        "upload once to each of: {}\n",
        hosts.into_iter().collect::<Vec<_>>().join(", ")
    ));
    out.push_str(&format!(
        "then {} instance(s), at most {} out of rotation at a time; on failure: {:?}\n",
        selected.len(),
        p.max_unavailable,
        p.on_failure
    ));
    if !offline {
        let rt = runtime()?;
        let (views, lb_error) = rt.block_on(ihos_core::status(&fleet));
        if let Some(e) = lb_error {
            out.push_str(&format!("load balancer: cannot read the config: {e}\n"));
        }
        for v in views
            .iter()
            .filter(|v| selected.iter().any(|s| s.name() == v.instance))
        {
            let deployed = v.deployed.as_ref().map_or("unknown".to_string(), |d| {
                format!("sha256 {}", &d.sha256[..12.min(d.sha256.len())])
            });
            let same = v.deployed.as_ref().is_some_and(|d| d.sha256 == war.sha256);
            out.push_str(&format!(
                "  {}: now {}, container {}, deployed {}{}\n",
                v.instance,
                v.rotation
                    .map_or("not in the upstream".to_string(), |r| r.to_string()),
                v.container
                    .as_ref()
                    .map_or("unknown".to_string(), |c| c.status.clone()),
                deployed,
                if same {
                    " (already this WAR: it is deployed again)"
                } else {
                    ""
                }
            ));
        }
    }
    for i in &selected {
        out.push_str(&format!(
            "\n{} ({} on {}, backend {}):\n",
            i.name(),
            i.config.container,
            i.config.host,
            i.config.backend
        ));
        for (n, step) in Step::ALL.iter().enumerate() {
            let what = match step {
                Step::Disable => format!(
                    "comment out {} in upstream {}, nginx -t, {:?}",
                    i.config.backend,
                    fleet.topology.load_balancer.upstream,
                    fleet.topology.load_balancer.apply
                ),
                Step::Drain => format!(
                    "wait until idle: min {}, idle {}, max {}",
                    p.drain.min, p.drain.idle, p.drain.max
                ),
                Step::Stop => format!(
                    "docker stop --time {} {}",
                    p.stop_grace.0.as_secs(),
                    i.config.container
                ),
                Step::KeepPrevious => format!(
                    "copy {}/{} to {}/releases/{}/previous.war",
                    i.config.webapps,
                    i.config.war_name,
                    i.state_dir,
                    i.name()
                ),
                Step::Remove => format!(
                    "rm {0}/{1} and {0}/{2}/",
                    i.config.webapps,
                    i.config.war_name,
                    i.config.war_name.trim_end_matches(".war")
                ),
                Step::Install => format!(
                    "copy the uploaded WAR to {}/{} (temp name, then rename), check sha256",
                    i.config.webapps, i.config.war_name
                ),
                Step::Start => format!("docker start {}", i.config.container),
                Step::WaitHealthy => format!(
                    "{} answers {}, {:?} in the log, within {}",
                    i.config.health.url,
                    i.config.health.expect_status,
                    i.config.health.startup_line,
                    p.start_timeout
                ),
                Step::ScanLog => format!(
                    "no line with {:?} in {} since the start",
                    p.log_error_patterns, i.config.log_pattern
                ),
                Step::Enable => format!(
                    "uncomment {}, nginx -t, {:?}",
                    i.config.backend, fleet.topology.load_balancer.apply
                ),
                Step::Record => {
                    "deployment record on the host, audit log on the load balancer's host"
                        .to_string()
                }
            };
            out.push_str(&format!("  {:2}. {:<22} {what}\n", n + 1, step.describe()));
        }
    }
    output::stdout(&out, Path::new("-"))
}

pub(crate) fn confirm(question: &str) -> Result<bool, CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(
            "not on a terminal: pass --yes to run without confirmation".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CliError::Fleet(e.to_string()))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

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
        None => crate::canary_fleet_cmd::war_from_canary(&fleet)?,
    };
    if !args.yes {
        let n = if args.only.is_empty() {
            fleet.instances.len()
        } else {
            args.only.len()
        };
        if !confirm(&format!(
            "Roll {} (sha256 {}) out to {n} instance(s)?",
            war.path.display(),
            war.short_sha()
        ))? {
            return Err(CliError::Usage("not confirmed; nothing was changed".into()));
        }
    }
    let options = RolloutOptions {
        only: args.only.clone(),
        resume: args.resume,
        operator: None,
    };
    let resume = if args.from_canary {
        "ihos rollout --resume --from-canary"
    } else {
        "ihos rollout --resume --war ..."
    };
    drive_with(runtime()?, args.json, resume, |sink, cancel| {
        Box::pin(async move { ihos_core::run_rollout(&fleet, &war, &options, sink, cancel).await })
    })
}

/// `ihos rollout --simulate`: the same engine against fake hosts in virtual time.
fn simulate(config: &Path, war: WarFile, args: RolloutArgs) -> Result<(), CliError> {
    let topology = Topology::load(config)?;
    let sim = ihos_testkit::Simulation::new(&topology, &ihos_testkit::SimulationOptions::default());
    let fleet =
        ihos_core::Fleet::new(topology, sim.hosts).map_err(|e| CliError::Fleet(e.to_string()))?;
    output::message(
        "simulation: fake hosts built from the topology, virtual time; no host is contacted",
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| CliError::Fleet(format!("cannot start the async runtime: {e}")))?;
    let options = RolloutOptions {
        only: args.only.clone(),
        resume: false,
        operator: Some("simulation".into()),
    };
    let result = drive(rt, args.json, |sink, cancel| {
        Box::pin(async move { ihos_core::run_rollout(&fleet, &war, &options, sink, cancel).await })
    });
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

/// `ihos rollback`.
pub fn rollback(config: &Path, only: Vec<String>, yes: bool, json: bool) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    if !yes {
        let n = if only.is_empty() {
            fleet.instances.len()
        } else {
            only.len()
        };
        if !confirm(&format!(
            "Put {n} instance(s) back on their previous release?"
        ))? {
            return Err(CliError::Usage("not confirmed; nothing was changed".into()));
        }
    }
    let options = RolloutOptions {
        only,
        resume: false,
        operator: None,
    };
    drive(runtime()?, json, |sink, cancel| {
        Box::pin(async move { ihos_core::run_rollback(&fleet, &options, sink, cancel).await })
    })
}

pub(crate) type RunFuture<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<ihos_core::RolloutReport, RolloutError>> + 'a>,
>;

/// Runs a rollout or rollback with progress, Ctrl-C handling and the exit code of its outcome.
fn drive<F>(rt: tokio::runtime::Runtime, json: bool, run: F) -> Result<(), CliError>
where
    F: for<'a> FnOnce(&'a dyn EventSink, &'a CancelToken) -> RunFuture<'a>,
{
    drive_with(rt, json, "ihos rollout --resume --war ...", run)
}

/// [`drive`], naming `resume` as the command that continues an interrupted run.
pub(crate) fn drive_with<F>(
    rt: tokio::runtime::Runtime,
    json: bool,
    resume: &str,
    run: F,
) -> Result<(), CliError>
where
    F: for<'a> FnOnce(&'a dyn EventSink, &'a CancelToken) -> RunFuture<'a>,
{
    rt.block_on(async {
        let cancel = CancelToken::new();
        let watcher = cancel.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                match watcher.escalate() {
                    StopLevel::AfterCurrent => output::message(
                        "stopping after the instances being updated (Ctrl-C again: stop now, leaving every instance consistent)",
                    ),
                    _ => output::message("stopping now: making the current instances consistent"),
                }
            }
        });
        let sink: Box<dyn EventSink> = if json { Box::new(JsonLines) } else { Box::new(Human::new()) };
        let report = run(sink.as_ref(), &cancel).await?;
        let mut summary = format!(
            "{:?} in {:.1}s: {} updated{}{}{}",
            report.outcome,
            report.seconds,
            report.updated.len(),
            if report.not_updated.is_empty() { String::new() } else { format!(", not updated: {}", report.not_updated.join(", ")) },
            report.rolled_back.iter().map(|(i, e)| format!("\n  rolled back {i}: {e}")).collect::<String>(),
            report.not_restored.iter().map(|(i, e)| format!("\n  NOT RESTORED {i}: {e}")).collect::<String>(),
        );
        let code = match report.outcome {
            Outcome::Completed => {
                output::message(&summary);
                return Ok(());
            }
            Outcome::RolledBack => FAILURE,
            Outcome::Interrupted => {
                summary.push_str(&format!("\n  consistent; `{resume}` continues"));
                INTERRUPTED
            }
            Outcome::NotRestored => {
                summary.push_str("\n  a human is needed: see `ihos status`; the lock is kept (`ihos lock release` when done)");
                NOT_RESTORED
            }
        };
        Err(CliError::Finished { code, summary })
    })
}

/// `ihos status`.
pub fn status(config: &Path, json: bool) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    let (views, lb_error) = rt.block_on(ihos_core::status(&fleet));
    if json {
        return json_line(
            &serde_json::json!({ "schema": 1, "load_balancer_error": lb_error, "instances": views }),
        );
    }
    // The canary is not in the upstream: its "rotation" is its cohort route.
    let route = match &fleet.canary_route {
        Some(r) => match rt.block_on(r.rule()) {
            Ok(rule) if rule.open => "canary open",
            Ok(_) => "canary closed",
            Err(_) => "canary ?",
        },
        None => "canary",
    };
    let canary = fleet.canary.as_ref().map(|c| (c.name(), route));
    output::stdout(
        &status_table(&views, canary, lb_error.as_deref()),
        Path::new("-"),
    )
}

/// `ihos status`'s human table: a row per instance, then its commit as the runbook notes
/// it (`server-release: <commit>`) and any errors.
/// `canary`: the canary's name and what its route says (`canary open` / `canary closed`).
fn status_table(
    views: &[InstanceView],
    canary: Option<(&str, &str)>,
    lb_error: Option<&str>,
) -> String {
    let mut out = String::new();
    if let Some(e) = lb_error {
        out.push_str(&format!("load balancer: {e}\n"));
    }
    out.push_str(&format!(
        "{:<10} {:<14} {:<10} {:<8} {:<14} {}\n",
        "INSTANCE", "ROTATION", "CONTAINER", "HEALTH", "SHA256", "DEPLOYED"
    ));
    for v in views {
        let d = v.deployed.as_ref();
        out.push_str(&format!(
            "{:<10} {:<14} {:<10} {:<8} {:<14} {}\n",
            v.instance,
            v.rotation.map_or(
                match canary {
                    Some((name, route)) if name == v.instance => route.to_string(),
                    _ => "missing".to_string(),
                },
                |r| r.to_string()
            ),
            v.container
                .as_ref()
                .map_or("?".to_string(), |c| c.status.clone()),
            match v.health_status {
                Some(s) if v.healthy => format!("ok {s}"),
                Some(s) => format!("BAD {s}"),
                None => "down".into(),
            },
            d.map_or("-".into(), |d| d.sha256[..12.min(d.sha256.len())]
                .to_string()),
            d.map_or("-".into(), |d| format!(
                "{} by {}",
                d.deployed_at, d.operator
            )),
        ));
        // The runbook notes each instance's build as "server-release: <commit>".
        if let Some(d) = d {
            out.push_str(&format!(
                "  server-release: {}\n",
                d.commit.as_deref().unwrap_or("unknown")
            ));
        }
        for e in &v.errors {
            out.push_str(&format!("  ! {e}\n"));
        }
    }
    out
}

/// `ihos drain`.
pub fn drain(config: &Path, instance: &str) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    let sink = Human::new();
    let cancel = CancelToken::new();
    let msg = rt.block_on(ihos_core::drain_instance(&fleet, instance, &sink, &cancel))?;
    output::message(&format!("{instance}: {msg}"));
    Ok(())
}

/// `ihos enable`.
pub fn enable(config: &Path, instance: &str) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    let change = rt.block_on(ihos_core::enable_instance(&fleet, instance))?;
    output::message(&format!("{instance}: {}", change.message));
    if !change.diff.is_empty() {
        output::stdout(&change.diff, Path::new("-"))?;
    }
    Ok(())
}

/// `ihos history`.
pub fn history(config: &Path, json: bool) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    let records = rt.block_on(ihos_core::history(&fleet))?;
    if json {
        for r in &records {
            json_line(r)?;
        }
        return Ok(());
    }
    let mut out = String::new();
    for r in &records {
        out.push_str(&format!(
            "{}  {:<10} {:<8} sha256 {}  commit {}  {} ({})\n",
            r.deployed_at,
            r.instance,
            r.action,
            &r.sha256[..12.min(r.sha256.len())],
            r.commit.as_deref().unwrap_or("-"),
            r.operator,
            r.rollout_id
        ));
    }
    if records.is_empty() {
        output::message("no deployment recorded yet");
    }
    output::stdout(&out, Path::new("-"))
}

/// `ihos lock status|release`.
pub fn lock(config: &Path, cmd: LockCommand) -> Result<(), CliError> {
    let fleet = connect::fleet(config)?;
    let rt = runtime()?;
    match cmd {
        LockCommand::Status => match rt.block_on(ihos_core::lock_status(&fleet))? {
            None => output::message("no rollout holds the lock"),
            Some(o) => output::message(&format!(
                "held by rollout {} of {} (pid {}) since {}, WAR sha256 {}",
                o.rollout_id, o.owner, o.pid, o.since, o.sha256
            )),
        },
        LockCommand::Release { force } => {
            let owner = rt.block_on(ihos_core::lock_status(&fleet))?;
            let Some(o) = owner else {
                output::message("no rollout holds the lock");
                return Ok(());
            };
            let mine = o.pid == std::process::id();
            if !force && !mine {
                return Err(CliError::Usage(format!(
                    "the lock belongs to rollout {} of {} (pid {}) since {}; make sure it is not running, then `ihos lock release --force`",
                    o.rollout_id, o.owner, o.pid, o.since
                )));
            }
            rt.block_on(ihos_core::lock_release(&fleet))?;
            output::message(&format!("lock of rollout {} released", o.rollout_id));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use ihos_core::{ContainerState, DeploymentRecord, InstanceView};

    fn view(name: &str, commit: Option<&str>, deployed: bool) -> InstanceView {
        InstanceView {
            instance: name.into(),
            host: "h101".into(),
            backend: "192.168.1.101:39091".into(),
            rotation: None,
            container: Some(ContainerState {
                exists: true,
                running: true,
                status: "running".into(),
                ..ContainerState::missing()
            }),
            health_status: Some(200),
            healthy: true,
            deployed: deployed.then(|| DeploymentRecord {
                instance: name.into(),
                sha256: "ab".repeat(32),
                bytes: 10,
                commit: commit.map(str::to_string),
                rollout_id: "r1".into(),
                operator: "deploy@ops".into(),
                deployed_at: "2026-01-02T03:04:05Z".into(),
                action: "deploy".into(),
            }),
            errors: Vec::new(),
        }
    }

    #[test]
    fn status_shows_each_instances_server_release() {
        let views = [
            view(
                "101-pep1",
                Some("6feff116ab9ad0d3af686526a6ff96272620e70f"),
                true,
            ),
            view("101-pep2", None, true),
            view("102-pep1", None, false),
        ];
        let table = super::status_table(&views, Some(("102-pep1", "canary open")), None);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].starts_with("101-pep1 "), "{table}");
        assert!(lines[1].contains("abababababab"), "{table}");
        assert_eq!(
            lines[2],
            "  server-release: 6feff116ab9ad0d3af686526a6ff96272620e70f"
        );
        assert!(lines[3].starts_with("101-pep2 "), "{table}");
        assert_eq!(lines[4], "  server-release: unknown");
        assert!(lines[5].starts_with("102-pep1   canary open "), "{table}");
        assert_eq!(lines.len(), 6, "nothing deployed, no release line: {table}");
    }
}
