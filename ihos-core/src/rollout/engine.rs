//! The rollout: checks, lock, upload, then instances in order (at most `max_unavailable` at
//! a time), then the final check that every instance is back in rotation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::cancel::{CancelToken, StopLevel};
use super::error::RolloutError;
use super::event::{Emitter, Event, EventSink, Step};
use super::fleet::{Fleet, InstanceHandle};
use super::instance::{InstanceResult, update_instance};
use super::journal::{self, InstanceStatus, Journal, JournalEntry};
use super::lock::{self, LockOwner};
use super::war::WarFile;
use super::{Outcome, RolloutOptions, RolloutReport, remote};
use crate::command::Privilege;
use crate::config::Policy;
use crate::lb::Backend;
use crate::names::RemotePath;
use crate::transport::Transport;

/// The WAR an instance gets, already on its host.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Where it is on the instance's host (outside webapps).
    pub staged: RemotePath,
    pub sha256: String,
    pub bytes: u64,
    pub commit: Option<String>,
}

/// What a run does to each instance.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind<'a> {
    /// Deploy this WAR.
    Deploy(&'a WarFile),
    /// Put each instance's previous release back.
    Rollback,
}

/// What the steps of a rollout share.
pub(crate) struct Ctx<'a> {
    pub fleet: &'a Fleet,
    pub policy: &'a Policy,
    pub emitter: &'a Emitter<'a>,
    pub cancel: &'a CancelToken,
    pub journal: Mutex<Journal>,
    /// What each instance gets, by instance name.
    pub sources: BTreeMap<String, Source>,
    /// `deploy` or `rollback`, for the records.
    pub action: &'static str,
    pub rollout_id: String,
    pub operator: String,
}

impl Ctx<'_> {
    pub(crate) fn source(&self, inst: &InstanceHandle) -> Result<&Source, String> {
        self.sources.get(inst.name()).ok_or_else(|| {
            format!(
                "no WAR prepared for {} on {}",
                inst.name(),
                inst.config.host
            )
        })
    }

    /// Updates an instance's journal entry and writes the journal (best effort: a journal
    /// that cannot be written is a warning, the rollout itself goes on).
    pub(crate) async fn update_entry(&self, instance: &str, f: impl FnOnce(&mut JournalEntry)) {
        if let Err(e) = self.update_entry_strict(instance, f).await {
            self.emitter.emit(Event::Warning {
                instance: Some(instance.to_string()),
                message: format!("journal not written: {e}"),
            });
        }
    }

    /// Like [`Ctx::update_entry`], but a journal that cannot be written is an error: for
    /// facts a resume cannot do without (whether the canary's route was open). The entry
    /// in memory is updated either way.
    pub(crate) async fn update_entry_strict(
        &self,
        instance: &str,
        f: impl FnOnce(&mut JournalEntry),
    ) -> Result<(), crate::transport::TransportError> {
        let mut j = self.journal.lock().await;
        let Some(e) = j.entry_mut(instance) else {
            return Ok(());
        };
        f(e);
        let entry = e.clone();
        journal::append_entry(
            self.fleet.lb_transport.as_ref(),
            &self.fleet.lb_state_dir,
            &entry,
        )
        .await
    }

    /// What the journal remembers of the canary's route before this rollout closed it.
    pub(crate) async fn canary_was_open(&self, instance: &str) -> Option<bool> {
        let j = self.journal.lock().await;
        j.entry(instance).and_then(|e| e.canary_was_open)
    }

    pub(crate) async fn set_step(&self, instance: &str, step: Step) {
        self.update_entry(instance, |e| {
            e.status = InstanceStatus::InProgress;
            e.step = Some(step);
        })
        .await;
    }

    pub(crate) async fn set_status(
        &self,
        instance: &str,
        status: InstanceStatus,
        error: Option<String>,
    ) {
        self.update_entry(instance, |e| {
            e.status = status;
            e.error = error;
        })
        .await;
    }
}

fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(user_of_uid)
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{user}@{host}")
}

/// The name of this process's user from /etc/passwd (when `USER` is not set, as in
/// services and CI).
fn user_of_uid() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_string())
    })
}

fn new_rollout_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "r{}-{}",
        crate::time::now_utc().replace([':', '-'], ""),
        nanos % 100_000
    )
}

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
    if options.resume {
        return Err(RolloutError::Resume(
            "a rollback is not resumed; run `ihos rollback` again".into(),
        ));
    }
    run(fleet, Kind::Rollback, Target::Fleet, options, sink, cancel).await
}

const ROLLBACK_SHA: &str = "rollback";

/// Which instances a run updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The fleet's instances (all, or `RolloutOptions::only`).
    Fleet,
    /// The canary instance alone, behind its cohort route.
    Canary,
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

async fn run(
    fleet: &Fleet,
    kind: Kind<'_>,
    target: Target,
    options: &RolloutOptions,
    sink: &dyn EventSink,
    cancel: &CancelToken,
) -> Result<RolloutReport, RolloutError> {
    let sha256 = match kind {
        Kind::Deploy(war) => war.sha256.clone(),
        Kind::Rollback => ROLLBACK_SHA.to_string(),
    };
    let emitter = Emitter::new(sink);
    let began = Instant::now();
    let lb_t = fleet.lb_transport.as_ref();
    let selected = match target {
        Target::Fleet => select(fleet, &options.only)?,
        Target::Canary => select_canary(fleet, &options.only)?,
    };
    let operator = options.operator.clone().unwrap_or_else(operator);

    // The journal to continue, when resuming.
    let previous = if options.resume {
        let j = journal::load(lb_t, &fleet.lb_state_dir)
            .await?
            .ok_or_else(|| RolloutError::Resume("no journal on the load balancer's host".into()))?;
        if j.finished {
            return Err(RolloutError::Resume(format!(
                "rollout {} already finished",
                j.rollout_id
            )));
        }
        if j.canary != (target == Target::Canary) {
            return Err(RolloutError::Resume(format!(
                "rollout {} is {}; resume it with `{}`",
                j.rollout_id,
                if j.canary {
                    "a canary deploy"
                } else {
                    "a fleet rollout"
                },
                if j.canary {
                    "ihos canary deploy --resume"
                } else {
                    "ihos rollout --resume"
                }
            )));
        }
        if j.sha256 != sha256 {
            return Err(RolloutError::Resume(format!(
                "rollout {} deploys sha256 {}, this WAR is {}",
                j.rollout_id, j.sha256, sha256
            )));
        }
        Some(j)
    } else {
        None
    };
    let rollout_id = previous
        .as_ref()
        .map_or_else(new_rollout_id, |j| j.rollout_id.clone());

    // Invariant 5: one rollout at a time. A resumed rollout takes over its own stale lock.
    let me = LockOwner {
        rollout_id: rollout_id.clone(),
        owner: operator.clone(),
        pid: std::process::id(),
        since: crate::time::now_utc(),
        sha256: sha256.clone(),
    };
    match lock::acquire(lb_t, &fleet.lb_state_dir, &me).await? {
        Ok(()) => {}
        Err(Some(owner)) if previous.is_some() && owner.rollout_id == rollout_id => {
            lock::release(lb_t, &fleet.lb_state_dir, None).await?;
            if let Err(owner) = lock::acquire(lb_t, &fleet.lb_state_dir, &me).await? {
                return Err(RolloutError::LockHeld {
                    host: lb_t.host().to_string(),
                    owner: owner.map(Box::new),
                });
            }
        }
        Err(owner) => {
            return Err(RolloutError::LockHeld {
                host: lb_t.host().to_string(),
                owner: owner.map(Box::new),
            });
        }
    }
    emitter.emit(Event::LockTaken {
        host: lb_t.host().to_string(),
    });

    let result = locked(
        fleet,
        kind,
        target,
        &selected,
        previous,
        rollout_id.clone(),
        operator,
        &emitter,
        cancel,
        began,
    )
    .await;
    let keep_lock = matches!(&result, Ok(r) if r.outcome == Outcome::NotRestored);
    if !keep_lock {
        if let Err(e) = lock::release(lb_t, &fleet.lb_state_dir, Some(&rollout_id)).await {
            emitter.emit(Event::Warning {
                instance: None,
                message: format!("releasing the lock failed: {e}; `ihos lock release` breaks it"),
            });
        }
    }
    result
}

fn select_canary<'f>(
    fleet: &'f Fleet,
    only: &[String],
) -> Result<Vec<&'f InstanceHandle>, RolloutError> {
    let canary = fleet.canary.as_ref().ok_or(RolloutError::NoCanary)?;
    if fleet.canary_route.is_none() {
        return Err(RolloutError::NoCanary);
    }
    if let Some(other) = only.iter().find(|o| o.as_str() != canary.name()) {
        return Err(RolloutError::UnknownInstance {
            name: other.clone(),
            available: canary.name().to_string(),
        });
    }
    Ok(vec![canary])
}

fn select<'f>(fleet: &'f Fleet, only: &[String]) -> Result<Vec<&'f InstanceHandle>, RolloutError> {
    if only.is_empty() {
        return Ok(fleet.instances.iter().collect());
    }
    let available = || {
        fleet
            .instances
            .iter()
            .map(|i| i.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in only {
        if !fleet.instances.iter().any(|i| i.name() == name) {
            return Err(RolloutError::UnknownInstance {
                name: name.clone(),
                available: available(),
            });
        }
    }
    Ok(fleet
        .instances
        .iter()
        .filter(|i| only.iter().any(|o| o == i.name()))
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn locked(
    fleet: &Fleet,
    kind: Kind<'_>,
    target: Target,
    selected: &[&InstanceHandle],
    previous: Option<Journal>,
    rollout_id: String,
    operator: String,
    emitter: &Emitter<'_>,
    cancel: &CancelToken,
    began: Instant,
) -> Result<RolloutReport, RolloutError> {
    let resumed = previous.is_some();
    if !resumed {
        check_no_interrupted_canary_deploy(fleet).await?;
    }
    let policy = &fleet.topology.policy;
    let backends = fleet.lb.backends().await?;
    match target {
        // Before any change: every selected instance must be in rotation (a resumed
        // rollout expects its own instance out).
        Target::Fleet if !resumed => {
            let out: Vec<String> = selected
                .iter()
                .filter(|i| {
                    !backends
                        .iter()
                        .any(|b| b.address == i.config.backend && b.state.is_enabled())
                })
                .map(|i| i.name().to_string())
                .collect();
            if !out.is_empty() {
                return Err(RolloutError::NotInRotation { instances: out });
            }
        }
        Target::Fleet => {}
        Target::Canary => check_canary_not_in_upstream(fleet, selected, &backends)?,
    }
    let (sha256, bytes, commit) = match kind {
        Kind::Deploy(war) => (war.sha256.clone(), war.bytes, war.commit.clone()),
        Kind::Rollback => (ROLLBACK_SHA.to_string(), 0, None),
    };
    let journal = previous.unwrap_or_else(|| Journal {
        rollout_id: rollout_id.clone(),
        sha256: sha256.clone(),
        commit: commit.clone(),
        operator: operator.clone(),
        started_at: crate::time::now_utc(),
        instances: selected
            .iter()
            .map(|i| JournalEntry {
                instance: i.name().to_string(),
                status: InstanceStatus::Pending,
                step: None,
                kept_previous: false,
                war_touched: false,
                error: None,
                canary_was_open: None,
            })
            .collect(),
        finished: false,
        canary: target == Target::Canary,
    });
    journal::save(fleet.lb_transport.as_ref(), &fleet.lb_state_dir, &journal).await?;
    let todo: Vec<&InstanceHandle> = selected
        .iter()
        .copied()
        .filter(|i| {
            journal
                .entry(i.name())
                .is_none_or(|e| e.status != InstanceStatus::Updated)
        })
        .collect();
    emitter.emit(Event::RolloutStarted {
        rollout_id: rollout_id.clone(),
        sha256,
        bytes,
        commit,
        instances: todo.iter().map(|i| i.name().to_string()).collect(),
        resumed,
    });

    // Every WAR is on its host before the first instance leaves rotation.
    let (sources, action) = match kind {
        Kind::Deploy(war) => (upload_all(war, &todo, emitter).await?, "deploy"),
        Kind::Rollback => (stage_previous(&todo).await?, "rollback"),
    };

    let ctx = Ctx {
        fleet,
        policy,
        emitter,
        cancel,
        journal: Mutex::new(journal),
        sources,
        action,
        rollout_id: rollout_id.clone(),
        operator,
    };
    let failed = AtomicBool::new(false);
    let results: Vec<(String, InstanceResult)> = futures_util::stream::iter(todo.iter().copied())
        .map(|inst| {
            let ctx = &ctx;
            let failed = &failed;
            async move {
                if failed.load(Ordering::SeqCst) || ctx.cancel.level() >= StopLevel::AfterCurrent {
                    return (inst.name().to_string(), InstanceResult::NotUpdated);
                }
                let r = update_instance(ctx, inst).await;
                if !matches!(r, InstanceResult::Updated | InstanceResult::NotUpdated) {
                    failed.store(true, Ordering::SeqCst);
                }
                (inst.name().to_string(), r)
            }
        })
        .buffered(policy.max_unavailable.max(1))
        .collect()
        .await;

    let mut report = RolloutReport {
        rollout_id: rollout_id.clone(),
        outcome: Outcome::Completed,
        updated: vec![],
        not_updated: vec![],
        rolled_back: vec![],
        not_restored: vec![],
        seconds: 0.0,
    };
    for (name, r) in results {
        match r {
            InstanceResult::Updated => report.updated.push(name),
            InstanceResult::NotUpdated => report.not_updated.push(name),
            InstanceResult::RolledBack(e) => report.rolled_back.push((name, e)),
            InstanceResult::NotRestored(e) => report.not_restored.push((name, e)),
        }
    }
    // Never leave an instance out of rotation silently: look at what nginx is told.
    match fleet.lb.backends().await {
        Ok(now) => {
            for inst in &fleet.instances {
                let enabled = now
                    .iter()
                    .any(|b| b.address == inst.config.backend && b.state.is_enabled());
                let was_enabled = backends
                    .iter()
                    .any(|b| b.address == inst.config.backend && b.state.is_enabled());
                if !enabled
                    && (was_enabled || selected.iter().any(|s| s.name() == inst.name()))
                    && !report.not_restored.iter().any(|(n, _)| n == inst.name())
                {
                    report.not_restored.push((
                        inst.name().to_string(),
                        "out of rotation at the end of the rollout".into(),
                    ));
                }
            }
        }
        Err(e) => report.not_restored.push((
            "load balancer".into(),
            format!("cannot check the final state: {e}"),
        )),
    }
    if target == Target::Canary {
        check_canary_route(&ctx, selected, &mut report).await;
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
    {
        let mut j = ctx.journal.lock().await;
        j.finished = matches!(report.outcome, Outcome::Completed | Outcome::RolledBack);
        if let Err(e) = journal::save(fleet.lb_transport.as_ref(), &fleet.lb_state_dir, &j).await {
            emitter.emit(Event::Warning {
                instance: None,
                message: format!("journal not written: {e}"),
            });
        }
    }
    report.seconds = began.elapsed().as_secs_f64();
    emitter.emit(Event::RolloutFinished {
        outcome: report.outcome,
        updated: report.updated.clone(),
        seconds: report.seconds,
    });
    Ok(report)
}

/// A new run must not start over an interrupted canary deploy that closed an open route
/// and has not put it back: its journal, the only record that the route was open, would be
/// replaced, and the cohort would stay shut out. Resuming it, or deciding by hand with
/// `canary open` / `canary close` (which update that journal), clears the way.
async fn check_no_interrupted_canary_deploy(fleet: &Fleet) -> Result<(), RolloutError> {
    let Some(j) = journal::load(fleet.lb_transport.as_ref(), &fleet.lb_state_dir).await? else {
        return Ok(());
    };
    if !j.is_unfinished_canary_deploy() {
        return Ok(());
    }
    let remembered_open = j.instances.iter().any(|e| e.canary_was_open == Some(true));
    if !remembered_open {
        return Ok(());
    }
    let Some(route) = fleet.canary_route.as_ref() else {
        return Ok(());
    };
    let rule = route.rule().await?;
    if rule.open {
        return Ok(());
    }
    Err(RolloutError::InterruptedCanaryDeploy {
        rollout_id: j.rollout_id,
        file: rule.file,
        line: rule.line,
    })
}

/// The canary is updated outside the upstream's rotation: if the upstream lists its backend
/// as a server, stopping it would cut requests nginx still sends there.
fn check_canary_not_in_upstream(
    fleet: &Fleet,
    selected: &[&InstanceHandle],
    backends: &[Backend],
) -> Result<(), RolloutError> {
    for canary in selected {
        if let Some(b) = backends.iter().find(|b| b.address == canary.config.backend) {
            return Err(RolloutError::CanaryInUpstream {
                instance: canary.name().to_string(),
                backend: b.address.clone(),
                upstream: fleet.topology.load_balancer.upstream.clone(),
                line: b.line,
            });
        }
    }
    Ok(())
}

/// The canary's route must be open at the end exactly if it was open before.
async fn check_canary_route(
    ctx: &Ctx<'_>,
    selected: &[&InstanceHandle],
    report: &mut RolloutReport,
) {
    let (Some(route), Some(canary)) = (ctx.fleet.canary_route.as_ref(), selected.first()) else {
        return;
    };
    if report.not_restored.iter().any(|(n, _)| n == canary.name()) {
        return;
    }
    let Some(was_open) = ctx.canary_was_open(canary.name()).await else {
        return; // never taken out
    };
    match route.rule().await {
        Ok(rule) if rule.open == was_open => {}
        Ok(rule) => report.not_restored.push((
            canary.name().to_string(),
            format!(
                "the canary route is {} at the end, it was {} before ({} line {})",
                if rule.open { "open" } else { "closed" },
                if was_open { "open" } else { "closed" },
                rule.file,
                rule.line
            ),
        )),
        Err(e) => report.not_restored.push((
            canary.name().to_string(),
            format!("cannot check the canary route: {e}"),
        )),
    }
}

/// Uploads the WAR to the staging directory of every host that has an instance to update,
/// in parallel, skipping hosts that already have it (a resumed rollout).
async fn upload_all(
    war: &WarFile,
    todo: &[&InstanceHandle],
    emitter: &Emitter<'_>,
) -> Result<BTreeMap<String, Source>, RolloutError> {
    let mut hosts: BTreeMap<String, (Arc<dyn Transport>, RemotePath)> = BTreeMap::new();
    for i in todo {
        hosts
            .entry(i.config.host.clone())
            .or_insert_with(|| (Arc::clone(&i.transport), i.staging_dir.clone()));
    }
    let name = format!("ihos-{}.war", &war.sha256[..16]);
    let uploads = hosts.into_iter().map(|(host, (t, dir))| {
        let name = name.clone();
        async move {
            let dest = dir
                .join(&name)
                .map_err(crate::transport::TransportError::from)?;
            remote::mkdir_p(t.as_ref(), &dir, Privilege::User).await?;
            let started = Instant::now();
            let have =
                match crate::transport::remote_sha256(t.as_ref(), &dest, Privilege::User).await {
                    Ok(sum) => sum == war.sha256,
                    Err(_) => false,
                };
            if !have {
                t.upload(&war.path, &dest).await?;
            }
            Ok::<_, RolloutError>((
                host,
                dest,
                if have { 0 } else { war.bytes },
                started.elapsed().as_secs_f64(),
            ))
        }
    });
    let mut staged: BTreeMap<String, RemotePath> = BTreeMap::new();
    for r in futures_util::future::join_all(uploads).await {
        let (host, dest, bytes, seconds) = r?;
        emitter.emit(Event::Uploaded {
            host: host.clone(),
            bytes,
            seconds,
        });
        staged.insert(host, dest);
    }
    let mut sources = BTreeMap::new();
    for i in todo {
        if let Some(dest) = staged.get(&i.config.host) {
            let source = Source {
                staged: dest.clone(),
                sha256: war.sha256.clone(),
                bytes: war.bytes,
                commit: war.commit.clone(),
            };
            sources.insert(i.name().to_string(), source);
        }
    }
    Ok(sources)
}

/// For a rollback: copies each instance's previous release to its host's staging
/// directory (the rollback saves the release it replaces as the new previous one, which
/// would otherwise overwrite the file it installs from).
async fn stage_previous(
    todo: &[&InstanceHandle],
) -> Result<BTreeMap<String, Source>, RolloutError> {
    let mut sources = BTreeMap::new();
    let mut missing = Vec::new();
    for i in todo {
        let t = i.transport.as_ref();
        let previous = i
            .releases_dir()
            .and_then(|d| d.join("previous.war"))
            .map_err(crate::transport::TransportError::from)?;
        let Some(sha256) = remote::sha256_if_exists(t, &previous).await? else {
            missing.push(i.name().to_string());
            continue;
        };
        remote::mkdir_p(t, &i.staging_dir, Privilege::User).await?;
        let staged = i
            .staging_dir
            .join(&format!("rollback-{}-{}.war", i.name(), &sha256[..16]))
            .map_err(crate::transport::TransportError::from)?;
        remote::copy_atomic(t, &previous, &staged).await?;
        let bytes = remote::file_size(t, &staged).await?.unwrap_or(0);
        sources.insert(
            i.name().to_string(),
            Source {
                staged,
                sha256,
                bytes,
                commit: None,
            },
        );
    }
    if !missing.is_empty() {
        return Err(RolloutError::NoPreviousRelease { instances: missing });
    }
    Ok(sources)
}
